//! Gatehouse as an OpenID Connect provider for the team's other apps
//! ("clients"): the authorization code flow with PKCE, consent, the token
//! endpoint's grants, userinfo, revocation, introspection and RP-initiated
//! logout. Standards: OpenID Connect Core 1.0 and Discovery 1.0, RFC 6749,
//! 7636, 7009, 7662, 9068, 9207 and the Security BCP (RFC 9700).
//!
//! A grant to a client is a token family like the API's own (its refresh
//! tokens single-use, a spent one presented again ends the family), with
//! the client, the scope and the sign-in's `amr` beside it; access tokens
//! name their grant, so userinfo and introspection see a revocation at once.

/// An `error_description` as RFC 6749 allows it (printable ASCII but `"`
/// and `\`): what a request sent is echoed in it at most this way, never
/// as markup or another script's text.
pub fn description_text(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '?',
        })
        .take(300)
        .collect()
}

mod authorize;
mod clients;
mod grants;
mod logout;

pub use authorize::{AuthorizeOutcome, AuthorizeParams};
pub use clients::{ClientChange, ClientCredentials, ClientSpec, OidcClient};
pub use grants::{TokenAnswer, TokenParams};
pub use logout::{LogoutOutcome, LogoutParams};

use super::Core;

/// The scopes a client may ask for.
pub const SCOPES: [&str; 5] = ["openid", "profile", "email", "offline_access", "roles"];
/// The grant types of the token endpoint.
pub const GRANT_TYPES: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];
/// The claims ID tokens and userinfo may carry.
const CLAIMS: [&str; 13] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "amr",
    "at_hash",
    "preferred_username",
    "email",
    "email_verified",
    "roles",
];

/// An OAuth 2.0 error code (RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1,
/// OpenID Connect Core §3.1.2.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OAuthCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    LoginRequired,
    ConsentRequired,
    InteractionRequired,
    RequestNotSupported,
    RequestUriNotSupported,
    InvalidToken,
    InsufficientScope,
}

impl OAuthCode {
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthCode::InvalidRequest => "invalid_request",
            OAuthCode::InvalidClient => "invalid_client",
            OAuthCode::InvalidGrant => "invalid_grant",
            OAuthCode::UnauthorizedClient => "unauthorized_client",
            OAuthCode::UnsupportedGrantType => "unsupported_grant_type",
            OAuthCode::UnsupportedResponseType => "unsupported_response_type",
            OAuthCode::InvalidScope => "invalid_scope",
            OAuthCode::AccessDenied => "access_denied",
            OAuthCode::LoginRequired => "login_required",
            OAuthCode::ConsentRequired => "consent_required",
            OAuthCode::InteractionRequired => "interaction_required",
            OAuthCode::RequestNotSupported => "request_not_supported",
            OAuthCode::RequestUriNotSupported => "request_uri_not_supported",
            OAuthCode::InvalidToken => "invalid_token",
            OAuthCode::InsufficientScope => "insufficient_scope",
        }
    }

    /// The HTTP status of a direct answer with this error: 401 for a client
    /// or token that did not authenticate, 403 for a token without the
    /// scope, else 400.
    pub fn status(self) -> u16 {
        match self {
            OAuthCode::InvalidClient | OAuthCode::InvalidToken => 401,
            OAuthCode::InsufficientScope => 403,
            _ => 400,
        }
    }
}

/// A space-separated list, each item once, in order.
pub(crate) fn split_list(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in s.split(' ').filter(|i| !i.is_empty()) {
        if !out.iter().any(|o| o == item) {
            out.push(item.to_string());
        }
    }
    out
}

/// Reads `name=value` pairs into the slots of `target` that `slot` names,
/// and returns the names given more than once (RFC 6749 §3.1: parameters
/// must not repeat).
pub(crate) fn take_pairs<T>(
    target: &mut T,
    pairs: impl IntoIterator<Item = (String, String)>,
    slot: for<'a> fn(&'a mut T, &str) -> Option<&'a mut Option<String>>,
) -> Vec<String> {
    let mut repeated: Vec<String> = Vec::new();
    for (name, value) in pairs {
        if let Some(place) = slot(target, &name) {
            if place.is_some() {
                if !repeated.contains(&name) {
                    repeated.push(name);
                }
            } else if !value.is_empty() {
                *place = Some(value);
            }
        }
    }
    repeated
}

impl Core {
    /// The provider's issuer identifier: `GATEHOUSE_PUBLIC_URL`, or
    /// `http://{LEPTOS_SITE_ADDR}` in development.
    pub fn issuer(&self) -> String {
        self.config.site_origin()
    }

    /// The discovery document (OpenID Connect Discovery 1.0 §3).
    pub fn discovery(&self) -> serde_json::Value {
        let issuer = self.issuer();
        serde_json::json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/oauth2/authorize"),
            "token_endpoint": format!("{issuer}/oauth2/token"),
            "userinfo_endpoint": format!("{issuer}/oauth2/userinfo"),
            "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
            "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
            "introspection_endpoint": format!("{issuer}/oauth2/introspect"),
            "end_session_endpoint": format!("{issuer}/oauth2/logout"),
            "scopes_supported": SCOPES,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": GRANT_TYPES,
            "code_challenge_methods_supported": ["S256"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "claims_supported": CLAIMS,
            "claims_parameter_supported": false,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
            "authorization_response_iss_parameter_supported": true,
            "prompt_values_supported": ["none", "login", "consent", "select_account"],
        })
    }

    /// Deletes spent codes and revocation records nobody needs any more;
    /// run periodically. Codes are kept a day past their end, so a replay
    /// is still recognised (and ends what the code gave).
    pub async fn purge_oidc(&self) -> super::Result<u64> {
        let now = super::now();
        Ok(crate::server::db::oidc::purge(&self.db, now, now - 24 * 3600).await?)
    }
}

impl Core {
    /// The apps `user_id` allowed to sign them in (by consent, or
    /// first-party apps holding a live grant), by name.
    pub async fn connected_apps(
        &self,
        user_id: &str,
    ) -> super::Result<Vec<crate::model::oidc::ConnectedApp>> {
        let rows = crate::server::db::oidc::connected_apps(&self.db, user_id, super::now()).await?;
        Ok(rows
            .into_iter()
            .map(|r| crate::model::oidc::ConnectedApp {
                client_id: r.client_id,
                name: r.name,
                allowed: split_list(&r.scopes)
                    .iter()
                    .filter_map(|s| crate::model::oidc::scope_in_words(s))
                    .map(String::from)
                    .collect(),
                granted_at: super::rfc3339(r.granted_at),
            })
            .collect())
    }

    /// Disconnects an app: its consent is withdrawn and its refresh tokens
    /// (and, at userinfo and introspection, its access tokens) end.
    pub async fn disconnect_app(
        &self,
        user_id: &str,
        client_id: &str,
        client: &super::Client,
    ) -> super::Result<()> {
        let now = super::now();
        if !clients::is_client_id(client_id)
            || !crate::server::db::oidc::revoke_consent(&self.db, user_id, client_id, now).await?
        {
            return Err(super::Error::NotFound("no such connected app".into()));
        }
        self.audit(
            super::audit::Event::ConsentRevoked,
            Some(user_id),
            client,
            Some(&format!("client {client_id}")),
        )
        .await;
        Ok(())
    }
}
