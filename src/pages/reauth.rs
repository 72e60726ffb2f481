//! `/reauth?return=…`: sensitive changes (the password, the email, second
//! factors, admin writes) need a recent sign-in; this page asks for the
//! password (and, for an account with a second factor, a code too) or a
//! passkey, then goes back.

use crate::{
    components::{
        form::{last_error, Field, FormAlert, Submit},
        guard::signed_in,
    },
    server_fns::Reauthenticate,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn ReauthPage() -> impl IntoView {
    let action = ServerAction::<Reauthenticate>::new();
    let error = last_error(action);
    let query = use_query_map();
    let return_to = move || query.read().get("return").unwrap_or_else(|| "/account".into());
    view! {
        <Title text="Confirm it’s you"/>
        {signed_in(move |user, site| view! {
            <section class="card auth" aria-labelledby="reauth-title">
                <h1 id="reauth-title">"Confirm it’s you"</h1>
                <p class="muted">"Before this change, sign in again as "<strong>{user.username.clone()}</strong>"."</p>
                {site.has_password.then(|| view! {
                <ActionForm action=action attr:class="form" attr:novalidate=true>
                    <FormAlert error=error/>
                    <input type="hidden" name="return_to" prop:value=return_to value=return_to/>
                    <Field label="Password" name="password" kind="password" autocomplete="current-password" autofocus=true required=true error=error/>
                    {site.mfa_enabled.then(|| view! {
                        <Field label="Code from your app, or a recovery code" name="code" autocomplete="one-time-code" required=true max_length=32 error=error/>
                    })}
                    <Submit label="Continue" busy_label="Checking…"/>
                </ActionForm>
                })}
                {(!site.mfa_enabled).then(|| {
                    let linked: Vec<crate::model::ProviderLink> = site
                        .providers
                        .iter()
                        .filter(|p| p.reauth && site.linked_providers.contains(&p.id))
                        .cloned()
                        .collect();
                    view! {
                        <crate::components::providers::ProviderButtons providers=linked return_to=Signal::derive(return_to) intent="reauth"/>
                    }
                })}
                {site.passkeys.then(|| view! {
                    <div class="passkey-box" data-passkey-scope="">
                        <div class="divider" role="presentation"><span>"or"</span></div>
                        <button type="button" class="btn btn-ghost btn-wide needs-js" data-passkey="reauth"
                            data-return=return_to>
                            "Use a passkey"
                        </button>
                        <p class="passkey-status" aria-live="polite" data-passkey-status=""></p>
                    </div>
                })}
            </section>
        })}
    }
}
