//! The database: one handle over SQLite (embedded default) or PostgreSQL
//! (several instances sharing one database). Queries are written once, in SQL
//! both engines accept (`$1` placeholders, `ON CONFLICT`, `RETURNING`), and run
//! on whichever pool is configured through [`on_pool!`].

pub mod audit;
pub mod email_tokens;
pub mod factors;
pub mod identities;
pub mod invitations;
pub mod limits;
pub mod oidc;
pub mod outbox;
pub mod readers;
mod session_store;
pub mod sessions;
pub mod settings;
pub mod tokens;
pub mod users;

pub use session_store::{record_key, SessionStoreAny, SESSION_KEY};

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

/// A value bound to a statement of a [`Batch`].
#[derive(Clone, Debug)]
pub enum Arg {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(bool),
}

impl From<&str> for Arg {
    fn from(v: &str) -> Arg {
        Arg::Text(Some(v.to_string()))
    }
}

impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Arg {
        Arg::Text(v.map(str::to_string))
    }
}

impl From<i64> for Arg {
    fn from(v: i64) -> Arg {
        Arg::Int(Some(v))
    }
}

impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Arg {
        Arg::Int(v)
    }
}

impl From<bool> for Arg {
    fn from(v: bool) -> Arg {
        Arg::Bool(v)
    }
}

/// Write statements that run together, in one transaction, for a path where
/// every round trip counts (a login). Each statement numbers its own
/// parameters from `$1`.
///
/// sqlx runs each SQLite statement on the connection's worker thread: two
/// thread hand-offs per statement, and two more for `BEGIN` and `COMMIT`,
/// which cost more than the small writes themselves (a login flood spent
/// most of its non-hashing time switching threads). On SQLite the batch runs
/// on the calling thread when it can ([`readers::Readers::write`]), else it
/// goes to the worker as one script (`BEGIN IMMEDIATE; ...; COMMIT`): one
/// hand-off. On PostgreSQL it runs statement by statement in a transaction.
#[derive(Debug, Default)]
pub struct Batch {
    statements: Vec<(&'static str, Vec<Arg>)>,
}

impl Batch {
    pub fn push(&mut self, sql: &'static str, args: Vec<Arg>) -> &mut Batch {
        self.statements.push((sql, args));
        self
    }

    /// Runs every statement, or none.
    pub async fn run(self, db: &Db) -> Result<(), sqlx::Error> {
        if self.statements.is_empty() {
            return Ok(());
        }
        match db {
            Db::Sqlite(pool, _) => {
                use sqlx::Arguments;
                let statements = &self.statements;
                let here = db.write_here(|conn| {
                    for (sql, args) in statements {
                        readers::run_statement(conn, sql, args, |_| Ok(()))?;
                    }
                    Ok(())
                });
                if here.is_some() {
                    return Ok(());
                }
                let mut script = String::from("BEGIN IMMEDIATE;\n");
                let mut args = sqlx::sqlite::SqliteArguments::default();
                for (sql, values) in self.statements {
                    script.push_str(&renumber(sql, args.len()));
                    script.push_str(";\n");
                    for value in values {
                        let added = match value {
                            Arg::Text(v) => args.add(v),
                            Arg::Int(v) => args.add(v),
                            Arg::Bool(v) => args.add(v),
                        };
                        added.map_err(sqlx::Error::Encode)?;
                    }
                }
                script.push_str("COMMIT;");
                let mut held = Held::acquire(pool).await?;
                let result = sqlx::query_with(&script, args).execute(held.conn()?).await;
                held.release(result.is_ok()).await;
                result.map(|_| ())
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                for (sql, values) in self.statements {
                    let mut query = sqlx::query(sql);
                    for value in values {
                        query = match value {
                            Arg::Text(v) => query.bind(v),
                            Arg::Int(v) => query.bind(v),
                            Arg::Bool(v) => query.bind(v),
                        };
                    }
                    query.execute(&mut *tx).await?;
                }
                tx.commit().await
            }
        }
    }
}

/// A pool connection for a SQLite script that runs its own transaction
/// (`BEGIN IMMEDIATE; ...; COMMIT`, like a [`Batch`]).
///
/// Dropped before [`Held::release`] (the script's future was dropped: its
/// request timed out, or its client went away), the connection is closed, not
/// returned to the pool: the worker thread stops a script at the first answer
/// nobody takes, which can be right after its `BEGIN IMMEDIATE`, and a
/// connection left inside that transaction would hold the write lock and
/// swallow every later write made through it. Closing rolls it back.
pub(crate) struct Held(Option<sqlx::pool::PoolConnection<sqlx::Sqlite>>);

impl Held {
    pub(crate) async fn acquire(pool: &SqlitePool) -> Result<Held, sqlx::Error> {
        Ok(Held(Some(pool.acquire().await?)))
    }

    pub(crate) fn conn(&mut self) -> Result<&mut sqlx::SqliteConnection, sqlx::Error> {
        self.0.as_deref_mut().ok_or(sqlx::Error::PoolClosed)
    }

    /// The script has finished: its connection goes back to the pool, or,
    /// when the script failed (perhaps inside its transaction), is closed,
    /// which rolls the transaction back.
    pub(crate) async fn release(mut self, succeeded: bool) {
        if let Some(conn) = self.0.take() {
            if !succeeded {
                let _ = conn.close().await;
            }
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(conn) = self.0.as_mut() {
            conn.close_on_drop();
        }
    }
}

/// `sql` with every parameter `$n` renumbered `$(n + offset)`, so that the
/// statements of a script share one list of arguments.
fn renumber(sql: &str, offset: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        match rest[..digits].parse::<usize>() {
            Ok(n) => out.push_str(&(n + offset).to_string()),
            Err(_) => out.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

/// The longest a request waits for the database (a connection, or SQLite's
/// write lock) before it answers 503 with `Retry-After`.
const DATABASE_WAIT: Duration = Duration::from_secs(5);

/// How long a SQLite pool connection beyond the first stays open unused.
const SQLITE_IDLE: std::time::Duration = std::time::Duration::from_secs(2);

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl Db {
    /// Runs `write` in a transaction on the calling thread
    /// ([`readers::Readers::write`]); `None` on PostgreSQL, or when the write
    /// did not commit there (the caller makes it through the pool).
    pub(crate) fn write_here<T>(
        &self,
        write: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Option<T> {
        match self {
            Db::Sqlite(pool, readers) => readers.write(pool, write),
            Db::Postgres(_) => None,
        }
    }

    /// Opens a pool for `url` (`sqlite:...` or `postgres://...`). Does not migrate.
    pub async fn connect(url: &str) -> Result<Db, sqlx::Error> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?;
            // An in-memory database (`sqlite::memory:`) has no file to make.
            if names_a_file(options.get_filename()) {
                create_private(options.get_filename()).map_err(sqlx::Error::Io)?;
            }
            let options = options
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(DATABASE_WAIT);
            // The first connection to a new file turns it to WAL, which
            // needs the file to itself: two processes doing it at once can
            // get SQLITE_BUSY at once (SQLite skips the busy wait where it
            // would deadlock). The lock file that orders migrations orders
            // this first connection too.
            let turn = migration_turn(options.get_filename())
                .await
                .map_err(sqlx::Error::Io)?;
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                // A burst opens up to 8 connections, each with a worker
                // thread, a page cache and prepared statements; they close
                // again after a few idle seconds (one stays).
                .min_connections(1)
                .idle_timeout(SQLITE_IDLE)
                // A connection to a local file cannot go stale the way a
                // network one can: no ping (a round trip to the connection's
                // worker thread) before every query.
                .test_before_acquire(false)
                .acquire_timeout(DATABASE_WAIT)
                .connect_with(options.clone())
                .await?;
            drop(turn);
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
                // SQLite has no advisory lock (sqlx takes one on PostgreSQL):
                // two instances starting on one new file would both apply
                // the first migration. A lock file beside it takes turns.
                let _turn = migration_turn(pool.connect_options().get_filename())
                    .await
                    .map_err(sqlx::Error::Io)?;
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
        session_store::rehash_legacy_records(&self.session_store())
            .await
            .map_err(sqlx::Error::Protocol)?;
        Ok(())
    }

    /// The tower-sessions store on the same database.
    pub fn session_store(&self) -> SessionStoreAny {
        match self {
            Db::Sqlite(pool, readers) => SessionStoreAny::Sqlite(
                tower_sessions_sqlx_store::SqliteStore::new(pool.clone()),
                pool.clone(),
                readers.clone(),
            ),
            Db::Postgres(pool) => SessionStoreAny::Postgres(
                tower_sessions_sqlx_store::PostgresStore::new(pool.clone()),
                pool.clone(),
            ),
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
        // The copy holds what the database holds: readable by its owner
        // only, from the moment it exists (VACUUM INTO writes into an empty
        // file made here).
        let made = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode_private()
            .open(path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        drop(made);
        if let Err(e) = sqlx::query("VACUUM INTO $1").bind(target).execute(pool).await {
            let _ = std::fs::remove_file(path);
            return Err(format!("the backup failed: {e}"));
        }
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

/// Files that hold the database (and its copies) are readable by their
/// owner only: `0600` on Unix.
trait PrivateFile {
    fn mode_private(&mut self) -> &mut Self;
}

impl PrivateFile for std::fs::OpenOptions {
    #[cfg(unix)]
    fn mode_private(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::mode(self, 0o600)
    }

    #[cfg(not(unix))]
    fn mode_private(&mut self) -> &mut Self {
        self
    }
}

/// Creates the SQLite database file `path`, readable by its owner only, if
/// it does not exist yet (SQLite would make it world-readable, and its
/// `-wal` and `-shm` files take the database file's mode).
fn create_private(path: &std::path::Path) -> std::io::Result<()> {
    if path.as_os_str().is_empty() || path.exists() {
        return Ok(());
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode_private()
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether SQLite's `filename` is a file on disk: not an in-memory
/// database (sqlx names `sqlite::memory:` `file:sqlx-in-memory-N`) nor
/// another URI name.
fn names_a_file(filename: &std::path::Path) -> bool {
    let name = filename.to_string_lossy();
    !(name.is_empty() || name.contains(":memory:") || name.starts_with("file:"))
}

/// Waits for, then holds, the exclusive lock on `<database>.migrate-lock`
/// until the returned file is dropped. In-memory databases need none.
async fn migration_turn(database: &std::path::Path) -> std::io::Result<Option<std::fs::File>> {
    if !names_a_file(database) {
        return Ok(None);
    }
    let mut path = database.as_os_str().to_owned();
    path.push(".migrate-lock");
    tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode_private()
            .open(&path)?;
        file.lock()?;
        Ok(Some(file))
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Whether `err` is a unique-constraint violation (a row that already exists).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(e) if e.is_unique_violation())
}

#[cfg(test)]
mod tests {
    use super::{renumber, Batch, Db};
    use std::{str::FromStr, time::Duration};

    /// A database file (in a directory kept while the first value lives), its
    /// URL and a pool on it, with a table `t (k TEXT PRIMARY KEY, n INTEGER)`.
    async fn table_t() -> (tempfile::TempDir, String, Db) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("b.db").display());
        let db = Db::connect(&url).await.expect("a database");
        on_pool!(&db, pool => sqlx::query("CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER)").execute(pool).await.map(|_| ()))
            .expect("a table");
        (dir, url, db)
    }

    async fn n_of(db: &Db, k: &str) -> Option<i64> {
        on_pool!(db, pool => sqlx::query_scalar("SELECT n FROM t WHERE k = $1").bind(k).fetch_optional(pool).await)
            .expect("a read")
    }

    #[tokio::test]
    async fn an_in_memory_database_leaves_no_lock_file_behind() {
        let locks = || {
            std::fs::read_dir(".")
                .map(|d| {
                    d.filter_map(|e| e.ok())
                        .filter(|e| e.file_name().to_string_lossy().ends_with(".migrate-lock"))
                        .count()
                })
                .unwrap_or(0)
        };
        let before = locks();
        let db = Db::connect("sqlite::memory:")
            .await
            .expect("an in-memory database");
        db.migrate().await.expect("migrations");
        assert_eq!(locks(), before, "a lock file appeared in the working directory");
    }

    #[tokio::test]
    async fn a_batch_writes_all_or_nothing_and_leaves_no_transaction_open() {
        let (_dir, _, db) = table_t().await;
        let Db::Sqlite(pool, _) = &db else {
            panic!("a SQLite database")
        };

        let mut batch = Batch::default();
        batch
            .push(
                "INSERT INTO t (k, n) VALUES ($1, $2)",
                vec!["a".into(), 1i64.into()],
            )
            .push(
                "UPDATE t SET n = n + $2 WHERE k = $1",
                vec!["a".into(), 10i64.into()],
            );
        batch.run(&db).await.expect("the batch runs");
        assert_eq!(n_of(&db, "a").await, Some(11));

        // The second statement fails (a duplicate key): the first is undone.
        let mut failing = Batch::default();
        failing
            .push("UPDATE t SET n = $1 WHERE k = $2", vec![5i64.into(), "a".into()])
            .push(
                "INSERT INTO t (k, n) VALUES ($1, $2)",
                vec!["a".into(), 2i64.into()],
            );
        assert!(failing.run(&db).await.is_err());
        assert_eq!(n_of(&db, "a").await, Some(11));

        // No connection of the pool was left inside the failed transaction:
        // each can begin one of its own.
        let mut held = Vec::new();
        for _ in 0..8 {
            let mut conn = pool.acquire().await.expect("a connection");
            sqlx::query("BEGIN")
                .execute(&mut *conn)
                .await
                .expect("no transaction is open on this connection");
            sqlx::query("ROLLBACK")
                .execute(&mut *conn)
                .await
                .expect("rolled back");
            held.push(conn);
        }
    }

    /// A batch dropped while it waits for the write lock (its request timed
    /// out, or its client went away) must not leave its connection inside the
    /// script's transaction: that connection would hold the write lock (every
    /// other write waits, then fails), and what later went through it would
    /// never be committed.
    #[tokio::test]
    async fn a_batch_dropped_midway_leaves_no_transaction_behind() {
        use sqlx::{ConnectOptions, Connection};
        let (_dir, url, db) = table_t().await;
        let other = || async {
            sqlx::sqlite::SqliteConnectOptions::from_str(&url)
                .expect("options")
                .busy_timeout(Duration::ZERO)
                .connect()
                .await
                .expect("another connection")
        };

        // Another connection holds the write lock; the batch waits for it
        // and is dropped while it waits.
        let mut blocker = other().await;
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut blocker)
            .await
            .expect("the write lock");
        let mut batch = Batch::default();
        batch.push(
            "INSERT INTO t (k, n) VALUES ($1, $2)",
            vec!["dropped".into(), 1i64.into()],
        );
        let waited = tokio::time::timeout(Duration::from_millis(300), batch.run(&db)).await;
        assert!(waited.is_err(), "the batch should still be waiting for the lock");
        sqlx::query("COMMIT")
            .execute(&mut blocker)
            .await
            .expect("the lock released");
        blocker.close().await.expect("closed");

        // Soon the write lock is free again (nothing of the dropped batch
        // holds it) ...
        let mut free = false;
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let mut probe = other().await;
            if sqlx::query("BEGIN IMMEDIATE").execute(&mut probe).await.is_ok() {
                sqlx::query("ROLLBACK")
                    .execute(&mut probe)
                    .await
                    .expect("rolled back");
                free = true;
                break;
            }
        }
        assert!(free, "a dropped batch left its connection holding the write lock");

        // ... and what the pool writes afterwards is committed: another
        // connection sees it.
        for k in 0..8i64 {
            let mut write = Batch::default();
            write.push(
                "INSERT INTO t (k, n) VALUES ($1, $2)",
                vec![format!("after-{k}").as_str().into(), k.into()],
            );
            write.run(&db).await.expect("a write after the dropped batch");
        }
        let mut reader = other().await;
        let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM t WHERE k LIKE 'after-%'")
            .fetch_one(&mut reader)
            .await
            .expect("a count");
        assert_eq!(seen, 8, "writes after the dropped batch were not all committed");
        let dropped: i64 = sqlx::query_scalar("SELECT count(*) FROM t WHERE k = 'dropped'")
            .fetch_one(&mut reader)
            .await
            .expect("a count");
        assert!(dropped <= 1);
    }

    #[test]
    fn parameters_are_renumbered_past_the_statements_before() {
        assert_eq!(
            renumber("UPDATE t SET a = $1 WHERE b = $2 AND c = $1", 0),
            "UPDATE t SET a = $1 WHERE b = $2 AND c = $1"
        );
        assert_eq!(
            renumber("UPDATE t SET a = $1 WHERE b = $10", 3),
            "UPDATE t SET a = $4 WHERE b = $13"
        );
        assert_eq!(renumber("SELECT '$' || $2", 1), "SELECT '$' || $3");
    }
}
