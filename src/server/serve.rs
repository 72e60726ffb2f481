//! Serving the router over HTTP/1.1 with hyper, with what `axum::serve` does
//! not offer: a header-read timeout (a connection that sends part of a
//! request and then nothing is closed, and so is one idle longer than that
//! between kept-alive requests), TCP_NODELAY (a streamed page otherwise
//! stalls on every response of a kept-alive connection: Nagle and delayed
//! ACKs), and a graceful shutdown: on the signal the listener closes, idle
//! connections (kept alive, or never used) close at once, and every request
//! whose headers arrived is read to its end and answered, for up to the
//! grace period (`GATEHOUSE_SHUTDOWN_SECONDS`); then the server returns.

use axum::{body::Body, extract::Request, http::Response, ServiceExt as _};
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
    service::TowerToHyperService,
};
use std::{convert::Infallible, future::Future, net::SocketAddr, time::Duration};
use tower::{Service, ServiceExt as _};

/// Serves `app` on `listener` until `shutdown` completes, then lets the
/// requests in flight finish for up to `grace`.
pub async fn serve<S, B>(
    listener: tokio::net::TcpListener,
    app: S,
    header_timeout: Duration,
    grace: Duration,
    shutdown: impl Future<Output = ()>,
) where
    S: Service<Request, Response = Response<B>, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    B: axum::body::HttpBody<Data = axum::body::Bytes, Error: Into<axum::BoxError>> + Send + 'static,
{
    let app = app.map_request(|req: Request<Incoming>| req.map(Body::new));
    let mut make_service = app.into_make_service_with_connect_info::<SocketAddr>();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(connection) => connection,
                Err(e) => {
                    // Out of file descriptors and the like: wait, go on.
                    tracing::warn!(error = %e, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = match make_service.call(peer).await {
            Ok(service) => service,
            Err(never) => match never {},
        };
        let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection closed");
            }
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(grace) => {
            tracing::warn!("requests still running after {} s; stopping anyway", grace.as_secs());
        }
    }
}
