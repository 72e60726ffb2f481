//! Reads on the calling thread, for the one lookup every signed-in request
//! makes (its session or token family, joined with its user), and short
//! writes on the calling thread, for a login's few small writes ([`Readers::write`]).
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
//!
//! The rows they find are kept (a bounded number, [`KEEP_ROWS`]) with the
//! database's version they were read at: the header of the WAL index (the
//! first 48 bytes of the `-shm` file), which every commit of any connection
//! in any process rewrites (its frame count, salts and checksum) before the
//! commit returns. A kept row answers only while the header is the one read
//! before the row was: one `pread`, no lock, no query. Anything committed
//! since (a logout, a revocation, a role, a password, the CLI's changes)
//! changes the header, so the next read goes to the database: revocation
//! stays exact. (The header's layout is SQLite's documented WAL-index format,
//! <https://sqlite.org/walformat.html>.)

use super::{on_pool, Arg, Db};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use sqlx::{postgres::PgRow, sqlite::SqliteConnectOptions, sqlite::SqliteRow, FromRow, SqlitePool};
use std::{
    any::Any,
    collections::HashMap,
    fmt,
    fs::File,
    os::unix::fs::FileExt,
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex, PoisonError,
    },
    time::{Duration, Instant},
};

/// Idle connections kept for reuse (more may be open during a burst).
const KEEP_IDLE: usize = 8;

#[derive(Clone, Default)]
pub struct Readers(Option<Arc<Inner>>);

/// Rows kept for reads at an unchanged version (beyond it, all are dropped).
const KEEP_ROWS: usize = 1024;

/// The WAL-index header: the database's version, as far as a read can tell.
type Version = [u8; 48];

struct Inner {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    watch: Option<Watch>,
    kept: Mutex<HashMap<String, Kept>>,
    /// The connection of [`Readers::write`], opened at its first write.
    writer: Mutex<Option<Connection>>,
    /// A checkpoint of the writes made here is running ([`CHECKPOINT_FRAMES`]).
    checkpointing: Arc<AtomicBool>,
    /// No checkpoint starts before this (milliseconds after `born`).
    next_checkpoint: AtomicU64,
    born: Instant,
}

/// The least time from one checkpoint's start to the next: under a steady
/// flow of writes a passive checkpoint rarely catches up with the last
/// frame (so the WAL cannot start over), and one after every write would
/// cost more than it saves.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Once the WAL holds this many frames after a write made here, a
/// checkpoint runs on the pool (SQLite's own automatic checkpoint, at the
/// same size, is off for the writer: it would run on the request's thread).
const CHECKPOINT_FRAMES: u32 = 1000;

/// What tells this process that the database changed.
struct Watch {
    /// The `-shm` file, read (never written or mapped) for its header.
    shm: File,
    /// A connection that has read and stays open: while it is, SQLite neither
    /// deletes nor truncates the `-shm` file (a last connection's close in
    /// any process would), so `shm` stays the file every writer updates.
    _keeper: Mutex<Connection>,
}

/// A row kept under its key, with the statement that read it (by address:
/// the statements are `'static` and written once) and the version it was
/// read at.
struct Kept {
    sql: usize,
    version: Version,
    row: Arc<dyn Any + Send + Sync>,
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
        let mut inner = Inner {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
            watch: None,
            kept: Mutex::new(HashMap::new()),
            writer: Mutex::new(None),
            checkpointing: Arc::new(AtomicBool::new(false)),
            next_checkpoint: AtomicU64::new(0),
            born: Instant::now(),
        };
        inner.watch = inner.watch();
        Readers(Some(Arc::new(inner)))
    }

    /// The database's version now; `None` when it cannot be told (then
    /// nothing kept answers).
    fn version(&self) -> Option<Version> {
        let watch = self.0.as_ref()?.watch.as_ref()?;
        let mut header = [0u8; 48];
        watch.shm.read_exact_at(&mut header, 0).ok()?;
        // Byte 12 is `isInit`: a header being recovered is no version.
        (header[12] == 1).then_some(header)
    }

    /// The row kept for `sql` and `key`, if it was read at `version`.
    fn kept<T: Clone + Send + Sync + 'static>(
        &self,
        sql: &'static str,
        key: &str,
        version: &Version,
    ) -> Option<T> {
        let inner = self.0.as_ref()?;
        let row = {
            let kept = inner.kept.lock().ok()?;
            let found = kept.get(key)?;
            (found.sql == sql.as_ptr() as usize && found.version == *version).then(|| found.row.clone())?
        };
        row.downcast_ref::<T>().cloned()
    }

    /// Keeps `row`, read by `sql` for `key` at `version` (read before it).
    fn keep<T: Send + Sync + 'static>(&self, sql: &'static str, key: &str, version: Version, row: T) {
        let Some(inner) = self.0.as_ref() else { return };
        if let Ok(mut kept) = inner.kept.lock() {
            if kept.len() >= KEEP_ROWS {
                kept.retain(|_, k| k.version == version);
                if kept.len() >= KEEP_ROWS {
                    kept.clear();
                }
            }
            kept.insert(
                key.to_owned(),
                Kept {
                    sql: sql.as_ptr() as usize,
                    version,
                    row: Arc::new(row),
                },
            );
        }
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

    /// Runs `write` in a transaction of its own (`BEGIN IMMEDIATE`, then
    /// `COMMIT`) on this thread, through the one writing connection kept
    /// here; `Some` when it committed.
    ///
    /// sqlx hands every statement to its connection's worker thread and back
    /// (and pings the worker when the connection returns to the pool): most
    /// of a login's time outside its password hash went to those thread
    /// switches. A short write made here switches no thread. It never waits
    /// for the database: whenever it cannot commit at once (another
    /// connection holds the write lock, an in-memory database, any error),
    /// it has rolled back and answers `None`, and the caller makes
    /// the same write through the pool, which waits its turn and reports
    /// errors as sqlx errors. A write made here cannot be cut short by a
    /// dropped request: nothing in it awaits.
    pub fn write<T>(
        &self,
        pool: &SqlitePool,
        write: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Option<T> {
        let inner = self.0.as_ref()?;
        // Another request thread's write here holds the connection for tens
        // of microseconds (it never waits inside): waiting for it costs less
        // than the pool's hand-offs. After a panic while writing, the
        // transaction guard below has rolled back.
        let mut slot = inner.writer.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            match inner.open_writer() {
                Ok(conn) => *slot = Some(conn),
                Err(e) => {
                    tracing::debug!(error = %e, "could not open the writer; using the pool");
                    return None;
                }
            }
        }
        let conn = slot.as_ref()?;
        let answer = match Transaction::begin(conn) {
            Ok(tx) => tx.run(write),
            Err(e) => Err(e),
        };
        match answer {
            Ok(answer) => {
                drop(slot);
                if self.frames().is_some_and(|n| n >= CHECKPOINT_FRAMES) {
                    inner.checkpoint(pool);
                }
                Some(answer)
            }
            Err(e) => {
                tracing::debug!(error = %e, "a write could not commit here; using the pool");
                // A connection that could not roll back is closed (which does).
                if !conn.is_autocommit() {
                    *slot = None;
                }
                None
            }
        }
    }

    /// The frames in the WAL now (`mxFrame` of the WAL-index header).
    fn frames(&self) -> Option<u32> {
        let header = self.version()?;
        Some(u32::from_ne_bytes([
            header[16], header[17], header[18], header[19],
        ]))
    }
}

/// A transaction of [`Readers::write`]: rolled back unless it committed,
/// even when the write panics.
struct Transaction<'c> {
    conn: &'c Connection,
    done: bool,
}

impl<'c> Transaction<'c> {
    fn begin(conn: &'c Connection) -> rusqlite::Result<Transaction<'c>> {
        conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
        Ok(Transaction { conn, done: false })
    }

    fn run<T>(mut self, write: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> rusqlite::Result<T> {
        let answer = write(self.conn)?;
        self.conn.prepare_cached("COMMIT")?.execute([])?;
        self.done = true;
        Ok(answer)
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.done && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

/// Runs `sql` (one statement, its parameters named `$1`, `$2`, ... as
/// everywhere else) with `args` (`$n` is `args[n - 1]`), and maps the rows
/// it returns, if any.
pub fn run_statement<T>(
    conn: &Connection,
    sql: &str,
    args: &[Arg],
    mut map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    let mut statement = conn.prepare_cached(sql)?;
    for index in 1..=statement.parameter_count() {
        let arg = statement
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| args.get(n.checked_sub(1)?))
            .ok_or(rusqlite::Error::InvalidParameterCount(index, args.len()))?;
        match arg {
            Arg::Text(v) => statement.raw_bind_parameter(index, v)?,
            Arg::Int(v) => statement.raw_bind_parameter(index, v)?,
            Arg::Bool(v) => statement.raw_bind_parameter(index, v)?,
        }
    }
    let mut rows = statement.raw_query();
    let mut found = Vec::new();
    while let Some(row) = rows.next()? {
        found.push(map(row)?);
    }
    Ok(found)
}

impl Inner {
    /// The `-shm` file and the connection that keeps it, when the database
    /// is in WAL mode and both open.
    fn watch(&self) -> Option<Watch> {
        let keeper = self.open().ok()?;
        let mode: String = keeper
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .ok()?;
        if !mode.eq_ignore_ascii_case("wal") {
            return None;
        }
        // A read, so the keeper holds its share of the file from now on.
        keeper
            .query_row("SELECT count(*) FROM sqlite_master", [], |row| {
                row.get::<_, i64>(0)
            })
            .ok()?;
        let mut shm = self.path.clone().into_os_string();
        shm.push("-shm");
        let shm = File::open(shm).ok()?;
        Some(Watch {
            shm,
            _keeper: Mutex::new(keeper),
        })
    }

    /// The connection of [`Readers::write`]: the pool's settings (foreign
    /// keys, `synchronous = NORMAL`), but it never waits for the lock, and
    /// it leaves checkpoints to the pool.
    fn open_writer(&self) -> rusqlite::Result<Connection> {
        let conn = self.connect(OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        conn.execute_batch(
            "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0;",
        )?;
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            // Without WAL a write here would block readers: the pool writes.
            return Err(rusqlite::Error::InvalidQuery);
        }
        Ok(conn)
    }

    /// A passive checkpoint on a pool connection (its worker thread, not the
    /// request's), unless one is running.
    fn checkpoint(&self, pool: &SqlitePool) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let now = u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX);
        if now < self.next_checkpoint.load(Ordering::Acquire)
            || self.checkpointing.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let every = u64::try_from(CHECKPOINT_EVERY.as_millis()).unwrap_or(u64::MAX);
        self.next_checkpoint
            .store(now.saturating_add(every), Ordering::Release);
        let (pool, running) = (pool.clone(), self.checkpointing.clone());
        runtime.spawn(async move {
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await {
                tracing::warn!(error = %e, "a checkpoint failed");
            }
            running.store(false, Ordering::Release);
        });
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        self.connect(OpenFlags::SQLITE_OPEN_READ_ONLY)
    }

    /// A connection to the file with `access`, for one thread at a time.
    fn connect(&self, access: OpenFlags) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(&self.path, access | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        // Never block the request's thread: busy means "ask the pool".
        conn.busy_timeout(Duration::ZERO)?;
        Ok(conn)
    }
}

/// The one row `sql` finds for `key` (its only parameter, `$1`): on SQLite
/// the row kept from an earlier read if the database has not changed since,
/// else from a reader, mapped by `from_reader`, when one answers at once;
/// else from the pool.
pub async fn fetch_optional<T>(
    db: &Db,
    sql: &'static str,
    key: &str,
    from_reader: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Option<T>, sqlx::Error>
where
    T: Clone + Send + Sync + Unpin + 'static + for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow>,
{
    if let Db::Sqlite(_, readers) = db {
        // The version before the read: the row read is at least as new.
        let version = readers.version();
        if let Some(row) = version.as_ref().and_then(|v| readers.kept::<T>(sql, key, v)) {
            return Ok(Some(row));
        }
        let read = readers.read(|conn| conn.prepare_cached(sql)?.query_row([key], from_reader).optional());
        if let Some(row) = read {
            if let (Some(version), Some(found)) = (version, &row) {
                readers.keep(sql, key, version, found.clone());
            }
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

    const FIND: &str = "SELECT v FROM kv WHERE k = $1";

    async fn find(db: &Db, key: &str) -> Option<String> {
        super::fetch_optional::<(String,)>(db, FIND, key, |row| Ok((row.get(0)?,)))
            .await
            .expect("the read")
            .map(|(v,)| v)
    }

    fn kept(db: &Db, key: &str) -> Option<String> {
        let Db::Sqlite(_, readers) = db else {
            panic!("a SQLite database")
        };
        let version = readers.version()?;
        readers.kept::<(String,)>(FIND, key, &version).map(|(v,)| v)
    }

    #[tokio::test]
    async fn a_kept_row_answers_only_until_anything_is_committed() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("k.db");
        let db = Db::connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .expect("the database opens");
        execute(&db, "CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)").await;
        execute(&db, "INSERT INTO kv VALUES ('a', 'one'), ('b', 'x')").await;
        assert_eq!(find(&db, "a").await.as_deref(), Some("one"));
        // Kept, and the answer while nothing changes.
        assert_eq!(kept(&db, "a").as_deref(), Some("one"));
        assert_eq!(find(&db, "a").await.as_deref(), Some("one"));

        // Another connection (as another process would: the CLI) commits a
        // change to another row: nothing kept answers any more.
        let other = rusqlite::Connection::open(&path).expect("another connection");
        other
            .execute("UPDATE kv SET v = 'y' WHERE k = 'b'", [])
            .expect("an update");
        assert_eq!(kept(&db, "a"), None);
        assert_eq!(find(&db, "a").await.as_deref(), Some("one"));

        // A change to the row itself is seen by the next read, then its removal.
        other
            .execute("UPDATE kv SET v = 'two' WHERE k = 'a'", [])
            .expect("an update");
        assert_eq!(find(&db, "a").await.as_deref(), Some("two"));
        execute(&db, "DELETE FROM kv WHERE k = 'a'").await;
        assert_eq!(find(&db, "a").await, None);

        // Many commits: the WAL is checkpointed and restarts from its start,
        // and a row kept before is still not taken for the current one.
        assert_eq!(find(&db, "b").await.as_deref(), Some("y"));
        for n in 0..200 {
            other
                .execute("INSERT INTO kv VALUES (?1, 'filler')", [format!("f{n}")])
                .expect("an insert");
        }
        other
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .expect("a checkpoint");
        other
            .execute("UPDATE kv SET v = 'z' WHERE k = 'b'", [])
            .expect("an update");
        assert_eq!(find(&db, "b").await.as_deref(), Some("z"));
    }

    /// A database in a new file with an empty table `t`, its pool and readers.
    async fn writable() -> (tempfile::TempDir, Db, sqlx::SqlitePool, super::Readers) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let db = with_table(&format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("w.db").display()
        ))
        .await;
        execute(&db, "CREATE UNIQUE INDEX t_x ON t (x)").await;
        let Db::Sqlite(pool, readers) = db.clone() else {
            panic!("a SQLite database")
        };
        (dir, db, pool, readers)
    }

    fn insert(conn: &rusqlite::Connection, x: i64) -> rusqlite::Result<()> {
        super::run_statement(conn, "INSERT INTO t (x) VALUES ($1)", &[x.into()], |_| Ok(())).map(|_| ())
    }

    async fn pool_count(pool: &sqlx::SqlitePool) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(pool)
            .await
            .expect("a count")
    }

    #[tokio::test]
    async fn a_write_here_commits_all_or_nothing_and_never_waits() {
        let (_dir, _db, pool, readers) = writable().await;
        assert_eq!(readers.write(&pool, |conn| insert(conn, 1)), Some(()));
        assert_eq!(pool_count(&pool).await, 1, "the pool sees it at once");

        // The second insert breaks the unique index: the first is rolled
        // back too, and the caller is told to use the pool.
        let failed = readers.write(&pool, |conn| {
            insert(conn, 2)?;
            insert(conn, 1)
        });
        assert_eq!(failed, None);
        assert_eq!(pool_count(&pool).await, 1);

        // A panic inside a write rolls it back as well.
        let readers2 = readers.clone();
        let pool2 = pool.clone();
        let panicked = std::thread::spawn(move || {
            readers2.write(&pool2, |conn| -> rusqlite::Result<()> {
                insert(conn, 3)?;
                panic!("a bug in a write")
            })
        })
        .join();
        assert!(panicked.is_err());
        assert_eq!(pool_count(&pool).await, 1);

        // Another connection holds the write lock: no wait, nothing written.
        let mut other = pool.acquire().await.expect("a connection");
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *other)
            .await
            .expect("the lock");
        let started = std::time::Instant::now();
        assert_eq!(readers.write(&pool, |conn| insert(conn, 4)), None);
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        sqlx::query("ROLLBACK")
            .execute(&mut *other)
            .await
            .expect("a rollback");
        drop(other);

        // After all that the writer still writes (and holds no lock).
        assert_eq!(readers.write(&pool, |conn| insert(conn, 5)), Some(()));
        let xs: Vec<i64> = sqlx::query_scalar("SELECT x FROM t ORDER BY x")
            .fetch_all(&pool)
            .await
            .expect("the rows");
        assert_eq!(xs, vec![1, 5]);
    }

    #[tokio::test]
    async fn writes_here_are_checkpointed_on_the_pool() {
        let (_dir, _db, pool, readers) = writable().await;
        let inner = readers.0.clone().expect("readers");
        let settled = || async {
            for _ in 0..100 {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                if !inner.checkpointing.load(std::sync::atomic::Ordering::Acquire) {
                    return;
                }
            }
            panic!("a checkpoint that does not end");
        };
        for x in 0..1500 {
            assert_eq!(readers.write(&pool, |conn| insert(conn, x)), Some(()));
            if x % 100 == 0 {
                // The checkpoint runs on the pool, beside the writes.
                tokio::task::yield_now().await;
            }
        }
        // Writes kept coming while it ran, so it may not have caught up.
        // Once they pause, the next write starts one that does, and the
        // write after it starts the WAL over instead of growing it.
        settled().await;
        tokio::time::sleep(super::CHECKPOINT_EVERY).await;
        assert_eq!(readers.write(&pool, |conn| insert(conn, 5000)), Some(()));
        settled().await;
        assert_eq!(readers.write(&pool, |conn| insert(conn, 5001)), Some(()));
        let frames = readers.frames().expect("a WAL");
        assert!(frames < super::CHECKPOINT_FRAMES, "{frames} frames in the WAL");
        assert_eq!(pool_count(&pool).await, 1502);
    }

    #[tokio::test]
    async fn an_in_memory_database_has_no_readers() {
        let db = with_table("sqlite::memory:").await;
        // Another connection would not see this database: the pool answers.
        assert_eq!(count(&db).await, None);
    }
}
