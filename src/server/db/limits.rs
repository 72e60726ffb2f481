//! Queries on `login_failures`, `lockouts` and `rate_limits`.

use super::{on_pool, on_tx, readers, Arg, Batch, Db, Tx};

const UNCOUNT_ATTEMPT: &str = "UPDATE login_failures SET count = count - 1 WHERE key = $1 AND count > 0";
const CLEAR: &str = "DELETE FROM lockouts WHERE key = $1";

/// Counts one login attempt against `key` in a window of `window` seconds that
/// starts at the first attempt, atomically. Returns the count and the window's
/// start after counting.
pub async fn count_attempt(db: &Db, key: &str, now: i64, window: i64) -> Result<(i64, i64), sqlx::Error> {
    const SQL: &str = "INSERT INTO login_failures (key, window_start, count) VALUES ($1, $2, 1) \
         ON CONFLICT (key) DO UPDATE SET \
           count = CASE WHEN login_failures.window_start + $3 <= $2 THEN 1 ELSE login_failures.count + 1 END, \
           window_start = CASE WHEN login_failures.window_start + $3 <= $2 THEN $2 ELSE login_failures.window_start END \
         RETURNING count, window_start";
    if let Some(counted) = one_here(db, SQL, &[key.into(), now.into(), window.into()], |row| {
        Ok((row.get(0)?, row.get(1)?))
    }) {
        return Ok(counted);
    }
    on_pool!(db, pool => sqlx::query_as::<_, (i64, i64)>(SQL)
    .bind(key)
    .bind(now)
    .bind(window)
    .fetch_one(pool)
    .await)
}

/// Counts a failure of `key` in advance, before a password is checked (a
/// guess in flight is a failure until it proves otherwise), unless `key` is
/// locked. Atomic, so however many guesses race, each gets its own number.
/// Returns `(failures counting this one, lock_count, locked_until)`.
pub async fn reserve_failure(db: &Db, key: &str, now: i64) -> Result<(i64, i64, Option<i64>), sqlx::Error> {
    const SQL: &str = "INSERT INTO lockouts (key, failures, lock_count, updated_at) VALUES ($1, 1, 0, $2) \
         ON CONFLICT (key) DO UPDATE SET \
           failures = CASE WHEN lockouts.locked_until > $2 THEN lockouts.failures ELSE lockouts.failures + 1 END, \
           updated_at = $2 \
         RETURNING failures, lock_count, locked_until";
    if let Some(reserved) = one_here(db, SQL, &[key.into(), now.into()], |row| {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
    }) {
        return Ok(reserved);
    }
    on_pool!(db, pool => sqlx::query_as::<_, (i64, i64, Option<i64>)>(SQL)
    .bind(key)
    .bind(now)
    .fetch_one(pool)
    .await)
}

/// Takes back one reserved failure (a guess that was refused unchecked).
pub async fn release_failure(db: &Db, key: &str) -> Result<(), sqlx::Error> {
    on_pool!(db, pool => sqlx::query("UPDATE lockouts SET failures = failures - 1 WHERE key = $1 AND failures > 0")
        .bind(key)
        .execute(pool)
        .await
        .map(|_| ()))
}

/// Locks `key` until `until`, unless it is locked already (of several racing
/// failures, one locks). Returns whether this call locked it.
pub async fn lock(db: &Db, key: &str, until: i64, now: i64) -> Result<bool, sqlx::Error> {
    on_pool!(db, pool => sqlx::query(
        "UPDATE lockouts SET failures = 0, lock_count = lock_count + 1, locked_until = $1, updated_at = $2 \
         WHERE key = $3 AND (locked_until IS NULL OR locked_until <= $2)",
    )
    .bind(until)
    .bind(now)
    .bind(key)
    .execute(pool)
    .await
    .map(|r| r.rows_affected() > 0))
}

/// How many times `key` was locked before.
pub async fn lock_count(db: &Db, key: &str) -> Result<i64, sqlx::Error> {
    let n: Option<i64> = on_pool!(db, pool => sqlx::query_scalar("SELECT lock_count FROM lockouts WHERE key = $1")
        .bind(key)
        .fetch_optional(pool)
        .await)?;
    Ok(n.unwrap_or(0))
}

/// After a right password or code, in `batch`: takes back the attempt
/// counted against `client_key` (it succeeded, so it was not a failure) and
/// forgets `lock_key`'s failures ([`clear`]).
pub fn forget_success(batch: &mut Batch, client_key: &str, lock_key: &str) {
    batch.push(UNCOUNT_ATTEMPT, vec![client_key.into()]);
    batch.push(CLEAR, vec![lock_key.into()]);
}

/// Forgets `key`'s failures and locks (an unlock, a reset), in `tx`.
/// Returns whether it was locked.
pub async fn clear(tx: &mut Tx, key: &str, now: i64) -> Result<bool, sqlx::Error> {
    let was_locked: Option<Option<i64>> = on_tx!(tx, conn => sqlx::query_scalar(
        "DELETE FROM lockouts WHERE key = $1 RETURNING locked_until",
    )
    .bind(key)
    .fetch_optional(conn)
    .await)?;
    Ok(was_locked.flatten().is_some_and(|until| until > now))
}

/// Counts one event against `key` in a window of `window` seconds that starts
/// at the first event, atomically (`rate_limits`). Returns the count and the
/// window's start after counting.
pub async fn count_event(db: &Db, key: &str, now: i64, window: i64) -> Result<(i64, i64), sqlx::Error> {
    on_pool!(db, pool => sqlx::query_as::<_, (i64, i64)>(
        "INSERT INTO rate_limits (key, window_start, window_seconds, count) VALUES ($1, $2, $3, 1) \
         ON CONFLICT (key) DO UPDATE SET \
           count = CASE WHEN rate_limits.window_start + $3 <= $2 THEN 1 ELSE rate_limits.count + 1 END, \
           window_start = CASE WHEN rate_limits.window_start + $3 <= $2 THEN $2 ELSE rate_limits.window_start END, \
           window_seconds = $3 \
         RETURNING count, window_start",
    )
    .bind(key)
    .bind(now)
    .bind(window)
    .fetch_one(pool)
    .await)
}

/// Deletes windows and lock records nobody needs any more.
pub async fn purge(db: &Db, window_cutoff: i64, stale_before: i64, now: i64) -> Result<u64, sqlx::Error> {
    let a = on_pool!(db, pool => sqlx::query("DELETE FROM login_failures WHERE window_start <= $1")
        .bind(window_cutoff)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    let b = on_pool!(db, pool => sqlx::query(
        "DELETE FROM lockouts WHERE updated_at <= $1 AND (locked_until IS NULL OR locked_until <= $2)",
    )
    .bind(stale_before)
    .bind(now)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    let c = on_pool!(db, pool => sqlx::query("DELETE FROM rate_limits WHERE window_start + window_seconds <= $1")
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(a + b + c)
}

/// The one row `sql` (a write that returns it) returns, written on the
/// calling thread ([`Db::write_here`]); `None` when the pool must write it.
fn one_here<T>(
    db: &Db,
    sql: &str,
    args: &[Arg],
    map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Option<T> {
    db.write_here(|conn| {
        readers::run_statement(conn, sql, args, map)?
            .pop()
            .ok_or(rusqlite::Error::QueryReturnedNoRows)
    })
}
