//! Second factors and passkeys: TOTP, recovery codes, WebAuthn passkeys (as
//! a second factor and as a sign-in of their own), the sign-in that waits for
//! a second factor, re-authentication for sensitive changes, and the policy
//! of whom a second factor is required.
//!
//! Every challenge (a WebAuthn ceremony's state, a sign-in waiting for its
//! second factor) lives on the server, in `auth_challenges`, under the
//! SHA-256 hash of a random token the client holds; it is single use and
//! expires.

use super::{
    admin::require_admin,
    audit::Event,
    limits, now, sealing,
    sessions::{Amr, Authenticated, Credential},
    tokens::{hash_token, random_token},
    totp, validate, Client, Core, Error, Result, User,
};
use crate::{
    model::Role,
    server::{
        config::MfaPolicy,
        db::{factors, sessions, tokens, Tx},
    },
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use webauthn_rs::prelude::{
    CreationChallengeResponse, DiscoverableAuthentication, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse, Url,
    Uuid, Webauthn, WebauthnBuilder,
};

mod app;
mod passkeys;
mod pending;
mod recovery;

pub(crate) use app::totp_context;
pub use app::TotpEnrolment;
pub use passkeys::{webauthn, Ceremony, PasskeyInfo, PasskeyOutcome};
pub use pending::{PendingSignIn, PENDING_SECONDS};
pub use recovery::RECOVERY_CODES;

const ISSUER: &str = "Gatehouse";

/// A second factor a user can answer with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Totp,
    Recovery,
    Passkey,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Totp => "totp",
            Method::Recovery => "recovery",
            Method::Passkey => "passkey",
        }
    }
}

/// What a user answers the second step with.
#[derive(Clone, Debug)]
pub enum Proof {
    Code(String),
    RecoveryCode(String),
}

/// A user's factors, as `GET /users/me/mfa` and `/account` show them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MfaStatus {
    pub totp: bool,
    pub passkeys: usize,
    pub recovery_codes_left: u32,
    /// The password was reset since the owner last looked at these: an
    /// intruder who had the password may have added one.
    pub review_after_reset: bool,
}

/// A change of a user's second factors, as the notice mailed about it says.
#[derive(Clone, Copy, Debug)]
pub(crate) enum FactorChange<'a> {
    TotpAdded,
    TotpRemoved,
    RecoveryCodes,
    PasskeyAdded(&'a str),
    PasskeyRemoved(&'a str),
    /// The owner removed every factor at once.
    AllRemoved,
    /// An admin reset them.
    ResetByAdmin,
    /// An account at an identity provider (by its name) now signs in.
    IdentityLinked(&'a str),
    /// It no longer does.
    IdentityUnlinked(&'a str),
}

fn wrong_code() -> Error {
    Error::WrongPassword {
        field: "code",
        message: "invalid code".into(),
    }
}

impl Core {
    fn seal(&self, plain: &str, context: &str) -> Result<String> {
        sealing::seal(self.sealer.as_ref(), plain, context).map_err(|e| Error::internal("sealing", e))
    }

    fn unseal(&self, stored: &str, context: &str) -> Result<String> {
        sealing::open(self.sealer.as_ref(), stored, context)
            .map_err(|e| Error::internal("a sealed secret", e))
    }

    /// Warns at start-up about second factors that cannot work here: a policy
    /// that requires one where passkeys are off leaves only the app, and
    /// accounts whose only factor is a passkey cannot sign in at all.
    pub async fn warn_about_factors(&self) {
        if self.webauthn.is_some() {
            return;
        }
        if self.config.mfa != MfaPolicy::Optional {
            tracing::warn!(
                "GATEHOUSE_MFA requires a second factor, and passkeys cannot work at this address (GATEHOUSE_PUBLIC_URL must name a host, not an IP address): an authenticator app is the only factor users can set up"
            );
        }
        match factors::passkey_only_accounts(&self.db).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                accounts = n,
                "accounts whose only second factor is a passkey cannot sign in here: passkeys do not work at this address (GATEHOUSE_PUBLIC_URL must name a host, not an IP address)"
            ),
            Err(e) => tracing::warn!(error = %e, "could not count the accounts that have only passkeys"),
        }
    }

    /// Whether the policy (`GATEHOUSE_MFA`) requires a second factor of `user`.
    pub fn mfa_required_of(&self, user: &User) -> bool {
        match self.config.mfa {
            MfaPolicy::Optional => false,
            MfaPolicy::Admins => user.role == Role::Admin,
            MfaPolicy::Everyone => true,
        }
    }

    /// The methods `user` can answer a second step with.
    async fn methods_of(&self, user_id: &str) -> Result<Vec<Method>> {
        let status = self.mfa_status(user_id).await?;
        let mut methods = Vec::new();
        if status.totp {
            methods.push(Method::Totp);
        }
        if status.recovery_codes_left > 0 {
            methods.push(Method::Recovery);
        }
        if status.passkeys > 0 && self.webauthn.is_some() {
            methods.push(Method::Passkey);
        }
        Ok(methods)
    }

    pub async fn mfa_status(&self, user_id: &str) -> Result<MfaStatus> {
        let totp = factors::totp(&self.db, user_id)
            .await?
            .is_some_and(|t| t.confirmed_at.is_some());
        let passkeys = factors::passkeys_of(&self.db, user_id).await?.len();
        let left = factors::recovery_codes_left(&self.db, user_id).await?;
        let review = factors::factors_review(&self.db, user_id).await?;
        Ok(MfaStatus {
            review_after_reset: review && (totp || passkeys > 0 || left > 0),
            totp,
            passkeys,
            recovery_codes_left: left.clamp(0, i64::from(u32::MAX)) as u32,
        })
    }

    /// `ReauthRequired` unless `auth` signed in (or re-authenticated) within
    /// `GATEHOUSE_REAUTH_MINUTES`. Every change of the password, the email,
    /// the factors, and every admin write asks this first.
    pub fn require_recent_auth(&self, auth: &Authenticated) -> Result<()> {
        let window = self.config.reauth_window.as_secs() as i64;
        if super::now() - auth.auth_at > window {
            return Err(Error::ReauthRequired);
        }
        Ok(())
    }

    /// Records a re-authentication, and how it was made (`amr`): the ID
    /// tokens of sign-ins that asked for it (prompt=login, max_age) say so.
    pub(crate) async fn mark_reauthenticated(
        &self,
        auth: &Authenticated,
        amr: &super::sessions::Amr,
    ) -> Result<()> {
        self.mark_authenticated(auth, amr).await
    }

    async fn mark_authenticated(&self, auth: &Authenticated, amr: &super::sessions::Amr) -> Result<()> {
        let now = super::now();
        match &auth.credential {
            Credential::Session(id) => sessions::set_auth_at(&self.db, id, now, &amr.stored()).await?,
            Credential::Bearer { family } => tokens::set_auth_at(&self.db, family, now).await?,
        }
        Ok(())
    }

    /// Re-authenticates the signed-in user: the password, and for an account
    /// with a second factor a TOTP or recovery code too (each counted and
    /// locked like a sign-in).
    pub async fn reauthenticate(
        &self,
        auth: &Authenticated,
        password: Option<&str>,
        proof: Option<Proof>,
        client: &Client,
    ) -> Result<()> {
        // An account with a second factor proves both again (or signs in
        // with a passkey, which is both): a stolen session and a password
        // seen over someone's shoulder are not enough.
        let both = auth.user.mfa_enabled;
        match (password, &proof) {
            (None, _) => return Err(Error::invalid("password", "Enter your password.")),
            (Some(_), None) if both => {
                return Err(Error::invalid(
                    "code",
                    "Enter a code from your app (or a recovery code) too.",
                ))
            }
            _ => {}
        }
        if let Some(password) = password {
            self.check_current_password(&auth.user, password, client)
                .await
                .map_err(|e| match e {
                    Error::WrongPassword { message, .. } => Error::WrongPassword {
                        field: "password",
                        message,
                    },
                    other => other,
                })?;
        }
        let amr = match proof.filter(|_| both) {
            Some(proof) => {
                self.check_second_factor(&auth.user, &proof, client).await?;
                super::sessions::Amr::password_and_code()
            }
            None => super::sessions::Amr::password(),
        };
        self.mark_authenticated(auth, &amr).await?;
        self.audit(Event::Reauthenticated, Some(&auth.user.id), client, None)
            .await;
        Ok(())
    }

    /// Checks a TOTP or recovery code of `user`, counted like a login: the
    /// client's limit and the account's second-factor lockout (a count of its
    /// own, see [`limits::second_factor_key`]); failures audited. A TOTP
    /// code is accepted once; a recovery code is used up.
    pub(crate) async fn check_second_factor(
        &self,
        user: &User,
        proof: &Proof,
        client: &Client,
    ) -> Result<()> {
        self.admit_attempt(client).await?;
        // Counted on a key of their own: a right password never clears
        // wrong codes, so "password, a few codes" again and again locks too.
        let lock_key = limits::second_factor_key(&user.id);
        let reservation = self.reserve_guess(&lock_key, Some(&user.id), client).await?;
        let (ok, method) = match proof {
            Proof::Code(code) => {
                let accepted = match factors::totp(&self.db, &user.id)
                    .await?
                    .filter(|t| t.confirmed_at.is_some())
                {
                    Some(row) => {
                        let secret = self.unseal(&row.secret, &totp_context(&user.id))?;
                        match totp::matching_step(&secret, code, super::now()) {
                            // Once per step, on every instance: a replayed code fails here.
                            Some(step) => factors::accept_step(&self.db, &user.id, step).await?,
                            None => false,
                        }
                    }
                    None => false,
                };
                (accepted, "authenticator code")
            }
            Proof::RecoveryCode(code) => (self.use_recovery_code(&user.id, code).await?, "recovery code"),
        };
        if !ok {
            metrics::counter!("gatehouse_logins_total", "outcome" => "second_factor_failure").increment(1);
            self.guess_failed(&lock_key, reservation, Some(&user.id), client)
                .await?;
            let detail = format!("wrong or reused {method}");
            self.audit(Event::MfaFailed, Some(&user.id), client, Some(&detail))
                .await;
            return Err(wrong_code());
        }
        self.guess_succeeded(client, &lock_key).await?;
        if matches!(proof, Proof::RecoveryCode(_)) {
            let left = factors::recovery_codes_left(&self.db, &user.id).await?;
            let detail = format!("a recovery code was used; {left} left");
            self.audit(Event::RecoveryCodeUsed, Some(&user.id), client, Some(&detail))
                .await;
        }
        Ok(())
    }

    /// Removes every second factor of the signed-in user at once (after a
    /// reset, what an intruder may have added; the password is asked again).
    pub async fn remove_all_factors(
        &self,
        auth: &Authenticated,
        password: &str,
        client: &Client,
    ) -> Result<()> {
        self.require_recent_auth(auth)?;
        self.check_current_password(&auth.user, password, client).await?;
        let user_id = &auth.user.id;
        let mut tx = self.db.begin().await?;
        let totp = factors::delete_totp(&mut tx, user_id).await?;
        factors::delete_recovery_codes(&mut tx, user_id).await?;
        let passkeys = factors::delete_passkeys(&mut tx, user_id).await?;
        factors::refresh_mfa_flag(&mut tx, user_id).await?;
        factors::set_factors_review(&mut tx, user_id, false).await?;
        let mailed = if totp || passkeys > 0 {
            self.queue_factor_notice(&mut tx, &auth.user, FactorChange::AllRemoved)
                .await?
        } else {
            false
        };
        let ended = self
            .end_elsewhere(&mut tx, auth, "every second factor removed")
            .await?;
        tx.commit().await?;
        self.wake_mailer_if(mailed);
        let detail = format!(
            "every second factor removed by the owner ({}{passkeys} passkeys); {ended}",
            if totp { "an authenticator app, " } else { "" }
        );
        self.audit(Event::MfaDisabled, Some(user_id), client, Some(&detail))
            .await;
        Ok(())
    }

    /// The owner looked at their factors after a reset and keeps them. The
    /// password is asked: an intruder signed in with a factor they planted
    /// must not be able to make the question go away.
    pub async fn keep_factors(&self, auth: &Authenticated, password: &str, client: &Client) -> Result<()> {
        self.check_current_password(&auth.user, password, client).await?;
        let mut tx = self.db.begin().await?;
        factors::set_factors_review(&mut tx, &auth.user.id, false).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends every session and token family of the signed-in user but the
    /// one making the request; says how many, for the audit record.
    async fn end_elsewhere(&self, tx: &mut Tx, auth: &Authenticated, reason: &str) -> Result<String> {
        let (sessions, families) = self
            .end_all_in(tx, &auth.user.id, auth.session_id(), auth.token_family(), reason)
            .await?;
        Ok(format!(
            "{sessions} other sessions and {families} token families ended"
        ))
    }

    /// Removes every factor of a user (they lost them all): TOTP, recovery
    /// codes, passkeys; their sessions and token families end.
    pub async fn reset_factors(&self, actor: &Authenticated, id: &str, client: &Client) -> Result<()> {
        require_admin(actor)?;
        self.require_recent_auth(actor)?;
        let target = self.managed_user(actor, id).await?;
        let mut tx = self.db.begin().await?;
        factors::delete_totp(&mut tx, id).await?;
        factors::delete_recovery_codes(&mut tx, id).await?;
        let passkeys = factors::delete_passkeys(&mut tx, id).await?;
        factors::refresh_mfa_flag(&mut tx, id).await?;
        factors::set_factors_review(&mut tx, id, false).await?;
        let mailed = self
            .queue_factor_notice(&mut tx, &target.user, FactorChange::ResetByAdmin)
            .await?;
        self.cancel_pending_links_in(&mut tx, id).await?;
        let (sessions, families) = self
            .end_all_in(&mut tx, id, None, None, "second factors reset by an admin")
            .await?;
        tx.commit().await?;
        self.wake_mailer_if(mailed);
        let detail = format!(
            "{}'s second factors ({passkeys} passkeys) reset by {}; {sessions} sessions and {families} token families ended",
            target.user.username, actor.user.username
        );
        self.audit(Event::MfaReset, Some(id), client, Some(&detail)).await;
        Ok(())
    }

    /// Deletes challenges that expired; run periodically.
    pub async fn purge_challenges(&self) -> Result<u64> {
        Ok(factors::purge_challenges(&self.db, super::now()).await?)
    }
}
