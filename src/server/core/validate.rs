//! Normalising and checking usernames and emails.

use super::error::{Error, Result};
use unicode_normalization::UnicodeNormalization;

pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 64;
pub const EMAIL_MAX: usize = 254;

/// NFKC, trimmed: the form a name is stored and compared in.
pub fn nfkc_trim(s: &str) -> String {
    s.trim().nfkc().collect::<String>().trim().to_string()
}

/// The case-insensitive lookup key of a username, email or login identifier.
pub fn identifier_key(s: &str) -> String {
    nfkc_trim(s).to_lowercase()
}

/// Whether `s` has the one form record ids (of users, sessions) are stored
/// in: a lowercase, hyphenated UUID. Anything else names no record, so the
/// core answers "not found" without asking the database (which, for text
/// with a NUL byte, PostgreSQL could not even take).
pub fn is_record_id(s: &str) -> bool {
    uuid::Uuid::try_parse(s).is_ok_and(|id| id.hyphenated().to_string() == s)
}

/// A checked username, in the form it is stored.
pub fn username(raw: &str) -> Result<String> {
    let name = nfkc_trim(raw);
    let len = name.chars().count();
    if len == 0 {
        return Err(Error::invalid("username", "Enter a username."));
    }
    if len < USERNAME_MIN {
        return Err(Error::invalid(
            "username",
            format!("Usernames have at least {USERNAME_MIN} characters."),
        ));
    }
    if len > USERNAME_MAX {
        return Err(Error::invalid(
            "username",
            format!("Usernames have at most {USERNAME_MAX} characters."),
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+')))
    {
        let shown = if bad.is_control() || bad.is_whitespace() {
            "spaces or control characters".to_string()
        } else {
            format!("\"{bad}\"")
        };
        return Err(Error::invalid(
            "username",
            format!("Usernames use letters, digits and . _ - @ + only, not {shown}."),
        ));
    }
    Ok(name)
}

/// A checked email address: trimmed, NFKC, the domain in lower case.
pub fn email(raw: &str) -> Result<String> {
    let email = nfkc_trim(raw);
    if email.is_empty() {
        return Err(Error::invalid("email", "Enter an email address."));
    }
    let invalid = || Error::invalid("email", "Enter a valid email address, like name@example.com.");
    if email.chars().count() > EMAIL_MAX {
        return Err(Error::invalid(
            "email",
            format!("Email addresses have at most {EMAIL_MAX} characters."),
        ));
    }
    let (local, domain) = email.rsplit_once('@').ok_or_else(invalid)?;
    if local.is_empty() || local.chars().count() > 64 || local.contains('@') {
        return Err(invalid());
    }
    if email.chars().any(|c| {
        c.is_control()
            || c.is_whitespace()
            || matches!(c, '<' | '>' | '"' | '\\' | ',' | ';' | '(' | ')' | '[' | ']')
    }) {
        return Err(invalid());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2
        || labels.iter().any(|l| {
            l.is_empty()
                || l.starts_with('-')
                || l.ends_with('-')
                || !l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
    {
        return Err(invalid());
    }
    Ok(format!("{local}@{}", domain.to_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_ids_are_canonical_uuids_only() {
        assert!(is_record_id("67e55044-10b1-426f-9247-bb680e5fe0c8"));
        for bad in [
            "",
            "67E55044-10B1-426F-9247-BB680E5FE0C8",
            "67e5504410b1426f9247bb680e5fe0c8",
            "{67e55044-10b1-426f-9247-bb680e5fe0c8}",
            "67e55044-10b1-426f-9247-bb680e5fe0c8\0",
            "' OR 1=1",
        ] {
            assert!(!is_record_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn usernames() {
        assert_eq!(username("  Alice_01 ").unwrap(), "Alice_01");
        assert_eq!(username("Zoë").unwrap(), "Zoë");
        assert_eq!(
            username("ｆｕｌｌ").unwrap(),
            "full",
            "NFKC folds full-width letters"
        );
        for bad in [
            "",
            "ab",
            "has space",
            "semi;colon",
            "nul\0byte",
            "quote'",
            &"x".repeat(65),
        ] {
            assert!(username(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn emails() {
        assert_eq!(email("Bob@Example.COM").unwrap(), "Bob@example.com");
        assert!(email("a@b.co").is_ok());
        for bad in [
            "",
            "bob",
            "bob@",
            "@x.com",
            "bob@localhost",
            "a b@x.com",
            "a@x..com",
            "a@-x.com",
            "a@b.com\0",
        ] {
            assert!(email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn keys_fold_case_and_width() {
        assert_eq!(identifier_key(" ALICE "), "alice");
        assert_eq!(identifier_key("ＡＬＩＣＥ"), "alice");
    }
}
