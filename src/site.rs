//! The site state every page reads (who is visiting, what the site offers),
//! loaded once per page load, and the one way pages wait for it. Every
//! change of who is signed in is a full page load, so it never goes stale.

use crate::{model::AppError, server_fns::SiteInfo};
use leptos::prelude::*;

/// The site state as a resource, in the app's context.
#[derive(Clone, Copy)]
pub struct Site(pub Resource<Result<SiteInfo, AppError>>);

/// Loads the site state for this page load and puts it in the context.
pub fn provide_site() {
    let site = Resource::new(|| (), |_| crate::server_fns::site_state());
    provide_context(Site(site));
}

/// Renders `view` with the site state once it is known, under one
/// `Suspense` (with `loading` until then): every guard and redirect that
/// depends on who is visiting goes through here.
pub fn with_site<V>(
    loading: fn() -> AnyView,
    view: impl Fn(Result<SiteInfo, AppError>) -> V + Clone + Send + Sync + 'static,
) -> impl IntoView
where
    V: IntoView + 'static,
{
    let Site(site) = expect_context::<Site>();
    view! {
        <Suspense fallback=loading>
            {move || {
                let view = view.clone();
                Suspend::new(async move { view(site.await).into_any() })
            }}
        </Suspense>
    }
}

/// What `with_site` shows while the state loads, on pages.
pub fn loading() -> AnyView {
    view! { <p class="loading">"Loading…"</p> }.into_any()
}

/// What it shows in places that stay empty until then (the navigation bar,
/// redirects).
pub fn nothing() -> AnyView {
    ().into_any()
}
