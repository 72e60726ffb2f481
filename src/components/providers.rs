//! "Continue with {provider}" buttons: plain links (they work without
//! JavaScript) to `/auth/{id}/start`.

use crate::model::{provider_start_url, ProviderLink};
use leptos::prelude::*;

/// One button per provider, under an "or" divider; nothing when there are
/// none. `return_to` is where to land after signing in.
#[component]
pub fn ProviderButtons(
    providers: Vec<ProviderLink>,
    #[prop(into)] return_to: Signal<String>,
    /// `reauth` on the re-authentication page; sign-in otherwise.
    #[prop(optional)]
    intent: Option<&'static str>,
    /// Another "or" divider is just above (the passkey button's).
    #[prop(optional)]
    no_divider: bool,
) -> impl IntoView {
    (!providers.is_empty()).then(|| {
        view! {
            <div class="providers" data-testid="providers">
                {(!no_divider).then(|| view! { <div class="divider" role="presentation"><span>"or"</span></div> })}
                {providers.into_iter().map(|p| {
                    let id = p.id.clone();
                    let href = move || provider_start_url(&id, &return_to.get(), intent);
                    view! {
                        // A server route, not a page: the router must let the browser go.
                        <a class="btn btn-ghost btn-wide" href=href rel="external" data-provider=p.id.clone()>
                            "Continue with "{p.name}
                        </a>
                    }
                }).collect_view()}
            </div>
        }
    })
}
