//! `/api/v1/admin/clients`: the OpenID Connect provider's clients, for
//! admins; and `/api/v1/users/me/apps`: the apps a user allowed.

use super::{
    error::{ApiResult, ErrorBody},
    extract::{AdminUser, ApiJson, ClientInfo, CurrentUser},
};
use crate::{
    model::oidc::{ClientCreated, ClientItem, ClientType, ConnectedApp},
    server::{
        core::oidc::{ClientChange, ClientSpec},
        AppState,
    },
};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use serde::Deserialize;
use utoipa::ToSchema;

/// A new client. Lists left out take the defaults (scopes `openid profile
/// email`, grants `authorization_code refresh_token`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientBody {
    pub name: String,
    /// `confidential` (the default) or `public`.
    #[serde(rename = "type", default)]
    pub kind: Option<ClientType>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    #[serde(default)]
    pub grant_types: Option<Vec<String>>,
    #[serde(default)]
    pub first_party: bool,
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A change to a client: what is given changes (the type cannot).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientPatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub redirect_uris: Option<Vec<String>>,
    #[serde(default)]
    pub post_logout_redirect_uris: Option<Vec<String>>,
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    #[serde(default)]
    pub grant_types: Option<Vec<String>>,
    #[serde(default)]
    pub first_party: Option<bool>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// Every client, by name (secrets are never listed).
#[utoipa::path(get, path = "/api/v1/admin/clients", tag = "clients",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = Vec<ClientItem>),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
pub async fn clients(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
) -> ApiResult<Json<Vec<ClientItem>>> {
    Ok(Json(state.core.clients(&admin).await?))
}

/// Registers a client. The answer holds its secret (confidential clients),
/// shown this once.
#[utoipa::path(post, path = "/api/v1/admin/clients", tag = "clients", request_body = ClientBody,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, body = ClientCreated),
        (status = 400, description = "Invalid settings (the message names the field)", body = ErrorBody),
        (status = 401, description = "Not signed in, or reauthentication required", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
pub async fn create_client(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientInfo(client): ClientInfo,
    ApiJson(body): ApiJson<ClientBody>,
) -> ApiResult<(StatusCode, Json<ClientCreated>)> {
    let spec = ClientSpec {
        name: body.name,
        kind: body.kind,
        redirect_uris: body.redirect_uris,
        post_logout_redirect_uris: body.post_logout_redirect_uris,
        scopes: body.scopes,
        grant_types: body.grant_types,
        first_party: body.first_party,
        enabled: body.enabled,
    };
    let created = state.core.create_client(&admin, spec, &client).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// One client.
#[utoipa::path(get, path = "/api/v1/admin/clients/{id}", tag = "clients",
    params(("id" = String, Path, description = "The client_id")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = ClientItem),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such client", body = ErrorBody),
    ))]
pub async fn client_item(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Json<ClientItem>> {
    Ok(Json(state.core.client_item(&admin, &id).await?))
}

/// Changes a client's settings.
#[utoipa::path(patch, path = "/api/v1/admin/clients/{id}", tag = "clients", request_body = ClientPatch,
    params(("id" = String, Path, description = "The client_id")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = ClientItem),
        (status = 400, description = "Invalid settings", body = ErrorBody),
        (status = 401, description = "Not signed in, or reauthentication required", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such client", body = ErrorBody),
    ))]
pub async fn update_client(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientInfo(client): ClientInfo,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ClientPatch>,
) -> ApiResult<Json<ClientItem>> {
    let change = ClientChange {
        name: body.name,
        redirect_uris: body.redirect_uris,
        post_logout_redirect_uris: body.post_logout_redirect_uris,
        scopes: body.scopes,
        grant_types: body.grant_types,
        first_party: body.first_party,
        enabled: body.enabled,
    };
    Ok(Json(
        state.core.change_client(&admin, &id, change, &client).await?,
    ))
}

/// Removes a client with its consents and grants (its tokens stop working).
#[utoipa::path(delete, path = "/api/v1/admin/clients/{id}", tag = "clients",
    params(("id" = String, Path, description = "The client_id")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Not signed in, or reauthentication required", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such client", body = ErrorBody),
    ))]
pub async fn delete_client(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientInfo(client): ClientInfo,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.core.delete_client(&admin, &id, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new secret for a confidential client (the old one stops working),
/// shown this once.
#[utoipa::path(post, path = "/api/v1/admin/clients/{id}/secret", tag = "clients",
    params(("id" = String, Path, description = "The client_id")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = ClientCreated),
        (status = 401, description = "Not signed in, or reauthentication required", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such client", body = ErrorBody),
        (status = 409, description = "A public client has no secret", body = ErrorBody),
    ))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientInfo(client): ClientInfo,
    Path(id): Path<String>,
) -> ApiResult<Json<ClientCreated>> {
    Ok(Json(state.core.rotate_client_secret(&admin, &id, &client).await?))
}

/// The apps the signed-in user allowed to sign them in.
#[utoipa::path(get, path = "/api/v1/users/me/apps", tag = "account",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = Vec<ConnectedApp>),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
pub async fn connected_apps(
    State(state): State<AppState>,
    CurrentUser(auth): CurrentUser,
) -> ApiResult<Json<Vec<ConnectedApp>>> {
    Ok(Json(state.core.connected_apps(&auth.user.id).await?))
}

/// Disconnects an app: the consent is withdrawn and its refresh tokens end.
#[utoipa::path(delete, path = "/api/v1/users/me/apps/{client_id}", tag = "account",
    params(("client_id" = String, Path, description = "The app's client_id")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 204, description = "Disconnected"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such connected app", body = ErrorBody),
    ))]
pub async fn disconnect_app(
    State(state): State<AppState>,
    CurrentUser(auth): CurrentUser,
    ClientInfo(client): ClientInfo,
    Path(client_id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .core
        .disconnect_app(&auth.user.id, &client_id, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
