//! One key's page (`/orgs/:org_id/settings/keys/:key_id`): its details, its requests
//! over the last 24 hours or 30 days (the period is in the URL, so a view can be shared
//! and survives a reload), its rate limit, and its activity.

use chrono::Utc;
use leptos::either::Either;
use leptos::prelude::*;

use crate::hooks::{self, hook};
use leptos::server_fn::ServerFn;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use super::chart::UsageChart;
use super::context::KeyContext;
use super::views::{Activity, Hint, PeriodSwitch, format_time, use_period};
use super::{
    ApiKeyView, KeyStatus, RateLimit, RatePeriod, SetKeyAllowedIps, SetKeyContext, SetKeyRateLimit,
    format_date, get_api_key, key_usage, list_key_activity, relative, url_encode,
};
use crate::components::{
    CopyButton, FieldError, FormAlert, FormNote, Loading, ServerForm, raw_text,
};
use crate::error::AppError;
use crate::flash;
use crate::orgs::ui::{OrgContext, common_error, keys_denied, use_org_id};
use crate::permissions::ResourceAccess;
use crate::permissions::access_fields::AccessFields;
use crate::permissions::rpc::{get_permission_use, get_permissions};
use crate::permissions::use_card::PermissionUseCard;

#[component]
pub fn KeyDetailPage() -> impl IntoView {
    let org_id = use_org_id();
    let params = use_params_map();
    let key_id = Memo::new(move |_| params.read().get("key_id").unwrap_or_default());
    let period = use_period("period");
    let OrgContext { org, .. } = expect_context::<OrgContext>();
    let key = Resource::new(
        move || (org_id.get(), key_id.get()),
        |(org, key)| get_api_key(org, key),
    );
    let usage = Resource::new(
        move || (org_id.get(), key_id.get(), period.get()),
        |(org, key, period)| key_usage(org, key, period.as_str().to_owned()),
    );
    let activity = Resource::new(
        move || (org_id.get(), key_id.get()),
        |(org, key)| list_key_activity(org, Some(key)),
    );
    let permission_use = Resource::new(
        move || (org_id.get(), key_id.get()),
        |(org, key)| get_permission_use(org, key),
    );
    let catalog = Resource::new(move || org_id.get(), get_permissions);
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let me = match org.await {
                    Ok(me) => me,
                    Err(e) => return common_error(e),
                };
                let key = match key.await {
                    Ok(key) => key,
                    Err(AppError::Forbidden) => return keys_denied(&me),
                    Err(e) => return common_error(e),
                };
                let usage = match usage.await {
                    Ok(usage) => usage,
                    Err(e) => return common_error(e),
                };
                let permission_use = match permission_use.await {
                    Ok(used) => used,
                    Err(e) => return common_error(e),
                };
                let access = match catalog.await {
                    Ok(view) => view.catalog.access(),
                    Err(e) => return common_error(e),
                };
                let base = format!("/orgs/{}/settings/keys", org_id.get_untracked());
                let here = format!("{base}/{}", key.id);
                let live = key.status.is_live();
                // The limit and the allowlist as last saved, shared by the facts and the forms.
                let limit = RwSignal::new(key.rate_limit);
                let allowed = RwSignal::new(key.allowed_ips.clone());
                let context = RwSignal::new(KeyContext {
                    tags: key.tags.clone(),
                    owner: key.owner.clone(),
                    metadata: key.metadata.clone(),
                });
                view! {
                    <p class="breadcrumb"><A href=base.clone()>"← API keys"</A></p>
                    <KeyFacts api_key=key.clone() limit=limit allowed=allowed context=context base=base />
                    <section class="card" aria-labelledby="usage-title">
                        <div class="card-header with-switch">
                            <h2 id="usage-title">"Requests"</h2>
                            <PeriodSwitch current=usage.period base=here name="period" />
                        </div>
                        <UsageChart usage=usage chart_id="key-usage" />
                    </section>
                    {live.then(|| view! {
                        <RateLimitForm org_id=org_id.get_untracked() key_id=key.id.clone() limit=key.rate_limit />
                        <AllowedIpsForm org_id=org_id.get_untracked() key_id=key.id.clone() allowed=key.allowed_ips.clone() />
                        <KeyPermissionsForm org_id=org_id.get_untracked() key_id=key.id.clone()
                            permissions=key.permissions.clone() roles=key.roles.clone() access=access />
                        <PermissionUseCard org_id=org_id.get_untracked() key_id=key.id.clone() used=permission_use />
                    })}
                    <ContextForm org_id=org_id.get_untracked() key_id=key.id.clone() context=context.get_untracked() />
                    <Suspense fallback=Loading>
                        {move || Suspend::new(async move {
                            match activity.await {
                                Ok(events) => view! {
                                    <Activity events=events empty="Nothing has happened to this key yet." />
                                }.into_any(),
                                Err(e) => common_error(e),
                            }
                        })}
                    </Suspense>
                }
                .into_any()
            })}
        </Suspense>
    }
}

/// The key's name, status and details.
#[component]
fn KeyFacts(
    api_key: ApiKeyView,
    limit: RwSignal<Option<RateLimit>>,
    allowed: RwSignal<Vec<String>>,
    context: RwSignal<KeyContext>,
    /// The keys page, which tag and owner links filter.
    base: String,
) -> impl IntoView {
    let key = api_key;
    let tag_base = base.clone();
    let tags = move || {
        let tags = context.with(|c| c.tags.clone());
        if tags.is_empty() {
            return Either::Left("None");
        }
        let base = tag_base.clone();
        Either::Right(
            tags.into_iter()
                .map(|tag| {
                    let href = format!("{base}?tag={}", url_encode(&tag));
                    let title = format!("Keys tagged {tag}");
                    view! { <a class="tag" href=href title=title>{tag}</a> }
                })
                .collect_view(),
        )
    };
    let owner = move || match context.with(|c| c.owner.clone()) {
        None => Either::Left("None"),
        Some(owner) => {
            let href = format!("{base}?owner={}", url_encode(&owner));
            Either::Right(
                view! { <a href=href title="Every key for this owner"><code>{owner}</code></a> },
            )
        }
    };
    let metadata = move || match context.with(|c| c.metadata.clone()) {
        None => Either::Left("None"),
        Some(json) => Either::Right(view! { <pre class="metadata">{pretty_json(&json)}</pre> }),
    };
    let now = Utc::now();
    let status_class = match key.status {
        KeyStatus::Active => "badge badge-ok",
        KeyStatus::Paused => "badge badge-warn",
        KeyStatus::Expired => "badge badge-muted",
        KeyStatus::Revoked => "badge badge-danger",
    };
    let expires = match key.expires_at {
        None => "Never".to_owned(),
        Some(at) => format!("{} ({})", format_date(at), relative(at, now)),
    };
    let last_used = key
        .last_used_at
        .map(|at| format!("{} ({})", format_time(at), relative(at, now)))
        .unwrap_or_else(|| "Never".into());
    let rate_limit = move || {
        limit
            .get()
            .map(|l| l.text())
            .unwrap_or_else(|| "None".into())
    };
    let revoked = key.revoked_at.map(|at| {
        view! {
            <div><dt>"Revoked"</dt>
                <dd>{format!("{} by {}", format_time(at), key.revoked_by.clone().unwrap_or_default())}</dd></div>
        }
    });
    view! {
        <section class="card key-facts" data-testid="key-facts" data-key-id=key.id.clone()>
            <div class="card-header">
                <div>
                    <h1>{key.name.clone()}</h1>
                    <p class="muted">
                        <Hint hint=key.hint.clone()/>
                        " "<span class=status_class data-testid="key-status">{key.status.label()}</span>
                    </p>
                </div>
            </div>
            {key.notice.clone().map(|n| view! { <div class="alert alert-warn" role="note">{n}</div> })}
            <dl class="facts">
                <div class="fact-wide"><dt>"Key ID"</dt>
                    <dd class="copy-row"><code data-testid="key-id">{key.id.clone()}</code>
                        <CopyButton text=key.id.clone() label="Copy key ID" /></dd></div>
                <div><dt>"Scopes"</dt>
                    <dd class="scope-list">{key.scopes.iter().map(|s| view! { <code class="scope">{s.clone()}</code> }).collect_view()}</dd></div>
                <div><dt>"Created"</dt><dd>{format!("{} by {}", format_time(key.created_at), key.created_by)}</dd></div>
                {key.imported_at.map(|at| view! {
                    <div><dt>"Imported"</dt><dd data-testid="key-imported-at">{format!(
                        "{} from another product; it works as it was issued", format_time(at)
                    )}</dd></div>
                })}
                <div><dt>"Last used"</dt><dd data-testid="key-last-used">{last_used}</dd></div>
                <div><dt>"Expires"</dt><dd>{expires}</dd></div>
                <div><dt>"Rate limit"</dt><dd data-testid="key-rate-limit">{rate_limit}</dd></div>
                <div><dt>"Allowed from"</dt><dd data-testid="key-allowed-ips">{move || {
                    let list = allowed.get();
                    if list.is_empty() { "Any address".to_owned() } else { list.join(", ") }
                }}</dd></div>
                <div><dt>"Tags"</dt><dd class="tag-list" data-testid="key-tags">{tags}</dd></div>
                <div><dt>"Owner"</dt><dd data-testid="key-owner">{owner}</dd></div>
                <div class="fact-wide"><dt>"Metadata"</dt><dd data-testid="key-metadata">{metadata}</dd></div>
                {key.rolling.clone().map(|old| view! {
                    <div><dt>"Old secret"</dt>
                        <dd><Hint hint=old.hint/>
                            {format!(" works until {}", format_time(old.until))}</dd></div>
                })}
                {(key.status == KeyStatus::Paused).then(|| view! {
                    <div><dt>"Paused"</dt>
                        <dd>{key.paused_until.map(|at| format!("until {}", format_time(at)))
                            .unwrap_or_else(|| "until resumed".into())}</dd></div>
                })}
                {revoked}
            </dl>
        </section>
    }
}

/// Sets the key's rate limit. Saved, the page loads again with the note, focus on the
/// requests field.
#[component]
fn RateLimitForm(org_id: String, key_id: String, limit: Option<RateLimit>) -> impl IntoView {
    let note = match limit {
        Some(l) => format!("Saved: at most {}.", l.text()),
        None => "Saved: no rate limit.".to_owned(),
    };
    let per = limit.map(|l| l.per).unwrap_or(RatePeriod::Minute);
    view! {
        <section class="card" aria-labelledby="rate-limit-title">
            <h2 id="rate-limit-title">"Rate limit"</h2>
            <p class="muted">
                "Over the limit, this key's requests get 429 with Retry-After. The window slides: "
                "no burst of twice the limit at a minute's turn. Leave empty for no limit."
            </p>
            <ServerForm action=SetKeyRateLimit::PATH id="rate-limit-form" testid="rate-limit-form"
                class="inline-form" focus="rate-limit-requests">
                <input type="hidden" name="org_id" value=org_id />
                <input type="hidden" name="key_id" value=key_id />
                <fieldset class="form-body">
                <div class="field">
                    <label for="rate-limit-requests">"Requests"</label>
                    <input id="rate-limit-requests" name="requests" type="number" min="1"
                        max=super::RateLimit::MAX_REQUESTS inputmode="numeric" placeholder="No limit"
                        value=flash::kept_value("requests").or_else(|| limit.map(|l| l.requests.to_string())) data-field="rate_limit"
                        aria-invalid=flash::invalid("rate_limit") aria-describedby="rate-limit-error" />
                </div>
                <div class="field">
                    <label for="rate-limit-per">"Per"</label>
                    <select id="rate-limit-per" name="per">
                        {RatePeriod::ALL.into_iter().map(|p| view! {
                            <option value=p.as_str() selected=flash::kept_value("per").map_or(p == per, |v| v == p.as_str())>{p.as_str()}</option>
                        }).collect_view()}
                    </select>
                </div>
                <div class="inline-actions">
                    <button type="submit" class="btn btn-primary" {..hook(hooks::SENDING, "Saving…")}>"Save limit"</button>
                    {limit.is_some().then(|| view! {
                        <button type="submit" class="btn btn-secondary" name="remove" value="true">"Remove limit"</button>
                    })}
                </div>
                </fieldset>
                <FieldError id="rate-limit-error" field="rate_limit" />
                <FormAlert />
                <FormNote testid="rate-limit-saved" note=note />
            </ServerForm>
        </section>
    }
}

/// Sets the addresses the key may be used from. Saved, the page loads again with the
/// note, focus on the addresses.
#[component]
fn AllowedIpsForm(org_id: String, key_id: String, allowed: Vec<String>) -> impl IntoView {
    let note = if allowed.is_empty() {
        "Saved: the key works from any address.".to_owned()
    } else {
        format!("Saved: the key works only from {}.", allowed.join(", "))
    };
    view! {
        <section class="card" aria-labelledby="allowed-ips-title">
            <h2 id="allowed-ips-title">"Allowed addresses"</h2>
            <p class="muted">
                "Requests with this key from any other address get 403. One IPv4 or IPv6 address "
                "or CIDR range per line (at most 50), e.g. 203.0.113.0/24 or 2001:db8::/32. "
                "Leave empty to allow any address."
            </p>
            <ServerForm action=SetKeyAllowedIps::PATH id="allowed-ips-form" testid="allowed-ips-form"
                focus="allowed-ips">
                <input type="hidden" name="org_id" value=org_id />
                <input type="hidden" name="key_id" value=key_id />
                <fieldset class="form-body">
                <div class="field">
                    <label for="allowed-ips">"Addresses and ranges"</label>
                    <textarea id="allowed-ips" name="allowed_ips" rows="4" spellcheck="false"
                        autocomplete="off" placeholder="Any address" data-field="allowed_ips"
                        aria-invalid=flash::invalid("allowed_ips") aria-describedby="allowed-ips-error">{raw_text(&flash::kept_value("allowed_ips").unwrap_or_else(|| allowed.join("\n")))}</textarea>
                    <FieldError id="allowed-ips-error" field="allowed_ips" />
                </div>
                <button type="submit" class="btn btn-primary" {..hook(hooks::SENDING, "Saving…")}>"Save addresses"</button>
                </fieldset>
                <FormAlert />
                <FormNote testid="allowed-ips-saved" note=note />
            </ServerForm>
        </section>
    }
}

/// The permissions and roles of the API the key holds (Settings → Permissions lists the
/// catalog). Saved, the page loads again with the "Saved" note.
#[component]
fn KeyPermissionsForm(
    org_id: String,
    key_id: String,
    permissions: Vec<String>,
    roles: Vec<String>,
    /// The catalog's resources, offered as None / Read / Write.
    access: Vec<ResourceAccess>,
) -> impl IntoView {
    // What the selects show is left out of the typed list.
    let chosen: Vec<&str> = access.iter().flat_map(|a| a.held(&permissions).1).collect();
    let others: Vec<&str> = permissions
        .iter()
        .map(String::as_str)
        .filter(|p| !chosen.contains(p))
        .collect();
    let others = others.join(" ");
    let catalog = format!("/orgs/{org_id}/settings/permissions");
    let held = if permissions.is_empty() && roles.is_empty() {
        "None: the route rules refuse this key wherever they ask for a permission.".to_owned()
    } else {
        [("Permissions", &permissions), ("Roles", &roles)]
            .into_iter()
            .filter(|(_, list)| !list.is_empty())
            .map(|(what, list)| format!("{what}: {}", list.join(", ")))
            .collect::<Vec<_>>()
            .join(". ")
    };
    view! {
        <section class="card" aria-labelledby="key-permissions-title">
            <h2 id="key-permissions-title" tabindex="-1">"Permissions in your API"</h2>
            <p data-testid="key-permissions">{held}</p>
            <p class="muted">
                "What the gateway's route rules and "<code>"/api/v1/verify"</code>" let this key do, from the "
                <a href=catalog>"organization's permissions"</a>". Separate them with spaces; "
                <code>"invoices:*"</code>" gives every permission of a resource."
            </p>
            <ServerForm action=crate::permissions::rpc::SetKeyPermissions::PATH id="key-permissions-form"
                testid="key-permissions-form" focus="key-permissions-input">
                <input type="hidden" name="org_id" value=org_id />
                <input type="hidden" name="key_id" value=key_id />
                <fieldset class="form-body">
                    <AccessFields form="key-permissions-form" access=access held=permissions.clone() />
                    <div class="field">
                        <label for="key-permissions-input">"Other permissions"</label>
                        <input id="key-permissions-input" name="permissions" autocomplete="off" spellcheck="false"
                            value=flash::kept_value("permissions").unwrap_or(others) data-field="permissions" aria-invalid=flash::invalid("permissions")
                            aria-describedby="key-permissions-error" placeholder="invoices:read" />
                        <FieldError id="key-permissions-error" field="permissions" />
                    </div>
                    <div class="field">
                        <label for="key-roles-input">"Roles"</label>
                        <input id="key-roles-input" name="roles" autocomplete="off" spellcheck="false"
                            value=flash::kept_value("roles").unwrap_or_else(|| roles.join(" ")) data-field="roles" aria-invalid=flash::invalid("roles")
                            aria-describedby="key-roles-error" placeholder="billing-readonly" />
                        <FieldError id="key-roles-error" field="roles" />
                    </div>
                    <button type="submit" class="btn btn-primary" {..hook(hooks::SENDING, "Saving…")}>"Save permissions"</button>
                </fieldset>
                <FormAlert />
                <FormNote testid="key-permissions-saved" note="Saved." />
            </ServerForm>
        </section>
    }
}

/// Compact JSON indented for reading (what was stored is valid JSON; anything else is
/// shown as it is).
fn pretty_json(json: &str) -> String {
    serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| json.to_owned())
}

/// Edits the key's tags, owner id and metadata (on any key: labels change nothing it can
/// do). Saved, the page loads again with the "Saved" note.
#[component]
fn ContextForm(org_id: String, key_id: String, context: KeyContext) -> impl IntoView {
    let metadata = context
        .metadata
        .as_deref()
        .map(pretty_json)
        .unwrap_or_default();
    let rows = metadata.lines().count().clamp(4, 14);
    view! {
        <section class="card" aria-labelledby="context-title">
            <h2 id="context-title">"Tags, owner and metadata"</h2>
            <p class="muted">
                "What the key is for. Tags and the owner filter the keys list; "
                "/verify and whoami return all three, and the gateway forwards the owner as X-Keygate-Key-Owner."
            </p>
            <ServerForm action=SetKeyContext::PATH id="context-form" testid="context-form"
                focus="key-tags">
                <input type="hidden" name="org_id" value=org_id />
                <input type="hidden" name="key_id" value=key_id />
                <fieldset class="form-body">
                <div class="field">
                    <label for="key-tags">"Tags"</label>
                    <input id="key-tags" name="tags" type="text" autocomplete="off" spellcheck="false"
                        placeholder="billing, prod" aria-describedby="key-tags-help key-tags-error"
                        data-field="tags" aria-invalid=flash::invalid("tags") value=flash::kept_value("tags").unwrap_or_else(|| context.tags.join(", ")) />
                    <p class="muted small" id="key-tags-help">"Up to 20, separated by commas: lower-case letters, digits, -, : and ."</p>
                    <FieldError id="key-tags-error" field="tags" />
                </div>
                <div class="field">
                    <label for="key-owner">"Owner id"</label>
                    <input id="key-owner" name="owner" type="text" autocomplete="off" spellcheck="false"
                        maxlength="128" placeholder="cus_4QFJ" aria-describedby="key-owner-help key-owner-error"
                        data-field="owner" aria-invalid=flash::invalid("owner") value=flash::kept_value("owner").unwrap_or_else(|| context.owner.clone().unwrap_or_default()) />
                    <p class="muted small" id="key-owner-help">"The customer or service the key is for, in your own terms."</p>
                    <FieldError id="key-owner-error" field="owner" />
                </div>
                <div class="field">
                    <label for="key-metadata">"Metadata (JSON object)"</label>
                    <textarea id="key-metadata" name="metadata" spellcheck="false" autocomplete="off"
                        rows=rows placeholder="{\"plan\": \"pro\"}" aria-describedby="key-metadata-error"
                        data-field="metadata" aria-invalid=flash::invalid("metadata")>{raw_text(&flash::kept_value("metadata").unwrap_or_else(|| metadata.clone()))}</textarea>
                    <FieldError id="key-metadata-error" field="metadata" />
                </div>
                <button type="submit" class="btn btn-primary" {..hook(hooks::SENDING, "Saving…")}>"Save tags, owner and metadata"</button>
                </fieldset>
                <FormAlert />
                <FormNote testid="context-saved" note="Saved." />
            </ServerForm>
        </section>
    }
}
