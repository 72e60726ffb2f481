//! `/` and `/private`: they only send people on. On a full page load the
//! server redirects before rendering; these cover in-app navigation.

use crate::site::{nothing, with_site};
use leptos::prelude::*;
use leptos_router::components::Redirect;

/// To the dashboard when signed in, else to `signed_out`.
fn to_dashboard_or(signed_out: String) -> impl IntoView {
    with_site(nothing, move |site| {
        let signed_in = site.ok().and_then(|s| s.user).is_some();
        let path = if signed_in {
            "/dashboard".to_string()
        } else {
            signed_out.clone()
        };
        view! { <Redirect path=path/> }
    })
}

#[component]
pub fn HomeRedirect() -> impl IntoView {
    to_dashboard_or("/login".into())
}

#[component]
pub fn PrivateRedirect() -> impl IntoView {
    to_dashboard_or(crate::model::login_url_for("/private"))
}
