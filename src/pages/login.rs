//! `/login`: username or email, password, "remember me"; then `?return=` or
//! the dashboard.

use crate::{
    components::{
        form::{last_error, Field, FormAlert, Submit},
        guard::signed_out,
    },
    server_fns::Login,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn LoginPage() -> impl IntoView {
    let action = ServerAction::<Login>::new();
    let error = last_error(action);
    let query = use_query_map();
    let return_to = move || query.read().get("return").unwrap_or_default();
    let created = move || query.read().get("created");
    view! {
        <Title text="Log in"/>
        {signed_out(move |site| view! {
            <section class="card auth" aria-labelledby="login-title">
                <h1 id="login-title">"Log in"</h1>
                <p class="muted">"Welcome back. Use your username or your email address."</p>
                {move || created().map(|name| view! {
                    <div class="notice" role="status">
                        "Your account "<strong>{name}</strong>" is ready. Log in to continue."
                    </div>
                })}
                <ActionForm action=action attr:class="form" attr:novalidate=true>
                    <FormAlert error=error/>
                    <input type="hidden" name="return_to" prop:value=return_to value=return_to/>
                    <Field label="Username or email" name="username" autocomplete="username" required=true autofocus=true error=error/>
                    <Field label="Password" name="password" kind="password" autocomplete="current-password" required=true error=error/>
                    <label class="check">
                        <input type="checkbox" name="remember" value="on"/>
                        "Remember me on this device"
                    </label>
                    <Submit label="Log in" busy_label="Logging in…" pending=action.pending()/>
                </ActionForm>
                {site.signup_open.then(|| view! {
                    <p class="switch">"New here? "<a href="/signup">"Create an account"</a></p>
                })}
            </section>
        })}
    }
}
