//! Second factors in tests: TOTP codes computed here (independently of the
//! server), enrolment, and the password step of a sign-in.

use super::{json_of, TestApp};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// RFC 6238 (SHA-1, 6 digits, 30 s) from the base32 secret, written here
/// rather than borrowed from the server.
pub fn totp(secret_b32: &str, offset_steps: i64) -> String {
    let key = data_encoding::BASE32_NOPAD
        .decode(secret_b32.as_bytes())
        .expect("base32");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let step = (now / 30 + offset_steps) as u64;
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&key).unwrap();
    mac.update(&step.to_be_bytes());
    let d = mac.finalize().into_bytes();
    let o = (d[19] & 0x0f) as usize;
    let n = u32::from_be_bytes([d[o] & 0x7f, d[o + 1], d[o + 2], d[o + 3]]) % 1_000_000;
    format!("{n:06}")
}

/// Seconds left in the current 30-second step; waits for a fresh step when
/// fewer than `margin` remain, so a test's codes do not straddle a boundary.
pub async fn settle_step(margin: i64) {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let left = 30 - now % 30;
    if left < margin {
        tokio::time::sleep(std::time::Duration::from_secs(left as u64 + 1)).await;
    }
}

/// Turns on TOTP for the signed-in `client`; returns the secret and the
/// recovery codes.
pub async fn enable_totp(app: &TestApp, client: &reqwest::Client) -> (String, Vec<String>) {
    let res = app
        .post_json(client, "/api/v1/users/me/mfa/totp", &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = json_of(res).await;
    let secret = body["secret"].as_str().unwrap().to_string();
    let uri = body["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/Gatehouse:") && uri.contains(&format!("secret={secret}")),
        "{uri}"
    );
    assert!(body["qr_code"]
        .as_str()
        .unwrap()
        .starts_with("data:image/svg+xml;base64,"));
    assert_eq!(
        data_encoding::BASE32_NOPAD
            .decode(secret.as_bytes())
            .unwrap()
            .len(),
        20,
        "160 bits"
    );
    // A wrong code does not confirm it.
    let res = app
        .post_json(
            client,
            "/api/v1/users/me/mfa/totp/confirm",
            &json!({ "code": "000000" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .post_json(
            client,
            "/api/v1/users/me/mfa/totp/confirm",
            &json!({ "code": totp(&secret, 0) }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let codes: Vec<String> = serde_json::from_value(json_of(res).await["recovery_codes"].clone()).unwrap();
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

/// The password step; returns the client (holding the pending sign-in) and the answer.
pub async fn password_step(app: &TestApp, identifier: &str, password: &str) -> (reqwest::Client, Value) {
    let client = app.client();
    let res = app
        .post_json(
            &client,
            "/api/v1/auth/login",
            &json!({ "username": identifier, "password": password }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = json_of(res).await;
    (client, body)
}
