//! Second factors on the pages: the second step of a sign-in, the account's
//! security section (authenticator app, recovery codes, passkeys) and
//! re-authentication. Every step is a form post that works with JavaScript
//! off; passkeys themselves need it (`/passkeys.js` talks to the JSON API).

use crate::model::{AppError, SecurityView};
use leptos::prelude::*;

/// The session key of recovery codes made a moment ago, to show once.
#[cfg(feature = "ssr")]
const FRESH_CODES: &str = "fresh_recovery_codes";

#[cfg(feature = "ssr")]
mod ssr {
    use crate::server::core::mfa::Proof;

    /// A 6-digit code is from the app; anything else is a recovery code.
    pub(super) fn proof_from(code: &str) -> Proof {
        let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()) {
            Proof::Code(digits)
        } else {
            Proof::RecoveryCode(code.to_string())
        }
    }

    /// Keeps fresh recovery codes in the session until the page shows them.
    pub(super) async fn keep_fresh_codes(codes: Vec<String>) -> Result<(), crate::model::AppError> {
        let session = super::super::ssr::session().await?;
        crate::server::auth::keep(&session, super::FRESH_CODES, codes)
            .await
            .map_err(super::super::ssr::fail)
    }
}

/// The methods the sign-in waiting in this browser can be finished with;
/// 401 when none waits.
#[server(prefix = "/fn", endpoint = "mfa_step")]
pub async fn mfa_step() -> Result<Vec<String>, AppError> {
    use super::ssr::*;
    let state = state()?;
    let session = session().await?;
    let token = crate::server::auth::pending(&session)
        .await
        .ok_or_else(|| fail(crate::server::core::Error::SignInExpired))?;
    let methods = state.core.pending_methods(&token).await.map_err(fail)?;
    Ok(methods.iter().map(|m| m.as_str().to_string()).collect())
}

/// Finishes the waiting sign-in with a code from the app or a recovery code.
#[server(prefix = "/fn", endpoint = "verify_second_factor")]
pub async fn verify_second_factor(
    #[server(default)] code: String,
    #[server(default)] return_to: Option<String>,
) -> Result<(), AppError> {
    use self::ssr::*;
    use super::ssr::*;
    use crate::server::{auth as web_auth, core};
    let state = state()?;
    let session = session().await?;
    let token = web_auth::pending(&session)
        .await
        .ok_or_else(|| fail(core::Error::SignInExpired))?;
    if code.trim().is_empty() {
        return Err(reject(AppError::for_field(400, "code", "Enter the code.")));
    }
    let client = client();
    let (user, remember, amr) = state
        .core
        .complete_sign_in(&token, &proof_from(&code), &client)
        .await
        .map_err(fail)?;
    web_auth::sign_in(&state.core, &session, &user, remember, &amr, &client)
        .await
        .map_err(fail)?;
    leptos_axum::redirect(&state.config.safe_return(return_to.as_deref()));
    Ok(())
}

/// The security section of `/account`.
#[server(prefix = "/fn", endpoint = "my_security")]
pub async fn my_security() -> Result<SecurityView, AppError> {
    use super::ssr::*;
    use crate::model::{PasskeyItem, TotpSetup};
    let state = state()?;
    let auth = require_enrolling()?;
    let status = state.core.mfa_status(&auth.user.id).await.map_err(fail)?;
    let setup = state.core.pending_totp(&auth.user).await.map_err(fail)?;
    let passkeys = state.core.passkeys_of(&auth.user.id).await.map_err(fail)?;
    Ok(SecurityView {
        totp: status.totp,
        totp_setup: setup.map(TotpSetup::from),
        passkeys: passkeys.into_iter().map(PasskeyItem::from).collect(),
        recovery_codes_left: status.recovery_codes_left,
        passkeys_available: state.config.relying_party.is_some(),
        review_after_reset: status.review_after_reset,
    })
}

/// Starts setting up an authenticator app (the page then shows its QR code).
#[server(prefix = "/fn", endpoint = "start_totp")]
pub async fn start_totp() -> Result<(), AppError> {
    use super::ssr::*;
    let state = state()?;
    let auth = require_enrolling()?;
    state.core.start_totp(&auth).await.map_err(fail)?;
    leptos_axum::redirect("/account?totp=setup#security");
    Ok(())
}

/// Confirms the authenticator app with a code; the recovery codes are shown next.
#[server(prefix = "/fn", endpoint = "confirm_totp")]
pub async fn confirm_totp(#[server(default)] totp_code: String) -> Result<(), AppError> {
    use self::ssr::*;
    use super::ssr::*;
    let state = state()?;
    let auth = require_enrolling()?;
    let codes = state
        .core
        .confirm_totp(&auth, &totp_code, &client())
        .await
        .map_err(|e| on_field(fail(e), "code", "totp_code"))?;
    keep_fresh_codes(codes).await?;
    leptos_axum::redirect("/account/recovery-codes");
    Ok(())
}

/// Turns the authenticator app off.
#[server(prefix = "/fn", endpoint = "disable_totp")]
pub async fn disable_totp(#[server(default)] totp_password: String) -> Result<(), AppError> {
    use super::ssr::*;
    let state = state()?;
    let auth = require_auth()?;
    state
        .core
        .disable_totp(&auth, &totp_password, &client())
        .await
        .map_err(|e| on_field(fail(e), "current_password", "totp_password"))?;
    leptos_axum::redirect("/account?changed=totp_off#security");
    Ok(())
}

/// New recovery codes (shown next); the old ones stop working.
#[server(prefix = "/fn", endpoint = "regenerate_recovery_codes")]
pub async fn regenerate_recovery_codes(#[server(default)] codes_password: String) -> Result<(), AppError> {
    use self::ssr::*;
    use super::ssr::*;
    let state = state()?;
    let auth = require_auth()?;
    let codes = state
        .core
        .regenerate_recovery_codes(&auth, &codes_password, &client())
        .await
        .map_err(|e| on_field(fail(e), "current_password", "codes_password"))?;
    keep_fresh_codes(codes).await?;
    leptos_axum::redirect("/account/recovery-codes");
    Ok(())
}

/// The recovery codes made a moment ago, once: they leave the session now.
#[server(prefix = "/fn", endpoint = "take_recovery_codes")]
pub async fn take_recovery_codes() -> Result<Vec<String>, AppError> {
    use super::ssr::*;
    require_enrolling()?;
    let session = session().await?;
    let codes: Option<Vec<String>> = crate::server::auth::take(&session, FRESH_CODES)
        .await
        .map_err(fail)?;
    Ok(codes.unwrap_or_default())
}

/// Renames one of the signed-in user's passkeys.
#[server(prefix = "/fn", endpoint = "rename_passkey")]
pub async fn rename_passkey(
    #[server(default)] id: String,
    #[server(default)] name: String,
) -> Result<(), AppError> {
    use super::ssr::*;
    let state = state()?;
    let auth = require_auth()?;
    state.core.rename_passkey(&auth, &id, &name).await.map_err(fail)?;
    leptos_axum::redirect("/account?changed=passkey_renamed#security");
    Ok(())
}

/// Deletes one of the signed-in user's passkeys (the last second factor
/// only with the password).
#[server(prefix = "/fn", endpoint = "delete_passkey")]
pub async fn delete_passkey(
    #[server(default)] id: String,
    #[server(default)] passkey_password: Option<String>,
) -> Result<(), AppError> {
    use super::ssr::*;
    let state = state()?;
    let auth = require_auth()?;
    let password = passkey_password.filter(|p| !p.is_empty());
    state
        .core
        .delete_passkey(&auth, &id, password.as_deref(), &client())
        .await
        .map_err(fail)?;
    leptos_axum::redirect("/account?changed=passkey_deleted#security");
    Ok(())
}

/// Removes every second factor of the signed-in user (after a reset: what
/// an intruder may have added); the password is asked again.
#[server(prefix = "/fn", endpoint = "remove_all_factors")]
pub async fn remove_all_factors(#[server(default)] factors_password: String) -> Result<(), AppError> {
    use super::ssr::*;
    let state = state()?;
    let auth = require_auth()?;
    state
        .core
        .remove_all_factors(&auth, &factors_password, &client())
        .await
        .map_err(fail)?;
    leptos_axum::redirect("/account?changed=factors_removed#security");
    Ok(())
}

/// The owner checked their factors after a reset and keeps them.
#[server(prefix = "/fn", endpoint = "keep_factors")]
pub async fn keep_factors(#[server(default)] keep_password: String) -> Result<(), AppError> {
    use super::ssr::*;
    let state = state()?;
    let auth = require_auth()?;
    state
        .core
        .keep_factors(&auth, &keep_password, &client())
        .await
        .map_err(fail)?;
    leptos_axum::redirect("/account?changed=factors_kept#security");
    Ok(())
}

/// Proves who the signed-in user is again (password, or a code), then goes on
/// to `return_to`.
#[server(prefix = "/fn", endpoint = "reauthenticate")]
pub async fn reauthenticate(
    #[server(default)] password: String,
    #[server(default)] code: String,
    #[server(default)] return_to: Option<String>,
) -> Result<(), AppError> {
    use self::ssr::*;
    use super::ssr::*;
    let state = state()?;
    let auth = require_enrolling()?;
    let password = Some(password.as_str()).filter(|p| !p.is_empty());
    let proof = Some(code.trim()).filter(|c| !c.is_empty()).map(proof_from);
    state
        .core
        .reauthenticate(&auth, password, proof, &client())
        .await
        .map_err(fail)?;
    leptos_axum::redirect(&state.config.safe_return(return_to.as_deref()));
    Ok(())
}
