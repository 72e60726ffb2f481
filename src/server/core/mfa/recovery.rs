//! Recovery codes: ten single-use codes made with a second factor, stored
//! salted and hashed, the way back in when a phone is lost.

use super::*;

/// Recovery codes made at a time.
pub const RECOVERY_CODES: usize = 10;

/// How a recovery code is stored: `s1:` and a random 128-bit salt, then the
/// SHA-256 of salt and code (both hex). Salted per code, so no one table of
/// the 2^50 codes cracks every account's at once.
pub(super) fn recovery_hash(code: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut salt = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut salt);
    let digest = Sha256::new()
        .chain_update(salt)
        .chain_update(normalize_recovery_code(code).as_bytes())
        .finalize();
    format!("s1:{}:{}", hex::encode(salt), hex::encode(digest))
}

/// Whether `stored` (see [`recovery_hash`]; a bare SHA-256 for codes made
/// before salting) is the hash of the normalised code `typed`.
fn recovery_code_matches(stored: &str, typed: &str) -> bool {
    use sha2::{Digest, Sha256};
    let expected = match stored.strip_prefix("s1:").and_then(|rest| rest.split_once(':')) {
        Some((salt, digest)) => {
            let Ok(salt) = hex::decode(salt) else {
                return false;
            };
            let computed = Sha256::new()
                .chain_update(&salt)
                .chain_update(typed.as_bytes())
                .finalize();
            return constant_time_eq(hex::encode(computed).as_bytes(), digest.as_bytes());
        }
        None => hash_token(typed),
    };
    constant_time_eq(expected.as_bytes(), stored.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A recovery code as typed: case, spaces and dashes do not matter.
fn normalize_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

pub(super) fn new_recovery_code() -> String {
    let mut bytes = [0u8; 7];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    let text = data_encoding::BASE32_NOPAD.encode(&bytes).to_ascii_lowercase();
    format!("{}-{}", &text[..5], &text[5..10])
}

impl Core {
    /// New recovery codes (the password is asked again); the old ones stop working.
    pub async fn regenerate_recovery_codes(
        &self,
        auth: &Authenticated,
        password: &str,
        client: &Client,
    ) -> Result<Vec<String>> {
        self.require_recent_auth(auth)?;
        self.check_current_password(&auth.user, password, client).await?;
        if !auth.user.mfa_enabled && !self.mfa_status(&auth.user.id).await?.totp {
            return Err(Error::StateConflict(
                "recovery codes come with a second factor: set one up first".into(),
            ));
        }
        let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
        let hashes: Vec<String> = codes.iter().map(|c| recovery_hash(c)).collect();
        let mut tx = self.db.begin().await?;
        factors::replace_recovery_codes(&mut tx, &auth.user.id, &hashes, now()).await?;
        let mailed = self
            .queue_factor_notice(&mut tx, &auth.user, FactorChange::RecoveryCodes)
            .await?;
        tx.commit().await?;
        self.wake_mailer_if(mailed);
        self.audit(Event::RecoveryCodesRegenerated, Some(&auth.user.id), client, None)
            .await;
        Ok(codes)
    }

    /// Uses up the unused recovery code of `user_id` that `typed` is, if any.
    pub(super) async fn use_recovery_code(&self, user_id: &str, typed: &str) -> Result<bool> {
        let typed = normalize_recovery_code(typed);
        if typed.is_empty() {
            return Ok(false);
        }
        for stored in factors::unused_recovery_codes(&self.db, user_id).await? {
            if recovery_code_matches(&stored, &typed) {
                return Ok(factors::use_recovery_code(&self.db, user_id, &stored, now()).await?);
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_have_fifty_bits_and_forgive_typing() {
        let code = new_recovery_code();
        assert_eq!(code.len(), 11);
        assert_eq!(&code[5..6], "-");
        assert_ne!(code, new_recovery_code());
        assert_eq!(
            normalize_recovery_code(&code.to_uppercase().replace('-', " ")),
            code.replace('-', "")
        );
    }
}
