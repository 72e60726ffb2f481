//! Types both the server and the browser see. No server crates in here: this
//! module compiles to wasm.

use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};
use std::fmt;

pub mod oidc;

/// What a user may do. `Admin` can reach `/admin`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    User,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "user" => Some(Role::User),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The public face of a user: what the API returns and the pages show. It never
/// carries a password or a hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UserView {
    #[cfg_attr(feature = "ssr", schema(format = "uuid"))]
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    pub role: Role,
    /// Whether the person proved they receive mail at `email`.
    pub email_verified: bool,
    /// RFC 3339.
    #[cfg_attr(feature = "ssr", schema(format = "date-time"))]
    pub created_at: String,
}

/// One of the signed-in user's sessions, as the API answers it and the
/// account page lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema), schema(as = SessionView))]
pub struct SessionItem {
    #[cfg_attr(feature = "ssr", schema(format = "uuid"))]
    pub id: String,
    /// RFC 3339.
    #[cfg_attr(feature = "ssr", schema(format = "date-time"))]
    pub created_at: String,
    /// RFC 3339.
    #[cfg_attr(feature = "ssr", schema(format = "date-time"))]
    pub last_seen_at: String,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// The session this request (the browser looking at the list) was made with.
    pub current: bool,
}

/// A page of the signed-in user's sessions on `/account`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionPage {
    /// The current session first (on the first page), then the most
    /// recently used.
    pub sessions: Vec<SessionItem>,
    /// How many live sessions there are in all.
    pub total: u64,
    /// The page's number, from 1.
    pub page: u32,
    /// Sessions per page.
    pub per_page: u32,
}

impl SessionPage {
    /// Whether there is a page after this one.
    pub fn has_next(&self) -> bool {
        u64::from(self.page) * u64::from(self.per_page) < self.total
    }
}

/// A user as admins see it: the user, and what only admins see.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema), schema(as = AdminUserView))]
pub struct AdminUserItem {
    #[serde(flatten)]
    pub user: UserView,
    pub disabled: bool,
    /// RFC 3339, while the account is locked; else null.
    #[cfg_attr(feature = "ssr", schema(format = "date-time"))]
    pub locked_until: Option<String>,
    /// RFC 3339, or null if never.
    #[cfg_attr(feature = "ssr", schema(format = "date-time"))]
    pub last_login_at: Option<String>,
    /// A second factor (an authenticator app or a passkey) is set up.
    pub mfa_enabled: bool,
    /// The identity providers linked to the account (their ids).
    #[serde(default)]
    pub providers: Vec<String>,
}

/// An identity provider users may sign in with: the button "Continue with {name}".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderLink {
    pub id: String,
    pub name: String,
    /// It can be asked to sign the person in again (OpenID Connect), so it
    /// can confirm it is them before a sensitive change.
    pub reauth: bool,
}

/// A provider on the account page: linked or not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityItem {
    pub provider: String,
    pub name: String,
    pub linked: bool,
    /// The address the provider gave when it was linked.
    pub email: Option<String>,
    /// RFC 3339.
    pub linked_at: Option<String>,
    pub last_used_at: Option<String>,
}

/// `/auth/{id}/start?return=…` (`return` left out when it is empty).
pub fn provider_start_url(id: &str, return_to: &str, intent: Option<&str>) -> String {
    let mut url = format!("/auth/{id}/start");
    let mut sep = '?';
    if let Some(intent) = intent {
        url.push_str(&format!("{sep}intent={intent}"));
        sep = '&';
    }
    if !return_to.is_empty() {
        url.push_str(&format!("{sep}return={}", encode_return(return_to)));
    }
    url
}

/// One audit row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema), schema(as = AuditView))]
pub struct AuditItem {
    pub id: i64,
    /// RFC 3339.
    #[cfg_attr(feature = "ssr", schema(format = "date-time"))]
    pub at: String,
    pub event: String,
    pub user_id: Option<String>,
    /// The username of `user_id`, if that user still exists.
    pub username: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: Option<String>,
}

/// What a mail link's landing page shows before the person confirms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkView {
    /// The address the link concerns (the new one, for an email change).
    pub email: String,
    pub username: String,
    /// RFC 3339.
    pub expires_at: String,
}

/// A pending invitation, as the API answers it and its landing page and
/// the admin page show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema), schema(as = InvitationView))]
pub struct InvitationItem {
    #[cfg_attr(feature = "ssr", schema(format = "uuid"))]
    pub id: String,
    pub email: String,
    pub role: Role,
    /// RFC 3339.
    #[cfg_attr(feature = "ssr", schema(format = "date-time"))]
    pub expires_at: String,
}

/// A message not delivered yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema), schema(as = MailView))]
pub struct MailItem {
    #[cfg_attr(feature = "ssr", schema(format = "uuid"))]
    pub id: String,
    /// What it is (`reset_password`, `verify_email`, `invitation`, ...).
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    /// `pending`, `sending` or `failed`.
    pub status: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// RFC 3339.
    #[cfg_attr(feature = "ssr", schema(format = "date-time"))]
    pub created_at: String,
}

/// A TOTP enrolment waiting for its first code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema), schema(as = TotpEnrolmentView))]
pub struct TotpSetup {
    /// The base32 key, for typing into an app.
    pub secret: String,
    pub otpauth_uri: String,
    /// The URI as a QR code: an SVG `data:` URL.
    pub qr_code: String,
}

/// A passkey as its owner sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema), schema(as = PasskeyView))]
pub struct PasskeyItem {
    #[cfg_attr(feature = "ssr", schema(format = "uuid"))]
    pub id: String,
    pub name: String,
    /// RFC 3339.
    #[cfg_attr(feature = "ssr", schema(format = "date-time"))]
    pub created_at: String,
    #[cfg_attr(feature = "ssr", schema(format = "date-time"))]
    pub last_used_at: Option<String>,
}

/// The account page's security section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityView {
    pub totp: bool,
    /// An enrolment started and not confirmed yet.
    pub totp_setup: Option<TotpSetup>,
    pub passkeys: Vec<PasskeyItem>,
    pub recovery_codes_left: u32,
    /// Whether this site can use passkeys (it has a host name).
    pub passkeys_available: bool,
    /// The password was reset since the owner last confirmed these factors.
    pub review_after_reset: bool,
}

/// What the admin page shows: the users, and a page of the audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminData {
    /// A page of users.
    pub users: Vec<AdminUserItem>,
    /// The `after` of the next page of users, if there is one.
    pub users_next: Option<String>,
    /// Pending invitations (empty when mail is off).
    pub invitations: Vec<InvitationItem>,
    /// Mail not delivered yet (empty when mail is off).
    pub mail: Vec<MailItem>,
    pub audit: Vec<AuditItem>,
    /// The `before` of the next (older) page, if there is one.
    pub older: Option<i64>,
    /// Every event name, for the filter.
    pub events: Vec<String>,
}

/// "Firefox on Linux", from a User-Agent header; good enough to tell one's
/// devices apart.
pub fn describe_user_agent(ua: Option<&str>) -> String {
    let Some(ua) = ua.filter(|s| !s.trim().is_empty()) else {
        return "Unknown device".to_string();
    };
    let browser = if ua.contains("Edg/") {
        Some("Edge")
    } else if ua.contains("OPR/") || ua.contains("Opera") {
        Some("Opera")
    } else if ua.contains("Firefox/") {
        Some("Firefox")
    } else if ua.contains("Chrome/") || ua.contains("Chromium/") || ua.contains("HeadlessChrome") {
        Some("Chrome")
    } else if ua.contains("Safari/") {
        Some("Safari")
    } else if ua.starts_with("curl/") {
        Some("curl")
    } else {
        None
    };
    let os = if ua.contains("Android") {
        Some("Android")
    } else if ua.contains("iPhone") || ua.contains("iPad") {
        Some("iOS")
    } else if ua.contains("Windows") {
        Some("Windows")
    } else if ua.contains("Mac OS X") || ua.contains("Macintosh") {
        Some("macOS")
    } else if ua.contains("Linux") || ua.contains("X11") {
        Some("Linux")
    } else {
        None
    };
    match (browser, os) {
        (Some(b), Some(o)) => format!("{b} on {o}"),
        (Some(b), None) => b.to_string(),
        (None, Some(o)) => format!("A browser on {o}"),
        (None, None) => ua.chars().take(40).collect(),
    }
}

/// `2026-11-23T18:40:03Z` -> `2026-11-23 18:40 UTC`.
pub fn short_time(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..16)) {
        (Some(date), Some(time)) => format!("{date} {time} UTC"),
        _ => rfc3339.to_string(),
    }
}

/// A rough strength estimate for the hint under a new-password field: the
/// server's policy decides, this only guides the person typing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Strength {
    /// 0 (too short) to 4 (strong).
    pub score: u8,
    pub label: &'static str,
    pub advice: String,
}

/// Estimates how hard `password` is to guess from its length, the kinds of
/// characters in it and how much it repeats itself.
pub fn estimate_strength(password: &str, min_length: usize) -> Strength {
    let chars: Vec<char> = password.chars().collect();
    let len = chars.len();
    if len < min_length {
        let missing = min_length - len;
        return Strength {
            score: 0,
            label: "Too short",
            advice: format!(
                "{missing} more character{} to go.",
                if missing == 1 { "" } else { "s" }
            ),
        };
    }
    let mut pool = 0u32;
    if chars.iter().any(|c| c.is_ascii_lowercase()) {
        pool += 26;
    }
    if chars.iter().any(|c| c.is_ascii_uppercase()) {
        pool += 26;
    }
    if chars.iter().any(|c| c.is_ascii_digit()) {
        pool += 10;
    }
    if chars.iter().any(|c| c.is_ascii_punctuation() || *c == ' ') {
        pool += 33;
    }
    if chars.iter().any(|c| !c.is_ascii()) {
        pool += 100;
    }
    let mut distinct = chars.clone();
    distinct.sort_unstable();
    distinct.dedup();
    // Repetition ("aaaa", "abab") adds little: weigh by the share of distinct characters.
    let variety = (distinct.len() as f64 / len as f64).clamp(0.25, 1.0);
    let bits = len as f64 * f64::from(pool.max(1)).log2() * variety;
    let (score, label, advice) = match bits {
        b if b < 45.0 => (1, "Weak", "Longer is stronger: try a few unrelated words."),
        b if b < 65.0 => (2, "Fair", "Add another word or two to make it strong."),
        b if b < 90.0 => (3, "Good", "Good. A little longer would make it strong."),
        _ => (4, "Strong", "Strong password."),
    };
    Strength {
        score,
        label,
        advice: advice.to_string(),
    }
}

/// The error a server function returns to a page: a message for people, the
/// form field it belongs to (if any) and, when rate-limited, how long to wait.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppError {
    pub status: u16,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl AppError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        AppError {
            status,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    pub fn for_field(status: u16, field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError {
            field: Some(field.into()),
            ..AppError::new(status, message)
        }
    }

    /// The message when it belongs to `field`.
    pub fn message_for(&self, field: &str) -> Option<String> {
        (self.field.as_deref() == Some(field)).then(|| self.message.clone())
    }

    /// The message when it belongs to no particular field.
    pub fn form_message(&self) -> Option<String> {
        self.field.is_none().then(|| self.message.clone())
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AppError {}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(_) | ServerFnErrorErr::MissingArg(_) => {
                AppError::new(400, "The form was incomplete. Please fill it in and try again.")
            }
            ServerFnErrorErr::Request(_) => AppError::new(
                503,
                "Could not reach the server. Check your connection and try again.",
            ),
            _ => AppError::new(500, "Something went wrong on our side. Please try again."),
        }
    }
}

/// Whether a `return` target is a path on this site: `/` followed by anything
/// but `/` or `\`, with no control characters. Anything else (`//evil.com`,
/// `/\evil.com`, `https://evil.com`, `javascript:...`) is refused.
pub fn is_local_path(target: &str) -> bool {
    let mut chars = target.chars();
    if chars.next() != Some('/') {
        return false;
    }
    match chars.next() {
        None => true,
        Some('/') | Some('\\') => false,
        Some(_) => !target.chars().any(|c| c.is_control() || c == '\\'),
    }
}

/// Percent-encodes a path and query for use as a `return` query value.
pub fn encode_return(path_and_query: &str) -> String {
    let mut out = String::with_capacity(path_and_query.len() * 3);
    for b in path_and_query.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `/login?return=<encoded path and query>`.
pub fn login_url_for(path_and_query: &str) -> String {
    format!("/login?return={}", encode_return(path_and_query))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_are_followed() {
        for ok in ["/", "/dashboard", "/account?tab=sessions", "/a/b#c", "/%2F"] {
            assert!(is_local_path(ok), "{ok}");
        }
    }

    #[test]
    fn foreign_targets_are_not_local() {
        for bad in [
            "",
            "dashboard",
            "//evil.com",
            "/\\evil.com",
            "\\\\evil.com",
            "https://evil.com",
            "http:/evil.com",
            "javascript:alert(1)",
            "/\tevil",
            "/a\\b",
            "/\u{0}x",
            " /dashboard",
        ] {
            assert!(!is_local_path(bad), "{bad:?}");
        }
    }

    #[test]
    fn strength_grows_with_length_and_variety() {
        assert_eq!(estimate_strength("short", 10).score, 0);
        assert_eq!(estimate_strength("short", 10).advice, "5 more characters to go.");
        assert_eq!(estimate_strength("aaaaaaaaaa", 10).score, 1);
        assert!(estimate_strength("correct horse battery staple", 10).score >= 3);
        assert!(estimate_strength("tangerine orbit lantern 42", 10).score >= 3);
    }

    #[test]
    fn user_agents_are_described() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
        assert_eq!(describe_user_agent(Some(chrome)), "Chrome on Linux");
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1";
        assert_eq!(describe_user_agent(Some(iphone)), "Safari on iOS");
        assert_eq!(describe_user_agent(Some("curl/8.5.0")), "curl");
        assert_eq!(describe_user_agent(None), "Unknown device");
        assert_eq!(short_time("2026-11-23T18:40:03Z"), "2026-11-23 18:40 UTC");
    }

    #[test]
    fn return_encoding_round_trips_through_percent_decoding() {
        assert_eq!(
            login_url_for("/account?tab=a b&x=1"),
            "/login?return=%2Faccount%3Ftab%3Da%20b%26x%3D1"
        );
    }
}
