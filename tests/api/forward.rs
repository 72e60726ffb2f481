//! Forward authentication (issue 25): a reverse proxy asks Gatehouse about
//! each request to an app it protects; the answer follows who is signed in
//! and `GATEHOUSE_FORWARD_RULES`, and sign-in is shared across the
//! subdomains of `GATEHOUSE_COOKIE_DOMAIN`.

use crate::common::factors::*;
use crate::common::*;
use reqwest::{header, StatusCode};
use serde_json::{json, Value};

const RULES: &str = "admin.example.test=admin;wiki.example.test/public=public;*.example.test=any";

async fn gate() -> TestApp {
    TestApp::spawn_with(&[
        ("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1"),
        ("GATEHOUSE_FORWARD_RULES", RULES),
        ("GATEHOUSE_PUBLIC_URL", "{origin}"),
        ("GATEHOUSE_LOGIN_ATTEMPTS", "100"),
    ])
    .await
}

/// Caddy's and Traefik's question about `url` (`https://host/path?query`),
/// with `cookie` (a session cookie's value) and extra headers.
async fn ask(app: &TestApp, url: &str, cookie: Option<&str>, extra: &[(&str, &str)]) -> reqwest::Response {
    let parsed = url::Url::parse(url).unwrap();
    let mut uri = parsed.path().to_string();
    if let Some(q) = parsed.query() {
        uri = format!("{uri}?{q}");
    }
    let host = match parsed.port() {
        Some(p) => format!("{}:{p}", parsed.host_str().unwrap()),
        None => parsed.host_str().unwrap().to_string(),
    };
    let mut req = app
        .bare_client()
        .get(app.url("/api/v1/auth/forward"))
        .header("X-Forwarded-Proto", parsed.scheme())
        .header("X-Forwarded-Host", host)
        .header("X-Forwarded-Uri", uri)
        .header("X-Forwarded-Method", "GET");
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, format!("gatehouse_session={c}"));
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

/// nginx's question about `url`.
async fn ask_nginx(app: &TestApp, url: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut req = app
        .bare_client()
        .get(app.url("/api/v1/auth/forward/nginx"))
        .header("X-Original-URL", url);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, format!("gatehouse_session={c}"));
    }
    req.send().await.unwrap()
}

fn h(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_in_user_is_let_through_with_their_identity() {
    let app = gate().await;
    app.setup_admin().await;
    let user = app.signup("uma@example.com", Some("uma")).await;
    let cookie = app.login_cookie("uma", PASSWORD).await;
    let res = ask(&app, "https://wiki.example.test/page?x=1", Some(&cookie), &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(h(&res, "x-gatehouse-user").as_deref(), Some("uma"));
    assert_eq!(h(&res, "x-gatehouse-email").as_deref(), Some("uma@example.com"));
    assert_eq!(h(&res, "x-gatehouse-roles").as_deref(), Some("user"));
    assert_eq!(h(&res, "x-gatehouse-user-id").as_deref(), user["id"].as_str());
    assert_eq!(h(&res, "remote-user").as_deref(), Some("uma"));
    assert_eq!(h(&res, "remote-email").as_deref(), Some("uma@example.com"));
    assert_eq!(h(&res, "remote-groups").as_deref(), Some("user"));
    assert_eq!(h(&res, "cache-control").as_deref(), Some("no-store"));
    // nginx's endpoint says the same.
    let res = ask_nginx(&app, "https://wiki.example.test/page", Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(h(&res, "x-gatehouse-user").as_deref(), Some("uma"));
    // A bearer token of the API works too.
    let pair: Value = json_of(
        app.post_json(
            &app.bare_client(),
            "/api/v1/auth/token",
            &json!({ "username": "uma", "password": PASSWORD }),
        )
        .await,
    )
    .await;
    let bearer = format!("Bearer {}", pair["access_token"].as_str().unwrap());
    let res = ask(
        &app,
        "https://wiki.example.test/api",
        None,
        &[("Authorization", &bearer)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(h(&res, "x-gatehouse-user").as_deref(), Some("uma"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_signed_in_goes_to_the_login_page_or_gets_401() {
    let app = gate().await;
    app.setup_admin().await;
    // A browser: to the login page on the public origin, back to the original URL.
    let res = ask(
        &app,
        "https://wiki.example.test/page?x=1",
        None,
        &[("Accept", "text/html,*/*")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(
        location(&res),
        format!(
            "{}/login?return=https%3A%2F%2Fwiki.example.test%2Fpage%3Fx%3D1",
            app.origin()
        )
    );
    // Anything else: 401.
    let res = ask(
        &app,
        "https://wiki.example.test/page",
        None,
        &[("Accept", "application/json")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(h(&res, "x-gatehouse-user").is_none());
    // nginx: 401 with the login URL to redirect to.
    let res = ask_nginx(&app, "https://wiki.example.test/page", None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        h(&res, "x-gatehouse-login").as_deref(),
        Some(
            format!(
                "{}/login?return=https%3A%2F%2Fwiki.example.test%2Fpage",
                app.origin()
            )
            .as_str()
        )
    );
    // A public rule needs nobody; the identity headers come empty, so a
    // proxy that copies them overwrites what the client sent.
    let res = ask(
        &app,
        "https://wiki.example.test/public/faq",
        None,
        &[("X-Gatehouse-User", "admin")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(h(&res, "x-gatehouse-user").as_deref(), Some(""));
    assert_eq!(h(&res, "remote-user").as_deref(), Some(""));
    // Headers the client sent under the identity names prove nothing.
    let res = ask(
        &app,
        "https://wiki.example.test/page",
        None,
        &[
            ("X-Gatehouse-User", "admin"),
            ("Remote-User", "admin"),
            ("X-Gatehouse-Roles", "admin"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rules_decide_first_match_and_no_match_is_403() {
    let app = gate().await;
    app.setup_admin().await;
    app.signup("uma@example.com", Some("uma")).await;
    let uma = app.login_cookie("uma", PASSWORD).await;
    let admin = app.login_cookie(ADMIN, ADMIN_PASSWORD).await;
    for (url, cookie, status) in [
        ("https://admin.example.test/", &uma, StatusCode::FORBIDDEN),
        (
            "https://ADMIN.example.test:8443/users",
            &uma,
            StatusCode::FORBIDDEN,
        ),
        ("https://admin.example.test/", &admin, StatusCode::OK),
        ("https://other.test/", &admin, StatusCode::FORBIDDEN),
        ("https://example.test/", &admin, StatusCode::FORBIDDEN),
        ("https://wiki.example.test/%61ny", &uma, StatusCode::OK),
    ] {
        let res = ask(&app, url, Some(cookie), &[]).await;
        assert_eq!(res.status(), status, "{url}");
        if status == StatusCode::FORBIDDEN {
            assert!(h(&res, "x-gatehouse-user").is_none());
            assert!(json_of(res).await["error"].is_string());
        }
    }
    let res = ask(&app, "https://admin.example.test/", Some(&admin), &[]).await;
    assert_eq!(h(&res, "x-gatehouse-roles").as_deref(), Some("admin"));
    let res = ask_nginx(&app, "https://admin.example.test/", Some(&uma)).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // A walk around a rule by escapes or dot segments meets the rule.
    let app = TestApp::spawn_with(&[
        ("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1"),
        (
            "GATEHOUSE_FORWARD_RULES",
            "app.example.test/admin=admin;app.example.test=any",
        ),
    ])
    .await;
    app.setup_admin().await;
    app.signup("uma@example.com", Some("uma")).await;
    let uma = app.login_cookie("uma", PASSWORD).await;
    for path in [
        "/admin",
        "/%61dmin/x",
        "/public/../admin",
        "//admin",
        "/public/%2e%2e/admin",
    ] {
        let res = ask(&app, &format!("https://app.example.test{path}"), Some(&uma), &[]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_trusted_proxies_are_answered_and_the_request_must_be_described() {
    // No trusted proxies: the same request is refused.
    let app = TestApp::spawn_with(&[("GATEHOUSE_FORWARD_RULES", "*=any")]).await;
    app.setup_admin().await;
    let cookie = app.login_cookie(ADMIN, ADMIN_PASSWORD).await;
    let res = ask(&app, "https://wiki.example.test/", Some(&cookie), &[]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(json_of(res).await["error"]
        .as_str()
        .unwrap()
        .contains("GATEHOUSE_TRUSTED_PROXIES"));
    assert_eq!(
        ask_nginx(&app, "https://wiki.example.test/", Some(&cookie))
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );

    let app = gate().await;
    app.setup_admin().await;
    let cookie = app.login_cookie(ADMIN, ADMIN_PASSWORD).await;
    // A proxy may reach Gatehouse under an internal name.
    let res = app
        .bare_client()
        .get(app.url("/api/v1/auth/forward"))
        .header(header::HOST, "gatehouse.internal:3000")
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", "wiki.example.test")
        .header("X-Forwarded-Uri", "/")
        .header(header::COOKIE, format!("gatehouse_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // ... which still guards every other path.
    let res = app
        .bare_client()
        .get(app.url("/api/v1/auth/session"))
        .header(header::HOST, "gatehouse.internal:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // The original request must be described, and sensibly.
    for headers in [
        vec![],
        vec![
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "wiki.example.test"),
        ],
        vec![
            ("X-Forwarded-Proto", "gopher"),
            ("X-Forwarded-Host", "wiki.example.test"),
            ("X-Forwarded-Uri", "/"),
        ],
        vec![
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "a b"),
            ("X-Forwarded-Uri", "/"),
        ],
        vec![
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "wiki.example.test"),
            ("X-Forwarded-Uri", "page"),
        ],
    ] {
        let mut req = app.bare_client().get(app.url("/api/v1/auth/forward"));
        for (k, v) in &headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{headers:?}");
        assert!(json_of(res).await["error"].is_string());
    }
    for bad in [
        "",
        "wiki.example.test/",
        "ftp://wiki.example.test/",
        "https://user@wiki.example.test/",
    ] {
        let res = app
            .bare_client()
            .get(app.url("/api/v1/auth/forward/nginx"))
            .header("X-Original-URL", bad)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad:?}");
    }
    // Any method (Traefik forwards the original one), from any origin.
    let res = app
        .bare_client()
        .post(app.url("/api/v1/auth/forward"))
        .header(header::ORIGIN, "https://wiki.example.test")
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", "wiki.example.test")
        .header("X-Forwarded-Uri", "/save")
        .header(header::COOKIE, format!("gatehouse_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_is_seen_on_the_very_next_check() {
    let app = gate().await;
    let admin = app.setup_admin().await;
    let user = app.signup("uma@example.com", Some("uma")).await;
    let url = "https://wiki.example.test/";
    // Signing out.
    let cookie = app.login_cookie("uma", PASSWORD).await;
    assert_eq!(ask(&app, url, Some(&cookie), &[]).await.status(), StatusCode::OK);
    let res = app
        .bare_client()
        .post(app.url("/api/v1/auth/logout"))
        .header(header::COOKIE, format!("gatehouse_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    assert_eq!(
        ask(&app, url, Some(&cookie), &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Disabling the user.
    let cookie = app.login_cookie("uma", PASSWORD).await;
    let pair: Value = json_of(
        app.post_json(
            &app.bare_client(),
            "/api/v1/auth/token",
            &json!({ "username": "uma", "password": PASSWORD }),
        )
        .await,
    )
    .await;
    let bearer = format!("Bearer {}", pair["access_token"].as_str().unwrap());
    assert_eq!(
        ask(&app, url, None, &[("Authorization", &bearer)]).await.status(),
        StatusCode::OK
    );
    let res = admin
        .patch(app.url(&format!("/api/v1/admin/users/{}", user["id"].as_str().unwrap())))
        .json(&json!({ "disabled": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        ask(&app, url, Some(&cookie), &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        ask(&app, url, None, &[("Authorization", &bearer)]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // A revoked token family.
    let res = admin
        .patch(app.url(&format!("/api/v1/admin/users/{}", user["id"].as_str().unwrap())))
        .json(&json!({ "disabled": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let pair: Value = json_of(
        app.post_json(
            &app.bare_client(),
            "/api/v1/auth/token",
            &json!({ "username": "uma", "password": PASSWORD }),
        )
        .await,
    )
    .await;
    let bearer = format!("Bearer {}", pair["access_token"].as_str().unwrap());
    assert_eq!(
        ask(&app, url, None, &[("Authorization", &bearer)]).await.status(),
        StatusCode::OK
    );
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/revoke",
            &json!({ "refresh_token": pair["refresh_token"] }),
        )
        .await;
    assert!(res.status().is_success());
    assert_eq!(
        ask(&app, url, None, &[("Authorization", &bearer)]).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_waiting_for_its_second_factor_is_not_signed_in() {
    settle_step(8).await;
    let app = gate().await;
    app.setup_admin().await;
    app.signup("uma@example.com", Some("uma")).await;
    let uma = app.login("uma", PASSWORD).await;
    let (secret, _) = enable_totp(&app, &uma).await;
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/login",
            &json!({ "username": "uma", "password": PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = cookie_value(&set_cookie(&res, "gatehouse_session").expect("a pending sign-in's cookie"));
    let res = ask(&app, "https://wiki.example.test/", Some(&cookie), &[]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // Once the code is given, the same cookie's session is signed in.
    let res = app
        .bare_client()
        .post(app.url("/api/v1/auth/mfa/verify"))
        .header(header::COOKIE, format!("gatehouse_session={cookie}"))
        .json(&json!({ "code": totp(&secret, 1) }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = cookie_value(&set_cookie(&res, "gatehouse_session").expect("a new session id"));
    assert_eq!(
        ask(&app, "https://wiki.example.test/", Some(&cookie), &[])
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sign_in_covers_the_cookie_domain_and_returns_there_only() {
    let app = TestApp::spawn_with(&[
        ("GATEHOUSE_PUBLIC_URL", "http://id.example.test"),
        ("GATEHOUSE_COOKIE_DOMAIN", "example.test"),
        ("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1"),
        ("GATEHOUSE_FORWARD_RULES", "*.example.test=any"),
    ])
    .await;
    // The public host is id.example.test (port 80): requests name it.
    let client = app.bare_client();
    let base = app.origin();
    let public = "http://id.example.test";
    let res = client
        .post(format!("{base}/api/v1/auth/setup"))
        .header(header::HOST, "id.example.test")
        .json(&json!({ "username": ADMIN, "password": ADMIN_PASSWORD, "email": "admin@example.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let cookie = set_cookie(&res, "gatehouse_session").expect("a session cookie");
    assert!(cookie.contains("Domain=example.test"), "{cookie}");
    // The login form returns to an app of the domain, and nowhere else.
    for (target, expected) in [
        (
            "http://wiki.example.test/page?x=1",
            "http://wiki.example.test/page?x=1",
        ),
        ("http://example.test.evil.test/", "/dashboard"),
        ("//evil.test", "/dashboard"),
        ("http://evil.test\\@wiki.example.test/", "/dashboard"),
        ("http://admin@wiki.example.test/", "/dashboard"),
    ] {
        let res = client
            .post(format!("{base}/fn/login"))
            .header(header::HOST, "id.example.test")
            .header(header::ACCEPT, "text/html")
            .header(header::ORIGIN, public)
            .form(&[
                ("username", ADMIN),
                ("password", ADMIN_PASSWORD),
                ("return_to", target),
            ])
            .send()
            .await
            .unwrap();
        assert!(res.status().is_redirection(), "{target}: {}", res.status());
        assert_eq!(location(&res), expected, "{target}");
    }
    // A signed-in visit to /login with such a return goes straight there.
    let value = cookie_value(&cookie);
    let res = client
        .get(format!("{base}/login?return=http%3A%2F%2Fwiki.example.test%2F"))
        .header(header::HOST, "id.example.test")
        .header(header::ACCEPT, "text/html")
        .header(header::COOKIE, format!("gatehouse_session={value}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(location(&res), "http://wiki.example.test/");
}
