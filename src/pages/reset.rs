//! `/reset-password?token=…`: choose a new password with a mailed link. The
//! page only looks at the link; it is spent when the form is sent. The page
//! sends no `Referer` (the token must not leak through one).

use crate::{
    components::form::{last_error, Field, FormAlert, Submit},
    pages::{errors::NotFound, links::InvalidLink},
    server_fns::{link_details, ResetPassword},
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn ResetPasswordPage() -> impl IntoView {
    let action = ServerAction::<ResetPassword>::new();
    let error = last_error(action);
    let query = use_query_map();
    let token = move || query.read().get("token").unwrap_or_default();
    let details = Resource::new(token, |token| link_details("reset".into(), token));
    view! {
        <Title text="Choose a new password"/>
        {crate::components::guard::any_visitor(move |site| {
            if !site.mail_enabled {
                return view! { <NotFound/> }.into_any();
            }
            let min = site.password_min_length;
            let hint = Signal::derive(move || format!("At least {min} characters. A few unrelated words make a strong, memorable password."));
            view! {
                <Suspense fallback=|| view! { <p class="loading">"Checking the link…"</p> }>
                    {move || Suspend::new(async move {
                        match details.await {
                            Err(_) => view! { <InvalidLink what="password reset" again="/forgot-password"/> }.into_any(),
                            Ok(link) => view! {
                                <section class="card auth" aria-labelledby="reset-title">
                                    <h1 id="reset-title">"Choose a new password"</h1>
                                    <p class="muted">"For the account "<strong>{link.username.clone()}</strong>". Every device signed in to it will be signed out."</p>
                                    <ActionForm action=action attr:class="form" attr:novalidate=true>
                                        <FormAlert error=error/>
                                        <input type="hidden" name="token" value=token()/>
                                        <Field label="New password" name="new_password" kind="password" autocomplete="new-password" required=true autofocus=true strength=min hint=hint error=error/>
                                        <Field label="Confirm new password" name="new_password_confirmation" kind="password" autocomplete="new-password" required=true error=error/>
                                        <Submit label="Set new password" busy_label="Saving…" pending=action.pending()/>
                                    </ActionForm>
                                </section>
                            }.into_any(),
                        }
                    })}
                </Suspense>
            }.into_any()
        })}
    }
}
