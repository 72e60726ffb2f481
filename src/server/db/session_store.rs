//! The tower-sessions store for whichever engine is configured.

use async_trait::async_trait;
use tower_sessions::{
    session::{Id, Record},
    session_store, ExpiredDeletion, SessionStore,
};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

#[derive(Clone, Debug)]
pub enum SessionStoreAny {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

#[async_trait]
impl SessionStore for SessionStoreAny {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            SessionStoreAny::Sqlite(s) => s.create(record).await,
            SessionStoreAny::Postgres(s) => s.create(record).await,
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            SessionStoreAny::Sqlite(s) => s.save(record).await,
            SessionStoreAny::Postgres(s) => s.save(record).await,
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            SessionStoreAny::Sqlite(s) => s.load(id).await,
            SessionStoreAny::Postgres(s) => s.load(id).await,
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            SessionStoreAny::Sqlite(s) => s.delete(id).await,
            SessionStoreAny::Postgres(s) => s.delete(id).await,
        }
    }
}

#[async_trait]
impl ExpiredDeletion for SessionStoreAny {
    async fn delete_expired(&self) -> session_store::Result<()> {
        match self {
            SessionStoreAny::Sqlite(s) => s.delete_expired().await,
            SessionStoreAny::Postgres(s) => s.delete_expired().await,
        }
    }
}
