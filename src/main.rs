//! The `gatehouse` binary: serve (the default), or an operator subcommand.

use clap::{Parser, Subcommand};
use gatehouse::server::{config::Config, core::Core, db::Db, router, telemetry, AppState};
use std::{
    io::{BufRead, IsTerminal},
    process::ExitCode,
    sync::Arc,
};

/// Accounts for your product: setup, signup, login, sessions, roles and a token API.
///
/// Configuration comes from the environment or a `.env` file (DATABASE_URL,
/// LEPTOS_SITE_ADDR, GATEHOUSE_*; see the README). Passwords are read from a
/// prompt, or from standard input when it is not a terminal; never from the
/// command line.
#[derive(Parser)]
#[command(name = "gatehouse", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the site and the API on LEPTOS_SITE_ADDR (the default when no
    /// subcommand is given). Runs pending migrations first.
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Create an admin account. Marks first-run setup as done if it was not.
    ///
    /// The password is asked for twice at a prompt, or read as one line from
    /// standard input (e.g. `printf '%s\n' "$PASSWORD" | gatehouse create-admin --username root`).
    CreateAdmin {
        /// The new admin's username.
        #[arg(long)]
        username: String,
        /// The new admin's email (optional).
        #[arg(long)]
        email: Option<String>,
    },
    /// Set a new password for an account (named by username or email) and end
    /// all of its sessions and tokens. Also lifts any lockout.
    ///
    /// The password is asked for twice at a prompt, or read as one line from
    /// standard input.
    ResetPassword {
        /// The account's username (or email).
        #[arg(long)]
        username: String,
    },
    /// Add a new token signing key. Every instance signs access tokens with it
    /// within a minute; tokens signed with older keys keep working until they
    /// expire. With --retire-previous (a leaked key), older keys are retired
    /// now and every access token they signed stops working within a minute.
    /// Refresh tokens are not signed and are unaffected.
    RotateSigningKey {
        /// Retire every older key now instead of letting its tokens run out.
        #[arg(long)]
        retire_previous: bool,
    },
    /// Manage the apps that sign their users in through Gatehouse (OpenID
    /// Connect clients).
    Client {
        #[command(subcommand)]
        command: ClientCommand,
    },
    /// Exit 0 when the server on LEPTOS_SITE_ADDR answers /health, else 1
    /// (for a container's HEALTHCHECK: the image needs no curl).
    Healthcheck,
    /// Write a consistent copy of the SQLite database to PATH while the
    /// server runs (SQLite's VACUUM INTO). PATH must not exist. For
    /// PostgreSQL, use pg_dump.
    Backup {
        /// Where the copy goes.
        path: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
enum ClientCommand {
    /// Register a client and print `{"client_id", "client_secret"}` as JSON
    /// (no secret for a public client). A running server uses it at once.
    Create {
        /// The app's name, as users see it on the consent page.
        #[arg(long)]
        name: String,
        /// Where codes may be sent (exactly this; repeat for more).
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// Where RP-initiated logout may send the user back to (repeatable).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// A browser or mobile app, without a secret (PKCE only).
        #[arg(long)]
        public: bool,
        /// The team's own app: users are not asked to consent.
        #[arg(long)]
        first_party: bool,
        /// A scope it may ask for (repeatable; default openid profile email).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// A grant type it may use (repeatable; default authorization_code refresh_token).
        #[arg(long = "grant")]
        grants: Vec<String>,
    },
}

/// mimalloc: per-thread free lists without glibc's locking, for the many
/// small allocations each request makes (faster than glibc's for every
/// request the bench measures: see the README's "Performance"). Tuned for a
/// small footprint by [`tune_allocator`].
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Options of the mimalloc (v3) this crate builds (`mi_option_t` values).
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
const MI_OPTION_ALLOW_THP: libmimalloc_sys::mi_option_t = 44;
/// Milliseconds between freeing memory and giving it back to the system.
const PURGE_DELAY_MS: std::ffi::c_long = 10;

/// Freed memory goes back to the system [`PURGE_DELAY_MS`] after it is
/// freed, in batches, not page by page at once: each purge is an `madvise`
/// and a TLB shootdown across the cores, which at once cost the
/// server-rendered pages and `/health` a good part of their throughput. The big
/// memory, the password hashing workers' argon2 blocks, does not come from
/// here: the workers map and unmap it themselves, so a login flood's memory
/// goes back the moment they let it go. No transparent huge pages and no
/// eagerly committed arenas: each huge page makes a touched 4 KiB a resident
/// 2 MiB. Runs as a constructor, before Rust's runtime
/// makes its first allocation (which creates mimalloc's first arena) and
/// before any thread exists.
#[used]
#[link_section = ".init_array"]
static TUNE_ALLOCATOR: extern "C" fn() = tune_allocator;

extern "C" fn tune_allocator() {
    // SAFETY: plain option setters with constant arguments, called while the
    // process has a single thread (mimalloc's options are not thread safe).
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0);
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS);
        libmimalloc_sys::mi_option_set(MI_OPTION_ALLOW_THP, 0);
    }
    // The process's own switch for huge pages: Linux only, like every
    // scheduler and memory call of the server.
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with constant arguments changes this process's THP mode.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
    // SQLite (C) allocates through glibc's malloc, which gives each new
    // thread an arena of its own (up to 8 per core): a database connection's
    // worker thread each, every one keeping freed memory of its own. One
    // arena shared by them keeps what one needs.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt with constant arguments, before any thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Every few seconds, glibc's malloc hands the memory freed in its heap back
/// to the system (`malloc_trim`): SQLite allocates there, and the page
/// caches and statements of the connections a burst opened stay in the
/// heap after the connections close (about 2 MiB after a login flood).
/// mimalloc, which serves Rust's allocations, purges by itself.
fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    tokio::spawn(async {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // SAFETY: malloc_trim takes no pointer and is thread safe.
            unsafe {
                libc::malloc_trim(0);
            }
        }
    });
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gatehouse: {e}");
            return ExitCode::from(2);
        }
    };
    let command = cli.command.unwrap_or(Command::Serve);
    telemetry::init(config.log_format, !matches!(command, Command::Serve));
    let result = match command {
        Command::Serve => serve(config).await,
        Command::Migrate => migrate(config).await,
        Command::CreateAdmin { username, email } => create_admin(config, &username, email.as_deref()).await,
        Command::ResetPassword { username } => reset_password(config, &username).await,
        Command::RotateSigningKey { retire_previous } => rotate_signing_key(config, retire_previous).await,
        Command::Client { command } => client_command(config, command).await,
        Command::Healthcheck => healthcheck(config).await,
        Command::Backup { path } => backup(config, &path).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gatehouse: {e}");
            ExitCode::FAILURE
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn open_db(config: &Config) -> Result<Db, BoxError> {
    let db = Db::connect(&config.database_url)
        .await
        .map_err(|e| format!("cannot open the database: {e}"))?;
    db.migrate()
        .await
        .map_err(|e| format!("cannot migrate the database: {e}"))?;
    Ok(db)
}

async fn migrate(config: Config) -> Result<(), BoxError> {
    operator_core(config).await?.close().await;
    println!("migrations applied");
    Ok(())
}

/// Reads a new password: at a prompt (twice) on a terminal, else one line of
/// standard input.
fn read_password() -> Result<String, BoxError> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("New password: ")?;
        let again = rpassword::prompt_password("Repeat it: ")?;
        if first != again {
            return Err("the two passwords differ".into());
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let password = line.strip_suffix('\n').unwrap_or(&line);
        let password = password.strip_suffix('\r').unwrap_or(password);
        if password.is_empty() {
            return Err("no password on standard input".into());
        }
        Ok(password.to_string())
    }
}

async fn operator_core(config: Config) -> Result<Core, BoxError> {
    let db = open_db(&config).await?;
    let (core, _hasher) = gatehouse::server::core_with_machinery(db, Arc::new(config));
    // The operator's commands seal and read secrets too: the same key check
    // as the server's start.
    core.check_key_encryption().await?;
    core.backfill_username_skeletons()
        .await
        .map_err(|e| format!("cannot prepare the users table: {e}"))?;
    Ok(core)
}

async fn create_admin(config: Config, username: &str, email: Option<&str>) -> Result<(), BoxError> {
    let core = operator_core(config).await?;
    let password = read_password()?;
    let user = core
        .create_admin(username, email, &password)
        .await
        .map_err(|e| e.to_string())?;
    core.close().await;
    println!("created admin {} ({})", user.username, user.id);
    Ok(())
}

async fn reset_password(config: Config, username: &str) -> Result<(), BoxError> {
    let core = operator_core(config).await?;
    let password = read_password()?;
    let user = core
        .reset_password(username, &password)
        .await
        .map_err(|e| e.to_string())?;
    core.close().await;
    println!(
        "password of {} reset; its sessions and tokens have ended",
        user.username
    );
    Ok(())
}

async fn rotate_signing_key(config: Config, retire_previous: bool) -> Result<(), BoxError> {
    let core = operator_core(config).await?;
    let operator = gatehouse::server::core::Client {
        ip: None,
        user_agent: Some("gatehouse CLI".into()),
    };
    let rotation = core
        .rotate_signing_key(retire_previous, &operator)
        .await
        .map_err(|e| e.to_string())?;
    core.close().await;
    println!(
        "new signing key {}; {} older keys retired",
        rotation.kid, rotation.retired
    );
    Ok(())
}

async fn client_command(config: Config, command: ClientCommand) -> Result<(), BoxError> {
    let ClientCommand::Create {
        name,
        redirect_uris,
        post_logout_redirect_uris,
        public,
        first_party,
        scopes,
        grants,
    } = command;
    let core = operator_core(config).await?;
    let operator = gatehouse::server::core::Client {
        ip: None,
        user_agent: Some("gatehouse CLI".into()),
    };
    let spec = gatehouse::server::core::oidc::ClientSpec {
        name,
        kind: Some(if public {
            gatehouse::model::oidc::ClientType::Public
        } else {
            gatehouse::model::oidc::ClientType::Confidential
        }),
        redirect_uris,
        post_logout_redirect_uris,
        scopes: (!scopes.is_empty()).then_some(scopes),
        grant_types: (!grants.is_empty()).then_some(grants),
        first_party,
        enabled: Some(true),
    };
    let created = core
        .register_client(spec, &operator)
        .await
        .map_err(|e| e.to_string())?;
    core.close().await;
    let mut out = serde_json::json!({ "client_id": created.client.client_id });
    if let Some(secret) = created.client_secret {
        out["client_secret"] = serde_json::Value::String(secret);
    }
    println!("{out}");
    Ok(())
}

async fn healthcheck(config: Config) -> Result<(), BoxError> {
    let mut addr = config.site_addr;
    // A server listening on every address answers on loopback.
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    let url = format!("http://{addr}/health");
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()?;
    let res = client
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("{url} did not answer: {e}"))?;
    if !res.status().is_success() {
        return Err(format!("{url} answered {}", res.status()).into());
    }
    println!("healthy");
    Ok(())
}

async fn backup(config: Config, path: &std::path::Path) -> Result<(), BoxError> {
    if path.exists() {
        return Err(format!("{} exists already: choose a new file", path.display()).into());
    }
    let db = Db::connect(&config.database_url)
        .await
        .map_err(|e| format!("cannot open the database: {e}"))?;
    let bytes = db.backup_to(path).await?;
    db.close().await;
    println!("backed up to {} ({bytes} bytes)", path.display());
    Ok(())
}

async fn serve(config: Config) -> Result<(), BoxError> {
    let mut leptos_options = leptos::config::get_configuration(None)
        .map_err(|e| format!("invalid Leptos configuration: {e}"))?
        .leptos_options;
    leptos_options.site_addr = config.site_addr;
    let addr = config.site_addr;
    let header_timeout = config.header_timeout;
    let shutdown_grace = config.shutdown_grace;
    let state = AppState::open(config, leptos_options).await?;
    let jobs = state.start_jobs()?;
    give_back_freed_memory();
    if let Some(metrics_addr) = state.config.metrics_addr {
        let bound = gatehouse::server::metrics::start(metrics_addr, state.hasher.clone()).await?;
        tracing::info!("metrics on http://{bound}/metrics");
    }
    let core = state.core.clone();
    let app = router::build(state);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    tracing::info!("listening on http://{addr}");
    gatehouse::server::serve::serve(listener, app, header_timeout, shutdown_grace, shutdown_signal()).await;
    // Work requests began and left to finish after their answer (a reset
    // link being queued) ends before the sender stops.
    core.finish_background(shutdown_grace).await;
    jobs.stop().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
