//! `/oauth2/consent`: another app asks to sign the user in through
//! Gatehouse, and what it wants to know. Allow or Deny; works with
//! JavaScript off.

use crate::components::islands::SendsForm;
use crate::{
    components::{
        form::{last_error, FormAlert, Submit},
        guard::signed_in,
    },
    model::oidc::ConsentPage,
    server_fns::{consent_question, DecideConsent},
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_location;

#[component]
pub fn ConsentPageView() -> impl IntoView {
    let location = use_location();
    let query = move || location.search.get();
    let question = Resource::new(query, consent_question);
    let decide = ServerAction::<DecideConsent>::new();
    let error = last_error(decide);
    view! {
        <Title text="Allow this app?"/>
        {signed_in(move |_, _| view! {
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match question.await {
                        Ok(ConsentPage::Ask(q)) => {
                            let (deny_query, allow_query) = (query(), query());
                            view! {
                                <section class="card auth" aria-labelledby="consent-title" data-testid="consent">
                                    <p class="eyebrow">"Sign in with Gatehouse"</p>
                                    <h1 id="consent-title">"Allow "{q.client_name.clone()}" to sign you in?"</h1>
                                    <p class="muted">
                                        <strong>{q.client_name.clone()}</strong>" at "<code>{q.origin.clone()}</code>
                                        " asks to sign you in as "<strong>{q.username.clone()}</strong>". It will get:"
                                    </p>
                                    <ul class="wants">
                                        {q.wants.into_iter().map(|w| view! { <li>{w}</li> }).collect_view()}
                                    </ul>
                                    <FormAlert error=error/>
                                    <div class="actions consent-actions">
                                        <ActionForm action=decide attr:class="inline-form">
                                            <input type="hidden" name="query" value=deny_query/>
                                            <input type="hidden" name="decision" value="deny"/>
                                            <SendsForm><button type="submit" class="btn btn-ghost">"Deny"</button></SendsForm>
                                        </ActionForm>
                                        <ActionForm action=decide attr:class="inline-form">
                                            <input type="hidden" name="query" value=allow_query/>
                                            <input type="hidden" name="decision" value="allow"/>
                                            <Submit label="Allow" busy_label="Continuing…"/>
                                        </ActionForm>
                                    </div>
                                    <p class="muted small">"You can disconnect it at any time on your account page."</p>
                                </section>
                            }.into_any()
                        }
                        Ok(ConsentPage::Refused(message)) => view! {
                            <section class="card narrow center" aria-labelledby="consent-title">
                                <p class="eyebrow">"Sign-in request refused"</p>
                                <h1 id="consent-title">"This app’s request cannot be used"</h1>
                                <p class="muted">{message}</p>
                                <a class="btn btn-primary" href="/dashboard">"Go to your account"</a>
                            </section>
                        }.into_any(),
                        Ok(ConsentPage::Go(to)) => view! {
                            <section class="card narrow center" aria-labelledby="consent-title">
                                <h1 id="consent-title">"Nothing to allow here"</h1>
                                <p class="muted">"This request needs no answer from you."</p>
                                <a class="btn btn-primary" href=to rel="external">"Continue"</a>
                            </section>
                        }.into_any(),
                        Err(e) => view! { <div class="alert" role="alert">{e.message}</div> }.into_any(),
                    }
                })}
            </Suspense>
        })}
    }
}
