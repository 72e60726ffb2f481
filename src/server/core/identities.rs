//! Identities at other providers: which provider account belongs to which
//! user, and what a verified one may do. Signing in with a known identity
//! follows the password's rules (disabled, locked, second factor, email
//! verification); an unknown one makes an account when signup is open; an
//! identity is never attached to an existing account by its email: its
//! owner signs in the usual way and links it from `/account`.
//!
//! The provider's protocol (state, PKCE, the ID token) is checked before
//! anything here runs (`server::federation`); this module sees only the
//! identity it proved.

use super::{
    audit::Event,
    mfa::FactorChange,
    sessions::{Amr, Authenticated, LoginOutcome},
    validate, Client, Core, Error, Result, User,
};
use crate::{
    model::Role,
    server::db::{
        factors,
        identities::{self, IdentityRow, LinkError},
        sessions,
        users::{self, NewUser, SetupClaim},
    },
};

/// Stray callbacks (refused before any identity is known) recorded per
/// client in an hour.
const REFUSED_CALLBACKS_RECORDED: u32 = 10;

/// Who a provider says signed in, verified by its protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalIdentity {
    /// The provider's id (`GATEHOUSE_PROVIDERS`).
    pub provider: String,
    /// Its display name, for messages and the audit log.
    pub provider_name: String,
    /// The provider's stable id of the person (`sub`).
    pub subject: String,
    pub email: Option<String>,
    /// The provider says it verified the address.
    pub email_verified: bool,
    pub username: Option<String>,
    pub name: Option<String>,
}

impl ExternalIdentity {
    /// "Name (id)", as the audit log names the provider.
    fn label(&self) -> String {
        format!("{} ({})", self.provider_name, self.provider)
    }
}

/// An identity linked to a user, as `/account` and the admin list it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkedIdentity {
    pub provider: String,
    pub email: Option<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

impl From<IdentityRow> for LinkedIdentity {
    fn from(r: IdentityRow) -> Self {
        LinkedIdentity {
            provider: r.provider,
            email: r.email,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        }
    }
}

/// The message for an identity that is someone else's.
const TAKEN: &str = "This account at the provider is already linked to another Gatehouse account.";

impl Core {
    /// Signs in with a verified external identity: its user when it is
    /// known, a new account when it is not and signup is open.
    pub async fn external_sign_in(
        &self,
        identity: &ExternalIdentity,
        client: &Client,
    ) -> Result<LoginOutcome> {
        let result = self.external_sign_in_checked(identity, client).await;
        if let Err(e) = &result {
            let reason = match e {
                Error::Forbidden(m) | Error::StateConflict(m) => m.clone(),
                Error::Conflict { message, .. } => message.clone(),
                Error::RateLimited { .. } => "account locked".into(),
                Error::EmailNotVerified => "email not verified".into(),
                other => other.to_string(),
            };
            let user_id = identities::find(&self.db, &identity.provider, &identity.subject)
                .await
                .ok()
                .flatten()
                .map(|r| r.user_id);
            self.note_refused(user_id.as_deref(), &identity.label(), &reason, client)
                .await;
        }
        result
    }

    async fn external_sign_in_checked(
        &self,
        identity: &ExternalIdentity,
        client: &Client,
    ) -> Result<LoginOutcome> {
        // No password is guessed here: the provider proved who this is, so
        // the sign-in takes nothing from the address's login budget (new
        // accounts count against the signup limit).
        let user = match identities::find(&self.db, &identity.provider, &identity.subject).await? {
            Some(row) => {
                let user = self.user(&row.user_id).await?;
                self.check_may_sign_in(&user, client).await?;
                identities::touch(&self.db, &identity.provider, &identity.subject, super::now()).await?;
                user
            }
            None => self.create_from_identity(identity, client).await?,
        };
        let first = identity.label();
        if let Some(pending) = self
            .pend_sign_in(&user, false, &first, Some(&identity.provider))
            .await?
        {
            return Ok(LoginOutcome::SecondFactor(pending));
        }
        let session = self
            .start_session(&user, false, &Amr::external(&identity.provider), client)
            .await?;
        self.audit(Event::ExternalSignIn, Some(&user.id), client, Some(&first))
            .await;
        Ok(LoginOutcome::SignedIn(user, session))
    }

    /// The rules a password sign-in applies after the password: not
    /// disabled, not locked, its email verified when that is required.
    async fn check_may_sign_in(&self, user: &User, client: &Client) -> Result<()> {
        if user.disabled {
            return Err(Error::Forbidden("This account is disabled.".into()));
        }
        let now = super::now();
        if let Some(row) = users::find_for_admin(&self.db, &user.id).await? {
            if let Some(until) = row.locked_until.filter(|u| *u > now) {
                return Err(Error::RateLimited {
                    retry_after: (until - now) as u64,
                });
            }
        }
        if self.config.email_verification == crate::server::config::EmailVerification::Required
            && user.email.is_some()
            && !user.email_verified
        {
            self.remind_to_verify(user, client).await?;
            return Err(Error::EmailNotVerified);
        }
        Ok(())
    }

    /// A new account for an unknown identity: signup must be open; its
    /// email (verified only if the provider says so) must not be another
    /// account's; its username comes from the provider, made unique. It has
    /// no password until its user sets one.
    async fn create_from_identity(&self, identity: &ExternalIdentity, client: &Client) -> Result<User> {
        if self.setup_required().await? {
            return Err(Error::Forbidden(
                "This Gatehouse is not set up yet: its administrator creates the first account.".into(),
            ));
        }
        if !self.config.signup_open {
            return Err(Error::Forbidden(format!(
                "There is no account here for your {} account, and signing up is closed. Ask an administrator for an invitation; if you have an account, sign in with it and link {} from your account page.",
                identity.provider_name, identity.provider_name
            )));
        }
        // New accounts count against the signup limit, and so does asking
        // whether an address has an account (the answer below says so).
        self.throttle_signup(client).await?;
        let email = identity.email.as_deref().and_then(|e| validate::email(e).ok());
        // The provider verified the address it sent, not one rewritten here.
        let email_verified = identity.email_verified
            && email
                .as_deref()
                .zip(identity.email.as_deref())
                .is_some_and(|(ours, theirs)| ours.eq_ignore_ascii_case(theirs));
        let taken = || {
            Error::conflict(
                "email",
                format!(
                    "An account with the email address of your {} account already exists. Sign in to it the usual way, then link {} from your account page.",
                    identity.provider_name, identity.provider_name
                ),
            )
        };
        if let Some(e) = &email {
            if users::find_by_key(&self.db, &validate::identifier_key(e))
                .await?
                .is_some()
            {
                return Err(taken());
            }
        }
        let base = username_from(identity.username.as_deref(), email.as_deref());
        let mut attempt = 0u32;
        loop {
            let username = if attempt == 0 {
                base.clone()
            } else {
                use rand::Rng;
                let n: u32 = rand::thread_rng().gen_range(1000..100_000);
                format!("{}-{n}", base.chars().take(56).collect::<String>())
            };
            let new = NewUser {
                id: uuid::Uuid::new_v4().to_string(),
                username_skeleton: validate::skeleton(&username),
                username_key: validate::identifier_key(&username),
                email_key: email.as_deref().map(validate::identifier_key),
                username,
                email: email.clone(),
                password_hash: String::new(),
                role: Role::User.as_str(),
                email_verified,
                now: super::now(),
            };
            let mut tx = self.db.begin().await?;
            let user = match self.insert_user(&mut tx, &new, SetupClaim::No).await {
                Ok(user) => user,
                Err(Error::Conflict {
                    field: "username", ..
                }) if attempt < 8 => {
                    attempt += 1;
                    continue;
                }
                Err(Error::Conflict { field: "email", .. }) => return Err(taken()),
                Err(e) => return Err(e),
            };
            let row = IdentityRow {
                provider: identity.provider.clone(),
                subject: identity.subject.clone(),
                user_id: user.id.clone(),
                email: identity.email.clone(),
                email_verified,
                created_at: new.now,
                last_used_at: Some(new.now),
            };
            match identities::insert(&mut tx, &row).await {
                Ok(()) => {}
                // Two first sign-ins of one identity at once: one account.
                Err(LinkError::Taken | LinkError::ProviderTaken) => {
                    return Err(Error::StateConflict(
                        "This sign-in raced another one; try again.".into(),
                    ))
                }
                Err(LinkError::Db(e)) => return Err(e.into()),
            }
            let mailed = self.queue_verification(&mut tx, &user).await?;
            tx.commit().await?;
            if mailed {
                self.wake_mailer();
            }
            let detail = format!("through {}", identity.label());
            self.audit(Event::Signup, Some(&user.id), client, Some(&detail))
                .await;
            if self.config.email_verification == crate::server::config::EmailVerification::Required
                && user.email.is_some()
                && !user.email_verified
            {
                return Err(Error::EmailNotVerified);
            }
            return Ok(user);
        }
    }

    /// Links a verified identity to the signed-in user (after a recent
    /// sign-in). An identity that is someone else's is refused.
    pub async fn link_identity(
        &self,
        auth: &Authenticated,
        identity: &ExternalIdentity,
        client: &Client,
    ) -> Result<()> {
        self.require_recent_auth(auth)?;
        if let Some(row) = identities::find(&self.db, &identity.provider, &identity.subject).await? {
            if row.user_id == auth.user.id {
                return Ok(());
            }
            self.note_refused(Some(&auth.user.id), &identity.label(), TAKEN, client)
                .await;
            return Err(Error::conflict("provider", TAKEN));
        }
        let now = super::now();
        let mut tx = self.db.begin().await?;
        let row = IdentityRow {
            provider: identity.provider.clone(),
            subject: identity.subject.clone(),
            user_id: auth.user.id.clone(),
            email: identity.email.clone(),
            email_verified: identity.email_verified,
            created_at: now,
            last_used_at: Some(now),
        };
        match identities::insert(&mut tx, &row).await {
            Ok(()) => {}
            Err(LinkError::Taken) => return Err(Error::conflict("provider", TAKEN)),
            Err(LinkError::ProviderTaken) => {
                return Err(Error::conflict(
                    "provider",
                    format!(
                        "Your account is linked to another {} account already; unlink it first.",
                        identity.provider_name
                    ),
                ))
            }
            Err(LinkError::Db(e)) => return Err(e.into()),
        }
        let mailed = self
            .queue_factor_notice(
                &mut tx,
                &auth.user,
                FactorChange::IdentityLinked(&identity.provider_name),
            )
            .await?;
        tx.commit().await?;
        self.wake_mailer_if(mailed);
        let detail = identity.label();
        self.audit(Event::IdentityLinked, Some(&auth.user.id), client, Some(&detail))
            .await;
        Ok(())
    }

    /// Unlinks the signed-in user's identity of `provider` (after a recent
    /// sign-in), unless it is their last way to sign in: an account without
    /// a password keeps one identity or passkey.
    /// `provider_name` is what the notice to the owner calls it.
    pub async fn unlink_identity(
        &self,
        auth: &Authenticated,
        provider: &str,
        provider_name: &str,
        client: &Client,
    ) -> Result<u64> {
        self.require_recent_auth(auth)?;
        let user_id = &auth.user.id;
        let mut tx = self.db.begin().await?;
        factors::lock_user(&mut tx, user_id).await?;
        let has_password = users::find_by_id(&self.db, user_id)
            .await?
            .is_some_and(|r| !r.password_hash.is_empty());
        if !identities::delete(&mut tx, user_id, provider).await? {
            return Err(Error::NotFound(
                "No identity of this provider is linked to your account.".into(),
            ));
        }
        let others = identities::count_in(&mut tx, user_id).await?;
        let passkeys = factors::passkeys_of(&self.db, user_id).await?.len();
        if !has_password && others == 0 && passkeys == 0 {
            return Err(Error::StateConflict(
                "This is your only way to sign in: set a password (or add a passkey) first.".into(),
            ));
        }
        // Whoever signed in through it is signed out (the account there may
        // be lost or taken), but the owner doing this.
        let ended = sessions::delete_through_provider(&mut tx, user_id, provider, auth.session_id()).await?;
        let mailed = self
            .queue_factor_notice(&mut tx, &auth.user, FactorChange::IdentityUnlinked(provider_name))
            .await?;
        tx.commit().await?;
        self.wake_mailer_if(mailed);
        let detail = match ended {
            0 => provider.to_string(),
            n => format!("{provider}; {n} of its sessions signed out"),
        };
        self.audit(Event::IdentityUnlinked, Some(user_id), client, Some(&detail))
            .await;
        Ok(ended)
    }

    /// Records a sign-in through `provider` refused before any identity was
    /// known (a tampered state, a wrong issuer, a bad ID token).
    pub async fn note_external_refusal(
        &self,
        provider_name: &str,
        provider: &str,
        reason: &str,
        client: &Client,
    ) {
        // Anyone can send a callback nobody asked for, with no sign-in and
        // no limit: the first few of a client in an hour are recorded, not
        // every one (the refusal stands either way).
        let key = format!("callback-refused:{}", self.client_key(client));
        if self
            .throttle(&key, REFUSED_CALLBACKS_RECORDED, 3600)
            .await
            .is_err()
        {
            return;
        }
        let label = format!("{provider_name} ({provider})");
        self.note_refused(None, &label, reason, client).await;
    }

    /// Audits a refused sign-in, link or re-authentication through the
    /// provider `label` names, with the reason (and the user, if known).
    async fn note_refused(&self, user_id: Option<&str>, label: &str, reason: &str, client: &Client) {
        let detail = format!("{label}: {reason}");
        self.audit(Event::ExternalSignInRefused, user_id, client, Some(&detail))
            .await;
    }

    /// The identities linked to `user_id`.
    pub async fn identities_of(&self, user_id: &str) -> Result<Vec<LinkedIdentity>> {
        Ok(identities::of_user(&self.db, user_id)
            .await?
            .into_iter()
            .map(LinkedIdentity::from)
            .collect())
    }

    /// Re-authenticates the signed-in user with a verified identity of
    /// theirs. An account with a second factor proves that too, which this
    /// path cannot ask: it re-authenticates with its password and code, a
    /// passkey, or a new sign-in.
    pub async fn reauthenticate_external(
        &self,
        auth: &Authenticated,
        identity: &ExternalIdentity,
        client: &Client,
    ) -> Result<()> {
        let mine = identities::find(&self.db, &identity.provider, &identity.subject)
            .await?
            .is_some_and(|r| r.user_id == auth.user.id);
        if !mine {
            self.note_refused(
                Some(&auth.user.id),
                &identity.label(),
                "not linked to this account",
                client,
            )
            .await;
            return Err(Error::Forbidden(format!(
                "That {} account is not the one linked to yours.",
                identity.provider_name
            )));
        }
        if auth.user.mfa_enabled {
            return Err(Error::Forbidden(format!(
                "Your account has a second factor, so {} alone cannot confirm it is you: use your password and code or a passkey, or sign out and sign in again.",
                identity.provider_name
            )));
        }
        self.mark_reauthenticated(auth, &Amr::external(&identity.provider))
            .await?;
        let detail = format!("through {}", identity.label());
        self.audit(Event::Reauthenticated, Some(&auth.user.id), client, Some(&detail))
            .await;
        Ok(())
    }
}

/// A username from the provider's (or the email's local part), in the
/// characters usernames allow, at least 3 long: `Jane Doe!` -> `JaneDoe`.
fn username_from(preferred: Option<&str>, email: Option<&str>) -> String {
    let local = email.and_then(|e| e.split('@').next());
    let tidy = |raw: &str| -> String {
        raw.chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))
            .take(60)
            .collect()
    };
    let candidate = [preferred, local]
        .into_iter()
        .flatten()
        .map(tidy)
        .find_map(|c| validate::username(&c).ok());
    candidate.unwrap_or_else(|| "user".to_string())
}

#[cfg(test)]
mod tests {
    use super::username_from;

    #[test]
    fn usernames_come_from_the_provider_or_the_email() {
        assert_eq!(username_from(Some("jane"), Some("x@example.com")), "jane");
        assert_eq!(username_from(Some("Jane Doe!"), None), "JaneDoe");
        assert_eq!(username_from(Some("a"), Some("jane.doe@example.com")), "jane.doe");
        assert_eq!(username_from(None, None), "user");
        assert_eq!(username_from(Some("a@b.c"), None), "ab.c");
        assert_eq!(username_from(Some("!!"), Some("@x")), "user");
    }
}
