//! The admin area: users, invitations, undelivered mail and the audit log.

use crate::model::{AdminData, AppError};
use leptos::prelude::*;

/// Rows of the audit log per page on `/admin`.
#[cfg(feature = "ssr")]
const AUDIT_PAGE: u32 = 50;

/// Users per page on `/admin`.
#[cfg(feature = "ssr")]
const USERS_PAGE: u32 = 100;

/// A page of users (searched and filtered) and a page of the audit log
/// (filtered by user and event).
#[server(prefix = "/fn", endpoint = "admin_overview")]
#[allow(clippy::too_many_arguments)]
pub async fn admin_overview(
    #[server(default)] q: Option<String>,
    #[server(default)] role: Option<String>,
    #[server(default)] status: Option<String>,
    #[server(default)] after: Option<String>,
    #[server(default)] user: Option<String>,
    #[server(default)] event: Option<String>,
    #[server(default)] before: Option<i64>,
) -> Result<AdminData, AppError> {
    use super::ssr::*;
    use crate::{
        model::{AdminUserItem, InvitationItem, MailItem, Role},
        server::core::{admin::UserQuery, audit::Event},
    };
    let state = state()?;
    let admin = require_admin()?;
    let nonempty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
    let status = nonempty(status);
    let query = UserQuery {
        search: nonempty(q),
        role: nonempty(role).as_deref().and_then(Role::parse),
        disabled: match status.as_deref() {
            Some("active") => Some(false),
            Some("disabled") => Some(true),
            _ => None,
        },
        locked: (status.as_deref() == Some("locked")).then_some(true),
        email_verified: (status.as_deref() == Some("unverified")).then_some(false),
        after: nonempty(after),
        // One more than the page: whether there is a next one.
        limit: USERS_PAGE + 1,
    };
    let mut users = state.core.managed_users(&admin, &query).await.map_err(fail)?;
    let users_next = if users.len() > USERS_PAGE as usize {
        users.truncate(USERS_PAGE as usize);
        users.last().map(|m| m.user.id.clone())
    } else {
        None
    };
    // The audit log's user filter takes a username (or an email, or an id).
    let (user, no_such_user) = match nonempty(user) {
        Some(name) => {
            let id = state.core.find_user_id(&admin, name.trim()).await.map_err(fail)?;
            let missing = id.is_none();
            (id, missing)
        }
        None => (None, false),
    };
    let event = event.filter(|e| Event::parse(e).is_some());
    // No such user: no rows, rather than everyone's.
    let rows = if no_such_user {
        Vec::new()
    } else {
        state
            .core
            .audit_entries(&admin, user.as_deref(), event.as_deref(), before, AUDIT_PAGE + 1)
            .await
            .map_err(fail)?
    };
    let ids: Vec<String> = rows.iter().filter_map(|r| r.user_id.clone()).collect();
    let names = state.core.usernames(&admin, &ids).await.map_err(fail)?;
    let (invitations, mail) = if state.core.mail_enabled() {
        (
            state.core.invitations(&admin).await.map_err(fail)?,
            state.core.undelivered_mail(&admin).await.map_err(fail)?,
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let more = rows.len() > AUDIT_PAGE as usize;
    let rows = &rows[..rows.len().min(AUDIT_PAGE as usize)];
    Ok(AdminData {
        audit: crate::server::views::audit(rows.to_vec(), &names),
        older: if more { rows.last().map(|r| r.id) } else { None },
        events: Event::ALL.iter().map(|e| e.as_str().to_string()).collect(),
        invitations: invitations.into_iter().map(InvitationItem::from).collect(),
        mail: mail.into_iter().map(MailItem::from).collect(),
        users_next,
        users: users.into_iter().map(AdminUserItem::from).collect(),
    })
}

/// Changes a user's role (`admin` or `user`).
#[server(prefix = "/fn", endpoint = "admin_set_role")]
pub async fn admin_set_role(
    #[server(default)] id: String,
    #[server(default)] role: String,
) -> Result<(), AppError> {
    use super::ssr::*;
    use crate::server::core::admin::UserChange;
    let state = state()?;
    let admin = require_admin()?;
    let role = crate::model::Role::parse(&role)
        .ok_or_else(|| reject(AppError::new(400, "role must be \"admin\" or \"user\"")))?;
    let change = UserChange {
        role: Some(role),
        disabled: None,
    };
    let user = state
        .core
        .change_user(&admin, &id, change, &client())
        .await
        .map_err(fail)?;
    leptos_axum::redirect(&admin_done("role", &user.user.username));
    Ok(())
}

/// Disables (`disabled=true`) or enables a user. Disabling signs them out everywhere.
#[server(prefix = "/fn", endpoint = "admin_set_disabled")]
pub async fn admin_set_disabled(
    #[server(default)] id: String,
    #[server(default)] disabled: String,
) -> Result<(), AppError> {
    use super::ssr::*;
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
    let user = state
        .core
        .change_user(&admin, &id, change, &client())
        .await
        .map_err(fail)?;
    let done = if disabled { "disabled" } else { "enabled" };
    leptos_axum::redirect(&admin_done(done, &user.user.username));
    Ok(())
}

/// Lifts a user's lockout.
#[server(prefix = "/fn", endpoint = "admin_unlock")]
pub async fn admin_unlock(#[server(default)] id: String) -> Result<(), AppError> {
    use super::ssr::*;
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
    use super::ssr::*;
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
    use super::ssr::*;
    use crate::server::core::accounts::NewAccount;
    let state = state()?;
    let admin = require_admin()?;
    let role = crate::model::Role::parse(&role).unwrap_or(crate::model::Role::User);
    let input = NewAccount {
        username: Some(username),
        email: Some(email),
        password,
    };
    let user = state
        .core
        .create_user(&admin, input, role, &client())
        .await
        .map_err(fail)?;
    leptos_axum::redirect(&admin_done("created", &user.username));
    Ok(())
}

/// Invites an address with a role (mails the link).
#[server(prefix = "/fn", endpoint = "admin_invite")]
pub async fn admin_invite(
    #[server(default)] invite_email: String,
    #[server(default)] invite_role: String,
) -> Result<(), AppError> {
    use super::ssr::*;
    let state = state()?;
    let admin = require_admin()?;
    let role = crate::model::Role::parse(&invite_role).unwrap_or(crate::model::Role::User);
    state
        .core
        .invite(&admin, &invite_email, role, &client())
        .await
        .map_err(|e| on_field(fail(e), "email", "invite_email"))?;
    leptos_axum::redirect("/admin?done=invited");
    Ok(())
}

/// Revokes a pending invitation.
#[server(prefix = "/fn", endpoint = "admin_revoke_invitation")]
pub async fn admin_revoke_invitation(#[server(default)] id: String) -> Result<(), AppError> {
    use super::ssr::*;
    let state = state()?;
    let admin = require_admin()?;
    state
        .core
        .revoke_invitation(&admin, &id, &client())
        .await
        .map_err(fail)?;
    leptos_axum::redirect("/admin?done=invitation_revoked");
    Ok(())
}

/// Queues a failed message again.
#[server(prefix = "/fn", endpoint = "admin_retry_mail")]
pub async fn admin_retry_mail(#[server(default)] id: String) -> Result<(), AppError> {
    use super::ssr::*;
    use crate::server::core::audit::Event;
    let state = state()?;
    let admin = require_admin()?;
    state.core.retry_mail(&admin, &id).await.map_err(fail)?;
    let detail = format!("message {id} queued again by {}", admin.user.username);
    state
        .core
        .audit(Event::MailRetried, None, &client(), Some(&detail))
        .await;
    leptos_axum::redirect("/admin?done=mail_retried");
    Ok(())
}

/// Removes every second factor of a user who lost them; their sessions end.
#[server(prefix = "/fn", endpoint = "admin_reset_mfa")]
pub async fn admin_reset_mfa(#[server(default)] id: String) -> Result<(), AppError> {
    use super::ssr::*;
    let state = state()?;
    let admin = require_admin()?;
    state
        .core
        .reset_factors(&admin, &id, &client())
        .await
        .map_err(fail)?;
    leptos_axum::redirect("/admin?done=mfa_reset");
    Ok(())
}

/// Back to `/admin` after an action, saying what it did, with the list
/// showing the user it was done to (whatever page they are on).
#[cfg(feature = "ssr")]
fn admin_done(done: &str, username: &str) -> String {
    format!("/admin?done={done}&q={}", crate::model::encode_return(username))
}
