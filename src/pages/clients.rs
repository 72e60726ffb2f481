//! `/admin/clients`: the apps that sign their users in through Gatehouse
//! (OpenID Connect clients). Register, change, rotate a secret, remove.
//! Works with JavaScript off, like the rest of `/admin`.

use crate::components::islands::SendsForm;
use crate::{
    components::{
        form::{last_error, Field, FormAlert, LastError, Submit},
        guard::signed_in,
    },
    model::{
        oidc::{ClientCreated, ClientItem, ClientType},
        Role,
    },
    pages::errors::Forbidden,
    server_fns::{
        admin_clients, AdminCreateClient, AdminDeleteClient, AdminRotateClientSecret, AdminUpdateClient,
    },
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

const SCOPES: [(&str, &str); 5] = [
    ("openid", "openid (who the user is)"),
    ("profile", "profile (username)"),
    ("email", "email"),
    ("offline_access", "offline_access (refresh tokens)"),
    ("roles", "roles"),
];
const GRANTS: [(&str, &str); 3] = [
    ("authorization_code", "authorization_code (users sign in)"),
    ("refresh_token", "refresh_token"),
    (
        "client_credentials",
        "client_credentials (the app itself; confidential only)",
    ),
];

#[component]
pub fn AdminClientsPage() -> impl IntoView {
    view! {
        <Title text="Apps · Admin"/>
        {signed_in(|user, _| {
            if user.role != Role::Admin {
                view! { <Forbidden/> }.into_any()
            } else {
                view! { <ClientsArea/> }.into_any()
            }
        })}
    }
}

#[component]
fn ClientsArea() -> impl IntoView {
    let create = ServerAction::<AdminCreateClient>::new();
    let update = ServerAction::<AdminUpdateClient>::new();
    let rotate = ServerAction::<AdminRotateClientSecret>::new();
    let delete = ServerAction::<AdminDeleteClient>::new();
    let errors: Vec<LastError> = vec![last_error(update), last_error(rotate), last_error(delete)];
    let create_error = last_error(create);
    // The page's data, once per page load: every change is a form post
    // that loads the page again.
    let data = Resource::new(|| (), |_| admin_clients());
    view! {
        <div class="stack">
            <header class="page-head">
                <p class="eyebrow"><a href="/admin" rel="external">"Admin"</a>" / Apps"</p>
                <h1>"Apps that sign in with Gatehouse"</h1>
                <p class="muted">"Register the team’s other apps as OpenID Connect clients. Users see the apps they allowed on their account page."</p>
            </header>
            <Done/>
            {errors.into_iter().map(|error| view! { <FormAlert error=error/> }).collect_view()}
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(data) => {
                            let shown = data.new_secret;
                            view! {
                                {shown.map(|c| view! { <Secret created=c/> })}
                                <ClientList clients=data.clients update=update rotate=rotate delete=delete/>
                            }.into_any()
                        }
                        Err(e) => view! { <div class="alert" role="alert">{e.message}</div> }.into_any(),
                    }
                })}
            </Suspense>
            <section class="card" aria-labelledby="new-client-title">
                <h2 id="new-client-title">"Register an app"</h2>
                <ActionForm action=create attr:class="form narrow-form" attr:novalidate=true>
                    <FormAlert error=create_error/>
                    <Field label="Name" name="name" required=true max_length=100 error=create_error/>
                    <div class="field">
                        <label for="kind">"Type"</label>
                        <select id="kind" name="kind">
                            <option value="confidential" selected=true>"confidential (a server that keeps a secret)"</option>
                            <option value="public">"public (a browser or mobile app; PKCE only)"</option>
                        </select>
                    </div>
                    <UriField name="redirect_uris" label="Redirect URIs (one per line)" value=String::new() error=create_error key="new".into()/>
                    <UriField name="post_logout_redirect_uris" label="Addresses to return to after signing out (optional, one per line)" value=String::new() error=create_error key="new".into()/>
                    <Choices legend="Scopes it may ask for" items=&SCOPES on=vec!["openid".into(), "profile".into(), "email".into()]/>
                    <Choices legend="Grant types" items=&GRANTS on=vec!["authorization_code".into(), "refresh_token".into()]/>
                    <label class="check">
                        <input type="checkbox" name="first_party"/>
                        " First-party: the team’s own app, so users are not asked to allow it"
                    </label>
                    <Submit label="Register app" busy_label="Registering…"/>
                </ActionForm>
            </section>
        </div>
    }
}

/// A secret just made: shown this once.
#[component]
fn Secret(created: ClientCreated) -> impl IntoView {
    created.client_secret.clone().map(|secret| view! {
        <div class="notice secret" role="status" data-testid="client-secret">
            <p><strong>{created.client.name.clone()}</strong>"’s client secret. Copy it now: it is not shown again."</p>
            <p>"client_id: "<code data-testid="new-client-id">{created.client.client_id.clone()}</code></p>
            <p>"client_secret: "<code data-testid="new-client-secret">{secret}</code></p>
        </div>
    })
}

#[component]
fn UriField(
    name: &'static str,
    label: &'static str,
    value: String,
    error: LastError,
    /// Makes the field's id unique on the page (one form per client).
    key: String,
) -> impl IntoView {
    let message = Signal::derive(move || error.get().and_then(|e| e.message_for(name)));
    let id = format!("{name}-{key}");
    view! {
        <div class="field" class:invalid=move || message.get().is_some()>
            <label for=id.clone()>{label}</label>
            <textarea id=id name=name rows="2" spellcheck="false" autocomplete="off">{value}</textarea>
            {move || message.get().map(|m| view! { <p class="field-error">{m}</p> })}
        </div>
    }
}

#[component]
fn Choices(
    legend: &'static str,
    items: &'static [(&'static str, &'static str)],
    on: Vec<String>,
) -> impl IntoView {
    view! {
        <fieldset class="choices">
            <legend>{legend}</legend>
            {items.iter().map(|(name, label)| {
                let checked = on.iter().any(|o| o == name);
                view! {
                    <label class="check">
                        <input type="checkbox" name=*name checked=checked/>
                        " "{*label}
                    </label>
                }
            }).collect_view()}
        </fieldset>
    }
}

#[component]
fn ClientList(
    clients: Vec<ClientItem>,
    update: ServerAction<AdminUpdateClient>,
    rotate: ServerAction<AdminRotateClientSecret>,
    delete: ServerAction<AdminDeleteClient>,
) -> impl IntoView {
    if clients.is_empty() {
        return view! {
            <section class="card"><p class="muted">"No apps yet. Register one below, or with "<code>"gatehouse client create"</code>"."</p></section>
        }
        .into_any();
    }
    view! {
        <section class="card" aria-labelledby="clients-title">
            <h2 id="clients-title">"Registered apps"</h2>
            <ul class="clients" data-testid="clients">
                {clients.into_iter().map(|c| view! { <ClientRow client=c update=update rotate=rotate delete=delete/> }).collect_view()}
            </ul>
        </section>
    }
    .into_any()
}

#[component]
fn ClientRow(
    client: ClientItem,
    update: ServerAction<AdminUpdateClient>,
    rotate: ServerAction<AdminRotateClientSecret>,
    delete: ServerAction<AdminDeleteClient>,
) -> impl IntoView {
    let error = last_error(update);
    let confidential = client.kind == ClientType::Confidential;
    let id = client.client_id.clone();
    let (id_update, id_rotate, id_delete) = (id.clone(), id.clone(), id.clone());
    let (key_redirect, key_logout) = (id.clone(), id.clone());
    let name_field = format!("name-{id}");
    let name_value = client.name.clone();
    let remove_label = format!("Remove {}", client.name);
    view! {
        <li class="client" data-testid="client" data-client-id=client.client_id.clone()>
            <div class="client-head">
                <p class="client-name">
                    {client.name.clone()}
                    " "<span class="badge">{client.kind.as_str()}</span>
                    {client.first_party.then(|| view! { " "<span class="badge badge-admin">"first-party"</span> })}
                    {(!client.enabled).then(|| view! { " "<span class="badge badge-off">"off"</span> })}
                </p>
                <p class="muted small">"client_id "<code>{id}</code></p>
                <p class="muted small">{client.redirect_uris.join(", ")}</p>
            </div>
            <details class="client-edit">
                <summary>"Change"</summary>
                <ActionForm action=update attr:class="form" attr:novalidate=true>
                    <input type="hidden" name="client_id" value=id_update/>
                    <div class="field">
                        <label for=name_field.clone()>"Name"</label>
                        <input id=name_field name="name" value=name_value maxlength="100" required=true/>
                    </div>
                    <UriField name="redirect_uris" label="Redirect URIs (one per line)" value=client.redirect_uris.join("\n") error=error key=key_redirect/>
                    <UriField name="post_logout_redirect_uris" label="Addresses to return to after signing out" value=client.post_logout_redirect_uris.join("\n") error=error key=key_logout/>
                    <Choices legend="Scopes" items=&SCOPES on=client.scopes.clone()/>
                    <Choices legend="Grant types" items=&GRANTS on=client.grant_types.clone()/>
                    <label class="check"><input type="checkbox" name="first_party" checked=client.first_party/>" First-party (no consent asked)"</label>
                    <label class="check"><input type="checkbox" name="enabled" checked=client.enabled/>" Enabled"</label>
                    <Submit label="Save" busy_label="Saving…"/>
                </ActionForm>
            </details>
            <div class="actions">
                {confidential.then(|| view! {
                    <ActionForm action=rotate attr:class="inline-form">
                        <input type="hidden" name="client_id" value=id_rotate/>
                        <SendsForm><button type="submit" class="btn btn-ghost">"New secret"</button></SendsForm>
                    </ActionForm>
                })}
                <ActionForm action=delete attr:class="inline-form">
                    <input type="hidden" name="client_id" value=id_delete/>
                    <SendsForm>
                        <button type="submit" class="btn btn-ghost btn-danger" aria-label=remove_label>"Remove"</button>
                    </SendsForm>
                </ActionForm>
            </div>
        </li>
    }
}

/// What the last action did (after its redirect back here).
#[component]
fn Done() -> impl IntoView {
    let query = use_query_map();
    move || {
        let text = match query.read().get("done").as_deref() {
            Some("created") => "The app is registered.",
            Some("changed") => "The app was changed.",
            Some("rotated") => "The app has a new secret; the old one no longer works.",
            Some("deleted") => "The app was removed; its tokens no longer work.",
            _ => return None,
        };
        Some(view! { <div class="notice" role="status">{text}</div> })
    }
}
