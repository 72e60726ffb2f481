//! The provider's pages: the consent question, the admin page of clients,
//! and the connected apps on `/account`.

// A client's forms send every setting as its own field: one argument each
// (the `server` macro's generated client code repeats them).
#![allow(clippy::too_many_arguments)]

use crate::model::{
    oidc::{ClientsData, ConnectedApp, ConsentPage},
    AppError,
};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
mod ssr {
    use crate::server::core::oidc::{AuthorizeOutcome, AuthorizeParams};

    /// The authorization request in the consent page's query.
    pub fn params_of(query: &str) -> AuthorizeParams {
        let query = query.strip_prefix('?').unwrap_or(query);
        AuthorizeParams::from_pairs(
            url::form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())),
        )
    }

    /// Where an outcome other than a question goes.
    pub fn target(outcome: AuthorizeOutcome) -> Result<String, String> {
        match outcome {
            AuthorizeOutcome::Refused(message) => Err(message),
            AuthorizeOutcome::Redirect(to) | AuthorizeOutcome::Consent(to) => Ok(to),
            AuthorizeOutcome::SignIn { return_to, again, .. } => {
                let page = if again { "/reauth" } else { "/login" };
                Ok(format!(
                    "{page}?return={}",
                    crate::model::encode_return(&return_to)
                ))
            }
            AuthorizeOutcome::Enrol => Ok("/account?enrol=1#security".into()),
        }
    }

    /// A session key: a client secret just made, for the page after a plain
    /// form post (it cannot travel in the address).
    pub const NEW_SECRET: &str = "new_client_secret";

    /// A secret just made, and the page load that shows it (its request id).
    #[derive(serde::Serialize, serde::Deserialize)]
    pub struct NewSecret {
        pub created: crate::model::oidc::ClientCreated,
        #[serde(default)]
        pub shown_by: Option<String>,
    }

    /// The secret to show on this page load: the first page load after it
    /// was made shows it, in every part of the page that asks (a page may
    /// render its parts more than once); the next one finds it gone.
    pub async fn take_new_secret(
        session: &tower_sessions::Session,
    ) -> Option<crate::model::oidc::ClientCreated> {
        let this_load = leptos::prelude::use_context::<axum::http::request::Parts>()
            .and_then(|p| p.headers.get("x-request-id")?.to_str().ok().map(str::to_string))
            .unwrap_or_default();
        let mut fresh = session.get::<NewSecret>(NEW_SECRET).await.ok().flatten()?;
        match fresh.shown_by.as_deref() {
            None => {
                fresh.shown_by = Some(this_load);
                let _ = session.insert(NEW_SECRET, &fresh).await;
                Some(fresh.created)
            }
            Some(id) if !id.is_empty() && id == this_load => Some(fresh.created),
            Some(_) => {
                let _ = session.remove_value(NEW_SECRET).await;
                None
            }
        }
    }
}

/// What the consent page asks (the query is the authorization request).
#[server(prefix = "/fn", endpoint = "consent_question")]
pub async fn consent_question(#[server(default)] query: String) -> Result<ConsentPage, AppError> {
    use self::ssr::*;
    use super::ssr::*;
    let state = state()?;
    auth_known()?;
    let auth = auth();
    let params = params_of(&query);
    match state
        .core
        .consent_question(&params, auth.as_deref())
        .await
        .map_err(fail)?
    {
        Ok(question) => Ok(ConsentPage::Ask(question)),
        Err(outcome) => Ok(match target(outcome) {
            Ok(to) => ConsentPage::Go(to),
            Err(message) => ConsentPage::Refused(message),
        }),
    }
}

/// The user's answer on the consent page (`decision` is `allow` or `deny`):
/// back to the app with a code, or with `access_denied`.
#[server(prefix = "/fn", endpoint = "decide_consent")]
pub async fn decide_consent(
    #[server(default)] query: String,
    #[server(default)] decision: String,
) -> Result<(), AppError> {
    use self::ssr::*;
    use super::ssr::*;
    let state = state()?;
    let auth = require_enrolling()?;
    let allow = match decision.as_str() {
        "allow" => true,
        "deny" => false,
        _ => return Err(reject(AppError::new(400, "Choose Allow or Deny."))),
    };
    let outcome = state
        .core
        .decide_consent(&params_of(&query), Some(&auth), allow, &client())
        .await
        .map_err(fail)?;
    match target(outcome) {
        Ok(to) => {
            leptos_axum::redirect(&to);
            Ok(())
        }
        Err(message) => Err(reject(AppError::new(400, message))),
    }
}

/// The apps the signed-in user allowed.
#[server(prefix = "/fn", endpoint = "my_apps")]
pub async fn my_apps() -> Result<Vec<ConnectedApp>, AppError> {
    use super::ssr::*;
    let state = state()?;
    let auth = require_auth()?;
    state.core.connected_apps(&auth.user.id).await.map_err(fail)
}

/// Disconnects an app (its consent and refresh tokens end).
#[server(prefix = "/fn", endpoint = "disconnect_app")]
pub async fn disconnect_app(#[server(default)] client_id: String) -> Result<(), AppError> {
    use super::ssr::*;
    let state = state()?;
    let auth = require_auth()?;
    state
        .core
        .disconnect_app(&auth.user.id, &client_id, &client())
        .await
        .map_err(fail)?;
    leptos_axum::redirect("/account?changed=app_disconnected#apps");
    Ok(())
}

/// Every client, and a secret just made (once).
#[server(prefix = "/fn", endpoint = "admin_clients")]
pub async fn admin_clients() -> Result<ClientsData, AppError> {
    use self::ssr::*;
    use super::ssr::*;
    let state = state()?;
    let admin = require_admin()?;
    let clients = state.core.clients(&admin).await.map_err(fail)?;
    let session = session().await?;
    let new_secret = take_new_secret(&session).await;
    Ok(ClientsData { clients, new_secret })
}

/// The scopes and grants of the client form's checkboxes.
#[cfg(feature = "ssr")]
fn checked(pairs: &[(&str, &Option<String>)]) -> Vec<String> {
    pairs
        .iter()
        .filter(|(_, v)| v.is_some())
        .map(|(k, _)| k.to_string())
        .collect()
}

/// One URI per line.
#[cfg(feature = "ssr")]
fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// After making a secret: shown on the next page. A fetch gets it in the
/// answer; a plain form post through the session (never the address).
#[cfg(feature = "ssr")]
async fn show_secret(
    created: crate::model::oidc::ClientCreated,
    done: &str,
) -> Result<Option<crate::model::oidc::ClientCreated>, AppError> {
    use super::ssr::*;
    if is_plain_form() {
        let session = session().await?;
        session
            .insert(
                self::ssr::NEW_SECRET,
                self::ssr::NewSecret {
                    created,
                    shown_by: None,
                },
            )
            .await
            .map_err(|e| {
                fail(crate::server::core::Error::Unavailable(format!(
                    "session store: {e}"
                )))
            })?;
        leptos_axum::redirect(&format!("/admin/clients?done={done}"));
        Ok(None)
    } else {
        Ok(Some(created))
    }
}

/// Registers a client from the admin page.
#[server(prefix = "/fn", endpoint = "admin_create_client")]
pub async fn admin_create_client(
    #[server(default)] name: String,
    #[server(default)] kind: String,
    #[server(default)] redirect_uris: String,
    #[server(default)] post_logout_redirect_uris: String,
    #[server(default)] openid: Option<String>,
    #[server(default)] profile: Option<String>,
    #[server(default)] email: Option<String>,
    #[server(default)] offline_access: Option<String>,
    #[server(default)] roles: Option<String>,
    #[server(default)] authorization_code: Option<String>,
    #[server(default)] refresh_token: Option<String>,
    #[server(default)] client_credentials: Option<String>,
    #[server(default)] first_party: Option<String>,
) -> Result<Option<crate::model::oidc::ClientCreated>, AppError> {
    use super::ssr::*;
    use crate::{model::oidc::ClientType, server::core::oidc::ClientSpec};
    let state = state()?;
    let admin = require_admin()?;
    let spec = ClientSpec {
        name,
        kind: Some(ClientType::parse(&kind).unwrap_or(ClientType::Confidential)),
        redirect_uris: lines(&redirect_uris),
        post_logout_redirect_uris: lines(&post_logout_redirect_uris),
        scopes: Some(checked(&[
            ("openid", &openid),
            ("profile", &profile),
            ("email", &email),
            ("offline_access", &offline_access),
            ("roles", &roles),
        ])),
        grant_types: Some(checked(&[
            ("authorization_code", &authorization_code),
            ("refresh_token", &refresh_token),
            ("client_credentials", &client_credentials),
        ])),
        first_party: first_party.is_some(),
        enabled: Some(true),
    };
    let created = state
        .core
        .create_client(&admin, spec, &client())
        .await
        .map_err(fail)?;
    show_secret(created, "created").await
}

/// Changes a client from the admin page (its edit form sends every setting).
#[server(prefix = "/fn", endpoint = "admin_update_client")]
pub async fn admin_update_client(
    #[server(default)] client_id: String,
    #[server(default)] name: String,
    #[server(default)] redirect_uris: String,
    #[server(default)] post_logout_redirect_uris: String,
    #[server(default)] openid: Option<String>,
    #[server(default)] profile: Option<String>,
    #[server(default)] email: Option<String>,
    #[server(default)] offline_access: Option<String>,
    #[server(default)] roles: Option<String>,
    #[server(default)] authorization_code: Option<String>,
    #[server(default)] refresh_token: Option<String>,
    #[server(default)] client_credentials: Option<String>,
    #[server(default)] first_party: Option<String>,
    #[server(default)] enabled: Option<String>,
) -> Result<(), AppError> {
    use super::ssr::*;
    use crate::server::core::oidc::ClientChange;
    let state = state()?;
    let admin = require_admin()?;
    let change = ClientChange {
        name: Some(name),
        redirect_uris: Some(lines(&redirect_uris)),
        post_logout_redirect_uris: Some(lines(&post_logout_redirect_uris)),
        scopes: Some(checked(&[
            ("openid", &openid),
            ("profile", &profile),
            ("email", &email),
            ("offline_access", &offline_access),
            ("roles", &roles),
        ])),
        grant_types: Some(checked(&[
            ("authorization_code", &authorization_code),
            ("refresh_token", &refresh_token),
            ("client_credentials", &client_credentials),
        ])),
        first_party: Some(first_party.is_some()),
        enabled: Some(enabled.is_some()),
    };
    state
        .core
        .change_client(&admin, &client_id, change, &client())
        .await
        .map_err(fail)?;
    leptos_axum::redirect("/admin/clients?done=changed");
    Ok(())
}

/// A new secret for a confidential client, shown once.
#[server(prefix = "/fn", endpoint = "admin_rotate_client_secret")]
pub async fn admin_rotate_client_secret(
    #[server(default)] client_id: String,
) -> Result<Option<crate::model::oidc::ClientCreated>, AppError> {
    use super::ssr::*;
    let state = state()?;
    let admin = require_admin()?;
    let created = state
        .core
        .rotate_client_secret(&admin, &client_id, &client())
        .await
        .map_err(fail)?;
    show_secret(created, "rotated").await
}

/// Removes a client.
#[server(prefix = "/fn", endpoint = "admin_delete_client")]
pub async fn admin_delete_client(#[server(default)] client_id: String) -> Result<(), AppError> {
    use super::ssr::*;
    let state = state()?;
    let admin = require_admin()?;
    state
        .core
        .delete_client(&admin, &client_id, &client())
        .await
        .map_err(fail)?;
    leptos_axum::redirect("/admin/clients?done=deleted");
    Ok(())
}
