//! Queries on `signing_keys`, `refresh_families` and `refresh_tokens`.

use super::{
    on_pool, on_tx, readers,
    users::{UserRow, USER_COLUMNS},
    Db, Tx,
};
use std::sync::LazyLock;

#[derive(sqlx::FromRow, Clone)]
pub struct KeyRow {
    pub kid: String,
    /// `RS256`, or `HS256` for the secrets of earlier versions.
    pub algorithm: String,
    /// The private key (or secret), base64url, sealed when a key encryption
    /// key is set.
    pub secret: String,
    /// The public key as a JWK (key pairs only).
    pub public_jwk: Option<String>,
    pub created_at: i64,
}

impl std::fmt::Debug for KeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRow")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// Keys not retired at `now`, newest first.
pub async fn active_keys(db: &Db, now: i64) -> Result<Vec<KeyRow>, sqlx::Error> {
    on_pool!(db, pool => sqlx::query_as::<_, KeyRow>(
        "SELECT kid, algorithm, secret, public_jwk, created_at FROM signing_keys \
         WHERE retired_at IS NULL OR retired_at > $1 ORDER BY created_at DESC, kid DESC",
    )
    .bind(now)
    .fetch_all(pool)
    .await)
}

const INSERT_KEY: &str =
    "INSERT INTO signing_keys (kid, algorithm, secret, public_jwk, created_at) VALUES ($1, $2, $3, $4, $5)";

pub async fn insert_key(db: &Db, key: &KeyRow) -> Result<(), sqlx::Error> {
    on_pool!(db, pool => sqlx::query(INSERT_KEY)
    .bind(&key.kid)
    .bind(&key.algorithm)
    .bind(&key.secret)
    .bind(&key.public_jwk)
    .bind(key.created_at)
    .execute(pool)
    .await
    .map(|_| ()))
}

/// Stores the first key pair of the database, unless another instance
/// stored one first (a claim in `settings`, in the same transaction, decides:
/// one first pair, however many instances start at once); the HS256 secrets
/// of earlier versions retire at `hs256_until`. Returns whether this one was
/// stored.
pub async fn insert_first_key(db: &Db, key: &KeyRow, hs256_until: i64) -> Result<bool, sqlx::Error> {
    on_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        let claimed = sqlx::query(
            "INSERT INTO settings (name, value) VALUES ('first_key_pair', $1) ON CONFLICT (name) DO NOTHING",
        )
        .bind(&key.kid)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if claimed {
            sqlx::query(INSERT_KEY)
                .bind(&key.kid)
                .bind(&key.algorithm)
                .bind(&key.secret)
                .bind(&key.public_jwk)
                .bind(key.created_at)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE algorithm = 'HS256' AND retired_at IS NULL")
                .bind(hs256_until)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(claimed)
    })
}

/// Key secrets stored in the clear (before a key encryption key was set):
/// `(kid, secret)`.
pub async fn unsealed_keys(db: &Db) -> Result<Vec<(String, String)>, sqlx::Error> {
    on_pool!(db, pool => sqlx::query_as::<_, (String, String)>(
        "SELECT kid, secret FROM signing_keys WHERE secret NOT LIKE 'sealed:%'",
    )
    .fetch_all(pool)
    .await)
}

/// Replaces a key secret stored in the clear with its sealed form.
pub async fn reseal_key(db: &Db, kid: &str, plain: &str, sealed: &str) -> Result<(), sqlx::Error> {
    on_pool!(db, pool => sqlx::query("UPDATE signing_keys SET secret = $1 WHERE kid = $2 AND secret = $3")
        .bind(sealed)
        .bind(kid)
        .bind(plain)
        .execute(pool)
        .await
        .map(|_| ()))
}

/// Retires every key but `keep` at `at` (keys set to retire later than
/// that retire then instead); returns how many were changed.
pub async fn retire_keys_except(db: &Db, keep: &str, at: i64) -> Result<u64, sqlx::Error> {
    on_pool!(db, pool => sqlx::query(
        "UPDATE signing_keys SET retired_at = $1 WHERE (retired_at IS NULL OR retired_at > $1) AND kid <> $2",
    )
    .bind(at)
    .bind(keep)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))
}

/// Starts a family with its first token.
pub async fn insert_family(
    db: &Db,
    family_id: &str,
    user_id: &str,
    token_hash: &str,
    now: i64,
    expires_at: i64,
    password_at: i64,
) -> Result<(), sqlx::Error> {
    on_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query(
            "INSERT INTO refresh_families (id, user_id, created_at, expires_at, password_at, auth_at) \
             VALUES ($1, $2, $3, $4, $5, $3)",
        )
            .bind(family_id)
            .bind(user_id)
            .bind(now)
            .bind(expires_at)
            .bind(password_at)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO refresh_tokens (token_hash, family_id, created_at) VALUES ($1, $2, $3)")
            .bind(token_hash)
            .bind(family_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    })
}

/// The families a token may be spent in: the API's own (`None`) or one
/// client's. A token of another kind is neither spent nor found, so one
/// party's attempt never spends (or revokes) another's tokens. A condition
/// on the family id in `family`, looked up by its key (an `IN (SELECT ...)`
/// list would read every family of the client, or of the API, each time);
/// `param` is the number of the client id's placeholder.
fn owner_filter(family: &str, client_id: Option<&str>, param: u8) -> String {
    let client = match client_id {
        None => "o.client_id IS NULL".to_string(),
        Some(_) => format!("o.client_id = ${param}"),
    };
    format!("EXISTS (SELECT 1 FROM refresh_families o WHERE o.id = {family} AND {client})")
}

/// Spends the token `token_hash` and stores `next_hash` in its family, in one
/// transaction: both happen or neither, so a refresh that fails (or is
/// dropped) before this commits leaves the token as it was, and a retry with
/// it is no replay. One statement spends it, so two concurrent refreshes with
/// the same token cannot both succeed. Returns the family if the token was
/// unspent (among the families of `client_id`, as for [`family_of`]).
pub async fn rotate(
    db: &Db,
    token_hash: &str,
    next_hash: &str,
    now: i64,
    client_id: Option<&str>,
) -> Result<Option<String>, sqlx::Error> {
    match db {
        Db::Sqlite(pool, _) => {
            // One script, one hand-off to the connection's worker thread.
            let script = format!(
                "BEGIN IMMEDIATE;\n\
                 UPDATE refresh_tokens SET spent_at = $1 WHERE token_hash = $2 AND spent_at IS NULL AND {};\n\
                 INSERT INTO refresh_tokens (token_hash, family_id, created_at) \
                 SELECT $3, family_id, $1 FROM refresh_tokens WHERE token_hash = $2 AND changes() = 1;\n\
                 COMMIT;\n\
                 SELECT family_id FROM refresh_tokens WHERE token_hash = $3;",
                owner_filter("refresh_tokens.family_id", client_id, 4)
            );
            let mut held = super::Held::acquire(pool).await?;
            let mut q = sqlx::query_scalar::<_, String>(&script)
                .bind(now)
                .bind(token_hash)
                .bind(next_hash);
            if let Some(id) = client_id {
                q = q.bind(id);
            }
            let family = q.fetch_optional(held.conn()?).await;
            held.release(family.is_ok()).await;
            family
        }
        Db::Postgres(pool) => {
            let sql = format!(
                "UPDATE refresh_tokens SET spent_at = $1 WHERE token_hash = $2 AND spent_at IS NULL \
                 AND {} RETURNING family_id",
                owner_filter("refresh_tokens.family_id", client_id, 3)
            );
            let mut tx = pool.begin().await?;
            let mut q = sqlx::query_scalar::<_, String>(&sql).bind(now).bind(token_hash);
            if let Some(id) = client_id {
                q = q.bind(id);
            }
            let Some(family) = q.fetch_optional(&mut *tx).await? else {
                return Ok(None);
            };
            sqlx::query("INSERT INTO refresh_tokens (token_hash, family_id, created_at) VALUES ($1, $2, $3)")
                .bind(next_hash)
                .bind(&family)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Some(family))
        }
    }
}

/// The family of a token, spent or not, and the family's user (among the
/// families of `client_id`, as for [`spend`]).
pub async fn family_of(
    db: &Db,
    token_hash: &str,
    client_id: Option<&str>,
) -> Result<Option<(String, String)>, sqlx::Error> {
    let sql = format!(
        "SELECT t.family_id, f.user_id FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id \
         WHERE t.token_hash = $1 AND {}",
        owner_filter("t.family_id", client_id, 2)
    );
    on_pool!(db, pool => {
        let mut q = sqlx::query_as::<_, (String, String)>(&sql).bind(token_hash);
        if let Some(id) = client_id {
            q = q.bind(id);
        }
        q.fetch_optional(pool).await
    })
}

#[derive(Clone, Debug)]
pub struct FamilyWithUser {
    pub family_id: String,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// The user's `password_changed_at` the family was started with.
    pub password_at: i64,
    /// When the family's sign-in happened (its tokens' `auth_time`).
    pub auth_at: i64,
    /// The OpenID Connect client it was granted to; `None` for the API's own.
    pub client_id: Option<String>,
    pub user: UserRow,
}

#[derive(sqlx::FromRow, Clone)]
struct FamilyJoin {
    f_id: String,
    f_expires_at: i64,
    revoked_at: Option<i64>,
    f_password_at: i64,
    f_auth_at: i64,
    f_client_id: Option<String>,
    #[sqlx(flatten)]
    user: UserRow,
}

/// The statement of [`family_with_user`], written once per process.
static FAMILY_WITH_USER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT f.id AS f_id, f.expires_at AS f_expires_at, f.revoked_at, f.password_at AS f_password_at, f.auth_at AS f_auth_at, f.client_id AS f_client_id, {USER_COLUMNS} \
         FROM refresh_families f JOIN users u ON u.id = f.user_id WHERE f.id = $1"
    )
});

/// A family and its user, in one query (once per bearer request).
pub async fn family_with_user(db: &Db, family_id: &str) -> Result<Option<FamilyWithUser>, sqlx::Error> {
    let row = readers::fetch_optional(db, FAMILY_WITH_USER.as_str(), family_id, |row| {
        Ok(FamilyJoin {
            f_id: row.get(0)?,
            f_expires_at: row.get(1)?,
            revoked_at: row.get(2)?,
            f_password_at: row.get(3)?,
            f_auth_at: row.get(4)?,
            f_client_id: row.get(5)?,
            user: readers::user_row(row, 6)?,
        })
    })
    .await?;
    Ok(row.map(|r| FamilyWithUser {
        family_id: r.f_id,
        expires_at: r.f_expires_at,
        revoked_at: r.revoked_at,
        password_at: r.f_password_at,
        auth_at: r.f_auth_at,
        client_id: r.f_client_id,
        user: r.user,
    }))
}

/// Binds a family to the user's new password (the client that changed it
/// keeps its family).
pub async fn set_password_at(tx: &mut Tx, family_id: &str, password_at: i64) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => sqlx::query("UPDATE refresh_families SET password_at = $1 WHERE id = $2")
        .bind(password_at)
        .bind(family_id)
        .execute(conn)
        .await
        .map(|_| ()))
}

/// Records that the family's client proved who it is again.
pub async fn set_auth_at(db: &Db, family_id: &str, now: i64) -> Result<(), sqlx::Error> {
    on_pool!(db, pool => sqlx::query("UPDATE refresh_families SET auth_at = $1 WHERE id = $2")
        .bind(now)
        .bind(family_id)
        .execute(pool)
        .await
        .map(|_| ()))
}

/// Revokes one family. Returns whether it was live.
pub async fn revoke_family(db: &Db, family_id: &str, now: i64, reason: &str) -> Result<bool, sqlx::Error> {
    let n = on_pool!(db, pool => sqlx::query(
        "UPDATE refresh_families SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(reason)
    .bind(family_id)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// Revokes every live family of a user but `keep`, in `tx`. Returns how many.
pub async fn revoke_user_families(
    tx: &mut Tx,
    user_id: &str,
    keep: Option<&str>,
    now: i64,
    reason: &str,
) -> Result<u64, sqlx::Error> {
    on_tx!(tx, conn => sqlx::query(
        "UPDATE refresh_families SET revoked_at = $1, revoked_reason = $2 \
         WHERE user_id = $3 AND id <> $4 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(reason)
    .bind(user_id)
    .bind(keep.unwrap_or(""))
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))
}

/// Deletes families that ended (expired, or revoked a while ago).
pub async fn purge(db: &Db, now: i64, revoked_before: i64) -> Result<u64, sqlx::Error> {
    on_pool!(db, pool => sqlx::query(
        "DELETE FROM refresh_families WHERE expires_at <= $1 OR (revoked_at IS NOT NULL AND revoked_at <= $2)",
    )
    .bind(now)
    .bind(revoked_before)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))
}
