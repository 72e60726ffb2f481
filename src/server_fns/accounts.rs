//! Setup, signup, login and logout, the password and the sessions.

use crate::model::{AppError, SessionPage};
use leptos::prelude::*;

/// Creates the first admin and signs them in.
#[server(prefix = "/fn", endpoint = "setup")]
pub async fn setup(
    #[server(default)] username: String,
    #[server(default)] email: String,
    #[server(default)] password: String,
    #[server(default)] password_confirmation: String,
) -> Result<(), AppError> {
    use super::ssr::*;
    use crate::server::{auth as web_auth, core::accounts::NewAccount};
    let state = state()?;
    same_passwords(&password, &password_confirmation, "password_confirmation").map_err(reject)?;
    let client = client();
    let input = NewAccount {
        username: Some(username),
        email: Some(email),
        password,
    };
    let user = state.core.setup(input, &client).await.map_err(fail)?;
    let session = session().await?;
    web_auth::sign_in(
        &state.core,
        &session,
        &user,
        false,
        &crate::server::core::sessions::Amr::password(),
        &client,
    )
    .await
    .map_err(fail)?;
    leptos_axum::redirect("/dashboard");
    Ok(())
}

/// Creates an account; the person then signs in.
#[server(prefix = "/fn", endpoint = "signup")]
pub async fn signup(
    #[server(default)] email: String,
    #[server(default)] username: String,
    #[server(default)] password: String,
    #[server(default)] password_confirmation: String,
) -> Result<(), AppError> {
    use super::ssr::*;
    use crate::server::core::accounts::NewAccount;
    let state = state()?;
    same_passwords(&password, &password_confirmation, "password_confirmation").map_err(reject)?;
    let input = NewAccount {
        username: Some(username),
        email: Some(email),
        password,
    };
    let user = state.core.signup(input, &client()).await.map_err(fail)?;
    leptos_axum::redirect(&format!(
        "/login?created={}",
        crate::model::encode_return(&user.username)
    ));
    Ok(())
}

/// Signs in with a username or email; then goes to `return_to` when it is a
/// local path, else to the dashboard.
#[server(prefix = "/fn", endpoint = "login")]
pub async fn login(
    #[server(default)] username: String,
    #[server(default)] password: String,
    #[server(default)] remember: Option<String>,
    #[server(default)] return_to: Option<String>,
) -> Result<(), AppError> {
    use super::ssr::*;
    use crate::server::{auth as web_auth, core::sessions::LoginOutcome};
    let state = state()?;
    let remember = remember.is_some_and(|v| !v.is_empty() && v != "false" && v != "off");
    let outcome = state
        .core
        .login(&username, &password, remember, &client())
        .await
        .map_err(|e| on_field(fail(e), "identifier", "username"))?;
    let session = session().await?;
    match outcome {
        LoginOutcome::SignedIn(_user, new) => {
            web_auth::establish(&state.core, &session, &new)
                .await
                .map_err(fail)?;
            leptos_axum::redirect(&state.config.safe_return(return_to.as_deref()));
        }
        LoginOutcome::SecondFactor(pending) => {
            web_auth::hold_pending(&session, &pending.token)
                .await
                .map_err(fail)?;
            let back = state.config.safe_return(return_to.as_deref());
            leptos_axum::redirect(&format!(
                "/login/mfa?return={}",
                crate::model::encode_return(&back)
            ));
        }
    }
    Ok(())
}

/// Signs out: the server-side session is deleted and the cookie cleared.
#[server(prefix = "/fn", endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    use super::ssr::*;
    let state = state()?;
    let session = session().await?;
    crate::server::auth::end(&state.core, &session, &client()).await;
    leptos_axum::redirect("/login");
    Ok(())
}

/// Sessions per page on `/account`.
#[cfg(feature = "ssr")]
const SESSIONS_PAGE: u32 = 20;

/// A page (from 1) of the signed-in user's live sessions, this one marked
/// and first.
#[server(prefix = "/fn", endpoint = "my_sessions")]
pub async fn my_sessions(#[server(default)] page: Option<u32>) -> Result<SessionPage, AppError> {
    use super::ssr::*;
    let state = state()?;
    let auth = require_auth()?;
    let current = auth.session_id();
    // Past the last page is an empty page, not an error (a link followed
    // after sessions ended); no page is so far that the offset overflows.
    let page = page.unwrap_or(1).clamp(1, u32::MAX / SESSIONS_PAGE);
    let list = state
        .core
        .sessions_of(&auth.user.id, current, SESSIONS_PAGE, (page - 1) * SESSIONS_PAGE)
        .await
        .map_err(fail)?;
    Ok(SessionPage {
        sessions: crate::server::views::sessions(list.sessions, current),
        total: list.total,
        page,
        per_page: SESSIONS_PAGE,
    })
}

/// Changes the password; every other session ends and this one gets a new id.
#[server(prefix = "/fn", endpoint = "change_password")]
pub async fn change_password(
    #[server(default)] current_password: String,
    #[server(default)] new_password: String,
    #[server(default)] new_password_confirmation: String,
) -> Result<(), AppError> {
    use super::ssr::*;
    let state = state()?;
    let auth = require_auth()?;
    same_passwords(
        &new_password,
        &new_password_confirmation,
        "new_password_confirmation",
    )
    .map_err(reject)?;
    state
        .core
        .change_password(&auth, &current_password, &new_password, &client())
        .await
        .map_err(fail)?;
    let session = session().await?;
    crate::server::auth::rotate(&session).await.map_err(fail)?;
    leptos_axum::redirect("/account?changed=password");
    Ok(())
}

/// Ends one of the signed-in user's other sessions.
#[server(prefix = "/fn", endpoint = "revoke_session")]
pub async fn revoke_session(#[server(default)] id: String) -> Result<(), AppError> {
    use super::ssr::*;
    let state = state()?;
    let auth = require_auth()?;
    state
        .core
        .revoke_session(&auth.user.id, &id, &client())
        .await
        .map_err(fail)?;
    if auth.session_id() == Some(id.as_str()) {
        let _ = session().await?.flush().await;
        leptos_axum::redirect("/login");
    } else {
        leptos_axum::redirect("/account?changed=revoked");
    }
    Ok(())
}

/// Ends every session of the signed-in user but this one, and their
/// refresh-token families.
#[server(prefix = "/fn", endpoint = "revoke_other_sessions")]
pub async fn revoke_other_sessions() -> Result<(), AppError> {
    use super::ssr::*;
    let state = state()?;
    let auth = require_auth()?;
    state
        .core
        .sign_out_elsewhere(&auth, &client())
        .await
        .map_err(fail)?;
    leptos_axum::redirect("/account?changed=others");
    Ok(())
}

/// The identity providers, each with whether (and when) it is linked to the
/// signed-in user's account.
#[server(prefix = "/fn", endpoint = "my_identities")]
pub async fn my_identities() -> Result<Vec<crate::model::IdentityItem>, AppError> {
    use super::ssr::*;
    use crate::server::core::rfc3339;
    let state = state()?;
    let auth = require_auth()?;
    if state.providers.all().next().is_none() {
        return Ok(Vec::new());
    }
    let linked = state.core.identities_of(&auth.user.id).await.map_err(fail)?;
    Ok(state
        .providers
        .all()
        .map(|p| {
            let found = linked.iter().find(|i| i.provider == p.id());
            crate::model::IdentityItem {
                provider: p.id().to_string(),
                name: p.name().to_string(),
                linked: found.is_some(),
                email: found.and_then(|i| i.email.clone()),
                linked_at: found.map(|i| rfc3339(i.created_at)),
                last_used_at: found.and_then(|i| i.last_used_at.map(rfc3339)),
            }
        })
        .collect())
}

/// Unlinks an identity provider from the signed-in user's account (never
/// the last way to sign in).
#[server(prefix = "/fn", endpoint = "unlink_provider")]
pub async fn unlink_provider(#[server(default)] provider: String) -> Result<(), AppError> {
    use super::ssr::*;
    let state = state()?;
    let auth = require_auth()?;
    // A provider taken out of the configuration is named by its id.
    let name = state
        .providers
        .get(&provider)
        .map_or_else(|| provider.clone(), |p| p.name().to_string());
    let ended = state
        .core
        .unlink_identity(&auth, &provider, &name, &client())
        .await
        .map_err(fail)?;
    leptos_axum::redirect(if ended > 0 {
        "/account?changed=unlinked_ended"
    } else {
        "/account?changed=unlinked"
    });
    Ok(())
}
