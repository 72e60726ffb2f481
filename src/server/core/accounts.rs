//! Creating accounts and checking credentials.

use super::{audit::Event, limits, sessions::Authenticated, validate, Client, Core, Error, Result, User};
use crate::{
    model::Role,
    server::{
        config::EmailVerification,
        db::{
            users::{self, InsertError, NewUser, SetupClaim},
            Batch, Tx,
        },
    },
};

/// A new account as the core makes it.
#[derive(Clone, Debug)]
pub(crate) struct AccountSpec<'a> {
    pub username: String,
    pub email: Option<String>,
    pub password: &'a str,
    pub role: Role,
    /// The address is known to be the person's (an invitation, an operator).
    pub email_verified: bool,
}

/// What setup and signup ask for.
#[derive(Clone, Debug, Default)]
pub struct NewAccount {
    pub username: Option<String>,
    pub email: Option<String>,
    pub password: String,
}

impl Core {
    /// Creates the first admin. Exactly one setup succeeds, however many race.
    pub async fn setup(&self, input: NewAccount, client: &Client) -> Result<User> {
        if !self.setup_required().await? {
            return Err(Error::Forbidden("setup already complete".into()));
        }
        let username = validate::username(input.username.as_deref().unwrap_or(""))?;
        let email = match input.email.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
            Some(e) => Some(validate::email(e)?),
            None => None,
        };
        let user = self
            .create(
                AccountSpec {
                    username,
                    email,
                    password: &input.password,
                    role: Role::Admin,
                    email_verified: false,
                },
                SetupClaim::Claim,
                client,
            )
            .await?;
        self.audit(Event::Setup, Some(&user.id), client, Some("first admin created"))
            .await;
        Ok(user)
    }

    /// Creates an ordinary account (signup). The username defaults to the email.
    pub async fn signup(&self, input: NewAccount, client: &Client) -> Result<User> {
        if self.setup_required().await? {
            return Err(Error::Forbidden(
                "setup required: create the first admin account at /setup".into(),
            ));
        }
        if !self.config.signup_open {
            return Err(Error::Forbidden("signup is closed".into()));
        }
        let email = validate::email(input.email.as_deref().unwrap_or(""))?;
        let username = match input.username.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
            Some(u) => validate::username(u)?,
            None => email.clone(),
        };
        self.throttle_signup(client).await?;
        let user = self
            .create(
                AccountSpec {
                    username,
                    email: Some(email),
                    password: &input.password,
                    role: Role::User,
                    email_verified: false,
                },
                SetupClaim::No,
                client,
            )
            .await?;
        self.audit(Event::Signup, Some(&user.id), client, None).await;
        Ok(user)
    }

    /// Checks the password against the policy and hashes it: everything a
    /// new account needs before its transaction starts (the hash takes a
    /// core for a while; no lock is held meanwhile).
    pub(crate) async fn prepare_user(&self, spec: AccountSpec<'_>, client: &Client) -> Result<NewUser> {
        let AccountSpec {
            username,
            email,
            password,
            role,
            email_verified,
        } = spec;
        // A username that is an email address must be this account's own:
        // otherwise anyone could squat someone else's address as a username
        // (its owner's signup and invitations would then meet "taken", and
        // forgot-password would find the squatter's account by it).
        let own_address = email.as_deref().map(validate::identifier_key);
        if validate::email(&username).is_ok()
            && own_address.as_deref() != Some(&*validate::identifier_key(&username))
        {
            return Err(Error::invalid(
                "username",
                "A username that is an email address must be this account's own email address.",
            ));
        }
        self.check_new_password("password", password, &username, email.as_deref(), client)
            .await?;
        let hash = self.hasher.hash(password).await?;
        Ok(NewUser {
            id: uuid::Uuid::new_v4().to_string(),
            username_skeleton: validate::skeleton(&username),
            username_key: validate::identifier_key(&username),
            email_key: email.as_deref().map(validate::identifier_key),
            username,
            email,
            password_hash: hash,
            role: role.as_str(),
            email_verified,
            now: super::now(),
        })
    }

    /// Inserts a prepared user in `tx`, mapping taken names to `Conflict`.
    pub(crate) async fn insert_user(&self, tx: &mut Tx, new: &NewUser, claim: SetupClaim) -> Result<User> {
        match users::insert(tx, new, claim).await {
            Ok(()) => {}
            Err(InsertError::SetupDone) => {
                self.mark_setup_done();
                return Err(Error::Forbidden("setup already complete".into()));
            }
            Err(InsertError::UsernameTaken) => {
                return Err(if new.email_key.as_deref() == Some(new.username_key.as_str()) {
                    Error::conflict("email", "An account with this email already exists.")
                } else {
                    Error::conflict("username", "This username is taken.")
                })
            }
            Err(InsertError::EmailTaken) => {
                return Err(Error::conflict(
                    "email",
                    "An account with this email already exists.",
                ))
            }
            Err(InsertError::Db(e)) => return Err(e.into()),
        }
        Ok(User {
            id: new.id.clone(),
            username: new.username.clone(),
            email: new.email.clone(),
            role: Role::parse(new.role).unwrap_or(Role::User),
            disabled: false,
            created_at: new.now,
            last_login_at: None,
            email_verified: new.email_verified,
            password_changed_at: new.now,
            mfa_enabled: false,
            has_password: !new.password_hash.is_empty(),
        })
    }

    /// Creates an account; with an unverified email (and verification on), a
    /// verification link goes out in the same transaction.
    pub(crate) async fn create(
        &self,
        spec: AccountSpec<'_>,
        claim: SetupClaim,
        client: &Client,
    ) -> Result<User> {
        let new = self.prepare_user(spec, client).await?;
        let mut tx = self.db.begin().await?;
        let user = self.insert_user(&mut tx, &new, claim).await?;
        let mailed = self.queue_verification(&mut tx, &user).await?;
        tx.commit().await?;
        if claim != SetupClaim::No {
            self.mark_setup_done();
        }
        if mailed {
            self.wake_mailer();
        }
        Ok(user)
    }

    /// Checks a username-or-email and password, under the login limits:
    /// past `GATEHOUSE_LOGIN_ATTEMPTS` failures from this client, or while the
    /// account is locked, 429. Unknown user, wrong password and disabled
    /// account all answer `InvalidCredentials`, after the same hashing work,
    /// and count towards a lockout alike.
    pub async fn check_credentials(&self, identifier: &str, password: &str, client: &Client) -> Result<User> {
        let mut settle = Batch::default();
        let user = self
            .check_credentials_then(identifier, password, client, &mut settle)
            .await?;
        settle.run(&self.db).await?;
        Ok(user)
    }

    /// [`Core::check_credentials`], leaving the writes a right password
    /// makes (the attempt taken back, the account's failures forgotten) in
    /// `settle` for the caller to commit with its own (a login commits them
    /// with its session: one write instead of two). On an error nothing is
    /// left in it.
    pub(crate) async fn check_credentials_then(
        &self,
        identifier: &str,
        password: &str,
        client: &Client,
        settle: &mut Batch,
    ) -> Result<User> {
        let result = self
            .check_credentials_counted(identifier, password, client, settle)
            .await;
        let outcome = match &result {
            Ok(_) => "success",
            Err(Error::InvalidCredentials) => "failure",
            Err(Error::RateLimited { .. }) => "limited",
            Err(Error::EmailNotVerified) => "not_verified",
            Err(_) => "error",
        };
        metrics::counter!("gatehouse_logins_total", "outcome" => outcome).increment(1);
        result
    }

    async fn check_credentials_counted(
        &self,
        identifier: &str,
        password: &str,
        client: &Client,
        settle: &mut Batch,
    ) -> Result<User> {
        let key = validate::identifier_key(identifier);
        // Input no account can match (empty, longer than any identifier, with
        // control characters, or no password) fails like any other wrong
        // login: counted against the client, after the same hashing work. It
        // takes no lockout row (a row per 64 KiB identifier would let anyone
        // bloat the database) and never reaches a query.
        let impossible = key.is_empty()
            || key.chars().count() > validate::EMAIL_MAX
            || key.chars().any(char::is_control)
            || password.is_empty();
        if impossible {
            self.admit_attempt(client).await?;
            self.hasher.verify_dummy(password).await?;
            let detail = failed_login_detail(identifier, None, "no such account");
            self.audit(Event::LoginFailed, None, client, Some(&detail)).await;
            return Err(Error::InvalidCredentials);
        }
        self.admit_attempt(client).await?;
        let row = users::find_by_key(&self.db, &key).await?;
        // An account without a password (made through another identity
        // provider) has none to guess: a try fails like a wrong password,
        // counted against the client, but takes nothing from the account's
        // lockout (else anyone could lock its owner out of their provider).
        if let Some(r) = row.as_ref().filter(|r| r.password_hash.is_empty()) {
            self.hasher.verify_dummy(password).await?;
            let user = User::try_from(r.clone())?;
            let detail = failed_login_detail(identifier, Some(&user), "the account has no password");
            self.audit(Event::LoginFailed, Some(&user.id), client, Some(&detail))
                .await;
            return Err(Error::InvalidCredentials);
        }
        let lock_key = limits::account_key(row.as_ref().map(|r| r.id.as_str()), identifier);
        // Counted as a failure before the password is checked, so racing
        // guesses cannot slip past the lockout.
        let reservation = self
            .reserve_guess(&lock_key, row.as_ref().map(|r| r.id.as_str()), client)
            .await?;
        let matches = match &row {
            Some(r) => self.hasher.verify(password, &r.password_hash).await?,
            None => {
                self.hasher.verify_dummy(password).await?;
                false
            }
        };
        let user = row.map(User::try_from).transpose()?;
        match user {
            Some(user) if matches && !user.disabled => {
                self.guess_succeeded_in(settle, client, &lock_key);
                if self.config.email_verification == EmailVerification::Required
                    && user.email.is_some()
                    && !user.email_verified
                {
                    std::mem::take(settle).run(&self.db).await?;
                    self.remind_to_verify(&user, client).await?;
                    return Err(Error::EmailNotVerified);
                }
                Ok(user)
            }
            user => {
                let user_id = user.as_ref().map(|u| u.id.as_str());
                self.guess_failed(&lock_key, reservation, user_id, client).await?;
                let reason = match &user {
                    None => "no such account",
                    Some(u) if u.disabled => "account disabled",
                    Some(_) => "wrong password",
                };
                let detail = failed_login_detail(identifier, user.as_ref(), reason);
                self.audit(Event::LoginFailed, user_id, client, Some(&detail))
                    .await;
                Err(Error::InvalidCredentials)
            }
        }
    }

    /// Changes the signed-in user's password after checking the current one,
    /// then ends every other session and token family of theirs (the one
    /// making the change stays).
    pub async fn change_password(
        &self,
        auth: &Authenticated,
        current: &str,
        new: &str,
        client: &Client,
    ) -> Result<()> {
        self.require_recent_auth(auth)?;
        let user = &auth.user;
        // An account made through another identity provider has no password
        // to ask for: the recent sign-in is the proof.
        if user.has_password {
            self.check_current_password(user, current, client).await?;
        }
        self.check_new_password("new_password", new, &user.username, user.email.as_deref(), client)
            .await?;
        if user.has_password && super::passwords::normalize(new) == super::passwords::normalize(current) {
            return Err(Error::invalid(
                "new_password",
                "Choose a password different from your current one.",
            ));
        }
        let hash = self.hasher.hash(new).await?;
        let mut tx = self.db.begin().await?;
        let changed_at = users::set_password_hash(&mut tx, &user.id, &hash, super::now()).await?;
        // A pending email change (or reset link) someone else started ends here.
        self.cancel_pending_links_in(&mut tx, &user.id).await?;
        let mailed = self.queue_password_notice(&mut tx, user, false).await?;
        // The session or token family making the change goes on with the new
        // password; every other one ends (and one a racing login makes with
        // the old password is refused when used). All in the change's
        // transaction: the password never changes without them.
        self.rebind_to_password(&mut tx, auth, changed_at).await?;
        let (sessions, families) = self
            .end_all_in(
                &mut tx,
                &user.id,
                auth.session_id(),
                auth.token_family(),
                "password change",
            )
            .await?;
        tx.commit().await?;
        if mailed {
            self.wake_mailer();
        }
        let detail = format!("{sessions} other sessions and {families} token families ended");
        self.audit(Event::PasswordChanged, Some(&user.id), client, Some(&detail))
            .await;
        Ok(())
    }

    /// Checks a signed-in user's current password (before a password or
    /// email change) under the same limits as a login: the client's failures
    /// count against `GATEHOUSE_LOGIN_ATTEMPTS` and the account's towards its
    /// lockout, so a stolen session or token is no unlimited guessing
    /// oracle. Failures are audited. `WrongPassword` when it does not match.
    pub(crate) async fn check_current_password(
        &self,
        user: &User,
        password: &str,
        client: &Client,
    ) -> Result<()> {
        self.admit_attempt(client).await?;
        let lock_key = limits::account_key(Some(&user.id), "");
        let reservation = self.reserve_guess(&lock_key, Some(&user.id), client).await?;
        let row = users::find_by_id(&self.db, &user.id)
            .await?
            .ok_or(Error::Unauthenticated)?;
        if !self.hasher.verify(password, &row.password_hash).await? {
            self.guess_failed(&lock_key, reservation, Some(&user.id), client)
                .await?;
            self.audit(
                Event::PasswordCheckFailed,
                Some(&user.id),
                client,
                Some("wrong current password"),
            )
            .await;
            return Err(Error::WrongPassword {
                field: "current_password",
                message: "current password is incorrect".into(),
            });
        }
        self.guess_succeeded(client, &lock_key).await?;
        Ok(())
    }

    /// Checks a new password (for `field`): the policy, then, when
    /// `GATEHOUSE_HIBP_URL` is set, the breach corpus by k-anonymity. When
    /// the service fails the password is accepted, and the failure audited.
    pub(crate) async fn check_new_password(
        &self,
        field: &'static str,
        password: &str,
        username: &str,
        email: Option<&str>,
        client: &Client,
    ) -> Result<()> {
        self.policy.check(field, password, username, email)?;
        let Some(breach) = &self.breach else {
            return Ok(());
        };
        match breach.times_breached(password).await {
            Ok(0) => Ok(()),
            Ok(times) => Err(Error::invalid(
                field,
                format!(
                    "This password appeared in a data breach ({times} times): attackers try it early. Choose another."
                ),
            )),
            Err(reason) => {
                tracing::warn!(error = %reason, "a new password was accepted without the breach check");
                self.audit(
                    Event::BreachCheckFailed,
                    None,
                    client,
                    Some(&format!("{reason}; the password was accepted unchecked")),
                )
                .await;
                Ok(())
            }
        }
    }

    /// Fills the username skeletons of users made before they existed. Two
    /// existing look-alikes both stay; the second keeps no skeleton (and a
    /// warning says so).
    pub async fn backfill_username_skeletons(&self) -> Result<()> {
        for (id, username) in users::without_skeleton(&self.db).await? {
            if !users::set_skeleton(&self.db, &id, &validate::skeleton(&username)).await? {
                tracing::warn!(user_id = %id, "this username looks like another one; both stay as they are");
            }
        }
        Ok(())
    }

    pub async fn user(&self, id: &str) -> Result<User> {
        match users::find_by_id(&self.db, id).await? {
            Some(row) => User::try_from(row),
            None => Err(Error::NotFound("no such user".into())),
        }
    }
}

/// The audit detail of a failed login: the identifier tried (trimmed, at most
/// 100 characters, quoted and escaped) and why; never the password. An
/// identifier that names no account and could not be one (not a valid
/// username or email) is often a password typed into the wrong field: then a
/// marker stands in for it.
fn failed_login_detail(identifier: &str, account: Option<&User>, reason: &str) -> String {
    let plausible =
        account.is_some() || validate::username(identifier).is_ok() || validate::email(identifier).is_ok();
    if !plausible {
        return format!("identifier [not a username or email; not stored]: {reason}");
    }
    let shown: String = identifier.trim().chars().take(100).collect();
    format!("identifier {shown:?}: {reason}")
}
