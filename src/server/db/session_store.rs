//! The tower-sessions store for whichever engine is configured.
//!
//! A browser record holds one value, [`SESSION_KEY`]: the id of the core
//! session it carries. Creating a record also binds that session to it
//! (`user_sessions.record_id`), so that later requests find the session and
//! its user from the cookie's id in one query. On SQLite the record and the
//! binding are one script for the connection's worker thread: one hand-off,
//! where the store's own `create` (a transaction) and a separate binding took
//! four.

use super::sessions::SET_RECORD_ID;
use async_trait::async_trait;
use sqlx::{PgPool, SqlitePool};
use tower_sessions::{
    session::{Id, Record},
    session_store, ExpiredDeletion, SessionStore,
};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

/// The key, in a browser record, of the id of the core session it holds.
pub const SESSION_KEY: &str = "sid";

#[derive(Clone, Debug)]
pub enum SessionStoreAny {
    Sqlite(SqliteStore, SqlitePool),
    Postgres(PostgresStore, PgPool),
}

/// Inserts a record unless its id is taken; a row comes back when it was
/// inserted.
const SQLITE_CREATE: &str = "INSERT INTO tower_sessions (id, data, expiry_date) VALUES ($1, $2, $3) \
     ON CONFLICT (id) DO NOTHING RETURNING id";
/// The same, and binds the core session the record holds to it.
/// `changes()` is the count of the insert just before: a record id that was
/// taken binds nothing.
const SQLITE_CREATE_AND_BIND: &str =
    "INSERT INTO tower_sessions (id, data, expiry_date) VALUES ($1, $2, $3) \
     ON CONFLICT (id) DO NOTHING RETURNING id; \
     UPDATE user_sessions SET record_id = $1 WHERE id = $4 AND changes() = 1";

fn backend(e: sqlx::Error) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

/// The core session `record` holds, if any.
fn bound_session(record: &Record) -> Option<&str> {
    record.data.get(SESSION_KEY).and_then(|v| v.as_str())
}

async fn sqlite_try_create(pool: &SqlitePool, record: &Record) -> session_store::Result<bool> {
    let data = rmp_serde::to_vec(record).map_err(|e| session_store::Error::Encode(e.to_string()))?;
    let query = match bound_session(record) {
        Some(sid) => sqlx::query(SQLITE_CREATE_AND_BIND)
            .bind(record.id.to_string())
            .bind(data)
            .bind(record.expiry_date)
            .bind(sid.to_string()),
        None => sqlx::query(SQLITE_CREATE)
            .bind(record.id.to_string())
            .bind(data)
            .bind(record.expiry_date),
    };
    let inserted = query.fetch_all(pool).await.map_err(backend)?;
    Ok(!inserted.is_empty())
}

#[async_trait]
impl SessionStore for SessionStoreAny {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            SessionStoreAny::Sqlite(_, pool) => {
                while !sqlite_try_create(pool, record).await? {
                    record.id = Id::default();
                }
                Ok(())
            }
            SessionStoreAny::Postgres(s, pool) => {
                s.create(record).await?;
                if let Some(sid) = bound_session(record) {
                    sqlx::query(SET_RECORD_ID)
                        .bind(record.id.to_string())
                        .bind(sid)
                        .execute(pool)
                        .await
                        .map_err(backend)?;
                }
                Ok(())
            }
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            SessionStoreAny::Sqlite(s, _) => s.save(record).await,
            SessionStoreAny::Postgres(s, _) => s.save(record).await,
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            SessionStoreAny::Sqlite(s, _) => s.load(id).await,
            SessionStoreAny::Postgres(s, _) => s.load(id).await,
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            SessionStoreAny::Sqlite(s, _) => s.delete(id).await,
            SessionStoreAny::Postgres(s, _) => s.delete(id).await,
        }
    }
}

#[async_trait]
impl ExpiredDeletion for SessionStoreAny {
    async fn delete_expired(&self) -> session_store::Result<()> {
        match self {
            SessionStoreAny::Sqlite(s, _) => s.delete_expired().await,
            SessionStoreAny::Postgres(s, _) => s.delete_expired().await,
        }
    }
}
