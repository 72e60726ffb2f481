//! `user_identities`: the provider accounts users sign in with.

use super::{on_pool, on_tx, Db, Tx};

#[derive(sqlx::FromRow, Clone, Debug)]
pub struct IdentityRow {
    pub provider: String,
    pub subject: String,
    pub user_id: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

const COLUMNS: &str = "provider, subject, user_id, email, email_verified, created_at, last_used_at";

/// The identity `(provider, subject)`, whoever it belongs to.
pub async fn find(db: &Db, provider: &str, subject: &str) -> Result<Option<IdentityRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM user_identities WHERE provider = $1 AND subject = $2");
    on_pool!(db, pool => sqlx::query_as::<_, IdentityRow>(&sql)
        .bind(provider)
        .bind(subject)
        .fetch_optional(pool)
        .await)
}

/// A user's identities, by provider.
pub async fn of_user(db: &Db, user_id: &str) -> Result<Vec<IdentityRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM user_identities WHERE user_id = $1 ORDER BY provider");
    on_pool!(db, pool => sqlx::query_as::<_, IdentityRow>(&sql)
        .bind(user_id)
        .fetch_all(pool)
        .await)
}

/// Why an identity could not be added.
pub enum LinkError {
    /// The identity belongs to a user already (maybe this one).
    Taken,
    /// The user has an identity of this provider already.
    ProviderTaken,
    Db(sqlx::Error),
}

impl From<sqlx::Error> for LinkError {
    fn from(e: sqlx::Error) -> Self {
        LinkError::Db(e)
    }
}

pub async fn insert(tx: &mut Tx, row: &IdentityRow) -> Result<(), LinkError> {
    let result = on_tx!(tx, conn => sqlx::query(
        "INSERT INTO user_identities (provider, subject, user_id, email, email_verified, created_at, last_used_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&row.provider)
    .bind(&row.subject)
    .bind(&row.user_id)
    .bind(&row.email)
    .bind(row.email_verified)
    .bind(row.created_at)
    .bind(row.last_used_at)
    .execute(conn)
    .await
    .map(|_| ()));
    match result {
        Ok(()) => Ok(()),
        Err(e) if super::is_unique_violation(&e) => {
            let message = e
                .as_database_error()
                .map(|d| d.message().to_string())
                .unwrap_or_default();
            // SQLite names the columns, PostgreSQL the constraint.
            if message.contains("user_identities.user_id") || message.contains("user_id_provider") {
                Err(LinkError::ProviderTaken)
            } else {
                Err(LinkError::Taken)
            }
        }
        Err(e) => Err(LinkError::Db(e)),
    }
}

pub async fn touch(db: &Db, provider: &str, subject: &str, now: i64) -> Result<(), sqlx::Error> {
    on_pool!(db, pool => sqlx::query(
        "UPDATE user_identities SET last_used_at = $1 WHERE provider = $2 AND subject = $3",
    )
    .bind(now)
    .bind(provider)
    .bind(subject)
    .execute(pool)
    .await
    .map(|_| ()))
}

/// Removes `user_id`'s identity of `provider`. Returns whether it existed.
pub async fn delete(tx: &mut Tx, user_id: &str, provider: &str) -> Result<bool, sqlx::Error> {
    on_tx!(tx, conn => sqlx::query("DELETE FROM user_identities WHERE user_id = $1 AND provider = $2")
        .bind(user_id)
        .bind(provider)
        .execute(conn)
        .await
        .map(|r| r.rows_affected() > 0))
}

/// How many identities `user_id` has, in `tx`.
pub async fn count_in(tx: &mut Tx, user_id: &str) -> Result<i64, sqlx::Error> {
    on_tx!(tx, conn => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM user_identities WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(conn)
        .await)
}

/// `(user_id, provider)` of these users' identities.
pub async fn providers_of(db: &Db, user_ids: &[String]) -> Result<Vec<(String, String)>, sqlx::Error> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (1..=user_ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT user_id, provider FROM user_identities WHERE user_id IN ({}) ORDER BY provider",
        placeholders.join(", ")
    );
    on_pool!(db, pool => {
        let mut q = sqlx::query_as::<_, (String, String)>(&sql);
        for id in user_ids {
            q = q.bind(id);
        }
        q.fetch_all(pool).await
    })
}

/// Removes `user_id`'s identities linked without a verified email; returns
/// their providers.
pub async fn delete_unverified(tx: &mut Tx, user_id: &str) -> Result<Vec<String>, sqlx::Error> {
    on_tx!(tx, conn => sqlx::query_scalar::<_, String>(
        "DELETE FROM user_identities WHERE user_id = $1 AND email_verified = FALSE RETURNING provider",
    )
    .bind(user_id)
    .fetch_all(conn)
    .await)
}
