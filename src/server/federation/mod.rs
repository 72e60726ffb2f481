//! Signing in through another identity provider: Gatehouse as the *client*
//! (relying party) of an OpenID Connect or plain OAuth 2.0 provider. The
//! provider role (`core/oidc`) shares nothing with this module but the JOSE
//! library.
//!
//! This is machinery, like the breached-password check: it speaks HTTP to
//! the provider (the `oauth2` crate for the authorization request, PKCE and
//! the code exchange; `jsonwebtoken` for the ID token) and hands the core an
//! [`ExternalIdentity`] it has verified. What that identity may do (sign in,
//! create an account, be linked) is the core's (`core/identities.rs`).

pub mod settings;

use crate::server::core::identities::ExternalIdentity;
use jsonwebtoken::{jwk::JwkSet, Algorithm, DecodingKey, Validation};
use oauth2::{
    basic::{
        BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
    },
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    StandardRevocableToken, StandardTokenResponse, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use settings::{ProviderKind, ProviderSettings};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How long a provider has to answer one request.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// An unknown `kid` fetches the provider's keys again, at most this often.
const KEY_REFRESH_GAP: Duration = Duration::from_secs(10);
/// The largest document read from a provider.
const MAX_BODY: usize = 256 * 1024;
/// Seconds a started sign-in may take to come back.
pub const START_LIFETIME: i64 = 600;

/// Why a sign-in through a provider did not give a verified identity. Each
/// is shown to the person as a page (never a 500); none carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    #[error("{provider} did not sign you in: {message}")]
    Refused { provider: String, message: String },
    #[error(
        "this sign-in was not started in this browser, was already used, or took longer than 10 minutes"
    )]
    BadState,
    #[error("the answer did not come from {0} (its issuer does not match)")]
    WrongIssuer(String),
    #[error("{provider}'s sign-in could not be completed: {message}")]
    Exchange { provider: String, message: String },
    #[error("{provider}'s ID token was refused: {message}")]
    IdToken { provider: String, message: String },
}

/// What a started sign-in keeps in the browser's session until it comes
/// back: bound to that browser, used once.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Started {
    pub provider: String,
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    pub at: i64,
    /// The provider was asked to sign the person in again (`prompt=login`,
    /// `max_age=0`): its ID token must say it did (`auth_time`).
    #[serde(default)]
    pub fresh: bool,
}

/// The provider's answer at the callback, as its query string has it.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// The configured providers, their documents fetched.
#[derive(Default)]
pub struct Providers(Vec<Arc<Provider>>);

impl Providers {
    /// Fetches each provider's discovery document and keys. An unreachable
    /// or unusable provider stops the start, naming its variable.
    pub async fn discover(settings: &[ProviderSettings]) -> Result<Providers, String> {
        let mut out = Vec::with_capacity(settings.len());
        for s in settings {
            out.push(Arc::new(Provider::discover(s.clone()).await?));
        }
        Ok(Providers(out))
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Provider>> {
        self.0.iter().find(|p| p.settings.id == id)
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<Provider>> {
        self.0.iter()
    }
}

/// The OpenID Connect part of a provider.
struct Oidc {
    issuer: String,
    jwks_uri: String,
    /// What discovery lists for ID tokens (asymmetric ones only): an ID
    /// token signed any other way is refused, `none` above all.
    algorithms: Vec<Algorithm>,
    /// The provider puts `iss` in its authorization responses (RFC 9207):
    /// one without it is refused.
    iss_parameter: bool,
    keys: RwLock<Arc<JwkSet>>,
    refreshed: tokio::sync::Mutex<Instant>,
}

pub struct Provider {
    pub settings: ProviderSettings,
    authorize_url: String,
    token_url: String,
    userinfo_url: Option<String>,
    emails_url: Option<String>,
    auth_type: AuthType,
    oidc: Option<Oidc>,
    http: reqwest::Client,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}

impl ExtraTokenFields for IdTokenField {}

type Tokens = StandardTokenResponse<IdTokenField, BasicTokenType>;
type OAuthClient = oauth2::Client<
    BasicErrorResponse,
    Tokens,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: Option<String>,
    jwks_uri: String,
    #[serde(default)]
    id_token_signing_alg_values_supported: Vec<String>,
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

/// The claims of an ID token Gatehouse reads.
#[derive(Deserialize)]
struct IdClaims {
    sub: String,
    nonce: Option<String>,
    azp: Option<String>,
    auth_time: Option<i64>,
    #[serde(default)]
    aud: serde_json::Value,
    #[serde(flatten)]
    profile: Profile,
}

/// The profile claims, from an ID token or a userinfo answer.
#[derive(Default, Deserialize)]
struct Profile {
    email: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    email_verified: bool,
    preferred_username: Option<String>,
    /// GitHub's name for the username.
    login: Option<String>,
    name: Option<String>,
}

/// `true` or `"true"` (some providers send a string); anything else false.
fn lenient_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(matches!(v, serde_json::Value::Bool(true)) || v.as_str() == Some("true"))
}

/// The algorithms an ID token may be signed with, of those discovery lists:
/// asymmetric ones (never `none`, never a shared-secret MAC).
fn usable_algorithms(listed: &[String]) -> Vec<Algorithm> {
    listed
        .iter()
        .filter_map(|a| match a.as_str() {
            "RS256" => Some(Algorithm::RS256),
            "RS384" => Some(Algorithm::RS384),
            "RS512" => Some(Algorithm::RS512),
            "PS256" => Some(Algorithm::PS256),
            "PS384" => Some(Algorithm::PS384),
            "PS512" => Some(Algorithm::PS512),
            "ES256" => Some(Algorithm::ES256),
            "ES384" => Some(Algorithm::ES384),
            "EdDSA" => Some(Algorithm::EdDSA),
            _ => None,
        })
        .collect()
}

fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(HTTP_TIMEOUT)
        .connect_timeout(HTTP_TIMEOUT)
        // A provider's redirect is never followed (SSRF; the oauth2 crate's advice).
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot make the identity providers' HTTP client: {e}"))
}

/// GETs `url` (with `bearer`, if any) and reads its JSON, bounded in size.
async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    bearer: Option<&str>,
) -> Result<T, String> {
    let mut req = http.get(url).header("Accept", "application/json");
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    let mut res = req
        .send()
        .await
        .map_err(|e| format!("no answer ({})", e.without_url()))?;
    if !res.status().is_success() {
        return Err(format!("answered {}", res.status()));
    }
    if res.content_length().is_some_and(|n| n as usize > MAX_BODY) {
        return Err("its answer is too large".into());
    }
    // Read in chunks, so a chunked answer cannot grow past the limit either.
    let mut body = Vec::new();
    while let Some(chunk) = res
        .chunk()
        .await
        .map_err(|e| format!("its answer broke off ({})", e.without_url()))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err("its answer is too large".into());
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| format!("its answer is not the JSON expected ({e})"))
}

fn random(bytes: usize) -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// Compares two secrets without a timing leak of where they differ.
fn same(a: &str, b: &str) -> bool {
    use sha2::{Digest, Sha256};
    // Equal-length digests, compared in full.
    let (x, y) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    x.iter().zip(y.iter()).fold(0u8, |acc, (p, q)| acc | (p ^ q)) == 0
}

impl Provider {
    async fn discover(settings: ProviderSettings) -> Result<Provider, String> {
        let http = http_client()?;
        let var = settings::prefix(&settings.id);
        let secret_auth = if settings.client_secret.is_some() {
            AuthType::BasicAuth
        } else {
            AuthType::RequestBody
        };
        match settings.kind.clone() {
            ProviderKind::OAuth2 {
                authorize_url,
                token_url,
                userinfo_url,
                emails_url,
            } => Ok(Provider {
                settings,
                authorize_url,
                token_url,
                userinfo_url: Some(userinfo_url),
                emails_url,
                // GitHub's shape takes the secret in the form.
                auth_type: AuthType::RequestBody,
                oidc: None,
                http,
            }),
            ProviderKind::Oidc { issuer } => {
                let url = format!("{issuer}/.well-known/openid-configuration");
                let doc: Discovery = get_json(&http, &url, None)
                    .await
                    .map_err(|e| format!("{var}ISSUER: cannot read {url}: {e}"))?;
                if doc.issuer.trim_end_matches('/') != issuer {
                    return Err(format!(
                        "{var}ISSUER: the discovery document names the issuer {:?}, not {issuer:?}",
                        doc.issuer
                    ));
                }
                // An https:// issuer's endpoints are https:// too (never this
                // machine's own services over http://, with the secret).
                let remote = issuer.starts_with("https://");
                let checked = |name: &str, value: &str| {
                    if remote && !value.starts_with("https://") {
                        return Err(format!(
                            "{var}ISSUER: discovery's {name} {value:?} is not https://"
                        ));
                    }
                    settings::endpoint_url(value)
                        .map(|_| ())
                        .map_err(|e| format!("{var}ISSUER: discovery's {name}: {e}"))
                };
                checked("authorization_endpoint", &doc.authorization_endpoint)?;
                checked("token_endpoint", &doc.token_endpoint)?;
                checked("jwks_uri", &doc.jwks_uri)?;
                if let Some(u) = &doc.userinfo_endpoint {
                    checked("userinfo_endpoint", u)?;
                }
                let algorithms = usable_algorithms(&doc.id_token_signing_alg_values_supported);
                if algorithms.is_empty() {
                    return Err(format!(
                        "{var}ISSUER: the provider signs ID tokens with none of the algorithms Gatehouse accepts ({:?})",
                        doc.id_token_signing_alg_values_supported
                    ));
                }
                let keys: JwkSet = get_json(&http, &doc.jwks_uri, None)
                    .await
                    .map_err(|e| format!("{var}ISSUER: cannot read the keys at {}: {e}", doc.jwks_uri))?;
                let auth_type = match &doc.token_endpoint_auth_methods_supported {
                    Some(methods)
                        if settings.client_secret.is_some()
                            && !methods.iter().any(|m| m == "client_secret_basic")
                            && methods.iter().any(|m| m == "client_secret_post") =>
                    {
                        AuthType::RequestBody
                    }
                    _ => secret_auth,
                };
                Ok(Provider {
                    settings,
                    authorize_url: doc.authorization_endpoint,
                    token_url: doc.token_endpoint,
                    userinfo_url: doc.userinfo_endpoint,
                    emails_url: None,
                    auth_type,
                    oidc: Some(Oidc {
                        issuer: doc.issuer,
                        jwks_uri: doc.jwks_uri,
                        algorithms,
                        iss_parameter: doc.authorization_response_iss_parameter_supported,
                        keys: RwLock::new(Arc::new(keys)),
                        // The first unknown key may be fetched at once.
                        refreshed: tokio::sync::Mutex::new(
                            Instant::now()
                                .checked_sub(KEY_REFRESH_GAP)
                                .unwrap_or_else(Instant::now),
                        ),
                    }),
                    http,
                })
            }
        }
    }

    pub fn id(&self) -> &str {
        &self.settings.id
    }

    pub fn name(&self) -> &str {
        &self.settings.name
    }

    fn oauth(&self, redirect_uri: &str) -> Result<OAuthClient, FederationError> {
        let broken = |what: &str, e: &dyn std::fmt::Display| FederationError::Exchange {
            provider: self.settings.name.clone(),
            message: format!("{what} is not a URL ({e})"),
        };
        let mut client = oauth2::Client::new(ClientId::new(self.settings.client_id.clone()))
            .set_auth_uri(
                AuthUrl::new(self.authorize_url.clone())
                    .map_err(|e| broken("the authorization endpoint", &e))?,
            )
            .set_token_uri(
                TokenUrl::new(self.token_url.clone()).map_err(|e| broken("the token endpoint", &e))?,
            )
            .set_redirect_uri(
                RedirectUrl::new(redirect_uri.to_string()).map_err(|e| broken("the callback", &e))?,
            )
            .set_auth_type(self.auth_type.clone());
        if let Some(secret) = &self.settings.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.clone()));
        }
        Ok(client)
    }

    /// Where to send the browser, and what to keep until it comes back:
    /// `state` (kept in this browser's session), a `nonce` the ID token must
    /// carry, and the PKCE S256 verifier.
    /// Whether the provider can be asked to sign the person in again (an
    /// OpenID Connect provider: `prompt=login`, checked by `auth_time`). A
    /// plain OAuth 2.0 provider may answer silently from its own session.
    pub fn can_ask_fresh_login(&self) -> bool {
        self.oidc.is_some()
    }

    /// `fresh`: the person must sign in at the provider again (linking,
    /// re-authentication), not pass through on its session.
    pub fn start(
        &self,
        redirect_uri: &str,
        now: i64,
        fresh: bool,
    ) -> Result<(String, Started), FederationError> {
        let client = self.oauth(redirect_uri)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let nonce = random(24);
        let mut request = client
            .authorize_url(|| CsrfToken::new(random(24)))
            .add_scopes(self.settings.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge);
        if self.oidc.is_some() {
            request = request.add_extra_param("nonce", nonce.clone());
            if fresh {
                request = request
                    .add_extra_param("prompt", "login")
                    .add_extra_param("max_age", "0");
            }
        }
        let (url, state) = request.url();
        Ok((
            url.to_string(),
            Started {
                provider: self.settings.id.clone(),
                state: state.secret().clone(),
                nonce,
                verifier: verifier.secret().clone(),
                at: now,
                fresh: fresh && self.oidc.is_some(),
            },
        ))
    }

    /// Checks the provider's answer against what `started` kept, exchanges
    /// the code and verifies who signed in.
    pub async fn finish(
        &self,
        started: &Started,
        callback: &Callback,
        redirect_uri: &str,
        now: i64,
    ) -> Result<ExternalIdentity, FederationError> {
        let fresh = now - started.at <= START_LIFETIME && now >= started.at;
        let state_ok = callback.state.as_deref().is_some_and(|s| same(s, &started.state));
        if !fresh || !state_ok || started.provider != self.settings.id {
            return Err(FederationError::BadState);
        }
        // RFC 9207: the answer names who sent it; a mix-up (another
        // provider's answer replayed here) is refused before any code is spent.
        if let Some(oidc) = &self.oidc {
            match &callback.iss {
                Some(iss) if iss != &oidc.issuer => {
                    return Err(FederationError::WrongIssuer(self.settings.name.clone()))
                }
                None if oidc.iss_parameter => {
                    return Err(FederationError::WrongIssuer(self.settings.name.clone()))
                }
                _ => {}
            }
        }
        if let Some(error) = &callback.error {
            let mut message = printable(error, 64);
            if let Some(d) = &callback.error_description {
                message = format!("{message} ({})", printable(d, 200));
            }
            return Err(FederationError::Refused {
                provider: self.settings.name.clone(),
                message,
            });
        }
        let exchange = |message: String| FederationError::Exchange {
            provider: self.settings.name.clone(),
            message,
        };
        let code = callback
            .code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| exchange("the answer carries no authorization code".into()))?;
        let tokens = self
            .oauth(redirect_uri)?
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .set_pkce_verifier(PkceCodeVerifier::new(started.verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| {
                exchange(match e {
                    RequestTokenError::ServerResponse(r) => {
                        format!("its token endpoint refused the code ({})", r.error().as_ref())
                    }
                    RequestTokenError::Request(e) => format!("its token endpoint did not answer ({e})"),
                    RequestTokenError::Parse(..) => "its token endpoint's answer could not be read".into(),
                    RequestTokenError::Other(m) => format!("its token endpoint answered oddly ({m})"),
                })
            })?;
        let access = tokens.access_token().secret().clone();
        match &self.oidc {
            Some(oidc) => {
                let id_token = tokens
                    .extra_fields()
                    .id_token
                    .as_deref()
                    .ok_or_else(|| self.id_token_error("the token answer has no ID token"))?;
                let claims = self.verify_id_token(oidc, id_token, &started.nonce).await?;
                // Asked to sign the person in again: it must have, after the
                // request was made (a minute of clock skew allowed).
                if started.fresh && claims.auth_time.is_none_or(|t| t < started.at - 60) {
                    return Err(self.id_token_error("the provider did not sign you in again (auth_time)"));
                }
                let mut profile = claims.profile;
                if let Some(url) = &self.userinfo_url {
                    let info: serde_json::Value = get_json(&self.http, url, Some(&access))
                        .await
                        .map_err(|e| exchange(format!("its userinfo endpoint: {e}")))?;
                    // OpenID Connect Core 5.3.2: the userinfo must be the ID token's user.
                    if info.get("sub").and_then(|s| s.as_str()) != Some(claims.sub.as_str()) {
                        return Err(exchange("its userinfo answer is about someone else".into()));
                    }
                    let more: Profile = serde_json::from_value(info).unwrap_or_default();
                    profile = merge(profile, more);
                }
                Ok(self.identity(claims.sub, profile))
            }
            None => self.oauth_identity(&access).await,
        }
    }

    fn id_token_error(&self, message: &str) -> FederationError {
        FederationError::IdToken {
            provider: self.settings.name.clone(),
            message: message.to_string(),
        }
    }

    async fn verify_id_token(
        &self,
        oidc: &Oidc,
        token: &str,
        nonce: &str,
    ) -> Result<IdClaims, FederationError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| {
            self.id_token_error("it is not a signed JWT (an unsigned one, alg none, is never accepted)")
        })?;
        if !oidc.algorithms.contains(&header.alg) {
            return Err(self.id_token_error(&format!(
                "it is signed with {:?}, which the provider's discovery does not list",
                header.alg
            )));
        }
        let key = match self.key(oidc, header.kid.as_deref()) {
            Some(key) => key,
            None => {
                self.refresh_keys(oidc).await;
                self.key(oidc, header.kid.as_deref()).ok_or_else(|| {
                    self.id_token_error("it is signed with a key the provider does not publish")
                })?
            }
        };
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&oidc.issuer]);
        validation.set_audience(&[&self.settings.client_id]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 60;
        let data = jsonwebtoken::decode::<IdClaims>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            self.id_token_error(match e.kind() {
                K::InvalidSignature => "its signature does not verify",
                K::ExpiredSignature => "it has expired",
                K::InvalidIssuer => "it was issued by someone else (iss)",
                K::InvalidAudience => "it was issued to another client (aud)",
                K::ImmatureSignature => "it is not valid yet",
                K::MissingRequiredClaim(_) => "it lacks a required claim",
                K::InvalidAlgorithm => "its algorithm does not fit the provider's key",
                _ => "it could not be read",
            })
        })?;
        let claims = data.claims;
        if !claims.nonce.as_deref().is_some_and(|n| same(n, nonce)) {
            return Err(self.id_token_error("it was not made for this sign-in (nonce)"));
        }
        // Several audiences: the token must say it was issued to us (azp);
        // an azp naming another client is refused in any case.
        let several = claims.aud.as_array().is_some_and(|a| a.len() > 1);
        let azp_ok = match claims.azp.as_deref() {
            Some(azp) => azp == self.settings.client_id,
            None => !several,
        };
        if !azp_ok {
            return Err(self.id_token_error("it was issued to another client (azp)"));
        }
        if claims.sub.is_empty() || claims.sub.len() > 255 {
            return Err(self.id_token_error("its subject is empty or too long"));
        }
        Ok(claims)
    }

    /// The key `kid` names (or the only key, when the token names none).
    fn key(&self, oidc: &Oidc, kid: Option<&str>) -> Option<DecodingKey> {
        let keys = oidc.keys.read().ok()?.clone();
        let jwk = match kid {
            Some(kid) => keys.find(kid)?,
            None if keys.keys.len() == 1 => &keys.keys[0],
            None => return None,
        };
        DecodingKey::from_jwk(jwk).ok()
    }

    /// Fetches the provider's keys again (a rotation), at most once per
    /// [`KEY_REFRESH_GAP`]: tokens with made-up key ids cannot make
    /// Gatehouse hammer the provider.
    async fn refresh_keys(&self, oidc: &Oidc) {
        let mut last = oidc.refreshed.lock().await;
        if last.elapsed() < KEY_REFRESH_GAP {
            return;
        }
        *last = Instant::now();
        match get_json::<JwkSet>(&self.http, &oidc.jwks_uri, None).await {
            Ok(keys) => {
                if let Ok(mut slot) = oidc.keys.write() {
                    *slot = Arc::new(keys);
                }
            }
            Err(e) => {
                tracing::warn!(provider = %self.settings.id, error = %e, "could not refresh the provider's keys")
            }
        }
    }

    /// A plain OAuth 2.0 provider: the userinfo URL says who the token's
    /// user is (`sub`, or GitHub's numeric `id`); the emails URL, when set,
    /// which address is verified.
    async fn oauth_identity(&self, access: &str) -> Result<ExternalIdentity, FederationError> {
        let exchange = |message: String| FederationError::Exchange {
            provider: self.settings.name.clone(),
            message,
        };
        let url = self.userinfo_url.as_deref().unwrap_or_default();
        let info: serde_json::Value = get_json(&self.http, url, Some(access))
            .await
            .map_err(|e| exchange(format!("its userinfo URL: {e}")))?;
        let subject = match info.get("sub").or_else(|| info.get("id")) {
            Some(serde_json::Value::String(s)) if !s.is_empty() && s.len() <= 255 => s.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => return Err(exchange("its userinfo answer names no user (sub or id)".into())),
        };
        let mut profile: Profile = serde_json::from_value(info).unwrap_or_default();
        if let Some(url) = &self.emails_url {
            #[derive(Deserialize)]
            struct Address {
                email: String,
                #[serde(default)]
                verified: bool,
                #[serde(default)]
                primary: bool,
            }
            let list: Vec<Address> = get_json(&self.http, url, Some(access))
                .await
                .map_err(|e| exchange(format!("its emails URL: {e}")))?;
            let best = list
                .iter()
                .filter(|a| a.verified)
                .max_by_key(|a| a.primary)
                .map(|a| a.email.clone());
            if let Some(email) = best {
                profile.email = Some(email);
                profile.email_verified = true;
            } else {
                profile.email_verified = false;
            }
        }
        Ok(self.identity(subject, profile))
    }

    fn identity(&self, subject: String, p: Profile) -> ExternalIdentity {
        let clean = |s: Option<String>, max: usize| s.map(|v| printable(&v, max)).filter(|v| !v.is_empty());
        let email = clean(p.email.clone(), 254);
        // Verified is said of the address the provider sent, not a tidied one.
        let unchanged = email.is_some() && email == p.email;
        ExternalIdentity {
            provider: self.settings.id.clone(),
            provider_name: self.settings.name.clone(),
            subject,
            email_verified: p.email_verified && unchanged,
            email,
            username: clean(p.preferred_username.or(p.login), 64),
            name: clean(p.name, 128),
        }
    }
}

/// The ID token's profile, completed by the userinfo's.
fn merge(a: Profile, b: Profile) -> Profile {
    let (email, email_verified) = match (a.email, b.email) {
        (Some(e), Some(f)) if e == f => (Some(e), a.email_verified || b.email_verified),
        (Some(e), _) => (Some(e), a.email_verified),
        (None, f) => (f, b.email_verified),
    };
    Profile {
        email,
        email_verified,
        preferred_username: a.preferred_username.or(b.preferred_username),
        login: a.login.or(b.login),
        name: a.name.or(b.name),
    }
}

/// `text` without control characters, at most `max` characters: what a
/// provider sends is shown and stored, never trusted to be tidy.
fn printable(text: &str, max: usize) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(max)
        .collect::<String>()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_asymmetric_algorithms_are_accepted() {
        let listed: Vec<String> = ["none", "HS256", "RS256", "ES256", "XX"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            usable_algorithms(&listed),
            vec![Algorithm::RS256, Algorithm::ES256]
        );
    }

    #[test]
    fn provider_text_is_tidied() {
        assert_eq!(printable(" a\u{0}b\nc ", 10), "abc");
        assert_eq!(printable("abcdef", 3), "abc");
    }
}
