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

use rusqlite::{Connection, OpenFlags};
use sqlx::sqlite::SqliteConnectOptions;
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
        let name = path.to_string_lossy();
        if url.contains("mode=memory") || name.is_empty() || name == ":memory:" || name.starts_with("file:") {
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

    async fn count(db: &Db) -> Option<i64> {
        let Db::Sqlite(_, readers) = db else {
            panic!("a SQLite database")
        };
        readers.read(|conn| conn.query_row("SELECT COUNT(*) FROM t", [], |row| row.get(0)))
    }

    #[tokio::test]
    async fn a_reader_sees_every_committed_write_at_once() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("r.db").display());
        let db = Db::connect(&url).await.expect("the database opens");
        let Db::Sqlite(pool, _) = &db else {
            panic!("a SQLite database")
        };
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(pool)
            .await
            .expect("create");
        assert_eq!(count(&db).await, Some(0));
        sqlx::query("INSERT INTO t VALUES (1), (2)")
            .execute(pool)
            .await
            .expect("insert");
        // The same (reused) reader sees the insert, then the delete.
        assert_eq!(count(&db).await, Some(2));
        sqlx::query("DELETE FROM t").execute(pool).await.expect("delete");
        assert_eq!(count(&db).await, Some(0));
    }

    #[tokio::test]
    async fn an_in_memory_database_has_no_readers() {
        let db = Db::connect("sqlite::memory:").await.expect("the database opens");
        let Db::Sqlite(pool, _) = &db else {
            panic!("a SQLite database")
        };
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(pool)
            .await
            .expect("create");
        // Another connection would not see this database: the pool answers.
        assert_eq!(count(&db).await, None);
    }
}
