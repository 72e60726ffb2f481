//! The flows that need mail: forgot and reset password, verify and change
//! the email address, accept an invitation. The landing pages of mail links
//! never spend a link on a GET: the person confirms with a button (a form
//! post that works with JavaScript off).

use crate::model::{AppError, InvitationItem, LinkView};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
mod ssr {

    /// A page's own address with its token, for errors of plain form posts.
    pub(super) fn page_with_token(page: &str, token: &str) -> String {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token)
            .finish();
        format!("{page}?{query}")
    }
}

/// What a reset, verification or email-change link is about, without
/// spending it; 400 `invalid or expired link` otherwise. `purpose` is
/// `reset`, `verify` or `confirm`.
#[server(prefix = "/fn", endpoint = "link_details")]
pub async fn link_details(
    #[server(default)] purpose: String,
    #[server(default)] token: String,
) -> Result<LinkView, AppError> {
    use super::ssr::*;
    use crate::server::core::{email::LinkPurpose, rfc3339};
    let state = state()?;
    let purpose = match purpose.as_str() {
        "reset" => LinkPurpose::ResetPassword,
        "verify" => LinkPurpose::VerifyEmail,
        "confirm" => LinkPurpose::ConfirmEmail,
        _ => return Err(reject(AppError::new(400, "unknown link purpose"))),
    };
    let info = state.core.link_info(purpose, &token).await.map_err(fail)?;
    Ok(LinkView {
        email: info.email,
        username: info.username,
        expires_at: rfc3339(info.expires_at),
    })
}

/// The pending invitation behind a link, without using it.
#[server(prefix = "/fn", endpoint = "invitation_details")]
pub async fn invitation_details(#[server(default)] token: String) -> Result<InvitationItem, AppError> {
    use super::ssr::*;
    let state = state()?;
    let invitation = state.core.invitation_for(&token).await.map_err(fail)?;
    // The link's holder sees what the invitation is, not its id.
    Ok(InvitationItem {
        id: String::new(),
        ..InvitationItem::from(invitation)
    })
}

/// Mails a reset link if the address has an account; the answer is the same
/// either way.
#[server(prefix = "/fn", endpoint = "forgot_password")]
pub async fn forgot_password(#[server(default)] email: String) -> Result<(), AppError> {
    use super::ssr::*;
    let state = state()?;
    state
        .core
        .forgot_password(&email, &client())
        .await
        .map_err(fail)?;
    leptos_axum::redirect("/forgot-password?sent=1");
    Ok(())
}

/// Sets a new password with a reset link; then the person signs in.
#[server(prefix = "/fn", endpoint = "reset_password")]
pub async fn reset_password(
    #[server(default)] token: String,
    #[server(default)] new_password: String,
    #[server(default)] new_password_confirmation: String,
) -> Result<(), AppError> {
    use self::ssr::*;
    use super::ssr::*;
    let page = page_with_token("/reset-password", &token);
    let back = |e: AppError| back_to(e, "/fn/reset_password", &page);
    let state = state().map_err(back)?;
    same_passwords(
        &new_password,
        &new_password_confirmation,
        "new_password_confirmation",
    )
    .map_err(|e| back(reject(e)))?;
    state
        .core
        .reset_with_token(&token, &new_password, &client())
        .await
        .map_err(|e| back(fail(e)))?;
    // Any session this browser had ended with the reset.
    if let Ok(session) = session().await {
        let _ = session.flush().await;
    }
    leptos_axum::redirect("/login?reset=1");
    Ok(())
}

/// Marks the address verified with a verification link.
#[server(prefix = "/fn", endpoint = "verify_email")]
pub async fn verify_email(#[server(default)] token: String) -> Result<(), AppError> {
    use self::ssr::*;
    use super::ssr::*;
    let page = page_with_token("/verify-email", &token);
    let state = state()?;
    state
        .core
        .verify_email(&token, &client())
        .await
        .map_err(|e| back_to(fail(e), "/fn/verify_email", &page))?;
    leptos_axum::redirect(if auth().is_some() {
        "/account?changed=verified"
    } else {
        "/login?verified=1"
    });
    Ok(())
}

/// Applies an email change with its confirmation link.
#[server(prefix = "/fn", endpoint = "confirm_email")]
pub async fn confirm_email(#[server(default)] token: String) -> Result<(), AppError> {
    use self::ssr::*;
    use super::ssr::*;
    let page = page_with_token("/confirm-email", &token);
    let state = state()?;
    state
        .core
        .confirm_email_change(&token, &client())
        .await
        .map_err(|e| back_to(fail(e), "/fn/confirm_email", &page))?;
    leptos_axum::redirect(if auth().is_some() {
        "/account?changed=email"
    } else {
        "/login?email_changed=1"
    });
    Ok(())
}

/// Accepts an invitation and signs the new account in.
#[server(prefix = "/fn", endpoint = "accept_invitation")]
pub async fn accept_invitation(
    #[server(default)] token: String,
    #[server(default)] username: String,
    #[server(default)] password: String,
    #[server(default)] password_confirmation: String,
) -> Result<(), AppError> {
    use self::ssr::*;
    use super::ssr::*;
    use crate::server::auth as web_auth;
    let page = page_with_token("/invite", &token);
    let back = |e: AppError| back_to(e, "/fn/accept_invitation", &page);
    let state = state().map_err(back)?;
    same_passwords(&password, &password_confirmation, "password_confirmation")
        .map_err(|e| back(reject(e)))?;
    let client = client();
    let user = state
        .core
        .accept_invitation(&token, &password, Some(&username), &client)
        .await
        .map_err(|e| back(fail(e)))?;
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
    .map_err(|e| back(fail(e)))?;
    leptos_axum::redirect("/dashboard?welcome=1");
    Ok(())
}

/// Mails the signed-in user a new verification link.
#[server(prefix = "/fn", endpoint = "resend_verification")]
pub async fn resend_verification() -> Result<(), AppError> {
    use super::ssr::*;
    let state = state()?;
    let auth = require_auth()?;
    state
        .core
        .resend_verification(&auth, &client())
        .await
        .map_err(fail)?;
    leptos_axum::redirect("/account?changed=verification_sent");
    Ok(())
}

/// Starts an email change (the current password is checked).
#[server(prefix = "/fn", endpoint = "change_email")]
pub async fn change_email(
    #[server(default)] new_email: String,
    #[server(default)] password: String,
) -> Result<(), AppError> {
    use super::ssr::*;
    let state = state()?;
    let auth = require_auth()?;
    state
        .core
        .request_email_change(&auth, &new_email, &password, &client())
        .await
        .map_err(|e| on_field(fail(e), "current_password", "password"))?;
    leptos_axum::redirect("/account?changed=email_requested");
    Ok(())
}
