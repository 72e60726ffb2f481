//! Browser sessions: their lifetime (absolute and idle), listing and revoking.
//! The cookie and its store belong to the adapters; this module owns the rules.

use super::{audit::Event, Client, Core, Result, User};
use crate::server::db::{
    sessions::{self, SessionRow},
    users, Batch, Tx,
};

/// The key, in a browser's session record, of the id of the core session it
/// holds (the session store binds the record to that session when it
/// stores it).
pub use crate::server::db::SESSION_KEY;

/// Seconds between two writes of `last_seen_at` for one session: idle time is
/// measured to this precision, and most requests do not write.
const TOUCH_EVERY: i64 = 60;

/// How a sign-in proved who the user is, as RFC 8176 `amr` values: what the
/// ID tokens of the session's authorizations say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Amr {
    methods: Vec<&'static str>,
    /// The identity provider the sign-in went through, if one did.
    provider: Option<String>,
}

impl Amr {
    fn of(methods: Vec<&'static str>) -> Amr {
        Amr {
            methods,
            provider: None,
        }
    }

    fn through(provider: &str, methods: Vec<&'static str>) -> Amr {
        Amr {
            methods,
            provider: (!provider.is_empty()).then(|| provider.to_string()),
        }
    }

    /// A password alone.
    pub fn password() -> Amr {
        Amr::of(vec!["pwd"])
    }

    /// A password, then an authenticator or recovery code.
    pub fn password_and_code() -> Amr {
        Amr::of(vec!["pwd", "otp", "mfa"])
    }

    /// A passkey (user verified: something the user has and is or knows),
    /// alone or as the second step after a password. A passkey that may be
    /// backed up (synced between devices) is a software key, else hardware.
    pub fn passkey(synced: bool, after_password: bool) -> Amr {
        let key = if synced { "swk" } else { "hwk" };
        if after_password {
            Amr::of(vec!["pwd", key, "mfa"])
        } else {
            Amr::of(vec![key, "mfa"])
        }
    }

    /// Identity provider `provider`'s sign-in (RFC 8176 lists no value for
    /// it; `fed`, federated, is this server's).
    pub fn external(provider: &str) -> Amr {
        Amr::through(provider, vec!["fed"])
    }

    /// `provider`'s sign-in, then an authenticator or recovery code.
    pub fn external_and_code(provider: &str) -> Amr {
        Amr::through(provider, vec!["fed", "otp", "mfa"])
    }

    /// `provider`'s sign-in, then a passkey.
    pub fn external_and_passkey(provider: &str, synced: bool) -> Amr {
        let key = if synced { "swk" } else { "hwk" };
        Amr::through(provider, vec!["fed", key, "mfa"])
    }

    /// Space-separated, as stored.
    pub fn stored(&self) -> String {
        self.methods.join(" ")
    }

    /// The identity provider the sign-in went through, if one did.
    pub fn provider(&self) -> Option<&str> {
        self.provider.as_deref()
    }
}

/// A session just started: the adapter stores `id` in the cookie's session
/// and gives the cookie a lifetime only when `remember` is set.
#[derive(Clone, Debug)]
pub struct NewSession {
    pub id: String,
    pub expires_at: i64,
    pub remember: bool,
}

/// How the password step of a sign-in ended.
#[derive(Clone, Debug)]
pub enum LoginOutcome {
    SignedIn(User, NewSession),
    /// The user has a second factor: it is asked next.
    SecondFactor(super::mfa::PendingSignIn),
}

/// What proved who the caller is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// A browser session (the core session row's id).
    Session(String),
    /// A bearer access token of this refresh-token family.
    Bearer { family: String },
}

/// A request's signed-in user and the credential that proves it.
#[derive(Clone, Debug)]
pub struct Authenticated {
    pub user: User,
    pub credential: Credential,
    /// When this session or token family last proved who it is.
    pub auth_at: i64,
    /// The policy requires a second factor the user has not set up: until
    /// they do, they reach nothing but that.
    pub must_enrol: bool,
}

impl Authenticated {
    pub fn session_id(&self) -> Option<&str> {
        match &self.credential {
            Credential::Session(id) => Some(id),
            Credential::Bearer { .. } => None,
        }
    }

    pub fn token_family(&self) -> Option<&str> {
        match &self.credential {
            Credential::Bearer { family } => Some(family),
            Credential::Session(_) => None,
        }
    }
}

/// A session as its owner sees it in the list of their sessions.
#[derive(Clone, Debug)]
pub struct SessionInfo {
    pub id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// A page of a user's sessions and how many they have in all.
#[derive(Clone, Debug)]
pub struct SessionList {
    pub sessions: Vec<SessionInfo>,
    pub total: u64,
}

impl Core {
    /// Checks credentials; then either starts a session, or, for a user
    /// with a second factor, holds a pending sign-in that waits for it (no
    /// session exists until then).
    pub async fn login(
        &self,
        identifier: &str,
        password: &str,
        remember: bool,
        client: &Client,
    ) -> Result<LoginOutcome> {
        // The right password's writes go with the session's, in one
        // transaction; on the way to a second factor (or a refusal of
        // one), on their own.
        let mut settle = Batch::default();
        let user = self
            .check_credentials_then(identifier, password, client, &mut settle)
            .await?;
        let pending = self.pend_sign_in(&user, remember, "password", None).await;
        if !matches!(pending, Ok(None)) {
            std::mem::take(&mut settle).run(&self.db).await?;
        }
        if let Some(pending) = pending? {
            return Ok(LoginOutcome::SecondFactor(pending));
        }
        let detail = if remember {
            "session (remember me)"
        } else {
            "session"
        };
        let session = self
            .open_session(
                &user,
                remember,
                &Amr::password(),
                client,
                Some((Event::LoginSucceeded, detail)),
                settle,
            )
            .await?;
        Ok(LoginOutcome::SignedIn(user, session))
    }

    /// Starts a session for `user` (and records it as their last login):
    /// `GATEHOUSE_SESSION_HOURS` long, or `GATEHOUSE_REMEMBER_DAYS` with
    /// "remember me".
    pub async fn start_session(
        &self,
        user: &User,
        remember: bool,
        amr: &Amr,
        client: &Client,
    ) -> Result<NewSession> {
        self.open_session(user, remember, amr, client, None, Batch::default())
            .await
    }

    /// [`Core::start_session`], with the audit record of the sign-in
    /// (`noted`) in the same write, after the writes already in `batch`: the
    /// session row, the last login and the record are one transaction (on
    /// SQLite one write on the request's thread, or one hand-off to the
    /// pool's worker thread; see [`Batch`]).
    async fn open_session(
        &self,
        user: &User,
        remember: bool,
        amr: &Amr,
        client: &Client,
        noted: Option<(Event, &str)>,
        mut batch: Batch,
    ) -> Result<NewSession> {
        let now = super::now();
        let lifetime = if remember {
            self.config.remember_lifetime
        } else {
            self.config.session_lifetime
        };
        let row = SessionRow {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: user.id.clone(),
            created_at: now,
            last_seen_at: now,
            expires_at: now + lifetime.as_secs() as i64,
            remember,
            user_agent: client
                .user_agent
                .as_ref()
                .map(|ua| ua.chars().take(512).collect()),
            ip: client.ip.map(|ip| ip.to_string()),
            password_at: user.password_changed_at,
            auth_at: now,
        };
        sessions::insert_in(&mut batch, &row, &amr.stored(), amr.provider());
        users::record_login_in(&mut batch, &user.id, now);
        if let Some((event, detail)) = noted {
            self.audit_in(&mut batch, event, Some(&user.id), client, Some(detail));
        }
        batch.run(&self.db).await?;
        Ok(NewSession {
            id: row.id,
            expires_at: row.expires_at,
            remember,
        })
    }

    /// The user behind session `sid`, if the session is still good: not past
    /// its absolute end, not idle longer than `GATEHOUSE_SESSION_IDLE_MINUTES`,
    /// its user not disabled. A dead session is deleted on sight.
    pub async fn session_user(&self, sid: &str) -> Result<Option<Authenticated>> {
        let found = sessions::find_with_user(&self.db, sid).await?;
        self.judge_session(found).await
    }

    /// The signed-in user of the session living in browser record
    /// `record_id` (the session cookie's id), in one query; `None` when no
    /// session is bound to that record (see [`Core::bind_session_record`]).
    pub async fn session_user_by_record(&self, record_id: &str) -> Result<Option<Authenticated>> {
        let found = sessions::find_with_user_by_record(&self.db, record_id).await?;
        self.judge_session(found).await
    }

    /// Binds session `sid` to the browser record `record_id` it lives in.
    pub async fn bind_session_record(&self, sid: &str, record_id: &str) -> Result<()> {
        sessions::set_record_id(&self.db, sid, record_id).await?;
        Ok(())
    }

    /// Whether a session found is still good (not expired, idle, disabled or
    /// from before a password change); a bad one is deleted.
    async fn judge_session(&self, found: Option<sessions::SessionWithUser>) -> Result<Option<Authenticated>> {
        let Some(found) = found else {
            return Ok(None);
        };
        let sid = found.session.id.as_str();
        let now = super::now();
        let idle = self.config.session_idle.as_secs() as i64;
        let s = &found.session;
        // A session authenticated with a password the user has since
        // changed is over, even if it was made after the change began.
        let stale_password = s.password_at < found.user.password_changed_at;
        if now >= s.expires_at || now - s.last_seen_at >= idle || found.user.disabled || stale_password {
            sessions::delete(&self.db, sid).await?;
            return Ok(None);
        }
        if now - s.last_seen_at >= TOUCH_EVERY {
            sessions::touch(&self.db, sid, now).await?;
        }
        let user = User::try_from(found.user)?;
        Ok(Some(Authenticated {
            must_enrol: self.mfa_required_of(&user) && !user.mfa_enabled,
            user,
            credential: Credential::Session(found.session.id),
            auth_at: found.session.auth_at,
        }))
    }

    /// How session `sid`'s sign-in proved who the user is (`amr`, stored
    /// space-separated).
    pub(crate) async fn session_amr(&self, sid: &str) -> Result<String> {
        Ok(sessions::amr_of(&self.db, sid)
            .await?
            .unwrap_or_else(|| "pwd".into()))
    }

    /// Keeps the session or token family of `auth` valid after its user's
    /// password changed (to `changed_at`) through it.
    pub(crate) async fn rebind_to_password(
        &self,
        tx: &mut Tx,
        auth: &Authenticated,
        changed_at: i64,
    ) -> Result<()> {
        match &auth.credential {
            Credential::Session(id) => sessions::set_password_at(tx, id, changed_at).await?,
            Credential::Bearer { family } => {
                crate::server::db::tokens::set_password_at(tx, family, changed_at).await?
            }
        }
        Ok(())
    }

    /// Ends session `sid` without a trace (replaced by a new login).
    pub async fn end_session(&self, sid: &str) -> Result<()> {
        sessions::delete(&self.db, sid).await?;
        Ok(())
    }

    /// Ends session `sid` at its user's request.
    pub async fn logout(&self, sid: &str, client: &Client) -> Result<()> {
        if let Some(user_id) = sessions::delete_returning_user(&self.db, sid).await? {
            self.audit(Event::Logout, Some(&user_id), client, None).await;
        }
        Ok(())
    }

    /// A page of the live sessions of `user_id` (`limit` from `offset`):
    /// `current`, the session asking, first, then the most recently used;
    /// with how many there are in all.
    pub async fn sessions_of(
        &self,
        user_id: &str,
        current: Option<&str>,
        limit: u32,
        offset: u32,
    ) -> Result<SessionList> {
        let now = super::now();
        let live = sessions::Live {
            now,
            idle_cutoff: now - self.config.session_idle.as_secs() as i64,
        };
        let page = sessions::ListPage {
            current,
            limit,
            offset,
        };
        let rows = sessions::list_of_user(&self.db, user_id, live, page).await?;
        // A short first page is all of them: no second query.
        let total = if offset == 0 && rows.len() < limit as usize {
            rows.len() as u64
        } else {
            sessions::count_of_user(&self.db, user_id, live).await?
        };
        let sessions = rows
            .into_iter()
            .map(|r| SessionInfo {
                id: r.id,
                created_at: r.created_at,
                last_seen_at: r.last_seen_at,
                expires_at: r.expires_at,
                user_agent: r.user_agent,
                ip: r.ip,
            })
            .collect();
        Ok(SessionList { sessions, total })
    }

    /// Ends one of `user_id`'s sessions; `NotFound` if it is not theirs.
    pub async fn revoke_session(&self, user_id: &str, session_id: &str, client: &Client) -> Result<()> {
        if super::validate::is_record_id(session_id)
            && sessions::delete_owned(&self.db, user_id, session_id).await?
        {
            self.audit(Event::SessionRevoked, Some(user_id), client, None)
                .await;
            Ok(())
        } else {
            Err(super::Error::NotFound("no such session".into()))
        }
    }

    /// Ends every session and token family of `user_id` but the session
    /// `keep_session` and the family `keep_family`, in `tx` (with whatever
    /// change calls for it: all of it happens, or none). Returns how many
    /// sessions and families ended.
    pub(crate) async fn end_all_in(
        &self,
        tx: &mut Tx,
        user_id: &str,
        keep_session: Option<&str>,
        keep_family: Option<&str>,
        reason: &str,
    ) -> Result<(u64, u64)> {
        let sessions = sessions::delete_all_of_user(tx, user_id, keep_session).await?;
        let families =
            crate::server::db::tokens::revoke_user_families(tx, user_id, keep_family, super::now(), reason)
                .await?;
        Ok((sessions, families))
    }

    /// A sign-out everywhere (but `keep_session` and `keep_family`): the
    /// pending links of `user_id` end with its sessions and token families,
    /// in one transaction. Returns how many sessions and families ended.
    pub(crate) async fn end_everything(
        &self,
        user_id: &str,
        keep_session: Option<&str>,
        keep_family: Option<&str>,
        reason: &str,
    ) -> Result<(u64, u64)> {
        let mut tx = self.db.begin().await?;
        self.cancel_pending_links_in(&mut tx, user_id).await?;
        let ended = self
            .end_all_in(&mut tx, user_id, keep_session, keep_family, reason)
            .await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// "Sign out everywhere else": every other session and every token family
    /// of the signed-in user ends.
    pub async fn sign_out_elsewhere(&self, auth: &Authenticated, client: &Client) -> Result<u64> {
        let user_id = &auth.user.id;
        let (sessions, families) = self
            .end_everything(
                user_id,
                auth.session_id(),
                auth.token_family(),
                "signed out everywhere else",
            )
            .await?;
        let detail = format!("{sessions} sessions and {families} token families ended");
        self.audit(Event::SessionsRevoked, Some(user_id), client, Some(&detail))
            .await;
        Ok(sessions + families)
    }

    /// Deletes sessions past their end; run periodically.
    pub async fn purge_expired_sessions(&self) -> Result<u64> {
        let now = super::now();
        let idle = self.config.session_idle.as_secs() as i64;
        Ok(sessions::delete_expired(&self.db, now, now - idle).await?)
    }
}
