//! The keys page dialogs' behaviour in the browser, on the server's markup: plain DOM
//! calls, no views.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use leptos::prelude::document;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use web_sys::{Event, HtmlDialogElement, HtmlFormElement, MouseEvent};

use leptos::server_fn::ServerFn;

use crate::dom::{
    by_id, call, checked, closest, copy_and_say, enable, fresh_from_template, listen, listen_id,
    set_busy, set_hidden, set_text, show_form_error, value,
};

use super::{CREATE_FORM, expiry_preview};
use crate::calendar;
use crate::error::AppError;
use crate::keys::scopes::{Scope, Scopes};
use crate::keys::{
    CreateApiKey, KeyPolicy, RateLimit, context_from_form, format, resolve_expiry_at,
};
use crate::navigation::{leaving, reload_focusing};
use crate::validate;

mod confirm_dialog;

use crate::keys::confirm::KeyAction as Confirm;
use confirm_dialog::{Target, confirm, row_action};

struct Page {
    org_id: String,
    policy: KeyPolicy,
    /// The ids of the None / Read / Write selects, one per resource of the catalog.
    access_ids: Vec<String>,
    /// A key changed: the page loads again once the dialogs have closed.
    changed: Cell<bool>,
    /// A request is under way (create, confirm, resume).
    busy: Cell<bool>,
    /// Whether the revealed key was copied; until then closing asks first.
    copied: Cell<bool>,
    /// The key the confirm dialog is about, and what it does.
    confirm: RefCell<Option<(Target, Confirm)>>,
}

type Shared = Rc<Page>;

fn dialog(id: &str) -> Option<HtmlDialogElement> {
    by_id(id).and_then(|e| e.dyn_into().ok())
}

fn is_open(id: &str) -> bool {
    dialog(id).is_some_and(|d| d.open())
}

fn focus(id: &str) {
    crate::navigation::focus_by_id(id);
}

pub(super) fn attach(org_id: String, policy: KeyPolicy, access_ids: Vec<String>) {
    let page: Shared = Rc::new(Page {
        org_id,
        policy,
        access_ids,
        changed: Cell::new(false),
        busy: Cell::new(false),
        copied: Cell::new(false),
        confirm: RefCell::new(None),
    });
    let doc = document();
    {
        let page = page.clone();
        listen(&doc, "click", move |ev| {
            if closest(&ev, "[data-open-create]").is_some() {
                // A link to the create page: the dialog, not the page.
                ev.prevent_default();
                open_create();
            } else if let Some(button) = closest(&ev, "button[data-action]") {
                // A submit button of the row's GET form: the dialog, not the page.
                ev.prevent_default();
                row_action(&page, &button);
            }
        });
    }
    {
        let page = page.clone();
        listen_id(CREATE_FORM, "submit", move |ev| {
            ev.prevent_default();
            submit(&page);
        });
    }
    listen_id("key-expiry", "change", |_| update_expiry());
    listen_id("key-date", "input", |_| update_expiry());
    listen_id("create-key-cancel", "click", |_| close("create-key-dialog"));
    {
        let page = page.clone();
        listen_id("create-key-dialog", "cancel", move |ev| {
            // Escape while a key is shown: the same as Done.
            if by_id("key-reveal").is_some() {
                ev.prevent_default();
                try_dismiss(&page);
            }
        });
    }
    {
        let page = page.clone();
        listen_id("create-key-dialog", "click", move |ev| {
            reveal_click(&page, &ev)
        });
    }
    {
        let page = page.clone();
        listen_id("create-key-dialog", "close", move |_| {
            // Drop the revealed key from the page as soon as the dialog closes.
            if let Some(reveal) = by_id("key-reveal") {
                reveal.remove();
            }
            reset_create();
            closed(&page);
        });
    }
    listen_id("pause-for", "change", |_| {
        set_hidden("pause-until-field", value("pause-for") != "until");
    });
    listen_id("confirm-cancel", "click", |_| close("confirm-dialog"));
    {
        let page = page.clone();
        listen_id("confirm-go", "click", move |_| confirm(&page));
    }
    {
        let page = page.clone();
        listen_id("confirm-dialog", "close", move |_| {
            page.confirm.replace(None);
            closed(&page);
        });
    }
    // Live now: the buttons work.
    enable("[data-open-create], button[data-action]");
}

fn close(id: &str) {
    if let Some(d) = dialog(id) {
        d.close();
    }
}

/// Once the last dialog has closed: the page loads again if a key changed, with focus
/// on "Create key" (the control that was used may be gone).
fn closed(page: &Page) {
    if page.changed.get() && !is_open("create-key-dialog") && !is_open("confirm-dialog") {
        reload_focusing("create-key");
    }
}

fn open_create() {
    reset_create();
    if let Some(d) = dialog("create-key-dialog") {
        // Focus goes to the name field (`autofocus`).
        let _ = d.show_modal();
    }
}

/// The form as the server rendered it: defaults, no errors, shown.
fn reset_create() {
    if let Some(form) = by_id(CREATE_FORM).and_then(|f| f.dyn_into::<HtmlFormElement>().ok()) {
        form.reset();
    }
    set_hidden(CREATE_FORM, false);
    show_errors(None);
    set_busy("create-key-submit", false, "Create key");
    if let Some(d) = by_id("create-key-dialog") {
        let _ = d.set_attribute("aria-labelledby", "create-key-title");
    }
    update_expiry();
}

fn update_expiry() {
    let expiry = value("key-expiry");
    set_hidden("key-date-field", expiry != "custom");
    set_text(
        "key-expiry-preview",
        &expiry_preview(&expiry, &value("key-date"), calendar::now()),
    );
}

/// Shows an error under its field (marking and focusing it), or in the form's alert.
fn show_errors(error: Option<&AppError>) {
    if let Some(form) = by_id(CREATE_FORM) {
        show_form_error(&form, error);
    }
}

/// What the create form sends.
struct NewKey {
    name: String,
    expiry: String,
    date: String,
    scopes: Scopes,
    /// Requests (empty: no limit) and per what.
    limit: (String, String),
    tags: String,
    owner: String,
    /// Permissions and roles of the API, as typed (the server checks them against the
    /// catalog).
    permissions: String,
    roles: String,
}

/// The form as typed, checked as the server will check it.
fn read_form(page: &Page) -> Result<NewKey, AppError> {
    let name = value("key-name");
    if let Err(message) = validate::name(&name, "Name") {
        return Err(AppError::invalid("name", message));
    }
    let (expiry, date) = (value("key-expiry"), value("key-date"));
    let now = calendar::now();
    let at = resolve_expiry_at(&expiry, &date, now)?;
    if let Err(message) = page.policy.check_at(at, now) {
        let field = if expiry == "custom" {
            "custom_date"
        } else {
            "expiry"
        };
        return Err(AppError::invalid(field, message));
    }
    let scopes = Scope::ALL
        .into_iter()
        .fold(Scopes::default(), |set, scope| {
            if checked(&format!("scope-{}", scope.as_str().replace(':', "-"))) {
                set.with(scope)
            } else {
                set
            }
        });
    if scopes.is_empty() {
        return Err(AppError::invalid("scopes", "Choose at least one scope."));
    }
    let limit = (value("key-rate-limit"), value("key-rate-limit-per"));
    RateLimit::from_form(&limit.0, &limit.1)?;
    let (tags, owner) = (value("new-key-tags"), value("new-key-owner"));
    context_from_form(&tags, &owner, "")?;
    // Checked by the server against the catalog, which the page does not have.
    // What the resources' selects give, with what was typed.
    let permissions = std::iter::once(value("new-key-permissions"))
        .chain(page.access_ids.iter().map(|id| value(id)))
        .collect::<Vec<_>>()
        .join(" ");
    let roles = value("new-key-roles");
    Ok(NewKey {
        name,
        expiry,
        date,
        scopes,
        limit,
        tags,
        owner,
        permissions,
        roles,
    })
}

fn submit(page: &Shared) {
    if page.busy.get() {
        return;
    }
    let form = match read_form(page) {
        Ok(form) => form,
        Err(e) => return show_errors(Some(&e)),
    };
    show_errors(None);
    page.busy.set(true);
    set_busy("create-key-submit", true, "Creating…");
    let page = page.clone();
    spawn_local(async move {
        let scopes = form.scopes.to_stored();
        let result = call(
            CreateApiKey::PATH,
            &[
                ("org_id", &page.org_id),
                ("name", &form.name),
                ("expiry", &form.expiry),
                ("custom_date", &form.date),
                ("scopes", &scopes),
                ("rate_limit", &form.limit.0),
                ("rate_limit_per", &form.limit.1),
                ("tags", &form.tags),
                ("owner", &form.owner),
                ("permissions", &form.permissions),
                ("roles", &form.roles),
            ],
        )
        .await
        .and_then(|answer| revealed(&answer));
        page.busy.set(false);
        set_busy("create-key-submit", false, "Create key");
        match result {
            // A creation that returns no usable key is an error, never an empty success.
            Ok(created) if format::check(&created.secret).is_ok() => {
                page.changed.set(true);
                reveal(&page, created);
            }
            Ok(_) => show_errors(Some(&AppError::Internal)),
            Err(e) => show_errors(Some(&e)),
        }
    });
}

/// What the page reads of a created or rolled key: its name and its secret.
#[derive(serde::Deserialize)]
struct Revealed {
    key: Named,
    secret: String,
}

#[derive(serde::Deserialize)]
struct Named {
    name: String,
}

fn revealed(answer: &str) -> Result<Revealed, AppError> {
    serde_json::from_str(answer).map_err(|_| AppError::Internal)
}

/// Shows a created or rolled key once, in the create dialog, in place of the form.
fn reveal(page: &Page, created: Revealed) {
    let (Some(dialog), Some(content)) = (
        dialog("create-key-dialog"),
        fresh_from_template("key-reveal-template", "key-reveal"),
    ) else {
        return;
    };
    let _ = dialog.append_child(&content);
    set_hidden(CREATE_FORM, true);
    let _ = dialog.set_attribute("aria-labelledby", "reveal-title");
    set_text("reveal-title", &format!("Your key “{}”", created.key.name));
    set_text("revealed-secret", &created.secret);
    page.copied.set(false);
    if !dialog.open() {
        let _ = dialog.show_modal();
    }
    // The form that had focus is gone: focus the copy button, the next thing to do.
    focus("copy-secret");
}

/// Clicks in the create dialog while a key is shown: its buttons, and the backdrop.
fn reveal_click(page: &Shared, ev: &Event) {
    if by_id("key-reveal").is_none() {
        return;
    }
    if closest(ev, "#copy-secret").is_some() {
        copy_secret(page);
    } else if closest(ev, "#reveal-done-button").is_some() {
        try_dismiss(page);
    } else if closest(ev, "#keep-key-open").is_some() {
        set_hidden("close-anyway", true);
        set_hidden("reveal-done", false);
        focus("copy-secret");
    } else if closest(ev, "#close-anyway-button").is_some() {
        dismiss(page);
    } else if let Some(mouse) = ev.dyn_ref::<MouseEvent>()
        && clicked_outside(mouse)
    {
        // A click on the backdrop: the same as Done.
        try_dismiss(page);
    }
}

/// Whether a click on the create dialog landed on its backdrop, outside its box. A
/// click made with the keyboard (Enter on a button) has no position: never outside.
fn clicked_outside(ev: &MouseEvent) -> bool {
    let Some(dialog) = by_id("create-key-dialog") else {
        return false;
    };
    let on_dialog = ev.target().is_some_and(|t| {
        let target: &wasm_bindgen::JsValue = t.as_ref();
        let dialog: &wasm_bindgen::JsValue = dialog.as_ref();
        target == dialog
    });
    if !on_dialog || ev.detail() == 0 {
        return false;
    }
    let rect = dialog.get_bounding_client_rect();
    let (x, y) = (f64::from(ev.client_x()), f64::from(ev.client_y()));
    x < rect.left() || x > rect.right() || y < rect.top() || y > rect.bottom()
}

fn copy_secret(page: &Shared) {
    let (Some(secret), Some(button)) = (by_id("revealed-secret"), by_id("copy-secret")) else {
        return;
    };
    let secret = secret.text_content().unwrap_or_default();
    let page = page.clone();
    spawn_local(async move {
        if copy_and_say(&secret, button, by_id("copy-secret-status")).await {
            page.copied.set(true);
        }
    });
}

/// Done, Escape or a click outside while a key is shown: closes at once once the key
/// was copied, otherwise asks "Close anyway?" first.
fn try_dismiss(page: &Page) {
    if page.copied.get() {
        dismiss(page);
    } else {
        set_hidden("reveal-done", true);
        set_hidden("close-anyway", false);
        focus("keep-key-open");
    }
}

/// Closes the create dialog and drops the revealed key in the same task (the dialog's
/// `close` event comes later, as a separate task).
fn dismiss(page: &Page) {
    if page.changed.get() {
        // The page loads again once the dialog has closed (see `closed`).
        leaving();
    }
    if let Some(reveal) = by_id("key-reveal") {
        reveal.remove();
    }
    close("create-key-dialog");
}
