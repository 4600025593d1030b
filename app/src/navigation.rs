//! Moving between pages in the browser: pages are rendered on the server and only their
//! islands run here, so showing what a change made means loading the page again. A note
//! or a place to focus survives the load in the tab's `sessionStorage`. Call these from
//! islands' event handlers and effects, which run only in the browser.

use leptos::prelude::*;

/// What a `components::ServerForm` does after a success the server did not redirect.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Then {
    pub reload: bool,
    pub focus: Option<String>,
    pub note: bool,
}

/// Puts `text` on the clipboard; false when the browser refused.
#[cfg(feature = "hydrate")]
pub(crate) async fn write_clipboard(text: &str) -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    let promise = window.navigator().clipboard().write_text(text);
    wasm_bindgen_futures::JsFuture::from(promise).await.is_ok()
}

/// Where [`reload_focusing`] keeps the id to focus, for the page it loads.
const FOCUS_AFTER_RELOAD: &str = "focus";

/// The id [`reload_focusing`] asked to focus on this page, once.
pub fn take_focus_after_reload() -> Option<String> {
    take_stashed(FOCUS_AFTER_RELOAD)
}

/// Keeps `value` for the next page of this tab (`sessionStorage`), under `key`.
fn stash(key: &str, value: &str) {
    #[cfg(feature = "hydrate")]
    if let Ok(Some(storage)) = window().session_storage() {
        let _ = storage.set_item(&format!("keygate-{key}"), value);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (key, value);
}

/// What [`stash`] kept under `key`, once: it is gone after this. Nothing on the server.
fn take_stashed(key: &str) -> Option<String> {
    #[cfg(feature = "hydrate")]
    {
        let storage = window().session_storage().ok().flatten()?;
        let key = format!("keygate-{key}");
        let value = storage.get_item(&key).ok().flatten();
        let _ = storage.remove_item(&key);
        value
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = key;
        None
    }
}

/// Focuses the element with this id, if there is one.
pub fn focus_by_id(id: &str) {
    use leptos::wasm_bindgen::JsCast;
    if let Some(element) = document()
        .get_element_by_id(id)
        .and_then(|e| e.dyn_into::<leptos::web_sys::HtmlElement>().ok())
    {
        let _ = element.focus();
    }
}

/// [`reload`], then focus on the element with this id (a keyboard user's place, when the
/// control they used is gone or redrawn).
pub fn reload_focusing(id: &str) {
    stash(FOCUS_AFTER_RELOAD, id);
    reload();
}

/// Loads the page again, to show what a change made: pages are rendered on the server
/// and only their islands run in the browser. The URL (filters, page, period) is kept.
/// The page is [`leaving`] first.
pub fn reload() {
    leaving();
    #[cfg(feature = "hydrate")]
    let _ = window().location().reload();
}

/// Marks a page that is about to be replaced (by [`reload`] or [`go_to`]): it is inert
/// (a click meant for the next page cannot land on this one) and no longer
/// `data-hydrated`, so whoever waits for a live page waits for the next one.
pub fn leaving() {
    if let Some(body) = document().body() {
        let _ = body.remove_attribute("data-hydrated");
        let _ = body.set_attribute("inert", "");
        let _ = body.set_attribute("aria-disabled", "true");
    }
}

/// Keeps a note (a form's "Saved: …") for the page [`reload`] is about to load; that
/// page's form shows it with [`take_flash`].
pub fn flash(key: &str, note: &str) {
    stash(&format!("flash:{key}"), note);
}

/// The note [`flash`] kept under `key`, once: it is gone after this. Call it from an
/// effect, which runs after hydration (the server never has a note).
pub fn take_flash(key: &str) -> Option<String> {
    take_stashed(&format!("flash:{key}"))
}

/// Goes to `href` (a full page load).
pub fn go_to(href: &str) {
    leaving();
    #[cfg(feature = "hydrate")]
    let _ = window().location().set_href(href);
    #[cfg(not(feature = "hydrate"))]
    let _ = href;
}
