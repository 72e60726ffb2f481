//! The provider's clients: registering, changing and removing them (admins
//! and the CLI), and the token endpoint's client authentication.

use super::{split_list, OAuthCode, GRANT_TYPES, SCOPES};
use crate::{
    model::oidc::{ClientCreated, ClientItem, ClientType},
    server::{
        core::{
            admin::require_admin,
            audit::Event,
            sessions::Authenticated,
            tokens::{hash_token, random_token},
            validate, Client, Core, Error, Result,
        },
        db::oidc::{self as db, ClientRow},
    },
};

/// The most redirect URIs (of each kind) a client may have.
const MAX_URIS: usize = 20;
/// The longest redirect URI.
const MAX_URI_LEN: usize = 2000;
/// The longest client name.
const MAX_NAME_CHARS: usize = 100;

/// A client as the provider sees it.
#[derive(Clone, Debug)]
pub struct OidcClient {
    pub id: String,
    pub name: String,
    pub kind: ClientType,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub grant_types: Vec<String>,
    pub first_party: bool,
    pub enabled: bool,
    secret_hash: Option<String>,
}

impl OidcClient {
    pub fn item(&self) -> ClientItem {
        ClientItem {
            client_id: self.id.clone(),
            name: self.name.clone(),
            kind: self.kind,
            redirect_uris: self.redirect_uris.clone(),
            post_logout_redirect_uris: self.post_logout_redirect_uris.clone(),
            scopes: self.scopes.clone(),
            grant_types: self.grant_types.clone(),
            first_party: self.first_party,
            enabled: self.enabled,
        }
    }

    pub fn allows_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }

    pub fn allows_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// Whether `secret` is this client's (compared as hashes, in constant time).
    fn secret_matches(&self, secret: &str) -> bool {
        let Some(stored) = &self.secret_hash else {
            return false;
        };
        let given = hash_token(secret);
        stored.len() == given.len()
            && stored
                .bytes()
                .zip(given.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

impl TryFrom<ClientRow> for OidcClient {
    type Error = Error;

    fn try_from(row: ClientRow) -> Result<Self> {
        let list = |json: &str| -> Result<Vec<String>> {
            serde_json::from_str(json).map_err(|e| Error::internal("stored client", e))
        };
        Ok(OidcClient {
            kind: ClientType::parse(&row.kind)
                .ok_or_else(|| Error::Internal(format!("client {} has kind {:?}", row.id, row.kind)))?,
            redirect_uris: list(&row.redirect_uris)?,
            post_logout_redirect_uris: list(&row.post_logout_redirect_uris)?,
            scopes: split_list(&row.scopes),
            grant_types: split_list(&row.grant_types),
            id: row.id,
            name: row.name,
            first_party: row.first_party,
            enabled: row.enabled,
            secret_hash: row.secret_hash,
        })
    }
}

/// A new client. Unset lists take the defaults: scopes `openid profile
/// email`, grants `authorization_code refresh_token`.
#[derive(Clone, Debug, Default)]
pub struct ClientSpec {
    pub name: String,
    /// Confidential unless said.
    pub kind: Option<ClientType>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub scopes: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub first_party: bool,
    pub enabled: Option<bool>,
}

/// A change to a client; `None` leaves a setting as it is.
#[derive(Clone, Debug, Default)]
pub struct ClientChange {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub first_party: Option<bool>,
    pub enabled: Option<bool>,
}

/// How a client authenticated at the token, revocation or introspection
/// endpoint: its id (Basic, or the `client_id` parameter) and secret, if any.
#[derive(Clone, Debug, Default)]
pub struct ClientCredentials {
    pub id: Option<String>,
    pub secret: Option<String>,
    /// More than one method was used (RFC 6749 §2.3: one only), or the
    /// `Authorization` header could not be read.
    pub malformed: Option<&'static str>,
}

/// Whether `id` has the form of a client id: 32 lowercase hex digits.
pub fn is_client_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn invalid_client(description: &str) -> Error {
    Error::oauth(OAuthCode::InvalidClient, description)
}

/// A client name: trimmed, 1 to 100 characters, nothing invisible.
fn check_name(name: &str) -> Result<String> {
    // The length as given (the API document's maxLength), then trimmed.
    let too_long = name.chars().count() > MAX_NAME_CHARS;
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::invalid("name", "Enter the app's name."));
    }
    // Invisible characters (a bidi override, say) could make the consent
    // page show another app's name: refused, not stripped.
    if too_long || name.chars().any(|c| c != ' ' && validate::is_invisible(c)) {
        return Err(Error::invalid(
            "name",
            "Use at most 100 visible characters for the app's name.",
        ));
    }
    Ok(name.to_string())
}

/// Redirect URIs (or post-logout ones, `field`): each `https://`, or
/// `http://` to localhost or a loopback address (development); absolute,
/// without a fragment or credentials. They are compared exactly, so they
/// are kept exactly as given.
fn check_uris(field: &'static str, uris: &[String]) -> Result<Vec<String>> {
    if uris.len() > MAX_URIS {
        return Err(Error::invalid(
            field,
            "A client has at most 20 of these addresses.",
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for raw in uris {
        let bad = |why: &str| Error::invalid(field, format!("{raw:?} cannot be used: {why}"));
        if raw.len() > MAX_URI_LEN || raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(bad("it is too long or holds spaces or control characters"));
        }
        let url = url::Url::parse(raw).map_err(|_| bad("it is not an absolute URL"))?;
        if raw.contains('#') {
            return Err(bad("it has a fragment (#...)"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("it holds a user name or password"));
        }
        let loopback = matches!(url.host(), Some(url::Host::Domain("localhost")))
            || matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
            || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback());
        match url.scheme() {
            "https" if url.host().is_some() => {}
            "http" if loopback => {}
            _ => {
                return Err(bad(
                    "use https://, or http:// to localhost or 127.0.0.1 while developing",
                ))
            }
        }
        if !out.contains(raw) {
            out.push(raw.clone());
        }
    }
    Ok(out)
}

fn check_scopes(scopes: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for s in scopes {
        if !SCOPES.contains(&s.as_str()) {
            return Err(Error::invalid(
                "scopes",
                format!("{s:?} is not a scope here: use {}.", SCOPES.join(", ")),
            ));
        }
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    Ok(out)
}

fn check_grants(kind: ClientType, grants: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for g in grants {
        if !GRANT_TYPES.contains(&g.as_str()) {
            return Err(Error::invalid(
                "grant_types",
                format!("{g:?} is not a grant type here: use {}.", GRANT_TYPES.join(", ")),
            ));
        }
        if !out.contains(g) {
            out.push(g.clone());
        }
    }
    if out.is_empty() {
        return Err(Error::invalid(
            "grant_types",
            "Give the client at least one grant type.",
        ));
    }
    if kind == ClientType::Public && out.iter().any(|g| g == "client_credentials") {
        return Err(Error::invalid(
            "grant_types",
            "A public client has no secret, so it cannot use client_credentials.",
        ));
    }
    Ok(out)
}

/// A client's settings, checked together.
fn checked_row(c: &OidcClient) -> Result<()> {
    if c.allows_grant("authorization_code") && c.redirect_uris.is_empty() {
        return Err(Error::invalid(
            "redirect_uris",
            "A client that signs users in needs at least one redirect URI.",
        ));
    }
    Ok(())
}

fn to_row(c: &OidcClient, created_at: i64, updated_at: i64) -> Result<ClientRow> {
    let json = |v: &Vec<String>| serde_json::to_string(v).map_err(|e| Error::internal("client", e));
    Ok(ClientRow {
        id: c.id.clone(),
        name: c.name.clone(),
        kind: c.kind.as_str().into(),
        secret_hash: c.secret_hash.clone(),
        redirect_uris: json(&c.redirect_uris)?,
        post_logout_redirect_uris: json(&c.post_logout_redirect_uris)?,
        scopes: c.scopes.join(" "),
        grant_types: c.grant_types.join(" "),
        first_party: c.first_party,
        enabled: c.enabled,
        created_at,
        updated_at,
    })
}

/// A new client secret: 256 random bits.
fn new_secret() -> String {
    random_token(32)
}

impl Core {
    /// A client by id, if it exists (enabled or not).
    pub(crate) async fn oidc_client(&self, id: &str) -> Result<Option<OidcClient>> {
        // Anything else (a NUL byte, which PostgreSQL refuses in text, say)
        // is simply no client.
        if !is_client_id(id) {
            return Ok(None);
        }
        db::client(&self.db, id)
            .await?
            .map(OidcClient::try_from)
            .transpose()
    }

    /// Registers a client (the CLI's `client create`; admins go through
    /// [`Core::create_client`]). Returns it with its secret, shown once.
    pub async fn register_client(&self, spec: ClientSpec, client: &Client) -> Result<ClientCreated> {
        let kind = spec.kind.unwrap_or(ClientType::Confidential);
        let default_scopes = || ["openid", "profile", "email"].map(String::from).to_vec();
        let default_grants = || ["authorization_code", "refresh_token"].map(String::from).to_vec();
        let secret = (kind == ClientType::Confidential).then(new_secret);
        let new = OidcClient {
            id: uuid::Uuid::new_v4().simple().to_string(),
            name: check_name(&spec.name)?,
            kind,
            redirect_uris: check_uris("redirect_uris", &spec.redirect_uris)?,
            post_logout_redirect_uris: check_uris(
                "post_logout_redirect_uris",
                &spec.post_logout_redirect_uris,
            )?,
            scopes: check_scopes(&spec.scopes.unwrap_or_else(default_scopes))?,
            grant_types: check_grants(kind, &spec.grant_types.unwrap_or_else(default_grants))?,
            first_party: spec.first_party,
            enabled: spec.enabled.unwrap_or(true),
            secret_hash: secret.as_deref().map(hash_token),
        };
        checked_row(&new)?;
        let now = super::super::now();
        db::insert_client(&self.db, &to_row(&new, now, now)?).await?;
        let detail = format!("{} ({}, {})", new.name, new.id, kind.as_str());
        self.audit(Event::ClientCreated, None, client, Some(&detail))
            .await;
        Ok(ClientCreated {
            client: new.item(),
            client_secret: secret,
        })
    }

    /// Registers a client for an admin (who signed in recently).
    pub async fn create_client(
        &self,
        actor: &Authenticated,
        spec: ClientSpec,
        client: &Client,
    ) -> Result<ClientCreated> {
        require_admin(actor)?;
        self.require_recent_auth(actor)?;
        let created = self.register_client(spec, client).await?;
        Ok(created)
    }

    /// Every client, by name.
    pub async fn clients(&self, actor: &Authenticated) -> Result<Vec<ClientItem>> {
        require_admin(actor)?;
        let rows = db::clients(&self.db).await?;
        rows.into_iter()
            .map(|r| OidcClient::try_from(r).map(|c| c.item()))
            .collect()
    }

    pub async fn client_item(&self, actor: &Authenticated, id: &str) -> Result<ClientItem> {
        require_admin(actor)?;
        self.oidc_client(id)
            .await?
            .map(|c| c.item())
            .ok_or_else(|| Error::NotFound("no such client".into()))
    }

    /// Changes a client's settings. Disabling it refuses its requests at
    /// once (its tokens stop working at userinfo and introspection).
    pub async fn change_client(
        &self,
        actor: &Authenticated,
        id: &str,
        change: ClientChange,
        client: &Client,
    ) -> Result<ClientItem> {
        require_admin(actor)?;
        self.require_recent_auth(actor)?;
        let mut c = self
            .oidc_client(id)
            .await?
            .ok_or_else(|| Error::NotFound("no such client".into()))?;
        if let Some(name) = change.name {
            c.name = check_name(&name)?;
        }
        if let Some(uris) = change.redirect_uris {
            c.redirect_uris = check_uris("redirect_uris", &uris)?;
        }
        if let Some(uris) = change.post_logout_redirect_uris {
            c.post_logout_redirect_uris = check_uris("post_logout_redirect_uris", &uris)?;
        }
        if let Some(scopes) = change.scopes {
            c.scopes = check_scopes(&scopes)?;
        }
        if let Some(grants) = change.grant_types {
            c.grant_types = check_grants(c.kind, &grants)?;
        }
        if let Some(first_party) = change.first_party {
            c.first_party = first_party;
        }
        if let Some(enabled) = change.enabled {
            c.enabled = enabled;
        }
        checked_row(&c)?;
        let now = super::super::now();
        if !db::update_client(&self.db, &to_row(&c, now, now)?).await? {
            return Err(Error::NotFound("no such client".into()));
        }
        let detail = format!("{} ({}) by {}", c.name, c.id, actor.user.username);
        self.audit(Event::ClientChanged, None, client, Some(&detail))
            .await;
        Ok(c.item())
    }

    /// A new secret for a confidential client; the old one stops working.
    pub async fn rotate_client_secret(
        &self,
        actor: &Authenticated,
        id: &str,
        client: &Client,
    ) -> Result<ClientCreated> {
        require_admin(actor)?;
        self.require_recent_auth(actor)?;
        let c = self
            .oidc_client(id)
            .await?
            .ok_or_else(|| Error::NotFound("no such client".into()))?;
        if c.kind != ClientType::Confidential {
            return Err(Error::StateConflict("a public client has no secret".into()));
        }
        let secret = new_secret();
        if !db::set_client_secret(&self.db, id, &hash_token(&secret), super::super::now()).await? {
            return Err(Error::NotFound("no such client".into()));
        }
        let detail = format!("{} ({}) by {}", c.name, c.id, actor.user.username);
        self.audit(Event::ClientSecretRotated, None, client, Some(&detail))
            .await;
        Ok(ClientCreated {
            client: c.item(),
            client_secret: Some(secret),
        })
    }

    /// Removes a client with its consents, codes and grants (their tokens
    /// stop working at once).
    pub async fn delete_client(&self, actor: &Authenticated, id: &str, client: &Client) -> Result<()> {
        require_admin(actor)?;
        self.require_recent_auth(actor)?;
        let c = self
            .oidc_client(id)
            .await?
            .ok_or_else(|| Error::NotFound("no such client".into()))?;
        db::delete_client(&self.db, id).await?;
        let detail = format!("{} ({}) by {}", c.name, c.id, actor.user.username);
        self.audit(Event::ClientDeleted, None, client, Some(&detail))
            .await;
        Ok(())
    }

    /// The client behind `creds` (RFC 6749 §2.3): a confidential client by
    /// its secret (Basic or the body, one of them), a public one by its id
    /// alone. Anything else is `invalid_client`. Wrong secrets are counted
    /// like wrong passwords: per address (`GATEHOUSE_LOGIN_ATTEMPTS` in the
    /// window) and per client (`GATEHOUSE_LOCKOUT_THRESHOLD`), past which
    /// they answer 429 unchecked. The right secret is never refused, so
    /// nobody can lock an app out by guessing at it (and 256 random bits
    /// are not found by guessing).
    pub(crate) async fn authenticate_client(
        &self,
        creds: &ClientCredentials,
        client: &Client,
    ) -> Result<OidcClient> {
        if let Some(why) = creds.malformed {
            return Err(Error::oauth(OAuthCode::InvalidRequest, why));
        }
        let Some(id) = creds.id.as_deref() else {
            return Err(invalid_client("client authentication is required"));
        };
        let found = self.oidc_client(id).await?.filter(|c| c.enabled);
        let Some(found) = found else {
            self.client_guess_failed(None, client).await?;
            return Err(invalid_client("unknown or disabled client"));
        };
        match (found.kind, creds.secret.as_deref()) {
            (ClientType::Public, None) => Ok(found),
            (ClientType::Public, Some(_)) => Err(invalid_client("a public client has no secret")),
            (ClientType::Confidential, None) => {
                Err(invalid_client("this client must authenticate with its secret"))
            }
            (ClientType::Confidential, Some(secret)) if found.secret_matches(secret) => Ok(found),
            (ClientType::Confidential, Some(_)) => {
                self.client_guess_failed(Some(&found), client).await?;
                Err(invalid_client("wrong client secret"))
            }
        }
    }

    /// Counts a failed client authentication (see [`Core::authenticate_client`]).
    async fn client_guess_failed(&self, target: Option<&OidcClient>, client: &Client) -> Result<()> {
        self.admit_attempt(client).await?;
        if let Some(target) = target {
            let key = format!("client:{}", target.id);
            let n = self.reserve_guess(&key, None, client).await?;
            self.guess_failed(&key, n, None, client).await?;
            self.audit(
                Event::LoginFailed,
                None,
                client,
                Some(&format!(
                    "wrong secret for client {} ({})",
                    target.name, target.id
                )),
            )
            .await;
        }
        Ok(())
    }
}
