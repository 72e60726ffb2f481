//! Everything that runs only on the server.

pub mod auth;
pub mod breach;
pub mod config;
pub mod core;
pub mod db;
pub mod federation;
pub mod hashing;
pub mod http;
pub mod jobs;
pub mod mail;
pub mod metrics;
pub mod router;
pub mod serve;
pub mod telemetry;
pub mod views;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::sync::Arc;

/// What every handler and server function can reach. Cloned for every
/// request by each layer that takes it: one pointer (its atomic count was
/// the top of a `/health` profile when this held three).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub core: Arc<core::Core>,
    /// The password hashing pool the core uses (its queue, for metrics).
    pub hasher: hashing::Hasher,
    pub config: Arc<config::Config>,
    pub leptos_options: Arc<LeptosOptions>,
    /// The identity providers users may sign in with (`GATEHOUSE_PROVIDERS`).
    pub providers: Arc<federation::Providers>,
    /// The OpenID Connect discovery document, serialised once: it depends
    /// on the configuration only, and relying parties fetch it often.
    pub discovery: axum::body::Bytes,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        (*state.leptos_options).clone()
    }
}

/// The core with the server's machinery: a password hashing worker per
/// core, and the breached-password check when `GATEHOUSE_HIBP_URL` is set.
pub fn core_with_machinery(db: db::Db, config: Arc<config::Config>) -> (core::Core, hashing::Hasher) {
    let hasher = hashing::Hasher::for_this_machine();
    let breach = config.hibp_url.as_deref().and_then(|url| {
        breach::BreachCheck::new(url)
            .inspect_err(|e| tracing::error!(error = %e, "breached passwords will not be checked"))
            .ok()
            .map(|b| Arc::new(b) as Arc<dyn core::passwords::BreachedPasswords>)
    });
    let core = core::Core::new(db, config, Arc::new(hasher.clone()), breach);
    (core, hasher)
}

impl AppState {
    /// Opens the database, applies pending migrations and builds the core.
    pub async fn open(config: config::Config, leptos_options: LeptosOptions) -> Result<AppState, String> {
        let db = db::Db::connect(&config.database_url)
            .await
            .map_err(|e| format!("cannot open the database: {e}"))?;
        db.migrate()
            .await
            .map_err(|e| format!("cannot migrate the database: {e}"))?;
        let config = Arc::new(config);
        let (core, hasher) = core_with_machinery(db, config.clone());
        core.check_key_encryption().await?;
        core.warn_about_factors().await;
        core.load_signing_keys()
            .await
            .map_err(|e| format!("cannot load the token signing keys: {e}"))?;
        core.backfill_username_skeletons()
            .await
            .map_err(|e| format!("cannot prepare the users table: {e}"))?;
        let providers = federation::Providers::discover(&config.providers).await?;
        let discovery = serde_json::to_vec(&core.discovery())
            .map_err(|e| format!("cannot write the discovery document: {e}"))?
            .into();
        Ok(AppState(Arc::new(Shared {
            discovery,
            core: Arc::new(core),
            hasher,
            config,
            leptos_options: Arc::new(leptos_options),
            providers: Arc::new(providers),
        })))
    }

    /// Starts the background work (the purges, and the mail sender when mail
    /// is configured). An unusable mail setting is an error here, at start-up.
    pub fn start_jobs(&self) -> Result<jobs::Jobs, String> {
        let sender = match &self.config.mail {
            Some(mail) => Some(mail::Sender::new(mail, &self.core.public_url())?),
            None => None,
        };
        Ok(jobs::Jobs::start((*self.core).clone(), sender))
    }
}
