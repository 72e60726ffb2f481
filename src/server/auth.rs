//! The bridge between the cookie session (tower-sessions) and the core's
//! sessions, shared by the pages, the server functions and the JSON API.
//!
//! The tower-sessions record holds one value: the id of the core's session
//! row. The row holds the lifetime and the user, so that sessions can be
//! listed and revoked per user and expire on idle server-side.

use super::{
    core::{sessions::Authenticated, sessions::NewSession, Client, Core},
    AppState,
};
use axum::{
    extract::{ConnectInfo, Request, State},
    http::{header, HeaderMap},
    middleware::Next,
    response::Response,
};
use std::{net::SocketAddr, sync::Arc};
use time::OffsetDateTime;
use tower_sessions::{Expiry, Session};

const SESSION_KEY: &str = "sid";

/// The signed-in user of this request, if any (a request extension).
#[derive(Clone, Debug, Default)]
pub struct CurrentAuth(pub Option<Arc<Authenticated>>);

/// Marks a request whose `Authorization` header was present but not a valid
/// bearer token (a request extension): it is not signed in, whatever cookie
/// it also carries.
#[derive(Clone, Copy, Debug)]
pub struct BearerRejected;

/// Makes `new` this browser's session: a fresh session id (so a planted id is
/// never kept), the core session's id inside, and a cookie lifetime only with
/// "remember me". Ends the session the browser had before, if any.
pub async fn establish(
    core: &Core,
    session: &Session,
    new: &NewSession,
) -> Result<(), tower_sessions::session::Error> {
    if let Ok(Some(old)) = session.get::<String>(SESSION_KEY).await {
        if old != new.id {
            let _ = core.end_session(&old).await;
        }
    }
    session.cycle_id().await?;
    session.insert(SESSION_KEY, &new.id).await?;
    let expiry = if new.remember {
        let at =
            OffsetDateTime::from_unix_timestamp(new.expires_at).unwrap_or_else(|_| OffsetDateTime::now_utc());
        Expiry::AtDateTime(at)
    } else {
        Expiry::OnSessionEnd
    };
    session.set_expiry(Some(expiry));
    Ok(())
}

/// Gives the browser a new session id for the same signed-in session (after a
/// password change).
pub async fn rotate(session: &Session) -> Result<(), tower_sessions::session::Error> {
    session.cycle_id().await
}

/// Ends the browser's session: the core row and the stored record go, and the
/// cookie is cleared.
pub async fn end(core: &Core, session: &Session, client: &Client) {
    if let Ok(Some(sid)) = session.get::<String>(SESSION_KEY).await {
        if let Err(e) = core.logout(&sid, client).await {
            tracing::warn!(error = %e, "could not end the session");
        }
    }
    if let Err(e) = session.flush().await {
        tracing::warn!(error = %e, "could not delete the session record");
    }
}

/// Middleware: resolves the session cookie to a user once per request and
/// records it as [`CurrentAuth`]. A cookie whose session is gone (logged out,
/// expired, idle, revoked) is cleared.
pub async fn resolve_user(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let mut auth = CurrentAuth(None);
    // The JSON API also takes bearer tokens, from the Authorization header only.
    if req.uri().path().starts_with("/api/v1/") {
        if let Some(value) = req.headers().get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, token)| token.trim().to_string());
            match token {
                Some(token) => match state.core.authenticate_bearer(&token).await {
                    Ok(found) => auth = CurrentAuth(Some(Arc::new(found))),
                    Err(crate::server::core::Error::Unauthenticated) => {
                        req.extensions_mut().insert(BearerRejected);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "could not check a bearer token");
                        req.extensions_mut().insert(BearerRejected);
                    }
                },
                None => {
                    req.extensions_mut().insert(BearerRejected);
                }
            }
            req.extensions_mut().insert(auth);
            return next.run(req).await;
        }
    }
    if let Some(session) = req.extensions().get::<Session>().cloned() {
        if has_cookie(req.headers(), state.config.session_cookie_name()) {
            match session.get::<String>(SESSION_KEY).await {
                Ok(Some(sid)) => match state.core.session_user(&sid).await {
                    Ok(Some(found)) => auth = CurrentAuth(Some(Arc::new(found))),
                    Ok(None) => {
                        let _ = session.flush().await;
                    }
                    Err(e) => tracing::error!(error = %e, "could not check the session"),
                },
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "could not load the session"),
            }
        }
    }
    req.extensions_mut().insert(auth);
    next.run(req).await
}

fn has_cookie(headers: &HeaderMap, name: &str) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .any(|pair| pair.trim_start().split('=').next() == Some(name))
}

/// Middleware: works out who the client is, once: the peer address, or, when
/// the peer is a trusted proxy, the nearest untrusted address in
/// `X-Forwarded-For`. A client cannot choose its own address by sending the
/// header itself.
pub async fn resolve_client(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let mut ip = peer;
    if let Some(peer_ip) = peer {
        if state.config.is_trusted_proxy(peer_ip) {
            let forwarded: Vec<std::net::IpAddr> = req
                .headers()
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|s| s.trim().parse().ok())
                .collect();
            if let Some(client) = forwarded
                .iter()
                .rev()
                .find(|a| !state.config.is_trusted_proxy(**a))
            {
                ip = Some(*client);
            } else if let Some(first) = forwarded.first() {
                ip = Some(*first);
            }
        }
    }
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(512).collect());
    req.extensions_mut().insert(Client { ip, user_agent });
    next.run(req).await
}
