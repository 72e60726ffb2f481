//! What the pages and the admin API show of the OpenID Connect provider:
//! its clients, a user's connected apps, the consent question.

use serde::{Deserialize, Serialize};

/// Whether a client can keep a secret (a server) or not (a browser or
/// mobile app, which proves itself with PKCE alone).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ClientType {
    Public,
    Confidential,
}

impl ClientType {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientType::Public => "public",
            ClientType::Confidential => "confidential",
        }
    }

    pub fn parse(s: &str) -> Option<ClientType> {
        match s {
            "public" => Some(ClientType::Public),
            "confidential" => Some(ClientType::Confidential),
            _ => None,
        }
    }
}

/// An app that signs its users in through Gatehouse. Its secret is never
/// shown here (see [`ClientCreated`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema), schema(as = ClientView))]
pub struct ClientItem {
    pub client_id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ClientType,
    /// Where codes may be sent: compared exactly.
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the user back to: compared exactly.
    pub post_logout_redirect_uris: Vec<String>,
    /// What the client may ask for (`openid profile email offline_access roles`).
    pub scopes: Vec<String>,
    /// `authorization_code`, `refresh_token`, `client_credentials`.
    pub grant_types: Vec<String>,
    /// Trusted by the team: its users are never asked to consent.
    pub first_party: bool,
    pub enabled: bool,
}

/// A client just created, or whose secret was just rotated: the only answer
/// that holds the secret (it is stored hashed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema), schema(as = ClientCreatedView))]
pub struct ClientCreated {
    #[serde(flatten)]
    pub client: ClientItem,
    /// Confidential clients only. Shown once.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub client_secret: Option<String>,
}

/// An app a user allowed to sign them in, as `/account` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ConnectedApp {
    pub client_id: String,
    pub name: String,
    /// What the user allowed, in words ("your email address").
    pub allowed: Vec<String>,
    /// RFC 3339.
    pub granted_at: String,
}

/// What the consent page asks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentQuestion {
    pub client_name: String,
    /// The signed-in user's name (so they see who they allow it as).
    pub username: String,
    /// What the app asks for, in words.
    pub wants: Vec<String>,
    /// Where the app lives (the redirect URI's origin), so the user can tell
    /// apps with similar names apart.
    pub origin: String,
}

/// A scope in words, for people.
pub fn scope_in_words(scope: &str) -> Option<&'static str> {
    Some(match scope {
        "openid" => "who you are here (your account's id)",
        "profile" => "your username",
        "email" => "your email address",
        "roles" => "your role here",
        "offline_access" => "to stay signed in when you are not using it",
        _ => return None,
    })
}

/// What the consent page shows: the question, or why there is none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConsentPage {
    Ask(ConsentQuestion),
    /// The request cannot be used (unknown app, unregistered address).
    Refused(String),
    /// Nothing to ask: continue here (the app's answer, or signing in).
    Go(String),
}

/// The admin page of clients: every client, and a secret just made (shown
/// once, on the page that follows the action that made it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientsData {
    pub clients: Vec<ClientItem>,
    pub new_secret: Option<ClientCreated>,
}
