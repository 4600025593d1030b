//! The organization's API keys page: list with pagination, create dialog with expiry,
//! one-time reveal with copy, roll and revoke with confirmation, and the activity list.

use chrono::Utc;
use leptos::either::Either;
use leptos::html;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use super::scopes::{DEFAULT_SCOPES, Scope, Scopes};
use super::{
    ApiKeyView, AuditEventView, CreatedKey, DEFAULT_EXPIRY, EXPIRY_CHOICES, KeyPage, KeyStatus,
    create_api_key, format, format_date, list_api_keys, list_key_activity, relative,
    resolve_expiry, revoke_api_key, roll_api_key,
};
use crate::components::{AccessDeniedPage, CopyButton, Loading};
use crate::error::AppError;
use crate::orgs::ui::{OrgContext, common_error, use_org_id};
use crate::validate;

/// State shared by the page and its dialogs.
#[derive(Clone, Copy)]
struct KeysCtx {
    org_id: Memo<String>,
    /// Bumped when keys changed; the list and the activity refetch.
    refresh: RwSignal<u32>,
    /// The key being shown once. Cleared as soon as the reveal dialog closes.
    revealed: RwSignal<Option<CreatedKey>>,
    create_dialog: NodeRef<html::Dialog>,
    /// The key the confirm dialog is about, and whether it is a revoke or a roll.
    confirm: RwSignal<Option<(ApiKeyView, Confirm)>>,
    confirm_dialog: NodeRef<html::Dialog>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Confirm {
    Revoke,
    Roll,
}

fn open(dialog: NodeRef<html::Dialog>) {
    if let Some(d) = dialog.get_untracked() {
        let _ = d.show_modal();
    }
}

/// After a dialog closes the browser returns focus to the button that opened it, but a
/// refreshed list replaces that button: then focus goes to "Create key" instead of
/// being lost on the page body.
fn restore_focus(dialog: NodeRef<html::Dialog>) {
    use leptos::wasm_bindgen::JsCast;
    let active = document().active_element();
    // Still inside the closed dialog, or on the body: the opener is gone.
    let lost = match (&active, dialog.get_untracked()) {
        (None, _) => true,
        (Some(element), Some(dialog)) => {
            element.tag_name().eq_ignore_ascii_case("body")
                || dialog.contains(Some(element.unchecked_ref()))
        }
        (Some(element), None) => element.tag_name().eq_ignore_ascii_case("body"),
    };
    if lost
        && let Some(button) = document()
            .get_element_by_id("create-key")
            .and_then(|e| e.dyn_into::<leptos::web_sys::HtmlElement>().ok())
    {
        let _ = button.focus();
    }
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
    ctx.revealed.set(None);
    close(ctx.create_dialog);
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
    let ctx = KeysCtx {
        org_id,
        refresh: RwSignal::new(0),
        revealed: RwSignal::new(None),
        create_dialog: NodeRef::new(),
        confirm: RwSignal::new(None),
        confirm_dialog: NodeRef::new(),
    };
    provide_context(ctx);
    let keys = Resource::new(
        move || (org_id.get(), page.get(), ctx.refresh.get()),
        |(id, p, _)| list_api_keys(id, p),
    );
    let activity = Resource::new(
        move || (org_id.get(), ctx.refresh.get()),
        |(id, _)| list_key_activity(id),
    );

    view! {
        // A transition keeps the current list on screen while it refreshes after a change,
        // so focus and dialogs are not torn down; switching organization remounts the whole
        // settings layout, so another org's keys are never shown.
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                let me = match org.await {
                    Ok(me) => me,
                    Err(e) => return common_error(e),
                };
                match keys.await {
                    Ok(list) => {
                        let events = activity.await.unwrap_or_default();
                        // The transition keeps this list up while the next one loads; the
                        // moment the URL names another organization, it is hidden.
                        let listed_org = list.org_id.clone();
                        view! {
                            <Show when=move || org_id.get() == listed_org>
                                <KeyList list=list.clone() />
                                <Activity events=events.clone() />
                            </Show>
                        }.into_any()
                    }
                    Err(AppError::Forbidden) => view! {
                        <AccessDeniedPage message=format!(
                            "Your role in {} ({}) cannot see or manage API keys.", me.name, me.role.label()
                        ) />
                    }.into_any(),
                    Err(e) => common_error(e),
                }
            })}
        </Transition>
        <CreateKeyDialog />
        <ConfirmDialog />
    }
}

#[component]
fn KeyList(list: KeyPage) -> impl IntoView {
    let ctx = expect_context::<KeysCtx>();
    let now = Utc::now();
    let KeyPage {
        keys,
        page,
        pages,
        total,
        ..
    } = list;
    let org_id = ctx.org_id.get_untracked();
    let open_create = move |_| {
        ctx.revealed.set(None);
        open(ctx.create_dialog);
    };
    view! {
        <section class="card">
            <div class="card-header">
                <div>
                    <h1>"API keys"</h1>
                    <p class="muted">"Services use these keys to call the API. A key is shown once, when it is created."</p>
                </div>
                <button type="button" id="create-key" class="btn btn-primary" on:click=open_create>"Create key"</button>
            </div>
            {if keys.is_empty() {
                Either::Left(view! {
                    <div class="empty-state" data-testid="keys-empty">
                        <h2>"No API keys yet"</h2>
                        <p class="muted">"Create the first key for a service that calls your API."</p>
                        <button type="button" class="btn btn-secondary" on:click=open_create>"Create your first key"</button>
                    </div>
                })
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
                                {keys.into_iter().map(|key| view! { <KeyRow api_key=key now=now /> }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                    <nav class="pagination" aria-label="Key pages">
                        <span class="muted">{format!("Page {page} of {pages} · {total} keys")}</span>
                        {(page > 1).then(|| view! {
                            <A href=format!("/orgs/{org_id}/settings/keys?page={}", page - 1)>"Previous"</A>
                        })}
                        {(page < pages).then(|| view! {
                            <A href=format!("/orgs/{org_id}/settings/keys?page={}", page + 1)>"Next"</A>
                        })}
                    </nav>
                })
            }}
        </section>
    }
}

#[component]
fn KeyRow(api_key: ApiKeyView, now: chrono::DateTime<Utc>) -> impl IntoView {
    let key = api_key;
    let ctx = expect_context::<KeysCtx>();
    let status_class = match key.status {
        KeyStatus::Active => "badge badge-ok",
        KeyStatus::Expired => "badge badge-muted",
        KeyStatus::Revoked => "badge badge-danger",
    };
    let expires = match key.expires_at {
        None => view! { <span>"Never"</span> }.into_any(),
        Some(at) => view! {
            <span>{format_date(at)}</span>
            <span class="muted small">{relative(at, now)}</span>
        }
        .into_any(),
    };
    let ask = |kind: Confirm| {
        let key = key.clone();
        move |_| {
            ctx.confirm.set(Some((key.clone(), kind)));
            open(ctx.confirm_dialog);
        }
    };
    let active = key.status == KeyStatus::Active;
    let revocable = key.status != KeyStatus::Revoked;
    view! {
        <tr data-testid="key-row" data-key-id=key.id.clone() data-status=key.status.label().to_lowercase()>
            <td class="key-name" data-label="Name">
                <span class="key-title">{key.name.clone()}</span>
                <code class="hint" title="The first characters of the key">{format!("{}…", key.hint)}</code>
                <span class="scope-list" data-testid="key-scopes">
                    {key.scopes.iter().map(|s| view! { <code class="scope">{s.clone()}</code> }).collect_view()}
                </span>
            </td>
            <td class="when" data-label="Created">
                <span>{format_date(key.created_at)}</span>
                <span class="muted small">{format!("by {}", key.created_by)}</span>
            </td>
            <td class="when" data-label="Last used">{key.last_used_at.map(|at| relative(at, now)).unwrap_or_else(|| "never".into())}</td>
            <td class="when" data-label="Expires">{expires}</td>
            <td class="status" data-label="Status">
                <span class=status_class data-testid="key-status">{key.status.label()}</span>
                {key.notice.clone().map(|n| view! { <span class="muted small key-notice" data-testid="key-notice">{n}</span> })}
                {key.revoked_at.map(|at| view! {
                    <span class="muted small">
                        {format!("by {} on {}", key.revoked_by.clone().unwrap_or_default(), format_date(at))}
                    </span>
                })}
            </td>
            <td class="actions">
                {active.then(|| view! {
                    <button type="button" class="btn btn-secondary btn-small" on:click=ask(Confirm::Roll)
                        aria-label=format!("Roll key {}", key.name)>"Roll"</button>
                })}
                {revocable.then(|| view! {
                    <button type="button" class="btn btn-danger-outline btn-small" on:click=ask(Confirm::Revoke)
                        aria-label=format!("Revoke key {}", key.name)>"Revoke"</button>
                })}
            </td>
        </tr>
    }
}

#[component]
fn Activity(events: Vec<AuditEventView>) -> impl IntoView {
    let now = Utc::now();
    view! {
        <section class="card">
            <h2>"Activity"</h2>
            {if events.is_empty() {
                Either::Left(view! { <p class="muted">"Nothing has happened to this organization's keys yet."</p> })
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
                                other => format!(" {other} key “{}”", e.key_name),
                            };
                            view! {
                                <li>
                                    <span><strong>{e.actor}</strong>{what}</span>
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

/// Create form, then the one-time reveal of a created or rolled key.
#[component]
fn CreateKeyDialog() -> impl IntoView {
    let ctx = expect_context::<KeysCtx>();
    let name = RwSignal::new(String::new());
    let expiry = RwSignal::new(DEFAULT_EXPIRY.to_owned());
    let custom_date = RwSignal::new(String::new());
    let scopes = RwSignal::new(DEFAULT_SCOPES);
    let error = RwSignal::new(None::<AppError>);
    let name_input = NodeRef::<html::Input>::new();
    let create = Action::new(
        move |(org_id, name, expiry, date, chosen): &(String, String, String, String, Scopes)| {
            let args = (
                org_id.clone(),
                name.clone(),
                expiry.clone(),
                Some(date.clone()),
                Some(chosen.to_stored()),
            );
            async move { create_api_key(args.0, args.1, args.2, args.3, args.4).await }
        },
    );
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
        expiry.set(DEFAULT_EXPIRY.to_owned());
        custom_date.set(String::new());
        scopes.set(DEFAULT_SCOPES);
        error.set(None);
    };
    // Opening the dialog focuses the name field (the browser focuses the first control).
    let on_close = move |_| {
        // Drop the revealed key from the page as soon as the dialog closes.
        ctx.revealed.set(None);
        reset();
        restore_focus(ctx.create_dialog);
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
        if let Err(e) = resolve_expiry(
            &expiry.get_untracked(),
            &custom_date.get_untracked(),
            Utc::now(),
        ) {
            error.set(Some(e));
            return;
        }
        if scopes.get_untracked().is_empty() {
            error.set(Some(AppError::invalid(
                "scopes",
                "Choose at least one scope.",
            )));
            return;
        }
        error.set(None);
        create.dispatch((
            ctx.org_id.get_untracked(),
            raw_name,
            expiry.get_untracked(),
            custom_date.get_untracked(),
            scopes.get_untracked(),
        ));
    };
    let field_error =
        move |field: &'static str| move || error.get().and_then(|e| e.field_message(field));
    let other_error = move || {
        error
            .get()
            .filter(|e| {
                ["name", "expiry", "custom_date", "scopes"]
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
    view! {
        <dialog node_ref=ctx.create_dialog class="dialog" aria-labelledby="create-key-title"
            on:cancel=move |_: leptos::web_sys::Event| ctx.revealed.set(None) on:close=on_close>
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
                            <select id="key-expiry" name="expiry" aria-describedby="key-expiry-preview"
                                on:change=move |ev| expiry.set(event_target_value(&ev))
                                prop:value=move || expiry.get()>
                                {EXPIRY_CHOICES.iter().map(|(value, label)| view! {
                                    <option value=*value selected=*value == DEFAULT_EXPIRY>{*label}</option>
                                }).collect_view()}
                            </select>
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
    }
}

#[component]
fn RevealedKey() -> impl IntoView {
    let ctx = expect_context::<KeysCtx>();
    let created = ctx.revealed.get_untracked();
    let (name, secret) = created.map(|c| (c.key.name, c.secret)).unwrap_or_default();
    // The form that had focus is gone: put focus on the copy button, the next thing to do.
    Effect::new(move |_| {
        use leptos::wasm_bindgen::JsCast;
        if let Some(button) = document()
            .get_element_by_id("copy-secret")
            .and_then(|e| e.dyn_into::<leptos::web_sys::HtmlElement>().ok())
        {
            let _ = button.focus();
        }
    });
    view! {
        <div class="reveal" data-testid="reveal">
            <h2 id="create-key-title">{format!("Your key “{name}”")}</h2>
            <div class="alert alert-warn" role="note">
                "Copy this key now and store it somewhere safe. You will not be able to see it again."
            </div>
            <div class="copy-row">
                <code class="secret" data-testid="secret">{secret.clone()}</code>
                <CopyButton text=secret label="Copy API key" id="copy-secret" />
            </div>
            <div class="dialog-actions">
                <button type="button" class="btn btn-primary" on:click=move |_| dismiss_reveal(ctx)>
                    "Done"
                </button>
            </div>
        </div>
    }
}

/// Confirmation for revoking or rolling one key.
#[component]
fn ConfirmDialog() -> impl IntoView {
    let ctx = expect_context::<KeysCtx>();
    let error = RwSignal::new(None::<AppError>);
    let act = Action::new(move |(org_id, key_id, kind): &(String, String, Confirm)| {
        let (org_id, key_id, kind) = (org_id.clone(), key_id.clone(), *kind);
        async move {
            match kind {
                Confirm::Revoke => revoke_api_key(org_id, key_id).await.map(|_| None),
                Confirm::Roll => roll_api_key(org_id, key_id).await.map(Some),
            }
        }
    });
    Effect::new(move |_| {
        let Some(result) = act.value().get() else {
            return;
        };
        act.value().set(None);
        match result {
            Ok(rolled) => {
                ctx.refresh.update(|n| *n += 1);
                close(ctx.confirm_dialog);
                if let Some(created) = rolled.filter(|c| format::check(&c.secret).is_ok()) {
                    ctx.revealed.set(Some(created));
                    open(ctx.create_dialog);
                }
            }
            Err(e) => error.set(Some(e)),
        }
    });
    let confirm = move |_| {
        if let Some((key, kind)) = ctx.confirm.get_untracked() {
            error.set(None);
            act.dispatch((ctx.org_id.get_untracked(), key.id, kind));
        }
    };
    let title = move || match ctx.confirm.get() {
        Some((key, Confirm::Revoke)) => format!("Revoke “{}”?", key.name),
        Some((key, Confirm::Roll)) => format!("Roll “{}”?", key.name),
        None => String::new(),
    };
    let body = move || match ctx.confirm.get().map(|(_, kind)| kind) {
        Some(Confirm::Revoke) => {
            "Requests using this key will fail right away. This cannot be undone."
        }
        Some(Confirm::Roll) => {
            "A new secret is issued for this key and the current one stops working right away. Update the services that use it. The new secret is yours: its rights follow your role."
        }
        None => "",
    };
    let is_revoke = move || {
        ctx.confirm
            .get()
            .is_some_and(|(_, kind)| kind == Confirm::Revoke)
    };
    view! {
        <dialog node_ref=ctx.confirm_dialog class="dialog" aria-labelledby="confirm-title"
            on:close=move |_| { ctx.confirm.set(None); error.set(None); restore_focus(ctx.confirm_dialog); }>
            <h2 id="confirm-title">{title}</h2>
            <p>{body}</p>
            {move || error.get().map(|e| view! { <div class="alert alert-error" role="alert">{e.to_string()}</div> })}
            <div class="dialog-actions">
                <button type="button" class="btn btn-link" autofocus on:click=move |_| close(ctx.confirm_dialog)>"Cancel"</button>
                <button type="button" class=move || if is_revoke() { "btn btn-danger" } else { "btn btn-primary" }
                    disabled=move || act.pending().get() on:click=confirm>
                    {move || match (is_revoke(), act.pending().get()) {
                        (true, false) => "Revoke key",
                        (true, true) => "Revoking…",
                        (false, false) => "Roll key",
                        (false, true) => "Rolling…",
                    }}
                </button>
            </div>
        </dialog>
    }
}
