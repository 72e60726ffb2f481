//! `TestApp`: the real router on a free port with a fresh database.
//!
//! The engine is chosen by `GATEHOUSE_TEST_ENGINE` alone: `sqlite` (the
//! default) gives each app a temporary SQLite file; `postgres` a fresh
//! database on the server `GATEHOUSE_TEST_POSTGRES` names
//! (`postgres://user@host:port/postgres`), which it then must name. So the
//! same tests prove both engines, and a server named in the environment
//! never turns the SQLite pass into a second PostgreSQL one.
//!
//! A test that needs one engine says so in its name (`sqlite_only_...`,
//! `postgres_only_...`, which each pass of the test command skips for the
//! other) and calls [`require_engine`], which fails it elsewhere: it never
//! passes having checked nothing.
#![allow(dead_code)]

pub mod factors;
pub mod idp;
pub mod passkeys;
pub mod proxy;
pub mod smtp;

use gatehouse::server::{config::Config, db::Db, router, AppState};
use leptos::config::LeptosOptions;
use reqwest::{header, redirect::Policy, Client, Response, StatusCode};
use serde_json::{json, Value};
use std::{collections::HashMap, net::SocketAddr};

pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
pub const PASSWORD: &str = "a long enough passphrase";

/// Runs `$body` with `$pool` bound to the app's pool, SQLite or PostgreSQL, for
/// looking at (or ageing) rows directly. The SQL must suit both engines.
#[macro_export]
macro_rules! with_pool {
    ($app:expr, $pool:ident => $body:expr) => {{
        let db = $app.db().clone();
        gatehouse::on_pool!(&db, $pool => $body)
    }};
}

/// A database engine the tests run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// The engine of this run (`GATEHOUSE_TEST_ENGINE`, default `sqlite`).
pub fn engine() -> Engine {
    match std::env::var("GATEHOUSE_TEST_ENGINE").as_deref() {
        Err(_) | Ok("") | Ok("sqlite") => Engine::Sqlite,
        Ok("postgres") => Engine::Postgres,
        Ok(other) => panic!("GATEHOUSE_TEST_ENGINE={other:?}: use sqlite or postgres"),
    }
}

/// The PostgreSQL server the `postgres` pass creates its databases on.
pub fn postgres_server() -> String {
    std::env::var("GATEHOUSE_TEST_POSTGRES").expect(
        "GATEHOUSE_TEST_ENGINE=postgres needs GATEHOUSE_TEST_POSTGRES (a server to create databases on)",
    )
}

/// Fails the test unless this run is on `needed`: a test of one engine
/// never passes having checked nothing on the other.
pub fn require_engine(needed: Engine) {
    assert_eq!(
        engine(),
        needed,
        "this test needs {needed:?} (GATEHOUSE_TEST_ENGINE); the other pass skips it by its name"
    );
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub state: AppState,
    pub database_url: String,
    pub vars: Vec<(String, String)>,
    /// Where `/metrics` answers, when `GATEHOUSE_METRICS_ADDR` was given.
    pub metrics_addr: Option<SocketAddr>,
    /// The host requests are sent to: `127.0.0.1`, or `localhost` when the
    /// public URL is `{local_origin}` (passkeys need a host name).
    pub host: String,
    /// `GATEHOUSE_PUBLIC_URL`, resolved.
    pub public_url: Option<String>,
    db: Db,
    server: tokio::task::JoinHandle<()>,
    _jobs: gatehouse::server::jobs::Jobs,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub fn leptos_options() -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("gatehouse")
        .site_root("target/site")
        .build()
}

/// A new, empty PostgreSQL database on the server `admin_url` points at.
async fn fresh_postgres_database(admin_url: &str) -> String {
    use sqlx::Connection;
    let name = format!("gatehouse_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .expect("GATEHOUSE_TEST_POSTGRES: connect");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let _ = conn.close().await;
    let mut url = reqwest::Url::parse(admin_url).expect("GATEHOUSE_TEST_POSTGRES: a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(&[]).await
    }

    /// A fresh app whose configuration is the defaults overridden by `vars`.
    pub async fn spawn_with(vars: &[(&str, &str)]) -> TestApp {
        if engine() == Engine::Postgres {
            let url = fresh_postgres_database(&postgres_server()).await;
            return TestApp::start(url, vars).await;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let mut app = TestApp::spawn_on(&dir.path().join("gatehouse-test.db"), vars).await;
        app._dir = Some(dir);
        app
    }

    /// A fresh app on a new PostgreSQL database, reached through `proxy`.
    pub async fn spawn_through(proxy: &proxy::TcpProxy, admin_url: &str, vars: &[(&str, &str)]) -> TestApp {
        let direct = fresh_postgres_database(admin_url).await;
        let direct = reqwest::Url::parse(&direct).expect("a URL");
        let mut url = reqwest::Url::parse("postgres://127.0.0.1/").expect("a URL");
        let _ = url.set_username(direct.username());
        let _ = url.set_password(direct.password());
        let _ = url.set_port(Some(proxy.port));
        url.set_path(direct.path());
        url.set_query(Some("sslmode=disable"));
        TestApp::start(url.to_string(), vars).await
    }

    /// A second server on the same database (a restart, or another instance).
    pub async fn restart(&self) -> TestApp {
        let vars: Vec<(&str, &str)> = self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        TestApp::start(self.database_url.clone(), &vars).await
    }

    /// Another server on the same database with `vars` added to (or
    /// overriding) this one's configuration.
    pub async fn restart_with(&self, vars: &[(&str, &str)]) -> TestApp {
        let mut all: Vec<(&str, &str)> = self
            .vars
            .iter()
            .filter(|(k, _)| !vars.iter().any(|(name, _)| name == k))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        all.extend_from_slice(vars);
        TestApp::start(self.database_url.clone(), &all).await
    }

    /// A fresh, empty database of this run's engine: its URL, and the
    /// temporary folder that holds it (SQLite) for the caller to keep.
    pub async fn fresh_database() -> (String, Option<tempfile::TempDir>) {
        if engine() == Engine::Postgres {
            return (fresh_postgres_database(&postgres_server()).await, None);
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("gatehouse-test.db").display()
        );
        (url, Some(dir))
    }

    /// An app on the database at `database_url`.
    pub async fn spawn_at(database_url: &str, vars: &[(&str, &str)]) -> TestApp {
        TestApp::start(database_url.to_string(), vars).await
    }

    /// An app on the SQLite database at `db_path` (which the caller owns).
    pub async fn spawn_on(db_path: &std::path::Path, vars: &[(&str, &str)]) -> TestApp {
        TestApp::start(format!("sqlite://{}?mode=rwc", db_path.display()), vars).await
    }

    /// Starts the app. In `vars`, `{origin}` stands for the app's own
    /// `http://127.0.0.1:PORT` (known once its port is bound), and
    /// `{local_origin}` for `http://localhost:PORT` (a host name, for
    /// passkeys; the test clients then send every request to `localhost`).
    async fn start(database_url: String, vars: &[(&str, &str)]) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let origin = format!("http://{addr}");
        let local_origin = format!("http://localhost:{}", addr.port());
        let host = if vars.iter().any(|(_, v)| v.contains("{local_origin}")) {
            "localhost".to_string()
        } else {
            "127.0.0.1".to_string()
        };
        let resolved: Vec<(&str, String)> = vars
            .iter()
            .map(|(k, v)| {
                (
                    *k,
                    v.replace("{origin}", &origin)
                        .replace("{local_origin}", &local_origin),
                )
            })
            .collect();
        let public_url = resolved
            .iter()
            .find(|(k, _)| *k == "GATEHOUSE_PUBLIC_URL")
            .map(|(_, v)| v.clone());
        let mut map: HashMap<&str, &str> = resolved.iter().map(|(k, v)| (*k, v.as_str())).collect();
        map.insert("DATABASE_URL", &database_url);
        let config = Config::from_map(&map).expect("valid test configuration");
        let state = AppState::open(config, leptos_options()).await.expect("app state");
        let db = Db::connect(&database_url)
            .await
            .expect("the test's own database handle");
        let jobs = state.start_jobs().expect("background jobs");
        let metrics_addr = match state.config.metrics_addr {
            Some(addr) => Some(
                gatehouse::server::metrics::start(addr, state.hasher.clone())
                    .await
                    .expect("metrics listener"),
            ),
            None => None,
        };
        let app = router::build(state.clone());
        let (header_timeout, grace) = (state.config.header_timeout, state.config.shutdown_grace);
        let server = tokio::spawn(async move {
            gatehouse::server::serve::serve(listener, app, header_timeout, grace, std::future::pending())
                .await;
        });
        TestApp {
            addr,
            state,
            database_url,
            vars: vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            metrics_addr,
            host,
            public_url,
            db,
            server,
            _jobs: jobs,
            _dir: None,
        }
    }

    /// A fresh app that mails through `sink`, with its own address as
    /// `GATEHOUSE_PUBLIC_URL`, plus `vars`.
    pub async fn spawn_with_mail(sink: &smtp::SmtpSink, vars: &[(&str, &str)]) -> TestApp {
        let url = sink.url();
        let mut all: Vec<(&str, &str)> = [
            ("GATEHOUSE_SMTP_URL", url.as_str()),
            ("GATEHOUSE_PUBLIC_URL", "{origin}"),
            ("GATEHOUSE_MAIL_FROM", "Gatehouse Test <no-reply@gatehouse.test>"),
        ]
        .into_iter()
        .filter(|(k, _)| !vars.iter().any(|(name, _)| name == k))
        .collect();
        all.extend_from_slice(vars);
        TestApp::spawn_with(&all).await
    }

    /// This app's origin, `http://127.0.0.1:PORT` (or `http://localhost:PORT`).
    pub fn origin(&self) -> String {
        format!("http://{}:{}", self.host, self.addr.port())
    }

    /// The test's own handle on the app's database, for looking at (or
    /// ageing) rows directly: the core keeps its handle to itself.
    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.origin(), path)
    }

    /// A browser-like client with its own cookie jar that does not follow redirects.
    pub fn client(&self) -> Client {
        Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .resolve("localhost", self.addr)
            .build()
            .expect("client")
    }

    /// A client without a cookie jar: cookies are passed by hand.
    pub fn bare_client(&self) -> Client {
        Client::builder()
            .redirect(Policy::none())
            .resolve("localhost", self.addr)
            .build()
            .expect("client")
    }

    pub async fn get(&self, client: &Client, path: &str) -> Response {
        client.get(self.url(path)).send().await.expect("request")
    }

    /// A page request, as a browser sends it.
    pub async fn get_page(&self, client: &Client, path: &str) -> Response {
        client
            .get(self.url(path))
            .header(header::ACCEPT, "text/html,application/xhtml+xml")
            .send()
            .await
            .expect("request")
    }

    pub async fn post_json(&self, client: &Client, path: &str, body: &Value) -> Response {
        client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// Runs setup; returns the signed-in client.
    pub async fn setup_admin(&self) -> Client {
        let client = self.client();
        let res = self
            .post_json(
                &client,
                "/api/v1/auth/setup",
                &json!({ "username": ADMIN, "password": ADMIN_PASSWORD, "email": "admin@example.com" }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "setup");
        client
    }

    pub async fn signup(&self, email: &str, username: Option<&str>) -> Value {
        let mut body = json!({ "email": email, "password": PASSWORD });
        if let Some(u) = username {
            body["username"] = json!(u);
        }
        let res = self.post_json(&self.client(), "/api/v1/auth/signup", &body).await;
        assert_eq!(res.status(), StatusCode::CREATED, "signup {email}");
        res.json::<Value>().await.expect("json")["user"].clone()
    }

    /// Logs in; returns the signed-in client.
    pub async fn login(&self, identifier: &str, password: &str) -> Client {
        let client = self.client();
        let res = self
            .post_json(
                &client,
                "/api/v1/auth/login",
                &json!({ "username": identifier, "password": password }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK, "login {identifier}");
        client
    }

    /// Logs in with a client that keeps no cookies; returns the session
    /// cookie's value, to send by hand.
    pub async fn login_cookie(&self, identifier: &str, password: &str) -> String {
        let res = self
            .post_json(
                &self.bare_client(),
                "/api/v1/auth/login",
                &json!({ "username": identifier, "password": password }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK, "login {identifier}");
        cookie_value(&set_cookie(&res, "gatehouse_session").expect("a session cookie"))
    }

    pub async fn whoami(&self, client: &Client) -> Value {
        self.get(client, "/api/v1/auth/session")
            .await
            .json()
            .await
            .expect("json")
    }
}

/// The `Set-Cookie` header for cookie `name`, if the response sets it.
pub fn set_cookie(res: &Response, name: &str) -> Option<String> {
    res.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

/// The value part of a `Set-Cookie` header.
pub fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_string())
        .unwrap_or_default()
}

pub async fn json_of(res: Response) -> Value {
    res.json().await.expect("a JSON body")
}

pub fn location(res: &Response) -> String {
    res.headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// Makes every `operation` (`INSERT`, `UPDATE`, `DELETE`) on `table` fail, a
/// trigger raising an error, or with `refuse` false takes the trigger away:
/// for what a change does when one of its writes fails.
pub async fn refuse(app: &TestApp, operation: &str, table: &str, refuse: bool) {
    let name = format!("refuse_{}_{table}", operation.to_lowercase());
    let statements = match (app.db(), refuse) {
        (Db::Sqlite(..), true) => vec![format!(
            "CREATE TRIGGER {name} BEFORE {operation} ON {table} BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )],
        (Db::Sqlite(..), false) => vec![format!("DROP TRIGGER {name}")],
        (Db::Postgres(..), true) => vec![
            format!(
                "CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$"
            ),
            format!("CREATE TRIGGER {name} BEFORE {operation} ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()"),
        ],
        (Db::Postgres(..), false) => vec![format!("DROP TRIGGER {name} ON {table}")],
    };
    for sql in &statements {
        gatehouse::on_pool!(app.db(), pool => sqlx::query(sql).execute(pool).await.map(|_| ())).unwrap();
    }
}
