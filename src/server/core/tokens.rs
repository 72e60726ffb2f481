//! Bearer tokens for non-browser clients: short-lived JWT access tokens signed
//! with keys kept in the database, and opaque refresh tokens in families.

use super::{
    audit::Event,
    sessions::{Authenticated, Credential},
    Client, Core, Error, Result, User,
};
use crate::server::db::tokens;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The JWT `typ` of access tokens (RFC 9068).
pub(crate) const ACCESS_TYP: &str = "at+jwt";
const ISSUER: &str = "gatehouse";
const AUDIENCE: &str = "gatehouse-api";
/// Clock skew tolerated on `exp`, in seconds.
pub(crate) const LEEWAY: u64 = 2;
/// Revoked families are kept this long (so reuse is still recognised), then purged.
const REVOKED_RETENTION: i64 = 30 * 24 * 3600;

/// Claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub iss: String,
    pub aud: String,
    /// The refresh-token family the token belongs to.
    pub sid: String,
}

/// How the token endpoint's password step ended.
#[derive(Clone, Debug)]
pub enum TokenOutcome {
    Issued(User, TokenPair),
    SecondFactor(super::mfa::PendingSignIn),
}

/// What the token endpoints hand out.
#[derive(Clone, Debug)]
pub struct TokenPair {
    pub access_token: String,
    pub expires_in: u64,
    pub refresh_token: String,
    /// Unix seconds: the refresh token's (and family's) absolute end.
    pub refresh_expires_at: i64,
}

pub(crate) fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// The stored form of a refresh token.
pub fn hash_token(token: &str) -> String {
    format!("{:x}", Sha256::digest(token.as_bytes()))
}

impl Core {
    /// Starts a new refresh-token family for `user` and returns its first pair.
    pub async fn start_token_family(&self, user: &User) -> Result<TokenPair> {
        let now = super::now();
        let family = uuid::Uuid::new_v4().to_string();
        let refresh = random_token(32);
        let expires_at = now + self.config.refresh_token_lifetime.as_secs() as i64;
        tokens::insert_family(
            &self.db,
            &family,
            &user.id,
            &hash_token(&refresh),
            now,
            expires_at,
            user.password_changed_at,
        )
        .await?;
        self.pair(user, &family, refresh, expires_at).await
    }

    async fn pair(
        &self,
        user: &User,
        family: &str,
        refresh: String,
        refresh_expires_at: i64,
    ) -> Result<TokenPair> {
        let now = super::now();
        let lifetime = self.config.access_token_lifetime.as_secs();
        let claims = Claims {
            sub: user.id.clone(),
            role: user.role.as_str().to_string(),
            iat: now,
            exp: now + lifetime as i64,
            jti: uuid::Uuid::new_v4().to_string(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sid: family.to_string(),
        };
        let access_token = self.sign(ACCESS_TYP, &claims).await?;
        Ok(TokenPair {
            access_token,
            expires_in: lifetime,
            refresh_token: refresh,
            refresh_expires_at,
        })
    }

    /// Checks credentials and starts a token family (the token endpoint), or,
    /// for a user with a second factor, answers an `mfa_token` to complete
    /// with [`Core::issue_tokens_mfa`].
    pub async fn issue_tokens(
        &self,
        identifier: &str,
        password: &str,
        client: &Client,
    ) -> Result<TokenOutcome> {
        let user = self.check_credentials(identifier, password, client).await?;
        if let Some(pending) = self.pend_sign_in(&user, false, "password", None).await? {
            return Ok(TokenOutcome::SecondFactor(pending));
        }
        let pair = self.tokens_for(&user, client).await?;
        Ok(TokenOutcome::Issued(user, pair))
    }

    /// Completes the token endpoint's second step.
    pub async fn issue_tokens_mfa(
        &self,
        mfa_token: &str,
        proof: &super::mfa::Proof,
        client: &Client,
    ) -> Result<(User, TokenPair)> {
        let (user, _, _) = self.complete_sign_in(mfa_token, proof, client).await?;
        let pair = self.tokens_for(&user, client).await?;
        Ok((user, pair))
    }

    async fn tokens_for(&self, user: &User, client: &Client) -> Result<TokenPair> {
        let pair = self.start_token_family(user).await?;
        let _ = crate::server::db::users::record_login(&self.db, &user.id, super::now()).await;
        self.audit(Event::TokenIssued, Some(&user.id), client, None).await;
        Ok(pair)
    }

    /// Spends `refresh_token` and returns the next pair of its family. A token
    /// that was already spent revokes the whole family: someone replayed it.
    pub async fn refresh_tokens(&self, refresh_token: &str, client: &Client) -> Result<(User, TokenPair)> {
        let now = super::now();
        let hash = hash_token(refresh_token);
        let next = random_token(32);
        let Some(family) = tokens::rotate(&self.db, &hash, &hash_token(&next), now, None).await? else {
            if let Some((family, user_id)) = tokens::family_of(&self.db, &hash, None).await? {
                let revoked = tokens::revoke_family(&self.db, &family, now, "reuse").await?;
                tracing::warn!("a spent refresh token was presented again; its family is revoked");
                let detail = if revoked {
                    "a spent refresh token was presented again; its family is revoked"
                } else {
                    "a spent refresh token of a revoked family was presented again"
                };
                self.audit(Event::RefreshTokenReuse, Some(&user_id), client, Some(detail))
                    .await;
            }
            return Err(Error::Unauthenticated);
        };
        let Some(found) = tokens::family_with_user(&self.db, &family).await? else {
            return Err(Error::Unauthenticated);
        };
        // A family granted to an OpenID Connect client refreshes at the
        // provider's token endpoint, by that client only.
        if found.client_id.is_some()
            || found.revoked_at.is_some()
            || found.expires_at <= now
            || found.user.disabled
            || found.password_at < found.user.password_changed_at
        {
            return Err(Error::Unauthenticated);
        }
        let user = User::try_from(found.user)?;
        let pair = self.pair(&user, &family, next, found.expires_at).await?;
        Ok((user, pair))
    }

    /// Ends the family of `refresh_token` (spent or not). Unknown tokens are
    /// ignored: there is nothing to revoke.
    pub async fn revoke_refresh_token(&self, refresh_token: &str) -> Result<()> {
        if let Some((family, _user)) = tokens::family_of(&self.db, &hash_token(refresh_token), None).await? {
            tokens::revoke_family(&self.db, &family, super::now(), "revoked").await?;
        }
        Ok(())
    }

    /// The user behind a bearer access token: a valid signature by one of our
    /// keys with that key's algorithm, our issuer and audience, not expired,
    /// its family not revoked and its user not disabled.
    pub async fn authenticate_bearer(&self, token: &str) -> Result<Authenticated> {
        let expect = super::keys::Expect {
            typ: ACCESS_TYP,
            issuer: ISSUER,
            audience: Some(AUDIENCE),
            leeway: LEEWAY,
            expired_ok: false,
        };
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = super::now();
        let cached = match self.verified.get(&digest, now) {
            // Its key must still verify: a retired key's tokens stop at once.
            Some(hit) if self.keys(false).await?.verifies(&hit.kid) => Some(hit),
            _ => None,
        };
        let claims = match cached {
            Some(hit) => hit,
            None => {
                let (claims, kid): (Claims, String) = self.verify_keyed(token, &expect).await?;
                let checked = Checked {
                    kid,
                    exp: claims.exp,
                    sub: claims.sub,
                    sid: claims.sid,
                };
                self.verified.put(digest, checked.clone(), now);
                checked
            }
        };
        let found = tokens::family_with_user(&self.db, &claims.sid)
            .await?
            .ok_or(Error::Unauthenticated)?;
        if found.user.id != claims.sub
            || found.client_id.is_some()
            || found.revoked_at.is_some()
            || found.expires_at <= now
            || found.user.disabled
            || found.password_at < found.user.password_changed_at
        {
            return Err(Error::Unauthenticated);
        }
        let user = User::try_from(found.user)?;
        Ok(Authenticated {
            must_enrol: self.mfa_required_of(&user) && !user.mfa_enabled,
            user,
            credential: Credential::Bearer {
                family: found.family_id,
            },
            auth_at: found.auth_at,
        })
    }

    /// Deletes token families that ended; run periodically.
    pub async fn purge_token_families(&self) -> Result<u64> {
        let now = super::now();
        Ok(tokens::purge(&self.db, now, now - REVOKED_RETENTION).await?)
    }
}

/// What a verified access token says that a request needs, and the key that
/// signed it.
#[derive(Clone, Debug)]
pub(crate) struct Checked {
    kid: String,
    exp: i64,
    sub: String,
    sid: String,
}

/// Access tokens already verified, keyed by the SHA-256 of the token, so a
/// client sending the same token again costs no signature check (an RS256
/// verification is most of a bearer request's work). Only the signature and
/// the claims are remembered: the family and the user are read on every
/// request, so revocation, disabling and password changes stay exact; an
/// entry serves only before the token's `exp` and while its key verifies.
/// At most [`VerifiedTokens::CAPACITY`] entries.
#[derive(Clone, Default)]
pub(crate) struct VerifiedTokens(
    std::sync::Arc<std::sync::Mutex<std::collections::HashMap<[u8; 32], Checked>>>,
);

impl VerifiedTokens {
    const CAPACITY: usize = 4096;

    fn get(&self, digest: &[u8; 32], now: i64) -> Option<Checked> {
        let entries = self.0.lock().ok()?;
        entries.get(digest).filter(|c| now < c.exp).cloned()
    }

    fn put(&self, digest: [u8; 32], checked: Checked, now: i64) {
        let Ok(mut entries) = self.0.lock() else {
            return;
        };
        if entries.len() >= Self::CAPACITY {
            entries.retain(|_, c| now < c.exp);
            if entries.len() >= Self::CAPACITY / 2 {
                // Full of live tokens: start over rather than scan for the
                // oldest (a miss costs one verification).
                entries.clear();
            }
        }
        entries.insert(digest, checked);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().map(|e| e.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::{Checked, VerifiedTokens};

    fn checked(exp: i64) -> Checked {
        Checked {
            kid: "k".into(),
            exp,
            sub: "u".into(),
            sid: "f".into(),
        }
    }

    #[test]
    fn the_verified_token_cache_forgets_expired_tokens_and_stays_bounded() {
        let cache = VerifiedTokens::default();
        cache.put([1; 32], checked(100), 50);
        assert!(cache.get(&[1; 32], 99).is_some());
        assert!(cache.get(&[1; 32], 100).is_none(), "not at exp");
        assert!(cache.get(&[2; 32], 50).is_none());
        for i in 0..(3 * VerifiedTokens::CAPACITY) {
            let mut digest = [0u8; 32];
            digest[..8].copy_from_slice(&(i as u64).to_le_bytes());
            cache.put(digest, checked(1000), 50);
            assert!(cache.len() <= VerifiedTokens::CAPACITY);
        }
        // Expired ones go first when it is full.
        let cache = VerifiedTokens::default();
        for i in 0..VerifiedTokens::CAPACITY {
            let mut digest = [0u8; 32];
            digest[..8].copy_from_slice(&(i as u64).to_le_bytes());
            cache.put(digest, checked(if i == 0 { 1000 } else { 60 }), 50);
        }
        cache.put([9; 32], checked(1000), 70);
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&[0; 32], 70).is_some(), "the live one stays");
    }
}
