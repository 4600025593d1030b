//! The organization's API keys page: list with search, filters (tag, owner, status,
//! expiring soon; all in the URL) and pagination,
//! create dialog with expiry (limited by the org's key policy), one-time reveal with copy
//! (closing an uncopied key asks first), roll with an overlap, pause and resume, revoke,
//! shorten to policy, and the activity list.

use chrono::Utc;
use leptos::either::Either;
use leptos::html;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use super::page::{OrgUsagePanel, use_period};
use super::scopes::{DEFAULT_SCOPES, Scope, Scopes};
use super::{
    ApiKeyView, AuditEventView, CreatedKey, DEFAULT_EXPIRY, EXPIRY_CHOICES, KeyPage, KeyPolicy,
    KeyQuery, KeyStatus, OVERLAP_CHOICES, RateLimit, RatePeriod, StatusFilter, create_api_key,
    end_key_overlap, format, format_date, list_api_keys, list_key_activity, org_usage,
    pause_api_key, relative, resolve_expiry, resume_api_key, revoke_api_key, roll_api_key,
    shorten_api_key, url_encode,
};
use crate::components::{
    AccessDeniedPage, CopyButton, Loading, focus_by_id, go_to, leaving, reload_focusing,
    show_when_mounted, use_hydrated,
};
use crate::error::AppError;
use crate::orgs::ui::{OrgContext, common_error, use_org_id};
use crate::validate;

/// What the create dialog sends.
#[derive(Clone)]
struct NewKeyForm {
    org_id: String,
    name: String,
    expiry: String,
    date: String,
    scopes: Scopes,
    /// Requests (empty: no limit) and per what.
    limit: (String, String),
    /// Tags as typed, and the owner id.
    tags: String,
    owner: String,
}

/// State an island shares with its dialogs (the create button's, or one key's actions').
#[derive(Clone, Copy)]
struct KeysCtx {
    org_id: Memo<String>,
    /// Bumped when keys changed: once the dialogs close, the page loads again to show it.
    refresh: RwSignal<u32>,
    /// Whether each dialog is in the page: only while open, so that the islands of a
    /// page (one per key) do not repeat the dialogs' ids.
    create_open: RwSignal<bool>,
    confirm_open: RwSignal<bool>,
    /// The key being shown once. Cleared as soon as the reveal dialog closes.
    revealed: RwSignal<Option<CreatedKey>>,
    create_dialog: NodeRef<html::Dialog>,
    /// The key the confirm dialog is about, and what is to be done to it.
    confirm: RwSignal<Option<(ApiKeyView, Confirm)>>,
    confirm_dialog: NodeRef<html::Dialog>,
    /// The organization's key policy: limits the create dialog.
    policy: RwSignal<KeyPolicy>,
    /// Whether the revealed key was copied; until then closing the reveal asks first.
    copied: RwSignal<bool>,
    /// "You have not copied this key. Close anyway?" is showing.
    asking_to_close: RwSignal<bool>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Confirm {
    Revoke,
    Roll,
    Pause,
    EndOverlap,
    Shorten,
}

/// A key's hint, its first characters: nothing for an imported key that came without one.
#[component]
pub(crate) fn Hint(hint: String) -> impl IntoView {
    (!hint.is_empty()).then(|| {
        view! { <code class="hint" title="The first characters of the key">{format!("{hint}…")}</code> }
    })
}

/// A hint inside a sentence, with the space before it: " kg_Azw6…", or nothing.
pub(crate) fn hint_after(hint: &str) -> String {
    if hint.is_empty() {
        String::new()
    } else {
        format!(" {hint}…")
    }
}

impl KeysCtx {
    /// A new island's state, with its dialogs shown as modals once they are in the page.
    fn new(org_id: String, policy: KeyPolicy) -> Self {
        let ctx = Self {
            org_id: Memo::new(move |_| org_id.clone()),
            refresh: RwSignal::new(0),
            create_open: RwSignal::new(false),
            confirm_open: RwSignal::new(false),
            revealed: RwSignal::new(None),
            create_dialog: NodeRef::new(),
            confirm: RwSignal::new(None),
            confirm_dialog: NodeRef::new(),
            policy: RwSignal::new(policy),
            copied: RwSignal::new(false),
            asking_to_close: RwSignal::new(false),
        };
        show_when_mounted(ctx.create_dialog);
        show_when_mounted(ctx.confirm_dialog);
        provide_context(ctx);
        ctx
    }

    /// Once the last dialog has closed: the page loads again if a key changed, with focus
    /// on "Create key" (the control that was used may be gone).
    fn closed(self) {
        if self.refresh.get_untracked() > 0
            && !self.create_open.get_untracked()
            && !self.confirm_open.get_untracked()
        {
            reload_focusing("create-key");
        }
    }
}

/// Whether a click on a modal dialog landed on its backdrop, outside its box.
#[cfg(feature = "hydrate")]
fn clicked_outside(dialog: NodeRef<html::Dialog>, ev: &leptos::ev::MouseEvent) -> bool {
    let Some(dialog) = dialog.get_untracked() else {
        return false;
    };
    // A backdrop click targets the dialog itself; a click made with the keyboard (Enter
    // on a button) has no position and is never "outside".
    let on_dialog = ev.target().is_some_and(|target| {
        let target: &leptos::wasm_bindgen::JsValue = target.as_ref();
        let dialog: &leptos::wasm_bindgen::JsValue = dialog.as_ref();
        target == dialog
    });
    if !on_dialog || ev.detail() == 0 {
        return false;
    }
    let rect = dialog.get_bounding_client_rect();
    let (x, y) = (f64::from(ev.client_x()), f64::from(ev.client_y()));
    x < rect.left() || x > rect.right() || y < rect.top() || y > rect.bottom()
}

/// Events run only in the browser.
#[cfg(not(feature = "hydrate"))]
fn clicked_outside(_: NodeRef<html::Dialog>, _: &leptos::ev::MouseEvent) -> bool {
    false
}

fn close(dialog: NodeRef<html::Dialog>) {
    if let Some(d) = dialog.get_untracked() {
        d.close();
    }
}

/// Closes the create dialog and drops the revealed key in the same task. The dialog's
/// `close` event comes later, as a separate task, so clearing the key there alone would
/// leave it in the DOM for a moment after the dialog is hidden.
fn dismiss_reveal(ctx: KeysCtx) {
    if ctx.refresh.get_untracked() > 0 {
        // The page loads again once the dialog has closed (see `KeysCtx::closed`).
        leaving();
    }
    ctx.revealed.set(None);
    ctx.asking_to_close.set(false);
    close(ctx.create_dialog);
}

/// Done, Escape or a click outside while a key is shown: closes at once once the key was
/// copied, otherwise asks "Close anyway?" first. Returns whether it closed.
fn try_dismiss_reveal(ctx: KeysCtx) -> bool {
    if ctx.revealed.with_untracked(Option::is_none) || ctx.copied.get_untracked() {
        dismiss_reveal(ctx);
        true
    } else {
        ctx.asking_to_close.set(true);
        false
    }
}

#[component]
pub fn ApiKeysPage() -> impl IntoView {
    let org_id = use_org_id();
    let OrgContext { org, .. } = expect_context::<OrgContext>();
    let query = use_query_map();
    let page = Memo::new(move |_| {
        query
            .read()
            .get("page")
            .and_then(|p| p.parse::<u64>().ok())
            .unwrap_or(1)
    });
    // The filters as the URL gives them (`?q=&tag=&owner=&status=`; the older
    // `?filter=expiring` is `status=expiring`), sent as given: the server checks them.
    let filters = Memo::new(move |_| {
        let query = query.read();
        let part = |name: &str| query.get(name).filter(|v| !v.trim().is_empty());
        let status = part("status").or_else(|| {
            (query.get("filter").as_deref() == Some("expiring")).then(|| "expiring".to_owned())
        });
        [part("q"), part("tag"), part("owner"), status]
    });
    let keys = Resource::new(
        move || (org_id.get(), page.get(), filters.get()),
        |(id, p, [q, tag, owner, status])| list_api_keys(id, p, q, tag, owner, status, false),
    );
    let activity = Resource::new(move || org_id.get(), |id| list_key_activity(id, None));
    let period = use_period("usage");
    let usage = Resource::new(
        move || (org_id.get(), period.get()),
        |(id, period)| org_usage(id, period.as_str().to_owned()),
    );

    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let me = match org.await {
                    Ok(me) => me,
                    Err(e) => return common_error(e),
                };
                match keys.await {
                    Ok(list) => {
                        let events = activity.await.unwrap_or_default();
                        let usage = usage.await.ok();
                        let base = format!("/orgs/{}/settings/keys", list.org_id);
                        view! {
                            <KeyList list=list />
                            {usage.map(|u| view! { <OrgUsagePanel usage=u base=base /> })}
                            <Activity events=events />
                        }.into_any()
                    }
                    Err(AppError::Forbidden) => view! {
                        <AccessDeniedPage message=format!(
                            "Your role in {} ({}) cannot see or manage API keys.", me.name, me.role.label()
                        ) />
                    }.into_any(),
                    // A filter the server refused (a hand-edited URL): the form, with the
                    // field's error, so it can be corrected.
                    Err(AppError::Invalid { field, message }) => {
                        let [q, tag, owner, status] = filters.get_untracked();
                        let base = format!("/orgs/{}/settings/keys", org_id.get_untracked());
                        let given = FilterValues { q, tag, owner, status };
                        view! {
                            <section class="card">
                                <h1>"API keys"</h1>
                                <FilterBar base=base given=given error=Some((field, message)) />
                            </section>
                        }.into_any()
                    }
                    Err(e) => common_error(e),
                }
            })}
        </Suspense>
    }
}

/// The button that opens the create dialog (the page's "Create key", or the empty list's
/// "Create your first key"), with the dialog.
#[island]
fn CreateKey(
    org_id: String,
    policy: KeyPolicy,
    label: String,
    class: String,
    #[prop(optional)] id: Option<String>,
) -> impl IntoView {
    let ctx = KeysCtx::new(org_id, policy);
    let live = use_hydrated();
    let open_create = move |_| {
        ctx.revealed.set(None);
        ctx.create_open.set(true);
    };
    view! {
        <button type="button" id=id class=class on:click=open_create disabled=move || !live.get()>{label}</button>
        <CreateKeyDialog />
    }
}

/// One key's actions (roll, end overlap, pause, resume, shorten, revoke), with the
/// confirm dialog and, after a roll, the new secret's reveal.
#[island]
fn KeyActions(org_id: String, api_key: ApiKeyView, policy: KeyPolicy) -> impl IntoView {
    let ctx = KeysCtx::new(org_id, policy);
    let ready = use_hydrated();
    let key = api_key;
    let ask = |kind: Confirm| {
        let key = key.clone();
        move |_| {
            ctx.confirm.set(Some((key.clone(), kind)));
            ctx.confirm_open.set(true);
        }
    };
    let resume = Action::new(move |(org_id, key_id): &(String, String)| {
        let (org_id, key_id) = (org_id.clone(), key_id.clone());
        async move { resume_api_key(org_id, key_id).await }
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = resume.value().get() {
            ctx.refresh.update(|n| *n += 1);
            ctx.closed();
        }
    });
    let resume_error = move || match resume.value().get() {
        Some(Err(e)) => Some(e.to_string()),
        _ => None,
    };
    let live = key.status.is_live();
    let paused = key.status == KeyStatus::Paused;
    let revocable = key.status != KeyStatus::Revoked;
    let key_id = key.id.clone();
    let name = key.name.clone();
    view! {
        {live.then(|| view! {
            <button type="button" class="btn btn-secondary btn-small" disabled=move || !ready.get() on:click=ask(Confirm::Roll)
                aria-label=format!("Roll key {}", key.name)>"Roll"</button>
        })}
        {key.rolling.is_some().then(|| view! {
            <button type="button" class="btn btn-secondary btn-small" disabled=move || !ready.get() on:click=ask(Confirm::EndOverlap)
                aria-label=format!("End overlap now for key {}", key.name)>"End overlap now"</button>
        })}
        {(live && !paused).then(|| view! {
            <button type="button" class="btn btn-secondary btn-small" disabled=move || !ready.get() on:click=ask(Confirm::Pause)
                aria-label=format!("Pause key {}", key.name)>"Pause"</button>
        })}
        {paused.then(|| {
            let (key_id, name) = (key_id.clone(), name.clone());
            view! {
                <button type="button" class="btn btn-secondary btn-small"
                    disabled=move || !ready.get() || resume.pending().get()
                    on:click=move |_| { resume.dispatch((ctx.org_id.get_untracked(), key_id.clone())); }
                    aria-label=format!("Resume key {name}")>"Resume"</button>
            }
        })}
        {(live && key.exceeds_policy).then(|| view! {
            <button type="button" class="btn btn-secondary btn-small" disabled=move || !ready.get() on:click=ask(Confirm::Shorten)
                aria-label=format!("Shorten key {} to policy", key.name)>"Shorten to policy"</button>
        })}
        {revocable.then(|| view! {
            <button type="button" class="btn btn-danger-outline btn-small" disabled=move || !ready.get() on:click=ask(Confirm::Revoke)
                aria-label=format!("Revoke key {}", key.name)>"Revoke"</button>
        })}
        {move || resume_error().map(|m| view! { <span class="field-error" role="alert">{m}</span> })}
        <ConfirmDialog />
        <CreateKeyDialog />
    }
}

/// The filters as given in the URL, to fill the filter form.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct FilterValues {
    q: Option<String>,
    tag: Option<String>,
    owner: Option<String>,
    status: Option<String>,
}

impl From<&KeyQuery> for FilterValues {
    fn from(query: &KeyQuery) -> Self {
        Self {
            q: query.text.clone(),
            tag: query.tag.clone(),
            owner: query.owner.clone(),
            status: query.status.map(|s| s.as_str().to_owned()),
        }
    }
}

/// Search and filters, submitted as the page's URL (`?q=&tag=&owner=&status=`), so a
/// filtered view can be shared and survives a reload.
#[island]
fn FilterBar(
    base: String,
    given: FilterValues,
    /// A filter the server refused: its field and why.
    error: Option<(String, String)>,
) -> impl IntoView {
    let error_for = move |field: &str| {
        error
            .as_ref()
            .filter(|(f, _)| f == field)
            .map(|(_, message)| message.clone())
    };
    let text_field = |id: &'static str,
                      name: &'static str,
                      label: &'static str,
                      value: Option<String>,
                      placeholder: &'static str,
                      input: NodeRef<html::Input>| {
        let message = error_for(name);
        let invalid = message.is_some();
        let error_id = format!("{id}-error");
        view! {
            <div class="field" class:has-error=invalid>
                <label for=id>{label}</label>
                <input id=id name=name type="search" autocomplete="off" spellcheck="false" node_ref=input
                    value=value.unwrap_or_default() placeholder=placeholder
                    aria-invalid=if invalid { "true" } else { "false" }
                    aria-describedby=error_id.clone() />
                <p class="field-error" id=error_id>{message}</p>
            </div>
        }
    };
    let (q_input, tag_input, owner_input) = (NodeRef::new(), NodeRef::new(), NodeRef::new());
    let status_input = NodeRef::<html::Select>::new();
    let status = given.status.clone().unwrap_or_default();
    let search = text_field(
        "key-search",
        "q",
        "Search",
        given.q.clone(),
        "Name, hint or key ID",
        q_input,
    );
    let tag = text_field(
        "key-tag",
        "tag",
        "Tag",
        given.tag.clone(),
        "e.g. prod",
        tag_input,
    );
    let owner = text_field(
        "key-owner-filter",
        "owner",
        "Owner id",
        given.owner.clone(),
        "cus_4QFJ",
        owner_input,
    );
    let status_error = error_for("status");
    let status_invalid = status_error.is_some();
    let any =
        given.q.is_some() || given.tag.is_some() || given.owner.is_some() || given.status.is_some();
    // Without wasm the form is a plain GET of the same URL; with it, the page goes there
    // leaving out blank filters.
    let action = base.clone();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let input = |node: NodeRef<html::Input>| node.get_untracked().map(|i| i.value());
        let query = KeyQuery {
            text: input(q_input),
            tag: input(tag_input),
            owner: input(owner_input),
            status: None,
        };
        let status = status_input
            .get_untracked()
            .map(|s| s.value())
            .filter(|s| !s.is_empty())
            .map(|s| format!("&status={}", url_encode(&s)))
            .unwrap_or_default();
        let params = format!("{}{status}", query.to_params_given());
        let url = match params.strip_prefix('&') {
            Some(params) => format!("{action}?{params}"),
            None => action.clone(),
        };
        go_to(&url);
    };
    view! {
        <form method="get" action=base.clone() class="filter-bar" role="search" aria-label="Find keys"
            data-testid="key-filters" on:submit=submit>
            {search}
            {tag}
            {owner}
            <div class="field" class:has-error=status_invalid>
                <label for="key-status-filter">"Status"</label>
                <select id="key-status-filter" name="status" aria-describedby="key-status-filter-error" node_ref=status_input>
                    <option value="" selected=status.is_empty()>"Any status"</option>
                    {StatusFilter::ALL.into_iter().map(|s| view! {
                        <option value=s.as_str() selected=status == s.as_str()>{s.label()}</option>
                    }).collect_view()}
                </select>
                <p class="field-error" id="key-status-filter-error">{status_error}</p>
            </div>
            <div class="filter-actions">
                <button type="submit" class="btn btn-secondary">"Filter"</button>
                {any.then(|| view! { <a href=base.clone() class="btn btn-link">"Clear"</a> })}
            </div>
        </form>
    }
}

#[component]
fn KeyList(list: KeyPage) -> impl IntoView {
    let now = Utc::now();
    let KeyPage {
        org_id,
        keys,
        page,
        pages,
        total,
        expiring_soon,
        query,
        policy,
        ..
    } = list;
    let expiring_only = query.status == Some(StatusFilter::Expiring);
    let filtered = !query.is_empty();
    let base = format!("/orgs/{org_id}/settings/keys");
    let params = query.to_params();
    let given = FilterValues::from(&query);
    let banner = (expiring_soon > 0 || expiring_only).then(|| {
        let count = if expiring_soon == 1 {
            "1 key expires this week.".to_owned()
        } else {
            format!("{expiring_soon} keys expire this week.")
        };
        view! {
            <div class="alert alert-warn expiry-banner" role="status" data-testid="expiry-banner">
                <span><strong>{count}</strong>" Roll them or create replacements before they stop working."</span>
                {if expiring_only {
                    Either::Left(view! { <A href=base.clone()>"Show all keys"</A> })
                } else {
                    Either::Right(view! { <A href=format!("{base}?status=expiring")>"Show only these"</A> })
                }}
            </div>
        }
    });
    view! {
        <section class="card">
            <div class="card-header">
                <div>
                    <h1>"API keys"</h1>
                    <p class="muted">"Services use these keys to call the API. A key is shown once, when it is created."</p>
                </div>
                <CreateKey org_id=org_id.clone() policy=policy label="Create key".to_owned()
                    class="btn btn-primary".to_owned() id="create-key".to_owned() />
            </div>
            {banner}
            {(filtered || total > 0).then(|| view! { <FilterBar base=base.clone() given=given error=None /> })}
            {if keys.is_empty() && filtered {
                Either::Left(Either::Left(view! {
                    <div class="empty-state" data-testid="keys-empty">
                        <h2>{if query.status == Some(StatusFilter::Expiring) && query.text.is_none()
                            && query.tag.is_none() && query.owner.is_none() {
                            "No keys expire this week"
                        } else {
                            "No keys match these filters"
                        }}</h2>
                        <A href=base.clone()>"Show all keys"</A>
                    </div>
                }))
            } else if keys.is_empty() {
                Either::Left(Either::Right(view! {
                    <div class="empty-state" data-testid="keys-empty">
                        <h2>"No API keys yet"</h2>
                        <p class="muted">"Create the first key for a service that calls your API."</p>
                        <CreateKey org_id=org_id.clone() policy=policy label="Create your first key".to_owned()
                            class="btn btn-secondary".to_owned() />
                    </div>
                }))
            } else {
                Either::Right(view! {
                    <div class="table-scroll">
                        <table class="table keys" data-testid="keys">
                            <thead>
                                <tr>
                                    <th scope="col">"Name"</th>
                                    <th scope="col">"Created"</th>
                                    <th scope="col">"Last used"</th>
                                    <th scope="col">"Expires"</th>
                                    <th scope="col">"Status"</th>
                                    <th scope="col"><span class="sr-only">"Actions"</span></th>
                                </tr>
                            </thead>
                            <tbody>
                                {keys.into_iter().map(|key| view! {
                                    <KeyRow api_key=key now=now org_id=org_id.clone() policy=policy />
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                    <nav class="pagination" aria-label="Key pages">
                        <span class="muted" data-testid="key-count">{format!(
                            "Page {page} of {pages} · {total} {}{}",
                            if total == 1 { "key" } else { "keys" },
                            if filtered { " match" } else { "" },
                        )}</span>
                        {(page > 1).then(|| view! {
                            <A href=format!("{base}?page={}{params}", page - 1)>"Previous"</A>
                        })}
                        {(page < pages).then(|| view! {
                            <A href=format!("{base}?page={}{params}", page + 1)>"Next"</A>
                        })}
                    </nav>
                })
            }}
        </section>
    }
}

/// `Dec 1, 2026, 14:05 UTC`.
pub(crate) fn format_time(at: chrono::DateTime<Utc>) -> String {
    at.format("%b %-d, %Y, %H:%M UTC").to_string()
}

#[component]
fn KeyRow(
    api_key: ApiKeyView,
    now: chrono::DateTime<Utc>,
    org_id: String,
    policy: KeyPolicy,
) -> impl IntoView {
    let key = api_key;
    let status_class = match key.status {
        KeyStatus::Active => "badge badge-ok",
        KeyStatus::Paused => "badge badge-warn",
        KeyStatus::Expired => "badge badge-muted",
        KeyStatus::Revoked => "badge badge-danger",
    };
    let soon = key.expires_soon(now);
    let expires = match key.expires_at {
        None => view! { <span>"Never"</span> }.into_any(),
        Some(at) if soon => view! {
            <span>{format_date(at)}</span>
            <span class="badge badge-warn" data-testid="expires-soon">
                <span aria-hidden="true">"⚠ "</span>{format!("Expires {}", relative(at, now))}
            </span>
        }
        .into_any(),
        Some(at) => view! {
            <span>{format_date(at)}</span>
            <span class="muted small">{relative(at, now)}</span>
        }
        .into_any(),
    };
    let paused = key.status == KeyStatus::Paused;
    let page = format!("/orgs/{org_id}/settings/keys/{}", key.id);
    let title = key.name.clone();
    view! {
        <tr data-testid="key-row" data-key-id=key.id.clone() data-status=key.status.as_str()>
            <td class="key-name" data-label="Name">
                <A href=page attr:class="key-title">{title}</A>
                <Hint hint=key.hint.clone()/>
                {key.imported_at.map(|_| view! {
                    " "<span class="badge badge-muted" data-testid="key-imported"
                        title="Imported from another product; it works as it was issued">"imported"</span>
                })}
                {key.rolling.clone().map(|old| view! {
                    <span class="rolling small" data-testid="key-rolling">
                        <span class="badge badge-info">"Rolling"</span>
                        " old secret "<Hint hint=old.hint/>
                        {format!(" works until {} ({})", format_time(old.until), relative(old.until, now))}
                    </span>
                })}
                <span class="scope-list" data-testid="key-scopes">
                    {key.scopes.iter().map(|s| view! { <code class="scope">{s.clone()}</code> }).collect_view()}
                </span>
                {(!key.tags.is_empty() || key.owner.is_some()).then(|| {
                    let keys_page = format!("/orgs/{org_id}/settings/keys");
                    let tag_page = keys_page.clone();
                    view! {
                        <span class="tag-list small" data-testid="key-tags">
                            {key.owner.clone().map(|owner| view! {
                                <a class="owner" href=format!("{keys_page}?owner={}", url_encode(&owner))
                                    title="Every key for this owner">{format!("for {owner}")}</a>
                            })}
                            {key.tags.iter().map(|tag| view! {
                                <a class="tag" href=format!("{tag_page}?tag={}", url_encode(tag))
                                    title=format!("Keys tagged {tag}")>{tag.clone()}</a>
                            }).collect_view()}
                        </span>
                    }
                })}
            </td>
            <td class="when" data-label="Created">
                <span>{format_date(key.created_at)}</span>
                <span class="muted small">{format!("by {}", key.created_by)}</span>
            </td>
            <td class="when" data-label="Last used">{key.last_used_at.map(|at| relative(at, now)).unwrap_or_else(|| "never".into())}</td>
            <td class="when" data-label="Expires">{expires}</td>
            <td class="status" data-label="Status">
                <span class=status_class data-testid="key-status">{key.status.label()}</span>
                {paused.then(|| view! {
                    <span class="muted small" data-testid="paused-until">
                        {match key.paused_until {
                            Some(at) => format!("until {}", format_time(at)),
                            None => "until resumed".to_owned(),
                        }}
                    </span>
                })}
                {key.exceeds_policy.then(|| view! {
                    <span class="badge badge-warn" data-testid="exceeds-policy"
                        title="This key lives longer than the organization's key policy allows">"Exceeds policy"</span>
                })}
                {key.notice.clone().map(|n| view! { <span class="muted small key-notice" data-testid="key-notice">{n}</span> })}
                {key.revoked_at.map(|at| view! {
                    <span class="muted small">
                        {format!("by {} on {}", key.revoked_by.clone().unwrap_or_default(), format_date(at))}
                    </span>
                })}
            </td>
            <td class="actions">
                <KeyActions org_id=org_id.clone() api_key=for_actions(&key) policy=policy />
            </td>
        </tr>
    }
}

/// What a key's actions and their dialogs read of it: the island's props are in the
/// page's HTML once per key, so the rest (scopes, labels, metadata, who did what) stays out.
fn for_actions(key: &ApiKeyView) -> ApiKeyView {
    ApiKeyView {
        scopes: Vec::new(),
        created_by: String::new(),
        last_used_at: None,
        revoked_at: None,
        revoked_by: None,
        notice: None,
        paused_until: None,
        rate_limit: None,
        allowed_ips: Vec::new(),
        tags: Vec::new(),
        owner: None,
        metadata: None,
        imported_at: None,
        ..key.clone()
    }
}

#[component]
pub(crate) fn Activity(
    events: Vec<AuditEventView>,
    /// What to say when there are no events.
    #[prop(default = "Nothing has happened to this organization's keys yet.")]
    empty: &'static str,
) -> impl IntoView {
    let now = Utc::now();
    view! {
        <section class="card">
            <h2>"Activity"</h2>
            {if events.is_empty() {
                Either::Left(view! { <p class="muted">{empty}</p> })
            } else {
                Either::Right(view! {
                    <ol class="activity" data-testid="activity">
                        {events.into_iter().map(|e| {
                            let what = match e.action.as_str() {
                                "key.created" => format!(" created key “{}”", e.key_name),
                                "key.rolled" => format!(" rolled key “{}”", e.key_name),
                                "key.revoked" => format!(" revoked key “{}”", e.key_name),
                                "key.revoked_with_member" => {
                                    format!(" revoked key “{}” on removing its creator", e.key_name)
                                }
                                "key.transferred" => {
                                    format!(" took over key “{}” from a removed member", e.key_name)
                                }
                                "key.paused" => format!(" paused key “{}”", e.key_name),
                                "key.resumed" => format!(" resumed key “{}”", e.key_name),
                                "key.overlap_ended" => {
                                    format!(" ended the roll overlap of key “{}”", e.key_name)
                                }
                                "key.shortened" => {
                                    format!(" shortened key “{}” to the policy", e.key_name)
                                }
                                "key.idle_revoked" => {
                                    format!(" revoked idle key “{}”", e.key_name)
                                }
                                "key.rate_limit_changed" => {
                                    format!(" changed the rate limit of key “{}”", e.key_name)
                                }
                                "key.allowed_ips_changed" => {
                                    format!(" changed the allowed addresses of key “{}”", e.key_name)
                                }
                                "key.context_changed" => {
                                    format!(" relabelled key “{}”", e.key_name)
                                }
                                "key.imported" => format!(" imported key “{}”", e.key_name),
                                "policy.changed" => " changed the key policy".to_owned(),
                                other => format!(" {other} key “{}”", e.key_name),
                            };
                            // No empty text node when there is no detail: hydration needs the
                            // browser's DOM to match the server's markup exactly.
                            let detail = e.detail.map(|d| view! { <span class="muted">{format!(": {d}")}</span> });
                            view! {
                                <li>
                                    <span><strong>{e.actor}</strong>{what}{detail}</span>
                                    <time class="muted small" datetime=e.at.to_rfc3339()>{relative(e.at, now)}</time>
                                </li>
                            }
                        }).collect_view()}
                    </ol>
                })
            }}
        </section>
    }
}

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

/// Create form, then the one-time reveal of a created or rolled key.
#[component]
fn CreateKeyDialog() -> impl IntoView {
    let ctx = expect_context::<KeysCtx>();
    let name = RwSignal::new(String::new());
    let expiry = RwSignal::new(DEFAULT_EXPIRY.to_owned());
    let custom_date = RwSignal::new(String::new());
    let scopes = RwSignal::new(DEFAULT_SCOPES);
    let limit_requests = RwSignal::new(String::new());
    let limit_per = RwSignal::new(RatePeriod::Minute.as_str().to_owned());
    let tags = RwSignal::new(String::new());
    let owner = RwSignal::new(String::new());
    let error = RwSignal::new(None::<AppError>);
    let name_input = NodeRef::<html::Input>::new();
    let create = Action::new(move |form: &NewKeyForm| {
        let form = form.clone();
        async move {
            create_api_key(
                form.org_id,
                form.name,
                form.expiry,
                Some(form.date),
                Some(form.scopes.to_stored()),
                Some(form.limit.0),
                Some(form.limit.1),
                Some(form.tags),
                Some(form.owner),
            )
            .await
        }
    });
    // Take the result out of the action at once, so the key lives only in `revealed`.
    Effect::new(move |_| {
        let Some(result) = create.value().get() else {
            return;
        };
        create.value().set(None);
        match result {
            // A creation that returns no usable key is an error, never an empty success.
            Ok(created) if format::check(&created.secret).is_ok() => {
                error.set(None);
                ctx.revealed.set(Some(created));
                ctx.refresh.update(|n| *n += 1);
            }
            Ok(_) => error.set(Some(AppError::Internal)),
            Err(e) => error.set(Some(e)),
        }
    });
    let reset = move || {
        name.set(String::new());
        expiry.set(default_expiry(ctx.policy.get_untracked()).to_owned());
        custom_date.set(String::new());
        scopes.set(DEFAULT_SCOPES);
        limit_requests.set(String::new());
        limit_per.set(RatePeriod::Minute.as_str().to_owned());
        tags.set(String::new());
        owner.set(String::new());
        error.set(None);
    };
    // Opening the dialog focuses the name field (the browser focuses the first control).
    let on_close = move |_| {
        // Drop the revealed key from the page as soon as the dialog closes.
        ctx.revealed.set(None);
        reset();
        ctx.create_open.set(false);
        ctx.closed();
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if create.pending().get_untracked() {
            return;
        }
        let raw_name = name.get_untracked();
        if let Err(message) = validate::name(&raw_name, "Name") {
            error.set(Some(AppError::invalid("name", message)));
            if let Some(input) = name_input.get_untracked() {
                let _ = input.focus();
            }
            return;
        }
        match resolve_expiry(
            &expiry.get_untracked(),
            &custom_date.get_untracked(),
            Utc::now(),
        ) {
            Err(e) => {
                error.set(Some(e));
                return;
            }
            Ok(at) => {
                if let Err(message) = ctx.policy.get_untracked().check(at, Utc::now()) {
                    let field = if expiry.get_untracked() == "custom" {
                        "custom_date"
                    } else {
                        "expiry"
                    };
                    error.set(Some(AppError::invalid(field, message)));
                    return;
                }
            }
        }
        if scopes.get_untracked().is_empty() {
            error.set(Some(AppError::invalid(
                "scopes",
                "Choose at least one scope.",
            )));
            return;
        }
        let limit = (limit_requests.get_untracked(), limit_per.get_untracked());
        if let Err(e) = RateLimit::from_form(&limit.0, &limit.1) {
            error.set(Some(e));
            return;
        }
        if let Err(e) = super::context_from_form(&tags.get_untracked(), &owner.get_untracked(), "")
        {
            error.set(Some(e));
            return;
        }
        error.set(None);
        create.dispatch(NewKeyForm {
            org_id: ctx.org_id.get_untracked(),
            name: raw_name,
            expiry: expiry.get_untracked(),
            date: custom_date.get_untracked(),
            scopes: scopes.get_untracked(),
            limit,
            tags: tags.get_untracked(),
            owner: owner.get_untracked(),
        });
    };
    let field_error =
        move |field: &'static str| move || error.get().and_then(|e| e.field_message(field));
    let other_error = move || {
        error
            .get()
            .filter(|e| {
                [
                    "name",
                    "expiry",
                    "custom_date",
                    "scopes",
                    "rate_limit",
                    "tags",
                    "owner",
                ]
                .iter()
                .all(|f| e.field_message(f).is_none())
            })
            .map(|e| e.to_string())
    };
    let preview = move || match resolve_expiry(&expiry.get(), &custom_date.get(), Utc::now()) {
        Ok(Some(at)) => format!(
            "The key will expire on {} ({}).",
            format_date(at),
            relative(at, Utc::now())
        ),
        Ok(None) => {
            "The key will never expire. Prefer an expiry, and roll keys you keep.".to_owned()
        }
        Err(_) => "Pick a future date to see when the key expires.".to_owned(),
    };
    // Escape while a key is shown: the same as Done.
    let on_cancel = move |ev: leptos::web_sys::Event| {
        if ctx.revealed.with_untracked(Option::is_some) {
            ev.prevent_default();
            try_dismiss_reveal(ctx);
        }
    };
    // A click on the backdrop (outside the dialog's box) while a key is shown: the same
    // as Done. The form is not closed by a stray click: what was typed is kept.
    let on_click = move |ev: leptos::ev::MouseEvent| {
        if ctx.revealed.with_untracked(Option::is_none) {
            return;
        }
        if clicked_outside(ctx.create_dialog, &ev) {
            try_dismiss_reveal(ctx);
        }
    };
    Effect::new(move |_| {
        ctx.revealed.track();
        ctx.copied.set(false);
        ctx.asking_to_close.set(false);
    });
    let choices = move || {
        let policy = ctx.policy.get();
        EXPIRY_CHOICES
            .iter()
            .filter(|(value, _)| policy.offers(value))
            .map(|(value, label)| view! { <option value=*value>{*label}</option> })
            .collect_view()
    };
    view! {
        {move || ctx.create_open.get().then(|| view! {
        <dialog node_ref=ctx.create_dialog class="dialog" aria-labelledby="create-key-title"
            on:cancel=on_cancel on:click=on_click on:close=on_close>
            <Show
                when=move || ctx.revealed.with(Option::is_some)
                fallback=move || view! {
                    <form method="dialog" on:submit=submit novalidate>
                        <h2 id="create-key-title">"Create an API key"</h2>
                        <div class="field" class:has-error=move || field_error("name")().is_some()>
                            <label for="key-name">"Name"</label>
                            <input id="key-name" name="name" node_ref=name_input autocomplete="off" autofocus
                                placeholder="e.g. Billing service (production)"
                                aria-invalid=move || if field_error("name")().is_some() { "true" } else { "false" }
                                aria-describedby="key-name-error"
                                prop:value=move || name.get()
                                on:input=move |ev| name.set(event_target_value(&ev)) />
                            <p class="field-error" id="key-name-error" aria-live="polite">{field_error("name")}</p>
                        </div>
                        <div class="field">
                            <label for="key-expiry">"Expiration"</label>
                            <select id="key-expiry" name="expiry" aria-describedby="key-expiry-preview key-policy-note"
                                on:change=move |ev| expiry.set(event_target_value(&ev))
                                prop:value=move || expiry.get()>
                                {choices}
                            </select>
                            <p class="muted small" id="key-policy-note" data-testid="policy-note">
                                {move || ctx.policy.get().summary().map(|s| format!("{s} Longer expiries are not offered."))}
                            </p>
                            <p class="field-error" aria-live="polite">{field_error("expiry")}</p>
                        </div>
                        <Show when=move || expiry.get() == "custom">
                            <div class="field" class:has-error=move || field_error("custom_date")().is_some()>
                                <label for="key-date">"Expiry date"</label>
                                <input id="key-date" name="custom_date" type="date"
                                    aria-describedby="key-date-error"
                                    prop:value=move || custom_date.get()
                                    on:input=move |ev| custom_date.set(event_target_value(&ev)) />
                                <p class="field-error" id="key-date-error" aria-live="polite">{field_error("custom_date")}</p>
                            </div>
                        </Show>
                        <p class="expiry-preview" id="key-expiry-preview" data-testid="expiry-preview">{preview}</p>
                        <fieldset class="field scopes" class:has-error=move || field_error("scopes")().is_some()
                            aria-describedby="key-scopes-error">
                            <legend>"Scopes"</legend>
                            {Scope::ALL.into_iter().map(|scope| {
                                let id = format!("scope-{}", scope.as_str().replace(':', "-"));
                                let label_for = id.clone();
                                view! {
                                    <label class="checkbox" for=label_for>
                                        <input type="checkbox" id=id name="scopes" value=scope.as_str()
                                            prop:checked=move || scopes.get().contains(scope)
                                            on:change=move |ev| {
                                                let on = event_target_checked(&ev);
                                                scopes.update(|s| {
                                                    *s = if on { s.with(scope) } else { s.without(scope) };
                                                });
                                            } />
                                        <code>{scope.as_str()}</code>
                                        <span class="muted small">{scope.description()}</span>
                                    </label>
                                }
                            }).collect_view()}
                            <p class="field-error" id="key-scopes-error" aria-live="polite">{field_error("scopes")}</p>
                        </fieldset>
                        <fieldset class="field rate-limit" class:has-error=move || field_error("rate_limit")().is_some()
                            aria-describedby="key-rate-limit-error">
                            <legend>"Rate limit " <span class="muted small">"(optional)"</span></legend>
                            <div class="inline-fields">
                                <label class="sr-only" for="key-rate-limit">"Requests"</label>
                                <input id="key-rate-limit" name="rate_limit" type="number" min="1" inputmode="numeric"
                                    placeholder="No limit"
                                    aria-invalid=move || if field_error("rate_limit")().is_some() { "true" } else { "false" }
                                    prop:value=move || limit_requests.get()
                                    on:input=move |ev| limit_requests.set(event_target_value(&ev)) />
                                <span aria-hidden="true">"per"</span>
                                <label class="sr-only" for="key-rate-limit-per">"Per"</label>
                                <select id="key-rate-limit-per" name="rate_limit_per"
                                    prop:value=move || limit_per.get()
                                    on:change=move |ev| limit_per.set(event_target_value(&ev))>
                                    {RatePeriod::ALL.into_iter().map(|p| view! {
                                        <option value=p.as_str() selected=p == RatePeriod::Minute>{p.as_str()}</option>
                                    }).collect_view()}
                                </select>
                            </div>
                            <p class="field-error" id="key-rate-limit-error" aria-live="polite">{field_error("rate_limit")}</p>
                        </fieldset>
                        <div class="field-pair">
                            <div class="field" class:has-error=move || field_error("tags")().is_some()>
                                <label for="new-key-tags">"Tags " <span class="muted small">"(optional)"</span></label>
                                <input id="new-key-tags" name="tags" autocomplete="off" spellcheck="false"
                                    placeholder="billing, prod"
                                    aria-invalid=move || if field_error("tags")().is_some() { "true" } else { "false" }
                                    aria-describedby="new-key-tags-error"
                                    prop:value=move || tags.get()
                                    on:input=move |ev| tags.set(event_target_value(&ev)) />
                                <p class="field-error" id="new-key-tags-error" aria-live="polite">{field_error("tags")}</p>
                            </div>
                            <div class="field" class:has-error=move || field_error("owner")().is_some()>
                                <label for="new-key-owner">"Owner id " <span class="muted small">"(optional)"</span></label>
                                <input id="new-key-owner" name="owner" autocomplete="off" spellcheck="false" maxlength="128"
                                    placeholder="cus_4QFJ"
                                    aria-invalid=move || if field_error("owner")().is_some() { "true" } else { "false" }
                                    aria-describedby="new-key-owner-error"
                                    prop:value=move || owner.get()
                                    on:input=move |ev| owner.set(event_target_value(&ev)) />
                                <p class="field-error" id="new-key-owner-error" aria-live="polite">{field_error("owner")}</p>
                            </div>
                        </div>
                        {move || other_error().map(|m| view! { <div class="alert alert-error" role="alert">{m}</div> })}
                        <div class="dialog-actions">
                            <button type="button" class="btn btn-link" on:click=move |_| close(ctx.create_dialog)>"Cancel"</button>
                            <button type="submit" class="btn btn-primary" disabled=move || create.pending().get()>
                                {move || if create.pending().get() { "Creating…" } else { "Create key" }}
                            </button>
                        </div>
                    </form>
                }
            >
                <RevealedKey />
            </Show>
        </dialog>
        })}
    }
}

#[component]
fn RevealedKey() -> impl IntoView {
    let ctx = expect_context::<KeysCtx>();
    let created = ctx.revealed.get_untracked();
    let (name, secret) = created.map(|c| (c.key.name, c.secret)).unwrap_or_default();
    // The form that had focus is gone: put focus on the copy button, the next thing to do.
    Effect::new(move |_| focus_by_id("copy-secret"));
    view! {
        <div class="reveal" data-testid="reveal">
            <h2 id="create-key-title">{format!("Your key “{name}”")}</h2>
            <div class="alert alert-warn" role="note">
                "Copy this key now and store it somewhere safe. You will not be able to see it again."
            </div>
            <div class="copy-row">
                <code class="secret" data-testid="secret">{secret.clone()}</code>
                <CopyButton text=secret label="Copy API key" id="copy-secret"
                    on_copied=Callback::new(move |_| ctx.copied.set(true)) />
            </div>
            <Show
                when=move || ctx.asking_to_close.get()
                fallback=move || view! {
                    <div class="dialog-actions">
                        <button type="button" class="btn btn-primary" on:click=move |_| { try_dismiss_reveal(ctx); }>
                            "Done"
                        </button>
                    </div>
                }
            >
                <CloseAnyway />
            </Show>
        </div>
    }
}

/// "You have not copied this key. Close anyway?", in the reveal itself.
#[component]
fn CloseAnyway() -> impl IntoView {
    let ctx = expect_context::<KeysCtx>();
    Effect::new(move |_| focus_by_id("keep-key-open"));
    view! {
        <div class="alert alert-warn close-anyway" role="alertdialog" aria-labelledby="close-anyway-text"
            data-testid="close-anyway">
            <p id="close-anyway-text"><strong>"You have not copied this key. Close anyway?"</strong>
                " It cannot be shown again."</p>
            <div class="dialog-actions">
                <button type="button" id="keep-key-open" class="btn btn-secondary"
                    on:click=move |_| ctx.asking_to_close.set(false)>"Keep it open"</button>
                <button type="button" class="btn btn-danger" on:click=move |_| dismiss_reveal(ctx)>"Close anyway"</button>
            </div>
        </div>
    }
}

/// Confirmation for revoking, rolling, pausing, ending an overlap or shortening one key.
#[component]
fn ConfirmDialog() -> impl IntoView {
    let ctx = expect_context::<KeysCtx>();
    let error = RwSignal::new(None::<AppError>);
    // Roll: seconds the old secret keeps working. Pause: a preset, or "until" a time.
    let overlap = RwSignal::new(0u32);
    let pause_for = RwSignal::new("resume".to_owned());
    let pause_until = RwSignal::new(String::new());
    let act = Action::new(
        move |(org_id, key_id, kind, overlap, until): &(
            String,
            String,
            Confirm,
            u32,
            Option<String>,
        )| {
            let (org_id, key_id, kind, overlap, until) = (
                org_id.clone(),
                key_id.clone(),
                *kind,
                *overlap,
                until.clone(),
            );
            async move {
                match kind {
                    Confirm::Revoke => revoke_api_key(org_id, key_id).await.map(|_| None),
                    Confirm::Roll => roll_api_key(org_id, key_id, overlap).await.map(Some),
                    Confirm::Pause => pause_api_key(org_id, key_id, until).await.map(|_| None),
                    Confirm::EndOverlap => end_key_overlap(org_id, key_id).await.map(|_| None),
                    Confirm::Shorten => shorten_api_key(org_id, key_id).await.map(|_| None),
                }
            }
        },
    );
    Effect::new(move |_| {
        let Some(result) = act.value().get() else {
            return;
        };
        act.value().set(None);
        match result {
            Ok(rolled) => {
                ctx.refresh.update(|n| *n += 1);
                let rolled = rolled.filter(|c| format::check(&c.secret).is_ok());
                if rolled.is_none() {
                    leaving();
                }
                close(ctx.confirm_dialog);
                if let Some(created) = rolled {
                    ctx.revealed.set(Some(created));
                    ctx.create_open.set(true);
                }
            }
            Err(e) => error.set(Some(e)),
        }
    });
    let confirm = move |_| {
        let Some((key, kind)) = ctx.confirm.get_untracked() else {
            return;
        };
        let until = if kind == Confirm::Pause {
            match pause_end(&pause_for.get_untracked(), &pause_until.get_untracked()) {
                Ok(until) => until,
                Err(message) => {
                    error.set(Some(AppError::invalid("until", message)));
                    return;
                }
            }
        } else {
            None
        };
        error.set(None);
        act.dispatch((
            ctx.org_id.get_untracked(),
            key.id,
            kind,
            overlap.get_untracked(),
            until,
        ));
    };
    let title = move || match ctx.confirm.get() {
        Some((key, Confirm::Revoke)) => format!("Revoke “{}”?", key.name),
        Some((key, Confirm::Roll)) => format!("Roll “{}”?", key.name),
        Some((key, Confirm::Pause)) => format!("Pause “{}”?", key.name),
        Some((key, Confirm::EndOverlap)) => format!("End the overlap of “{}” now?", key.name),
        Some((key, Confirm::Shorten)) => format!("Shorten “{}” to the key policy?", key.name),
        None => String::new(),
    };
    let body = move || {
        match ctx.confirm.get() {
        Some((key, Confirm::Revoke)) => if key.rolling.is_some() {
            "Requests using this key, with its new or its old secret, will fail right away. This cannot be undone."
        } else {
            "Requests using this key will fail right away. This cannot be undone."
        }
        .to_owned(),
        Some((_, Confirm::Roll)) => {
            "A new secret is issued for this key: same name, scopes, expiry and usage history. The new secret is yours: its rights follow your role.".to_owned()
        }
        Some((_, Confirm::Pause)) => {
            "Requests using this key are refused with “key_paused” until it resumes. Nothing else about the key changes.".to_owned()
        }
        Some((key, Confirm::EndOverlap)) => format!(
            "The old secret{} stops working right away; the new secret{} keeps working.",
            hint_after(&key.rolling.map(|r| r.hint).unwrap_or_default()),
            hint_after(&key.hint)
        ),
        Some((key, Confirm::Shorten)) => {
            let policy = ctx.policy.get();
            let now = Utc::now();
            match policy.shortened(key.expires_at, now) {
                Some(at) => format!(
                    "The key will expire on {} ({}) instead of {}.",
                    format_date(at),
                    relative(at, now),
                    key.expires_at.map(format_date).unwrap_or_else(|| "never".into())
                ),
                None => String::new(),
            }
        }
        None => String::new(),
    }
    };
    let kind = move || ctx.confirm.get().map(|(_, kind)| kind);
    let already_rolling = move || {
        ctx.confirm
            .get()
            .and_then(|(key, kind)| (kind == Confirm::Roll).then_some(key.rolling).flatten())
    };
    let field_error =
        move |field: &'static str| move || error.get().and_then(|e| e.field_message(field));
    let other_error = move || {
        error
            .get()
            .filter(|e| e.field_message("until").is_none())
            .map(|e| e.to_string())
    };
    let on_close = move |_| {
        ctx.confirm.set(None);
        error.set(None);
        overlap.set(0);
        pause_for.set("resume".into());
        pause_until.set(String::new());
        ctx.confirm_open.set(false);
        ctx.closed();
    };
    view! {
        {move || ctx.confirm_open.get().then(|| view! {
        <dialog node_ref=ctx.confirm_dialog class="dialog" aria-labelledby="confirm-title" on:close=on_close>
            <h2 id="confirm-title">{title}</h2>
            <p>{body}</p>
            <Show when=move || kind() == Some(Confirm::Roll)>
                <fieldset class="field choices" data-testid="overlap-choices">
                    <legend>"When should the old secret stop working?"</legend>
                    {OVERLAP_CHOICES.iter().map(|(seconds, label)| {
                        let seconds = *seconds;
                        let id = format!("overlap-{seconds}");
                        let label_for = id.clone();
                        view! {
                            <label class="radio" for=label_for>
                                <input type="radio" id=id name="overlap" value=seconds.to_string()
                                    prop:checked=move || overlap.get() == seconds
                                    on:change=move |_| overlap.set(seconds) />
                                {*label}
                            </label>
                        }
                    }).collect_view()}
                    <p class="muted small">"During an overlap both secrets work, so you can update your services before the old one stops."</p>
                </fieldset>
                {move || already_rolling().map(|old| view! {
                    <div class="alert alert-warn" role="note" data-testid="ends-older-overlap">
                        {format!("This key is already rolling: its older secret{} stops now, when you roll it again.", hint_after(&old.hint))}
                    </div>
                })}
            </Show>
            <Show when=move || kind() == Some(Confirm::Pause)>
                <div class="field">
                    <label for="pause-for">"Pause"</label>
                    <select id="pause-for" prop:value=move || pause_for.get()
                        on:change=move |ev| pause_for.set(event_target_value(&ev))>
                        <option value="resume">"Until I resume it"</option>
                        <option value="3600">"For 1 hour"</option>
                        <option value="86400">"For 24 hours"</option>
                        <option value="604800">"For 7 days"</option>
                        <option value="until">"Until a date and time…"</option>
                    </select>
                </div>
                <Show when=move || pause_for.get() == "until">
                    <div class="field" class:has-error=move || field_error("until")().is_some()>
                        <label for="pause-until">"Resume at (your local time)"</label>
                        <input id="pause-until" type="datetime-local" aria-describedby="pause-until-error"
                            prop:value=move || pause_until.get()
                            on:input=move |ev| pause_until.set(event_target_value(&ev)) />
                        <p class="field-error" id="pause-until-error" aria-live="polite">{field_error("until")}</p>
                    </div>
                </Show>
                <Show when=move || pause_for.get() != "until">
                    <p class="field-error" aria-live="polite">{field_error("until")}</p>
                </Show>
            </Show>
            {move || other_error().map(|m| view! { <div class="alert alert-error" role="alert">{m}</div> })}
            <div class="dialog-actions">
                <button type="button" class="btn btn-link" autofocus on:click=move |_| close(ctx.confirm_dialog)>"Cancel"</button>
                <button type="button" class=move || if kind() == Some(Confirm::Revoke) { "btn btn-danger" } else { "btn btn-primary" }
                    disabled=move || act.pending().get() on:click=confirm>
                    {move || match (kind(), act.pending().get()) {
                        (Some(Confirm::Revoke), false) => "Revoke key",
                        (Some(Confirm::Revoke), true) => "Revoking…",
                        (Some(Confirm::Roll), false) => "Roll key",
                        (Some(Confirm::Roll), true) => "Rolling…",
                        (Some(Confirm::Pause), false) => "Pause key",
                        (Some(Confirm::Pause), true) => "Pausing…",
                        (Some(Confirm::EndOverlap), false) => "End overlap now",
                        (Some(Confirm::EndOverlap), true) => "Ending…",
                        (Some(Confirm::Shorten), false) => "Shorten to policy",
                        (Some(Confirm::Shorten), true) => "Shortening…",
                        (None, _) => "",
                    }}
                </button>
            </div>
        </dialog>
        })}
    }
}

/// The end of a pause chosen in the dialog, as RFC 3339 (`None`: until resumed). A
/// date and time is the browser's local time.
fn pause_end(choice: &str, local: &str) -> Result<Option<String>, String> {
    use chrono::TimeZone;
    let now = Utc::now();
    let at = match choice {
        "resume" => return Ok(None),
        "until" => {
            let naive = chrono::NaiveDateTime::parse_from_str(local.trim(), "%Y-%m-%dT%H:%M")
                .map_err(|_| "Pick a date and time.".to_owned())?;
            chrono::Local
                .from_local_datetime(&naive)
                .earliest()
                .ok_or_else(|| "That time does not exist in your time zone.".to_owned())?
                .with_timezone(&Utc)
        }
        seconds => {
            let seconds = seconds
                .parse::<i64>()
                .map_err(|_| "Choose how long to pause.".to_owned())?;
            now + chrono::Duration::seconds(seconds)
        }
    };
    if at <= now {
        return Err("Pick a time in the future.".into());
    }
    Ok(Some(at.to_rfc3339()))
}
