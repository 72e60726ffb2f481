//! Form fields with labels, `autocomplete`, inline errors and a pending state.

use crate::{
    components::islands::{StrengthMeter, SubmitButton},
    model::AppError,
};
use leptos::prelude::*;

/// The error of the last submission of a form, if any.
pub type LastError = Signal<Option<AppError>>;

/// The last error of `action`, as a signal.
pub fn last_error<I, O>(action: ServerAction<I>) -> LastError
where
    I: leptos::server_fn::ServerFn<Output = O, Error = AppError> + Clone + Send + Sync + 'static,
    O: Clone + Send + Sync + 'static,
{
    Signal::derive(move || action.value().get().and_then(|r| r.err()))
}

/// A labelled input. Its error (from the server, for this `name`) shows
/// below it and is tied to it with `aria-describedby`.
#[component]
pub fn Field(
    label: &'static str,
    name: &'static str,
    #[prop(default = "text")] kind: &'static str,
    #[prop(default = "off")] autocomplete: &'static str,
    #[prop(optional)] required: bool,
    #[prop(optional)] hint: Option<Signal<String>>,
    #[prop(optional)] max_length: Option<usize>,
    #[prop(optional)] autofocus: bool,
    /// The value it starts with.
    #[prop(optional, into)]
    value: Option<Signal<String>>,
    /// Shows a strength meter for a new password of at least this many characters.
    #[prop(optional)]
    strength: Option<usize>,
    error: LastError,
) -> impl IntoView {
    let message = Signal::derive(move || error.get().and_then(|e| e.message_for(name)));
    let meter = strength.map(|_| view! { <StrengthMeter/> });
    let error_id = format!("{name}-error");
    let hint_id = format!("{name}-hint");
    let has_hint = hint.is_some();
    let described_by = {
        let error_id = error_id.clone();
        let hint_id = hint_id.clone();
        move || {
            let mut ids = Vec::new();
            if message.get().is_some() {
                ids.push(error_id.clone());
            }
            if has_hint {
                ids.push(hint_id.clone());
            }
            (!ids.is_empty()).then(|| ids.join(" "))
        }
    };
    view! {
        <div class="field" class:invalid=move || message.get().is_some()>
            <label for=name>{label}{(!required).then(|| view! { <span class="optional">" (optional)"</span> })}</label>
            <input
                id=name
                name=name
                type=kind
                autocomplete=autocomplete
                required=required
                autofocus=autofocus
                maxlength=max_length.map(|n| n.to_string())
                value=move || value.map(|v| v.get())
                aria-invalid=move || message.get().map(|_| "true")
                aria-describedby=described_by
                data-strength=strength.map(|min| min.to_string())
            />
            {meter}
            {hint.map(|h| view! { <p class="hint" id=hint_id.clone()>{move || h.get()}</p> })}
            {move || message.get().map(|m| view! { <p class="field-error" id=error_id.clone()>{m}</p> })}
        </div>
    }
}

/// The form-level error (one that belongs to no field), announced to screen
/// readers. When the change needs a recent sign-in, it links to `/reauth`,
/// which comes back here.
#[component]
pub fn FormAlert(error: LastError) -> impl IntoView {
    let location = leptos_router::hooks::use_location();
    move || {
        error
            .get()
            .and_then(|e| e.form_message().map(|m| (m, e.retry_after)))
            .map(|(message, retry)| {
                let reauth = (message == "reauthentication required").then(|| {
                    let here = location.pathname.get_untracked();
                    let href = format!("/reauth?return={}", crate::model::encode_return(&here));
                    view! { " " <a href=href rel="external">"Confirm it’s you"</a>" to go on." }
                });
                view! {
                    <div class="alert" role="alert" data-retry-after=retry.map(|s| s.to_string())>
                        {message}
                        {reauth}
                    </div>
                }
            })
    }
}

/// A form's submit button: `label`, and `busy_label` with a spinner once
/// the form is sent (the [`SubmitButton`] island).
#[component]
pub fn Submit(label: &'static str, busy_label: &'static str) -> impl IntoView {
    view! {
        <SubmitButton>
            <span class="when-idle">{label}</span>
            <span class="when-busy">{busy_label}</span>
        </SubmitButton>
    }
}
