//! Passwords: how they are hashed (argon2id with OWASP's parameters, asked
//! of [`PasswordHashing`], which the server answers with its worker pool,
//! `server::hashing`), the form they are compared in, and the policy new
//! ones meet.

use super::error::{Error, Result};
use unicode_normalization::UnicodeNormalization;

/// OWASP's argon2id setting: 19 MiB, 2 passes, 1 lane.
pub const M_COST_KIB: u32 = 19 * 1024;
pub const T_COST: u32 = 2;
pub const P_COST: u32 = 1;
/// Bytes of hash output.
pub const OUTPUT_LEN: usize = 32;

/// The form a password is hashed and compared in: Unicode NFKC, so that the
/// same password typed on two keyboards is the same password.
pub fn normalize(password: &str) -> String {
    password.nfkc().collect()
}

/// Hashing and checking passwords (argon2id, the parameters above, on the
/// NFKC form), done off the async runtime with bounded concurrency: what the
/// core needs, and the server provides (`server::hashing::Hasher`).
#[async_trait::async_trait]
pub trait PasswordHashing: Send + Sync {
    /// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`) of the normalized password.
    async fn hash(&self, password: &str) -> Result<String>;
    /// Whether `password` matches `phc`. A malformed stored hash is an error,
    /// not a mismatch.
    async fn verify(&self, password: &str, phc: &str) -> Result<bool>;
    /// Spends the same work as a real verification, for an unknown user, so
    /// that "no such user" and "wrong password" take the same time.
    async fn verify_dummy(&self, password: &str) -> Result<()>;
}

/// "Has this password been seen in a breach?", asked of a service outside
/// the core (the k-anonymity range API of `server::breach`).
#[async_trait::async_trait]
pub trait BreachedPasswords: Send + Sync {
    /// How many times `password` was seen in breaches (0: never), or why
    /// the service could not say.
    async fn times_breached(&self, password: &str) -> std::result::Result<u64, String>;
}

/// The bundled list of common passwords, parsed on first use.
static COMMON: std::sync::LazyLock<std::collections::HashSet<&'static str>> =
    std::sync::LazyLock::new(|| {
        include_str!("../../../data/common-passwords.txt")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect()
    });

#[cfg(test)]
/// How many passwords the bundled list holds.
fn common_list_len() -> usize {
    COMMON.len()
}

/// Values shorter than this are only refused when they are the whole password:
/// refusing every password that contains "al" would help nobody.
const CONTEXT_MIN: usize = 4;

/// The password rules (NIST SP 800-63B 3.1.1.2, OWASP ASVS 6.2): a length in
/// Unicode scalar values, as typed, within `min..=max`; not on the list of common
/// passwords; not the username, the email's local part or the site's name, nor
/// containing them. No composition rules.
#[derive(Clone, Debug)]
pub struct Policy {
    pub min_length: usize,
    pub max_length: usize,
}

impl Policy {
    /// Checks a new password for `field`. `username` and `email` are the
    /// account's, which the password must not be built from.
    pub fn check(
        &self,
        field: &'static str,
        password: &str,
        username: &str,
        email: Option<&str>,
    ) -> Result<()> {
        // Lengths count the Unicode scalar values as typed (SPEC): NFKC can
        // fold "ﬁ" into two characters or a decomposed "é" into one, and the
        // person choosing the password counts what they typed.
        let len = password.chars().count();
        let normalized = normalize(password);
        if len == 0 {
            return Err(Error::invalid(field, "Enter a password."));
        }
        if len < self.min_length {
            return Err(Error::invalid(
                field,
                format!("Use at least {} characters (this has {len}).", self.min_length),
            ));
        }
        if len > self.max_length {
            return Err(Error::invalid(
                field,
                format!("Use at most {} characters (this has {len}).", self.max_length),
            ));
        }
        let lower = normalized.to_lowercase();
        if COMMON.contains(lower.as_str()) {
            return Err(Error::invalid(
                field,
                "This password is too common: it is on the list of passwords attackers try first.",
            ));
        }
        let built_from = |value: &str| {
            let value = normalize(value.trim()).to_lowercase();
            !value.is_empty()
                && (lower == value || (value.chars().count() >= CONTEXT_MIN && lower.contains(&value)))
        };
        if built_from(username) {
            return Err(Error::invalid(
                field,
                "The password must not contain your username.",
            ));
        }
        if let Some(email) = email {
            let local = email.rsplit_once('@').map(|(l, _)| l).unwrap_or(email);
            if built_from(email) || built_from(local) {
                return Err(Error::invalid(
                    field,
                    "The password must not contain your email address.",
                ));
            }
        }
        if built_from("gatehouse") {
            return Err(Error::invalid(
                field,
                "The password must not contain the name of this site.",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Policy = Policy {
        min_length: 10,
        max_length: 256,
    };

    fn reason(password: &str, username: &str, email: Option<&str>) -> Option<String> {
        P.check("password", password, username, email)
            .err()
            .map(|e| e.to_string())
    }

    #[test]
    fn length_is_counted_in_characters() {
        assert!(
            reason("äöüäöüäöüx", "someone", None).is_none(),
            "10 characters, 19 bytes"
        );
        assert!(reason("äöüäö", "someone", None).is_some());
        // NIST SP 800-63B 3.1.1.2: each code point counts as one character,
        // counted as typed. NFKC would make 200 "ﬁ" 400 characters and ten
        // decomposed "é" (e + U+0301) ten; neither changes the count.
        assert!(reason(&"\u{FB01}".repeat(200), "someone", None).is_none());
        assert!(
            reason(&"e\u{301}".repeat(5), "someone", None).is_none(),
            "10 scalars"
        );
        assert!(reason(&"\u{FB01}".repeat(257), "someone", None).is_some());
        assert!(reason(&"é".repeat(256), "someone", None).is_none());
        assert!(reason(&"é".repeat(257), "someone", None).is_some());
    }

    #[test]
    fn the_common_list_is_bundled_and_checked_case_insensitively() {
        assert!(common_list_len() >= 10_000);
        for common in ["qwertyuiop", "Password123", "iloveyou12", "1234567890"] {
            assert!(
                reason(common, "someone", None).is_some_and(|r| r.contains("too common")),
                "{common}"
            );
        }
        assert!(reason("tangerine orbit lantern", "someone", None).is_none());
    }

    #[test]
    fn passwords_built_from_the_account_or_site_are_refused() {
        let user = |p: &str| reason(p, "margaret", Some("maggie.t@example.com"));
        assert!(user("margaret2024!").is_some_and(|r| r.contains("username")));
        assert!(user("MARGARET-is-here").is_some_and(|r| r.contains("username")));
        assert!(user("maggie.t@example.com").is_some_and(|r| r.contains("email")));
        assert!(user("hello maggie.t 99").is_some_and(|r| r.contains("email")));
        assert!(user("my gatehouse pass").is_some_and(|r| r.contains("site")));
        assert!(user("pale blue lantern").is_none());
        // A short username is refused only as the whole password.
        assert!(reason("bob is my uncle!", "bob", None).is_none());
    }
}
