//! The core's one error type. Adapters turn it into a status and a message.

use std::fmt;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input, with the field it concerns and a reason people can act on.
    #[error("{message}")]
    Invalid { field: &'static str, message: String },
    /// The value is already used by another account.
    #[error("{message}")]
    Conflict { field: &'static str, message: String },
    /// Unknown user, wrong password or disabled account: one answer for all three.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// A signed-in user's password check failed (e.g. the current password
    /// when changing it).
    #[error("{message}")]
    WrongPassword { field: &'static str, message: String },
    /// No valid session or token.
    #[error("authentication required")]
    Unauthenticated,
    /// Signed in, but not allowed (or the action is closed).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// Too many failures from this client, or the account is locked.
    #[error("too many failed attempts; try again in {}", human_wait(*retry_after))]
    RateLimited { retry_after: u64 },
    /// Too many requests of one kind (signups, mail) from this client or to
    /// this address.
    #[error("too many requests; try again in {}", human_wait(*retry_after))]
    Throttled { retry_after: u64 },
    /// A state the request may not produce (e.g. no active admin left).
    #[error("{0}")]
    StateConflict(String),
    /// A link from a mail that is unknown, spent or expired: one answer for all.
    #[error("invalid or expired link")]
    InvalidLink,
    /// No sign-in waits for a second factor here (none began, or it expired).
    #[error("the sign-in expired: enter your password again")]
    SignInExpired,
    /// The policy requires a second factor the user has not set up yet.
    #[error("set up a second factor first")]
    EnrolmentRequired,
    /// A sensitive change, and no sign-in within `GATEHOUSE_REAUTH_MINUTES`.
    #[error("reauthentication required")]
    ReauthRequired,
    /// The right password, for an account whose email is not verified while
    /// verification is required.
    #[error("email not verified")]
    EmailNotVerified,
    /// The database did not answer (restarting, unreachable, a full disk),
    /// or the system had no memory for a password hash: the answer is
    /// unknown, not "no". Try again in a moment.
    #[error("the service is unavailable for a moment; try again shortly")]
    Unavailable(String),
    /// An OAuth 2.0 / OpenID Connect request refused as RFC 6749 §5.2 says:
    /// an error code for the client and a description for its developer.
    #[error("{description}")]
    OAuth {
        code: super::oidc::OAuthCode,
        description: String,
    },
    /// Something broke that the caller could not have prevented.
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// "45 seconds", "15 minutes", "2 hours": a wait, rounded up.
fn human_wait(seconds: u64) -> String {
    let (n, unit) = match seconds {
        0..=59 => (seconds.max(1), "second"),
        60..=3599 => (seconds.div_ceil(60), "minute"),
        _ => (seconds.div_ceil(3600), "hour"),
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

impl Error {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid {
            field,
            message: message.into(),
        }
    }

    pub fn conflict(field: &'static str, message: impl Into<String>) -> Self {
        Error::Conflict {
            field,
            message: message.into(),
        }
    }

    /// The form field the error belongs to, if any.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Error::Invalid { field, .. }
            | Error::Conflict { field, .. }
            | Error::WrongPassword { field, .. } => Some(field),
            _ => None,
        }
    }

    /// Seconds to wait before trying again, for a 429.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Error::RateLimited { retry_after } | Error::Throttled { retry_after } => Some(*retry_after),
            Error::Unavailable(_) => Some(UNAVAILABLE_RETRY_AFTER),
            _ => None,
        }
    }

    /// An OAuth error answer (see [`Error::OAuth`]).
    pub fn oauth(code: super::oidc::OAuthCode, description: impl Into<String>) -> Self {
        Error::OAuth {
            code,
            description: super::oidc::description_text(&description.into()),
        }
    }

    pub fn internal(context: &str, err: impl fmt::Display) -> Self {
        Error::Internal(format!("{context}: {err}"))
    }
}

/// Seconds a client is told to wait when the database did not answer.
pub const UNAVAILABLE_RETRY_AFTER: u64 = 5;

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        if is_unavailable(&e) {
            Error::Unavailable(format!("database: {e}"))
        } else {
            Error::internal("database", e)
        }
    }
}

/// Whether `e` means the database is away (unreachable, restarting, out of
/// space, locked too long) rather than that the query was wrong.
fn is_unavailable(e: &sqlx::Error) -> bool {
    use sqlx::Error::*;
    match e {
        PoolTimedOut | PoolClosed | Io(_) | Tls(_) | Protocol(_) | WorkerCrashed => true,
        Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            if let Ok(n) = code.parse::<u32>() {
                // SQLite result codes (the primary code is the low byte):
                // BUSY, LOCKED, READONLY, IOERR, FULL, CANTOPEN.
                matches!(n & 0xff, 5 | 6 | 8 | 10 | 13 | 14)
            } else {
                // PostgreSQL SQLSTATE: connection exceptions, shutdowns,
                // insufficient resources (a full disk).
                code.starts_with("08") || code.starts_with("57P") || code.starts_with("53")
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_read_like_people_talk() {
        assert_eq!(human_wait(0), "1 second");
        assert_eq!(human_wait(45), "45 seconds");
        assert_eq!(human_wait(60), "1 minute");
        assert_eq!(human_wait(899), "15 minutes");
        assert_eq!(human_wait(3601), "2 hours");
        assert_eq!(
            Error::RateLimited { retry_after: 900 }.to_string(),
            "too many failed attempts; try again in 15 minutes"
        );
    }
}
