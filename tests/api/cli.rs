//! The operator CLI, run as a process against a temporary database.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::json;
use std::{
    io::Write,
    path::Path,
    process::{Command, Output, Stdio},
};

fn gatehouse(db: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", format!("sqlite://{}?mode=rwc", db.display()))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the gatehouse binary");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn help_documents_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let out = gatehouse(&dir.path().join("x.db"), &["--help"], None);
    assert!(out.status.success());
    let help = text(&out);
    for sub in [
        "serve",
        "migrate",
        "create-admin",
        "reset-password",
        "rotate-signing-key",
    ] {
        assert!(help.contains(sub), "{sub} in {help}");
    }
    let out = gatehouse(&dir.path().join("x.db"), &["create-admin", "--help"], None);
    assert!(text(&out).contains("--username") && text(&out).contains("--email"));
    assert!(
        !text(&out).contains("--password"),
        "passwords never come from argv"
    );
}

/// The database the process under test used, opened from outside.
async fn open(db: &Path) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap()
}

/// The first column of `sql`'s rows, as strings.
async fn strings(db: &Path, sql: &str) -> Vec<String> {
    let pool = open(db).await;
    let rows = sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap();
    pool.close().await;
    rows
}

async fn tables(db: &Path) -> Vec<String> {
    strings(
        db,
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_creates_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let out = gatehouse(&db, &["migrate"], None);
    assert!(out.status.success(), "{}", text(&out));
    let created = tables(&db).await;
    for table in [
        "_sqlx_migrations",
        "users",
        "audit_log",
        "signing_keys",
        "tower_sessions",
    ] {
        assert!(created.iter().any(|t| t == table), "{table} in {created:?}");
    }
    // Twice is fine, and changes nothing.
    assert!(gatehouse(&db, &["migrate"], None).status.success());
    assert_eq!(tables(&db).await, created);
}

/// The configuration is read from a `.env` file in the working directory
/// when present (here: a bad value in it stops start-up, naming it).
#[test]
fn a_dot_env_file_is_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "GATEHOUSE_LOCKOUT_SECONDS=forever\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("migrate")
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", dir.path().join("e.db").display()),
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("GATEHOUSE_LOCKOUT_SECONDS"), "{}", text(&out));
}

async fn audit_rows(db: &Path) -> Vec<String> {
    strings(db, "SELECT event FROM audit_log ORDER BY id").await
}

/// With no subcommand the binary serves, and its housekeeping runs: audit
/// rows older than the retention (90 days by default) are deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_subcommand_serves_and_purges_old_audit_rows() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    assert!(gatehouse(&db, &["migrate"], None).status.success());
    {
        let pool = open(&db).await;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        for (event, age_days) in [("ancient", 91), ("recent", 89)] {
            sqlx::query("INSERT INTO audit_log (at, event) VALUES ($1, $2)")
                .bind(now - age_days * 86_400)
                .bind(event)
                .execute(&pool)
                .await
                .unwrap();
        }
        pool.close().await;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", format!("sqlite://{}?mode=rwc", db.display()))
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
        .env("LEPTOS_SITE_ROOT", dir.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/api/v1/auth/setup-required");
    let mut answer = None;
    for _ in 0..300 {
        if let Ok(res) = client.get(&url).send().await {
            answer = Some((res.status(), res.json::<serde_json::Value>().await.ok()));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let mut rows = audit_rows(&db).await;
    for _ in 0..100 {
        if !rows.iter().any(|e| e == "ancient") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        rows = audit_rows(&db).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let (status, body) = answer.expect("the server answered within 30 s");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, Some(json!({ "setup_required": true })));
    assert_eq!(
        rows,
        ["recent"],
        "the 91-day-old row is purged, the 89-day-old kept"
    );
}

#[test]
fn a_bad_configuration_value_stops_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("migrate")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", dir.path().join("c.db").display()),
        )
        .env("GATEHOUSE_LOGIN_ATTEMPTS", "lots")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("GATEHOUSE_LOGIN_ATTEMPTS"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_admin_reads_the_password_from_stdin_and_completes_setup() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let out = gatehouse(
        &db,
        &["create-admin", "--username", "root", "--email", "op@example.com"],
        Some("a sturdy admin passphrase\n"),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("root"));
    assert!(!text(&out).contains("a sturdy admin passphrase"));

    let app = TestApp::spawn_on(&db, &[]).await;
    let res = app.get(&app.client(), "/api/v1/auth/setup-required").await;
    assert_eq!(json_of(res).await, json!({ "setup_required": false }));
    let c = app.login("root", "a sturdy admin passphrase").await;
    assert_eq!(
        json_of(app.get(&c, "/api/v1/users/me").await).await["role"],
        "admin"
    );
    drop(app);

    // A weak password is refused with the reason; a taken name too.
    let out = gatehouse(&db, &["create-admin", "--username", "second"], Some("short\n"));
    assert!(!out.status.success());
    assert!(text(&out).contains("at least 10 characters"), "{}", text(&out));
    let out = gatehouse(
        &db,
        &["create-admin", "--username", "ROOT"],
        Some("another sturdy passphrase\n"),
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("taken"), "{}", text(&out));
    let out = gatehouse(&db, &["create-admin", "--username", "third"], Some(""));
    assert!(!out.status.success());
    assert!(text(&out).contains("no password"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_password_sets_a_new_one_and_ends_every_session() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let app = TestApp::spawn_on(&db, &[]).await;
    app.setup_admin().await;
    app.signup("kim@example.com", Some("kim")).await;
    let kim = app.login("kim", PASSWORD).await;

    let out = gatehouse(
        &db,
        &["reset-password", "--username", "kim"],
        Some("qwertyuiop\n"),
    );
    assert!(!out.status.success(), "a common password is refused");
    assert!(text(&out).contains("too common"), "{}", text(&out));
    assert_eq!(
        app.whoami(&kim).await["authenticated"],
        json!(true),
        "and nothing changed"
    );
    let out = gatehouse(
        &db,
        &["reset-password", "--username", "kim@example.com"],
        Some("a fresh passphrase\n"),
    );
    assert!(out.status.success(), "{}", text(&out));

    assert_eq!(app.whoami(&kim).await["authenticated"], json!(false));
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/login",
            &json!({ "username": "kim", "password": PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    app.login("kim", "a fresh passphrase").await;
    let events: Vec<String> = with_pool!(app, pool => {
        sqlx::query_scalar("SELECT event FROM audit_log")
            .fetch_all(pool)
            .await
            .unwrap()
    });
    assert!(events.contains(&"password_reset".to_string()));

    let out = gatehouse(
        &db,
        &["reset-password", "--username", "nobody"],
        Some("a fresh passphrase\n"),
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("no account"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_signing_key_adds_a_key_and_can_retire_the_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.db");
    let keys = |db: std::path::PathBuf| async move {
        let pool = open(&db).await;
        let rows: Vec<(String, Option<i64>)> =
            sqlx::query_as("SELECT kid, retired_at FROM signing_keys ORDER BY created_at")
                .fetch_all(&pool)
                .await
                .unwrap();
        pool.close().await;
        rows
    };
    let out = gatehouse(&db, &["rotate-signing-key"], None);
    assert!(out.status.success(), "{}", text(&out));
    let out = gatehouse(&db, &["rotate-signing-key"], None);
    assert!(out.status.success(), "{}", text(&out));
    let rows = keys(db.clone()).await;
    assert_eq!(rows.len(), 2);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // The older key stays published until the tokens it signed have run
    // out (one access-token lifetime and more), then retires by itself.
    assert!(
        rows[0].1.is_some_and(|at| at > now + 60),
        "the older key retires later, not at once: {rows:?}"
    );
    assert!(rows[1].1.is_none(), "the newest signs");
    assert!(
        text(&out).contains(&rows[1].0),
        "names the new key: {}",
        text(&out)
    );

    let out = gatehouse(&db, &["rotate-signing-key", "--retire-previous"], None);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("2 older keys retired"), "{}", text(&out));
    let rows = keys(db.clone()).await;
    assert_eq!(rows.len(), 3);
    assert_eq!(rows.iter().filter(|(_, retired)| retired.is_none()).count(), 1);
    assert!(rows[2].1.is_none(), "the newest signs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_create_prints_the_client_and_a_running_server_takes_it_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let app = TestApp::spawn_on(&db, &[]).await;
    // Registered while the server runs, as an operator would.
    let out = gatehouse(
        &db,
        &[
            "client",
            "create",
            "--name",
            "Reports",
            "--redirect-uri",
            "https://reports.example.com/callback",
            "--grant",
            "client_credentials",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out));
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let id = created["client_id"].as_str().unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    assert!(secret.len() >= 43, "256 bits");
    let res = app
        .bare_client()
        .post(app.url("/oauth2/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "usable at once");
    // A public client has no secret; a bad address is refused with the reason.
    let out = gatehouse(
        &db,
        &[
            "client",
            "create",
            "--name",
            "SPA",
            "--public",
            "--redirect-uri",
            "http://127.0.0.1:8080/cb",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out));
    let public: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(public["client_id"].is_string() && public.get("client_secret").is_none());
    let out = gatehouse(
        &db,
        &[
            "client",
            "create",
            "--name",
            "Bad",
            "--redirect-uri",
            "http://reports.example.com/cb",
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("https://"), "{}", text(&out));
}
