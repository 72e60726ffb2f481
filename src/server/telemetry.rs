//! Logging: `tracing` with a span per request (method, path, request id).
//! Nothing here records headers, bodies or query strings, so passwords,
//! tokens and session ids never reach the log.

use super::config::LogFormat;
use tracing_subscriber::{fmt, prelude::*, EnvFilter};

/// Installs the global subscriber. `RUST_LOG` overrides the default levels.
/// Logs go to standard output (the server) or standard error (commands whose
/// output is for people).
pub fn init(format: LogFormat, to_stderr: bool) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_sessions=warn,tower_sessions_core=warn"));
    let registry = tracing_subscriber::registry().with(filter);
    let writer = move || -> Box<dyn std::io::Write> {
        if to_stderr {
            Box::new(std::io::stderr())
        } else {
            Box::new(std::io::stdout())
        }
    };
    let result = match format {
        LogFormat::Pretty => registry
            .with(fmt::layer().with_target(false).with_writer(writer))
            .try_init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(writer),
            )
            .try_init(),
    };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
}
