//! Creating accounts and checking credentials.

use super::{audit::Event, limits, sessions::Authenticated, validate, Client, Core, Error, Result, User};
use crate::{
    model::Role,
    server::{
        config::EmailVerification,
        db::{
            users::{self, InsertError, NewUser, SetupClaim},
            Tx,
        },
    },
};

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
                username,
                email,
                &input.password,
                Role::Admin,
                SetupClaim::Claim,
                false,
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
                username,
                Some(email),
                &input.password,
                Role::User,
                SetupClaim::No,
                false,
            )
            .await?;
        self.audit(Event::Signup, Some(&user.id), client, None).await;
        Ok(user)
    }

    /// Checks the password against the policy and hashes it: everything a
    /// new account needs before its transaction starts (the hash takes a
    /// core for a while; no lock is held meanwhile).
    pub(crate) async fn prepare_user(
        &self,
        username: String,
        email: Option<String>,
        password: &str,
        role: Role,
        email_verified: bool,
    ) -> Result<NewUser> {
        self.policy
            .check("password", password, &username, email.as_deref())?;
        let hash = self.hasher.hash(password).await?;
        Ok(NewUser {
            id: uuid::Uuid::new_v4().to_string(),
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
        })
    }

    /// Creates an account; with an unverified email (and verification on), a
    /// verification link goes out in the same transaction.
    pub(crate) async fn create(
        &self,
        username: String,
        email: Option<String>,
        password: &str,
        role: Role,
        claim: SetupClaim,
        email_verified: bool,
    ) -> Result<User> {
        let new = self
            .prepare_user(username, email, password, role, email_verified)
            .await?;
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
            let detail = failed_login_detail(identifier, "no such account");
            self.audit(Event::LoginFailed, None, client, Some(&detail)).await;
            return Err(Error::InvalidCredentials);
        }
        self.admit_attempt(client).await?;
        let row = users::find_by_key(&self.db, &key).await?;
        let lock_key = limits::account_key(row.as_ref().map(|r| r.id.as_str()), identifier);
        self.check_lock(&lock_key).await?;
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
                self.attempt_succeeded(client).await?;
                self.clear_failures(&lock_key).await?;
                if self.config.email_verification == EmailVerification::Required
                    && user.email.is_some()
                    && !user.email_verified
                {
                    self.remind_to_verify(&user, client).await?;
                    return Err(Error::EmailNotVerified);
                }
                Ok(user)
            }
            user => {
                let user_id = user.as_ref().map(|u| u.id.as_str());
                self.record_failure(&lock_key, user_id, client).await?;
                let reason = match &user {
                    None => "no such account",
                    Some(u) if u.disabled => "account disabled",
                    Some(_) => "wrong password",
                };
                let detail = failed_login_detail(identifier, reason);
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
        let user = &auth.user;
        self.check_current_password(user, current, client).await?;
        self.policy
            .check("new_password", new, &user.username, user.email.as_deref())?;
        if super::passwords::normalize(new) == super::passwords::normalize(current) {
            return Err(Error::invalid(
                "new_password",
                "Choose a password different from your current one.",
            ));
        }
        let hash = self.hasher.hash(new).await?;
        let mut tx = self.db.begin().await?;
        users::set_password_hash(&mut tx, &user.id, &hash, super::now()).await?;
        let mailed = self.queue_password_notice(&mut tx, user, false).await?;
        tx.commit().await?;
        if mailed {
            self.wake_mailer();
        }
        let sessions = self.end_other_sessions(&user.id, auth.session_id()).await?;
        let families = self
            .revoke_token_families(&user.id, auth.token_family(), "password change")
            .await?;
        let detail = format!("{sessions} other sessions and {families} token families ended");
        self.audit(Event::PasswordChanged, Some(&user.id), client, Some(&detail))
            .await;
        Ok(())
    }

    /// Checks a signed-in user's current password (before a password or
    /// email change): `WrongPassword` when it does not match.
    pub(crate) async fn check_current_password(
        &self,
        user: &User,
        password: &str,
        _client: &Client,
    ) -> Result<()> {
        let row = users::find_by_id(&self.db, &user.id)
            .await?
            .ok_or(Error::Unauthenticated)?;
        if !self.hasher.verify(password, &row.password_hash).await? {
            return Err(Error::WrongPassword {
                field: "current_password",
                message: "current password is incorrect".into(),
            });
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
/// 100 characters, quoted and escaped) and why; never the password.
fn failed_login_detail(identifier: &str, reason: &str) -> String {
    let shown: String = identifier.trim().chars().take(100).collect();
    format!("identifier {shown:?}: {reason}")
}
