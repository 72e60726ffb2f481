//! The account's life by email, against a real SMTP server over a socket:
//! password reset, verification, email change, invitations, and the outbox
//! that delivers them (retries, failures, several instances).

use crate::common::{smtp::SmtpSink, *};
use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const NEW_PASSWORD: &str = "a brand new passphrase 77";
const WAIT: Duration = Duration::from_secs(10);

async fn forgot(app: &TestApp, email: &str) -> reqwest::Response {
    app.post_json(
        &app.bare_client(),
        "/api/v1/auth/password/forgot",
        &json!({ "email": email }),
    )
    .await
}

async fn login_status(app: &TestApp, identifier: &str, password: &str) -> StatusCode {
    app.post_json(
        &app.bare_client(),
        "/api/v1/auth/login",
        &json!({ "username": identifier, "password": password }),
    )
    .await
    .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_mail_url_the_mail_flows_are_off() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    for path in [
        "/api/v1/auth/password/forgot",
        "/api/v1/auth/password/reset",
        "/api/v1/auth/verify-email",
        "/api/v1/auth/confirm-email",
        "/api/v1/auth/invitations/accept",
        "/api/v1/users/me/email",
        "/api/v1/admin/invitations",
    ] {
        let res = app.post_json(&admin, path, &json!({})).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let login = app.get_page(&app.client(), "/login").await.text().await.unwrap();
    assert!(
        !login.contains("Forgot password?"),
        "no link to a flow that is off"
    );
    let page = app.get_page(&app.client(), "/forgot-password").await;
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    let me: Value = json_of(app.get(&admin, "/api/v1/users/me").await).await;
    assert_eq!(me["email_verified"], json!(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgot_reset_and_sign_in_with_the_new_password() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with_mail(&sink, &[("GATEHOUSE_EMAIL_VERIFICATION", "off")]).await;
    app.setup_admin().await;
    app.signup("rita@example.com", Some("rita")).await;
    // Rita is signed in twice and holds a token family.
    let browser = app.login("rita", PASSWORD).await;
    let pair: Value = json_of(
        app.post_json(
            &app.bare_client(),
            "/api/v1/auth/token",
            &json!({ "username": "rita", "password": PASSWORD }),
        )
        .await,
    )
    .await;

    let res = forgot(&app, "RITA@example.com").await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(json_of(res).await, json!({ "ok": true }));
    let mail = sink.last_to("rita@example.com").await;
    assert_eq!(mail.subject(), "Reset your password");
    let link = mail.link("/reset-password").expect("a reset link");
    assert!(
        link.starts_with(&format!("{}/reset-password?token=", app.origin())),
        "{link}"
    );
    let token = mail.token("/reset-password").unwrap();
    assert!(token.len() >= 22, "at least 128 bits: {token}");
    assert!(mail.raw.contains("Content-Type: text/plain") && mail.raw.contains("Content-Type: text/html"));
    assert!(
        mail.decoded.contains("30 minutes"),
        "says how long the link is good for"
    );
    assert!(
        mail.decoded.contains("If you did not ask for this"),
        "says what to do if it was not you"
    );
    // Only the hash is stored.
    let stored: Vec<String> = with_pool!(app, pool => sqlx::query_scalar("SELECT token_hash FROM email_tokens")
        .fetch_all(pool).await.unwrap());
    assert!(
        !stored.iter().any(|h| h == &token),
        "the token itself is not stored"
    );

    // Opening the page spends nothing.
    let page = app
        .get_page(&app.bare_client(), &format!("/reset-password?token={token}"))
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()[header::REFERRER_POLICY], "no-referrer");
    assert!(page.text().await.unwrap().contains("Choose a new password"));

    let weak = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/password/reset",
            &json!({ "token": token, "new_password": "short" }),
        )
        .await;
    assert_eq!(weak.status(), StatusCode::BAD_REQUEST);
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/password/reset",
            &json!({ "token": token, "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "a refused weak password does not spend the link"
    );

    assert_eq!(
        login_status(&app, "rita", PASSWORD).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(login_status(&app, "rita", NEW_PASSWORD).await, StatusCode::OK);
    // Every session and token family ended.
    assert_eq!(app.whoami(&browser).await["authenticated"], json!(false));
    let refreshed = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/refresh",
            &json!({ "refresh_token": pair["refresh_token"] }),
        )
        .await;
    assert_eq!(refreshed.status(), StatusCode::UNAUTHORIZED);
    // And a notice went out.
    let mails = sink.wait_for("rita@example.com", 2, WAIT).await;
    assert_eq!(mails[1].subject(), "Your password was changed");

    // Single use: the same link again, an unknown one, a mangled one: one answer.
    for bad in [token.clone(), "nope".into(), format!("{token}x")] {
        let res = app
            .post_json(
                &app.bare_client(),
                "/api/v1/auth/password/reset",
                &json!({ "token": bad, "new_password": "yet another passphrase 5" }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(json_of(res).await, json!({ "error": "invalid or expired link" }));
    }
    let page = app
        .get_page(&app.bare_client(), &format!("/reset-password?token={token}"))
        .await;
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    assert!(page.text().await.unwrap().contains("invalid or expired link"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_lifts_a_lockout_and_the_link_expires() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with_mail(
        &sink,
        &[
            ("GATEHOUSE_LOCKOUT_THRESHOLD", "2"),
            ("GATEHOUSE_LOGIN_ATTEMPTS", "100"),
            ("GATEHOUSE_PASSWORD_RESET_MINUTES", "1"),
            ("GATEHOUSE_EMAIL_VERIFICATION", "off"),
        ],
    )
    .await;
    app.setup_admin().await;
    app.signup("lou@example.com", Some("lou")).await;
    for _ in 0..2 {
        assert_eq!(
            login_status(&app, "lou", "wrong wrong wrong").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login_status(&app, "lou", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );

    forgot(&app, "lou@example.com").await;
    let first = sink.last_to("lou@example.com").await;
    // The configured lifetime: one minute.
    let (created, expires): (i64, i64) = with_pool!(app, pool => sqlx::query_as(
        "SELECT created_at, expires_at FROM email_tokens WHERE purpose = 'reset_password'")
        .fetch_one(pool).await.unwrap());
    assert_eq!(expires - created, 60);
    assert!(first.decoded.contains("1 minute"));
    // An expired link is like an unknown one.
    with_pool!(app, pool => sqlx::query("UPDATE email_tokens SET expires_at = created_at - 1")
        .execute(pool).await.map(|_| ()).unwrap());
    let expired = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/password/reset",
            &json!({ "token": first.token("/reset-password").unwrap(), "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(expired.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        json_of(expired).await,
        json!({ "error": "invalid or expired link" })
    );

    forgot(&app, "lou@example.com").await;
    let mails = sink.wait_for("lou@example.com", 2, WAIT).await;
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/password/reset",
            &json!({ "token": mails[1].token("/reset-password").unwrap(), "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        login_status(&app, "lou", NEW_PASSWORD).await,
        StatusCode::OK,
        "the lock is lifted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_are_built_from_the_public_url_never_from_the_request() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with_mail(&sink, &[]).await;
    app.setup_admin().await;
    app.signup("hank@example.com", Some("hank")).await;
    sink.wait_for("hank@example.com", 1, WAIT).await; // the verification link
    let res = app
        .bare_client()
        .post(app.url("/api/v1/auth/password/forgot"))
        .header("x-forwarded-host", "evil.example")
        .header("forwarded", "host=evil.example")
        .json(&json!({ "email": "hank@example.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let mails = sink.wait_for("hank@example.com", 2, WAIT).await;
    let link = mails[1].link("/reset-password").unwrap();
    assert!(link.starts_with(&app.origin()), "{link}");
    assert!(!mails[1].raw.contains("evil.example"));
    // A request naming another host is not served at all.
    let res = app
        .bare_client()
        .post(app.url("/api/v1/auth/password/forgot"))
        .header(header::HOST, "evil.example")
        .json(&json!({ "email": "hank@example.com" }))
        .send()
        .await
        .unwrap();
    if res.status() == StatusCode::ACCEPTED {
        let mails = sink.wait_for("hank@example.com", 3, WAIT).await;
        assert!(mails[2]
            .link("/reset-password")
            .unwrap()
            .starts_with(&app.origin()));
    } else {
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgot_password_does_not_tell_whether_an_address_has_an_account() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with_mail(&sink, &[("GATEHOUSE_SIGNUP_LIMIT", "1000")]).await;
    app.setup_admin().await;
    app.signup("known@example.com", Some("known")).await;

    let known = forgot(&app, "known@example.com").await;
    let unknown = forgot(&app, "unknown@example.com").await;
    assert_eq!(known.status(), unknown.status());
    let strip = |res: &reqwest::Response| {
        let mut h: Vec<(String, String)> = res
            .headers()
            .iter()
            .filter(|(k, _)| !["date", "x-request-id", "content-security-policy"].contains(&k.as_str()))
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        h.sort();
        h
    };
    assert_eq!(strip(&known), strip(&unknown));
    assert_eq!(known.text().await.unwrap(), unknown.text().await.unwrap());

    // About the same time: the fastest of each, interleaved, within 50 ms
    // (nothing is sent inline; both count limits and write an audit row).
    let (mut fastest_known, mut fastest_unknown) = (Duration::MAX, Duration::MAX);
    for i in 0..4 {
        let start = Instant::now();
        let res = forgot(&app, "known@example.com").await;
        let took = start.elapsed();
        if res.status() == StatusCode::ACCEPTED {
            fastest_known = fastest_known.min(took);
        }
        let start = Instant::now();
        forgot(&app, &format!("nobody{i}@example.com")).await;
        fastest_unknown = fastest_unknown.min(start.elapsed());
    }
    let gap = fastest_known.abs_diff(fastest_unknown);
    assert!(
        gap < Duration::from_millis(50),
        "known {fastest_known:?}, unknown {fastest_unknown:?}"
    );
    // Mail only for the account.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(sink.mails_to("unknown@example.com").is_empty());
    assert!(!sink.mails_to("known@example.com").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgot_password_is_limited_per_address_and_per_client() {
    let sink = SmtpSink::start().await;
    // Twelve requests an hour from one client.
    let app = TestApp::spawn_with_mail(&sink, &[("GATEHOUSE_SIGNUP_LIMIT", "12")]).await;
    app.setup_admin().await;
    // Five mails an hour to one address, whether it has an account or not.
    for address in ["admin@example.com", "ghost@example.com"] {
        for _ in 0..5 {
            assert_eq!(forgot(&app, address).await.status(), StatusCode::ACCEPTED);
        }
        let res = forgot(&app, address).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(res.headers().contains_key(header::RETRY_AFTER));
        assert!(json_of(res).await["error"]
            .as_str()
            .unwrap()
            .starts_with("too many requests"));
    }
    // The client has used its twelve: every further request is refused.
    let res = forgot(&app, "someone.else@example.com").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(sink.mails_to("admin@example.com").len() <= 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_verification_holds_the_login_until_the_link_is_used() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with_mail(&sink, &[("GATEHOUSE_EMAIL_VERIFICATION", "required")]).await;
    app.setup_admin().await;
    let user = app.signup("vera@example.com", Some("vera")).await;
    assert_eq!(user["email_verified"], json!(false));
    let mail = sink.last_to("vera@example.com").await;
    assert_eq!(mail.subject(), "Verify your email address");
    assert!(mail.link("/verify-email").unwrap().starts_with(&app.origin()));

    // The right password: 403 and the reason; a wrong one: the generic 401.
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/login",
            &json!({ "username": "vera", "password": PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&res, "gatehouse_session").is_none());
    assert_eq!(json_of(res).await, json!({ "error": "email not verified" }));
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/token",
            &json!({ "username": "vera", "password": PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        login_status(&app, "vera", "not her password").await,
        StatusCode::UNAUTHORIZED
    );
    // A new link at most every five minutes: signup's is fresh, so none yet.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.mails_to("vera@example.com").len(), 1);
    with_pool!(app, pool => sqlx::query("UPDATE email_tokens SET created_at = created_at - 301")
        .execute(pool).await.map(|_| ()).unwrap());
    assert_eq!(login_status(&app, "vera", PASSWORD).await, StatusCode::FORBIDDEN);
    let mails = sink.wait_for("vera@example.com", 2, WAIT).await;
    assert_eq!(login_status(&app, "vera", PASSWORD).await, StatusCode::FORBIDDEN);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        sink.mails_to("vera@example.com").len(),
        2,
        "not another within five minutes"
    );

    // Opening the page changes nothing; the button does.
    let token = mails[1].token("/verify-email").unwrap();
    let page = app
        .get_page(&app.bare_client(), &format!("/verify-email?token={token}"))
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()[header::REFERRER_POLICY], "no-referrer");
    assert_eq!(login_status(&app, "vera", PASSWORD).await, StatusCode::FORBIDDEN);
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/verify-email",
            &json!({ "token": token }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let vera = app.login("vera", PASSWORD).await;
    assert_eq!(app.whoami(&vera).await["user"]["email_verified"], json!(true));
    // The first link is spent with the second (and the second is spent).
    for spent in [mails[0].token("/verify-email").unwrap(), token] {
        let res = app
            .post_json(
                &app.bare_client(),
                "/api/v1/auth/verify-email",
                &json!({ "token": spent }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(json_of(res).await, json!({ "error": "invalid or expired link" }));
    }
    // Resending is for the signed in, and not for the verified.
    let res = app
        .post_json(&app.bare_client(), "/api/v1/auth/verify-email/resend", &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .post_json(&vera, "/api/v1/auth/verify-email/resend", &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optional_verification_mails_a_link_and_resend_works() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with_mail(&sink, &[]).await;
    app.setup_admin().await;
    app.signup("otto@example.com", Some("otto")).await;
    sink.wait_for("otto@example.com", 1, WAIT).await;
    let otto = app.login("otto", PASSWORD).await;
    let res = app
        .post_json(&otto, "/api/v1/auth/verify-email/resend", &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let mails = sink.wait_for("otto@example.com", 2, WAIT).await;
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/verify-email",
            &json!({ "token": mails[1].token("/verify-email").unwrap() }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.whoami(&otto).await["user"]["email_verified"], json!(true));
    // The admin sees it too.
    let admin = app.login(ADMIN, ADMIN_PASSWORD).await;
    let users: Value = json_of(app.get(&admin, "/api/v1/admin/users").await).await;
    let row = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "otto")
        .unwrap();
    assert_eq!(row["email_verified"], json!(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_change_needs_the_password_and_the_new_address_confirms_it() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with_mail(&sink, &[("GATEHOUSE_EMAIL_VERIFICATION", "off")]).await;
    app.setup_admin().await;
    app.signup("cora@example.com", Some("cora")).await;
    app.signup("taken@example.com", Some("taken")).await;
    let cora = app.login("cora", PASSWORD).await;

    let change = |email: &str, password: &str| json!({ "new_email": email, "current_password": password });
    let res = app
        .post_json(
            &cora,
            "/api/v1/users/me/email",
            &change("cora@new.example", "wrong password!"),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .post_json(&cora, "/api/v1/users/me/email", &change("not an email", PASSWORD))
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = app
        .post_json(
            &cora,
            "/api/v1/users/me/email",
            &change("Taken@example.com", PASSWORD),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/users/me/email",
            &change("cora@new.example", PASSWORD),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    let res = app
        .post_json(
            &cora,
            "/api/v1/users/me/email",
            &change("cora@new.example", PASSWORD),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let confirm = sink.last_to("cora@new.example").await;
    let notice = sink.last_to("cora@example.com").await;
    assert_eq!(confirm.subject(), "Confirm your new email address");
    assert!(
        notice.decoded.contains("cora@new.example"),
        "the old address hears of it"
    );
    assert!(notice.link("/confirm-email").is_none(), "but gets no link");
    // Nothing changed yet.
    assert_eq!(
        app.whoami(&cora).await["user"]["email"],
        json!("cora@example.com")
    );

    let token = confirm.token("/confirm-email").unwrap();
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/confirm-email",
            &json!({ "token": token }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let me = app.whoami(&cora).await;
    assert_eq!(me["user"]["email"], json!("cora@new.example"));
    assert_eq!(me["user"]["email_verified"], json!(true));
    assert_eq!(
        login_status(&app, "cora@new.example", PASSWORD).await,
        StatusCode::OK
    );
    assert_eq!(
        login_status(&app, "cora@example.com", PASSWORD).await,
        StatusCode::UNAUTHORIZED
    );
    let again = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/confirm-email",
            &json!({ "token": token }),
        )
        .await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);

    // Taken meanwhile: 409 at confirmation.
    app.post_json(
        &cora,
        "/api/v1/users/me/email",
        &change("race@example.com", PASSWORD),
    )
    .await;
    let confirm = sink.last_to("race@example.com").await;
    app.signup("race@example.com", Some("racer")).await;
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/confirm-email",
            &json!({ "token": confirm.token("/confirm-email").unwrap() }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(
        app.whoami(&cora).await["user"]["email"],
        json!("cora@new.example")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitations_work_while_signup_is_closed() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with_mail(&sink, &[("GATEHOUSE_SIGNUP", "closed")]).await;
    let admin = app.setup_admin().await;
    let res = app
        .post_json(
            &app.client(),
            "/api/v1/auth/signup",
            &json!({ "email": "ivan@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "signup is closed");

    let res = app
        .post_json(
            &admin,
            "/api/v1/admin/invitations",
            &json!({ "email": "Ivan@Example.com", "role": "admin" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let invitation = json_of(res).await;
    assert_eq!(invitation["email"], json!("Ivan@example.com"));
    assert_eq!(invitation["role"], json!("admin"));
    assert!(invitation["id"].is_string() && invitation["expires_at"].is_string());
    let mail = sink.last_to("Ivan@example.com").await;
    assert_eq!(mail.subject(), "You are invited to Gatehouse");
    assert!(mail.decoded.contains("7 days"));
    let token = mail.token("/invite").unwrap();

    let list: Value = json_of(app.get(&admin, "/api/v1/admin/invitations").await).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    // Admins only.
    let res = app.get(&app.bare_client(), "/api/v1/admin/invitations").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // An address with an account cannot be invited.
    let res = app
        .post_json(
            &admin,
            "/api/v1/admin/invitations",
            &json!({ "email": "admin@example.com", "role": "user" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let res = app
        .post_json(
            &admin,
            "/api/v1/admin/invitations",
            &json!({ "email": "nope", "role": "user" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    let page = app
        .get_page(&app.bare_client(), &format!("/invite?token={token}"))
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()[header::REFERRER_POLICY], "no-referrer");
    assert!(page.text().await.unwrap().contains("Ivan@example.com"));

    let accept = |password: &str| json!({ "token": token, "password": password, "username": "ivan" });
    let weak = app
        .post_json(&app.client(), "/api/v1/auth/invitations/accept", &accept("short"))
        .await;
    assert_eq!(weak.status(), StatusCode::BAD_REQUEST);
    let invitee = app.client();
    let res = app
        .post_json(&invitee, "/api/v1/auth/invitations/accept", &accept(NEW_PASSWORD))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(set_cookie(&res, "gatehouse_session").is_some(), "signed in");
    let body = json_of(res).await;
    assert_eq!(body["ok"], json!(true));
    assert_eq!(body["user"]["role"], json!("admin"));
    assert_eq!(body["user"]["email_verified"], json!(true));
    let me = app.whoami(&invitee).await;
    assert_eq!(me["user"]["username"], json!("ivan"));

    // Used up.
    let res = app
        .post_json(
            &app.client(),
            "/api/v1/auth/invitations/accept",
            &accept(NEW_PASSWORD),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(res).await, json!({ "error": "invalid or expired link" }));

    // Revoked: the link stops working. A new invitation replaces an old one.
    app.post_json(
        &admin,
        "/api/v1/admin/invitations",
        &json!({ "email": "june@example.com" }),
    )
    .await;
    let first = sink.last_to("june@example.com").await.token("/invite").unwrap();
    let res = app
        .post_json(
            &admin,
            "/api/v1/admin/invitations",
            &json!({ "email": "june@example.com" }),
        )
        .await;
    let second = json_of(res).await;
    assert_eq!(second["role"], json!("user"));
    let res = app
        .post_json(
            &app.client(),
            "/api/v1/auth/invitations/accept",
            &json!({ "token": first, "password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "replaced");
    let id = second["id"].as_str().unwrap();
    let res = app
        .client()
        .delete(app.url(&format!("/api/v1/admin/invitations/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = admin
        .delete(app.url(&format!("/api/v1/admin/invitations/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = admin
        .delete(app.url(&format!("/api/v1/admin/invitations/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let mails = sink.wait_for("june@example.com", 2, WAIT).await;
    let res = app
        .post_json(
            &app.client(),
            "/api/v1/auth/invitations/accept",
            &json!({ "token": mails[1].token("/invite").unwrap(), "password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "revoked");
    let list: Value = json_of(app.get(&admin, "/api/v1/admin/invitations").await).await;
    assert_eq!(list, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_retries_until_the_mail_server_is_back() {
    let mut sink = SmtpSink::start().await;
    let app = TestApp::spawn_with_mail(&sink, &[("GATEHOUSE_EMAIL_VERIFICATION", "off")]).await;
    let admin = app.setup_admin().await;
    sink.stop();
    assert_eq!(
        forgot(&app, "admin@example.com").await.status(),
        StatusCode::ACCEPTED
    );
    // It waits in the outbox, with a failed attempt or more.
    let deadline = Instant::now() + WAIT;
    loop {
        // (Queued just after the answer: forgot-password answers first.)
        let attempts: i64 = with_pool!(app, pool => sqlx::query_scalar::<_, i64>(
            "SELECT attempts FROM outbox WHERE kind = 'reset_password'").fetch_optional(pool).await.unwrap())
        .unwrap_or(0);
        if attempts >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "no retry");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let undelivered: Value = json_of(app.get(&admin, "/api/v1/admin/mail").await).await;
    assert_eq!(undelivered[0]["status"], json!("pending"));
    assert!(undelivered[0]["last_error"].is_string());

    sink.restart().await;
    let back = Instant::now();
    let mail = sink.last_to("admin@example.com").await;
    assert!(
        back.elapsed() < Duration::from_secs(8),
        "waited {:?}",
        back.elapsed()
    );
    assert!(mail.token("/reset-password").is_some());
    // Sent: the row says so (once the sender has recorded it) and no longer
    // holds the link.
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, text): (String, String) = with_pool!(app, pool => sqlx::query_as(
            "SELECT status, text_body FROM outbox WHERE kind = 'reset_password'").fetch_one(pool).await.unwrap());
        if status == "sent" {
            assert!(text.is_empty());
            break;
        }
        assert_eq!(status, "sending");
        assert!(Instant::now() < deadline, "never recorded as sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_that_keeps_failing_is_shown_to_admins_and_can_be_retried() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with_mail(
        &sink,
        &[
            ("GATEHOUSE_EMAIL_VERIFICATION", "off"),
            ("GATEHOUSE_MAIL_MAX_ATTEMPTS", "2"),
        ],
    )
    .await;
    let admin = app.setup_admin().await;
    sink.refuse("admin@", "451 4.3.0 try again later");
    forgot(&app, "admin@example.com").await;
    let deadline = Instant::now() + WAIT;
    let failed = loop {
        let list: Value = json_of(app.get(&admin, "/api/v1/admin/mail").await).await;
        if list[0]["status"] == "failed" {
            break list[0].clone();
        }
        assert!(Instant::now() < deadline, "not marked failed: {list}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(failed["attempts"], json!(2));
    assert!(failed["last_error"].as_str().unwrap().contains("451"));
    let page = app.get_page(&admin, "/admin").await.text().await.unwrap();
    assert!(
        page.contains("Undelivered mail") && page.contains("Retry"),
        "shown at /admin"
    );

    // A permanent refusal fails at once.
    sink.refuse("admin@", "550 5.1.1 no such mailbox");
    let id = failed["id"].as_str().unwrap();
    let res = app
        .post_json(&admin, &format!("/api/v1/admin/mail/{id}/retry"), &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let deadline = Instant::now() + WAIT;
    loop {
        let list: Value = json_of(app.get(&admin, "/api/v1/admin/mail").await).await;
        if list[0]["status"] == "failed" && list[0]["attempts"] == json!(1) {
            break;
        }
        assert!(Instant::now() < deadline, "{list}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Fixed: a retry delivers it, and the list empties.
    sink.accept_all();
    let res = app
        .post_json(&admin, &format!("/api/v1/admin/mail/{id}/retry"), &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    sink.last_to("admin@example.com").await;
    let deadline = Instant::now() + WAIT;
    loop {
        let list: Value = json_of(app.get(&admin, "/api/v1/admin/mail").await).await;
        if list == json!([]) {
            break;
        }
        assert!(Instant::now() < deadline, "{list}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let res = app
        .post_json(&admin, &format!("/api/v1/admin/mail/{id}/retry"), &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "only failed mail is retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_never_send_one_message_twice() {
    let sink = SmtpSink::start().await;
    let vars = [
        ("GATEHOUSE_EMAIL_VERIFICATION", "off"),
        ("GATEHOUSE_SIGNUP_LIMIT", "1000"),
    ];
    let first = TestApp::spawn_with_mail(&sink, &vars).await;
    let second = first.restart().await;
    first.setup_admin().await;
    // Sixty messages queued through both instances at once.
    let addresses: Vec<String> = (0..30).map(|i| format!("many{i}@example.com")).collect();
    let mut queued = Vec::new();
    for address in &addresses {
        first.signup(address, None).await;
    }
    for (i, address) in addresses.iter().enumerate() {
        let app = if i % 2 == 0 { &first } else { &second };
        queued.push(forgot(app, address));
    }
    for res in futures::future::join_all(queued).await {
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    }
    for address in &addresses {
        assert_eq!(forgot(&second, address).await.status(), StatusCode::ACCEPTED);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while sink.mails().len() < 60 {
        assert!(
            Instant::now() < deadline,
            "only {} of 60 arrived",
            sink.mails().len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mails = sink.mails();
    let mut ids: Vec<String> = mails.iter().map(|m| m.header("Message-ID").unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(mails.len(), 60, "no message twice");
    assert_eq!(ids.len(), 60);
}

/// A slow mail server that works (each message takes a second to accept):
/// two instances still send every message exactly once. Claims and the send
/// timeout are shortened so the test takes seconds; with a claim of many
/// messages at once, the end of the batch outlived its claim and the other
/// instance sent it too (issue 29).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_mail_server_never_makes_two_instances_send_one_message() {
    let sink = SmtpSink::start().await;
    let vars = [
        ("GATEHOUSE_EMAIL_VERIFICATION", "off"),
        ("GATEHOUSE_SIGNUP_LIMIT", "1000"),
        ("GATEHOUSE_MAIL_LEASE_SECONDS", "4"),
        ("GATEHOUSE_MAIL_SEND_TIMEOUT_SECONDS", "2"),
    ];
    let first = TestApp::spawn_with_mail(&sink, &vars).await;
    let second = first.restart().await;
    first.setup_admin().await;
    let addresses: Vec<String> = (0..8).map(|i| format!("slow{i}@example.com")).collect();
    for address in &addresses {
        first.signup(address, None).await;
    }
    sink.slow(Duration::from_millis(1000));
    for address in &addresses {
        assert_eq!(forgot(&first, address).await.status(), StatusCode::ACCEPTED);
    }
    let deadline = Instant::now() + Duration::from_secs(40);
    while sink.mails().len() < addresses.len() {
        assert!(
            Instant::now() < deadline,
            "only {} of {} arrived",
            sink.mails().len(),
            addresses.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Long enough for any claim to run out and a second copy to arrive.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let mails = sink.mails();
    let mut ids: Vec<String> = mails.iter().map(|m| m.header("Message-ID").unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), addresses.len());
    assert_eq!(mails.len(), addresses.len(), "a message was sent twice");
    drop(second);
}
