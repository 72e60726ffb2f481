//! Queries on `users`, `user_identifiers` and `instance`.

use super::{is_unique_violation, on_pool, on_tx, Batch, Db, Tx};

#[derive(sqlx::FromRow, Clone, Debug)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    pub password_hash: String,
    pub role: String,
    pub disabled: bool,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
    pub password_changed_at: i64,
    pub email_verified: bool,
    pub mfa_enabled: bool,
}

/// The columns of a [`UserRow`], from `users u`. Queries that join another
/// table alias that table's columns, so these keep their names.
pub const USER_COLUMNS: &str = "u.id, u.username, u.email, u.password_hash, u.role, u.disabled, \
                                u.created_at, u.last_login_at, u.password_changed_at, u.email_verified, \
                                u.mfa_enabled";

/// A user to insert, with the lookup keys of its username and email.
#[derive(Clone, Debug)]
pub struct NewUser {
    pub id: String,
    pub username: String,
    pub username_key: String,
    pub email: Option<String>,
    pub email_key: Option<String>,
    pub password_hash: String,
    pub role: &'static str,
    pub email_verified: bool,
    /// The UTS #39 skeleton of the username (see `core::validate::skeleton`).
    pub username_skeleton: String,
    pub now: i64,
}

#[derive(Debug)]
pub enum InsertError {
    /// Setup was already done (the `instance` row exists).
    SetupDone,
    /// The username's key belongs to another account.
    UsernameTaken,
    /// The email's key belongs to another account.
    EmailTaken,
    Db(sqlx::Error),
}

impl From<sqlx::Error> for InsertError {
    fn from(e: sqlx::Error) -> Self {
        InsertError::Db(e)
    }
}

/// Whether the first admin has been created.
pub async fn setup_done(db: &Db) -> Result<bool, sqlx::Error> {
    let n: i64 =
        on_pool!(db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM instance").fetch_one(pool).await)?;
    Ok(n > 0)
}

/// Inserts `user` in `tx`. With `SetupClaim::Claim`, also claims the one
/// `instance` row, so two racing setups cannot both succeed; with
/// `ClaimIfFree`, claims it only if still free (the CLI's create-admin).
pub async fn insert(tx: &mut Tx, user: &NewUser, setup: SetupClaim) -> Result<(), InsertError> {
    on_tx!(tx, conn => {
        match setup {
            SetupClaim::Claim => {
                let claimed = sqlx::query(
                    "INSERT INTO instance (id, setup_at, setup_user_id) VALUES (1, $1, $2)",
                )
                .bind(user.now)
                .bind(&user.id)
                .execute(&mut *conn)
                .await;
                match claimed {
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => return Err(InsertError::SetupDone),
                    Err(e) => return Err(e.into()),
                }
            }
            SetupClaim::ClaimIfFree => {
                sqlx::query(
                    "INSERT INTO instance (id, setup_at, setup_user_id) VALUES (1, $1, $2) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(user.now)
                .bind(&user.id)
                .execute(&mut *conn)
                .await?;
            }
            SetupClaim::No => {}
        }
        let inserted = sqlx::query(
            "INSERT INTO users (id, username, email, password_hash, role, disabled, created_at, \
             password_changed_at, email_verified, username_skeleton) VALUES ($1, $2, $3, $4, $5, FALSE, $6, $6, $7, $8)",
        )
        .bind(&user.id)
        .bind(&user.username)
        .bind(&user.email)
        .bind(&user.password_hash)
        .bind(user.role)
        .bind(user.now)
        .bind(user.email_verified)
        .bind(&user.username_skeleton)
        .execute(&mut *conn)
        .await;
        match inserted {
            Ok(_) => {}
            // The one unique column of `users` a new row can clash on: a
            // look-alike of an existing username.
            Err(e) if is_unique_violation(&e) => return Err(InsertError::UsernameTaken),
            Err(e) => return Err(e.into()),
        }
        let username_key = sqlx::query("INSERT INTO user_identifiers (key, user_id, kind) VALUES ($1, $2, 'username')")
            .bind(&user.username_key)
            .bind(&user.id)
            .execute(&mut *conn)
            .await;
        match username_key {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Err(InsertError::UsernameTaken),
            Err(e) => return Err(e.into()),
        }
        if let Some(email_key) = user.email_key.as_ref().filter(|k| **k != user.username_key) {
            let inserted = sqlx::query("INSERT INTO user_identifiers (key, user_id, kind) VALUES ($1, $2, 'email')")
                .bind(email_key)
                .bind(&user.id)
                .execute(&mut *conn)
                .await;
            match inserted {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Err(InsertError::EmailTaken),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetupClaim {
    /// This insert is the setup: fail with `SetupDone` if it already happened.
    Claim,
    /// Mark setup done if it was not (an operator creating an admin).
    ClaimIfFree,
    No,
}

/// The user a login identifier (username or email key) names.
/// On SQLite, read on the calling thread when it can ([`super::readers`]).
pub async fn find_by_key(db: &Db, key: &str) -> Result<Option<UserRow>, sqlx::Error> {
    static BY_KEY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT {USER_COLUMNS} FROM user_identifiers i JOIN users u ON u.id = i.user_id WHERE i.key = $1"
        )
    });
    super::readers::fetch_optional(db, BY_KEY.as_str(), key, |row| super::readers::user_row(row, 0)).await
}

pub async fn find_by_id(db: &Db, id: &str) -> Result<Option<UserRow>, sqlx::Error> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1");
    on_pool!(db, pool => sqlx::query_as::<_, UserRow>(&sql).bind(id).fetch_optional(pool).await)
}

const RECORD_LOGIN: &str = "UPDATE users SET last_login_at = $1 WHERE id = $2";

/// [`record_login`], in `batch`.
pub fn record_login_in(batch: &mut Batch, id: &str, now: i64) {
    batch.push(RECORD_LOGIN, vec![now.into(), id.into()]);
}

pub async fn record_login(db: &Db, id: &str, now: i64) -> Result<(), sqlx::Error> {
    on_pool!(db, pool => sqlx::query(RECORD_LOGIN)
        .bind(now)
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Sets a new password hash. `password_changed_at` moves to `now`, and always
/// forward (by a second, when two changes share one), since sessions and
/// token families made with an older password are told apart by it. Returns
/// the new `password_changed_at`.
pub async fn set_password_hash(tx: &mut Tx, id: &str, hash: &str, now: i64) -> Result<i64, sqlx::Error> {
    on_tx!(tx, conn => sqlx::query_scalar::<_, i64>(
        "UPDATE users SET password_hash = $1, \
         password_changed_at = CASE WHEN $2 > password_changed_at THEN $2 ELSE password_changed_at + 1 END \
         WHERE id = $3 RETURNING password_changed_at",
    )
    .bind(hash)
    .bind(now)
    .bind(id)
    .fetch_one(conn)
    .await)
}

/// Marks `id`'s email verified, if it is still `email`. Returns whether it was.
pub async fn set_email_verified(tx: &mut Tx, id: &str, email: &str) -> Result<bool, sqlx::Error> {
    on_tx!(tx, conn => sqlx::query("UPDATE users SET email_verified = TRUE WHERE id = $1 AND email = $2")
        .bind(id)
        .bind(email)
        .execute(conn)
        .await
        .map(|r| r.rows_affected() > 0))
}

/// Why an email change could not be made.
#[derive(Debug)]
pub enum EmailChangeError {
    /// Another account has the address (as its email or username).
    Taken,
    Db(sqlx::Error),
}

impl From<sqlx::Error> for EmailChangeError {
    fn from(e: sqlx::Error) -> Self {
        EmailChangeError::Db(e)
    }
}

/// Makes `email` (lookup key `email_key`) the verified address of user `id`,
/// in place of its old one.
pub async fn change_email(
    tx: &mut Tx,
    id: &str,
    email: &str,
    email_key: &str,
) -> Result<(), EmailChangeError> {
    on_tx!(tx, conn => {
        let owner: Option<String> = sqlx::query_scalar("SELECT user_id FROM user_identifiers WHERE key = $1")
            .bind(email_key)
            .fetch_optional(&mut *conn)
            .await?;
        if owner.as_deref().is_some_and(|owner| owner != id) {
            return Err(EmailChangeError::Taken);
        }
        sqlx::query("DELETE FROM user_identifiers WHERE user_id = $1 AND kind = 'email'")
            .bind(id)
            .execute(&mut *conn)
            .await?;
        if owner.is_none() {
            let inserted = sqlx::query("INSERT INTO user_identifiers (key, user_id, kind) VALUES ($1, $2, 'email')")
                .bind(email_key)
                .bind(id)
                .execute(&mut *conn)
                .await;
            match inserted {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Err(EmailChangeError::Taken),
                Err(e) => return Err(e.into()),
            }
        }
        sqlx::query("UPDATE users SET email = $1, email_verified = TRUE WHERE id = $2")
            .bind(email)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        Ok(())
    })
}

/// Users whose username skeleton is not filled yet (made before it existed).
pub async fn without_skeleton(db: &Db) -> Result<Vec<(String, String)>, sqlx::Error> {
    on_pool!(db, pool => sqlx::query_as::<_, (String, String)>(
        "SELECT id, username FROM users WHERE username_skeleton IS NULL",
    )
    .fetch_all(pool)
    .await)
}

/// Fills a user's username skeleton; `false` when another user has it.
pub async fn set_skeleton(db: &Db, id: &str, skeleton: &str) -> Result<bool, sqlx::Error> {
    let done = on_pool!(db, pool => sqlx::query("UPDATE users SET username_skeleton = $1 WHERE id = $2")
        .bind(skeleton)
        .bind(id)
        .execute(pool)
        .await
        .map(|_| ()));
    match done {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether the lookup key names an account other than `except`.
pub async fn key_taken(db: &Db, key: &str, except: &str) -> Result<bool, sqlx::Error> {
    let owner: Option<String> = on_pool!(db, pool => sqlx::query_scalar("SELECT user_id FROM user_identifiers WHERE key = $1")
        .bind(key)
        .fetch_optional(pool)
        .await)?;
    Ok(owner.is_some_and(|o| o != except))
}

pub async fn count(db: &Db) -> Result<i64, sqlx::Error> {
    on_pool!(db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(pool).await)
}

/// A user with what an admin sees besides: until when it is locked.
#[derive(sqlx::FromRow, Clone, Debug)]
pub struct AdminUserRow {
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    pub role: String,
    pub disabled: bool,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
    pub email_verified: bool,
    pub password_changed_at: i64,
    pub mfa_enabled: bool,
    pub has_password: bool,
    pub locked_until: Option<i64>,
}

/// The account's locks: its password's (`l`) and its second factors' (`m`),
/// whose keys `core::limits` makes.
const LOCK_JOIN: &str = "LEFT JOIN lockouts l ON l.key = 'user:' || u.id \
                         LEFT JOIN lockouts m ON m.key = 'mfa:user:' || u.id";
/// The later of the two locks.
const LOCKED_UNTIL: &str = "CASE WHEN COALESCE(m.locked_until, 0) > COALESCE(l.locked_until, 0) \
                            THEN m.locked_until ELSE l.locked_until END";

static ADMIN_COLUMNS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "u.id, u.username, u.email, u.role, u.disabled, u.created_at, u.last_login_at, \
         u.email_verified, u.password_changed_at, u.mfa_enabled, \
         (u.password_hash <> '') AS has_password, {LOCKED_UNTIL} AS locked_until"
    )
});

/// Which users a page of the admin list holds. `None` filters nothing.
#[derive(Clone, Debug, Default)]
pub struct UserFilter {
    /// Users whose username or email lookup key starts with this.
    pub prefix: Option<String>,
    pub role: Option<&'static str>,
    pub disabled: Option<bool>,
    /// Locked at `now`, or not.
    pub locked: Option<bool>,
    /// With an email that is (true) or is not (false) verified.
    pub email_verified: Option<bool>,
    /// Only users whose username key sorts after this (the cursor).
    pub after: Option<String>,
    pub limit: i64,
    pub now: i64,
}

/// A page of users in the order of their username's lookup key, with their
/// lock. Its cost does not grow with the number of users: the page walks
/// `user_identifiers`' primary key from the cursor; a prefix search first
/// takes the keys in the prefix's range of that index (usernames and
/// emails), so it costs what it finds.
pub async fn page_for_admin(db: &Db, f: &UserFilter) -> Result<Vec<AdminUserRow>, sqlx::Error> {
    let conditions = format!(
        "n.kind = 'username' AND n.key > $1 \
         AND ($2 IS NULL OR u.role = $2) \
         AND ($3 IS NULL OR u.disabled = $3) \
         AND ($4 IS NULL OR (COALESCE({LOCKED_UNTIL}, 0) > $5) = $4) \
         AND ($6 IS NULL OR (u.email IS NOT NULL AND u.email_verified = $6))"
    );
    let columns = &*ADMIN_COLUMNS;
    let sql = if f.prefix.is_some() {
        format!(
            "SELECT {columns} FROM \
             (SELECT DISTINCT user_id FROM user_identifiers WHERE key >= $8 AND key < $9) p \
             JOIN user_identifiers n ON n.user_id = p.user_id \
             JOIN users u ON u.id = n.user_id \
             {LOCK_JOIN} \
             WHERE {conditions} ORDER BY n.key LIMIT $7"
        )
    } else {
        format!(
            "SELECT {columns} FROM user_identifiers n \
             JOIN users u ON u.id = n.user_id \
             {LOCK_JOIN} \
             WHERE {conditions} ORDER BY n.key LIMIT $7"
        )
    };
    let prefix = f.prefix.clone().unwrap_or_default();
    // Every key with the prefix sorts below the prefix followed by the
    // highest code point (which no key holds: it is not a character).
    let prefix_end = format!("{prefix}\u{10FFFF}");
    on_pool!(db, pool => {
        let mut q = sqlx::query_as::<_, AdminUserRow>(&sql)
            .bind(f.after.as_deref().unwrap_or(""))
            .bind(f.role)
            .bind(f.disabled)
            .bind(f.locked)
            .bind(f.now)
            .bind(f.email_verified)
            .bind(f.limit);
        if f.prefix.is_some() {
            q = q.bind(&prefix).bind(&prefix_end);
        }
        q.fetch_all(pool).await
    })
}

/// The usernames of the users `ids` names (those that exist).
pub async fn usernames(db: &Db, ids: &[String]) -> Result<Vec<(String, String)>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT id, username FROM users WHERE id IN ({})",
        placeholders.join(", ")
    );
    on_pool!(db, pool => {
        let mut q = sqlx::query_as::<_, (String, String)>(&sql);
        for id in ids {
            q = q.bind(id);
        }
        q.fetch_all(pool).await
    })
}

pub async fn find_for_admin(db: &Db, id: &str) -> Result<Option<AdminUserRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {} FROM users u {LOCK_JOIN} WHERE u.id = $1",
        &*ADMIN_COLUMNS
    );
    on_pool!(db, pool => sqlx::query_as::<_, AdminUserRow>(&sql).bind(id).fetch_optional(pool).await)
}

#[derive(Debug)]
pub enum UpdateError {
    NotFound,
    /// The change would leave no active admin.
    LastAdmin,
    Db(sqlx::Error),
}

impl From<sqlx::Error> for UpdateError {
    fn from(e: sqlx::Error) -> Self {
        UpdateError::Db(e)
    }
}

/// Sets a user's role and/or disabled flag, refusing (and changing nothing)
/// when no active admin would be left. Changes are serialised on the
/// `instance` row, so two admins demoting each other at once cannot both win.
pub async fn update_role_and_status(
    db: &Db,
    id: &str,
    role: Option<&str>,
    disabled: Option<bool>,
) -> Result<(), UpdateError> {
    on_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        // A write first: the lock that serialises admin changes (a row lock on
        // PostgreSQL, the database write lock on SQLite).
        sqlx::query("UPDATE instance SET setup_at = setup_at WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        let updated = sqlx::query(
            "UPDATE users SET role = COALESCE($1, role), disabled = COALESCE($2, disabled) WHERE id = $3",
        )
        .bind(role)
        .bind(disabled)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            return Err(UpdateError::NotFound);
        }
        let admins: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin' AND NOT disabled")
            .fetch_one(&mut *tx)
            .await?;
        if admins == 0 {
            tx.rollback().await?;
            return Err(UpdateError::LastAdmin);
        }
        tx.commit().await?;
        Ok(())
    })
}
