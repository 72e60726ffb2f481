//! The 404 and 403 pages.

use leptos::prelude::*;
use leptos_meta::Title;

#[cfg(feature = "ssr")]
fn set_status(code: u16) {
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        if let Ok(status) = axum::http::StatusCode::from_u16(code) {
            res.set_status(status);
        }
    }
}

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    set_status(404);
    view! {
        <Title text="Page not found"/>
        <section class="card narrow center" aria-labelledby="nf-title">
            <p class="eyebrow">"404"</p>
            <h1 id="nf-title">"Page not found"</h1>
            <p class="muted">"There is nothing at this address. It may have moved, or the link may be mistyped."</p>
            <a class="btn btn-primary" href="/">"Go to the start page"</a>
        </section>
    }
}

#[component]
pub fn Forbidden() -> impl IntoView {
    #[cfg(feature = "ssr")]
    set_status(403);
    view! {
        <Title text="Not allowed"/>
        <section class="card narrow center" aria-labelledby="forbidden-title">
            <p class="eyebrow">"403"</p>
            <h1 id="forbidden-title">"You can’t open this page"</h1>
            <p class="muted">"Your account does not have access to it. If you think it should, ask an administrator."</p>
            <a class="btn btn-primary" href="/dashboard">"Back to your dashboard"</a>
        </section>
    }
}
