//! The HTML shell, the `<App/>` and its routes.

use crate::{
    components::{islands::Hydrated, nav::NavBar},
    pages::{
        account::AccountPage,
        admin::AdminPage,
        clients::AdminClientsPage,
        consent::ConsentPageView,
        dashboard::DashboardPage,
        errors::NotFound,
        forgot::ForgotPasswordPage,
        home::{HomeRedirect, PrivateRedirect},
        invite::InvitePage,
        links::{ConfirmEmailPage, VerifyEmailPage},
        login::LoginPage,
        mfa::SecondFactorPage,
        reauth::ReauthPage,
        recovery_codes::RecoveryCodesPage,
        reset::ResetPasswordPage,
        setup::SetupPage,
        signup::SignupPage,
    },
};
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, Meta, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};

/// The document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options islands=true/>
                // Before the first paint: what needs JavaScript shows, what
                // says it is missing hides.
                <script nonce=leptos::nonce::use_nonce()>"document.documentElement.classList.add('js')"</script>
                <script type="module" src="/enhance.js" nonce=leptos::nonce::use_nonce()></script>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    crate::site::provide_site();

    view! {
        <Stylesheet id="leptos" href="/pkg/gatehouse.css"/>
        <Link rel="icon" href="/favicon.svg" type_="image/svg+xml"/>
        <Meta name="color-scheme" content="light dark"/>
        <Meta name="description" content="Gatehouse: accounts for your product."/>
        <Title formatter=|title: String| if title.is_empty() { "Gatehouse".to_string() } else { format!("{title} · Gatehouse") }/>
        <Router>
            <a class="skip-link" href="#main">"Skip to content"</a>
            <NavBar/>
            <main id="main" class="page">
                <Routes fallback=|| view! { <NotFound/> }>
                    <Route path=path!("/") view=HomeRedirect ssr=SsrMode::Async/>
                    <Route path=path!("/setup") view=SetupPage ssr=SsrMode::Async/>
                    <Route path=path!("/signup") view=SignupPage ssr=SsrMode::Async/>
                    <Route path=path!("/login") view=LoginPage ssr=SsrMode::Async/>
                    <Route path=path!("/dashboard") view=DashboardPage ssr=SsrMode::Async/>
                    <Route path=path!("/account") view=AccountPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin") view=AdminPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/clients") view=AdminClientsPage ssr=SsrMode::Async/>
                    <Route path=path!("/oauth2/consent") view=ConsentPageView ssr=SsrMode::Async/>
                    <Route path=path!("/private") view=PrivateRedirect ssr=SsrMode::Async/>
                    <Route path=path!("/login/mfa") view=SecondFactorPage ssr=SsrMode::Async/>
                    <Route path=path!("/reauth") view=ReauthPage ssr=SsrMode::Async/>
                    <Route path=path!("/account/recovery-codes") view=RecoveryCodesPage ssr=SsrMode::Async/>
                    <Route path=path!("/forgot-password") view=ForgotPasswordPage ssr=SsrMode::Async/>
                    <Route path=path!("/reset-password") view=ResetPasswordPage ssr=SsrMode::Async/>
                    <Route path=path!("/verify-email") view=VerifyEmailPage ssr=SsrMode::Async/>
                    <Route path=path!("/confirm-email") view=ConfirmEmailPage ssr=SsrMode::Async/>
                    <Route path=path!("/invite") view=InvitePage ssr=SsrMode::Async/>
                </Routes>
            </main>
            <footer class="footer">
                <p>"Gatehouse · accounts done right"</p>
            </footer>
            <Hydrated/>
        </Router>
    }
}
