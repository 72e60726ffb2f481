//! Queries on `user_sessions`: the signed-in browser sessions of each user.

use super::{
    on_pool, on_tx, readers,
    users::{UserRow, USER_COLUMNS},
    Batch, Db, Tx,
};
use std::sync::LazyLock;

#[derive(sqlx::FromRow, Clone, Debug)]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub remember: bool,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// The user's `password_changed_at` the session was authenticated with.
    pub password_at: i64,
    /// When the session last proved who it is (sign-in, re-authentication).
    pub auth_at: i64,
}

/// A session joined with its user (one query per authenticated request).
#[derive(Clone, Debug)]
pub struct SessionWithUser {
    pub session: SessionRow,
    pub user: UserRow,
}

#[derive(sqlx::FromRow, Clone)]
struct JoinedRow {
    s_id: String,
    s_created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
    remember: bool,
    user_agent: Option<String>,
    ip: Option<String>,
    s_password_at: i64,
    s_auth_at: i64,
    #[sqlx(flatten)]
    user: UserRow,
}

impl From<JoinedRow> for SessionWithUser {
    fn from(r: JoinedRow) -> Self {
        SessionWithUser {
            session: SessionRow {
                id: r.s_id,
                user_id: r.user.id.clone(),
                created_at: r.s_created_at,
                last_seen_at: r.last_seen_at,
                expires_at: r.expires_at,
                remember: r.remember,
                user_agent: r.user_agent,
                ip: r.ip,
                password_at: r.s_password_at,
                auth_at: r.s_auth_at,
            },
            user: r.user,
        }
    }
}

const INSERT: &str =
    "INSERT INTO user_sessions (id, user_id, created_at, last_seen_at, expires_at, remember, \
     user_agent, ip, password_at, auth_at, amr, provider) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $3, $10, $11)";

/// Inserts session `s`, signed in as `amr` says (through identity provider
/// `provider`, if one), in `batch`.
pub fn insert_in(batch: &mut Batch, s: &SessionRow, amr: &str, provider: Option<&str>) {
    batch.push(
        INSERT,
        vec![
            s.id.as_str().into(),
            s.user_id.as_str().into(),
            s.created_at.into(),
            s.last_seen_at.into(),
            s.expires_at.into(),
            s.remember.into(),
            s.user_agent.as_deref().into(),
            s.ip.as_deref().into(),
            s.password_at.into(),
            amr.into(),
            provider.into(),
        ],
    );
}

/// How session `id`'s sign-in proved who the user is.
pub async fn amr_of(db: &Db, id: &str) -> Result<Option<String>, sqlx::Error> {
    on_pool!(db, pool => sqlx::query_scalar::<_, String>("SELECT amr FROM user_sessions WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await)
}

/// The session `id` and its user, whatever their state; the caller judges.
pub async fn find_with_user(db: &Db, id: &str) -> Result<Option<SessionWithUser>, sqlx::Error> {
    find_joined(db, BY_ID.as_str(), id).await
}

/// The session whose browser record (the cookie's id) is `record_id`, and
/// its user, whatever their state; the caller judges.
pub async fn find_with_user_by_record(
    db: &Db,
    record_id: &str,
) -> Result<Option<SessionWithUser>, sqlx::Error> {
    find_joined(db, BY_RECORD_ID.as_str(), &super::record_key(record_id)).await
}

/// The session and its user by the session's id, and by its browser record
/// (once per signed-in request): each statement is written once per process.
static BY_ID: LazyLock<String> = LazyLock::new(|| joined_by("s.id"));
static BY_RECORD_ID: LazyLock<String> = LazyLock::new(|| joined_by("s.record_id"));

/// The session whose unique `column` is `$1`, joined with its user.
fn joined_by(column: &str) -> String {
    format!(
        "SELECT s.id AS s_id, s.created_at AS s_created_at, s.last_seen_at, s.expires_at, s.remember, \
         s.user_agent, s.ip, s.password_at AS s_password_at, s.auth_at AS s_auth_at, {USER_COLUMNS} \
         FROM user_sessions s JOIN users u ON u.id = s.user_id WHERE {column} = $1"
    )
}

/// The one row `sql` (one of [`BY_ID`], [`BY_RECORD_ID`]) finds for `value`.
async fn find_joined(
    db: &Db,
    sql: &'static str,
    value: &str,
) -> Result<Option<SessionWithUser>, sqlx::Error> {
    let row = readers::fetch_optional(db, sql, value, |row| {
        Ok(JoinedRow {
            s_id: row.get(0)?,
            s_created_at: row.get(1)?,
            last_seen_at: row.get(2)?,
            expires_at: row.get(3)?,
            remember: row.get(4)?,
            user_agent: row.get(5)?,
            ip: row.get(6)?,
            s_password_at: row.get(7)?,
            s_auth_at: row.get(8)?,
            user: readers::user_row(row, 9)?,
        })
    })
    .await?;
    Ok(row.map(SessionWithUser::from))
}

/// Binds session `$2` to the browser record whose key (see
/// [`super::record_key`]) is `$1` (see [`set_record_id`]).
pub(super) const SET_RECORD_ID: &str = "UPDATE user_sessions SET record_id = $1 WHERE id = $2";

/// Records which browser record session `id` lives in (a new one after
/// every id change: record ids are random and never reused).
pub async fn set_record_id(db: &Db, id: &str, record_id: &str) -> Result<(), sqlx::Error> {
    on_pool!(db, pool => sqlx::query(SET_RECORD_ID)
        .bind(super::record_key(record_id))
        .bind(id)
        .execute(pool)
        .await
        .map(|_| ()))
}

/// Binds a session to the user's new password (the session that changed it
/// stays signed in).
pub async fn set_password_at(tx: &mut Tx, id: &str, password_at: i64) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => sqlx::query("UPDATE user_sessions SET password_at = $1 WHERE id = $2")
        .bind(password_at)
        .bind(id)
        .execute(conn)
        .await
        .map(|_| ()))
}

/// Records that the session proved who it is again (re-authentication),
/// and how (`amr`, what the ID tokens issued from now on say).
pub async fn set_auth_at(db: &Db, id: &str, now: i64, amr: &str) -> Result<(), sqlx::Error> {
    on_pool!(db, pool => sqlx::query("UPDATE user_sessions SET auth_at = $1, amr = $3 WHERE id = $2")
        .bind(now)
        .bind(id)
        .bind(amr)
        .execute(pool)
        .await
        .map(|_| ()))
}

pub async fn touch(db: &Db, id: &str, now: i64) -> Result<(), sqlx::Error> {
    on_pool!(db, pool => sqlx::query("UPDATE user_sessions SET last_seen_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn delete(db: &Db, id: &str) -> Result<bool, sqlx::Error> {
    let done = on_pool!(db, pool => sqlx::query("DELETE FROM user_sessions WHERE id = $1").bind(id).execute(pool).await.map(|r| r.rows_affected()))?;
    Ok(done > 0)
}

/// Deletes session `id`; returns its user if it existed.
pub async fn delete_returning_user(db: &Db, id: &str) -> Result<Option<String>, sqlx::Error> {
    on_pool!(db, pool => sqlx::query_scalar::<_, String>("DELETE FROM user_sessions WHERE id = $1 RETURNING user_id")
        .bind(id)
        .fetch_optional(pool)
        .await)
}

/// Deletes session `id` only if it belongs to `user_id`.
pub async fn delete_owned(db: &Db, user_id: &str, id: &str) -> Result<bool, sqlx::Error> {
    let done = on_pool!(db, pool => sqlx::query("DELETE FROM user_sessions WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(done > 0)
}

/// Deletes every session of `user_id` except `keep` (if given), in `tx`.
/// Returns how many.
pub async fn delete_all_of_user(tx: &mut Tx, user_id: &str, keep: Option<&str>) -> Result<u64, sqlx::Error> {
    on_tx!(tx, conn => sqlx::query("DELETE FROM user_sessions WHERE user_id = $1 AND id <> $2")
        .bind(user_id)
        .bind(keep.unwrap_or(""))
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))
}

/// Deletes the sessions of `user_id` that signed in through identity
/// provider `provider`, except `keep` (if given), in `tx`. Returns how many.
pub async fn delete_through_provider(
    tx: &mut Tx,
    user_id: &str,
    provider: &str,
    keep: Option<&str>,
) -> Result<u64, sqlx::Error> {
    on_tx!(tx, conn => sqlx::query("DELETE FROM user_sessions WHERE user_id = $1 AND provider = $2 AND id <> $3")
        .bind(user_id)
        .bind(provider)
        .bind(keep.unwrap_or(""))
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))
}

/// The live sessions of user `$1` at `$2` (now), idle since `$3` at the
/// latest, and not older than the user's last password change: the `FROM`
/// and `WHERE` that [`list_of_user`] and [`count_of_user`] share.
macro_rules! live_sessions_of_user {
    () => {
        "FROM user_sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.user_id = $1 AND s.expires_at > $2 AND s.last_seen_at > $3 AND s.password_at >= u.password_changed_at"
    };
}

/// A page of the live sessions of `user_id`: the one asking first, then
/// the most recently used.
pub async fn list_of_user(
    db: &Db,
    user_id: &str,
    live: Live,
    page: ListPage<'_>,
) -> Result<Vec<SessionRow>, sqlx::Error> {
    // `current` (the session asking) first, then the most recently used.
    on_pool!(db, pool => sqlx::query_as::<_, SessionRow>(
        concat!(
            "SELECT s.id, s.user_id, s.created_at, s.last_seen_at, s.expires_at, s.remember, s.user_agent, s.ip, \
             s.password_at, s.auth_at ",
            live_sessions_of_user!(),
            " ORDER BY (s.id = $4) DESC, s.last_seen_at DESC, s.created_at DESC, s.id LIMIT $5 OFFSET $6"
        ),
    )
    .bind(user_id)
    .bind(live.now)
    .bind(live.idle_cutoff)
    .bind(page.current.unwrap_or(""))
    .bind(i64::from(page.limit))
    .bind(i64::from(page.offset))
    .fetch_all(pool)
    .await)
}

/// How many live sessions `user_id` has (what [`list_of_user`] pages through).
pub async fn count_of_user(db: &Db, user_id: &str, live: Live) -> Result<u64, sqlx::Error> {
    let n: i64 = on_pool!(db, pool => sqlx::query_scalar(
        concat!("SELECT COUNT(*) ", live_sessions_of_user!()),
    )
    .bind(user_id)
    .bind(live.now)
    .bind(live.idle_cutoff)
    .fetch_one(pool)
    .await)?;
    Ok(n.max(0) as u64)
}

/// What makes a session live: not past its end (`now`) nor idle since
/// `idle_cutoff`.
#[derive(Clone, Copy, Debug)]
pub struct Live {
    pub now: i64,
    pub idle_cutoff: i64,
}

/// A page of a user's sessions: `limit` from `offset`, with `current` (if
/// one of them) first.
#[derive(Clone, Copy, Debug)]
pub struct ListPage<'a> {
    pub current: Option<&'a str>,
    pub limit: u32,
    pub offset: u32,
}

/// Removes sessions past their absolute or idle end.
pub async fn delete_expired(db: &Db, now: i64, idle_cutoff: i64) -> Result<u64, sqlx::Error> {
    let done = on_pool!(db, pool => sqlx::query("DELETE FROM user_sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
        .bind(now)
        .bind(idle_cutoff)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(done)
}
