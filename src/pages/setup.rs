//! `/setup`: the first admin, while no user exists.

use crate::{
    components::{
        form::{last_error, Field, FormAlert, Submit},
        guard::signed_out,
    },
    server_fns::Setup,
};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn SetupPage() -> impl IntoView {
    let action = ServerAction::<Setup>::new();
    let error = last_error(action);
    view! {
        <Title text="Set up"/>
        {signed_out(move |site| {
            let min = site.password_min_length;
            let hint = Signal::derive(move || format!("At least {min} characters. A few unrelated words make a strong, memorable password."));
            view! {
                <section class="card auth" aria-labelledby="setup-title">
                    <p class="eyebrow">"First run"</p>
                    <h1 id="setup-title">"Create the admin account"</h1>
                    <p class="muted">"Gatehouse has no users yet. The account you create now administers this site."</p>
                    <ActionForm action=action attr:class="form" attr:novalidate=true>
                        <FormAlert error=error/>
                        <Field label="Username" name="username" autocomplete="username" required=true autofocus=true max_length=64 error=error/>
                        <Field label="Email" name="email" kind="email" autocomplete="email" max_length=254 error=error/>
                        <Field label="Password" name="password" kind="password" autocomplete="new-password" required=true strength=min hint=hint error=error/>
                        <Field label="Confirm password" name="password_confirmation" kind="password" autocomplete="new-password" required=true error=error/>
                        <Submit label="Create admin account" busy_label="Creating account…"/>
                    </ActionForm>
                </section>
            }
        })}
    }
}
