//! Signing in through another identity provider (issue 26), against a real
//! OpenID Connect provider (panva's oidc-provider, `examples/oidc-idp`): sign
//! up and in, the email collisions that must never link, closed signup,
//! disabled users, the second factor, linking and unlinking, and every
//! broken answer (state, `iss`, `aud`, expiry, unknown key, `alg: none`).

use crate::common::{factors::*, idp::*, *};
use reqwest::{header, StatusCode};
use serde_json::{json, Value};

const ID: &str = "idp";

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

/// A Gatehouse (set up, an admin signed in) that signs in through the test
/// provider with a client of its own, plus `extra` configuration.
async fn gatehouse(extra: &[(&str, &str)]) -> (TestApp, IdpClient, reqwest::Client) {
    let client = idp().register(ID).await;
    let mut vars = provider_vars(ID, &client);
    for (k, v) in extra {
        vars.retain(|(name, _)| name != k);
        vars.push((k.to_string(), v.to_string()));
    }
    let borrowed: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let app = TestApp::spawn_with(&borrowed).await;
    let admin = app.setup_admin().await;
    (app, client, admin)
}

/// [`gatehouse`] mailing through `sink`, email verification off.
async fn gatehouse_with_mail(sink: &smtp::SmtpSink) -> (TestApp, IdpClient, reqwest::Client) {
    let url = sink.url();
    gatehouse(&[
        ("GATEHOUSE_SMTP_URL", url.as_str()),
        ("GATEHOUSE_MAIL_FROM", "Gatehouse Test <no-reply@gatehouse.test>"),
        ("GATEHOUSE_EMAIL_VERIFICATION", "off"),
    ])
    .await
}

/// Unlinking the test provider, as the account page's form posts it (a
/// server function); the caller sends it.
fn unlink(app: &TestApp, client: &reqwest::Client) -> reqwest::RequestBuilder {
    client
        .post(app.url("/fn/unlink_provider"))
        .header(header::ORIGIN, app.origin())
        .form(&[("provider", ID)])
}

async fn audit(app: &TestApp, admin: &reqwest::Client) -> Vec<Value> {
    let res = app.get(admin, "/api/v1/admin/audit?limit=100").await;
    assert_eq!(res.status(), StatusCode::OK);
    json_of(res).await.as_array().unwrap().clone()
}

async fn identities(app: &TestApp) -> i64 {
    with_pool!(app, pool => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM user_identities")
        .fetch_one(pool)
        .await
        .unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_person_signs_up_through_the_provider_then_signs_in_again() {
    let (app, _client, admin) = gatehouse(&[]).await;
    let sub = unique("ann");
    idp().account(&sub, &format!("{sub}@example.com"), true).await;

    let (browser, res) = sign_in(&app, ID, &sub).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "{}",
        res.text().await.unwrap_or_default()
    );
    assert_eq!(location(&res), "/dashboard");
    let me = app.whoami(&browser).await;
    assert_eq!(me["user"]["username"], json!(sub));
    assert_eq!(me["user"]["email"], json!(format!("{sub}@example.com")));
    assert_eq!(
        me["user"]["email_verified"],
        json!(true),
        "the provider verified it"
    );
    let id = me["user"]["id"].clone();

    // The account has no password: none signs in to it.
    let res = app
        .post_json(
            &app.client(),
            "/api/v1/auth/login",
            &json!({ "username": sub, "password": "" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .post_json(
            &app.client(),
            "/api/v1/auth/login",
            &json!({ "username": sub, "password": PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // Again, in another browser: the same account, no second one.
    let (again, res) = sign_in(&app, ID, &sub).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.whoami(&again).await["user"]["id"], id);
    assert_eq!(identities(&app).await, 1);

    // It sets a password without a current one (its sign-in is recent), then
    // signs in with it too.
    let res = app
        .post_json(
            &again,
            "/api/v1/users/me/password",
            &json!({ "current_password": "", "new_password": PASSWORD }),
        )
        .await;
    assert!(res.status().is_success(), "set a password: {}", res.status());
    app.login(&sub, PASSWORD).await;

    let events: Vec<String> = audit(&app, &admin)
        .await
        .iter()
        .map(|r| r["event"].as_str().unwrap().to_string())
        .collect();
    assert!(events.contains(&"external_sign_in".to_string()), "{events:?}");
    assert!(events.contains(&"signup".to_string()), "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unverified_email_stays_unverified_and_usernames_are_made_unique() {
    let (app, _client, _admin) = gatehouse(&[]).await;
    app.signup("taken@example.com", Some("bea")).await;
    // The provider calls this person "bea" too, with an unverified address.
    let sub = unique("bea");
    idp().account(&sub, &format!("{sub}@example.com"), false).await;
    let res = reqwest::Client::new()
        .post(format!("{}/_test/accounts", idp().issuer))
        .json(&json!({ "sub": sub, "email": format!("{sub}@example.com"), "email_verified": false, "preferred_username": "bea" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let (browser, res) = sign_in(&app, ID, &sub).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let me = app.whoami(&browser).await;
    assert_eq!(me["user"]["email_verified"], json!(false));
    let name = me["user"]["username"].as_str().unwrap();
    assert!(name.starts_with("bea-") && name != "bea", "{name}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_of_an_existing_account_is_never_linked_verified_or_not() {
    let (app, _client, admin) = gatehouse(&[]).await;
    let victim = app.signup("victim@example.com", Some("victim")).await;
    for verified in [true, false] {
        let sub = unique("mallory");
        idp().account(&sub, "Victim@Example.com", verified).await;
        let (browser, res) = sign_in(&app, ID, &sub).await;
        assert_eq!(res.status(), StatusCode::CONFLICT, "verified: {verified}");
        let page = res.text().await.unwrap();
        assert!(page.contains("already exists") && page.contains("link"), "{page}");
        assert_eq!(app.whoami(&browser).await["user"], Value::Null);
    }
    assert_eq!(identities(&app).await, 0, "nothing was attached to the victim");
    // The victim's own sign-in is unchanged.
    let me = app.whoami(&app.login("victim", PASSWORD).await).await;
    assert_eq!(me["user"]["id"], victim["id"]);
    let refused = audit(&app, &admin)
        .await
        .into_iter()
        .filter(|r| r["event"] == json!("external_sign_in_refused"))
        .count();
    assert_eq!(refused, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_signup_refuses_an_unknown_identity_with_a_page() {
    let (app, _client, _admin) = gatehouse(&[("GATEHOUSE_SIGNUP", "closed")]).await;
    let sub = unique("cy");
    idp().account(&sub, &format!("{sub}@example.com"), true).await;
    let (browser, res) = sign_in(&app, ID, &sub).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = res.text().await.unwrap();
    assert!(page.contains("signing up is closed"), "{page}");
    assert_eq!(app.whoami(&browser).await["user"], Value::Null);
    assert_eq!(identities(&app).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_user_cannot_sign_in_through_the_provider() {
    let (app, _client, admin) = gatehouse(&[]).await;
    let sub = unique("dee");
    idp().account(&sub, &format!("{sub}@example.com"), true).await;
    let (browser, res) = sign_in(&app, ID, &sub).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let id = app.whoami(&browser).await["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = admin
        .patch(app.url(&format!("/api/v1/admin/users/{id}")))
        .json(&json!({ "disabled": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        app.whoami(&browser).await["user"],
        Value::Null,
        "disabling ended the session"
    );
    let (browser, res) = sign_in(&app, ID, &sub).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("disabled"));
    assert_eq!(app.whoami(&browser).await["user"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_second_factor_is_still_asked_after_the_provider() {
    settle_step(8).await;
    let (app, _client, _admin) = gatehouse(&[]).await;
    let sub = unique("eve");
    idp().account(&sub, &format!("{sub}@example.com"), true).await;
    let (browser, res) = sign_in(&app, ID, &sub).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (secret, _codes) = enable_totp(&app, &browser).await;

    let (browser, res) = sign_in(&app, ID, &sub).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(location(&res).starts_with("/login/mfa"), "{}", location(&res));
    assert_eq!(
        app.whoami(&browser).await["user"],
        Value::Null,
        "not signed in before the code"
    );
    // The code enrolment spent is refused; the next step's code signs in.
    let res = app
        .post_json(
            &browser,
            "/api/v1/auth/mfa/verify",
            &json!({ "code": totp(&secret, 0) }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .post_json(
            &browser,
            "/api/v1/auth/mfa/verify",
            &json!({ "code": totp(&secret, 1) }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.whoami(&browser).await["user"]["username"], json!(sub));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_replayed_or_foreign_state_is_refused() {
    let (app, _client, _admin) = gatehouse(&[]).await;
    let sub = unique("fay");
    idp().account(&sub, &format!("{sub}@example.com"), true).await;

    // The state changed on the way back.
    let b = browser();
    let callback = to_callback(&b, &app.url(&format!("/auth/{ID}/start")), &sub).await;
    let mut url = reqwest::Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let tampered = if k == "state" {
                format!("{v}x")
            } else {
                v.to_string()
            };
            (k.into_owned(), tampered)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let res = b.get(url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("not started in this browser"));
    assert_eq!(app.whoami(&b).await["user"], Value::Null);

    // The right answer, in another browser (a login CSRF): refused.
    let b = browser();
    let callback = to_callback(&b, &app.url(&format!("/auth/{ID}/start")), &sub).await;
    let res = browser().get(&callback).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // The right answer in the right browser works once, never twice.
    let b = browser();
    let callback = to_callback(&b, &app.url(&format!("/auth/{ID}/start")), &sub).await;
    let res = b.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = b.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stray_callbacks_are_recorded_a_few_times_per_client_not_every_time() {
    // Anyone can send a callback nobody asked for: each is refused, but
    // the audit log does not grow a row per request.
    let (app, _client, admin) = gatehouse(&[]).await;
    let b = browser();
    for _ in 0..40 {
        let res = b
            .get(app.url(&format!("/auth/{ID}/callback?code=stolen&state=forged")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    }
    let recorded = audit(&app, &admin)
        .await
        .iter()
        .filter(|r| r["event"] == json!("external_sign_in_refused"))
        .count();
    assert!((1..=20).contains(&recorded), "{recorded} recorded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_id_tokens_and_a_wrong_issuer_are_refused() {
    let (app, client, _admin) = gatehouse(&[]).await;
    let sub = unique("gil");
    idp().account(&sub, &format!("{sub}@example.com"), true).await;
    for (mode, says) in [
        ("wrong-aud", "another client"),
        ("wrong-iss", "issued by someone else"),
        ("expired", "expired"),
        ("unknown-kid", "does not publish"),
        ("alg-none", "not a signed JWT"),
        ("bad-signature", "signature does not verify"),
        ("wrong-nonce", "nonce"),
        ("wrong-iss-param", "did not come from"),
    ] {
        idp().mode(&client, mode).await;
        let (browser, res) = sign_in(&app, ID, &sub).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{mode}");
        let page = res.text().await.unwrap();
        assert!(page.contains(says), "{mode}: {page}");
        assert_eq!(app.whoami(&browser).await["user"], Value::Null, "{mode}");
    }
    assert_eq!(
        identities(&app).await,
        0,
        "no account was made from a broken answer"
    );
    idp().mode(&client, "").await;
    let (_browser, res) = sign_in(&app, ID, &sub).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "the provider behaves again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_links_and_unlinks_a_provider_but_never_their_last_way_in() {
    let (app, _client, admin) = gatehouse(&[]).await;
    app.signup("hal@example.com", Some("hal")).await;
    let hal = app.login("hal", PASSWORD).await;
    let sub = unique("hal");
    // A different address at the provider: linking is by choice, not email.
    idp()
        .account(&sub, &format!("{sub}@elsewhere.example"), true)
        .await;
    let res = sign_in_with(&app, &hal, &format!("/auth/{ID}/start?intent=link"), &sub).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "{}",
        res.text().await.unwrap_or_default()
    );
    assert_eq!(location(&res), format!("/account?linked={ID}"));

    // The provider now signs in to hal's account.
    let (browser, res) = sign_in(&app, ID, &sub).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.whoami(&browser).await["user"]["username"], json!("hal"));
    let listed = json_of(app.get(&admin, "/api/v1/admin/users?limit=50").await).await;
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == json!("hal"))
        .cloned()
        .unwrap();
    assert_eq!(
        row["providers"],
        json!([ID]),
        "the admin sees the linked provider"
    );

    // Someone else cannot link the same provider account.
    app.signup("ivy@example.com", Some("ivy")).await;
    let ivy = app.login("ivy", PASSWORD).await;
    let res = sign_in_with(&app, &ivy, &format!("/auth/{ID}/start?intent=link"), &sub).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.text().await.unwrap().contains("another Gatehouse account"));

    // Unlinking (a server function, as the account page's form posts it).
    let res = unlink(&app, &hal).send().await.unwrap();
    assert!(
        res.status().is_redirection() || res.status().is_success(),
        "{}",
        res.status()
    );
    assert_eq!(identities(&app).await, 0);
    let (_browser, res) = sign_in(&app, ID, &sub).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "an unknown identity again: a new account"
    );
    assert_eq!(identities(&app).await, 1);

    // That new account has no password: its only way in stays.
    let (browser, _) = sign_in(&app, ID, &sub).await;
    let res = unlink(&app, &browser)
        .header(header::ACCEPT, "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(identities(&app).await, 1);
    let events: Vec<String> = audit(&app, &admin)
        .await
        .iter()
        .map(|r| r["event"].as_str().unwrap().to_string())
        .collect();
    for e in ["identity_linked", "identity_unlinked", "external_sign_in_refused"] {
        assert!(events.contains(&e.to_string()), "{e}: {events:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linking_and_unlinking_a_provider_are_mailed_to_the_owner() {
    // A new way into the account is news its owner must hear, as a new
    // passkey is: an intruder with a fresh sign-in could link their own.
    let sink = smtp::SmtpSink::start().await;
    let (app, _client, _admin) = gatehouse_with_mail(&sink).await;
    app.signup("kit@example.com", Some("kit")).await;
    let kit = app.login("kit", PASSWORD).await;
    let sub = unique("kit");
    idp()
        .account(&sub, &format!("{sub}@elsewhere.example"), true)
        .await;
    let res = sign_in_with(&app, &kit, &format!("/auth/{ID}/start?intent=link"), &sub).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let within = std::time::Duration::from_secs(10);
    let linked = sink
        .wait_for_subject(
            "kit@example.com",
            "Your Test IdP account was linked to your account",
            within,
        )
        .await;
    assert!(
        linked.decoded.contains("signs in without a password"),
        "{}",
        linked.decoded
    );
    let res = unlink(&app, &kit).send().await.unwrap();
    assert!(
        res.status().is_redirection() || res.status().is_success(),
        "{}",
        res.status()
    );
    let unlinked = sink
        .wait_for_subject(
            "kit@example.com",
            "Your Test IdP account was unlinked from your account",
            within,
        )
        .await;
    assert!(
        unlinked.decoded.contains("no longer signs in"),
        "{}",
        unlinked.decoded
    );
    // Nobody else heard of it.
    assert!(sink
        .mails()
        .iter()
        .all(|m| m.to == ["kit@example.com"] || !m.subject().contains("Test IdP")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_unreachable_provider_stops_the_start_naming_the_variable() {
    use gatehouse::server::config::Config;
    use std::collections::HashMap;
    let map: HashMap<&str, &str> = [
        ("GATEHOUSE_PROVIDERS", "corp"),
        ("GATEHOUSE_PROVIDER_CORP_ISSUER", "https://id.example"),
    ]
    .into_iter()
    .collect();
    let e = Config::from_map(&map).unwrap_err().to_string();
    assert!(e.contains("GATEHOUSE_PROVIDER_CORP_CLIENT_ID"), "{e}");

    let map: HashMap<&str, &str> = [
        ("GATEHOUSE_PROVIDERS", "corp"),
        ("GATEHOUSE_PROVIDER_CORP_ISSUER", "http://127.0.0.1:9"),
        ("GATEHOUSE_PROVIDER_CORP_CLIENT_ID", "x"),
    ]
    .into_iter()
    .collect();
    let config = Config::from_map(&map).unwrap();
    let e = gatehouse::server::federation::Providers::discover(&config.providers)
        .await
        .err()
        .expect("an unreachable issuer stops the start");
    assert!(e.contains("GATEHOUSE_PROVIDER_CORP_ISSUER"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gatehouse_signs_in_through_another_gatehouse() {
    // The provider: a Gatehouse at http://localhost:PORT (so its cookies and
    // the relying party's, at 127.0.0.1, stay apart in one browser).
    let home = TestApp::spawn_with(&[
        ("GATEHOUSE_PUBLIC_URL", "{local_origin}"),
        ("GATEHOUSE_LOGIN_ATTEMPTS", "100"),
    ])
    .await;
    let admin = home.setup_admin().await;
    home.signup("joan@example.com", Some("joan")).await;
    let res = home
        .post_json(
            &admin,
            "/api/v1/admin/clients",
            &json!({
                "name": "Branch office",
                "redirect_uris": ["http://127.0.0.1/auth/home/callback"],
                "first_party": true,
            }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let created = json_of(res).await;

    // The relying party: another Gatehouse, configured as the README says.
    let client = IdpClient {
        id: created["client_id"].as_str().unwrap().to_string(),
        secret: created["client_secret"].as_str().unwrap().to_string(),
    };
    let mut vars = provider_vars("home", &client);
    for (k, v) in vars.iter_mut() {
        if k == "GATEHOUSE_PROVIDER_HOME_ISSUER" {
            *v = home.origin();
        }
    }
    let borrowed: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let branch = TestApp::spawn_with(&borrowed).await;
    branch.setup_admin().await;

    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .resolve("localhost", home.addr)
        .build()
        .unwrap();
    let res = browser.get(branch.url("/auth/home/start")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let authorize = location(&res);
    assert!(
        authorize.starts_with(&format!("{}/oauth2/authorize?", home.origin())),
        "{authorize}"
    );
    // Not signed in at home: its sign-in page, then back to the request.
    let res = browser.get(&authorize).send().await.unwrap();
    assert!(res.status().is_redirection());
    assert!(location(&res).starts_with("/login?return="), "{}", location(&res));
    let res = browser
        .post(home.url("/api/v1/auth/login"))
        .json(&json!({ "username": "joan", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = browser.get(&authorize).send().await.unwrap();
    assert!(res.status().is_redirection());
    let callback = location(&res);
    assert!(
        callback.starts_with(&branch.url("/auth/home/callback?")),
        "{callback}"
    );
    assert!(callback.contains("iss="), "the provider names itself (RFC 9207)");
    let res = browser.get(&callback).send().await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "{}",
        res.text().await.unwrap_or_default()
    );
    assert_eq!(location(&res), "/dashboard");
    let me = branch.whoami(&browser).await;
    assert_eq!(me["user"]["username"], json!("joan"));
    assert_eq!(me["user"]["email"], json!("joan@example.com"));
    assert_eq!(
        me["user"]["email_verified"],
        json!(false),
        "home never verified it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_through_the_provider_spends_no_login_attempts() {
    // Two failed passwords per address are allowed; the provider's sign-ins
    // guess no password and must not use them up.
    let (app, _client, _admin) = gatehouse(&[("GATEHOUSE_LOGIN_ATTEMPTS", "2")]).await;
    let sub = unique("kim");
    idp().account(&sub, &format!("{sub}@example.com"), true).await;
    for round in 0..4 {
        let (browser, res) = sign_in(&app, ID, &sub).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "sign-in {round}");
        assert_eq!(app.whoami(&browser).await["user"]["username"], json!(sub));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_oauth_provider_signs_in_through_its_userinfo() {
    // The test provider used the way GitHub is: authorize, token and
    // userinfo URLs, no discovery, no ID token; the secret in the form.
    let client = idp().register_with("plain", "client_secret_post").await;
    let issuer = idp().issuer.clone();
    let app = TestApp::spawn_with(&[
        ("GATEHOUSE_PUBLIC_URL", "{origin}"),
        ("GATEHOUSE_PROVIDERS", "plain"),
        (
            "GATEHOUSE_PROVIDER_PLAIN_AUTHORIZE_URL",
            &format!("{issuer}/auth"),
        ),
        ("GATEHOUSE_PROVIDER_PLAIN_TOKEN_URL", &format!("{issuer}/token")),
        ("GATEHOUSE_PROVIDER_PLAIN_USERINFO_URL", &format!("{issuer}/me")),
        ("GATEHOUSE_PROVIDER_PLAIN_SCOPES", "openid email profile"),
        ("GATEHOUSE_PROVIDER_PLAIN_CLIENT_ID", &client.id),
        ("GATEHOUSE_PROVIDER_PLAIN_CLIENT_SECRET", &client.secret),
    ])
    .await;
    app.setup_admin().await;
    let sub = unique("lou");
    idp().account(&sub, &format!("{sub}@example.com"), true).await;
    let (browser, res) = sign_in(&app, "plain", &sub).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let me = app.whoami(&browser).await;
    assert_eq!(me["user"]["username"], json!(sub));
    assert_eq!(me["user"]["email_verified"], json!(true));
}

/// The owner of `address` resets the account's password with the mailed link.
async fn reset_password(app: &TestApp, sink: &smtp::SmtpSink, address: &str) {
    let res = app
        .post_json(
            &app.client(),
            "/api/v1/auth/password/forgot",
            &json!({ "email": address }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let token = sink.last_to(address).await.token("/reset-password").unwrap();
    let res = app
        .post_json(
            &app.client(),
            "/api/v1/auth/password/reset",
            &json!({ "token": token, "new_password": "the owner's own passphrase" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_reset_ends_an_identity_that_claimed_the_address_unverified() {
    // Someone signs up through a provider that did not verify the address
    // they gave: the victim's. When the victim takes the account over with
    // a reset link (proof of the mailbox), that identity is gone.
    let sink = smtp::SmtpSink::start().await;
    let (app, _client, admin) = gatehouse_with_mail(&sink).await;
    let intruder = unique("mal");
    idp().account(&intruder, "nia@example.com", false).await;
    let (_b, res) = sign_in(&app, ID, &intruder).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(identities(&app).await, 1);

    reset_password(&app, &sink, "nia@example.com").await;
    assert_eq!(
        identities(&app).await,
        0,
        "the unverified identity ended with the reset"
    );
    let (browser, res) = sign_in(&app, ID, &intruder).await;
    assert_eq!(
        res.status(),
        StatusCode::CONFLICT,
        "the address is the owner's account now"
    );
    assert_eq!(app.whoami(&browser).await["user"], Value::Null);
    let unlinked = audit(&app, &admin).await.into_iter().any(|r| {
        r["event"] == json!("identity_unlinked")
            && r["detail"].as_str().unwrap_or("").contains("not verified")
    });
    assert!(unlinked, "audited");

    // A verified identity stays through a reset (the provider vouched for the address).
    let owner = unique("ola");
    idp().account(&owner, "ola@example.com", true).await;
    let (_b, res) = sign_in(&app, ID, &owner).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    reset_password(&app, &sink, "ola@example.com").await;
    assert_eq!(identities(&app).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linking_starts_only_from_this_site_and_asks_the_provider_again() {
    let (app, _client, _admin) = gatehouse(&[]).await;
    app.signup("pia@example.com", Some("pia")).await;
    let pia = app.login("pia", PASSWORD).await;
    // A link on another site: refused before the provider is asked.
    let res = pia
        .get(app.url(&format!("/auth/{ID}/start?intent=link")))
        .header("Sec-Fetch-Site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("account page"));
    // From this site: the provider is asked to sign the person in again.
    let res = pia
        .get(app.url(&format!("/auth/{ID}/start?intent=link")))
        .header("Sec-Fetch-Site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let to = location(&res);
    assert!(to.contains("prompt=login") && to.contains("max_age=0"), "{to}");
    // A plain sign-in does not force that.
    let res = app
        .client()
        .get(app.url(&format!("/auth/{ID}/start")))
        .send()
        .await
        .unwrap();
    assert!(!location(&res).contains("prompt=login"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_without_a_password_cannot_be_locked_by_password_guesses() {
    let (app, _client, _admin) = gatehouse(&[("GATEHOUSE_LOCKOUT_THRESHOLD", "2")]).await;
    let sub = unique("quinn");
    idp().account(&sub, &format!("{sub}@example.com"), true).await;
    let (_b, res) = sign_in(&app, ID, &sub).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    for _ in 0..4 {
        let res = app
            .post_json(
                &app.client(),
                "/api/v1/auth/login",
                &json!({ "username": sub, "password": "guess guess guess" }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let (browser, res) = sign_in(&app, ID, &sub).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "not locked out of the provider"
    );
    assert_eq!(app.whoami(&browser).await["user"]["username"], json!(sub));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provider_confirms_it_is_them_before_a_sensitive_change() {
    let (app, _client, _admin) = gatehouse(&[]).await;
    let sub = unique("ray");
    idp().account(&sub, &format!("{sub}@example.com"), true).await;
    let (browser, res) = sign_in(&app, ID, &sub).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // An hour later, setting a password needs a recent sign-in.
    with_pool!(app, pool => sqlx::query("UPDATE user_sessions SET auth_at = auth_at - 3600")
        .execute(pool)
        .await
        .map(|_| ())
        .unwrap());
    let set = |b: reqwest::Client| {
        let url = app.url("/api/v1/users/me/password");
        async move {
            b.post(url)
                .json(&json!({ "current_password": "", "new_password": PASSWORD }))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert!(
        !set(browser.clone()).await.is_success(),
        "a stale sign-in is not enough"
    );
    let res = sign_in_with(
        &app,
        &browser,
        &format!("/auth/{ID}/start?intent=reauth&return=/account"),
        &sub,
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "{}",
        res.text().await.unwrap_or_default()
    );
    assert_eq!(location(&res), "/account");
    assert!(
        set(browser.clone()).await.is_success(),
        "confirmed through the provider"
    );

    // Another provider account cannot confirm it for this one.
    with_pool!(app, pool => sqlx::query("UPDATE user_sessions SET auth_at = auth_at - 3600")
        .execute(pool)
        .await
        .map(|_| ())
        .unwrap());
    let stranger = unique("sam");
    idp()
        .account(&stranger, &format!("{stranger}@example.com"), true)
        .await;
    let res = sign_in_with(
        &app,
        &browser,
        &format!("/auth/{ID}/start?intent=reauth"),
        &stranger,
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("not the one linked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_provider_key_is_fetched_when_a_token_names_it() {
    let (app, client, _admin) = gatehouse(&[]).await;
    let sub = unique("uma");
    idp().account(&sub, &format!("{sub}@example.com"), true).await;
    // The provider starts publishing a new key (after Gatehouse read its
    // keys at start) and signs with it: Gatehouse fetches the keys again.
    let res = reqwest::Client::new()
        .post(format!("{}/_test/rotate", idp().issuer))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    idp().mode(&client, "next-key").await;
    let (browser, res) = sign_in(&app, ID, &sub).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "{}",
        res.text().await.unwrap_or_default()
    );
    assert_eq!(app.whoami(&browser).await["user"]["username"], json!(sub));
    // A key it still does not publish stays refused.
    idp().mode(&client, "unknown-kid").await;
    let (_browser, res) = sign_in(&app, ID, &sub).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlinking_a_provider_ends_the_sessions_that_signed_in_with_it() {
    // Unlinking is what an owner does when the account elsewhere is lost or
    // taken: whoever signed in through it must not stay signed in here.
    let (app, _client, _admin) = gatehouse(&[]).await;
    app.signup("uma@example.com", Some("uma")).await;
    let uma = app.login("uma", PASSWORD).await;
    let elsewhere = app.login("uma", PASSWORD).await;
    let sub = unique("uma");
    idp()
        .account(&sub, &format!("{sub}@elsewhere.example"), true)
        .await;
    let link = format!("/auth/{ID}/start?intent=link");
    let res = sign_in_with(&app, &uma, &link, &sub).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (through_it, _) = sign_in(&app, ID, &sub).await;
    let (again, _) = sign_in(&app, ID, &sub).await;
    for b in [&through_it, &again] {
        assert_eq!(app.whoami(b).await["user"]["username"], json!("uma"));
    }

    let res = unlink(&app, &uma).send().await.unwrap();
    assert!(
        res.status().is_redirection() || res.status().is_success(),
        "{}",
        res.status()
    );
    for b in [&through_it, &again] {
        assert_eq!(
            app.whoami(b).await["authenticated"],
            json!(false),
            "a session the provider signed in has ended"
        );
    }
    assert_eq!(app.whoami(&uma).await["authenticated"], json!(true));
    assert_eq!(
        app.whoami(&elsewhere).await["authenticated"],
        json!(true),
        "a password session is not the provider's"
    );

    // Linked again and unlinked from a session the provider signed in: that
    // one, the owner at the keyboard, stays.
    let res = sign_in_with(&app, &uma, &link, &sub).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (owner, _) = sign_in(&app, ID, &sub).await;
    let (other, _) = sign_in(&app, ID, &sub).await;
    let res = unlink(&app, &owner).send().await.unwrap();
    assert!(
        res.status().is_redirection() || res.status().is_success(),
        "{}",
        res.status()
    );
    assert_eq!(app.whoami(&owner).await["user"]["username"], json!("uma"));
    assert_eq!(app.whoami(&other).await["authenticated"], json!(false));
}
