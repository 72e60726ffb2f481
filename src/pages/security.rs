//! The security section of `/account`: the authenticator app (TOTP), the
//! recovery codes and the passkeys. Everything but adding a passkey works
//! with JavaScript off.

use crate::components::islands::SendsForm;
use crate::{
    components::form::{last_error, Field, FormAlert, Submit},
    model::{short_time, PasskeyItem, SecurityView},
    server_fns::{
        my_security, ConfirmTotp, DeletePasskey, DisableTotp, KeepFactors, RegenerateRecoveryCodes,
        RemoveAllFactors, RenamePasskey, SiteInfo, StartTotp,
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
        review_after_reset,
    } = view;
    // The last second factor is removed only with the password.
    let last_factor = !totp && passkeys.len() == 1;
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
                        <Submit label="Turn on" busy_label="Checking…"/>
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
                        <SendsForm><button type="submit" class="btn btn-ghost">"Set up an authenticator app"</button></SendsForm>
                    </ActionForm>
                </div>
            }
            .into_any()
        }
    };
    view! {
        {review_after_reset.then(|| view! { <ReviewAfterReset/> })}
        {app}
        {passkeys_available.then(|| view! { <Passkeys passkeys=passkeys last_factor=last_factor/> })}
    }
}

/// After a password reset: the owner checks the factors below (an intruder
/// who had the old password may have added one), and keeps them or removes
/// them all in one step.
#[component]
fn ReviewAfterReset() -> impl IntoView {
    let keep = ServerAction::<KeepFactors>::new();
    let remove = ServerAction::<RemoveAllFactors>::new();
    let (keep_error, remove_error) = (last_error(keep), last_error(remove));
    view! {
        <div class="review" role="region" aria-labelledby="review-title" data-testid="factors-review">
            <p id="review-title"><strong>"Your password was reset."</strong></p>
            <p>"Check the second factors below. Someone who had your old password may have added one to get back in: remove any you do not recognise, or every one of them at once and set up your own again."</p>
            <div class="factor-forms">
                <ActionForm action=keep attr:class="form narrow-form" attr:novalidate=true>
                    <FormAlert error=keep_error/>
                    <Field label="Password, to keep them all" name="keep_password" kind="password" autocomplete="current-password" required=true error=keep_error/>
                    <SendsForm><button type="submit" class="btn btn-ghost">"They are all mine"</button></SendsForm>
                </ActionForm>
                <ActionForm action=remove attr:class="form narrow-form" attr:novalidate=true>
                    <FormAlert error=remove_error/>
                    <Field label="Password, to remove every second factor" name="factors_password" kind="password" autocomplete="current-password" required=true error=remove_error/>
                    <SendsForm><button type="submit" class="btn btn-ghost btn-danger">"Remove every second factor"</button></SendsForm>
                </ActionForm>
            </div>
        </div>
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
                    <Submit label="New recovery codes" busy_label="Making codes…"/>
                </ActionForm>
                <ActionForm action=disable attr:class="form narrow-form" attr:novalidate=true>
                    <FormAlert error=disable_error/>
                    <Field label="Password, to turn the app off" name="totp_password" kind="password" autocomplete="current-password" required=true error=disable_error/>
                    <SendsForm><button type="submit" class="btn btn-ghost btn-danger">"Turn off"</button></SendsForm>
                </ActionForm>
            </div>
        </div>
    }
}

#[component]
fn Passkeys(passkeys: Vec<PasskeyItem>, last_factor: bool) -> impl IntoView {
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
                {passkeys.into_iter().map(|p| view! { <PasskeyRow passkey=p rename=rename delete=delete last_factor=last_factor/> }).collect_view()}
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
    /// It is the account's last second factor: removing it asks the password.
    last_factor: bool,
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
    let password_id = format!("passkey-password-{id}");
    view! {
        <li class="passkey" data-testid="passkey" data-name=name>
            <div class="session-main">
                <p class="session-device">{name2}</p>
                <p class="session-meta muted">{added}</p>
                {last_factor.then(|| view! {
                    <p class="session-meta muted">"Your last second factor: removing it asks for your password."</p>
                })}
            </div>
            <div class="actions">
                <ActionForm action=rename attr:class="inline-form">
                    <input type="hidden" name="id" value=id/>
                    <label class="visually-hidden" for=field_id.clone()>{rename_label}</label>
                    <input id=field_id name="name" type="text" value=name3 maxlength="64" autocomplete="off" class="compact-input"/>
                    <SendsForm><button type="submit" class="btn btn-ghost btn-compact">"Rename"</button></SendsForm>
                </ActionForm>
                <ActionForm action=delete attr:class="inline-form">
                    <input type="hidden" name="id" value=id2/>
                    {last_factor.then(|| view! {
                        <label class="visually-hidden" for=password_id.clone()>"Password, to remove your last second factor"</label>
                        <input id=password_id.clone() name="passkey_password" type="password" autocomplete="current-password"
                            placeholder="Password" required=true class="compact-input"/>
                    })}
                    <SendsForm><button type="submit" class="btn btn-ghost btn-compact btn-danger" aria-label=remove_label>"Remove"</button></SendsForm>
                </ActionForm>
            </div>
        </li>
    }
}
