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

/// The browser entry point. Pages are HTML from the server; the browser
/// hydrates only their islands (`components::islands`), which the page's
/// script does right after this.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
}
