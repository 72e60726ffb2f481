//! The JSON API (`/api/v1`), health checks, and the HTTP middleware every
//! response passes through.

pub mod account;
pub mod admin;
pub mod auth;
pub mod email;
pub mod error;
pub mod extract;
pub mod guard;
pub mod mfa;
pub mod openapi;
pub mod security;
pub mod tokens;

use super::AppState;
use axum::{
    extract::State,
    http::StatusCode,
    routing::{delete, get, patch, post},
    Json, Router,
};
use error::ApiError;
use serde::Serialize;
use utoipa::ToSchema;

/// `/api/v1/...`: JSON in, JSON out; unknown paths answer a JSON 404. The
/// flows that need mail exist only when mail is configured.
pub fn api_routes(mail: bool) -> Router<AppState> {
    let mut v1 = Router::new()
        .route("/auth/setup-required", get(auth::setup_required))
        .route("/auth/setup", post(auth::setup))
        .route("/auth/signup", post(auth::signup))
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/session", get(auth::session_state))
        .route("/auth/token", post(tokens::token))
        .route("/auth/refresh", post(tokens::refresh))
        .route("/auth/revoke", post(tokens::revoke))
        .route("/auth/sessions", get(account::sessions))
        .route("/auth/sessions/{id}", delete(account::revoke_session))
        .route("/users/me", get(account::me))
        .route("/users/me/password", post(account::change_password))
        .route("/admin/users", get(admin::users).post(admin::create_user))
        .route("/admin/users/{id}", patch(admin::update_user))
        .route("/admin/users/{id}/unlock", post(admin::unlock_user))
        .route("/admin/users/{id}/sessions", delete(admin::sign_out_user))
        .route("/admin/audit", get(admin::audit))
        .route("/auth/token/mfa", post(tokens::token_mfa))
        .route("/auth/mfa/verify", post(mfa::verify))
        .route("/auth/passkey/start", post(mfa::passkey_start))
        .route("/auth/passkey/finish", post(mfa::passkey_finish))
        .route("/auth/reauthenticate", post(mfa::reauthenticate))
        .route("/users/me/mfa", get(mfa::status))
        .route(
            "/users/me/mfa/totp",
            post(mfa::start_totp).delete(mfa::disable_totp),
        )
        .route("/users/me/mfa/totp/confirm", post(mfa::confirm_totp))
        .route("/users/me/mfa/recovery-codes", post(mfa::recovery_codes))
        .route("/users/me/passkeys", get(mfa::passkeys))
        .route("/users/me/passkeys/register/start", post(mfa::register_start))
        .route("/users/me/passkeys/register/finish", post(mfa::register_finish))
        .route(
            "/users/me/passkeys/{id}",
            patch(mfa::rename_passkey).delete(mfa::delete_passkey),
        )
        .route("/admin/users/{id}/mfa", delete(mfa::reset_factors))
        .route("/openapi.json", get(openapi::document));
    if mail {
        v1 = v1
            .route("/auth/password/forgot", post(email::forgot_password))
            .route("/auth/password/reset", post(email::reset_password))
            .route("/auth/verify-email", post(email::verify_email))
            .route("/auth/verify-email/resend", post(email::resend_verification))
            .route("/auth/confirm-email", post(email::confirm_email))
            .route("/auth/invitations/accept", post(email::accept_invitation))
            .route("/users/me/email", post(email::change_email))
            .route("/admin/invitations", get(email::invitations).post(email::invite))
            .route("/admin/invitations/{id}", delete(email::revoke_invitation))
            .route("/admin/mail", get(email::undelivered))
            .route("/admin/mail/{id}/retry", post(email::retry));
    }
    let v1 = v1
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        });
    Router::new().nest("/api/v1", v1)
}

/// `/health` (the process answers) and `/ready` (and so does the database).
pub fn health_routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
}

/// The body of `/health` and `/ready`.
#[derive(Serialize, ToSchema)]
pub struct Status {
    /// `ok` (`/health`) or `ready` (`/ready`).
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Liveness: the process answers. Touches nothing else.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, description = "The process answers", body = Status)))]
pub async fn health() -> Json<Status> {
    Json(Status { status: "ok" })
}

/// Readiness: the database answers too.
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses(
        (status = 200, description = "The database answers", body = Status),
        (status = 503, description = "database unavailable", body = error::ErrorBody),
    ))]
pub async fn ready(State(state): State<AppState>) -> Result<Json<Status>, ApiError> {
    if state.core.db.ping().await {
        Ok(Json(Status { status: "ready" }))
    } else {
        Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database unavailable",
        ))
    }
}
