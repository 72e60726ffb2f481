//! Server functions: the pages' thin adapters over the core. Each one works
//! as a plain form post (JavaScript off) and as a fetch (JavaScript on).

mod accounts;
mod admin;
mod mail;
mod mfa;
mod oidc;

pub use accounts::*;
pub use admin::*;
pub use mail::*;
pub use mfa::*;
pub use oidc::*;

use crate::model::{AppError, UserView};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// What every page needs to know about the site and the visitor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteInfo {
    pub user: Option<UserView>,
    pub signup_open: bool,
    pub setup_required: bool,
    pub password_min_length: usize,
    /// Mail is configured: password reset, verification, email change and
    /// invitations are on.
    pub mail_enabled: bool,
    /// `off`, `optional` or `required`.
    pub email_verification: String,
    /// The policy requires a second factor the visitor has not set up.
    pub mfa_enrolment_required: bool,
    /// Passkeys work on this site.
    pub passkeys: bool,
    /// The visitor has a second factor.
    pub mfa_enabled: bool,
    /// The identity providers one may sign in with.
    pub providers: Vec<crate::model::ProviderLink>,
    /// The visitor's account has a password (one made through a provider
    /// has none until its user sets one).
    pub has_password: bool,
    /// The providers linked to the visitor's account (their ids), for the
    /// re-authentication page's buttons. Read here (one indexed query per
    /// page of a signed-in user, only with providers configured) rather than
    /// by that page itself: a resource of its own there put 17 KB (brotli)
    /// more into the main wasm every page loads.
    pub linked_providers: Vec<String>,
}

#[cfg(feature = "ssr")]
pub(crate) mod ssr {
    //! Reaching the app state, the request and the session from a server function.
    use crate::{
        model::AppError,
        server::{
            auth::CurrentAuth,
            core::{self, sessions::Authenticated, Client},
            http::error::{public_message, status_of},
            AppState,
        },
    };
    use axum::http::{header, request::Parts, HeaderValue};
    use leptos::prelude::*;
    use leptos_axum::ResponseOptions;
    use std::sync::Arc;
    use tower_sessions::Session;

    pub fn state() -> Result<AppState, AppError> {
        use_context::<AppState>().ok_or_else(|| AppError::new(500, "server state unavailable"))
    }

    fn parts() -> Option<Parts> {
        use_context::<Parts>()
    }

    /// The signed-in user of this request, as the middleware resolved it.
    pub fn auth() -> Option<Arc<Authenticated>> {
        parts()?.extensions.get::<CurrentAuth>()?.0.clone()
    }

    /// 503 when the request's credentials could not be checked (the
    /// database did not answer): the page says "try again in a moment"
    /// rather than that nobody is signed in.
    pub(super) fn auth_known() -> Result<(), AppError> {
        let unknown = parts().is_some_and(|p| {
            p.extensions
                .get::<crate::server::auth::AuthUnavailable>()
                .is_some()
        });
        if unknown {
            return Err(fail(core::Error::Unavailable(
                "credentials could not be checked".into(),
            )));
        }
        Ok(())
    }

    /// The signed-in user; one who still has to set up a second factor the
    /// policy requires gets 403 (see [`require_enrolling`]).
    pub fn require_auth() -> Result<Arc<Authenticated>, AppError> {
        let auth = require_enrolling()?;
        if auth.must_enrol {
            return Err(fail(core::Error::EnrolmentRequired));
        }
        Ok(auth)
    }

    /// The signed-in user, also one who still has to set up a second factor.
    pub fn require_enrolling() -> Result<Arc<Authenticated>, AppError> {
        auth_known()?;
        auth().ok_or_else(|| fail(core::Error::Unauthenticated))
    }

    /// The signed-in admin (401 signed out, 403 otherwise): the same guard
    /// as the JSON API's.
    pub fn require_admin() -> Result<Arc<Authenticated>, AppError> {
        let auth = require_auth()?;
        core::admin::require_admin(&auth).map_err(fail)?;
        Ok(auth)
    }

    pub fn client() -> Client {
        match (parts(), state()) {
            (Some(parts), Ok(state)) => {
                crate::server::auth::client_of(&parts.extensions, &parts.headers, &state.config)
            }
            _ => Client::default(),
        }
    }

    pub async fn session() -> Result<Session, AppError> {
        leptos_axum::extract::<Session>()
            .await
            .map_err(|_| fail(core::Error::Internal("no session layer".into())))
    }

    /// Whether the browser posted a plain form (JavaScript off). Then errors
    /// travel back in a redirect to the form's page, and the status must stay
    /// a redirect.
    pub fn is_plain_form() -> bool {
        is_plain_form_post()
    }

    fn is_plain_form_post() -> bool {
        parts()
            .and_then(|p| p.headers.get(header::ACCEPT).cloned())
            .and_then(|v| v.to_str().ok().map(|s| s.contains("text/html")))
            .unwrap_or(false)
    }

    /// Turns a core error into the page's error, with the right status (and
    /// `Retry-After`) on the response when the page called by fetch.
    pub fn fail(e: core::Error) -> AppError {
        let error = AppError {
            status: status_of(&e).as_u16(),
            field: e.field().map(str::to_string),
            retry_after: e.retry_after(),
            message: public_message(&e),
        };
        reject(error)
    }

    /// Sets the status of `error` on the response (fetch calls only).
    /// A new password and its confirmation must be the same; else 400 on
    /// the confirmation's `field` (not yet rejected: see [`reject`]).
    pub fn same_passwords(password: &str, confirmation: &str, field: &str) -> Result<(), AppError> {
        if password == confirmation {
            Ok(())
        } else {
            Err(AppError::for_field(400, field, "The passwords do not match."))
        }
    }

    pub fn reject(error: AppError) -> AppError {
        if !is_plain_form_post() {
            if let Some(res) = use_context::<ResponseOptions>() {
                if let Ok(status) = axum::http::StatusCode::from_u16(error.status) {
                    res.set_status(status);
                }
                if let Some(secs) = error.retry_after {
                    res.insert_header(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
                }
            }
        }
        error
    }

    /// For forms on pages whose address carries a mail link's token: those
    /// pages send no `Referer` (so the token cannot leak through one), so a
    /// plain form post's error is sent back to `page` (the page's own
    /// address, token included) the way Leptos sends errors back to the
    /// `Referer`, for the form to show it.
    pub fn back_to(error: AppError, fn_path: &str, page: &str) -> AppError {
        if is_plain_form_post() {
            if let Some(res) = use_context::<ResponseOptions>() {
                use base64::Engine;
                let encoded = serde_json::to_string(&error)
                    .map(|json| base64::engine::general_purpose::URL_SAFE.encode(json))
                    .unwrap_or_default();
                let query = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("__path", fn_path)
                    .append_pair("__err", &encoded)
                    .finish();
                let separator = if page.contains('?') { '&' } else { '?' };
                if let Ok(location) = HeaderValue::from_str(&format!("{page}{separator}{query}")) {
                    res.insert_header(header::LOCATION, location);
                }
            }
        }
        error
    }

    /// Renames the core's field names to the forms' input names.
    pub fn on_field(mut error: AppError, from: &str, to: &str) -> AppError {
        if error.field.as_deref() == Some(from) {
            error.field = Some(to.to_string());
        }
        error
    }
}

/// The visitor (if signed in) and the site's settings the pages show.
#[server(prefix = "/fn", endpoint = "site_state")]
pub async fn site_state() -> Result<SiteInfo, AppError> {
    use self::ssr::*;
    let state = state()?;
    auth_known()?;
    let setup_required = state.core.setup_required().await.map_err(fail)?;
    Ok(SiteInfo {
        user: auth().map(|a| a.user.view()),
        signup_open: state.config.signup_open,
        setup_required,
        password_min_length: state.config.password_min_length,
        mail_enabled: state.core.mail_enabled(),
        email_verification: state.config.email_verification.as_str().to_string(),
        mfa_enrolment_required: auth().is_some_and(|a| a.must_enrol),
        passkeys: state.config.relying_party.is_some(),
        mfa_enabled: auth().is_some_and(|a| a.user.mfa_enabled),
        providers: state
            .providers
            .all()
            .map(|p| crate::model::ProviderLink {
                id: p.id().to_string(),
                name: p.name().to_string(),
                reauth: p.can_ask_fresh_login(),
            })
            .collect(),
        has_password: auth().is_none_or(|a| a.user.has_password),
        linked_providers: match auth() {
            Some(a) if state.providers.all().next().is_some() => state
                .core
                .identities_of(&a.user.id)
                .await
                .map_err(fail)?
                .into_iter()
                .map(|i| i.provider)
                .collect(),
            _ => Vec::new(),
        },
    })
}
