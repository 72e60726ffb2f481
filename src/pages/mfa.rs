//! `/login/mfa`: the second step of a sign-in, for an account with a second
//! factor: a code from the authenticator app, a recovery code, or a passkey.
//! Nothing is signed in until it is done.

use crate::{
    components::form::{last_error, Field, FormAlert, Submit},
    server_fns::{mfa_step, VerifySecondFactor},
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn SecondFactorPage() -> impl IntoView {
    let action = ServerAction::<VerifySecondFactor>::new();
    let error = last_error(action);
    let query = use_query_map();
    let return_to = move || query.read().get("return").unwrap_or_default();
    let methods = Resource::new(|| (), |_| mfa_step());
    view! {
        <Title text="Second step"/>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match methods.await {
                    Err(e) => view! {
                        <section class="card auth" aria-labelledby="mfa-title">
                            <h1 id="mfa-title">"Sign in again"</h1>
                            <div class="alert" role="alert">{e.message}</div>
                            <a class="btn btn-primary" href="/login">"Log in"</a>
                        </section>
                    }.into_any(),
                    Ok(methods) => {
                        let has = |m: &str| methods.iter().any(|x| x == m);
                        let (totp, recovery, passkey) = (has("totp"), has("recovery"), has("passkey"));
                        let label = match (totp, recovery) {
                            (true, true) => "Code from your app, or a recovery code",
                            (true, false) => "Code from your app",
                            _ => "Recovery code",
                        };
                        view! {
                            <section class="card auth" aria-labelledby="mfa-title">
                                <p class="eyebrow">"Step 2 of 2"</p>
                                <h1 id="mfa-title">"Confirm it’s you"</h1>
                                <p class="muted">
                                    {if totp { "Open your authenticator app and enter the 6-digit code for Gatehouse." } else { "Use a passkey, or one of your recovery codes." }}
                                </p>
                                {(totp || recovery).then(|| view! {
                                    <ActionForm action=action attr:class="form" attr:novalidate=true>
                                        <FormAlert error=error/>
                                        <input type="hidden" name="return_to" prop:value=return_to value=return_to/>
                                        <Field label=label name="code" autocomplete="one-time-code" required=true autofocus=true max_length=32 error=error/>
                                        <Submit label="Continue" busy_label="Checking…"/>
                                    </ActionForm>
                                })}
                                {recovery.then(|| view! { <p class="muted small">"Lost your device? Each recovery code works once."</p> })}
                                {passkey.then(|| view! {
                                    <div class="passkey-box" data-passkey-scope="">
                                        {(totp || recovery).then(|| view! { <div class="divider" role="presentation"><span>"or"</span></div> })}
                                        <button type="button" class="btn btn-ghost btn-wide needs-js" data-passkey="second-factor"
                                            data-return=return_to>
                                            "Use a passkey"
                                        </button>
                                        <p class="muted small center no-js-only">"Passkeys need JavaScript, which is off in this browser."</p>
                                        <p class="passkey-status" aria-live="polite" data-passkey-status=""></p>
                                    </div>
                                })}
                                <p class="switch"><a href="/login">"Start over"</a></p>
                            </section>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}
