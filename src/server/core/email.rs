//! The account's life by email: verifying an address, resetting a forgotten
//! password, changing the address. Each link is a single-use token of 256
//! random bits, stored only as a SHA-256 hash, spent in one statement
//! together with the change it allows. Unknown, spent and expired links all
//! answer [`Error::InvalidLink`].

use super::{
    audit::Event,
    limits,
    mail::{human_duration, Action},
    mfa::FactorChange,
    sessions::Authenticated,
    tokens::{hash_token, random_token},
    validate, Client, Core, Error, Result, User,
};
use crate::server::{
    config::EmailVerification,
    db::{
        email_tokens::{self, NewToken},
        factors, identities, limits as limits_db,
        users::{self, EmailChangeError},
        Tx,
    },
};

/// What a mailed link is for. Its token is stored under [`LinkPurpose::key`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkPurpose {
    VerifyEmail,
    ResetPassword,
    ConfirmEmail,
}

impl LinkPurpose {
    /// How the purpose is stored with the token.
    fn key(self) -> &'static str {
        match self {
            LinkPurpose::VerifyEmail => "verify_email",
            LinkPurpose::ResetPassword => "reset_password",
            LinkPurpose::ConfirmEmail => "confirm_email",
        }
    }
}

/// Verification and email-change links are good for this long.
const EMAIL_LINK_SECONDS: i64 = 24 * 3600;
/// At most one new verification link per this many seconds when an
/// unverified account tries to sign in.
const REMIND_EVERY: i64 = 5 * 60;
/// Mail to one address (reset links, verification links, invitations) per hour.
const MAIL_PER_ADDRESS_PER_HOUR: u32 = 5;

/// What a mail link's landing page shows before the person confirms.
#[derive(Clone, Debug)]
pub struct LinkInfo {
    /// The address the link concerns (the new one, for an email change).
    pub email: String,
    pub username: String,
    pub expires_at: i64,
}

impl Core {
    /// A new token for `user` and `purpose`, in `tx`; returns the token.
    async fn new_link(
        &self,
        tx: &mut Tx,
        purpose: LinkPurpose,
        user_id: &str,
        email: &str,
        lifetime: i64,
    ) -> Result<String> {
        let token = random_token(32);
        let now = super::now();
        email_tokens::insert(
            tx,
            &NewToken {
                hash: &hash_token(&token),
                purpose: purpose.key(),
                user_id,
                email,
                now,
                expires_at: now + lifetime,
            },
        )
        .await?;
        Ok(token)
    }

    /// Queues a verification link for `user`'s email when verification is on
    /// and the address is not verified. Returns whether a mail was queued.
    pub(crate) async fn queue_verification(&self, tx: &mut Tx, user: &User) -> Result<bool> {
        let Some(email) = user.email.as_deref() else {
            return Ok(false);
        };
        if user.email_verified
            || !self.mail_enabled()
            || self.config.email_verification == EmailVerification::Off
        {
            return Ok(false);
        }
        let token = self
            .new_link(tx, LinkPurpose::VerifyEmail, &user.id, email, EMAIL_LINK_SECONDS)
            .await?;
        let mut letter = self.letter("Verify your email address", format!("Hello {},", user.username));
        letter.paragraphs.push(format!(
            "Please confirm that {email} is your address, so that you can recover your Gatehouse account if you ever lose your password."
        ));
        letter.action = Some(Action {
            label: "Verify my email".into(),
            url: self.link("/verify-email", &token),
        });
        letter.validity = Some(format!(
            "The link works once, for {}.",
            human_duration(EMAIL_LINK_SECONDS as u64)
        ));
        letter.not_you =
            "If you did not create this account, ignore this mail: nothing happens until the link is used."
                .into();
        self.queue_mail(tx, "verify_email", email, &letter).await?;
        Ok(true)
    }

    /// An unverified account signed in with the right password while
    /// verification is required: send a new link, at most one per five minutes.
    pub(crate) async fn remind_to_verify(&self, user: &User, client: &Client) -> Result<()> {
        let newest = email_tokens::newest(&self.db, &user.id, LinkPurpose::VerifyEmail.key()).await?;
        let Some(email) = user.email.as_deref() else {
            return Ok(());
        };
        let detail = if newest.is_some_and(|at| super::now() - at < REMIND_EVERY) {
            "email not verified (a link was sent less than 5 minutes ago)"
        } else if self.throttle_address(email).await.is_err() {
            // A reminder is mail to the address like any other: it counts
            // against the address's hourly limit, and past it none goes.
            "email not verified (no new link: the address's mail limit for this hour is reached)"
        } else {
            let mut tx = self.db.begin().await?;
            self.queue_verification(&mut tx, user).await?;
            tx.commit().await?;
            self.wake_mailer();
            "email not verified; a new link was sent"
        };
        self.audit(Event::LoginFailed, Some(&user.id), client, Some(detail))
            .await;
        Ok(())
    }

    /// What can sign in to `user_id` besides the password, in words ("an
    /// authenticator app", "the passkey \"Laptop\""...), for the notices.
    async fn factor_words(&self, user_id: &str) -> Result<Vec<String>> {
        let mut words = Vec::new();
        let status = self.mfa_status(user_id).await?;
        if status.totp {
            words.push("an authenticator app".to_string());
        }
        for passkey in factors::passkeys_of(&self.db, user_id).await? {
            words.push(format!("the passkey \"{}\"", passkey.name));
        }
        if status.recovery_codes_left > 0 {
            words.push(format!("{} unused recovery codes", status.recovery_codes_left));
        }
        Ok(words)
    }

    /// "Your password was changed", to the account's address.
    pub(crate) async fn queue_password_notice(&self, tx: &mut Tx, user: &User, reset: bool) -> Result<bool> {
        let Some(email) = user.email.as_deref() else {
            return Ok(false);
        };
        if !self.mail_enabled() {
            return Ok(false);
        }
        let mut letter = self.letter("Your password was changed", format!("Hello {},", user.username));
        let factors = if reset {
            self.factor_words(&user.id).await?
        } else {
            Vec::new()
        };
        letter.paragraphs.push(if reset {
            format!(
                "The password of your Gatehouse account was reset on {}. Every device that was signed in has been signed out.",
                super::rfc3339(super::now())
            )
        } else {
            format!(
                "The password of your Gatehouse account was changed on {}. Every other device that was signed in has been signed out.",
                super::rfc3339(super::now())
            )
        });
        if !factors.is_empty() {
            letter.paragraphs.push(format!(
                "Besides the password, these can sign in to your account: {}. If one is not yours, someone who had your password added it: sign in and remove it on your account page, which lists them.",
                factors.join(", ")
            ));
        }
        letter.action = Some(Action {
            label: "Go to your account".into(),
            url: format!("{}/account", self.public_url()),
        });
        letter.not_you = format!(
            "If this was not you, someone else knows your password or can read your mail. Reset your password now at {}/forgot-password and tell your administrator.",
            self.public_url()
        );
        self.queue_mail(tx, "password_changed", email, &letter).await?;
        Ok(true)
    }

    /// "A passkey was added to your account" and the like: every change of
    /// a user's second factors or linked providers is mailed to the
    /// account's address, so the owner hears of a way in an intruder adds.
    /// Returns whether a mail was queued (in `tx`).
    pub(crate) async fn queue_factor_notice(
        &self,
        tx: &mut Tx,
        user: &User,
        change: FactorChange<'_>,
    ) -> Result<bool> {
        let Some(email) = user.email.as_deref() else {
            return Ok(false);
        };
        if !self.mail_enabled() {
            return Ok(false);
        }
        let (subject, what) = match change {
            FactorChange::TotpAdded => (
                "An authenticator app was added to your account".to_string(),
                "An authenticator app was set up as a second factor of your Gatehouse account".to_string(),
            ),
            FactorChange::TotpRemoved => (
                "The authenticator app was removed from your account".to_string(),
                "The authenticator app was turned off for your Gatehouse account".to_string(),
            ),
            FactorChange::RecoveryCodes => (
                "New recovery codes were made for your account".to_string(),
                "New recovery codes were made for your Gatehouse account (the old ones no longer work)".to_string(),
            ),
            FactorChange::PasskeyAdded(name) => (
                "A passkey was added to your account".to_string(),
                format!("The passkey \"{name}\" was added to your Gatehouse account. It signs in without a password"),
            ),
            FactorChange::PasskeyRemoved(name) => (
                "A passkey was removed from your account".to_string(),
                format!("The passkey \"{name}\" was removed from your Gatehouse account"),
            ),
            FactorChange::AllRemoved => (
                "Every second factor was removed from your account".to_string(),
                "Every second factor (authenticator app, recovery codes and passkeys) was removed from your Gatehouse account".to_string(),
            ),
            FactorChange::IdentityLinked(provider) => (
                format!("Your {provider} account was linked to your account"),
                format!("Your {provider} account was linked to your Gatehouse account. It signs in without a password"),
            ),
            FactorChange::IdentityUnlinked(provider) => (
                format!("Your {provider} account was unlinked from your account"),
                format!("Your {provider} account was unlinked from your Gatehouse account: it no longer signs in"),
            ),
            FactorChange::ResetByAdmin => (
                "An administrator removed your second factors".to_string(),
                "An administrator removed every second factor of your Gatehouse account; you were signed out everywhere".to_string(),
            ),
        };
        let mut letter = self.letter(subject, format!("Hello {},", user.username));
        letter
            .paragraphs
            .push(format!("{what} on {}.", super::rfc3339(super::now())));
        letter.action = Some(Action {
            label: "Review your sign-in methods".into(),
            url: format!("{}/account", self.public_url()),
        });
        letter.not_you = format!(
            "If this was not you, someone else can sign in to your account: remove what you do not recognise at {}/account, change your password, and tell your administrator.",
            self.public_url()
        );
        self.queue_mail(tx, "factor_changed", email, &letter).await?;
        Ok(true)
    }

    /// Wakes the sender when something was queued.
    pub(crate) fn wake_mailer_if(&self, queued: bool) {
        if queued {
            self.wake_mailer();
        }
    }

    /// Ends the links of `user_id` that could still change the account, in
    /// `tx`: a pending email change (an intruder's would hand them the
    /// account) and reset links. Every "end everything" (reset, password
    /// change, sign-out everywhere, disabling, an admin's reset of factors)
    /// runs this, in the same transaction as the sessions it ends.
    pub(crate) async fn cancel_pending_links_in(&self, tx: &mut Tx, user_id: &str) -> Result<()> {
        let now = super::now();
        email_tokens::spend_all(tx, user_id, LinkPurpose::ConfirmEmail.key(), now).await?;
        email_tokens::spend_all(tx, user_id, LinkPurpose::ResetPassword.key(), now).await?;
        Ok(())
    }

    /// Counts one mail to `address` (any address, with an account or not,
    /// so the limit reveals nothing): 429 past [`MAIL_PER_ADDRESS_PER_HOUR`].
    async fn throttle_address(&self, address: &str) -> Result<()> {
        let key = format!("mailto:{}", hash_token(&validate::identifier_key(address)));
        self.throttle(&key, MAIL_PER_ADDRESS_PER_HOUR, 3600).await
    }

    /// "Forgot password": mails a reset link when `email` is an account's
    /// address. The answer is the same whether or not it is, and so is the
    /// time it takes: the limits are counted here, and everything that
    /// depends on the address (the lookup, the link, the mail, the audit
    /// record) runs after the answer, off the request's path.
    pub async fn forgot_password(&self, email: &str, client: &Client) -> Result<()> {
        self.require_mail()?;
        let key = format!("forgot:{}", self.client_key(client));
        self.throttle(&key, self.config.signup_limit, 3600).await?;
        let email = validate::email(email)?;
        self.throttle_address(&email).await?;
        let (core, client) = (self.clone(), client.clone());
        self.after_answer(async move {
            if let Err(e) = core.mail_reset_link(&email, &client).await {
                tracing::warn!(error = %e, "a password reset request could not be handled");
            }
        });
        Ok(())
    }

    /// The part of [`Core::forgot_password`] that depends on the address.
    /// The link goes to the address the account has stored, never to the
    /// one typed (which may differ in case or form, and name another mailbox).
    async fn mail_reset_link(&self, typed: &str, client: &Client) -> Result<()> {
        let email_key = validate::identifier_key(typed);
        let row = users::find_by_key(&self.db, &email_key).await?;
        let user = row.map(User::try_from).transpose()?.filter(|u| {
            u.email.as_deref().map(validate::identifier_key).as_deref() == Some(email_key.as_str())
        });
        let Some((user, email)) = user
            .filter(|u| !u.disabled)
            .and_then(|u| u.email.clone().map(|e| (u, e)))
        else {
            self.audit(
                Event::PasswordResetRequested,
                None,
                client,
                Some("no active account has this address; nothing was sent"),
            )
            .await;
            return Ok(());
        };
        let lifetime = self.config.password_reset_lifetime.as_secs() as i64;
        let mut tx = self.db.begin().await?;
        let token = self
            .new_link(&mut tx, LinkPurpose::ResetPassword, &user.id, &email, lifetime)
            .await?;
        let mut letter = self.letter("Reset your password", format!("Hello {},", user.username));
        letter.paragraphs.push(
            "Someone (we hope you) asked to reset the password of your Gatehouse account. Choose a new one here:".into(),
        );
        letter.action = Some(Action {
            label: "Choose a new password".into(),
            url: self.link("/reset-password", &token),
        });
        letter.validity = Some(format!(
            "The link works once, for {}. Using it signs you out on every device.",
            human_duration(lifetime as u64)
        ));
        letter.not_you = "If you did not ask for this, ignore this mail: your password stays as it is and nobody can use the link without access to your mailbox.".into();
        self.queue_mail(&mut tx, "reset_password", &email, &letter)
            .await?;
        tx.commit().await?;
        self.wake_mailer();
        self.audit(
            Event::PasswordResetRequested,
            Some(&user.id),
            client,
            Some("a reset link was mailed"),
        )
        .await;
        Ok(())
    }

    /// What a link's landing page may show, without spending the link.
    pub async fn link_info(&self, purpose: LinkPurpose, token: &str) -> Result<LinkInfo> {
        self.require_mail()?;
        let row = email_tokens::find_live(&self.db, &hash_token(token), purpose.key(), super::now())
            .await?
            .ok_or(Error::InvalidLink)?;
        let user = self.user(&row.user_id).await.map_err(|_| Error::InvalidLink)?;
        Ok(LinkInfo {
            email: row.email,
            username: user.username,
            expires_at: row.expires_at,
        })
    }

    /// Sets a new password with a reset link: the link is spent, every
    /// session and token family of the user ends, a lockout is lifted, and a
    /// notice is mailed.
    pub async fn reset_with_token(&self, token: &str, new_password: &str, client: &Client) -> Result<User> {
        self.require_mail()?;
        let hash = hash_token(token);
        let row = email_tokens::find_live(&self.db, &hash, LinkPurpose::ResetPassword.key(), super::now())
            .await?
            .ok_or(Error::InvalidLink)?;
        let user = self.user(&row.user_id).await.map_err(|_| Error::InvalidLink)?;
        self.check_new_password(
            "new_password",
            new_password,
            &user.username,
            user.email.as_deref(),
            client,
        )
        .await?;
        let password_hash = self.hasher.hash(new_password).await?;
        let now = super::now();
        let mut tx = self.db.begin().await?;
        // Spent here, in the transaction that changes the password: of two
        // requests with one link, one changes it.
        if email_tokens::spend(&mut tx, &hash, LinkPurpose::ResetPassword.key(), now)
            .await?
            .is_none()
        {
            return Err(Error::InvalidLink);
        }
        self.cancel_pending_links_in(&mut tx, &user.id).await?;
        users::set_password_hash(&mut tx, &user.id, &password_hash, now).await?;
        // Its factors stay (a reset proves only the mailbox: removing them
        // would let whoever reads the mail make the account one-factor), but
        // the owner is asked to check them: an intruder may have added one.
        if user.mfa_enabled {
            factors::set_factors_review(&mut tx, &user.id, true).await?;
        }
        // Identities that came with an address their provider had not
        // verified end here: whoever claimed this address at a provider
        // before its owner proved it (now) loses the way in they set up.
        let dropped = identities::delete_unverified(&mut tx, &user.id).await?;
        self.queue_password_notice(&mut tx, &user, true).await?;
        // Every session and token family ends, and a lock is lifted, with the
        // change: a reset never leaves an intruder signed in, or its owner
        // locked out.
        let (sessions, families) = self
            .end_all_in(&mut tx, &user.id, None, None, "password reset")
            .await?;
        let unlocked = limits_db::clear(&mut tx, &limits::account_key(Some(&user.id), ""), now).await?;
        tx.commit().await?;
        self.wake_mailer();
        for provider in &dropped {
            let detail = format!(
                "{provider}: linked with an address the provider had not verified; the password was reset"
            );
            self.audit(Event::IdentityUnlinked, Some(&user.id), client, Some(&detail))
                .await;
        }
        let detail = format!(
            "with a mailed link; {sessions} sessions and {families} token families ended{}",
            if unlocked { "; the lock was lifted" } else { "" }
        );
        self.audit(Event::PasswordReset, Some(&user.id), client, Some(&detail))
            .await;
        self.user(&user.id).await
    }

    /// Marks an address verified with a verification link.
    pub async fn verify_email(&self, token: &str, client: &Client) -> Result<User> {
        self.require_mail()?;
        let now = super::now();
        let mut tx = self.db.begin().await?;
        let row = email_tokens::spend(&mut tx, &hash_token(token), LinkPurpose::VerifyEmail.key(), now)
            .await?
            .ok_or(Error::InvalidLink)?;
        // A link for an address the account no longer has proves nothing.
        if !users::set_email_verified(&mut tx, &row.user_id, &row.email).await? {
            return Err(Error::InvalidLink);
        }
        email_tokens::spend_all(&mut tx, &row.user_id, LinkPurpose::VerifyEmail.key(), now).await?;
        tx.commit().await?;
        self.audit(
            Event::EmailVerified,
            Some(&row.user_id),
            client,
            Some("with a mailed link"),
        )
        .await;
        self.user(&row.user_id).await
    }

    /// Mails the signed-in user a new verification link.
    pub async fn resend_verification(&self, auth: &Authenticated, client: &Client) -> Result<()> {
        self.require_mail()?;
        let user = self.user(&auth.user.id).await?;
        let Some(email) = user.email.as_deref() else {
            return Err(Error::StateConflict(
                "Your account has no email address to verify.".into(),
            ));
        };
        if user.email_verified {
            return Err(Error::StateConflict(
                "Your email address is already verified.".into(),
            ));
        }
        if self.config.email_verification == EmailVerification::Off {
            return Err(Error::Forbidden("email verification is off".into()));
        }
        self.throttle_address(email).await?;
        let mut tx = self.db.begin().await?;
        self.queue_verification(&mut tx, &user).await?;
        tx.commit().await?;
        self.wake_mailer();
        self.audit(
            Event::VerificationSent,
            Some(&user.id),
            client,
            Some("asked for a new link"),
        )
        .await;
        Ok(())
    }

    /// Starts an email change: the current password is checked, a
    /// confirmation link goes to the new address and a notice to the old one.
    /// Nothing changes until the link is used.
    pub async fn request_email_change(
        &self,
        auth: &Authenticated,
        new_email: &str,
        current_password: &str,
        client: &Client,
    ) -> Result<()> {
        self.require_mail()?;
        self.require_recent_auth(auth)?;
        let user = self.user(&auth.user.id).await?;
        self.check_current_password(&user, current_password, client)
            .await?;
        let new_email = validate::email(new_email)?;
        let new_key = validate::identifier_key(&new_email);
        if user.email.as_deref().map(validate::identifier_key).as_deref() == Some(new_key.as_str()) {
            return Err(Error::invalid("new_email", "That is already your email address."));
        }
        // Whether an address is taken is what signup's 409 tells too: the
        // same per-client budget, counted before the answer.
        self.throttle_signup(client).await?;
        if users::key_taken(&self.db, &new_key, &user.id).await? {
            return Err(Error::conflict(
                "new_email",
                "An account with this email already exists.",
            ));
        }
        self.throttle_address(&new_email).await?;
        let mut tx = self.db.begin().await?;
        email_tokens::spend_all(&mut tx, &user.id, LinkPurpose::ConfirmEmail.key(), super::now()).await?;
        let token = self
            .new_link(
                &mut tx,
                LinkPurpose::ConfirmEmail,
                &user.id,
                &new_email,
                EMAIL_LINK_SECONDS,
            )
            .await?;
        let mut letter = self.letter(
            "Confirm your new email address",
            format!("Hello {},", user.username),
        );
        letter.paragraphs.push(format!(
            "You asked to make {new_email} the email address of your Gatehouse account. Confirm it to finish the change:"
        ));
        letter.action = Some(Action {
            label: "Confirm my new address".into(),
            url: self.link("/confirm-email", &token),
        });
        letter.validity = Some(format!(
            "The link works once, for {}. Until it is used, your account keeps its current address.",
            human_duration(EMAIL_LINK_SECONDS as u64)
        ));
        letter.not_you =
            "If you did not ask for this, ignore this mail: nothing changes without the link.".into();
        self.queue_mail(&mut tx, "confirm_email", &new_email, &letter)
            .await?;
        if let Some(old) = user.email.as_deref() {
            let mut notice = self.letter(
                "A change of your email address was requested",
                format!("Hello {},", user.username),
            );
            notice.paragraphs.push(format!(
                "Someone signed in to your Gatehouse account asked to change its email address from {old} to {new_email}. The change happens only when the link sent to the new address is used."
            ));
            notice.not_you = format!(
                "If this was not you, someone else can sign in to your account: change your password at {}/account (or reset it at {}/forgot-password) and tell your administrator.",
                self.public_url(),
                self.public_url()
            );
            self.queue_mail(&mut tx, "email_change_notice", old, &notice)
                .await?;
        }
        tx.commit().await?;
        self.wake_mailer();
        let detail = format!("to {new_email}; confirmation link sent");
        self.audit(Event::EmailChangeRequested, Some(&user.id), client, Some(&detail))
            .await;
        Ok(())
    }

    /// Applies an email change with its confirmation link: the new address
    /// becomes the account's, verified. `Conflict` when another account took
    /// the address meanwhile.
    pub async fn confirm_email_change(&self, token: &str, client: &Client) -> Result<User> {
        self.require_mail()?;
        let now = super::now();
        let mut tx = self.db.begin().await?;
        let row = email_tokens::spend(&mut tx, &hash_token(token), LinkPurpose::ConfirmEmail.key(), now)
            .await?
            .ok_or(Error::InvalidLink)?;
        let key = validate::identifier_key(&row.email);
        match users::change_email(&mut tx, &row.user_id, &row.email, &key).await {
            Ok(()) => {}
            Err(EmailChangeError::Taken) => {
                return Err(Error::conflict(
                    "email",
                    "Another account has this email address now.",
                ))
            }
            Err(EmailChangeError::Db(e)) => return Err(e.into()),
        }
        email_tokens::spend_all(&mut tx, &row.user_id, LinkPurpose::VerifyEmail.key(), now).await?;
        email_tokens::spend_all(&mut tx, &row.user_id, LinkPurpose::ResetPassword.key(), now).await?;
        tx.commit().await?;
        let detail = format!("to {}", row.email);
        self.audit(Event::EmailChanged, Some(&row.user_id), client, Some(&detail))
            .await;
        self.user(&row.user_id).await
    }

    /// Deletes links that expired more than a day ago.
    pub async fn purge_email_tokens(&self) -> Result<u64> {
        Ok(email_tokens::purge(&self.db, super::now() - 86_400).await?)
    }
}
