//! `/signup`: email, optional username, password; then `/login`.

use crate::{
    components::{
        form::{last_error, Field, FormAlert, Submit},
        guard::signed_out,
    },
    server_fns::Signup,
};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn SignupPage() -> impl IntoView {
    let action = ServerAction::<Signup>::new();
    let error = last_error(action);
    view! {
        <Title text="Create an account"/>
        {signed_out(move |site| {
            let min = site.password_min_length;
            let hint = Signal::derive(move || format!("At least {min} characters. A few unrelated words make a strong, memorable password."));
            if !site.signup_open {
                return view! {
                    <section class="card auth" aria-labelledby="signup-title">
                        <h1 id="signup-title">"Signups are closed"</h1>
                        <p class="muted">"New accounts are created by an administrator. If you need one, ask them."</p>
                        <p class="switch">"Already have an account? "<a href="/login">"Log in"</a></p>
                    </section>
                }.into_any();
            }
            view! {
                <section class="card auth" aria-labelledby="signup-title">
                    <h1 id="signup-title">"Create an account"</h1>
                    <p class="muted">"It takes a minute. Your username defaults to your email."</p>
                    <ActionForm action=action attr:class="form" attr:novalidate=true>
                        <FormAlert error=error/>
                        <Field label="Email" name="email" kind="email" autocomplete="email" required=true autofocus=true max_length=254 error=error/>
                        <Field label="Username" name="username" autocomplete="username" max_length=64 error=error/>
                        <Field label="Password" name="password" kind="password" autocomplete="new-password" required=true strength=min hint=hint error=error/>
                        <Field label="Confirm password" name="password_confirmation" kind="password" autocomplete="new-password" required=true error=error/>
                        <Submit label="Create account" busy_label="Creating account…"/>
                    </ActionForm>
                    <crate::components::providers::ProviderButtons providers=site.providers.clone() return_to=Signal::derive(String::new)/>
                    <p class="switch">"Already have an account? "<a href="/login">"Log in"</a></p>
                </section>
            }.into_any()
        })}
    }
}
