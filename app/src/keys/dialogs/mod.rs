//! The keys page's create dialog and the row buttons that open a key action's
//! confirmation. All of it is the server's markup: without script "Create key" goes to the
//! create page (`new_page`) and a row's button to its action's page (`action_page`); with
//! it (`behaviours`) the create page's form opens in a dialog already on the page, and an
//! action's page's form in the page dialog. The keys page that answers a create or roll
//! shows the secret once (`reveal`).

use chrono::{DateTime, Utc};
use leptos::prelude::*;

use leptos::server_fn::ServerFn;

use crate::calendar;
use crate::components::ServerForm;
use crate::flash::Flash;
use crate::hooks::{self, hook};
use crate::keys::confirm::KeyAction;
use crate::permissions::ResourceAccess;
use crate::permissions::access_fields::AccessFields;

/// The create form's id (its selects' ids start with it).
pub(crate) const CREATE_FORM: &str = "create-key-form";

/// The keys page's create dialog, which "Create key" opens with script.
const CREATE_DIALOG: &str = "create-key-dialog";

use super::scopes::{DEFAULT_SCOPES, Scope};
use super::{
    ApiKeyView, CreateApiKey, DEFAULT_EXPIRY, EXPIRY_CHOICES, KeyPolicy, KeyStatus,
    OVERLAP_CHOICES, RatePeriod, ResumeApiKey, format_date, relative, resolve_expiry_at,
};
use crate::choices::Choices;

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
/// would expire. The server renders it first; the browser, without chrono, as it changes
/// ([`preview_expiry`]).
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

/// The create form's expiry line (`line`, marked `hooks::EXPIRY_PREVIEW`) for what
/// `form` now says.
#[cfg(feature = "hydrate")]
pub(crate) fn preview_expiry(form: &web_sys::Element, line: &web_sys::Element) {
    use wasm_bindgen::JsCast;
    let value = |selector: &str| {
        form.query_selector(selector)
            .ok()
            .flatten()
            .and_then(|e| {
                e.dyn_into::<web_sys::HtmlInputElement>()
                    .map(|i| i.value())
                    .or_else(|e| {
                        e.dyn_into::<web_sys::HtmlSelectElement>()
                            .map(|s| s.value())
                    })
                    .ok()
            })
            .unwrap_or_default()
    };
    let text = expiry_preview(
        &value("[name=expiry]"),
        &value("[name=custom_date]"),
        calendar::now(),
    );
    line.set_text_content(Some(&text));
}

/// A row's actions. The cell carries what the confirm dialog says about its key.
pub(crate) fn key_actions(
    org_id: &str,
    key: &ApiKeyView,
    policy: KeyPolicy,
    now: DateTime<Utc>,
) -> impl IntoView + use<> {
    let live = key.status.is_live();
    let paused = key.status == KeyStatus::Paused;
    let name = key.name.clone();
    let shorten = shortening(key, policy, now).is_some();
    // Each button but Resume opens its action's page (a GET form, the action in its
    // query); with script, that page's form in a dialog.
    let button = move |action: KeyAction, label: &'static str, aria: String, danger: bool| {
        let class = if danger {
            "btn btn-danger-outline btn-small"
        } else {
            "btn btn-secondary btn-small"
        };
        view! {
            <button type="submit" name="action" value=action.as_str() class=class aria-label=aria>{label}</button>
        }
    };
    view! {
        <td class="actions">
            <div class="row-actions">
                // Resuming asks nothing: posted from the row.
                {paused.then(|| view! {
                    <form method="post" action=ResumeApiKey::PATH>
                        {crate::auth::csrf::current().map(|token| view! {
                            <input type="hidden" name=crate::auth::csrf::FIELD value=token />
                        })}
                        <input type="hidden" name="org_id" value=org_id.to_owned() />
                        <input type="hidden" name="key_id" value=key.id.clone() />
                        {button(KeyAction::Resume, "Resume", format!("Resume key {name}"), false)}
                    </form>
                })}
                <form method="get" action=action_page_path(org_id, &key.id) {..hook(hooks::DIALOG, "")}>
                    {live.then(|| button(KeyAction::Roll, "Roll", format!("Roll key {name}"), false))}
                    {key.rolling.is_some().then(|| button(KeyAction::EndOverlap, "End overlap now", format!("End overlap now for key {name}"), false))}
                    {(live && !paused).then(|| button(KeyAction::Pause, "Pause", format!("Pause key {name}"), false))}
                    {shorten.then(|| button(KeyAction::Shorten, "Shorten to policy", format!("Shorten key {name} to policy"), false))}
                    {(key.status != KeyStatus::Revoked).then(|| button(KeyAction::Revoke, "Revoke", format!("Revoke key {name}"), true))}
                </form>
            </div>
        </td>
    }
}

/// The page that confirms an action on a key without script (`?action=revoke`).
pub(crate) fn action_page_path(org_id: &str, key_id: &str) -> String {
    format!("/orgs/{org_id}/settings/keys/{key_id}/confirm")
}

/// What shortening a key to the policy would do, worded here (the policy and the clock are
/// the server's); `None` when the key is within the policy.
pub(crate) fn shortening(
    key: &ApiKeyView,
    policy: KeyPolicy,
    now: DateTime<Utc>,
) -> Option<String> {
    (key.status.is_live() && key.exceeds_policy)
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
        })
}

/// A link to the create page ("Create key", "Create your first key"); with script, the
/// click opens the page's create dialog ([`KeyDialogs`]) instead.
pub(crate) fn create_button(
    org_id: &str,
    label: &'static str,
    class: &'static str,
    id: Option<&'static str>,
) -> impl IntoView + use<> {
    view! { <a href=new_key_path(org_id) id=id class={class} {..hook(hooks::DIALOG, CREATE_DIALOG)}>{label}</a> }
}

/// The create page (`/orgs/:org_id/settings/keys/new`).
pub(crate) fn new_key_path(org_id: &str) -> String {
    format!("/orgs/{org_id}/settings/keys/new")
}

/// The create page's part, also the keys page's create dialog: its heading and form.
/// `kept`: the form's refusal, shown beside its field with what was typed.
pub(crate) fn create_section(
    org_id: &str,
    policy: KeyPolicy,
    access: Vec<ResourceAccess>,
    kept: Option<Flash>,
) -> impl IntoView + use<> {
    let org_id = org_id.to_owned();
    let keys_path = format!("/orgs/{org_id}/settings/keys");
    view! {
        <section class="card form-page" {..hook(hooks::DIALOG_PART, "")}>
            <h1 id="create-key-title">"Create an API key"</h1>
            <ServerForm action=CreateApiKey::PATH id=CREATE_FORM>
                <input type="hidden" name="org_id" value=org_id />
                {create_fields(policy, access, kept, keys_path)}
            </ServerForm>
        </section>
    }
}

/// The create form's fields, alert and buttons.
fn create_fields(
    policy: KeyPolicy,
    access: Vec<ResourceAccess>,
    kept: Option<Flash>,
    keys_path: String,
) -> impl IntoView {
    let now = Utc::now().timestamp();
    let value = |name: &str| kept.as_ref().and_then(|f| f.value(name)).map(str::to_owned);
    let all = |name: &str| -> Vec<String> {
        kept.iter()
            .flat_map(|f| f.values.iter())
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let error = |name: &str| kept.as_ref().and_then(|f| f.field_message(name));
    let fields = [
        "name",
        "expiry",
        "custom_date",
        "scopes",
        "rate_limit",
        "tags",
        "owner",
        "permissions",
        "roles",
    ];
    // A refusal naming none of the fields (an outage, a lost permission) goes in the alert.
    let alert = kept
        .as_ref()
        .filter(|f| fields.iter().all(|name| f.field_message(name).is_none()))
        .and_then(|f| f.message());
    let expiry = value("expiry")
        .filter(|v| policy.offers(v))
        .unwrap_or_else(|| default_expiry(policy).to_owned());
    let custom_date = value("custom_date").unwrap_or_default();
    let choices = EXPIRY_CHOICES
        .iter()
        .filter(|(value, _)| policy.offers(value))
        .map(|(value, label)| view! { <option value=*value selected=*value == expiry>{*label}</option> })
        .collect_view();
    // Ticked: what was sent back, or the default on a fresh form.
    let scopes_field = Choices::checkbox_field("scopes");
    let ticked: Vec<String> = if kept.is_some() {
        all(&scopes_field)
    } else {
        DEFAULT_SCOPES.names()
    };
    let held: Vec<String> = kept
        .iter()
        .flat_map(|f| f.values.iter())
        .filter(|(n, _)| n.starts_with("access["))
        .flat_map(|(_, v)| v.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .collect();
    let invalid = |name: &str| {
        if error(name).is_some() {
            "true"
        } else {
            "false"
        }
    };
    // Focus starts on the name, or on the field a refusal names.
    let refused_other = fields
        .iter()
        .any(|name| *name != "name" && error(name).is_some());
    let text_field = |id: &'static str,
                      name: &'static str,
                      label: &'static str,
                      placeholder: &'static str| {
        let error_id = format!("{id}-error");
        view! {
            <div class="field">
                <label for=id>{label}" "<span class="muted small">"(optional)"</span></label>
                <input id=id name=name autocomplete="off" spellcheck="false" maxlength="128"
                    placeholder=placeholder data-field=name aria-invalid=invalid(name) autofocus=error(name).is_some()
                    aria-describedby=error_id.clone() value=value(name) />
                <p class="field-error" id=error_id data-for=name aria-live="polite">{error(name)}</p>
            </div>
        }
    };
    let rate_per =
        value("rate_limit_per").unwrap_or_else(|| RatePeriod::Minute.as_str().to_owned());
    view! {
        <div class="field">
            <label for="key-name">"Name"</label>
            <input id="key-name" name="name" autocomplete="off" autofocus=!refused_other
                placeholder="e.g. Billing service (production)" value=value("name")
                data-field="name" aria-invalid=invalid("name") aria-describedby="key-name-error" />
            <p class="field-error" id="key-name-error" data-for="name" aria-live="polite">{error("name")}</p>
        </div>
        <div class="field">
            <label for="key-expiry">"Expiration"</label>
            <select id="key-expiry" name="expiry" data-field="expiry" autofocus=error("expiry").is_some() aria-describedby="key-expiry-preview key-policy-note">
                {choices}
            </select>
            {policy.summary().map(|s| view! {
                <p class="muted small" id="key-policy-note" data-testid="policy-note">
                    {format!("{s} Longer expiries are not offered.")}
                </p>
            })}
            <p class="field-error" id="key-expiry-error" data-for="expiry" aria-live="polite">{error("expiry")}</p>
        </div>
        // Shown while "Custom date" is chosen (style/main.scss, `:has`), script or not.
        <div class="field" id="key-date-field">
            <label for="key-date">"Expiry date"</label>
            <input id="key-date" name="custom_date" type="date" data-field="custom_date" autofocus=error("custom_date").is_some()
                aria-invalid=invalid("custom_date") aria-describedby="key-date-error" value=custom_date.clone() />
            <p class="field-error" id="key-date-error" data-for="custom_date" aria-live="polite">{error("custom_date")}</p>
        </div>
        <p class="expiry-preview" id="key-expiry-preview" data-testid="expiry-preview"
            {..hook(hooks::EXPIRY_PREVIEW, "")}>
            {expiry_preview(&expiry, &custom_date, now)}
        </p>
        <fieldset class="field scopes" aria-describedby="key-scopes-error">
            <legend>"Scopes"</legend>
            // Says the boxes were there: none ticked is then refused, not the default.
            <input type="hidden" name=scopes_field.clone() value="" />
            {Scope::ALL.into_iter().map(|scope| {
                let id = format!("scope-{}", scope.as_str().replace(':', "-"));
                let label_for = id.clone();
                view! {
                    <label class="checkbox" for=label_for>
                        <input type="checkbox" id=id name=scopes_field.clone() value=scope.as_str()
                            autofocus=scope == Scope::ALL[0] && error("scopes").is_some()
                            checked=ticked.iter().any(|t| t == scope.as_str()) />
                        <code>{scope.as_str()}</code>
                        <span class="muted small">{scope.description()}</span>
                    </label>
                }
            }).collect_view()}
            <p class="field-error" id="key-scopes-error" data-for="scopes" aria-live="polite">{error("scopes")}</p>
        </fieldset>
        <fieldset class="field rate-limit" aria-describedby="key-rate-limit-error">
            <legend>"Rate limit " <span class="muted small">"(optional)"</span></legend>
            <div class="inline-fields">
                <label class="sr-only" for="key-rate-limit">"Requests"</label>
                <input id="key-rate-limit" name="rate_limit" type="number" min="1" inputmode="numeric"
                    placeholder="No limit" data-field="rate_limit" autofocus=error("rate_limit").is_some() aria-invalid=invalid("rate_limit")
                    value=value("rate_limit") />
                <span aria-hidden="true">"per"</span>
                <label class="sr-only" for="key-rate-limit-per">"Per"</label>
                <select id="key-rate-limit-per" name="rate_limit_per">
                    {RatePeriod::ALL.into_iter().map(|p| view! {
                        <option value=p.as_str() selected=p.as_str() == rate_per>{p.as_str()}</option>
                    }).collect_view()}
                </select>
            </div>
            <p class="field-error" id="key-rate-limit-error" data-for="rate_limit" aria-live="polite">{error("rate_limit")}</p>
        </fieldset>
        <div class="field-pair">
            {text_field("new-key-tags", "tags", "Tags", "billing, prod")}
            {text_field("new-key-owner", "owner", "Owner id", "cus_4QFJ")}
        </div>
        <AccessFields form=CREATE_FORM access=access held=held />
        // One per row: "Other permissions (optional)" wraps beside another field.
        {text_field("new-key-permissions", "permissions", "Other permissions", "invoices:* admin")}
        {text_field("new-key-roles", "roles", "Roles", "billing-readonly")}
        <div class="alert alert-error" id="create-key-alert" role="alert" {..hook(hooks::FORM_ALERT, "")} hidden=alert.is_none()>{alert.clone()}</div>
        <div class="dialog-actions">
            <a class="btn btn-link" href=keys_path>"Cancel"</a>
            <button type="submit" class="btn btn-primary" id="create-key-submit" {..hook(hooks::SENDING, "Creating…")}>"Create key"</button>
        </div>
    }
}

/// When the old secret of a rolled key stops working: on a roll's page.
pub(crate) fn overlap_choices() -> impl IntoView {
    view! {
        <fieldset class="field choices" id="overlap-choices" data-testid="overlap-choices">
            <legend>"When should the old secret stop working?"</legend>
            {OVERLAP_CHOICES.iter().map(|(seconds, label)| {
                let id = format!("overlap-{seconds}");
                let label_for = id.clone();
                view! {
                    <label class="radio" for=label_for>
                        <input type="radio" id=id name="overlap_seconds" value=seconds.to_string()
                            checked=*seconds == 0 />
                        {*label}
                    </label>
                }
            }).collect_view()}
            <p class="muted small">"During an overlap both secrets work, so you can update your services before the old one stops."</p>
        </fieldset>
    }
}

/// The keys page's create dialog, closed: the create page's part, opened by "Create key"
/// with script. Once per keys page.
#[component]
pub(crate) fn KeyDialogs(
    org_id: String,
    policy: KeyPolicy,
    /// The catalog's resources, offered as None / Read / Write.
    access: Vec<ResourceAccess>,
) -> impl IntoView {
    view! {
        <dialog id=CREATE_DIALOG class="dialog" aria-labelledby="create-key-title"
            {..hook(hooks::DIALOG_SOURCE, new_key_path(&org_id))}>
            {create_section(&org_id, policy, access, None)}
        </dialog>
    }
}
