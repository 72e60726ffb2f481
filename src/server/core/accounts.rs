//! Creating accounts and checking credentials.

use super::{sessions::Authenticated, validate, Client, Core, Error, Result, User};
use crate::{
    model::Role,
    server::db::users::{self, InsertError, NewUser, SetupClaim},
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
    pub async fn setup(&self, input: NewAccount, _client: &Client) -> Result<User> {
        if !self.setup_required().await? {
            return Err(Error::Forbidden("setup already complete".into()));
        }
        let username = validate::username(input.username.as_deref().unwrap_or(""))?;
        let email = match input.email.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
            Some(e) => Some(validate::email(e)?),
            None => None,
        };
        self.create(username, email, &input.password, Role::Admin, SetupClaim::Claim)
            .await
    }

    /// Creates an ordinary account (signup). The username defaults to the email.
    pub async fn signup(&self, input: NewAccount, _client: &Client) -> Result<User> {
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
        self.create(username, Some(email), &input.password, Role::User, SetupClaim::No)
            .await
    }

    /// Creates an admin from the command line; marks setup done if it was not.
    pub async fn create_admin(&self, username: &str, email: Option<&str>, password: &str) -> Result<User> {
        let username = validate::username(username)?;
        let email = email.map(validate::email).transpose()?;
        self.create(username, email, password, Role::Admin, SetupClaim::ClaimIfFree)
            .await
    }

    async fn create(
        &self,
        username: String,
        email: Option<String>,
        password: &str,
        role: Role,
        claim: SetupClaim,
    ) -> Result<User> {
        let mut context = vec![username.as_str()];
        if let Some(e) = email.as_deref() {
            context.push(e);
        }
        self.policy.check("password", password, &context)?;
        let hash = self.hasher.hash(password).await?;
        let now = super::now();
        let new = NewUser {
            id: uuid::Uuid::new_v4().to_string(),
            username_key: validate::identifier_key(&username),
            email_key: email.as_deref().map(validate::identifier_key),
            username,
            email,
            password_hash: hash,
            role: role.as_str(),
            now,
        };
        match users::insert(&self.db, &new, claim).await {
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
        if claim != SetupClaim::No {
            self.mark_setup_done();
        }
        Ok(User {
            id: new.id,
            username: new.username,
            email: new.email,
            role,
            disabled: false,
            created_at: now,
            last_login_at: None,
        })
    }

    /// Checks a username-or-email and password. Unknown user, wrong password
    /// and disabled account all answer `InvalidCredentials`, after the same
    /// amount of hashing work.
    pub async fn check_credentials(&self, identifier: &str, password: &str) -> Result<User> {
        let key = validate::identifier_key(identifier);
        if key.is_empty() {
            return Err(Error::invalid("identifier", "Enter your username or email."));
        }
        if password.is_empty() {
            return Err(Error::invalid("password", "Enter your password."));
        }
        let Some(row) = users::find_by_key(&self.db, &key).await? else {
            self.hasher.verify_dummy(password).await?;
            return Err(Error::InvalidCredentials);
        };
        let matches = self.hasher.verify(password, &row.password_hash).await?;
        let user = User::try_from(row)?;
        if !matches || user.disabled {
            return Err(Error::InvalidCredentials);
        }
        Ok(user)
    }

    /// Changes the signed-in user's password after checking the current one,
    /// then ends every other session and token family of theirs (the one
    /// making the change stays).
    pub async fn change_password(&self, auth: &Authenticated, current: &str, new: &str) -> Result<()> {
        let user = &auth.user;
        if current.is_empty() {
            return Err(Error::invalid("current_password", "Enter your current password."));
        }
        let row = users::find_by_id(&self.db, &user.id)
            .await?
            .ok_or(Error::Unauthenticated)?;
        if !self.hasher.verify(current, &row.password_hash).await? {
            return Err(Error::WrongPassword {
                field: "current_password",
                message: "current password is incorrect".into(),
            });
        }
        let mut context = vec![user.username.as_str()];
        if let Some(e) = user.email.as_deref() {
            context.push(e);
        }
        self.policy.check("new_password", new, &context)?;
        if super::passwords::normalize(new) == super::passwords::normalize(current) {
            return Err(Error::invalid(
                "new_password",
                "Choose a password different from your current one.",
            ));
        }
        let hash = self.hasher.hash(new).await?;
        users::set_password_hash(&self.db, &user.id, &hash, super::now()).await?;
        self.revoke_other_sessions(&user.id, auth.session_id()).await?;
        self.revoke_token_families(&user.id, auth.token_family(), "password change")
            .await?;
        Ok(())
    }

    pub async fn user(&self, id: &str) -> Result<User> {
        match users::find_by_id(&self.db, id).await? {
            Some(row) => User::try_from(row),
            None => Err(Error::NotFound("no such user".into())),
        }
    }
}
