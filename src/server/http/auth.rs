//! `/api/v1/auth/*`: setup, signup, login, logout, session.

use super::{
    error::{ApiError, ApiResult, ErrorBody},
    extract::{ApiJson, ClientInfo, MaybeUser},
};
use crate::{
    model::UserView,
    server::{
        auth, core,
        core::{
            accounts::NewAccount,
            sessions::{Amr, LoginOutcome},
        },
        AppState,
    },
};
use axum::{extract::State, http::StatusCode, Json};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct SetupRequired {
    pub setup_required: bool,
}

#[derive(Serialize, ToSchema)]
pub struct UserEnvelope {
    pub ok: bool,
    pub user: UserView,
}

#[derive(Serialize, ToSchema)]
pub struct Ok {
    pub ok: bool,
}

impl Ok {
    pub fn json() -> Json<Ok> {
        Json(Ok { ok: true })
    }
}

#[derive(Serialize, ToSchema)]
pub struct SessionState {
    pub authenticated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UserView>,
    /// Present (true) while the policy requires a second factor the user has
    /// not set up: nothing else is reachable until they do.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub mfa_enrolment_required: bool,
}

#[derive(Deserialize, ToSchema)]
pub struct SetupBody {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct SignupBody {
    pub email: String,
    pub password: String,
    /// Defaults to the email.
    #[serde(default)]
    pub username: Option<String>,
}

/// `username` or `email` (or `identifier`) names the account; any of them
/// may hold either.
#[derive(Deserialize, ToSchema)]
pub struct LoginBody {
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub identifier: Option<String>,
    pub password: String,
    /// Keep the session for `GATEHOUSE_REMEMBER_DAYS` instead of the browser session.
    #[serde(default)]
    pub remember: bool,
}

impl LoginBody {
    pub fn identifier(&self) -> ApiResult<&str> {
        self.username
            .as_deref()
            .or(self.email.as_deref())
            .or(self.identifier.as_deref())
            .ok_or_else(|| ApiError::bad_request("missing field `username` (or `email`)"))
    }
}

/// Whether the first admin still has to be created.
#[utoipa::path(get, path = "/api/v1/auth/setup-required", tag = "auth",
    responses((status = 200, body = SetupRequired)))]
pub async fn setup_required(State(state): State<AppState>) -> ApiResult<Json<SetupRequired>> {
    Ok(Json(SetupRequired {
        setup_required: state.core.setup_required().await?,
    }))
}

/// Creates the first admin (only while no user exists) and signs them in.
#[utoipa::path(post, path = "/api/v1/auth/setup", tag = "auth", request_body = SetupBody,
    responses(
        (status = 201, description = "The admin, signed in (session cookie set)", body = UserEnvelope),
        (status = 400, description = "Invalid input", body = ErrorBody),
        (status = 403, description = "setup already complete", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ))]
pub async fn setup(
    State(state): State<AppState>,
    ClientInfo(client): ClientInfo,
    session: Session,
    ApiJson(body): ApiJson<SetupBody>,
) -> ApiResult<(StatusCode, Json<UserEnvelope>)> {
    let input = NewAccount {
        username: Some(body.username),
        email: body.email,
        password: body.password,
    };
    let user = state.core.setup(input, &client).await?;
    auth::sign_in(&state.core, &session, &user, false, &Amr::password(), &client).await?;
    Ok((
        StatusCode::CREATED,
        Json(UserEnvelope {
            ok: true,
            user: user.view(),
        }),
    ))
}

/// Creates an account. It is not signed in.
#[utoipa::path(post, path = "/api/v1/auth/signup", tag = "auth", request_body = SignupBody,
    responses(
        (status = 201, description = "The new user", body = UserEnvelope),
        (status = 400, description = "Invalid input, or a password the policy refuses", body = ErrorBody),
        (status = 403, description = "Signup is closed, or setup has not been done", body = ErrorBody),
        (status = 409, description = "The username or email is taken", body = ErrorBody),
    ))]
pub async fn signup(
    State(state): State<AppState>,
    ClientInfo(client): ClientInfo,
    ApiJson(body): ApiJson<SignupBody>,
) -> ApiResult<(StatusCode, Json<UserEnvelope>)> {
    let input = NewAccount {
        username: body.username,
        email: Some(body.email),
        password: body.password,
    };
    let user = state.core.signup(input, &client).await?;
    Ok((
        StatusCode::CREATED,
        Json(UserEnvelope {
            ok: true,
            user: user.view(),
        }),
    ))
}

/// The second step a sign-in waits for.
#[derive(Serialize, ToSchema)]
pub struct MfaRequired {
    /// Always false: not signed in yet.
    pub ok: bool,
    /// Always true.
    pub mfa_required: bool,
    /// What the user can answer with: `totp`, `recovery`, `passkey`.
    pub methods: Vec<String>,
}

impl MfaRequired {
    pub fn of(methods: &[core::mfa::Method]) -> MfaRequired {
        MfaRequired {
            ok: false,
            mfa_required: true,
            methods: methods.iter().map(|m| m.as_str().to_string()).collect(),
        }
    }
}

/// Signed in, or waiting for a second factor.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginAnswer {
    SignedIn(UserEnvelope),
    SecondFactor(MfaRequired),
}

/// Makes a finished sign-in this browser's session.
pub(crate) async fn sign_in(
    state: &AppState,
    session: &Session,
    user: &core::User,
    remember: bool,
    amr: &Amr,
    client: &core::Client,
) -> ApiResult<Json<LoginAnswer>> {
    auth::sign_in(&state.core, session, user, remember, amr, client).await?;
    Ok(Json(LoginAnswer::SignedIn(UserEnvelope {
        ok: true,
        user: user.view(),
    })))
}

/// Signs in with a username or email and a password; sets the session cookie.
/// For an account with a second factor, the answer is `mfa_required` (and a
/// pending sign-in in the session, for five minutes): complete it at
/// `/api/v1/auth/mfa/verify` or with a passkey.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in (session cookie set), or a second factor is required", body = LoginAnswer),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "invalid credentials (unknown user, wrong password or disabled account alike)", body = ErrorBody),
        (status = 429, description = "Too many failures from this client, or the account is locked; see Retry-After", body = ErrorBody),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ClientInfo(client): ClientInfo,
    session: Session,
    ApiJson(body): ApiJson<LoginBody>,
) -> ApiResult<Json<LoginAnswer>> {
    let identifier = body.identifier()?;
    match state
        .core
        .login(identifier, &body.password, body.remember, &client)
        .await?
    {
        LoginOutcome::SignedIn(user, new) => {
            auth::establish(&state.core, &session, &new).await?;
            Ok(Json(LoginAnswer::SignedIn(UserEnvelope {
                ok: true,
                user: user.view(),
            })))
        }
        LoginOutcome::SecondFactor(pending) => {
            auth::hold_pending(&session, &pending.token).await?;
            Ok(Json(LoginAnswer::SecondFactor(MfaRequired::of(&pending.methods))))
        }
    }
}

/// Signs out: deletes the session server-side and clears the cookie.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 200, body = Ok)))]
pub async fn logout(
    State(state): State<AppState>,
    ClientInfo(client): ClientInfo,
    session: Session,
) -> Json<Ok> {
    auth::end(&state.core, &session, &client).await;
    Ok::json()
}

/// Whether the request is signed in, and as whom.
#[utoipa::path(get, path = "/api/v1/auth/session", tag = "auth",
    responses((status = 200, body = SessionState)))]
pub async fn session_state(MaybeUser(auth): MaybeUser) -> Json<SessionState> {
    Json(SessionState {
        authenticated: auth.is_some(),
        mfa_enrolment_required: auth.as_ref().is_some_and(|a| a.must_enrol),
        user: auth.map(|a| a.user.view()),
    })
}
