//! Operations and faults: metrics, backups, the healthcheck, slow clients,
//! and a database that goes away under a running server (503, never "signed
//! out" or "invalid credentials", never a cleared cookie).

use crate::common::*;
use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// The value of one series in Prometheus text, 0 if absent.
fn series(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter(|l| {
            let rest = &l[name.len()..];
            (rest.starts_with('{') || rest.starts_with(' '))
                && labels.iter().all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn scrape(app: &TestApp) -> String {
    let addr = app.metrics_addr.expect("metrics are on");
    reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_logins_limits_and_the_hash_queue() {
    let app = TestApp::spawn_with(&[
        ("GATEHOUSE_METRICS_ADDR", "127.0.0.1:0"),
        ("GATEHOUSE_LOGIN_ATTEMPTS", "1"),
    ])
    .await;
    app.setup_admin().await;
    let before = scrape(&app).await;
    app.login(ADMIN, ADMIN_PASSWORD).await;
    let wrong = json!({ "username": ADMIN, "password": "not the password" });
    let res = app
        .post_json(&app.bare_client(), "/api/v1/auth/login", &wrong)
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .post_json(&app.bare_client(), "/api/v1/auth/login", &wrong)
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let after = scrape(&app).await;
    let moved =
        |name: &str, labels: &[(&str, &str)]| series(&after, name, labels) - series(&before, name, labels);
    assert!(
        moved("gatehouse_logins_total", &[("outcome", "success")]) >= 1.0,
        "{after}"
    );
    assert!(moved("gatehouse_logins_total", &[("outcome", "failure")]) >= 1.0);
    assert!(moved("gatehouse_limit_hits_total", &[("limit", "client")]) >= 1.0);
    assert!(
        moved(
            "gatehouse_http_requests_total",
            &[
                ("method", "POST"),
                ("route", "/api/v1/auth/login"),
                ("status", "200")
            ]
        ) >= 1.0
    );
    assert!(
        moved(
            "gatehouse_http_request_duration_seconds_count",
            &[("route", "/api/v1/auth/login")]
        ) >= 3.0
    );
    assert!(
        after.contains("gatehouse_http_request_duration_seconds_bucket"),
        "a histogram"
    );
    assert!(moved("gatehouse_password_hash_wait_seconds_count", &[]) >= 2.0);
    assert!(after.contains("gatehouse_password_hash_queue_depth"));
    assert!(series(&after, "gatehouse_password_hash_workers", &[]) >= 1.0);
    // Not on the public listener.
    assert_eq!(
        app.get(&app.client(), "/metrics").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_is_counted_too() {
    let sink = crate::common::smtp::SmtpSink::start().await;
    let app = TestApp::spawn_with_mail(&sink, &[("GATEHOUSE_METRICS_ADDR", "127.0.0.1:0")]).await;
    let before = scrape(&app).await;
    app.setup_admin().await;
    sink.wait_for("admin@example.com", 1, Duration::from_secs(10))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = scrape(&app).await;
    let moved =
        |name: &str, labels: &[(&str, &str)]| series(&after, name, labels) - series(&before, name, labels);
    assert!(
        moved("gatehouse_mail_queued_total", &[("kind", "verify_email")]) >= 1.0,
        "{after}"
    );
    assert!(moved("gatehouse_mail_sent_total", &[]) >= 1.0);
}

fn gatehouse(vars: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().expect("the gatehouse binary")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_healthcheck_command_asks_the_running_server() {
    let app = TestApp::spawn().await;
    let addr = app.addr.to_string();
    let out = gatehouse(&[("LEPTOS_SITE_ADDR", addr.as_str())], &["healthcheck"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Listening on every address: it asks loopback.
    let any = format!("0.0.0.0:{}", app.addr.port());
    assert!(gatehouse(&[("LEPTOS_SITE_ADDR", any.as_str())], &["healthcheck"])
        .status
        .success());
    drop(app);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let out = gatehouse(&[("LEPTOS_SITE_ADDR", closed.as_str())], &["healthcheck"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/health"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_only_the_backup_command_points_to_pg_dump() {
    require_engine(Engine::Postgres);
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("copy.db");
    let out = gatehouse(
        &[("DATABASE_URL", app.database_url.as_str())],
        &["backup", target.to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_only_a_backup_taken_under_load_opens_and_is_whole() {
    require_engine(Engine::Sqlite);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    let app = TestApp::spawn_on(&db, &[("GATEHOUSE_SIGNUP_LIMIT", "100000")]).await;
    app.setup_admin().await;
    for i in 0..20 {
        app.signup(&format!("before{i}@example.com"), None).await;
    }
    // Writers keep going while the copy is taken.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (stop, url, client) = (stop.clone(), app.url("/api/v1/auth/signup"), app.bare_client());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let res = client
                    .post(&url)
                    .json(&json!({ "email": format!("during{n}@example.com"), "password": PASSWORD }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), StatusCode::CREATED);
                n += 1;
            }
            n
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let target = dir.path().join("copy.db");
    let url = format!("sqlite://{}?mode=rwc", db.display());
    let out = tokio::task::spawn_blocking({
        let target = target.clone();
        move || {
            gatehouse(
                &[("DATABASE_URL", url.as_str())],
                &["backup", target.to_str().unwrap()],
            )
        }
    })
    .await
    .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(written > 0, "writes went on during the backup");

    // The copy opens, is consistent, and is a working Gatehouse database.
    use sqlx::Connection;
    let mut copy = sqlx::SqliteConnection::connect(&format!("sqlite://{}", target.display()))
        .await
        .unwrap();
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut copy)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&mut copy)
        .await
        .unwrap();
    let identifiers: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM user_identifiers WHERE kind = 'username'")
            .fetch_one(&mut copy)
            .await
            .unwrap();
    assert!(users >= 21, "{users}");
    assert_eq!(users, identifiers, "no half-made account");
    copy.close().await.unwrap();
    let restored = TestApp::spawn_on(&target, &[]).await;
    restored.login(ADMIN, ADMIN_PASSWORD).await;
    // A second backup to the same path is refused.
    let url = format!("sqlite://{}?mode=rwc", db.display());
    let out = gatehouse(
        &[("DATABASE_URL", url.as_str())],
        &["backup", target.to_str().unwrap()],
    );
    assert!(!out.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_stops_sending_its_request_is_closed() {
    let app = TestApp::spawn_with(&[("GATEHOUSE_HEADER_TIMEOUT_SECONDS", "1")]).await;
    let mut slow = TcpStream::connect(app.addr).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .unwrap();
    let started = Instant::now();
    // Meanwhile others are served.
    for _ in 0..3 {
        assert_eq!(app.get(&app.client(), "/health").await.status(), StatusCode::OK);
    }
    let mut buf = [0u8; 256];
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read(&mut buf)).await;
    let n = read
        .expect("the server closed the connection within the timeout")
        .unwrap_or(0);
    assert_eq!(
        n,
        0,
        "closed without an answer: {:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(800) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
    // A connection that sends nothing at all is closed too.
    let mut idle = TcpStream::connect(app.addr).await.unwrap();
    let read = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut buf)).await;
    assert_eq!(read.expect("closed").unwrap_or(0), 0);
}

/// What a request answered while the database was away: never a sign-out,
/// never a cleared cookie, never "invalid credentials".
fn assert_unavailable(res: &reqwest::Response, what: &str) {
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "{what}");
    assert!(
        res.headers().contains_key(header::RETRY_AFTER),
        "{what}: Retry-After"
    );
    for cookie in res.headers().get_all(header::SET_COOKIE) {
        let cookie = cookie.to_str().unwrap_or("");
        assert!(
            !cookie.starts_with("gatehouse_session=") && !cookie.starts_with("gatehouse_refresh="),
            "{what} touched a cookie: {cookie}"
        );
    }
}

/// Runs the same checks against an app whose database just went away.
async fn while_the_database_is_away(app: &TestApp, signed_in: &reqwest::Client, bearer: &str) {
    let session = app.get(signed_in, "/api/v1/auth/session").await;
    assert_unavailable(&session, "the session check");
    assert_eq!(
        json_of(session).await["error"],
        json!("the service is unavailable for a moment; try again shortly")
    );
    assert_unavailable(
        &app.get(signed_in, "/api/v1/users/me").await,
        "/users/me (cookie)",
    );
    let res = app
        .bare_client()
        .get(app.url("/api/v1/users/me"))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap();
    assert_unavailable(&res, "/users/me (bearer)");
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/login",
            &json!({ "username": ADMIN, "password": ADMIN_PASSWORD }),
        )
        .await;
    assert_unavailable(&res, "login");
    let page = app.get_page(signed_in, "/dashboard").await;
    assert_unavailable(&page, "a page");
    assert!(page.text().await.unwrap().contains("Try again in a moment"));
    assert_eq!(app.get(&app.client(), "/health").await.status(), StatusCode::OK);
    assert_eq!(
        app.get(&app.client(), "/ready").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
}

async fn signed_in_both_ways(app: &TestApp) -> (reqwest::Client, String) {
    app.setup_admin().await;
    let browser = app.login(ADMIN, ADMIN_PASSWORD).await;
    let pair = json_of(
        app.post_json(
            &app.bare_client(),
            "/api/v1/auth/token",
            &json!({ "username": ADMIN, "password": ADMIN_PASSWORD }),
        )
        .await,
    )
    .await;
    (browser, pair["access_token"].as_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_only_while_postgresql_is_away_answers_are_503_and_nobody_is_signed_out() {
    require_engine(Engine::Postgres);
    let admin_url = postgres_server();
    // The app reaches PostgreSQL through a proxy the test can cut: the
    // database "restarts" for everyone on the other side.
    let mut proxy = crate::common::proxy::TcpProxy::to_postgres(&admin_url).await;
    let app = TestApp::spawn_through(&proxy, &admin_url, &[]).await;
    let (browser, bearer) = signed_in_both_ways(&app).await;
    assert_eq!(app.whoami(&browser).await["authenticated"], json!(true));
    proxy.stop();
    while_the_database_is_away(&app, &browser, &bearer).await;
    proxy.start().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let res = app.get(&browser, "/api/v1/auth/session").await;
        if res.status() == StatusCode::OK {
            assert_eq!(
                json_of(res).await["authenticated"],
                json!(true),
                "still signed in"
            );
            break;
        }
        assert!(Instant::now() < deadline, "the app did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_only_while_sqlite_cannot_be_written_logins_answer_503() {
    require_engine(Engine::Sqlite);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("busy.db");
    let app = TestApp::spawn_on(&db, &[]).await;
    let (browser, _bearer) = signed_in_both_ways(&app).await;
    // Another process holds the write lock (a backup tool, a stuck writer):
    // nothing can be written until it lets go.
    use sqlx::Connection;
    let mut holder = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query("BEGIN EXCLUSIVE").execute(&mut holder).await.unwrap();
    let started = Instant::now();
    let (c1, c2) = (app.bare_client(), app.bare_client());
    let (right, wrong) = (
        json!({ "username": ADMIN, "password": ADMIN_PASSWORD }),
        json!({ "username": ADMIN, "password": "a wrong one!" }),
    );
    let (login, failed) = tokio::join!(
        app.post_json(&c1, "/api/v1/auth/login", &right),
        app.post_json(&c2, "/api/v1/auth/login", &wrong),
    );
    assert_unavailable(&login, "login with the right password");
    assert_unavailable(&failed, "login with a wrong password (not 401)");
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "{:?}",
        started.elapsed()
    );
    // Reading still works: the signed-in user is still signed in.
    assert_eq!(app.whoami(&browser).await["authenticated"], json!(true));
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    let res = app
        .post_json(
            &app.bare_client(),
            "/api/v1/auth/login",
            &json!({ "username": ADMIN, "password": ADMIN_PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let _: Value = json_of(res).await;
}

/// Building a router runs the app once to list its routes, and Leptos kept
/// every resource in the process from loading while it did (a process-wide
/// flag): a page that first polled its data in that window never finished
/// (408 after 30 s). Another server being built in the same process (an
/// embedder, or this test suite) must not stall pages being rendered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_render_while_another_router_is_built_in_the_process() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let building = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let builder = {
        let (state, building) = (app.state.clone(), building.clone());
        let runtime = tokio::runtime::Handle::current();
        std::thread::spawn(move || {
            let _runtime = runtime.enter();
            while building.load(std::sync::atomic::Ordering::Relaxed) {
                drop(gatehouse::server::router::build(state.clone()));
            }
        })
    };
    let pages: Vec<_> = (0..4)
        .map(|_| {
            let admin = admin.clone();
            let url = app.url("/account");
            tokio::spawn(async move {
                for _ in 0..25 {
                    let res = tokio::time::timeout(
                        Duration::from_secs(10),
                        admin.get(url.clone()).header(header::ACCEPT, "text/html").send(),
                    )
                    .await;
                    let Ok(res) = res else {
                        return Err("/account did not answer in 10 s");
                    };
                    assert_eq!(res.expect("request").status(), StatusCode::OK);
                }
                Ok(())
            })
        })
        .collect();
    let mut outcome = Ok(());
    for page in pages {
        outcome = outcome.and(page.await.expect("task"));
    }
    building.store(false, std::sync::atomic::Ordering::Relaxed);
    builder.join().expect("the builder thread");
    outcome.expect("every page answers");
}

/// The release-like binary serving on a free port of 127.0.0.1 with a fresh
/// SQLite database; stopped with SIGTERM by the tests below.
struct Served {
    child: std::process::Child,
    addr: std::net::SocketAddr,
    _dir: tempfile::TempDir,
}

impl Served {
    async fn start(vars: &[(&str, &str)]) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            .env("LEPTOS_SITE_ADDR", addr.to_string())
            .env("LEPTOS_SITE_ROOT", "target/site")
            .env("LEPTOS_OUTPUT_NAME", "gatehouse")
            .env(
                "DATABASE_URL",
                format!("sqlite://{}?mode=rwc", dir.path().join("g.db").display()),
            )
            .stdin(Stdio::null());
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("the gatehouse binary");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(addr).await.is_err() {
            assert!(Instant::now() < deadline, "the server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Served {
            child,
            addr,
            _dir: dir,
        }
    }

    fn terminate(&self) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid");
        // SAFETY: kill(2) with our own child's pid and a valid signal.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    }

    /// Waits for the process to exit (at most `within`); its status and how long it took.
    async fn exit(mut self, within: Duration) -> (std::process::ExitStatus, Duration) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, started.elapsed());
            }
            if started.elapsed() > within {
                let _ = self.child.kill();
                panic!("the server was still running {within:?} after SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Everything an HTTP/1.1 answer on `stream` says, until the server closes
/// it or a whole answer with its body arrived.
async fn read_answer(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("an answer within 10 s")
            .unwrap_or(0);
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_string())
                })
                .and_then(|v| v.parse::<usize>().ok());
            if length.is_some_and(|len| body.len() >= len) {
                break;
            }
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// A deploy stops the server while someone's signup is still uploading: the
/// request whose headers arrived is read to its end and answered, new
/// connections are refused meanwhile, and the process then exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_finishes_an_upload_that_began_before_it() {
    let served = Served::start(&[("GATEHOUSE_SHUTDOWN_SECONDS", "20")]).await;
    let body = json!({ "username": ADMIN, "password": ADMIN_PASSWORD }).to_string();
    let mut stream = TcpStream::connect(served.addr).await.unwrap();
    let head = format!(
        "POST /api/v1/auth/setup HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        served.addr,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body.as_bytes()[..8]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    served.terminate();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Stopping: nobody new gets in.
    assert!(
        TcpStream::connect(served.addr).await.is_err(),
        "the listener is closed once the stop began"
    );
    // The rest of the body, slowly, well after the signal.
    for chunk in body.as_bytes()[8..].chunks(8) {
        stream.write_all(chunk).await.unwrap();
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let answer = read_answer(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert!(answer.contains("\"ok\":true"), "{answer}");
    let (status, _) = served.exit(Duration::from_secs(15)).await;
    assert!(status.success(), "{status}");
}

/// Idle connections, kept alive after a request or never used, do not hold
/// the stop: they are closed at once, long before the grace period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_does_not_hold_the_stop() {
    let served = Served::start(&[("GATEHOUSE_SHUTDOWN_SECONDS", "30")]).await;
    let mut kept = TcpStream::connect(served.addr).await.unwrap();
    let get = format!("GET /health HTTP/1.1\r\nHost: {}\r\n\r\n", served.addr);
    kept.write_all(get.as_bytes()).await.unwrap();
    assert!(read_answer(&mut kept).await.starts_with("HTTP/1.1 200"));
    let _silent = TcpStream::connect(served.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    served.terminate();
    let (status, took) = served.exit(Duration::from_secs(10)).await;
    assert!(status.success(), "{status}");
    assert!(
        took < Duration::from_secs(3),
        "the stop waited {took:?} for idle connections"
    );
    // The kept-alive connection was closed by the server.
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(2), kept.read(&mut buf))
        .await
        .expect("closed, not left hanging")
        .unwrap_or(0);
    assert_eq!(n, 0);
}

/// The grace period bounds the stop: a request that is still arriving when
/// it ends is cut, and the process exits 0 then, not later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grace_period_bounds_the_stop() {
    let served = Served::start(&[("GATEHOUSE_SHUTDOWN_SECONDS", "1")]).await;
    let mut stream = TcpStream::connect(served.addr).await.unwrap();
    let head = format!(
        "POST /api/v1/auth/setup HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{",
        served.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    served.terminate();
    let (status, took) = served.exit(Duration::from_secs(10)).await;
    assert!(status.success(), "{status}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "stopped after {took:?}, with a grace period of 1 s"
    );
}
