//! `/account`: change the password; see and end your sessions.

use crate::{
    components::{
        form::{last_error, Field, FormAlert, Submit},
        guard::signed_in,
    },
    model::{describe_user_agent, short_time, SessionItem},
    server_fns::{my_sessions, ChangePassword, RevokeOtherSessions, RevokeSession},
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn AccountPage() -> impl IntoView {
    view! {
        <Title text="Your account"/>
        {signed_in(|user, site| view! {
            <div class="stack">
                <header class="page-head">
                    <p class="eyebrow">"Account"</p>
                    <h1>"Your account"</h1>
                    <p class="muted">"Signed in as "<strong>{user.username.clone()}</strong>"."</p>
                </header>
                <Notice/>
                <PasswordCard min=site.password_min_length/>
                <SessionsCard/>
            </div>
        })}
    }
}

/// What the last action did (after its redirect back here).
#[component]
fn Notice() -> impl IntoView {
    let query = use_query_map();
    move || {
        let text = match query.read().get("changed").as_deref() {
            Some("password") => "Your password was changed. Every other session was signed out.",
            Some("revoked") => "The session was signed out.",
            Some("others") => "Every other session was signed out.",
            _ => return None,
        };
        Some(view! { <div class="notice" role="status">{text}</div> })
    }
}

#[component]
fn PasswordCard(min: usize) -> impl IntoView {
    let action = ServerAction::<ChangePassword>::new();
    let error = last_error(action);
    let hint = Signal::derive(move || {
        format!("At least {min} characters. A few unrelated words make a strong, memorable password.")
    });
    view! {
        <section class="card" aria-labelledby="password-title">
            <h2 id="password-title">"Change password"</h2>
            <p class="muted">"After the change, every other device is signed out."</p>
            <ActionForm action=action attr:class="form narrow-form" attr:novalidate=true>
                <FormAlert error=error/>
                <Field label="Current password" name="current_password" kind="password" autocomplete="current-password" required=true error=error/>
                <Field label="New password" name="new_password" kind="password" autocomplete="new-password" required=true strength=min hint=hint error=error/>
                <Field label="Confirm new password" name="new_password_confirmation" kind="password" autocomplete="new-password" required=true error=error/>
                <Submit label="Change password" busy_label="Changing password…" pending=action.pending()/>
            </ActionForm>
        </section>
    }
}

#[component]
fn SessionsCard() -> impl IntoView {
    let revoke = ServerAction::<RevokeSession>::new();
    let revoke_others = ServerAction::<RevokeOtherSessions>::new();
    let sessions = Resource::new(|| (), |_| my_sessions());
    view! {
        <section class="card" aria-labelledby="sessions-title">
            <div class="card-head">
                <div>
                    <h2 id="sessions-title">"Where you’re signed in"</h2>
                    <p class="muted">"Sign out any session you don’t recognise."</p>
                </div>
                <ActionForm action=revoke_others attr:class="inline-form">
                    <button type="submit" class="btn btn-ghost" disabled=move || revoke_others.pending().get()>
                        "Sign out everywhere else"
                    </button>
                </ActionForm>
            </div>
            <Suspense fallback=|| view! { <p class="loading">"Loading sessions…"</p> }>
                {move || Suspend::new(async move {
                    match sessions.await {
                        Ok(list) => view! {
                            <ul class="sessions" data-testid="sessions">
                                {list.into_iter().map(|s| view! { <SessionRow session=s revoke=revoke/> }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(e) => view! { <div class="alert" role="alert">{e.message}</div> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn SessionRow(session: SessionItem, revoke: ServerAction<RevokeSession>) -> impl IntoView {
    let device = describe_user_agent(session.user_agent.as_deref());
    let label = format!("Sign out {device}");
    view! {
        <li class="session" class:current=session.current data-testid="session">
            <div class="session-main">
                <p class="session-device">
                    {device.clone()}
                    {session.current.then(|| view! { <span class="badge badge-admin">"This device"</span> })}
                </p>
                <p class="session-meta muted">
                    {session.ip.clone().map(|ip| format!("{ip} · ")).unwrap_or_default()}
                    "last active " <time datetime=session.last_seen_at.clone()>{short_time(&session.last_seen_at)}</time>
                    " · signed in " <time datetime=session.created_at.clone()>{short_time(&session.created_at)}</time>
                </p>
            </div>
            {(!session.current).then(|| view! {
                <ActionForm action=revoke attr:class="inline-form">
                    <input type="hidden" name="id" value=session.id.clone()/>
                    <button type="submit" class="btn btn-ghost" aria-label=label.clone() disabled=move || revoke.pending().get()>"Sign out"</button>
                </ActionForm>
            })}
        </li>
    }
}
