//! Bearer tokens: the token endpoint, access-token validation, refresh-token
//! rotation, reuse detection and revocation.

use crate::common::*;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use reqwest::{header, StatusCode};
use serde_json::{json, Value};

async fn tokens(app: &TestApp, identifier: &str, password: &str) -> Value {
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/token",
            &json!({ "username": identifier, "password": password }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    json_of(res).await
}

async fn me_with(app: &TestApp, token: &str) -> reqwest::Response {
    app.bare_client()
        .get(app.url("/api/v1/users/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn refresh_with(app: &TestApp, refresh_token: &str) -> reqwest::Response {
    app.post_json(
        &app.bare_client(),
        "/api/v1/auth/refresh",
        &json!({ "refresh_token": refresh_token }),
    )
    .await
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

fn split(token: &str) -> (Value, Value, String) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    let claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    (header, claims, parts[2].to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_endpoint_returns_a_pair_and_a_scoped_refresh_cookie() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/token",
            &json!({ "email": "admin@example.com", "password": ADMIN_PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = set_cookie(&res, "gatehouse_refresh").expect("refresh cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/api/v1/auth", "Max-Age="] {
        assert!(cookie.contains(attr), "{attr} in {cookie}");
    }
    assert!(
        set_cookie(&res, "gatehouse_session").is_none(),
        "tokens do not start a browser session"
    );
    assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
    let body = json_of(res).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(cookie_value(&cookie), body["refresh_token"].as_str().unwrap());
    let refresh = body["refresh_token"].as_str().unwrap();
    assert!(
        URL_SAFE_NO_PAD.decode(refresh).unwrap().len() >= 16,
        "at least 128 bits"
    );

    let (header, claims, _) = split(body["access_token"].as_str().unwrap());
    assert_eq!(header["alg"], "RS256");
    assert!(header["kid"].is_string());
    for claim in ["sub", "role", "iat", "exp", "jti"] {
        assert!(!claims[claim].is_null(), "{claim} in {claims}");
    }
    assert_eq!(claims["role"], "admin");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );

    // Refresh tokens are stored only as hashes.
    let stored: Vec<String> = with_pool!(app, pool => {
        sqlx::query_scalar("SELECT token_hash FROM refresh_tokens")
            .fetch_all(pool)
            .await
            .unwrap()
    });
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], refresh);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_endpoint_checks_credentials_like_login() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let c = app.bare_client();
    for body in [
        json!({ "username": ADMIN, "password": "wrong password" }),
        json!({ "username": "ghost", "password": "wrong password" }),
    ] {
        let res = app.post_json(&c, "/api/v1/auth/token", &body).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(json_of(res).await, json!({ "error": "invalid credentials" }));
    }
    let res = app
        .post_json(&c, "/api/v1/auth/token", &json!({ "username": ADMIN }))
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bearer_token_identifies_the_user() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let pair = tokens(&app, ADMIN, ADMIN_PASSWORD).await;
    let res = me_with(&app, pair["access_token"].as_str().unwrap()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let me = json_of(res).await;
    assert_eq!(me["username"], ADMIN);
    assert_eq!(me["role"], "admin");
    assert!(me.get("password_hash").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_credentials_me_answers_401_with_a_bearer_challenge() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let res = app.get(&app.bare_client(), "/api/v1/users/me").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    assert!(json_of(res).await["error"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_in_the_query_string_are_refused() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let pair = tokens(&app, ADMIN, ADMIN_PASSWORD).await;
    let token = pair["access_token"].as_str().unwrap();
    for query in [
        format!("access_token={token}"),
        format!("token={token}"),
        format!("bearer={token}"),
    ] {
        let res = app
            .get(&app.bare_client(), &format!("/api/v1/users/me?{query}"))
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{query}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_tokens_are_refused() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    app.signup("eve@example.com", Some("eve")).await;
    let pair = tokens(&app, "eve", PASSWORD).await;
    let token = pair["access_token"].as_str().unwrap();
    let (header, claims, signature) = split(token);

    // alg=none, with and without a signature.
    let mut none = header.clone();
    none["alg"] = json!("none");
    let unsigned = format!("{}.{}.", b64(&none), b64(&claims));
    let none_signed = format!("{}.{}.{}", b64(&none), b64(&claims), signature);

    // A tampered payload: eve makes herself admin.
    let mut elevated = claims.clone();
    elevated["role"] = json!("admin");
    let tampered = format!("{}.{}.{}", b64(&header), b64(&elevated), signature);

    // Another algorithm, another key.
    let foreign_key = jsonwebtoken::EncodingKey::from_secret(b"not the server's key, not at all");
    let mut foreign_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    foreign_header.typ = header["typ"].as_str().map(str::to_string);
    foreign_header.kid = header["kid"].as_str().map(str::to_string);
    let foreign = jsonwebtoken::encode(&foreign_header, &claims, &foreign_key).unwrap();

    // The right key (the signing key pair's private half), another RSA algorithm.
    let secret: String = with_pool!(app, pool => {
        sqlx::query_scalar("SELECT secret FROM signing_keys WHERE algorithm = 'RS256'")
            .fetch_one(pool)
            .await
            .unwrap()
    });
    let private = jsonwebtoken::EncodingKey::from_rsa_der(&URL_SAFE_NO_PAD.decode(secret).unwrap());
    let mut rs512 = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS512);
    rs512.typ = foreign_header.typ.clone();
    rs512.kid = foreign_header.kid.clone();
    let other_alg = jsonwebtoken::encode(&rs512, &claims, &private).unwrap();

    // The classic confusion: HS256 with the public key (as published) for a secret.
    let jwks = json_of(app.get(&app.bare_client(), "/.well-known/jwks.json").await).await;
    let public = jwks["keys"][0].to_string();
    let confused = jsonwebtoken::encode(
        &foreign_header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(public.as_bytes()),
    )
    .unwrap();

    // The right key and algorithm, but not an access token (no typ) or another audience.
    let mut no_typ = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    no_typ.kid = foreign_header.kid.clone();
    let untyped = jsonwebtoken::encode(&no_typ, &claims, &private).unwrap();
    let mut rs256 = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    rs256.typ = foreign_header.typ.clone();
    rs256.kid = foreign_header.kid.clone();
    let mut other_aud = claims.clone();
    other_aud["aud"] = json!("another-service");
    let wrong_audience = jsonwebtoken::encode(&rs256, &other_aud, &private).unwrap();
    // And the same with the right audience: it is accepted (the forgeries
    // above fail for what they change, not for how they were made).
    let genuine_copy = jsonwebtoken::encode(&rs256, &claims, &private).unwrap();
    assert_eq!(me_with(&app, &genuine_copy).await.status(), StatusCode::OK);

    for (name, forged) in [
        ("alg none, unsigned", unsigned),
        ("alg none, signed", none_signed),
        ("tampered payload", tampered),
        ("foreign key", foreign),
        ("RS512", other_alg),
        ("HS256 with the public key", confused),
        ("no typ", untyped),
        ("wrong audience", wrong_audience),
        ("garbage", "not.a.jwt".to_string()),
    ] {
        let res = me_with(&app, &forged).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{name}");
        let challenge = res.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            challenge.starts_with("Bearer") && challenge.contains("invalid_token"),
            "{name}: {challenge}"
        );
    }
    // The genuine token still works.
    assert_eq!(me_with(&app, token).await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_token_does_not_fall_back_to_the_session_cookie() {
    let app = TestApp::spawn().await;
    let c = app.setup_admin().await;
    let res = c
        .get(app.url("/api/v1/users/me"))
        .bearer_auth("forged.token.value")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.get(&c, "/api/v1/users/me").await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_tokens_expire_after_their_configured_lifetime() {
    let app = TestApp::spawn_with(&[("GATEHOUSE_ACCESS_TOKEN_SECONDS", "1")]).await;
    app.setup_admin().await;
    let pair = tokens(&app, ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(pair["expires_in"], 1);
    let token = pair["access_token"].as_str().unwrap();
    assert_eq!(me_with(&app, token).await.status(), StatusCode::OK);
    // 1 s lifetime + at most 2 s leeway.
    tokio::time::sleep(std::time::Duration::from_millis(4200)).await;
    let expired = me_with(&app, token).await;
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
    let challenge = expired.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    // The refresh token still gets a fresh one.
    let res = refresh_with(&app, pair["refresh_token"].as_str().unwrap()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let next = json_of(res).await;
    assert_eq!(
        me_with(&app, next["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );
}

/// A refresh that fails after its token was accepted (here the next token
/// cannot be stored) spends nothing: the client's retry works, instead of
/// being taken for a replay that ends the family and signs the user out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_that_fails_midway_spends_nothing() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let first = tokens(&app, ADMIN, ADMIN_PASSWORD).await;
    let r1 = first["refresh_token"].as_str().unwrap().to_string();

    refuse(&app, "INSERT", "refresh_tokens", true).await;
    let res = refresh_with(&app, &r1).await;
    assert!(res.status().is_server_error(), "{}", res.status());
    refuse(&app, "INSERT", "refresh_tokens", false).await;

    let res = refresh_with(&app, &r1).await;
    assert_eq!(res.status(), StatusCode::OK, "the retry of a refresh that failed");
    let second = json_of(res).await;
    let r2 = second["refresh_token"].as_str().unwrap().to_string();
    let res = refresh_with(&app, &r2).await;
    assert_eq!(res.status(), StatusCode::OK, "the family lives on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let first = tokens(&app, ADMIN, ADMIN_PASSWORD).await;
    let r1 = first["refresh_token"].as_str().unwrap().to_string();

    let res = refresh_with(&app, &r1).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(set_cookie(&res, "gatehouse_refresh").is_some());
    let second = json_of(res).await;
    let r2 = second["refresh_token"].as_str().unwrap().to_string();
    let a2 = second["access_token"].as_str().unwrap().to_string();
    assert_ne!(r1, r2);
    assert_ne!(first["access_token"], second["access_token"]);
    assert_eq!(me_with(&app, &a2).await.status(), StatusCode::OK);

    // r1 was spent: presenting it again is a replay, and ends the family.
    let res = refresh_with(&app, &r1).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(json_of(res).await["error"].is_string());
    assert_eq!(
        refresh_with(&app, &r2).await.status(),
        StatusCode::UNAUTHORIZED,
        "the family is revoked"
    );
    assert_eq!(
        me_with(&app, &a2).await.status(),
        StatusCode::UNAUTHORIZED,
        "and its access tokens with it"
    );

    // Another family of the same user is untouched.
    let other = tokens(&app, ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(
        refresh_with(&app, other["refresh_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );
}

/// Twelve refreshes race with one token. The spend is one atomic statement,
/// so at most one wins; the others present a spent token, which is reuse, so
/// the family is revoked, and with it whatever the winner was handed (the
/// winner may even lose its own race with that revocation: then none wins).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refreshes_with_one_token_succeed_at_most_once_and_revoke_the_family() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let pair = tokens(&app, ADMIN, ADMIN_PASSWORD).await;
    let token = pair["refresh_token"].as_str().unwrap().to_string();
    let attempts = (0..12).map(|_| {
        let client = app.bare_client();
        let url = app.url("/api/v1/auth/refresh");
        let body = json!({ "refresh_token": token });
        async move {
            let res = client.post(url).json(&body).send().await.unwrap();
            let status = res.status();
            let body: Value = res.json().await.unwrap();
            (status, body)
        }
    });
    let results = futures::future::join_all(attempts).await;
    let statuses: Vec<StatusCode> = results.iter().map(|(s, _)| *s).collect();
    let winners: Vec<&Value> = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .map(|(_, b)| b)
        .collect();
    assert!(winners.len() <= 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    // The race was seen as reuse: the family is revoked and audited.
    let reuse: i64 = with_pool!(app, pool => {
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE event = 'refresh_token_reuse'")
            .fetch_one(pool)
            .await
            .unwrap()
    });
    assert!(reuse >= 1, "{statuses:?}");
    for winner in winners {
        let next = winner["refresh_token"].as_str().unwrap();
        assert_eq!(
            refresh_with(&app, next).await.status(),
            StatusCode::UNAUTHORIZED,
            "the winner's pair died with its family"
        );
        let access = winner["access_token"].as_str().unwrap();
        assert_eq!(me_with(&app, access).await.status(), StatusCode::UNAUTHORIZED);
    }
    // The original token is spent for good.
    assert_eq!(
        refresh_with(&app, &token).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_and_revoke_accept_the_cookie() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    // A client with a cookie jar: the refresh cookie travels by itself.
    let c = app.client();
    let res = app
        .post_json(
            &c,
            "/api/v1/auth/token",
            &json!({ "username": ADMIN, "password": ADMIN_PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = c.post(app.url("/api/v1/auth/refresh")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // A refresh through the cookie gets the next refresh token as the cookie only.
    let next = cookie_value(&set_cookie(&res, "gatehouse_refresh").expect("the next refresh cookie"));
    let pair = json_of(res).await;
    assert!(pair.get("refresh_token").is_none(), "{pair}");
    let res = c.post(app.url("/api/v1/auth/revoke")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let cleared = set_cookie(&res, "gatehouse_refresh").expect("cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(refresh_with(&app, &next).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        me_with(&app, pair["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // Without any token, refresh is a 401.
    let res = app
        .bare_client()
        .post(app.url("/api/v1/auth/refresh"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_by_body_ends_the_family() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let pair = tokens(&app, ADMIN, ADMIN_PASSWORD).await;
    let refresh = pair["refresh_token"].as_str().unwrap();
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/revoke",
            &json!({ "refresh_token": refresh }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json_of(res).await, json!({ "ok": true }));
    assert_eq!(
        refresh_with(&app, refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Unknown tokens: nothing to revoke, still 200.
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/revoke",
            &json!({ "refresh_token": "nope" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_tokens_have_an_absolute_lifetime() {
    let app = TestApp::spawn_with(&[("GATEHOUSE_REFRESH_TOKEN_DAYS", "2")]).await;
    app.setup_admin().await;
    let pair = tokens(&app, ADMIN, ADMIN_PASSWORD).await;
    let (expires, created): (i64, i64) = with_pool!(app, pool => {
        sqlx::query_as("SELECT expires_at, created_at FROM refresh_families")
            .fetch_one(pool)
            .await
            .unwrap()
    });
    assert_eq!(expires - created, 2 * 86400);
    // Rotation does not extend it.
    let res = refresh_with(&app, pair["refresh_token"].as_str().unwrap()).await;
    let next = json_of(res).await;
    let after: i64 = with_pool!(app, pool => {
        sqlx::query_scalar("SELECT expires_at FROM refresh_families")
            .fetch_one(pool)
            .await
            .unwrap()
    });
    assert_eq!(after, expires);
    with_pool!(app, pool => {
        sqlx::query("UPDATE refresh_families SET expires_at = 0")
            .execute(pool)
            .await
            .unwrap();
    });
    assert_eq!(
        refresh_with(&app, next["refresh_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        me_with(&app, next["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_keys_are_shared_by_instances_on_one_database() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let pair = tokens(&app, ADMIN, ADMIN_PASSWORD).await;
    let other = app.restart().await;
    assert_eq!(
        me_with(&other, pair["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );
    let keys: i64 = with_pool!(app, pool => {
        sqlx::query_scalar("SELECT COUNT(*) FROM signing_keys")
            .fetch_one(pool)
            .await
            .unwrap()
    });
    assert_eq!(keys, 1);
}

fn kid_of(token: &str) -> String {
    split(token).0["kid"].as_str().unwrap().to_string()
}

/// Keys have ids so they can be rotated: a new key signs from then on, and
/// tokens signed with the old one keep working until they expire, on every
/// instance; retiring the old keys ends those tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_keys_rotate_by_kid() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let operator = gatehouse::server::core::Client::default();
    let first = tokens(&app, ADMIN, ADMIN_PASSWORD).await;
    let old = first["access_token"].as_str().unwrap().to_string();

    let rotation = app.state.core.rotate_signing_key(false, &operator).await.unwrap();
    assert_ne!(rotation.kid, kid_of(&old));
    assert_eq!(rotation.retired, 0);
    let second = tokens(&app, ADMIN, ADMIN_PASSWORD).await;
    let new = second["access_token"].as_str().unwrap().to_string();
    assert_eq!(kid_of(&new), rotation.kid, "the new key signs");
    let other = app.restart().await;
    for (instance, token) in [(&app, &old), (&app, &new), (&other, &old), (&other, &new)] {
        assert_eq!(me_with(instance, token).await.status(), StatusCode::OK);
    }
    let third = tokens(&other, ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(kid_of(third["access_token"].as_str().unwrap()), rotation.kid);

    // A leaked key: retire everything older at once.
    let again = app.state.core.rotate_signing_key(true, &operator).await.unwrap();
    assert_eq!(again.retired, 2);
    let res = me_with(&app, &old).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().contains_key(header::WWW_AUTHENTICATE));
    assert_eq!(me_with(&app, &new).await.status(), StatusCode::UNAUTHORIZED);
    // Refresh tokens are not signed: the family goes on, under the new key.
    let res = refresh_with(&app, second["refresh_token"].as_str().unwrap()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let fresh = json_of(res).await;
    let fresh = fresh["access_token"].as_str().unwrap();
    assert_eq!(kid_of(fresh), again.kid);
    assert_eq!(me_with(&app, fresh).await.status(), StatusCode::OK);
    let rows: Vec<String> = with_pool!(app, pool => {
        sqlx::query_scalar("SELECT event FROM audit_log WHERE event = 'signing_key_rotated'")
            .fetch_all(pool)
            .await
            .unwrap()
    });
    assert_eq!(rows.len(), 2);
}
