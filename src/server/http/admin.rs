//! `/api/v1/admin/*`: users and the audit log, for admins only. Every
//! handler takes the `AdminUser` extractor (401 signed out, 403 otherwise),
//! and the core checks the role again.

use super::{
    auth::Ok,
    error::{ApiError, ApiResult, ErrorBody},
    extract::{AdminUser, ApiJson, ClientInfo},
};
use crate::{
    model::{AdminUserItem, AuditItem, Role},
    server::{
        core::{
            self,
            accounts::NewAccount,
            admin::{UserChange, UserQuery, USERS_PAGE_MAX},
        },
        views, AppState,
    },
};
use axum::{
    extract::{Path, RawQuery, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub disabled: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
pub struct NewUserBody {
    pub username: Option<String>,
    pub email: Option<String>,
    pub password: String,
    #[serde(default)]
    pub role: Option<Role>,
}

/// Query of `GET /api/v1/admin/audit`.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// How many rows (default 100; above 1000 gets 1000).
    pub limit: Option<u32>,
    /// Only this user's rows.
    pub user_id: Option<String>,
    /// Only this event (e.g. `login_failed`).
    pub event: Option<String>,
    /// Rows older than this id (the last `id` of the previous page).
    pub before: Option<i64>,
}

impl AuditQuery {
    /// Parses the query string, with a 400 naming the bad parameter.
    fn parse(raw: Option<&str>) -> ApiResult<AuditQuery> {
        let mut q = AuditQuery::default();
        for (key, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            match key.as_ref() {
                "limit" => {
                    // Like most paged APIs, a limit above the page size
                    // gets the largest page rather than an error.
                    let n: u64 = value.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                        ApiError::bad_request("limit must be a whole number from 1 to 1000")
                    })?;
                    q.limit = Some(n.min(1000) as u32);
                }
                "user_id" if !value.is_empty() => q.user_id = Some(value.into_owned()),
                "event" if !value.is_empty() => {
                    if core::audit::Event::parse(&value).is_none() {
                        return Err(ApiError::bad_request("unknown event"));
                    }
                    q.event = Some(value.into_owned());
                }
                "before" if !value.is_empty() => {
                    q.before = Some(
                        value
                            .parse()
                            .map_err(|_| ApiError::bad_request("before must be a row id"))?,
                    )
                }
                _ => {}
            }
        }
        Ok(q)
    }
}

/// Query of `GET /api/v1/admin/users` (for the OpenAPI document: the query
/// is parsed by hand into the core's [`UserQuery`]).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsersQuery {
    /// How many users (default 100; above 1000 gets 1000).
    #[param(minimum = 1)]
    pub limit: Option<u32>,
    /// The `id` of the last user of the previous page: the next page starts
    /// after it (the `Link: <...>; rel="next"` header has it).
    pub after: Option<String>,
    /// Users whose username or email starts with this (case-insensitive).
    pub q: Option<String>,
    /// Only this role.
    pub role: Option<Role>,
    /// Only disabled (true) or enabled (false) accounts.
    pub disabled: Option<bool>,
    /// Only accounts locked (true) or not locked (false) now.
    pub locked: Option<bool>,
    /// Only accounts whose email is verified (true) or not yet (false).
    pub email_verified: Option<bool>,
}

/// `true` or `false`, or a 400 naming the parameter.
fn boolean(name: &str, value: &str) -> ApiResult<bool> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::bad_request(format!("{name} must be true or false"))),
    }
}

impl UsersQuery {
    /// Parses the query string into the core's query, with a 400 naming the
    /// bad parameter.
    fn parse(raw: Option<&str>) -> ApiResult<UserQuery> {
        let mut q = UserQuery {
            limit: 100,
            ..UserQuery::default()
        };
        for (key, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            match key.as_ref() {
                "limit" => {
                    // Any whole number from 1 up; above the maximum is the maximum.
                    let digits = value.trim_start_matches('0');
                    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(ApiError::bad_request(
                            "limit must be a whole number from 1 to 1000",
                        ));
                    }
                    q.limit = digits
                        .parse::<u32>()
                        .map_or(USERS_PAGE_MAX, |n| n.min(USERS_PAGE_MAX));
                }
                "after" if !value.is_empty() => q.after = Some(value.into_owned()),
                "q" if !value.trim().is_empty() => q.search = Some(value.into_owned()),
                "role" if !value.is_empty() => {
                    q.role = Some(
                        Role::parse(&value)
                            .ok_or_else(|| ApiError::bad_request("role must be admin or user"))?,
                    )
                }
                "disabled" if !value.is_empty() => q.disabled = Some(boolean("disabled", &value)?),
                "locked" if !value.is_empty() => q.locked = Some(boolean("locked", &value)?),
                "email_verified" if !value.is_empty() => {
                    q.email_verified = Some(boolean("email_verified", &value)?)
                }
                _ => {}
            }
        }
        Ok(q)
    }
}

/// The link to the page after `last`, with the same filters.
fn next_page(raw: Option<&str>, last: &str) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        if key != "after" {
            query.append_pair(&key, &value);
        }
    }
    query.append_pair("after", last);
    format!("</api/v1/admin/users?{}>; rel=\"next\"", query.finish())
}

/// A page of users in username order (case-insensitive), with status and
/// lock; searchable by username or email prefix, filtered by role and
/// status. When the page is full, `Link: <...>; rel="next"` names the next.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", params(UsersQuery),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = Vec<AdminUserItem>,
            headers(("Link" = String, description = "`</api/v1/admin/users?...&after=ID>; rel=\"next\"` while there may be more"))),
        (status = 400, description = "Bad query parameter", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
pub async fn users(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let query = UsersQuery::parse(raw.as_deref())?;
    let users = state.core.managed_users(&admin, &query).await?;
    let link = (users.len() == query.limit as usize)
        .then(|| users.last().map(|u| next_page(raw.as_deref(), &u.user.id)))
        .flatten();
    let mut res = Json(users.into_iter().map(AdminUserItem::from).collect::<Vec<_>>()).into_response();
    if let Some(link) = link.and_then(|l| HeaderValue::from_str(&l).ok()) {
        res.headers_mut().insert(header::LINK, link);
    }
    Ok(res)
}

/// Creates a user (also when signup is closed).
#[utoipa::path(post, path = "/api/v1/admin/users", tag = "admin", request_body = NewUserBody,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, body = AdminUserItem),
        (status = 400, description = "Invalid input", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 409, description = "Username or email taken", body = ErrorBody),
    ))]
pub async fn create_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientInfo(client): ClientInfo,
    ApiJson(body): ApiJson<NewUserBody>,
) -> ApiResult<(StatusCode, Json<AdminUserItem>)> {
    let input = NewAccount {
        username: body.username,
        email: body.email,
        password: body.password,
    };
    let user = state
        .core
        .create_user(&admin, input, body.role.unwrap_or(Role::User), &client)
        .await?;
    let managed = state.core.managed_user(&admin, &user.id).await?;
    Ok((StatusCode::CREATED, Json(managed.into())))
}

/// Changes a user's role and/or status. Disabling ends their sessions and
/// tokens at once.
#[utoipa::path(patch, path = "/api/v1/admin/users/{id}", tag = "admin", request_body = UserPatch,
    params(("id" = String, Path, description = "User id")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = AdminUserItem),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "It would leave no active admin", body = ErrorBody),
    ))]
pub async fn update_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientInfo(client): ClientInfo,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UserPatch>,
) -> ApiResult<Json<AdminUserItem>> {
    if body.role.is_none() && body.disabled.is_none() {
        return Err(ApiError::bad_request(
            "nothing to change: give role and/or disabled",
        ));
    }
    let change = UserChange {
        role: body.role,
        disabled: body.disabled,
    };
    let user = state.core.change_user(&admin, &id, change, &client).await?;
    Ok(Json(user.into()))
}

/// Lifts a lockout.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/unlock", tag = "admin",
    params(("id" = String, Path, description = "User id")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = AdminUserItem),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    ))]
pub async fn unlock_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientInfo(client): ClientInfo,
    Path(id): Path<String>,
) -> ApiResult<Json<AdminUserItem>> {
    Ok(Json(state.core.unlock_user(&admin, &id, &client).await?.into()))
}

/// Ends every session and token family of a user.
#[utoipa::path(delete, path = "/api/v1/admin/users/{id}/sessions", tag = "admin",
    params(("id" = String, Path, description = "User id")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = Ok),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    ))]
pub async fn sign_out_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientInfo(client): ClientInfo,
    Path(id): Path<String>,
) -> ApiResult<Json<Ok>> {
    state.core.sign_out_user(&admin, &id, &client).await?;
    Ok(Ok::json())
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", params(AuditQuery),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = Vec<AuditItem>),
        (status = 400, description = "Bad query parameter", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
pub async fn audit(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Vec<AuditItem>>> {
    let q = AuditQuery::parse(raw.as_deref())?;
    let rows = state
        .core
        .audit_entries(
            &admin,
            q.user_id.as_deref(),
            q.event.as_deref(),
            q.before,
            q.limit.unwrap_or(100),
        )
        .await?;
    let ids: Vec<String> = rows.iter().filter_map(|r| r.user_id.clone()).collect();
    let names = state.core.usernames(&admin, &ids).await?;
    Ok(Json(views::audit(rows, &names)))
}
