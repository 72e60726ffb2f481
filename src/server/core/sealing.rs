//! Secrets at rest: values the server must read back (TOTP secrets; the
//! signing keys later) are sealed with `GATEHOUSE_KEY_ENCRYPTION_KEY` when
//! it is set, so a copied database or backup holds nothing usable without
//! the key, which lives outside the database.
//!
//! AES-256-GCM (ring), a random 96-bit nonce per value, and the value's
//! purpose and owner as associated data: a sealed value moved to another
//! row or column does not open. Sealed text reads `sealed:v1:` followed by
//! base64url(nonce || ciphertext || tag); anything else is a value stored
//! before a key was set, and reads as it is.

use ring::{
    aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN},
    rand::{SecureRandom, SystemRandom},
};

const PREFIX: &str = "sealed:v1:";

/// Why a sealed value could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("this value is sealed, and GATEHOUSE_KEY_ENCRYPTION_KEY is not set")]
    NoKey,
    #[error("this value does not open with GATEHOUSE_KEY_ENCRYPTION_KEY (another key, or damaged)")]
    WrongKey,
    #[error("no random nonce could be drawn")]
    Random,
    #[error("a value stored in the clear where GATEHOUSE_KEY_ENCRYPTION_KEY seals every value")]
    NotSealed,
}

/// The key encryption key: seals and opens values. Its `Debug` shows nothing.
#[derive(Clone)]
pub struct Sealer {
    key: std::sync::Arc<LessSafeKey>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

impl Sealer {
    pub fn new(key: &[u8; 32]) -> Sealer {
        // 32 bytes is AES-256's key length, so this cannot fail.
        let unbound = UnboundKey::new(&AES_256_GCM, key).unwrap_or_else(|_| unreachable!("a 32-byte key"));
        Sealer {
            key: std::sync::Arc::new(LessSafeKey::new(unbound)),
        }
    }

    /// Seals `plain` for `context` (its purpose and owner, e.g. `totp:<user id>`).
    pub fn seal(&self, plain: &str, context: &str) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| SealError::Random)?;
        let mut data = plain.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut data,
            )
            .map_err(|_| SealError::Random)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(format!(
            "{PREFIX}{}",
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, out)
        ))
    }

    fn open_sealed(&self, body: &str, context: &str) -> Result<String, SealError> {
        let raw = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, body)
            .map_err(|_| SealError::WrongKey)?;
        if raw.len() < NONCE_LEN {
            return Err(SealError::WrongKey);
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::WrongKey)?;
        let mut data = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut data)
            .map_err(|_| SealError::WrongKey)?;
        String::from_utf8(plain.to_vec()).map_err(|_| SealError::WrongKey)
    }
}

#[cfg(test)]
/// Whether `stored` is a sealed value.
fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

/// Seals `plain` when there is a key; otherwise stores it as it is.
pub fn seal(sealer: Option<&Sealer>, plain: &str, context: &str) -> Result<String, SealError> {
    match sealer {
        Some(s) => s.seal(plain, context),
        None => Ok(plain.to_string()),
    }
}

/// Reads a stored value: opens a sealed one (with the key it needs). A
/// value in the clear reads as it is only while no key is set: with a key,
/// start-up sealed every value, so one in the clear was planted.
pub fn open(sealer: Option<&Sealer>, stored: &str, context: &str) -> Result<String, SealError> {
    match (stored.strip_prefix(PREFIX), sealer) {
        (None, None) => Ok(stored.to_string()),
        (None, Some(_)) => Err(SealError::NotSealed),
        (Some(_), None) => Err(SealError::NoKey),
        (Some(body), Some(sealer)) => sealer.open_sealed(body, context),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_context() {
        let sealer = Sealer::new(&[7u8; 32]);
        let sealed = sealer.seal("JBSWY3DPEHPK3PXP", "totp:u1").unwrap();
        assert!(is_sealed(&sealed) && !sealed.contains("JBSWY3DPEHPK3PXP"));
        assert_ne!(
            sealed,
            sealer.seal("JBSWY3DPEHPK3PXP", "totp:u1").unwrap(),
            "a fresh nonce each time"
        );
        assert_eq!(
            open(Some(&sealer), &sealed, "totp:u1").unwrap(),
            "JBSWY3DPEHPK3PXP"
        );
        assert!(
            matches!(open(Some(&sealer), &sealed, "totp:u2"), Err(SealError::WrongKey)),
            "another row"
        );
        let other = Sealer::new(&[8u8; 32]);
        assert!(matches!(
            open(Some(&other), &sealed, "totp:u1"),
            Err(SealError::WrongKey)
        ));
        assert!(matches!(open(None, &sealed, "totp:u1"), Err(SealError::NoKey)));
        // A value in the clear reads as it is only without a key.
        assert_eq!(open(None, "PLAIN", "totp:u1").unwrap(), "PLAIN");
        assert!(matches!(
            open(Some(&sealer), "PLAIN", "totp:u1"),
            Err(SealError::NotSealed)
        ));
        assert_eq!(seal(None, "PLAIN", "x").unwrap(), "PLAIN");
    }
}
