//! `/api/v1/auth/*`: setup, signup, login, logout, session.

use super::{
    error::{ApiError, ApiResult},
    extract::{ApiJson, ClientInfo, MaybeUser},
};
use crate::{
    model::UserView,
    server::{auth, core::accounts::NewAccount, AppState},
};
use axum::{extract::State, http::StatusCode, Json};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

#[derive(Serialize)]
pub struct SetupRequired {
    pub setup_required: bool,
}

#[derive(Serialize)]
pub struct UserEnvelope {
    pub ok: bool,
    pub user: UserView,
}

#[derive(Serialize)]
pub struct Ok {
    pub ok: bool,
}

#[derive(Serialize)]
pub struct SessionState {
    pub authenticated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UserView>,
}

#[derive(Deserialize)]
pub struct SetupBody {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Deserialize)]
pub struct SignupBody {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub username: Option<String>,
}

/// `username` or `email` (or `identifier`) names the account.
#[derive(Deserialize)]
pub struct LoginBody {
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub identifier: Option<String>,
    pub password: String,
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

pub async fn setup_required(State(state): State<AppState>) -> ApiResult<Json<SetupRequired>> {
    Ok(Json(SetupRequired {
        setup_required: state.core.setup_required().await?,
    }))
}

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
    let new = state.core.start_session(&user, false, &client).await?;
    auth::establish(&state.core, &session, &new)
        .await
        .map_err(|e| crate::server::core::Error::internal("session", e))?;
    Ok((
        StatusCode::CREATED,
        Json(UserEnvelope {
            ok: true,
            user: user.view(),
        }),
    ))
}

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

pub async fn login(
    State(state): State<AppState>,
    ClientInfo(client): ClientInfo,
    session: Session,
    ApiJson(body): ApiJson<LoginBody>,
) -> ApiResult<Json<UserEnvelope>> {
    let identifier = body.identifier()?;
    let (user, new) = state
        .core
        .login(identifier, &body.password, body.remember, &client)
        .await?;
    auth::establish(&state.core, &session, &new)
        .await
        .map_err(|e| crate::server::core::Error::internal("session", e))?;
    Ok(Json(UserEnvelope {
        ok: true,
        user: user.view(),
    }))
}

pub async fn logout(State(state): State<AppState>, session: Session) -> Json<Ok> {
    auth::end(&state.core, &session).await;
    Json(Ok { ok: true })
}

pub async fn session_state(MaybeUser(auth): MaybeUser) -> Json<SessionState> {
    Json(SessionState {
        authenticated: auth.is_some(),
        user: auth.map(|a| a.user.view()),
    })
}
