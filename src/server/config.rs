//! Typed configuration, read from the environment (and `.env`) once, validated
//! once. A bad value stops start-up with a message naming the variable.

use ipnet::IpNet;
use std::{collections::HashMap, fmt, net::IpAddr, path::PathBuf, time::Duration};
use url::Url;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Whether email addresses must be proven (`GATEHOUSE_EMAIL_VERIFICATION`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmailVerification {
    /// No verification mail; `email_verified` stays as it is.
    Off,
    /// Signup mails a link; nothing waits for it.
    Optional,
    /// As optional, and an unverified account cannot sign in.
    Required,
}

impl EmailVerification {
    pub fn as_str(self) -> &'static str {
        match self {
            EmailVerification::Off => "off",
            EmailVerification::Optional => "optional",
            EmailVerification::Required => "required",
        }
    }
}

/// Whom a second factor is required of (`GATEHOUSE_MFA`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MfaPolicy {
    Optional,
    Admins,
    Everyone,
}

impl MfaPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            MfaPolicy::Optional => "optional",
            MfaPolicy::Admins => "admins",
            MfaPolicy::Everyone => "everyone",
        }
    }
}

/// The WebAuthn relying party: its id (a host name) and the origin passkeys
/// are used from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelyingParty {
    pub id: String,
    pub origin: String,
    /// Development without a public URL: any port of `http://localhost`.
    pub any_port: bool,
}

/// How TLS is used on an SMTP connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// `smtp://`: STARTTLS, required.
    StartTls,
    /// `smtps://`: TLS from the first byte.
    Implicit,
    /// `smtp+plain://`: no TLS (local development and tests).
    Plain,
}

/// A secret that never shows in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where mail goes (`GATEHOUSE_SMTP_URL`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MailTransport {
    Smtp {
        host: String,
        port: u16,
        security: SmtpSecurity,
        credentials: Option<(String, Secret)>,
    },
    /// `file:///dir`: each message becomes a file in `dir`.
    File(PathBuf),
}

#[derive(Clone, Debug)]
pub struct MailConfig {
    pub transport: MailTransport,
    /// `GATEHOUSE_MAIL_FROM`, e.g. `Gatehouse <no-reply@example.com>`.
    pub from: String,
    /// Attempts before a message is marked failed (`GATEHOUSE_MAIL_MAX_ATTEMPTS`).
    pub max_attempts: u32,
    /// How long an instance holds a message it claimed before another may
    /// take it over (`GATEHOUSE_MAIL_LEASE_SECONDS`).
    pub lease: Duration,
    /// How long one message may take to hand over
    /// (`GATEHOUSE_MAIL_SEND_TIMEOUT_SECONDS`); at least 2 s shorter than
    /// the lease.
    pub send_timeout: Duration,
}

/// `GATEHOUSE_KEY_ENCRYPTION_KEY`: the key secrets at rest are sealed with
/// (see `core::sealing`). Its `Debug` shows nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyEncryptionKey(pub [u8; 32]);

impl fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyEncryptionKey([redacted])")
    }
}

/// Parses `GATEHOUSE_KEY_ENCRYPTION_KEY`: 32 bytes as base64 (standard or
/// URL-safe, padded or not) or as 64 hex digits.
fn parse_key(text: &str) -> Option<[u8; 32]> {
    use base64::Engine;
    let text = text.trim();
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text).ok()?
    } else {
        let engines = [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::STANDARD_NO_PAD,
            &base64::engine::general_purpose::URL_SAFE,
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        engines.iter().find_map(|e| e.decode(text).ok())?
    };
    bytes.try_into().ok()
}

#[derive(Clone, Debug)]
pub struct Config {
    pub database_url: String,
    /// `LEPTOS_SITE_ADDR`: where the server listens.
    pub site_addr: std::net::SocketAddr,
    /// Scheme + host (+ port) of the public site, e.g. `https://id.example.com`.
    pub public_origin: Option<String>,
    /// Cookies carry `Secure` (and the session cookie the `__Host-` prefix).
    pub secure_cookies: bool,
    pub signup_open: bool,
    pub password_min_length: usize,
    pub login_attempts: u32,
    pub login_window: Duration,
    pub lockout_threshold: u32,
    pub lockout: Duration,
    pub session_lifetime: Duration,
    pub remember_lifetime: Duration,
    pub session_idle: Duration,
    pub access_token_lifetime: Duration,
    pub refresh_token_lifetime: Duration,
    pub trusted_proxies: Vec<IpNet>,
    /// `GATEHOUSE_COOKIE_DOMAIN`: the session cookie is sent to this domain
    /// and its subdomains (one sign-in for the apps behind forward
    /// authentication), and `/login?return=` may send users back to them.
    pub cookie_domain: Option<String>,
    /// `GATEHOUSE_FORWARD_RULES`: who the forward-authentication check lets
    /// through to which app.
    pub forward_rules: Vec<crate::server::core::forward::ForwardRule>,
    /// `GATEHOUSE_PROVIDERS`: the identity providers users may sign in with.
    pub providers: Vec<crate::server::federation::settings::ProviderSettings>,
    /// IPv6 clients are counted per network of this many bits (`GATEHOUSE_IPV6_PREFIX`).
    pub ipv6_prefix: u8,
    /// The k-anonymity range API breached passwords are checked against
    /// (`GATEHOUSE_HIBP_URL`, the 5 hex digits are appended); `None`: off.
    pub hibp_url: Option<String>,
    pub log_format: LogFormat,
    pub audit_retention: Duration,
    /// Mail delivery; `None` turns the flows that need mail off.
    pub mail: Option<MailConfig>,
    pub email_verification: EmailVerification,
    pub password_reset_lifetime: Duration,
    /// Signups, invitation acceptances and password-reset requests allowed
    /// per client per hour (`GATEHOUSE_SIGNUP_LIMIT`).
    pub signup_limit: u32,
    /// Sensitive changes need a sign-in this recent (`GATEHOUSE_REAUTH_MINUTES`).
    pub reauth_window: Duration,
    pub mfa: MfaPolicy,
    /// `None` when passkeys cannot work (the public URL's host is an IP address).
    pub relying_party: Option<RelyingParty>,
    /// Origins whose pages may call the JSON API with credentials
    /// (`GATEHOUSE_ALLOWED_ORIGINS`), e.g. `https://app.example.com`.
    pub allowed_origins: Vec<String>,
    /// A connection has this long to send a request's headers (and an idle
    /// kept-alive connection this long before its next one).
    pub header_timeout: Duration,
    /// On a stop, requests in flight get this long to finish
    /// (`GATEHOUSE_SHUTDOWN_SECONDS`).
    pub shutdown_grace: Duration,
    /// Where Prometheus metrics are served (`GATEHOUSE_METRICS_ADDR`); `None`: off.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Seals secrets at rest (`GATEHOUSE_KEY_ENCRYPTION_KEY`); `None`: stored as they are.
    pub key_encryption_key: Option<KeyEncryptionKey>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.variable, self.message)
    }
}

impl std::error::Error for ConfigError {}

const DEFAULT_DATABASE_URL: &str = "sqlite://gatehouse.db?mode=rwc";
pub const PASSWORD_MAX_LENGTH: usize = 256;

const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

impl Default for Config {
    fn default() -> Self {
        Config::from_lookup(|_| None).expect("the defaults are valid")
    }
}

impl Config {
    /// Reads the process environment (after loading `.env` if present).
    pub fn from_env() -> Result<Config, ConfigError> {
        let _ = dotenvy::dotenv();
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// For tests: the defaults overridden by `vars`.
    pub fn from_map(vars: &HashMap<&str, &str>) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| vars.get(name).map(|v| v.to_string()))
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &'static str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let num = |name: &'static str, default: u64, min: u64, max: u64| -> Result<u64, ConfigError> {
            match get(name) {
                None => Ok(default),
                Some(raw) => {
                    let value: u64 = raw.parse().map_err(|_| ConfigError {
                        variable: name,
                        message: format!("{raw:?} is not a whole number"),
                    })?;
                    if value < min || value > max {
                        return Err(ConfigError {
                            variable: name,
                            message: format!("{value} is outside {min}..={max}"),
                        });
                    }
                    Ok(value)
                }
            }
        };

        let database_url = get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError {
                variable: "DATABASE_URL",
                message: "must start with sqlite:, postgres:// or postgresql://".into(),
            });
        }

        let site_addr = match get("LEPTOS_SITE_ADDR") {
            None => std::net::SocketAddr::from(([127, 0, 0, 1], 3000)),
            Some(raw) => raw.parse().map_err(|_| ConfigError {
                variable: "LEPTOS_SITE_ADDR",
                message: format!("{raw:?} is not an address like 127.0.0.1:3000"),
            })?,
        };

        let (public_origin, secure_cookies) = match get("GATEHOUSE_PUBLIC_URL") {
            None => (None, false),
            Some(raw) => {
                let origin = parse_origin(&raw).map_err(|message| ConfigError {
                    variable: "GATEHOUSE_PUBLIC_URL",
                    message,
                })?;
                let secure = origin.starts_with("https://");
                (Some(origin), secure)
            }
        };

        let signup_open = match get("GATEHOUSE_SIGNUP").as_deref() {
            None | Some("open") => true,
            Some("closed") => false,
            Some(other) => {
                return Err(ConfigError {
                    variable: "GATEHOUSE_SIGNUP",
                    message: format!("{other:?} is neither \"open\" nor \"closed\""),
                })
            }
        };

        let log_format = match get("GATEHOUSE_LOG_FORMAT").as_deref() {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError {
                    variable: "GATEHOUSE_LOG_FORMAT",
                    message: format!("{other:?} is neither \"pretty\" nor \"json\""),
                })
            }
        };

        let trusted_proxies = match get("GATEHOUSE_TRUSTED_PROXIES") {
            None => Vec::new(),
            Some(raw) => parse_cidrs(&raw).map_err(|message| ConfigError {
                variable: "GATEHOUSE_TRUSTED_PROXIES",
                message,
            })?,
        };

        let cookie_domain = match get("GATEHOUSE_COOKIE_DOMAIN") {
            None => None,
            Some(raw) => Some(
                parse_cookie_domain(&raw, public_origin.as_deref()).map_err(|message| ConfigError {
                    variable: "GATEHOUSE_COOKIE_DOMAIN",
                    message,
                })?,
            ),
        };
        let forward_rules = match get("GATEHOUSE_FORWARD_RULES") {
            None => Vec::new(),
            Some(raw) => crate::server::core::forward::parse_rules(&raw).map_err(|message| ConfigError {
                variable: "GATEHOUSE_FORWARD_RULES",
                message,
            })?,
        };
        let providers =
            match get("GATEHOUSE_PROVIDERS") {
                None => Vec::new(),
                Some(raw) => crate::server::federation::settings::parse(&raw, &|name| lookup(name)).map_err(
                    |message| ConfigError {
                        variable: "GATEHOUSE_PROVIDERS",
                        message,
                    },
                )?,
            };

        let mail = match get("GATEHOUSE_SMTP_URL") {
            None => None,
            Some(raw) => {
                let transport = parse_mail_url(&raw).map_err(|message| ConfigError {
                    variable: "GATEHOUSE_SMTP_URL",
                    message,
                })?;
                let Some(origin) = public_origin.as_deref() else {
                    return Err(ConfigError {
                        variable: "GATEHOUSE_PUBLIC_URL",
                        message:
                            "must be set when GATEHOUSE_SMTP_URL is: the links in mail are built from it"
                                .into(),
                    });
                };
                let from = match get("GATEHOUSE_MAIL_FROM") {
                    Some(from) => {
                        check_mailbox(&from).map_err(|message| ConfigError {
                            variable: "GATEHOUSE_MAIL_FROM",
                            message,
                        })?;
                        from
                    }
                    None => {
                        let host = Url::parse(origin)
                            .ok()
                            .and_then(|u| u.host_str().map(str::to_string))
                            .unwrap_or_else(|| "localhost".into());
                        let host = host.trim_start_matches('[').trim_end_matches(']');
                        format!("Gatehouse <no-reply@{host}>")
                    }
                };
                let lease = num("GATEHOUSE_MAIL_LEASE_SECONDS", 120, 3, 3600)?;
                let send_timeout = num("GATEHOUSE_MAIL_SEND_TIMEOUT_SECONDS", 30, 1, 3600)?;
                if send_timeout + 2 > lease {
                    return Err(ConfigError {
                        variable: "GATEHOUSE_MAIL_SEND_TIMEOUT_SECONDS",
                        message: format!(
                            "{send_timeout} s leaves too little of GATEHOUSE_MAIL_LEASE_SECONDS ({lease} s): a send must give up at least 2 s before its claim ends"
                        ),
                    });
                }
                Some(MailConfig {
                    transport,
                    from,
                    max_attempts: num("GATEHOUSE_MAIL_MAX_ATTEMPTS", 20, 1, 1000)? as u32,
                    lease: Duration::from_secs(lease),
                    send_timeout: Duration::from_secs(send_timeout),
                })
            }
        };

        let email_verification = match get("GATEHOUSE_EMAIL_VERIFICATION").as_deref() {
            None if mail.is_some() => EmailVerification::Optional,
            None | Some("off") => EmailVerification::Off,
            Some("optional") => EmailVerification::Optional,
            Some("required") => EmailVerification::Required,
            Some(other) => {
                return Err(ConfigError {
                    variable: "GATEHOUSE_EMAIL_VERIFICATION",
                    message: format!("{other:?} is not \"off\", \"optional\" or \"required\""),
                })
            }
        };
        if email_verification != EmailVerification::Off && mail.is_none() {
            return Err(ConfigError {
                variable: "GATEHOUSE_EMAIL_VERIFICATION",
                message: format!(
                    "{:?} needs mail: set GATEHOUSE_SMTP_URL too",
                    email_verification.as_str()
                ),
            });
        }

        let hibp_url = match get("GATEHOUSE_HIBP_URL") {
            None => None,
            Some(raw) => {
                let url = Url::parse(&raw).map_err(|e| ConfigError {
                    variable: "GATEHOUSE_HIBP_URL",
                    message: format!("{raw:?} is not a URL ({e})"),
                })?;
                if !matches!(url.scheme(), "http" | "https") || url.query().is_some() {
                    return Err(ConfigError {
                        variable: "GATEHOUSE_HIBP_URL",
                        message: format!(
                            "{raw:?} must be an http(s) URL the 5-digit prefix is appended to, like https://api.pwnedpasswords.com/range/"
                        ),
                    });
                }
                Some(raw)
            }
        };

        let mfa = match get("GATEHOUSE_MFA").as_deref() {
            None | Some("optional") => MfaPolicy::Optional,
            Some("admins") => MfaPolicy::Admins,
            Some("everyone") => MfaPolicy::Everyone,
            Some(other) => {
                return Err(ConfigError {
                    variable: "GATEHOUSE_MFA",
                    message: format!("{other:?} is not \"optional\", \"admins\" or \"everyone\""),
                })
            }
        };
        let relying_party = relying_party(public_origin.as_deref(), site_addr);
        let metrics_addr = match get("GATEHOUSE_METRICS_ADDR") {
            None => None,
            Some(raw) => Some(raw.parse().map_err(|_| ConfigError {
                variable: "GATEHOUSE_METRICS_ADDR",
                message: format!("{raw:?} is not an address like 127.0.0.1:9100"),
            })?),
        };
        let allowed_origins = match get("GATEHOUSE_ALLOWED_ORIGINS") {
            None => Vec::new(),
            Some(raw) => raw
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|entry| {
                    bare_origin(entry).map_err(|message| ConfigError {
                        variable: "GATEHOUSE_ALLOWED_ORIGINS",
                        message,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        };

        let key_encryption_key = match lookup("GATEHOUSE_KEY_ENCRYPTION_KEY").filter(|v| !v.trim().is_empty())
        {
            None => None,
            Some(raw) => Some(KeyEncryptionKey(parse_key(&raw).ok_or_else(|| {
                ConfigError {
                    variable: "GATEHOUSE_KEY_ENCRYPTION_KEY",
                    // Never the value: it is a secret.
                    message:
                        "must be 32 random bytes, as base64 (e.g. `openssl rand -base64 32`) or 64 hex digits"
                            .into(),
                }
            })?)),
        };

        let secs = Duration::from_secs;
        Ok(Config {
            database_url,
            site_addr,
            public_origin,
            secure_cookies,
            signup_open,
            password_min_length: num("GATEHOUSE_PASSWORD_MIN_LENGTH", 10, 8, PASSWORD_MAX_LENGTH as u64)?
                as usize,
            login_attempts: num("GATEHOUSE_LOGIN_ATTEMPTS", 5, 1, 1_000_000)? as u32,
            login_window: secs(num("GATEHOUSE_LOGIN_WINDOW_SECONDS", 900, 1, 30 * DAY)?),
            lockout_threshold: num("GATEHOUSE_LOCKOUT_THRESHOLD", 10, 1, 1_000_000)? as u32,
            lockout: secs(num("GATEHOUSE_LOCKOUT_SECONDS", 900, 1, 30 * DAY)?),
            session_lifetime: secs(num("GATEHOUSE_SESSION_HOURS", 24, 1, 24 * 366)? * HOUR),
            remember_lifetime: secs(num("GATEHOUSE_REMEMBER_DAYS", 30, 1, 400)? * DAY),
            session_idle: secs(num("GATEHOUSE_SESSION_IDLE_MINUTES", 120, 1, 60 * 24 * 400)? * 60),
            access_token_lifetime: secs(num("GATEHOUSE_ACCESS_TOKEN_SECONDS", 900, 1, DAY)?),
            refresh_token_lifetime: secs(num("GATEHOUSE_REFRESH_TOKEN_DAYS", 7, 1, 400)? * DAY),
            trusted_proxies,
            cookie_domain,
            forward_rules,
            providers,
            ipv6_prefix: num("GATEHOUSE_IPV6_PREFIX", 64, 32, 128)? as u8,
            hibp_url,
            log_format,
            audit_retention: secs(num("GATEHOUSE_AUDIT_RETENTION_DAYS", 90, 1, 36_500)? * DAY),
            mail,
            email_verification,
            password_reset_lifetime: secs(num("GATEHOUSE_PASSWORD_RESET_MINUTES", 30, 1, 7 * 24 * 60)? * 60),
            signup_limit: num("GATEHOUSE_SIGNUP_LIMIT", 10, 1, 1_000_000)? as u32,
            reauth_window: secs(num("GATEHOUSE_REAUTH_MINUTES", 10, 1, 24 * 60)? * 60),
            mfa,
            relying_party,
            allowed_origins,
            header_timeout: secs(num("GATEHOUSE_HEADER_TIMEOUT_SECONDS", 10, 1, 3600)?),
            shutdown_grace: secs(num("GATEHOUSE_SHUTDOWN_SECONDS", 30, 0, 3600)?),
            metrics_addr,
            key_encryption_key,
        })
    }

    /// Whether `ip` is in `GATEHOUSE_TRUSTED_PROXIES`. An IPv4 address seen
    /// as IPv4-mapped IPv6 (a dual-stack listener) is the IPv4 address.
    pub fn is_trusted_proxy(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    /// The session cookie's name: `__Host-` prefixed when cookies are
    /// `Secure`, or `__Secure-` when it is for a whole domain
    /// (`GATEHOUSE_COOKIE_DOMAIN`: a `__Host-` cookie cannot name one).
    pub fn session_cookie_name(&self) -> &'static str {
        match (self.secure_cookies, self.cookie_domain.is_some()) {
            (true, false) => "__Host-gatehouse_session",
            (true, true) => "__Secure-gatehouse_session",
            (false, _) => "gatehouse_session",
        }
    }

    /// Where to go after signing in: `target` when it is a local path, or,
    /// with `GATEHOUSE_COOKIE_DOMAIN`, an absolute URL of that domain or a
    /// subdomain (the apps behind forward authentication); else
    /// `/dashboard`. Nothing else: no open redirect.
    pub fn safe_return(&self, target: Option<&str>) -> String {
        match target {
            Some(t) if crate::model::is_local_path(t) => t.to_string(),
            Some(t) => self
                .return_url_in_domain(t)
                .unwrap_or_else(|| "/dashboard".to_string()),
            None => "/dashboard".to_string(),
        }
    }

    /// `raw` as a URL of the cookie domain, if it is one: `https://` (or
    /// `http://` while the site itself is), no user name or password, no
    /// backslash, space or control character anywhere, and a host that is
    /// the domain or ends with `.domain` once the URL is parsed (so
    /// `https://example.com.evil.test`, `https:evil.test` or escaped dots
    /// land elsewhere and are refused).
    fn return_url_in_domain(&self, raw: &str) -> Option<String> {
        let domain = self.cookie_domain.as_deref()?;
        if raw.len() > 4096
            || raw
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
        {
            return None;
        }
        let lower = raw.to_ascii_lowercase();
        let scheme_ok =
            lower.starts_with("https://") || (!self.secure_cookies && lower.starts_with("http://"));
        if !scheme_ok {
            return None;
        }
        let url = Url::parse(raw).ok()?;
        if !url.username().is_empty() || url.password().is_some() {
            return None;
        }
        let host = url.domain()?.to_ascii_lowercase();
        if host != domain && !host.ends_with(&format!(".{domain}")) {
            return None;
        }
        Some(url.to_string())
    }

    /// The origin links to this site are built from: `GATEHOUSE_PUBLIC_URL`,
    /// else the listen address.
    pub fn site_origin(&self) -> String {
        self.public_origin
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.site_addr))
    }
}

/// One entry of `GATEHOUSE_ALLOWED_ORIGINS`: a bare origin (scheme, host and
/// port), as browsers send it in `Origin`. A path, a wildcard, credentials or
/// `null` are refused: each would allow more than meant.
fn bare_origin(raw: &str) -> Result<String, String> {
    if raw == "null" || raw.contains('*') {
        return Err(format!(
            "{raw:?} is not an origin: list each one, like https://app.example.com"
        ));
    }
    parse_origin(raw)
}

/// `https://id.example.com/` -> `https://id.example.com`. Only http(s), no
/// path beyond `/`, no credentials, query or fragment.
/// `GATEHOUSE_COOKIE_DOMAIN`: a domain name (a leading dot is dropped) that
/// is the public host or a parent of it, with at least two labels (a cookie
/// for a whole top-level domain would reach strangers' sites).
fn parse_cookie_domain(raw: &str, public_origin: Option<&str>) -> Result<String, String> {
    let domain = raw.trim().trim_start_matches('.').to_ascii_lowercase();
    let labels_ok = domain.split('.').count() >= 2
        && domain.split('.').all(|l| {
            !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if !labels_ok {
        return Err(format!("{raw:?} is not a domain name such as example.com"));
    }
    let Some(origin) = public_origin else {
        return Err("needs GATEHOUSE_PUBLIC_URL, whose host must be in this domain".into());
    };
    let host = Url::parse(origin)
        .ok()
        .and_then(|u| u.domain().map(str::to_ascii_lowercase))
        .ok_or_else(|| {
            "GATEHOUSE_PUBLIC_URL must name a host, not an IP address, to share a cookie domain".to_string()
        })?;
    if host != domain && !host.ends_with(&format!(".{domain}")) {
        return Err(format!(
            "{domain:?} does not contain the public host {host:?} (GATEHOUSE_PUBLIC_URL)"
        ));
    }
    Ok(domain)
}

fn parse_origin(raw: &str) -> Result<String, String> {
    let url = Url::parse(raw).map_err(|e| format!("{raw:?} is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{raw:?} must be an http:// or https:// URL"));
    }
    if url.host_str().is_none() {
        return Err(format!("{raw:?} has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{raw:?} must not carry credentials"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{raw:?} must be an origin, without a path, query or fragment"
        ));
    }
    Ok(url.origin().ascii_serialization())
}

/// The WebAuthn relying party: the host of `GATEHOUSE_PUBLIC_URL` and that
/// origin; without one, `localhost` on any port (browsers allow WebAuthn on
/// `http://localhost`, never on an IP address). A public URL whose host is
/// an IP address cannot have passkeys.
fn relying_party(public_origin: Option<&str>, site_addr: std::net::SocketAddr) -> Option<RelyingParty> {
    match public_origin {
        Some(origin) => {
            let url = Url::parse(origin).ok()?;
            let host = url.domain()?.to_ascii_lowercase();
            Some(RelyingParty {
                id: host,
                origin: origin.to_string(),
                any_port: false,
            })
        }
        None => Some(RelyingParty {
            id: "localhost".into(),
            origin: format!("http://localhost:{}", site_addr.port()),
            any_port: true,
        }),
    }
}

/// `smtp://user:pass@host:587` (STARTTLS required), `smtps://user:pass@host:465`
/// (implicit TLS), `smtp+plain://host:1025` (no TLS), `file:///path/dir`.
fn parse_mail_url(raw: &str) -> Result<MailTransport, String> {
    let url = Url::parse(raw).map_err(|e| format!("not a URL ({e})"))?;
    let security = match url.scheme() {
        "file" => {
            if url.host_str().is_some_and(|h| !h.is_empty()) {
                return Err("a file:// URL names a local directory: file:///path/to/dir".into());
            }
            let path = url
                .to_file_path()
                .map_err(|_| "a file:// URL names a local directory: file:///path/to/dir".to_string())?;
            return Ok(MailTransport::File(path));
        }
        "smtp" => SmtpSecurity::StartTls,
        "smtps" => SmtpSecurity::Implicit,
        "smtp+plain" => SmtpSecurity::Plain,
        other => {
            return Err(format!(
                "the scheme {other:?} is not smtp://, smtps://, smtp+plain:// or file://"
            ))
        }
    };
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or("names no host")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    if url.path() != "" && url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err("must be only scheme://[user:password@]host[:port]".into());
    }
    let port = url.port().unwrap_or(match security {
        SmtpSecurity::StartTls => 587,
        SmtpSecurity::Implicit => 465,
        SmtpSecurity::Plain => 25,
    });
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map(|s| s.into_owned())
            .map_err(|_| "the user name or password is not UTF-8".to_string())
    };
    let credentials = if url.username().is_empty() {
        None
    } else {
        Some((
            decode(url.username())?,
            Secret(decode(url.password().unwrap_or(""))?),
        ))
    };
    Ok(MailTransport::Smtp {
        host,
        port,
        security,
        credentials,
    })
}

/// `name@example.com` or `Name <name@example.com>`: one address, no line breaks.
fn check_mailbox(raw: &str) -> Result<(), String> {
    if raw.chars().any(char::is_control) {
        return Err("must be one line".into());
    }
    let address = match (raw.rfind('<'), raw.ends_with('>')) {
        (Some(start), true) => &raw[start + 1..raw.len() - 1],
        (None, false) => raw,
        _ => return Err(format!("{raw:?} is not like Name <name@example.com>")),
    };
    match address.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() && !address.contains(' ') => Ok(()),
        _ => Err(format!("{raw:?} is not like Name <name@example.com>")),
    }
}

fn parse_cidrs(raw: &str) -> Result<Vec<IpNet>, String> {
    raw.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{s:?} is not a CIDR (e.g. 10.0.0.0/8) or an IP address"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_32_bytes_of_base64_or_hex() {
        let hex_key = "00".repeat(32);
        assert_eq!(parse_key(&hex_key), Some([0u8; 32]));
        assert_eq!(
            parse_key("q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA="),
            parse_key("q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA")
        );
        assert!(parse_key("q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=").is_some());
        assert_eq!(parse_key("too short"), None);
        assert_eq!(parse_key(&"00".repeat(16)), None, "16 bytes is not enough");
    }

    #[test]
    fn a_send_must_give_up_before_its_claim_ends() {
        let mail = [
            ("GATEHOUSE_SMTP_URL", "file:///tmp/m"),
            ("GATEHOUSE_PUBLIC_URL", "https://id.example.com"),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            Config::from_map(&mail.iter().chain(extra).copied().collect())
        };
        let defaults = with(&[]).unwrap().mail.unwrap();
        assert_eq!(
            (defaults.lease.as_secs(), defaults.send_timeout.as_secs()),
            (120, 30)
        );
        let err = with(&[
            ("GATEHOUSE_MAIL_LEASE_SECONDS", "10"),
            ("GATEHOUSE_MAIL_SEND_TIMEOUT_SECONDS", "9"),
        ])
        .unwrap_err();
        assert_eq!(err.variable, "GATEHOUSE_MAIL_SEND_TIMEOUT_SECONDS");
        assert!(with(&[
            ("GATEHOUSE_MAIL_LEASE_SECONDS", "10"),
            ("GATEHOUSE_MAIL_SEND_TIMEOUT_SECONDS", "8")
        ])
        .is_ok());
    }

    #[test]
    fn a_bad_key_encryption_key_is_named_and_never_shown() {
        let err = Config::from_map(
            &[("GATEHOUSE_KEY_ENCRYPTION_KEY", "hunter2")]
                .into_iter()
                .collect(),
        )
        .unwrap_err();
        assert_eq!(err.variable, "GATEHOUSE_KEY_ENCRYPTION_KEY");
        assert!(!err.to_string().contains("hunter2"));
        let ok = Config::from_map(
            &[("GATEHOUSE_KEY_ENCRYPTION_KEY", &*"ab".repeat(32))]
                .into_iter()
                .collect(),
        )
        .unwrap();
        assert!(!format!("{ok:?}").contains("abab"));
    }

    fn with(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_map(&pairs.iter().copied().collect())
    }

    #[test]
    fn defaults_match_the_spec() {
        let c = with(&[]).unwrap();
        assert_eq!(c.database_url, "sqlite://gatehouse.db?mode=rwc");
        assert!(c.signup_open);
        assert_eq!(c.password_min_length, 10);
        assert_eq!(c.login_attempts, 5);
        assert_eq!(c.login_window, Duration::from_secs(900));
        assert_eq!(c.lockout_threshold, 10);
        assert_eq!(c.session_lifetime, Duration::from_secs(24 * 3600));
        assert_eq!(c.remember_lifetime, Duration::from_secs(30 * 86400));
        assert_eq!(c.session_idle, Duration::from_secs(120 * 60));
        assert_eq!(c.lockout, Duration::from_secs(900));
        assert_eq!(c.access_token_lifetime, Duration::from_secs(900));
        assert_eq!(c.refresh_token_lifetime, Duration::from_secs(7 * 86400));
        assert_eq!(c.audit_retention, Duration::from_secs(90 * 86400));
        assert!(c.trusted_proxies.is_empty());
        assert!(!c.secure_cookies);
        assert_eq!(c.session_cookie_name(), "gatehouse_session");
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("GATEHOUSE_PASSWORD_MIN_LENGTH", "abc"),
            ("GATEHOUSE_PASSWORD_MIN_LENGTH", "300"),
            ("GATEHOUSE_LOGIN_ATTEMPTS", "0"),
            ("GATEHOUSE_SIGNUP", "maybe"),
            ("GATEHOUSE_LOG_FORMAT", "xml"),
            ("GATEHOUSE_PUBLIC_URL", "ftp://x"),
            ("GATEHOUSE_PUBLIC_URL", "https://x.example/path"),
            ("GATEHOUSE_TRUSTED_PROXIES", "10.0.0.0/99"),
            ("DATABASE_URL", "mysql://x"),
            ("GATEHOUSE_SESSION_HOURS", "-1"),
            ("LEPTOS_SITE_ADDR", "localhost"),
            ("GATEHOUSE_SMTP_URL", "http://mail.example.com"),
            ("GATEHOUSE_EMAIL_VERIFICATION", "sometimes"),
            ("GATEHOUSE_PASSWORD_RESET_MINUTES", "0"),
            ("GATEHOUSE_SIGNUP_LIMIT", "0"),
            ("GATEHOUSE_IPV6_PREFIX", "16"),
            ("GATEHOUSE_IPV6_PREFIX", "129"),
            ("GATEHOUSE_HIBP_URL", "ftp://x/range/"),
            ("GATEHOUSE_MFA", "sometimes"),
            ("GATEHOUSE_REAUTH_MINUTES", "0"),
            ("GATEHOUSE_ALLOWED_ORIGINS", "https://app.example.com/path"),
            ("GATEHOUSE_ALLOWED_ORIGINS", "*"),
            ("GATEHOUSE_ALLOWED_ORIGINS", "https://*.example.com"),
            ("GATEHOUSE_ALLOWED_ORIGINS", "null"),
            ("GATEHOUSE_ALLOWED_ORIGINS", "https://app.example.com, ftp://x"),
            ("GATEHOUSE_ALLOWED_ORIGINS", "app.example.com"),
            ("GATEHOUSE_ALLOWED_ORIGINS", "https://app.example.com?x=1"),
            ("GATEHOUSE_ALLOWED_ORIGINS", "https://user@app.example.com"),
            ("GATEHOUSE_METRICS_ADDR", "localhost"),
            ("GATEHOUSE_HEADER_TIMEOUT_SECONDS", "0"),
        ] {
            let err = with(&[(var, value)]).unwrap_err();
            assert_eq!(err.variable, var);
            assert!(err.to_string().contains(var));
        }
    }

    #[test]
    fn https_public_url_makes_cookies_secure() {
        let c = with(&[("GATEHOUSE_PUBLIC_URL", "https://id.example.com/")]).unwrap();
        assert_eq!(c.public_origin.as_deref(), Some("https://id.example.com"));
        assert!(c.secure_cookies);
        assert_eq!(c.session_cookie_name(), "__Host-gatehouse_session");
    }

    #[test]
    fn a_cookie_domain_must_contain_the_public_host() {
        let c = with(&[
            ("GATEHOUSE_PUBLIC_URL", "https://id.example.com"),
            ("GATEHOUSE_COOKIE_DOMAIN", ".Example.com"),
        ])
        .unwrap();
        assert_eq!(c.cookie_domain.as_deref(), Some("example.com"));
        assert_eq!(c.session_cookie_name(), "__Secure-gatehouse_session");
        for (public, domain) in [
            (Some("https://id.example.com"), "other.com"),
            (Some("https://id.example.com"), "ample.com"),
            (Some("https://id.example.com"), "com"),
            (Some("https://id.example.com"), "exa mple.com"),
            (Some("https://127.0.0.1"), "0.0.1"),
            (None, "example.com"),
        ] {
            let mut vars = vec![("GATEHOUSE_COOKIE_DOMAIN", domain)];
            if let Some(p) = public {
                vars.push(("GATEHOUSE_PUBLIC_URL", p));
            }
            let e = with(&vars).unwrap_err();
            assert_eq!(e.variable, "GATEHOUSE_COOKIE_DOMAIN", "{domain}");
        }
    }

    #[test]
    fn returns_stay_local_or_in_the_cookie_domain() {
        let c = with(&[
            ("GATEHOUSE_PUBLIC_URL", "https://id.example.com"),
            ("GATEHOUSE_COOKIE_DOMAIN", "example.com"),
        ])
        .unwrap();
        for (target, expected) in [
            ("/account?x=1", "/account?x=1"),
            (
                "https://wiki.example.com/page?a=b",
                "https://wiki.example.com/page?a=b",
            ),
            ("https://example.com/", "https://example.com/"),
            ("https://WIKI.Example.com", "https://wiki.example.com/"),
            ("https://a.b.example.com:8443/x", "https://a.b.example.com:8443/x"),
        ] {
            assert_eq!(c.safe_return(Some(target)), expected, "{target}");
        }
        for evil in [
            "https://example.com.evil.test/",
            "https://evilexample.com/",
            "//evil.test",
            "///evil.test",
            "https:evil.test",
            "https:/evil.test",
            "https:\\\\evil.test",
            "https://evil.test\\@wiki.example.com/",
            "https://wiki.example.com@evil.test/",
            "https://user:pw@wiki.example.com/",
            "https://evil%2Etest/",
            "https://wiki.example.com%2Eevil.test/",
            "https://evil.test%23.example.com/",
            "http://wiki.example.com/",
            "javascript:alert(1)//wiki.example.com",
            "https://wiki.example.com/\n",
            " https://wiki.example.com/",
            "https://10.0.0.1/",
            "ftp://wiki.example.com/",
        ] {
            assert_eq!(c.safe_return(Some(evil)), "/dashboard", "{evil}");
        }
        // Without a cookie domain, only local paths.
        let plain = with(&[("GATEHOUSE_PUBLIC_URL", "https://id.example.com")]).unwrap();
        assert_eq!(plain.safe_return(Some("https://id.example.com/x")), "/dashboard");
        assert_eq!(plain.safe_return(None), "/dashboard");
    }

    #[test]
    fn bad_forward_rules_stop_the_start() {
        let e = with(&[("GATEHOUSE_FORWARD_RULES", "wiki.example.com=everyone")]).unwrap_err();
        assert_eq!(e.variable, "GATEHOUSE_FORWARD_RULES");
        assert!(e.message.contains("wiki.example.com=everyone"));
        let c = with(&[("GATEHOUSE_FORWARD_RULES", "*.example.com=any")]).unwrap();
        assert_eq!(c.forward_rules.len(), 1);
    }

    #[test]
    fn trusted_proxies_accept_cidrs_and_addresses() {
        let c = with(&[("GATEHOUSE_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1 ::1")]).unwrap();
        assert!(c.is_trusted_proxy("10.1.2.3".parse().unwrap()));
        assert!(c.is_trusted_proxy("127.0.0.1".parse().unwrap()));
        assert!(c.is_trusted_proxy("::1".parse().unwrap()));
        assert!(!c.is_trusted_proxy("192.168.0.1".parse().unwrap()));
        assert!(
            c.is_trusted_proxy("::ffff:10.0.0.7".parse().unwrap()),
            "an IPv4 proxy on a dual-stack listener"
        );
        assert_eq!(c.ipv6_prefix, 64);
    }

    #[test]
    fn mail_urls() {
        let c = with(&[
            ("GATEHOUSE_SMTP_URL", "smtp://me%40x.com:p%3Ass@mail.example.com"),
            ("GATEHOUSE_PUBLIC_URL", "https://id.example.com"),
        ])
        .unwrap();
        let mail = c.mail.unwrap();
        assert_eq!(mail.from, "Gatehouse <no-reply@id.example.com>");
        assert_eq!(
            mail.transport,
            MailTransport::Smtp {
                host: "mail.example.com".into(),
                port: 587,
                security: SmtpSecurity::StartTls,
                credentials: Some(("me@x.com".into(), Secret("p:ss".into()))),
            }
        );
        assert_eq!(c.email_verification, EmailVerification::Optional);
        assert!(
            !format!("{:?}", mail.transport).contains("p:ss"),
            "no password in Debug"
        );
        let c = with(&[
            ("GATEHOUSE_SMTP_URL", "smtp+plain://127.0.0.1:1025"),
            ("GATEHOUSE_PUBLIC_URL", "http://localhost:3000"),
            ("GATEHOUSE_MAIL_FROM", "Team <team@example.com>"),
        ])
        .unwrap();
        assert!(matches!(
            c.mail.unwrap().transport,
            MailTransport::Smtp {
                port: 1025,
                security: SmtpSecurity::Plain,
                credentials: None,
                ..
            }
        ));
        let c = with(&[
            ("GATEHOUSE_SMTP_URL", "file:///tmp/mail"),
            ("GATEHOUSE_PUBLIC_URL", "http://localhost:3000"),
        ])
        .unwrap();
        assert_eq!(c.mail.unwrap().transport, MailTransport::File("/tmp/mail".into()));
        assert!(with(&[]).unwrap().mail.is_none());
        assert_eq!(with(&[]).unwrap().email_verification, EmailVerification::Off);
    }

    #[test]
    fn the_relying_party_follows_the_public_url() {
        let c = with(&[]).unwrap();
        let rp = c.relying_party.unwrap();
        assert_eq!(
            (rp.id.as_str(), rp.origin.as_str(), rp.any_port),
            ("localhost", "http://localhost:3000", true)
        );
        let c = with(&[("GATEHOUSE_PUBLIC_URL", "https://id.example.com")]).unwrap();
        let rp = c.relying_party.unwrap();
        assert_eq!(
            (rp.id.as_str(), rp.origin.as_str(), rp.any_port),
            ("id.example.com", "https://id.example.com", false)
        );
        assert!(with(&[("GATEHOUSE_PUBLIC_URL", "http://127.0.0.1:3000")])
            .unwrap()
            .relying_party
            .is_none());
        assert_eq!(with(&[]).unwrap().mfa, MfaPolicy::Optional);
        assert_eq!(with(&[]).unwrap().reauth_window, Duration::from_secs(600));
    }

    #[test]
    fn allowed_origins_are_bare_origins() {
        let c = with(&[(
            "GATEHOUSE_ALLOWED_ORIGINS",
            "https://app.example.com, http://localhost:4173/,HTTPS://Other.Example.com:8443",
        )])
        .unwrap();
        assert_eq!(
            c.allowed_origins,
            vec![
                "https://app.example.com".to_string(),
                "http://localhost:4173".to_string(),
                "https://other.example.com:8443".to_string()
            ]
        );
        assert!(with(&[]).unwrap().allowed_origins.is_empty());
    }

    #[test]
    fn mail_needs_the_public_url() {
        let err = with(&[("GATEHOUSE_SMTP_URL", "smtp+plain://127.0.0.1:1025")]).unwrap_err();
        assert_eq!(err.variable, "GATEHOUSE_PUBLIC_URL");
        assert!(err.to_string().contains("GATEHOUSE_PUBLIC_URL"));
        let err = with(&[("GATEHOUSE_EMAIL_VERIFICATION", "required")]).unwrap_err();
        assert_eq!(err.variable, "GATEHOUSE_EMAIL_VERIFICATION");
        let err = with(&[
            ("GATEHOUSE_SMTP_URL", "smtp+plain://127.0.0.1:1025"),
            ("GATEHOUSE_PUBLIC_URL", "http://localhost:3000"),
            ("GATEHOUSE_MAIL_FROM", "x\r\nBcc: y@z"),
        ])
        .unwrap_err();
        assert_eq!(err.variable, "GATEHOUSE_MAIL_FROM");
    }
}
