//! The bridge between the cookie session (tower-sessions) and the core's
//! sessions, shared by the pages, the server functions and the JSON API.
//!
//! The tower-sessions record holds one value: the id of the core's session
//! row. The row holds the lifetime and the user, so that sessions can be
//! listed and revoked per user and expire on idle server-side.

use super::{
    config::Config,
    core::{
        self,
        sessions::{Amr, Authenticated, NewSession, SESSION_KEY},
        Client, Core, User,
    },
    AppState,
};
use axum::{
    extract::{ConnectInfo, Request, State},
    http::{header, Extensions, HeaderMap, HeaderValue},
    middleware::Next,
    response::Response,
};
use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};
use time::OffsetDateTime;
use tower_sessions::{Expiry, Session};

/// The token of a sign-in waiting for its second factor, in the browser's
/// (server-side) session: it is bound to this browser.
const PENDING_KEY: &str = "mfa_pending";

/// The signed-in user of this request, if any (a request extension).
#[derive(Clone, Debug, Default)]
pub struct CurrentAuth(pub Option<Arc<Authenticated>>);

/// Marks a request whose `Authorization` header was present but not a valid
/// bearer token (a request extension): it is not signed in, whatever cookie
/// it also carries.
#[derive(Clone, Copy, Debug)]
pub struct BearerRejected;

/// Marks a request whose credentials could not be checked because the
/// database did not answer (a request extension): who it is is unknown, not
/// "nobody". Everything that depends on it answers 503, and no cookie is
/// cleared.
#[derive(Clone, Copy, Debug)]
pub struct AuthUnavailable;

/// The session store is the database: its failures are the database's (the
/// answer is unknown, not "signed out"), and they say nothing about who is
/// signed in.
fn store_failed(e: tower_sessions::session::Error) -> core::Error {
    core::Error::Unavailable(format!("session store: {e}"))
}

/// Signs `user` in on this browser: a new core session (as long as
/// "remember me" asks), made this browser's session by [`establish`]. Every
/// adapter that ends a sign-in (setup, login, second step, passkey,
/// invitation) comes through here.
pub async fn sign_in(
    core: &Core,
    session: &Session,
    user: &User,
    remember: bool,
    amr: &Amr,
    client: &Client,
) -> core::Result<NewSession> {
    let new = core.start_session(user, remember, amr, client).await?;
    establish(core, session, &new).await?;
    Ok(new)
}

/// Makes `new` this browser's session: a fresh session id (so a planted id is
/// never kept), the core session's id inside, and a cookie lifetime only with
/// "remember me". Ends the session the browser had before, if any.
///
/// The record is stored when the response leaves (tower-sessions saves a
/// changed session then), under a new random id, and the store binds the
/// core session to it in the same write (see
/// [`crate::server::db::SessionStoreAny`]).
pub async fn establish(core: &Core, session: &Session, new: &NewSession) -> core::Result<()> {
    if let Ok(Some(old)) = session.get::<String>(SESSION_KEY).await {
        if old != new.id {
            let _ = core.end_session(&old).await;
        }
    }
    // A browser that brought a stored record gets a new id for it (the old
    // one is deleted); one without (or with an id the store does not know)
    // has no id yet, and its record gets a fresh one when it is stored.
    if session.id().is_some() {
        session.cycle_id().await.map_err(store_failed)?;
    }
    let _ = session.remove_value(PENDING_KEY).await.map_err(store_failed)?;
    session.insert(SESSION_KEY, &new.id).await.map_err(store_failed)?;
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

/// Binds the core session `sid` to the browser record `session` already has
/// (a failure is logged: the check then falls back to the record).
async fn bind_saved_record(core: &Core, session: &Session, sid: &str) {
    if let Some(record) = session.id() {
        if let Err(e) = core.bind_session_record(sid, &record.to_string()).await {
            tracing::warn!(error = %e, "could not bind the session to its record");
        }
    }
}

/// Keeps a pending sign-in's token in this browser's session (under a fresh
/// session id) until its second factor comes.
pub async fn hold_pending(session: &Session, token: &str) -> core::Result<()> {
    session.cycle_id().await.map_err(store_failed)?;
    session.insert(PENDING_KEY, token).await.map_err(store_failed)
}

/// The token of this browser's pending sign-in, if any.
pub async fn pending(session: &Session) -> Option<String> {
    session.get::<String>(PENDING_KEY).await.ok().flatten()
}

/// Gives the browser a new session id for the same signed-in session (after a
/// password change). The record is stored under it when the response leaves,
/// and the store binds the session to it again.
pub async fn rotate(session: &Session) -> core::Result<()> {
    session.cycle_id().await.map_err(store_failed)
}

/// Keeps `value` under `key` in this browser's session (recovery codes to
/// show once, say).
pub async fn keep<T: serde::Serialize>(session: &Session, key: &str, value: T) -> core::Result<()> {
    session.insert(key, value).await.map_err(store_failed)
}

/// Takes `key`'s value out of this browser's session, if it holds one.
pub async fn take<T: serde::de::DeserializeOwned>(session: &Session, key: &str) -> core::Result<Option<T>> {
    session.remove(key).await.map_err(store_failed)
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
/// The token of an `Authorization: Bearer <token>` header value (the
/// scheme in any case); `None` for any other value.
pub fn bearer_token(value: &HeaderValue) -> Option<String> {
    value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_string())
}

pub async fn resolve_user(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let mut auth = CurrentAuth(None);
    // The JSON API also takes bearer tokens, from the Authorization header only.
    if req.uri().path().starts_with("/api/v1/") {
        if let Some(value) = req.headers().get(header::AUTHORIZATION) {
            match bearer_token(value) {
                Some(token) => match state.core.authenticate_bearer(&token).await {
                    Ok(found) => auth = CurrentAuth(Some(Arc::new(found))),
                    Err(crate::server::core::Error::Unauthenticated) => {
                        req.extensions_mut().insert(BearerRejected);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "could not check a bearer token");
                        req.extensions_mut().insert(AuthUnavailable);
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
        // The cookie's record id finds a bound session and its user in one
        // query, without loading the record (the common case).
        let bound = match session.id() {
            Some(record) => state.core.session_user_by_record(&record.to_string()).await,
            None => Ok(None),
        };
        match bound {
            Ok(Some(found)) => {
                req.extensions_mut().insert(CurrentAuth(Some(Arc::new(found))));
                return next.run(req).await;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not check the session");
                req.extensions_mut().insert(AuthUnavailable);
                req.extensions_mut().insert(auth);
                return next.run(req).await;
            }
        }
        // Otherwise the record says which session it holds, if any (one made
        // before records were bound, or whose binding failed): bind it now.
        if has_cookie(req.headers(), state.config.session_cookie_name()) {
            match session.get::<String>(SESSION_KEY).await {
                Ok(Some(sid)) => match state.core.session_user(&sid).await {
                    Ok(Some(found)) => {
                        bind_saved_record(&state.core, &session, &sid).await;
                        auth = CurrentAuth(Some(Arc::new(found)))
                    }
                    Ok(None) => {
                        let _ = session.flush().await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "could not check the session");
                        req.extensions_mut().insert(AuthUnavailable);
                    }
                },
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "could not load the session");
                    req.extensions_mut().insert(AuthUnavailable);
                }
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

/// A header name made once, not parsed from a string per request.
const X_FORWARDED_FOR: header::HeaderName = header::HeaderName::from_static("x-forwarded-for");

/// Who the client is (see [`client_ip`]) and its user agent, from a
/// request's connection (its `ConnectInfo` extension) and headers: worked
/// out where a handler asks ([`crate::server::http::extract::ClientInfo`]),
/// not for every request (a probe or a static file has no use for it).
pub fn client_of(extensions: &Extensions, headers: &HeaderMap, config: &Config) -> Client {
    let peer = extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let forwarded: Vec<&str> = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let ip = client_ip(peer, &forwarded, config);
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(512).collect());
    Client { ip, user_agent }
}

/// The client's address: the peer's, or, when the peer is a trusted proxy,
/// the nearest entry of `X-Forwarded-For` (read from the right) that is not a
/// trusted proxy. Proxies append, so entries to the left of that one are the
/// client's own say and are never believed. An entry that is not an address
/// ends the walk: it stands where the client should, so the client is
/// unknown (and shares the limits of every unknown client) rather than
/// whatever the client wrote further left. Addresses are canonical
/// (IPv4-mapped IPv6 is IPv4).
fn client_ip(peer: Option<IpAddr>, forwarded: &[&str], config: &Config) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    if !config.is_trusted_proxy(peer) {
        return Some(peer);
    }
    let entries: Vec<&str> = forwarded
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    if entries.is_empty() {
        return Some(peer);
    }
    for entry in entries.iter().rev() {
        match parse_forwarded(entry) {
            Some(ip) if config.is_trusted_proxy(ip) => continue,
            Some(ip) => return Some(ip),
            None => return None,
        }
    }
    // Every entry is a trusted proxy: the first one is as close as we get.
    entries.first().and_then(|e| parse_forwarded(e)).or(Some(peer))
}

/// One `X-Forwarded-For` entry: `203.0.113.9`, `2001:db8::1`, with a port
/// (`203.0.113.9:4711`, `[2001:db8::1]:4711`) or quotes.
fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim().trim_matches('"');
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(addr) = entry.parse::<SocketAddr>() {
        return Some(addr.ip().to_canonical());
    }
    entry
        .strip_prefix('[')
        .and_then(|e| e.strip_suffix(']'))
        .and_then(|e| e.parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(proxies: &str) -> Config {
        Config::from_map(&[("GATEHOUSE_TRUSTED_PROXIES", proxies)].into_iter().collect()).unwrap()
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn the_peer_is_the_client_unless_it_is_a_trusted_proxy() {
        let c = config("10.0.0.0/8");
        assert_eq!(
            client_ip(ip("203.0.113.9"), &["198.51.100.1"], &c),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), &["198.51.100.1"], &c),
            ip("198.51.100.1")
        );
        assert_eq!(client_ip(ip("10.0.0.2"), &[], &c), ip("10.0.0.2"));
    }

    #[test]
    fn the_nearest_untrusted_entry_from_the_right_is_the_client() {
        let c = config("10.0.0.0/8");
        let forwarded = ["6.6.6.6, 198.51.100.1", "10.0.0.3"];
        assert_eq!(client_ip(ip("10.0.0.2"), &forwarded, &c), ip("198.51.100.1"));
        assert_eq!(
            client_ip(ip("10.0.0.2"), &["10.0.0.9, 10.0.0.8"], &c),
            ip("10.0.0.9"),
            "only proxies: the first"
        );
    }

    #[test]
    fn an_entry_that_does_not_parse_ends_the_walk() {
        let c = config("10.0.0.0/8");
        assert_eq!(client_ip(ip("10.0.0.2"), &["198.51.100.1, garbage"], &c), None);
        assert_eq!(client_ip(ip("10.0.0.2"), &["198.51.100.1, , 10.0.0.5"], &c), None);
        assert_eq!(
            client_ip(ip("10.0.0.2"), &["garbage, 198.51.100.1"], &c),
            ip("198.51.100.1")
        );
        // Ports and brackets are addresses still.
        assert_eq!(
            client_ip(ip("10.0.0.2"), &["198.51.100.1:4711"], &c),
            ip("198.51.100.1")
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), &["[2001:db8::1]:4711"], &c),
            ip("2001:db8::1")
        );
    }

    #[test]
    fn mapped_addresses_are_canonical_before_matching() {
        let c = config("10.0.0.0/8");
        // An IPv4 proxy as a dual-stack listener sees it.
        assert_eq!(
            client_ip(ip("::ffff:10.0.0.2"), &["198.51.100.1"], &c),
            ip("198.51.100.1")
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), &["::ffff:198.51.100.1"], &c),
            ip("198.51.100.1")
        );
        assert_eq!(client_ip(ip("::ffff:203.0.113.9"), &[], &c), ip("203.0.113.9"));
    }
}
