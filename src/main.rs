//! The `gatehouse` binary: serve (the default), or an operator subcommand.

use clap::{Parser, Subcommand};
use gatehouse::server::{config::Config, core::Core, db::Db, router, telemetry, AppState};
use std::{net::SocketAddr, process::ExitCode, time::Duration};

#[derive(Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "Accounts for your product: setup, signup, login, sessions, roles and a token API."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the site and the API (the default). Runs pending migrations first.
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
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
    telemetry::init(config.log_format);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate => migrate(config).await,
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
    open_db(&config).await?.close().await;
    println!("migrations applied");
    Ok(())
}

async fn serve(config: Config) -> Result<(), BoxError> {
    let leptos_options = leptos::config::get_configuration(None)
        .map_err(|e| format!("invalid Leptos configuration: {e}"))?
        .leptos_options;
    let addr = leptos_options.site_addr;
    let state = AppState::open(config, leptos_options).await?;
    spawn_housekeeping(state.core.clone());
    let app = router::build(state);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    tracing::info!("listening on http://{addr}");
    use axum::serve::ListenerExt;
    // Without TCP_NODELAY a streamed page stalls ~40 ms on kept-alive connections.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}

/// Deletes expired sessions and ended token families every ten minutes.
fn spawn_housekeeping(core: Core) {
    tokio::spawn(async move {
        use tower_sessions::ExpiredDeletion;
        let store = core.db.session_store();
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            if let Err(e) = core.purge_expired_sessions().await {
                tracing::warn!(error = %e, "could not purge expired sessions");
            }
            if let Err(e) = core.purge_token_families().await {
                tracing::warn!(error = %e, "could not purge ended token families");
            }
            if let Err(e) = core.purge_limits().await {
                tracing::warn!(error = %e, "could not purge login counters");
            }
            if let Err(e) = core.purge_audit_log().await {
                tracing::warn!(error = %e, "could not purge the audit log");
            }
            if let Err(e) = store.delete_expired().await {
                tracing::warn!(error = %e, "could not purge expired session records");
            }
        }
    });
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
