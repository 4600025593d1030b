//! Small building blocks shared by every page: form fields, error banners, the copy
//! button and the 404 / access-denied / loading states.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::error::AppError;
use crate::navigation::Then;

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
    view! { <div class="alert alert-error form-alert" role="alert" data-form-alert="" hidden=hidden>{message}</div> }
}

/// A field's error line (`id`, for the field's `aria-describedby`): filled on the page
/// that answers its form refused without script, and by [`ServerFormScript`] after a
/// refusal in place. Inside a [`ServerForm`].
#[component]
pub fn FieldError(id: &'static str, field: &'static str) -> impl IntoView {
    let error = crate::flash::field_error(field);
    view! { <p class="field-error" id=id data-for=field aria-live="polite">{error}</p> }
}

/// Where a [`ServerForm`] says what was saved: `note`, worded by the server from what the
/// page shows. Filled by [`ServerFormScript`] after a save in place, and on the page that
/// answers the form posted without script and accepted.
#[component]
pub fn FormNote(
    #[prop(into)] note: String,
    #[prop(optional)] testid: Option<&'static str>,
    /// A `<span>` beside the submit button, not a line of its own.
    #[prop(optional)]
    inline: bool,
) -> impl IntoView {
    let shown = crate::flash::saved().then(|| note.clone());
    if inline {
        view! {
            <span class="muted small" role="status" aria-live="polite" data-testid=testid
                data-form-note="" data-note=note>{shown}</span>
        }
        .into_any()
    } else {
        view! {
            <p class="muted small" role="status" aria-live="polite" data-testid=testid
                data-form-note="" data-note=note>{shown}</p>
        }
        .into_any()
    }
}

/// A form posted to a server function (`action`, its URL), rendered on the server and
/// run by [`ServerFormScript`]: it sends the form as it is (the same body a browser
/// without wasm posts), shows a refused field's error in the form's `[data-for=FIELD]`
/// line (marking `[data-field=FIELD]` invalid and focusing it), anything else in its
/// [`FormAlert`], and follows the server's redirect or loads the page again.
///
/// Without the script (off, not loaded, or not loaded yet) the browser posts the form
/// itself; a refusal comes back on the same page through `crate::flash` (the server's
/// side is `server::plain_forms`), shown by [`Field`] and [`FormAlert`]; an accepted one
/// follows the server's redirect, or goes back to its page. Forms that work that way
/// (the account forms, creating, renaming and switching organizations, adding a member)
/// are never disabled; the others, whose answers need the script still, render their
/// submit button (with `data-sending`, its label while sending) or `fieldset.form-body`
/// disabled until it is live.
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
    /// Posted by the browser itself, with the script too: the answer is a page of its
    /// own (a created or rolled key's secret, shown once, `crate::flash::Outcome`),
    /// which a submit in place could not show.
    #[prop(optional)]
    native: bool,
    children: Children,
) -> impl IntoView {
    let then = Then {
        reload,
        focus: focus.map(str::to_owned),
        note,
    };
    provide_context(crate::flash::FormAction(action));
    provide_context(crate::flash::ShownFields::default());
    view! {
        <form id=id method="post" action=action class=class data-testid=testid novalidate>
            {crate::auth::csrf::current().map(|token| view! {
                <input type="hidden" name=crate::auth::csrf::FIELD value=token />
            })}
            {children()}
        </form>
        {(!native).then(|| view! { <ServerFormScript form=id.to_owned() then=then /> })}
    }
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
