//! What admins (and operators, from the command line) do to other accounts.
//! Every function here checks the actor's role itself, so no adapter can
//! forget to.

use super::{
    accounts::{AccountSpec, NewAccount},
    audit::Event,
    limits,
    sessions::Authenticated,
    validate, Client, Core, Error, Result,
};
use crate::{
    model::Role,
    server::db::{
        limits as limits_db,
        users::{self, AdminUserRow, SetupClaim, UpdateError},
    },
};

/// A user as the admin area lists it.
#[derive(Clone, Debug)]
pub struct ManagedUser {
    pub user: super::User,
    /// Unix seconds, when the account is locked now.
    pub locked_until: Option<i64>,
    /// The identity providers linked to the account (their ids).
    pub providers: Vec<String>,
}

impl ManagedUser {
    fn from_row(row: AdminUserRow, now: i64) -> Result<ManagedUser> {
        Ok(ManagedUser {
            locked_until: row.locked_until.filter(|until| *until > now),
            providers: Vec::new(),
            user: super::User {
                role: Role::parse(&row.role)
                    .ok_or_else(|| Error::Internal(format!("unknown role {:?}", row.role)))?,
                id: row.id,
                username: row.username,
                email: row.email,
                disabled: row.disabled,
                created_at: row.created_at,
                last_login_at: row.last_login_at,
                email_verified: row.email_verified,
                password_changed_at: row.password_changed_at,
                mfa_enabled: row.mfa_enabled,
                has_password: row.has_password,
            },
        })
    }
}

/// A change an admin asks for; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct UserChange {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
}

/// The admin role, or 403.
pub fn require_admin(actor: &Authenticated) -> Result<()> {
    if actor.user.is_admin() {
        Ok(())
    } else {
        Err(Error::Forbidden("admin role required".into()))
    }
}

/// The most users one page of the admin list holds.
pub const USERS_PAGE_MAX: u32 = 1000;

/// What a page of the admin list shows: users in username order (case
/// insensitive), from after a cursor, matching every filter given.
#[derive(Clone, Debug, Default)]
pub struct UserQuery {
    /// The start of a username or an email address.
    pub search: Option<String>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    pub locked: Option<bool>,
    pub email_verified: Option<bool>,
    /// The id (or the username) of the user the previous page ended with.
    pub after: Option<String>,
    /// 1 to [`USERS_PAGE_MAX`] (more is that many).
    pub limit: u32,
}

impl Core {
    /// A page of users (see [`UserQuery`]).
    pub async fn managed_users(&self, actor: &Authenticated, query: &UserQuery) -> Result<Vec<ManagedUser>> {
        require_admin(actor)?;
        let now = super::now();
        // No username or email holds a control character (and PostgreSQL
        // refuses NUL in text): such a search matches nobody.
        let plain = |s: &Option<String>| !s.as_deref().is_some_and(|s| s.chars().any(char::is_control));
        if !plain(&query.search) {
            return Ok(Vec::new());
        }
        if !plain(&query.after) {
            return Err(Error::invalid("after", "after must be the id of a user"));
        }
        // The cursor is the last user's id; its username key orders the list.
        let after = match query.after.as_deref() {
            Some(id) if validate::is_record_id(id) => match users::find_by_id(&self.db, id).await? {
                Some(row) => Some(validate::identifier_key(&row.username)),
                None => Some(validate::identifier_key(id)),
            },
            Some(name) => Some(validate::identifier_key(name)),
            None => None,
        };
        let filter = users::UserFilter {
            prefix: query
                .search
                .as_deref()
                .map(validate::identifier_key)
                .filter(|k| !k.is_empty()),
            role: query.role.map(Role::as_str),
            disabled: query.disabled,
            locked: query.locked,
            email_verified: query.email_verified,
            after,
            limit: i64::from(query.limit.clamp(1, USERS_PAGE_MAX)),
            now,
        };
        let mut list = users::page_for_admin(&self.db, &filter)
            .await?
            .into_iter()
            .map(|row| ManagedUser::from_row(row, now))
            .collect::<Result<Vec<_>>>()?;
        self.fill_providers(&mut list).await?;
        Ok(list)
    }

    /// Adds each user's linked identity providers.
    async fn fill_providers(&self, list: &mut [ManagedUser]) -> Result<()> {
        let ids: Vec<String> = list.iter().map(|m| m.user.id.clone()).collect();
        for (user_id, provider) in crate::server::db::identities::providers_of(&self.db, &ids).await? {
            if let Some(m) = list.iter_mut().find(|m| m.user.id == user_id) {
                m.providers.push(provider);
            }
        }
        Ok(())
    }

    /// The id of the user `name` names (a username, an email, or an id).
    pub async fn find_user_id(&self, actor: &Authenticated, name: &str) -> Result<Option<String>> {
        require_admin(actor)?;
        if validate::is_record_id(name) {
            return Ok(Some(name.to_string()));
        }
        if name.chars().any(char::is_control) {
            return Ok(None);
        }
        Ok(users::find_by_key(&self.db, &validate::identifier_key(name))
            .await?
            .map(|row| row.id))
    }

    /// The usernames of these users, by id (for naming them in the audit log).
    pub async fn usernames(
        &self,
        actor: &Authenticated,
        ids: &[String],
    ) -> Result<std::collections::HashMap<String, String>> {
        require_admin(actor)?;
        let ids: Vec<String> = ids
            .iter()
            .filter(|id| validate::is_record_id(id))
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        Ok(users::usernames(&self.db, &ids).await?.into_iter().collect())
    }

    pub async fn managed_user(&self, actor: &Authenticated, id: &str) -> Result<ManagedUser> {
        require_admin(actor)?;
        if !validate::is_record_id(id) {
            return Err(Error::NotFound("no such user".into()));
        }
        match users::find_for_admin(&self.db, id).await? {
            Some(row) => {
                let mut one = [ManagedUser::from_row(row, super::now())?];
                self.fill_providers(&mut one).await?;
                let [m] = one;
                Ok(m)
            }
            None => Err(Error::NotFound("no such user".into())),
        }
    }

    /// Changes a user's role and/or status. Disabling ends their sessions and
    /// token families at once. Nothing may leave the site without an active
    /// admin: that answers `StateConflict` (409) and changes nothing.
    pub async fn change_user(
        &self,
        actor: &Authenticated,
        id: &str,
        change: UserChange,
        client: &Client,
    ) -> Result<ManagedUser> {
        require_admin(actor)?;
        self.require_recent_auth(actor)?;
        let before = self.managed_user(actor, id).await?;
        let role = change.role.map(Role::as_str);
        match users::update_role_and_status(&self.db, id, role, change.disabled).await {
            Ok(()) => {}
            Err(UpdateError::NotFound) => return Err(Error::NotFound("no such user".into())),
            Err(UpdateError::LastAdmin) => {
                return Err(Error::StateConflict(
                    "that would leave no active admin: make another admin first".into(),
                ))
            }
            Err(UpdateError::Db(e)) => return Err(e.into()),
        }
        let target = &before.user;
        if let Some(new_role) = change.role.filter(|r| *r != target.role) {
            let detail = format!(
                "{} role {} -> {} by {}",
                target.username, target.role, new_role, actor.user.username
            );
            self.audit(Event::RoleChanged, Some(id), client, Some(&detail))
                .await;
        }
        match change.disabled {
            Some(true) if !target.disabled => {
                let (sessions, families) = self.end_everything(id, None, None, "account disabled").await?;
                let detail = format!(
                    "{} disabled by {}; {sessions} sessions and {families} token families ended",
                    target.username, actor.user.username
                );
                self.audit(Event::UserDisabled, Some(id), client, Some(&detail))
                    .await;
            }
            Some(false) if target.disabled => {
                let detail = format!("{} enabled by {}", target.username, actor.user.username);
                self.audit(Event::UserEnabled, Some(id), client, Some(&detail))
                    .await;
            }
            _ => {}
        }
        self.managed_user(actor, id).await
    }

    /// Lifts a lock (and forgets the failures) on a user's account.
    pub async fn unlock_user(&self, actor: &Authenticated, id: &str, client: &Client) -> Result<ManagedUser> {
        self.require_recent_auth(actor)?;
        let target = self.managed_user(actor, id).await?;
        let now = super::now();
        let mut tx = self.db.begin().await?;
        let password_lock = limits_db::clear(&mut tx, &limits::account_key(Some(id), ""), now).await?;
        let code_lock = limits_db::clear(&mut tx, &limits::second_factor_key(id), now).await?;
        tx.commit().await?;
        let was_locked = password_lock || code_lock;
        let detail = format!(
            "{} unlocked by {}{}",
            target.user.username,
            actor.user.username,
            if was_locked { "" } else { " (was not locked)" }
        );
        self.audit(Event::AccountUnlocked, Some(id), client, Some(&detail))
            .await;
        self.managed_user(actor, id).await
    }

    /// Ends every session and token family of a user.
    pub async fn sign_out_user(&self, actor: &Authenticated, id: &str, client: &Client) -> Result<u64> {
        self.require_recent_auth(actor)?;
        let target = self.managed_user(actor, id).await?;
        let (sessions, families) = self.end_everything(id, None, None, "revoked by an admin").await?;
        let detail = format!(
            "{sessions} sessions and {families} token families of {} ended by {}",
            target.user.username, actor.user.username
        );
        self.audit(Event::SessionsRevoked, Some(id), client, Some(&detail))
            .await;
        Ok(sessions + families)
    }

    /// Creates an account (works when signup is closed).
    pub async fn create_user(
        &self,
        actor: &Authenticated,
        input: NewAccount,
        role: Role,
        client: &Client,
    ) -> Result<super::User> {
        require_admin(actor)?;
        self.require_recent_auth(actor)?;
        let username = match input.username.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
            Some(u) => validate::username(u)?,
            None => match input.email.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
                Some(e) => validate::email(e)?,
                None => return Err(Error::invalid("username", "Enter a username or an email.")),
            },
        };
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
                    role,
                    email_verified: false,
                },
                SetupClaim::No,
                client,
            )
            .await?;
        let detail = format!("{} ({role}) created by {}", user.username, actor.user.username);
        self.audit(Event::UserCreated, Some(&user.id), client, Some(&detail))
            .await;
        Ok(user)
    }

    /// The audit log for an admin, newest first (see [`Core::audit_log`]).
    pub async fn audit_entries(
        &self,
        actor: &Authenticated,
        user_id: Option<&str>,
        event: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<super::audit::AuditEntry>> {
        require_admin(actor)?;
        self.audit_log(user_id, event, before, limit).await
    }

    /// The operator's `create-admin`: an admin account, from the command line.
    pub async fn create_admin(
        &self,
        username: &str,
        email: Option<&str>,
        password: &str,
    ) -> Result<super::User> {
        let username = validate::username(username)?;
        let email = email.map(validate::email).transpose()?;
        let user = self
            .create(
                AccountSpec {
                    username,
                    email,
                    password,
                    role: Role::Admin,
                    email_verified: true,
                },
                SetupClaim::ClaimIfFree,
                &Client::default(),
            )
            .await?;
        let detail = format!("{} (admin) created from the command line", user.username);
        self.audit(
            Event::UserCreated,
            Some(&user.id),
            &Client::default(),
            Some(&detail),
        )
        .await;
        Ok(user)
    }

    /// The operator's `reset-password`: a new password for the account named
    /// by `identifier` (username or email); every session and token family of
    /// it ends, and any lock is lifted.
    pub async fn reset_password(&self, identifier: &str, password: &str) -> Result<super::User> {
        let key = validate::identifier_key(identifier);
        let row = users::find_by_key(&self.db, &key)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no account is named {identifier:?}")))?;
        let user = super::User::try_from(row)?;
        self.check_new_password(
            "password",
            password,
            &user.username,
            user.email.as_deref(),
            &Client::default(),
        )
        .await?;
        let hash = self.hasher.hash(password).await?;
        let mut tx = self.db.begin().await?;
        users::set_password_hash(&mut tx, &user.id, &hash, super::now()).await?;
        // As a reset with a mailed link: pending links end, and the owner is
        // asked to check the factors.
        self.cancel_pending_links_in(&mut tx, &user.id).await?;
        if user.mfa_enabled {
            crate::server::db::factors::set_factors_review(&mut tx, &user.id, true).await?;
        }
        let mailed = self.queue_password_notice(&mut tx, &user, true).await?;
        let (sessions, families) = self
            .end_all_in(&mut tx, &user.id, None, None, "password reset")
            .await?;
        let now = super::now();
        limits_db::clear(&mut tx, &limits::account_key(Some(&user.id), ""), now).await?;
        limits_db::clear(&mut tx, &limits::second_factor_key(&user.id), now).await?;
        tx.commit().await?;
        if mailed {
            self.wake_mailer();
        }
        let detail =
            format!("from the command line; {sessions} sessions and {families} token families ended");
        self.audit(
            Event::PasswordReset,
            Some(&user.id),
            &Client::default(),
            Some(&detail),
        )
        .await;
        Ok(user)
    }
}
