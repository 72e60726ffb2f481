//! The OpenID Connect provider's endpoints (`/.well-known/openid-configuration`
//! and `/oauth2/*`): thin adapters over [`crate::server::core::oidc`]. The
//! protocol's answers are its own, not the JSON API's: RFC 6749 §5.2 errors
//! (`{"error", "error_description"}`), redirects to the client, and a page
//! for the user when no client may be trusted with a redirect.

use super::extract::{ClientInfo, MaybeUser};
use crate::server::{
    auth,
    core::{
        self,
        oidc::{AuthorizeOutcome, AuthorizeParams, LogoutOutcome, LogoutParams, OAuthCode, TokenParams},
    },
    AppState,
};
use askama::Template;
use axum::{
    body::Bytes,
    extract::{RawQuery, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use tower_sessions::Session;

/// The endpoints that take no cookie: discovery, and those a client calls
/// with its own credentials or a bearer token.
pub fn protocol_routes() -> Router<AppState> {
    let for_pages = Router::new()
        .route("/oauth2/token", post(token))
        .route("/oauth2/userinfo", get(userinfo).post(userinfo))
        .route("/oauth2/revoke", post(revoke))
        .layer(public_cors());
    // Discovery (like the keys) says `*` itself: a plain GET needs no more,
    // and it is asked far more often than the rest.
    // Introspection is for resource servers (with a client secret), not pages.
    Router::new()
        .merge(for_pages)
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/oauth2/introspect", post(introspect))
}

/// CORS for what a browser app (a public client with PKCE) calls itself:
/// any origin may read the answers, without credentials. None of these
/// endpoints reads a cookie, and each answers only to what the caller
/// sends (a code and its verifier, a refresh token, an access token), so
/// letting a page read the answer gives it nothing it did not hold.
fn public_cors() -> tower_http::cors::CorsLayer {
    use axum::http::Method;
    use tower_http::cors::{AllowOrigin, CorsLayer};
    CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([header::WWW_AUTHENTICATE, header::RETRY_AFTER])
        .max_age(std::time::Duration::from_secs(600))
        // The answer is the same for every origin: nothing for caches to tell apart.
        .vary([])
}

/// The endpoints the user's browser comes to, with its session.
pub fn browser_routes() -> Router<AppState> {
    Router::new()
        .route("/oauth2/authorize", get(authorize).post(authorize_post))
        .route("/oauth2/logout", get(logout).post(logout_post))
        .route("/oauth2/logout/confirm", post(logout_confirm))
}

/// The discovery document; public and cacheable like the keys.
async fn discovery(State(state): State<AppState>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        state.discovery.clone(),
    )
        .into_response()
}

/// An RFC 6749 §5.2 error answer. `invalid_client` is 401 with a Basic
/// challenge; a token that failed is 401 with a Bearer one (RFC 6750 §3).
/// Errors that are not the protocol's (a limit, the database away) keep
/// their status, with an OAuth error code a client understands.
fn oauth_error(e: core::Error) -> Response {
    let (status, code, description) = match &e {
        core::Error::OAuth { code, description } => (
            StatusCode::from_u16(code.status()).unwrap_or(StatusCode::BAD_REQUEST),
            code.as_str(),
            description.clone(),
        ),
        other => {
            let status = super::error::status_of(other);
            let code = match status {
                StatusCode::INTERNAL_SERVER_ERROR => "server_error",
                StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => "temporarily_unavailable",
                _ => "invalid_request",
            };
            (status, code, super::error::public_message(other))
        }
    };
    let mut res = (
        status,
        Json(serde_json::json!({ "error": code, "error_description": description })),
    )
        .into_response();
    let headers = res.headers_mut();
    no_store(headers);
    if let Some(secs) = e.retry_after() {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    }
    let challenge = match &e {
        core::Error::OAuth {
            code: OAuthCode::InvalidClient,
            ..
        } => Some("Basic realm=\"gatehouse\"".to_string()),
        core::Error::OAuth {
            code: code @ (OAuthCode::InvalidToken | OAuthCode::InsufficientScope),
            ..
        } => Some(format!("Bearer realm=\"gatehouse\", error=\"{}\"", code.as_str())),
        _ => None,
    };
    if let Some(v) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(header::WWW_AUTHENTICATE, v);
    }
    res
}

fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// The form body of a protocol request (RFC 6749: `application/x-www-form-urlencoded`).
fn form_body(headers: &HeaderMap, body: &Bytes) -> Result<Vec<(String, String)>, core::Error> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
        });
    if !is_form {
        return Err(core::Error::oauth(
            OAuthCode::InvalidRequest,
            "send the parameters as application/x-www-form-urlencoded",
        ));
    }
    Ok(super::form_pairs(body))
}

/// The client's id and secret from `Authorization: Basic` (RFC 6749 §2.3.1:
/// each form-urlencoded, then base64). `Err` when the header is there but
/// unreadable.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, ()> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| ())?;
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Err(());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(());
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| ())?;
    let decoded = String::from_utf8(decoded).map_err(|_| ())?;
    let (id, secret) = decoded.split_once(':').ok_or(())?;
    let unescape = |s: &str| -> Result<String, ()> {
        let plus = s.replace('+', " ");
        percent_encoding::percent_decode_str(&plus)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| ())
    };
    Ok(Some((unescape(id)?, unescape(secret)?)))
}

/// The parameters of a token, revocation or introspection request with the
/// client's credentials.
fn client_request(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(TokenParams, core::oidc::ClientCredentials), core::Error> {
    let params = TokenParams::from_pairs(form_body(headers, body)?);
    let creds = match basic_credentials(headers) {
        Ok(basic) => params.credentials(basic),
        Err(()) => core::oidc::ClientCredentials {
            malformed: Some("the Authorization header is not client_secret_basic"),
            ..Default::default()
        },
    };
    Ok((params, creds))
}

/// A protocol endpoint's JSON answer (`Cache-Control: no-store`), or its
/// RFC 6749 error.
fn answer<T: serde::Serialize>(result: core::Result<T>) -> Response {
    match result {
        Ok(body) => {
            let mut res = Json(body).into_response();
            no_store(res.headers_mut());
            res
        }
        Err(e) => oauth_error(e),
    }
}

/// `POST /oauth2/token`.
async fn token(
    State(state): State<AppState>,
    ClientInfo(client): ClientInfo,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (params, creds) = match client_request(&headers, &body) {
        Ok(r) => r,
        Err(e) => return oauth_error(e),
    };
    answer(state.core.token_request(&params, &creds, &client).await)
}

/// `GET`/`POST /oauth2/userinfo` with `Authorization: Bearer`.
async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let token = headers.get(header::AUTHORIZATION).and_then(auth::bearer_token);
    let Some(token) = token else {
        let mut res = (
            StatusCode::UNAUTHORIZED,
            Json(serde_json::json!({ "error": "invalid_request", "error_description": "send the access token in Authorization: Bearer" })),
        )
            .into_response();
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"gatehouse\""),
        );
        no_store(res.headers_mut());
        return res;
    };
    answer(state.core.userinfo(&token).await)
}

/// `POST /oauth2/revoke` (RFC 7009): 200 whether or not the token was known.
async fn revoke(
    State(state): State<AppState>,
    ClientInfo(client): ClientInfo,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (params, creds) = match client_request(&headers, &body) {
        Ok(r) => r,
        Err(e) => return oauth_error(e),
    };
    match state.core.revoke_token(&params, &creds, &client).await {
        Ok(()) => {
            let mut res = StatusCode::OK.into_response();
            no_store(res.headers_mut());
            res
        }
        Err(e) => oauth_error(e),
    }
}

/// `POST /oauth2/introspect` (RFC 7662).
async fn introspect(
    State(state): State<AppState>,
    ClientInfo(client): ClientInfo,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (params, creds) = match client_request(&headers, &body) {
        Ok(r) => r,
        Err(e) => return oauth_error(e),
    };
    answer(state.core.introspect(&params, &creds, &client).await)
}

/// A hidden-field form on a [`Page`].
struct PageForm {
    action: &'static str,
    fields: Vec<(&'static str, String)>,
    submit: &'static str,
    cancel: &'static str,
    cancel_href: &'static str,
}

/// The pages of these endpoints: an error no client may be sent, or a
/// question (signing out).
#[derive(Template)]
#[template(path = "oidc/page.html")]
struct Page {
    eyebrow: Option<&'static str>,
    title: &'static str,
    message: String,
    form: Option<PageForm>,
}

fn page(status: StatusCode, page: Page) -> Response {
    super::html_page(status, &page)
}

fn refused(message: String) -> Response {
    page(
        StatusCode::BAD_REQUEST,
        Page {
            eyebrow: Some("Sign-in request refused"),
            title: "This app’s request cannot be used",
            message,
            form: None,
        },
    )
}

fn redirect(status: StatusCode, location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => {
            let mut res = status.into_response();
            res.headers_mut().insert(header::LOCATION, v);
            res
        }
        Err(_) => refused("The app’s return address cannot be used.".into()),
    }
}

fn core_failed(e: core::Error) -> Response {
    let status = super::error::status_of(&e);
    page(
        status,
        Page {
            eyebrow: Some("Try again in a moment"),
            title: "Something went wrong",
            message: super::error::public_message(&e),
            form: None,
        },
    )
}

/// `GET /oauth2/authorize`.
async fn authorize(
    State(state): State<AppState>,
    MaybeUser(auth): MaybeUser,
    RawQuery(query): RawQuery,
) -> Response {
    let params = AuthorizeParams::from_pairs(super::form_pairs(query.unwrap_or_default().as_bytes()));
    match state.core.authorize(&params, auth.as_deref()).await {
        Ok(outcome) => follow(outcome),
        Err(e) => core_failed(e),
    }
}

/// `POST /oauth2/authorize`: the same request as a form. It is answered by
/// sending the browser to the `GET` form: a form posted from the client's
/// site does not carry this site's (SameSite=Lax) session cookie, the
/// navigation that follows does.
async fn authorize_post(
    State(state): State<AppState>,
    MaybeUser(auth): MaybeUser,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let pairs = match form_body(&headers, &body) {
        Ok(p) => p,
        Err(_) => return refused("The sign-in request is not a form.".into()),
    };
    let params = AuthorizeParams::from_pairs(pairs);
    if !params.repeated.is_empty() {
        return match state.core.authorize(&params, auth.as_deref()).await {
            Ok(outcome) => follow(outcome),
            Err(e) => core_failed(e),
        };
    }
    redirect(
        StatusCode::SEE_OTHER,
        &format!("/oauth2/authorize?{}", params.to_query()),
    )
}

/// Where an authorization outcome sends the browser.
fn follow(outcome: AuthorizeOutcome) -> Response {
    match outcome {
        AuthorizeOutcome::Refused(message) => refused(message),
        AuthorizeOutcome::Redirect(to) | AuthorizeOutcome::Consent(to) => redirect(StatusCode::FOUND, &to),
        AuthorizeOutcome::SignIn {
            return_to,
            again,
            login_hint,
        } => {
            let page = if again { "/reauth" } else { "/login" };
            let mut to = format!("{page}?return={}", crate::model::encode_return(&return_to));
            if let Some(hint) = login_hint.filter(|_| !again) {
                to.push_str("&login_hint=");
                to.push_str(&crate::model::encode_return(&hint));
            }
            redirect(StatusCode::FOUND, &to)
        }
        AuthorizeOutcome::Enrol => redirect(StatusCode::FOUND, "/account?enrol=1#security"),
    }
}

/// `GET /oauth2/logout` (RP-initiated logout).
async fn logout(
    State(state): State<AppState>,
    MaybeUser(auth): MaybeUser,
    ClientInfo(client): ClientInfo,
    session: Session,
    RawQuery(query): RawQuery,
) -> Response {
    let params = LogoutParams::from_pairs(super::form_pairs(query.unwrap_or_default().as_bytes()));
    decide_logout(&state, auth.as_deref(), &client, &session, &params, false).await
}

/// `POST /oauth2/logout`: answered with the `GET` form (see [`authorize_post`]).
async fn logout_post(headers: HeaderMap, body: Bytes) -> Response {
    let Ok(pairs) = form_body(&headers, &body) else {
        return refused("The sign-out request is not a form.".into());
    };
    let params = LogoutParams::from_pairs(pairs);
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params.fields() {
        q.append_pair(k, &v);
    }
    redirect(StatusCode::SEE_OTHER, &format!("/oauth2/logout?{}", q.finish()))
}

/// `POST /oauth2/logout/confirm`: the user's "Sign out" on the question page
/// (from this site only: the front door refuses other origins' posts).
async fn logout_confirm(
    State(state): State<AppState>,
    MaybeUser(auth): MaybeUser,
    ClientInfo(client): ClientInfo,
    session: Session,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(pairs) = form_body(&headers, &body) else {
        return refused("The sign-out request is not a form.".into());
    };
    let params = LogoutParams::from_pairs(pairs);
    decide_logout(&state, auth.as_deref(), &client, &session, &params, true).await
}

async fn decide_logout(
    state: &AppState,
    auth: Option<&core::sessions::Authenticated>,
    client: &core::Client,
    session: &Session,
    params: &LogoutParams,
    confirmed: bool,
) -> Response {
    match state.core.logout_request(params, auth, confirmed).await {
        Ok(LogoutOutcome::Refused(message)) => page(
            StatusCode::BAD_REQUEST,
            Page {
                eyebrow: Some("Sign-out request refused"),
                title: "This app’s request cannot be used",
                message,
                form: None,
            },
        ),
        Ok(LogoutOutcome::Confirm(app)) => page(
            StatusCode::OK,
            Page {
                eyebrow: None,
                title: "Sign out of Gatehouse?",
                message: match app {
                    Some(name) => format!(
                        "{name} asks to sign you out of Gatehouse, and so of every app you use through it."
                    ),
                    None => "You are asked to sign out of Gatehouse, and so of every app you use through it."
                        .into(),
                },
                form: Some(PageForm {
                    action: "/oauth2/logout/confirm",
                    fields: params.fields(),
                    submit: "Sign out",
                    cancel: "Stay signed in",
                    cancel_href: "/dashboard",
                }),
            },
        ),
        Ok(LogoutOutcome::SignOut(to)) => {
            auth::end(&state.core, session, client).await;
            redirect(StatusCode::SEE_OTHER, &to)
        }
        Ok(LogoutOutcome::Redirect(to)) => redirect(StatusCode::SEE_OTHER, &to),
        Err(e) => core_failed(e),
    }
}
