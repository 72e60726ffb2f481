//! Browser apps on other origins: CORS with credentials for the origins of
//! GATEHOUSE_ALLOWED_ORIGINS, on the JSON API only, and the cross-origin
//! write check that lets them (and only them, and only there) through.

use crate::common::*;
use reqwest::{header, Method, StatusCode};
use serde_json::json;

const APP: &str = "https://app.example.com";
const EVIL: &str = "https://evil.example";

async fn spawn() -> TestApp {
    TestApp::spawn_with(&[(
        "GATEHOUSE_ALLOWED_ORIGINS",
        "https://app.example.com, http://localhost:4173",
    )])
    .await
}

fn header_of(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_origin_gets_its_own_origin_back_with_credentials() {
    let app = spawn().await;
    app.setup_admin().await;
    let res = app
        .bare_client()
        .get(app.url("/api/v1/auth/session"))
        .header(header::ORIGIN, APP)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        header_of(&res, "access-control-allow-origin").as_deref(),
        Some(APP),
        "echoed, never *"
    );
    assert_eq!(
        header_of(&res, "access-control-allow-credentials").as_deref(),
        Some("true")
    );
    let vary = header_of(&res, "vary").unwrap_or_default().to_ascii_lowercase();
    assert!(vary.contains("origin"), "Vary: {vary}");
    let exposed = header_of(&res, "access-control-expose-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        exposed.contains("retry-after") && exposed.contains("www-authenticate"),
        "{exposed}"
    );

    // Another origin gets nothing, but Vary still says the answer depends on it.
    let res = app
        .bare_client()
        .get(app.url("/api/v1/auth/session"))
        .header(header::ORIGIN, EVIL)
        .send()
        .await
        .unwrap();
    assert!(header_of(&res, "access-control-allow-origin").is_none());
    assert!(header_of(&res, "access-control-allow-credentials").is_none());
    assert!(header_of(&res, "vary")
        .unwrap_or_default()
        .to_ascii_lowercase()
        .contains("origin"));

    // Pages answer no CORS, whatever the origin.
    let res = app
        .bare_client()
        .get(app.url("/login"))
        .header(header::ORIGIN, APP)
        .header(header::ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert!(header_of(&res, "access-control-allow-origin").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflights_are_answered_for_allowed_origins_only() {
    let app = spawn().await;
    let preflight = |origin: &'static str| {
        let app = &app;
        async move {
            app.bare_client()
                .request(Method::OPTIONS, app.url("/api/v1/users/me/password"))
                .header(header::ORIGIN, origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "content-type, authorization")
                .send()
                .await
                .unwrap()
        }
    };
    let res = preflight("http://localhost:4173").await;
    assert!(res.status().is_success());
    assert_eq!(
        header_of(&res, "access-control-allow-origin").as_deref(),
        Some("http://localhost:4173")
    );
    assert_eq!(
        header_of(&res, "access-control-allow-credentials").as_deref(),
        Some("true")
    );
    let methods = header_of(&res, "access-control-allow-methods")
        .unwrap()
        .to_ascii_uppercase();
    for m in ["GET", "POST", "PATCH", "DELETE"] {
        assert!(methods.contains(m), "{methods}");
    }
    let headers = header_of(&res, "access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        headers.contains("content-type") && headers.contains("authorization"),
        "{headers}"
    );
    let max_age: u64 = header_of(&res, "access-control-max-age")
        .unwrap()
        .parse()
        .unwrap();
    assert!((60..=86_400).contains(&max_age));

    let res = preflight(EVIL).await;
    assert!(header_of(&res, "access-control-allow-origin").is_none());
    assert!(header_of(&res, "access-control-allow-credentials").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_origins_may_write_to_the_api_but_not_to_pages() {
    let app = spawn().await;
    app.setup_admin().await;
    let post = |path: &'static str, origin: &'static str, site: &'static str| {
        let app = &app;
        async move {
            app.bare_client()
                .post(app.url(path))
                .header(header::ORIGIN, origin)
                .header("sec-fetch-site", site)
                .json(&json!({ "username": ADMIN, "password": ADMIN_PASSWORD }))
                .send()
                .await
                .unwrap()
        }
    };
    // The API: an allowed app signs in, same-site or cross-site.
    for site in ["cross-site", "same-site"] {
        let res = post("/api/v1/auth/token", APP, site).await;
        assert_eq!(res.status(), StatusCode::OK, "{site}");
        assert_eq!(
            header_of(&res, "access-control-allow-origin").as_deref(),
            Some(APP)
        );
    }
    let res = post("/api/v1/auth/login", APP, "cross-site").await;
    assert_eq!(res.status(), StatusCode::OK);
    // Another origin is refused.
    let res = post("/api/v1/auth/token", EVIL, "cross-site").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        json_of(res).await,
        json!({ "error": "cross-origin request refused" })
    );
    // Server functions (the pages' forms) refuse every other origin, allowed or not.
    let res = app
        .bare_client()
        .post(app.url("/fn/login"))
        .header(header::ORIGIN, APP)
        .header("sec-fetch-site", "cross-site")
        .form(&[("username", ADMIN), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_allowed_origins_there_is_no_cors_at_all() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let res = app
        .bare_client()
        .request(Method::OPTIONS, app.url("/api/v1/auth/token"))
        .header(header::ORIGIN, APP)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(header_of(&res, "access-control-allow-origin").is_none());
    let res = app
        .bare_client()
        .post(app.url("/api/v1/auth/token"))
        .header(header::ORIGIN, APP)
        .json(&json!({ "username": ADMIN, "password": ADMIN_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_site_app_is_never_handed_a_refresh_token() {
    let app = spawn().await;
    app.setup_admin().await;
    let res = app
        .bare_client()
        .post(app.url("/api/v1/auth/token"))
        .header(header::ORIGIN, APP)
        .json(&json!({ "username": ADMIN, "password": ADMIN_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        header_of(&res, "access-control-allow-origin").as_deref(),
        Some(APP)
    );
    let pair = json_of(res).await;
    assert!(pair["access_token"].is_string(), "{pair}");
    assert!(
        pair.get("refresh_token").is_none(),
        "the page's script never holds the refresh token: {pair}"
    );
    // Without the cookie (another site's browser does not send a
    // SameSite=Strict one) there is nothing to refresh with; the app can
    // read the refusal and sign the user in again.
    let res = app
        .bare_client()
        .post(app.url("/api/v1/auth/refresh"))
        .header(header::ORIGIN, APP)
        .header("sec-fetch-site", "cross-site")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        header_of(&res, "access-control-allow-origin").as_deref(),
        Some(APP)
    );
}

/// The OpenID Connect provider's endpoints a browser app (a public client
/// with PKCE) calls itself: readable from any origin, without credentials
/// (none of them reads a cookie; each answers only to what the caller sends:
/// a code and its verifier, a refresh token, an access token).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_app_may_read_the_providers_public_endpoints_from_any_origin() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let client = app.bare_client();
    let any = |res: &reqwest::Response| {
        assert_eq!(
            header_of(res, "access-control-allow-origin").as_deref(),
            Some("*"),
            "{}",
            res.url()
        );
        assert!(header_of(res, "access-control-allow-credentials").is_none());
    };
    for path in ["/.well-known/openid-configuration", "/.well-known/jwks.json"] {
        let res = client
            .get(app.url(path))
            .header(header::ORIGIN, EVIL)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        any(&res);
    }
    // The token endpoint: a form post needs no preflight; its errors are
    // readable too (the app shows them).
    let res = client
        .post(app.url("/oauth2/token"))
        .header(header::ORIGIN, APP)
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "nope"),
            ("client_id", "nobody"),
        ])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error(), "{}", res.status());
    any(&res);
    // userinfo with a bearer token, and revocation: preflighted.
    for (path, method) in [
        ("/oauth2/userinfo", "GET"),
        ("/oauth2/revoke", "POST"),
        ("/oauth2/token", "POST"),
    ] {
        let res = client
            .request(Method::OPTIONS, app.url(path))
            .header(header::ORIGIN, APP)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", "authorization, content-type")
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{path}: {}", res.status());
        any(&res);
        let allowed = header_of(&res, "access-control-allow-headers").unwrap_or_default();
        assert!(allowed.contains("authorization"), "{path}: {allowed}");
    }
    let res = client
        .get(app.url("/oauth2/userinfo"))
        .header(header::ORIGIN, APP)
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    any(&res);
    // Introspection is for resource servers, not pages; the JSON API keeps
    // its own rule (the allowed origins only).
    for path in ["/oauth2/introspect", "/api/v1/auth/token"] {
        let res = client
            .request(Method::OPTIONS, app.url(path))
            .header(header::ORIGIN, APP)
            .header("access-control-request-method", "POST")
            .send()
            .await
            .unwrap();
        assert!(header_of(&res, "access-control-allow-origin").is_none(), "{path}");
    }
}
