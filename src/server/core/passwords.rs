//! Password hashing (argon2id, OWASP parameters) on the blocking pool with a
//! bounded number at once, and the password policy.

use super::error::{Error, Result};
use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Algorithm, Argon2, Params, Version,
};
use std::sync::Arc;
use tokio::sync::{OnceCell, Semaphore};
use unicode_normalization::UnicodeNormalization;

/// OWASP's argon2id setting: 19 MiB, 2 passes, 1 lane.
pub const M_COST_KIB: u32 = 19 * 1024;
pub const T_COST: u32 = 2;
pub const P_COST: u32 = 1;

fn argon2() -> Argon2<'static> {
    // These parameters are constants within argon2's limits.
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The form a password is hashed and compared in: Unicode NFKC, so that the
/// same password typed on two keyboards is the same password.
pub fn normalize(password: &str) -> String {
    password.nfkc().collect()
}

/// Hashes and verifies passwords off the async runtime. At most `permits`
/// hashes run at once (each takes 19 MiB and a core), so a login flood queues
/// here instead of starving every other request.
#[derive(Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    dummy: Arc<OnceCell<String>>,
}

impl Hasher {
    pub fn new(concurrency: usize) -> Self {
        Hasher {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy: Arc::new(OnceCell::new()),
        }
    }

    /// One permit per available core.
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Hasher::new(cores)
    }

    async fn run<T: Send + 'static>(&self, job: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| Error::internal("hasher", e))?;
        tokio::task::spawn_blocking(job)
            .await
            .map_err(|e| Error::internal("hasher task", e))
    }

    /// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`) of the normalized password.
    pub async fn hash(&self, password: &str) -> Result<String> {
        let password = normalize(password);
        self.run(move || {
            let salt = SaltString::generate(&mut OsRng);
            argon2()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| Error::internal("hashing", e))
        })
        .await?
    }

    /// Whether `password` matches `phc`. A malformed stored hash is an error,
    /// not a mismatch.
    pub async fn verify(&self, password: &str, phc: &str) -> Result<bool> {
        let password = normalize(password);
        let phc = phc.to_string();
        self.run(move || {
            let parsed = PasswordHash::new(&phc).map_err(|e| Error::internal("stored hash", e))?;
            Ok(argon2().verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await?
    }

    /// Spends the same work as a real verification, for an unknown user, so
    /// that "no such user" and "wrong password" take the same time.
    pub async fn verify_dummy(&self, password: &str) -> Result<()> {
        let dummy = self
            .dummy
            .get_or_try_init(|| async { self.hash("gatehouse dummy password for timing").await })
            .await?
            .clone();
        self.verify(password, &dummy).await.map(|_| ())
    }
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

/// How many passwords the bundled list holds.
pub fn common_list_len() -> usize {
    COMMON.len()
}

/// Whether `password` (compared in lower case, after NFKC) is on the list.
pub fn is_common(password: &str) -> bool {
    COMMON.contains(normalize(password).to_lowercase().as_str())
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

    #[tokio::test]
    async fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let h = Hasher::new(2);
        let phc = h.hash("correct horse battery staple").await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(h.verify("correct horse battery staple", &phc).await.unwrap());
        assert!(!h.verify("correct horse battery stapler", &phc).await.unwrap());
    }

    /// SPEC: hashing runs off the async runtime. On this single-threaded
    /// runtime a hash computed inside `poll` would run to the end before any
    /// other task got a turn; off the runtime, the ticker keeps ticking.
    #[tokio::test(flavor = "current_thread")]
    async fn hashing_runs_off_the_async_runtime() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let h = Hasher::new(1);
        let ticks = Arc::new(AtomicUsize::new(0));
        let ticker = tokio::spawn({
            let ticks = ticks.clone();
            async move {
                loop {
                    ticks.fetch_add(1, Ordering::Relaxed);
                    tokio::task::yield_now().await;
                }
            }
        });
        h.hash("correct horse battery staple").await.unwrap();
        ticker.abort();
        assert!(
            ticks.load(Ordering::Relaxed) > 0,
            "the runtime did other work while hashing"
        );
    }

    /// SPEC: with bounded concurrency. Six jobs through two permits never
    /// run more than two at once (and the runtime's four workers are not
    /// what holds them back).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn at_most_the_permitted_number_of_hashes_run_at_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let h = Hasher::new(2);
        let active = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let jobs = (0..6).map(|_| {
            let (h, active, most) = (h.clone(), active.clone(), most.clone());
            tokio::spawn(async move {
                h.run(move || {
                    let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    active.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            })
        });
        for job in futures::future::join_all(jobs).await {
            job.unwrap().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn passwords_are_compared_after_nfkc() {
        let h = Hasher::new(1);
        // "ﬁ" (U+FB01) is "fi" under NFKC.
        let phc = h.hash("ﬁnal answer 42").await.unwrap();
        assert!(h.verify("final answer 42", &phc).await.unwrap());
    }

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
