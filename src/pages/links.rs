//! `/verify-email?token=…` and `/confirm-email?token=…`: the landing pages
//! of verification and email-change links. Opening one changes nothing
//! (mail scanners follow links); the person confirms with a button, a form
//! post that works with JavaScript off. These pages send no `Referer`.

use crate::{
    components::form::{last_error, FormAlert, Submit},
    model::AppError,
    pages::errors::NotFound,
    server_fns::{link_details, ConfirmEmail, SiteInfo, VerifyEmail},
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// What a dead link shows: one message for unknown, spent and expired links.
#[component]
pub fn InvalidLink(what: &'static str, again: &'static str) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(axum::http::StatusCode::BAD_REQUEST);
    }
    view! {
        <section class="card auth" aria-labelledby="link-title">
            <h1 id="link-title">"This link does not work"</h1>
            <div class="alert" role="alert">"invalid or expired link"</div>
            <p class="muted">{format!("The {what} link was already used, has expired, or was copied incompletely. Links from our mails work once, for a limited time.")}</p>
            <a class="btn btn-primary" href=again>"Get a new link"</a>
        </section>
    }
}

/// The landing page of a mailed link, for every kind of link: not found
/// while mail is off; while `details` (what the link is about, read
/// without spending it) loads, `checking`; for an unknown, spent or expired
/// link the one [`InvalidLink`] page (`what` link, `again` from the site
/// state says where a new one comes from); for a live one, `page` (with the
/// site state).
pub fn link_landing<T, V>(
    details: Resource<Result<T, AppError>>,
    checking: &'static str,
    what: &'static str,
    again: fn(&SiteInfo) -> &'static str,
    page: impl Fn(T, SiteInfo) -> V + Clone + Send + Sync + 'static,
) -> impl IntoView
where
    T: Clone + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static,
    V: IntoView + 'static,
{
    crate::components::guard::any_visitor(move |site| {
        if !site.mail_enabled {
            return view! { <NotFound/> }.into_any();
        }
        let again = again(&site);
        let page = page.clone();
        let site = site.clone();
        view! {
            <Suspense fallback=move || view! { <p class="loading">{checking}</p> }>
                {
                    let page = page.clone();
                    move || {
                        let (page, site) = (page.clone(), site.clone());
                        Suspend::new(async move {
                            match details.await {
                                Err(_) => view! { <InvalidLink what=what again=again/> }.into_any(),
                                Ok(link) => page(link, site).into_any(),
                            }
                        })
                    }
                }
            </Suspense>
        }
        .into_any()
    })
}

/// The token in the page's query.
pub fn token() -> Memo<String> {
    let query = use_query_map();
    Memo::new(move |_| query.read().get("token").unwrap_or_default())
}

#[component]
pub fn VerifyEmailPage() -> impl IntoView {
    let action = ServerAction::<VerifyEmail>::new();
    let error = last_error(action);
    let token = token();
    let details = Resource::new(move || token.get(), |token| link_details("verify".into(), token));
    let again = |site: &SiteInfo| if site.user.is_some() { "/account" } else { "/login" };
    view! {
        <Title text="Verify your email"/>
        {link_landing(details, "Checking the link…", "verification", again, move |link, _| view! {
            <section class="card auth" aria-labelledby="verify-title">
                <h1 id="verify-title">"Verify your email"</h1>
                <p class="muted">"Confirm that "<strong>{link.email.clone()}</strong>" is the address of "<strong>{link.username.clone()}</strong>"."</p>
                <ActionForm action=action attr:class="form">
                    <FormAlert error=error/>
                    <input type="hidden" name="token" value=move || token.get()/>
                    <Submit label="Verify my email" busy_label="Verifying…"/>
                </ActionForm>
            </section>
        })}
    }
}

#[component]
pub fn ConfirmEmailPage() -> impl IntoView {
    let action = ServerAction::<ConfirmEmail>::new();
    let error = last_error(action);
    let token = token();
    let details = Resource::new(move || token.get(), |token| link_details("confirm".into(), token));
    view! {
        <Title text="Confirm your new email"/>
        {link_landing(details, "Checking the link…", "email change", |_| "/account", move |link, _| view! {
            <section class="card auth" aria-labelledby="confirm-title">
                <h1 id="confirm-title">"Confirm your new email"</h1>
                <p class="muted">"Make "<strong>{link.email.clone()}</strong>" the email address of "<strong>{link.username.clone()}</strong>". You will sign in with it and receive our mail there."</p>
                <ActionForm action=action attr:class="form">
                    <FormAlert error=error/>
                    <input type="hidden" name="token" value=move || token.get()/>
                    <Submit label="Confirm my new address" busy_label="Confirming…"/>
                </ActionForm>
            </section>
        })}
    }
}
