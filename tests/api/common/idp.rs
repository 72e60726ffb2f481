//! A real OpenID Connect provider for the tests (`examples/oidc-idp`: panva's
//! oidc-provider with its development login page), one per test process,
//! and a browser-like walk through it.

use reqwest::{header, redirect::Policy, Client, Response, StatusCode};
use serde_json::{json, Value};
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};

pub struct Idp {
    pub issuer: String,
    _child: Mutex<Child>,
}

static IDP: OnceLock<Idp> = OnceLock::new();

/// The provider (started on first use; it stops when this process ends and
/// its standard input closes).
pub fn idp() -> &'static Idp {
    IDP.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/oidc-idp");
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "examples/oidc-idp needs its npm packages: run ./scripts/test.sh (or npm ci in examples/oidc-idp)"
        );
        let mut child = Command::new("node")
            .arg("server.mjs")
            .arg("0")
            .arg("--exit-with-stdin")
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(if std::env::var_os("IDP_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .expect("node runs the test identity provider");
        let stdout = child.stdout.take().expect("its output");
        let mut line = String::new();
        let mut reader = std::io::BufReader::new(stdout);
        reader
            .read_line(&mut line)
            .expect("the provider says where it listens");
        // Whatever it prints later is read (and dropped), so it never blocks.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let ready: Value = serde_json::from_str(&line).expect("a JSON line");
        Idp {
            issuer: ready["issuer"].as_str().expect("issuer").to_string(),
            _child: Mutex::new(child),
        }
    })
}

/// A client registered at the provider (dynamic registration) whose
/// callback is Gatehouse's on any loopback port (RFC 8252 §7.3).
pub struct IdpClient {
    pub id: String,
    pub secret: String,
}

impl Idp {
    pub async fn register(&self, provider_id: &str) -> IdpClient {
        self.register_with(provider_id, "client_secret_basic").await
    }

    /// A client that authenticates at the token endpoint with `method`.
    pub async fn register_with(&self, provider_id: &str, method: &str) -> IdpClient {
        let res = Client::new()
            .post(format!("{}/reg", self.issuer))
            .json(&json!({
                "redirect_uris": [format!("http://127.0.0.1/auth/{provider_id}/callback")],
                "application_type": "native",
                "token_endpoint_auth_method": method,
            }))
            .send()
            .await
            .expect("registration");
        assert_eq!(res.status(), StatusCode::CREATED, "client registration");
        let body: Value = res.json().await.expect("json");
        IdpClient {
            id: body["client_id"].as_str().expect("client_id").to_string(),
            secret: body["client_secret"].as_str().expect("client_secret").to_string(),
        }
    }

    /// What the provider says about user `sub`.
    pub async fn account(&self, sub: &str, email: &str, verified: bool) {
        let res = Client::new()
            .post(format!("{}/_test/accounts", self.issuer))
            .json(&json!({
                "sub": sub, "email": email, "email_verified": verified,
                "preferred_username": sub, "name": format!("Test {sub}"),
            }))
            .send()
            .await
            .expect("account");
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }

    /// Makes the provider's answers to `client` misbehave (`""`: stop).
    pub async fn mode(&self, client: &IdpClient, mode: &str) {
        let res = Client::new()
            .post(format!("{}/_test/mode", self.issuer))
            .json(&json!({ "client_id": client.id, "mode": mode }))
            .send()
            .await
            .expect("mode");
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }
}

/// The configuration of a Gatehouse that signs in through the provider as
/// `provider_id` with `client`.
pub fn provider_vars(provider_id: &str, client: &IdpClient) -> Vec<(String, String)> {
    let prefix = format!("GATEHOUSE_PROVIDER_{}_", provider_id.to_ascii_uppercase());
    vec![
        ("GATEHOUSE_PROVIDERS".into(), provider_id.into()),
        (format!("{prefix}ISSUER"), idp().issuer.clone()),
        (format!("{prefix}CLIENT_ID"), client.id.clone()),
        (format!("{prefix}CLIENT_SECRET"), client.secret.clone()),
        (format!("{prefix}NAME"), "Test IdP".into()),
        ("GATEHOUSE_LOGIN_ATTEMPTS".into(), "1000".into()),
        ("GATEHOUSE_PUBLIC_URL".into(), "{origin}".into()),
    ]
}

/// A browser: cookies kept, redirects followed by hand.
pub fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .expect("client")
}

fn absolute(base: &str, location: &str) -> String {
    reqwest::Url::parse(base)
        .and_then(|b| b.join(location))
        .expect("a location")
        .to_string()
}

/// Follows redirects from `url`, signing in at the provider's login page as
/// `login`, up to the provider's answer at Gatehouse's callback: its URL,
/// not visited.
pub async fn to_callback(browser: &Client, url: &str, login: &str) -> String {
    let mut url = url.to_string();
    for _ in 0..20 {
        if url.contains("/callback?") {
            return url;
        }
        let res = browser.get(&url).send().await.expect("request");
        if res.status().is_redirection() {
            let location = res.headers()[header::LOCATION]
                .to_str()
                .expect("location")
                .to_string();
            url = absolute(&url, &location);
            continue;
        }
        let status = res.status();
        let page = res.text().await.expect("page");
        assert_eq!(
            status,
            StatusCode::OK,
            "a page of the provider's at {url}: {page}"
        );
        let action = page
            .split("action=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("a form at {url}: {page}"))
            .to_string();
        // Its hidden fields (the step, or the session-ending confirmation it
        // posts when another person signs in), plus the login on its login page.
        let mut fields: Vec<(String, String)> = page
            .split("<input type=\"hidden\" ")
            .skip(1)
            .filter_map(|tag| {
                let attr = |name: &str| {
                    tag.split(&format!("{name}=\""))
                        .nth(1)
                        .and_then(|rest| rest.split('"').next())
                        .map(str::to_string)
                };
                Some((attr("name")?, attr("value").unwrap_or_default()))
            })
            .collect();
        if page.contains("name=\"login\"") {
            fields.push(("login".into(), login.into()));
            fields.push(("password".into(), "any password".into()));
        }
        let res = browser
            .post(absolute(&url, &action))
            .form(&fields)
            .send()
            .await
            .expect("a form post at the provider");
        if !res.status().is_redirection() {
            let status = res.status();
            panic!(
                "the provider refused the login: {status}: {}",
                res.text().await.unwrap_or_default()
            );
        }
        let location = res.headers()[header::LOCATION]
            .to_str()
            .expect("location")
            .to_string();
        url = absolute(&url, &location);
    }
    panic!("too many redirects from {url}");
}

/// Signs in to `app` through the provider as `login`, in `browser`, from
/// `start` (a path); returns Gatehouse's answer at its callback (a redirect
/// when it worked, a page saying why when not).
pub async fn sign_in_with(app: &crate::common::TestApp, b: &Client, start: &str, login: &str) -> Response {
    let callback = to_callback(b, &app.url(start), login).await;
    b.get(&callback).send().await.expect("callback")
}

/// [`sign_in_with`] from `/auth/{provider_id}/start`, in a new browser.
pub async fn sign_in(app: &crate::common::TestApp, provider_id: &str, login: &str) -> (Client, Response) {
    let b = browser();
    let res = sign_in_with(app, &b, &format!("/auth/{provider_id}/start"), login).await;
    (b, res)
}
