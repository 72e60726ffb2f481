//! Signing keys (issue 24): every token is signed with an RS256 key pair
//! whose public half `/.well-known/jwks.json` publishes, so any service
//! verifies Gatehouse's tokens with an ordinary JWT library and no shared
//! secret; rotation, retirement, the secrets of earlier versions, sealing,
//! and several instances starting at once.

use crate::common::*;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use reqwest::{header, StatusCode};
use serde_json::{json, Value};

async fn access_token(app: &TestApp) -> String {
    let pair = json_of(
        app.post_json(
            &app.bare_client(),
            "/api/v1/auth/token",
            &json!({ "username": ADMIN, "password": ADMIN_PASSWORD }),
        )
        .await,
    )
    .await;
    pair["access_token"]
        .as_str()
        .expect("an access token")
        .to_string()
}

async fn jwks(app: &TestApp) -> Value {
    json_of(app.get(&app.bare_client(), "/.well-known/jwks.json").await).await
}

async fn me(app: &TestApp, token: &str) -> StatusCode {
    app.bare_client()
        .get(app.url("/api/v1/users/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_service_verifies_the_tokens_with_the_published_keys_alone() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let res = app.get(&app.bare_client(), "/.well-known/jwks.json").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CACHE_CONTROL], "public, max-age=300");
    let set: Value = json_of(res).await;
    let keys = set["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert_eq!(
        (key["kty"].as_str(), key["alg"].as_str(), key["use"].as_str()),
        (Some("RSA"), Some("RS256"), Some("sig"))
    );
    assert!(
        URL_SAFE_NO_PAD.decode(key["n"].as_str().unwrap()).unwrap().len() * 8 >= 2048,
        "2048 bits or more"
    );
    for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
        assert!(key.get(private).is_none(), "no private part: {private}");
    }
    // An ordinary JWT library, the JWKS and nothing else.
    let token = access_token(&app).await;
    assert_eq!(kid_of(&token), key["kid"].as_str().unwrap());
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.clone()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&["gatehouse-api"]);
    let data = jsonwebtoken::decode::<Value>(
        &token,
        &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(),
        &validation,
    )
    .expect("verifies with the published key");
    assert_eq!(data.claims["role"], json!("admin"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_adds_a_key_and_retiring_drops_the_old_one_at_once() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let old_token = access_token(&app).await;
    let old_kid = kid_of(&old_token);
    let rotated = app
        .state
        .core
        .rotate_signing_key(false, &Default::default())
        .await
        .unwrap();
    assert_ne!(rotated.kid, old_kid);
    let new_token = access_token(&app).await;
    assert_eq!(kid_of(&new_token), rotated.kid, "the new key signs");
    assert_eq!(
        me(&app, &old_token).await,
        StatusCode::OK,
        "the old key still verifies"
    );
    let kids: Vec<String> = jwks(&app).await["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect();
    assert!(kids.contains(&old_kid) && kids.contains(&rotated.kid), "{kids:?}");

    // A leaked key: retire everything but a new one.
    let again = app
        .state
        .core
        .rotate_signing_key(true, &Default::default())
        .await
        .unwrap();
    assert_eq!(me(&app, &old_token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&app, &new_token).await, StatusCode::UNAUTHORIZED);
    let kids: Vec<Value> = jwks(&app).await["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].clone())
        .collect();
    assert_eq!(kids, vec![json!(again.kid)]);
    assert_eq!(me(&app, &access_token(&app).await).await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_of_an_earlier_hs256_secret_work_until_it_retires_and_it_is_never_published() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    // A secret of an earlier version, retiring in a minute (as the first key
    // pair set it), and a token it signed.
    let secret = [7u8; 32];
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    with_pool!(app, pool => sqlx::query(
        "INSERT INTO signing_keys (kid, algorithm, secret, created_at, retired_at) VALUES ('oldhs', 'HS256', $1, $2, $3)")
        .bind(URL_SAFE_NO_PAD.encode(secret)).bind(now - 100).bind(now + 60)
        .execute(pool).await.map(|_| ()).unwrap());
    let current = access_token(&app).await;
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(current.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    header.kid = Some("oldhs".into());
    let old =
        jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_secret(&secret)).unwrap();
    app.state.core.load_signing_keys().await.unwrap();
    assert_eq!(me(&app, &old).await, StatusCode::OK, "until it retires");
    assert!(
        !jwks(&app).await.to_string().contains("oldhs"),
        "a secret is never published"
    );
    // The current key never takes an HS256 token, whatever the secret.
    let mut confused = header.clone();
    confused.kid = Some(kid_of(&current));
    let confused = jsonwebtoken::encode(
        &confused,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&secret),
    )
    .unwrap();
    assert_eq!(me(&app, &confused).await, StatusCode::UNAUTHORIZED);
    // Retired: refused.
    with_pool!(app, pool => sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE kid = 'oldhs'")
        .bind(now - 1).execute(pool).await.map(|_| ()).unwrap());
    app.state.core.load_signing_keys().await.unwrap();
    assert_eq!(me(&app, &old).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_keys_are_sealed_with_the_key_encryption_key() {
    let key = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";
    let app = TestApp::spawn_with(&[("GATEHOUSE_KEY_ENCRYPTION_KEY", key)]).await;
    app.setup_admin().await;
    let token = access_token(&app).await;
    let stored: Vec<String> = with_pool!(app, pool => sqlx::query_scalar("SELECT secret FROM signing_keys")
        .fetch_all(pool).await.unwrap());
    assert!(
        !stored.is_empty() && stored.iter().all(|s| s.starts_with("sealed:v1:")),
        "{stored:?}"
    );
    // Another instance with the key reads them.
    let other = app.restart().await;
    assert_eq!(me(&other, &token).await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_starting_at_once_make_one_key_pair() {
    let (url, _dir) = TestApp::fresh_database().await;
    let apps = futures::future::join_all((0..4).map(|_| TestApp::spawn_at(&url, &[]))).await;
    let keys: i64 = with_pool!(apps[0], pool => sqlx::query_scalar("SELECT COUNT(*) FROM signing_keys")
        .fetch_one(pool).await.unwrap());
    assert_eq!(keys, 1, "one current key, whichever instance made it");
    let kids: Vec<Value> = futures::future::join_all(apps.iter().map(jwks))
        .await
        .into_iter()
        .map(|set| set["keys"][0]["kid"].clone())
        .collect();
    assert!(kids.windows(2).all(|w| w[0] == w[1]), "{kids:?}");
}
