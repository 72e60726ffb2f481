//! Roles and the admin API: one guard (401 signed out, 403 without the role),
//! user management, the last-admin rule, unlock, and the audit rows each
//! action writes.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn bearer_for(app: &TestApp, identifier: &str, password: &str) -> String {
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/token",
            &json!({ "username": identifier, "password": password }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    json_of(res).await["access_token"].as_str().unwrap().to_string()
}

async fn user_id(app: &TestApp, admin: &reqwest::Client, username: &str) -> String {
    let users = json_of(app.get(admin, "/api/v1/admin/users").await).await;
    users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == username)
        .unwrap_or_else(|| panic!("{username} in {users}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn patch(app: &TestApp, c: &reqwest::Client, id: &str, body: Value) -> reqwest::Response {
    c.patch(app.url(&format!("/api/v1/admin/users/{id}")))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn events(app: &TestApp) -> Vec<(String, Option<String>, Option<String>)> {
    with_pool!(app, pool => {
        sqlx::query_as("SELECT event, user_id, detail FROM audit_log ORDER BY id")
            .fetch_all(pool)
            .await
            .unwrap()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_endpoint_answers_401_signed_out_and_403_without_the_role() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    app.signup("user@example.com", Some("plain")).await;
    let plain = app.login("plain", PASSWORD).await;
    let plain_token = bearer_for(&app, "plain", PASSWORD).await;
    let admin_token = bearer_for(&app, ADMIN, ADMIN_PASSWORD).await;
    let target = user_id(&app, &admin, "plain").await;
    let endpoints: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", "/api/v1/admin/users".into(), None),
        (
            "POST",
            "/api/v1/admin/users".into(),
            Some(json!({ "username": "x1", "password": PASSWORD })),
        ),
        (
            "PATCH",
            format!("/api/v1/admin/users/{target}"),
            Some(json!({ "role": "admin" })),
        ),
        ("POST", format!("/api/v1/admin/users/{target}/unlock"), None),
        ("DELETE", format!("/api/v1/admin/users/{target}/sessions"), None),
        ("GET", "/api/v1/admin/audit?limit=5".into(), None),
    ];
    for (method, path, body) in &endpoints {
        let send = |client: reqwest::Client, bearer: Option<&str>| {
            let mut req = client.request(method.parse().unwrap(), app.url(path));
            if let Some(b) = body {
                req = req.json(b);
            }
            if let Some(t) = bearer {
                req = req.bearer_auth(t);
            }
            req.send()
        };
        let res = send(app.bare_client(), None).await.unwrap();
        assert_eq!(
            res.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path} signed out"
        );
        assert!(json_of(res).await["error"].is_string());
        let res = send(plain.clone(), None).await.unwrap();
        assert_eq!(
            res.status(),
            StatusCode::FORBIDDEN,
            "{method} {path} as a user (cookie)"
        );
        assert_eq!(json_of(res).await, json!({ "error": "admin role required" }));
        let res = send(app.bare_client(), Some(&plain_token)).await.unwrap();
        assert_eq!(
            res.status(),
            StatusCode::FORBIDDEN,
            "{method} {path} as a user (bearer)"
        );
    }
    // The admin page's server functions answer the same: 401 signed out,
    // 403 without the role (the /admin page is not the only guard).
    let admin_fns = [
        ("/fn/admin_overview", String::new()),
        ("/fn/admin_set_role", format!("id={target}&role=admin")),
        ("/fn/admin_set_disabled", format!("id={target}&disabled=true")),
        ("/fn/admin_unlock", format!("id={target}")),
        ("/fn/admin_sign_out", format!("id={target}")),
        (
            "/fn/admin_create_user",
            "username=x2&email=&password=a%20long%20enough%20pass&role=admin".to_string(),
        ),
    ];
    for (path, form) in &admin_fns {
        for (who, client, expected) in [
            ("signed out", app.bare_client(), StatusCode::UNAUTHORIZED),
            ("as a user", plain.clone(), StatusCode::FORBIDDEN),
        ] {
            let res = client
                .post(app.url(path))
                .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(reqwest::header::ACCEPT, "application/json")
                .body(form.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), expected, "{path} {who}");
        }
    }
    // Nothing changed for all that.
    let me = json_of(app.get(&plain, "/api/v1/users/me").await).await;
    assert_eq!(me["role"], "user");
    assert_eq!(
        app.whoami(&plain).await["authenticated"],
        json!(true),
        "not signed out"
    );
    let users = json_of(app.get(&admin, "/api/v1/admin/users").await).await;
    let names: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"x1") && !names.contains(&"x2"), "{names:?}");
    // And the admin gets through, with a cookie or a bearer token.
    assert_eq!(
        app.get(&admin, "/api/v1/admin/users").await.status(),
        StatusCode::OK
    );
    let res = app
        .bare_client()
        .get(app.url("/api/v1/admin/users"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_list_shows_status_and_lock_and_never_a_hash() {
    let app = TestApp::spawn_with(&[
        ("GATEHOUSE_LOCKOUT_THRESHOLD", "2"),
        ("GATEHOUSE_LOGIN_ATTEMPTS", "100"),
    ])
    .await;
    let admin = app.setup_admin().await;
    app.signup("bob@example.com", Some("bob")).await;
    for _ in 0..2 {
        app.post_json(
            &app.bare_client(),
            "/api/v1/auth/login",
            &json!({ "username": "bob", "password": "nope" }),
        )
        .await;
    }
    let users = json_of(app.get(&admin, "/api/v1/admin/users").await).await;
    let users = users.as_array().unwrap();
    assert_eq!(users.len(), 2);
    let bob = users.iter().find(|u| u["username"] == "bob").unwrap();
    assert_eq!(bob["disabled"], json!(false));
    assert!(bob["locked_until"].is_string(), "{bob}");
    assert_eq!(bob["role"], "user");
    let admin_row = users.iter().find(|u| u["username"] == ADMIN).unwrap();
    assert!(admin_row["locked_until"].is_null());
    assert!(admin_row["last_login_at"].is_string());
    let text = serde_json::to_string(&users).unwrap();
    assert!(!text.contains("argon2") && !text.contains("password"), "{text}");

    // Unlock lets bob in again, and is audited.
    let id = bob["id"].as_str().unwrap();
    let res = app
        .bare_client()
        .post(app.url(&format!("/api/v1/admin/users/{id}/unlock")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = admin
        .post(app.url(&format!("/api/v1/admin/users/{id}/unlock")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(json_of(res).await["locked_until"].is_null());
    app.login("bob", PASSWORD).await;
    let log = events(&app).await;
    assert!(log
        .iter()
        .any(|(e, u, _)| e == "account_locked" && u.as_deref() == Some(id)));
    assert!(log
        .iter()
        .any(|(e, u, _)| e == "account_unlocked" && u.as_deref() == Some(id)));
    let res = admin
        .post(app.url("/api/v1/admin/users/no-such-user/unlock"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_change_and_are_audited() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    app.signup("carol@example.com", Some("carol")).await;
    let carol = app.login("carol", PASSWORD).await;
    let id = user_id(&app, &admin, "carol").await;
    assert_eq!(
        app.get(&carol, "/api/v1/admin/users").await.status(),
        StatusCode::FORBIDDEN
    );

    let res = patch(&app, &admin, &id, json!({ "role": "admin" })).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = json_of(res).await;
    assert_eq!(body["role"], "admin");
    assert_eq!(body["username"], "carol");
    // Her existing session now has the role (it is read on every request).
    assert_eq!(
        app.get(&carol, "/api/v1/admin/users").await.status(),
        StatusCode::OK
    );

    let res = patch(&app, &admin, &id, json!({ "role": "user" })).await;
    assert_eq!(json_of(res).await["role"], "user");
    assert_eq!(
        app.get(&carol, "/api/v1/admin/users").await.status(),
        StatusCode::FORBIDDEN
    );
    let log = events(&app).await;
    let changes: Vec<_> = log.iter().filter(|(e, _, _)| e == "role_changed").collect();
    assert_eq!(changes.len(), 2, "{log:?}");
    assert!(changes[0].2.as_deref().unwrap().contains("user -> admin"));

    for (body, status) in [
        (json!({ "role": "superuser" }), StatusCode::BAD_REQUEST),
        (json!({}), StatusCode::BAD_REQUEST),
        (json!({ "disabled": "yes" }), StatusCode::BAD_REQUEST),
        (
            json!({ "role": "user", "password_hash": "x" }),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let res = patch(&app, &admin, &id, body.clone()).await;
        assert_eq!(res.status(), status, "{body}");
        assert!(json_of(res).await["error"].is_string());
    }
    let res = patch(&app, &admin, "no-such-user", json!({ "role": "admin" })).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_ends_sessions_and_tokens_and_login_answers_like_a_wrong_password() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    app.signup("dave@example.com", Some("dave")).await;
    let dave = app.login("dave", PASSWORD).await;
    let token = bearer_for(&app, "dave", PASSWORD).await;
    let refresh = json_of(
        app.post_json(
            &app.bare_client(),
            "/api/v1/auth/token",
            &json!({ "username": "dave", "password": PASSWORD }),
        )
        .await,
    )
    .await["refresh_token"]
        .clone();
    let id = user_id(&app, &admin, "dave").await;

    let res = patch(&app, &admin, &id, json!({ "disabled": true })).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json_of(res).await["disabled"], json!(true));
    assert_eq!(app.whoami(&dave).await["authenticated"], json!(false));
    let res = app
        .bare_client()
        .get(app.url("/api/v1/users/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/refresh",
            &json!({ "refresh_token": refresh }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let sessions: i64 = with_pool!(app, pool => {
        sqlx::query_scalar("SELECT COUNT(*) FROM user_sessions WHERE user_id = $1")
            .bind(&id)
            .fetch_one(pool)
            .await
            .unwrap()
    });
    assert_eq!(sessions, 0, "ended at once, not at the next request");

    let disabled = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/login",
            &json!({ "username": "dave", "password": PASSWORD }),
        )
        .await;
    let wrong = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/login",
            &json!({ "username": ADMIN, "password": "wrong pw" }),
        )
        .await;
    assert_eq!(disabled.status(), wrong.status());
    assert_eq!(json_of(disabled).await, json_of(wrong).await);

    let res = patch(&app, &admin, &id, json!({ "disabled": false })).await;
    assert_eq!(json_of(res).await["disabled"], json!(false));
    app.login("dave", PASSWORD).await;
    let log = events(&app).await;
    assert!(log
        .iter()
        .any(|(e, u, _)| e == "user_disabled" && u.as_deref() == Some(id.as_str())));
    assert!(log
        .iter()
        .any(|(e, u, _)| e == "user_enabled" && u.as_deref() == Some(id.as_str())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_active_admin_cannot_be_demoted_or_disabled() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let me = user_id(&app, &admin, ADMIN).await;
    for body in [json!({ "role": "user" }), json!({ "disabled": true })] {
        let res = patch(&app, &admin, &me, body.clone()).await;
        assert_eq!(res.status(), StatusCode::CONFLICT, "{body}");
        assert!(json_of(res).await["error"].as_str().unwrap().contains("admin"));
    }
    // With a second admin, one may step down; then the other is the last.
    app.signup("eve@example.com", Some("eve")).await;
    let eve = user_id(&app, &admin, "eve").await;
    assert_eq!(
        patch(&app, &admin, &eve, json!({ "role": "admin" }))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        patch(&app, &admin, &me, json!({ "role": "user" })).await.status(),
        StatusCode::OK
    );
    let eve_client = app.login("eve", PASSWORD).await;
    assert_eq!(
        patch(&app, &eve_client, &eve, json!({ "disabled": true }))
            .await
            .status(),
        StatusCode::CONFLICT
    );
    // A disabled admin does not count as active.
    assert_eq!(
        patch(&app, &eve_client, &me, json!({ "role": "admin" }))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        patch(&app, &eve_client, &me, json!({ "disabled": true }))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        patch(&app, &eve_client, &eve, json!({ "role": "user" }))
            .await
            .status(),
        StatusCode::CONFLICT
    );
    let admins: i64 = with_pool!(app, pool => {
        sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin' AND NOT disabled")
            .fetch_one(pool)
            .await
            .unwrap()
    });
    assert_eq!(admins, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_admins_demoting_each_other_at_once_leave_one_admin() {
    let app = TestApp::spawn().await;
    let first = app.setup_admin().await;
    app.signup("zed@example.com", Some("zed")).await;
    let zed_id = user_id(&app, &first, "zed").await;
    let first_id = user_id(&app, &first, ADMIN).await;
    assert_eq!(
        patch(&app, &first, &zed_id, json!({ "role": "admin" }))
            .await
            .status(),
        StatusCode::OK
    );
    let zed = app.login("zed", PASSWORD).await;
    let (a, b) = tokio::join!(
        patch(&app, &first, &zed_id, json!({ "role": "user" })),
        patch(&app, &zed, &first_id, json!({ "role": "user" })),
    );
    let statuses = [a.status(), b.status()];
    assert!(statuses.contains(&StatusCode::OK), "{statuses:?}");
    let admins: i64 = with_pool!(app, pool => {
        sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin' AND NOT disabled")
            .fetch_one(pool)
            .await
            .unwrap()
    });
    assert_eq!(admins, 1, "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_can_sign_a_user_out_everywhere() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    app.signup("fay@example.com", Some("fay")).await;
    let fay = app.login("fay", PASSWORD).await;
    let id = user_id(&app, &admin, "fay").await;
    let res = admin
        .delete(app.url(&format!("/api/v1/admin/users/{id}/sessions")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.whoami(&fay).await["authenticated"], json!(false));
    assert!(events(&app)
        .await
        .iter()
        .any(|(e, u, _)| e == "sessions_revoked" && u.as_deref() == Some(id.as_str())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_create_users_even_when_signup_is_closed() {
    let app = TestApp::spawn_with(&[("GATEHOUSE_SIGNUP", "closed")]).await;
    let admin = app.setup_admin().await;
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/signup",
            &json!({ "email": "gus@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(json_of(res).await, json!({ "error": "signup is closed" }));
    let res = app
        .post_json(
            &admin,
            "/api/v1/admin/users",
            &json!({ "username": "gus", "email": "gus@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(json_of(res).await["role"], "user");
    app.login("gus", PASSWORD).await;
    let res = app
        .post_json(
            &admin,
            "/api/v1/admin/users",
            &json!({ "username": "gus", "password": PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(events(&app).await.iter().any(|(e, _, _)| e == "user_created"));
    // The signup page says so.
    let page = app.get_page(&app.client(), "/signup").await.text().await.unwrap();
    assert!(page.contains("Signups are closed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_records_each_security_event_newest_first() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    app.signup("hal@example.com", Some("hal")).await;
    let hal_bad = "hal's wrong password";
    app.post_json(
        &app.bare_client(),
        "/api/v1/auth/login",
        &json!({ "username": "hal", "password": hal_bad }),
    )
    .await;
    let hal = app.login("hal", PASSWORD).await;
    let res = app
        .post_json(
            &hal,
            "/api/v1/users/me/password",
            &json!({ "current_password": PASSWORD, "new_password": "an entirely new secret" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    hal.post(app.url("/api/v1/auth/logout")).send().await.unwrap();
    let pair = json_of(
        app.post_json(
            &app.bare_client(),
            "/api/v1/auth/token",
            &json!({ "username": "hal", "password": "an entirely new secret" }),
        )
        .await,
    )
    .await;
    let r1 = pair["refresh_token"].clone();
    app.post_json(
        &app.bare_client(),
        "/api/v1/auth/refresh",
        &json!({ "refresh_token": r1 }),
    )
    .await;
    app.post_json(
        &app.bare_client(),
        "/api/v1/auth/refresh",
        &json!({ "refresh_token": r1 }),
    )
    .await;

    let res = app.get(&admin, "/api/v1/admin/audit?limit=50").await;
    assert_eq!(res.status(), StatusCode::OK);
    let rows = json_of(res).await;
    let rows = rows.as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["event"].as_str().unwrap()).collect();
    for expected in [
        "setup",
        "signup",
        "login_failed",
        "login_succeeded",
        "password_changed",
        "logout",
        "token_issued",
        "refresh_token_reuse",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    // Newest first.
    assert_eq!(names[0], "refresh_token_reuse");
    assert_eq!(*names.last().unwrap(), "setup");
    let ids: Vec<i64> = rows.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]));
    for row in rows {
        for field in ["id", "at", "event", "user_id", "ip", "user_agent", "detail"] {
            assert!(row.get(field).is_some(), "{field} in {row}");
        }
        assert_eq!(row["ip"], "127.0.0.1");
    }
    let failed = rows.iter().find(|r| r["event"] == "login_failed").unwrap();
    assert!(
        failed["detail"].as_str().unwrap().contains("\"hal\""),
        "the identifier tried: {failed}"
    );
    let text = serde_json::to_string(rows).unwrap();
    assert!(
        !text.contains(hal_bad) && !text.contains(PASSWORD),
        "never a password"
    );

    // limit, filters, paging.
    assert_eq!(
        json_of(app.get(&admin, "/api/v1/admin/audit?limit=2").await)
            .await
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let only = json_of(app.get(&admin, "/api/v1/admin/audit?event=logout").await).await;
    let only = only.as_array().unwrap();
    assert!(!only.is_empty());
    assert!(only.iter().all(|r| r["event"] == "logout"));
    // By user: only that user's rows, all of them.
    let hal_id = rows
        .iter()
        .find(|r| r["event"] == "signup")
        .and_then(|r| r["user_id"].as_str())
        .expect("signup names its user")
        .to_string();
    let hal_rows = json_of(
        app.get(&admin, &format!("/api/v1/admin/audit?user_id={hal_id}"))
            .await,
    )
    .await;
    let hal_rows = hal_rows.as_array().unwrap();
    assert_eq!(
        hal_rows.len(),
        rows.iter().filter(|r| r["user_id"] == json!(hal_id)).count()
    );
    assert!(hal_rows.len() >= 2, "signup and more: {hal_rows:?}");
    assert!(hal_rows.iter().all(|r| r["user_id"] == json!(hal_id)));
    let last = ids[1];
    let page = json_of(
        app.get(&admin, &format!("/api/v1/admin/audit?before={last}&limit=3"))
            .await,
    )
    .await;
    let page = page.as_array().unwrap();
    assert_eq!(page.len(), 3, "{page:?}");
    assert!(page.iter().all(|r| r["id"].as_i64().unwrap() < last));
    // A limit beyond the largest page gets the largest page.
    let res = app.get(&admin, "/api/v1/admin/audit?limit=100000").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(!json_of(res).await.as_array().unwrap().is_empty());
    for bad in ["limit=0", "limit=-1", "limit=abc", "event=nope", "before=x"] {
        let res = app.get(&admin, &format!("/api/v1/admin/audit?{bad}")).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert!(json_of(res).await["error"].is_string());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_rows_older_than_the_retention_are_purged() {
    let app = TestApp::spawn_with(&[("GATEHOUSE_AUDIT_RETENTION_DAYS", "30")]).await;
    app.setup_admin().await;
    with_pool!(app, pool => {
        sqlx::query("UPDATE audit_log SET at = at - 31 * 86400")
            .execute(pool)
            .await
            .unwrap();
    });
    app.login(ADMIN, ADMIN_PASSWORD).await;
    let purged = app.state.core.purge_audit_log().await.unwrap();
    assert_eq!(purged, 1, "the setup row");
    let left: Vec<String> = with_pool!(app, pool => {
        sqlx::query_scalar("SELECT event FROM audit_log")
            .fetch_all(pool)
            .await
            .unwrap()
    });
    assert_eq!(left, vec!["login_succeeded".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_pages_are_guarded_on_the_server() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let res = app.get_page(&app.client(), "/admin").await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(location(&res), "/login?return=%2Fadmin");
    app.signup("ivy@example.com", Some("ivy")).await;
    let ivy = app.login("ivy", PASSWORD).await;
    let res = app.get_page(&ivy, "/admin").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let page = res.text().await.unwrap();
    assert!(page.contains("can’t open this page"), "the 403 page");
    assert!(
        !page.contains("admin@example.com") && !page.contains("Audit log"),
        "and nothing of the admin page (the users, the log)"
    );
    let res = app.get_page(&admin, "/admin").await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    assert!(page.contains("Audit log") && page.contains("ivy@example.com"));
}

fn names(users: &Value) -> Vec<String> {
    users
        .as_array()
        .unwrap_or_else(|| panic!("an array: {users}"))
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect()
}

fn next_link(res: &reqwest::Response) -> Option<String> {
    let link = res.headers().get("link")?.to_str().unwrap().to_string();
    assert!(link.ends_with(">; rel=\"next\""), "{link}");
    Some(
        link.trim_start_matches('<')
            .split('>')
            .next()
            .unwrap()
            .to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_list_pages_searches_and_filters() {
    let app = TestApp::spawn_with(&[
        ("GATEHOUSE_LOCKOUT_THRESHOLD", "2"),
        ("GATEHOUSE_LOGIN_ATTEMPTS", "100"),
    ])
    .await;
    let admin = app.setup_admin().await;
    for (name, email, role) in [
        ("Carol", "carol@example.com", "user"),
        ("bob", "bob@work.example", "user"),
        ("dave", "zed@example.com", "admin"),
        ("erin", "erin@example.com", "user"),
        ("alice", "alice@example.com", "user"),
    ] {
        let res = app
            .post_json(
                &admin,
                "/api/v1/admin/users",
                &json!({ "username": name, "email": email, "password": PASSWORD, "role": role }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "{name}");
    }

    // Pages of two, in case-insensitive username order, each naming the next.
    let mut seen = Vec::new();
    let mut path = "/api/v1/admin/users?limit=2".to_string();
    let mut pages = 0;
    loop {
        let res = app.get(&admin, &path).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let next = next_link(&res);
        let page = names(&json_of(res).await);
        assert!(page.len() <= 2, "{page:?}");
        seen.extend(page.clone());
        pages += 1;
        match next {
            Some(next) => {
                assert_eq!(page.len(), 2, "a short page names no next one");
                let last = user_id(&app, &admin, &page[1]).await;
                assert!(next.ends_with(&format!("after={last}")), "{next}");
                path = next;
            }
            None => break,
        }
        assert!(pages < 10, "the pages never end: {seen:?}");
    }
    assert_eq!(seen, ["admin", "alice", "bob", "Carol", "dave", "erin"]);
    // The whole list when no limit is given.
    let all = app.get(&admin, "/api/v1/admin/users").await;
    assert!(next_link(&all).is_none());
    assert_eq!(names(&json_of(all).await).len(), 6);

    // Search by username or email prefix, case-insensitively.
    let found = |q: &'static str| {
        let (app, admin) = (&app, &admin);
        async move { names(&json_of(app.get(admin, &format!("/api/v1/admin/users?q={q}")).await).await) }
    };
    assert_eq!(found("car").await, ["Carol"]);
    assert_eq!(found("ZED").await, ["dave"], "by email");
    assert_eq!(found("bob%40work").await, ["bob"]);
    assert_eq!(found("a").await, ["admin", "alice"]);
    assert!(found("nobody").await.is_empty());

    // Filters, also combined with paging and search.
    let get = |path: String| {
        let (app, admin) = (&app, &admin);
        async move { names(&json_of(app.get(admin, &path).await).await) }
    };
    assert_eq!(
        get("/api/v1/admin/users?role=admin".into()).await,
        ["admin", "dave"]
    );
    let bob = user_id(&app, &admin, "bob").await;
    assert_eq!(
        patch(&app, &admin, &bob, json!({ "disabled": true }))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(get("/api/v1/admin/users?disabled=true".into()).await, ["bob"]);
    assert_eq!(
        get("/api/v1/admin/users?disabled=false&role=user&limit=1".into()).await,
        ["alice"]
    );
    for _ in 0..2 {
        app.post_json(
            &app.bare_client(),
            "/api/v1/auth/login",
            &json!({ "username": "erin", "password": "wrong password" }),
        )
        .await;
    }
    assert_eq!(get("/api/v1/admin/users?locked=true".into()).await, ["erin"]);
    assert_eq!(
        get("/api/v1/admin/users?locked=false&q=e".into()).await,
        Vec::<String>::new(),
        "erin is locked"
    );
    let carol = user_id(&app, &admin, "Carol").await;
    assert_eq!(
        get(format!("/api/v1/admin/users?after={carol}")).await,
        ["dave", "erin"]
    );

    // Bad parameters get a 400 that names them.
    for (query, word) in [
        ("limit=0", "limit"),
        ("limit=many", "limit"),
        ("role=root", "role"),
        ("disabled=yes", "disabled"),
        ("locked=1", "locked"),
        ("email_verified=maybe", "email_verified"),
    ] {
        let res = app.get(&admin, &format!("/api/v1/admin/users?{query}")).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{query}");
        let body = json_of(res).await;
        assert!(body["error"].as_str().unwrap().contains(word), "{query}: {body}");
    }
    // A NUL or other control character matches nobody, on both engines.
    assert!(get("/api/v1/admin/users?q=%00".into()).await.is_empty());
    assert_eq!(
        app.get(&admin, "/api/v1/admin/users?after=a%00b").await.status(),
        StatusCode::BAD_REQUEST
    );
    // Above the maximum is the maximum, not an error.
    assert_eq!(
        app.get(&admin, "/api/v1/admin/users?limit=100000").await.status(),
        StatusCode::OK
    );
}
