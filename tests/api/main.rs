//! The integration tests: one binary (one link of the whole app), each module
//! a group of behaviours, all against the real router on a fresh database.
//!
//! Each test runs on a multi-threaded runtime, as the server does in
//! production. On tokio's single-threaded test runtime, with many such
//! runtimes in one process, a server-rendered page very rarely stalled until
//! the request timeout (about once in fifteen runs of this suite on
//! PostgreSQL; the Leptos Suspense races of leptos-rs/leptos#4851 and #4864
//! look alike). The release server never did in 17,000 concurrent requests.

#[macro_use]
mod common;

mod account_api;
mod admin_api;
mod attacks;
mod auth_api;
mod cli;
mod cors;
mod external;
mod forward;
mod hardening;
mod hostile_input;
mod keys;
mod mail_api;
mod mfa_api;
mod oidc;
mod operations;
mod security;
mod tokens_api;
