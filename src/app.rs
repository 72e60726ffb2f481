//! The HTML shell, the `<App/>` and its routes.

use crate::{
    components::nav::NavBar,
    pages::{
        errors::NotFound,
        home::{HomeRedirect, PrivateRedirect},
        AccountRoute, AdminClientsRoute, AdminRoute, ConfirmEmailRoute, ConsentRoute, DashboardRoute,
        ForgotPasswordRoute, InviteRoute, LoginRoute, ReauthRoute, RecoveryCodesRoute, ResetPasswordRoute,
        SecondFactorRoute, SetupRoute, SignupRoute, VerifyEmailRoute,
    },
};
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, Meta, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, Lazy, SsrMode,
};

/// Paths the server answers that the browser's router knows too (see
/// [`ServerPage`]); the server lists them as its own routes, not pages.
pub const SERVER_ONLY_PATHS: [&str; 2] = ["/oauth2/authorize", "/oauth2/logout"];

/// A path only the server answers (the OpenID Connect provider's endpoints):
/// reached by navigating inside the app (after signing in, say), it is
/// loaded from the server.
#[component]
fn ServerPage() -> impl IntoView {
    #[cfg(feature = "hydrate")]
    Effect::new(|| {
        let _ = window().location().reload();
    });
    view! { <p class="loading">"Loading…"</p> }
}

/// The document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
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

    // A marker tests wait for: set once the wasm has taken over the page.
    #[cfg(feature = "hydrate")]
    Effect::new(|| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });

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
                    <Route path=path!("/setup") view={Lazy::<SetupRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/signup") view={Lazy::<SignupRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/login") view={Lazy::<LoginRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/dashboard") view={Lazy::<DashboardRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/account") view={Lazy::<AccountRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/admin") view={Lazy::<AdminRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/admin/clients") view={Lazy::<AdminClientsRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/oauth2/consent") view={Lazy::<ConsentRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/oauth2/authorize") view=ServerPage/>
                    <Route path=path!("/oauth2/logout") view=ServerPage/>
                    <Route path=path!("/private") view=PrivateRedirect ssr=SsrMode::Async/>
                    <Route path=path!("/login/mfa") view={Lazy::<SecondFactorRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/reauth") view={Lazy::<ReauthRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/account/recovery-codes") view={Lazy::<RecoveryCodesRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/forgot-password") view={Lazy::<ForgotPasswordRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/reset-password") view={Lazy::<ResetPasswordRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/verify-email") view={Lazy::<VerifyEmailRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/confirm-email") view={Lazy::<ConfirmEmailRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/invite") view={Lazy::<InviteRoute>::new()} ssr=SsrMode::Async/>
                </Routes>
            </main>
            <footer class="footer">
                <p>"Gatehouse · accounts done right"</p>
            </footer>
        </Router>
    }
}
