//! Normalising and checking usernames and emails.

use super::error::{Error, Result};
use unicode_normalization::UnicodeNormalization;

const USERNAME_MIN: usize = 3;
const USERNAME_MAX: usize = 64;
pub const EMAIL_MAX: usize = 254;

/// NFKC, trimmed: the form a name is stored and compared in.
fn nfkc_trim(s: &str) -> String {
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

/// Whether `c` is invisible or formats other text: default-ignorable code
/// points (zero-width spaces and joiners, bidi controls, Hangul fillers,
/// soft hyphens, variation selectors, tags), other format characters,
/// controls, separators, private-use and unassigned code points. None of
/// them belongs in a name someone else has to read.
pub fn is_invisible(c: char) -> bool {
    use icu_properties::{
        props::{DefaultIgnorableCodePoint, GeneralCategory},
        CodePointMapData, CodePointSetData,
    };
    CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
        || matches!(
            CodePointMapData::<GeneralCategory>::new().get(c),
            GeneralCategory::Format
                | GeneralCategory::Control
                | GeneralCategory::PrivateUse
                | GeneralCategory::Unassigned
                | GeneralCategory::Surrogate
                | GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
        )
        || matches!(c, '\u{2800}' | '\u{3164}' | '\u{115F}' | '\u{1160}' | '\u{FFA0}')
}

/// The UTS #39 confusable skeleton of a username's lookup key: two names
/// with one skeleton look alike ("pаypal" with a Cyrillic "а" and "paypal",
/// "rn" and "m"), so the second is taken.
pub fn skeleton(name: &str) -> String {
    unicode_security::skeleton(&identifier_key(name)).collect::<String>()
}

/// A checked username, in the form it is stored.
pub fn username(raw: &str) -> Result<String> {
    if raw.chars().any(is_invisible) {
        return Err(Error::invalid(
            "username",
            "Usernames cannot contain invisible or formatting characters.",
        ));
    }
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
    if raw.chars().any(is_invisible) {
        return Err(Error::invalid(
            "email",
            "Email addresses cannot contain invisible or formatting characters.",
        ));
    }
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
    fn invisible_and_format_characters_are_refused() {
        for c in [
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{2060}',
            '\u{FEFF}',
            '\u{202E}',
            '\u{2066}',
            '\u{061C}',
            '\u{200E}',
            '\u{115F}',
            '\u{1160}',
            '\u{3164}',
            '\u{FFA0}',
            '\u{00AD}',
            '\u{FE0F}',
            '\u{E0041}',
            '\u{E000}',
            '\u{2028}',
            '\u{0007}',
        ] {
            assert!(is_invisible(c), "U+{:04X}", c as u32);
            assert!(username(&format!("ab{c}cd")).is_err(), "U+{:04X}", c as u32);
            assert!(
                email(&format!("ab{c}cd@example.com")).is_err(),
                "U+{:04X}",
                c as u32
            );
        }
        for c in ['a', 'é', 'ж', 'λ', '한', '字', '1', '.', '@'] {
            assert!(!is_invisible(c), "{c}");
        }
    }

    #[test]
    fn look_alikes_share_a_skeleton() {
        assert_eq!(skeleton("pаypal"), skeleton("paypal"), "Cyrillic а");
        assert_eq!(skeleton("PAYPAL"), skeleton("paypal"));
        assert_eq!(skeleton("αdmin"), skeleton("admin"), "Greek α");
        assert_eq!(skeleton("rnodern"), skeleton("modern"));
        assert_eq!(skeleton("ｐａｙｐａｌ"), skeleton("paypal"), "full width");
        assert_ne!(skeleton("paypal"), skeleton("paypals"));
        assert_ne!(skeleton("дмитрий"), skeleton("dmitri"));
    }

    #[test]
    fn keys_fold_case_and_width() {
        assert_eq!(identifier_key(" ALICE "), "alice");
        assert_eq!(identifier_key("ＡＬＩＣＥ"), "alice");
    }
}
