//! The database: one handle over SQLite (embedded default) or PostgreSQL
//! (several instances sharing one database). Queries are written once, in SQL
//! both engines accept (`$1` placeholders, `ON CONFLICT`, `RETURNING`), and run
//! on whichever pool is configured through [`on_pool!`].

pub mod audit;
pub mod email_tokens;
pub mod factors;
pub mod invitations;
pub mod limits;
pub mod outbox;
pub mod readers;
mod session_store;
pub mod sessions;
pub mod tokens;
pub mod users;

pub use session_store::SessionStoreAny;

use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    PgPool, SqlitePool,
};
use std::{str::FromStr, time::Duration};

#[derive(Clone, Debug)]
pub enum Db {
    /// The pool, and readers for the per-request lookups ([`readers`]).
    Sqlite(SqlitePool, readers::Readers),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool, whichever engine it is.
/// The body is compiled once per engine, so it must be generic SQL.
#[macro_export]
#[doc(hidden)]
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::server::db::Db::Sqlite($pool, _) => $body,
            $crate::server::db::Db::Postgres($pool) => $body,
        }
    };
}
pub use on_pool;

/// A transaction on whichever engine is configured. SQLite's takes the write
/// lock at once (`BEGIN IMMEDIATE`), so two transactions that read and then
/// write queue instead of failing to upgrade their read locks.
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// Runs `$body` with `$conn` bound to the transaction's connection
/// (`&mut SqliteConnection` or `&mut PgConnection`); reborrow it
/// (`&mut *$conn`) to run several statements.
#[macro_export]
#[doc(hidden)]
macro_rules! on_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            $crate::server::db::Tx::Sqlite(t) => {
                let $conn: &mut sqlx::SqliteConnection = &mut *t;
                $body
            }
            $crate::server::db::Tx::Postgres(t) => {
                let $conn: &mut sqlx::PgConnection = &mut *t;
                $body
            }
        }
    };
}
pub use on_tx;

impl Tx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
        }
    }
}

/// The longest a request waits for the database (a connection, or SQLite's
/// write lock) before it answers 503 with `Retry-After`.
pub const DATABASE_WAIT: Duration = Duration::from_secs(5);

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl Db {
    /// Opens a pool for `url` (`sqlite:...` or `postgres://...`). Does not migrate.
    pub async fn connect(url: &str) -> Result<Db, sqlx::Error> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(DATABASE_WAIT);
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                // A connection to a local file cannot go stale the way a
                // network one can: no ping (a round trip to the connection's
                // worker thread) before every query.
                .test_before_acquire(false)
                .acquire_timeout(DATABASE_WAIT)
                .connect_with(options.clone())
                .await?;
            Ok(Db::Sqlite(pool, readers::Readers::for_file(url, &options)))
        } else {
            let options = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(DATABASE_WAIT)
                .connect_with(options)
                .await?;
            Ok(Db::Postgres(pool))
        }
    }

    /// Applies pending migrations (the app's schema and the session store's).
    pub async fn migrate(&self) -> Result<(), sqlx::Error> {
        match self {
            Db::Sqlite(pool, _) => {
                SQLITE_MIGRATIONS.run(pool).await?;
                tower_sessions_sqlx_store::SqliteStore::new(pool.clone())
                    .migrate()
                    .await?;
            }
            Db::Postgres(pool) => {
                POSTGRES_MIGRATIONS.run(pool).await?;
                tower_sessions_sqlx_store::PostgresStore::new(pool.clone())
                    .migrate()
                    .await?;
            }
        }
        Ok(())
    }

    /// The tower-sessions store on the same database.
    pub fn session_store(&self) -> SessionStoreAny {
        match self {
            Db::Sqlite(pool, _) => {
                SessionStoreAny::Sqlite(tower_sessions_sqlx_store::SqliteStore::new(pool.clone()))
            }
            Db::Postgres(pool) => {
                SessionStoreAny::Postgres(tower_sessions_sqlx_store::PostgresStore::new(pool.clone()))
            }
        }
    }

    /// Starts a transaction (see [`Tx`]). Dropping it uncommitted rolls it back.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Db::Sqlite(pool, _) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// A consistent copy of a SQLite database at `path`, taken while others
    /// read and write it (`VACUUM INTO`). Returns the copy's size.
    pub async fn backup_to(&self, path: &std::path::Path) -> Result<u64, String> {
        let Db::Sqlite(pool, _) = self else {
            return Err("backup copies SQLite databases; for PostgreSQL use pg_dump (see the README)".into());
        };
        let target = path
            .to_str()
            .ok_or_else(|| format!("{} is not a UTF-8 path", path.display()))?;
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(pool)
            .await
            .map_err(|e| format!("the backup failed: {e}"))?;
        std::fs::metadata(path)
            .map(|m| m.len())
            .map_err(|e| format!("the backup is not there: {e}"))
    }

    /// `SELECT 1`: whether the database answers.
    pub async fn ping(&self) -> bool {
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.is_ok())
    }

    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}

/// Whether `err` is a unique-constraint violation (a row that already exists).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(e) if e.is_unique_violation())
}
