//! Second factors and passkeys: the second step of a sign-in, managing TOTP,
//! recovery codes and passkeys, passkey sign-in, and re-authentication.

use super::{
    auth::{sign_in, LoginAnswer, Ok},
    error::{ApiError, ApiResult, ErrorBody},
    extract::{AdminUser, ApiJson, ClientInfo, CurrentUser, EnrollingUser, MaybeUser, OptionalJson},
};
use crate::{
    model::{PasskeyItem, TotpSetup, UserView},
    server::{
        auth, core,
        core::mfa::{Ceremony, PasskeyOutcome, Proof},
        AppState,
    },
};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;
use utoipa::ToSchema;

/// A code or a recovery code, exactly one.
pub fn proof(code: Option<String>, recovery_code: Option<String>) -> Result<Proof, ApiError> {
    match (
        code.filter(|c| !c.trim().is_empty()),
        recovery_code.filter(|c| !c.trim().is_empty()),
    ) {
        (Some(code), None) => Ok(Proof::Code(code)),
        (None, Some(code)) => Ok(Proof::RecoveryCode(code)),
        (None, None) => Err(ApiError::bad_request("give code or recovery_code")),
        (Some(_), Some(_)) => Err(ApiError::bad_request("give code or recovery_code, not both")),
    }
}

#[derive(Deserialize, ToSchema)]
pub struct CodeBody {
    /// A 6-digit code from the authenticator app ...
    #[serde(default)]
    pub code: Option<String>,
    /// ... or one of the recovery codes.
    #[serde(default)]
    pub recovery_code: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct ConfirmBody {
    /// A 6-digit code from the authenticator app.
    pub code: String,
}

#[derive(Deserialize, ToSchema)]
pub struct PasswordBody {
    pub password: String,
}

#[derive(Deserialize, ToSchema, Default)]
pub struct ReauthBody {
    pub password: String,
    /// For an account with a second factor: a code from the app ...
    #[serde(default)]
    pub code: Option<String>,
    /// ... or a recovery code.
    #[serde(default)]
    pub recovery_code: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct MfaStatusView {
    pub totp: bool,
    pub passkeys: usize,
    pub recovery_codes_left: u32,
    /// The password was reset since the owner last confirmed these factors:
    /// an intruder who had it may have added one. `DELETE
    /// /api/v1/users/me/mfa` removes them all; `POST
    /// /api/v1/users/me/mfa/reviewed` keeps them.
    pub review_after_reset: bool,
}

#[derive(Deserialize, ToSchema, Default)]
pub struct OptionalPasswordBody {
    /// Needed when this is the last second factor.
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// Ten single-use codes, shown this once.
    pub recovery_codes: Vec<String>,
}

/// A started WebAuthn ceremony: `publicKey` (and `mediation`) are the options
/// for `navigator.credentials.create()` / `.get()`, base64url-encoded.
#[derive(Serialize, ToSchema)]
pub struct CeremonyView {
    /// Send it back with the browser's answer.
    pub ceremony: String,
    #[serde(rename = "publicKey")]
    #[schema(value_type = Object)]
    pub public_key: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mediation: Option<String>,
}

impl From<Ceremony> for CeremonyView {
    fn from(c: Ceremony) -> Self {
        CeremonyView {
            ceremony: c.id,
            public_key: c.options.get("publicKey").cloned().unwrap_or_default(),
            mediation: c
                .options
                .get("mediation")
                .and_then(|m| m.as_str())
                .map(str::to_string),
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct RegisterFinishBody {
    pub ceremony: String,
    /// What `navigator.credentials.create()` answered, base64url-encoded.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
    /// A name to tell the passkey apart ("Laptop", "Phone").
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct RenameBody {
    pub name: String,
}

#[derive(Deserialize, ToSchema, Default)]
pub struct PasskeyStartBody {
    /// Re-authenticate the signed-in user instead of signing in.
    #[serde(default)]
    pub reauth: bool,
    /// The second factor of the sign-in waiting in this browser session
    /// (after its password), instead of a passwordless sign-in.
    #[serde(default)]
    pub second_factor: bool,
}

#[derive(Deserialize, ToSchema)]
pub struct PasskeyFinishBody {
    pub ceremony: String,
    /// What `navigator.credentials.get()` answered, base64url-encoded.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
    /// Keep the session for `GATEHOUSE_REMEMBER_DAYS` (passwordless sign-in).
    #[serde(default)]
    pub remember: bool,
    /// Where the page means to go next (its `?return=`): the answer's
    /// `redirect_to` says where it may.
    #[serde(default)]
    pub return_to: Option<String>,
}

/// A finished passkey ceremony: who is signed in, and where the browser
/// goes next.
#[derive(Serialize, ToSchema)]
pub struct PasskeyAnswer {
    pub ok: bool,
    pub user: UserView,
    /// `return_to` if it may be gone to (a local path, or with
    /// `GATEHOUSE_COOKIE_DOMAIN` an app of that domain), else `/dashboard`.
    #[schema(example = "/dashboard")]
    pub redirect_to: String,
}

/// Completes the sign-in waiting in this browser session with a code or a
/// recovery code.
#[utoipa::path(post, path = "/api/v1/auth/mfa/verify", tag = "mfa", request_body = CodeBody,
    responses(
        (status = 200, description = "Signed in (session cookie set, new session id)", body = LoginAnswer),
        (status = 400, description = "Neither code nor recovery_code", body = ErrorBody),
        (status = 401, description = "invalid code, or no sign-in waits (expired: enter the password again)", body = ErrorBody),
        (status = 429, description = "Rate-limited or locked; see Retry-After", body = ErrorBody),
    ))]
pub async fn verify(
    State(state): State<AppState>,
    ClientInfo(client): ClientInfo,
    session: Session,
    ApiJson(body): ApiJson<CodeBody>,
) -> ApiResult<Json<LoginAnswer>> {
    let proof = proof(body.code, body.recovery_code)?;
    let token = auth::pending(&session).await.ok_or(core::Error::SignInExpired)?;
    let (user, remember, amr) = state.core.complete_sign_in(&token, &proof, &client).await?;
    sign_in(&state, &session, &user, remember, &amr, &client).await
}

/// The signed-in user's factors.
#[utoipa::path(get, path = "/api/v1/users/me/mfa", tag = "mfa",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = MfaStatusView),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
pub async fn status(
    State(state): State<AppState>,
    EnrollingUser(auth): EnrollingUser,
) -> ApiResult<Json<MfaStatusView>> {
    let s = state.core.mfa_status(&auth.user.id).await?;
    Ok(Json(MfaStatusView {
        totp: s.totp,
        passkeys: s.passkeys,
        recovery_codes_left: s.recovery_codes_left,
        review_after_reset: s.review_after_reset,
    }))
}

/// Removes every second factor of the signed-in user at once (the
/// authenticator app, recovery codes and passkeys): after a password reset,
/// what an intruder may have added. The password is asked again.
#[utoipa::path(delete, path = "/api/v1/users/me/mfa", tag = "mfa", request_body = PasswordBody,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = Ok),
        (status = 401, description = "Not signed in, wrong password, or reauthentication required", body = ErrorBody),
        (status = 429, description = "Too many wrong passwords; see Retry-After", body = ErrorBody),
    ))]
pub async fn remove_all_factors(
    State(state): State<AppState>,
    CurrentUser(auth): CurrentUser,
    ClientInfo(client): ClientInfo,
    ApiJson(body): ApiJson<PasswordBody>,
) -> ApiResult<Json<Ok>> {
    state
        .core
        .remove_all_factors(&auth, &body.password, &client)
        .await
        .map_err(on_password)?;
    Ok(Ok::json())
}

/// The owner checked their factors after a password reset and keeps them
/// (the password is asked again).
#[utoipa::path(post, path = "/api/v1/users/me/mfa/reviewed", tag = "mfa", request_body = PasswordBody,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = Ok),
        (status = 401, description = "Not signed in, or a wrong password", body = ErrorBody),
        (status = 429, description = "Too many wrong passwords; see Retry-After", body = ErrorBody),
    ))]
pub async fn factors_reviewed(
    State(state): State<AppState>,
    CurrentUser(auth): CurrentUser,
    ClientInfo(client): ClientInfo,
    ApiJson(body): ApiJson<PasswordBody>,
) -> ApiResult<Json<Ok>> {
    state
        .core
        .keep_factors(&auth, &body.password, &client)
        .await
        .map_err(on_password)?;
    Ok(Ok::json())
}

/// Starts setting up an authenticator app: a new secret to confirm with a code.
#[utoipa::path(post, path = "/api/v1/users/me/mfa/totp", tag = "mfa",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = TotpSetup),
        (status = 401, description = "Not signed in, or reauthentication required", body = ErrorBody),
        (status = 409, description = "An app is set up already", body = ErrorBody),
    ))]
pub async fn start_totp(
    State(state): State<AppState>,
    EnrollingUser(auth): EnrollingUser,
) -> ApiResult<Json<TotpSetup>> {
    Ok(Json(state.core.start_totp(&auth).await?.into()))
}

/// Confirms the authenticator app with a code; answers ten recovery codes.
#[utoipa::path(post, path = "/api/v1/users/me/mfa/totp/confirm", tag = "mfa", request_body = ConfirmBody,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = RecoveryCodes),
        (status = 401, description = "Not signed in, invalid code, or reauthentication required", body = ErrorBody),
        (status = 409, description = "No setup was started", body = ErrorBody),
    ))]
pub async fn confirm_totp(
    State(state): State<AppState>,
    EnrollingUser(auth): EnrollingUser,
    ClientInfo(client): ClientInfo,
    ApiJson(body): ApiJson<ConfirmBody>,
) -> ApiResult<Json<RecoveryCodes>> {
    let codes = state.core.confirm_totp(&auth, &body.code, &client).await?;
    Ok(Json(RecoveryCodes {
        recovery_codes: codes,
    }))
}

/// Turns the authenticator app off.
#[utoipa::path(delete, path = "/api/v1/users/me/mfa/totp", tag = "mfa", request_body = PasswordBody,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = Ok),
        (status = 401, description = "Not signed in, wrong password, or reauthentication required", body = ErrorBody),
        (status = 404, description = "No app is set up", body = ErrorBody),
        (status = 429, description = "Too many wrong passwords; see Retry-After", body = ErrorBody),
    ))]
pub async fn disable_totp(
    State(state): State<AppState>,
    CurrentUser(auth): CurrentUser,
    ClientInfo(client): ClientInfo,
    ApiJson(body): ApiJson<PasswordBody>,
) -> ApiResult<Json<Ok>> {
    state
        .core
        .disable_totp(&auth, &body.password, &client)
        .await
        .map_err(on_password)?;
    Ok(Ok::json())
}

/// New recovery codes; the old ones stop working.
#[utoipa::path(post, path = "/api/v1/users/me/mfa/recovery-codes", tag = "mfa", request_body = PasswordBody,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = RecoveryCodes),
        (status = 401, description = "Not signed in, wrong password, or reauthentication required", body = ErrorBody),
        (status = 409, description = "No second factor is set up", body = ErrorBody),
        (status = 429, description = "Too many wrong passwords; see Retry-After", body = ErrorBody),
    ))]
pub async fn recovery_codes(
    State(state): State<AppState>,
    CurrentUser(auth): CurrentUser,
    ClientInfo(client): ClientInfo,
    ApiJson(body): ApiJson<PasswordBody>,
) -> ApiResult<Json<RecoveryCodes>> {
    let codes = state
        .core
        .regenerate_recovery_codes(&auth, &body.password, &client)
        .await
        .map_err(on_password)?;
    Ok(Json(RecoveryCodes {
        recovery_codes: codes,
    }))
}

/// A wrong password here is the body's `password`.
fn on_password(e: core::Error) -> core::Error {
    match e {
        core::Error::WrongPassword { message, .. } => core::Error::WrongPassword {
            field: "password",
            message: message.replace("current password", "password"),
        },
        other => other,
    }
}

/// Starts adding a passkey.
#[utoipa::path(post, path = "/api/v1/users/me/passkeys/register/start", tag = "mfa",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = CeremonyView),
        (status = 401, description = "Not signed in, or reauthentication required", body = ErrorBody),
        (status = 403, description = "Passkeys need a host name (GATEHOUSE_PUBLIC_URL)", body = ErrorBody),
    ))]
pub async fn register_start(
    State(state): State<AppState>,
    EnrollingUser(auth): EnrollingUser,
) -> ApiResult<Json<CeremonyView>> {
    Ok(Json(state.core.start_passkey_registration(&auth).await?.into()))
}

/// Finishes adding a passkey.
#[utoipa::path(post, path = "/api/v1/users/me/passkeys/register/finish", tag = "mfa", request_body = RegisterFinishBody,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, body = PasskeyItem),
        (status = 400, description = "The ceremony expired, or the credential was not accepted", body = ErrorBody),
        (status = 401, description = "Not signed in, or reauthentication required", body = ErrorBody),
        (status = 409, description = "The passkey is registered already", body = ErrorBody),
    ))]
pub async fn register_finish(
    State(state): State<AppState>,
    EnrollingUser(auth): EnrollingUser,
    ClientInfo(client): ClientInfo,
    ApiJson(body): ApiJson<RegisterFinishBody>,
) -> ApiResult<(StatusCode, Json<PasskeyItem>)> {
    let passkey = state
        .core
        .finish_passkey_registration(
            &auth,
            &body.ceremony,
            &body.credential,
            body.name.as_deref().unwrap_or(""),
            &client,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(passkey.into())))
}

/// The signed-in user's passkeys.
#[utoipa::path(get, path = "/api/v1/users/me/passkeys", tag = "mfa",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = Vec<PasskeyItem>),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
pub async fn passkeys(
    State(state): State<AppState>,
    EnrollingUser(auth): EnrollingUser,
) -> ApiResult<Json<Vec<PasskeyItem>>> {
    let list = state.core.passkeys_of(&auth.user.id).await?;
    Ok(Json(list.into_iter().map(PasskeyItem::from).collect()))
}

/// Renames a passkey.
#[utoipa::path(patch, path = "/api/v1/users/me/passkeys/{id}", tag = "mfa", request_body = RenameBody,
    params(("id" = String, Path, description = "Passkey id")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = Ok),
        (status = 400, description = "An empty name", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such passkey of yours", body = ErrorBody),
    ))]
pub async fn rename_passkey(
    State(state): State<AppState>,
    CurrentUser(auth): CurrentUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RenameBody>,
) -> ApiResult<Json<Ok>> {
    state.core.rename_passkey(&auth, &id, &body.name).await?;
    Ok(Ok::json())
}

/// Deletes a passkey. The last second factor of the account is removed
/// only with the password.
#[utoipa::path(delete, path = "/api/v1/users/me/passkeys/{id}", tag = "mfa",
    params(("id" = String, Path, description = "Passkey id")),
    request_body(content = Option<OptionalPasswordBody>, description = "The password, when this is the last second factor"),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in, reauthentication required, or (the last factor) no or a wrong password", body = ErrorBody),
        (status = 404, description = "No such passkey of yours", body = ErrorBody),
        (status = 429, description = "Too many wrong passwords; see Retry-After", body = ErrorBody),
    ))]
pub async fn delete_passkey(
    State(state): State<AppState>,
    CurrentUser(auth): CurrentUser,
    ClientInfo(client): ClientInfo,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<OptionalPasswordBody>,
) -> ApiResult<StatusCode> {
    let password = body.and_then(|b| b.password);
    state
        .core
        .delete_passkey(&auth, &id, password.as_deref(), &client)
        .await
        .map_err(on_password)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Starts a passkey ceremony: a passwordless sign-in (any discoverable
/// credential; also what autofill offers), with `second_factor` the second
/// factor of the sign-in waiting in this session, or with `reauth` a
/// re-authentication of the signed-in user.
#[utoipa::path(post, path = "/api/v1/auth/passkey/start", tag = "mfa",
    request_body(content = Option<PasskeyStartBody>, description = "Optional: without it, a passwordless sign-in"),
    responses(
        (status = 200, body = CeremonyView),
        (status = 409, description = "The account has no passkey", body = ErrorBody),
        (status = 401, description = "reauth while signed out, or the waiting sign-in expired", body = ErrorBody),
        (status = 403, description = "Passkeys need a host name (GATEHOUSE_PUBLIC_URL)", body = ErrorBody),
        (status = 429, description = "Too many ceremonies from this client; see Retry-After", body = ErrorBody),
    ))]
pub async fn passkey_start(
    State(state): State<AppState>,
    MaybeUser(auth): MaybeUser,
    ClientInfo(client): ClientInfo,
    session: Session,
    OptionalJson(body): OptionalJson<PasskeyStartBody>,
) -> ApiResult<Json<CeremonyView>> {
    let body = body.unwrap_or_default();
    let ceremony = if body.reauth {
        let auth = auth.ok_or(core::Error::Unauthenticated)?;
        state
            .core
            .start_passkey_sign_in(None, Some(&auth), &client)
            .await?
    } else if body.second_factor {
        let pending = auth::pending(&session).await.ok_or(core::Error::SignInExpired)?;
        state
            .core
            .start_passkey_sign_in(Some(&pending), None, &client)
            .await?
    } else {
        state.core.start_passkey_sign_in(None, None, &client).await?
    };
    Ok(Json(ceremony.into()))
}

/// Finishes a passkey ceremony: signed in (session cookie set), or
/// re-authenticated. A passkey that verified the user counts as both factors.
#[utoipa::path(post, path = "/api/v1/auth/passkey/finish", tag = "mfa", request_body = PasskeyFinishBody,
    responses(
        (status = 200, description = "Signed in (or re-authenticated)", body = PasskeyAnswer),
        (status = 400, description = "The ceremony expired or was used, or the answer is malformed", body = ErrorBody),
        (status = 401, description = "invalid credentials (unknown passkey, a bad signature)", body = ErrorBody),
        (status = 429, description = "Rate-limited; see Retry-After", body = ErrorBody),
    ))]
pub async fn passkey_finish(
    State(state): State<AppState>,
    MaybeUser(auth): MaybeUser,
    ClientInfo(client): ClientInfo,
    session: Session,
    ApiJson(body): ApiJson<PasskeyFinishBody>,
) -> ApiResult<Json<PasskeyAnswer>> {
    let user = match state
        .core
        .finish_passkey_sign_in(&body.ceremony, &body.credential, auth.as_deref(), &client)
        .await?
    {
        PasskeyOutcome::SignedIn { user, remember, amr } => {
            auth::sign_in(
                &state.core,
                &session,
                &user,
                remember || body.remember,
                &amr,
                &client,
            )
            .await?;
            user.view()
        }
        PasskeyOutcome::Reauthenticated => auth.ok_or(core::Error::Unauthenticated)?.user.view(),
    };
    // The page cannot tell an app of the cookie domain from any other
    // address: the server decides, as for a password sign-in.
    Ok(Json(PasskeyAnswer {
        ok: true,
        user,
        redirect_to: state.config.safe_return(body.return_to.as_deref()),
    }))
}

/// Proves who the signed-in user is again before a sensitive change: the
/// password, and for an account with a second factor a code or a recovery
/// code too.
#[utoipa::path(post, path = "/api/v1/auth/reauthenticate", tag = "mfa", request_body = ReauthBody,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = Ok),
        (status = 400, description = "Malformed body, or (an account with a second factor) no code", body = ErrorBody),
        (status = 401, description = "Not signed in, or a wrong password or code", body = ErrorBody),
        (status = 429, description = "Too many failures; see Retry-After", body = ErrorBody),
    ))]
pub async fn reauthenticate(
    State(state): State<AppState>,
    EnrollingUser(auth): EnrollingUser,
    ClientInfo(client): ClientInfo,
    ApiJson(body): ApiJson<ReauthBody>,
) -> ApiResult<Json<Ok>> {
    let proof = match (&body.code, &body.recovery_code) {
        (None, None) => None,
        _ => Some(proof(body.code, body.recovery_code)?),
    };
    state
        .core
        .reauthenticate(&auth, Some(&body.password), proof, &client)
        .await?;
    Ok(Ok::json())
}

/// Removes every second factor of a user (they lost them); their sessions
/// and tokens end.
#[utoipa::path(delete, path = "/api/v1/admin/users/{id}/mfa", tag = "admin",
    params(("id" = String, Path, description = "User id")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = Ok),
        (status = 401, description = "Not signed in, or reauthentication required", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    ))]
pub async fn reset_factors(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientInfo(client): ClientInfo,
    Path(id): Path<String>,
) -> ApiResult<Json<Ok>> {
    state.core.reset_factors(&admin, &id, &client).await?;
    Ok(Ok::json())
}
