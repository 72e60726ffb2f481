//! The token endpoint's grants (RFC 6749 §4.1.3, §4.4, §6; RFC 7636 §4.6),
//! the tokens they issue (RFC 9068 access tokens, OpenID Connect ID tokens),
//! userinfo, introspection (RFC 7662) and revocation (RFC 7009).

use super::{split_list, take_pairs, ClientCredentials, OAuthCode, OidcClient};
use crate::{
    model::oidc::ClientType,
    server::{
        core::{
            audit::Event,
            keys::Expect,
            tokens::{hash_token, random_token, ACCESS_TYP, LEEWAY},
            Client, Core, Error, Result, User,
        },
        db::{
            oidc::{self as db, NewGrant},
            tokens,
        },
    },
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `typ` of ID tokens.
const ID_TYP: &str = "JWT";

/// The parameters of a token request (the form body), as sent.
#[derive(Clone, Debug, Default)]
pub struct TokenParams {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
    /// The token of a revocation or introspection request.
    pub token: Option<String>,
    pub token_type_hint: Option<String>,
    /// Client authentication in the body (`client_secret_post`, or a public
    /// client's id).
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub repeated: Vec<String>,
}

impl TokenParams {
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> TokenParams {
        fn slot<'a>(p: &'a mut TokenParams, name: &str) -> Option<&'a mut Option<String>> {
            Some(match name {
                "grant_type" => &mut p.grant_type,
                "code" => &mut p.code,
                "redirect_uri" => &mut p.redirect_uri,
                "code_verifier" => &mut p.code_verifier,
                "refresh_token" => &mut p.refresh_token,
                "scope" => &mut p.scope,
                "token" => &mut p.token,
                "token_type_hint" => &mut p.token_type_hint,
                "client_id" => &mut p.client_id,
                "client_secret" => &mut p.client_secret,
                _ => return None,
            })
        }
        let mut p = TokenParams::default();
        p.repeated = take_pairs(&mut p, pairs, slot);
        p
    }

    /// The client's credentials: `basic` (id and secret from the
    /// `Authorization` header, already decoded) or the body's, never both.
    pub fn credentials(&self, basic: Option<(String, String)>) -> ClientCredentials {
        let mut creds = match basic {
            Some((id, secret)) => {
                if self.client_secret.is_some() || self.client_id.as_ref().is_some_and(|body| *body != id) {
                    ClientCredentials {
                        malformed: Some("use one client authentication method only"),
                        ..Default::default()
                    }
                } else {
                    ClientCredentials {
                        id: Some(id),
                        secret: Some(secret),
                        malformed: None,
                    }
                }
            }
            None => ClientCredentials {
                id: self.client_id.clone(),
                secret: self.client_secret.clone(),
                malformed: None,
            },
        };
        if self
            .repeated
            .iter()
            .any(|n| n == "client_id" || n == "client_secret")
        {
            creds.malformed = Some("client_id and client_secret may be given once");
        }
        creds
    }
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Clone, Debug, Serialize)]
pub struct TokenAnswer {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// The claims of an access token issued to a client (RFC 9068).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct AccessClaims {
    iss: String,
    sub: String,
    aud: String,
    client_id: String,
    scope: String,
    exp: i64,
    iat: i64,
    jti: String,
    /// The grant (token family) it belongs to; none for `client_credentials`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    gid: Option<String>,
}

/// The claims of an ID token (OpenID Connect Core §2, §3.1.3.6, §5.1).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct IdClaims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
    iat: i64,
    #[serde(default)]
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    nonce: Option<String>,
    #[serde(default)]
    amr: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    at_hash: Option<String>,
    #[serde(flatten)]
    profile: Profile,
}

/// The claims the scopes give: `profile`, `email`, `roles`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Profile {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    preferred_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    email_verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    roles: Option<Vec<String>>,
}

fn profile(user: &User, scopes: &[String]) -> Profile {
    let has = |s: &str| scopes.iter().any(|x| x == s);
    let mut p = Profile::default();
    if has("profile") {
        p.preferred_username = Some(user.username.clone());
    }
    if has("email") {
        if let Some(email) = &user.email {
            p.email = Some(email.clone());
            p.email_verified = Some(user.email_verified);
        }
    }
    if has("roles") {
        p.roles = Some(vec![user.role.as_str().to_string()]);
    }
    p
}

fn oauth(code: OAuthCode, description: &str) -> Error {
    Error::oauth(code, description)
}

/// RFC 7636 §4.1: 43 to 128 unreserved characters.
fn is_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~'))
}

fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The left half of the access token's SHA-256, base64url (Core §3.1.3.6).
fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// A token that looks like a JWT (three dot-separated parts).
fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

/// What a grant's tokens are issued from.
struct Issue<'a> {
    client: &'a OidcClient,
    user: &'a User,
    grant_id: &'a str,
    scopes: &'a [String],
    auth_time: i64,
    amr: &'a str,
    nonce: Option<&'a str>,
    refresh_token: Option<String>,
}

/// An access token that verified and is still good.
struct LiveAccess {
    claims: AccessClaims,
    user: Option<User>,
}

impl Core {
    /// The token endpoint (RFC 6749 §3.2): authenticates the client, then
    /// runs the grant.
    pub async fn token_request(
        &self,
        p: &TokenParams,
        creds: &ClientCredentials,
        client: &Client,
    ) -> Result<TokenAnswer> {
        if let Some(name) = p
            .repeated
            .iter()
            .find(|n| *n != "client_id" && *n != "client_secret")
        {
            return Err(oauth(
                OAuthCode::InvalidRequest,
                &format!("{name} is given more than once"),
            ));
        }
        let Some(grant_type) = p.grant_type.as_deref() else {
            return Err(oauth(OAuthCode::InvalidRequest, "grant_type is required"));
        };
        let c = self.authenticate_client(creds, client).await?;
        match grant_type {
            "authorization_code" => self.exchange_code(&c, p, client).await,
            "refresh_token" => self.refresh_grant(&c, p, client).await,
            "client_credentials" => self.client_credentials(&c, p, client).await,
            _ => Err(oauth(
                OAuthCode::UnsupportedGrantType,
                "grant_type must be authorization_code, refresh_token or client_credentials",
            )),
        }
    }

    /// The authorization code grant with PKCE. A code presented a second
    /// time is refused and the tokens issued from it are revoked.
    async fn exchange_code(&self, c: &OidcClient, p: &TokenParams, client: &Client) -> Result<TokenAnswer> {
        if !c.allows_grant("authorization_code") {
            return Err(oauth(
                OAuthCode::UnauthorizedClient,
                "this client may not use authorization_code",
            ));
        }
        let code = p
            .code
            .as_deref()
            .ok_or_else(|| oauth(OAuthCode::InvalidRequest, "code is required"))?;
        let redirect_uri = p
            .redirect_uri
            .as_deref()
            .ok_or_else(|| oauth(OAuthCode::InvalidRequest, "redirect_uri is required"))?;
        let verifier = p
            .code_verifier
            .as_deref()
            .ok_or_else(|| oauth(OAuthCode::InvalidRequest, "code_verifier is required (PKCE)"))?;
        if !is_verifier(verifier) {
            return Err(oauth(
                OAuthCode::InvalidRequest,
                "code_verifier must be 43 to 128 unreserved characters",
            ));
        }
        let hash = hash_token(code);
        let bad_code = || {
            oauth(
                OAuthCode::InvalidGrant,
                "the code is unknown, expired, already used or not for this client",
            )
        };
        let Some(row) = db::code(&self.db, &hash).await? else {
            return Err(bad_code());
        };
        let now = super::super::now();
        if row.used_at.is_some() {
            self.code_replayed(&row, client).await?;
            return Err(bad_code());
        }
        if row.client_id != c.id || row.expires_at <= now {
            return Err(bad_code());
        }
        if row.redirect_uri != redirect_uri {
            return Err(oauth(
                OAuthCode::InvalidGrant,
                "redirect_uri differs from the authorization request's",
            ));
        }
        if s256(verifier) != row.code_challenge {
            return Err(oauth(
                OAuthCode::InvalidGrant,
                "the code_verifier does not match the code_challenge",
            ));
        }
        let user = match self.user(&row.user_id).await {
            Ok(u) if !u.disabled && u.password_changed_at <= row.created_at => u,
            Ok(_) | Err(Error::NotFound(_)) => {
                return Err(oauth(OAuthCode::InvalidGrant, "the user can no longer sign in"))
            }
            Err(e) => return Err(e),
        };
        let scopes = split_list(&row.scope);
        if !self.consented(&user.id, c, &scopes).await? {
            return Err(oauth(OAuthCode::InvalidGrant, "the user withdrew their consent"));
        }
        let grant_id = uuid::Uuid::new_v4().to_string();
        let offline = scopes.iter().any(|s| s == "offline_access") && c.allows_grant("refresh_token");
        let refresh = offline.then(|| random_token(32));
        let expires_at = if offline {
            now + self.config.refresh_token_lifetime.as_secs() as i64
        } else {
            now + self.config.access_token_lifetime.as_secs() as i64
        };
        // The code is spent and the grant made in one transaction, so a
        // replay finds the grant to end whenever it comes.
        let made = db::grant_for_code(
            &self.db,
            &NewGrant {
                id: &grant_id,
                user_id: &user.id,
                client_id: &c.id,
                scope: &row.scope,
                amr: &row.amr,
                auth_at: row.auth_time,
                password_at: user.password_changed_at,
                created_at: now,
                expires_at,
                refresh_hash: refresh.as_deref().map(hash_token).as_deref(),
            },
            &hash,
        )
        .await?;
        if !made {
            // Another exchange of the same code won the race: what it
            // gave ends too.
            if let Some(row) = db::code(&self.db, &hash).await? {
                self.code_replayed(&row, client).await?;
            }
            return Err(bad_code());
        }
        let answer = self
            .issue(Issue {
                client: c,
                user: &user,
                grant_id: &grant_id,
                scopes: &scopes,
                auth_time: row.auth_time,
                amr: &row.amr,
                nonce: row.nonce.as_deref(),
                refresh_token: refresh,
            })
            .await?;
        let detail = format!("to client {} ({}): {}", c.name, c.id, row.scope);
        self.audit(Event::ClientTokensIssued, Some(&user.id), client, Some(&detail))
            .await;
        Ok(answer)
    }

    /// A spent code came again: what it gave is revoked.
    async fn code_replayed(&self, row: &db::CodeRow, client: &Client) -> Result<()> {
        let revoked = match &row.family_id {
            Some(family) => {
                tokens::revoke_family(&self.db, family, super::super::now(), "code reused").await?
            }
            None => false,
        };
        tracing::warn!("an authorization code was presented again; what it gave is revoked");
        let detail = format!(
            "code for client {} presented again; {}",
            row.client_id,
            if revoked {
                "its tokens are revoked"
            } else {
                "nothing left to revoke"
            }
        );
        self.audit(Event::CodeReuse, Some(&row.user_id), client, Some(&detail))
            .await;
        Ok(())
    }

    /// The refresh token grant: single-use refresh tokens in the grant's
    /// family; a spent one presented again ends the family.
    async fn refresh_grant(&self, c: &OidcClient, p: &TokenParams, client: &Client) -> Result<TokenAnswer> {
        if !c.allows_grant("refresh_token") {
            return Err(oauth(
                OAuthCode::UnauthorizedClient,
                "this client may not use refresh_token",
            ));
        }
        // Every refresh token came with offline_access: a client that lost
        // it refreshes no more.
        if !c.allows_scope("offline_access") {
            return Err(oauth(
                OAuthCode::InvalidGrant,
                "this client no longer has offline_access",
            ));
        }
        let token = p
            .refresh_token
            .as_deref()
            .ok_or_else(|| oauth(OAuthCode::InvalidRequest, "refresh_token is required"))?;
        let bad = || {
            oauth(
                OAuthCode::InvalidGrant,
                "the refresh token is unknown, expired, revoked or not for this client",
            )
        };
        let hash = hash_token(token);
        let Some(owner) = db::token_owner(&self.db, &hash).await? else {
            return Err(bad());
        };
        // Only its own client may spend it (anyone else's attempt leaves it be).
        if owner.client_id.as_deref() != Some(c.id.as_str()) {
            return Err(bad());
        }
        let now = super::super::now();
        let Some(found) = tokens::family_with_user(&self.db, &owner.family_id).await? else {
            return Err(bad());
        };
        let detail = db::grant_detail(&self.db, &owner.family_id)
            .await?
            .ok_or_else(bad)?;
        let granted = split_list(&detail.scope);
        // What was granted and the client may still have: an admin may have
        // taken a scope from the client since (the grant goes on without it).
        let scopes = match p.scope.as_deref() {
            None => granted.iter().filter(|s| c.allows_scope(s)).cloned().collect(),
            Some(asked) => {
                let asked = split_list(asked);
                if let Some(extra) = asked.iter().find(|s| !granted.contains(s)) {
                    return Err(oauth(
                        OAuthCode::InvalidScope,
                        &format!("scope {extra} was not granted"),
                    ));
                }
                if let Some(gone) = asked.iter().find(|s| !c.allows_scope(s)) {
                    return Err(oauth(
                        OAuthCode::InvalidScope,
                        &format!("scope {gone} is no longer available to this client"),
                    ));
                }
                asked
            }
        };
        let next = random_token(32);
        let Some(_) = tokens::rotate(&self.db, &hash, &hash_token(&next), now, Some(&c.id)).await? else {
            let ended = tokens::revoke_family(&self.db, &owner.family_id, now, "reuse").await?;
            tracing::warn!("a spent refresh token of a client was presented again; its grant is revoked");
            let note = if ended {
                "a spent refresh token was presented again; its grant is revoked"
            } else {
                "a spent refresh token of a revoked grant was presented again"
            };
            self.audit(
                Event::RefreshTokenReuse,
                Some(&found.user.id),
                client,
                Some(&format!("client {}: {note}", c.id)),
            )
            .await;
            return Err(bad());
        };
        if found.revoked_at.is_some()
            || found.expires_at <= now
            || found.user.disabled
            || found.password_at < found.user.password_changed_at
        {
            return Err(bad());
        }
        let user = User::try_from(found.user)?;
        if !self.consented(&user.id, c, &granted).await? {
            return Err(oauth(OAuthCode::InvalidGrant, "the user withdrew their consent"));
        }
        self.issue(Issue {
            client: c,
            user: &user,
            grant_id: &owner.family_id,
            scopes: &scopes,
            auth_time: found.auth_at,
            amr: &detail.amr,
            nonce: None,
            refresh_token: Some(next),
        })
        .await
    }

    /// The client credentials grant: a confidential client's own access
    /// token (`sub` is the client), no ID token and no refresh token.
    async fn client_credentials(
        &self,
        c: &OidcClient,
        p: &TokenParams,
        client: &Client,
    ) -> Result<TokenAnswer> {
        if c.kind != ClientType::Confidential || !c.allows_grant("client_credentials") {
            return Err(oauth(
                OAuthCode::UnauthorizedClient,
                "this client may not use client_credentials",
            ));
        }
        let usable = |s: &String| c.allows_scope(s) && s != "openid" && s != "offline_access";
        let scopes: Vec<String> = match p.scope.as_deref() {
            None => c.scopes.iter().filter(|s| usable(s)).cloned().collect(),
            Some(asked) => {
                let asked = split_list(asked);
                if let Some(bad) = asked.iter().find(|s| !usable(s)) {
                    return Err(oauth(
                        OAuthCode::InvalidScope,
                        &format!("scope {bad} is not available to this client"),
                    ));
                }
                asked
            }
        };
        let now = super::super::now();
        let lifetime = self.config.access_token_lifetime.as_secs();
        let claims = AccessClaims {
            iss: self.issuer(),
            sub: c.id.clone(),
            aud: c.id.clone(),
            client_id: c.id.clone(),
            scope: scopes.join(" "),
            exp: now + lifetime as i64,
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            gid: None,
        };
        let access_token = self.sign(ACCESS_TYP, &claims).await?;
        let detail = format!("client credentials for {} ({})", c.name, c.id);
        self.audit(Event::ClientTokensIssued, None, client, Some(&detail))
            .await;
        Ok(TokenAnswer {
            access_token,
            token_type: "Bearer",
            expires_in: lifetime,
            scope: claims.scope,
            id_token: None,
            refresh_token: None,
        })
    }

    /// The access token, and the ID token when `openid` was granted.
    async fn issue(&self, i: Issue<'_>) -> Result<TokenAnswer> {
        let now = super::super::now();
        let lifetime = self.config.access_token_lifetime.as_secs();
        let issuer = self.issuer();
        let scope = i.scopes.join(" ");
        let access = AccessClaims {
            iss: issuer.clone(),
            sub: i.user.id.clone(),
            aud: i.client.id.clone(),
            client_id: i.client.id.clone(),
            scope: scope.clone(),
            exp: now + lifetime as i64,
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            gid: Some(i.grant_id.to_string()),
        };
        let access_token = self.sign(ACCESS_TYP, &access).await?;
        let id_token = if i.scopes.iter().any(|s| s == "openid") {
            let claims = IdClaims {
                iss: issuer,
                sub: i.user.id.clone(),
                aud: i.client.id.clone(),
                exp: now + lifetime as i64,
                iat: now,
                auth_time: i.auth_time,
                nonce: i.nonce.map(str::to_string),
                amr: split_list(i.amr),
                at_hash: Some(at_hash(&access_token)),
                profile: profile(i.user, i.scopes),
            };
            Some(self.sign(ID_TYP, &claims).await?)
        } else {
            None
        };
        Ok(TokenAnswer {
            access_token,
            token_type: "Bearer",
            expires_in: lifetime,
            scope,
            id_token,
            refresh_token: i.refresh_token,
        })
    }

    /// An access token of ours that is still good: signed by us, not
    /// expired, not revoked by itself or with its grant, its client enabled,
    /// its user enabled and their password unchanged since.
    async fn live_access(&self, token: &str) -> Result<Option<LiveAccess>> {
        let issuer = self.issuer();
        let expect = Expect {
            typ: ACCESS_TYP,
            issuer: &issuer,
            audience: None,
            leeway: LEEWAY,
            expired_ok: false,
        };
        let claims: AccessClaims = match self.verify(token, &expect).await {
            Ok(c) => c,
            Err(Error::Unauthenticated) => return Ok(None),
            Err(e) => return Err(e),
        };
        if claims.aud != claims.client_id || db::access_token_revoked(&self.db, &claims.jti).await? {
            return Ok(None);
        }
        if !self
            .oidc_client(&claims.client_id)
            .await?
            .is_some_and(|c| c.enabled)
        {
            return Ok(None);
        }
        let Some(gid) = claims.gid.as_deref() else {
            return Ok(Some(LiveAccess { claims, user: None }));
        };
        let Some(found) = tokens::family_with_user(&self.db, gid).await? else {
            return Ok(None);
        };
        let now = super::super::now();
        if found.client_id.as_deref() != Some(claims.client_id.as_str())
            || found.user.id != claims.sub
            || found.revoked_at.is_some()
            || found.expires_at <= now
            || found.user.disabled
            || found.password_at < found.user.password_changed_at
        {
            return Ok(None);
        }
        Ok(Some(LiveAccess {
            claims,
            user: Some(User::try_from(found.user)?),
        }))
    }

    /// The userinfo endpoint (Core §5.3): the claims the token's scopes give.
    pub async fn userinfo(&self, token: &str) -> Result<serde_json::Value> {
        let invalid = || {
            oauth(
                OAuthCode::InvalidToken,
                "the access token is invalid, expired or revoked",
            )
        };
        let live = self.live_access(token).await?.ok_or_else(invalid)?;
        let user = live.user.ok_or_else(invalid)?;
        let scopes = split_list(&live.claims.scope);
        if !scopes.iter().any(|s| s == "openid") {
            return Err(oauth(
                OAuthCode::InsufficientScope,
                "userinfo needs the openid scope",
            ));
        }
        let mut claims =
            serde_json::to_value(profile(&user, &scopes)).map_err(|e| Error::internal("userinfo", e))?;
        claims["sub"] = serde_json::Value::String(user.id);
        Ok(claims)
    }

    /// The introspection endpoint (RFC 7662), for confidential clients:
    /// whether a token is active, and what it is. Access tokens of any
    /// client (a resource server asks about tokens sent to it); refresh
    /// tokens of the asking client only.
    pub async fn introspect(
        &self,
        p: &TokenParams,
        creds: &ClientCredentials,
        client: &Client,
    ) -> Result<serde_json::Value> {
        let c = self.authenticate_client(creds, client).await?;
        if c.kind != ClientType::Confidential {
            return Err(oauth(
                OAuthCode::InvalidClient,
                "introspection is for confidential clients",
            ));
        }
        let token = p
            .token
            .as_deref()
            .ok_or_else(|| oauth(OAuthCode::InvalidRequest, "token is required"))?;
        let inactive = serde_json::json!({ "active": false });
        if looks_like_jwt(token) {
            let Some(live) = self.live_access(token).await? else {
                return Ok(inactive);
            };
            // A client learns about its own tokens only (RFC 7662 §4): who
            // uses another app is not its business.
            if live.claims.client_id != c.id {
                return Ok(inactive);
            }
            let mut answer = serde_json::json!({
                "active": true,
                "token_type": "Bearer",
                "scope": live.claims.scope,
                "client_id": live.claims.client_id,
                "sub": live.claims.sub,
                "aud": live.claims.aud,
                "iss": live.claims.iss,
                "exp": live.claims.exp,
                "iat": live.claims.iat,
                "jti": live.claims.jti,
            });
            if let Some(user) = live.user {
                answer["username"] = serde_json::Value::String(user.username);
            }
            return Ok(answer);
        }
        let hash = hash_token(token);
        let Some(owner) = db::token_owner(&self.db, &hash).await? else {
            return Ok(inactive);
        };
        if owner.client_id.as_deref() != Some(c.id.as_str()) || owner.spent_at.is_some() {
            return Ok(inactive);
        }
        let Some(found) = tokens::family_with_user(&self.db, &owner.family_id).await? else {
            return Ok(inactive);
        };
        let now = super::super::now();
        if found.revoked_at.is_some()
            || found.expires_at <= now
            || found.user.disabled
            || found.password_at < found.user.password_changed_at
        {
            return Ok(inactive);
        }
        let scope = db::grant_detail(&self.db, &owner.family_id)
            .await?
            .map(|d| d.scope)
            .unwrap_or_default();
        Ok(serde_json::json!({
            "active": true,
            "token_type": "refresh_token",
            "scope": scope,
            "client_id": c.id,
            "sub": found.user.id,
            "username": found.user.username,
            "exp": found.expires_at,
            "iss": self.issuer(),
        }))
    }

    /// The revocation endpoint (RFC 7009): a refresh token ends its grant
    /// (and so the grant's access tokens); an access token ends alone.
    /// Tokens that are unknown, or another client's, are left alone, and the
    /// answer is the same.
    pub async fn revoke_token(
        &self,
        p: &TokenParams,
        creds: &ClientCredentials,
        client: &Client,
    ) -> Result<()> {
        let c = self.authenticate_client(creds, client).await?;
        let token = p
            .token
            .as_deref()
            .ok_or_else(|| oauth(OAuthCode::InvalidRequest, "token is required"))?;
        let now = super::super::now();
        if looks_like_jwt(token) {
            let issuer = self.issuer();
            let expect = Expect {
                typ: ACCESS_TYP,
                issuer: &issuer,
                audience: Some(&c.id),
                leeway: LEEWAY,
                expired_ok: false,
            };
            if let Ok(claims) = self.verify::<AccessClaims>(token, &expect).await {
                db::revoke_access_token(&self.db, &claims.jti, claims.exp + LEEWAY as i64).await?;
            }
            return Ok(());
        }
        if let Some(owner) = db::token_owner(&self.db, &hash_token(token)).await? {
            if owner.client_id.as_deref() == Some(c.id.as_str()) {
                tokens::revoke_family(&self.db, &owner.family_id, now, "revoked by the client").await?;
            }
        }
        Ok(())
    }

    /// The subject and audience of an ID token we issued (expired or not):
    /// RP-initiated logout's `id_token_hint`.
    pub(crate) async fn id_token_hint(&self, token: &str) -> Result<Option<(String, String)>> {
        let issuer = self.issuer();
        let expect = Expect {
            typ: ID_TYP,
            issuer: &issuer,
            audience: None,
            leeway: LEEWAY,
            expired_ok: true,
        };
        match self.verify::<IdClaims>(token, &expect).await {
            Ok(claims) => Ok(Some((claims.sub, claims.aud))),
            Err(Error::Unauthenticated) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
