//! Bearer tokens for non-browser clients: short-lived JWT access tokens signed
//! with keys kept in the database, and opaque refresh tokens in families.

use super::{
    audit::Event,
    sessions::{Authenticated, Credential},
    Client, Core, Error, Result, User,
};
use crate::server::db::tokens::{self, KeyRow};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jsonwebtoken::{decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::{
    collections::HashMap,
    sync::{Arc, LazyLock},
    time::{Duration, Instant},
};
use tokio::sync::RwLock;

/// The one algorithm accepted. `none` and every other are refused.
const ALGORITHM: Algorithm = Algorithm::HS256;
/// The JWT `typ` of access tokens (RFC 9068).
const ACCESS_TYP: &str = "at+jwt";
const ISSUER: &str = "gatehouse";
const AUDIENCE: &str = "gatehouse-api";
/// Clock skew tolerated on `exp`, in seconds.
const LEEWAY: u64 = 2;
/// What an access token must satisfy besides its signature: the pinned
/// algorithm, our issuer and audience, the registered claims, not expired.
/// Built once per process (its sets were rebuilt on every bearer request).
static VALIDATION: LazyLock<Validation> = LazyLock::new(|| {
    let mut validation = Validation::new(ALGORITHM);
    validation.leeway = LEEWAY;
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
    validation
});
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

/// The signing keys this instance knows, by `kid`.
pub struct KeySet {
    signing: (String, EncodingKey),
    verifying: HashMap<String, DecodingKey>,
}

/// The cached key set and when it was loaded, shared by clones of the core.
#[derive(Clone, Default)]
pub struct KeyCache {
    loaded: Arc<RwLock<Option<Loaded>>>,
    /// How many times the keys were read from the database.
    loads: Arc<std::sync::atomic::AtomicU64>,
    /// When a token with an unknown key id last made us read them.
    last_miss_reload: Arc<std::sync::Mutex<Option<Instant>>>,
}

impl KeyCache {
    /// Whether a token with an unknown key id may make us read the keys now:
    /// at most once per [`MISS_RELOAD_EVERY`], so forged key ids cannot
    /// keep the database and the write lock busy.
    fn may_reload_for_miss(&self) -> bool {
        let Ok(mut last) = self.last_miss_reload.lock() else {
            return false;
        };
        if last.is_some_and(|at| at.elapsed() < MISS_RELOAD_EVERY) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }
}

/// The least time between two key reloads caused by unknown key ids.
const MISS_RELOAD_EVERY: Duration = Duration::from_secs(5);

/// A key set and the moment it was read.
type Loaded = (Arc<KeySet>, Instant);

/// How long an instance trusts its cached keys before reading them again, so
/// a rotation (new signing key, retired keys) reaches every instance.
const KEY_REFRESH: Duration = Duration::from_secs(60);

/// What a rotation did.
#[derive(Clone, Debug)]
pub struct Rotation {
    /// The new signing key's id.
    pub kid: String,
    /// How many older keys were retired (their tokens stop verifying).
    pub retired: u64,
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

fn new_key(created_at: i64) -> KeyRow {
    KeyRow {
        kid: uuid::Uuid::new_v4().simple().to_string(),
        algorithm: "HS256".into(),
        secret: random_token(32),
        created_at,
    }
}

fn build_keyset(rows: &[KeyRow]) -> Result<KeySet> {
    let mut verifying = HashMap::new();
    let mut signing = None;
    for row in rows.iter().filter(|r| r.algorithm == "HS256") {
        let secret = URL_SAFE_NO_PAD
            .decode(&row.secret)
            .map_err(|e| Error::internal("signing key", e))?;
        if signing.is_none() {
            signing = Some((row.kid.clone(), EncodingKey::from_secret(&secret)));
        }
        verifying.insert(row.kid.clone(), DecodingKey::from_secret(&secret));
    }
    let signing = signing.ok_or_else(|| Error::Internal("no signing key".into()))?;
    Ok(KeySet { signing, verifying })
}

impl Core {
    /// Loads the signing keys, creating the first one on the first start, so
    /// a fresh database has its key before the first token is asked for.
    pub async fn load_signing_keys(&self) -> Result<()> {
        self.keys(true).await.map(|_| ())
    }

    /// The key set: cached, read again after `KEY_REFRESH` or when asked,
    /// and created on the first start.
    async fn keys(&self, reload: bool) -> Result<Arc<KeySet>> {
        if !reload {
            if let Some((keys, loaded)) = self.keys.loaded.read().await.clone() {
                if loaded.elapsed() < KEY_REFRESH {
                    return Ok(keys);
                }
            }
        }
        let mut slot = self.keys.loaded.write().await;
        self.keys.loads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut rows = tokens::active_keys(&self.db).await?;
        if rows.is_empty() {
            tokens::insert_key(&self.db, &new_key(super::now())).await?;
            // Another instance may have raced us: use what the database holds.
            rows = tokens::active_keys(&self.db).await?;
        }
        let keys = Arc::new(build_keyset(&rows)?);
        *slot = Some((keys.clone(), Instant::now()));
        Ok(keys)
    }

    /// How many times this instance read the signing keys from the database.
    pub fn key_loads(&self) -> u64 {
        self.keys.loads.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Adds a new signing key, which every instance signs with from its next
    /// key refresh (within a minute). Older keys still verify the tokens they
    /// signed until those expire, unless `retire_previous`: then they are
    /// retired at once and their tokens stop working (for a leaked key).
    pub async fn rotate_signing_key(&self, retire_previous: bool, client: &Client) -> Result<Rotation> {
        let newest = tokens::active_keys(&self.db).await?.first().map(|k| k.created_at);
        // Strictly newer than any key, so it is the one that signs.
        let created_at = newest.map_or(super::now(), |n| super::now().max(n + 1));
        let key = new_key(created_at);
        tokens::insert_key(&self.db, &key).await?;
        let retired = if retire_previous {
            tokens::retire_keys_except(&self.db, &key.kid, super::now()).await?
        } else {
            0
        };
        self.keys(true).await?;
        let detail = format!("new key {}; {retired} older keys retired", key.kid);
        self.audit(Event::SigningKeyRotated, None, client, Some(&detail))
            .await;
        Ok(Rotation {
            kid: key.kid,
            retired,
        })
    }

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
        let keys = self.keys(false).await?;
        let mut header = Header::new(ALGORITHM);
        header.typ = Some(ACCESS_TYP.into());
        header.kid = Some(keys.signing.0.clone());
        let access_token =
            encode(&header, &claims, &keys.signing.1).map_err(|e| Error::internal("signing", e))?;
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
        if let Some(pending) = self.pend_sign_in(&user, false, "password").await? {
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
        let (user, _) = self.complete_sign_in(mfa_token, proof, client).await?;
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
        let Some(family) = tokens::spend(&self.db, &hash, now).await? else {
            if let Some((family, user_id)) = tokens::family_of(&self.db, &hash).await? {
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
        if found.revoked_at.is_some()
            || found.expires_at <= now
            || found.user.disabled
            || found.password_at < found.user.password_changed_at
        {
            return Err(Error::Unauthenticated);
        }
        let user = User::try_from(found.user)?;
        let next = random_token(32);
        tokens::insert_token(&self.db, &family, &hash_token(&next), now).await?;
        let pair = self.pair(&user, &family, next, found.expires_at).await?;
        Ok((user, pair))
    }

    /// Ends the family of `refresh_token` (spent or not). Unknown tokens are
    /// ignored: there is nothing to revoke.
    pub async fn revoke_refresh_token(&self, refresh_token: &str) -> Result<()> {
        if let Some((family, _user)) = tokens::family_of(&self.db, &hash_token(refresh_token)).await? {
            tokens::revoke_family(&self.db, &family, super::now(), "revoked").await?;
        }
        Ok(())
    }

    /// Ends every token family of `user_id` but `keep`.
    pub async fn revoke_token_families(
        &self,
        user_id: &str,
        keep: Option<&str>,
        reason: &str,
    ) -> Result<u64> {
        Ok(tokens::revoke_user_families(&self.db, user_id, keep, super::now(), reason).await?)
    }

    /// The user behind a bearer access token: a valid signature by one of our
    /// keys, the pinned algorithm, our issuer and audience, not expired, its
    /// family not revoked and its user not disabled.
    pub async fn authenticate_bearer(&self, token: &str) -> Result<Authenticated> {
        let header = decode_header(token).map_err(|_| Error::Unauthenticated)?;
        if header.alg != ALGORITHM || header.typ.as_deref() != Some(ACCESS_TYP) {
            return Err(Error::Unauthenticated);
        }
        let kid = header.kid.ok_or(Error::Unauthenticated)?;
        let mut keys = self.keys(false).await?;
        if !keys.verifying.contains_key(&kid) && self.keys.may_reload_for_miss() {
            // Another instance may have rotated in a key we have not seen yet.
            keys = self.keys(true).await?;
        }
        let key = keys.verifying.get(&kid).ok_or(Error::Unauthenticated)?;
        let claims = decode::<Claims>(token, key, &VALIDATION)
            .map_err(|_| Error::Unauthenticated)?
            .claims;
        let found = tokens::family_with_user(&self.db, &claims.sid)
            .await?
            .ok_or(Error::Unauthenticated)?;
        let now = super::now();
        if found.user.id != claims.sub
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
