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

/// Each page is a lazy route: in a split browser bundle (`cargo leptos build
/// --split`, `cfg(wasm_split)`) its code is a wasm chunk of its own, fetched
/// when the page is first shown (the server preloads the current page's
/// chunks with the page), so `/login` does not download the admin area.
/// Built without `--split`, the same routes ship in one bundle. On the server
/// a lazy route renders like any other.
macro_rules! lazy_pages {
    ($($route:ident => $page:ident,)*) => {$(
        #[doc = concat!("The lazy route of [`", stringify!($page), "`].")]
        pub struct $route;

        #[cfg(any(not(feature = "hydrate"), wasm_split))]
        #[leptos_router::lazy_route]
        impl leptos_router::LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            fn view(_this: Self) -> leptos::prelude::AnyView {
                use leptos::prelude::*;
                view! { <$page/> }.into_any()
            }
        }

        #[cfg(all(feature = "hydrate", not(wasm_split)))]
        impl leptos_router::LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            async fn view(_this: Self) -> leptos::prelude::AnyView {
                use leptos::prelude::*;
                view! { <$page/> }.into_any()
            }
        }
    )*};
}

use self::{
    account::AccountPage,
    admin::AdminPage,
    clients::AdminClientsPage,
    consent::ConsentPageView,
    dashboard::DashboardPage,
    forgot::ForgotPasswordPage,
    invite::InvitePage,
    links::{ConfirmEmailPage, VerifyEmailPage},
    login::LoginPage,
    mfa::SecondFactorPage,
    reauth::ReauthPage,
    recovery_codes::RecoveryCodesPage,
    reset::ResetPasswordPage,
    setup::SetupPage,
    signup::SignupPage,
};

lazy_pages! {
    SetupRoute => SetupPage,
    SignupRoute => SignupPage,
    LoginRoute => LoginPage,
    DashboardRoute => DashboardPage,
    AccountRoute => AccountPage,
    AdminRoute => AdminPage,
    AdminClientsRoute => AdminClientsPage,
    ConsentRoute => ConsentPageView,
    SecondFactorRoute => SecondFactorPage,
    ReauthRoute => ReauthPage,
    RecoveryCodesRoute => RecoveryCodesPage,
    ForgotPasswordRoute => ForgotPasswordPage,
    ResetPasswordRoute => ResetPasswordPage,
    VerifyEmailRoute => VerifyEmailPage,
    ConfirmEmailRoute => ConfirmEmailPage,
    InviteRoute => InvitePage,
}
