//! Queries on `invitations`.

use super::{on_pool, on_tx, Db, Tx};

#[derive(sqlx::FromRow, Clone, Debug)]
pub struct InvitationRow {
    pub id: String,
    pub email: String,
    pub role: String,
    pub invited_by: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

const COLUMNS: &str = "id, email, role, invited_by, created_at, expires_at";

pub struct NewInvitation<'a> {
    pub id: &'a str,
    pub email: &'a str,
    pub email_key: &'a str,
    pub role: &'a str,
    pub token_hash: &'a str,
    pub invited_by: &'a str,
    pub now: i64,
    pub expires_at: i64,
}

pub async fn insert(tx: &mut Tx, i: &NewInvitation<'_>) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => sqlx::query(
        "INSERT INTO invitations (id, email, email_key, role, token_hash, invited_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(i.id)
    .bind(i.email)
    .bind(i.email_key)
    .bind(i.role)
    .bind(i.token_hash)
    .bind(i.invited_by)
    .bind(i.now)
    .bind(i.expires_at)
    .execute(conn)
    .await
    .map(|_| ()))
}

/// Revokes the pending invitations of an address (a new one replaces them).
pub async fn revoke_pending_of(tx: &mut Tx, email_key: &str, now: i64) -> Result<u64, sqlx::Error> {
    on_tx!(tx, conn => sqlx::query(
        "UPDATE invitations SET revoked_at = $1 \
         WHERE email_key = $2 AND accepted_at IS NULL AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(email_key)
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))
}

/// Invitations neither accepted, revoked nor expired, newest first.
pub async fn list_pending(db: &Db, now: i64) -> Result<Vec<InvitationRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM invitations \
         WHERE accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $1 ORDER BY created_at DESC, id"
    );
    on_pool!(db, pool => sqlx::query_as::<_, InvitationRow>(&sql).bind(now).fetch_all(pool).await)
}

/// The pending invitation behind a token, without using it.
pub async fn find_pending_by_token(
    db: &Db,
    token_hash: &str,
    now: i64,
) -> Result<Option<InvitationRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM invitations WHERE token_hash = $1 \
         AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2"
    );
    on_pool!(db, pool => sqlx::query_as::<_, InvitationRow>(&sql).bind(token_hash).bind(now).fetch_optional(pool).await)
}

/// Marks the pending invitation behind a token accepted by `user_id`, in one
/// statement (so it is used once), returning it if it was pending.
pub async fn accept(
    tx: &mut Tx,
    token_hash: &str,
    user_id: &str,
    now: i64,
) -> Result<Option<InvitationRow>, sqlx::Error> {
    let sql = format!(
        "UPDATE invitations SET accepted_at = $1, user_id = $2 WHERE token_hash = $3 \
         AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $1 RETURNING {COLUMNS}"
    );
    on_tx!(tx, conn => sqlx::query_as::<_, InvitationRow>(&sql)
        .bind(now)
        .bind(user_id)
        .bind(token_hash)
        .fetch_optional(conn)
        .await)
}

/// Revokes one pending invitation. Returns whether there was one.
pub async fn revoke(db: &Db, id: &str, now: i64) -> Result<bool, sqlx::Error> {
    on_pool!(db, pool => sqlx::query(
        "UPDATE invitations SET revoked_at = $1 WHERE id = $2 AND accepted_at IS NULL AND revoked_at IS NULL \
         AND expires_at > $1",
    )
    .bind(now)
    .bind(id)
    .execute(pool)
    .await
    .map(|r| r.rows_affected() > 0))
}

/// Deletes invitations that ended (used, revoked or expired) before `cutoff`.
pub async fn purge(db: &Db, cutoff: i64) -> Result<u64, sqlx::Error> {
    on_pool!(db, pool => sqlx::query(
        "DELETE FROM invitations WHERE expires_at <= $1 OR accepted_at <= $1 OR revoked_at <= $1",
    )
    .bind(cutoff)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))
}
