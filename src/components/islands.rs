//! The parts of a page that run in the browser: Leptos islands. Everything
//! else is HTML from the server, and every form posts without JavaScript
//! (the server answers with the next page, or this one with the errors
//! inline); these islands only make that nicer. They take no props but
//! their children (rendered by the server), so the browser bundle carries
//! no deserializer for them.

use leptos::prelude::*;

/// A form's submit button that says what it is doing once the form is
/// sent: disabled, `aria-busy`, a spinner and its busy label (its children
/// are its two labels, `.when-idle` and `.when-busy`; the stylesheet shows
/// the one that fits, so the button's accessible name is the one shown).
///
/// It also sends its form itself, when the form posts to a server function:
/// the same post the browser would make, by `fetch`, so that when the server
/// answers with this page and errors, only the page's content is replaced,
/// and what was typed (passwords too) stays. Any other answer is loaded as
/// the browser would have (see [`browser::send`]).
#[island]
pub fn SubmitButton(children: Children) -> impl IntoView {
    let pending = RwSignal::new(false);
    let button = NodeRef::<leptos::html::Button>::new();
    #[cfg(feature = "hydrate")]
    {
        button.on_load(move |button| {
            if let Some(form) = button.form() {
                browser::take_over(&form, pending);
            }
        });
    }
    view! {
        <button type="submit" class="btn btn-primary" node_ref=button
            disabled=move || pending.get() aria-busy=move || pending.get().then_some("true")>
            <span class="spinner" aria-hidden="true" class:hidden=move || !pending.get()></span>
            {children()}
        </button>
    }
}

/// A form's own button, as the server rendered it (its look and label: a
/// row's "Sign out", "Remove"), that sends its form like [`SubmitButton`]
/// and is disabled and `aria-busy` meanwhile. Its child is the button.
#[island]
pub fn SendsForm(children: Children) -> impl IntoView {
    let holder = NodeRef::<leptos::html::Span>::new();
    #[cfg(feature = "hydrate")]
    {
        let pending = RwSignal::new(false);
        holder.on_load(move |holder| {
            let Some(button) = browser::button_in(&holder) else {
                return;
            };
            if let Some(form) = button.form() {
                browser::take_over(&form, pending);
            }
            Effect::new(move || {
                let busy = pending.get();
                button.set_disabled(busy);
                let _ = if busy {
                    button.set_attribute("aria-busy", "true")
                } else {
                    button.remove_attribute("aria-busy")
                };
            });
        });
    }
    view! { <span class="sends" node_ref=holder>{children()}</span> }
}

/// The strength meter under a new password field: a bar and a sentence
/// (announced politely) that follow what is typed. It belongs to the
/// `<input data-strength="<minimum length>">` of the `.field` it sits in.
#[island]
pub fn StrengthMeter() -> impl IntoView {
    let typed = RwSignal::new(String::new());
    let min_length = RwSignal::new(0_usize);
    let id = RwSignal::new(None::<String>);
    let meter = NodeRef::<leptos::html::Div>::new();
    #[cfg(feature = "hydrate")]
    meter.on_load(move |meter| {
        if let Some(input) = browser::field_input(&meter) {
            min_length.set(
                input
                    .get_attribute("data-strength")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0),
            );
            id.set(Some(format!("{}-strength", input.name())));
            typed.set(input.value());
            let source = input.clone();
            browser::listen(&input, "input", move |_| typed.set(source.value()));
        }
    });
    let estimate = Memo::new(move |_| {
        let text = typed.get();
        (!text.is_empty()).then(|| crate::model::estimate_strength(&text, min_length.get()))
    });
    view! {
        <div class="meter" aria-hidden="true" node_ref=meter data-score=move || estimate.get().map(|e| e.score.to_string())>
            <span></span>
        </div>
        <p class="strength" aria-live="polite" id=move || id.get()>
            {move || estimate.get().map(|e| format!("{}. {}", e.label, e.advice))}
        </p>
    }
}

/// The last island of every page: it marks the page as taken over
/// (`<body data-hydrated="true">`) once the islands before it are live.
#[island]
pub fn Hydrated() -> impl IntoView {
    #[cfg(feature = "hydrate")]
    browser::mark_hydrated();
}

/// The few DOM calls the islands make.
#[cfg(feature = "hydrate")]
mod browser {
    use std::collections::HashMap;
    use wasm_bindgen::{closure::Closure, JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;
    use web_sys::{Element, HtmlFormElement, HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};

    /// Calls `handler` on every `kind` event at `target`, for the page's life.
    pub fn listen(target: &web_sys::EventTarget, kind: &str, handler: impl Fn(web_sys::Event) + 'static) {
        let handler = Closure::<dyn Fn(web_sys::Event)>::new(handler);
        let _ = target.add_event_listener_with_callback(kind, handler.as_ref().unchecked_ref());
        handler.forget();
    }

    /// Sets `<body data-hydrated="true">`.
    pub fn mark_hydrated() {
        if let Some(body) = leptos::prelude::document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    }

    /// The `<input>` of the `.field` that holds `inside`.
    pub fn field_input(inside: &Element) -> Option<HtmlInputElement> {
        inside
            .closest(".field")
            .ok()
            .flatten()?
            .query_selector("input")
            .ok()
            .flatten()?
            .dyn_into()
            .ok()
    }

    /// Sends `form` (see [`send`]) when it is submitted, if it posts to a
    /// server function; `pending` from then on. A second submit while
    /// pending sends nothing. It stays pending: the answer replaces the
    /// page's content (the button too) or the page; back to this page from
    /// the browser's page cache, the post is over.
    pub fn take_over(form: &HtmlFormElement, pending: leptos::prelude::RwSignal<bool>) {
        use leptos::prelude::*;
        let _ = window_event_listener(leptos::ev::pageshow, move |_| pending.set(false));
        let target = form.clone();
        listen(form, "submit", move |event| {
            if event.default_prevented() {
                return;
            }
            if pending.get_untracked() {
                event.prevent_default();
                return;
            }
            pending.set(true);
            if posts_to_server_fn(&target) {
                event.prevent_default();
                let form = target.clone();
                leptos::task::spawn_local(async move { send(&form).await });
            }
        });
    }

    /// The `<button>` under `holder`.
    pub fn button_in(holder: &Element) -> Option<web_sys::HtmlButtonElement> {
        holder.query_selector("button").ok().flatten()?.dyn_into().ok()
    }

    /// Whether `form` posts to one of this site's server functions.
    pub fn posts_to_server_fn(form: &HtmlFormElement) -> bool {
        form.method().eq_ignore_ascii_case("post")
            && web_sys::Url::new(&form.action())
                .is_ok_and(|url| url.origin() == location_origin() && url.pathname().starts_with("/fn/"))
    }

    /// Posts `form` as the browser would (urlencoded, `Accept: text/html`),
    /// and asks for the server's redirect as a header (`Gatehouse-Form`),
    /// so that it is not followed by `fetch`. Errors come back as this page
    /// with `__err` (as for a post without JavaScript): then only `#main` is
    /// replaced, keeping what was typed. Anything else (the next page, this
    /// page after a change, another site after consent) is loaded. If the
    /// post cannot be sent, or is refused before it reaches the form's
    /// server function (a limit, say: an answer without a redirect), the
    /// browser sends it, and shows what the server says.
    pub async fn send(form: &HtmlFormElement) {
        let url = match post(form).await {
            Ok(Answer::Redirect(url)) => url,
            Ok(Answer::Done) => {
                let _ = location().reload();
                return;
            }
            Ok(Answer::Refused) | Err(_) => {
                let _ = form.submit();
                return;
            }
        };
        let here = location();
        let shows_errors = url.origin() == location_origin()
            && here.pathname().is_ok_and(|p| p == url.pathname())
            && url.search_params().has("__err");
        if shows_errors && show_errors(&url.href()).await.is_ok() {
            return;
        }
        let _ = here.assign(&url.href());
    }

    /// How the server answered a form's post.
    enum Answer {
        /// Go there (the server's redirect).
        Redirect(web_sys::Url),
        /// Done, with nowhere to go: this page again.
        Done,
        /// An error without a redirect.
        Refused,
    }

    async fn post(form: &HtmlFormElement) -> Result<Answer, JsValue> {
        let data = web_sys::FormData::new_with_form(form)?;
        let body = web_sys::UrlSearchParams::new_with_str_sequence_sequence(&data)?;
        let headers = web_sys::Headers::new()?;
        headers.set("Accept", "text/html")?;
        headers.set("Gatehouse-Form", "1")?;
        let init = web_sys::RequestInit::new();
        init.set_method("POST");
        init.set_body(&body);
        init.set_headers(&headers);
        let response: web_sys::Response =
            JsFuture::from(leptos::prelude::window().fetch_with_str_and_init(&form.action(), &init))
                .await?
                .dyn_into()?;
        let to = response
            .headers()
            .get("Gatehouse-Location")?
            .and_then(|to| web_sys::Url::new_with_base(&to, &location().href().ok()?).ok());
        Ok(match to {
            Some(url) => Answer::Redirect(url),
            None if response.ok() => Answer::Done,
            None => Answer::Refused,
        })
    }

    /// Loads `href` (this page, with the errors) and puts its `#main` in
    /// place of this one's, with the values of this one's fields, then
    /// hydrates its islands and moves the focus to the first field in error.
    async fn show_errors(href: &str) -> Result<(), JsValue> {
        let headers = web_sys::Headers::new()?;
        headers.set("Accept", "text/html")?;
        let init = web_sys::RequestInit::new();
        init.set_headers(&headers);
        let response: web_sys::Response =
            JsFuture::from(leptos::prelude::window().fetch_with_str_and_init(href, &init))
                .await?
                .dyn_into()?;
        // Sent elsewhere meanwhile (signed out, say): load that as a page.
        if !response.ok() || response.redirected() {
            return Err(JsValue::NULL);
        }
        let html = JsFuture::from(response.text()?)
            .await?
            .as_string()
            .unwrap_or_default();
        let parsed = web_sys::DomParser::new()?.parse_from_string(&html, web_sys::SupportedType::TextHtml)?;
        let document = leptos::prelude::document();
        let (Some(fresh), Some(old)) = (
            parsed.get_element_by_id("main"),
            document.get_element_by_id("main"),
        ) else {
            return Err(JsValue::NULL);
        };
        let typed = field_values(&old);
        let fresh: Element = document.import_node_with_deep(&fresh, true)?.dyn_into()?;
        restore_values(&fresh, &typed);
        old.replace_with_with_node_1(&fresh)?;
        hydrate_islands(&fresh);
        let focus = fresh
            .query_selector("[aria-invalid=\"true\"]")?
            .or(fresh.query_selector("[role=alert]")?);
        if let Some(el) = focus.and_then(|el| el.dyn_into::<web_sys::HtmlElement>().ok()) {
            if !el.has_attribute("tabindex") && el.get_attribute("role").is_some() {
                let _ = el.set_attribute("tabindex", "-1");
            }
            let _ = el.focus();
        }
        Ok(())
    }

    /// What a field holds: its text, or whether it is checked.
    enum Value {
        Text(String),
        Checked(bool),
    }

    /// The fields under `root` a person fills in, each keyed by its form's
    /// action, its name and its place among the fields of that name.
    fn fields(root: &Element) -> Vec<(String, Element)> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut out = Vec::new();
        let Ok(list) = root.query_selector_all("input[name], textarea[name], select[name]") else {
            return out;
        };
        for i in 0..list.length() {
            let Some(el) = list.item(i).and_then(|n| n.dyn_into::<Element>().ok()) else {
                continue;
            };
            let kind = el.get_attribute("type").unwrap_or_default().to_ascii_lowercase();
            if matches!(kind.as_str(), "hidden" | "submit" | "button" | "file" | "reset") {
                continue;
            }
            let action = el
                .closest("form")
                .ok()
                .flatten()
                .and_then(|f| f.get_attribute("action"))
                .unwrap_or_default();
            let mut key = format!("{action}\u{0}{}", el.get_attribute("name").unwrap_or_default());
            if matches!(kind.as_str(), "checkbox" | "radio") {
                key.push('\u{0}');
                key.push_str(&el.get_attribute("value").unwrap_or_default());
            }
            let n = seen.entry(key.clone()).or_default();
            key.push_str(&format!("\u{0}{n}"));
            *n += 1;
            out.push((key, el));
        }
        out
    }

    fn field_values(root: &Element) -> HashMap<String, Value> {
        fields(root)
            .into_iter()
            .filter_map(|(key, el)| {
                let value = if let Some(input) = el.dyn_ref::<HtmlInputElement>() {
                    match input.type_().as_str() {
                        "checkbox" | "radio" => Value::Checked(input.checked()),
                        _ => Value::Text(input.value()),
                    }
                } else if let Some(area) = el.dyn_ref::<HtmlTextAreaElement>() {
                    Value::Text(area.value())
                } else {
                    Value::Text(el.dyn_ref::<HtmlSelectElement>()?.value())
                };
                Some((key, value))
            })
            .collect()
    }

    fn restore_values(root: &Element, values: &HashMap<String, Value>) {
        for (key, el) in fields(root) {
            match values.get(&key) {
                Some(Value::Checked(on)) => {
                    if let Some(input) = el.dyn_ref::<HtmlInputElement>() {
                        input.set_checked(*on);
                    }
                }
                Some(Value::Text(text)) => {
                    if let Some(input) = el.dyn_ref::<HtmlInputElement>() {
                        input.set_value(text);
                    } else if let Some(area) = el.dyn_ref::<HtmlTextAreaElement>() {
                        area.set_value(text);
                    } else if let Some(select) = el.dyn_ref::<HtmlSelectElement>() {
                        select.set_value(text);
                    }
                }
                None => {}
            }
        }
    }

    /// Hydrates the islands under `root` (new content from the server),
    /// through the hook Leptos' island loader leaves on `window`.
    fn hydrate_islands(root: &Element) {
        let window = leptos::prelude::window();
        let Ok(hook) = js_sys::Reflect::get(&window, &JsValue::from_str("__hydrateIsland")) else {
            return;
        };
        let Ok(hook) = hook.dyn_into::<js_sys::Function>() else {
            return;
        };
        let Ok(list) = root.query_selector_all("leptos-island") else {
            return;
        };
        for i in 0..list.length() {
            if let Some(el) = list
                .item(i)
                .and_then(|n| n.dyn_into::<web_sys::HtmlElement>().ok())
            {
                let component = el.dataset().get("component").unwrap_or_default();
                let _ = hook.call2(&JsValue::NULL, &el, &JsValue::from_str(&component));
            }
        }
    }

    fn location() -> web_sys::Location {
        leptos::prelude::window().location()
    }

    fn location_origin() -> String {
        location().origin().unwrap_or_default()
    }
}
