//! `/invite?token=…`: accept an invitation. Choose a password (and, if you
//! like, a username), and you are signed in. Works while signup is closed.
//! The page sends no `Referer`.

use crate::{
    components::form::{last_error, Field, FormAlert, Submit},
    pages::links::{link_landing, token},
    server_fns::{invitation_details, AcceptInvitation},
};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn InvitePage() -> impl IntoView {
    let action = ServerAction::<AcceptInvitation>::new();
    let error = last_error(action);
    let token = token();
    let details = Resource::new(move || token.get(), invitation_details);
    view! {
        <Title text="Accept your invitation"/>
        {link_landing(details, "Checking the invitation…", "invitation", |_| "/login", move |invitation, site| {
            let min = site.password_min_length;
            let hint = Signal::derive(move || format!("At least {min} characters. A few unrelated words make a strong, memorable password."));
            view! {
                <section class="card auth" aria-labelledby="invite-title">
                    <p class="eyebrow">"Invitation"</p>
                    <h1 id="invite-title">"Join Gatehouse"</h1>
                    <p class="muted">
                        "You are invited as "<strong>{invitation.email.clone()}</strong>
                        " with the role "<span class="badge">{invitation.role.as_str()}</span>". Choose a password to finish."
                    </p>
                    <ActionForm action=action attr:class="form" attr:novalidate=true>
                        <FormAlert error=error/>
                        <input type="hidden" name="token" value=move || token.get()/>
                        <Field label="Username" name="username" autocomplete="username" max_length=64
                            hint=Signal::derive(|| "Leave it empty to sign in with your email address.".to_string()) error=error/>
                        <Field label="Password" name="password" kind="password" autocomplete="new-password" required=true strength=min hint=hint error=error/>
                        <Field label="Confirm password" name="password_confirmation" kind="password" autocomplete="new-password" required=true error=error/>
                        <Submit label="Create my account" busy_label="Creating account…"/>
                    </ActionForm>
                </section>
            }
        })}
    }
}
