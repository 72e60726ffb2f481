//! `/api/v1/users/me`, the password, and the signed-in sessions.

use super::{
    auth::Ok,
    error::{ApiError, ApiResult, ErrorBody},
    extract::{ApiJson, ClientInfo, CurrentUser},
};
use crate::{
    model::{SessionItem, UserView},
    server::{auth, views, AppState},
};
use axum::{
    extract::{Path, RawQuery, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Deserialize;
use tower_sessions::Session;
use utoipa::{IntoParams, ToSchema};

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

/// The largest `offset` of `GET /api/v1/auth/sessions` (as documented).
const MAX_OFFSET: u32 = 1_000_000;

/// Query of `GET /api/v1/auth/sessions`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionsQuery {
    /// How many sessions, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// How many to skip, at most 1,000,000 (the `Link: <...>; rel="next"`
    /// header has the next page's).
    #[param(minimum = 0, maximum = 1000000)]
    pub offset: Option<u32>,
}

impl SessionsQuery {
    /// `(limit, offset)` from the query string, or a 400 naming the bad
    /// parameter.
    fn parse(raw: Option<&str>) -> ApiResult<(u32, u32)> {
        let (mut limit, mut offset) = (100, 0);
        for (key, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            match key.as_ref() {
                "limit" => {
                    limit = value
                        .parse::<u32>()
                        .ok()
                        .filter(|n| (1..=1000).contains(n))
                        .ok_or_else(|| {
                            ApiError::bad_request("limit must be a whole number from 1 to 1000")
                        })?;
                }
                "offset" => {
                    offset = value
                        .parse::<u32>()
                        .ok()
                        .filter(|n| *n <= MAX_OFFSET)
                        .ok_or_else(|| {
                            ApiError::bad_request("offset must be a whole number from 0 to 1000000")
                        })?;
                }
                _ => {}
            }
        }
        Ok((limit, offset))
    }
}

/// The signed-in user's live sessions: the one asking first, then the most
/// recently used. `X-Total-Count` says how many there are; while there are
/// more, `Link: <...>; rel="next"` names the next page.
#[utoipa::path(get, path = "/api/v1/auth/sessions", tag = "account", params(SessionsQuery),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = Vec<SessionItem>, headers(
            ("X-Total-Count" = u64, description = "How many live sessions there are in all"),
            ("Link" = String, description = "`</api/v1/auth/sessions?limit=N&offset=M>; rel=\"next\"` while there are more"))),
        (status = 400, description = "Bad query parameter", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
pub async fn sessions(
    State(state): State<AppState>,
    CurrentUser(auth): CurrentUser,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let (limit, offset) = SessionsQuery::parse(raw.as_deref())?;
    let current = auth.session_id();
    let list = state
        .core
        .sessions_of(&auth.user.id, current, limit, offset)
        .await?;
    let next = offset as u64 + limit as u64;
    let items: Vec<SessionItem> = views::sessions(list.sessions, current);
    let mut res = Json(items).into_response();
    res.headers_mut()
        .insert("x-total-count", HeaderValue::from(list.total));
    if next < list.total {
        let link = format!("</api/v1/auth/sessions?limit={limit}&offset={next}>; rel=\"next\"");
        if let Ok(link) = HeaderValue::from_str(&link) {
            res.headers_mut().insert(header::LINK, link);
        }
    }
    Ok(res)
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
