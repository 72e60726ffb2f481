//! The integration tests: one binary (one link of the whole app), each module
//! a group of behaviours, all against the real router on a fresh database.

#[macro_use]
mod common;

mod account_api;
mod admin_api;
mod auth_api;
mod cli;
mod hostile_input;
mod security;
mod tokens_api;
