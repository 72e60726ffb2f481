//! One module per page.

pub mod account;
pub mod admin;
pub mod dashboard;
pub mod errors;
pub mod home;
pub mod login;
pub mod setup;
pub mod signup;
