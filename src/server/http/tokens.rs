//! `/api/v1/auth/token`, `/refresh`, `/revoke`: bearer tokens for clients
//! that are not browsers. The refresh token also travels as an HttpOnly,
//! SameSite=Strict cookie scoped to `/api/v1/auth`.

use super::{
    auth::{LoginBody, Ok},
    error::{ApiError, ApiResult, ErrorBody},
    extract::{ApiJson, ClientInfo, OptionalJson},
};
use crate::server::{
    core,
    core::tokens::{TokenOutcome, TokenPair},
    AppState,
};
use axum::{
    extract::State,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::{Deserialize, Serialize};
use tower_sessions::cookie::{time::Duration, Cookie, SameSite};
use utoipa::ToSchema;

const COOKIE_PATH: &str = "/api/v1/auth";

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// A JWT (RS256; keys at `/.well-known/jwks.json`) for `Authorization: Bearer`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Opaque; spend it at `/api/v1/auth/refresh` for the next pair. Only
    /// for clients that are not browsers: a request that carries an
    /// `Origin` (or `Sec-Fetch-Site`), and a refresh through the cookie, get
    /// it in the HttpOnly cookie alone, out of the page's JavaScript's reach.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

#[derive(Deserialize, ToSchema, Default)]
pub struct RefreshBody {
    /// The refresh token; without it, the refresh cookie is used.
    #[serde(default)]
    pub refresh_token: Option<String>,
}

fn cookie_name(state: &AppState) -> &'static str {
    if state.config.secure_cookies {
        "__Secure-gatehouse_refresh"
    } else {
        "gatehouse_refresh"
    }
}

fn refresh_cookie(state: &AppState, value: String, max_age: i64) -> HeaderValue {
    let cookie = Cookie::build((cookie_name(state), value))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.config.secure_cookies)
        .path(COOKIE_PATH)
        .max_age(Duration::seconds(max_age.max(0)))
        .build();
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Whether the request comes from a page in a browser: browsers send
/// `Origin` with every POST from a script (same-origin too) and
/// `Sec-Fetch-Site` with every request; other clients send neither.
fn from_browser(headers: &HeaderMap) -> bool {
    headers.contains_key(header::ORIGIN) || headers.contains_key("sec-fetch-site")
}

/// A token pair: the refresh token always as the HttpOnly cookie, and in
/// the body only for a client that is not a browser (`in_body`).
fn token_response(state: &AppState, pair: TokenPair, in_body: bool) -> Response {
    let max_age = pair.refresh_expires_at - core::now();
    let cookie = refresh_cookie(state, pair.refresh_token.clone(), max_age);
    let body = TokenResponse {
        access_token: pair.access_token,
        token_type: "Bearer",
        expires_in: pair.expires_in,
        refresh_token: in_body.then_some(pair.refresh_token),
    };
    let mut res = Json(body).into_response();
    res.headers_mut().append(header::SET_COOKIE, cookie);
    res
}

/// Where a refresh token came from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Presented {
    Body,
    Cookie,
}

/// The refresh token from the body, else from the cookie.
fn presented_token(
    state: &AppState,
    body: Option<RefreshBody>,
    headers: &HeaderMap,
) -> Option<(String, Presented)> {
    body.and_then(|b| b.refresh_token)
        .filter(|t| !t.is_empty())
        .map(|t| (t, Presented::Body))
        .or_else(|| {
            let name = cookie_name(state);
            headers
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .filter_map(|pair| pair.trim().split_once('='))
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (v.to_string(), Presented::Cookie))
        })
}

/// Exchanges a username (or email) and password for an access token and a
/// refresh token.
#[utoipa::path(post, path = "/api/v1/auth/token", tag = "tokens", request_body = LoginBody,
    responses(
        (status = 200, description = "A token pair (the refresh token is also set as a cookie), or a second factor is required", body = TokenAnswer),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "invalid credentials", body = ErrorBody),
        (status = 429, description = "Rate-limited or locked; see Retry-After", body = ErrorBody),
    ))]
pub async fn token(
    State(state): State<AppState>,
    ClientInfo(client): ClientInfo,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LoginBody>,
) -> ApiResult<Response> {
    let identifier = body.identifier()?;
    match state
        .core
        .issue_tokens(identifier, &body.password, &client)
        .await?
    {
        TokenOutcome::Issued(_user, pair) => Ok(token_response(&state, pair, !from_browser(&headers))),
        TokenOutcome::SecondFactor(pending) => Ok(Json(TokenMfaRequired {
            mfa_required: true,
            mfa_token: pending.token,
            methods: pending.methods.iter().map(|m| m.as_str().to_string()).collect(),
        })
        .into_response()),
    }
}

/// The token endpoint's answer for an account with a second factor.
#[derive(Serialize, ToSchema)]
pub struct TokenMfaRequired {
    /// Always true.
    pub mfa_required: bool,
    /// Opaque, good for five minutes: send it to `/api/v1/auth/token/mfa`.
    pub mfa_token: String,
    pub methods: Vec<String>,
}

/// A token pair, or a second factor is required.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum TokenAnswer {
    Issued(TokenResponse),
    SecondFactor(TokenMfaRequired),
}

#[derive(Deserialize, ToSchema)]
pub struct TokenMfaBody {
    pub mfa_token: String,
    /// A 6-digit code from the authenticator app ...
    #[serde(default)]
    pub code: Option<String>,
    /// ... or one of the recovery codes.
    #[serde(default)]
    pub recovery_code: Option<String>,
}

/// Completes the token endpoint's second step with a code or a recovery code.
#[utoipa::path(post, path = "/api/v1/auth/token/mfa", tag = "tokens", request_body = TokenMfaBody,
    responses(
        (status = 200, description = "A token pair; the refresh token is also set as a cookie", body = TokenResponse),
        (status = 400, description = "Malformed body, or neither code nor recovery_code", body = ErrorBody),
        (status = 401, description = "invalid code, or the mfa_token expired", body = ErrorBody),
        (status = 429, description = "Rate-limited or locked; see Retry-After", body = ErrorBody),
    ))]
pub async fn token_mfa(
    State(state): State<AppState>,
    ClientInfo(client): ClientInfo,
    headers: HeaderMap,
    ApiJson(body): ApiJson<TokenMfaBody>,
) -> ApiResult<Response> {
    let proof = super::mfa::proof(body.code, body.recovery_code)?;
    let (_user, pair) = state
        .core
        .issue_tokens_mfa(&body.mfa_token, &proof, &client)
        .await?;
    Ok(token_response(&state, pair, !from_browser(&headers)))
}

/// Spends a refresh token (body or cookie) for the next pair. Presenting a
/// spent token revokes its whole family.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "tokens", request_body(content = Option<RefreshBody>, description = "Optional when the refresh cookie is sent"),
    responses(
        (status = 200, description = "The next token pair", body = TokenResponse),
        (status = 401, description = "Unknown, spent, expired or revoked refresh token", body = ErrorBody),
    ))]
pub async fn refresh(
    State(state): State<AppState>,
    ClientInfo(client): ClientInfo,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson<RefreshBody>,
) -> ApiResult<Response> {
    let Some((token, from)) = presented_token(&state, body, &headers) else {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "missing refresh token"));
    };
    let in_body = from == Presented::Body && !from_browser(&headers);
    match state.core.refresh_tokens(&token, &client).await {
        Ok((_user, pair)) => Ok(token_response(&state, pair, in_body)),
        Err(core::Error::Unauthenticated) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid or expired refresh token",
        )),
        Err(e) => Err(e.into()),
    }
}

/// Revokes the family of a refresh token (body or cookie) and clears the cookie.
#[utoipa::path(post, path = "/api/v1/auth/revoke", tag = "tokens", request_body(content = Option<RefreshBody>, description = "Optional when the refresh cookie is sent"),
    responses((status = 200, description = "Revoked (unknown tokens are ignored)", body = Ok)))]
pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson<RefreshBody>,
) -> ApiResult<Response> {
    if let Some((token, _)) = presented_token(&state, body, &headers) {
        state.core.revoke_refresh_token(&token).await?;
    }
    let mut res = Ok::json().into_response();
    res.headers_mut()
        .append(header::SET_COOKIE, refresh_cookie(&state, String::new(), 0));
    Ok(res)
}
