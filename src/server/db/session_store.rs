//! The tower-sessions store for whichever engine is configured, over the
//! tables tower-sessions-sqlx-store creates (it still migrates them and
//! deletes expired records).
//!
//! A record is stored under the SHA-256 of its id, never the id itself (the
//! cookie's value), and its stored data carries no id either: a copied
//! database or backup holds no browser session, as refresh tokens are
//! stored only hashed. The cookie's id is hashed on every lookup of it.
//!
//! A browser record holds one value, [`SESSION_KEY`]: the id of the core
//! session it carries. Creating a record also binds that session to it
//! (`user_sessions.record_id`, the same hash), so that later requests find
//! the session and its user from the cookie's id in one query. On SQLite the
//! record and the binding are one script for the connection's worker
//! thread: one hand-off, where a transaction and a separate binding took four.

use super::sessions::SET_RECORD_ID;
use async_trait::async_trait;
use sha2::{Digest, Sha256};
use sqlx::{PgPool, SqlitePool};
use time::OffsetDateTime;
use tower_sessions::{
    session::{Id, Record},
    session_store, ExpiredDeletion, SessionStore,
};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

/// The key, in a browser record, of the id of the core session it holds.
pub const SESSION_KEY: &str = "sid";

/// What a record is stored (and a session bound) under: the SHA-256 of its
/// id, in hex.
///
/// Spelled out by hand: every signed-in request makes one, and
/// `hex::encode` goes through a `char` iterator (2,000 instructions).
pub fn record_key(id: &str) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut key = String::with_capacity(64);
    for byte in Sha256::digest(id.as_bytes()) {
        key.push(char::from(DIGITS[usize::from(byte >> 4)]));
        key.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    key
}

#[derive(Clone, Debug)]
pub enum SessionStoreAny {
    Sqlite(SqliteStore, SqlitePool, super::readers::Readers),
    Postgres(PostgresStore, PgPool),
}

/// Inserts a record unless its key is taken; a row comes back when it was
/// inserted.
const SQLITE_CREATE: &str = "INSERT INTO tower_sessions (id, data, expiry_date) VALUES ($1, $2, $3) \
     ON CONFLICT (id) DO NOTHING RETURNING id";
/// The same, and binds the core session the record holds to it.
/// `changes()` is the count of the insert just before: a record key that was
/// taken binds nothing.
const SQLITE_CREATE_AND_BIND: &str =
    "INSERT INTO tower_sessions (id, data, expiry_date) VALUES ($1, $2, $3) \
     ON CONFLICT (id) DO NOTHING RETURNING id; \
     UPDATE user_sessions SET record_id = $1 WHERE id = $4 AND changes() = 1";
const SQLITE_SAVE: &str = "INSERT INTO tower_sessions (id, data, expiry_date) VALUES ($1, $2, $3) \
     ON CONFLICT (id) DO UPDATE SET data = excluded.data, expiry_date = excluded.expiry_date";
const SQLITE_LOAD: &str = "SELECT data FROM tower_sessions WHERE id = $1 AND expiry_date > $2";
const SQLITE_DELETE: &str = "DELETE FROM tower_sessions WHERE id = $1";

const PG_CREATE: &str = "INSERT INTO tower_sessions.session (id, data, expiry_date) VALUES ($1, $2, $3) \
     ON CONFLICT (id) DO NOTHING RETURNING id";
const PG_SAVE: &str = "INSERT INTO tower_sessions.session (id, data, expiry_date) VALUES ($1, $2, $3) \
     ON CONFLICT (id) DO UPDATE SET data = excluded.data, expiry_date = excluded.expiry_date";
const PG_LOAD: &str = "SELECT data FROM tower_sessions.session WHERE id = $1 AND expiry_date > $2";
const PG_DELETE: &str = "DELETE FROM tower_sessions.session WHERE id = $1";

fn backend(e: sqlx::Error) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

/// The core session `record` holds, if any.
fn bound_session(record: &Record) -> Option<&str> {
    record.data.get(SESSION_KEY).and_then(|v| v.as_str())
}

/// The record's data as stored: without its id.
fn encode(record: &Record) -> session_store::Result<Vec<u8>> {
    let stored = Record {
        id: Id(0),
        data: record.data.clone(),
        expiry_date: record.expiry_date,
    };
    rmp_serde::to_vec(&stored).map_err(|e| session_store::Error::Encode(e.to_string()))
}

/// A stored record, under the id it was looked up by.
fn decode(id: &Id, data: &[u8]) -> session_store::Result<Record> {
    let mut record: Record =
        rmp_serde::from_slice(data).map_err(|e| session_store::Error::Decode(e.to_string()))?;
    record.id = *id;
    Ok(record)
}

async fn sqlite_try_create(
    pool: &SqlitePool,
    readers: &super::readers::Readers,
    record: &Record,
) -> session_store::Result<bool> {
    let key = record_key(&record.id.to_string());
    let data = encode(record)?;
    // On this thread when it can (see `Readers::write`), stored as sqlx
    // stores a date (RFC 3339 text).
    let expiry = record
        .expiry_date
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| session_store::Error::Encode(e.to_string()))?;
    let here = readers.write(pool, |conn| {
        use rusqlite::{named_params, OptionalExtension};
        let inserted = conn
            .prepare_cached(SQLITE_CREATE)?
            .query_row(named_params! {"$1": key, "$2": data, "$3": expiry}, |_| Ok(()))
            .optional()?
            .is_some();
        if let (true, Some(sid)) = (inserted, bound_session(record)) {
            conn.prepare_cached(SET_RECORD_ID)?
                .execute(named_params! {"$1": key, "$2": sid})?;
        }
        Ok(inserted)
    });
    if let Some(created) = here {
        return Ok(created);
    }
    let query = match bound_session(record) {
        Some(sid) => sqlx::query(SQLITE_CREATE_AND_BIND)
            .bind(key)
            .bind(data)
            .bind(record.expiry_date)
            .bind(sid.to_string()),
        None => sqlx::query(SQLITE_CREATE)
            .bind(key)
            .bind(data)
            .bind(record.expiry_date),
    };
    let inserted = query.fetch_all(pool).await.map_err(backend)?;
    Ok(!inserted.is_empty())
}

async fn pg_try_create(pool: &PgPool, record: &Record) -> session_store::Result<bool> {
    let key = record_key(&record.id.to_string());
    let inserted = sqlx::query(PG_CREATE)
        .bind(&key)
        .bind(encode(record)?)
        .bind(record.expiry_date)
        .fetch_optional(pool)
        .await
        .map_err(backend)?;
    if inserted.is_none() {
        return Ok(false);
    }
    if let Some(sid) = bound_session(record) {
        sqlx::query(SET_RECORD_ID)
            .bind(&key)
            .bind(sid)
            .execute(pool)
            .await
            .map_err(backend)?;
    }
    Ok(true)
}

impl SessionStoreAny {
    /// The stored data of the unexpired record under `key`.
    async fn fetch(&self, key: &str) -> session_store::Result<Option<Vec<u8>>> {
        let now = OffsetDateTime::now_utc();
        match self {
            SessionStoreAny::Sqlite(_, pool, _) => {
                sqlx::query_scalar(SQLITE_LOAD)
                    .bind(key)
                    .bind(now)
                    .fetch_optional(pool)
                    .await
            }
            SessionStoreAny::Postgres(_, pool) => {
                sqlx::query_scalar(PG_LOAD)
                    .bind(key)
                    .bind(now)
                    .fetch_optional(pool)
                    .await
            }
        }
        .map_err(backend)
    }
}

#[async_trait]
impl SessionStore for SessionStoreAny {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        loop {
            let created = match self {
                SessionStoreAny::Sqlite(_, pool, readers) => sqlite_try_create(pool, readers, record).await?,
                SessionStoreAny::Postgres(_, pool) => pg_try_create(pool, record).await?,
            };
            if created {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let key = record_key(&record.id.to_string());
        let data = encode(record)?;
        match self {
            SessionStoreAny::Sqlite(_, pool, _) => sqlx::query(SQLITE_SAVE)
                .bind(key)
                .bind(data)
                .bind(record.expiry_date)
                .execute(pool)
                .await
                .map(|_| ()),
            SessionStoreAny::Postgres(_, pool) => sqlx::query(PG_SAVE)
                .bind(key)
                .bind(data)
                .bind(record.expiry_date)
                .execute(pool)
                .await
                .map(|_| ()),
        }
        .map_err(backend)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let raw = id.to_string();
        let mut data = self.fetch(&record_key(&raw)).await?;
        if data.is_none() && self.fetch(&raw).await?.is_some() {
            // A record stored under its plain id: made by an instance of the
            // previous version still running beside this one (a rolling
            // upgrade). Move every such record to its hashed key, and read
            // it from there.
            rehash_legacy_records(self)
                .await
                .map_err(session_store::Error::Backend)?;
            data = self.fetch(&record_key(&raw)).await?;
        }
        data.map(|d| decode(id, &d)).transpose()
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        let key = record_key(&id.to_string());
        match self {
            SessionStoreAny::Sqlite(_, pool, _) => sqlx::query(SQLITE_DELETE)
                .bind(key)
                .execute(pool)
                .await
                .map(|_| ()),
            SessionStoreAny::Postgres(_, pool) => {
                sqlx::query(PG_DELETE).bind(key).execute(pool).await.map(|_| ())
            }
        }
        .map_err(backend)
    }
}

#[async_trait]
impl ExpiredDeletion for SessionStoreAny {
    async fn delete_expired(&self) -> session_store::Result<()> {
        match self {
            SessionStoreAny::Sqlite(s, _, _) => s.delete_expired().await,
            SessionStoreAny::Postgres(s, _) => s.delete_expired().await,
        }
    }
}

/// Records stored before ids were hashed (their key is the id itself, not a
/// 64-digit hash) move to their hashed key, without the id in their data,
/// and their sessions are bound to that key: nobody is signed out by the
/// upgrade. Runs at every start, and again when a record under a plain id
/// turns up (an instance of the previous version still writing during a
/// rolling upgrade). Safe with several instances at once.
pub async fn rehash_legacy_records(store: &SessionStoreAny) -> Result<u64, String> {
    let failed = |e: sqlx::Error| format!("cannot move the session records to hashed keys: {e}");
    macro_rules! rehash {
        ($pool:expr, $table:literal) => {{
            let rows: Vec<(String, Vec<u8>, OffsetDateTime)> = sqlx::query_as(concat!(
                "SELECT id, data, expiry_date FROM ",
                $table,
                " WHERE length(id) <> 64"
            ))
            .fetch_all($pool)
            .await
            .map_err(failed)?;
            let mut moved = 0;
            for (old, data, expiry) in rows {
                let Ok(record) = rmp_serde::from_slice::<Record>(&data) else {
                    continue;
                };
                let key = record_key(&old);
                let data = encode(&record).map_err(|e| e.to_string())?;
                let mut tx = $pool.begin().await.map_err(failed)?;
                sqlx::query(concat!(
                    "INSERT INTO ",
                    $table,
                    " (id, data, expiry_date) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING"
                ))
                .bind(&key)
                .bind(&data)
                .bind(expiry)
                .execute(&mut *tx)
                .await
                .map_err(failed)?;
                sqlx::query("UPDATE user_sessions SET record_id = $1 WHERE record_id = $2")
                    .bind(&key)
                    .bind(&old)
                    .execute(&mut *tx)
                    .await
                    .map_err(failed)?;
                sqlx::query(concat!("DELETE FROM ", $table, " WHERE id = $1"))
                    .bind(&old)
                    .execute(&mut *tx)
                    .await
                    .map_err(failed)?;
                tx.commit().await.map_err(failed)?;
                moved += 1;
            }
            Ok(moved)
        }};
    }
    match store {
        SessionStoreAny::Sqlite(_, pool, _) => rehash!(pool, "tower_sessions"),
        SessionStoreAny::Postgres(_, pool) => rehash!(pool, "tower_sessions.session"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_key_is_the_ids_sha256_in_lower_case_hex() {
        // The SHA-256 of "abc" (FIPS 180-2, appendix B.1).
        assert_eq!(
            record_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        for id in ["", "AAAAAAAAAAAAAAAAAAAAAA", "gatehouse"] {
            assert_eq!(record_key(id), hex::encode(Sha256::digest(id.as_bytes())));
        }
    }

    #[test]
    fn stored_records_carry_neither_the_id_nor_lose_it_on_the_way_back() {
        let mut record = Record {
            id: Id(0x1234_5678_9abc_def0_1122_3344_5566_7788),
            data: Default::default(),
            expiry_date: OffsetDateTime::UNIX_EPOCH,
        };
        record
            .data
            .insert(SESSION_KEY.into(), serde_json::json!("a session id"));
        let stored = encode(&record).expect("encodes");
        let decoded: Record = rmp_serde::from_slice(&stored).expect("decodes");
        assert_eq!(decoded.id, Id(0), "no id in the stored data");
        assert_eq!(decode(&record.id, &stored).expect("decodes"), record);
        let key = record_key(&record.id.to_string());
        assert_eq!(key.len(), 64);
        assert_ne!(key, record.id.to_string());
    }
}
