//! The organization's API keys page: list with search, filters (tag, owner, status,
//! expiring soon; all in the URL) and pagination,
//! create dialog with expiry (limited by the org's key policy), one-time reveal with copy
//! (closing an uncopied key asks first), roll with an overlap, pause and resume, revoke,
//! shorten to policy, and the activity list.

use chrono::Utc;
use leptos::either::Either;
use leptos::prelude::*;

use crate::hooks::{self, hook};
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use super::chart::UsageChart;
use super::dialogs::{KeyDialogs, create_button, key_actions};
use super::reveal::RevealedKey;
use super::views::{Activity, Hint, PeriodSwitch, format_time, use_period};
use super::{
    ApiKeyView, KeyPage, KeyPolicy, KeyQuery, KeyStatus, StatusFilter, format_date, list_api_keys,
    list_key_activity, org_usage, relative, url_encode,
};
use crate::components::Loading;
use crate::error::AppError;
use crate::orgs::ui::{OrgContext, common_error, keys_denied, use_org_id};

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
                    Err(AppError::Forbidden) => keys_denied(&me),
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
/// filtered view can be shared and survives a reload. A plain GET form; with wasm its
/// blank fields stay out of the URL (`behaviours`).
#[component]
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
                      placeholder: &'static str| {
        let message = error_for(name);
        let invalid = message.is_some();
        let error_id = format!("{id}-error");
        view! {
            <div class="field" class:has-error=invalid>
                <label for=id>{label}</label>
                <input id=id name=name type="search" autocomplete="off" spellcheck="false"
                    value=value.unwrap_or_default() placeholder=placeholder
                    aria-invalid=if invalid { "true" } else { "false" }
                    aria-describedby=error_id.clone() />
                <p class="field-error" id=error_id>{message}</p>
            </div>
        }
    };
    let status = given.status.clone().unwrap_or_default();
    let search = text_field(
        "key-search",
        "q",
        "Search",
        given.q.clone(),
        "Name, hint or key ID",
    );
    let tag = text_field("key-tag", "tag", "Tag", given.tag.clone(), "e.g. prod");
    let owner = text_field(
        "key-owner-filter",
        "owner",
        "Owner id",
        given.owner.clone(),
        "cus_4QFJ",
    );
    let status_error = error_for("status");
    let status_invalid = status_error.is_some();
    let any =
        given.q.is_some() || given.tag.is_some() || given.owner.is_some() || given.status.is_some();
    view! {
        <form method="get" action=base.clone() class="filter-bar" role="search" aria-label="Find keys"
            data-testid="key-filters" {..hook(hooks::CLEAN_GET, "")}>
            {search}
            {tag}
            {owner}
            <div class="field" class:has-error=status_invalid>
                <label for="key-status-filter">"Status"</label>
                <select id="key-status-filter" name="status" aria-describedby="key-status-filter-error">
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
        access,
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
        <RevealedKey keys_path=base.clone() />
        <section class="card">
            <div class="card-header">
                <div>
                    <h1>"API keys"</h1>
                    <p class="muted">"Services use these keys to call the API. A key is shown once, when it is created."</p>
                </div>
                {create_button(&org_id, "Create key", "btn btn-primary", Some("create-key"))}
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
                        {create_button(&org_id, "Create your first key", "btn btn-secondary", Some("create-first-key"))}
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
        <KeyDialogs org_id=org_id policy=policy access=access />
    }
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
            {key_actions(&org_id, &key, policy, now)}
        </tr>
    }
}

/// The keys page's usage panel: the organization's requests and its busiest keys.
#[component]
pub fn OrgUsagePanel(usage: super::usage::OrgUsageView, base: String) -> impl IntoView {
    let period = usage.usage.period;
    let busiest = usage.busiest;
    view! {
        <section class="card" aria-labelledby="org-usage-title" data-testid="org-usage">
            <div class="card-header with-switch">
                <h2 id="org-usage-title">"Requests to this organization's keys"</h2>
                <PeriodSwitch current=period base=base.clone() name="usage" />
            </div>
            <UsageChart usage=usage.usage chart_id="org-usage" />
            <h3>"Busiest keys"</h3>
            {if busiest.is_empty() {
                Either::Left(view! { <p class="muted">{format!("No key was used in the {}.", period.label().to_lowercase())}</p> })
            } else {
                Either::Right(view! {
                    <ol class="busiest" data-testid="busiest">
                        {busiest.into_iter().map(|k| view! {
                            <li>
                                <A href=format!("{base}/{}", k.key_id)>{k.name}</A>
                                " "<Hint hint=k.hint/>
                                <span class="muted">{format!(" {} requests", k.total)}</span>
                            </li>
                        }).collect_view()}
                    </ol>
                })
            }}
        </section>
    }
}
