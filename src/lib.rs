//! Gatehouse: accounts for your product. The same components compile to the
//! server (`ssr`) and to the browser's wasm (`hydrate`).

#![recursion_limit = "256"]

pub mod app;
pub mod components;
pub mod model;
pub mod pages;
pub mod server_fns;
pub mod site;

#[cfg(feature = "ssr")]
pub mod server;

/// The browser entry point: take over the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Every redirect a server function asks for (after login, logout, setup) is
    // a full page load, so the next page is rendered from the new session and
    // no client-side state can go stale.
    let _ = leptos::server_fn::redirect::set_redirect_hook(|location: &str| {
        if let Some(window) = web_sys::window() {
            let _ = window.location().assign(location);
        }
    });
    // Lazy: the current page's code is a chunk of its own, loaded first.
    leptos::mount::hydrate_lazy(app::App);
}
