//! `/admin`: the users (role, status, lock, sessions) and the audit log. For
//! admins only: others get the 403 page, and every server function behind it
//! checks the role again.

use crate::components::islands::SendsForm;
use crate::{
    components::{
        form::{last_error, Field, FormAlert, LastError, Submit},
        guard::signed_in,
    },
    model::{short_time, AdminData, AdminUserItem, AuditItem, InvitationItem, MailItem, Role, UserView},
    pages::errors::Forbidden,
    server_fns::{
        admin_overview, AdminCreateUser, AdminInvite, AdminResetMfa, AdminRetryMail, AdminRevokeInvitation,
        AdminSetDisabled, AdminSetRole, AdminSignOut, AdminUnlock,
    },
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn AdminPage() -> impl IntoView {
    view! {
        <Title text="Admin"/>
        {signed_in(|user, site| {
            if user.role != Role::Admin {
                view! { <Forbidden/> }.into_any()
            } else {
                view! { <AdminArea me=user mail=site.mail_enabled/> }.into_any()
            }
        })}
    }
}

/// The actions of the user rows, created once and shared by every row.
#[derive(Clone, Copy)]
struct Actions {
    role: ServerAction<AdminSetRole>,
    disabled: ServerAction<AdminSetDisabled>,
    unlock: ServerAction<AdminUnlock>,
    sign_out: ServerAction<AdminSignOut>,
    revoke_invitation: ServerAction<AdminRevokeInvitation>,
    retry_mail: ServerAction<AdminRetryMail>,
    reset_mfa: ServerAction<AdminResetMfa>,
}

#[component]
fn AdminArea(me: UserView, mail: bool) -> impl IntoView {
    let query = use_query_map();
    let actions = Actions {
        role: ServerAction::new(),
        disabled: ServerAction::new(),
        unlock: ServerAction::new(),
        sign_out: ServerAction::new(),
        revoke_invitation: ServerAction::new(),
        retry_mail: ServerAction::new(),
        reset_mfa: ServerAction::new(),
    };
    let errors: Vec<LastError> = vec![
        last_error(actions.role),
        last_error(actions.disabled),
        last_error(actions.unlock),
        last_error(actions.sign_out),
        last_error(actions.revoke_invitation),
        last_error(actions.retry_mail),
        last_error(actions.reset_mfa),
    ];
    let filters = move || {
        let q = query.read();
        let get = |key: &str| q.get(key).filter(|s| !s.is_empty());
        (
            (get("q"), get("role"), get("status"), get("after")),
            (
                get("user"),
                get("event"),
                q.get("before").and_then(|b| b.parse::<i64>().ok()),
            ),
        )
    };
    let data = Resource::new(filters, |((q, role, status, after), (user, event, before))| {
        admin_overview(q, role, status, after, user, event, before)
    });
    view! {
        <div class="stack">
            <header class="page-head">
                <p class="eyebrow">"Admin"</p>
                <h1>"Users and activity"</h1>
                <p class="muted">"Change roles, disable or unlock accounts, sign people out, and see what happened."</p>
                <p><a href="/admin/clients">"Apps that sign in with Gatehouse (OpenID Connect) →"</a></p>
            </header>
            <Done/>
            {errors.into_iter().map(|error| view! { <FormAlert error=error/> }).collect_view()}
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || {
                    let me = me.clone();
                    Suspend::new(async move {
                        match data.await {
                            Ok(data) => view! { <Panels data=data me=me actions=actions/> }.into_any(),
                            Err(e) => view! { <div class="alert" role="alert">{e.message}</div> }.into_any(),
                        }
                    })
                }}
            </Suspense>
            {mail.then(|| view! { <Invite/> })}
            <CreateUser/>
        </div>
    }
}

/// What the last action did (after its redirect back here).
#[component]
fn Done() -> impl IntoView {
    let query = use_query_map();
    move || {
        let text = match query.read().get("done").as_deref() {
            Some("role") => "The role was changed.",
            Some("disabled") => "The account was disabled and signed out everywhere.",
            Some("enabled") => "The account was enabled.",
            Some("unlocked") => "The account was unlocked.",
            Some("signed_out") => "The user was signed out everywhere.",
            Some("created") => "The account was created.",
            Some("invited") => "The invitation is on its way.",
            Some("invitation_revoked") => "The invitation was revoked; its link no longer works.",
            Some("mail_retried") => "The message was queued again.",
            Some("mfa_reset") => "The user's second factors were removed and their sessions ended.",
            _ => return None,
        };
        Some(view! { <div class="notice" role="status">{text}</div> })
    }
}

#[component]
fn Panels(data: AdminData, me: UserView, actions: Actions) -> impl IntoView {
    let AdminData {
        users,
        users_next,
        audit,
        older,
        events,
        invitations,
        mail,
    } = data;
    let query = use_query_map();
    let current = |key: &str| query.read_untracked().get(key).unwrap_or_default();
    let (search, role, status) = (current("q"), current("role"), current("status"));
    let paged = !current("after").is_empty();
    // The next page keeps the filters.
    let filter_query = {
        let mut pairs = Vec::new();
        for (key, value) in [("q", &search), ("role", &role), ("status", &status)] {
            if !value.is_empty() {
                pairs.push(format!("{key}={}", crate::model::encode_return(value)));
            }
        }
        pairs.join("&")
    };
    let first_href = if filter_query.is_empty() {
        "/admin".to_string()
    } else {
        format!("/admin?{filter_query}")
    };
    let next_href = users_next.map(|after| {
        let after = format!("after={}", crate::model::encode_return(&after));
        if filter_query.is_empty() {
            format!("/admin?{after}")
        } else {
            format!("/admin?{filter_query}&{after}")
        }
    });
    let filtered = !(search.is_empty() && role.is_empty() && status.is_empty());
    let status_option = move |value: &'static str, label: &'static str| {
        view! { <option value=value selected=status == value>{label}</option> }
    };
    view! {
        <section class="card" aria-labelledby="users-title">
            <div class="card-head">
                <h2 id="users-title">"Users"</h2>
                <form method="get" action="/admin" class="filters" role="search" aria-label="Find users">
                    <label>
                        <span>"Search"</span>
                        <input type="search" name="q" value=search.clone() placeholder="Username or email starts with…"
                            autocomplete="off" spellcheck="false"/>
                    </label>
                    <label>
                        <span>"Role"</span>
                        <select name="role">
                            <option value="" selected=role.is_empty()>"Any role"</option>
                            <option value="admin" selected=role == "admin">"Admin"</option>
                            <option value="user" selected=role == "user">"User"</option>
                        </select>
                    </label>
                    <label>
                        <span>"Status"</span>
                        <select name="status">
                            {status_option("", "Any status")}
                            {status_option("active", "Active")}
                            {status_option("disabled", "Disabled")}
                            {status_option("locked", "Locked")}
                            {status_option("unverified", "Email not verified")}
                        </select>
                    </label>
                    <button type="submit" class="btn btn-ghost btn-compact">"Find"</button>
                </form>
            </div>
            <div class="table-wrap">
                <table class="table" data-testid="users">
                    <thead>
                        <tr>
                            <th scope="col">"User"</th>
                            <th scope="col">"Role"</th>
                            <th scope="col">"Status"</th>
                            <th scope="col">"Created"</th>
                            <th scope="col">"Last login"</th>
                            <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                        </tr>
                    </thead>
                    <tbody>
                        {if users.is_empty() {
                            view! { <tr><td colspan="6" class="muted">"No user matches."</td></tr> }.into_any()
                        } else {
                            users.into_iter().map(|u| {
                                let is_me = u.user.id == me.id;
                                view! { <UserRow user=u is_me=is_me actions=actions/> }
                            }).collect_view().into_any()
                        }}
                    </tbody>
                </table>
            </div>
            <nav class="pager" aria-label="User pages">
                {(paged || filtered).then(|| view! {
                    <a href=if paged { first_href.clone() } else { "/admin".to_string() } rel="external">
                        {if paged { "First page" } else { "Everyone" }}
                    </a>
                })}
                {next_href.map(|href| view! { <a href=href rel="external" data-testid="users-next">"Next page"</a> })}
            </nav>
        </section>
        {(!invitations.is_empty()).then(|| view! { <Invitations invitations=invitations actions=actions/> })}
        {(!mail.is_empty()).then(|| view! { <Undelivered mail=mail actions=actions/> })}
        <AuditPanel audit=audit older=older events=events/>
    }
}

#[component]
fn Invitations(invitations: Vec<InvitationItem>, actions: Actions) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="invitations-title">
            <h2 id="invitations-title">"Pending invitations " <span class="count">{format!("({})", invitations.len())}</span></h2>
            <div class="table-wrap">
                <table class="table" data-testid="invitations">
                    <thead>
                        <tr>
                            <th scope="col">"Email"</th>
                            <th scope="col">"Role"</th>
                            <th scope="col">"Expires"</th>
                            <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                        </tr>
                    </thead>
                    <tbody>
                        {invitations.into_iter().map(|i| {
                            let label = format!("Revoke the invitation of {}", i.email);
                            view! {
                            <tr data-testid="invitation-row" data-email=i.email.clone()>
                                <td>{i.email.clone()}</td>
                                <td><span class="badge" class:badge-admin=i.role == Role::Admin>{i.role.as_str()}</span></td>
                                <td><time datetime=i.expires_at.clone()>{short_time(&i.expires_at)}</time></td>
                                <td>
                                    <ActionForm action=actions.revoke_invitation attr:class="inline-form">
                                        <input type="hidden" name="id" value=i.id.clone()/>
                                        <SendsForm><button type="submit" class="btn btn-ghost btn-compact btn-danger" aria-label=label>"Revoke"</button></SendsForm>
                                    </ActionForm>
                                </td>
                            </tr>
                        }}).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}

#[component]
fn Undelivered(mail: Vec<MailItem>, actions: Actions) -> impl IntoView {
    let failed = mail.iter().filter(|m| m.status == "failed").count();
    view! {
        <section class="card" aria-labelledby="mail-title">
            <h2 id="mail-title">"Undelivered mail " <span class="count">{format!("({})", mail.len())}</span></h2>
            <p class="muted">
                {if failed > 0 {
                    format!("{failed} message(s) failed after every retry. Check the mail server setting (GATEHOUSE_SMTP_URL), then retry them.")
                } else {
                    "These are waiting to go out; the sender retries with growing pauses.".to_string()
                }}
            </p>
            <div class="table-wrap">
                <table class="table" data-testid="mail">
                    <thead>
                        <tr>
                            <th scope="col">"To"</th>
                            <th scope="col">"Subject"</th>
                            <th scope="col">"Status"</th>
                            <th scope="col">"Last error"</th>
                            <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                        </tr>
                    </thead>
                    <tbody>
                        {mail.into_iter().map(|m| {
                            let is_failed = m.status == "failed";
                            view! {
                                <tr data-testid="mail-row" data-status=m.status.clone()>
                                    <td>{m.recipient.clone()}</td>
                                    <td>{m.subject.clone()}<br/><span class="muted small"><time datetime=m.created_at.clone()>{short_time(&m.created_at)}</time></span></td>
                                    <td><span class="badge" class:badge-danger=is_failed>{format!("{} · {} attempt(s)", m.status, m.attempts)}</span></td>
                                    <td class="detail">{m.last_error.clone().unwrap_or_default()}</td>
                                    <td>
                                        {is_failed.then(|| view! {
                                            <ActionForm action=actions.retry_mail attr:class="inline-form">
                                                <input type="hidden" name="id" value=m.id.clone()/>
                                                <SendsForm><button type="submit" class="btn btn-ghost btn-compact" aria-label=format!("Retry the mail to {}", m.recipient)>"Retry"</button></SendsForm>
                                            </ActionForm>
                                        })}
                                    </td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}

#[component]
fn Invite() -> impl IntoView {
    let action = ServerAction::<AdminInvite>::new();
    let error = last_error(action);
    view! {
        <section class="card" aria-labelledby="invite-title">
            <h2 id="invite-title">"Invite someone"</h2>
            <p class="muted">"They get a link (good for 7 days) to choose a password; their address counts as verified. Works while signup is closed."</p>
            <ActionForm action=action attr:class="form narrow-form" attr:novalidate=true>
                <FormAlert error=error/>
                <Field label="Email" name="invite_email" kind="email" autocomplete="off" required=true max_length=254 error=error/>
                <div class="field">
                    <label for="invite_role">"Role"</label>
                    <select id="invite_role" name="invite_role">
                        <option value="user" selected=true>"user"</option>
                        <option value="admin">"admin"</option>
                    </select>
                </div>
                <Submit label="Send invitation" busy_label="Sending…"/>
            </ActionForm>
        </section>
    }
}

#[component]
fn UserRow(user: AdminUserItem, is_me: bool, actions: Actions) -> impl IntoView {
    let AdminUserItem {
        user:
            UserView {
                id,
                username,
                email,
                role,
                created_at,
                email_verified,
            },
        last_login_at,
        disabled,
        locked_until,
        mfa_enabled,
        providers,
    } = user;
    let (role_to, role_label) = match role {
        Role::Admin => ("user", "Make user"),
        Role::User => ("admin", "Make admin"),
    };
    let status = match (disabled, &locked_until) {
        (true, _) => view! { <span class="badge badge-danger">"Disabled"</span> }.into_any(),
        (false, Some(until)) => view! { <span class="badge badge-warn" title=until.clone()>{format!("Locked until {}", short_time(until))}</span> }.into_any(),
        (false, None) => view! { <span class="badge">"Active"</span> }.into_any(),
    };
    let hidden_id = |id: &str| view! { <input type="hidden" name="id" value=id.to_string()/> };
    let change_forms = (!is_me).then(|| {
        let toggle = if disabled { "Enable" } else { "Disable" };
        let (id, id2, username, username2) = (id.clone(), id.clone(), username.clone(), username.clone());
        view! {
            <ActionForm action=actions.role attr:class="inline-form">
                {hidden_id(&id)}
                <input type="hidden" name="role" value=role_to/>
                <SendsForm><button type="submit" class="btn btn-ghost btn-compact" aria-label=format!("{role_label}: {username}")>{role_label}</button></SendsForm>
            </ActionForm>
            <ActionForm action=actions.disabled attr:class="inline-form">
                {hidden_id(&id2)}
                <input type="hidden" name="disabled" value=if disabled { "false" } else { "true" }/>
                <SendsForm>
                    <button type="submit" class="btn btn-ghost btn-compact" class:btn-danger=!disabled aria-label=format!("{toggle}: {username2}")>
                        {toggle}
                    </button>
                </SendsForm>
            </ActionForm>
        }
    });
    let unlock_form = locked_until.is_some().then(|| {
        let (id, username) = (id.clone(), username.clone());
        view! {
        <ActionForm action=actions.unlock attr:class="inline-form">
            {hidden_id(&id)}
            <SendsForm><button type="submit" class="btn btn-ghost btn-compact" aria-label=format!("Unlock: {username}")>"Unlock"</button></SendsForm>
        </ActionForm>
        }
    });
    let reset_mfa_form = (!is_me && mfa_enabled).then(|| {
        let (id, username) = (id.clone(), username.clone());
        view! {
        <ActionForm action=actions.reset_mfa attr:class="inline-form">
            {hidden_id(&id)}
            <SendsForm><button type="submit" class="btn btn-ghost btn-compact" aria-label=format!("Reset the second factors of {username}")>"Reset 2FA"</button></SendsForm>
        </ActionForm>
        }
    });
    let sign_out_form = (!is_me).then(|| {
        let (id, username) = (id.clone(), username.clone());
        view! {
        <ActionForm action=actions.sign_out attr:class="inline-form">
            {hidden_id(&id)}
            <SendsForm><button type="submit" class="btn btn-ghost btn-compact" aria-label=format!("Sign out everywhere: {username}")>"Sign out"</button></SendsForm>
        </ActionForm>
        }
    });
    let since = created_at.get(..10).unwrap_or("").to_string();
    let last_login = last_login_at
        .as_deref()
        .map(short_time)
        .unwrap_or_else(|| "never".to_string());
    view! {
        <tr data-testid="user-row" data-username=username.clone() class:row-disabled=disabled>
            <td>
                <div class="user-cell">
                    <span>
                        <strong>{username.clone()}</strong>
                        {is_me.then(|| view! { <span class="muted">" (you)"</span> })}
                    </span>
                    <span class="muted small">
                        {email.clone().unwrap_or_default()}
                        {(email.is_some() && !email_verified).then(|| view! { " " <span class="badge badge-warn badge-tiny">"unverified"</span> })}
                    </span>
                </div>
            </td>
            <td>
                <span class="badge" class:badge-admin=role == Role::Admin>{role.as_str()}</span>
                {mfa_enabled.then(|| view! { " " <span class="badge badge-ok badge-tiny" title="A second factor is set up">"2FA"</span> })}
                {providers.into_iter().map(|p| view! {
                    " " <span class="badge badge-tiny" data-testid="user-provider" title="Signs in through this provider">{p}</span>
                }).collect_view()}
            </td>
            <td>{status}</td>
            <td><time datetime=created_at>{since}</time></td>
            <td>{last_login}</td>
            <td><div class="actions">{change_forms}{unlock_form}{reset_mfa_form}{sign_out_form}</div></td>
        </tr>
    }
}

#[component]
fn AuditPanel(audit: Vec<AuditItem>, older: Option<i64>, events: Vec<String>) -> impl IntoView {
    let query = use_query_map();
    let selected_user = query.read_untracked().get("user").unwrap_or_default();
    let selected_event = query.read_untracked().get("event").unwrap_or_default();
    let older_href = older.map(|id| {
        let mut href = format!("/admin?before={id}");
        if !selected_user.is_empty() {
            href.push_str(&format!("&user={}", crate::model::encode_return(&selected_user)));
        }
        if !selected_event.is_empty() {
            href.push_str(&format!(
                "&event={}",
                crate::model::encode_return(&selected_event)
            ));
        }
        href
    });
    let paged = query.read_untracked().get("before").is_some();
    view! {
        <section class="card" aria-labelledby="audit-title">
            <div class="card-head">
                <h2 id="audit-title">"Audit log"</h2>
                <form method="get" action="/admin" class="filters" aria-label="Filter the audit log">
                    <label>
                        <span>"User"</span>
                        <input type="search" name="user" value=selected_user.clone() placeholder="Everyone"
                            autocomplete="off" spellcheck="false"/>
                    </label>
                    <label>
                        <span>"Event"</span>
                        <select name="event">
                            <option value="" selected=selected_event.is_empty()>"All events"</option>
                            {events.into_iter().map(|e| {
                                let selected = e == selected_event;
                                view! { <option value=e.clone() selected=selected>{e.replace('_', " ")}</option> }
                            }).collect_view()}
                        </select>
                    </label>
                    <button type="submit" class="btn btn-ghost btn-compact">"Filter"</button>
                </form>
            </div>
            <div class="table-wrap">
                <table class="table audit" data-testid="audit">
                    <thead>
                        <tr>
                            <th scope="col">"When"</th>
                            <th scope="col">"Event"</th>
                            <th scope="col">"User"</th>
                            <th scope="col">"Address"</th>
                            <th scope="col">"Detail"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {if audit.is_empty() {
                            view! { <tr><td colspan="5" class="muted">"Nothing recorded yet."</td></tr> }.into_any()
                        } else {
                            audit.into_iter().map(|row| view! {
                                <tr data-testid="audit-row" data-event=row.event.clone()>
                                    <td><time datetime=row.at.clone()>{short_time(&row.at)}</time></td>
                                    <td><span class="event">{row.event.replace('_', " ")}</span></td>
                                    <td>{row.username.or(row.user_id).unwrap_or_else(|| "—".to_string())}</td>
                                    <td>{row.ip.unwrap_or_else(|| "—".to_string())}</td>
                                    <td class="detail">{row.detail.unwrap_or_default()}</td>
                                </tr>
                            }).collect_view().into_any()
                        }}
                    </tbody>
                </table>
            </div>
            <nav class="pager" aria-label="Audit log pages">
                {paged.then(|| view! { <a href="/admin" rel="external">"Newest"</a> })}
                {older_href.map(|href| view! { <a href=href rel="external">"Older entries"</a> })}
            </nav>
        </section>
    }
}

#[component]
fn CreateUser() -> impl IntoView {
    let action = ServerAction::<AdminCreateUser>::new();
    let error = last_error(action);
    view! {
        <section class="card" aria-labelledby="create-title">
            <h2 id="create-title">"Create an account"</h2>
            <p class="muted">"For someone who cannot sign up themselves (for instance while signup is closed). Tell them their password in person; they can change it on their account page."</p>
            <ActionForm action=action attr:class="form narrow-form" attr:novalidate=true>
                <FormAlert error=error/>
                <Field label="Username" name="username" autocomplete="off" required=true max_length=64 error=error/>
                <Field label="Email" name="email" kind="email" autocomplete="off" max_length=254 error=error/>
                <Field label="Password" name="password" kind="password" autocomplete="new-password" required=true error=error/>
                <div class="field">
                    <label for="role">"Role"</label>
                    <select id="role" name="role">
                        <option value="user" selected=true>"user"</option>
                        <option value="admin">"admin"</option>
                    </select>
                </div>
                <Submit label="Create account" busy_label="Creating…"/>
            </ActionForm>
        </section>
    }
}
