//! Queries on `audit_log`.

use super::{on_pool, Batch, Db};

const INSERT: &str =
    "INSERT INTO audit_log (at, event, user_id, ip, user_agent, detail) VALUES ($1, $2, $3, $4, $5, $6)";

#[derive(sqlx::FromRow, Clone, Debug)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub event: String,
    pub user_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: Option<String>,
}

pub struct NewAuditRow<'a> {
    pub at: i64,
    pub event: &'a str,
    pub user_id: Option<&'a str>,
    pub ip: Option<String>,
    pub user_agent: Option<&'a str>,
    pub detail: Option<&'a str>,
}

pub async fn insert(db: &Db, row: &NewAuditRow<'_>) -> Result<(), sqlx::Error> {
    on_pool!(db, pool => sqlx::query(INSERT)
    .bind(row.at)
    .bind(row.event)
    .bind(row.user_id)
    .bind(&row.ip)
    .bind(row.user_agent)
    .bind(row.detail)
    .execute(pool)
    .await
    .map(|_| ()))
}

/// [`insert`], in `batch`.
pub fn insert_in(batch: &mut Batch, row: &NewAuditRow<'_>) {
    batch.push(
        INSERT,
        vec![
            row.at.into(),
            row.event.into(),
            row.user_id.into(),
            row.ip.as_deref().into(),
            row.user_agent.into(),
            row.detail.into(),
        ],
    );
}

/// Newest first, optionally of one user and/or one event, before row `before`
/// (for paging).
pub async fn list(
    db: &Db,
    user_id: Option<&str>,
    event: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditRow>, sqlx::Error> {
    on_pool!(db, pool => sqlx::query_as::<_, AuditRow>(
        "SELECT id, at, event, user_id, ip, user_agent, detail FROM audit_log \
         WHERE ($1 IS NULL OR user_id = $1) AND ($2 IS NULL OR event = $2) AND ($3 IS NULL OR id < $3) \
         ORDER BY id DESC LIMIT $4",
    )
    .bind(user_id)
    .bind(event)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await)
}

pub async fn purge_before(db: &Db, cutoff: i64) -> Result<u64, sqlx::Error> {
    on_pool!(db, pool => sqlx::query("DELETE FROM audit_log WHERE at < $1")
        .bind(cutoff)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
}
