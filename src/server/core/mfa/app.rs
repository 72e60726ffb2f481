//! The authenticator app (TOTP): enrolment, confirmation with a first
//! code, turning it off. Its secret is sealed at rest (see `core::sealing`).

use super::recovery::{new_recovery_code, recovery_hash};
use super::*;

/// A TOTP enrolment to confirm: what authenticator apps need.
#[derive(Clone)]
pub struct TotpEnrolment {
    pub secret: String,
    pub otpauth_uri: String,
    /// The URI as a QR code (`data:image/svg+xml;base64,...`).
    pub qr_code: String,
}

/// The associated data a TOTP secret is sealed with: it opens in its own
/// user's row only.
pub(crate) fn totp_context(user_id: &str) -> String {
    format!("totp:{user_id}")
}

impl Core {
    /// Starts TOTP enrolment: a new secret, waiting for a code to confirm it.
    pub async fn start_totp(&self, auth: &Authenticated) -> Result<TotpEnrolment> {
        self.require_recent_auth(auth)?;
        let secret = totp::new_secret();
        let stored = self.seal(&secret, &totp_context(&auth.user.id))?;
        if !factors::start_totp(&self.db, &auth.user.id, &stored, now()).await? {
            return Err(Error::StateConflict(
                "an authenticator app is set up already: turn it off first to set up another".into(),
            ));
        }
        let account = auth
            .user
            .email
            .clone()
            .unwrap_or_else(|| auth.user.username.clone());
        let otpauth_uri = totp::otpauth_uri(ISSUER, &account, &secret);
        let qr_code = totp::qr_data_url(&otpauth_uri).unwrap_or_default();
        Ok(TotpEnrolment {
            secret,
            otpauth_uri,
            qr_code,
        })
    }

    /// The enrolment started and not confirmed yet, to show again.
    pub async fn pending_totp(&self, user: &User) -> Result<Option<TotpEnrolment>> {
        let Some(row) = factors::totp(&self.db, &user.id)
            .await?
            .filter(|t| t.confirmed_at.is_none())
        else {
            return Ok(None);
        };
        let secret = self.unseal(&row.secret, &totp_context(&user.id))?;
        let account = user.email.clone().unwrap_or_else(|| user.username.clone());
        let otpauth_uri = totp::otpauth_uri(ISSUER, &account, &secret);
        Ok(Some(TotpEnrolment {
            qr_code: totp::qr_data_url(&otpauth_uri).unwrap_or_default(),
            secret,
            otpauth_uri,
        }))
    }

    /// Confirms TOTP enrolment with a code from the app; returns ten new
    /// recovery codes (shown once).
    pub async fn confirm_totp(
        &self,
        auth: &Authenticated,
        code: &str,
        client: &Client,
    ) -> Result<Vec<String>> {
        self.require_recent_auth(auth)?;
        let user_id = &auth.user.id;
        let row = factors::totp(&self.db, user_id)
            .await?
            .filter(|t| t.confirmed_at.is_none())
            .ok_or_else(|| Error::StateConflict("start setting up an authenticator app first".into()))?;
        let secret = self.unseal(&row.secret, &totp_context(user_id))?;
        let Some(step) = totp::matching_step(&secret, code, now()) else {
            return Err(wrong_code());
        };
        let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
        let hashes: Vec<String> = codes.iter().map(|c| recovery_hash(c)).collect();
        let now = now();
        let mut tx = self.db.begin().await?;
        if !factors::confirm_totp(&mut tx, user_id, step, now).await? {
            return Err(Error::StateConflict(
                "start setting up an authenticator app first".into(),
            ));
        }
        factors::replace_recovery_codes(&mut tx, user_id, &hashes, now).await?;
        factors::refresh_mfa_flag(&mut tx, user_id).await?;
        let mailed = self
            .queue_factor_notice(&mut tx, &auth.user, FactorChange::TotpAdded)
            .await?;
        tx.commit().await?;
        self.wake_mailer_if(mailed);
        self.audit(
            Event::MfaEnabled,
            Some(user_id),
            client,
            Some("authenticator app"),
        )
        .await;
        Ok(codes)
    }

    /// Turns TOTP off (the password is asked again). Recovery codes go with
    /// it unless a passkey is left.
    pub async fn disable_totp(&self, auth: &Authenticated, password: &str, client: &Client) -> Result<()> {
        self.require_recent_auth(auth)?;
        self.check_current_password(&auth.user, password, client).await?;
        let user_id = &auth.user.id;
        let mut tx = self.db.begin().await?;
        factors::lock_user(&mut tx, user_id).await?;
        if !factors::delete_totp(&mut tx, user_id).await? {
            return Err(Error::NotFound("no authenticator app is set up".into()));
        }
        if !factors::refresh_mfa_flag(&mut tx, user_id).await? {
            factors::delete_recovery_codes(&mut tx, user_id).await?;
        }
        let mailed = self
            .queue_factor_notice(&mut tx, &auth.user, FactorChange::TotpRemoved)
            .await?;
        tx.commit().await?;
        self.wake_mailer_if(mailed);
        self.audit(
            Event::MfaDisabled,
            Some(user_id),
            client,
            Some("authenticator app"),
        )
        .await;
        Ok(())
    }
}
