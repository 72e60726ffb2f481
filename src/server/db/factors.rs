//! Queries on `totp_secrets`, `recovery_codes`, `passkeys` and
//! `auth_challenges` (WebAuthn ceremonies and sign-ins waiting for a second
//! factor), and the `users.mfa_enabled` flag they decide.

use super::{on_pool, on_tx, Db, Tx};

#[derive(sqlx::FromRow, Clone)]
pub struct TotpRow {
    pub secret: String,
    pub confirmed_at: Option<i64>,
    pub last_step: i64,
}

impl std::fmt::Debug for TotpRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpRow")
            .field("secret", &"[redacted]")
            .field("confirmed_at", &self.confirmed_at)
            .finish()
    }
}

pub async fn totp(db: &Db, user_id: &str) -> Result<Option<TotpRow>, sqlx::Error> {
    on_pool!(db, pool => sqlx::query_as::<_, TotpRow>(
        "SELECT secret, confirmed_at, last_step FROM totp_secrets WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await)
}

/// The TOTP secrets stored in the clear (before a key encryption key was
/// set): `(user_id, secret)`.
pub async fn unsealed_totp_secrets(db: &Db) -> Result<Vec<(String, String)>, sqlx::Error> {
    on_pool!(db, pool => sqlx::query_as::<_, (String, String)>(
        "SELECT user_id, secret FROM totp_secrets WHERE secret NOT LIKE 'sealed:%'",
    )
    .fetch_all(pool)
    .await)
}

/// Replaces a secret stored in the clear with its sealed form.
pub async fn reseal_totp_secret(
    db: &Db,
    user_id: &str,
    plain: &str,
    sealed: &str,
) -> Result<(), sqlx::Error> {
    on_pool!(db, pool => sqlx::query("UPDATE totp_secrets SET secret = $1 WHERE user_id = $2 AND secret = $3")
        .bind(sealed)
        .bind(user_id)
        .bind(plain)
        .execute(pool)
        .await
        .map(|_| ()))
}

/// Starts (or restarts) an unconfirmed enrolment; a confirmed secret stays.
/// Returns whether the secret was stored.
pub async fn start_totp(db: &Db, user_id: &str, secret: &str, now: i64) -> Result<bool, sqlx::Error> {
    on_pool!(db, pool => sqlx::query(
        "INSERT INTO totp_secrets (user_id, secret, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id) DO UPDATE SET secret = $2, created_at = $3, last_step = 0 \
         WHERE totp_secrets.confirmed_at IS NULL",
    )
    .bind(user_id)
    .bind(secret)
    .bind(now)
    .execute(pool)
    .await
    .map(|r| r.rows_affected() > 0))
}

/// Confirms an enrolment with the step of the code that proved it.
pub async fn confirm_totp(tx: &mut Tx, user_id: &str, step: i64, now: i64) -> Result<bool, sqlx::Error> {
    on_tx!(tx, conn => sqlx::query(
        "UPDATE totp_secrets SET confirmed_at = $1, last_step = $2 WHERE user_id = $3 AND confirmed_at IS NULL",
    )
    .bind(now)
    .bind(step)
    .bind(user_id)
    .execute(conn)
    .await
    .map(|r| r.rows_affected() > 0))
}

/// Accepts a code of time step `step` once: only when no code of this or a
/// later step was accepted before (on any instance).
pub async fn accept_step(db: &Db, user_id: &str, step: i64) -> Result<bool, sqlx::Error> {
    on_pool!(db, pool => sqlx::query(
        "UPDATE totp_secrets SET last_step = $1 WHERE user_id = $2 AND confirmed_at IS NOT NULL AND last_step < $1",
    )
    .bind(step)
    .bind(user_id)
    .execute(pool)
    .await
    .map(|r| r.rows_affected() > 0))
}

pub async fn delete_totp(tx: &mut Tx, user_id: &str) -> Result<bool, sqlx::Error> {
    on_tx!(tx, conn => sqlx::query("DELETE FROM totp_secrets WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected() > 0))
}

/// Replaces a user's recovery codes (the old ones stop working).
pub async fn replace_recovery_codes(
    tx: &mut Tx,
    user_id: &str,
    hashes: &[String],
    now: i64,
) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => {
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
        for hash in hashes {
            sqlx::query("INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)")
                .bind(user_id)
                .bind(hash)
                .bind(now)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    })
}

pub async fn delete_recovery_codes(tx: &mut Tx, user_id: &str) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await
        .map(|_| ()))
}

/// The stored hashes of a user's unused recovery codes.
pub async fn unused_recovery_codes(db: &Db, user_id: &str) -> Result<Vec<String>, sqlx::Error> {
    on_pool!(db, pool => sqlx::query_scalar(
        "SELECT code_hash FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await)
}

/// Uses a recovery code up, in one statement. Returns whether it was unused.
pub async fn use_recovery_code(db: &Db, user_id: &str, hash: &str, now: i64) -> Result<bool, sqlx::Error> {
    on_pool!(db, pool => sqlx::query(
        "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
    )
    .bind(now)
    .bind(user_id)
    .bind(hash)
    .execute(pool)
    .await
    .map(|r| r.rows_affected() > 0))
}

pub async fn recovery_codes_left(db: &Db, user_id: &str) -> Result<i64, sqlx::Error> {
    on_pool!(db, pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
    )
    .bind(user_id)
    .fetch_one(pool)
    .await)
}

#[derive(sqlx::FromRow, Clone, Debug)]
pub struct PasskeyRow {
    pub id: String,
    pub user_id: String,
    pub credential_id: String,
    pub name: String,
    /// The serialised `webauthn_rs::prelude::Passkey`.
    pub passkey: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

const PASSKEY_COLUMNS: &str = "id, user_id, credential_id, name, passkey, created_at, last_used_at";

pub async fn insert_passkey(tx: &mut Tx, p: &PasskeyRow) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => sqlx::query(
        "INSERT INTO passkeys (id, user_id, credential_id, name, passkey, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&p.id)
    .bind(&p.user_id)
    .bind(&p.credential_id)
    .bind(&p.name)
    .bind(&p.passkey)
    .bind(p.created_at)
    .execute(conn)
    .await
    .map(|_| ()))
}

pub async fn passkeys_of(db: &Db, user_id: &str) -> Result<Vec<PasskeyRow>, sqlx::Error> {
    let sql = format!("SELECT {PASSKEY_COLUMNS} FROM passkeys WHERE user_id = $1 ORDER BY created_at, id");
    on_pool!(db, pool => sqlx::query_as::<_, PasskeyRow>(&sql).bind(user_id).fetch_all(pool).await)
}

pub async fn passkey_by_credential(db: &Db, credential_id: &str) -> Result<Option<PasskeyRow>, sqlx::Error> {
    let sql = format!("SELECT {PASSKEY_COLUMNS} FROM passkeys WHERE credential_id = $1");
    on_pool!(db, pool => sqlx::query_as::<_, PasskeyRow>(&sql).bind(credential_id).fetch_optional(pool).await)
}

/// Records a use (and the credential's new counter and flags, `updated`),
/// only if the stored credential is still `seen`: of two uses checked
/// against one stored counter, one records. Returns whether it did.
pub async fn passkey_used(
    db: &Db,
    id: &str,
    seen: &str,
    updated: Option<&str>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    on_pool!(db, pool => sqlx::query(
        "UPDATE passkeys SET last_used_at = $1, passkey = COALESCE($2, passkey) WHERE id = $3 AND passkey = $4",
    )
    .bind(now)
    .bind(updated)
    .bind(id)
    .bind(seen)
    .execute(pool)
    .await
    .map(|r| r.rows_affected() > 0))
}

pub async fn rename_passkey(db: &Db, user_id: &str, id: &str, name: &str) -> Result<bool, sqlx::Error> {
    on_pool!(db, pool => sqlx::query("UPDATE passkeys SET name = $1 WHERE id = $2 AND user_id = $3")
        .bind(name)
        .bind(id)
        .bind(user_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() > 0))
}

pub async fn delete_passkey(tx: &mut Tx, user_id: &str, id: &str) -> Result<bool, sqlx::Error> {
    on_tx!(tx, conn => sqlx::query("DELETE FROM passkeys WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected() > 0))
}

pub async fn delete_passkeys(tx: &mut Tx, user_id: &str) -> Result<u64, sqlx::Error> {
    on_tx!(tx, conn => sqlx::query("DELETE FROM passkeys WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))
}

/// Accounts whose only second factor is a passkey (no app, no unused
/// recovery code).
pub async fn passkey_only_accounts(db: &Db) -> Result<i64, sqlx::Error> {
    on_pool!(db, pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM users u WHERE u.mfa_enabled \
           AND NOT EXISTS (SELECT 1 FROM totp_secrets t WHERE t.user_id = u.id AND t.confirmed_at IS NOT NULL) \
           AND NOT EXISTS (SELECT 1 FROM recovery_codes r WHERE r.user_id = u.id AND r.used_at IS NULL)",
    )
    .fetch_one(pool)
    .await)
}

/// Whether the owner is asked to check their factors (after a reset).
pub async fn factors_review(db: &Db, user_id: &str) -> Result<bool, sqlx::Error> {
    let found: Option<bool> = on_pool!(db, pool => sqlx::query_scalar(
        "SELECT factors_review FROM users WHERE id = $1",
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await)?;
    Ok(found.unwrap_or(false))
}

pub async fn set_factors_review(tx: &mut Tx, user_id: &str, review: bool) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => sqlx::query("UPDATE users SET factors_review = $1 WHERE id = $2")
        .bind(review)
        .bind(user_id)
        .execute(conn)
        .await
        .map(|_| ()))
}

/// Sets `users.mfa_enabled` from the factors the user has now.
/// Takes the user's row for the rest of the transaction, so two changes of
/// one account's factors run one after the other: each then sees what the
/// other left (on PostgreSQL, two removals that each counted the other's
/// factor as still there would otherwise both go through). SQLite's
/// transactions already run one at a time (`BEGIN IMMEDIATE`).
pub async fn lock_user(tx: &mut Tx, user_id: &str) -> Result<(), sqlx::Error> {
    match tx {
        Tx::Sqlite(_) => Ok(()),
        Tx::Postgres(t) => sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
            .bind(user_id)
            .execute(&mut **t)
            .await
            .map(|_| ()),
    }
}

pub async fn refresh_mfa_flag(tx: &mut Tx, user_id: &str) -> Result<bool, sqlx::Error> {
    on_tx!(tx, conn => sqlx::query_scalar::<_, bool>(
        "UPDATE users SET mfa_enabled = (\
           EXISTS (SELECT 1 FROM totp_secrets t WHERE t.user_id = $1 AND t.confirmed_at IS NOT NULL) \
           OR EXISTS (SELECT 1 FROM passkeys p WHERE p.user_id = $1)) \
         WHERE id = $1 RETURNING mfa_enabled",
    )
    .bind(user_id)
    .fetch_one(conn)
    .await)
}

/// A challenge: a ceremony's state or a pending sign-in.
#[derive(sqlx::FromRow, Clone, Debug)]
pub struct ChallengeRow {
    pub user_id: Option<String>,
    pub state: String,
    pub expires_at: i64,
}

pub struct NewChallenge<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub user_id: Option<&'a str>,
    pub state: &'a str,
    pub now: i64,
    pub expires_at: i64,
}

pub async fn insert_challenge(db: &Db, c: &NewChallenge<'_>) -> Result<(), sqlx::Error> {
    on_pool!(db, pool => sqlx::query(
        "INSERT INTO auth_challenges (id, kind, user_id, state, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(c.id)
    .bind(c.kind)
    .bind(c.user_id)
    .bind(c.state)
    .bind(c.now)
    .bind(c.expires_at)
    .execute(pool)
    .await
    .map(|_| ()))
}

/// Takes a live challenge: it is gone afterwards, whatever the caller does
/// with it (single use).
pub async fn take_challenge(
    db: &Db,
    id: &str,
    kind: &str,
    now: i64,
) -> Result<Option<ChallengeRow>, sqlx::Error> {
    let row = on_pool!(db, pool => sqlx::query_as::<_, ChallengeRow>(
        "DELETE FROM auth_challenges WHERE id = $1 AND kind = $2 RETURNING user_id, state, expires_at",
    )
    .bind(id)
    .bind(kind)
    .fetch_optional(pool)
    .await)?;
    Ok(row.filter(|r| r.expires_at > now))
}

/// Reads a live challenge without using it up.
pub async fn peek_challenge(
    db: &Db,
    id: &str,
    kind: &str,
    now: i64,
) -> Result<Option<ChallengeRow>, sqlx::Error> {
    on_pool!(db, pool => sqlx::query_as::<_, ChallengeRow>(
        "SELECT user_id, state, expires_at FROM auth_challenges WHERE id = $1 AND kind = $2 AND expires_at > $3",
    )
    .bind(id)
    .bind(kind)
    .bind(now)
    .fetch_optional(pool)
    .await)
}

pub async fn purge_challenges(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    on_pool!(db, pool => sqlx::query("DELETE FROM auth_challenges WHERE expires_at <= $1")
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
}
