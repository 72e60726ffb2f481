//! `/reset-password?token=…`: choose a new password with a mailed link. The
//! page only looks at the link; it is spent when the form is sent. The page
//! sends no `Referer` (the token must not leak through one).

use crate::{
    components::form::{last_error, Field, FormAlert, Submit},
    pages::links::{link_landing, token},
    server_fns::{link_details, ResetPassword},
};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn ResetPasswordPage() -> impl IntoView {
    let action = ServerAction::<ResetPassword>::new();
    let error = last_error(action);
    let token = token();
    let details = Resource::new(move || token.get(), |token| link_details("reset".into(), token));
    view! {
        <Title text="Choose a new password"/>
        {link_landing(details, "Checking the link…", "password reset", |_| "/forgot-password", move |link, site| {
            let min = site.password_min_length;
            let hint = Signal::derive(move || format!("At least {min} characters. A few unrelated words make a strong, memorable password."));
            view! {
                <section class="card auth" aria-labelledby="reset-title">
                    <h1 id="reset-title">"Choose a new password"</h1>
                    <p class="muted">"For the account "<strong>{link.username.clone()}</strong>". Every device signed in to it will be signed out."</p>
                    <ActionForm action=action attr:class="form" attr:novalidate=true>
                        <FormAlert error=error/>
                        <input type="hidden" name="token" value=move || token.get()/>
                        <Field label="New password" name="new_password" kind="password" autocomplete="new-password" required=true autofocus=true strength=min hint=hint error=error/>
                        <Field label="Confirm new password" name="new_password_confirmation" kind="password" autocomplete="new-password" required=true error=error/>
                        <Submit label="Set new password" busy_label="Saving…"/>
                    </ActionForm>
                </section>
            }
        })}
    }
}
