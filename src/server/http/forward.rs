//! Forward authentication for reverse proxies (nginx `auth_request`, Caddy
//! `forward_auth`, Traefik `forwardAuth`): a thin adapter over
//! [`crate::server::core::forward`]. The proxy sends the original request's
//! method, host and path in headers; Gatehouse answers whether to let it
//! through and, when it does, who the user is, in headers the proxy copies
//! onto the request to the app.

use super::{error::ApiError, extract::MaybeUser, security::from_trusted_proxy};
use crate::server::{
    core::{
        forward::{decide, Verdict},
        sessions::Authenticated,
    },
    AppState,
};
use axum::{
    extract::{Request, State},
    http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};

/// The headers of an allowed request: Gatehouse's names, and Authelia's
/// (`Remote-*`) for apps that already read those.
pub const IDENTITY_HEADERS: [&str; 7] = [
    "x-gatehouse-user",
    "x-gatehouse-email",
    "x-gatehouse-roles",
    "x-gatehouse-user-id",
    "remote-user",
    "remote-email",
    "remote-groups",
];

/// The original request, as the proxy describes it.
struct Original {
    /// Without the port.
    host: String,
    /// Path and query, as sent.
    uri: String,
    url: String,
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// A host as a proxy may send it (`wiki.example.com`, `wiki.example.com:8443`,
/// `[::1]:8080`): checked, and without the port.
fn host_without_port(raw: &str) -> Option<String> {
    let url = url::Url::parse(&format!("http://{raw}/")).ok()?;
    if !url.username().is_empty() || url.password().is_some() || url.path() != "/" || url.query().is_some() {
        return None;
    }
    url.host_str()
        .map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase())
}

/// Caddy's and Traefik's way: `X-Forwarded-Proto`, `-Host` and `-Uri`.
fn original_from_forwarded(headers: &HeaderMap) -> Result<Original, ApiError> {
    let missing = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "a forward-authentication request needs X-Forwarded-Proto, X-Forwarded-Host and X-Forwarded-Uri",
        )
    };
    let proto = header_str(headers, "x-forwarded-proto")
        .ok_or_else(missing)?
        .to_ascii_lowercase();
    let raw_host = header_str(headers, "x-forwarded-host").ok_or_else(missing)?;
    let uri = header_str(headers, "x-forwarded-uri").ok_or_else(missing)?;
    if !matches!(proto.as_str(), "http" | "https") {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "X-Forwarded-Proto is http or https",
        ));
    }
    let host = host_without_port(raw_host)
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "X-Forwarded-Host is not a host name"))?;
    if !uri.starts_with('/') || uri.chars().any(|c| c.is_control() || c == ' ') {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "X-Forwarded-Uri is the original path and query, starting with /",
        ));
    }
    Ok(Original {
        url: format!("{proto}://{raw_host}{uri}"),
        host,
        uri: uri.to_string(),
    })
}

/// nginx's way: the whole URL in `X-Original-URL`.
fn original_from_url(headers: &HeaderMap) -> Result<Original, ApiError> {
    let raw = header_str(headers, "x-original-url").ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "nginx's request needs X-Original-URL ($scheme://$http_host$request_uri)",
        )
    })?;
    let url = url::Url::parse(raw)
        .ok()
        .filter(|u| {
            matches!(u.scheme(), "http" | "https") && u.username().is_empty() && u.password().is_none()
        })
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "X-Original-URL is not an http(s) URL"))?;
    let host = url
        .host_str()
        .map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase())
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "X-Original-URL has no host"))?;
    // The path and query as sent: the rules normalise it themselves.
    let after_scheme = raw.split_once("://").map(|(_, rest)| rest).unwrap_or("");
    let uri = after_scheme
        .find('/')
        .map(|i| after_scheme[i..].to_string())
        .unwrap_or_else(|| "/".into());
    Ok(Original {
        url: url.to_string(),
        host,
        uri,
    })
}

/// The login page, with the original URL to come back to; always on the
/// public origin (the proxy may reach Gatehouse by another name).
fn login_url(state: &AppState, original: &Original) -> String {
    format!(
        "{}/login?return={}",
        state.config.site_origin(),
        crate::model::encode_return(&original.url)
    )
}

fn identity(res: &mut Response, auth: &Authenticated) {
    let user = &auth.user;
    let email = user.email.clone().unwrap_or_default();
    let role = user.role.as_str().to_string();
    let values = [
        user.username.clone(),
        email.clone(),
        role.clone(),
        user.id.clone(),
        user.username.clone(),
        email,
        role,
    ];
    for (name, value) in IDENTITY_HEADERS.iter().zip(values) {
        // Names and addresses may be UTF-8: sent as its bytes.
        if let Ok(v) = HeaderValue::from_bytes(value.as_bytes()) {
            res.headers_mut().insert(HeaderName::from_static(name), v);
        }
    }
}

fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Whether the original request came from a browser, which is sent to the
/// login page (an API client gets 401).
fn wants_html(headers: &HeaderMap) -> bool {
    header_str(headers, "accept").is_some_and(|a| a.contains("text/html"))
}

fn check(state: &AppState, auth: Option<&Authenticated>, original: &Original) -> Verdict {
    let role = auth.filter(|a| !a.must_enrol).map(|a| a.user.role);
    let verdict = decide(&state.config.forward_rules, &original.host, &original.uri, role);
    // Signed in, but the policy wants a second factor set up first: no.
    if verdict == Verdict::SignIn && auth.is_some_and(|a| a.must_enrol) {
        return Verdict::Deny;
    }
    verdict
}

fn refuse_untrusted() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "forward authentication answers only the proxies listed in GATEHOUSE_TRUSTED_PROXIES",
    )
}

/// `/api/v1/auth/forward`, any method (Caddy `forward_auth`, Traefik
/// `forwardAuth`): 200 with the user's headers, 302 to the login page for a
/// browser that is not signed in (401 for others), 403 when the rules say
/// no, 400 when the peer is not a trusted proxy or the original request is
/// not described. (Not in the OpenAPI document: proxies call it, not
/// clients; the README has the contract.)
pub async fn forward(State(state): State<AppState>, MaybeUser(auth): MaybeUser, req: Request) -> Response {
    if !from_trusted_proxy(&req, &state) {
        return refuse_untrusted().into_response();
    }
    let original = match original_from_forwarded(req.headers()) {
        Ok(o) => o,
        Err(e) => return e.into_response(),
    };
    let verdict = check(&state, auth.as_deref(), &original);
    no_store(match verdict {
        Verdict::Allow => allowed(auth.as_deref()),
        Verdict::SignIn if wants_html(req.headers()) => {
            let mut res = StatusCode::FOUND.into_response();
            if let Ok(v) = HeaderValue::from_str(&login_url(&state, &original)) {
                res.headers_mut().insert(header::LOCATION, v);
            }
            res
        }
        Verdict::SignIn => signed_out(None),
        Verdict::Deny => forbidden(),
    })
}

/// `/api/v1/auth/forward/nginx`, any method (nginx `auth_request`, which
/// understands 2xx, 401 and 403 only): 401 carries the login URL in
/// `X-Gatehouse-Login` for `error_page 401` to send browsers to.
pub async fn forward_nginx(
    State(state): State<AppState>,
    MaybeUser(auth): MaybeUser,
    req: Request,
) -> Response {
    if !from_trusted_proxy(&req, &state) {
        return refuse_untrusted().into_response();
    }
    let original = match original_from_url(req.headers()) {
        Ok(o) => o,
        Err(e) => return e.into_response(),
    };
    let verdict = check(&state, auth.as_deref(), &original);
    no_store(match verdict {
        Verdict::Allow => allowed(auth.as_deref()),
        Verdict::SignIn => signed_out(Some(login_url(&state, &original))),
        Verdict::Deny => forbidden(),
    })
}

/// 200 with the user's headers; without a user (a public rule), the same
/// headers empty, so a proxy that copies them over the request (Traefik's
/// `authResponseHeaders`, Caddy's `copy_headers`) also overwrites whatever
/// the client sent under those names.
fn allowed(auth: Option<&Authenticated>) -> Response {
    let mut res = StatusCode::OK.into_response();
    match auth.filter(|a| !a.must_enrol) {
        Some(auth) => identity(&mut res, auth),
        None => {
            for name in IDENTITY_HEADERS {
                res.headers_mut()
                    .insert(HeaderName::from_static(name), HeaderValue::from_static(""));
            }
        }
    }
    res
}

fn signed_out(login: Option<String>) -> Response {
    let mut res = ApiError::new(StatusCode::UNAUTHORIZED, "not signed in").into_response();
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"gatehouse\""),
    );
    if let Some(v) = login.and_then(|l| HeaderValue::from_str(&l).ok()) {
        res.headers_mut()
            .insert(HeaderName::from_static("x-gatehouse-login"), v);
    }
    res
}

fn forbidden() -> Response {
    ApiError::new(StatusCode::FORBIDDEN, "you may not use this app").into_response()
}
