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
    // An app that sent the user here may say who it expects (`login_hint`).
    let hint = Signal::derive(move || query.read().get("login_hint").unwrap_or_default());
    let notice = move || {
        let q = query.read();
        if q.get("signed_out").is_some() {
            Some("You are signed out.")
        } else if q.get("reset").is_some() {
            Some("Your password was changed and every device was signed out. Log in with your new password.")
        } else if q.get("verified").is_some() {
            Some("Your email address is verified. Log in to continue.")
        } else if q.get("email_changed").is_some() {
            Some("Your new email address is confirmed. Log in with it (or your username).")
        } else {
            None
        }
    };
    let unverified = Signal::derive(move || {
        error
            .get()
            .is_some_and(|e| e.status == 403 && e.message == "email not verified")
    });
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
                {move || notice().map(|text| view! { <div class="notice" role="status">{text}</div> })}
                <ActionForm action=action attr:class="form" attr:novalidate=true>
                    <Show when=move || unverified.get() fallback=move || view! { <FormAlert error=error/> }>
                        <div class="alert" role="alert" data-testid="unverified">
                            "Your email address is not verified yet. We mailed you a link (at most one every five minutes): open it, then log in."
                        </div>
                    </Show>
                    <input type="hidden" name="return_to" prop:value=return_to value=return_to/>
                    <Field label="Username or email" name="username" autocomplete="username webauthn" required=true autofocus=true value=hint error=error/>
                    <Field label="Password" name="password" kind="password" autocomplete="current-password" required=true error=error/>
                    {site.mail_enabled.then(|| view! {
                        <p class="field-link"><a href="/forgot-password">"Forgot password?"</a></p>
                    })}
                    <label class="check">
                        <input type="checkbox" name="remember" value="on"/>
                        "Remember me on this device"
                    </label>
                    <Submit label="Log in" busy_label="Logging in…"/>
                </ActionForm>
                {site.passkeys.then(|| view! {
                    <div class="passkey-box" data-passkey-scope="">
                        <div class="divider" role="presentation"><span>"or"</span></div>
                        <button type="button" class="btn btn-ghost btn-wide needs-js" data-passkey="login"
                            data-return=return_to>
                            "Sign in with a passkey"
                        </button>
                        <p class="muted small center no-js-only">"Passkeys need JavaScript, which is off in this browser."</p>
                        <p class="passkey-status" aria-live="polite" data-passkey-status=""></p>
                    </div>
                })}
                <crate::components::providers::ProviderButtons providers=site.providers.clone() return_to=Signal::derive(return_to) no_divider=site.passkeys/>
                {site.signup_open.then(|| view! {
                    <p class="switch">"New here? "<a href="/signup">"Create an account"</a></p>
                })}
            </section>
        })}
    }
}
