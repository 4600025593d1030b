//! Small DOM helpers for islands that work on markup the server rendered (the keys
//! page's dialogs, the webhooks page) instead of carrying views of their own: a view in
//! the bundle costs kilobytes, a DOM call a few bytes. Browser only.

use leptos::prelude::document;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{Element, Event, EventTarget, HtmlInputElement, HtmlSelectElement};

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
