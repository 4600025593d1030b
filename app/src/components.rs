//! Small building blocks shared by every page: form fields, error banners, the copy
//! button and the 404 / access-denied / loading states.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::error::AppError;
use crate::hooks::{self, hook};

/// A labelled text input. Its error line shows the server's refusal of this field,
/// announced to screen readers.
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
    // The answer to this form posted without script and refused: what was typed, and
    // the refusal beside its field.
    crate::flash::shown(&name);
    let flash = crate::flash::current();
    // What was typed wins over what the page would show.
    let value = flash
        .as_ref()
        .filter(|f| f.error.is_some())
        .and_then(|f| f.value(&name))
        .filter(|_| crate::flash::kept(&name))
        .map(str::to_owned)
        .or(value);
    let error = flash.and_then(|f| f.field_message(&name));
    let invalid = if error.is_some() { "true" } else { "false" };
    view! {
        <div class="field">
            <label for=id.clone()>{label}</label>
            <input id=id name=name.clone() type=kind autocomplete=autocomplete inputmode=inputmode value=value
                data-field=name.clone() aria-invalid=invalid aria-describedby=described_by
                autofocus=error.is_some() />
            {hint.map(|h| view! { <p class="field-hint" id=hint_id>{h}</p> })}
            <p class="field-error" id=error_id data-for=name aria-live="polite">{error}</p>
        </div>
    }
}

/// A labelled `<textarea>`, as [`Field`] is an input: its hint (the children, which may
/// hold code) in `{id}-hint`, its error line in `{id}-error`, and its value written
/// through [`raw_text`]. Inside a [`ServerForm`], it shows that form's refusal as [`Field`]
/// does.
#[component]
pub fn TextAreaField(
    id: &'static str,
    #[prop(into)] label: String,
    name: &'static str,
    #[prop(into, optional)] value: String,
    rows: usize,
    #[prop(into, optional)] placeholder: Option<String>,
    children: Children,
) -> impl IntoView {
    let error_id = format!("{id}-error");
    let hint_id = format!("{id}-hint");
    // The answer to this form refused without script: what was typed, and why.
    let value = crate::flash::kept_value(name).unwrap_or(value);
    let error = crate::flash::field_error(name);
    let invalid = if error.is_some() { "true" } else { "false" };
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <textarea id=id name=name rows=rows.to_string() spellcheck="false" autocomplete="off"
                data-field=name aria-invalid=invalid aria-describedby=format!("{error_id} {hint_id}")
                placeholder=placeholder>{raw_text(&value)}</textarea>
            <p class="field-hint" id=hint_id>{children()}</p>
            <p class="field-error" id=error_id data-for=name aria-live="polite">{error}</p>
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
    // A refusal of this form posted without script that names none of its fields.
    let message = crate::flash::alert_message();
    let hidden = message.is_none();
    view! { <div class="alert alert-error form-alert" role="alert" {..hook(hooks::FORM_ALERT, "")} hidden=hidden>{message}</div> }
}

/// A field's error line (`id`, for the field's `aria-describedby`): filled on the page
/// that answers its form refused. Inside a [`ServerForm`].
#[component]
pub fn FieldError(id: &'static str, field: &'static str) -> impl IntoView {
    let error = crate::flash::field_error(field);
    view! { <p class="field-error" id=id data-for=field aria-live="polite">{error}</p> }
}

/// Where a [`ServerForm`] says what was saved: `note`, worded by the server from what the
/// page shows, on the page that answers the form accepted.
#[component]
pub fn FormNote(
    #[prop(into)] note: String,
    #[prop(optional)] testid: Option<&'static str>,
    /// A `<span>` beside the submit button, not a line of its own.
    #[prop(optional)]
    inline: bool,
) -> impl IntoView {
    let shown = crate::flash::saved().then_some(note);
    if inline {
        view! {
            <span class="muted small" role="status" aria-live="polite" data-testid=testid>{shown}</span>
        }
        .into_any()
    } else {
        view! {
            <p class="muted small" role="status" aria-live="polite" data-testid=testid>{shown}</p>
        }
        .into_any()
    }
}

/// A form posted to a server function (`action`, its URL). The browser posts it itself
/// (script off, not loaded, or not loaded yet), or the script sends the same body and
/// shows the answer in place (`behaviours`): either way the server answers with a page.
/// A refusal comes back on the same page through `crate::flash` (the server's side is
/// `server::plain_forms`), beside its field ([`Field`], [`FieldError`]) or in the
/// [`FormAlert`], with what was typed kept; an accepted form leads to the server
/// function's redirect, or back to its page, which shows its [`FormNote`].
#[component]
pub fn ServerForm(
    action: &'static str,
    id: &'static str,
    #[prop(optional)] class: &'static str,
    #[prop(optional)] testid: Option<&'static str>,
    /// After an accepted submit in place, focus goes to the element with this id (the
    /// control used may be gone, or redrawn).
    #[prop(optional)]
    focus: Option<&'static str>,
    children: Children,
) -> impl IntoView {
    provide_context(crate::flash::FormAction(action));
    provide_context(crate::flash::ShownFields::default());
    view! {
        <form id=id method="post" action=action class=class data-testid=testid novalidate
            {..hook(hooks::FOCUS_AFTER, focus)}>
            {crate::auth::csrf::current().map(|token| view! {
                <input type="hidden" name=crate::auth::csrf::FIELD value=token />
            })}
            {children()}
        </form>
    }
}

/// Copies `text` to the clipboard and says so, visibly and to screen readers (run by
/// `behaviours`). Disabled until the page is live: without script it cannot copy.
#[component]
pub fn CopyButton(
    #[prop(into)] text: String,
    #[prop(into)] label: String,
    #[prop(into, optional)] id: Option<String>,
) -> impl IntoView {
    view! {
        <button type="button" id=id class="btn btn-secondary btn-copy" aria-label=label disabled=true
            {..hook(hooks::COPY, text)} {..hook(hooks::LIVE, "")}>"Copy"</button>
        <span class="copy-status" role="status" aria-live="polite"></span>
    }
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
