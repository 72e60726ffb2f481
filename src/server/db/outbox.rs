//! Queries on `outbox`: mail waiting to be sent, claimed by one instance at a
//! time.

use super::{on_pool, on_tx, Db, Tx};

pub struct NewMessage<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub recipient: &'a str,
    pub subject: &'a str,
    pub text_body: &'a str,
    pub html_body: &'a str,
    pub now: i64,
}

/// A message claimed for sending.
#[derive(sqlx::FromRow, Clone, Debug)]
pub struct Claimed {
    pub id: String,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    /// Counting this one.
    pub attempts: i64,
}

/// A message as admins see it.
#[derive(sqlx::FromRow, Clone, Debug)]
pub struct MessageRow {
    pub id: String,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
}

pub async fn insert(tx: &mut Tx, m: &NewMessage<'_>) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => sqlx::query(
        "INSERT INTO outbox (id, kind, recipient, subject, text_body, html_body, status, attempts, \
         next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7)",
    )
    .bind(m.id)
    .bind(m.kind)
    .bind(m.recipient)
    .bind(m.subject)
    .bind(m.text_body)
    .bind(m.html_body)
    .bind(m.now)
    .execute(conn)
    .await
    .map(|_| ()))
}

/// Claims up to `limit` messages that are due (pending and due, or claimed by
/// an instance whose claim ran out), until `lease_until`, and counts the
/// attempt. The sender claims one at a time (see `Core::claim_mail`). On PostgreSQL rows another instance is claiming are skipped
/// (`FOR UPDATE SKIP LOCKED`); SQLite runs one writer at a time. Either way a
/// message is claimed by one instance only.
pub async fn claim(db: &Db, now: i64, lease_until: i64, limit: i64) -> Result<Vec<Claimed>, sqlx::Error> {
    const RETURNING: &str = "RETURNING id, kind, recipient, subject, text_body, html_body, attempts";
    const DUE: &str =
        "(status = 'pending' AND next_attempt_at <= $2) OR (status = 'sending' AND locked_until <= $2)";
    match db {
        Db::Sqlite(pool, _) => {
            let sql = format!(
                "UPDATE outbox SET status = 'sending', locked_until = $1, attempts = attempts + 1 \
                 WHERE id IN (SELECT id FROM outbox WHERE {DUE} ORDER BY next_attempt_at, created_at LIMIT $3) \
                 {RETURNING}"
            );
            sqlx::query_as::<_, Claimed>(&sql)
                .bind(lease_until)
                .bind(now)
                .bind(limit)
                .fetch_all(pool)
                .await
        }
        Db::Postgres(pool) => {
            let sql = format!(
                "UPDATE outbox SET status = 'sending', locked_until = $1, attempts = attempts + 1 \
                 WHERE id IN (SELECT id FROM outbox WHERE {DUE} ORDER BY next_attempt_at, created_at LIMIT $3 \
                 FOR UPDATE SKIP LOCKED) {RETURNING}"
            );
            sqlx::query_as::<_, Claimed>(&sql)
                .bind(lease_until)
                .bind(now)
                .bind(limit)
                .fetch_all(pool)
                .await
        }
    }
}

/// Records a delivery. The bodies (which hold single-use links) are erased.
/// Like the two below, it writes only while the caller's claim (`lease`, the
/// claim's `locked_until`) still holds: a holder that outlived its claim
/// never overwrites what the instance that took the message over did.
pub async fn mark_sent(db: &Db, id: &str, lease: i64, now: i64) -> Result<(), sqlx::Error> {
    on_pool!(db, pool => sqlx::query(
        "UPDATE outbox SET status = 'sent', sent_at = $1, locked_until = NULL, last_error = NULL, \
         text_body = '', html_body = '' WHERE id = $2 AND status = 'sending' AND locked_until = $3",
    )
    .bind(now)
    .bind(id)
    .bind(lease)
    .execute(pool)
    .await
    .map(|_| ()))
}

/// Puts a message back in the queue for another attempt at `next_attempt_at`.
pub async fn retry_later(
    db: &Db,
    id: &str,
    lease: i64,
    next_attempt_at: i64,
    error: &str,
) -> Result<(), sqlx::Error> {
    on_pool!(db, pool => sqlx::query(
        "UPDATE outbox SET status = 'pending', next_attempt_at = $1, locked_until = NULL, last_error = $2 \
         WHERE id = $3 AND status = 'sending' AND locked_until = $4",
    )
    .bind(next_attempt_at)
    .bind(error)
    .bind(id)
    .bind(lease)
    .execute(pool)
    .await
    .map(|_| ()))
}

/// Gives up on a message.
pub async fn mark_failed(db: &Db, id: &str, lease: i64, error: &str) -> Result<(), sqlx::Error> {
    on_pool!(db, pool => sqlx::query(
        "UPDATE outbox SET status = 'failed', locked_until = NULL, last_error = $1 \
         WHERE id = $2 AND status = 'sending' AND locked_until = $3",
    )
    .bind(error)
    .bind(id)
    .bind(lease)
    .execute(pool)
    .await
    .map(|_| ()))
}

/// Queues a failed message again, from its first attempt. Returns whether it
/// was a failed message.
pub async fn requeue_failed(db: &Db, id: &str, now: i64) -> Result<bool, sqlx::Error> {
    on_pool!(db, pool => sqlx::query(
        "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $1 WHERE id = $2 AND status = 'failed'",
    )
    .bind(now)
    .bind(id)
    .execute(pool)
    .await
    .map(|r| r.rows_affected() > 0))
}

/// Messages not delivered yet (pending, being sent, or failed), oldest first.
pub async fn undelivered(db: &Db, limit: i64) -> Result<Vec<MessageRow>, sqlx::Error> {
    on_pool!(db, pool => sqlx::query_as::<_, MessageRow>(
        "SELECT id, kind, recipient, subject, status, attempts, next_attempt_at, last_error, created_at \
         FROM outbox WHERE status <> 'sent' ORDER BY created_at, id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await)
}

/// When the next pending message is due, if any.
pub async fn next_due(db: &Db) -> Result<Option<i64>, sqlx::Error> {
    on_pool!(db, pool => sqlx::query_scalar::<_, Option<i64>>(
        "SELECT MIN(CASE WHEN status = 'pending' THEN next_attempt_at ELSE locked_until END) \
         FROM outbox WHERE status IN ('pending', 'sending')",
    )
    .fetch_one(pool)
    .await)
}

/// Deletes sent messages older than `sent_before` and failed ones older than
/// `failed_before`.
pub async fn purge(db: &Db, sent_before: i64, failed_before: i64) -> Result<u64, sqlx::Error> {
    on_pool!(db, pool => sqlx::query(
        "DELETE FROM outbox WHERE (status = 'sent' AND sent_at <= $1) OR (status = 'failed' AND created_at <= $2)",
    )
    .bind(sent_before)
    .bind(failed_before)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))
}
