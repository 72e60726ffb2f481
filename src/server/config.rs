//! Typed configuration, read from the environment (and `.env`) once, validated
//! once. A bad value stops start-up with a message naming the variable.

use ipnet::IpNet;
use std::{collections::HashMap, fmt, net::IpAddr, time::Duration};
use url::Url;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
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
    pub log_format: LogFormat,
    pub audit_retention: Duration,
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

pub const DEFAULT_DATABASE_URL: &str = "sqlite://gatehouse.db?mode=rwc";
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

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
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
            log_format,
            audit_retention: secs(num("GATEHOUSE_AUDIT_RETENTION_DAYS", 90, 1, 36_500)? * DAY),
        })
    }

    pub fn is_trusted_proxy(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    /// The session cookie's name: `__Host-` prefixed when cookies are `Secure`.
    pub fn session_cookie_name(&self) -> &'static str {
        if self.secure_cookies {
            "__Host-gatehouse_session"
        } else {
            "gatehouse_session"
        }
    }
}

/// `https://id.example.com/` -> `https://id.example.com`. Only http(s), no
/// path beyond `/`, no credentials, query or fragment.
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
    fn trusted_proxies_accept_cidrs_and_addresses() {
        let c = with(&[("GATEHOUSE_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1 ::1")]).unwrap();
        assert!(c.is_trusted_proxy("10.1.2.3".parse().unwrap()));
        assert!(c.is_trusted_proxy("127.0.0.1".parse().unwrap()));
        assert!(c.is_trusted_proxy("::1".parse().unwrap()));
        assert!(!c.is_trusted_proxy("192.168.0.1".parse().unwrap()));
    }
}
