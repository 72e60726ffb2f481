//! What `scripts/bench.sh` measures Gatehouse against, on the same machine in
//! the same run, and how it grows the user base:
//!
//!   bench_baseline hello ADDR                 a bare axum "Hello, World!" server
//!   bench_baseline argon2 SECONDS THREADS     argon2id verifications with Gatehouse's
//!                                             parameters on THREADS threads, each
//!                                             reusing one memory block; prints verifies/s
//!   bench_baseline seed DATABASE_URL TOTAL    adds users until there are TOTAL
//!                                             (`bench-user-NNNNNN`, one precomputed
//!                                             hash of the password `PASSWORD` below)
//!   bench_baseline createdb POSTGRES_URL NAME  creates database NAME on that server;
//!                                             prints its URL
//!   bench_baseline rs256 SECONDS THREADS      RS256 (RSA-2048) JWT signatures the way
//!                                             Gatehouse signs, on THREADS threads; prints signs/s
//!   bench_baseline oidc ISSUER CLIENT_ID SECRET COOKIE SECONDS CONNECTIONS
//!                                             an OpenID Connect provider's token endpoint
//!                                             (endpoints from ISSUER's discovery; COOKIE
//!                                             is a signed-in session there): code
//!                                             exchanges/s (each after a code from the
//!                                             authorization endpoint), then refresh
//!                                             grants/s; prints both, space-separated
//!
//! `cargo build --release --features ssr --example bench_baseline`

use argon2::{Algorithm, Argon2, Block, Params, Version};
use gatehouse::server::core::{passwords, validate};
use gatehouse::server::db::{
    users::{self, NewUser, SetupClaim},
    Db,
};
use std::time::{Duration, Instant};

/// The password of every seeded user.
const PASSWORD: &str = "tangerine orbit lantern for wrk";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["hello", addr] => hello(addr),
        ["argon2", seconds, threads] => {
            argon2_loop(Duration::from_secs(seconds.parse()?), threads.parse()?);
            Ok(())
        }
        ["seed", url, total] => seed(url, total.parse()?),
        ["createdb", url, name] => createdb(url, name),
        ["rs256", seconds, threads] => rs256_loop(Duration::from_secs(seconds.parse()?), threads.parse()?),
        ["oidc", base, id, secret, cookie, seconds, connections] => oidc(
            base,
            id,
            secret,
            cookie,
            Duration::from_secs(seconds.parse()?),
            connections.parse()?,
        ),
        _ => Err(
            "usage: bench_baseline hello ADDR | argon2 SECONDS THREADS | seed DATABASE_URL TOTAL \
                  | createdb POSTGRES_URL NAME | rs256 SECONDS THREADS \
                  | oidc BASE CLIENT_ID SECRET COOKIE SECONDS CONNECTIONS"
                .into(),
        ),
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()
}

/// axum's hello world, as its README has it: the most this machine serves.
fn hello(addr: &str) -> Result<(), Box<dyn std::error::Error>> {
    runtime()?.block_on(async {
        let app = axum::Router::new().route("/", axum::routing::get(|| async { "Hello, World!" }));
        let listener = tokio::net::TcpListener::bind(addr).await?;
        axum::serve(listener, app).await?;
        Ok(())
    })
}

/// As many verifications as `threads` threads do in `length`, the way
/// Gatehouse's hashing workers do them (one reused block each).
fn argon2_loop(length: Duration, threads: usize) {
    let params = Params::new(
        passwords::M_COST_KIB,
        passwords::T_COST,
        passwords::P_COST,
        Some(32),
    )
    .expect("Gatehouse's argon2 parameters are valid");
    let start = Instant::now();
    let done: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let params = params.clone();
                scope.spawn(move || {
                    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
                    let mut memory = vec![Block::default(); params.block_count()];
                    let mut out = [0u8; 32];
                    let mut n = 0;
                    while start.elapsed() < length {
                        argon2
                            .hash_password_into_with_memory(
                                PASSWORD.as_bytes(),
                                b"bench salt 16 by",
                                &mut out,
                                &mut memory,
                            )
                            .expect("hashing works");
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or(0)).sum()
    });
    println!("{:.1}", done as f64 / start.elapsed().as_secs_f64());
}

/// Adds `bench-user-NNNNNN` users (emails `bench-user-NNNNNN@bench.test`)
/// until the database holds `total` users, in transactions of 5000.
fn seed(url: &str, total: i64) -> Result<(), Box<dyn std::error::Error>> {
    runtime()?.block_on(async {
        let db = Db::connect(url).await?;
        let hash = gatehouse::server::hashing::Hasher::new(1).hash(PASSWORD).await?;
        let mut n = users::count(&db).await?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs() as i64;
        while n < total {
            let mut tx = db.begin().await?;
            let end = (n + 5000).min(total);
            for i in n..end {
                let username = format!("bench-user-{i:06}");
                let email = format!("{username}@bench.test");
                let user = NewUser {
                    id: uuid::Uuid::new_v4().to_string(),
                    username_key: validate::identifier_key(&username),
                    username_skeleton: validate::skeleton(&username),
                    email_key: Some(validate::identifier_key(&email)),
                    email: Some(email),
                    username,
                    password_hash: hash.clone(),
                    role: "user",
                    email_verified: true,
                    now,
                };
                users::insert(&mut tx, &user, SetupClaim::No)
                    .await
                    .map_err(|e| format!("insert: {e:?}"))?;
            }
            tx.commit().await?;
            n = end;
        }
        println!("{n}");
        Ok(())
    })
}

/// Creates database `name` (letters, digits and `_`) on the server `url`
/// names, and prints the URL of the new database.
fn createdb(url: &str, name: &str) -> Result<(), Box<dyn std::error::Error>> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err("a database name is letters, digits and _".into());
    }
    runtime()?.block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(url).await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await?;
        let mut new = url::Url::parse(url)?;
        new.set_path(&format!("/{name}"));
        println!("{new}");
        Ok(())
    })
}

/// As many RS256 signatures of a token-sized JWT as `threads` threads make in
/// `length`, with a 2048-bit key loaded as Gatehouse loads its own (PKCS#1
/// DER through jsonwebtoken): the machine's signing limit.
fn rs256_loop(length: Duration, threads: usize) -> Result<(), Box<dyn std::error::Error>> {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    let private = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)?;
    let der = private.to_pkcs1_der()?;
    let key = jsonwebtoken::EncodingKey::from_rsa_der(der.as_bytes());
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("bench".into());
    let claims = serde_json::json!({
        "iss": "http://127.0.0.1:3000", "sub": "5f0c5f8e-1c3b-4d8a-9a57-0b3f8f2d6c11",
        "aud": "0123456789abcdef0123456789abcdef", "exp": 2_000_000_000, "iat": 1_700_000_000,
        "jti": "0123456789abcdef", "scope": "openid profile email", "client_id": "0123456789abcdef",
    });
    let start = Instant::now();
    let done: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut n = 0;
                    while start.elapsed() < length {
                        if jsonwebtoken::encode(&header, &claims, &key).is_ok() {
                            n += 1;
                        }
                    }
                    n
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or(0)).sum()
    });
    println!("{:.1}", done as f64 / start.elapsed().as_secs_f64());
    Ok(())
}

/// The token endpoint under load, from `connections` clients at once: first
/// each gets a code from `/oauth2/authorize` (signed in with `cookie`,
/// consent given) and exchanges it, for `length`; then each rotates a
/// refresh token for `length`. Prints "exchanges/s refreshes/s".
fn oidc(
    base: &str,
    id: &str,
    secret: &str,
    cookie: &str,
    length: Duration,
    connections: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    const REDIRECT: &str = "http://127.0.0.1:9/callback";
    const VERIFIER: &str = "bench-verifier-bench-verifier-bench-verifier-0123";
    const CHALLENGE: &str = "kGjPCYjQVOltW8AKjvm5kW-9XDXQ14UHfkPa2I4oE1I";
    runtime()?.block_on(async {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(connections)
            .build()?;
        // The endpoints from discovery: the same loop measures any provider
        // (Gatehouse, or npm's oidc-provider beside it).
        let discovery: serde_json::Value = http
            .get(format!("{base}/.well-known/openid-configuration"))
            .send()
            .await?
            .json()
            .await?;
        let endpoint = |name: &str| {
            discovery[name]
                .as_str()
                .map(str::to_string)
                .ok_or(format!("discovery has no {name}"))
        };
        let (authorization_endpoint, token_endpoint) =
            (endpoint("authorization_endpoint")?, endpoint("token_endpoint")?);
        let authorize = format!(
            "{authorization_endpoint}?response_type=code&client_id={id}&redirect_uri={}&scope=openid%20offline_access\
             &state=s&nonce=n&code_challenge={CHALLENGE}&code_challenge_method=S256",
            REDIRECT.replace(':', "%3A").replace('/', "%2F"),
        );
        // One cycle: a code, then its exchange; the answer's refresh token.
        let cycle = {
            let (http, authorize, token_endpoint) = (http.clone(), authorize.clone(), token_endpoint.clone());
            let (id, secret, cookie) = (id.to_string(), secret.to_string(), cookie.to_string());
            move || {
                let (http, authorize, token_endpoint) = (http.clone(), authorize.clone(), token_endpoint.clone());
                let (id, secret, cookie) = (id.clone(), secret.clone(), cookie.clone());
                async move {
                    let res = http.get(&authorize).header("Cookie", &cookie).send().await.ok()?;
                    let to = res.headers().get("location")?.to_str().ok()?.to_string();
                    let code = url::Url::parse(&to)
                        .ok()?
                        .query_pairs()
                        .find(|(k, _)| k == "code")?
                        .1
                        .into_owned();
                    let res = http
                        .post(&token_endpoint)
                        .basic_auth(&id, Some(&secret))
                        .form(&[
                            ("grant_type", "authorization_code"),
                            ("code", &code),
                            ("redirect_uri", REDIRECT),
                            ("code_verifier", VERIFIER),
                        ])
                        .send()
                        .await
                        .ok()?;
                    let body: serde_json::Value = res.json().await.ok()?;
                    body["refresh_token"].as_str().map(str::to_string)
                }
            }
        };
        // Check once, loudly: a bench that counts failures measures nothing.
        let first = cycle().await.ok_or("the code flow did not work (is the client allowed, consent given?)")?;
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..connections {
            let cycle = cycle.clone();
            tasks.push(tokio::spawn(async move {
                let mut n = 0usize;
                let mut last = None;
                while start.elapsed() < length {
                    match cycle().await {
                        Some(rt) => {
                            n += 1;
                            last = Some(rt);
                        }
                        None => return Err("an exchange failed"),
                    }
                }
                Ok((n, last))
            }));
        }
        let mut exchanges = 0;
        // The newest tokens first: a provider with a bounded store (npm
        // oidc-provider's in-memory one keeps 1000 entries) has forgotten
        // the oldest.
        let mut refresh_tokens = Vec::new();
        for t in tasks {
            let (n, last) = t.await??;
            exchanges += n;
            refresh_tokens.extend(last);
        }
        refresh_tokens.push(first);
        let exchange_rate = exchanges as f64 / start.elapsed().as_secs_f64();

        let start = Instant::now();
        let mut tasks = Vec::new();
        for mut rt in refresh_tokens.into_iter().take(connections) {
            let (http, token_endpoint, id, secret) = (http.clone(), token_endpoint.clone(), id.to_string(), secret.to_string());
            tasks.push(tokio::spawn(async move {
                let mut n = 0usize;
                while start.elapsed() < length {
                    let res = http
                        .post(&token_endpoint)
                        .basic_auth(&id, Some(&secret))
                        .form(&[("grant_type", "refresh_token"), ("refresh_token", rt.as_str())])
                        .send()
                        .await
                        .map_err(|e| format!("a refresh failed: {e}"))?;
                    let body: serde_json::Value = res.json().await.map_err(|e| format!("a refresh failed: {e}"))?;
                    rt = body["refresh_token"]
                        .as_str()
                        .ok_or(format!("a refresh was refused: {body}"))?
                        .to_string();
                    n += 1;
                }
                Ok::<_, String>(n)
            }));
        }
        let mut refreshes = 0;
        for t in tasks {
            refreshes += t.await??;
        }
        let refresh_rate = refreshes as f64 / start.elapsed().as_secs_f64();
        println!("{exchange_rate:.1} {refresh_rate:.1}");
        Ok(())
    })
}
