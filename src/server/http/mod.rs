//! The JSON API (`/api/v1`), health checks, and the HTTP middleware every
//! response passes through.

pub mod account;
pub mod admin;
pub mod auth;
pub mod clients;
pub mod email;
pub mod error;
pub mod extract;
pub mod federation;
pub mod forward;
pub mod guard;
pub mod mfa;
pub mod oidc;
pub mod openapi;
pub mod security;
pub mod timeout;
pub mod tokens;

use super::AppState;
use axum::{
    extract::State,
    http::StatusCode,
    routing::{any, delete, get, patch, post},
    Json, Router,
};
use error::ApiError;
use serde::Serialize;
use utoipa::ToSchema;

/// `/api/v1/...`: JSON in, JSON out; unknown paths answer a JSON 404. The
/// flows that need mail exist only when mail is configured. With
/// `GATEHOUSE_ALLOWED_ORIGINS`, the API answers CORS for those origins (and
/// only the API: pages and server functions never do).
pub fn api_routes(mail: bool, allowed_origins: &[String]) -> Router<AppState> {
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
        .route(
            "/admin/clients",
            get(clients::clients).post(clients::create_client),
        )
        .route(
            "/admin/clients/{id}",
            get(clients::client_item)
                .patch(clients::update_client)
                .delete(clients::delete_client),
        )
        .route("/admin/clients/{id}/secret", post(clients::rotate_secret))
        .route("/users/me/apps", get(clients::connected_apps))
        .route("/users/me/apps/{client_id}", delete(clients::disconnect_app))
        .route("/auth/forward", any(forward::forward))
        .route("/auth/forward/nginx", any(forward::forward_nginx))
        .route("/auth/token/mfa", post(tokens::token_mfa))
        .route("/auth/mfa/verify", post(mfa::verify))
        .route("/auth/passkey/start", post(mfa::passkey_start))
        .route("/auth/passkey/finish", post(mfa::passkey_finish))
        .route("/auth/reauthenticate", post(mfa::reauthenticate))
        .route("/users/me/mfa", get(mfa::status).delete(mfa::remove_all_factors))
        .route("/users/me/mfa/reviewed", post(mfa::factors_reviewed))
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
    let v1 = match cors(allowed_origins) {
        Some(cors) => v1
            .layer(cors)
            .layer(axum::middleware::map_response(only_for_allowed_origins)),
        None => v1,
    };
    Router::new().nest("/api/v1", v1)
}

/// tower-http's CORS layer sends its credentials, methods and headers lines
/// to every origin and leaves out only `Access-Control-Allow-Origin` for the
/// others. An origin that is not allowed gets no CORS header at all.
async fn only_for_allowed_origins(mut res: axum::response::Response) -> axum::response::Response {
    use axum::http::header;
    let headers = res.headers_mut();
    if !headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        for name in [
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            header::ACCESS_CONTROL_ALLOW_METHODS,
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            header::ACCESS_CONTROL_MAX_AGE,
        ] {
            headers.remove(name);
        }
    }
    res
}

/// CORS for the allowed origins: each echoed exactly (never `*`), with
/// credentials (the refresh cookie, a session cookie), preflights for the
/// API's methods and its two request headers, cached for ten minutes.
fn cors(allowed_origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{header, HeaderName, HeaderValue, Method};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let origins: Vec<HeaderValue> = allowed_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
            // The paged lists' `Link` and `X-Total-Count` too.
            .expose_headers([
                header::RETRY_AFTER,
                header::WWW_AUTHENTICATE,
                header::LINK,
                HeaderName::from_static("x-total-count"),
            ])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

/// `/health` (the process answers) and `/ready` (and so does the database),
/// and the public keys other services verify our tokens with.
pub fn health_routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/.well-known/jwks.json", get(jwks))
}

/// The public keys of the tokens Gatehouse signs (RFC 7517): the key that
/// signs now, and older ones whose tokens may still be alive. Any JWT
/// library verifies Gatehouse's tokens with them; no shared secret.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "operations",
    responses(
        (status = 200, description = "A JWK set: `{\"keys\":[{\"kty\":\"RSA\",\"kid\",\"use\":\"sig\",\"alg\":\"RS256\",\"n\",\"e\"}]}`; Cache-Control: public, max-age=300", body = Object, content_type = "application/jwk-set+json"),
        (status = 503, description = "database unavailable", body = error::ErrorBody),
    ))]
pub async fn jwks(State(state): State<AppState>) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let set = state.core.jwks().await?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "application/jwk-set+json"),
            (axum::http::header::CACHE_CONTROL, "public, max-age=300"),
            // Public keys, readable by any page (a plain GET: no preflight).
            (axum::http::header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        axum::body::Body::from(set),
    )
        .into_response())
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
pub async fn health() -> axum::response::Response {
    // `Status { status: "ok" }`, written once: load balancers ask many times
    // a second, and the answer never changes.
    let mut res = axum::response::Response::new(axum::body::Body::from(r#"{"status":"ok"}"#));
    res.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    res
}

/// Readiness: the database answers too.
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses(
        (status = 200, description = "The database answers", body = Status),
        (status = 503, description = "database unavailable", body = error::ErrorBody),
    ))]
pub async fn ready(State(state): State<AppState>) -> Result<Json<Status>, ApiError> {
    if state.core.ping().await {
        Ok(Json(Status { status: "ready" }))
    } else {
        Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database unavailable",
        ))
    }
}

/// The name-value pairs of a query string or form body, in order (repeats
/// kept: the protocol endpoints refuse a repeated parameter themselves).
pub(crate) fn form_pairs(raw: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A server-rendered page of the protocol endpoints (askama), or a bare 500
/// when the template cannot render.
pub(crate) fn html_page(status: StatusCode, page: &impl askama::Template) -> axum::response::Response {
    use axum::{http::header, response::IntoResponse};
    match page.render() {
        Ok(html) => (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "could not render a page");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}
