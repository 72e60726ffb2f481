//! Hostile input: oversized, malformed, mistyped, NUL bytes, SQL
//! metacharacters, and random data. None of it may reach a 500, and every
//! error is the API's `{"error": ...}` shape.

use crate::common::*;
use gatehouse::model::is_local_path;
use proptest::prelude::*;
use reqwest::{header, StatusCode};
use serde_json::json;

async fn post_raw(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    client
        .post(app.url(path))
        .header(header::CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

const JSON_ENDPOINTS: &[&str] = &[
    "/api/v1/auth/setup",
    "/api/v1/auth/signup",
    "/api/v1/auth/login",
    "/api/v1/auth/token",
    "/api/v1/auth/refresh",
    "/api/v1/auth/revoke",
    "/api/v1/users/me/password",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_get_4xx_in_the_error_shape_on_every_endpoint() {
    let app = TestApp::spawn_with(&[("GATEHOUSE_LOGIN_ATTEMPTS", "10000")]).await;
    let admin = app.setup_admin().await;
    let nested = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"{".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"\"just a string\"".to_vec(),
        b"{\"username\": {\"$ne\": null}, \"password\": [\"x\"]}".to_vec(),
        vec![0xff, 0xfe, 0x00, 0x7b],
        b"{\"username\": \"a\\u0000b\", \"password\": \"x\\u0000y\", \"email\": \"a\\u0000@b.co\"}".to_vec(),
        nested.into_bytes(),
        format!(
            "{{\"username\": \"{}\", \"password\": \"x\"}}",
            "a".repeat(60_000)
        )
        .into_bytes(),
    ];
    for path in JSON_ENDPOINTS {
        for body in &bodies {
            let res = post_raw(&app, &admin, path, "application/json", body.clone()).await;
            let status = res.status();
            // None of these bodies is a valid request to any endpoint: each
            // is refused with a 4xx, never accepted, never a 500. The one
            // exception: /revoke, like logout, is idempotent; a body that
            // names no refresh token (empty, `null`, or an object without
            // one) and no cookie leaves nothing to revoke, which is a success.
            let names_no_token = body.is_empty()
                || serde_json::from_slice::<serde_json::Value>(body)
                    .is_ok_and(|v| v.is_null() || (v.is_object() && v.get("refresh_token").is_none()));
            let idempotent = *path == "/api/v1/auth/revoke" && names_no_token;
            assert!(
                status.is_client_error() || (idempotent && status.is_success()),
                "{path} {status} for {:?}",
                String::from_utf8_lossy(&body[..body.len().min(40)])
            );
            if status.is_client_error() {
                let v: serde_json::Value = res.json().await.expect("an error body in JSON");
                assert!(v["error"].is_string(), "{path}: {v}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_metacharacters_and_nul_bytes_are_just_characters() {
    let app = TestApp::spawn_with(&[
        ("GATEHOUSE_LOGIN_ATTEMPTS", "10000"),
        ("GATEHOUSE_LOCKOUT_THRESHOLD", "10000"),
    ])
    .await;
    app.setup_admin().await;
    let c = app.bare_client();
    for identifier in [
        "' OR '1'='1",
        "admin'--",
        "admin\"; DROP TABLE users; --",
        "%' OR 1=1 --",
        "admin\u{0}",
        "\u{0}",
        "admin' UNION SELECT password_hash FROM users --",
    ] {
        let res = app
            .post_json(
                &c,
                "/api/v1/auth/login",
                &json!({ "username": identifier, "password": "' OR '1'='1" }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{identifier:?}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body, json!({ "error": "invalid credentials" }), "{identifier:?}");
    }
    for (username, email) in [
        ("robert'); DROP TABLE users;--", "bobby@example.com"),
        ("nul\u{0}name", "nul@example.com"),
        ("okname2", "a@b\u{0}.com"),
        ("okname3", "a\u{0}b@example.com"),
    ] {
        let res = app
            .post_json(
                &c,
                "/api/v1/auth/signup",
                &json!({ "email": email, "username": username, "password": PASSWORD }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{username:?} {email:?}");
    }
    // An apostrophe is a legal email character: stored and matched as itself.
    let res = app
        .post_json(
            &c,
            "/api/v1/auth/signup",
            &json!({ "email": "o'brien'--@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    app.login("o'brien'--@example.com", PASSWORD).await;
    // Everything is still there and works.
    app.login(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(gatehouse::server::db::users::count(app.db()).await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_paths_and_server_function_bodies_never_reach_a_500() {
    let app = TestApp::spawn_with(&[("GATEHOUSE_LOGIN_ATTEMPTS", "10000")]).await;
    let admin = app.setup_admin().await;
    for path in [
        "/api/v1/auth/sessions/%00",
        "/api/v1/auth/sessions/..%2F..%2Fetc%2Fpasswd",
        "/api/v1/auth/sessions/' OR 1=1",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/pkg/..%2F..%2FCargo.toml",
        "/login?return=%00%0d%0aSet-Cookie:%20x=y",
        "/dashboard?%ff%fe",
        "/api/v1/admin/users/%00/unlock",
        "/api/v1/admin/users/%00/sessions",
        "/api/v1/admin/users/' OR 1=1/sessions",
        "/api/v1/admin/audit?user_id=%00&event=login",
        "/api/v1/admin/audit?user_id=a%00b",
    ] {
        for method in ["GET", "DELETE", "POST"] {
            let res = admin
                .request(method.parse().unwrap(), app.url(path))
                .header(header::ACCEPT, "text/html")
                .send()
                .await
                .unwrap();
            assert!(res.status().as_u16() < 500, "{method} {path}: {}", res.status());
            assert!(!res
                .headers()
                .get_all(header::SET_COOKIE)
                .iter()
                .any(|v| v.as_bytes().starts_with(b"x=")));
        }
    }
    // Record ids with a NUL byte or SQL in them name nothing: 404, not 500.
    for id in ["%00", "x%00y", "'%20OR%201=1"] {
        let res = admin
            .patch(app.url(&format!("/api/v1/admin/users/{id}")))
            .json(&json!({ "role": "user" }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{id}");
    }
    // Server functions called with garbage, by fetch (not a plain form post),
    // signed out and as the admin.
    let garbage = [
        ("/fn/login", "%%%"),
        ("/fn/login", "username=admin%00&password=x"),
        ("/fn/login", "username=a&password=b&remember=on&remember=off"),
        ("/fn/signup", "email[]=x"),
        ("/fn/change_password", "current_password=x"),
        ("/fn/revoke_session", ""),
        ("/fn/revoke_session", "id=%00"),
        ("/fn/admin_unlock", "id=%00"),
        ("/fn/admin_set_role", "id=a%00&role=user"),
        ("/fn/admin_sign_out", "id=%00"),
        ("/fn/admin_overview", "user=%00&event=%00"),
        ("/fn/no_such_function", "a=b"),
    ];
    for (client, (path, body)) in [app.bare_client(), admin.clone()]
        .into_iter()
        .flat_map(|c| garbage.map(|g| (c.clone(), g)))
    {
        let res = client
            .post(app.url(path))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(res.status().as_u16() < 500, "{path} {body:?}: {}", res.status());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_get_413_everywhere() {
    let app = TestApp::spawn().await;
    let big = vec![b'a'; 65 * 1024];
    for path in ["/api/v1/auth/setup", "/fn/login", "/api/v1/auth/refresh"] {
        let res = post_raw(&app, &app.bare_client(), path, "application/json", big.clone()).await;
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE, "{path}");
    }
}

/// A configuration with nothing set but the database (no cookie domain).
fn plain_config() -> &'static gatehouse::server::config::Config {
    static CONFIG: std::sync::OnceLock<gatehouse::server::config::Config> = std::sync::OnceLock::new();
    CONFIG.get_or_init(|| {
        let vars = std::collections::HashMap::from([("DATABASE_URL", "sqlite::memory:")]);
        gatehouse::server::config::Config::from_map(&vars).expect("a configuration")
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Whatever is accepted as a `return` target stays on this site when a
    /// browser resolves it (ASVS 3.7.2).
    #[test]
    fn accepted_return_targets_stay_on_this_site(target in "\\PC{0,24}|[/\\\\:@.a-z%0-9\t\n ]{0,16}") {
        if is_local_path(&target) {
            let base = url::Url::parse("https://gatehouse.test/login").unwrap();
            let resolved = base.join(&target).expect("a local path resolves");
            prop_assert_eq!(resolved.host_str(), Some("gatehouse.test"));
            prop_assert_eq!(resolved.scheme(), "https");
            prop_assert!(target.starts_with('/'));
        }
        // And what the server chooses is the target or the dashboard.
        let chosen = plain_config().safe_return(Some(&target));
        prop_assert!(chosen == target || chosen == "/dashboard");
    }

    /// The JSON extractor never panics, and its errors never repeat what was sent.
    #[test]
    fn json_errors_never_echo_the_input(secret in "[A-Za-z0-9]{12,24}", shape in 0usize..6) {
        let body = match shape {
            0 => format!("{{\"username\": \"a\", \"password\": {secret}}}"),
            1 => format!("{{\"username\": [\"{secret}\"], \"password\": \"x\"}}"),
            2 => format!("{{\"password\": \"{secret}\""),
            3 => format!("{{\"username\": 1, \"password\": \"{secret}\"}}"),
            4 => format!("[\"{secret}\"]"),
            _ => format!("{{\"username\": \"a\", \"password\": \"{secret}\", \"remember\": \"{secret}\"}}"),
        };
        let parsed = gatehouse::server::http::extract::parse_json::<LoginShape>(body.as_bytes());
        if let Err(e) = parsed {
            prop_assert!(!e.message.contains(&secret), "{}", e.message);
            prop_assert_eq!(e.status, StatusCode::BAD_REQUEST);
        }
    }
}

#[derive(serde::Deserialize, Debug)]
#[allow(dead_code)]
struct LoginShape {
    username: String,
    password: String,
    #[serde(default)]
    remember: bool,
}
