//! Passkeys in tests: a software authenticator (webauthn-authenticator-rs)
//! plays the browser's part against the JSON API.

use super::{json_of, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use webauthn_authenticator_rs::{softpasskey::SoftPasskey, WebauthnAuthenticator};
use webauthn_rs_proto::{CreationChallengeResponse, RequestChallengeResponse};

/// The origin the test apps accept passkeys from without a public URL
/// (`localhost`, any port).
pub fn origin() -> url::Url {
    url::Url::parse("http://localhost").expect("a URL")
}

/// The origin `app` accepts passkeys from: its public URL, or [`origin`].
pub fn origin_of(app: &TestApp) -> url::Url {
    match &app.public_url {
        Some(url) => url::Url::parse(url).expect("a public URL"),
        None => origin(),
    }
}

/// Registers a passkey on the soft authenticator for the signed-in client;
/// returns the created passkey's JSON. Checks on the way that the credential
/// asked for is discoverable and user-verifying, and that the ceremony is
/// single use.
pub async fn register(app: &TestApp, client: &reqwest::Client, authr: &mut SoftPasskey, name: &str) -> Value {
    let start = json_of(
        app.post_json(client, "/api/v1/users/me/passkeys/register/start", &json!({}))
            .await,
    )
    .await;
    let ceremony = start["ceremony"].as_str().expect("a ceremony").to_string();
    assert_eq!(
        start["publicKey"]["authenticatorSelection"]["residentKey"],
        json!("required"),
        "a discoverable credential"
    );
    assert_eq!(
        start["publicKey"]["authenticatorSelection"]["userVerification"],
        json!("required")
    );
    let ccr: CreationChallengeResponse =
        serde_json::from_value(json!({ "publicKey": start["publicKey"] })).expect("creation options");
    let credential = authr.do_registration(origin_of(app), ccr).expect("registration");
    let res = app
        .post_json(
            client,
            "/api/v1/users/me/passkeys/register/finish",
            &json!({ "ceremony": ceremony, "credential": credential, "name": name }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let created = json_of(res).await;
    // The ceremony is single use.
    let again = app
        .post_json(
            client,
            "/api/v1/users/me/passkeys/register/finish",
            &json!({ "ceremony": ceremony, "credential": credential, "name": name }),
        )
        .await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    created
}

/// Starts a passkey ceremony with `body` (`{}`, `{"second_factor":true}` or
/// `{"reauth":true}`) and has the authenticator answer it; returns the
/// ceremony id and the assertion, not yet sent.
pub async fn assert_with(
    app: &TestApp,
    client: &reqwest::Client,
    authr: &mut SoftPasskey,
    body: Value,
) -> (String, Value) {
    let res = app.post_json(client, "/api/v1/auth/passkey/start", &body).await;
    assert_eq!(res.status(), StatusCode::OK, "passkey start {body}");
    let start = json_of(res).await;
    let rcr: RequestChallengeResponse =
        serde_json::from_value(json!({ "publicKey": start["publicKey"] })).expect("request options");
    let assertion = authr
        .do_authentication(origin_of(app), rcr)
        .expect("authentication");
    (
        start["ceremony"].as_str().expect("a ceremony").to_string(),
        serde_json::to_value(assertion).expect("JSON"),
    )
}

/// Sends an assertion made by [`assert_with`].
pub async fn finish(
    app: &TestApp,
    client: &reqwest::Client,
    ceremony: &str,
    assertion: &Value,
) -> reqwest::Response {
    app.post_json(
        client,
        "/api/v1/auth/passkey/finish",
        &json!({ "ceremony": ceremony, "credential": assertion }),
    )
    .await
}
