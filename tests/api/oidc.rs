//! The OpenID Connect provider (issue 24): discovery, clients, the
//! authorization-code flow with PKCE and consent, the token endpoint's three
//! grants, userinfo, introspection, revocation and RP-initiated logout, each
//! driven as a relying party (and an attacker) would.

use crate::common::factors::*;
use crate::common::*;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use reqwest::{header, Client, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const REDIRECT: &str = "http://127.0.0.1:9/callback";
const AFTER_LOGOUT: &str = "http://127.0.0.1:9/signed-out";
const VERIFIER: &str = "a-verifier-of-enough-length-for-rfc-7636-0123456789";

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

async fn provider() -> TestApp {
    TestApp::spawn_with(&[
        ("GATEHOUSE_PUBLIC_URL", "{origin}"),
        ("GATEHOUSE_LOGIN_ATTEMPTS", "100"),
    ])
    .await
}

/// A client registered by the (freshly signed-in) admin; returns its JSON
/// answer with the secret.
async fn register(app: &TestApp, admin: &Client, spec: Value) -> Value {
    let res = app.post_json(admin, "/api/v1/admin/clients", &spec).await;
    assert_eq!(res.status(), StatusCode::CREATED, "create client {spec}");
    json_of(res).await
}

async fn confidential(app: &TestApp, admin: &Client) -> (String, String) {
    let c = register(
        app,
        admin,
        json!({
            "name": "Wiki",
            "redirect_uris": [REDIRECT],
            "post_logout_redirect_uris": [AFTER_LOGOUT],
            "scopes": ["openid", "profile", "email", "offline_access", "roles"],
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        }),
    )
    .await;
    (
        c["client_id"].as_str().unwrap().to_string(),
        c["client_secret"].as_str().unwrap().to_string(),
    )
}

fn authorize_path(client_id: &str, extra: &[(&str, &str)]) -> String {
    let challenge = challenge(VERIFIER);
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    let mut base: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("scope", "openid profile email offline_access"),
        ("state", "st-123"),
        ("nonce", "n-456"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in extra {
        base.retain(|(bk, _)| bk != k);
        if !v.is_empty() {
            base.push((k, v));
        }
    }
    for (k, v) in base {
        q.append_pair(k, v);
    }
    format!("/oauth2/authorize?{}", q.finish())
}

/// The query of a redirect to the client.
fn callback(location: &str) -> std::collections::HashMap<String, String> {
    assert!(
        location.starts_with(REDIRECT),
        "a redirect to the client: {location}"
    );
    let url = url::Url::parse(location).unwrap();
    url.query_pairs().into_owned().collect()
}

/// The authorization endpoint's answer (a redirect, or a page).
async fn authorize(app: &TestApp, browser: &Client, path: &str) -> reqwest::Response {
    app.get_page(browser, path).await
}

/// Goes through the consent page with `decision`; returns where it sends the browser.
async fn answer_consent(app: &TestApp, browser: &Client, consent_location: &str, decision: &str) -> String {
    let query = consent_location
        .strip_prefix("/oauth2/consent?")
        .expect("the consent page");
    let page = app.get_page(browser, consent_location).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("Wiki"), "the consent page names the app");
    assert!(html.contains("your email address"), "and says what it asks for");
    let res = browser
        .post(app.url("/fn/decide_consent"))
        .header(header::ORIGIN, app.origin())
        .header(header::ACCEPT, "text/html")
        .form(&[("query", query), ("decision", decision)])
        .send()
        .await
        .unwrap();
    assert!(
        res.status().is_redirection(),
        "a plain form post is redirected: {}",
        res.status()
    );
    location(&res)
}

/// A code for `browser`'s user (consenting when asked).
async fn code_for(app: &TestApp, browser: &Client, client_id: &str, extra: &[(&str, &str)]) -> String {
    let res = authorize(app, browser, &authorize_path(client_id, extra)).await;
    assert_eq!(res.status(), StatusCode::FOUND);
    let mut to = location(&res);
    if to.starts_with("/oauth2/consent?") {
        to = answer_consent(app, browser, &to, "allow").await;
    }
    let q = callback(&to);
    assert_eq!(q.get("state").map(String::as_str), Some("st-123"));
    assert_eq!(
        q.get("iss"),
        Some(&app.origin()),
        "RFC 9207: the issuer in the answer"
    );
    q["code"].clone()
}

async fn token(app: &TestApp, auth: Option<(&str, &str)>, form: &[(&str, &str)]) -> reqwest::Response {
    let mut req = app.bare_client().post(app.url("/oauth2/token")).form(form);
    if let Some((id, secret)) = auth {
        req = req.basic_auth(id, Some(secret));
    }
    req.send().await.unwrap()
}

async fn exchange(app: &TestApp, id: &str, secret: &str, code: &str) -> reqwest::Response {
    token(
        app,
        Some((id, secret)),
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
}

async fn oauth_error(res: reqwest::Response, status: StatusCode, code: &str) {
    assert_eq!(res.status(), status);
    assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
    let body: Value = json_of(res).await;
    assert_eq!(body["error"], json!(code), "{body}");
    assert!(body["error_description"].as_str().is_some_and(|d| !d.is_empty()));
}

/// The claims of a JWT after verifying it with the published keys.
async fn verified(app: &TestApp, jwt: &str, audience: &str, typ: &str) -> Value {
    let head = jsonwebtoken::decode_header(jwt).unwrap();
    assert_eq!(head.alg, jsonwebtoken::Algorithm::RS256);
    assert_eq!(head.typ.as_deref(), Some(typ));
    let set: Value = json_of(app.get(&app.bare_client(), "/.well-known/jwks.json").await).await;
    let kid = head.kid.unwrap();
    let key = set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == json!(kid))
        .expect("the token's key is published");
    let key = jsonwebtoken::DecodingKey::from_rsa_components(
        key["n"].as_str().unwrap(),
        key["e"].as_str().unwrap(),
    )
    .unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&[audience]);
    v.set_issuer(&[app.origin()]);
    jsonwebtoken::decode::<Value>(jwt, &key, &v).unwrap().claims
}

async fn userinfo(app: &TestApp, access: &str) -> reqwest::Response {
    app.bare_client()
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
}

async fn introspect(app: &TestApp, id: &str, secret: &str, tok: &str) -> Value {
    let res = app
        .bare_client()
        .post(app.url("/oauth2/introspect"))
        .basic_auth(id, Some(secret))
        .form(&[("token", tok)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    json_of(res).await
}

async fn refresh(app: &TestApp, id: &str, secret: &str, rt: &str) -> reqwest::Response {
    token(
        app,
        Some((id, secret)),
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
    )
    .await
}

/// Admin, a client and a signed-in user `uma` in a browser.
async fn scene() -> (TestApp, Client, String, String, Client) {
    let app = provider().await;
    let admin = app.setup_admin().await;
    let (id, secret) = confidential(&app, &admin).await;
    app.signup("uma@example.com", Some("uma")).await;
    let uma = app.login("uma", PASSWORD).await;
    (app, admin, id, secret, uma)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_describes_a_provider_a_standard_client_accepts() {
    let app = provider().await;
    let res = app
        .get(&app.bare_client(), "/.well-known/openid-configuration")
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let d: Value = json_of(res).await;
    let o = app.origin();
    assert_eq!(d["issuer"], json!(o));
    for (field, path) in [
        ("authorization_endpoint", "/oauth2/authorize"),
        ("token_endpoint", "/oauth2/token"),
        ("userinfo_endpoint", "/oauth2/userinfo"),
        ("jwks_uri", "/.well-known/jwks.json"),
        ("revocation_endpoint", "/oauth2/revoke"),
        ("introspection_endpoint", "/oauth2/introspect"),
        ("end_session_endpoint", "/oauth2/logout"),
    ] {
        assert_eq!(d[field], json!(format!("{o}{path}")), "{field}");
    }
    assert_eq!(d["response_types_supported"], json!(["code"]));
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(d["subject_types_supported"], json!(["public"]));
    assert_eq!(d["authorization_response_iss_parameter_supported"], json!(true));
    assert!(d["id_token_signing_alg_values_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("RS256")));
    for g in ["authorization_code", "refresh_token", "client_credentials"] {
        assert!(d["grant_types_supported"].as_array().unwrap().contains(&json!(g)));
    }
    for s in ["openid", "profile", "email", "offline_access", "roles"] {
        assert!(d["scopes_supported"].as_array().unwrap().contains(&json!(s)));
    }
    for m in ["client_secret_basic", "client_secret_post", "none"] {
        assert!(d["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(m)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_code_flow_signs_a_user_in_to_another_app_with_consent_once() {
    let (app, admin, id, secret, _) = scene().await;
    // Signed out: the login page, with the whole authorization request to come back to.
    let browser = app.client();
    let res = authorize(&app, &browser, &authorize_path(&id, &[("login_hint", "uma")])).await;
    assert_eq!(res.status(), StatusCode::FOUND);
    let to = location(&res);
    assert!(to.starts_with("/login?return=%2Foauth2%2Fauthorize%3F"), "{to}");
    let return_to = url::Url::parse(&app.url(&to))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "return")
        .unwrap()
        .1
        .into_owned();
    assert!(return_to.contains(&format!("client_id={id}")) && return_to.contains("code_challenge="));
    let page = app.get_page(&browser, &to).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.text().await.unwrap().contains("value=\"uma\""),
        "login_hint fills the username"
    );
    let res = app
        .post_json(
            &browser,
            "/api/v1/auth/login",
            &json!({ "username": "uma", "password": PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // Back at the authorization endpoint: consent first.
    let res = authorize(&app, &browser, &return_to).await;
    let consent = location(&res);
    assert!(consent.starts_with("/oauth2/consent?"), "{consent}");
    let back = answer_consent(&app, &browser, &consent, "allow").await;
    let code = callback(&back)["code"].clone();
    assert!(code.len() >= 22, "at least 128 random bits");

    let res = exchange(&app, &id, &secret, &code).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
    let t: Value = json_of(res).await;
    assert_eq!(t["token_type"], json!("Bearer"));
    assert!(t["expires_in"].as_i64().unwrap() > 0);
    assert_eq!(t["scope"], json!("openid profile email offline_access"));
    let access = t["access_token"].as_str().unwrap();
    let at = verified(&app, access, &id, "at+jwt").await;
    assert_eq!(at["client_id"], json!(id));
    assert_eq!(at["scope"], json!("openid profile email offline_access"));
    assert!(at["jti"].is_string());
    let idt = verified(&app, t["id_token"].as_str().unwrap(), &id, "JWT").await;
    assert_eq!(idt["sub"], at["sub"]);
    assert_eq!(idt["nonce"], json!("n-456"));
    assert_eq!(idt["amr"], json!(["pwd"]));
    assert_eq!(idt["preferred_username"], json!("uma"));
    assert_eq!(idt["email"], json!("uma@example.com"));
    assert!(idt["email_verified"].is_boolean());
    assert!(idt.get("roles").is_none(), "roles were not asked for");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - idt["auth_time"].as_i64().unwrap()).abs() < 60);
    let digest = Sha256::digest(access.as_bytes());
    assert_eq!(idt["at_hash"], json!(URL_SAFE_NO_PAD.encode(&digest[..16])));
    assert!(t["refresh_token"].is_string(), "offline_access was granted");

    let res = userinfo(&app, access).await;
    assert_eq!(res.status(), StatusCode::OK);
    let info: Value = json_of(res).await;
    assert_eq!(info["sub"], idt["sub"]);
    assert_eq!(info["email"], json!("uma@example.com"));
    assert_eq!(info["preferred_username"], json!("uma"));

    // The next sign-in asks nothing: consent is remembered.
    let code = code_for(&app, &browser, &id, &[]).await;
    assert_eq!(exchange(&app, &id, &secret, &code).await.status(), StatusCode::OK);
    // The user sees the app, and the audit log the grant.
    let apps: Value = json_of(app.get(&browser, "/api/v1/users/me/apps").await).await;
    assert_eq!(apps[0]["client_id"], json!(id));
    assert_eq!(apps[0]["name"], json!("Wiki"));
    let audit = app
        .get(&admin, "/api/v1/admin/audit?limit=100")
        .await
        .text()
        .await
        .unwrap();
    assert!(audit.contains("consent_granted") && audit.contains("client_tokens_issued"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_client_or_redirect_uri_never_redirects() {
    let (app, _admin, id, _secret, uma) = scene().await;
    // A native app on the loopback address may listen on any port (RFC
    // 8252 §7.3); nothing else about the address may differ.
    let res = authorize(
        &app,
        &uma,
        &authorize_path(&id, &[("redirect_uri", "http://127.0.0.1:51234/callback")]),
    )
    .await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert!(
        location(&res).starts_with("/oauth2/consent?"),
        "{}",
        location(&res)
    );
    let other = "https://evil.test/callback";
    for path in [
        authorize_path("no-such-client", &[]),
        authorize_path(&id, &[("redirect_uri", other)]),
        authorize_path(&id, &[("redirect_uri", "http://127.0.0.1:9/callback/")]),
        authorize_path(&id, &[("redirect_uri", "http://127.0.0.1:51234/callback?x=1")]),
        authorize_path(&id, &[("redirect_uri", "http://localhost:9/callback")]),
        authorize_path(&id, &[("redirect_uri", "https://127.0.0.1:9/callback")]),
        authorize_path(&id, &[("redirect_uri", "http://127.0.0.1:9/Callback")]),
        authorize_path(&id, &[("redirect_uri", "http://127.0.0.1:09/callback")]),
        authorize_path(&id, &[("redirect_uri", "")]),
        authorize_path(&id, &[("client_id", "")]),
        format!("{}&client_id={id}", authorize_path(&id, &[])),
    ] {
        for browser in [&uma, &app.client()] {
            let res = authorize(&app, browser, &path).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path}");
            assert!(res.headers().get(header::LOCATION).is_none(), "{path}");
            let html = res.text().await.unwrap();
            assert!(html.contains("cannot be used"), "a page says why: {path}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_client_ids_are_unknown_clients_not_server_errors() {
    let (app, _admin, _id, _secret, uma) = scene().await;
    let long = "f".repeat(5000);
    for odd in ["\u{0}", "a\u{0}b", "x'; --", "%", long.as_str()] {
        let res = authorize(&app, &uma, &authorize_path(odd, &[])).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{odd:?}");
        let res = token(
            &app,
            Some((odd, "secret")),
            &[("grant_type", "client_credentials")],
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{odd:?}");
        let res = app
            .bare_client()
            .post(app.url("/oauth2/token"))
            .form(&[("grant_type", "client_credentials"), ("client_id", odd)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{odd:?}");
    }
    let res = uma
        .delete(app.url("/api/v1/users/me/apps/%00"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = app.get_page(&uma, "/oauth2/logout?client_id=%00").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_errors_go_back_to_the_client_with_state_and_iss() {
    let (app, _admin, id, _secret, uma) = scene().await;
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("response_type", "token")], "unsupported_response_type"),
        (vec![("code_challenge", "")], "invalid_request"),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (vec![("code_challenge_method", "")], "invalid_request"),
        (vec![("scope", "openid admin")], "invalid_scope"),
        (vec![("prompt", "none")], "consent_required"),
        (vec![("max_age", "soon")], "invalid_request"),
        (
            vec![("request", "eyJhbGciOiJub25lIn0.e30.")],
            "request_not_supported",
        ),
    ];
    for (extra, code) in cases {
        let res = authorize(&app, &uma, &authorize_path(&id, &extra)).await;
        assert_eq!(res.status(), StatusCode::FOUND, "{extra:?}");
        let q = callback(&location(&res));
        assert_eq!(q.get("error").map(String::as_str), Some(code), "{extra:?}");
        assert!(q.contains_key("error_description"));
        assert_eq!(q.get("state").map(String::as_str), Some("st-123"));
        assert_eq!(q.get("iss"), Some(&app.origin()));
        assert!(!q.contains_key("code"));
    }
    // What the request sent is echoed as RFC 6749 allows it, no more.
    let res = authorize(&app, &uma, &authorize_path(&id, &[("scope", "openid \"évil\\")])).await;
    let q = callback(&location(&res));
    assert_eq!(q["error"], "invalid_scope");
    let d = &q["error_description"];
    assert!(
        d.chars()
            .all(|c| (' '..='~').contains(&c) && c != '"' && c != '\\'),
        "{d}"
    );
    // Signed out, prompt=none cannot show a login page.
    let res = authorize(&app, &app.client(), &authorize_path(&id, &[("prompt", "none")])).await;
    assert_eq!(callback(&location(&res))["error"], "login_required");
    // A client without the code grant.
    let admin = app.login(ADMIN, ADMIN_PASSWORD).await;
    let machine = register(
        &app,
        &admin,
        json!({ "name": "Cron", "redirect_uris": [REDIRECT], "grant_types": ["client_credentials"] }),
    )
    .await;
    let res = authorize(
        &app,
        &uma,
        &authorize_path(machine["client_id"].as_str().unwrap(), &[]),
    )
    .await;
    assert_eq!(callback(&location(&res))["error"], "unauthorized_client");
    // Denying consent.
    let res = authorize(&app, &uma, &authorize_path(&id, &[])).await;
    let back = answer_consent(&app, &uma, &location(&res), "deny").await;
    let q = callback(&back);
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], "st-123");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_works_once_for_its_client_verifier_and_redirect_uri() {
    let (app, admin, id, secret, uma) = scene().await;
    let (id2, secret2) = confidential(&app, &admin).await;
    // The wrong verifier, the wrong redirect URI, another client's credentials.
    for (auth, form, error) in [
        (
            (id.as_str(), secret.as_str()),
            vec![(
                "code_verifier",
                "another-verifier-of-enough-length-0123456789abcdef",
            )],
            "invalid_grant",
        ),
        (
            (id.as_str(), secret.as_str()),
            vec![("code_verifier", "")],
            "invalid_request",
        ),
        (
            (id.as_str(), secret.as_str()),
            vec![("redirect_uri", "http://127.0.0.1:9/other")],
            "invalid_grant",
        ),
        ((id2.as_str(), secret2.as_str()), vec![], "invalid_grant"),
    ] {
        let code = code_for(&app, &uma, &id, &[]).await;
        let mut all = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ];
        for (k, v) in &form {
            all.retain(|(ak, _)| ak != k);
            if !v.is_empty() {
                all.push((k, v));
            }
        }
        oauth_error(
            token(&app, Some(auth), &all).await,
            StatusCode::BAD_REQUEST,
            error,
        )
        .await;
        // An attempt without the verifier or by another client (an
        // interceptor) leaves the code to its rightful client.
        assert_eq!(exchange(&app, &id, &secret, &code).await.status(), StatusCode::OK);
    }
    // Used twice: refused, and what it issued is revoked.
    let code = code_for(&app, &uma, &id, &[]).await;
    let t: Value = json_of(exchange(&app, &id, &secret, &code).await).await;
    let access = t["access_token"].as_str().unwrap();
    let rt = t["refresh_token"].as_str().unwrap();
    assert_eq!(userinfo(&app, access).await.status(), StatusCode::OK);
    oauth_error(
        exchange(&app, &id, &secret, &code).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    let res = userinfo(&app, access).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .contains("invalid_token"));
    assert_eq!(
        introspect(&app, &id, &secret, access).await,
        json!({ "active": false })
    );
    oauth_error(
        refresh(&app, &id, &secret, rt).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    let audit = app
        .get(&admin, "/api/v1/admin/audit?limit=100")
        .await
        .text()
        .await
        .unwrap();
    assert!(audit.contains("code_reuse"));
    // A code older than 60 seconds is refused.
    let code = code_for(&app, &uma, &id, &[]).await;
    with_pool!(app, pool => sqlx::query(
        "UPDATE oauth_codes SET expires_at = expires_at - 61, created_at = created_at - 61"
    )
    .execute(pool)
    .await
    .map(|_| ())
    .unwrap());
    oauth_error(
        exchange(&app, &id, &secret, &code).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    // Codes are stored hashed.
    let code = code_for(&app, &uma, &id, &[]).await;
    let stored: i64 = with_pool!(app, pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM oauth_codes WHERE code_hash = $1"
    )
    .bind(&code)
    .fetch_one(pool)
    .await
    .unwrap());
    assert_eq!(stored, 0);
}

/// Eight exchanges of one code at once: at most one gets tokens, and since
/// the others are replays of a spent code, what it got is revoked too. The
/// code is spent and the grant made in one transaction, so no exchange can
/// come between the two and miss the grant it must end.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exchanges_of_one_code_at_once_give_tokens_at_most_once_and_end_them() {
    let (app, _admin, id, secret, uma) = scene().await;
    for _ in 0..3 {
        let code = code_for(&app, &uma, &id, &[]).await;
        let answers = futures::future::join_all((0..8).map(|_| exchange(&app, &id, &secret, &code))).await;
        let mut won = Vec::new();
        for res in answers {
            match res.status() {
                StatusCode::OK => won.push(json_of(res).await),
                StatusCode::BAD_REQUEST => {
                    let body: Value = json_of(res).await;
                    assert_eq!(body["error"], "invalid_grant", "{body}");
                }
                other => panic!("an exchange answered {other}"),
            }
        }
        assert!(won.len() <= 1, "{} exchanges of one code got tokens", won.len());
        for t in won {
            let access = t["access_token"].as_str().unwrap();
            assert_eq!(introspect(&app, &id, &secret, access).await["active"], false);
            oauth_error(
                refresh(&app, &id, &secret, t["refresh_token"].as_str().unwrap()).await,
                StatusCode::BAD_REQUEST,
                "invalid_grant",
            )
            .await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_authentication_failures_are_401_with_a_challenge_and_guessing_is_limited() {
    let (app, _admin, id, secret, uma) = scene().await;
    let code = code_for(&app, &uma, &id, &[]).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let res = token(&app, Some((&id, "not-the-secret")), &form).await;
    assert_eq!(
        res.headers()[header::WWW_AUTHENTICATE],
        "Basic realm=\"gatehouse\""
    );
    oauth_error(res, StatusCode::UNAUTHORIZED, "invalid_client").await;
    oauth_error(
        token(&app, None, &form).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
    // Two methods at once is one too many.
    let mut both = form.to_vec();
    both.push(("client_id", &id));
    both.push(("client_secret", &secret));
    oauth_error(
        token(&app, Some((&id, &secret)), &both).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    // Not a form.
    let res = app
        .bare_client()
        .post(app.url("/oauth2/token"))
        .basic_auth(&id, Some(&secret))
        .json(&json!({ "grant_type": "authorization_code", "code": code }))
        .send()
        .await
        .unwrap();
    oauth_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    // client_secret_post works as well as Basic.
    let mut post = form.to_vec();
    post.push(("client_id", &id));
    post.push(("client_secret", &secret));
    assert_eq!(token(&app, None, &post).await.status(), StatusCode::OK);
    // Guessing the secret runs into the limit; the right one still works.
    let mut limited = false;
    for _ in 0..40 {
        let res = token(
            &app,
            Some((&id, "guess")),
            &[("grant_type", "client_credentials")],
        )
        .await;
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(res.headers().get(header::RETRY_AFTER).is_some());
            limited = true;
            break;
        }
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    assert!(limited, "wrong secrets are limited");
    let res = token(
        &app,
        Some((&id, &secret)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "the right secret is never locked out"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_tokens_rotate_stay_with_their_client_and_reuse_ends_the_family() {
    let (app, admin, id, secret, uma) = scene().await;
    let (id2, secret2) = confidential(&app, &admin).await;
    let code = code_for(&app, &uma, &id, &[]).await;
    let t: Value = json_of(exchange(&app, &id, &secret, &code).await).await;
    let rt1 = t["refresh_token"].as_str().unwrap().to_string();
    // Narrower scopes may be asked for; wider ones not.
    let res = token(
        &app,
        Some((&id, &secret)),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt1),
            ("scope", "openid admin"),
        ],
    )
    .await;
    oauth_error(res, StatusCode::BAD_REQUEST, "invalid_scope").await;
    oauth_error(
        refresh(&app, &id2, &secret2, &rt1).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    // The API's own refresh refuses a client's token.
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/refresh",
            &json!({ "refresh_token": rt1 }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = refresh(&app, &id, &secret, &rt1).await;
    assert_eq!(res.status(), StatusCode::OK, "{:?}", res.text().await);
    let t2: Value = json_of(res).await;
    let rt2 = t2["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2, "rotated");
    let idt = verified(&app, t2["id_token"].as_str().unwrap(), &id, "JWT").await;
    assert_eq!(
        idt["amr"],
        json!(["pwd"]),
        "the sign-in's facts survive a refresh"
    );
    // The old one again: the whole family ends.
    oauth_error(
        refresh(&app, &id, &secret, &rt1).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    oauth_error(
        refresh(&app, &id, &secret, &rt2).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    // Without offline_access there is no refresh token.
    let code = code_for(&app, &uma, &id, &[("scope", "openid")]).await;
    let t: Value = json_of(exchange(&app, &id, &secret, &code).await).await;
    assert!(t.get("refresh_token").is_none());
    assert_eq!(t["scope"], json!("openid"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_gives_no_scope_the_client_has_lost_since() {
    let (app, admin, id, secret, uma) = scene().await;
    let code = code_for(&app, &uma, &id, &[("scope", "openid email offline_access")]).await;
    let t: Value = json_of(exchange(&app, &id, &secret, &code).await).await;
    assert_eq!(t["scope"], json!("openid email offline_access"));
    let rt = t["refresh_token"].as_str().unwrap().to_string();
    // The admin takes email from the client.
    let res = admin
        .patch(app.url(&format!("/api/v1/admin/clients/{id}")))
        .json(&json!({ "scopes": ["openid", "profile", "offline_access", "roles"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // Asked for by name, it is refused (and the token is not spent).
    let res = token(
        &app,
        Some((&id, &secret)),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("scope", "openid email"),
        ],
    )
    .await;
    oauth_error(res, StatusCode::BAD_REQUEST, "invalid_scope").await;
    // Otherwise the grant goes on without it: not in the answer, the ID
    // token or what the access token reads.
    let res = refresh(&app, &id, &secret, &rt).await;
    assert_eq!(res.status(), StatusCode::OK, "{:?}", res.text().await);
    let t2: Value = json_of(res).await;
    assert_eq!(t2["scope"], json!("openid offline_access"));
    let idt = verified(&app, t2["id_token"].as_str().unwrap(), &id, "JWT").await;
    assert!(idt.get("email").is_none(), "{idt}");
    let info: Value = json_of(userinfo(&app, t2["access_token"].as_str().unwrap()).await).await;
    assert_eq!(info["sub"], idt["sub"]);
    assert!(info.get("email").is_none(), "{info}");
    // Without offline_access the client refreshes no more.
    let res = admin
        .patch(app.url(&format!("/api/v1/admin/clients/{id}")))
        .json(&json!({ "scopes": ["openid", "profile"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let rt2 = t2["refresh_token"].as_str().unwrap();
    oauth_error(
        refresh(&app, &id, &secret, rt2).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_give_a_machine_token_and_nothing_more() {
    let (app, admin, id, secret, _) = scene().await;
    let res = token(
        &app,
        Some((&id, &secret)),
        &[("grant_type", "client_credentials"), ("scope", "roles")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let t: Value = json_of(res).await;
    assert!(t.get("id_token").is_none() && t.get("refresh_token").is_none());
    let at = verified(&app, t["access_token"].as_str().unwrap(), &id, "at+jwt").await;
    assert_eq!(at["sub"], json!(id));
    assert_eq!(at["client_id"], json!(id));
    // A public client has no secret to prove it is the machine: it cannot
    // be given the grant, and asking for it is refused.
    let res = app
        .post_json(
            &admin,
            "/api/v1/admin/clients",
            &json!({ "name": "SPA", "type": "public", "redirect_uris": [REDIRECT], "grant_types": ["authorization_code", "client_credentials"] }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let public = register(
        &app,
        &admin,
        json!({ "name": "SPA", "type": "public", "redirect_uris": [REDIRECT] }),
    )
    .await;
    assert!(public.get("client_secret").is_none());
    let res = token(
        &app,
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", public["client_id"].as_str().unwrap()),
        ],
    )
    .await;
    assert!(res.status() == StatusCode::BAD_REQUEST || res.status() == StatusCode::UNAUTHORIZED);
    let body: Value = json_of(res).await;
    assert!(["unauthorized_client", "invalid_client"].contains(&body["error"].as_str().unwrap()));
    // A grant the client was not given.
    let res = token(
        &app,
        Some((&id, &secret)),
        &[("grant_type", "password"), ("username", "uma")],
    )
    .await;
    oauth_error(res, StatusCode::BAD_REQUEST, "unsupported_grant_type").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_client_signs_in_with_pkce_alone() {
    let (app, admin, _id, _secret, uma) = scene().await;
    let public = register(
        &app,
        &admin,
        json!({ "name": "Wiki", "type": "public", "redirect_uris": [REDIRECT], "scopes": ["openid", "email", "offline_access"] }),
    )
    .await;
    let pid = public["client_id"].as_str().unwrap();
    let code = code_for(&app, &uma, pid, &[("scope", "openid email offline_access")]).await;
    let form = |verifier: &'static str| {
        vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code.clone()),
            ("redirect_uri", REDIRECT.to_string()),
            ("code_verifier", verifier.to_string()),
            ("client_id", pid.to_string()),
        ]
    };
    let res = app
        .bare_client()
        .post(app.url("/oauth2/token"))
        .form(&form(VERIFIER))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let t: Value = json_of(res).await;
    let rt = t["refresh_token"].as_str().unwrap();
    let res = app
        .bare_client()
        .post(app.url("/oauth2/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", pid),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_and_revocation_see_revocations_at_once() {
    let (app, admin, id, secret, uma) = scene().await;
    let code = code_for(&app, &uma, &id, &[]).await;
    let t: Value = json_of(exchange(&app, &id, &secret, &code).await).await;
    let access = t["access_token"].as_str().unwrap();
    let rt = t["refresh_token"].as_str().unwrap();
    let i = introspect(&app, &id, &secret, access).await;
    assert_eq!(i["active"], json!(true));
    assert_eq!(i["client_id"], json!(id));
    assert_eq!(i["username"], json!("uma"));
    assert_eq!(i["token_type"], json!("Bearer"));
    assert!(i["exp"].is_i64() && i["sub"].is_string() && i["scope"].is_string());
    assert_eq!(introspect(&app, &id, &secret, rt).await["active"], json!(true));
    assert_eq!(
        introspect(&app, &id, &secret, "nonsense").await,
        json!({ "active": false })
    );
    // Introspection needs the client's credentials.
    let res = app
        .bare_client()
        .post(app.url("/oauth2/introspect"))
        .form(&[("token", access)])
        .send()
        .await
        .unwrap();
    oauth_error(res, StatusCode::UNAUTHORIZED, "invalid_client").await;
    // RFC 7009: revoking the access token; 200 for a token it does not know.
    let revoke = |tok: String| {
        app.bare_client()
            .post(app.url("/oauth2/revoke"))
            .basic_auth(&id, Some(&secret))
            .form(&[("token", tok)])
            .send()
    };
    assert_eq!(revoke("unknown".into()).await.unwrap().status(), StatusCode::OK);
    assert_eq!(revoke(access.into()).await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        introspect(&app, &id, &secret, access).await,
        json!({ "active": false })
    );
    assert_eq!(userinfo(&app, access).await.status(), StatusCode::UNAUTHORIZED);
    // Another client cannot revoke or read this client's tokens.
    let (id2, secret2) = confidential(&app, &admin).await;
    assert_eq!(
        introspect(&app, &id2, &secret2, rt).await,
        json!({ "active": false })
    );
    let code = code_for(&app, &uma, &id, &[]).await;
    let fresh: Value = json_of(exchange(&app, &id, &secret, &code).await).await;
    let fresh_access = fresh["access_token"].as_str().unwrap();
    assert_eq!(
        introspect(&app, &id, &secret, fresh_access).await["active"],
        json!(true)
    );
    assert_eq!(
        introspect(&app, &id2, &secret2, fresh_access).await,
        json!({ "active": false })
    );
    let res = app
        .bare_client()
        .post(app.url("/oauth2/revoke"))
        .basic_auth(&id2, Some(&secret2))
        .form(&[("token", rt)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(introspect(&app, &id, &secret, rt).await["active"], json!(true));
    // Its own client revokes the refresh token.
    assert_eq!(revoke(rt.into()).await.unwrap().status(), StatusCode::OK);
    oauth_error(
        refresh(&app, &id, &secret, rt).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_disconnecting_and_signing_out_everywhere_end_the_grants() {
    let (app, admin, id, secret, uma) = scene().await;
    let grant = |browser: Client| {
        let (app, id, secret) = (&app, id.clone(), secret.clone());
        async move {
            let code = code_for(app, &browser, &id, &[]).await;
            let t: Value = json_of(exchange(app, &id, &secret, &code).await).await;
            (
                t["access_token"].as_str().unwrap().to_string(),
                t["refresh_token"].as_str().unwrap().to_string(),
            )
        }
    };
    // Disconnecting the app: its refresh tokens end and consent is asked again.
    let (access, rt) = grant(uma.clone()).await;
    let res = uma
        .delete(app.url(&format!("/api/v1/users/me/apps/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    oauth_error(
        refresh(&app, &id, &secret, &rt).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert_eq!(userinfo(&app, &access).await.status(), StatusCode::UNAUTHORIZED);
    let res = authorize(&app, &uma, &authorize_path(&id, &[])).await;
    assert!(location(&res).starts_with("/oauth2/consent?"));
    // Signing out everywhere (here by the admin).
    let (_, rt) = grant(uma.clone()).await;
    let uid = app.whoami(&uma).await["user"]["id"].as_str().unwrap().to_string();
    let res = admin
        .delete(app.url(&format!("/api/v1/admin/users/{uid}/sessions")))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    oauth_error(
        refresh(&app, &id, &secret, &rt).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    // Disabling the user.
    let uma = app.login("uma", PASSWORD).await;
    let (access, rt) = grant(uma.clone()).await;
    let res = admin
        .patch(app.url(&format!("/api/v1/admin/users/{uid}")))
        .json(&json!({ "disabled": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    oauth_error(
        refresh(&app, &id, &secret, &rt).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert_eq!(userinfo(&app, &access).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        introspect(&app, &id, &secret, &access).await["active"],
        json!(false)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_login_and_max_age_ask_for_a_fresh_sign_in() {
    let (app, _admin, id, secret, uma) = scene().await;
    code_for(&app, &uma, &id, &[]).await; // consent given
                                          // The marker of "signed in since" cannot be forged, nor carried over
                                          // from another request.
    let res = authorize(
        &app,
        &uma,
        &authorize_path(&id, &[("prompt", "login"), ("login_after", "0")]),
    )
    .await;
    assert!(location(&res).starts_with("/reauth?return="), "a forged marker");
    let return_of = |to: &str| {
        url::Url::parse(&app.url(to))
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "return")
            .unwrap()
            .1
            .into_owned()
    };
    let marker = |back: &str| {
        url::Url::parse(&app.url(back))
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "login_after")
            .unwrap()
            .1
            .into_owned()
    };
    let old_marker = marker(&return_of(&location(&res)));
    let other = challenge("another-verifier-for-another-request-0123456789");
    let res = authorize(
        &app,
        &uma,
        &authorize_path(
            &id,
            &[
                ("prompt", "login"),
                ("login_after", &old_marker),
                ("code_challenge", &other),
            ],
        ),
    )
    .await;
    assert!(
        location(&res).starts_with("/reauth?return="),
        "another request's marker"
    );
    for extra in [vec![("prompt", "login")], vec![("max_age", "0")]] {
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let res = authorize(&app, &uma, &authorize_path(&id, &extra)).await;
        let to = location(&res);
        assert!(to.starts_with("/reauth?return="), "{extra:?}: {to}");
        let back = url::Url::parse(&app.url(&to))
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "return")
            .unwrap()
            .1
            .into_owned();
        // Coming back without signing in again asks again.
        let res = authorize(&app, &uma, &back).await;
        assert!(location(&res).starts_with("/reauth?return="), "{extra:?}");
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let res = app
            .post_json(
                &uma,
                "/api/v1/auth/reauthenticate",
                &json!({ "password": PASSWORD }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = authorize(&app, &uma, &back).await;
        let q = callback(&location(&res));
        let t: Value = json_of(exchange(&app, &id, &secret, &q["code"]).await).await;
        let idt = verified(&app, t["id_token"].as_str().unwrap(), &id, "JWT").await;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!(
            now - idt["auth_time"].as_i64().unwrap() <= 2,
            "auth_time is the fresh sign-in"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_factor_sign_in_says_so_in_amr() {
    let (app, _admin, id, secret, _) = scene().await;
    let uma = app.login("uma", PASSWORD).await;
    let (totp_secret, recovery) = enable_totp(&app, &uma).await;
    settle_step(8).await;
    let (browser, _) = password_step(&app, "uma", PASSWORD).await;
    // Waiting for the second factor is not signed in.
    let res = authorize(&app, &browser, &authorize_path(&id, &[])).await;
    assert!(location(&res).starts_with("/login?return="));
    let res = app
        .post_json(
            &browser,
            "/api/v1/auth/mfa/verify",
            &json!({ "code": totp(&totp_secret, 1) }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let code = code_for(&app, &browser, &id, &[]).await;
    let t: Value = json_of(exchange(&app, &id, &secret, &code).await).await;
    let idt = verified(&app, t["id_token"].as_str().unwrap(), &id, "JWT").await;
    assert_eq!(idt["amr"], json!(["pwd", "otp", "mfa"]));
    // The first session signed in with the password alone (before the app
    // was set up); asked for a fresh sign-in (max_age=0) and made again with
    // the password and a recovery code, its next ID token says so.
    let code = code_for(&app, &uma, &id, &[]).await;
    let t: Value = json_of(exchange(&app, &id, &secret, &code).await).await;
    let idt = verified(&app, t["id_token"].as_str().unwrap(), &id, "JWT").await;
    assert_eq!(idt["amr"], json!(["pwd"]));
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let res = authorize(&app, &uma, &authorize_path(&id, &[("max_age", "0")])).await;
    let to = location(&res);
    assert!(to.starts_with("/reauth?return="), "{to}");
    let back = url::Url::parse(&app.url(&to))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "return")
        .unwrap()
        .1
        .into_owned();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let res = app
        .post_json(
            &uma,
            "/api/v1/auth/reauthenticate",
            &json!({ "password": PASSWORD, "recovery_code": recovery[0] }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = authorize(&app, &uma, &back).await;
    let q = callback(&location(&res));
    let t: Value = json_of(exchange(&app, &id, &secret, &q["code"]).await).await;
    let idt = verified(&app, t["id_token"].as_str().unwrap(), &id, "JWT").await;
    assert_eq!(idt["amr"], json!(["pwd", "otp", "mfa"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rp_initiated_logout_asks_unless_the_client_proves_the_user() {
    let (app, _admin, id, secret, uma) = scene().await;
    let code = code_for(&app, &uma, &id, &[]).await;
    let t: Value = json_of(exchange(&app, &id, &secret, &code).await).await;
    let hint = t["id_token"].as_str().unwrap();
    // An unregistered return address: refused, never redirected.
    let q = |pairs: &[(&str, &str)]| {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            s.append_pair(k, v);
        }
        format!("/oauth2/logout?{}", s.finish())
    };
    let res = app
        .get_page(
            &uma,
            &q(&[
                ("client_id", &id),
                ("post_logout_redirect_uri", "https://evil.test/"),
            ]),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.headers().get(header::LOCATION).is_none());
    // No proof: a question, and the user stays signed in.
    let res = app.get_page(&uma, &q(&[("client_id", &id)])).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("Wiki asks to sign you out"));
    assert_eq!(app.whoami(&uma).await["authenticated"], json!(true));
    // A forged hint proves nothing either.
    let forged = format!("{}x", &hint[..hint.len() - 1]);
    let res = app.get_page(&uma, &q(&[("id_token_hint", &forged)])).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.whoami(&uma).await["authenticated"], json!(true));
    // The hint: signed out at once, back to the app with its state.
    let res = app
        .get_page(
            &uma,
            &q(&[
                ("id_token_hint", hint),
                ("post_logout_redirect_uri", AFTER_LOGOUT),
                ("state", "bye"),
            ]),
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), format!("{AFTER_LOGOUT}?state=bye"));
    assert_eq!(app.whoami(&uma).await["authenticated"], json!(false));
    // Signed out already: straight back.
    let res = app
        .get_page(
            &uma,
            &q(&[("client_id", &id), ("post_logout_redirect_uri", AFTER_LOGOUT)]),
        )
        .await;
    assert_eq!(location(&res), AFTER_LOGOUT);
    // The question's answer signs out.
    let uma = app.login("uma", PASSWORD).await;
    let res = uma
        .post(app.url("/oauth2/logout/confirm"))
        .header(header::ORIGIN, app.origin())
        .form(&[("client_id", id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/login?signed_out=1");
    assert_eq!(app.whoami(&uma).await["authenticated"], json!(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_are_managed_by_admins_with_validated_addresses() {
    let app = provider().await;
    let admin = app.setup_admin().await;
    for bad in [
        json!({ "name": "x", "redirect_uris": ["http://example.com/cb"] }),
        json!({ "name": "x", "redirect_uris": ["https://example.com/cb#frag"] }),
        json!({ "name": "x", "redirect_uris": ["https://user@example.com/cb"] }),
        json!({ "name": "x", "redirect_uris": ["not a url"] }),
        json!({ "name": "x", "redirect_uris": [] }),
        json!({ "name": "", "redirect_uris": ["https://example.com/cb"] }),
        json!({ "name": "x", "redirect_uris": ["https://example.com/cb"], "scopes": ["admin"] }),
        json!({ "name": "x", "redirect_uris": ["https://example.com/cb"], "grant_types": ["password"] }),
        json!({ "name": "x", "redirect_uris": ["https://example.com/cb"], "type": "secretive" }),
    ] {
        let res = app.post_json(&admin, "/api/v1/admin/clients", &bad).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert!(json_of(res).await["error"].is_string());
    }
    let created = register(
        &app,
        &admin,
        json!({ "name": "Dash", "redirect_uris": ["https://dash.example.com/cb", "http://localhost:8080/cb"] }),
    )
    .await;
    let cid = created["client_id"].as_str().unwrap().to_string();
    let secret = created["client_secret"].as_str().unwrap().to_string();
    assert!(URL_SAFE_NO_PAD
        .decode(&secret)
        .map(|b| b.len() >= 32)
        .unwrap_or(secret.len() >= 43));
    assert_eq!(created["type"], json!("confidential"));
    assert_eq!(created["scopes"], json!(["openid", "profile", "email"]));
    assert_eq!(
        created["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(created["first_party"], json!(false));
    assert_eq!(created["enabled"], json!(true));
    let list = app
        .get(&admin, "/api/v1/admin/clients")
        .await
        .text()
        .await
        .unwrap();
    assert!(list.contains(&cid) && !list.contains(&secret) && !list.contains("client_secret"));
    let stored: i64 = with_pool!(app, pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM oauth_clients WHERE secret_hash = $1"
    )
    .bind(&secret)
    .fetch_one(pool)
    .await
    .unwrap());
    assert_eq!(stored, 0, "the secret is stored hashed");
    // Change, rotate, delete.
    let res = admin
        .patch(app.url(&format!("/api/v1/admin/clients/{cid}")))
        .json(&json!({ "name": "Dashboard", "enabled": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let changed: Value = json_of(res).await;
    assert_eq!(
        (changed["name"].as_str(), changed["enabled"].as_bool()),
        (Some("Dashboard"), Some(false))
    );
    let res = admin
        .post(app.url(&format!("/api/v1/admin/clients/{cid}/secret")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let rotated = json_of(res).await["client_secret"].as_str().unwrap().to_string();
    assert_ne!(rotated, secret);
    // Switched off: its sign-in requests are refused without a redirect.
    let res = app
        .get_page(
            &admin,
            &authorize_path(&cid, &[("redirect_uri", "http://localhost:8080/cb")]),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = admin
        .delete(app.url(&format!("/api/v1/admin/clients/{cid}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&admin, &format!("/api/v1/admin/clients/{cid}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    // A user is not an admin.
    app.signup("uma@example.com", Some("uma")).await;
    let uma = app.login("uma", PASSWORD).await;
    let res = app
        .post_json(
            &uma,
            "/api/v1/admin/clients",
            &json!({ "name": "x", "redirect_uris": [REDIRECT] }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.get(&uma, "/api/v1/admin/clients").await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_party_client_skips_the_consent_page() {
    let (app, admin, _, _, uma) = scene().await;
    let c = register(
        &app,
        &admin,
        json!({ "name": "Intranet", "redirect_uris": [REDIRECT], "first_party": true }),
    )
    .await;
    let res = authorize(
        &app,
        &uma,
        &authorize_path(c["client_id"].as_str().unwrap(), &[("scope", "openid email")]),
    )
    .await;
    assert!(callback(&location(&res)).contains_key("code"));
}

/// Registering an app with the page's form (no JavaScript: a plain post; with
/// it: the same post sent by the page's island, `Gatehouse-Form`, whose
/// redirect comes back as a header) shows the new secret on the next page,
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clients_form_shows_a_new_secret_on_the_next_page_once() {
    let app = provider().await;
    let admin = app.setup_admin().await;
    for (name, from_island) in [("Wiki", false), ("Chat", true)] {
        let mut post = admin
            .post(app.url("/fn/admin_create_client"))
            .header(header::ORIGIN, app.origin())
            .header(header::REFERER, app.url("/admin/clients"))
            .header(header::ACCEPT, "text/html");
        if from_island {
            post = post.header("Gatehouse-Form", "1");
        }
        let res = post
            .form(&[
                ("name", name),
                ("kind", "confidential"),
                ("redirect_uris", "https://app.example.com/callback"),
                ("post_logout_redirect_uris", ""),
                ("openid", "on"),
                ("authorization_code", "on"),
            ])
            .send()
            .await
            .unwrap();
        let next = if from_island {
            assert_eq!(res.status(), StatusCode::NO_CONTENT, "{name}");
            assert!(res.headers().get(header::LOCATION).is_none());
            res.headers()["gatehouse-location"].to_str().unwrap().to_string()
        } else {
            assert!(res.status().is_redirection(), "{name}: {}", res.status());
            location(&res)
        };
        assert_eq!(next, "/admin/clients?done=created");
        let page = app.get_page(&admin, &next).await.text().await.unwrap();
        assert!(
            page.contains("data-testid=\"new-client-secret\""),
            "{name}: the secret is shown"
        );
        assert!(page.contains(name));
        let again = app.get_page(&admin, &next).await.text().await.unwrap();
        assert!(!again.contains("new-client-secret"), "{name}: and only once");
    }
}
