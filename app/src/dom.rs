//! Small DOM helpers for islands that work on markup the server rendered (the keys
//! page's dialogs, the webhooks page) instead of carrying views of their own: a view in
//! the bundle costs kilobytes, a DOM call a few bytes. Browser only.

use leptos::prelude::document;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{Element, Event, EventTarget, HtmlInputElement, HtmlSelectElement};

use crate::error::AppError;

pub fn by_id(id: &str) -> Option<Element> {
    document().get_element_by_id(id)
}

pub fn set_hidden(id: &str, hidden: bool) {
    if let Some(e) = by_id(id) {
        let _ = e.toggle_attribute_with_force("hidden", hidden);
    }
}

pub fn set_text(id: &str, text: &str) {
    if let Some(e) = by_id(id) {
        e.set_text_content(Some(text));
    }
}

/// The value of an input or a select.
pub fn value(id: &str) -> String {
    let Some(e) = by_id(id) else {
        return String::new();
    };
    match e.dyn_into::<HtmlInputElement>() {
        Ok(input) => input.value(),
        Err(e) => e
            .dyn_into::<HtmlSelectElement>()
            .map(|s| s.value())
            .unwrap_or_default(),
    }
}

pub fn checked(id: &str) -> bool {
    by_id(id)
        .and_then(|e| e.dyn_into::<HtmlInputElement>().ok())
        .is_some_and(|i| i.checked())
}

/// Listens for `event` on `target` for as long as the page lives.
pub fn listen(target: &EventTarget, event: &str, handler: impl FnMut(Event) + 'static) {
    let closure = Closure::<dyn FnMut(Event)>::new(handler);
    let _ = target.add_event_listener_with_callback(event, closure.as_ref().unchecked_ref());
    closure.forget();
}

pub fn listen_id(id: &str, event: &str, handler: impl FnMut(Event) + 'static) {
    if let Some(e) = by_id(id) {
        listen(&e, event, handler);
    }
}

/// The element an event came from, or its nearest ancestor, matching `selector`.
pub fn closest(ev: &Event, selector: &str) -> Option<Element> {
    ev.target()?
        .dyn_into::<Element>()
        .ok()?
        .closest(selector)
        .ok()
        .flatten()
}

/// Enables the controls matching `selector`: the server renders them disabled, as every
/// island's controls are until live.
pub fn enable(selector: &str) {
    if let Ok(found) = document().query_selector_all(selector) {
        for i in 0..found.length() {
            if let Some(e) = found.item(i).and_then(|n| n.dyn_into::<Element>().ok()) {
                let _ = e.remove_attribute("disabled");
            }
        }
    }
}

/// A button's label and whether it is disabled (while its request is under way).
pub fn set_busy(id: &str, busy: bool, label: &str) {
    if let Some(button) = by_id(id) {
        let _ = button.toggle_attribute_with_force("disabled", busy);
        button.set_text_content(Some(label));
    }
}

/// Loads this page again in the background and puts the server's current version of
/// the elements with these ids in place of ours (the rest of the page, and what was
/// typed in it, stays). Returns whether it could.
pub async fn refresh_parts(ids: &[&str]) -> bool {
    use wasm_bindgen_futures::JsFuture;
    let Some(window) = web_sys::window() else {
        return false;
    };
    let Ok(href) = window.location().href() else {
        return false;
    };
    let Ok(response) = JsFuture::from(window.fetch_with_str(&href)).await else {
        return false;
    };
    let Ok(response) = response.dyn_into::<web_sys::Response>() else {
        return false;
    };
    if !response.ok() {
        return false;
    }
    let Some(text) = response.text().ok().map(JsFuture::from) else {
        return false;
    };
    let Some(html) = text.await.ok().and_then(|t| t.as_string()) else {
        return false;
    };
    let Ok(parser) = web_sys::DomParser::new() else {
        return false;
    };
    let Ok(fresh) = parser.parse_from_string(&html, web_sys::SupportedType::TextHtml) else {
        return false;
    };
    for id in ids {
        if let (Some(new), Some(old)) = (fresh.get_element_by_id(id), by_id(id)) {
            let _ = old.replace_with_with_node_1(&new);
        }
    }
    true
}

/// Runs a server-rendered form posted to a server function (see
/// `components::ServerForm`).
pub fn server_form(form_id: String, then: crate::navigation::Then) {
    use std::cell::Cell;
    use std::rc::Rc;

    use web_sys::HtmlFormElement;

    let Some(form) = by_id(&form_id).and_then(|f| f.dyn_into::<HtmlFormElement>().ok()) else {
        return;
    };
    // Saved before this page loaded: say so, in the server's words.
    if then.note
        && crate::navigation::take_flash(&form_id).is_some()
        && let Ok(Some(line)) = form.query_selector("[data-form-note]")
    {
        line.set_text_content(line.get_attribute("data-note").as_deref());
    }
    listen(&form, "click", |ev| {
        if let Some(id) = closest(&ev, "[data-clear]").and_then(|b| b.get_attribute("data-clear"))
            && let Some(input) = by_id(&id).and_then(|i| i.dyn_into::<HtmlInputElement>().ok())
        {
            input.set_value("");
        }
    });
    let busy = Rc::new(Cell::new(false));
    let target = form.clone();
    listen(&form, "submit", move |ev| {
        ev.prevent_default();
        if busy.replace(true) {
            return;
        }
        let (form, busy, form_id, then) =
            (target.clone(), busy.clone(), form_id.clone(), then.clone());
        if let Ok(Some(line)) = form.query_selector("[data-form-note]") {
            line.set_text_content(None);
        }
        leptos::task::spawn_local(async move {
            let button = form.query_selector("[data-sending]").ok().flatten();
            let label = button.as_ref().and_then(|b| b.text_content());
            if let Some(b) = &button {
                let _ = b.set_attribute("disabled", "");
                let sending = b.get_attribute("data-sending").unwrap_or_default();
                b.set_text_content(Some(&sending));
            }
            let outcome = post_form(&form).await;
            busy.set(false);
            if let Some(b) = &button {
                let _ = b.remove_attribute("disabled");
                b.set_text_content(label.as_deref());
            }
            match outcome {
                Ok(Some(location)) => crate::navigation::go_to(&location),
                Ok(None) if then.reload => {
                    if then.note {
                        crate::navigation::flash(&form_id, "saved");
                    }
                    match &then.focus {
                        Some(id) => crate::navigation::reload_focusing(id),
                        None => crate::navigation::reload(),
                    }
                }
                Ok(None) => show_form_error(&form, None),
                Err(e) => show_form_error(&form, Some(&e)),
            }
        });
    });
    if let Ok(live) = form.query_selector_all("[data-sending], fieldset[disabled]") {
        for i in 0..live.length() {
            if let Some(e) = live.item(i).and_then(|n| n.dyn_into::<Element>().ok()) {
                let _ = e.remove_attribute("disabled");
            }
        }
    }
}

/// Posts `form` to its `action` as a browser would (URL-encoded), asking for JSON.
/// Returns where the server redirects to, if it does.
async fn post_form(form: &web_sys::HtmlFormElement) -> Result<Option<String>, AppError> {
    let data = web_sys::FormData::new_with_form(form).map_err(|_| AppError::Internal)?;
    let body = web_sys::UrlSearchParams::new_with_str_sequence_sequence(&data)
        .map_err(|_| AppError::Internal)?;
    let response = send(&form.action(), &body).await?;
    Ok(response.headers().get("location").ok().flatten())
}

/// Calls a server function (`path`, its URL) with these arguments, sent as a form
/// would send them; returns its JSON answer. Cheaper in the bundle than the typed
/// client, which carries an encoder per function: the page needs only the answer's text
/// (or a few of its fields) and the error.
pub async fn call(path: &str, args: &[(&str, &str)]) -> Result<String, AppError> {
    let body = web_sys::UrlSearchParams::new().map_err(|_| AppError::Internal)?;
    for (name, value) in args {
        body.append(name, value);
    }
    let response = send(path, &body).await?;
    Ok(text_of(&response).await.unwrap_or_default())
}

/// Keygate could not be reached (the request failed, not the server).
fn unreachable() -> AppError {
    AppError::Network {
        message: "Keygate could not be reached. Check your connection and try again.".into(),
    }
}

async fn text_of(response: &web_sys::Response) -> Option<String> {
    let promise = response.text().ok()?;
    wasm_bindgen_futures::JsFuture::from(promise)
        .await
        .ok()?
        .as_string()
}

/// The page's CSRF token (`<meta name="csrf-token">`), which every call carries (T4).
fn csrf_token() -> Option<String> {
    let selector = format!("meta[name=\"{}\"]", crate::auth::csrf::META);
    web_sys::window()?
        .document()?
        .query_selector(&selector)
        .ok()??
        .get_attribute("content")
}

/// POSTs a URL-encoded body asking for JSON; a refusal is the server's error.
async fn send(path: &str, body: &web_sys::UrlSearchParams) -> Result<web_sys::Response, AppError> {
    use wasm_bindgen_futures::JsFuture;
    let headers = web_sys::Headers::new().map_err(|_| AppError::Internal)?;
    let _ = headers.set("content-type", "application/x-www-form-urlencoded");
    let _ = headers.set("accept", "application/json");
    if let Some(token) = csrf_token() {
        let _ = headers.set(crate::auth::csrf::HEADER, &token);
    }
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_body(&body.to_string().into());
    let window = web_sys::window().ok_or(AppError::Internal)?;
    let response = JsFuture::from(window.fetch_with_str_and_init(path, &init))
        .await
        .map_err(|_| unreachable())?
        .dyn_into::<web_sys::Response>()
        .map_err(|_| unreachable())?;
    if response.ok() {
        return Ok(response);
    }
    Err(text_of(&response)
        .await
        .map(|t| {
            <AppError as leptos::server_fn::error::FromServerFnError>::de(t.into_bytes().into())
        })
        .unwrap_or_else(unreachable))
}

/// Shows a refused field's message in the form's `[data-for=FIELD]` line (marking
/// `[data-field=FIELD]` invalid), anything else in its `[data-form-alert]`; `None` clears
/// them. Focus goes to the first refused field.
pub fn show_form_error(form: &Element, error: Option<&AppError>) {
    let mut placed = false;
    if let Ok(lines) = form.query_selector_all("[data-for]") {
        for i in 0..lines.length() {
            let Some(line) = lines.item(i).and_then(|n| n.dyn_into::<Element>().ok()) else {
                continue;
            };
            let name = line.get_attribute("data-for").unwrap_or_default();
            let message = error.and_then(|e| e.field_message(&name));
            line.set_text_content(message.as_deref());
            if let Some(field) = line.closest(".field").ok().flatten() {
                let _ = field
                    .class_list()
                    .toggle_with_force("has-error", message.is_some());
            }
            if let Ok(Some(control)) = form.query_selector(&format!("[data-field='{name}']")) {
                let invalid = if message.is_some() { "true" } else { "false" };
                let _ = control.set_attribute("aria-invalid", invalid);
                if message.is_some()
                    && !placed
                    && let Ok(control) = control.dyn_into::<web_sys::HtmlElement>()
                {
                    let _ = control.focus();
                }
            }
            placed |= message.is_some();
        }
    }
    if let Ok(Some(alert)) = form.query_selector("[data-form-alert]") {
        let other = error.filter(|_| !placed).map(|e| e.to_string());
        alert.set_text_content(other.as_deref());
        let _ = alert.toggle_attribute_with_force("hidden", other.is_none());
    }
}

/// Copies `text` and says so on `button` ("Copied") and in `status` (for screen
/// readers), both back to rest after 3 s. Returns whether the text is on the clipboard.
pub async fn copy_and_say(text: &str, button: Element, status: Option<Element>) -> bool {
    let copied = crate::navigation::write_clipboard(text).await;
    button.set_text_content(Some(if copied { "Copied" } else { "Copy" }));
    if let Some(status) = &status {
        status.set_text_content(Some(if copied {
            "Copied to clipboard"
        } else {
            "Copy failed: select the text and copy it yourself"
        }));
    }
    leptos::prelude::set_timeout(
        move || {
            button.set_text_content(Some("Copy"));
            if let Some(status) = status {
                status.set_text_content(None);
            }
        },
        std::time::Duration::from_secs(3),
    );
    copied
}

/// A fresh copy of the `<template id=template>`'s content, once the element `previous`
/// (an earlier copy, by its id) is gone: for a one-time reveal.
pub fn fresh_from_template(template: &str, previous: &str) -> Option<web_sys::Node> {
    let template = by_id(template)?
        .dyn_into::<web_sys::HtmlTemplateElement>()
        .ok()?;
    if let Some(old) = by_id(previous) {
        old.remove();
    }
    template.content().clone_node_with_deep(true).ok()
}
