//! Queries on `email_tokens`: the single-use links of verification, password
//! reset and email change. Only hashes of the tokens are stored.

use super::{on_pool, on_tx, Db, Tx};

/// A live token: whose, and for which address.
#[derive(sqlx::FromRow, Clone, Debug)]
pub struct TokenRow {
    pub user_id: String,
    pub email: String,
    pub expires_at: i64,
}

pub struct NewToken<'a> {
    pub hash: &'a str,
    /// What the link is for, as stored (`verify_email`, `reset_password`, `confirm_email`).
    pub purpose: &'a str,
    pub user_id: &'a str,
    pub email: &'a str,
    pub now: i64,
    pub expires_at: i64,
}

pub async fn insert(tx: &mut Tx, t: &NewToken<'_>) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => sqlx::query(
        "INSERT INTO email_tokens (token_hash, purpose, user_id, email, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(t.hash)
    .bind(t.purpose)
    .bind(t.user_id)
    .bind(t.email)
    .bind(t.now)
    .bind(t.expires_at)
    .execute(conn)
    .await
    .map(|_| ()))
}

/// The unspent, unexpired token with this hash and purpose, without spending it.
pub async fn find_live(
    db: &Db,
    hash: &str,
    purpose: &str,
    now: i64,
) -> Result<Option<TokenRow>, sqlx::Error> {
    on_pool!(db, pool => sqlx::query_as::<_, TokenRow>(
        "SELECT user_id, email, expires_at FROM email_tokens \
         WHERE token_hash = $1 AND purpose = $2 AND spent_at IS NULL AND expires_at > $3",
    )
    .bind(hash)
    .bind(purpose)
    .bind(now)
    .fetch_optional(pool)
    .await)
}

/// Spends the token in one statement (so two requests cannot both spend it),
/// returning it if it was live.
pub async fn spend(
    tx: &mut Tx,
    hash: &str,
    purpose: &str,
    now: i64,
) -> Result<Option<TokenRow>, sqlx::Error> {
    on_tx!(tx, conn => sqlx::query_as::<_, TokenRow>(
        "UPDATE email_tokens SET spent_at = $1 \
         WHERE token_hash = $2 AND purpose = $3 AND spent_at IS NULL AND expires_at > $1 \
         RETURNING user_id, email, expires_at",
    )
    .bind(now)
    .bind(hash)
    .bind(purpose)
    .fetch_optional(conn)
    .await)
}

/// Spends every live token of `user_id` for `purpose` (a newer one, or the
/// change it was for, made them pointless).
pub async fn spend_all(tx: &mut Tx, user_id: &str, purpose: &str, now: i64) -> Result<u64, sqlx::Error> {
    on_tx!(tx, conn => sqlx::query(
        "UPDATE email_tokens SET spent_at = $1 WHERE user_id = $2 AND purpose = $3 AND spent_at IS NULL",
    )
    .bind(now)
    .bind(user_id)
    .bind(purpose)
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))
}

/// When the newest token of `user_id` for `purpose` was made, if any.
pub async fn newest(db: &Db, user_id: &str, purpose: &str) -> Result<Option<i64>, sqlx::Error> {
    on_pool!(db, pool => sqlx::query_scalar::<_, Option<i64>>(
        "SELECT MAX(created_at) FROM email_tokens WHERE user_id = $1 AND purpose = $2",
    )
    .bind(user_id)
    .bind(purpose)
    .fetch_one(pool)
    .await)
}

/// Deletes tokens that expired before `cutoff`.
pub async fn purge(db: &Db, cutoff: i64) -> Result<u64, sqlx::Error> {
    on_pool!(db, pool => sqlx::query("DELETE FROM email_tokens WHERE expires_at <= $1")
        .bind(cutoff)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
}
