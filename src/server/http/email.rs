//! The flows that need mail: password reset, email verification, email
//! change and invitations. Their routes exist only when mail is configured
//! (otherwise they answer 404).

use super::{
    auth::{Ok, UserEnvelope},
    error::{ApiResult, ErrorBody},
    extract::{AdminUser, ApiJson, ClientInfo, CurrentUser},
};
use crate::{
    model::{InvitationItem, MailItem, Role},
    server::{auth, core, AppState},
};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use serde::Deserialize;
use tower_sessions::Session;
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
pub struct ForgotBody {
    pub email: String,
}

#[derive(Deserialize, ToSchema)]
pub struct ResetBody {
    /// The token from the link in the mail.
    pub token: String,
    pub new_password: String,
}

#[derive(Deserialize, ToSchema)]
pub struct TokenBody {
    /// The token from the link in the mail.
    pub token: String,
}

#[derive(Deserialize, ToSchema)]
pub struct EmailChangeBody {
    pub new_email: String,
    pub current_password: String,
}

#[derive(Deserialize, ToSchema)]
pub struct InviteBody {
    pub email: String,
    /// `user` unless given.
    #[serde(default)]
    pub role: Option<Role>,
}

#[derive(Deserialize, ToSchema)]
pub struct AcceptBody {
    /// The token from the invitation's link.
    pub token: String,
    pub password: String,
    /// Defaults to the invited email.
    #[serde(default)]
    pub username: Option<String>,
}

/// Mails a password-reset link, if the address has an account. The answer
/// is the same either way.
#[utoipa::path(post, path = "/api/v1/auth/password/forgot", tag = "email", request_body = ForgotBody,
    responses(
        (status = 202, description = "Accepted (whether or not the address has an account)", body = Ok),
        (status = 400, description = "Not an email address", body = ErrorBody),
        (status = 404, description = "Mail is not configured", body = ErrorBody),
        (status = 429, description = "Too many requests from this client or to this address; see Retry-After", body = ErrorBody),
    ))]
pub async fn forgot_password(
    State(state): State<AppState>,
    ClientInfo(client): ClientInfo,
    ApiJson(body): ApiJson<ForgotBody>,
) -> ApiResult<(StatusCode, Json<Ok>)> {
    state.core.forgot_password(&body.email, &client).await?;
    Ok((StatusCode::ACCEPTED, Ok::json()))
}

/// Sets a new password with a reset link. Every session and token family of
/// the account ends; a lockout is lifted.
#[utoipa::path(post, path = "/api/v1/auth/password/reset", tag = "email", request_body = ResetBody,
    responses(
        (status = 200, description = "The password was changed", body = Ok),
        (status = 400, description = "invalid or expired link, or a password the policy refuses", body = ErrorBody),
        (status = 404, description = "Mail is not configured", body = ErrorBody),
    ))]
pub async fn reset_password(
    State(state): State<AppState>,
    ClientInfo(client): ClientInfo,
    ApiJson(body): ApiJson<ResetBody>,
) -> ApiResult<Json<Ok>> {
    state
        .core
        .reset_with_token(&body.token, &body.new_password, &client)
        .await?;
    Ok(Ok::json())
}

/// Marks an email address verified with the link's token.
#[utoipa::path(post, path = "/api/v1/auth/verify-email", tag = "email", request_body = TokenBody,
    responses(
        (status = 200, description = "Verified", body = Ok),
        (status = 400, description = "invalid or expired link", body = ErrorBody),
        (status = 404, description = "Mail is not configured", body = ErrorBody),
    ))]
pub async fn verify_email(
    State(state): State<AppState>,
    ClientInfo(client): ClientInfo,
    ApiJson(body): ApiJson<TokenBody>,
) -> ApiResult<Json<Ok>> {
    state.core.verify_email(&body.token, &client).await?;
    Ok(Ok::json())
}

/// Mails the signed-in user a new verification link.
#[utoipa::path(post, path = "/api/v1/auth/verify-email/resend", tag = "email",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 202, description = "A new link is on its way", body = Ok),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Email verification is off", body = ErrorBody),
        (status = 409, description = "No address to verify, or already verified", body = ErrorBody),
        (status = 429, description = "Too many links to this address; see Retry-After", body = ErrorBody),
    ))]
pub async fn resend_verification(
    State(state): State<AppState>,
    CurrentUser(auth): CurrentUser,
    ClientInfo(client): ClientInfo,
) -> ApiResult<(StatusCode, Json<Ok>)> {
    state.core.resend_verification(&auth, &client).await?;
    Ok((StatusCode::ACCEPTED, Ok::json()))
}

/// Starts an email change: a confirmation link goes to the new address and
/// a notice to the old one. The change applies on confirmation.
#[utoipa::path(post, path = "/api/v1/users/me/email", tag = "email", request_body = EmailChangeBody,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 202, description = "Confirmation link sent", body = Ok),
        (status = 400, description = "Not an email address, or the current one", body = ErrorBody),
        (status = 401, description = "Not signed in, or the current password is wrong", body = ErrorBody),
        (status = 404, description = "Mail is not configured", body = ErrorBody),
        (status = 409, description = "Another account has the address", body = ErrorBody),
        (status = 429, description = "Too many attempts; see Retry-After", body = ErrorBody),
    ))]
pub async fn change_email(
    State(state): State<AppState>,
    CurrentUser(auth): CurrentUser,
    ClientInfo(client): ClientInfo,
    ApiJson(body): ApiJson<EmailChangeBody>,
) -> ApiResult<(StatusCode, Json<Ok>)> {
    state
        .core
        .request_email_change(&auth, &body.new_email, &body.current_password, &client)
        .await?;
    Ok((StatusCode::ACCEPTED, Ok::json()))
}

/// Applies an email change with the confirmation link's token.
#[utoipa::path(post, path = "/api/v1/auth/confirm-email", tag = "email", request_body = TokenBody,
    responses(
        (status = 200, description = "The new address is the account's, verified", body = Ok),
        (status = 400, description = "invalid or expired link", body = ErrorBody),
        (status = 404, description = "Mail is not configured", body = ErrorBody),
        (status = 409, description = "Another account took the address meanwhile", body = ErrorBody),
    ))]
pub async fn confirm_email(
    State(state): State<AppState>,
    ClientInfo(client): ClientInfo,
    ApiJson(body): ApiJson<TokenBody>,
) -> ApiResult<Json<Ok>> {
    state.core.confirm_email_change(&body.token, &client).await?;
    Ok(Ok::json())
}

/// Invites an address with a role and mails the link (works while signup is
/// closed). A pending invitation of the address is replaced.
#[utoipa::path(post, path = "/api/v1/admin/invitations", tag = "admin", request_body = InviteBody,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, body = InvitationItem),
        (status = 400, description = "Not an email address", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "Mail is not configured", body = ErrorBody),
        (status = 409, description = "The address has an account", body = ErrorBody),
    ))]
pub async fn invite(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientInfo(client): ClientInfo,
    ApiJson(body): ApiJson<InviteBody>,
) -> ApiResult<(StatusCode, Json<InvitationItem>)> {
    let invitation = state
        .core
        .invite(&admin, &body.email, body.role.unwrap_or(Role::User), &client)
        .await?;
    Ok((StatusCode::CREATED, Json(invitation.into())))
}

/// Pending invitations, newest first.
#[utoipa::path(get, path = "/api/v1/admin/invitations", tag = "admin",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = Vec<InvitationItem>),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "Mail is not configured", body = ErrorBody),
    ))]
pub async fn invitations(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
) -> ApiResult<Json<Vec<InvitationItem>>> {
    let list = state.core.invitations(&admin).await?;
    Ok(Json(list.into_iter().map(InvitationItem::from).collect()))
}

/// Revokes a pending invitation: its link stops working.
#[utoipa::path(delete, path = "/api/v1/admin/invitations/{id}", tag = "admin",
    params(("id" = String, Path, description = "Invitation id")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such pending invitation, or mail is not configured", body = ErrorBody),
    ))]
pub async fn revoke_invitation(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientInfo(client): ClientInfo,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.core.revoke_invitation(&admin, &id, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Accepts an invitation: creates the account with the invited role and a
/// verified email, and signs it in.
#[utoipa::path(post, path = "/api/v1/auth/invitations/accept", tag = "email", request_body = AcceptBody,
    responses(
        (status = 201, description = "The new user, signed in (session cookie set)", body = UserEnvelope),
        (status = 400, description = "invalid or expired link, or a password the policy refuses", body = ErrorBody),
        (status = 404, description = "Mail is not configured", body = ErrorBody),
        (status = 409, description = "The username (or the address) is taken", body = ErrorBody),
        (status = 429, description = "Too many signups from this client; see Retry-After", body = ErrorBody),
    ))]
pub async fn accept_invitation(
    State(state): State<AppState>,
    ClientInfo(client): ClientInfo,
    session: Session,
    ApiJson(body): ApiJson<AcceptBody>,
) -> ApiResult<(StatusCode, Json<UserEnvelope>)> {
    let user = state
        .core
        .accept_invitation(&body.token, &body.password, body.username.as_deref(), &client)
        .await?;
    auth::sign_in(
        &state.core,
        &session,
        &user,
        false,
        &core::sessions::Amr::password(),
        &client,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(UserEnvelope {
            ok: true,
            user: user.view(),
        }),
    ))
}

/// Mail not delivered yet: pending, being sent, or failed.
#[utoipa::path(get, path = "/api/v1/admin/mail", tag = "admin",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = Vec<MailItem>),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "Mail is not configured", body = ErrorBody),
    ))]
pub async fn undelivered(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
) -> ApiResult<Json<Vec<MailItem>>> {
    let list = state.core.undelivered_mail(&admin).await?;
    Ok(Json(list.into_iter().map(MailItem::from).collect()))
}

/// Queues a failed message again.
#[utoipa::path(post, path = "/api/v1/admin/mail/{id}/retry", tag = "admin",
    params(("id" = String, Path, description = "Message id")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "Queued again", body = Ok),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such failed message, or mail is not configured", body = ErrorBody),
    ))]
pub async fn retry(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientInfo(client): ClientInfo,
    Path(id): Path<String>,
) -> ApiResult<Json<Ok>> {
    state.core.retry_mail(&admin, &id).await?;
    let detail = format!("message {id} queued again by {}", admin.user.username);
    state
        .core
        .audit(core::audit::Event::MailRetried, None, &client, Some(&detail))
        .await;
    Ok(Ok::json())
}
