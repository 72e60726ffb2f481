//! `/account`: second factors and passkeys, the email address, the
//! password, and the sessions.

use crate::components::islands::SendsForm;
use crate::{
    components::{
        form::{last_error, Field, FormAlert, Submit},
        guard::signed_in,
    },
    model::{describe_user_agent, short_time, SessionItem, UserView},
    pages::security::SecurityCard,
    server_fns::{
        my_sessions, ChangeEmail, ChangePassword, ResendVerification, RevokeOtherSessions, RevokeSession,
        SiteInfo,
    },
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
                {site.mfa_enrolment_required.then(|| view! {
                    <div class="alert" role="alert" data-testid="enrol-required">
                        "Your administrator requires a second factor. Set up an authenticator app or a passkey below to use your account."
                    </div>
                })}
                <SecurityCard site=site.clone()/>
                <EmailCard user=user.clone() site=site.clone()/>
                <PasswordCard min=site.password_min_length has_password=site.has_password/>
                {(!site.providers.is_empty()).then(|| view! { <ProvidersCard/> })}
                <SessionsCard/>
                <AppsCard/>
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
            Some("verified") => "Your email address is verified.",
            Some("verification_sent") => "A new verification link is on its way to your inbox.",
            Some("email_requested") => "Check the inbox of your new address: the change happens when you open the link we sent there.",
            Some("email") => "Your new email address is confirmed.",
            Some("totp_off") => "The authenticator app is turned off.",
            Some("passkey_added") => "The passkey was added.",
            Some("passkey_renamed") => "The passkey was renamed.",
            Some("passkey_deleted") => "The passkey was removed.",
            Some("factors_removed") => "Every second factor was removed. Set up your own again below.",
            Some("factors_kept") => "Thanks: your second factors stay as they are.",
            Some("unlinked") => "The provider was unlinked: it no longer signs you in here.",
            Some("unlinked_ended") => "The provider was unlinked: it no longer signs you in here, and the sessions it signed in elsewhere were signed out.",
            Some("app_disconnected") => "The app was disconnected: it can no longer sign you in without asking again.",
            _ => return None,
        };
        Some(view! { <div class="notice" role="status">{text}</div> })
    }
}

#[component]
fn EmailCard(user: UserView, site: SiteInfo) -> impl IntoView {
    let resend = ServerAction::<ResendVerification>::new();
    let resend_error = last_error(resend);
    let change = ServerAction::<ChangeEmail>::new();
    let error = last_error(change);
    let status = match (&user.email, user.email_verified) {
        (None, _) => view! { <span class="badge">"No email"</span> }.into_any(),
        (Some(_), true) => {
            view! { <span class="badge badge-ok" data-testid="email-status">"Verified"</span> }.into_any()
        }
        (Some(_), false) => {
            view! { <span class="badge badge-warn" data-testid="email-status">"Not verified"</span> }
                .into_any()
        }
    };
    let can_resend =
        site.mail_enabled && site.email_verification != "off" && user.email.is_some() && !user.email_verified;
    view! {
        <section class="card" aria-labelledby="email-title">
            <h2 id="email-title">"Email address"</h2>
            <p class="email-line">
                <strong data-testid="account-email">{user.email.clone().unwrap_or_else(|| "No email address".into())}</strong>
                " " {status}
            </p>
            {can_resend.then(|| view! {
                <ActionForm action=resend attr:class="inline-form">
                    <FormAlert error=resend_error/>
                    <SendsForm><button type="submit" class="btn btn-ghost">"Resend the verification link"</button></SendsForm>
                </ActionForm>
            })}
            {if site.mail_enabled {
                view! {
                    <h3 class="subhead">"Change email"</h3>
                    <p class="muted">"We send a link to the new address; the change happens when you open it. Your current address gets a notice."</p>
                    <ActionForm action=change attr:class="form narrow-form" attr:novalidate=true>
                        <FormAlert error=error/>
                        <Field label="New email" name="new_email" kind="email" autocomplete="email" required=true max_length=254 error=error/>
                        <Field label="Your password" name="password" kind="password" autocomplete="current-password" required=true error=error/>
                        <Submit label="Send confirmation link" busy_label="Sending…"/>
                    </ActionForm>
                }.into_any()
            } else {
                view! { <p class="muted">"Changing the address needs mail, which this site has not set up. Ask an administrator."</p> }.into_any()
            }}
        </section>
    }
}

#[component]
fn PasswordCard(min: usize, has_password: bool) -> impl IntoView {
    let action = ServerAction::<ChangePassword>::new();
    let error = last_error(action);
    let hint = Signal::derive(move || {
        format!("At least {min} characters. A few unrelated words make a strong, memorable password.")
    });
    view! {
        <section class="card" aria-labelledby="password-title">
            <h2 id="password-title">{if has_password { "Change password" } else { "Set a password" }}</h2>
            <p class="muted">{if has_password {
                "After the change, every other device is signed out."
            } else {
                "You sign in through another provider. A password lets you sign in here directly too."
            }}</p>
            <ActionForm action=action attr:class="form narrow-form" attr:novalidate=true>
                <FormAlert error=error/>
                {has_password.then(|| view! {
                    <Field label="Current password" name="current_password" kind="password" autocomplete="current-password" required=true error=error/>
                })}
                <Field label="New password" name="new_password" kind="password" autocomplete="new-password" required=true strength=min hint=hint error=error/>
                <Field label="Confirm new password" name="new_password_confirmation" kind="password" autocomplete="new-password" required=true error=error/>
                <Submit label=if has_password { "Change password" } else { "Set password" } busy_label="Saving password…"/>
            </ActionForm>
        </section>
    }
}

#[component]
fn SessionsCard() -> impl IntoView {
    let revoke = ServerAction::<RevokeSession>::new();
    let revoke_others = ServerAction::<RevokeOtherSessions>::new();
    let query = use_query_map();
    // `?sessions=N`: the page of the list (20 a page; the first has this one).
    let page = move || query.read().get("sessions").and_then(|p| p.parse::<u32>().ok());
    let sessions = Resource::new(page, my_sessions);
    view! {
        <section class="card" id="sessions" aria-labelledby="sessions-title">
            <div class="card-head">
                <div>
                    <h2 id="sessions-title">"Where you’re signed in"</h2>
                    <p class="muted">"Sign out any session you don’t recognise."</p>
                </div>
                <ActionForm action=revoke_others attr:class="inline-form">
                    <SendsForm>
                        <button type="submit" class="btn btn-ghost">"Sign out everywhere else"</button>
                    </SendsForm>
                </ActionForm>
            </div>
            <Suspense fallback=|| view! { <p class="loading">"Loading sessions…"</p> }>
                {move || Suspend::new(async move {
                    match sessions.await {
                        Ok(list) => {
                            let pager = (list.total > u64::from(list.per_page) || list.page > 1).then(|| {
                                let first = u64::from(list.page - 1) * u64::from(list.per_page);
                                let shown = if list.sessions.is_empty() {
                                    format!("No sessions on this page; you have {} in all", list.total)
                                } else {
                                    format!("{}–{} of {} sessions", first + 1, first + list.sessions.len() as u64, list.total)
                                };
                                let newer = (list.page > 1).then(|| format!("/account?sessions={}#sessions", list.page - 1));
                                let older = list.has_next().then(|| format!("/account?sessions={}#sessions", list.page + 1));
                                view! {
                                    <nav class="pager" aria-label="Session pages">
                                        <span class="muted" data-testid="sessions-shown">{shown}</span>
                                        {newer.map(|href| view! { <a href=href>"Newer"</a> })}
                                        {older.map(|href| view! { <a href=href data-testid="sessions-older">"Older"</a> })}
                                    </nav>
                                }
                            });
                            view! {
                                <ul class="sessions" data-testid="sessions">
                                    {list.sessions.into_iter().map(|s| view! { <SessionRow session=s revoke=revoke/> }).collect_view()}
                                </ul>
                                {pager}
                            }.into_any()
                        }
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
                    <SendsForm><button type="submit" class="btn btn-ghost" aria-label=label.clone()>"Sign out"</button></SendsForm>
                </ActionForm>
            })}
        </li>
    }
}

/// The identity providers: linked ones (unlink), the others (link).
#[component]
fn ProvidersCard() -> impl IntoView {
    let unlink = ServerAction::<crate::server_fns::UnlinkProvider>::new();
    let error = last_error(unlink);
    let list = Resource::new(|| (), |_| crate::server_fns::my_identities());
    let query = use_query_map();
    let linked_now = move || query.read().get("linked");
    view! {
        <section class="card" id="providers" aria-labelledby="providers-title">
            <h2 id="providers-title">"Sign-in providers"</h2>
            <p class="muted">"Accounts elsewhere you can sign in with. Linking asks you to sign in there."</p>
            {move || linked_now().map(|_| view! { <div class="notice" role="status">"The provider was linked: you can sign in with it now."</div> })}
            <FormAlert error=error/>
            <Suspense fallback=|| view! { <p class="loading">"Loading providers…"</p> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Ok(items) => view! {
                            <ul class="sessions" data-testid="identities">
                                {items.into_iter().map(|item| {
                                    let provider = item.provider.clone();
                                    let unlink_label = format!("Unlink {}", item.name);
                                    let link_href = crate::model::provider_start_url(&item.provider, "", Some("link"));
                                    view! {
                                        <li class="session" data-testid="identity" data-provider=item.provider.clone()>
                                            <div class="session-main">
                                                <p class="session-device">{item.name.clone()}</p>
                                                <p class="session-meta muted">{match (&item.linked, &item.email, &item.linked_at) {
                                                    (true, email, Some(at)) => format!(
                                                        "Linked{} · {}",
                                                        email.as_deref().map(|e| format!(" as {e}")).unwrap_or_default(),
                                                        short_time(at)
                                                    ),
                                                    _ => "Not linked".to_string(),
                                                }}</p>
                                            </div>
                                            {if item.linked {
                                                view! {
                                                    <ActionForm action=unlink attr:class="inline-form">
                                                        <input type="hidden" name="provider" value=provider.clone()/>
                                                        <SendsForm><button type="submit" class="btn btn-ghost" aria-label=unlink_label>"Unlink"</button></SendsForm>
                                                    </ActionForm>
                                                }.into_any()
                                            } else {
                                                view! { <a class="btn btn-ghost" href=link_href rel="external">"Link "{item.name.clone()}</a> }.into_any()
                                            }}
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(e) => view! { <div class="alert" role="alert">{e.message}</div> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// The apps the user allowed to sign them in through Gatehouse.
#[component]
fn AppsCard() -> impl IntoView {
    let disconnect = ServerAction::<crate::server_fns::DisconnectApp>::new();
    let error = crate::components::form::last_error(disconnect);
    let apps = Resource::new(|| (), |_| crate::server_fns::my_apps());
    view! {
        <section class="card" id="apps" aria-labelledby="apps-title">
            <h2 id="apps-title">"Connected apps"</h2>
            <p class="muted">"Apps you allowed to sign you in with this account. Disconnecting one ends its access; it asks again next time."</p>
            <crate::components::form::FormAlert error=error/>
            <Suspense fallback=|| view! { <p class="loading">"Loading apps…"</p> }>
                {move || Suspend::new(async move {
                    match apps.await {
                        Ok(list) if list.is_empty() => view! { <p class="muted" data-testid="no-apps">"No apps yet."</p> }.into_any(),
                        Ok(list) => view! {
                            <ul class="sessions" data-testid="apps">
                                {list.into_iter().map(|app| {
                                    let label = format!("Disconnect {}", app.name);
                                    view! {
                                        <li class="session" data-testid="app">
                                            <div class="session-main">
                                                <p class="session-device">{app.name.clone()}</p>
                                                <p class="session-meta muted">
                                                    {app.allowed.join(", ")}
                                                    " · allowed " <time datetime=app.granted_at.clone()>{short_time(&app.granted_at)}</time>
                                                </p>
                                            </div>
                                            <ActionForm action=disconnect attr:class="inline-form">
                                                <input type="hidden" name="client_id" value=app.client_id.clone()/>
                                                <SendsForm><button type="submit" class="btn btn-ghost" aria-label=label>"Disconnect"</button></SendsForm>
                                            </ActionForm>
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(e) => view! { <div class="alert" role="alert">{e.message}</div> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
