//! Client-side route guards. Full page loads are guarded on the server before
//! anything renders; these cover navigation inside the running app.

use crate::{
    model::{login_url_for, UserView},
    server_fns::SiteInfo,
    site::{loading, with_site},
};
use leptos::prelude::*;
use leptos_router::{components::Redirect, hooks::use_location};

/// Renders `page` for the signed-in user; anyone else goes to
/// `/login?return=<this page>`.
pub fn signed_in<V>(page: impl Fn(UserView, SiteInfo) -> V + Clone + Send + Sync + 'static) -> impl IntoView
where
    V: IntoView + 'static,
{
    let location = use_location();
    with_site(loading, move |site| {
        match site.ok().and_then(|s| Some((s.user.clone()?, s))) {
            Some((user, site)) => page(user, site).into_any(),
            None => {
                let search = location.search.get_untracked();
                let mut here = location.pathname.get_untracked();
                if !search.is_empty() {
                    if !search.starts_with('?') {
                        here.push('?');
                    }
                    here.push_str(&search);
                }
                view! { <Redirect path=login_url_for(&here)/> }.into_any()
            }
        }
    })
}

/// Renders `page` for visitors who are not signed in; signed-in users go to
/// the dashboard.
pub fn signed_out<V>(page: impl Fn(SiteInfo) -> V + Clone + Send + Sync + 'static) -> impl IntoView
where
    V: IntoView + 'static,
{
    with_site(loading, move |site| match site {
        Ok(state) if state.user.is_some() => view! { <Redirect path="/dashboard"/> }.into_any(),
        Ok(state) => page(state).into_any(),
        Err(e) => view! { <div class="alert" role="alert">{e.message}</div> }.into_any(),
    })
}

/// Renders `page` for anyone, signed in or not, once the site state is known.
pub fn any_visitor<V>(page: impl Fn(SiteInfo) -> V + Clone + Send + Sync + 'static) -> impl IntoView
where
    V: IntoView + 'static,
{
    with_site(loading, move |site| match site {
        Ok(state) => page(state).into_any(),
        Err(e) => view! { <div class="alert" role="alert">{e.message}</div> }.into_any(),
    })
}
