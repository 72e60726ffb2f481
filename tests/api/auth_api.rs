//! The JSON endpoints of the first slice: setup, signup, login, logout,
//! session, health; their status codes and error bodies.

use crate::common::*;
use reqwest::{header, StatusCode};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_ready_answer() {
    let app = TestApp::spawn().await;
    let c = app.client();
    let res = app.get(&c, "/health").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json_of(res).await, json!({ "status": "ok" }));
    let res = app.get(&c, "/ready").await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_answers_503_when_the_database_is_gone() {
    let app = TestApp::spawn().await;
    app.state.core.close().await;
    let res = app.get(&app.client(), "/ready").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(json_of(res).await["error"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_creates_the_first_admin_signed_in_and_only_once() {
    let app = TestApp::spawn().await;
    let c = app.client();
    let res = app.get(&c, "/api/v1/auth/setup-required").await;
    assert_eq!(json_of(res).await, json!({ "setup_required": true }));

    let res = app
        .post_json(
            &c,
            "/api/v1/auth/setup",
            &json!({ "username": "Root", "password": ADMIN_PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(set_cookie(&res, "gatehouse_session").is_some(), "setup signs in");
    let body = json_of(res).await;
    assert_eq!(body["ok"], json!(true));
    let user = &body["user"];
    assert_eq!(user["username"], "Root");
    assert_eq!(user["role"], "admin");
    assert_eq!(user["email"], Value::Null);
    assert!(uuid::Uuid::parse_str(user["id"].as_str().unwrap()).is_ok());
    assert!(time::OffsetDateTime::parse(
        user["created_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339
    )
    .is_ok());
    assert_eq!(user["email_verified"], json!(false));
    let keys: Vec<&String> = user.as_object().unwrap().keys().collect();
    assert_eq!(
        keys.len(),
        6,
        "only id, username, email, email_verified, role, created_at: {keys:?}"
    );

    let session = app.whoami(&c).await;
    assert_eq!(session["authenticated"], json!(true));
    assert_eq!(session["user"]["username"], "Root");

    let res = app.get(&c, "/api/v1/auth/setup-required").await;
    assert_eq!(json_of(res).await, json!({ "setup_required": false }));

    let res = app
        .post_json(
            &app.client(),
            "/api/v1/auth/setup",
            &json!({ "username": "again", "password": ADMIN_PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(json_of(res).await, json!({ "error": "setup already complete" }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_setups_create_exactly_one_admin() {
    let app = TestApp::spawn().await;
    let attempts = (0..16).map(|i| {
        let client = app.client();
        let url = app.url("/api/v1/auth/setup");
        async move {
            client
                .post(url)
                .json(&json!({ "username": format!("admin{i}"), "password": ADMIN_PASSWORD }))
                .send()
                .await
                .expect("request")
                .status()
        }
    });
    let statuses = futures::future::join_all(attempts).await;
    let created = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
    assert_eq!(created, 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::CREATED || *s == StatusCode::FORBIDDEN),
        "{statuses:?}"
    );
    let users = gatehouse::server::db::users::count(app.db()).await.unwrap();
    assert_eq!(users, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_rejects_bad_input_with_400_and_a_message() {
    let app = TestApp::spawn().await;
    let c = app.client();
    for body in [
        json!({ "username": "admin", "password": "short" }),
        json!({ "username": "a", "password": ADMIN_PASSWORD }),
        json!({ "username": "has space", "password": ADMIN_PASSWORD }),
        json!({ "username": "admin", "password": ADMIN_PASSWORD, "email": "not-an-email" }),
        json!({ "username": "admin" }),
        json!({ "password": ADMIN_PASSWORD }),
        json!({ "username": 12, "password": ADMIN_PASSWORD }),
        json!([]),
    ] {
        let res = app.post_json(&c, "/api/v1/auth/setup", &body).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body}");
        let err = json_of(res).await;
        assert!(
            err["error"].as_str().is_some_and(|m| !m.is_empty()),
            "{body} -> {err}"
        );
    }
    let res = c
        .post(app.url("/api/v1/auth/setup"))
        .header(header::CONTENT_TYPE, "application/json")
        .body("{\"username\": \"admin\", ")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(res).await, json!({ "error": "malformed JSON body" }));
    let res = c
        .post(app.url("/api/v1/auth/setup"))
        .header(header::CONTENT_TYPE, "text/plain")
        .body("username=admin")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Nothing was created by any of it.
    let res = app.get(&c, "/api/v1/auth/setup-required").await;
    assert_eq!(json_of(res).await, json!({ "setup_required": true }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_never_repeat_the_submitted_password() {
    let app = TestApp::spawn().await;
    let res = app
        .post_json(
            &app.client(),
            "/api/v1/auth/setup",
            &json!({ "username": "admin", "password": 987654321012u64 }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let text = res.text().await.unwrap();
    assert!(!text.contains("987654321012"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signup_waits_for_setup() {
    let app = TestApp::spawn().await;
    let res = app
        .post_json(
            &app.client(),
            "/api/v1/auth/signup",
            &json!({ "email": "a@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(json_of(res).await["error"].as_str().unwrap().contains("setup"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signup_creates_a_user_who_is_not_signed_in() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let c = app.client();
    let res = app
        .post_json(
            &c,
            "/api/v1/auth/signup",
            &json!({ "email": "Jane@Example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(
        set_cookie(&res, "gatehouse_session").is_none(),
        "signup does not sign in"
    );
    let body = json_of(res).await;
    assert_eq!(body["ok"], json!(true));
    assert_eq!(
        body["user"]["username"], "Jane@example.com",
        "username defaults to the email"
    );
    assert_eq!(body["user"]["email"], "Jane@example.com");
    assert_eq!(body["user"]["role"], "user");
    assert_eq!(app.whoami(&c).await, json!({ "authenticated": false }));

    // With a chosen username.
    let user = app.signup("bob@example.com", Some("bob")).await;
    assert_eq!(user["username"], "bob");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signup_ignores_a_role_in_its_body() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let res = app
        .post_json(
            &app.client(),
            "/api/v1/auth/signup",
            &json!({ "email": "mallory@example.com", "password": PASSWORD, "role": "admin" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(json_of(res).await["user"]["role"], "user");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usernames_and_emails_are_unique_case_insensitively() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    app.signup("jane@example.com", Some("jane")).await;
    let c = app.client();
    for (body, field) in [
        (
            json!({ "email": "JANE@example.com", "password": PASSWORD }),
            "email",
        ),
        (
            json!({ "email": "other@example.com", "username": "JANE", "password": PASSWORD }),
            "username",
        ),
        (
            json!({ "email": "other2@example.com", "username": "Admin", "password": PASSWORD }),
            "username",
        ),
    ] {
        let res = app.post_json(&c, "/api/v1/auth/signup", &body).await;
        assert_eq!(res.status(), StatusCode::CONFLICT, "{body}");
        let msg = json_of(res).await["error"].as_str().unwrap().to_lowercase();
        assert!(
            msg.contains(field) || msg.contains("taken") || msg.contains("exists"),
            "{msg}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signup_rejects_invalid_input() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let c = app.client();
    for body in [
        json!({ "email": "no-at-sign", "password": PASSWORD }),
        json!({ "email": "a@example.com", "password": "123456789" }),
        json!({ "email": "a@example.com", "password": "x".repeat(257) }),
        json!({ "email": "a@example.com", "username": "bad name", "password": PASSWORD }),
        json!({ "email": "a@example.com", "username": "nul\u{0}byte", "password": PASSWORD }),
        json!({ "password": PASSWORD }),
        json!({ "email": "a@example.com" }),
    ] {
        let res = app.post_json(&c, "/api/v1/auth/signup", &body).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body}");
        assert!(json_of(res).await["error"].is_string());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_works_by_username_or_email_in_any_case() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    app.signup("jane@example.com", Some("Jane")).await;
    for (field, identifier) in [
        ("username", "jane"),
        ("username", "JANE@EXAMPLE.COM"),
        ("email", "jane@example.com"),
    ] {
        let c = app.client();
        let res = app
            .post_json(
                &c,
                "/api/v1/auth/login",
                &json!({ field: identifier, "password": PASSWORD }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK, "{field}={identifier}");
        assert!(set_cookie(&res, "gatehouse_session").is_some());
        let body = json_of(res).await;
        assert_eq!(body["ok"], json!(true));
        assert_eq!(body["user"]["username"], "Jane");
        assert_eq!(app.whoami(&c).await["authenticated"], json!(true));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_user_and_wrong_password_look_the_same() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let c = app.client();
    let wrong = app
        .post_json(
            &c,
            "/api/v1/auth/login",
            &json!({ "username": ADMIN, "password": "wrong password!!" }),
        )
        .await;
    let unknown = app
        .post_json(
            &c,
            "/api/v1/auth/login",
            &json!({ "username": "nobody", "password": "wrong password!!" }),
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert!(set_cookie(&wrong, "gatehouse_session").is_none());
    assert_eq!(json_of(wrong).await, json!({ "error": "invalid credentials" }));
    assert_eq!(json_of(unknown).await, json!({ "error": "invalid credentials" }));

    // Fields that are present but empty are wrong credentials too, not a
    // malformed request: the same 401 and body.
    for body in [
        json!({ "username": ADMIN, "password": "" }),
        json!({ "username": "", "password": "wrong password!!" }),
        json!({ "username": "   ", "password": "" }),
    ] {
        let res = app.post_json(&c, "/api/v1/auth/login", &body).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(
            json_of(res).await,
            json!({ "error": "invalid credentials" }),
            "{body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_rejects_malformed_bodies_with_400() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let c = app.client();
    for body in [
        json!({ "username": ADMIN }),
        json!({ "password": "x" }),
        json!("admin"),
    ] {
        let res = app.post_json(&c, "/api/v1/auth/login", &body).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_deletes_the_session_so_a_copied_cookie_stops_working() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let c = app.bare_client();
    let res = app
        .post_json(
            &c,
            "/api/v1/auth/login",
            &json!({ "username": ADMIN, "password": ADMIN_PASSWORD }),
        )
        .await;
    let cookie = set_cookie(&res, "gatehouse_session").unwrap();
    let pair = cookie.split(';').next().unwrap().to_string();
    let me = |pair: String| {
        let c = c.clone();
        let url = app.url("/api/v1/auth/session");
        async move {
            c.get(url)
                .header(header::COOKIE, pair)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(me(pair.clone()).await["authenticated"], json!(true));

    let res = c
        .post(app.url("/api/v1/auth/logout"))
        .header(header::COOKIE, &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let cleared = set_cookie(&res, "gatehouse_session").expect("the cookie is cleared");
    assert!(
        cleared.contains("Max-Age=0") || cleared.to_lowercase().contains("expires=thu, 01 jan 1970"),
        "{cleared}"
    );
    assert_eq!(json_of(res).await, json!({ "ok": true }));

    // The copied cookie no longer signs anyone in.
    assert_eq!(me(pair).await["authenticated"], json!(false));
}

const PLANTED: &str = "AAAAAAAAAAAAAAAAAAAAAA";

/// Posts the admin's credentials to `path` with an attacker's planted session
/// id; checks the answer is `status`, the id issued is new, and the planted
/// one names no session. Returns the issued id.
async fn sign_in_over_a_planted_id(app: &TestApp, path: &str, status: StatusCode) -> String {
    let c = app.bare_client();
    let res = c
        .post(app.url(path))
        .header(header::COOKIE, format!("gatehouse_session={PLANTED}"))
        .json(&json!({ "username": ADMIN, "password": ADMIN_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), status, "{path}");
    let issued = cookie_value(&set_cookie(&res, "gatehouse_session").unwrap());
    assert_ne!(issued, PLANTED, "{path}");
    let planted = session_of(app, PLANTED).await;
    assert_eq!(planted["authenticated"], json!(false), "{path}");
    let session = session_of(app, &issued).await;
    assert_eq!(session["user"]["username"], json!(ADMIN), "{path}");
    issued
}

async fn session_of(app: &TestApp, id: &str) -> Value {
    let res = app
        .bare_client()
        .get(app.url("/api/v1/auth/session"))
        .header(header::COOKIE, format!("gatehouse_session={id}"))
        .send()
        .await
        .unwrap();
    json_of(res).await
}

/// OWASP Session Management: an attacker obtains a valid anonymous-but-stored
/// session id, or just plants one; login never keeps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_never_keeps_a_planted_session_id() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let issued = sign_in_over_a_planted_id(&app, "/api/v1/auth/login", StatusCode::OK).await;

    // Logging in again from a signed-in browser also gets a new id.
    let again = app
        .bare_client()
        .post(app.url("/api/v1/auth/login"))
        .header(header::COOKIE, format!("gatehouse_session={issued}"))
        .json(&json!({ "username": ADMIN, "password": ADMIN_PASSWORD }))
        .send()
        .await
        .unwrap();
    let second = cookie_value(&set_cookie(&again, "gatehouse_session").unwrap());
    assert_ne!(second, issued);
}

/// The id changes at setup too, which signs the first admin in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_never_keeps_a_planted_session_id() {
    let app = TestApp::spawn().await;
    sign_in_over_a_planted_id(&app, "/api/v1/auth/setup", StatusCode::CREATED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_cookie_has_the_promised_attributes_and_lifetimes() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let c = app.bare_client();
    let res = app
        .post_json(
            &c,
            "/api/v1/auth/login",
            &json!({ "username": ADMIN, "password": ADMIN_PASSWORD }),
        )
        .await;
    let cookie = set_cookie(&res, "gatehouse_session").unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(
        !cookie.contains("Max-Age") && !cookie.contains("Expires"),
        "a browser-session cookie: {cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain http by default: {cookie}");

    let res = app
        .post_json(
            &c,
            "/api/v1/auth/login",
            &json!({ "username": ADMIN, "password": ADMIN_PASSWORD, "remember": true }),
        )
        .await;
    let cookie = set_cookie(&res, "gatehouse_session").unwrap();
    let max_age: i64 = cookie
        .split(';')
        .find_map(|p| p.trim().strip_prefix("Max-Age="))
        .expect("remember me sets Max-Age")
        .parse()
        .unwrap();
    let thirty_days = 30 * 24 * 3600;
    assert!((thirty_days - 60..=thirty_days).contains(&max_age), "{max_age}");

    // Server-side: 24 hours without "remember me", 30 days with it.
    let rows: Vec<(bool, i64, i64)> = with_pool!(app, pool => {
        sqlx::query_as("SELECT remember, created_at, expires_at FROM user_sessions")
            .fetch_all(pool)
            .await
            .unwrap()
    });
    assert_eq!(rows.iter().filter(|r| r.0).count(), 1, "{rows:?}");
    assert_eq!(
        rows.iter().filter(|r| !r.0).count(),
        2,
        "setup and the first login: {rows:?}"
    );
    for (remember, created, expires) in rows {
        let expected = if remember { thirty_days } else { 24 * 3600 };
        assert_eq!(expires - created, expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_server_side_after_their_lifetime_or_idle_time() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    // Absolute end.
    let c = app.login(ADMIN, ADMIN_PASSWORD).await;
    with_pool!(app, pool => {
        sqlx::query("UPDATE user_sessions SET expires_at = expires_at - 86400")
            .execute(pool)
            .await
            .unwrap();
    });
    assert_eq!(app.whoami(&c).await["authenticated"], json!(false));

    // Idle end (default 120 minutes), even with "remember me".
    let c = app.client();
    let res = app
        .post_json(
            &c,
            "/api/v1/auth/login",
            &json!({ "username": ADMIN, "password": ADMIN_PASSWORD, "remember": true }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.whoami(&c).await["authenticated"], json!(true));
    with_pool!(app, pool => {
        sqlx::query("UPDATE user_sessions SET last_seen_at = last_seen_at - 121 * 60")
            .execute(pool)
            .await
            .unwrap();
    });
    assert_eq!(app.whoami(&c).await["authenticated"], json!(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_survive_a_restart() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let c = app.login(ADMIN, ADMIN_PASSWORD).await;
    let second = app.restart().await;
    let session = second.whoami(&c).await;
    assert_eq!(session["authenticated"], json!(true));
    assert_eq!(session["user"]["username"], ADMIN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_may_be_any_unicode_up_to_256_characters() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let long = "ж".repeat(256);
    for (i, password) in [
        "пароль-Ünïcødé-🔐-密码",
        "🙂🙃🙂🙃🙂🙃🙂🙃🙂🙃",
        long.as_str(),
        "   spaces count too   ",
    ]
    .into_iter()
    .enumerate()
    {
        let email = format!("u{i}@example.com");
        let res = app
            .post_json(
                &app.client(),
                "/api/v1/auth/signup",
                &json!({ "email": email, "password": password }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "{password}");
        app.login(&email, password).await;
        // No truncation: a prefix of the password is not the password.
        let prefix: String = password.chars().take(password.chars().count() - 1).collect();
        let res = app
            .post_json(
                &app.client(),
                "/api/v1/auth/login",
                &json!({ "username": email, "password": prefix }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = app
        .post_json(
            &app.client(),
            "/api/v1/auth/signup",
            &json!({ "email": "long@example.com", "password": "ж".repeat(257) }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_api_paths_answer_json_404() {
    let app = TestApp::spawn().await;
    let res = app.get(&app.client(), "/api/v1/nope").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(json_of(res).await, json!({ "error": "not found" }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_64_kib_get_413() {
    let app = TestApp::spawn().await;
    let big = json!({ "username": "admin", "password": "x".repeat(70 * 1024) });
    let res = app.post_json(&app.client(), "/api/v1/auth/setup", &big).await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(json_of(res).await["error"].is_string());
}

/// SQLite runs with a write-ahead log (readers never wait for the writer)
/// and enforces foreign keys, on every pooled connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_only_sqlite_uses_wal_and_enforces_foreign_keys() {
    require_engine(Engine::Sqlite);
    let app = TestApp::spawn().await;
    let gatehouse::server::db::Db::Sqlite(pool, _) = app.db().clone() else {
        panic!("an app on SQLite");
    };
    // Hold several connections at once, so more than one is asked.
    let mut conns = Vec::new();
    for _ in 0..3 {
        conns.push(pool.acquire().await.unwrap());
    }
    for conn in &mut conns {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        assert_eq!(mode.to_lowercase(), "wal");
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        assert_eq!(fk, 1);
    }
}

/// The session check finds a signed-in session from the cookie's record id
/// in one query. A session whose binding is missing (made before bindings
/// existed) still works through its record and is bound again; after a
/// password change the new id is bound and the old one signs nobody in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_found_by_their_record_and_follow_id_changes() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let issued = sign_in_over_a_planted_id(&app, "/api/v1/auth/login", StatusCode::OK).await;
    let bound = || async {
        with_pool!(app, pool => {
            sqlx::query_scalar::<_, Option<String>>("SELECT record_id FROM user_sessions ORDER BY created_at DESC")
                .fetch_all(pool)
                .await
                .unwrap()
        })
    };
    // Bound by the record's key: the hash of the cookie's id, never the id.
    let key = gatehouse::server::db::record_key;
    assert!(
        bound().await.contains(&Some(key(&issued))),
        "login binds the record"
    );

    // An unbound session is found through its record, and bound again.
    with_pool!(app, pool => {
        sqlx::query("UPDATE user_sessions SET record_id = NULL").execute(pool).await.map(|_| ()).unwrap()
    });
    assert_eq!(session_of(&app, &issued).await["user"]["username"], json!(ADMIN));
    assert!(bound().await.contains(&Some(key(&issued))), "bound again");

    // A password change gives the browser a new id, bound in place of the old.
    let res = app
        .bare_client()
        .post(app.url("/api/v1/users/me/password"))
        .header(header::COOKIE, format!("gatehouse_session={issued}"))
        .json(&json!({ "current_password": ADMIN_PASSWORD, "new_password": "an entirely new passphrase" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let rotated = cookie_value(&set_cookie(&res, "gatehouse_session").expect("a new session id"));
    assert_ne!(rotated, issued);
    assert_eq!(session_of(&app, &rotated).await["user"]["username"], json!(ADMIN));
    assert_eq!(session_of(&app, &issued).await["authenticated"], json!(false));
    let records = bound().await;
    assert!(
        records.contains(&Some(key(&rotated))) && !records.contains(&Some(key(&issued))),
        "{records:?}"
    );

    // Revoking the session ends it at once, whatever the record says.
    with_pool!(app, pool => sqlx::query("DELETE FROM user_sessions").execute(pool).await.map(|_| ()).unwrap());
    assert_eq!(session_of(&app, &rotated).await["authenticated"], json!(false));
}
