//! Second factors and passkeys through the JSON API: TOTP (codes computed
//! here, independently of the server), recovery codes, the second step of a
//! sign-in (session and token endpoint), re-authentication, the policy,
//! admin reset, and passkeys with a software authenticator.

use crate::common::{factors::*, *};
use reqwest::{header, StatusCode};
use serde_json::{json, Value};

async fn verify(app: &TestApp, client: &reqwest::Client, body: Value) -> reqwest::Response {
    app.post_json(client, "/api/v1/auth/mfa/verify", &body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totp_protects_the_sign_in_and_each_code_works_once() {
    settle_step(8).await;
    let app = TestApp::spawn_with(&[("GATEHOUSE_LOGIN_ATTEMPTS", "100")]).await;
    let admin = app.setup_admin().await;
    app.signup("tia@example.com", Some("tia")).await;
    let tia = app.login("tia", PASSWORD).await;
    let (secret, _codes) = enable_totp(&app, &tia).await;
    let status = json_of(app.get(&tia, "/api/v1/users/me/mfa").await).await;
    assert_eq!(
        status,
        json!({ "totp": true, "passkeys": 0, "recovery_codes_left": 10, "review_after_reset": false })
    );

    // The password alone reaches nothing.
    let (pending, body) = password_step(&app, "tia", PASSWORD).await;
    assert_eq!(
        body,
        json!({ "ok": false, "mfa_required": true, "methods": ["totp", "recovery"] })
    );
    assert_eq!(app.whoami(&pending).await["authenticated"], json!(false));
    assert_eq!(
        app.get(&pending, "/api/v1/users/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let page = app.get_page(&pending, "/dashboard").await;
    assert_eq!(page.status(), StatusCode::FOUND);
    assert!(location(&page).starts_with("/login?return="));
    // A wrong password still answers the generic 401.
    let res = app
        .post_json(
            &app.client(),
            "/api/v1/auth/login",
            &json!({ "username": "tia", "password": "wrong wrong" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // The code enrolment accepted is spent: replaying it fails.
    let used = totp(&secret, 0);
    let res = verify(&app, &pending, json!({ "code": used })).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json_of(res).await, json!({ "error": "invalid code" }));
    // The next step's code (one step of drift) signs in, with a new session id.
    let before = app.whoami(&pending).await;
    assert_eq!(before["authenticated"], json!(false));
    let res = verify(&app, &pending, json!({ "code": totp(&secret, 1) })).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        set_cookie(&res, "gatehouse_session").is_some(),
        "a fresh session id"
    );
    assert_eq!(json_of(res).await["user"]["username"], json!("tia"));
    assert_eq!(
        app.get(&pending, "/api/v1/users/me").await.status(),
        StatusCode::OK
    );
    // The pending sign-in is used up.
    let res = verify(&app, &pending, json!({ "code": totp(&secret, 1) })).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // Two steps away is too far; a replay of an accepted code is refused.
    let (pending, _) = password_step(&app, "tia", PASSWORD).await;
    for code in [totp(&secret, 3), totp(&secret, -2), totp(&secret, 1)] {
        let res = verify(&app, &pending, json!({ "code": code })).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{code}");
    }
    let failures: Value = json_of(app.get(&admin, "/api/v1/admin/audit?event=mfa_failed").await).await;
    assert!(failures.as_array().unwrap().len() >= 4, "wrong codes are audited");
    assert!(
        !failures.to_string().contains(&totp(&secret, 3)),
        "never the code itself"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_codes_are_single_use_and_can_be_regenerated() {
    let app = TestApp::spawn_with(&[("GATEHOUSE_LOGIN_ATTEMPTS", "100")]).await;
    app.setup_admin().await;
    app.signup("rex@example.com", Some("rex")).await;
    let rex = app.login("rex", PASSWORD).await;
    let (_secret, codes) = enable_totp(&app, &rex).await;

    let (pending, _) = password_step(&app, "rex", PASSWORD).await;
    let res = verify(
        &app,
        &pending,
        json!({ "recovery_code": codes[0].to_uppercase() }),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK, "case does not matter");
    let left = json_of(app.get(&rex, "/api/v1/users/me/mfa").await).await["recovery_codes_left"].clone();
    assert_eq!(left, json!(9));
    let (pending, _) = password_step(&app, "rex", PASSWORD).await;
    let res = verify(&app, &pending, json!({ "recovery_code": codes[0] })).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "spent");
    let res = verify(
        &app,
        &pending,
        json!({ "code": "123456", "recovery_code": codes[1] }),
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "one or the other");

    // New codes: the old ones die.
    let res = app
        .post_json(
            &rex,
            "/api/v1/users/me/mfa/recovery-codes",
            &json!({ "password": "not it at all" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .post_json(
            &rex,
            "/api/v1/users/me/mfa/recovery-codes",
            &json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let fresh: Vec<String> = serde_json::from_value(json_of(res).await["recovery_codes"].clone()).unwrap();
    assert_eq!(fresh.len(), 10);
    let res = verify(&app, &pending, json!({ "recovery_code": codes[1] })).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "an old code");
    let res = verify(&app, &pending, json!({ "recovery_code": fresh[3] })).await;
    assert_eq!(res.status(), StatusCode::OK);

    // Turning TOTP off (password asked) takes the codes with it.
    let res = app
        .client()
        .delete(app.url("/api/v1/users/me/mfa/totp"))
        .json(&json!({ "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "signed out");
    let res = rex
        .delete(app.url("/api/v1/users/me/mfa/totp"))
        .json(&json!({ "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let status = json_of(app.get(&rex, "/api/v1/users/me/mfa").await).await;
    assert_eq!(
        status,
        json!({ "totp": false, "passkeys": 0, "recovery_codes_left": 0, "review_after_reset": false })
    );
    let (_, body) = password_step(&app, "rex", PASSWORD).await;
    assert_eq!(body["ok"], json!(true), "no second step any more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_endpoint_asks_for_the_second_factor_too() {
    settle_step(8).await;
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    app.signup("tom@example.com", Some("tom")).await;
    let tom = app.login("tom", PASSWORD).await;
    let (secret, codes) = enable_totp(&app, &tom).await;

    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/token",
            &json!({ "username": "tom", "password": PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(set_cookie(&res, "gatehouse_refresh").is_none(), "no token yet");
    let body = json_of(res).await;
    assert_eq!(body["mfa_required"], json!(true));
    assert_eq!(body["methods"], json!(["totp", "recovery"]));
    assert!(body.get("access_token").is_none());
    let mfa_token = body["mfa_token"].as_str().unwrap().to_string();
    assert!(mfa_token.len() >= 40);

    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/token/mfa",
            &json!({ "mfa_token": "forged", "code": totp(&secret, 1) }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/token/mfa",
            &json!({ "mfa_token": mfa_token, "code": totp(&secret, 1) }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let pair = json_of(res).await;
    let me = app
        .bare_client()
        .get(app.url("/api/v1/users/me"))
        .bearer_auth(pair["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    // The mfa_token is spent.
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/token/mfa",
            &json!({ "mfa_token": mfa_token, "recovery_code": codes[0] }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_sign_in_expires_after_five_minutes() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    app.signup("eve@example.com", Some("eve")).await;
    let eve = app.login("eve", PASSWORD).await;
    let (_secret, codes) = enable_totp(&app, &eve).await;
    let (pending, _) = password_step(&app, "eve", PASSWORD).await;
    let (lifetime,): (i64,) = with_pool!(app, pool => sqlx::query_as(
        "SELECT expires_at - created_at FROM auth_challenges WHERE kind = 'mfa_pending'").fetch_one(pool).await.unwrap());
    assert_eq!(lifetime, 300);
    with_pool!(app, pool => sqlx::query("UPDATE auth_challenges SET expires_at = created_at - 1")
        .execute(pool).await.map(|_| ()).unwrap());
    let res = verify(&app, &pending, json!({ "recovery_code": codes[0] })).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(json_of(res).await["error"].as_str().unwrap().contains("expired"));
    // No pending sign-in at all: the same.
    let res = verify(&app, &app.client(), json!({ "recovery_code": codes[0] })).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_codes_count_toward_the_client_limit_and_the_lockout() {
    let app = TestApp::spawn_with(&[
        ("GATEHOUSE_LOGIN_ATTEMPTS", "100"),
        ("GATEHOUSE_LOCKOUT_THRESHOLD", "3"),
    ])
    .await;
    app.setup_admin().await;
    app.signup("lin@example.com", Some("lin")).await;
    let lin = app.login("lin", PASSWORD).await;
    let (_secret, codes) = enable_totp(&app, &lin).await;
    let (pending, _) = password_step(&app, "lin", PASSWORD).await;
    for _ in 0..3 {
        let res = verify(&app, &pending, json!({ "code": "111111" })).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = verify(&app, &pending, json!({ "recovery_code": codes[0] })).await;
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "locked: even a right code"
    );
    assert!(res.headers().contains_key(header::RETRY_AFTER));

    let app = TestApp::spawn_with(&[
        ("GATEHOUSE_LOGIN_ATTEMPTS", "2"),
        ("GATEHOUSE_LOCKOUT_THRESHOLD", "100"),
    ])
    .await;
    app.setup_admin().await;
    app.signup("lin@example.com", Some("lin")).await;
    let lin = app.login("lin", PASSWORD).await;
    enable_totp(&app, &lin).await;
    let (pending, _) = password_step(&app, "lin", PASSWORD).await;
    for _ in 0..2 {
        assert_eq!(
            verify(&app, &pending, json!({ "code": "222222" })).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        verify(&app, &pending, json!({ "code": "333333" })).await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the client's budget is spent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensitive_changes_need_a_recent_sign_in() {
    let app = TestApp::spawn_with(&[("GATEHOUSE_REAUTH_MINUTES", "1")]).await;
    let admin = app.setup_admin().await;
    let user = app.signup("olga@example.com", Some("olga")).await;
    let olga = app.login("olga", PASSWORD).await;
    let age = |minutes: i64| {
        let app = &app;
        async move {
            with_pool!(app, pool => sqlx::query("UPDATE user_sessions SET auth_at = auth_at - $1")
                .bind(minutes * 60).execute(pool).await.map(|_| ()).unwrap());
            with_pool!(app, pool => sqlx::query("UPDATE refresh_families SET auth_at = auth_at - $1")
                .bind(minutes * 60).execute(pool).await.map(|_| ()).unwrap());
        }
    };
    age(2).await;
    let change = json!({ "current_password": PASSWORD, "new_password": "a fresh passphrase, seven" });
    let res = app.post_json(&olga, "/api/v1/users/me/password", &change).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        json_of(res).await,
        json!({ "error": "reauthentication required" })
    );
    for (path, body) in [
        ("/api/v1/users/me/mfa/totp", json!({})),
        ("/api/v1/users/me/passkeys/register/start", json!({})),
    ] {
        let res = app.post_json(&olga, path, &body).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    // Admin writes too.
    let id = user["id"].as_str().unwrap();
    let res = admin
        .patch(app.url(&format!("/api/v1/admin/users/{id}")))
        .json(&json!({ "role": "admin" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json_of(res).await["error"], json!("reauthentication required"));
    // Reading is fine.
    assert_eq!(
        app.get(&admin, "/api/v1/admin/users").await.status(),
        StatusCode::OK
    );

    // Re-authenticate: a wrong password fails, the right one opens the window.
    let res = app
        .post_json(
            &olga,
            "/api/v1/auth/reauthenticate",
            &json!({ "password": "nope nope" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .post_json(
            &olga,
            "/api/v1/auth/reauthenticate",
            &json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.post_json(&olga, "/api/v1/users/me/password", &change).await;
    assert_eq!(res.status(), StatusCode::OK);

    // Bearer tokens count from their sign-in.
    let pair = json_of(
        app.post_json(
            &app.bare_client(),
            "/api/v1/auth/token",
            &json!({ "username": ADMIN, "password": ADMIN_PASSWORD }),
        )
        .await,
    )
    .await;
    let bearer = pair["access_token"].as_str().unwrap().to_string();
    let res = app
        .bare_client()
        .post(app.url(&format!("/api/v1/admin/users/{id}/unlock")))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    age(2).await;
    let res = app
        .bare_client()
        .post(app.url(&format!("/api/v1/admin/users/{id}/unlock")))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_sends_those_without_a_factor_to_enrol_first() {
    let app = TestApp::spawn_with(&[("GATEHOUSE_MFA", "admins")]).await;
    let admin = app.setup_admin().await;
    app.signup("uma@example.com", Some("uma")).await;
    // A user needs nothing.
    let uma = app.login("uma", PASSWORD).await;
    assert_eq!(app.get(&uma, "/api/v1/users/me").await.status(), StatusCode::OK);
    // The admin reaches nothing but enrolment.
    let state = app.whoami(&admin).await;
    assert_eq!(state["authenticated"], json!(true));
    assert_eq!(state["mfa_enrolment_required"], json!(true));
    for path in ["/api/v1/users/me", "/api/v1/admin/users", "/api/v1/auth/sessions"] {
        let res = app.get(&admin, path).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
        assert_eq!(
            json_of(res).await,
            json!({ "error": "set up a second factor first" })
        );
    }
    let page = app.get_page(&admin, "/dashboard").await;
    assert_eq!(page.status(), StatusCode::FOUND);
    assert!(location(&page).starts_with("/account?enrol=1"));
    assert_eq!(app.get_page(&admin, "/account").await.status(), StatusCode::OK);
    // Enrolment is allowed, and then everything is.
    enable_totp(&app, &admin).await;
    assert_eq!(
        app.get(&admin, "/api/v1/admin/users").await.status(),
        StatusCode::OK
    );
    assert!(app.whoami(&admin).await.get("mfa_enrolment_required").is_none());

    let app = TestApp::spawn_with(&[("GATEHOUSE_MFA", "everyone")]).await;
    app.setup_admin().await;
    app.signup("vic@example.com", Some("vic")).await;
    let vic = app.login("vic", PASSWORD).await;
    assert_eq!(
        app.get(&vic, "/api/v1/users/me").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get(&vic, "/api/v1/users/me/mfa").await.status(),
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_resets_a_users_factors() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let user = app.signup("ned@example.com", Some("ned")).await;
    let ned = app.login("ned", PASSWORD).await;
    enable_totp(&app, &ned).await;
    let id = user["id"].as_str().unwrap();
    let users: Value = json_of(app.get(&admin, "/api/v1/admin/users").await).await;
    let row = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == id)
        .unwrap()
        .clone();
    assert_eq!(row["mfa_enabled"], json!(true));
    // Only admins.
    let res = ned
        .delete(app.url(&format!("/api/v1/admin/users/{id}/mfa")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = admin
        .delete(app.url(&format!("/api/v1/admin/users/{id}/mfa")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        app.whoami(&ned).await["authenticated"],
        json!(false),
        "their sessions ended"
    );
    let (_, body) = password_step(&app, "ned", PASSWORD).await;
    assert_eq!(body["ok"], json!(true), "no second step");
    let audit: Value = json_of(app.get(&admin, "/api/v1/admin/audit?event=mfa_reset").await).await;
    assert_eq!(audit.as_array().unwrap().len(), 1);
    let res = admin
        .delete(app.url("/api/v1/admin/users/00000000-0000-4000-8000-000000000000/mfa"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_javascript_off_the_second_step_is_a_page_and_a_form() {
    settle_step(8).await;
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    app.signup("joe@example.com", Some("joey")).await;
    let jo = app.login("joey", PASSWORD).await;
    let (secret, _) = enable_totp(&app, &jo).await;
    let browser = app.client();
    let res = browser
        .post(app.url("/fn/login"))
        .header(header::ACCEPT, "text/html")
        .form(&[
            ("username", "joey"),
            ("password", PASSWORD),
            ("return_to", "/account"),
            ("remember", "on"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(location(&res), "/login/mfa?return=%2Faccount");
    // Still signed out: the protected page sends to the login.
    let res = app.get_page(&browser, "/account").await;
    assert_eq!(res.status(), StatusCode::FOUND);
    let page = app.get_page(&browser, "/login/mfa?return=%2Faccount").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("name=\"code\"") && html.contains("one-time-code"),
        "a code field"
    );
    let res = browser
        .post(app.url("/fn/verify_second_factor"))
        .header(header::ACCEPT, "text/html")
        .header(header::REFERER, app.url("/login/mfa?return=%2Faccount"))
        .form(&[("code", totp(&secret, 1).as_str()), ("return_to", "/account")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(location(&res), "/account");
    let cookie = set_cookie(&res, "gatehouse_session").expect("signed in");
    assert!(
        cookie.contains("Max-Age") || cookie.contains("Expires"),
        "remember me survives the second step"
    );
    assert_eq!(app.get_page(&browser, "/account").await.status(), StatusCode::OK);
}

mod passkeys {
    use super::*;
    use crate::common::passkeys::{origin, register};
    use base64::Engine;
    use webauthn_authenticator_rs::{softpasskey::SoftPasskey, WebauthnAuthenticator};
    use webauthn_rs_proto::RequestChallengeResponse;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn register_sign_in_without_a_password_rename_and_delete() {
        let app = TestApp::spawn().await;
        app.setup_admin().await;
        let user = app.signup("pia@example.com", Some("pia")).await;
        let pia = app.login("pia", PASSWORD).await;
        let mut authr = SoftPasskey::new(true);
        let created = register(&app, &pia, &mut authr, "Laptop").await;
        assert_eq!(created["name"], json!("Laptop"));
        let list: Value = json_of(app.get(&pia, "/api/v1/users/me/passkeys").await).await;
        assert_eq!(list.as_array().unwrap().len(), 1);
        assert_eq!(
            json_of(app.get(&pia, "/api/v1/users/me/mfa").await).await["passkeys"],
            json!(1)
        );
        let passkey_id = created["id"].as_str().unwrap().to_string();

        // Passwordless: a discoverable ceremony. The soft authenticator cannot
        // discover, so the test plays the browser's part: it names the
        // credential and fills in the user handle (which is not signed).
        let browser = app.client();
        let start = json_of(
            app.post_json(&browser, "/api/v1/auth/passkey/start", &json!({}))
                .await,
        )
        .await;
        assert_eq!(start["mediation"], json!("conditional"), "usable in autofill");
        assert_eq!(start["publicKey"]["allowCredentials"], json!([]));
        let cred_id: String = with_pool!(app, pool => sqlx::query_scalar("SELECT credential_id FROM passkeys")
            .fetch_one(pool).await.unwrap());
        let mut options = start["publicKey"].clone();
        options["allowCredentials"] = json!([{ "type": "public-key", "id": cred_id }]);
        let rcr: RequestChallengeResponse = serde_json::from_value(json!({ "publicKey": options })).unwrap();
        let mut assertion = authr.do_authentication(origin(), rcr).expect("authentication");
        let user_handle = uuid::Uuid::parse_str(user["id"].as_str().unwrap()).unwrap();
        assertion.response.user_handle = Some(user_handle.as_bytes().to_vec());
        let res = app
            .post_json(
                &browser,
                "/api/v1/auth/passkey/finish",
                &json!({ "ceremony": start["ceremony"], "credential": assertion, "remember": true,
                         "return_to": "https://evil.test/" }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let answer = json_of(res).await;
        assert_eq!(answer["user"]["username"], json!("pia"));
        // The server, not the page, decides where the browser goes next.
        assert_eq!(answer["redirect_to"], json!("/dashboard"), "not another site");
        assert_eq!(app.whoami(&browser).await["user"]["username"], json!("pia"));
        // The same answer again: the ceremony is spent.
        let res = app
            .post_json(
                &app.client(),
                "/api/v1/auth/passkey/finish",
                &json!({ "ceremony": start["ceremony"], "credential": assertion }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let used: Value = json_of(app.get(&pia, "/api/v1/users/me/passkeys").await).await;
        assert!(used[0]["last_used_at"].is_string());

        // Rename, then delete.
        let res = pia
            .patch(app.url(&format!("/api/v1/users/me/passkeys/{passkey_id}")))
            .json(&json!({ "name": "Work laptop" }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let list: Value = json_of(app.get(&pia, "/api/v1/users/me/passkeys").await).await;
        assert_eq!(list[0]["name"], json!("Work laptop"));
        let other = app.login(ADMIN, ADMIN_PASSWORD).await;
        let res = other
            .delete(app.url(&format!("/api/v1/users/me/passkeys/{passkey_id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "not theirs");
        // Pia's last second factor: it goes with her password.
        let res = pia
            .delete(app.url(&format!("/api/v1/users/me/passkeys/{passkey_id}")))
            .json(&json!({ "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            json_of(app.get(&pia, "/api/v1/users/me/mfa").await).await["passkeys"],
            json!(0)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_passkey_is_a_second_factor_after_the_password() {
        let app = TestApp::spawn().await;
        app.setup_admin().await;
        app.signup("sol@example.com", Some("sol")).await;
        let sol = app.login("sol", PASSWORD).await;
        let mut authr = SoftPasskey::new(true);
        register(&app, &sol, &mut authr, "Phone").await;

        let (pending, body) = password_step(&app, "sol", PASSWORD).await;
        assert_eq!(body["methods"], json!(["passkey"]));
        assert_eq!(app.whoami(&pending).await["authenticated"], json!(false));
        let start = json_of(
            app.post_json(
                &pending,
                "/api/v1/auth/passkey/start",
                &json!({ "second_factor": true }),
            )
            .await,
        )
        .await;
        assert_eq!(
            start["publicKey"]["allowCredentials"].as_array().unwrap().len(),
            1,
            "sol's passkey"
        );
        let rcr: RequestChallengeResponse =
            serde_json::from_value(json!({ "publicKey": start["publicKey"] })).unwrap();
        let assertion = authr.do_authentication(origin(), rcr).expect("authentication");
        let res = app
            .post_json(
                &pending,
                "/api/v1/auth/passkey/finish",
                &json!({ "ceremony": start["ceremony"], "credential": assertion,
                         "return_to": "/account?changed=x#security" }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            json_of(res).await["redirect_to"],
            json!("/account?changed=x#security")
        );
        assert_eq!(app.whoami(&pending).await["user"]["username"], json!("sol"));

        // A forged assertion (another authenticator's key) is refused.
        let (pending, _) = password_step(&app, "sol", PASSWORD).await;
        let start = json_of(
            app.post_json(
                &pending,
                "/api/v1/auth/passkey/start",
                &json!({ "second_factor": true }),
            )
            .await,
        )
        .await;
        let mut forger = SoftPasskey::new(true);
        let rcr: RequestChallengeResponse =
            serde_json::from_value(json!({ "publicKey": start["publicKey"] })).unwrap();
        assert!(
            forger.do_authentication(origin(), rcr).is_err(),
            "it does not hold the key"
        );
        let res = app
            .post_json(
                &pending,
                "/api/v1/auth/passkey/finish",
                &json!({ "ceremony": start["ceremony"], "credential": { "id": "x", "rawId": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b"nope"), "type": "public-key", "response": { "authenticatorData": "AA", "clientDataJSON": "AA", "signature": "AA", "userHandle": null } } }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.whoami(&pending).await["authenticated"], json!(false));

        // Re-authentication with the passkey.
        let start = json_of(
            app.post_json(&sol, "/api/v1/auth/passkey/start", &json!({ "reauth": true }))
                .await,
        )
        .await;
        let rcr: RequestChallengeResponse =
            serde_json::from_value(json!({ "publicKey": start["publicKey"] })).unwrap();
        let assertion = authr.do_authentication(origin(), rcr).expect("authentication");
        let res = app
            .post_json(
                &sol,
                "/api/v1/auth/passkey/finish",
                &json!({ "ceremony": start["ceremony"], "credential": assertion }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
}
