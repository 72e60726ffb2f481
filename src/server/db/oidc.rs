//! Queries of the OpenID Connect provider: `oauth_clients`, `oauth_consents`,
//! `oauth_codes`, `revoked_access_tokens`, and the grants it keeps as
//! `refresh_families` rows with a `client_id`.

use super::{on_pool, Db};

#[derive(sqlx::FromRow, Clone, Debug)]
pub struct ClientRow {
    pub id: String,
    pub name: String,
    /// `public` or `confidential`.
    pub kind: String,
    /// SHA-256 (hex) of a confidential client's secret.
    pub secret_hash: Option<String>,
    /// JSON arrays.
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    /// Space-separated.
    pub scopes: String,
    pub grant_types: String,
    pub first_party: bool,
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

const CLIENT_COLUMNS: &str =
    "id, name, kind, secret_hash, redirect_uris, post_logout_redirect_uris, scopes, \
                              grant_types, first_party, enabled, created_at, updated_at";

pub async fn insert_client(db: &Db, c: &ClientRow) -> Result<(), sqlx::Error> {
    on_pool!(db, pool => sqlx::query(
        "INSERT INTO oauth_clients (id, name, kind, secret_hash, redirect_uris, post_logout_redirect_uris, \
         scopes, grant_types, first_party, enabled, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&c.id)
    .bind(&c.name)
    .bind(&c.kind)
    .bind(&c.secret_hash)
    .bind(&c.redirect_uris)
    .bind(&c.post_logout_redirect_uris)
    .bind(&c.scopes)
    .bind(&c.grant_types)
    .bind(c.first_party)
    .bind(c.enabled)
    .bind(c.created_at)
    .bind(c.updated_at)
    .execute(pool)
    .await
    .map(|_| ()))
}

pub async fn client(db: &Db, id: &str) -> Result<Option<ClientRow>, sqlx::Error> {
    let sql = format!("SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE id = $1");
    on_pool!(db, pool => sqlx::query_as::<_, ClientRow>(&sql)
        .bind(id)
        .fetch_optional(pool)
        .await)
}

/// Every client, by name.
pub async fn clients(db: &Db) -> Result<Vec<ClientRow>, sqlx::Error> {
    let sql = format!("SELECT {CLIENT_COLUMNS} FROM oauth_clients ORDER BY name, id");
    on_pool!(db, pool => sqlx::query_as::<_, ClientRow>(&sql)
        .fetch_all(pool)
        .await)
}

/// Writes a client's settings (not its secret or kind). Returns whether it exists.
pub async fn update_client(db: &Db, c: &ClientRow) -> Result<bool, sqlx::Error> {
    on_pool!(db, pool => sqlx::query(
        "UPDATE oauth_clients SET name = $1, redirect_uris = $2, post_logout_redirect_uris = $3, scopes = $4, \
         grant_types = $5, first_party = $6, enabled = $7, updated_at = $8 WHERE id = $9",
    )
    .bind(&c.name)
    .bind(&c.redirect_uris)
    .bind(&c.post_logout_redirect_uris)
    .bind(&c.scopes)
    .bind(&c.grant_types)
    .bind(c.first_party)
    .bind(c.enabled)
    .bind(c.updated_at)
    .bind(&c.id)
    .execute(pool)
    .await
    .map(|r| r.rows_affected() > 0))
}

/// Replaces a confidential client's secret. Returns whether it exists.
pub async fn set_client_secret(db: &Db, id: &str, secret_hash: &str, now: i64) -> Result<bool, sqlx::Error> {
    on_pool!(db, pool => sqlx::query(
        "UPDATE oauth_clients SET secret_hash = $1, updated_at = $2 WHERE id = $3 AND kind = 'confidential'",
    )
    .bind(secret_hash)
    .bind(now)
    .bind(id)
    .execute(pool)
    .await
    .map(|r| r.rows_affected() > 0))
}

/// Deletes a client with its consents, codes and grants. Returns whether it existed.
pub async fn delete_client(db: &Db, id: &str) -> Result<bool, sqlx::Error> {
    on_pool!(db, pool => sqlx::query("DELETE FROM oauth_clients WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() > 0))
}

/// Records (or widens) what `user_id` allowed `client_id`.
pub async fn save_consent(
    db: &Db,
    user_id: &str,
    client_id: &str,
    scopes: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    on_pool!(db, pool => sqlx::query(
        "INSERT INTO oauth_consents (user_id, client_id, scopes, granted_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at",
    )
    .bind(user_id)
    .bind(client_id)
    .bind(scopes)
    .bind(now)
    .execute(pool)
    .await
    .map(|_| ()))
}

/// The scopes `user_id` allowed `client_id`, if any.
pub async fn consent(db: &Db, user_id: &str, client_id: &str) -> Result<Option<String>, sqlx::Error> {
    on_pool!(db, pool => sqlx::query_scalar::<_, String>(
        "SELECT scopes FROM oauth_consents WHERE user_id = $1 AND client_id = $2",
    )
    .bind(user_id)
    .bind(client_id)
    .fetch_optional(pool)
    .await)
}

/// Withdraws a consent and ends the grants it allowed, in one transaction.
/// Returns whether there was a consent or a live grant.
pub async fn revoke_consent(db: &Db, user_id: &str, client_id: &str, now: i64) -> Result<bool, sqlx::Error> {
    on_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        let consents = sqlx::query("DELETE FROM oauth_consents WHERE user_id = $1 AND client_id = $2")
            .bind(user_id)
            .bind(client_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let grants = sqlx::query(
            "UPDATE refresh_families SET revoked_at = $1, revoked_reason = 'consent revoked' \
             WHERE user_id = $2 AND client_id = $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(user_id)
        .bind(client_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(consents + grants > 0)
    })
}

#[derive(sqlx::FromRow, Clone, Debug)]
pub struct ConnectedRow {
    pub client_id: String,
    pub name: String,
    pub scopes: String,
    pub granted_at: i64,
}

/// The clients `user_id` allowed: by consent, or by a live grant to a
/// first-party client (which asks no consent).
pub async fn connected_apps(db: &Db, user_id: &str, now: i64) -> Result<Vec<ConnectedRow>, sqlx::Error> {
    on_pool!(db, pool => sqlx::query_as::<_, ConnectedRow>(
        "SELECT c.id AS client_id, c.name, s.scopes, s.granted_at FROM oauth_consents s \
         JOIN oauth_clients c ON c.id = s.client_id WHERE s.user_id = $1 \
         UNION ALL \
         SELECT c.id AS client_id, c.name, MAX(f.scope) AS scopes, MAX(f.created_at) AS granted_at \
         FROM refresh_families f JOIN oauth_clients c ON c.id = f.client_id \
         WHERE f.user_id = $1 AND f.revoked_at IS NULL AND f.expires_at > $2 \
         AND NOT EXISTS (SELECT 1 FROM oauth_consents s2 WHERE s2.user_id = $1 AND s2.client_id = c.id) \
         GROUP BY c.id, c.name \
         ORDER BY 2, 1",
    )
    .bind(user_id)
    .bind(now)
    .fetch_all(pool)
    .await)
}

#[derive(sqlx::FromRow, Clone, Debug)]
pub struct CodeRow {
    pub code_hash: String,
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub auth_time: i64,
    pub amr: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub family_id: Option<String>,
}

pub async fn insert_code(db: &Db, c: &CodeRow) -> Result<(), sqlx::Error> {
    on_pool!(db, pool => sqlx::query(
        "INSERT INTO oauth_codes (code_hash, client_id, user_id, redirect_uri, scope, nonce, code_challenge, \
         auth_time, amr, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&c.code_hash)
    .bind(&c.client_id)
    .bind(&c.user_id)
    .bind(&c.redirect_uri)
    .bind(&c.scope)
    .bind(&c.nonce)
    .bind(&c.code_challenge)
    .bind(c.auth_time)
    .bind(&c.amr)
    .bind(c.created_at)
    .bind(c.expires_at)
    .execute(pool)
    .await
    .map(|_| ()))
}

pub async fn code(db: &Db, code_hash: &str) -> Result<Option<CodeRow>, sqlx::Error> {
    on_pool!(db, pool => sqlx::query_as::<_, CodeRow>(
        "SELECT code_hash, client_id, user_id, redirect_uri, scope, nonce, code_challenge, auth_time, amr, \
         created_at, expires_at, used_at, family_id FROM oauth_codes WHERE code_hash = $1",
    )
    .bind(code_hash)
    .fetch_optional(pool)
    .await)
}

/// Spends the code `code_hash` and makes grant `g` from it, in one
/// transaction: both happen or neither. `false` (nothing written) when the
/// code was already spent (another exchange of it won). On SQLite the whole
/// transaction is one script for the connection's worker thread (one
/// hand-off instead of one per statement).
pub async fn grant_for_code(db: &Db, g: &NewGrant<'_>, code_hash: &str) -> Result<bool, sqlx::Error> {
    match db {
        Db::Sqlite(pool, _) => {
            const SCRIPT: &str = "BEGIN IMMEDIATE;\n\
                UPDATE oauth_codes SET used_at = $1, family_id = $2 WHERE code_hash = $3 AND used_at IS NULL;\n\
                INSERT INTO refresh_families (id, user_id, created_at, expires_at, password_at, auth_at, client_id, scope, amr) \
                SELECT $2, $4, $1, $5, $6, $7, $8, $9, $10 WHERE changes() = 1;\n\
                INSERT INTO refresh_tokens (token_hash, family_id, created_at) \
                SELECT $11, $2, $1 WHERE $11 IS NOT NULL AND changes() = 1;\n\
                COMMIT;\n\
                SELECT COUNT(*) FROM refresh_families WHERE id = $2;";
            let mut held = super::Held::acquire(pool).await?;
            let made = sqlx::query_scalar::<_, i64>(SCRIPT)
                .bind(g.created_at)
                .bind(g.id)
                .bind(code_hash)
                .bind(g.user_id)
                .bind(g.expires_at)
                .bind(g.password_at)
                .bind(g.auth_at)
                .bind(g.client_id)
                .bind(g.scope)
                .bind(g.amr)
                .bind(g.refresh_hash)
                .fetch_one(held.conn()?)
                .await;
            held.release(made.is_ok()).await;
            Ok(made? == 1)
        }
        Db::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            let taken = sqlx::query(
                "UPDATE oauth_codes SET used_at = $1, family_id = $2 WHERE code_hash = $3 AND used_at IS NULL",
            )
            .bind(g.created_at)
            .bind(g.id)
            .bind(code_hash)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if taken == 0 {
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO refresh_families (id, user_id, created_at, expires_at, password_at, auth_at, client_id, scope, amr) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(g.id)
            .bind(g.user_id)
            .bind(g.created_at)
            .bind(g.expires_at)
            .bind(g.password_at)
            .bind(g.auth_at)
            .bind(g.client_id)
            .bind(g.scope)
            .bind(g.amr)
            .execute(&mut *tx)
            .await?;
            if let Some(hash) = g.refresh_hash {
                sqlx::query(
                    "INSERT INTO refresh_tokens (token_hash, family_id, created_at) VALUES ($1, $2, $3)",
                )
                .bind(hash)
                .bind(g.id)
                .bind(g.created_at)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(true)
        }
    }
}

/// A grant to a client: a token family with its client, scope and sign-in.
#[derive(Clone, Debug)]
pub struct NewGrant<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub client_id: &'a str,
    pub scope: &'a str,
    pub amr: &'a str,
    pub auth_at: i64,
    pub password_at: i64,
    pub created_at: i64,
    pub expires_at: i64,
    /// The first refresh token's hash, when the grant has refresh tokens.
    pub refresh_hash: Option<&'a str>,
}

/// What a grant was for: its scope and the sign-in's `amr`.
#[derive(sqlx::FromRow, Clone, Debug)]
pub struct GrantDetail {
    pub scope: String,
    pub amr: String,
}

pub async fn grant_detail(db: &Db, family_id: &str) -> Result<Option<GrantDetail>, sqlx::Error> {
    on_pool!(db, pool => sqlx::query_as::<_, GrantDetail>(
        "SELECT COALESCE(scope, '') AS scope, COALESCE(amr, 'pwd') AS amr FROM refresh_families WHERE id = $1",
    )
    .bind(family_id)
    .fetch_optional(pool)
    .await)
}

/// A refresh token's family and client, and whether it was spent (without
/// spending it).
#[derive(sqlx::FromRow, Clone, Debug)]
pub struct TokenOwner {
    pub family_id: String,
    pub client_id: Option<String>,
    pub spent_at: Option<i64>,
}

pub async fn token_owner(db: &Db, token_hash: &str) -> Result<Option<TokenOwner>, sqlx::Error> {
    on_pool!(db, pool => sqlx::query_as::<_, TokenOwner>(
        "SELECT t.family_id, f.client_id, t.spent_at FROM refresh_tokens t \
         JOIN refresh_families f ON f.id = t.family_id WHERE t.token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(pool)
    .await)
}

/// Records a revoked access token until it would have expired.
pub async fn revoke_access_token(db: &Db, jti: &str, expires_at: i64) -> Result<(), sqlx::Error> {
    on_pool!(db, pool => sqlx::query(
        "INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING",
    )
    .bind(jti)
    .bind(expires_at)
    .execute(pool)
    .await
    .map(|_| ()))
}

pub async fn access_token_revoked(db: &Db, jti: &str) -> Result<bool, sqlx::Error> {
    on_pool!(db, pool => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM revoked_access_tokens WHERE jti = $1")
        .bind(jti)
        .fetch_one(pool)
        .await
        .map(|n| n > 0))
}

/// Deletes codes and revocation records nobody needs any more.
pub async fn purge(db: &Db, now: i64, codes_before: i64) -> Result<u64, sqlx::Error> {
    on_pool!(db, pool => {
        let codes = sqlx::query("DELETE FROM oauth_codes WHERE expires_at <= $1")
            .bind(codes_before)
            .execute(pool)
            .await?
            .rows_affected();
        let revoked = sqlx::query("DELETE FROM revoked_access_tokens WHERE expires_at <= $1")
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected();
        Ok(codes + revoked)
    })
}
