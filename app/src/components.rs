//! Small building blocks shared by every page: form fields, error banners, the copy
//! button and the 404 / access-denied / loading states.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::error::AppError;

/// A labelled text input. Its error line is filled by [`ServerFormScript`] when the
/// server refuses this field, and announced to screen readers.
#[component]
pub fn Field(
    #[prop(into)] label: String,
    #[prop(into)] name: String,
    #[prop(into, default = "text".into())] kind: String,
    #[prop(into, optional)] autocomplete: Option<String>,
    #[prop(into, optional)] inputmode: Option<String>,
    #[prop(into, optional)] value: Option<String>,
    #[prop(into, optional)] hint: Option<String>,
) -> impl IntoView {
    let id = format!("field-{name}");
    let error_id = format!("{id}-error");
    let hint_id = format!("{id}-hint");
    let described_by = if hint.is_some() {
        format!("{error_id} {hint_id}")
    } else {
        error_id.clone()
    };
    view! {
        <div class="field">
            <label for=id.clone()>{label}</label>
            <input id=id name=name.clone() type=kind autocomplete=autocomplete inputmode=inputmode value=value
                data-field=name.clone() aria-invalid="false" aria-describedby=described_by />
            {hint.map(|h| view! { <p class="field-hint" id=hint_id>{h}</p> })}
            <p class="field-error" id=error_id data-for=name aria-live="polite"></p>
        </div>
    }
}

/// `value` made safe as the child of a raw-text element (`<textarea>`, `<title>`) (T3).
/// Leptos writes such children as they are, since the HTML parser reads no markup in
/// them but their own end tag: a value holding `</textarea>` would close the element and
/// whatever followed would be markup on our origin. Escaped, the browser decodes the
/// character references and shows exactly what was typed. (`<style>` and `<script>`
/// decode nothing, so no value a user wrote may ever go into them.)
pub fn raw_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Where a [`ServerForm`] shows an error that belongs to none of its fields (throttling,
/// outages, wrong credentials). Put it above the submit button.
#[component]
pub fn FormAlert() -> impl IntoView {
    view! { <div class="alert alert-error form-alert" role="alert" data-form-alert="" hidden=true></div> }
}

/// A form posted to a server function (`action`, its URL), rendered on the server and
/// run by [`ServerFormScript`]: it sends the form as it is (the same body a browser
/// without wasm posts), shows a refused field's error in the form's `[data-for=FIELD]`
/// line (marking `[data-field=FIELD]` invalid and focusing it), anything else in its
/// [`FormAlert`], and follows the server's redirect or loads the page again.
///
/// Its submit button is rendered disabled, with `data-sending` (its label while
/// sending), and so is a `fieldset.form-body`; both are enabled once the script is live.
/// A submit button with `data-clear="ID"` empties that input before sending.
#[component]
pub fn ServerForm(
    action: &'static str,
    id: &'static str,
    #[prop(optional)] class: &'static str,
    #[prop(optional)] testid: Option<&'static str>,
    /// On success without a redirect: load the page again...
    #[prop(optional)]
    reload: bool,
    /// ...with focus on the element with this id...
    #[prop(optional)]
    focus: Option<&'static str>,
    /// ...and the form's `[data-form-note]` showing its `data-note`, which the server
    /// words from what was saved.
    #[prop(optional)]
    note: bool,
    children: Children,
) -> impl IntoView {
    let then = Then {
        reload,
        focus: focus.map(str::to_owned),
        note,
    };
    view! {
        <form id=id method="post" action=action class=class data-testid=testid novalidate>
            {crate::auth::csrf::current().map(|token| view! {
                <input type="hidden" name=crate::auth::csrf::FIELD value=token />
            })}
            {children()}
        </form>
        <ServerFormScript form=id.to_owned() then=then />
    }
}

/// What a [`ServerForm`] does after a success the server did not redirect.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Then {
    pub reload: bool,
    pub focus: Option<String>,
    pub note: bool,
}

/// Runs a [`ServerForm`]. Renders nothing.
#[island]
fn ServerFormScript(form: String, then: Then) -> impl IntoView {
    #[cfg(feature = "hydrate")]
    crate::dom::server_form(form, then);
    #[cfg(not(feature = "hydrate"))]
    let _ = (form, then);
}

/// Copies `text` to the clipboard and says so, visibly and to screen readers (run by
/// `page_script`). Disabled until the page is live.
#[component]
pub fn CopyButton(
    #[prop(into)] text: String,
    #[prop(into)] label: String,
    #[prop(into, optional)] id: Option<String>,
) -> impl IntoView {
    view! {
        <button type="button" id=id class="btn btn-secondary btn-copy" data-copy=text aria-label=label
            data-live="" disabled=true>"Copy"</button>
        <span class="copy-status" role="status" aria-live="polite"></span>
    }
}

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

#[component]
pub fn NotFoundPage() -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::ssr::set_page_status(http::StatusCode::NOT_FOUND);
    view! {
        <section class="card narrow state-page" data-testid="not-found">
            <h1>"Page not found"</h1>
            <p>"There is nothing here, or you are not a member of this organization."</p>
            <A href="/orgs" attr:class="btn btn-primary">"Go to your organizations"</A>
        </section>
    }
}

#[component]
pub fn AccessDeniedPage(#[prop(into)] message: String) -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::ssr::set_page_status(http::StatusCode::FORBIDDEN);
    view! {
        <section class="card narrow state-page" data-testid="access-denied">
            <h1>"Access denied"</h1>
            <p>{message}</p>
            <p class="muted">"Ask an owner or admin of this organization if you need access."</p>
        </section>
    }
}

/// Shown for errors a page cannot do anything specific with (outage, internal error).
#[component]
pub fn ErrorPanel(error: AppError) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Ok(status) = http::StatusCode::from_u16(error.status()) {
        crate::ssr::set_page_status(status);
    }
    view! {
        <section class="card narrow state-page" data-testid="error">
            <h1>"Something went wrong"</h1>
            <p role="alert">{error.to_string()}</p>
        </section>
    }
}

#[component]
pub fn Loading() -> impl IntoView {
    view! { <p class="loading" role="status" aria-live="polite">"Loading…"</p> }
}
