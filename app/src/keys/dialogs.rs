//! The keys page's dialogs: create (with the one-time reveal of a created or rolled key)
//! and confirm (roll, end overlap, pause, shorten, revoke), and the row buttons that open
//! them. Their markup is rendered on the server, once per page; one small island,
//! [`KeyDialogs`], opens, checks and sends them in the browser by working on that markup
//! (module `dom`). The bundle so carries no view code for them (issue 12 §2): the two
//! dialogs as Leptos views were an eighth of the wasm.
//!
//! Without wasm the buttons stay disabled, as every island's controls do until live.

use chrono::{DateTime, Utc};
use leptos::prelude::*;

use crate::calendar;

use super::scopes::{DEFAULT_SCOPES, Scope};
use super::{
    ApiKeyView, DEFAULT_EXPIRY, EXPIRY_CHOICES, KeyPolicy, KeyStatus, OVERLAP_CHOICES, RatePeriod,
    format_date, relative, resolve_expiry_at,
};

/// The create dialog's preselected expiry: 30 days, or the longest choice the policy
/// allows.
fn default_expiry(policy: KeyPolicy) -> &'static str {
    if policy.offers(DEFAULT_EXPIRY) {
        return DEFAULT_EXPIRY;
    }
    EXPIRY_CHOICES
        .iter()
        .rev()
        .map(|(value, _)| *value)
        .filter(|value| value.parse::<u32>().is_ok())
        .find(|value| policy.offers(value))
        .unwrap_or("custom")
}

/// The line under the expiry: when a key made at `now` (Unix seconds) with this choice
/// would expire. The server renders it first; the dialog, without chrono, as it changes.
fn expiry_preview(expiry: &str, custom_date: &str, now: i64) -> String {
    match resolve_expiry_at(expiry, custom_date, now) {
        Ok(Some(at)) => format!(
            "The key will expire on {} ({}).",
            calendar::format_date(at),
            calendar::relative(at - now)
        ),
        Ok(None) => {
            "The key will never expire. Prefer an expiry, and roll keys you keep.".to_owned()
        }
        Err(_) => "Pick a future date to see when the key expires.".to_owned(),
    }
}

/// A row's actions. The cell carries what the confirm dialog says about its key.
pub(crate) fn key_actions(
    key: &ApiKeyView,
    policy: KeyPolicy,
    now: DateTime<Utc>,
) -> impl IntoView + use<> {
    let live = key.status.is_live();
    let paused = key.status == KeyStatus::Paused;
    let name = key.name.clone();
    // The shortening, worded here: the policy and the clock are the server's.
    let shorten = (live && key.exceeds_policy)
        .then(|| policy.shortened(key.expires_at, now))
        .flatten()
        .map(|at| {
            format!(
                "The key will expire on {} ({}) instead of {}.",
                format_date(at),
                relative(at, now),
                key.expires_at
                    .map(format_date)
                    .unwrap_or_else(|| "never".into())
            )
        });
    let button = move |action: &'static str, label: &'static str, aria: String, danger: bool| {
        let class = if danger {
            "btn btn-danger-outline btn-small"
        } else {
            "btn btn-secondary btn-small"
        };
        view! {
            <button type="button" class=class data-action=action aria-label=aria disabled=true>{label}</button>
        }
    };
    view! {
        <td class="actions" data-key=key.id.clone() data-name=name.clone() data-hint=key.hint.clone()
            data-rolling-hint=key.rolling.as_ref().map(|r| r.hint.clone())
            data-shorten=shorten.clone()>
            {live.then(|| button("roll", "Roll", format!("Roll key {name}"), false))}
            {key.rolling.is_some().then(|| button("end-overlap", "End overlap now", format!("End overlap now for key {name}"), false))}
            {(live && !paused).then(|| button("pause", "Pause", format!("Pause key {name}"), false))}
            {paused.then(|| button("resume", "Resume", format!("Resume key {name}"), false))}
            {shorten.is_some().then(|| button("shorten", "Shorten to policy", format!("Shorten key {name} to policy"), false))}
            {(key.status != KeyStatus::Revoked).then(|| button("revoke", "Revoke", format!("Revoke key {name}"), true))}
        </td>
    }
}

/// A button that opens the create dialog ("Create key", "Create your first key").
pub(crate) fn create_button(
    label: &'static str,
    class: &'static str,
    id: Option<&'static str>,
) -> impl IntoView {
    view! { <button type="button" id=id class=class data-open-create="" disabled=true>{label}</button> }
}

/// Both dialogs, closed, and the island that runs them. Once per keys page.
#[component]
pub(crate) fn KeyDialogs(org_id: String, policy: KeyPolicy) -> impl IntoView {
    let now = Utc::now().timestamp();
    let expiry = default_expiry(policy);
    let choices = EXPIRY_CHOICES
        .iter()
        .filter(|(value, _)| policy.offers(value))
        .map(|(value, label)| view! { <option value=*value selected=*value == expiry>{*label}</option> })
        .collect_view();
    let text_field = |id: &'static str,
                      name: &'static str,
                      label: &'static str,
                      placeholder: &'static str| {
        let error = format!("{id}-error");
        view! {
            <div class="field">
                <label for=id>{label}" "<span class="muted small">"(optional)"</span></label>
                <input id=id name=name autocomplete="off" spellcheck="false" maxlength="128"
                    placeholder=placeholder data-field=name aria-invalid="false" aria-describedby=error.clone() />
                <p class="field-error" id=error data-for=name aria-live="polite"></p>
            </div>
        }
    };
    view! {
        <dialog id="create-key-dialog" class="dialog" aria-labelledby="create-key-title">
            <form id="create-key-form" method="dialog" novalidate>
                <h2 id="create-key-title">"Create an API key"</h2>
                <div class="field">
                    <label for="key-name">"Name"</label>
                    <input id="key-name" name="name" autocomplete="off" autofocus
                        placeholder="e.g. Billing service (production)"
                        data-field="name" aria-invalid="false" aria-describedby="key-name-error" />
                    <p class="field-error" id="key-name-error" data-for="name" aria-live="polite"></p>
                </div>
                <div class="field">
                    <label for="key-expiry">"Expiration"</label>
                    <select id="key-expiry" name="expiry" data-field="expiry" aria-describedby="key-expiry-preview key-policy-note">
                        {choices}
                    </select>
                    <p class="muted small" id="key-policy-note" data-testid="policy-note">
                        {policy.summary().map(|s| format!("{s} Longer expiries are not offered."))}
                    </p>
                    <p class="field-error" id="key-expiry-error" data-for="expiry" aria-live="polite"></p>
                </div>
                <div class="field" id="key-date-field" hidden=expiry != "custom">
                    <label for="key-date">"Expiry date"</label>
                    <input id="key-date" name="custom_date" type="date" data-field="custom_date" aria-describedby="key-date-error" />
                    <p class="field-error" id="key-date-error" data-for="custom_date" aria-live="polite"></p>
                </div>
                <p class="expiry-preview" id="key-expiry-preview" data-testid="expiry-preview">
                    {expiry_preview(expiry, "", now)}
                </p>
                <fieldset class="field scopes" aria-describedby="key-scopes-error">
                    <legend>"Scopes"</legend>
                    {Scope::ALL.into_iter().map(|scope| {
                        let id = format!("scope-{}", scope.as_str().replace(':', "-"));
                        let label_for = id.clone();
                        view! {
                            <label class="checkbox" for=label_for>
                                <input type="checkbox" id=id name="scopes" value=scope.as_str()
                                    checked=DEFAULT_SCOPES.contains(scope) />
                                <code>{scope.as_str()}</code>
                                <span class="muted small">{scope.description()}</span>
                            </label>
                        }
                    }).collect_view()}
                    <p class="field-error" id="key-scopes-error" data-for="scopes" aria-live="polite"></p>
                </fieldset>
                <fieldset class="field rate-limit" aria-describedby="key-rate-limit-error">
                    <legend>"Rate limit " <span class="muted small">"(optional)"</span></legend>
                    <div class="inline-fields">
                        <label class="sr-only" for="key-rate-limit">"Requests"</label>
                        <input id="key-rate-limit" name="rate_limit" type="number" min="1" inputmode="numeric"
                            placeholder="No limit" data-field="rate_limit" aria-invalid="false" />
                        <span aria-hidden="true">"per"</span>
                        <label class="sr-only" for="key-rate-limit-per">"Per"</label>
                        <select id="key-rate-limit-per" name="rate_limit_per">
                            {RatePeriod::ALL.into_iter().map(|p| view! {
                                <option value=p.as_str() selected=p == RatePeriod::Minute>{p.as_str()}</option>
                            }).collect_view()}
                        </select>
                    </div>
                    <p class="field-error" id="key-rate-limit-error" data-for="rate_limit" aria-live="polite"></p>
                </fieldset>
                <div class="field-pair">
                    {text_field("new-key-tags", "tags", "Tags", "billing, prod")}
                    {text_field("new-key-owner", "owner", "Owner id", "cus_4QFJ")}
                </div>
                <div class="alert alert-error" id="create-key-alert" role="alert" data-form-alert="" hidden></div>
                <div class="dialog-actions">
                    <button type="button" class="btn btn-link" id="create-key-cancel">"Cancel"</button>
                    <button type="submit" class="btn btn-primary" id="create-key-submit">"Create key"</button>
                </div>
            </form>
        </dialog>
        // The one-time reveal, put into the create dialog only while a key is shown.
        <template id="key-reveal-template">
            <div class="reveal" data-testid="reveal" id="key-reveal">
                <h2 id="reveal-title"></h2>
                <div class="alert alert-warn" role="note">
                    "Copy this key now and store it somewhere safe. You will not be able to see it again."
                </div>
                <div class="copy-row">
                    <code class="secret" data-testid="secret" id="revealed-secret"></code>
                    <button type="button" id="copy-secret" class="btn btn-secondary btn-copy" aria-label="Copy API key">"Copy"</button>
                    <span class="copy-status" id="copy-secret-status" role="status" aria-live="polite"></span>
                </div>
                <div class="dialog-actions" id="reveal-done">
                    <button type="button" class="btn btn-primary" id="reveal-done-button">"Done"</button>
                </div>
                <div class="alert alert-warn close-anyway" role="alertdialog" aria-labelledby="close-anyway-text"
                    data-testid="close-anyway" id="close-anyway" hidden>
                    <p id="close-anyway-text"><strong>"You have not copied this key. Close anyway?"</strong>
                        " It cannot be shown again."</p>
                    <div class="dialog-actions">
                        <button type="button" id="keep-key-open" class="btn btn-secondary">"Keep it open"</button>
                        <button type="button" id="close-anyway-button" class="btn btn-danger">"Close anyway"</button>
                    </div>
                </div>
            </div>
        </template>
        <dialog id="confirm-dialog" class="dialog" aria-labelledby="confirm-title" aria-describedby="confirm-body">
            <h2 id="confirm-title"></h2>
            <p id="confirm-body"></p>
            <fieldset class="field choices" id="overlap-choices" data-testid="overlap-choices" hidden>
                <legend>"When should the old secret stop working?"</legend>
                {OVERLAP_CHOICES.iter().map(|(seconds, label)| {
                    let id = format!("overlap-{seconds}");
                    let label_for = id.clone();
                    view! {
                        <label class="radio" for=label_for>
                            <input type="radio" id=id name="overlap" value=seconds.to_string() checked=*seconds == 0 />
                            {*label}
                        </label>
                    }
                }).collect_view()}
                <p class="muted small">"During an overlap both secrets work, so you can update your services before the old one stops."</p>
            </fieldset>
            <div class="alert alert-warn" role="note" id="ends-older-overlap" data-testid="ends-older-overlap" hidden></div>
            <div id="pause-fields" hidden>
                <div class="field">
                    <label for="pause-for">"Pause"</label>
                    <select id="pause-for">
                        <option value="resume" selected=true>"Until I resume it"</option>
                        <option value="3600">"For 1 hour"</option>
                        <option value="86400">"For 24 hours"</option>
                        <option value="604800">"For 7 days"</option>
                        <option value="until">"Until a date and time…"</option>
                    </select>
                </div>
                <div class="field" id="pause-until-field" hidden>
                    <label for="pause-until">"Resume at (your local time)"</label>
                    <input id="pause-until" type="datetime-local" aria-describedby="pause-error" />
                </div>
                <p class="field-error" id="pause-error" aria-live="polite"></p>
            </div>
            <div class="alert alert-error" id="confirm-alert" role="alert" hidden></div>
            <div class="dialog-actions">
                <button type="button" class="btn btn-link" id="confirm-cancel" autofocus>"Cancel"</button>
                <button type="button" class="btn btn-primary" id="confirm-go"></button>
            </div>
        </dialog>
        <KeyDialogsIsland org_id=org_id policy=policy />
    }
}

/// Runs the dialogs above and the buttons that open them. Renders nothing.
#[island]
fn KeyDialogsIsland(org_id: String, policy: KeyPolicy) -> impl IntoView {
    #[cfg(feature = "hydrate")]
    dom::attach(org_id, policy);
    #[cfg(not(feature = "hydrate"))]
    let _ = (org_id, policy);
}

#[cfg(feature = "hydrate")]
mod dom {
    //! The dialogs' behaviour, on the server's markup: plain DOM calls, no views.

    use std::cell::{Cell, RefCell};
    use std::rc::Rc;

    use leptos::prelude::document;
    use leptos::task::spawn_local;
    use wasm_bindgen::JsCast;
    use web_sys::{
        Element, Event, HtmlDialogElement, HtmlElement, HtmlFormElement, HtmlInputElement,
        HtmlSelectElement, MouseEvent,
    };

    use leptos::server_fn::ServerFn;

    use crate::dom::{
        by_id, call, checked, closest, copy_and_say, enable, fresh_from_template, listen,
        listen_id, set_busy, set_hidden, set_text, show_form_error, value,
    };

    use super::expiry_preview;
    use crate::calendar;
    use crate::components::{leaving, reload_focusing};
    use crate::error::AppError;
    use crate::keys::scopes::{Scope, Scopes};
    use crate::keys::{
        CreateApiKey, EndKeyOverlap, KeyPolicy, OVERLAP_CHOICES, PauseApiKey, RateLimit,
        ResumeApiKey, RevokeApiKey, RollApiKey, ShortenApiKey, context_from_form, format,
        resolve_expiry_at,
    };
    use crate::validate;

    /// A hint inside a sentence, with the space before it: " kg_Azw6…", or nothing.
    fn hint_after(hint: &str) -> String {
        if hint.is_empty() {
            String::new()
        } else {
            format!(" {hint}…")
        }
    }

    /// What the confirm dialog does to its key.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Confirm {
        Revoke,
        Roll,
        Pause,
        EndOverlap,
        Shorten,
    }

    impl Confirm {
        fn from_action(action: &str) -> Option<Self> {
            Some(match action {
                "revoke" => Self::Revoke,
                "roll" => Self::Roll,
                "pause" => Self::Pause,
                "end-overlap" => Self::EndOverlap,
                "shorten" => Self::Shorten,
                _ => return None,
            })
        }

        /// The confirm button's label, idle and while sending.
        fn labels(self) -> (&'static str, &'static str) {
            match self {
                Self::Revoke => ("Revoke key", "Revoking…"),
                Self::Roll => ("Roll key", "Rolling…"),
                Self::Pause => ("Pause key", "Pausing…"),
                Self::EndOverlap => ("End overlap now", "Ending…"),
                Self::Shorten => ("Shorten to policy", "Shortening…"),
            }
        }
    }

    /// The key a row's button is about, as its cell carries it.
    #[derive(Clone, Default)]
    struct Target {
        id: String,
        name: String,
        hint: String,
        /// The old secret's hint while the key is rolling.
        rolling_hint: Option<String>,
        shorten: Option<String>,
    }

    impl Target {
        fn title(&self, kind: Confirm) -> String {
            let name = &self.name;
            match kind {
                Confirm::Revoke => format!("Revoke “{name}”?"),
                Confirm::Roll => format!("Roll “{name}”?"),
                Confirm::Pause => format!("Pause “{name}”?"),
                Confirm::EndOverlap => format!("End the overlap of “{name}” now?"),
                Confirm::Shorten => format!("Shorten “{name}” to the key policy?"),
            }
        }

        fn body(&self, kind: Confirm) -> String {
            match kind {
                Confirm::Revoke if self.rolling_hint.is_some() => {
                    "Requests using this key, with its new or its old secret, will fail right away. This cannot be undone.".to_owned()
                }
                Confirm::Revoke => {
                    "Requests using this key will fail right away. This cannot be undone.".to_owned()
                }
                Confirm::Roll => "A new secret is issued for this key: same name, scopes, expiry and usage history. The new secret is yours: its rights follow your role.".to_owned(),
                Confirm::Pause => "Requests using this key are refused with “key_paused” until it resumes. Nothing else about the key changes.".to_owned(),
                Confirm::EndOverlap => format!(
                    "The old secret{} stops working right away; the new secret{} keeps working.",
                    hint_after(self.rolling_hint.as_deref().unwrap_or_default()),
                    hint_after(&self.hint)
                ),
                Confirm::Shorten => self.shorten.clone().unwrap_or_default(),
            }
        }
    }

    /// The end of a pause chosen in the dialog, as RFC 3339 (`None`: until resumed). A
    /// date and time (`2027-01-31T09:30`) is the browser's local time.
    fn pause_end(choice: &str, local: &str) -> Result<Option<String>, String> {
        use web_sys::js_sys::Date as JsDate;
        let now = calendar::now();
        let at = match choice {
            "resume" => return Ok(None),
            "until" => {
                let pick = || "Pick a date and time.".to_owned();
                let (date, time) = local.trim().split_once('T').ok_or_else(pick)?;
                let date = calendar::Date::parse(date).ok_or_else(pick)?;
                let two_digits = |part: &str, below: u32| {
                    (part.len() == 2 && part.bytes().all(|b| b.is_ascii_digit()))
                        .then(|| part.parse::<u32>().ok())
                        .flatten()
                        .filter(|n| *n < below)
                };
                let (hours, minutes) = time.split_once(':').ok_or_else(pick)?;
                let (hours, minutes) = (
                    two_digits(hours, 24).ok_or_else(pick)?,
                    two_digits(minutes, 60).ok_or_else(pick)?,
                );
                let at = JsDate::new_with_year_month_day_hr_min(
                    u32::try_from(date.year).map_err(|_| pick())?,
                    date.month as i32 - 1,
                    date.day as i32,
                    hours as i32,
                    minutes as i32,
                );
                // A time that a clock change skips comes back moved by the browser.
                if (at.get_date(), at.get_hours(), at.get_minutes()) != (date.day, hours, minutes) {
                    return Err("That time does not exist in your time zone.".into());
                }
                (at.get_time() / 1000.0).floor() as i64
            }
            seconds => {
                let seconds = seconds
                    .parse::<i64>()
                    .map_err(|_| "Choose how long to pause.".to_owned())?;
                now.saturating_add(seconds)
            }
        };
        if at <= now {
            return Err("Pick a time in the future.".into());
        }
        let at = JsDate::new(&wasm_bindgen::JsValue::from_f64(at as f64 * 1000.0));
        Ok(Some(String::from(at.to_iso_string())))
    }

    struct Page {
        org_id: String,
        policy: KeyPolicy,
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
        crate::components::focus_by_id(id);
    }

    pub(super) fn attach(org_id: String, policy: KeyPolicy) {
        let page: Shared = Rc::new(Page {
            org_id,
            policy,
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
                    open_create();
                } else if let Some(button) = closest(&ev, "button[data-action]") {
                    row_action(&page, &button);
                }
            });
        }
        {
            let page = page.clone();
            listen_id("create-key-form", "submit", move |ev| {
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
        if let Some(form) =
            by_id("create-key-form").and_then(|f| f.dyn_into::<HtmlFormElement>().ok())
        {
            form.reset();
        }
        set_hidden("create-key-form", false);
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
        if let Some(form) = by_id("create-key-form") {
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
        Ok(NewKey {
            name,
            expiry,
            date,
            scopes,
            limit,
            tags,
            owner,
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
        set_hidden("create-key-form", true);
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

    /// A row's button: resume at once, anything else asks first.
    fn row_action(page: &Shared, button: &Element) {
        if page.busy.get() {
            return;
        }
        let Some(cell) = button.closest("[data-key]").ok().flatten() else {
            return;
        };
        let data = |name: &str| cell.get_attribute(name);
        let target = Target {
            id: data("data-key").unwrap_or_default(),
            name: data("data-name").unwrap_or_default(),
            hint: data("data-hint").unwrap_or_default(),
            rolling_hint: data("data-rolling-hint"),
            shorten: data("data-shorten"),
        };
        let action = button.get_attribute("data-action").unwrap_or_default();
        if action == "resume" {
            return resume(page, cell, button.clone(), target);
        }
        let Some(kind) = Confirm::from_action(&action) else {
            return;
        };
        set_text("confirm-title", &target.title(kind));
        set_text("confirm-body", &target.body(kind));
        set_hidden("overlap-choices", kind != Confirm::Roll);
        if let Some(zero) = by_id("overlap-0").and_then(|e| e.dyn_into::<HtmlInputElement>().ok()) {
            zero.set_checked(true);
        }
        let older = target
            .rolling_hint
            .as_deref()
            .filter(|_| kind == Confirm::Roll)
            .map(|hint| {
                format!(
                    "This key is already rolling: its older secret{} stops now, when you roll it again.",
                    hint_after(hint)
                )
            });
        set_text("ends-older-overlap", older.as_deref().unwrap_or_default());
        set_hidden("ends-older-overlap", older.is_none());
        set_hidden("pause-fields", kind != Confirm::Pause);
        if let Some(select) =
            by_id("pause-for").and_then(|e| e.dyn_into::<HtmlSelectElement>().ok())
        {
            select.set_value("resume");
        }
        if let Some(input) =
            by_id("pause-until").and_then(|e| e.dyn_into::<HtmlInputElement>().ok())
        {
            input.set_value("");
        }
        set_hidden("pause-until-field", true);
        set_text("pause-error", "");
        set_hidden("confirm-alert", true);
        let go = kind.labels().0;
        set_busy("confirm-go", false, go);
        if let Some(button) = by_id("confirm-go") {
            let class = if kind == Confirm::Revoke {
                "btn btn-danger"
            } else {
                "btn btn-primary"
            };
            let _ = button.set_attribute("class", class);
        }
        page.confirm.replace(Some((target, kind)));
        if let Some(d) = dialog("confirm-dialog") {
            // Focus goes to Cancel (`autofocus`): nothing happens by a stray Enter.
            let _ = d.show_modal();
        }
    }

    fn confirm(page: &Shared) {
        let Some((target, kind)) = page.confirm.borrow().clone() else {
            return;
        };
        if page.busy.get() {
            return;
        }
        let until = if kind == Confirm::Pause {
            match pause_end(&value("pause-for"), &value("pause-until")) {
                Ok(until) => until,
                Err(message) => return set_text("pause-error", &message),
            }
        } else {
            None
        };
        set_text("pause-error", "");
        set_hidden("confirm-alert", true);
        let overlap = OVERLAP_CHOICES
            .iter()
            .map(|(seconds, _)| *seconds)
            .find(|seconds| checked(&format!("overlap-{seconds}")))
            .unwrap_or(0);
        page.busy.set(true);
        let (idle, sending) = kind.labels();
        set_busy("confirm-go", true, sending);
        let page = page.clone();
        spawn_local(async move {
            let key = [
                ("org_id", page.org_id.as_str()),
                ("key_id", target.id.as_str()),
            ];
            let overlap = overlap.to_string();
            let result = match kind {
                Confirm::Revoke => call(RevokeApiKey::PATH, &key).await.map(|_| None),
                Confirm::Roll => {
                    let args = [key[0], key[1], ("overlap_seconds", overlap.as_str())];
                    call(RollApiKey::PATH, &args)
                        .await
                        .and_then(|answer| revealed(&answer))
                        .map(Some)
                }
                Confirm::Pause => {
                    let mut args = key.to_vec();
                    if let Some(until) = &until {
                        args.push(("until", until));
                    }
                    call(PauseApiKey::PATH, &args).await.map(|_| None)
                }
                Confirm::EndOverlap => call(EndKeyOverlap::PATH, &key).await.map(|_| None),
                Confirm::Shorten => call(ShortenApiKey::PATH, &key).await.map(|_| None),
            };
            page.busy.set(false);
            set_busy("confirm-go", false, idle);
            match result {
                Ok(rolled) => {
                    page.changed.set(true);
                    let rolled = rolled.filter(|c| format::check(&c.secret).is_ok());
                    if rolled.is_none() {
                        leaving();
                    }
                    close("confirm-dialog");
                    if let Some(created) = rolled {
                        reset_create();
                        reveal(&page, created);
                    }
                }
                Err(e) => {
                    set_text("confirm-alert", &e.to_string());
                    set_hidden("confirm-alert", false);
                }
            }
        });
    }

    fn resume(page: &Shared, cell: Element, button: Element, target: Target) {
        page.busy.set(true);
        let _ = button.set_attribute("disabled", "");
        let page = page.clone();
        spawn_local(async move {
            let args = [
                ("org_id", page.org_id.as_str()),
                ("key_id", target.id.as_str()),
            ];
            let result = call(ResumeApiKey::PATH, &args).await;
            page.busy.set(false);
            let _ = button.remove_attribute("disabled");
            match result {
                Ok(_) => {
                    page.changed.set(true);
                    closed(&page);
                }
                Err(e) => {
                    let note = match cell.query_selector(".field-error").ok().flatten() {
                        Some(note) => note,
                        None => {
                            let Ok(note) = document().create_element("span") else {
                                return;
                            };
                            let _ = note.set_attribute("class", "field-error");
                            let _ = note.set_attribute("role", "alert");
                            let _ = cell.append_child(&note);
                            note
                        }
                    };
                    note.set_text_content(Some(&e.to_string()));
                    if let Ok(b) = button.dyn_into::<HtmlElement>() {
                        let _ = b.focus();
                    }
                }
            }
        });
    }
}
