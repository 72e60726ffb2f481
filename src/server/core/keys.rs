//! Signing keys: every JWT Gatehouse signs (the API's access tokens, and the
//! OpenID Connect provider's tokens) is signed with an RS256 key pair
//! (2048-bit RSA) kept in the database, so that any service can verify them
//! with the public keys from `/.well-known/jwks.json` and no shared secret.
//!
//! The `rsa` crate only generates a pair (ring cannot generate RSA keys);
//! signing and verifying go through jsonwebtoken's ring backend. Private
//! keys are sealed with `GATEHOUSE_KEY_ENCRYPTION_KEY` when it is set (see
//! [`super::sealing`]). The newest key signs; older keys verify until they
//! are retired. The HS256 secrets of earlier versions verify the tokens they
//! signed until those run out (`GATEHOUSE_ACCESS_TOKEN_SECONDS` after the
//! first key pair exists), and are never published.
//!
//! Each key's algorithm is pinned: a token verifies only with its key's
//! algorithm, never `none`, never an HS256 token against a public key.

use super::{audit::Event, sealing, Client, Core, Error, Result};
use crate::server::db::tokens::{self, KeyRow};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jsonwebtoken::{decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{de::DeserializeOwned, Serialize};
use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::sync::RwLock;

/// The algorithm of the keys Gatehouse makes.
const SIGNING_ALGORITHM: Algorithm = Algorithm::RS256;
/// Bits of an RSA key.
const RSA_BITS: usize = 2048;
/// How long an instance trusts its cached keys before reading them again, so
/// a rotation (new signing key, retired keys) reaches every instance.
const KEY_REFRESH: Duration = Duration::from_secs(60);
/// The least time between two key reloads caused by unknown key ids.
const MISS_RELOAD_EVERY: Duration = Duration::from_secs(5);

/// The key that signs, and every key that verifies, by `kid`.
pub(crate) struct KeySet {
    signing: (String, EncodingKey),
    verifying: HashMap<String, (Algorithm, DecodingKey)>,
    /// The public keys, as `/.well-known/jwks.json` publishes them: the
    /// document, serialised once per key set.
    jwks: bytes::Bytes,
}

impl KeySet {
    /// Whether `kid` is a key that verifies tokens (not retired).
    pub(crate) fn verifies(&self, kid: &str) -> bool {
        self.verifying.contains_key(kid)
    }
}

/// A key set and when it was read from the database.
type Loaded = (Arc<KeySet>, Instant);

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
    /// at most once per [`MISS_RELOAD_EVERY`], so forged key ids cannot keep
    /// the database busy.
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

/// What a rotation did.
#[derive(Clone, Debug)]
pub struct Rotation {
    /// The new signing key's id.
    pub kid: String,
    /// How many older keys were retired (their tokens stop verifying).
    pub retired: u64,
}

/// A new key pair (RSA, off the async runtime: finding primes takes a
/// while): its row, with the private key sealed for `kid` when `sealer` is.
async fn new_key_pair(created_at: i64, sealer: Option<&sealing::Sealer>) -> Result<KeyRow> {
    use rsa::{pkcs1::EncodeRsaPrivateKey, traits::PublicKeyParts};
    let private = tokio::task::spawn_blocking(|| rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, RSA_BITS))
        .await
        .map_err(|e| Error::internal("key generation", e))?
        .map_err(|e| Error::internal("key generation", e))?;
    let kid = uuid::Uuid::new_v4().simple().to_string();
    let der = private
        .to_pkcs1_der()
        .map_err(|e| Error::internal("key encoding", e))?;
    let public = private.to_public_key();
    let jwk = serde_json::json!({
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
        "kid": kid,
        "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
    });
    let secret = sealing::seal(
        sealer,
        &URL_SAFE_NO_PAD.encode(der.as_bytes()),
        &key_context(&kid),
    )
    .map_err(|e| Error::internal("sealing", e))?;
    Ok(KeyRow {
        kid,
        algorithm: "RS256".into(),
        secret,
        public_jwk: Some(jwk.to_string()),
        created_at,
    })
}

/// The associated data a private key is sealed with: it opens in its own
/// row only.
pub(crate) fn key_context(kid: &str) -> String {
    format!("signing_key:{kid}")
}

/// What a token must be to verify.
pub(crate) struct Expect<'a> {
    /// The header's `typ`.
    pub typ: &'a str,
    pub issuer: &'a str,
    /// The audience; `None` takes any (the caller checks it).
    pub audience: Option<&'a str>,
    /// Seconds of clock skew tolerated on `exp`.
    pub leeway: u64,
    /// Whether an expired token still verifies (an `id_token_hint`).
    pub expired_ok: bool,
}

/// The validation of a token signed by a key of algorithm `alg`: that
/// algorithm only, and the registered claims every token carries.
fn validation(alg: Algorithm, expect: &Expect<'_>) -> Validation {
    let mut validation = Validation::new(alg);
    validation.leeway = expect.leeway;
    validation.validate_exp = !expect.expired_ok;
    validation.set_issuer(&[expect.issuer]);
    match expect.audience {
        Some(audience) => validation.set_audience(&[audience]),
        None => validation.validate_aud = false,
    }
    validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
    validation
}

impl Core {
    /// Reads the signing keys at start-up, making the first key pair on the
    /// first start (one, however many instances start at once).
    pub async fn load_signing_keys(&self) -> Result<()> {
        self.keys(true).await.map(|_| ())
    }

    /// The key set: cached, read again after [`KEY_REFRESH`] or when asked.
    pub(crate) async fn keys(&self, reload: bool) -> Result<Arc<KeySet>> {
        if !reload {
            if let Some((keys, loaded)) = self.keys.loaded.read().await.clone() {
                if loaded.elapsed() < KEY_REFRESH {
                    return Ok(keys);
                }
            }
        }
        let mut slot = self.keys.loaded.write().await;
        self.keys.loads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut rows = tokens::active_keys(&self.db, super::now()).await?;
        if !rows.iter().any(|r| r.algorithm == "RS256") {
            self.make_first_key_pair().await?;
            rows = tokens::active_keys(&self.db, super::now()).await?;
        }
        let keys = Arc::new(self.build_keyset(&rows)?);
        *slot = Some((keys.clone(), Instant::now()));
        Ok(keys)
    }

    /// The first key pair of this database. Of several instances starting
    /// at once, one stores its pair (a claim row in the same transaction
    /// decides) and the others read it. HS256 secrets of an earlier version
    /// are retired once the tokens they signed have run out.
    async fn make_first_key_pair(&self) -> Result<()> {
        let now = super::now();
        let key = new_key_pair(now, self.sealer.as_ref()).await?;
        let hs256_until = now + self.config.access_token_lifetime.as_secs() as i64;
        tokens::insert_first_key(&self.db, &key, hs256_until).await?;
        Ok(())
    }

    fn build_keyset(&self, rows: &[KeyRow]) -> Result<KeySet> {
        let mut verifying = HashMap::new();
        let mut signing = None;
        let mut published = Vec::new();
        for row in rows {
            let material = sealing::open(self.sealer.as_ref(), &row.secret, &key_context(&row.kid))
                .map_err(|e| Error::internal("signing key", e))?;
            let bytes = URL_SAFE_NO_PAD
                .decode(&material)
                .map_err(|e| Error::internal("signing key", e))?;
            match row.algorithm.as_str() {
                "RS256" => {
                    let jwk: serde_json::Value = row
                        .public_jwk
                        .as_deref()
                        .and_then(|j| serde_json::from_str(j).ok())
                        .ok_or_else(|| Error::Internal(format!("key {} has no public key", row.kid)))?;
                    let (n, e) = (jwk["n"].as_str().unwrap_or(""), jwk["e"].as_str().unwrap_or(""));
                    let decoding = DecodingKey::from_rsa_components(n, e)
                        .map_err(|e| Error::internal("public key", e))?;
                    verifying.insert(row.kid.clone(), (Algorithm::RS256, decoding));
                    if signing.is_none() {
                        signing = Some((row.kid.clone(), EncodingKey::from_rsa_der(&bytes)));
                    }
                    published.push(jwk);
                }
                // An earlier version's secret: it verifies what it signed
                // until it retires, and is never published.
                "HS256" => {
                    verifying.insert(
                        row.kid.clone(),
                        (Algorithm::HS256, DecodingKey::from_secret(&bytes)),
                    );
                }
                other => {
                    tracing::warn!(kid = %row.kid, algorithm = %other, "a signing key of an unknown algorithm is ignored")
                }
            }
        }
        let signing = signing.ok_or_else(|| Error::Internal("no signing key".into()))?;
        Ok(KeySet {
            signing,
            verifying,
            jwks: bytes::Bytes::from(serde_json::json!({ "keys": published }).to_string()),
        })
    }

    /// How many times this instance read the signing keys from the database.
    pub fn key_loads(&self) -> u64 {
        self.keys.loads.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The public keys in use (the one that signs, and older ones whose
    /// tokens may still be alive), as a JWK set (its JSON).
    pub async fn jwks(&self) -> Result<bytes::Bytes> {
        Ok(self.keys(false).await?.jwks.clone())
    }

    /// Signs `claims` as a JWT of type `typ` with the current key.
    pub(crate) async fn sign<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String> {
        let keys = self.keys(false).await?;
        let mut header = Header::new(SIGNING_ALGORITHM);
        header.typ = Some(typ.into());
        header.kid = Some(keys.signing.0.clone());
        encode(&header, claims, &keys.signing.1).map_err(|e| Error::internal("signing", e))
    }

    /// The claims of `token` when one of our keys signed it with that key's
    /// algorithm and it is what `expect` says (type, issuer, audience,
    /// lifetime); else `Unauthenticated`.
    pub(crate) async fn verify<T: DeserializeOwned>(&self, token: &str, expect: &Expect<'_>) -> Result<T> {
        self.verify_keyed(token, expect).await.map(|(claims, _)| claims)
    }

    /// [`Core::verify`], also saying which key (`kid`) verified the token.
    pub(crate) async fn verify_keyed<T: DeserializeOwned>(
        &self,
        token: &str,
        expect: &Expect<'_>,
    ) -> Result<(T, String)> {
        let header = decode_header(token).map_err(|_| Error::Unauthenticated)?;
        if header.typ.as_deref() != Some(expect.typ) {
            return Err(Error::Unauthenticated);
        }
        let kid = header.kid.ok_or(Error::Unauthenticated)?;
        let mut keys = self.keys(false).await?;
        if !keys.verifies(&kid) && self.keys.may_reload_for_miss() {
            // Another instance may have rotated in a key we have not seen yet.
            keys = self.keys(true).await?;
        }
        let (alg, key) = keys.verifying.get(&kid).ok_or(Error::Unauthenticated)?;
        if header.alg != *alg {
            return Err(Error::Unauthenticated);
        }
        decode::<T>(token, key, &validation(*alg, expect))
            .map(|data| (data.claims, kid))
            .map_err(|_| Error::Unauthenticated)
    }

    /// Adds a new key pair, which every instance signs with from its next
    /// key refresh (within a minute). Older keys still verify the tokens they
    /// signed until those expire, unless `retire_previous`: then they are
    /// retired at once, their tokens stop working and they leave the JWKS.
    pub async fn rotate_signing_key(&self, retire_previous: bool, client: &Client) -> Result<Rotation> {
        let now = super::now();
        let newest = tokens::active_keys(&self.db, now)
            .await?
            .first()
            .map(|k| k.created_at);
        // Strictly newer than any key, so it is the one that signs.
        let created_at = newest.map_or(now, |n| now.max(n + 1));
        let key = new_key_pair(created_at, self.sealer.as_ref()).await?;
        tokens::insert_key(&self.db, &key).await?;
        let retired = if retire_previous {
            tokens::retire_keys_except(&self.db, &key.kid, now).await?
        } else {
            // Older keys retire once every token they can still sign has
            // run out: instances sign with them until their next key
            // refresh, and tokens live an access-token lifetime.
            let last_token_ends = now
                + KEY_REFRESH.as_secs() as i64
                + self.config.access_token_lifetime.as_secs() as i64
                + super::tokens::LEEWAY as i64;
            tokens::retire_keys_except(&self.db, &key.kid, last_token_ends).await?;
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
}
