//! The security section of `/account`: the authenticator app (TOTP), the
//! recovery codes and the passkeys. Everything but adding a passkey works
//! with JavaScript off.

use crate::{
    components::form::{last_error, Field, FormAlert, Submit},
    model::{short_time, PasskeyItem, SecurityView},
    server_fns::{
        my_security, ConfirmTotp, DeletePasskey, DisableTotp, RegenerateRecoveryCodes, RenamePasskey,
        SiteInfo, StartTotp,
    },
};
use leptos::prelude::*;

/// Second factors: the authenticator app, recovery codes, passkeys.
#[component]
pub fn SecurityCard(site: SiteInfo) -> impl IntoView {
    let security = Resource::new(|| (), |_| my_security());
    let _ = site;
    view! {
        <section class="card" id="security" aria-labelledby="security-title">
            <h2 id="security-title">"Security"</h2>
            <p class="muted">"A second factor keeps your account yours even if your password leaks."</p>
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match security.await {
                        Ok(view) => view! { <SecurityPanels view=view/> }.into_any(),
                        Err(e) => view! { <div class="alert" role="alert">{e.message}</div> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn SecurityPanels(view: SecurityView) -> impl IntoView {
    let SecurityView {
        totp,
        totp_setup,
        passkeys,
        recovery_codes_left,
        passkeys_available,
    } = view;
    let app = match (totp, totp_setup) {
        (true, _) => view! { <TotpOn left=recovery_codes_left/> }.into_any(),
        (false, Some(setup)) => {
            let confirm = ServerAction::<ConfirmTotp>::new();
            let error = last_error(confirm);
            view! {
                <div class="factor" data-testid="totp-setup">
                    <p class="factor-head"><strong>"Set up your authenticator app"</strong></p>
                    <ol class="steps">
                        <li>"Scan this code with an app such as Google Authenticator, 1Password or Aegis."</li>
                        <li>"Or type the key: "<code class="secret" data-testid="totp-secret">{setup.secret.clone()}</code></li>
                        <li>"Enter the 6-digit code the app shows."</li>
                    </ol>
                    <img class="qr" src=setup.qr_code.clone() width="220" height="220" alt="QR code of the authenticator key"/>
                    <ActionForm action=confirm attr:class="form narrow-form" attr:novalidate=true>
                        <FormAlert error=error/>
                        <Field label="Code from the app" name="totp_code" autocomplete="one-time-code" required=true max_length=8 error=error/>
                        <Submit label="Turn on" busy_label="Checking…" pending=confirm.pending()/>
                    </ActionForm>
                </div>
            }
            .into_any()
        }
        (false, None) => {
            let start = ServerAction::<StartTotp>::new();
            let error = last_error(start);
            view! {
                <div class="factor">
                    <p class="factor-head"><strong>"Authenticator app"</strong>" "<span class="badge">"Off"</span></p>
                    <p class="muted">"Codes from an app on your phone, as a second step after your password."</p>
                    <FormAlert error=error/>
                    <ActionForm action=start attr:class="inline-form">
                        <button type="submit" class="btn btn-ghost" disabled=move || start.pending().get()>"Set up an authenticator app"</button>
                    </ActionForm>
                </div>
            }
            .into_any()
        }
    };
    view! {
        {app}
        {passkeys_available.then(|| view! { <Passkeys passkeys=passkeys/> })}
    }
}

#[component]
fn TotpOn(left: u32) -> impl IntoView {
    let disable = ServerAction::<DisableTotp>::new();
    let disable_error = last_error(disable);
    let regenerate = ServerAction::<RegenerateRecoveryCodes>::new();
    let regenerate_error = last_error(regenerate);
    view! {
        <div class="factor" data-testid="totp-on">
            <p class="factor-head"><strong>"Authenticator app"</strong>" "<span class="badge badge-ok">"On"</span></p>
            <p class="muted" data-testid="recovery-left">{format!("Recovery codes left: {left} of 10.")}</p>
            <div class="factor-forms">
                <ActionForm action=regenerate attr:class="form narrow-form" attr:novalidate=true>
                    <FormAlert error=regenerate_error/>
                    <Field label="Password, to make new recovery codes" name="codes_password" kind="password" autocomplete="current-password" required=true error=regenerate_error/>
                    <Submit label="New recovery codes" busy_label="Making codes…" pending=regenerate.pending()/>
                </ActionForm>
                <ActionForm action=disable attr:class="form narrow-form" attr:novalidate=true>
                    <FormAlert error=disable_error/>
                    <Field label="Password, to turn the app off" name="totp_password" kind="password" autocomplete="current-password" required=true error=disable_error/>
                    <button type="submit" class="btn btn-ghost btn-danger" disabled=move || disable.pending().get()>"Turn off"</button>
                </ActionForm>
            </div>
        </div>
    }
}

#[component]
fn Passkeys(passkeys: Vec<PasskeyItem>) -> impl IntoView {
    let rename = ServerAction::<RenamePasskey>::new();
    let delete = ServerAction::<DeletePasskey>::new();
    let (rename_error, delete_error) = (last_error(rename), last_error(delete));
    view! {
        <div class="factor" data-passkey-scope="">
            <p class="factor-head">
                <strong>"Passkeys"</strong>" "
                <span class="badge" class:badge-ok=!passkeys.is_empty()>{passkeys.len().to_string()}</span>
            </p>
            <p class="muted">"Sign in with your fingerprint, face or device PIN instead of a password: a passkey is both factors at once."</p>
            <FormAlert error=rename_error/>
            <FormAlert error=delete_error/>
            <ul class="passkeys" data-testid="passkeys">
                {passkeys.into_iter().map(|p| view! { <PasskeyRow passkey=p rename=rename delete=delete/> }).collect_view()}
            </ul>
            <div class="add-passkey needs-js">
                <label for="passkey_name">"Name for a new passkey"</label>
                <div class="inline-form">
                    <input id="passkey_name" name="passkey_name" type="text" placeholder="Laptop" maxlength="64" autocomplete="off"/>
                    <button type="button" class="btn btn-ghost" data-passkey="register">"Add a passkey"</button>
                </div>
            </div>
            <p class="muted small no-js-only">"Adding a passkey needs JavaScript, which is off in this browser."</p>
            <p class="passkey-status" aria-live="polite" data-passkey-status=""></p>
        </div>
    }
}

#[component]
fn PasskeyRow(
    passkey: PasskeyItem,
    rename: ServerAction<RenamePasskey>,
    delete: ServerAction<DeletePasskey>,
) -> impl IntoView {
    let used = passkey
        .last_used_at
        .as_deref()
        .map(|t| format!("last used {}", short_time(t)))
        .unwrap_or_else(|| "never used".into());
    let PasskeyItem {
        id, name, created_at, ..
    } = passkey;
    let field_id = format!("passkey-name-{id}");
    let rename_label = format!("New name for {name}");
    let remove_label = format!("Remove the passkey {name}");
    let added = format!("added {} · {used}", short_time(&created_at));
    let (id2, name2, name3) = (id.clone(), name.clone(), name.clone());
    view! {
        <li class="passkey" data-testid="passkey" data-name=name>
            <div class="session-main">
                <p class="session-device">{name2}</p>
                <p class="session-meta muted">{added}</p>
            </div>
            <div class="actions">
                <ActionForm action=rename attr:class="inline-form">
                    <input type="hidden" name="id" value=id/>
                    <label class="visually-hidden" for=field_id.clone()>{rename_label}</label>
                    <input id=field_id name="name" type="text" value=name3 maxlength="64" autocomplete="off" class="compact-input"/>
                    <button type="submit" class="btn btn-ghost btn-compact">"Rename"</button>
                </ActionForm>
                <ActionForm action=delete attr:class="inline-form">
                    <input type="hidden" name="id" value=id2/>
                    <button type="submit" class="btn btn-ghost btn-compact btn-danger" aria-label=remove_label>"Remove"</button>
                </ActionForm>
            </div>
        </li>
    }
}
