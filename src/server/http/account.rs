//! `/api/v1/users/me`, the password, and the signed-in sessions.

use super::{
    auth::Ok,
    error::{ApiResult, ErrorBody},
    extract::{ApiJson, ClientInfo, CurrentUser},
};
use crate::{
    model::{SessionItem, UserView},
    server::{auth, views, AppState},
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
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// The signed-in user (session cookie or bearer token).
#[utoipa::path(get, path = "/api/v1/users/me", tag = "account",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = UserView),
        (status = 401, description = "Not signed in; WWW-Authenticate: Bearer", body = ErrorBody),
    ))]
pub async fn me(CurrentUser(auth): CurrentUser) -> Json<UserView> {
    Json(auth.user.view())
}

/// Changes the password. Every other session and refresh-token family of the
/// user ends; this session gets a new id.
#[utoipa::path(post, path = "/api/v1/users/me/password", tag = "account", request_body = PasswordChange,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = Ok),
        (status = 400, description = "The new password is refused by the policy", body = ErrorBody),
        (status = 401, description = "Not signed in, or the current password is wrong", body = ErrorBody),
    ))]
pub async fn change_password(
    State(state): State<AppState>,
    CurrentUser(auth): CurrentUser,
    ClientInfo(client): ClientInfo,
    session: Session,
    ApiJson(body): ApiJson<PasswordChange>,
) -> ApiResult<Json<Ok>> {
    state
        .core
        .change_password(&auth, &body.current_password, &body.new_password, &client)
        .await?;
    if auth.session_id().is_some() {
        auth::rotate(&session).await?;
    }
    Ok(Ok::json())
}

/// The signed-in user's live sessions, most recently used first.
#[utoipa::path(get, path = "/api/v1/auth/sessions", tag = "account",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = Vec<SessionItem>),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
pub async fn sessions(
    State(state): State<AppState>,
    CurrentUser(auth): CurrentUser,
) -> ApiResult<Json<Vec<SessionItem>>> {
    let current = auth.session_id();
    let list = state.core.sessions_of(&auth.user.id).await?;
    Ok(Json(
        list.into_iter()
            .map(|s| {
                let current = Some(s.id.as_str()) == current;
                views::session(s, current)
            })
            .collect(),
    ))
}

/// Ends one of the signed-in user's sessions.
#[utoipa::path(delete, path = "/api/v1/auth/sessions/{id}", tag = "account",
    params(("id" = String, Path, description = "A session id from the list")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 204, description = "Ended"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such session of yours", body = ErrorBody),
    ))]
pub async fn revoke_session(
    State(state): State<AppState>,
    CurrentUser(auth): CurrentUser,
    ClientInfo(client): ClientInfo,
    session: Session,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.core.revoke_session(&auth.user.id, &id, &client).await?;
    if auth.session_id() == Some(id.as_str()) {
        let _ = session.flush().await;
    }
    Ok(StatusCode::NO_CONTENT)
}
