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
        _ => Err(
            "usage: bench_baseline hello ADDR | argon2 SECONDS THREADS | seed DATABASE_URL TOTAL \
                  | createdb POSTGRES_URL NAME"
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
