//! Headers on every response, the per-request CSP nonce, and the check that a
//! state-changing request comes from this site (CSRF).

use crate::server::AppState;
use axum::{
    extract::{Request, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use base64::Engine;

/// Pages whose address carries a mail link's token: they send no `Referer`
/// at all, so the token cannot leak to anything the page loads or links to.
pub const TOKEN_PAGES: [&str; 4] = ["/reset-password", "/verify-email", "/confirm-email", "/invite"];

/// The nonce this request's inline scripts carry (a request extension).
#[derive(Clone, Debug)]
pub struct CspNonce(pub String);

/// Middleware: gives each request a CSP nonce and each response its
/// `Content-Security-Policy` (scripts by nonce, no `unsafe-inline`; nothing may
/// frame the site) and `Cache-Control`.
pub async fn csp_and_cache(mut req: Request, next: Next) -> Response {
    let nonce = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>());
    req.extensions_mut().insert(CspNonce(nonce.clone()));
    let is_static = req.uri().path().starts_with("/pkg/");
    let is_token_page = TOKEN_PAGES.contains(&req.uri().path());
    let mut res = next.run(req).await;
    let headers = res.headers_mut();
    let is_html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/html"));
    let csp = if is_html {
        format!(
            "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
             style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
             object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        )
    } else {
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'".to_string()
    };
    if let Ok(v) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    if is_token_page {
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        // Pages and API answers are personal: never stored. Static files are
        // revalidated (they are not content-hashed).
        let value = if is_static { "no-cache" } else { "no-store" };
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    }
    res
}

/// Middleware: refuses (403) a state-changing request that a browser sent
/// from another origin: `Sec-Fetch-Site` when present, else `Origin`, else
/// `Referer`. Requests without any of them (curl, mobile apps) pass: they
/// cannot carry a victim's cookies by accident.
pub async fn same_origin_writes(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let expected = state.config.public_origin.as_deref();
    if is_cross_origin(req.headers(), expected) {
        let body = axum::Json(serde_json::json!({ "error": "cross-origin request refused" }));
        return (StatusCode::FORBIDDEN, body).into_response();
    }
    next.run(req).await
}

/// Whether the request comes from another origin than this site's
/// (`public_origin`, or else the request's own `Host`).
pub fn is_cross_origin(headers: &HeaderMap, public_origin: Option<&str>) -> bool {
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
}
