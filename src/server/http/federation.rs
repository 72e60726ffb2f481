//! Signing in through another identity provider: `/auth/{id}/start` sends
//! the browser to the provider, `/auth/{id}/callback` takes it back. Thin
//! adapters: the protocol is [`crate::server::federation`]'s, what the
//! identity may do is the core's ([`crate::server::core::identities`]).
//! Every failure is a page that says what happened, never a 500.

use super::extract::{ClientInfo, MaybeUser};
use crate::server::{
    auth,
    core::{self, sessions::LoginOutcome},
    federation::{Callback, FederationError, Started},
    AppState,
};
use askama::Template;
use axum::{
    extract::{Path, RawQuery, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

/// The session key of a started sign-in (one at a time per browser).
const STARTED_KEY: &str = "external_start";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/{id}/start", get(start))
        .route("/auth/{id}/callback", get(callback))
}

/// What the browser is doing at the provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Intent {
    /// Signing in (or up).
    SignIn,
    /// Linking the provider to the signed-in account.
    Link,
    /// Confirming it is them before a sensitive change.
    Reauth,
}

/// A started sign-in, kept in the browser's session until it comes back.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Kept {
    started: Started,
    intent: Intent,
    return_to: String,
    /// The signed-in user a link or re-authentication is for.
    user_id: Option<String>,
}

#[derive(Template)]
#[template(path = "federation/page.html")]
struct Page {
    eyebrow: String,
    title: &'static str,
    message: String,
    link_href: &'static str,
    link_text: &'static str,
}

fn page(status: StatusCode, page: Page) -> Response {
    let mut res = super::html_page(status, &page);
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// `message` as a sentence: a capital first letter and a full stop.
fn sentence(message: &str) -> String {
    let mut chars = message.trim().chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// A sign-in that did not happen, and the way back.
fn not_signed_in(status: StatusCode, provider: &str, message: String, intent: Intent) -> Response {
    let message = sentence(&message);
    let (link_href, link_text) = match intent {
        Intent::SignIn => ("/login", "Back to sign in"),
        Intent::Link | Intent::Reauth => ("/account", "Back to your account"),
    };
    page(
        status,
        Page {
            eyebrow: format!("Continue with {provider}"),
            title: match intent {
                Intent::SignIn => "You are not signed in",
                Intent::Link => "The account was not linked",
                Intent::Reauth => "That did not confirm it is you",
            },
            message,
            link_href,
            link_text,
        },
    )
}

fn redirect(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => {
            let mut res = StatusCode::SEE_OTHER.into_response();
            res.headers_mut().insert(header::LOCATION, v);
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(_) => redirect("/dashboard"),
    }
}

fn pairs(query: Option<String>) -> Vec<(String, String)> {
    super::form_pairs(query.unwrap_or_default().as_bytes())
}

fn first(pairs: &[(String, String)], name: &str) -> Option<String> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

fn redirect_uri(state: &AppState, id: &str) -> String {
    format!("{}/auth/{id}/callback", state.config.site_origin())
}

fn unknown_provider() -> Response {
    page(
        StatusCode::NOT_FOUND,
        Page {
            eyebrow: "Sign in".into(),
            title: "No such sign-in provider",
            message: "This server does not sign in through that provider.".into(),
            link_href: "/login",
            link_text: "Back to sign in",
        },
    )
}

/// `GET /auth/{id}/start?return=&intent=`: to the provider.
async fn start(
    State(state): State<AppState>,
    Path(id): Path<String>,
    MaybeUser(auth): MaybeUser,
    session: Session,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(provider) = state.providers.get(&id) else {
        return unknown_provider();
    };
    let query = pairs(query);
    let return_to = state.config.safe_return(first(&query, "return").as_deref());
    let intent = match first(&query, "intent").as_deref() {
        None | Some("") | Some("signin") => Intent::SignIn,
        Some("link") => Intent::Link,
        Some("reauth") => Intent::Reauth,
        Some(_) => {
            return not_signed_in(
                StatusCode::BAD_REQUEST,
                provider.name(),
                "The intent must be signin, link or reauth.".into(),
                Intent::SignIn,
            )
        }
    };
    let here = format!(
        "/auth/{id}/start?intent={}",
        if intent == Intent::Link { "link" } else { "reauth" }
    );
    let user_id = match (intent, &auth) {
        (Intent::SignIn, Some(_)) => return redirect(&return_to),
        (Intent::SignIn, None) => None,
        (_, None) => return redirect(&crate::model::login_url_for(&here)),
        (Intent::Link, Some(a)) => {
            if state.core.require_recent_auth(a).is_err() {
                return redirect(&format!("/reauth?return={}", crate::model::encode_return(&here)));
            }
            Some(a.user.id.clone())
        }
        (Intent::Reauth, Some(a)) => Some(a.user.id.clone()),
    };
    // Linking and re-authenticating change the account: only from this
    // site's own pages (a link elsewhere could make a signed-in browser do
    // it), and the person signs in at the provider again, knowingly.
    if intent != Intent::SignIn {
        let cross_site = headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v != "same-origin" && v != "none");
        if cross_site {
            return not_signed_in(
                StatusCode::FORBIDDEN,
                provider.name(),
                "Linking a provider or confirming it is you starts from your account page on this site."
                    .into(),
                intent,
            );
        }
        if intent == Intent::Reauth && !provider.can_ask_fresh_login() {
            return not_signed_in(
                StatusCode::BAD_REQUEST,
                provider.name(),
                format!(
                    "{} cannot be asked to sign you in again: confirm it is you another way.",
                    provider.name()
                ),
                intent,
            );
        }
    }
    let fresh = intent != Intent::SignIn;
    let (url, started) = match provider.start(&redirect_uri(&state, &id), core::now(), fresh) {
        Ok(s) => s,
        Err(e) => return not_signed_in(StatusCode::BAD_GATEWAY, provider.name(), e.to_string(), intent),
    };
    let kept = Kept {
        started,
        intent,
        return_to: if intent == Intent::Link {
            "/account".into()
        } else {
            return_to
        },
        user_id,
    };
    if let Err(e) = auth::keep(&session, STARTED_KEY, &kept).await {
        return super::error::ApiError::from(e).into_response();
    }
    redirect(&url)
}

/// `GET /auth/{id}/callback`: the provider's answer.
async fn callback(
    State(state): State<AppState>,
    Path(id): Path<String>,
    MaybeUser(auth): MaybeUser,
    ClientInfo(client): ClientInfo,
    session: Session,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(provider) = state.providers.get(&id) else {
        return unknown_provider();
    };
    let name = provider.name().to_string();
    // Used once: taken out of the session whatever happens next.
    let kept: Option<Kept> = auth::take(&session, STARTED_KEY).await.ok().flatten();
    let query = pairs(query);
    let answer = Callback {
        code: first(&query, "code"),
        state: first(&query, "state"),
        iss: first(&query, "iss"),
        error: first(&query, "error"),
        error_description: first(&query, "error_description"),
    };
    let Some(kept) = kept else {
        state
            .core
            .note_external_refusal(&name, &id, "no sign-in was started in this browser", &client)
            .await;
        return not_signed_in(
            StatusCode::BAD_REQUEST,
            &name,
            FederationError::BadState.to_string(),
            Intent::SignIn,
        );
    };
    let identity = match provider
        .finish(&kept.started, &answer, &redirect_uri(&state, &id), core::now())
        .await
    {
        Ok(identity) => identity,
        Err(e) => {
            let status = match e {
                FederationError::Exchange { .. } => StatusCode::BAD_GATEWAY,
                _ => StatusCode::BAD_REQUEST,
            };
            state
                .core
                .note_external_refusal(&name, &id, &e.to_string(), &client)
                .await;
            return not_signed_in(status, &name, e.to_string(), kept.intent);
        }
    };
    let same_user = |auth: &Option<std::sync::Arc<core::sessions::Authenticated>>| {
        auth.as_ref()
            .filter(|a| Some(&a.user.id) == kept.user_id.as_ref())
            .cloned()
    };
    let refused = |e: core::Error| {
        let status = super::error::status_of(&e);
        not_signed_in(status, &name, super::error::public_message(&e), kept.intent)
    };
    match kept.intent {
        Intent::SignIn => match state.core.external_sign_in(&identity, &client).await {
            Ok(LoginOutcome::SignedIn(_, new)) => match auth::establish(&state.core, &session, &new).await {
                Ok(()) => redirect(&kept.return_to),
                Err(e) => refused(e),
            },
            Ok(LoginOutcome::SecondFactor(pending)) => {
                match auth::hold_pending(&session, &pending.token).await {
                    Ok(()) => redirect(&format!(
                        "/login/mfa?return={}",
                        crate::model::encode_return(&kept.return_to)
                    )),
                    Err(e) => refused(e),
                }
            }
            Err(core::Error::EmailNotVerified) => not_signed_in(
                StatusCode::FORBIDDEN,
                &name,
                "Your email address is not verified yet: follow the link we sent you, then continue again."
                    .into(),
                Intent::SignIn,
            ),
            Err(e) => refused(e),
        },
        Intent::Link => {
            let Some(auth) = same_user(&auth) else {
                return refused(core::Error::Unauthenticated);
            };
            match state.core.link_identity(&auth, &identity, &client).await {
                Ok(()) => redirect(&format!("/account?linked={id}")),
                Err(e) => refused(e),
            }
        }
        Intent::Reauth => {
            let Some(auth) = same_user(&auth) else {
                return refused(core::Error::Unauthenticated);
            };
            match state
                .core
                .reauthenticate_external(&auth, &identity, &client)
                .await
            {
                Ok(()) => redirect(&kept.return_to),
                Err(e) => refused(e),
            }
        }
    }
}
