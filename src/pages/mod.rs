//! One module per page.

pub mod account;
pub mod admin;
pub mod clients;
pub mod consent;
pub mod dashboard;
pub mod errors;
pub mod forgot;
pub mod home;
pub mod invite;
pub mod links;
pub mod login;
pub mod mfa;
pub mod reauth;
pub mod recovery_codes;
pub mod reset;
pub mod security;
pub mod setup;
pub mod signup;
