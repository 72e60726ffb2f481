//! `/` and `/private`: they only send people on. On a full page load the
//! server redirects before rendering; these cover in-app navigation.

use crate::app::Site;
use leptos::prelude::*;
use leptos_router::components::Redirect;

fn to_dashboard_or_login() -> impl IntoView {
    let Site(site) = expect_context::<Site>();
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let signed_in = site.await.ok().and_then(|s| s.user).is_some();
                if signed_in {
                    view! { <Redirect path="/dashboard"/> }.into_any()
                } else {
                    view! { <Redirect path="/login"/> }.into_any()
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn HomeRedirect() -> impl IntoView {
    to_dashboard_or_login()
}

#[component]
pub fn PrivateRedirect() -> impl IntoView {
    let Site(site) = expect_context::<Site>();
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let signed_in = site.await.ok().and_then(|s| s.user).is_some();
                if signed_in {
                    view! { <Redirect path="/dashboard"/> }.into_any()
                } else {
                    view! { <Redirect path=crate::model::login_url_for("/private")/> }.into_any()
                }
            })}
        </Suspense>
    }
}
