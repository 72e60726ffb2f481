//! Prometheus metrics, on a listener of their own (`GATEHOUSE_METRICS_ADDR`),
//! never on the public one: requests by route and status with latency
//! histograms, logins by outcome, limit and lockout hits, the password-hash
//! queue, and mail. The core records through the `metrics` facade (a no-op
//! while no recorder is installed, i.e. with metrics off).

use crate::server::hashing::Hasher;
use axum::{
    extract::{MatchedPath, Request},
    middleware::Next,
    response::Response,
    routing::get,
    Router,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::{
    net::SocketAddr,
    sync::{Arc, OnceLock},
    time::Instant,
};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Latency buckets, in seconds: fast API answers to a queued password hash.
const LATENCY: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the process's recorder once (several servers in one process, as
/// in the tests, share it) and returns its handle.
fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed; Gatehouse's metrics stay empty");
            }
            describe();
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "gatehouse_http_requests_total",
        "HTTP requests by method, route and status"
    );
    describe_histogram!(
        "gatehouse_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer, by method and route"
    );
    describe_counter!(
        "gatehouse_logins_total",
        "Sign-in attempts by outcome: success, failure, mfa_required, rate_limited, locked, not_verified"
    );
    describe_counter!(
        "gatehouse_limit_hits_total",
        "Requests refused by a limit: client (failed logins), account (lockout), signup, forgot, address"
    );
    describe_counter!("gatehouse_lockouts_total", "Accounts (or identifiers) locked");
    describe_gauge!(
        "gatehouse_password_hash_queue_depth",
        "Password hashes waiting for a worker"
    );
    describe_gauge!("gatehouse_password_hash_running", "Password hashes running now");
    describe_gauge!(
        "gatehouse_password_hash_workers",
        "Password hashing worker threads"
    );
    describe_histogram!(
        "gatehouse_password_hash_wait_seconds",
        Unit::Seconds,
        "Time a password hash waited in the queue"
    );
    describe_counter!(
        "gatehouse_mail_queued_total",
        "Mail written to the outbox, by kind"
    );
    describe_counter!("gatehouse_mail_sent_total", "Mail delivered");
    describe_counter!(
        "gatehouse_mail_retried_total",
        "Send attempts that failed and will be retried"
    );
    describe_counter!("gatehouse_mail_failed_total", "Mail given up on");
}

/// Middleware: counts each request and times it, by method, route and
/// status. Every label comes from a fixed set, never from what the client
/// sent: the route is the template the router matched (axum's
/// [`MatchedPath`], e.g. `/api/v1/admin/users/{id}/unlock`, handed out by
/// [`note_route`]), everything the router did not match is `unmatched`, and
/// a method outside the standard ones is `other`. So no request can add a
/// series.
///
/// It sits outside the router, so it also counts the answers of the layers
/// around it: a timeout or a panic on a route is counted under that route
/// (the router had matched it), a refusal before routing (the front door's)
/// as `unmatched`.
pub async fn track(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(req.method());
    let route = RouteSlot::default();
    req.extensions_mut().insert(route.clone());
    let res = next.run(req).await;
    let status = res.status();
    // A matched route that answers 404 (a static file that is not there, a
    // server function that does not exist) is still that route.
    let route = route
        .0
        .get()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let elapsed = started.elapsed().as_secs_f64();
    metrics::counter!(
        "gatehouse_http_requests_total",
        "method" => method,
        "route" => route.clone(),
        "status" => status.as_u16().to_string()
    )
    .increment(1);
    metrics::histogram!("gatehouse_http_request_duration_seconds", "method" => method, "route" => route)
        .record(elapsed);
    res
}

/// Where [`note_route`], inside the router, leaves the route it matched for
/// [`track`], outside it.
#[derive(Clone, Default)]
struct RouteSlot(Arc<OnceLock<MatchedPath>>);

/// Middleware inside the router (with metrics on): tells [`track`] the route
/// the router matched, before the handler runs.
pub async fn note_route(req: Request, next: Next) -> Response {
    if let (Some(slot), Some(route)) = (
        req.extensions().get::<RouteSlot>(),
        req.extensions().get::<MatchedPath>(),
    ) {
        let _ = slot.0.set(route.clone());
    }
    next.run(req).await
}

/// The method as a label: one of the standard methods, or `other`.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// Serves `GET /metrics` on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, hasher: Hasher) {
    let handle = install();
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let (handle, hasher) = (handle.clone(), hasher.clone());
            async move {
                let stats = hasher.stats();
                metrics::gauge!("gatehouse_password_hash_queue_depth").set(stats.waiting as f64);
                metrics::gauge!("gatehouse_password_hash_running").set(stats.running as f64);
                metrics::gauge!("gatehouse_password_hash_workers").set(stats.workers as f64);
                handle.run_upkeep();
                (
                    [(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    handle.render(),
                )
            }
        }),
    );
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "the metrics listener stopped");
    }
}

/// Binds `addr` and serves metrics there in the background; returns the
/// address bound (the port, when `addr` asked for any).
pub async fn start(addr: SocketAddr, hasher: Hasher) -> Result<SocketAddr, String> {
    install();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen for metrics on {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(serve(listener, hasher));
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::method_label;
    use axum::http::Method;

    #[test]
    fn methods_outside_the_standard_ones_are_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::from_bytes(b"PROPFIND").unwrap()), "other");
        assert_eq!(method_label(&Method::from_bytes(b"X1234").unwrap()), "other");
    }
}
