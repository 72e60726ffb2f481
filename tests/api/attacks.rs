//! Hardening III: the account-lifecycle and second-factor holes of issue 22,
//! each tried as an attacker would try it, and refused. One test per finding
//! (some findings have several parts); each ran against the code before its
//! fix and failed there.

use crate::common::{
    factors::{enable_totp, password_step, settle_step, totp},
    passkeys::{assert_with, finish, register},
    smtp::SmtpSink,
    *,
};
use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

const WAIT: Duration = Duration::from_secs(10);
/// 32 bytes, base64: a key for `GATEHOUSE_KEY_ENCRYPTION_KEY`.
const KEK: &str = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";

async fn verify_code(app: &TestApp, client: &reqwest::Client, body: Value) -> StatusCode {
    app.post_json(client, "/api/v1/auth/mfa/verify", &body)
        .await
        .status()
}

async fn delete(client: &reqwest::Client, url: String) -> reqwest::Response {
    client.delete(url).send().await.expect("request")
}

/// A server function called as a form post from our own page.
async fn server_fn(
    app: &TestApp,
    client: &reqwest::Client,
    name: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    client
        .post(app.url(&format!("/fn/{name}")))
        .header(header::ACCEPT, "text/html")
        .header(header::REFERER, app.url("/account"))
        .form(form)
        .send()
        .await
        .expect("request")
}

// ---- 1. Second-factor guesses lock the account on their own count ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn right_passwords_between_wrong_codes_do_not_reset_the_code_count() {
    settle_step(8).await;
    let app = TestApp::spawn_with(&[
        ("GATEHOUSE_LOGIN_ATTEMPTS", "1000"),
        ("GATEHOUSE_LOCKOUT_THRESHOLD", "4"),
    ])
    .await;
    app.setup_admin().await;
    app.signup("ada@example.com", Some("ada")).await;
    let ada = app.login("ada", PASSWORD).await;
    let (secret, _) = enable_totp(&app, &ada).await;

    // Whoever has the password: "password, three wrong codes", again and again.
    let mut refused = None;
    for round in 0..3 {
        let (pending, body) = password_step(&app, "ada", PASSWORD).await;
        assert_eq!(body["mfa_required"], json!(true));
        for guess in 0..3 {
            let status = verify_code(
                &app,
                &pending,
                json!({ "code": format!("{:06}", round * 10 + guess) }),
            )
            .await;
            if status == StatusCode::TOO_MANY_REQUESTS {
                refused = Some((round, guess));
                break;
            }
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
        if refused.is_some() {
            break;
        }
    }
    assert_eq!(
        refused,
        Some((1, 1)),
        "the fifth wrong code is refused: four were allowed across the password steps"
    );
    // The lock holds the right code out too, on the session and on the token endpoint.
    let (pending, _) = password_step(&app, "ada", PASSWORD).await;
    assert_eq!(
        verify_code(&app, &pending, json!({ "code": totp(&secret, 0) })).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let step = json_of(
        app.post_json(
            &app.bare_client(),
            "/api/v1/auth/token",
            &json!({ "username": "ada", "password": PASSWORD }),
        )
        .await,
    )
    .await;
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/token/mfa",
            &json!({ "mfa_token": step["mfa_token"], "code": totp(&secret, 0) }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key(header::RETRY_AFTER));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_endpoints_code_step_counts_on_the_same_key() {
    let app = TestApp::spawn_with(&[
        ("GATEHOUSE_LOGIN_ATTEMPTS", "1000"),
        ("GATEHOUSE_LOCKOUT_THRESHOLD", "3"),
    ])
    .await;
    app.setup_admin().await;
    app.signup("bea@example.com", Some("bea")).await;
    let bea = app.login("bea", PASSWORD).await;
    let (_secret, codes) = enable_totp(&app, &bea).await;
    let mut statuses = Vec::new();
    for round in 0..3 {
        let step = json_of(
            app.post_json(
                &app.bare_client(),
                "/api/v1/auth/token",
                &json!({ "username": "bea", "password": PASSWORD }),
            )
            .await,
        )
        .await;
        assert_eq!(step["mfa_required"], json!(true), "round {round}");
        for body in [
            json!({ "code": "123456" }),
            json!({ "recovery_code": "aaaaa-bbbbb" }),
        ] {
            let mut body = body;
            body["mfa_token"] = step["mfa_token"].clone();
            let res = app
                .post_json(&app.bare_client(), "/api/v1/auth/token/mfa", &body)
                .await;
            statuses.push(res.status().as_u16());
        }
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 429, 429, 429],
        "wrong codes and recovery codes count together"
    );
    // Even a right recovery code waits for the lock.
    let step = json_of(
        app.post_json(
            &app.bare_client(),
            "/api/v1/auth/token",
            &json!({ "username": "bea", "password": PASSWORD }),
        )
        .await,
    )
    .await;
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/token/mfa",
            &json!({ "mfa_token": step["mfa_token"], "recovery_code": codes[0] }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

// ---- 2. A reset (change, sign-out everywhere, disabling) ends what an intruder planted ----

/// The intruder, who has the password, starts an email change to their own
/// address; returns the confirmation token mailed to them.
async fn plant_email_change(app: &TestApp, sink: &SmtpSink, victim: &str) -> String {
    let intruder = app.login(victim, PASSWORD).await;
    let res = app
        .post_json(
            &intruder,
            "/api/v1/users/me/email",
            &json!({ "new_email": "intruder@evil.test", "current_password": PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let mails = sink.wait_for("intruder@evil.test", 1, WAIT).await;
    mails
        .last()
        .unwrap()
        .token("/confirm-email")
        .expect("a confirmation link")
}

/// "Forgot password", the link from the mail, and a new password with it.
async fn reset_by_mail(app: &TestApp, sink: &SmtpSink, address: &str, new_password: &str) {
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/password/forgot",
            &json!({ "email": address }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let reset = sink
        .wait_for_subject(address, "Reset your password", WAIT)
        .await
        .token("/reset-password")
        .expect("a reset link");
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/password/reset",
            &json!({ "token": reset, "new_password": new_password }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

async fn confirm(app: &TestApp, token: &str) -> StatusCode {
    app.post_json(
        &app.bare_client(),
        "/api/v1/auth/confirm-email",
        &json!({ "token": token }),
    )
    .await
    .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_or_a_change_ends_an_email_change_the_intruder_started() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with_mail(&sink, &[("GATEHOUSE_EMAIL_VERIFICATION", "off")]).await;
    let admin = app.setup_admin().await;
    let victim = app.signup("vic@example.com", Some("vic")).await;
    let victim_id = victim["id"].as_str().unwrap().to_string();

    // The victim resets the password with a mailed link.
    let token = plant_email_change(&app, &sink, "vic").await;
    reset_by_mail(&app, &sink, "vic@example.com", &(PASSWORD.to_uppercase() + " 2")).await;
    assert_eq!(
        confirm(&app, &token).await,
        StatusCode::BAD_REQUEST,
        "after a reset"
    );
    // The old password back, for the next rounds.
    let res = app
        .post_json(
            &app.login("vic", &(PASSWORD.to_uppercase() + " 2")).await,
            "/api/v1/users/me/password",
            &json!({ "current_password": PASSWORD.to_uppercase() + " 2", "new_password": PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    // A password change.
    let token = plant_email_change(&app, &sink, "vic").await;
    let owner = app.login("vic", PASSWORD).await;
    let res = app
        .post_json(
            &owner,
            "/api/v1/users/me/password",
            &json!({ "current_password": PASSWORD, "new_password": "another long passphrase 3" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        confirm(&app, &token).await,
        StatusCode::BAD_REQUEST,
        "after a change"
    );
    let res = app
        .post_json(
            &owner,
            "/api/v1/users/me/password",
            &json!({ "current_password": "another long passphrase 3", "new_password": PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    // "Sign out everywhere else" on /account.
    let token = plant_email_change(&app, &sink, "vic").await;
    let owner = app.login("vic", PASSWORD).await;
    let res = server_fn(&app, &owner, "revoke_other_sessions", &[]).await;
    assert!(
        res.status().is_redirection() || res.status().is_success(),
        "{}",
        res.status()
    );
    assert_eq!(
        confirm(&app, &token).await,
        StatusCode::BAD_REQUEST,
        "after signing out everywhere"
    );

    // An admin signs the user out everywhere.
    let token = plant_email_change(&app, &sink, "vic").await;
    let res = delete(
        &admin,
        app.url(&format!("/api/v1/admin/users/{victim_id}/sessions")),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        confirm(&app, &token).await,
        StatusCode::BAD_REQUEST,
        "after an admin's sign-out"
    );

    // An admin disables the account (and enables it again).
    let token = plant_email_change(&app, &sink, "vic").await;
    for disabled in [true, false] {
        let res = admin
            .patch(app.url(&format!("/api/v1/admin/users/{victim_id}")))
            .json(&json!({ "disabled": disabled }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert_eq!(
        confirm(&app, &token).await,
        StatusCode::BAD_REQUEST,
        "after disabling"
    );
    let me = json_of(
        app.get(&app.login("vic", PASSWORD).await, "/api/v1/users/me")
            .await,
    )
    .await;
    assert_eq!(
        me["email"],
        json!("vic@example.com"),
        "the account kept its address"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_factor_change_mails_a_notice_to_the_account() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with_mail(
        &sink,
        &[
            ("GATEHOUSE_EMAIL_VERIFICATION", "off"),
            ("GATEHOUSE_PUBLIC_URL", "{local_origin}"),
        ],
    )
    .await;
    app.setup_admin().await;
    app.signup("fay@example.com", Some("fay")).await;
    let fay = app.login("fay", PASSWORD).await;
    let subjects = |n: usize| {
        let sink = &sink;
        async move {
            sink.wait_for("fay@example.com", n, WAIT)
                .await
                .iter()
                .map(|m| m.subject())
                .collect::<Vec<_>>()
        }
    };
    enable_totp(&app, &fay).await;
    assert_eq!(
        subjects(1).await,
        ["An authenticator app was added to your account"]
    );
    let res = app
        .post_json(
            &fay,
            "/api/v1/users/me/mfa/recovery-codes",
            &json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        subjects(2).await[1],
        "New recovery codes were made for your account"
    );
    let mut authr = SoftPasskey::new(true);
    let passkey = register(&app, &fay, &mut authr, "Laptop").await;
    let mails = sink.wait_for("fay@example.com", 3, WAIT).await;
    assert_eq!(mails[2].subject(), "A passkey was added to your account");
    assert!(mails[2].decoded.contains("Laptop"), "names the passkey");
    assert!(mails[2].decoded.contains("/account"), "says where to remove it");
    let id = passkey["id"].as_str().unwrap();
    let res = delete(&fay, app.url(&format!("/api/v1/users/me/passkeys/{id}"))).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(subjects(4).await[3], "A passkey was removed from your account");
    let res = fay
        .delete(app.url("/api/v1/users/me/mfa/totp"))
        .json(&json!({ "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        subjects(5).await[4],
        "The authenticator app was removed from your account"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_reset_the_owner_sees_the_factors_and_removes_them_in_one_step() {
    settle_step(10).await;
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with_mail(
        &sink,
        &[
            ("GATEHOUSE_EMAIL_VERIFICATION", "off"),
            ("GATEHOUSE_PUBLIC_URL", "{local_origin}"),
        ],
    )
    .await;
    app.setup_admin().await;
    app.signup("gus@example.com", Some("gus")).await;
    // An intruder with the password adds an authenticator app and a passkey.
    let intruder = app.login("gus", PASSWORD).await;
    let (secret, _) = enable_totp(&app, &intruder).await;
    let mut authr = SoftPasskey::new(true);
    register(&app, &intruder, &mut authr, "Not mine").await;

    // Gus resets the password.
    reset_by_mail(&app, &sink, "gus@example.com", "gus's own new passphrase").await;
    // The notice lists what can sign in to the account.
    let notice = sink
        .wait_for_subject("gus@example.com", "Your password was changed", WAIT)
        .await;
    assert!(
        notice.decoded.contains("authenticator app") && notice.decoded.contains("Not mine"),
        "the notice names the factors: {}",
        notice.decoded
    );

    // Gus signs in (the recovery codes were the intruder's: Gus uses the
    // app he took back, here the same secret), and /account asks him to
    // review the factors, with one button that removes them all.
    // The intruder signs straight back in with the planted passkey: a
    // passkey needs no password.
    let intruder = app.client();
    let gus_id: String = with_pool!(app, pool => sqlx::query_scalar("SELECT id FROM users WHERE username = 'gus'")
        .fetch_one(pool).await.unwrap());
    passkey_sign_in(&app, &intruder, &mut authr, &gus_id).await;
    assert_eq!(app.whoami(&intruder).await["user"]["username"], json!("gus"));
    // And cannot make the review go away without the new password.
    let res = app
        .post_json(
            &intruder,
            "/api/v1/users/me/mfa/reviewed",
            &json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    let (gus, _) = password_step(&app, "gus", "gus's own new passphrase").await;
    assert_eq!(
        verify_code(&app, &gus, json!({ "code": totp(&secret, 1) })).await,
        StatusCode::OK
    );
    let status = json_of(app.get(&gus, "/api/v1/users/me/mfa").await).await;
    assert_eq!(status["review_after_reset"], json!(true));
    let page = app.get_page(&gus, "/account").await.text().await.unwrap();
    assert!(page.contains("Your password was reset"), "the review notice");
    assert!(page.contains("Not mine"), "the passkey is listed");
    assert!(
        page.contains("Remove every second factor"),
        "the one-step removal"
    );

    let res = gus
        .delete(app.url("/api/v1/users/me/mfa"))
        .json(&json!({ "password": "gus's own new passphrase" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let status = json_of(app.get(&gus, "/api/v1/users/me/mfa").await).await;
    assert_eq!(
        status,
        json!({ "totp": false, "passkeys": 0, "recovery_codes_left": 0, "review_after_reset": false })
    );
    // Removing them ended the intruder's passkey session too.
    assert_eq!(app.whoami(&intruder).await["authenticated"], json!(false));
    assert_eq!(app.whoami(&gus).await["user"]["username"], json!("gus"));
    let (_, body) = password_step(&app, "gus", "gus's own new passphrase").await;
    assert_eq!(body["ok"], json!(true), "a password is enough again");
}

/// A passwordless sign-in with `authr`'s passkey of user `user_id`. The soft
/// authenticator cannot discover, so this plays the browser's part: it names
/// the credential and fills in the user handle.
async fn passkey_sign_in(app: &TestApp, client: &reqwest::Client, authr: &mut SoftPasskey, user_id: &str) {
    use webauthn_authenticator_rs::WebauthnAuthenticator;
    let start = json_of(
        app.post_json(client, "/api/v1/auth/passkey/start", &json!({}))
            .await,
    )
    .await;
    let cred_id: String = with_pool!(app, pool => sqlx::query_scalar("SELECT credential_id FROM passkeys WHERE user_id = $1")
        .bind(user_id).fetch_one(pool).await.unwrap());
    let mut options = start["publicKey"].clone();
    options["allowCredentials"] = json!([{ "type": "public-key", "id": cred_id }]);
    let rcr: webauthn_rs_proto::RequestChallengeResponse =
        serde_json::from_value(json!({ "publicKey": options })).unwrap();
    let mut assertion = authr
        .do_authentication(crate::common::passkeys::origin_of(app), rcr)
        .expect("authentication");
    assertion.response.user_handle = Some(uuid::Uuid::parse_str(user_id).unwrap().as_bytes().to_vec());
    let res = finish(
        app,
        client,
        start["ceremony"].as_str().unwrap(),
        &serde_json::to_value(assertion).unwrap(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_reset_ends_what_an_intruder_planted_too() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with_mail(&sink, &[("GATEHOUSE_EMAIL_VERIFICATION", "off")]).await;
    app.setup_admin().await;
    app.signup("cli@example.com", Some("clio")).await;
    let token = plant_email_change(&app, &sink, "clio").await;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["reset-password", "--username", "clio"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .env("DATABASE_URL", &app.database_url)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"an operator's new passphrase\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(confirm(&app, &token).await, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_removals_at_once_cannot_leave_the_account_without_a_factor_unasked() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    app.signup("ray@example.com", Some("ray")).await;
    let ray = app.login("ray", PASSWORD).await;
    let mut authr = SoftPasskey::new(true);
    let one = register(&app, &ray, &mut authr, "One").await;
    let two = register(&app, &ray, &mut authr, "Two").await;
    let url = |p: &Value| {
        app.url(&format!(
            "/api/v1/users/me/passkeys/{}",
            p["id"].as_str().unwrap()
        ))
    };
    let (a, b) = tokio::join!(delete(&ray, url(&one)), delete(&ray, url(&two)));
    let statuses = [a.status(), b.status()];
    assert!(
        statuses.contains(&StatusCode::UNAUTHORIZED),
        "one of them was the last factor: {statuses:?}"
    );
    let left = json_of(app.get(&ray, "/api/v1/users/me/mfa").await).await["passkeys"].clone();
    assert_eq!(left, json!(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_stored_under_its_plain_id_is_moved_not_lost() {
    // What an instance of the previous version writes during a rolling upgrade.
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let cookie = app.login_cookie(ADMIN, ADMIN_PASSWORD).await;
    let key = gatehouse::server::db::record_key(&cookie);
    let table = if app.database_url.starts_with("postgres") {
        "tower_sessions.session"
    } else {
        "tower_sessions"
    };
    with_pool!(app, pool => sqlx::query(&format!("UPDATE {table} SET id = $1 WHERE id = $2"))
        .bind(&cookie).bind(&key).execute(pool).await.map(|_| ()).unwrap());
    with_pool!(app, pool => sqlx::query("UPDATE user_sessions SET record_id = NULL")
        .execute(pool).await.map(|_| ()).unwrap());
    let res = app
        .bare_client()
        .get(app.url("/api/v1/auth/session"))
        .header(header::COOKIE, format!("gatehouse_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(res).await["authenticated"],
        json!(true),
        "still signed in"
    );
    let ids: Vec<String> = with_pool!(app, pool => sqlx::query_scalar(&format!("SELECT id FROM {table}"))
        .fetch_all(pool).await.unwrap());
    assert!(
        ids.contains(&key) && !ids.contains(&cookie),
        "moved to its hashed key: {ids:?}"
    );
}

// ---- 3. Metric labels are bounded ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attacker_chosen_paths_and_methods_never_become_metric_series() {
    let app = TestApp::spawn_with(&[("GATEHOUSE_METRICS_ADDR", "127.0.0.1:0")]).await;
    let admin = app.setup_admin().await;
    let scrape = || async {
        let addr = app.metrics_addr.expect("metrics are on");
        reqwest::get(format!("http://{addr}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let series = |text: &str| -> std::collections::BTreeSet<String> {
        text.lines()
            .filter(|l| l.starts_with("gatehouse_http_"))
            .filter_map(|l| l.rsplit_once(' ').map(|(k, _)| k.to_string()))
            .collect()
    };
    let shapes = |i: usize| -> Vec<(reqwest::Method, String)> {
        let tag = format!("x{i:04}z{}", "q".repeat(i % 23));
        vec![
            (reqwest::Method::GET, format!("/{tag}")),
            (reqwest::Method::GET, format!("/pkg/{tag}.js")),
            (reqwest::Method::POST, format!("/api/v1/admin/users/{tag}/unlock")),
            (reqwest::Method::DELETE, format!("/api/v1/auth/sessions/{tag}")),
            (reqwest::Method::PATCH, format!("/api/v1/users/me/passkeys/{tag}")),
            (reqwest::Method::GET, format!("/api/v1/{tag}/x")),
            (reqwest::Method::POST, format!("/fn/{tag}")),
            (reqwest::Method::GET, format!("/admin/{tag}")),
            (
                reqwest::Method::from_bytes(format!("M{i}").as_bytes()).unwrap(),
                "/health".to_string(),
            ),
            (
                reqwest::Method::from_bytes(format!("N{i}").as_bytes()).unwrap(),
                format!("/{tag}"),
            ),
        ]
    };
    let send = |method: reqwest::Method, path: String| {
        let (admin, url) = (admin.clone(), app.url(&path));
        async move {
            admin
                .request(method, url)
                .header(header::ACCEPT, "text/html")
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // Every shape once, so the series they map to exist.
    for (method, path) in shapes(0) {
        send(method, path).await;
    }
    let before = series(&scrape().await);
    for i in 1..=40 {
        for (method, path) in shapes(i) {
            send(method, path).await;
        }
    }
    let after = series(&scrape().await);
    let new: Vec<_> = after.difference(&before).collect();
    assert!(
        new.is_empty(),
        "400 requests to made-up paths added series: {new:#?}"
    );
    assert!(
        after
            .iter()
            .any(|s| s.contains("route=\"/api/v1/admin/users/{id}/unlock\"")),
        "matched routes are labelled with their template: {after:#?}"
    );
    assert!(after.iter().any(|s| s.contains("route=\"unmatched\"")));
}

// ---- 4. Secrets at rest ----

#[cfg(unix)]
fn mode_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_only_the_database_and_its_backups_are_readable_by_their_owner_only() {
    require_engine(Engine::Sqlite);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fresh.db");
    // A fresh database made by the server.
    let app = TestApp::spawn_on(&db, &[]).await;
    app.setup_admin().await;
    for file in ["fresh.db", "fresh.db-wal", "fresh.db-shm"] {
        assert_eq!(mode_of(&dir.path().join(file)), 0o600, "{file}");
    }
    // A backup taken by the command.
    let target = dir.path().join("copy.db");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["backup", target.to_str().unwrap()])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .env("DATABASE_URL", format!("sqlite://{}?mode=rwc", db.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(mode_of(&target), 0o600, "the backup");
}

/// Every text value stored in the database, for looking for secrets in it.
async fn all_stored_text(app: &TestApp) -> String {
    let tables: Vec<String> = with_pool!(app, pool => {
        let sql = if app.database_url.starts_with("postgres") {
            "SELECT format('%I.%I', table_schema, table_name) FROM information_schema.tables \
             WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        } else {
            "SELECT name FROM sqlite_master WHERE type = 'table'"
        };
        sqlx::query_scalar(sql).fetch_all(pool).await.unwrap()
    });
    let mut all = String::new();
    for table in tables {
        let sql = if app.database_url.starts_with("postgres") {
            format!("SELECT CAST(t AS TEXT) FROM {table} AS t")
        } else {
            // Every column as text, row by row.
            let cols: Vec<String> = with_pool!(app, pool => sqlx::query_scalar(&format!(
                "SELECT name FROM pragma_table_info('{table}')"
            )).fetch_all(pool).await.unwrap());
            let parts: Vec<String> = cols
                .iter()
                .map(|c| {
                    format!(
                        "COALESCE(CASE typeof(\"{c}\") WHEN 'blob' THEN hex(\"{c}\") \
                         ELSE CAST(\"{c}\" AS TEXT) || '|' || hex(\"{c}\") END, '')"
                    )
                })
                .collect();
            format!("SELECT {} FROM \"{table}\"", parts.join(" || '|' || "))
        };
        let rows: Vec<Option<String>> =
            with_pool!(app, pool => sqlx::query_scalar(&sql).fetch_all(pool).await.unwrap());
        for row in rows.into_iter().flatten() {
            all.push_str(&row);
            all.push('\n');
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copied_database_holds_no_live_session_id() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let client = app.bare_client();
    let res = app
        .post_json(
            &client,
            "/api/v1/auth/login",
            &json!({ "username": ADMIN, "password": ADMIN_PASSWORD, "remember": true }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = cookie_value(&set_cookie(&res, "gatehouse_session").expect("a session cookie"));
    // The cookie works.
    let me = client
        .get(app.url("/api/v1/users/me"))
        .header(header::COOKIE, format!("gatehouse_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let stored = all_stored_text(&app).await;
    assert!(
        !stored.contains(&cookie) && !stored.to_lowercase().contains(&cookie.to_lowercase()),
        "the session id is stored as it is in the cookie"
    );
    // Not in hex either (SQLite's BLOBs above are hex).
    let hex_cookie: String = cookie.bytes().map(|b| format!("{b:02X}")).collect();
    assert!(!stored.contains(&hex_cookie));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totp_secrets_are_encrypted_with_the_key_encryption_key() {
    settle_step(10).await;
    let app = TestApp::spawn_with(&[("GATEHOUSE_KEY_ENCRYPTION_KEY", KEK)]).await;
    app.setup_admin().await;
    app.signup("ivy@example.com", Some("ivy")).await;
    let ivy = app.login("ivy", PASSWORD).await;
    let (secret, _) = enable_totp(&app, &ivy).await;
    let stored: String = with_pool!(app, pool => sqlx::query_scalar("SELECT secret FROM totp_secrets")
        .fetch_one(pool).await.unwrap());
    assert!(!stored.contains(&secret), "stored in the clear: {stored}");
    assert!(!all_stored_text(&app).await.contains(&secret));
    // It still works, also on another instance with the key.
    let other = app.restart().await;
    let (pending, _) = password_step(&other, "ivy", PASSWORD).await;
    assert_eq!(
        verify_code(&other, &pending, json!({ "code": totp(&secret, 1) })).await,
        StatusCode::OK
    );
    // An instance with another key, or none, does not start: a clear error
    // naming the variable, never a sign-in with a secret it cannot read.
    for key in [Some("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="), None] {
        let mut vars: std::collections::HashMap<&str, &str> = [("DATABASE_URL", app.database_url.as_str())]
            .into_iter()
            .collect();
        if let Some(key) = key {
            vars.insert("GATEHOUSE_KEY_ENCRYPTION_KEY", key);
        }
        let config = gatehouse::server::config::Config::from_map(&vars).expect("a valid configuration");
        let opened = gatehouse::server::AppState::open(config, leptos_options()).await;
        let error = opened.err().expect("refused to start").to_string();
        assert!(error.contains("GATEHOUSE_KEY_ENCRYPTION_KEY"), "{error}");
    }
}

// ---- 5. Nobody squats someone else's address as a username ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_username_that_is_someone_elses_address_is_refused() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with_mail(&sink, &[]).await;
    let admin = app.setup_admin().await;
    // Signup: another address as the username.
    let res = app
        .post_json(
            &app.client(),
            "/api/v1/auth/signup",
            &json!({ "email": "mallory@evil.test", "username": "carol@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let error = json_of(res).await["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(error.contains("own email address"), "says why: {error}");
    // One's own address (any case) is fine.
    let res = app
        .post_json(
            &app.client(),
            "/api/v1/auth/signup",
            &json!({ "email": "dan@example.com", "username": "DAN@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // Admin-created accounts and invitations alike.
    let res = app
        .post_json(
            &admin,
            "/api/v1/admin/users",
            &json!({ "username": "carol@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = app
        .post_json(
            &admin,
            "/api/v1/admin/invitations",
            &json!({ "email": "eve@example.com" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let token = sink.last_to("eve@example.com").await.token("/invite").unwrap();
    let res = app
        .post_json(
            &app.client(),
            "/api/v1/auth/invitations/accept",
            &json!({ "token": token, "password": PASSWORD, "username": "carol@example.com" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // So Carol's own signup is not blocked.
    let res = app
        .post_json(
            &app.client(),
            "/api/v1/auth/signup",
            &json!({ "email": "carol@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

// ---- 6. The email-change endpoint is no unthrottled existence check ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_email_change_endpoint_is_limited_before_it_says_taken() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with_mail(
        &sink,
        &[
            ("GATEHOUSE_SIGNUP_LIMIT", "3"),
            ("GATEHOUSE_EMAIL_VERIFICATION", "off"),
        ],
    )
    .await;
    app.setup_admin().await;
    app.signup("hal@example.com", Some("hal")).await;
    let hal = app.login("hal", PASSWORD).await;
    let mut statuses = Vec::new();
    for i in 0..5 {
        // Probing which addresses have accounts: taken, free, taken ...
        let probe = if i % 2 == 0 {
            "admin@example.com".to_string()
        } else {
            format!("free{i}@example.com")
        };
        let res = app
            .post_json(
                &hal,
                "/api/v1/users/me/email",
                &json!({ "new_email": probe, "current_password": PASSWORD }),
            )
            .await;
        statuses.push(res.status().as_u16());
    }
    // One signup was made from this address already: two more probes, then 429.
    assert_eq!(statuses, [409, 202, 429, 429, 429]);
}

// ---- 7. Forgot-password takes as long for an address with no account ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgot_password_takes_as_long_for_unknown_addresses() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with_mail(
        &sink,
        &[
            ("GATEHOUSE_SIGNUP_LIMIT", "100000"),
            ("GATEHOUSE_EMAIL_VERIFICATION", "off"),
        ],
    )
    .await;
    app.setup_admin().await;
    // Five requests per address and hour are allowed: eight accounts give forty.
    for i in 0..8 {
        app.signup(&format!("known{i}@example.com"), None).await;
    }
    let client = app.bare_client();
    let time = |email: String| {
        let (client, url) = (client.clone(), app.url("/api/v1/auth/password/forgot"));
        async move {
            let started = Instant::now();
            let res = client
                .post(url)
                .json(&json!({ "email": email }))
                .send()
                .await
                .unwrap();
            let took = started.elapsed();
            assert_eq!(res.status(), StatusCode::ACCEPTED);
            took.as_secs_f64() * 1000.0
        }
    };
    // Warm up both paths.
    for i in 0..5 {
        time(format!("warm{i}@example.com")).await;
    }
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..40 {
        known.push(time(format!("known{}@example.com", i % 8)).await);
        tokio::time::sleep(Duration::from_millis(25)).await;
        unknown.push(time(format!("nobody{i}@example.com")).await);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let quantile = |v: &mut Vec<f64>, q: f64| {
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * q) as usize]
    };
    // Mann-Whitney U: how often a known address's answer took longer than an
    // unknown one's (0.5 for one distribution; 1.0 when every one did).
    let mut wins = 0.0;
    for k in &known {
        for u in &unknown {
            wins += if k > u {
                1.0
            } else if k == u {
                0.5
            } else {
                0.0
            };
        }
    }
    let auc = wins / (known.len() * unknown.len()) as f64;
    let (qk, qu) = (quantile(&mut known, 0.5), quantile(&mut unknown, 0.5));
    assert!(
        (0.25..=0.75).contains(&auc),
        "the answer time tells whether an address has an account: known median {qk:.2} ms, unknown {qu:.2} ms, P(known slower) = {auc:.2}"
    );
    // And the mail still goes out.
    sink.wait_for("known0@example.com", 1, WAIT).await;
}

// ---- 8. Verification reminders count against the address's mail limit ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_reminders_count_against_the_address_limit() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with_mail(
        &sink,
        &[
            ("GATEHOUSE_EMAIL_VERIFICATION", "required"),
            ("GATEHOUSE_SIGNUP_LIMIT", "1000"),
        ],
    )
    .await;
    app.setup_admin().await;
    app.signup("ned@example.com", Some("ned")).await;
    sink.wait_for("ned@example.com", 1, WAIT).await;
    // Five reset mails: the address's five this hour.
    for _ in 0..5 {
        let res = app
            .post_json(
                &app.bare_client(),
                "/api/v1/auth/password/forgot",
                &json!({ "email": "ned@example.com" }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    }
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/password/forgot",
            &json!({ "email": "ned@example.com" }),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the address's five are spent"
    );
    sink.wait_for("ned@example.com", 6, WAIT).await;
    // Every sign-in attempt with the right password would mail a reminder
    // (one per five minutes): age the last link past that, then sign in.
    for _ in 0..3 {
        with_pool!(app, pool => sqlx::query("UPDATE email_tokens SET created_at = created_at - 600")
            .execute(pool).await.map(|_| ()).unwrap());
        let res = app
            .post_json(
                &app.bare_client(),
                "/api/v1/auth/login",
                &json!({ "username": "ned", "password": PASSWORD }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(json_of(res).await["error"], json!("email not verified"));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let queued: i64 = with_pool!(app, pool => sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE recipient = 'ned@example.com'")
        .fetch_one(pool).await.unwrap());
    assert_eq!(
        sink.mails_to("ned@example.com").len(),
        6,
        "no reminder past the limit"
    );
    assert_eq!(queued, 6);
}

// ---- 9. A passkey-only account never falls back to the password alone ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passkey_only_account_is_refused_where_passkeys_cannot_work() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    app.signup("pat@example.com", Some("pat")).await;
    let pat = app.login("pat", PASSWORD).await;
    let mut authr = SoftPasskey::new(true);
    register(&app, &pat, &mut authr, "Key").await;
    // The same database behind a public URL with an IP address: no passkeys there.
    let other = app
        .restart_with(&[("GATEHOUSE_PUBLIC_URL", "http://127.0.0.1:9")])
        .await;
    let client = other.client();
    let res = client
        .post(other.url("/api/v1/auth/login"))
        .header(header::HOST, "127.0.0.1:9")
        .json(&json!({ "username": "pat", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let body = json_of(res).await;
    assert!(
        body["error"].as_str().unwrap().contains("passkey"),
        "says why: {body}"
    );
    let session = client
        .get(other.url("/api/v1/auth/session"))
        .header(header::HOST, "127.0.0.1:9")
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(session).await["authenticated"], json!(false));
    let res = client
        .post(other.url("/api/v1/auth/token"))
        .header(header::HOST, "127.0.0.1:9")
        .json(&json!({ "username": "pat", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(json_of(res).await.get("access_token").is_none());
}

// ---- 10. The refresh token stays out of browser JavaScript's reach ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_clients_get_the_refresh_token_only_as_a_cookie() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let login = json!({ "username": ADMIN, "password": ADMIN_PASSWORD });
    // A page's JavaScript (it sends an Origin).
    let browser = app.client();
    let res = browser
        .post(app.url("/api/v1/auth/token"))
        .header("origin", app.origin())
        .json(&login)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(set_cookie(&res, "gatehouse_refresh").is_some(), "the cookie");
    let body = json_of(res).await;
    assert!(body["access_token"].is_string());
    assert!(body.get("refresh_token").is_none(), "not in the body: {body}");
    // A refresh through the cookie: the next one only in the cookie too.
    let res = browser
        .post(app.url("/api/v1/auth/refresh"))
        .header("origin", app.origin())
        .header(header::CONTENT_TYPE, "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(set_cookie(&res, "gatehouse_refresh").is_some());
    assert!(json_of(res).await.get("refresh_token").is_none());
    // Even a cookie refresh without an Origin (a same-origin GET-less fetch).
    let res = browser
        .post(app.url("/api/v1/auth/refresh"))
        .header(header::CONTENT_TYPE, "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(json_of(res).await.get("refresh_token").is_none());

    // A non-browser client (no Origin, no cookie) keeps the body.
    let res = app
        .post_json(&app.bare_client(), "/api/v1/auth/token", &login)
        .await;
    let pair = json_of(res).await;
    let refresh = pair["refresh_token"].as_str().expect("in the body").to_string();
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/refresh",
            &json!({ "refresh_token": refresh }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(json_of(res).await["refresh_token"].is_string());
}

// ---- 11. The smaller ones ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passkey_ceremonies_are_limited_per_client() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let client = app.bare_client();
    let mut statuses = std::collections::BTreeMap::new();
    for _ in 0..150 {
        let res = app
            .post_json(&client, "/api/v1/auth/passkey/start", &json!({}))
            .await;
        *statuses.entry(res.status().as_u16()).or_insert(0) += 1;
    }
    assert!(statuses.get(&429).copied().unwrap_or(0) > 0, "{statuses:?}");
    let rows: i64 = with_pool!(app, pool => sqlx::query_scalar("SELECT COUNT(*) FROM auth_challenges")
        .fetch_one(pool).await.unwrap());
    assert!(rows <= 120, "{rows} ceremonies stored for one client");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_links_go_to_the_stored_address_not_the_typed_one() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with_mail(&sink, &[("GATEHOUSE_EMAIL_VERIFICATION", "off")]).await;
    app.setup_admin().await;
    app.signup("rae@example.com", Some("rae")).await;
    // The same account by its key, but another mailbox for a server that
    // tells case apart.
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/password/forgot",
            &json!({ "email": "RAE@Example.COM" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let mail = sink.last_to("rae@example.com").await;
    assert_eq!(
        mail.to,
        vec!["rae@example.com".to_string()],
        "the stored address, exactly"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reauthentication_asks_for_the_second_factor_too() {
    settle_step(8).await;
    let app = TestApp::spawn_with(&[("GATEHOUSE_LOGIN_ATTEMPTS", "100")]).await;
    app.setup_admin().await;
    app.signup("uma@example.com", Some("uma")).await;
    let uma = app.login("uma", PASSWORD).await;
    let (secret, _) = enable_totp(&app, &uma).await;
    let reauth = |body: Value| {
        let (app, uma) = (&app, &uma);
        async move {
            app.post_json(uma, "/api/v1/auth/reauthenticate", &body)
                .await
                .status()
        }
    };
    assert_eq!(
        reauth(json!({ "password": PASSWORD })).await,
        StatusCode::BAD_REQUEST,
        "the password alone is not enough"
    );
    assert_eq!(
        reauth(json!({ "code": totp(&secret, 0) })).await,
        StatusCode::BAD_REQUEST,
        "nor the code alone"
    );
    assert_eq!(
        reauth(json!({ "password": PASSWORD, "code": totp(&secret, 1) })).await,
        StatusCode::OK
    );
    // The page asks for both.
    let page = app
        .get_page(&uma, "/reauth?return=%2Faccount")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("name=\"password\"") && page.contains("name=\"code\""));
    assert!(!page.contains("Or a code"), "not one or the other");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_the_last_second_factor_asks_for_the_password() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    app.signup("val@example.com", Some("val")).await;
    let val = app.login("val", PASSWORD).await;
    let mut authr = SoftPasskey::new(true);
    let first = register(&app, &val, &mut authr, "One").await;
    let second = register(&app, &val, &mut authr, "Two").await;
    // Not the last one: as before.
    let res = delete(
        &val,
        app.url(&format!(
            "/api/v1/users/me/passkeys/{}",
            first["id"].as_str().unwrap()
        )),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // The last one: a stolen session alone cannot turn the second factor off.
    let last = app.url(&format!(
        "/api/v1/users/me/passkeys/{}",
        second["id"].as_str().unwrap()
    ));
    let res = delete(&val, last.clone()).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        json_of(res).await["error"],
        json!("enter your password to remove your last second factor")
    );
    let res = val
        .delete(last.clone())
        .json(&json!({ "password": "not it at all" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = val
        .delete(last)
        .json(&json!({ "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_ceremonies_of_one_credential_cannot_accept_a_counter_that_went_back() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    app.signup("wes@example.com", Some("wes")).await;
    let wes = app.login("wes", PASSWORD).await;
    let mut authr = SoftPasskey::new(true);
    register(&app, &wes, &mut authr, "Key").await;
    // Two ceremonies started side by side (two tabs, or a cloned key racing
    // the real one): the assertion with counter 1 is sent last.
    let (first_ceremony, first) = assert_with(&app, &wes, &mut authr, json!({ "reauth": true })).await;
    let (second_ceremony, second) = assert_with(&app, &wes, &mut authr, json!({ "reauth": true })).await;
    assert_eq!(
        finish(&app, &wes, &second_ceremony, &second).await.status(),
        StatusCode::OK
    );
    let res = finish(&app, &wes, &first_ceremony, &first).await;
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "a counter lower than the one stored is refused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_codes_are_stored_salted() {
    use sha2::{Digest, Sha256};
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    app.signup("xia@example.com", Some("xia")).await;
    let xia = app.login("xia", PASSWORD).await;
    let (_secret, codes) = enable_totp(&app, &xia).await;
    let stored: Vec<String> = with_pool!(app, pool => sqlx::query_scalar("SELECT code_hash FROM recovery_codes")
        .fetch_all(pool).await.unwrap());
    assert_eq!(stored.len(), 10);
    for code in &codes {
        let plain: String = code.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        let unsalted = hex::encode(Sha256::digest(plain.as_bytes()));
        assert!(
            !stored.iter().any(|s| s.contains(&unsalted)),
            "an unsalted hash: one table cracks every account's codes"
        );
    }
    // Each code still works once.
    let (pending, _) = password_step(&app, "xia", PASSWORD).await;
    assert_eq!(
        verify_code(
            &app,
            &pending,
            json!({ "recovery_code": codes[3].to_uppercase() })
        )
        .await,
        StatusCode::OK
    );
    let (pending, _) = password_step(&app, "xia", PASSWORD).await;
    assert_eq!(
        verify_code(&app, &pending, json!({ "recovery_code": codes[3] })).await,
        StatusCode::UNAUTHORIZED
    );
}

// ---- 12. A guess that never finished does not lock the account for good ----

/// The guess that reaches the lockout threshold is counted before it is
/// checked; if its request is dropped (the client went away, the request
/// timed out) it never locks the account either. The next attempt must then
/// lock it for the usual time, not refuse every attempt from then on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_guess_at_the_threshold_ends_in_a_lock_that_ends() {
    let app = TestApp::spawn_with(&[
        ("GATEHOUSE_LOGIN_ATTEMPTS", "1000"),
        ("GATEHOUSE_LOCKOUT_THRESHOLD", "3"),
        ("GATEHOUSE_LOCKOUT_SECONDS", "1"),
    ])
    .await;
    app.setup_admin().await;
    app.signup("ada@example.com", Some("ada")).await;
    let login = |password: &'static str| {
        let app = &app;
        async move {
            app.post_json(
                &app.bare_client(),
                "/api/v1/auth/login",
                &json!({ "username": "ada", "password": password }),
            )
            .await
            .status()
        }
    };
    for _ in 0..2 {
        assert_eq!(login("wrong password one").await, StatusCode::UNAUTHORIZED);
    }
    // The third guess was counted, and its request was lost before its
    // password was judged: the account's row as that leaves it.
    gatehouse::on_pool!(app.db(), pool => sqlx::query("UPDATE lockouts SET failures = failures + 1 WHERE failures = 2")
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
    .map(|n| assert_eq!(n, 1, "one account row with two failures"))
    .unwrap();

    assert_eq!(
        login(PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "the threshold is reached"
    );
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(
        login(PASSWORD).await,
        StatusCode::OK,
        "after the lockout's time the right password signs in"
    );
}
