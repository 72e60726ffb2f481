//! The security promises: throttling and lockout (OWASP ASVS 5.0 6.3.1),
//! anti-enumeration (6.3.8), CSRF (3.5.1-3.5.3), headers (3.4.x), cookies
//! (3.3.x), open redirects (3.7.2). Each test names what it proves.

use crate::common::*;
use reqwest::{header, StatusCode};
use serde_json::json;
use std::time::Instant;

async fn login_status(app: &TestApp, identifier: &str, password: &str) -> reqwest::Response {
    app.post_json(
        &app.bare_client(),
        "/api/v1/auth/login",
        &json!({ "username": identifier, "password": password }),
    )
    .await
}

async fn audit_events(app: &TestApp) -> Vec<String> {
    with_pool!(app, pool => {
        sqlx::query_scalar("SELECT event FROM audit_log ORDER BY id")
            .fetch_all(pool)
            .await
            .unwrap()
    })
}

fn retry_after(res: &reqwest::Response) -> u64 {
    res.headers()
        .get(header::RETRY_AFTER)
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

// ---- ASVS 6.3.1: failed logins are limited per client address ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asvs_6_3_1_failed_logins_per_client_ip_are_limited_with_retry_after() {
    let app = TestApp::spawn_with(&[
        ("GATEHOUSE_LOGIN_ATTEMPTS", "3"),
        ("GATEHOUSE_LOGIN_WINDOW_SECONDS", "600"),
    ])
    .await;
    app.setup_admin().await;
    for _ in 0..3 {
        assert_eq!(
            login_status(&app, ADMIN, "wrong password").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let res = login_status(&app, ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    let wait = retry_after(&res);
    assert!((1..=600).contains(&wait), "{wait}");
    let body = json_of(res).await;
    assert!(body["error"].as_str().unwrap().contains("try again in"), "{body}");

    // The token endpoint shares the counter.
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/token",
            &json!({ "username": ADMIN, "password": ADMIN_PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key(header::RETRY_AFTER));

    // A client cannot reset its limit by claiming another address.
    let res = app
        .bare_client()
        .post(app.url("/api/v1/auth/login"))
        .header("X-Forwarded-For", "203.0.113.9")
        .json(&json!({ "username": ADMIN, "password": ADMIN_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);

    // The count lives in the database: another instance on it (or this one
    // after a restart) holds the same client to the same limit.
    let other = app.restart().await;
    assert_eq!(
        login_status(&other, ADMIN, ADMIN_PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );

    // When the window has passed, logins work again.
    with_pool!(app, pool => {
        sqlx::query("UPDATE login_failures SET window_start = window_start - 601")
            .execute(pool)
            .await
            .unwrap();
    });
    assert_eq!(
        login_status(&app, ADMIN, ADMIN_PASSWORD).await.status(),
        StatusCode::OK
    );
    assert!(audit_events(&app)
        .await
        .contains(&"login_rate_limited".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asvs_6_3_1_successful_logins_do_not_use_up_the_allowance() {
    let app = TestApp::spawn_with(&[("GATEHOUSE_LOGIN_ATTEMPTS", "3")]).await;
    app.setup_admin().await;
    for _ in 0..5 {
        assert_eq!(
            login_status(&app, ADMIN, ADMIN_PASSWORD).await.status(),
            StatusCode::OK
        );
    }
    for _ in 0..3 {
        assert_eq!(
            login_status(&app, ADMIN, "wrong password").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login_status(&app, ADMIN, "wrong password").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asvs_6_3_1_concurrent_guesses_cannot_exceed_the_limit() {
    let app = TestApp::spawn_with(&[("GATEHOUSE_LOGIN_ATTEMPTS", "4")]).await;
    app.setup_admin().await;
    let attempts = (0..12).map(|_| {
        let client = app.bare_client();
        let url = app.url("/api/v1/auth/login");
        async move {
            client
                .post(url)
                .json(&json!({ "username": ADMIN, "password": "guess" }))
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let statuses = futures::future::join_all(attempts).await;
    let verified = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(verified, 4, "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let app = TestApp::spawn_with(&[
        ("GATEHOUSE_LOGIN_ATTEMPTS", "2"),
        ("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1/32"),
    ])
    .await;
    app.setup_admin().await;
    let from = |ip: &'static str, password: &'static str| {
        let client = app.bare_client();
        let url = app.url("/api/v1/auth/login");
        async move {
            client
                .post(url)
                .header("X-Forwarded-For", ip)
                .json(&json!({ "username": ADMIN, "password": password }))
                .send()
                .await
                .unwrap()
        }
    };
    from("198.51.100.1", "wrong").await;
    from("198.51.100.1", "wrong").await;
    assert_eq!(
        from("198.51.100.1", ADMIN_PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another client behind the same proxy is not affected.
    assert_eq!(
        from("198.51.100.2", ADMIN_PASSWORD).await.status(),
        StatusCode::OK
    );
    // The address recorded is the client's, not the proxy's.
    let ips: Vec<Option<String>> = with_pool!(app, pool => {
        sqlx::query_scalar("SELECT ip FROM user_sessions ORDER BY created_at DESC, id")
            .fetch_all(pool)
            .await
            .unwrap()
    });
    assert!(ips.contains(&Some("198.51.100.2".to_string())), "{ips:?}");
}

// ---- Lockout: consecutive failures lock an account, doubling ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asvs_6_3_1_consecutive_failures_lock_the_account_even_for_the_right_password() {
    let app = TestApp::spawn_with(&[
        ("GATEHOUSE_LOCKOUT_THRESHOLD", "3"),
        ("GATEHOUSE_LOCKOUT_SECONDS", "60"),
        ("GATEHOUSE_LOGIN_ATTEMPTS", "1000"),
    ])
    .await;
    app.setup_admin().await;
    app.signup("alice@example.com", Some("alice")).await;
    for identifier in ["alice", "ALICE", "alice@example.com"] {
        // Any identifier of the account counts against the same account.
        assert_eq!(
            login_status(&app, identifier, "wrong").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let res = login_status(&app, "alice", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after(&res);
    assert!((55..=60).contains(&wait), "{wait}");
    // The lock lives in the database: every instance honours it.
    let other = app.restart().await;
    assert_eq!(
        login_status(&other, "alice", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // The admin is not affected.
    assert_eq!(
        login_status(&app, ADMIN, ADMIN_PASSWORD).await.status(),
        StatusCode::OK
    );

    // After the lock ends, the next lock is twice as long.
    with_pool!(app, pool => {
        sqlx::query("UPDATE lockouts SET locked_until = 1")
            .execute(pool)
            .await
            .unwrap();
    });
    for _ in 0..3 {
        assert_eq!(
            login_status(&app, "alice", "wrong").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let res = login_status(&app, "alice", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after(&res);
    assert!((115..=120).contains(&wait), "doubled: {wait}");
    let events = audit_events(&app).await;
    assert_eq!(
        events.iter().filter(|e| *e == "account_locked").count(),
        2,
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_resets_the_consecutive_failure_count() {
    let app = TestApp::spawn_with(&[
        ("GATEHOUSE_LOCKOUT_THRESHOLD", "3"),
        ("GATEHOUSE_LOGIN_ATTEMPTS", "1000"),
    ])
    .await;
    app.setup_admin().await;
    for _ in 0..2 {
        login_status(&app, ADMIN, "wrong").await;
    }
    assert_eq!(
        login_status(&app, ADMIN, ADMIN_PASSWORD).await.status(),
        StatusCode::OK
    );
    for _ in 0..2 {
        login_status(&app, ADMIN, "wrong").await;
    }
    assert_eq!(
        login_status(&app, ADMIN, ADMIN_PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asvs_6_3_8_unknown_identifiers_lock_exactly_like_accounts() {
    let app = TestApp::spawn_with(&[
        ("GATEHOUSE_LOCKOUT_THRESHOLD", "2"),
        ("GATEHOUSE_LOGIN_ATTEMPTS", "1000"),
    ])
    .await;
    app.setup_admin().await;
    let mut answers = Vec::new();
    let mut waits = Vec::new();
    for who in [ADMIN, "nobody-at-all"] {
        let mut statuses = Vec::new();
        for _ in 0..3 {
            statuses.push(login_status(&app, who, "wrong").await.status());
        }
        let locked = login_status(&app, who, "wrong").await;
        waits.push(retry_after(&locked));
        answers.push((statuses, locked.status(), json_of(locked).await));
    }
    assert_eq!(
        answers[0], answers[1],
        "locking must not reveal which accounts exist"
    );
    assert_eq!(answers[0].1, StatusCode::TOO_MANY_REQUESTS);
    // The same lock length (the default 900 s); a clock second may tick
    // between the lock and the answer.
    for wait in &waits {
        assert!((898..=900).contains(wait), "Retry-After {waits:?}");
    }
}

// ---- ASVS 6.3.8: unknown user, wrong password and disabled look the same ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asvs_6_3_8_unknown_user_wrong_password_and_disabled_account_answer_identically() {
    let app = TestApp::spawn_with(&[
        ("GATEHOUSE_LOGIN_ATTEMPTS", "1000"),
        ("GATEHOUSE_LOCKOUT_THRESHOLD", "1000"),
    ])
    .await;
    app.setup_admin().await;
    app.signup("dora@example.com", Some("dora")).await;
    with_pool!(app, pool => {
        sqlx::query("UPDATE users SET disabled = TRUE WHERE username = 'dora'")
            .execute(pool)
            .await
            .unwrap();
    });
    let mut seen = Vec::new();
    for (who, password) in [
        (ADMIN, "wrong password"),
        ("nobody", "wrong password"),
        ("dora", PASSWORD),
    ] {
        let res = login_status(&app, who, password).await;
        let status = res.status();
        let mut headers: Vec<(String, String)> = res
            .headers()
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "date" | "x-request-id"))
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        headers.sort();
        let body = res.text().await.unwrap();
        seen.push((status, headers, body));
    }
    assert_eq!(seen[0], seen[1], "unknown user vs wrong password");
    assert_eq!(seen[0], seen[2], "disabled account vs wrong password");
    assert_eq!(seen[0].0, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asvs_6_3_8_unknown_users_cost_the_same_hashing_time_as_wrong_passwords() {
    let app = TestApp::spawn_with(&[
        ("GATEHOUSE_LOGIN_ATTEMPTS", "1000"),
        ("GATEHOUSE_LOCKOUT_THRESHOLD", "1000"),
    ])
    .await;
    app.setup_admin().await;
    // Warm up (the dummy hash is made on first use). Both identifiers then
    // have a failure row, so what is compared is the hashing, not whether the
    // database inserts or updates a counter.
    login_status(&app, "nobody", "x").await;
    login_status(&app, ADMIN, "x").await;
    let mut wrong = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..6 {
        let t = Instant::now();
        login_status(&app, ADMIN, "wrong password").await;
        wrong.push(t.elapsed());
        let t = Instant::now();
        login_status(&app, "nobody", "wrong password").await;
        unknown.push(t.elapsed());
    }
    // Other tests share the CPU and can only add time: the fastest of each
    // is the path's own cost. Without the dummy hash an unknown user answers
    // ~20x faster; allow noise.
    let fastest = |v: &[std::time::Duration]| v.iter().min().unwrap().as_secs_f64();
    let (w, u) = (fastest(&wrong), fastest(&unknown));
    assert!(
        u / w > 0.5 && u / w < 2.0,
        "fastest wrong {w:.4}s, unknown {u:.4}s"
    );
}

// ---- ASVS 3.5.1-3.5.3: cross-origin state changes are refused ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asvs_3_5_cross_origin_writes_are_refused_including_login() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let writes: Vec<(&str, &str)> = vec![
        ("POST", "/api/v1/auth/login"),
        ("POST", "/api/v1/auth/signup"),
        ("POST", "/api/v1/auth/logout"),
        ("POST", "/api/v1/auth/token"),
        ("POST", "/api/v1/auth/refresh"),
        ("POST", "/api/v1/auth/revoke"),
        ("POST", "/api/v1/users/me/password"),
        ("DELETE", "/api/v1/auth/sessions/x"),
        ("POST", "/api/v1/auth/setup"),
        ("POST", "/api/v1/admin/users"),
        ("PATCH", "/api/v1/admin/users/x"),
        ("POST", "/api/v1/admin/users/x/unlock"),
        ("DELETE", "/api/v1/admin/users/x/sessions"),
        ("POST", "/fn/setup"),
        ("POST", "/fn/login"),
        ("POST", "/fn/logout"),
        ("POST", "/fn/signup"),
        ("POST", "/fn/change_password"),
        ("POST", "/fn/revoke_session"),
        ("POST", "/fn/revoke_other_sessions"),
        ("POST", "/fn/admin_set_role"),
        ("POST", "/fn/admin_set_disabled"),
        ("POST", "/fn/admin_unlock"),
        ("POST", "/fn/admin_sign_out"),
        ("POST", "/fn/admin_create_user"),
    ];
    let body = json!({ "username": ADMIN, "password": ADMIN_PASSWORD });
    for (method, path) in &writes {
        for (name, value) in [
            ("origin", "http://evil.example"),
            ("referer", "http://evil.example/attack.html"),
            ("sec-fetch-site", "cross-site"),
            ("origin", "null"),
        ] {
            let req = admin
                .request(method.parse().unwrap(), app.url(path))
                .header(name, value)
                .json(&body);
            let res = req.send().await.unwrap();
            assert_eq!(
                res.status(),
                StatusCode::FORBIDDEN,
                "{method} {path} with {name}: {value}"
            );
            assert!(json_of(res).await["error"].is_string());
        }
    }
    // The same host under another scheme is another origin (RFC 6454).
    let res = admin
        .post(app.url("/api/v1/auth/logout"))
        .header("origin", format!("https://{}", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "https origin on an http site"
    );
    // The admin is still signed in: the cross-origin logouts did nothing.
    assert_eq!(app.whoami(&admin).await["authenticated"], json!(true));
    // Same origin passes.
    let res = app
        .bare_client()
        .post(app.url("/api/v1/auth/login"))
        .header("origin", format!("http://{}", app.addr))
        .header("sec-fetch-site", "same-origin")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asvs_3_5_2_json_endpoints_refuse_other_content_types() {
    let app = TestApp::spawn().await;
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let res = app
            .bare_client()
            .post(app.url("/api/v1/auth/setup"))
            .header(header::CONTENT_TYPE, ct)
            .body(r#"{"username":"admin","password":"correct horse battery staple"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct}");
    }
    // Every endpoint that takes a JSON body, signed in as the admin.
    let admin = app.setup_admin().await;
    let body = r#"{"username":"admin","password":"correct horse battery staple"}"#;
    for (method, path) in [
        ("POST", "/api/v1/auth/signup"),
        ("POST", "/api/v1/auth/login"),
        ("POST", "/api/v1/auth/token"),
        ("POST", "/api/v1/auth/refresh"),
        ("POST", "/api/v1/auth/revoke"),
        ("POST", "/api/v1/users/me/password"),
        ("POST", "/api/v1/admin/users"),
        (
            "PATCH",
            "/api/v1/admin/users/00000000-0000-4000-8000-000000000000",
        ),
    ] {
        let res = admin
            .request(method.parse().unwrap(), app.url(path))
            .header(header::CONTENT_TYPE, "text/plain")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{method} {path}"
        );
        assert!(json_of(res).await["error"].is_string());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_public_url_only_that_origin_may_write() {
    let app = TestApp::spawn_with(&[("GATEHOUSE_PUBLIC_URL", "https://id.example.com")]).await;
    let post = |origin: &'static str| {
        let client = app.bare_client();
        let url = app.url("/api/v1/auth/setup");
        async move {
            client
                .post(url)
                .header(header::HOST, "id.example.com")
                .header("origin", origin)
                .json(&json!({ "username": ADMIN, "password": ADMIN_PASSWORD }))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        post("http://id.example.com").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(post("https://evil.example").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(post("https://id.example.com").await.status(), StatusCode::CREATED);
}

// ---- ASVS 3.3.x / 3.4.1: secure cookies and HSTS behind https ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asvs_3_3_behind_https_cookies_are_secure_host_prefixed_and_hsts_is_sent() {
    let app = TestApp::spawn_with(&[("GATEHOUSE_PUBLIC_URL", "https://id.example.com")]).await;
    let res = app
        .bare_client()
        .post(app.url("/api/v1/auth/setup"))
        .header(header::HOST, "id.example.com")
        .header("origin", "https://id.example.com")
        .json(&json!({ "username": ADMIN, "password": ADMIN_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let hsts = res.headers()[header::STRICT_TRANSPORT_SECURITY]
        .to_str()
        .unwrap()
        .to_string();
    let max_age: u64 = hsts
        .split(';')
        .find_map(|p| p.trim().strip_prefix("max-age="))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        max_age,
        2 * 365 * 24 * 3600,
        "two years, as the README promises: {hsts}"
    );
    let cookie = set_cookie(&res, "__Host-gatehouse_session").expect("__Host- prefixed session cookie");
    for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attr), "{attr} in {cookie}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");

    let res = app
        .bare_client()
        .post(app.url("/api/v1/auth/token"))
        .header(header::HOST, "id.example.com")
        .header("origin", "https://id.example.com")
        .json(&json!({ "username": ADMIN, "password": ADMIN_PASSWORD }))
        .send()
        .await
        .unwrap();
    let cookie = set_cookie(&res, "__Secure-gatehouse_refresh").expect("__Secure- prefixed refresh cookie");
    assert!(cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
}

// ---- ASVS 3.4.3-3.4.6: headers on every response ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asvs_3_4_every_response_carries_the_security_headers() {
    let app = TestApp::spawn().await;
    let c = app.setup_admin().await;
    for (path, html) in [
        ("/dashboard", true),
        ("/login", false),
        ("/no-such-page", true),
        ("/api/v1/auth/session", false),
        ("/api/v1/users/me", false),
        ("/health", false),
        ("/api/v1/openapi.json", false),
    ] {
        let res = app.get_page(&c, path).await;
        let h = res.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(
            h["referrer-policy"], "strict-origin-when-cross-origin",
            "{path}: the policy the README promises"
        );
        let csp = h["content-security-policy"].to_str().unwrap().to_string();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert!(
            !h.contains_key(header::STRICT_TRANSPORT_SECURITY),
            "no HSTS over plain http"
        );
        if path.starts_with("/api") || path == "/dashboard" || path == "/login" {
            assert_eq!(h[header::CACHE_CONTROL], "no-store", "{path}");
        }
        if html && res.status() != StatusCode::FOUND {
            for directive in ["default-src 'self'", "object-src 'none'", "base-uri 'none'"] {
                assert!(csp.contains(directive), "{path}: {directive} in {csp}");
            }
            let nonce = csp
                .split(';')
                .find_map(|d| d.trim().strip_prefix("script-src "))
                .and_then(|s| s.split_whitespace().find_map(|t| t.strip_prefix("'nonce-")))
                .map(|n| n.trim_end_matches('\'').to_string())
                .expect("a script nonce");
            let page = res.text().await.unwrap();
            let scripts = page.matches("<script").count();
            assert!(scripts >= 1, "{path}");
            assert!(
                page.matches(&format!("nonce=\"{nonce}\"")).count() >= scripts,
                "every script carries the nonce on {path}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csp_nonces_differ_per_response() {
    let app = TestApp::spawn().await;
    let c = app.client();
    let a = app.get_page(&c, "/setup").await.headers()["content-security-policy"].clone();
    let b = app.get_page(&c, "/setup").await.headers()["content-security-policy"].clone();
    assert_ne!(a, b);
}

// ---- ASVS 3.7.2: redirects only to local paths ----

/// Django's `url_has_allowed_host_and_scheme` bad URLs (tests/utils_tests/test_http.py),
/// plus encoded forms and control characters.
const BAD_RETURNS: &[&str] = &[
    "http://example.com",
    "http:///example.com",
    "https://example.com",
    "ftp://example.com",
    r"\\example.com",
    r"\\\example.com",
    r"/\\/example.com",
    r"\\//example.com",
    r"/\/example.com",
    r"\/example.com",
    r"/\example.com",
    r"http:/\//example.com",
    r"http:\/example.com",
    r"http:/\example.com",
    "javascript:alert(\"XSS\")",
    "\njavascript:alert(x)",
    "\x08//example.com",
    r"http://otherserver\@example.com",
    r"http:\\testserver\@example.com",
    r"http://testserver\me:pass@example.com",
    r"http://testserver\@example.com",
    r"http:\\testserver\confirm\me@example.com",
    "http:999999999",
    "ftp:9999999999",
    "\n",
    "http://[2001:cdba:0000:0000:0000:0000:3257:9652/",
    "http://2001:cdba:0000:0000:0000:0000:3257:9652]/",
    "//example.com",
    "///example.com",
    "/\t/example.com",
    "/\r\n/example.com",
    " //example.com",
    "%2F%2Fexample.com",
    "%2f%5cexample.com",
    "/\u{0}/example.com",
    "data:text/html,<script>alert(1)</script>",
    "",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asvs_3_7_2_login_follows_return_only_to_local_paths() {
    let app = TestApp::spawn_with(&[("GATEHOUSE_LOGIN_ATTEMPTS", "1000")]).await;
    app.setup_admin().await;
    let login = |target: String| {
        let client = app.bare_client();
        let url = app.url("/fn/login");
        let origin = format!("http://{}", app.addr);
        async move {
            let res = client
                .post(url)
                .header(header::ACCEPT, "text/html")
                .header("origin", origin)
                .form(&[
                    ("username", ADMIN),
                    ("password", ADMIN_PASSWORD),
                    ("return_to", target.as_str()),
                ])
                .send()
                .await
                .unwrap();
            (res.status(), location(&res))
        }
    };
    for bad in BAD_RETURNS {
        let (status, to) = login(bad.to_string()).await;
        assert_eq!(status, StatusCode::FOUND, "{bad:?}");
        assert_eq!(to, "/dashboard", "{bad:?}");
    }
    for good in [
        "/account",
        "/dashboard?tab=1",
        "/view/?param=http://example.com",
        "/%2F%2Fstays-local",
    ] {
        let (status, to) = login(good.to_string()).await;
        assert_eq!(status, StatusCode::FOUND);
        assert_eq!(to, good);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guards_redirect_before_rendering_with_an_encoded_return() {
    let app = TestApp::spawn().await;
    let c = app.client();
    // No users: everything goes to setup.
    for path in [
        "/",
        "/login",
        "/signup",
        "/dashboard",
        "/account",
        "/private",
        "/admin",
        "/no-such-page",
    ] {
        let res = app.get_page(&c, path).await;
        assert_eq!(res.status(), StatusCode::FOUND, "{path}");
        assert_eq!(location(&res), "/setup", "{path}");
    }
    // Files and the API are not pages.
    let res = app.get(&c, "/api/v1/auth/setup-required").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        app.get(&c, "/api/v1/nothing").await.status(),
        StatusCode::NOT_FOUND
    );
    app.setup_admin().await;
    assert_eq!(location(&app.get_page(&c, "/setup").await), "/login");
    assert_eq!(
        app.get_page(&c, "/no-such-page").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(location(&app.get_page(&c, "/").await), "/login");
    for (path, to) in [
        ("/dashboard", "/login?return=%2Fdashboard"),
        ("/private", "/login?return=%2Fprivate"),
        (
            "/account?tab=sessions&x=a%20b",
            "/login?return=%2Faccount%3Ftab%3Dsessions%26x%3Da%2520b",
        ),
    ] {
        let res = app.get_page(&c, path).await;
        assert!(
            matches!(res.status(), StatusCode::FOUND | StatusCode::SEE_OTHER),
            "{path}"
        );
        assert_eq!(location(&res), to);
        assert!(
            res.text().await.unwrap().is_empty(),
            "no page body behind the redirect"
        );
    }
    let res = app.get_page(&c, "/no/such/page").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    let signed_in = app.login(ADMIN, ADMIN_PASSWORD).await;
    for path in ["/", "/login", "/signup", "/private", "/setup"] {
        let res = app.get_page(&signed_in, path).await;
        assert_eq!(res.status(), StatusCode::FOUND, "{path}");
        let to = location(&res);
        assert!(
            to == "/dashboard" || (path == "/setup" && to == "/login"),
            "{path} -> {to}"
        );
    }
    let res = app.get_page(&signed_in, "/dashboard").await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    assert!(
        page.contains(ADMIN) && page.contains("Logout"),
        "the nav shows the user and Logout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_users_sessions_and_tokens_stop_working() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    app.signup("dora@example.com", Some("dora")).await;
    let c = app.login("dora", PASSWORD).await;
    let tokens = json_of(
        app.post_json(
            &app.bare_client(),
            "/api/v1/auth/token",
            &json!({ "username": "dora", "password": PASSWORD }),
        )
        .await,
    )
    .await;
    with_pool!(app, pool => {
        sqlx::query("UPDATE users SET disabled = TRUE WHERE username = 'dora'")
            .execute(pool)
            .await
            .unwrap();
    });
    assert_eq!(app.whoami(&c).await["authenticated"], json!(false));
    let res = app
        .bare_client()
        .get(app.url("/api/v1/users/me"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}
