//! Headers on every response, the per-request CSP nonce, and the check that a
//! state-changing request comes from this site (CSRF).

use crate::server::AppState;
use axum::{
    http::{self, header, HeaderMap, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
};
use base64::Engine;
use std::{
    future::{Future, Ready},
    pin::Pin,
    sync::LazyLock,
    task::{ready, Context, Poll},
};
use tower::{Layer, Service};

/// Pages whose address carries a mail link's token: they send no `Referer`
/// at all, so the token cannot leak to anything the page loads or links to.
const TOKEN_PAGES: [&str; 4] = ["/reset-password", "/verify-email", "/confirm-email", "/invite"];

/// Headers every response carries (unless its handler set its own).
// Values made at compile time: a `HeaderValue::from_static` at run time
// checks every byte of its value again, per response.
const COMMON_HEADERS: [(header::HeaderName, HeaderValue); 4] = [
    (
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ),
    (
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    ),
    (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    (
        header::HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("same-origin"),
    ),
];

/// Headers that only a document (a page a browser shows and runs) heeds:
/// every response but data (see [`is_data`]) carries them too.
const DOCUMENT_HEADERS: [(header::HeaderName, HeaderValue); 2] = [
    (
        header::HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    ),
    (
        header::HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"),
    ),
];

/// Whether a response is data a browser never runs as a document: JSON,
/// plain text, scripts, styles, wasm. (`nosniff` keeps a browser from
/// taking it for HTML.) Anything else, and a response without a type, may
/// be a document.
fn is_data(content_type: &HeaderValue) -> bool {
    let essence = content_type
        .as_bytes()
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default();
    let essence = essence.trim_ascii();
    let is = |t: &[u8]| essence.eq_ignore_ascii_case(t);
    let suffixed_json = essence.len() > "application/+json".len()
        && essence[.."application/".len()].eq_ignore_ascii_case(b"application/")
        && essence[essence.len() - "+json".len()..].eq_ignore_ascii_case(b"+json");
    is(b"application/json")
        || suffixed_json
        || is(b"text/plain")
        || is(b"text/css")
        || is(b"text/javascript")
        || is(b"application/javascript")
        || is(b"application/wasm")
}

/// The policy of everything that is not one of our HTML pages: it loads
/// nothing.
const CSP_NOT_A_PAGE: HeaderValue = HeaderValue::from_static(
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
);

/// The policy of data (see [`is_data`]): the directives a document alone
/// heeds (`base-uri`, `form-action`) have nothing to act on.
const CSP_DATA: HeaderValue = HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'");

/// The nonce this request's inline scripts carry (a request extension).
#[derive(Clone, Debug)]
pub struct CspNonce(pub String);

/// Layer: gives each request a CSP nonce and each response its
/// `Content-Security-Policy` (scripts by nonce, no `unsafe-inline`; nothing may
/// frame the site), the other security headers and `Cache-Control`.
///
/// A plain tower layer rather than `axum::middleware::from_fn`: that one
/// boxes its inner service and its future on every request, and every
/// request passes here.
#[derive(Clone, Copy, Debug, Default)]
pub struct SecurityHeadersLayer;

impl<S> Layer<S> for SecurityHeadersLayer {
    type Service = SecurityHeaders<S>;
    fn layer(&self, inner: S) -> Self::Service {
        SecurityHeaders { inner }
    }
}

/// The service of [`SecurityHeadersLayer`].
#[derive(Clone, Debug)]
pub struct SecurityHeaders<S> {
    inner: S,
}

/// What the request's path says about the response's headers.
#[derive(Clone, Copy, Debug)]
struct PathKind {
    is_static: bool,
    is_token_page: bool,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for SecurityHeaders<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = SecurityHeadersFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<ReqBody>) -> Self::Future {
        let path = req.uri().path();
        let kind = PathKind {
            is_static: path.starts_with("/pkg/"),
            is_token_page: TOKEN_PAGES.contains(&path),
        };
        // Only pages are HTML: the API, server functions, static files and the
        // probes need no nonce (and a request's worth of randomness each).
        let may_be_page = !kind.is_static
            && !["/api/", "/fn/", "/.well-known/"]
                .iter()
                .any(|p| path.starts_with(p))
            && !matches!(path, "/health" | "/ready");
        let nonce = may_be_page.then(|| {
            let nonce = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>());
            req.extensions_mut().insert(CspNonce(nonce.clone()));
            nonce
        });
        let form_target = if may_be_page {
            client_origin(req.uri().path(), req.uri().query())
        } else {
            None
        };
        SecurityHeadersFuture {
            inner: self.inner.call(req),
            kind,
            nonce,
            form_target,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`SecurityHeaders`].
    pub struct SecurityHeadersFuture<F> {
        #[pin]
        inner: F,
        kind: PathKind,
        nonce: Option<String>,
        form_target: Option<String>,
    }
}

impl<F, ResBody, E> Future for SecurityHeadersFuture<F>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut res = ready!(this.inner.poll(cx))?;
        set_security_headers(
            res.headers_mut(),
            *this.kind,
            this.nonce.take(),
            this.form_target.take(),
        );
        Poll::Ready(Ok(res))
    }
}

/// The origin of the app a page's form may end up at: a form on the pages
/// of a sign-in for an OpenID Connect client (login, second step,
/// re-authentication, consent) or of its sign-out ends in a redirect to the
/// client, and browsers hold a form's redirects to `form-action` too.
fn client_origin(path: &str, query: Option<&str>) -> Option<String> {
    let param = |q: &str, name: &str| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let query = query?;
    let uri = match path {
        "/oauth2/consent" => param(query, "redirect_uri"),
        "/oauth2/logout" => param(query, "post_logout_redirect_uri"),
        "/login" | "/login/mfa" | "/reauth" => {
            let back = param(query, "return")?;
            match back.split_once('?') {
                Some(("/oauth2/authorize", q)) => param(q, "redirect_uri"),
                // An app of the cookie domain (forward authentication):
                // where the sign-in's redirect goes, if the server agrees
                // (`Config::safe_return` decides; this only lets the
                // browser follow).
                _ if back.starts_with("https://") || back.starts_with("http://") => Some(back),
                _ => None,
            }
        }
        _ => None,
    }?;
    let url = url::Url::parse(&uri).ok()?;
    matches!(url.scheme(), "https" | "http").then(|| url.origin().ascii_serialization())
}

/// While `cargo leptos watch` serves the app (it sets `LEPTOS_WATCH`), its
/// pages connect to the watcher's reload socket (`ws://<host>:<reload
/// port>`, 3001 unless `LEPTOS_RELOAD_PORT` says otherwise); the CSP lets
/// them then, and only then. Read once.
fn dev_reload_source() -> &'static str {
    static SOURCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SOURCE.get_or_init(|| {
        reload_source(
            std::env::var_os("LEPTOS_WATCH").is_some(),
            std::env::var("LEPTOS_RELOAD_EXTERNAL_PORT")
                .or_else(|_| std::env::var("LEPTOS_RELOAD_PORT"))
                .ok()
                .as_deref(),
        )
    })
}

/// The `connect-src` addition for the reload socket: none unless `watch`.
fn reload_source(watch: bool, port: Option<&str>) -> String {
    if !watch {
        return String::new();
    }
    let port = port.and_then(|p| p.trim().parse::<u16>().ok()).unwrap_or(3001);
    format!(" ws://*:{port} wss://*:{port}")
}

fn set_security_headers(
    headers: &mut HeaderMap,
    kind: PathKind,
    nonce: Option<String>,
    form_target: Option<String>,
) {
    let content_type = headers.get(header::CONTENT_TYPE);
    let is_html = content_type
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/html"));
    let is_data = !is_html && content_type.is_some_and(is_data);
    let csp = match (is_html, nonce) {
        (true, Some(nonce)) => HeaderValue::from_str(&format!(
            "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
             style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'{}; \
             object-src 'none'; base-uri 'none'; form-action 'self'{}; frame-ancestors 'none'",
            dev_reload_source(),
            form_target.map(|o| format!(" {o}")).unwrap_or_default()
        ))
        .ok(),
        _ if is_data => Some(CSP_DATA),
        _ => Some(CSP_NOT_A_PAGE),
    };
    // The headers every response gets, in a map made once and copied: a
    // copy costs less than hashing them in one by one. The handler's own
    // headers go in over it, so the handler's value of any of them wins.
    let defaults = &DEFAULT_HEADERS[usize::from(kind.is_static) * 2 + usize::from(is_data)];
    let mut merged = defaults.clone();
    merged.reserve(headers.len() + 2);
    // `HeaderMap`'s own `extend` over a drain: each of the handler's headers
    // replaces the default of its name, with every value it has.
    merged.extend(headers.drain());
    if let Some(v) = csp {
        merged.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    if kind.is_token_page {
        merged.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    }
    *headers = merged;
}

/// The default headers of a document answer, a data answer, a static
/// document file and a static data file (index `is_static * 2 + is_data`): the
/// [`COMMON_HEADERS`], the [`DOCUMENT_HEADERS`] unless data, and the
/// `Cache-Control` of static files (revalidated: they are not
/// content-hashed) and of everything else (pages and API answers are
/// personal: never stored).
static DEFAULT_HEADERS: LazyLock<[HeaderMap; 4]> = LazyLock::new(|| {
    [
        default_headers("no-store", true),
        default_headers("no-store", false),
        default_headers("no-cache", true),
        default_headers("no-cache", false),
    ]
});

fn default_headers(cache: &'static str, document: bool) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(16);
    let document_headers = if document { &DOCUMENT_HEADERS[..] } else { &[] };
    for (name, value) in COMMON_HEADERS.iter().chain(document_headers) {
        headers.insert(name, value.clone());
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers
}

/// Layer: what every request passes before anything else: the host check
/// ([`refuse_unknown_host`]) and the cross-origin write check
/// ([`refuse_cross_origin_write`]). A refusal is answered here; the rest
/// goes on to the router.
/// A plain tower layer for the reason given at [`SecurityHeadersLayer`].
#[derive(Clone)]
pub struct FrontDoorLayer {
    state: AppState,
}

impl FrontDoorLayer {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

impl<S> Layer<S> for FrontDoorLayer {
    type Service = FrontDoor<S>;
    fn layer(&self, inner: S) -> Self::Service {
        FrontDoor {
            inner,
            state: self.state.clone(),
        }
    }
}

/// The service of [`FrontDoorLayer`].
#[derive(Clone)]
pub struct FrontDoor<S> {
    inner: S,
    state: AppState,
}

impl<S, ReqBody> Service<http::Request<ReqBody>> for FrontDoor<S>
where
    S: Service<http::Request<ReqBody>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = FrontDoorFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        match admit(&req, &self.state) {
            Some(refusal) => FrontDoorFuture::Refused {
                refusal: std::future::ready(Ok(refusal)),
            },
            None => FrontDoorFuture::Admitted {
                inner: self.inner.call(req),
            },
        }
    }
}

/// The front door's checks, in order: a refusal, or `None`.
fn admit<B>(req: &http::Request<B>, state: &AppState) -> Option<Response> {
    if let Some(refusal) = refuse_unknown_host(req, state) {
        return Some(refusal);
    }
    refuse_cross_origin_write(req, state)
}

pin_project_lite::pin_project! {
    /// The response future of [`FrontDoor`]: a refusal, or the app's answer.
    #[project = FrontDoorProj]
    pub enum FrontDoorFuture<F, E> {
        Refused { refusal: Ready<Result<Response, E>> },
        Admitted { #[pin] inner: F },
    }
}

impl<F, E> Future for FrontDoorFuture<F, E>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            FrontDoorProj::Refused { refusal } => Pin::new(refusal).poll(cx),
            FrontDoorProj::Admitted { inner } => inner.poll(cx),
        }
    }
}

/// 400 for a request for a host this site is not: with
/// `GATEHOUSE_PUBLIC_URL`, any other host than its own; without it, any name
/// but `localhost` (IP literals, such as the listen address, pass). A
/// DNS-rebinding page (its own name, pointed at 127.0.0.1) cannot reach a
/// fresh instance's `/setup` through a visitor's browser, and links and
/// cookies are never made for a forged `Host`. `/health` and `/ready` answer
/// any host (load balancers probe by address).
fn refuse_unknown_host<B>(req: &http::Request<B>, state: &AppState) -> Option<Response> {
    let path = req.uri().path();
    if path == "/health" || path == "/ready" {
        return None;
    }
    // A reverse proxy asking about one of its apps names the app's host,
    // or its own way of reaching Gatehouse: it is not a browser.
    if is_forward_path(path) && from_trusted_proxy(req, state) {
        return None;
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    if host.is_some_and(|h| host_allowed(h, state.config.public_origin.as_deref())) {
        return None;
    }
    let body = axum::Json(serde_json::json!({ "error": "this server does not answer for that host name" }));
    Some((StatusCode::BAD_REQUEST, body).into_response())
}

/// `host[:port]` of a `Host` header, the host in lower case and without
/// brackets.
fn split_host(host: &str) -> Option<(String, Option<u16>)> {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((ip.to_ascii_lowercase(), port));
    }
    match host.rsplit_once(':') {
        Some((name, port)) => Some((name.to_ascii_lowercase(), Some(port.parse().ok()?))),
        None => Some((host.to_ascii_lowercase(), None)),
    }
}

/// Whether a `Host` header names this site (see [`refuse_unknown_host`]).
fn host_allowed(host: &str, public_origin: Option<&str>) -> bool {
    let Some((name, port)) = split_host(host) else {
        return false;
    };
    if name.is_empty() {
        return false;
    }
    match public_origin.and_then(|o| url::Url::parse(o).ok()) {
        Some(origin) => {
            let expected = origin
                .host_str()
                .unwrap_or("")
                .trim_start_matches('[')
                .trim_end_matches(']');
            // A Host without a port means the scheme's default port.
            let default = if origin.scheme() == "https" { 443 } else { 80 };
            name == expected.to_ascii_lowercase()
                && Some(port.unwrap_or(default)) == origin.port_or_known_default()
        }
        None => name == "localhost" || name.parse::<std::net::IpAddr>().is_ok(),
    }
}

/// 403 for a state-changing request that a browser sent from another
/// origin: `Sec-Fetch-Site` when present, else `Origin`, else `Referer`.
/// Requests without any of them (curl, mobile apps) pass: they cannot carry a
/// victim's cookies by accident.
/// The forward-authentication endpoints (`/api/v1/auth/forward` and
/// `/api/v1/auth/forward/nginx`).
pub fn is_forward_path(path: &str) -> bool {
    path == "/api/v1/auth/forward" || path == "/api/v1/auth/forward/nginx"
}

/// Whether the request's peer is one of `GATEHOUSE_TRUSTED_PROXIES`.
pub fn from_trusted_proxy<B>(req: &http::Request<B>, state: &AppState) -> bool {
    req.extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .is_some_and(|peer| state.config.is_trusted_proxy(peer.0.ip()))
}

fn refuse_cross_origin_write<B>(req: &http::Request<B>, state: &AppState) -> Option<Response> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return None;
    }
    // A proxy's check carries the original request's method and headers
    // (its `Origin` too), and changes nothing.
    if is_forward_path(req.uri().path()) {
        return None;
    }
    // The provider's endpoints that clients post to from their own sites
    // (or servers): none acts on this site's cookies. (Their posts answer
    // with a GET of the same request, which is where the session counts;
    // `/oauth2/logout/confirm` is the user's own answer and stays checked.)
    if matches!(
        req.uri().path(),
        "/oauth2/authorize"
            | "/oauth2/logout"
            | "/oauth2/token"
            | "/oauth2/revoke"
            | "/oauth2/introspect"
            | "/oauth2/userinfo"
    ) {
        return None;
    }
    let expected = state.config.public_origin.as_deref();
    // Apps on the origins of GATEHOUSE_ALLOWED_ORIGINS may call the JSON API
    // (never pages or server functions): CORS tells their browsers so.
    let allowed_app = req.uri().path().starts_with("/api/v1/")
        && req
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|origin| {
                state
                    .config
                    .allowed_origins
                    .iter()
                    .any(|allowed| allowed.eq_ignore_ascii_case(origin))
            });
    if !allowed_app && is_cross_origin(req.headers(), expected) {
        let body = axum::Json(serde_json::json!({ "error": "cross-origin request refused" }));
        return Some((StatusCode::FORBIDDEN, body).into_response());
    }
    None
}

/// Whether the request comes from another origin than this site's
/// (`public_origin`, or else the request's own `Host`).
fn is_cross_origin(headers: &HeaderMap, public_origin: Option<&str>) -> bool {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let fetch_site = get("sec-fetch-site");
    if let Some(site) = fetch_site {
        // "none": typed in the address bar or opened from a bookmark.
        if !matches!(site, "same-origin" | "none") {
            return true;
        }
    }
    let source = match (get("origin"), get("referer")) {
        (Some(origin), _) => origin.to_string(),
        (None, Some(referer)) => match url::Url::parse(referer) {
            Ok(u) => u.origin().ascii_serialization(),
            Err(_) => return true,
        },
        (None, None) => return false,
    };
    if source == "null" {
        // A page with `Referrer-Policy: no-referrer` (the landing pages of
        // mail links) makes the browser send `Origin: null` with its form
        // posts; it still says where the request came from, in a header no
        // page can set.
        return fetch_site != Some("same-origin");
    }
    match public_origin {
        Some(expected) => !source.eq_ignore_ascii_case(expected),
        None => {
            // Without GATEHOUSE_PUBLIC_URL this site is `http://<Host>`: the
            // server speaks plain HTTP. A browser that vouches for the request
            // with `Sec-Fetch-Site: same-origin` saw the real scheme, which is
            // https when a TLS proxy sits in front, so then only the host must
            // match; otherwise `https://<Host>` is another origin.
            let host = get("host").unwrap_or("");
            let source_host = match source.strip_prefix("http://") {
                Some(rest) => Some(rest),
                None if fetch_site == Some("same-origin") => source.strip_prefix("https://"),
                None => None,
            };
            !source_host.is_some_and(|h| h.eq_ignore_ascii_case(host))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn every_answer_gets_the_security_headers_and_keeps_its_own() {
        let answer = PathKind {
            is_static: false,
            is_token_page: false,
        };
        // An API answer (data): the common headers, `no-store`, the CSP
        // that loads nothing; none of the headers only a document heeds.
        for data in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/jwk-set+json",
            "text/plain; charset=utf-8",
        ] {
            let mut h = headers(&[("content-type", data)]);
            set_security_headers(&mut h, answer, None, None);
            assert_eq!(h["content-type"], data);
            for (name, value) in COMMON_HEADERS {
                assert_eq!(h[&name], value, "{name} on {data}");
            }
            assert_eq!(h["cache-control"], "no-store");
            assert_eq!(h["content-security-policy"], CSP_DATA);
            assert_eq!(h.len(), COMMON_HEADERS.len() + 3, "{data}: {h:?}");
        }
        // Anything that may be shown as a document gets those too: an
        // unknown type, no type at all, HTML that is not one of our pages.
        for document in [
            Some("image/svg+xml"),
            Some("application/jsonx"),
            None,
            Some("text/html"),
        ] {
            let mut h = match document {
                Some(t) => headers(&[("content-type", t)]),
                None => HeaderMap::new(),
            };
            set_security_headers(&mut h, answer, None, None);
            for (name, value) in COMMON_HEADERS.iter().chain(&DOCUMENT_HEADERS) {
                assert_eq!(h[name], value, "{name} on {document:?}");
            }
            assert_eq!(h["content-security-policy"], CSP_NOT_A_PAGE);
        }

        // The handler's own values win, every value of a repeated header
        // stays, and the CSP is always ours.
        let mut h = headers(&[
            ("cache-control", "public, max-age=300"),
            ("x-frame-options", "SAMEORIGIN"),
            ("content-security-policy", "default-src *"),
        ]);
        h.append("set-cookie", HeaderValue::from_static("a=1"));
        h.append("set-cookie", HeaderValue::from_static("b=2"));
        h.append("set-cookie", HeaderValue::from_static("c=3"));
        set_security_headers(&mut h, answer, None, None);
        assert_eq!(h["cache-control"], "public, max-age=300");
        assert_eq!(h.get_all("cache-control").iter().count(), 1);
        assert_eq!(h["x-frame-options"], "SAMEORIGIN");
        assert_eq!(h["content-security-policy"], CSP_NOT_A_PAGE);
        let cookies: Vec<_> = h.get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2", "c=3"]);
        assert_eq!(h["x-content-type-options"], "nosniff");

        // A static file is revalidated; a mail link's page sends no referrer;
        // a page gets its nonce.
        let mut h = HeaderMap::new();
        let file = PathKind {
            is_static: true,
            is_token_page: false,
        };
        set_security_headers(&mut h, file, None, None);
        assert_eq!(h["cache-control"], "no-cache");
        let mut h = headers(&[("content-type", "text/html; charset=utf-8")]);
        let token_page = PathKind {
            is_static: false,
            is_token_page: true,
        };
        set_security_headers(&mut h, token_page, Some("n0nce".into()), None);
        assert_eq!(h["referrer-policy"], "no-referrer");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("'nonce-n0nce'"), "{csp}");
    }

    #[test]
    fn same_origin_passes() {
        let h = headers(&[("host", "127.0.0.1:3000"), ("origin", "http://127.0.0.1:3000")]);
        assert!(!is_cross_origin(&h, None));
        let h = headers(&[
            ("host", "x"),
            ("sec-fetch-site", "same-origin"),
            ("origin", "http://x"),
        ]);
        assert!(!is_cross_origin(&h, None));
        let h = headers(&[("host", "x"), ("referer", "http://x/login?return=%2F")]);
        assert!(!is_cross_origin(&h, None));
        assert!(
            !is_cross_origin(&headers(&[("host", "x")]), None),
            "no browser headers: not a browser"
        );
    }

    #[test]
    fn other_origins_are_refused() {
        let h = headers(&[("host", "127.0.0.1:3000"), ("origin", "http://evil.example")]);
        assert!(is_cross_origin(&h, None));
        let h = headers(&[("host", "127.0.0.1:3000"), ("origin", "http://127.0.0.1:3001")]);
        assert!(is_cross_origin(&h, None), "another port is another origin");
        let h = headers(&[("host", "x"), ("sec-fetch-site", "cross-site")]);
        assert!(is_cross_origin(&h, None));
        let h = headers(&[
            ("host", "x"),
            ("sec-fetch-site", "same-site"),
            ("origin", "http://a.x"),
        ]);
        assert!(is_cross_origin(&h, None));
        let h = headers(&[("host", "x"), ("origin", "null")]);
        assert!(is_cross_origin(&h, None));
        let h = headers(&[
            ("host", "x"),
            ("origin", "null"),
            ("sec-fetch-site", "cross-site"),
        ]);
        assert!(is_cross_origin(&h, None));
        let h = headers(&[("host", "x"), ("referer", "http://evil.example/")]);
        assert!(is_cross_origin(&h, None));
        let h = headers(&[("host", "127.0.0.1:3000"), ("origin", "https://127.0.0.1:3000")]);
        assert!(
            is_cross_origin(&h, None),
            "another scheme is another origin (RFC 6454)"
        );
        let h = headers(&[("host", "x"), ("origin", "ftp://x")]);
        assert!(is_cross_origin(&h, None));
    }

    #[test]
    fn hosts() {
        let public = Some("https://id.example.com");
        assert!(host_allowed("id.example.com", public));
        assert!(host_allowed("ID.Example.com:443", public));
        assert!(!host_allowed("id.example.com:8443", public));
        assert!(!host_allowed("evil.example", public));
        assert!(!host_allowed("id.example.com.evil.example", public));
        assert!(!host_allowed("127.0.0.1", public));
        let local = Some("http://localhost:3000");
        assert!(host_allowed("localhost:3000", local));
        assert!(!host_allowed("localhost:3001", local));
        assert!(!host_allowed("localhost", local), "port 80 is another origin");
        for ok in [
            "localhost",
            "localhost:3000",
            "127.0.0.1:3000",
            "[::1]:3000",
            "10.0.0.7",
            "[2001:db8::1]",
        ] {
            assert!(host_allowed(ok, None), "{ok}");
        }
        for bad in [
            "evil.example",
            "rebind.attacker.example:3000",
            "",
            ":3000",
            "localhost:x",
            "[::1",
            "127.0.0.1.evil",
        ] {
            assert!(!host_allowed(bad, None), "{bad}");
        }
    }

    #[test]
    fn a_null_origin_passes_only_when_the_browser_says_same_origin() {
        // A form post from a page with `Referrer-Policy: no-referrer`.
        let h = headers(&[
            ("host", "x"),
            ("origin", "null"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert!(!is_cross_origin(&h, None));
        assert!(!is_cross_origin(&h, Some("https://id.example.com")));
    }

    #[test]
    fn behind_a_tls_proxy_a_browser_vouching_same_origin_passes() {
        let h = headers(&[
            ("host", "id.example.com"),
            ("sec-fetch-site", "same-origin"),
            ("origin", "https://id.example.com"),
        ]);
        assert!(!is_cross_origin(&h, None));
        let h = headers(&[
            ("host", "id.example.com"),
            ("sec-fetch-site", "same-origin"),
            ("origin", "https://evil.example"),
        ]);
        assert!(is_cross_origin(&h, None), "the host must still match");
    }

    #[test]
    fn the_public_url_is_the_one_allowed_origin() {
        let h = headers(&[("host", "internal:3000"), ("origin", "https://id.example.com")]);
        assert!(!is_cross_origin(&h, Some("https://id.example.com")));
        let h = headers(&[("host", "id.example.com"), ("origin", "http://id.example.com")]);
        assert!(
            is_cross_origin(&h, Some("https://id.example.com")),
            "scheme matters"
        );
    }

    #[test]
    fn the_reload_socket_is_allowed_only_while_watching() {
        assert_eq!(super::reload_source(false, Some("3001")), "");
        assert_eq!(super::reload_source(false, None), "");
        assert_eq!(super::reload_source(true, None), " ws://*:3001 wss://*:3001");
        assert_eq!(
            super::reload_source(true, Some("4001")),
            " ws://*:4001 wss://*:4001"
        );
        assert_eq!(
            super::reload_source(true, Some("nope")),
            " ws://*:3001 wss://*:3001"
        );
    }
}
