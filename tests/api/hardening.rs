//! Hardening II: the guessing, spoofing and look-alike gaps of issue 11, one
//! test each (SPEC "Security promises", from "Client addresses" on).

use crate::common::*;
use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

/// A login attempt that seems to come from `client` through a trusted proxy.
async fn login_from(app: &TestApp, client: &str, identifier: &str, password: &str) -> StatusCode {
    app.bare_client()
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", client)
        .json(&json!({ "username": identifier, "password": password }))
        .send()
        .await
        .expect("request")
        .status()
}

async fn audit(app: &TestApp, admin: &reqwest::Client, event: &str) -> Vec<Value> {
    let rows: Value = json_of(
        app.get(admin, &format!("/api/v1/admin/audit?event={event}&limit=1000"))
            .await,
    )
    .await;
    rows.as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_clients_are_limited_per_prefix_and_mapped_ipv4_as_ipv4() {
    let app = TestApp::spawn_with(&[
        ("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1"),
        ("GATEHOUSE_LOGIN_ATTEMPTS", "3"),
        ("GATEHOUSE_LOCKOUT_THRESHOLD", "1000"),
    ])
    .await;
    app.setup_admin().await;
    // Three addresses of one /64: one budget of three.
    for client in [
        "2001:db8:1:2::1",
        "2001:db8:1:2::2",
        "2001:db8:1:2:ffff:ffff:ffff:ffff",
    ] {
        assert_eq!(
            login_from(&app, client, ADMIN, "wrong").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login_from(&app, "2001:db8:1:2:abcd::9", ADMIN, "wrong").await,
        StatusCode::TOO_MANY_REQUESTS,
        "another address of the same /64"
    );
    // Another /64 has its own.
    assert_eq!(
        login_from(&app, "2001:db8:1:3::1", ADMIN, "wrong").await,
        StatusCode::UNAUTHORIZED
    );
    // An IPv4-mapped IPv6 address is the IPv4 address.
    for client in ["198.51.100.7", "::ffff:198.51.100.7", "198.51.100.7"] {
        assert_eq!(
            login_from(&app, client, ADMIN, "wrong").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login_from(&app, "::ffff:198.51.100.7", ADMIN, "wrong").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ipv6_prefix_is_configurable() {
    let app = TestApp::spawn_with(&[
        ("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1"),
        ("GATEHOUSE_LOGIN_ATTEMPTS", "1"),
        ("GATEHOUSE_IPV6_PREFIX", "48"),
    ])
    .await;
    app.setup_admin().await;
    assert_eq!(
        login_from(&app, "2001:db8:1:2::1", ADMIN, "wrong").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_from(&app, "2001:db8:1:9::1", ADMIN, "wrong").await,
        StatusCode::TOO_MANY_REQUESTS,
        "the same /48"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_guesses_at_one_account_verify_at_most_the_threshold() {
    let app = TestApp::spawn_with(&[
        ("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1"),
        ("GATEHOUSE_LOGIN_ATTEMPTS", "1000"),
        ("GATEHOUSE_LOCKOUT_THRESHOLD", "5"),
    ])
    .await;
    let admin = app.setup_admin().await;
    app.signup("target@example.com", Some("target")).await;
    let guesses = (0..40).map(|i| {
        let app = &app;
        async move {
            login_from(
                app,
                &format!("203.0.113.{i}"),
                "target",
                &format!("guess number {i}"),
            )
            .await
        }
    });
    let statuses = futures::future::join_all(guesses).await;
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(checked + refused, 40, "{statuses:?}");
    assert!(checked <= 5, "{checked} guesses were checked, the threshold is 5");
    let wrong: Vec<Value> = audit(&app, &admin, "login_failed")
        .await
        .into_iter()
        .filter(|r| r["detail"].as_str().unwrap_or("").contains("wrong password"))
        .collect();
    assert!(wrong.len() <= 5, "{} wrong passwords verified", wrong.len());
    // The lock holds, even for the right password.
    assert_eq!(
        login_from(&app, "198.51.100.1", "target", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_gives_its_pending_failure_back() {
    let app = TestApp::spawn_with(&[
        ("GATEHOUSE_LOCKOUT_THRESHOLD", "3"),
        ("GATEHOUSE_LOGIN_ATTEMPTS", "100"),
    ])
    .await;
    app.setup_admin().await;
    app.signup("sam@example.com", Some("sam")).await;
    for _ in 0..2 {
        assert_eq!(
            login_from(&app, "127.0.0.1", "sam", "wrong").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login_from(&app, "127.0.0.1", "sam", PASSWORD).await,
        StatusCode::OK
    );
    for _ in 0..2 {
        assert_eq!(
            login_from(&app, "127.0.0.1", "sam", "wrong").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login_from(&app, "127.0.0.1", "sam", PASSWORD).await,
        StatusCode::OK,
        "not locked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signup_and_invitation_acceptance_are_limited_per_client() {
    let app = TestApp::spawn_with(&[("GATEHOUSE_SIGNUP_LIMIT", "3")]).await;
    app.setup_admin().await;
    for i in 0..3 {
        app.signup(&format!("s{i}@example.com"), None).await;
    }
    let res = app
        .post_json(
            &app.client(),
            "/api/v1/auth/signup",
            &json!({ "email": "s3@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = res.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait > 3000 && wait <= 3600, "{wait}");
    assert!(json_of(res).await["error"]
        .as_str()
        .unwrap()
        .contains("try again in"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_current_password_check_is_counted_and_audited_like_a_login() {
    let app = TestApp::spawn_with(&[
        ("GATEHOUSE_LOGIN_ATTEMPTS", "100"),
        ("GATEHOUSE_LOCKOUT_THRESHOLD", "3"),
    ])
    .await;
    let admin = app.setup_admin().await;
    app.signup("thief@example.com", Some("victim")).await;
    let stolen = app.login("victim", PASSWORD).await;
    let change =
        |current: &str| json!({ "current_password": current, "new_password": "the thief's own passphrase" });
    for i in 0..3 {
        let res = app
            .post_json(
                &stolen,
                "/api/v1/users/me/password",
                &change(&format!("guess {i}")),
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // Locked now: even the right password is refused, here and at login.
    let res = app
        .post_json(&stolen, "/api/v1/users/me/password", &change(PASSWORD))
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key(header::RETRY_AFTER));
    assert_eq!(
        login_from(&app, "127.0.0.1", "victim", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let failures = audit(&app, &admin, "password_check_failed").await;
    assert_eq!(failures.len(), 3, "{failures:?}");
    assert!(
        !format!("{failures:?}").contains("guess 0"),
        "never the password tried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_current_password_check_is_limited_per_client() {
    let app = TestApp::spawn_with(&[
        ("GATEHOUSE_LOGIN_ATTEMPTS", "2"),
        ("GATEHOUSE_LOCKOUT_THRESHOLD", "100"),
    ])
    .await;
    app.setup_admin().await;
    app.signup("pat@example.com", Some("pat")).await;
    let pat = app.login("pat", PASSWORD).await;
    let body = |current: &str| json!({ "current_password": current, "new_password": "pat's new passphrase" });
    for _ in 0..2 {
        let res = app
            .post_json(&pat, "/api/v1/users/me/password", &body("nope nope"))
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = app
        .post_json(&pat, "/api/v1/users/me/password", &body("nope nope"))
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_key_ids_reload_the_keys_at_most_once_every_few_seconds() {
    use base64::Engine;
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let before = app.state.core.key_loads();
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    for i in 0..30 {
        let header_part = b64(&json!({ "alg": "HS256", "typ": "at+jwt", "kid": format!("unknown-{i}") }));
        let claims = b64(&json!({ "sub": "x", "exp": 9_999_999_999i64 }));
        let token = format!("{header_part}.{claims}.c2lnbmF0dXJl");
        let res = app
            .bare_client()
            .get(app.url("/api/v1/users/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let reloads = app.state.core.key_loads() - before;
    assert!(reloads <= 1, "{reloads} key reloads for 30 unknown kids");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unparseable_forwarded_entry_is_the_client_not_skipped() {
    let app = TestApp::spawn_with(&[
        ("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1"),
        ("GATEHOUSE_LOGIN_ATTEMPTS", "2"),
        ("GATEHOUSE_LOCKOUT_THRESHOLD", "1000"),
    ])
    .await;
    app.setup_admin().await;
    // The attacker writes a fresh fake address to the left each time; the
    // proxy appended something that is not an address.
    let mut statuses = Vec::new();
    for i in 0..4 {
        let forwarded = format!("192.0.2.{i}, not-an-address");
        statuses.push(login_from(&app, &forwarded, ADMIN, "wrong").await);
    }
    assert_eq!(
        statuses,
        vec![
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_ours_unless_the_client_sent_a_uuid() {
    let app = TestApp::spawn().await;
    let mut ours = std::collections::HashSet::new();
    for sent in [
        "not-a-uuid",
        "evil\tlog line",
        "67e55044-10b1-426f-9247-bb680e5fe0c8x",
    ] {
        let res = app
            .bare_client()
            .get(app.url("/health"))
            .header("x-request-id", sent)
            .send()
            .await
            .unwrap();
        let echoed = res.headers()["x-request-id"].to_str().unwrap().to_string();
        assert_ne!(echoed, sent);
        assert!(
            uuid::Uuid::parse_str(&echoed).is_ok_and(|id| id.get_version_num() == 4),
            "{echoed}"
        );
        assert!(ours.insert(echoed), "each request gets its own id");
    }
    let uuid = "67e55044-10b1-426f-9247-bb680e5fe0c8";
    let res = app
        .bare_client()
        .get(app.url("/health"))
        .header("x-request-id", uuid)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], uuid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn look_alike_and_invisible_usernames_are_refused() {
    let app = TestApp::spawn_with(&[("GATEHOUSE_SIGNUP_LIMIT", "100")]).await;
    app.setup_admin().await;
    app.signup("paypal@example.com", Some("paypal")).await;
    let signup = |email: &str, username: &str| {
        let body = json!({ "email": email, "password": PASSWORD, "username": username });
        let app = &app;
        async move { app.post_json(&app.client(), "/api/v1/auth/signup", &body).await }
    };
    // Cyrillic "а" and Greek "ο" look like Latin "a" and "o".
    for (i, lookalike) in ["pаypal", "PAYPAL", "pаypаl", "аdmin", "αdmin", "rnodern"]
        .iter()
        .enumerate()
    {
        if *lookalike == "rnodern" {
            app.signup("modern@example.com", Some("modern")).await;
        }
        let res = signup(&format!("l{i}@example.com"), lookalike).await;
        assert_eq!(res.status(), StatusCode::CONFLICT, "{lookalike}");
        assert_eq!(json_of(res).await["error"], json!("This username is taken."));
    }
    // Invisible and format characters, in usernames and in emails.
    for (i, sneaky) in [
        "pay\u{200b}pal2",
        "\u{3164}admin2",
        "admin\u{115f}x",
        "bob\u{202e}lol",
        "zero\u{2060}joiner",
        "soft\u{ad}hy",
        "bom\u{feff}x",
    ]
    .iter()
    .enumerate()
    {
        let res = signup(&format!("i{i}@example.com"), sneaky).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{sneaky:?}");
    }
    for sneaky in [
        "pay\u{200b}pal@example.com",
        "\u{3164}@example.com",
        "x@exa\u{200d}mple.com",
    ] {
        let res = app
            .post_json(
                &app.client(),
                "/api/v1/auth/signup",
                &json!({ "email": sneaky, "password": PASSWORD }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{sneaky:?}");
    }
    // Plain other names still work, non-Latin ones too.
    app.signup("zoe@example.com", Some("Zoë")).await;
    app.signup("dmitri@example.com", Some("дмитрий")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_made_with_the_old_password_during_a_change_does_not_survive_it() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    app.signup("ray@example.com", Some("ray")).await;
    let core = &app.state.core;
    let client = gatehouse::server::core::Client::default();
    // A login checks the old password ...
    let user = core.check_credentials("ray", PASSWORD, &client).await.unwrap();
    // ... a password change commits meanwhile ...
    let ray = app.login("ray", PASSWORD).await;
    let res = app
        .post_json(
            &ray,
            "/api/v1/users/me/password",
            &json!({ "current_password": PASSWORD, "new_password": "ray's brand new passphrase" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // ... and then the login makes its session and token family.
    let session = core
        .start_session(
            &user,
            false,
            &gatehouse::server::core::sessions::Amr::password(),
            &client,
        )
        .await
        .unwrap();
    assert!(
        core.session_user(&session.id).await.unwrap().is_none(),
        "the session is refused"
    );
    let pair = core.start_token_family(&user).await.unwrap();
    assert!(
        core.authenticate_bearer(&pair.access_token).await.is_err(),
        "the family is refused"
    );
    assert!(core.refresh_tokens(&pair.refresh_token, &client).await.is_err());
    // The session that made the change lives on.
    assert_eq!(app.whoami(&ray).await["authenticated"], json!(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_public_url_other_hosts_get_400() {
    let app = TestApp::spawn_with(&[("GATEHOUSE_PUBLIC_URL", "https://id.example.com")]).await;
    let get = |host: &'static str, path: &'static str| {
        let app = &app;
        async move {
            app.bare_client()
                .get(app.url(path))
                .header(header::HOST, host)
                .header(header::ACCEPT, "text/html")
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(get("evil.example", "/setup").await, StatusCode::BAD_REQUEST);
    assert_eq!(
        get("evil.example", "/api/v1/auth/setup-required").await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get("id.example.com.evil.example", "/setup").await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(get("id.example.com", "/setup").await, StatusCode::OK);
    assert_eq!(get("ID.example.com:443", "/setup").await, StatusCode::OK);
    assert_eq!(
        get("evil.example", "/health").await,
        StatusCode::OK,
        "health checks aside"
    );
    assert_eq!(get("evil.example", "/ready").await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_public_url_only_local_and_ip_hosts_are_served() {
    let app = TestApp::spawn().await;
    let port = app.addr.port();
    let get = |host: String| {
        let app = &app;
        async move {
            app.bare_client()
                .get(app.url("/setup"))
                .header(header::HOST, host)
                .header(header::ACCEPT, "text/html")
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // A DNS-rebinding page names its own host.
    assert_eq!(
        get(format!("rebind.attacker.example:{port}")).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(get("attacker.example".into()).await, StatusCode::BAD_REQUEST);
    for ok in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        "localhost".to_string(),
        format!("[::1]:{port}"),
        "10.1.2.3".to_string(),
    ] {
        assert_eq!(get(ok.clone()).await, StatusCode::OK, "{ok}");
    }
    let res = app
        .bare_client()
        .post(app.url("/api/v1/auth/setup"))
        .header(header::HOST, "rebind.attacker.example")
        .json(&json!({ "username": "attacker", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        json_of(app.get(&app.client(), "/api/v1/auth/setup-required").await).await["setup_required"],
        json!(true)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_login_that_looks_like_a_password_is_not_stored() {
    let app = TestApp::spawn_with(&[("GATEHOUSE_LOGIN_ATTEMPTS", "100")]).await;
    let admin = app.setup_admin().await;
    for identifier in ["Tr0ub4dor&3 horse!", "hunter2 is my pw"] {
        assert_eq!(
            login_from(&app, "127.0.0.1", identifier, "x").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login_from(&app, "127.0.0.1", "nosuchuser", "x").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_from(&app, "127.0.0.1", "who@example.com", "x").await,
        StatusCode::UNAUTHORIZED
    );
    let rows = audit(&app, &admin, "login_failed").await;
    let details: String = rows.iter().map(|r| r["detail"].to_string()).collect();
    assert!(
        !details.contains("Tr0ub4dor") && !details.contains("hunter2"),
        "{details}"
    );
    assert!(
        details.contains("nosuchuser") && details.contains("who@example.com"),
        "{details}"
    );
    assert!(details.contains("not a username or email"), "{details}");
}

mod breached {
    use super::*;
    use axum::{extract::Path, http::HeaderMap, routing::get, Router};
    use sha1::{Digest, Sha1};
    use std::sync::{Arc, Mutex};

    const BREACHED: &str = "correct horse battery staple 2";

    /// A few lines of axum: a k-anonymity range server that knows one
    /// breached password (and pads with zero counts), or fails.
    async fn range_server(fail: bool) -> (String, Arc<Mutex<Vec<(String, bool)>>>) {
        let seen: Arc<Mutex<Vec<(String, bool)>>> = Arc::default();
        let hex = format!("{:X}", Sha1::digest(BREACHED.as_bytes()));
        let (prefix, suffix) = (hex[..5].to_string(), hex[5..].to_string());
        let log = seen.clone();
        let app = Router::new().route(
            "/range/{prefix}",
            get(move |Path(asked): Path<String>, headers: HeaderMap| {
                let (prefix, suffix, log) = (prefix.clone(), suffix.clone(), log.clone());
                async move {
                    log.lock().unwrap().push((
                        asked.clone(),
                        headers.get("add-padding").is_some_and(|v| v == "true"),
                    ));
                    if fail {
                        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, String::new());
                    }
                    let mut body = String::from("0018A45C4D1DEF81644B54AB7F969B88D65:0\r\n");
                    if asked == prefix {
                        body.push_str(&format!("{suffix}:4242\r\n"));
                    }
                    body.push_str("00D4F6E8FA6EECAD2A3AA415EEC418D38EC:2");
                    (axum::http::StatusCode::OK, body)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}/range/"), seen)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn breached_passwords_are_refused_by_k_anonymity() {
        let (url, seen) = range_server(false).await;
        let app = TestApp::spawn_with(&[("GATEHOUSE_HIBP_URL", url.as_str())]).await;
        // Setup, signup, change: every new password is checked.
        let res = app
            .post_json(
                &app.client(),
                "/api/v1/auth/setup",
                &json!({ "username": ADMIN, "password": BREACHED }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let message = json_of(res).await["error"].as_str().unwrap().to_string();
        assert!(message.contains("data breach"), "{message}");
        let admin = app.setup_admin().await;
        let res = app
            .post_json(
                &app.client(),
                "/api/v1/auth/signup",
                &json!({ "email": "b@example.com", "password": BREACHED }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let res = app
            .post_json(
                &admin,
                "/api/v1/users/me/password",
                &json!({ "current_password": ADMIN_PASSWORD, "new_password": BREACHED }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let res = app
            .post_json(
                &admin,
                "/api/v1/admin/users",
                &json!({ "username": "made", "password": BREACHED }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        // Only five hex digits of the SHA-1 left, with padding asked for.
        let seen = seen.lock().unwrap().clone();
        assert!(seen.len() >= 4);
        for (prefix, padded) in seen {
            assert_eq!(prefix.len(), 5);
            assert!(prefix.chars().all(|c| c.is_ascii_hexdigit()));
            assert!(padded, "Add-Padding: true");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn when_the_service_fails_the_password_is_accepted_and_that_is_audited() {
        let (url, _) = range_server(true).await;
        let app = TestApp::spawn_with(&[("GATEHOUSE_HIBP_URL", url.as_str())]).await;
        let admin = app.setup_admin().await;
        let res = app
            .post_json(
                &app.client(),
                "/api/v1/auth/signup",
                &json!({ "email": "c@example.com", "password": BREACHED }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let rows = audit(&app, &admin, "breach_check_failed").await;
        assert!(!rows.is_empty());
        // An unreachable service too, quickly.
        let app = TestApp::spawn_with(&[("GATEHOUSE_HIBP_URL", "http://127.0.0.1:9/range/")]).await;
        let started = std::time::Instant::now();
        app.setup_admin().await;
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepting_invitations_counts_against_the_signup_limit() {
    let sink = crate::common::smtp::SmtpSink::start().await;
    let app = TestApp::spawn_with_mail(&sink, &[("GATEHOUSE_SIGNUP_LIMIT", "2")]).await;
    let admin = app.setup_admin().await;
    let mut statuses = Vec::new();
    for i in 0..3 {
        let email = format!("guest{i}@example.com");
        app.post_json(&admin, "/api/v1/admin/invitations", &json!({ "email": email }))
            .await;
        let token = sink.last_to(&email).await.token("/invite").unwrap();
        let res = app
            .post_json(
                &app.client(),
                "/api/v1/auth/invitations/accept",
                &json!({ "token": token, "password": PASSWORD }),
            )
            .await;
        statuses.push(res.status());
    }
    assert_eq!(
        statuses,
        vec![
            StatusCode::CREATED,
            StatusCode::CREATED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}

/// The client is worked out where a handler asks for it: the JSON API's
/// login and the sign-in form's server function both see the address a
/// trusted proxy forwarded and the browser's user agent, in the audit log
/// and in the per-client login budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_and_the_sign_in_form_see_the_forwarded_client_alike() {
    let app = TestApp::spawn_with(&[
        ("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1"),
        ("GATEHOUSE_LOGIN_ATTEMPTS", "2"),
        ("GATEHOUSE_LOCKOUT_THRESHOLD", "1000"),
    ])
    .await;
    let admin = app.setup_admin().await;
    let form_login = |client: &'static str| {
        app.bare_client()
            .post(app.url("/fn/login"))
            .header("x-forwarded-for", client)
            .header(header::USER_AGENT, "FormBrowser/1.0")
            .header(header::REFERER, app.url("/login"))
            .form(&[("username", ADMIN), ("password", "wrong")])
            .send()
    };
    assert_eq!(
        login_from(&app, "198.51.100.7", ADMIN, "wrong").await,
        StatusCode::UNAUTHORIZED
    );
    form_login("203.0.113.5").await.expect("request");

    let failed = audit(&app, &admin, "login_failed").await;
    let from = |ip: &str| failed.iter().find(|r| r["ip"] == ip).cloned();
    assert!(from("198.51.100.7").is_some(), "the API's client: {failed:?}");
    let form = from("203.0.113.5").unwrap_or_else(|| panic!("the form's client: {failed:?}"));
    assert_eq!(form["user_agent"], "FormBrowser/1.0");
    assert!(from("127.0.0.1").is_none(), "never the proxy: {failed:?}");

    // Each has a budget of its own: the form's client uses up its second
    // try and is limited on the third; the API's client still has one.
    form_login("203.0.113.5").await.expect("request");
    form_login("203.0.113.5").await.expect("request");
    let limited = audit(&app, &admin, "login_rate_limited").await;
    assert!(
        limited.iter().any(|r| r["ip"] == "203.0.113.5"),
        "the form's client is limited: {limited:?}"
    );
    assert!(
        !limited.iter().any(|r| r["ip"] == "198.51.100.7"),
        "the API's client is not: {limited:?}"
    );
    assert_eq!(
        login_from(&app, "198.51.100.7", ADMIN, "wrong").await,
        StatusCode::UNAUTHORIZED
    );
}
