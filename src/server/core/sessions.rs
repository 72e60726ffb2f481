//! Browser sessions: their lifetime (absolute and idle), listing and revoking.
//! The cookie and its store belong to the adapters; this module owns the rules.

use super::{Client, Core, Result, User};
use crate::server::db::sessions::{self as q, SessionRow};

/// Seconds between two writes of `last_seen_at` for one session: idle time is
/// measured to this precision, and most requests do not write.
const TOUCH_EVERY: i64 = 60;

/// A session just started: the adapter stores `id` in the cookie's session
/// and gives the cookie a lifetime only when `remember` is set.
#[derive(Clone, Debug)]
pub struct NewSession {
    pub id: String,
    pub expires_at: i64,
    pub remember: bool,
}

/// A request's signed-in user and the session that proves it.
#[derive(Clone, Debug)]
pub struct Authenticated {
    pub user: User,
    pub session_id: String,
}

impl Core {
    /// Checks credentials and starts a session.
    pub async fn login(
        &self,
        identifier: &str,
        password: &str,
        remember: bool,
        client: &Client,
    ) -> Result<(User, NewSession)> {
        let user = self.check_credentials(identifier, password).await?;
        let session = self.start_session(&user, remember, client).await?;
        let _ = crate::server::db::users::record_login(&self.db, &user.id, super::now()).await;
        Ok((user, session))
    }

    /// Starts a session for `user`: `GATEHOUSE_SESSION_HOURS` long, or
    /// `GATEHOUSE_REMEMBER_DAYS` with "remember me".
    pub async fn start_session(&self, user: &User, remember: bool, client: &Client) -> Result<NewSession> {
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
        };
        q::insert(&self.db, &row).await?;
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
        let Some(found) = q::find_with_user(&self.db, sid).await? else {
            return Ok(None);
        };
        let now = super::now();
        let idle = self.config.session_idle.as_secs() as i64;
        let s = &found.session;
        if now >= s.expires_at || now - s.last_seen_at >= idle || found.user.disabled {
            q::delete(&self.db, sid).await?;
            return Ok(None);
        }
        if now - s.last_seen_at >= TOUCH_EVERY {
            q::touch(&self.db, sid, now).await?;
        }
        Ok(Some(Authenticated {
            user: User::try_from(found.user)?,
            session_id: found.session.id,
        }))
    }

    /// Ends session `sid` (logout).
    pub async fn end_session(&self, sid: &str) -> Result<()> {
        q::delete(&self.db, sid).await?;
        Ok(())
    }

    /// Deletes sessions past their end; run periodically.
    pub async fn purge_expired_sessions(&self) -> Result<u64> {
        let now = super::now();
        let idle = self.config.session_idle.as_secs() as i64;
        Ok(q::delete_expired(&self.db, now, now - idle).await?)
    }
}
