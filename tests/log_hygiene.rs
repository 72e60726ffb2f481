//! No password, hash, token or session id is ever written to the log (OWASP
//! ASVS 5.0 16.2.5). Runs every flow with logging at the most verbose level
//! and searches everything written for every secret used.

#[path = "api/common/mod.rs"]
mod common;

use common::*;
use reqwest::header;
use serde_json::{json, Value};
use std::{
    io::Write,
    sync::{Arc, Mutex},
};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asvs_16_2_5_no_secret_reaches_the_log_at_any_level() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber in this test binary");

    let app = TestApp::spawn_with(&[("GATEHOUSE_LOGIN_ATTEMPTS", "1000")]).await;
    let mut secrets: Vec<String> = vec![ADMIN_PASSWORD.into(), PASSWORD.into()];

    // Setup, signup, logins (good and bad), remember me.
    let admin = app.bare_client();
    let res = app
        .post_json(
            &admin,
            "/api/v1/auth/setup",
            &json!({ "username": ADMIN, "password": ADMIN_PASSWORD }),
        )
        .await;
    secrets.push(cookie_value(&set_cookie(&res, "gatehouse_session").unwrap()));
    app.signup("jane@example.com", Some("jane")).await;
    let wrong = "a wrong password that must not be logged";
    secrets.push(wrong.into());
    app.post_json(
        &app.bare_client(),
        "/api/v1/auth/login",
        &json!({ "username": "jane", "password": wrong }),
    )
    .await;
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/login",
            &json!({ "username": "jane", "password": PASSWORD, "remember": true }),
        )
        .await;
    let jane_cookie = cookie_value(&set_cookie(&res, "gatehouse_session").unwrap());
    secrets.push(jane_cookie.clone());

    // Tokens: issue, use, refresh, reuse, revoke.
    let pair: Value = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/token",
            &json!({ "username": "jane", "password": PASSWORD }),
        )
        .await
        .json()
        .await
        .unwrap();
    let access = pair["access_token"].as_str().unwrap().to_string();
    let refresh = pair["refresh_token"].as_str().unwrap().to_string();
    app.bare_client()
        .get(app.url("/api/v1/users/me"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    let next: Value = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/refresh",
            &json!({ "refresh_token": refresh }),
        )
        .await
        .json()
        .await
        .unwrap();
    app.post_json(
        &app.bare_client(),
        "/api/v1/auth/refresh",
        &json!({ "refresh_token": refresh }),
    )
    .await;
    app.bare_client()
        .get(app.url("/api/v1/users/me"))
        .bearer_auth("forged.token.value")
        .send()
        .await
        .unwrap();
    secrets.extend([access, refresh]);
    secrets.push(next["access_token"].as_str().unwrap().to_string());
    secrets.push(next["refresh_token"].as_str().unwrap().to_string());

    // Pages and server functions, with the cookie.
    let with_cookie = |path: &'static str| {
        let c = app.bare_client();
        let url = app.url(path);
        let cookie = format!("gatehouse_session={jane_cookie}");
        async move {
            c.get(url)
                .header(header::COOKIE, cookie)
                .header(header::ACCEPT, "text/html")
                .send()
                .await
                .unwrap()
        }
    };
    with_cookie("/dashboard").await;
    with_cookie("/account").await;
    let form_login = app
        .bare_client()
        .post(app.url("/fn/login"))
        .header(header::ACCEPT, "text/html")
        .form(&[
            ("username", "jane"),
            ("password", wrong),
            ("return_to", "/account"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(form_login.status(), reqwest::StatusCode::FOUND);

    // Password change and logout.
    let new_password = "a brand new passphrase, long";
    secrets.push(new_password.into());
    let res = app
        .bare_client()
        .post(app.url("/api/v1/users/me/password"))
        .header(header::COOKIE, format!("gatehouse_session={jane_cookie}"))
        .json(&json!({ "current_password": PASSWORD, "new_password": new_password }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    let rotated = cookie_value(&set_cookie(&res, "gatehouse_session").unwrap());
    secrets.push(rotated.clone());
    app.bare_client()
        .post(app.url("/api/v1/auth/logout"))
        .header(header::COOKIE, format!("gatehouse_session={rotated}"))
        .send()
        .await
        .unwrap();

    // The mail flows: every link's token, through the API, the pages (the
    // token in the query string) and the plain form posts.
    let sink = smtp::SmtpSink::start().await;
    let mail_app = TestApp::spawn_with_mail(&sink, &[]).await;
    let mail_admin = mail_app.setup_admin().await;
    mail_app.signup("mia@example.com", Some("mia")).await;
    let verify = sink
        .last_to("mia@example.com")
        .await
        .token("/verify-email")
        .unwrap();
    mail_app
        .get_page(&mail_app.bare_client(), &format!("/verify-email?token={verify}"))
        .await;
    mail_app
        .post_json(
            &mail_app.bare_client(),
            "/api/v1/auth/verify-email",
            &json!({ "token": verify }),
        )
        .await;
    mail_app
        .post_json(
            &mail_app.bare_client(),
            "/api/v1/auth/password/forgot",
            &json!({ "email": "mia@example.com" }),
        )
        .await;
    let mails = sink
        .wait_for("mia@example.com", 2, std::time::Duration::from_secs(10))
        .await;
    let reset = mails[1].token("/reset-password").unwrap();
    mail_app
        .get_page(&mail_app.bare_client(), &format!("/reset-password?token={reset}"))
        .await;
    // A plain form post whose error goes back to the page (token and all).
    let mismatch = mail_app
        .bare_client()
        .post(mail_app.url("/fn/reset_password"))
        .header(header::ACCEPT, "text/html")
        .form(&[
            ("token", reset.as_str()),
            ("new_password", "x"),
            ("new_password_confirmation", "y"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(mismatch.status(), reqwest::StatusCode::FOUND);
    let mia_password = "mia's reset passphrase 9";
    secrets.push(mia_password.into());
    mail_app
        .bare_client()
        .post(mail_app.url("/fn/reset_password"))
        .header(header::ACCEPT, "text/html")
        .form(&[
            ("token", reset.as_str()),
            ("new_password", mia_password),
            ("new_password_confirmation", mia_password),
        ])
        .send()
        .await
        .unwrap();
    let mia = mail_app.login("mia", mia_password).await;
    mail_app
        .post_json(
            &mia,
            "/api/v1/users/me/email",
            &json!({ "new_email": "mia@new.example", "current_password": mia_password }),
        )
        .await;
    let confirm = sink
        .last_to("mia@new.example")
        .await
        .token("/confirm-email")
        .unwrap();
    mail_app
        .get_page(
            &mail_app.bare_client(),
            &format!("/confirm-email?token={confirm}"),
        )
        .await;
    mail_app
        .post_json(
            &mail_app.bare_client(),
            "/api/v1/auth/confirm-email",
            &json!({ "token": confirm }),
        )
        .await;
    mail_app
        .post_json(
            &mail_admin,
            "/api/v1/admin/invitations",
            &json!({ "email": "nia@example.com" }),
        )
        .await;
    let invite = sink.last_to("nia@example.com").await.token("/invite").unwrap();
    mail_app
        .get_page(&mail_app.bare_client(), &format!("/invite?token={invite}"))
        .await;
    let res = mail_app
        .post_json(
            &mail_app.client(),
            "/api/v1/auth/invitations/accept",
            &json!({ "token": invite, "password": mia_password, "username": "nia" }),
        )
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::CREATED);
    for token in [verify, reset, confirm, invite] {
        assert!(token.len() >= 22);
        secrets.push(token);
    }
    stored_secrets(&mail_app, &mut secrets).await;

    // Second factors: the TOTP secret, the recovery codes, the pending
    // sign-in's token.
    let mia = mail_app.login("mia", mia_password).await;
    let enrol: Value = mail_app
        .post_json(&mia, "/api/v1/users/me/mfa/totp", &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let totp_secret = enrol["secret"].as_str().unwrap().to_string();
    let code = totp_code(&totp_secret);
    let codes: Value = mail_app
        .post_json(
            &mia,
            "/api/v1/users/me/mfa/totp/confirm",
            &json!({ "code": code }),
        )
        .await
        .json()
        .await
        .unwrap();
    let recovery: Vec<String> = serde_json::from_value(codes["recovery_codes"].clone()).unwrap();
    assert_eq!(recovery.len(), 10);
    let pending: Value = mail_app
        .post_json(
            &mail_app.bare_client(),
            "/api/v1/auth/token",
            &json!({ "username": "mia", "password": mia_password }),
        )
        .await
        .json()
        .await
        .unwrap();
    let mfa_token = pending["mfa_token"].as_str().unwrap().to_string();
    let res = mail_app
        .post_json(
            &mail_app.bare_client(),
            "/api/v1/auth/token/mfa",
            &json!({ "mfa_token": mfa_token, "recovery_code": recovery[0] }),
        )
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    secrets.push(totp_secret);
    secrets.push(mfa_token);
    secrets.extend(recovery.iter().map(|c| c.replace('-', "")));
    secrets.extend(recovery);

    stored_secrets(&app, &mut secrets).await;

    let log = String::from_utf8_lossy(&captured.0.lock().unwrap()).to_string();
    assert!(
        log.len() > 1000,
        "the flows were logged at all ({} bytes)",
        log.len()
    );
    assert!(log.contains("/api/v1/auth/login"), "requests are logged by path");
    assert!(
        log.contains("/api/v1/auth/password/forgot"),
        "mail flows are logged by path"
    );
    assert!(log.contains("mail sent"), "sending is logged");
    for secret in &secrets {
        assert!(secret.len() >= 8, "a meaningful secret: {secret:?}");
        assert!(
            !log.contains(secret.as_str()),
            "the log contains a secret: {secret:?}"
        );
    }
}

/// What the database holds that must not leak either: hashes, keys, session
/// ids, the hashes of mail links.
async fn stored_secrets(app: &TestApp, secrets: &mut Vec<String>) {
    let mut stored: Vec<String> = with_pool!(app, pool => {
        sqlx::query_scalar("SELECT password_hash FROM users")
            .fetch_all(pool)
            .await
            .unwrap()
    });
    stored.extend(with_pool!(app, pool => {
        sqlx::query_scalar::<_, String>("SELECT secret FROM signing_keys")
            .fetch_all(pool)
            .await
            .unwrap()
    }));
    stored.extend(with_pool!(app, pool => {
        sqlx::query_scalar::<_, String>("SELECT token_hash FROM refresh_tokens")
            .fetch_all(pool)
            .await
            .unwrap()
    }));
    // The session store's table: tower-sessions-sqlx-store's name for it.
    let store_table = match app.db() {
        gatehouse::server::db::Db::Sqlite(..) => "tower_sessions",
        gatehouse::server::db::Db::Postgres(_) => "tower_sessions.session",
    };
    let store_ids = format!("SELECT id FROM {store_table}");
    stored.extend(with_pool!(app, pool => {
        sqlx::query_scalar::<_, String>(&store_ids)
            .fetch_all(pool)
            .await
            .unwrap()
    }));
    stored.extend(with_pool!(app, pool => {
        sqlx::query_scalar::<_, String>("SELECT token_hash FROM email_tokens")
            .fetch_all(pool)
            .await
            .unwrap()
    }));
    for hash in &stored {
        // The salt+hash part of a PHC string is what matters.
        secrets.push(hash.rsplit('$').next().unwrap().to_string());
    }
}

/// The current TOTP code of a base32 secret (RFC 6238).
fn totp_code(secret_b32: &str) -> String {
    use hmac::{Hmac, Mac};
    let key = data_encoding::BASE32_NOPAD.decode(secret_b32.as_bytes()).unwrap();
    let step = (time::OffsetDateTime::now_utc().unix_timestamp() / 30) as u64;
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&key).unwrap();
    mac.update(&step.to_be_bytes());
    let d = mac.finalize().into_bytes();
    let o = (d[19] & 0x0f) as usize;
    let n = u32::from_be_bytes([d[o] & 0x7f, d[o + 1], d[o + 2], d[o + 3]]) % 1_000_000;
    format!("{n:06}")
}
