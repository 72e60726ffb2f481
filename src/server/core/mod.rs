//! The domain: accounts, passwords, sessions, limits, audit. It knows nothing
//! of HTTP or Leptos: it takes plain values and a database handle and returns
//! `Result<_, core::Error>`. Pages and the JSON API are thin adapters over it.

pub mod accounts;
pub mod admin;
pub mod audit;
pub mod email;
pub mod error;
pub mod forward;
pub mod identities;
pub mod invitations;
pub mod keys;
pub mod limits;
pub mod mail;
pub mod mfa;
pub mod oidc;
pub mod passwords;
pub mod sealing;
pub mod sessions;
pub mod tokens;
pub mod totp;
pub mod validate;

pub use error::{Error, Result};

use crate::{
    model::{Role, UserView},
    server::{config::Config, db::Db},
};
use std::{
    net::IpAddr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

/// Who is asking: the client address (already resolved through trusted
/// proxies) and user agent. Recorded with sessions and audit rows.
#[derive(Clone, Debug, Default)]
pub struct Client {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

/// A user as the core sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    pub role: Role,
    pub disabled: bool,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
    pub email_verified: bool,
    /// Unix seconds: sessions and token families older than this were made
    /// with an earlier password.
    pub password_changed_at: i64,
    /// A confirmed TOTP or a passkey.
    pub mfa_enabled: bool,
    /// False for an account made through another identity provider until
    /// its user sets a password (its stored hash is empty, which no
    /// password matches).
    pub has_password: bool,
}

impl User {
    pub fn view(&self) -> UserView {
        UserView {
            id: self.id.clone(),
            username: self.username.clone(),
            email: self.email.clone(),
            role: self.role,
            email_verified: self.email_verified,
            created_at: rfc3339(self.created_at),
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

impl TryFrom<crate::server::db::users::UserRow> for User {
    type Error = Error;

    fn try_from(r: crate::server::db::users::UserRow) -> Result<User> {
        Ok(User {
            role: Role::parse(&r.role)
                .ok_or_else(|| Error::Internal(format!("unknown role {:?}", r.role)))?,
            id: r.id,
            username: r.username,
            email: r.email,
            disabled: r.disabled,
            created_at: r.created_at,
            last_login_at: r.last_login_at,
            email_verified: r.email_verified,
            password_changed_at: r.password_changed_at,
            mfa_enabled: r.mfa_enabled,
            has_password: !r.password_hash.is_empty(),
        })
    }
}

/// Seconds since the Unix epoch, now.
pub fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// Unix seconds as RFC 3339 (UTC).
pub fn rfc3339(ts: i64) -> String {
    OffsetDateTime::from_unix_timestamp(ts)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// The core service: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Core {
    db: Db,
    pub config: Arc<Config>,
    /// Hashes and checks passwords (the server's worker pool).
    hasher: Arc<dyn passwords::PasswordHashing>,
    pub policy: passwords::Policy,
    setup_done: Arc<AtomicBool>,
    keys: keys::KeyCache,
    /// Access tokens whose signature and claims were checked (see
    /// [`tokens::VerifiedTokens`]).
    verified: tokens::VerifiedTokens,
    /// Rung when mail is queued, so this instance's sender starts at once.
    mailer_wake: Arc<tokio::sync::Notify>,
    /// Work begun for a request that goes on after its answer (see
    /// [`Core::after_answer`]); a stop waits for it.
    background: tokio_util::task::TaskTracker,
    /// The breached-password check, when `GATEHOUSE_HIBP_URL` is set.
    breach: Option<Arc<dyn passwords::BreachedPasswords>>,
    /// The WebAuthn relying party (`None`: passkeys are not possible here).
    webauthn: Option<Arc<webauthn_rs::prelude::Webauthn>>,
    /// Seals secrets at rest (`GATEHOUSE_KEY_ENCRYPTION_KEY`).
    sealer: Option<sealing::Sealer>,
}

impl Core {
    /// The core over `db`, with the machinery it asks (a password hasher,
    /// and a breached-password check when one is configured).
    pub fn new(
        db: Db,
        config: Arc<Config>,
        hasher: Arc<dyn passwords::PasswordHashing>,
        breach: Option<Arc<dyn passwords::BreachedPasswords>>,
    ) -> Core {
        let policy = passwords::Policy {
            min_length: config.password_min_length,
            max_length: crate::server::config::PASSWORD_MAX_LENGTH,
        };
        Core {
            sealer: config
                .key_encryption_key
                .as_ref()
                .map(|k| sealing::Sealer::new(&k.0)),
            webauthn: mfa::webauthn(&config),
            breach,
            db,
            config,
            hasher,
            policy,
            setup_done: Arc::new(AtomicBool::new(false)),
            keys: keys::KeyCache::default(),
            verified: tokens::VerifiedTokens::default(),
            mailer_wake: Arc::new(tokio::sync::Notify::new()),
            background: tokio_util::task::TaskTracker::new(),
        }
    }

    /// Runs `work` after the request's answer (so its time tells nothing),
    /// tracked, so that a stop waits for it ([`Core::finish_background`]).
    pub(crate) fn after_answer(&self, work: impl std::future::Future<Output = ()> + Send + 'static) {
        self.background.spawn(work);
    }

    /// Waits, up to `grace`, for the work [`Core::after_answer`] began.
    pub async fn finish_background(&self, grace: std::time::Duration) {
        self.background.close();
        if tokio::time::timeout(grace, self.background.wait()).await.is_err() {
            tracing::warn!(
                "work begun for requests still running after {} s; stopping anyway",
                grace.as_secs()
            );
        }
    }

    /// Whether the database answers (`/ready`).
    pub async fn ping(&self) -> bool {
        self.db.ping().await
    }

    /// The browser session store, on the same database.
    pub fn session_store(&self) -> crate::server::db::SessionStoreAny {
        self.db.session_store()
    }

    /// Closes the database pool (the CLI, before it exits).
    pub async fn close(&self) {
        self.db.close().await
    }

    /// Whether the first admin still has to be created. Once setup is done it
    /// stays done, so the answer is cached after the first `false`.
    pub async fn setup_required(&self) -> Result<bool> {
        if self.setup_done.load(Ordering::Acquire) {
            return Ok(false);
        }
        let done = crate::server::db::users::setup_done(&self.db).await?;
        if done {
            self.setup_done.store(true, Ordering::Release);
        }
        Ok(!done)
    }

    /// Checks, at start-up, that this instance can read the secrets the
    /// database holds sealed: the first start with
    /// `GATEHOUSE_KEY_ENCRYPTION_KEY` stores a sealed check value (and seals
    /// the secrets stored in the clear so far); every later start must open
    /// it. Another key, or none, is an error naming the variable, never a
    /// failure later, at someone's sign-in.
    pub async fn check_key_encryption(&self) -> std::result::Result<(), String> {
        use crate::server::db::{factors, settings};
        const NAME: &str = "key_check";
        const CHECK: &str = "gatehouse key check";
        let db_error = |e: sqlx::Error| format!("cannot read the settings: {e}");
        let stored = settings::get(&self.db, NAME).await.map_err(db_error)?;
        let Some(sealer) = &self.sealer else {
            return match stored {
                None => Ok(()),
                Some(_) => Err("GATEHOUSE_KEY_ENCRYPTION_KEY is not set, and this database's secrets are sealed with one: set it to that key".into()),
            };
        };
        let stored = match stored {
            Some(value) => value,
            None => {
                let sealed = sealer.seal(CHECK, NAME).map_err(|e| e.to_string())?;
                settings::set_once(&self.db, NAME, &sealed)
                    .await
                    .map_err(db_error)?
            }
        };
        if sealing::open(Some(sealer), &stored, NAME).ok().as_deref() != Some(CHECK) {
            return Err(
                "GATEHOUSE_KEY_ENCRYPTION_KEY is not the key this database's secrets were sealed with".into(),
            );
        }
        for (kid, plain) in crate::server::db::tokens::unsealed_keys(&self.db)
            .await
            .map_err(db_error)?
        {
            let sealed = sealer
                .seal(&plain, &keys::key_context(&kid))
                .map_err(|e| e.to_string())?;
            crate::server::db::tokens::reseal_key(&self.db, &kid, &plain, &sealed)
                .await
                .map_err(db_error)?;
        }
        for (user_id, plain) in factors::unsealed_totp_secrets(&self.db).await.map_err(db_error)? {
            let sealed = sealer
                .seal(&plain, &mfa::totp_context(&user_id))
                .map_err(|e| e.to_string())?;
            factors::reseal_totp_secret(&self.db, &user_id, &plain, &sealed)
                .await
                .map_err(db_error)?;
        }
        Ok(())
    }

    fn mark_setup_done(&self) {
        self.setup_done.store(true, Ordering::Release);
    }
}
