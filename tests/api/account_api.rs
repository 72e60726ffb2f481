//! The account API: me, password change, sessions.

use crate::common::*;
use reqwest::{header, StatusCode};
use serde_json::{json, Value};

async fn sessions(app: &TestApp, c: &reqwest::Client) -> Vec<Value> {
    let res = app.get(c, "/api/v1/auth/sessions").await;
    assert_eq!(res.status(), StatusCode::OK);
    json_of(res).await.as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn me_answers_with_the_session_cookie() {
    let app = TestApp::spawn().await;
    let c = app.setup_admin().await;
    let res = app.get(&c, "/api/v1/users/me").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json_of(res).await["username"], ADMIN);
}

/// A session's public id: a non-empty opaque string.
fn is_opaque_id(v: &Value) -> bool {
    v.as_str().is_some_and(|s| !s.is_empty())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_listed_with_the_current_one_marked() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let a = app.login(ADMIN, ADMIN_PASSWORD).await;
    let b = app.login(ADMIN, ADMIN_PASSWORD).await;
    // A browser that says who it is.
    let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0";
    let res = app
        .bare_client()
        .post(app.url("/api/v1/auth/login"))
        .header(header::USER_AGENT, firefox)
        .json(&json!({ "username": ADMIN, "password": ADMIN_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let list = sessions(&app, &a).await;
    assert_eq!(list.len(), 4, "setup, a, b and firefox: {list:?}");
    assert_eq!(list.iter().filter(|s| s["current"] == json!(true)).count(), 1);
    let rfc3339 = |v: &Value| {
        time::OffsetDateTime::parse(
            v.as_str().unwrap_or(""),
            &time::format_description::well_known::Rfc3339,
        )
        .is_ok()
    };
    for s in &list {
        assert!(is_opaque_id(&s["id"]), "id in {s}");
        assert!(rfc3339(&s["created_at"]), "created_at in {s}");
        assert!(rfc3339(&s["last_seen_at"]), "last_seen_at in {s}");
        assert!(s["current"].is_boolean(), "current in {s}");
        assert!(s.get("user_agent").is_some(), "user_agent in {s}");
        assert_eq!(s["ip"], "127.0.0.1");
    }
    assert_eq!(
        list.iter().filter(|s| s["user_agent"] == json!(firefox)).count(),
        1,
        "the user agent is recorded: {list:?}"
    );
    // b ends a's session.
    let a_id = list.iter().find(|s| s["current"] == json!(true)).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = b
        .delete(app.url(&format!("/api/v1/auth/sessions/{a_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.whoami(&a).await["authenticated"], json!(false));
    assert_eq!(sessions(&app, &b).await.len(), 3);
    let revoked: i64 = with_pool!(app, pool => {
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE event = 'session_revoked'")
            .fetch_one(pool)
            .await
            .unwrap()
    });
    assert_eq!(revoked, 1, "ending a session is audited");
    // Again: it is gone.
    let res = b
        .delete(app.url(&format!("/api/v1/auth/sessions/{a_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

/// Adds `n` live sessions of `username`, each used more recently than the
/// one before and than any real one (as a browser elsewhere would).
async fn add_sessions(app: &TestApp, username: &str, n: u32) {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for i in 0..n {
        let id = format!("00000000-0000-4000-8000-{i:012}");
        let seen = now + 60 + i64::from(i);
        with_pool!(app, pool => {
            sqlx::query(
                "INSERT INTO user_sessions (id, user_id, created_at, last_seen_at, expires_at, remember, \
                 user_agent, ip, password_at, auth_at) \
                 SELECT $1, id, $2, $3, $4, FALSE, 'curl/8', '192.0.2.7', password_changed_at, $2 \
                 FROM users WHERE username = $5",
            )
            .bind(&id)
            .bind(now - 3600)
            .bind(seen)
            .bind(now + 86_400)
            .bind(username)
            .execute(pool)
            .await
            .unwrap()
            .rows_affected()
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_sessions_come_in_pages_with_this_one_first() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    // 44 more: 45 in all, every other one used after this one.
    add_sessions(&app, ADMIN, 44).await;

    // The API: pages of `limit` from `offset`, the total and the next page.
    let res = app.get(&admin, "/api/v1/auth/sessions?limit=20").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-total-count"], "45");
    assert_eq!(
        res.headers()[header::LINK],
        "</api/v1/auth/sessions?limit=20&offset=20>; rel=\"next\""
    );
    let first = json_of(res).await.as_array().unwrap().clone();
    assert_eq!(first.len(), 20);
    assert_eq!(
        first[0]["current"],
        json!(true),
        "this session first: {:?}",
        first[0]
    );
    let seen: Vec<&str> = first[1..]
        .iter()
        .map(|s| s["last_seen_at"].as_str().unwrap())
        .collect();
    assert!(
        seen.windows(2).all(|w| w[0] >= w[1]),
        "then the most recently used: {seen:?}"
    );
    let mut ids: Vec<String> = first
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    let res = app.get(&admin, "/api/v1/auth/sessions?limit=20&offset=20").await;
    assert!(res.headers().contains_key(header::LINK));
    ids.extend(
        json_of(res)
            .await
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string()),
    );
    let res = app.get(&admin, "/api/v1/auth/sessions?limit=20&offset=40").await;
    assert_eq!(res.headers()["x-total-count"], "45");
    assert!(
        !res.headers().contains_key(header::LINK),
        "the last page names no next"
    );
    let last = json_of(res).await.as_array().unwrap().clone();
    assert_eq!(last.len(), 5);
    ids.extend(last.iter().map(|s| s["id"].as_str().unwrap().to_string()));
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 45, "the pages hold every session once");
    // Without a limit, 100 at most; bad parameters are named.
    assert_eq!(sessions(&app, &admin).await.len(), 45);
    for bad in [
        "limit=0",
        "limit=x",
        "offset=-1",
        "offset=1e3",
        "offset=1000001",
        "offset=2147483648",
    ] {
        let res = app.get(&admin, &format!("/api/v1/auth/sessions?{bad}")).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
        let message = json_of(res).await["error"].as_str().unwrap_or("").to_string();
        let name = bad.split('=').next().unwrap();
        assert!(message.contains(name), "{bad}: {message}");
    }

    // The account page: 20 a page, this one first, a way to the older ones.
    let page = app.get_page(&admin, "/account").await.text().await.unwrap();
    assert_eq!(page.matches(r#"data-testid="session""#).count(), 20);
    assert!(page.contains("1–20 of 45 sessions"), "the page says how many");
    let this = page.find("This device").unwrap();
    let others = page.find("192.0.2.7").unwrap();
    assert!(this < others, "this device is listed first");
    assert!(
        page.contains("/account?sessions=2#sessions"),
        "a link to the older ones"
    );
    let page = app
        .get_page(&admin, "/account?sessions=3")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(page.matches(r#"data-testid="session""#).count(), 5);
    assert!(page.contains("41–45 of 45 sessions"));
    assert!(
        page.contains("/account?sessions=2#sessions"),
        "a link back to newer ones"
    );
    assert!(!page.contains("/account?sessions=4"), "no page after the last");
    assert!(
        !page.contains("This device"),
        "this session is on the first page only"
    );
    // A page past the end is empty, not an error.
    let res = app.get_page(&admin, "/account?sessions=99").await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    assert_eq!(page.matches(r#"data-testid="session""#).count(), 0);
    assert!(
        page.contains("you have 45 in all"),
        "says where the sessions went"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_users_session_cannot_be_ended() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    app.signup("jane@example.com", Some("jane")).await;
    let jane = app.login("jane", PASSWORD).await;
    let admin_session = sessions(&app, &admin).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = jane
        .delete(app.url(&format!("/api/v1/auth/sessions/{admin_session}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.whoami(&admin).await["authenticated"], json!(true));
    let res = jane
        .delete(app.url("/api/v1/auth/sessions/not-a-session"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        app.get(&app.client(), "/api/v1/auth/sessions").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_the_password_ends_every_other_session_and_token_family() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let here = app.bare_client();
    let here_cookie = app.login_cookie(ADMIN, ADMIN_PASSWORD).await;
    let elsewhere = app.login(ADMIN, ADMIN_PASSWORD).await;
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/token",
            &json!({ "username": ADMIN, "password": ADMIN_PASSWORD }),
        )
        .await;
    let pair = json_of(res).await;

    let new_password = "a brand new passphrase";
    let res = here
        .post(app.url("/api/v1/users/me/password"))
        .header(
            reqwest::header::COOKIE,
            format!("gatehouse_session={here_cookie}"),
        )
        .json(&json!({ "current_password": ADMIN_PASSWORD, "new_password": new_password }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let rotated = cookie_value(&set_cookie(&res, "gatehouse_session").expect("this session's id rotates"));
    assert_ne!(rotated, here_cookie);
    assert_eq!(json_of(res).await, json!({ "ok": true }));

    // This session goes on under its new id; the old id is dead.
    let whoami = |cookie: String| {
        let c = app.bare_client();
        let url = app.url("/api/v1/auth/session");
        async move {
            c.get(url)
                .header(reqwest::header::COOKIE, format!("gatehouse_session={cookie}"))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(whoami(rotated).await["authenticated"], json!(true));
    assert_eq!(whoami(here_cookie).await["authenticated"], json!(false));
    // Every other session and token family ended.
    assert_eq!(app.whoami(&elsewhere).await["authenticated"], json!(false));
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/refresh",
            &json!({ "refresh_token": pair["refresh_token"] }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .bare_client()
        .get(app.url("/api/v1/users/me"))
        .bearer_auth(pair["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // The old password no longer works; the new one does.
    let res = app
        .post_json(
            &app.client(),
            "/api/v1/auth/login",
            &json!({ "username": ADMIN, "password": ADMIN_PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    app.login(ADMIN, new_password).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_change_checks_the_current_password_and_the_policy() {
    let app = TestApp::spawn().await;
    let c = app.setup_admin().await;
    let res = app
        .post_json(
            &c,
            "/api/v1/users/me/password",
            &json!({ "current_password": "not my password", "new_password": "a brand new passphrase" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(json_of(res).await["error"]
        .as_str()
        .unwrap()
        .contains("current password"));
    let res = app
        .post_json(
            &c,
            "/api/v1/users/me/password",
            &json!({ "current_password": ADMIN_PASSWORD, "new_password": "short" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = app
        .post_json(
            &c,
            "/api/v1/users/me/password",
            &json!({ "current_password": ADMIN_PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // Signed out: 401.
    let res = app
        .post_json(
            &app.client(),
            "/api/v1/users/me/password",
            &json!({ "current_password": ADMIN_PASSWORD, "new_password": "a brand new passphrase" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // Nothing changed.
    app.login(ADMIN, ADMIN_PASSWORD).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bearer_client_can_change_the_password_and_keeps_its_own_family() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/token",
            &json!({ "username": ADMIN, "password": ADMIN_PASSWORD }),
        )
        .await;
    let mine = json_of(res).await;
    let other_browser = app.login(ADMIN, ADMIN_PASSWORD).await;
    let res = app
        .bare_client()
        .post(app.url("/api/v1/users/me/password"))
        .bearer_auth(mine["access_token"].as_str().unwrap())
        .json(&json!({ "current_password": ADMIN_PASSWORD, "new_password": "a brand new passphrase" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.whoami(&other_browser).await["authenticated"], json!(false));
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/refresh",
            &json!({ "refresh_token": mine["refresh_token"] }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "the caller's own family goes on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_covers_every_endpoint() {
    let sink = crate::common::smtp::SmtpSink::start().await;
    let app = TestApp::spawn_with_mail(&sink, &[]).await;
    let res = app.get(&app.client(), "/api/v1/openapi.json").await;
    assert_eq!(res.status(), StatusCode::OK);
    let doc = json_of(res).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/v1/auth/setup-required", "get"),
        ("/api/v1/auth/setup", "post"),
        ("/api/v1/auth/signup", "post"),
        ("/api/v1/auth/login", "post"),
        ("/api/v1/auth/logout", "post"),
        ("/api/v1/auth/session", "get"),
        ("/api/v1/auth/token", "post"),
        ("/api/v1/auth/refresh", "post"),
        ("/api/v1/auth/revoke", "post"),
        ("/api/v1/users/me", "get"),
        ("/api/v1/users/me/password", "post"),
        ("/api/v1/auth/sessions", "get"),
        ("/api/v1/auth/sessions/{id}", "delete"),
        ("/api/v1/admin/users", "get"),
        ("/api/v1/admin/users", "post"),
        ("/api/v1/admin/users/{id}", "patch"),
        ("/api/v1/admin/users/{id}/unlock", "post"),
        ("/api/v1/admin/users/{id}/sessions", "delete"),
        ("/api/v1/admin/audit", "get"),
        ("/api/v1/openapi.json", "get"),
        ("/api/v1/auth/password/forgot", "post"),
        ("/api/v1/auth/password/reset", "post"),
        ("/api/v1/auth/verify-email", "post"),
        ("/api/v1/auth/verify-email/resend", "post"),
        ("/api/v1/users/me/email", "post"),
        ("/api/v1/auth/confirm-email", "post"),
        ("/api/v1/admin/invitations", "post"),
        ("/api/v1/admin/invitations", "get"),
        ("/api/v1/admin/invitations/{id}", "delete"),
        ("/api/v1/auth/invitations/accept", "post"),
        ("/api/v1/admin/mail", "get"),
        ("/api/v1/admin/mail/{id}/retry", "post"),
        ("/health", "get"),
        ("/ready", "get"),
    ] {
        let op = &paths[path][method];
        assert!(op.is_object(), "{method} {path}");
        assert!(
            op["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{method} {path}"
        );
    }
    assert!(paths["/api/v1/auth/login"]["post"]["responses"]["401"].is_object());
    assert!(doc["components"]["schemas"]["UserView"].is_object());
    assert_eq!(
        doc["components"]["securitySchemes"]["session"]["name"],
        json!("gatehouse_session")
    );

    // Every documented operation is one the server routes: none answers
    // the API's "not found" or "method not allowed".
    let client = app.client();
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let url = app.url(&path.replace("{id}", "00000000-0000-4000-8000-000000000000"));
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let res = client.request(method.clone(), url).send().await.unwrap();
            let status = res.status();
            let body = res.text().await.unwrap_or_default();
            assert!(
                status != StatusCode::METHOD_NOT_ALLOWED && !body.contains("\"not found\""),
                "{method} {path} is documented but not routed ({status} {body})"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_exact() {
    let app = TestApp::spawn_with(&[("GATEHOUSE_PASSWORD_MIN_LENGTH", "12")]).await;
    let doc = json_of(app.get(&app.client(), "/api/v1/openapi.json").await).await;
    let paths = doc["paths"].as_object().unwrap();
    // Without mail, the mail routes do not exist: nor are they documented.
    for path in [
        "/api/v1/auth/password/forgot",
        "/api/v1/admin/invitations",
        "/api/v1/users/me/email",
    ] {
        assert!(paths.get(path).is_none(), "{path} is documented without mail");
        let res = app.post_json(&app.client(), path, &json!({})).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
    // Every JSON body can be refused as too large, not JSON, or malformed;
    // every secured operation as signed out; everything that reads the
    // database as unavailable, with Retry-After.
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let responses = &op["responses"];
            if op.get("requestBody").is_some() {
                for status in ["400", "413", "415"] {
                    assert!(responses[status].is_object(), "{method} {path} lacks {status}");
                }
            }
            if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
                assert!(responses["401"].is_object(), "{method} {path} lacks 401");
            }
            if path != "/health" && path != "/api/v1/openapi.json" {
                assert!(
                    responses["503"]["headers"]["Retry-After"].is_object(),
                    "{method} {path} lacks 503 with Retry-After"
                );
            }
        }
    }
    // The refresh endpoint refuses a malformed body with 400, documented.
    let res = app
        .client()
        .post(app.url("/api/v1/auth/refresh"))
        .header(header::CONTENT_TYPE, "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(paths["/api/v1/auth/refresh"]["post"]["responses"]["400"].is_object());

    let schemas = &doc["components"]["schemas"];
    // Login names the account by username, email or identifier: a body with
    // none of them is not valid.
    let names: Vec<&Value> = schemas["LoginBody"]["anyOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["required"][0])
        .collect();
    assert_eq!(names, [&json!("username"), &json!("email"), &json!("identifier")]);
    let res = app
        .post_json(
            &app.client(),
            "/api/v1/auth/login",
            &json!({ "password": "whatever it is" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // The password policy's lengths are this server's.
    assert_eq!(
        schemas["SignupBody"]["properties"]["password"]["minLength"],
        json!(12)
    );
    assert_eq!(
        schemas["SignupBody"]["properties"]["email"]["format"],
        json!("email")
    );
    // A code or a recovery code, not both.
    assert_eq!(schemas["CodeBody"]["oneOf"].as_array().map(Vec::len), Some(2));
    // The audit log's limit is at least 1.
    let params = paths["/api/v1/admin/audit"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let limit = params.iter().find(|p| p["name"] == "limit").unwrap();
    assert_eq!(limit["schema"]["minimum"], json!(1));
    // The optional bodies say so.
    for path in [
        "/api/v1/auth/refresh",
        "/api/v1/auth/revoke",
        "/api/v1/auth/passkey/start",
    ] {
        assert_ne!(
            paths[path]["post"]["requestBody"]["required"],
            json!(true),
            "{path}"
        );
    }

    // Behind https the session cookie has its `__Host-` name, here too.
    let app = TestApp::spawn_with(&[("GATEHOUSE_PUBLIC_URL", "https://id.example.com")]).await;
    let res = app
        .client()
        .get(app.url("/api/v1/openapi.json"))
        .header(reqwest::header::HOST, "id.example.com")
        .send()
        .await
        .unwrap();
    let doc = json_of(res).await;
    assert_eq!(
        doc["components"]["securitySchemes"]["session"]["name"],
        json!("__Host-gatehouse_session")
    );
}

/// A password change and the end of the other sessions it brings are one
/// change: when the sessions cannot be ended, the password stays as it was
/// (the user saw an error, and must not find it changed, or their other
/// sessions alive, when they try again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_that_cannot_end_the_other_sessions_changes_nothing() {
    let app = TestApp::spawn().await;
    let c = app.setup_admin().await;
    let elsewhere = app.login(ADMIN, ADMIN_PASSWORD).await;
    let new_password = "an entirely new passphrase";
    let change = |client: reqwest::Client| {
        let app = &app;
        async move {
            app.post_json(
                &client,
                "/api/v1/users/me/password",
                &json!({ "current_password": ADMIN_PASSWORD, "new_password": new_password }),
            )
            .await
            .status()
        }
    };

    refuse(&app, "DELETE", "user_sessions", true).await;
    assert!(change(c.clone()).await.is_server_error());
    refuse(&app, "DELETE", "user_sessions", false).await;
    // Nothing changed: the old password signs in, the other session lives.
    app.login(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(
        app.get(&elsewhere, "/api/v1/users/me").await.status(),
        StatusCode::OK
    );

    // Tried again, all of it happens.
    assert_eq!(change(c.clone()).await, StatusCode::OK);
    assert_eq!(
        app.get(&elsewhere, "/api/v1/users/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.get(&c, "/api/v1/users/me").await.status(), StatusCode::OK);
    app.login(ADMIN, new_password).await;
}
