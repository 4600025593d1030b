//! Small DOM helpers for the browser's behaviours (`behaviours`). Browser only.

use leptos::prelude::document;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{Element, Event, EventTarget};

pub fn by_id(id: &str) -> Option<Element> {
    document().get_element_by_id(id)
}

/// Listens for `event` on `target` for as long as the page lives.
pub fn listen(target: &EventTarget, event: &str, handler: impl FnMut(Event) + 'static) {
    let closure = Closure::<dyn FnMut(Event)>::new(handler);
    let _ = target.add_event_listener_with_callback(event, closure.as_ref().unchecked_ref());
    closure.forget();
}

/// The element an event came from, as a `T` (a form, a dialog), if it is one.
pub fn target<T: JsCast>(ev: &Event) -> Option<T> {
    ev.target()?.dyn_into().ok()
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
