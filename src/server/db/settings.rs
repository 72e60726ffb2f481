//! Queries on `settings`: values of the instance kept in the database.

use super::{on_pool, Db};

pub async fn get(db: &Db, name: &str) -> Result<Option<String>, sqlx::Error> {
    on_pool!(db, pool => sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
        .bind(name)
        .fetch_optional(pool)
        .await)
}

/// Stores `value` under `name` unless a value is there already (of several
/// instances starting at once, one writes). Returns the value stored now.
pub async fn set_once(db: &Db, name: &str, value: &str) -> Result<String, sqlx::Error> {
    on_pool!(db, pool => sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .bind(value)
        .execute(pool)
        .await
        .map(|_| ()))?;
    get(db, name).await.map(|v| v.unwrap_or_default())
}
