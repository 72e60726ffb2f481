//! `/forgot-password`: an email address; a reset link goes there if it has
//! an account. The answer never says whether it does.

use crate::{
    components::form::{last_error, Field, FormAlert, Submit},
    pages::errors::NotFound,
    server_fns::ForgotPassword,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn ForgotPasswordPage() -> impl IntoView {
    let action = ServerAction::<ForgotPassword>::new();
    let error = last_error(action);
    let query = use_query_map();
    let sent = move || query.read().get("sent").is_some();
    view! {
        <Title text="Forgot your password?"/>
        {crate::components::guard::any_visitor(move |site| {
            if !site.mail_enabled {
                return view! { <NotFound/> }.into_any();
            }
            view! {
                <section class="card auth" aria-labelledby="forgot-title">
                    <h1 id="forgot-title">"Forgot your password?"</h1>
                    <Show
                        when=sent
                        fallback=move || view! {
                            <p class="muted">"Enter the email address of your account. We will mail you a link to choose a new password."</p>
                            <ActionForm action=action attr:class="form" attr:novalidate=true>
                                <FormAlert error=error/>
                                <Field label="Email" name="email" kind="email" autocomplete="email" required=true autofocus=true max_length=254 error=error/>
                                <Submit label="Send me a link" busy_label="Sending…"/>
                            </ActionForm>
                        }
                    >
                        <div class="notice" role="status" data-testid="forgot-sent">
                            "If an account has this address, a link to reset its password is on its way. Check your inbox (and the spam folder); the link works for a short while only."
                        </div>
                        <p class="muted small">"No mail after a few minutes? Check the address and "<a href="/forgot-password" rel="external">"try again"</a>"."</p>
                    </Show>
                    <p class="switch">"Remembered it? "<a href="/login">"Log in"</a></p>
                </section>
            }.into_any()
        })}
    }
}
