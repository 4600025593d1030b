//! Leaving a page in the browser. Call these from the browser's behaviours only.

#[cfg(feature = "hydrate")]
use leptos::prelude::*;

/// Puts `text` on the clipboard; false when the browser refused.
#[cfg(feature = "hydrate")]
pub(crate) async fn write_clipboard(text: &str) -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    let promise = window.navigator().clipboard().write_text(text);
    wasm_bindgen_futures::JsFuture::from(promise).await.is_ok()
}

/// Marks a page that is about to be replaced by [`go_to`]: it is inert (a click meant
/// for the next page cannot land on this one) and no longer `data-hydrated`, so whoever
/// waits for a live page waits for the next one.
#[cfg(feature = "hydrate")]
fn leaving() {
    if let Some(body) = document().body() {
        let _ = body.remove_attribute(crate::hooks::HYDRATED);
        let _ = body.set_attribute("inert", "");
        let _ = body.set_attribute("aria-disabled", "true");
    }
}

/// Goes to `href` (a full page load).
#[cfg(feature = "hydrate")]
pub fn go_to(href: &str) {
    leaving();
    let _ = window().location().set_href(href);
}
