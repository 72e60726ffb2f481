//! Reads on the calling thread, for the one lookup every signed-in request
//! makes (its session or token family, joined with its user).
//!
//! sqlx runs each SQLite query on the connection's own worker thread: two
//! thread hand-offs per query, which cost more than the indexed read itself
//! (they were most of a session check's time in the profile). These
//! read-only connections answer on the request's thread instead. They read
//! the same file in WAL mode, so every committed write (a logout, a
//! revocation, a disabled user, a change made by the CLI) is seen by the next
//! read, as through the pool. They never wait for a lock: whenever they
//! cannot answer at once (busy, an in-memory database, any error), the
//! caller asks the pool instead.

use super::{on_pool, Db};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use sqlx::{postgres::PgRow, sqlite::SqliteConnectOptions, sqlite::SqliteRow, FromRow};
use std::{
    fmt,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

/// Idle connections kept for reuse (more may be open during a burst).
const KEEP_IDLE: usize = 8;

#[derive(Clone, Default)]
pub struct Readers(Option<Arc<Inner>>);

struct Inner {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl fmt::Debug for Readers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(inner) => write!(f, "Readers({})", inner.path.display()),
            None => f.write_str("Readers(none)"),
        }
    }
}

impl Readers {
    /// Readers of the database file `options` opens; none for an in-memory
    /// database (another connection would not see it).
    pub fn for_file(url: &str, options: &SqliteConnectOptions) -> Readers {
        let path = options.get_filename();
        if url.contains("mode=memory") || !super::names_a_file(path) {
            return Readers(None);
        }
        Readers(Some(Arc::new(Inner {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
        })))
    }

    /// Runs `read` on a reader. `None` when there is no reader or it could
    /// not answer at once: the caller asks the pool.
    pub fn read<T>(&self, read: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Option<T> {
        let inner = self.0.as_ref()?;
        let idle = inner.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match idle {
            Some(conn) => conn,
            None => match inner.open() {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::debug!(error = %e, "could not open a reader; using the pool");
                    return None;
                }
            },
        };
        let answer = match read(&conn) {
            Ok(answer) => Some(answer),
            Err(e) => {
                tracing::debug!(error = %e, "a reader could not answer; using the pool");
                None
            }
        };
        if let Ok(mut idle) = inner.idle.lock() {
            if idle.len() < KEEP_IDLE {
                idle.push(conn);
            }
        }
        answer
    }
}

impl Inner {
    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // Never block the request's thread: busy means "ask the pool".
        conn.busy_timeout(Duration::ZERO)?;
        Ok(conn)
    }
}

/// The one row `sql` finds for `key` (its only parameter, `$1`): on SQLite
/// from a reader, mapped by `from_reader`, when one answers at once; else
/// from the pool.
pub async fn fetch_optional<T>(
    db: &Db,
    sql: &str,
    key: &str,
    from_reader: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Option<T>, sqlx::Error>
where
    T: Send + Unpin + for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow>,
{
    if let Db::Sqlite(_, readers) = db {
        let read = readers.read(|conn| conn.prepare_cached(sql)?.query_row([key], from_reader).optional());
        if let Some(row) = read {
            return Ok(row);
        }
    }
    on_pool!(db, pool => sqlx::query_as::<_, T>(sql).bind(key).fetch_optional(pool).await)
}

/// The columns of a `UserRow` (`USER_COLUMNS`), from column `at` on.
pub fn user_row(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<super::users::UserRow> {
    Ok(super::users::UserRow {
        id: row.get(at)?,
        username: row.get(at + 1)?,
        email: row.get(at + 2)?,
        password_hash: row.get(at + 3)?,
        role: row.get(at + 4)?,
        disabled: row.get(at + 5)?,
        created_at: row.get(at + 6)?,
        last_login_at: row.get(at + 7)?,
        password_changed_at: row.get(at + 8)?,
        email_verified: row.get(at + 9)?,
        mfa_enabled: row.get(at + 10)?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::Db;

    /// A database at `url` with an empty table `t`.
    async fn with_table(url: &str) -> Db {
        let db = Db::connect(url).await.expect("the database opens");
        execute(&db, "CREATE TABLE t (x INTEGER)").await;
        db
    }

    async fn execute(db: &Db, sql: &str) {
        let Db::Sqlite(pool, _) = db else {
            panic!("a SQLite database")
        };
        sqlx::query(sql).execute(pool).await.expect(sql);
    }

    async fn count(db: &Db) -> Option<i64> {
        let Db::Sqlite(_, readers) = db else {
            panic!("a SQLite database")
        };
        readers.read(|conn| conn.query_row("SELECT COUNT(*) FROM t", [], |row| row.get(0)))
    }

    #[tokio::test]
    async fn a_reader_sees_every_committed_write_at_once() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let db = with_table(&format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("r.db").display()
        ))
        .await;
        assert_eq!(count(&db).await, Some(0));
        execute(&db, "INSERT INTO t VALUES (1), (2)").await;
        // The same (reused) reader sees the insert, then the delete.
        assert_eq!(count(&db).await, Some(2));
        execute(&db, "DELETE FROM t").await;
        assert_eq!(count(&db).await, Some(0));
    }

    #[tokio::test]
    async fn an_in_memory_database_has_no_readers() {
        let db = with_table("sqlite::memory:").await;
        // Another connection would not see this database: the pool answers.
        assert_eq!(count(&db).await, None);
    }
}
