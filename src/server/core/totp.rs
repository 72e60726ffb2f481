//! RFC 6238 time-based one-time passwords (HMAC-SHA1, 6 digits, 30-second
//! steps), the `otpauth://` URI authenticator apps read, and its QR code.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Seconds per step.
const STEP: i64 = 30;
/// Digits per code.
const DIGITS: u32 = 6;
/// Bytes of secret: 160 bits, as RFC 4226 recommends.
const SECRET_BYTES: usize = 20;

/// A new random secret, base32 (what apps show and what is stored).
pub fn new_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    data_encoding::BASE32_NOPAD.encode(&bytes)
}

/// The time step of Unix second `now`.
fn step_at(now: i64) -> i64 {
    now.div_euclid(STEP)
}

/// The code of `step` (RFC 4226 HOTP with the step as counter).
fn code_at(secret: &[u8], step: i64) -> u32 {
    // HMAC takes a key of any length.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else {
        return u32::MAX;
    };
    mac.update(&(step as u64).to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    binary % 10u32.pow(DIGITS)
}

/// The step whose code `code` is, among the step of `now` and one step of
/// drift either way; `None` when it is none of them (or not six digits).
pub fn matching_step(secret_b32: &str, code: &str, now: i64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let wanted: u32 = code.parse().ok()?;
    let secret = data_encoding::BASE32_NOPAD.decode(secret_b32.as_bytes()).ok()?;
    let now_step = step_at(now);
    let mut found = None;
    // Look at every candidate, so the time taken does not say which matched.
    for step in [now_step - 1, now_step, now_step + 1] {
        if constant_time_eq(code_at(&secret, step), wanted) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

fn constant_time_eq(a: u32, b: u32) -> bool {
    (a ^ b) == 0
}

/// `otpauth://totp/Gatehouse:alice?secret=...&issuer=Gatehouse&...`
pub fn otpauth_uri(issuer: &str, account: &str, secret_b32: &str) -> String {
    let enc =
        |s: &str| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
    format!(
        "otpauth://totp/{}:{}?secret={secret_b32}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP}",
        enc(issuer),
        enc(account),
        enc(issuer)
    )
}

/// The URI as a QR code: an SVG image, as a `data:` URL for an `<img>`.
pub fn qr_data_url(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build();
    Some(format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1, with the 20-byte ASCII secret
    /// "12345678901234567890" (8-digit codes there; the last 6 digits here).
    #[test]
    fn rfc_6238_test_vectors() {
        let secret = b"12345678901234567890";
        for (time, eight) in [
            (59, 94_287_082u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            assert_eq!(code_at(secret, step_at(time)), eight % 1_000_000, "t={time}");
        }
    }

    #[test]
    fn one_step_of_drift_either_way() {
        let b32 = data_encoding::BASE32_NOPAD.encode(b"12345678901234567890");
        let now = 1_111_111_111;
        let code = |step: i64| format!("{:06}", code_at(b"12345678901234567890", step));
        let here = step_at(now);
        assert_eq!(matching_step(&b32, &code(here), now), Some(here));
        assert_eq!(matching_step(&b32, &code(here - 1), now), Some(here - 1));
        assert_eq!(matching_step(&b32, &code(here + 1), now), Some(here + 1));
        assert_eq!(matching_step(&b32, &code(here - 2), now), None);
        assert_eq!(matching_step(&b32, &code(here + 2), now), None);
        assert_eq!(matching_step(&b32, "12345", now), None);
        assert_eq!(matching_step(&b32, "abcdef", now), None);
        let spaced = format!("{} {}", &code(here)[..3], &code(here)[3..]);
        assert_eq!(
            matching_step(&b32, &spaced, now),
            Some(here),
            "spaces are ignored"
        );
    }

    #[test]
    fn secrets_are_160_bits_of_base32() {
        let s = new_secret();
        assert_eq!(
            data_encoding::BASE32_NOPAD.decode(s.as_bytes()).unwrap().len(),
            20
        );
        assert_ne!(s, new_secret());
    }

    #[test]
    fn the_uri_and_qr_code() {
        let uri = otpauth_uri("Gatehouse", "alice@example.com", "ABC");
        assert_eq!(
            uri,
            "otpauth://totp/Gatehouse:alice%40example%2Ecom?secret=ABC&issuer=Gatehouse&algorithm=SHA1&digits=6&period=30"
        );
        assert!(qr_data_url(&uri)
            .unwrap()
            .starts_with("data:image/svg+xml;base64,"));
    }
}
