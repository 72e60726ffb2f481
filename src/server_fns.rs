//! Server functions: the pages' thin adapters over the core. Each one works
//! as a plain form post (JavaScript off) and as a fetch (JavaScript on).

use crate::model::{AdminData, AppError, SessionItem, UserView};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// What every page needs to know about the site and the visitor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteInfo {
    pub user: Option<UserView>,
    pub signup_open: bool,
    pub setup_required: bool,
    pub password_min_length: usize,
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

    pub fn require_auth() -> Result<Arc<Authenticated>, AppError> {
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
        parts()
            .and_then(|p| p.extensions.get::<Client>().cloned())
            .unwrap_or_default()
    }

    pub async fn session() -> Result<Session, AppError> {
        leptos_axum::extract::<Session>()
            .await
            .map_err(|_| fail(core::Error::Internal("no session layer".into())))
    }

    /// Whether the browser posted a plain form (JavaScript off). Then errors
    /// travel back in a redirect to the form's page, and the status must stay
    /// a redirect.
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
            retry_after: match e {
                core::Error::RateLimited { retry_after } => Some(retry_after),
                _ => None,
            },
            message: public_message(&e),
        };
        reject(error)
    }

    /// Sets the status of `error` on the response (fetch calls only).
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
    let setup_required = state.core.setup_required().await.map_err(fail)?;
    Ok(SiteInfo {
        user: auth().map(|a| a.user.view()),
        signup_open: state.config.signup_open,
        setup_required,
        password_min_length: state.config.password_min_length,
    })
}

/// Creates the first admin and signs them in.
#[server(prefix = "/fn", endpoint = "setup")]
pub async fn setup(
    #[server(default)] username: String,
    #[server(default)] email: String,
    #[server(default)] password: String,
    #[server(default)] password_confirmation: String,
) -> Result<(), AppError> {
    use self::ssr::*;
    use crate::server::{auth as web_auth, core::accounts::NewAccount};
    let state = state()?;
    if password != password_confirmation {
        return Err(reject(AppError::for_field(
            400,
            "password_confirmation",
            "The passwords do not match.",
        )));
    }
    let client = client();
    let input = NewAccount {
        username: Some(username),
        email: Some(email),
        password,
    };
    let user = state.core.setup(input, &client).await.map_err(fail)?;
    let new = state
        .core
        .start_session(&user, false, &client)
        .await
        .map_err(fail)?;
    let session = session().await?;
    web_auth::establish(&state.core, &session, &new)
        .await
        .map_err(|e| fail(crate::server::core::Error::internal("session", e)))?;
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
    use self::ssr::*;
    use crate::server::core::accounts::NewAccount;
    let state = state()?;
    if password != password_confirmation {
        return Err(reject(AppError::for_field(
            400,
            "password_confirmation",
            "The passwords do not match.",
        )));
    }
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
    use self::ssr::*;
    use crate::server::auth as web_auth;
    let state = state()?;
    let remember = remember.is_some_and(|v| !v.is_empty() && v != "false" && v != "off");
    let (_user, new) = state
        .core
        .login(&username, &password, remember, &client())
        .await
        .map_err(|e| on_field(fail(e), "identifier", "username"))?;
    let session = session().await?;
    web_auth::establish(&state.core, &session, &new)
        .await
        .map_err(|e| fail(crate::server::core::Error::internal("session", e)))?;
    leptos_axum::redirect(&crate::model::safe_return(return_to.as_deref()));
    Ok(())
}

/// Signs out: the server-side session is deleted and the cookie cleared.
#[server(prefix = "/fn", endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    use self::ssr::*;
    let state = state()?;
    let session = session().await?;
    crate::server::auth::end(&state.core, &session, &client()).await;
    leptos_axum::redirect("/login");
    Ok(())
}

/// The signed-in user's live sessions, this one marked.
#[server(prefix = "/fn", endpoint = "my_sessions")]
pub async fn my_sessions() -> Result<Vec<SessionItem>, AppError> {
    use self::ssr::*;
    use crate::server::core::rfc3339;
    let state = state()?;
    let auth = require_auth()?;
    let current = auth.session_id();
    let sessions = state.core.sessions_of(&auth.user.id).await.map_err(fail)?;
    Ok(sessions
        .into_iter()
        .map(|s| SessionItem {
            current: Some(s.id.as_str()) == current,
            created_at: rfc3339(s.created_at),
            last_seen_at: rfc3339(s.last_seen_at),
            id: s.id,
            user_agent: s.user_agent,
            ip: s.ip,
        })
        .collect())
}

/// Changes the password; every other session ends and this one gets a new id.
#[server(prefix = "/fn", endpoint = "change_password")]
pub async fn change_password(
    #[server(default)] current_password: String,
    #[server(default)] new_password: String,
    #[server(default)] new_password_confirmation: String,
) -> Result<(), AppError> {
    use self::ssr::*;
    let state = state()?;
    let auth = require_auth()?;
    if new_password != new_password_confirmation {
        return Err(reject(AppError::for_field(
            400,
            "new_password_confirmation",
            "The passwords do not match.",
        )));
    }
    state
        .core
        .change_password(&auth, &current_password, &new_password, &client())
        .await
        .map_err(fail)?;
    let session = session().await?;
    crate::server::auth::rotate(&session)
        .await
        .map_err(|e| fail(crate::server::core::Error::internal("session", e)))?;
    leptos_axum::redirect("/account?changed=password");
    Ok(())
}

/// Ends one of the signed-in user's other sessions.
#[server(prefix = "/fn", endpoint = "revoke_session")]
pub async fn revoke_session(#[server(default)] id: String) -> Result<(), AppError> {
    use self::ssr::*;
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
    use self::ssr::*;
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

/// Rows of the audit log per page on `/admin`.
pub const AUDIT_PAGE: u32 = 50;

/// The users and a page of the audit log (filtered by user and event).
#[server(prefix = "/fn", endpoint = "admin_overview")]
pub async fn admin_overview(
    #[server(default)] user: Option<String>,
    #[server(default)] event: Option<String>,
    #[server(default)] before: Option<i64>,
) -> Result<AdminData, AppError> {
    use self::ssr::*;
    use crate::{
        model::{AdminUserItem, AuditItem},
        server::core::{audit::Event, rfc3339},
    };
    use std::collections::HashMap;
    let state = state()?;
    let admin = require_admin()?;
    let users = state.core.managed_users(&admin).await.map_err(fail)?;
    let names: HashMap<&str, &str> = users
        .iter()
        .map(|m| (m.user.id.as_str(), m.user.username.as_str()))
        .collect();
    let user = user.filter(|u| !u.is_empty());
    let event = event.filter(|e| Event::parse(e).is_some());
    let rows = state
        .core
        .audit_entries(&admin, user.as_deref(), event.as_deref(), before, AUDIT_PAGE + 1)
        .await
        .map_err(fail)?;
    let more = rows.len() > AUDIT_PAGE as usize;
    let rows = &rows[..rows.len().min(AUDIT_PAGE as usize)];
    Ok(AdminData {
        audit: rows
            .iter()
            .map(|r| AuditItem {
                id: r.id,
                at: rfc3339(r.at),
                event: r.event.clone(),
                username: r
                    .user_id
                    .as_deref()
                    .and_then(|id| names.get(id))
                    .map(|n| n.to_string()),
                user_id: r.user_id.clone(),
                ip: r.ip.clone(),
                detail: r.detail.clone(),
            })
            .collect(),
        older: if more { rows.last().map(|r| r.id) } else { None },
        events: Event::ALL.iter().map(|e| e.as_str().to_string()).collect(),
        users: users
            .into_iter()
            .map(|m| AdminUserItem {
                id: m.user.id.clone(),
                username: m.user.username.clone(),
                email: m.user.email.clone(),
                role: m.user.role,
                created_at: rfc3339(m.user.created_at),
                last_login_at: m.user.last_login_at.map(rfc3339),
                disabled: m.user.disabled,
                locked_until: m.locked_until.map(rfc3339),
            })
            .collect(),
    })
}

/// Changes a user's role (`admin` or `user`).
#[server(prefix = "/fn", endpoint = "admin_set_role")]
pub async fn admin_set_role(
    #[server(default)] id: String,
    #[server(default)] role: String,
) -> Result<(), AppError> {
    use self::ssr::*;
    use crate::server::core::admin::UserChange;
    let state = state()?;
    let admin = require_admin()?;
    let role = crate::model::Role::parse(&role)
        .ok_or_else(|| reject(AppError::new(400, "role must be \"admin\" or \"user\"")))?;
    let change = UserChange {
        role: Some(role),
        disabled: None,
    };
    state
        .core
        .change_user(&admin, &id, change, &client())
        .await
        .map_err(fail)?;
    leptos_axum::redirect("/admin?done=role");
    Ok(())
}

/// Disables (`disabled=true`) or enables a user. Disabling signs them out everywhere.
#[server(prefix = "/fn", endpoint = "admin_set_disabled")]
pub async fn admin_set_disabled(
    #[server(default)] id: String,
    #[server(default)] disabled: String,
) -> Result<(), AppError> {
    use self::ssr::*;
    use crate::server::core::admin::UserChange;
    let state = state()?;
    let admin = require_admin()?;
    let disabled = match disabled.as_str() {
        "true" => true,
        "false" => false,
        _ => return Err(reject(AppError::new(400, "disabled must be true or false"))),
    };
    let change = UserChange {
        role: None,
        disabled: Some(disabled),
    };
    state
        .core
        .change_user(&admin, &id, change, &client())
        .await
        .map_err(fail)?;
    leptos_axum::redirect(if disabled {
        "/admin?done=disabled"
    } else {
        "/admin?done=enabled"
    });
    Ok(())
}

/// Lifts a user's lockout.
#[server(prefix = "/fn", endpoint = "admin_unlock")]
pub async fn admin_unlock(#[server(default)] id: String) -> Result<(), AppError> {
    use self::ssr::*;
    let state = state()?;
    let admin = require_admin()?;
    state
        .core
        .unlock_user(&admin, &id, &client())
        .await
        .map_err(fail)?;
    leptos_axum::redirect("/admin?done=unlocked");
    Ok(())
}

/// Ends every session and token family of a user.
#[server(prefix = "/fn", endpoint = "admin_sign_out")]
pub async fn admin_sign_out(#[server(default)] id: String) -> Result<(), AppError> {
    use self::ssr::*;
    let state = state()?;
    let admin = require_admin()?;
    state
        .core
        .sign_out_user(&admin, &id, &client())
        .await
        .map_err(fail)?;
    leptos_axum::redirect("/admin?done=signed_out");
    Ok(())
}

/// Creates an account (signup open or closed).
#[server(prefix = "/fn", endpoint = "admin_create_user")]
pub async fn admin_create_user(
    #[server(default)] username: String,
    #[server(default)] email: String,
    #[server(default)] password: String,
    #[server(default)] role: String,
) -> Result<(), AppError> {
    use self::ssr::*;
    use crate::server::core::accounts::NewAccount;
    let state = state()?;
    let admin = require_admin()?;
    let role = crate::model::Role::parse(&role).unwrap_or(crate::model::Role::User);
    let input = NewAccount {
        username: Some(username),
        email: Some(email),
        password,
    };
    state
        .core
        .create_user(&admin, input, role, &client())
        .await
        .map_err(fail)?;
    leptos_axum::redirect("/admin?done=created");
    Ok(())
}
