//! The Webhooks settings page: endpoints (add with a one-time `whsec_` reveal, send a test
//! event, delete) and the latest deliveries with their status and response.

use chrono::{DateTime, Utc};
use leptos::either::Either;
use leptos::prelude::*;

use super::{
    CreateWebhook, CreatedEndpoint, DeliveryStatus, DeliveryView, EVENT_TYPES, EndpointView,
    delete_webhook, list_webhook_deliveries, list_webhooks, send_test_webhook,
};
use crate::components::{AccessDeniedPage, CopyButton, FormError, Loading, last_error};
use crate::error::AppError;
use crate::keys::relative;
use crate::orgs::ui::{OrgContext, common_error, use_org_id};

/// State shared by the panel's parts.
#[derive(Clone, Copy)]
struct HooksCtx {
    org_id: Memo<String>,
    /// The endpoints and the latest deliveries as last read.
    endpoints: RwSignal<Vec<EndpointView>>,
    deliveries: RwSignal<Vec<DeliveryView>>,
    /// Bumped to re-read the endpoints, and the deliveries.
    endpoints_version: RwSignal<u32>,
    deliveries_version: RwSignal<u32>,
    /// The new endpoint's secret, shown once; cleared by Done.
    revealed: RwSignal<Option<CreatedEndpoint>>,
    /// An error from a row's button (test, delete).
    row_error: RwSignal<Option<AppError>>,
    /// What the last row action did, for screen readers and eyes.
    row_notice: RwSignal<Option<String>>,
}

#[component]
pub fn WebhooksPage() -> impl IntoView {
    let org_id = use_org_id();
    let OrgContext { org, .. } = expect_context::<OrgContext>();
    let endpoints = Resource::new(move || org_id.get(), list_webhooks);
    let deliveries = Resource::new(move || org_id.get(), list_webhook_deliveries);
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let me = match org.await {
                    Ok(me) => me,
                    Err(e) => return common_error(e),
                };
                match endpoints.await {
                    Ok(list) => {
                        let deliveries = deliveries.await.unwrap_or_default();
                        view! {
                            <WebhooksPanel org_id=me.id.clone() endpoints=list deliveries=deliveries />
                        }.into_any()
                    }
                    Err(AppError::Forbidden) => view! {
                        <AccessDeniedPage message=format!(
                            "Your role in {} ({}) cannot manage webhooks: owners and admins can.",
                            me.name, me.role.label()
                        ) />
                    }.into_any(),
                    Err(e) => common_error(e),
                }
            })}
        </Suspense>
    }
}

/// The endpoints, the form that adds one (with its secret's reveal) and the deliveries:
/// one island, since a test event or a deletion changes the deliveries shown.
#[island]
fn WebhooksPanel(
    org_id: String,
    endpoints: Vec<EndpointView>,
    deliveries: Vec<DeliveryView>,
) -> impl IntoView {
    let ctx = HooksCtx {
        org_id: Memo::new(move |_| org_id.clone()),
        endpoints: RwSignal::new(endpoints),
        deliveries: RwSignal::new(deliveries),
        endpoints_version: RwSignal::new(0),
        deliveries_version: RwSignal::new(0),
        revealed: RwSignal::new(None),
        row_error: RwSignal::new(None),
        row_notice: RwSignal::new(None),
    };
    provide_context(ctx);
    // Re-read a list whenever its version is bumped (not at first: the server sent it).
    Effect::new(move |first: Option<()>| {
        ctx.endpoints_version.track();
        if first.is_some() {
            leptos::task::spawn_local(async move {
                match list_webhooks(ctx.org_id.get_untracked()).await {
                    Ok(list) => ctx.endpoints.set(list),
                    Err(e) => ctx.row_error.set(Some(e)),
                }
            });
        }
    });
    Effect::new(move |first: Option<()>| {
        ctx.deliveries_version.track();
        if first.is_some() {
            leptos::task::spawn_local(async move {
                if let Ok(list) = list_webhook_deliveries(ctx.org_id.get_untracked()).await {
                    ctx.deliveries.set(list);
                }
            });
        }
    });
    view! {
        {move || view! { <Endpoints endpoints=ctx.endpoints.get() /> }}
        // Where the form was submitted, so it is in view (and focused).
        <SecretReveal />
        <AddEndpoint />
        {move || view! { <Deliveries deliveries=ctx.deliveries.get() /> }}
    }
}

#[component]
fn Endpoints(endpoints: Vec<EndpointView>) -> impl IntoView {
    let ctx = expect_context::<HooksCtx>();
    view! {
        <section class="card" data-testid="webhooks">
            <h1>"Webhooks"</h1>
            <p class="muted">
                "Keygate sends these URLs a signed POST when something happens to the organization's keys or members "
                "(Standard Webhooks: check the " <code>"webhook-signature"</code> " header with the endpoint's secret). "
                "Failed deliveries are retried with growing waits for 24 hours."
            </p>
            <FormError error=ctx.row_error fields=&[] />
            <p class="muted small" role="status" data-testid="webhook-notice">{move || ctx.row_notice.get()}</p>
            {if endpoints.is_empty() {
                Either::Left(view! {
                    <div class="empty-state" data-testid="webhooks-empty">
                        <h2>"No endpoints yet"</h2>
                        <p class="muted">"Add the URL of a service that should hear about key changes."</p>
                    </div>
                })
            } else {
                Either::Right(view! {
                    <ul class="endpoint-list" data-testid="endpoints">
                        {endpoints.into_iter().map(|e| view! { <EndpointRow endpoint=e /> }).collect_view()}
                    </ul>
                })
            }}
        </section>
    }
}

#[component]
fn EndpointRow(endpoint: EndpointView) -> impl IntoView {
    let ctx = expect_context::<HooksCtx>();
    let confirming = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let test = {
        let id = endpoint.id.clone();
        move |_| {
            let (org_id, id) = (ctx.org_id.get_untracked(), id.clone());
            busy.set(true);
            leptos::task::spawn_local(async move {
                let result = send_test_webhook(org_id, id).await;
                busy.set(false);
                match result {
                    Ok(event_id) => {
                        ctx.row_error.set(None);
                        ctx.row_notice.set(Some(format!(
                            "Test event {event_id} queued. Its delivery appears below."
                        )));
                        ctx.deliveries_version.update(|n| *n += 1);
                    }
                    Err(e) => ctx.row_error.set(Some(e)),
                }
            });
        }
    };
    let delete = {
        let (id, url) = (endpoint.id.clone(), endpoint.url.clone());
        move |_| {
            let (org_id, id, url) = (ctx.org_id.get_untracked(), id.clone(), url.clone());
            busy.set(true);
            leptos::task::spawn_local(async move {
                let result = delete_webhook(org_id, id).await;
                busy.set(false);
                match result {
                    Ok(()) => {
                        ctx.row_error.set(None);
                        ctx.row_notice
                            .set(Some(format!("Deleted the endpoint {url}.")));
                        ctx.endpoints_version.update(|n| *n += 1);
                        ctx.deliveries_version.update(|n| *n += 1);
                    }
                    Err(e) => ctx.row_error.set(Some(e)),
                }
            });
        }
    };
    let events = endpoint.events.join(", ");
    let url = endpoint.url.clone();
    view! {
        <li class="endpoint" data-testid="endpoint" data-url=endpoint.url.clone()>
            <div class="endpoint-main">
                <code class="endpoint-url">{endpoint.url.clone()}</code>
                <p class="muted small">
                    <span class="sr-only">"Events: "</span>{events}
                </p>
                <p class="muted small">
                    {format!("Added by {} on {}", endpoint.created_by, endpoint.created_at.format("%b %-d, %Y"))}
                </p>
            </div>
            <div class="endpoint-actions">
                <Show
                    when=move || confirming.get()
                    fallback=move || view! {
                        <button type="button" class="btn btn-secondary btn-small" on:click=test.clone()
                            disabled=move || busy.get() aria-label=format!("Send a test event to {url}")>
                            "Send test event"
                        </button>
                        <button type="button" class="btn btn-danger-outline btn-small"
                            on:click=move |_| confirming.set(true)>"Delete"</button>
                    }
                >
                    <span class="small">"Delete this endpoint? Undelivered events to it are dropped."</span>
                    <button type="button" class="btn btn-danger btn-small" on:click=delete.clone()
                        disabled=move || busy.get()>"Delete endpoint"</button>
                    <button type="button" class="btn btn-secondary btn-small"
                        on:click=move |_| confirming.set(false)>"Cancel"</button>
                </Show>
            </div>
        </li>
    }
}

#[component]
fn AddEndpoint() -> impl IntoView {
    let ctx = expect_context::<HooksCtx>();
    let create = ServerAction::<CreateWebhook>::new();
    let error = last_error(create.value());
    let chosen = RwSignal::new(
        EVENT_TYPES
            .iter()
            .map(|(name, _)| (*name).to_owned())
            .collect::<Vec<_>>(),
    );
    // Take the secret out of the action at once, so it lives only in `revealed`.
    Effect::new(move |_| {
        if let Some(Ok(created)) = create.value().get() {
            create.value().set(None);
            ctx.revealed.set(Some(created));
            ctx.row_notice.set(None);
            ctx.endpoints_version.update(|n| *n += 1);
        }
    });
    let url_error = move || error.get().and_then(|e| e.field_message("url"));
    let events_error = move || error.get().and_then(|e| e.field_message("events"));
    view! {
        <section class="card">
            <h2>"Add an endpoint"</h2>
            <ActionForm action=create>
                <input type="hidden" name="org_id" value=ctx.org_id.get_untracked() />
                <input type="hidden" name="events" prop:value=move || chosen.get().join(",") />
                <div class="field" class:has-error=move || url_error().is_some()>
                    <label for="webhook-url">"Endpoint URL"</label>
                    <input id="webhook-url" name="url" type="url" inputmode="url" autocomplete="off"
                        placeholder="https://example.com/keygate-events"
                        aria-invalid=move || if url_error().is_some() { "true" } else { "false" }
                        aria-describedby="webhook-url-error webhook-url-hint" />
                    <p class="field-hint" id="webhook-url-hint">
                        "HTTPS recommended. Keygate does not follow redirects and does not send to private or loopback addresses."
                    </p>
                    <p class="field-error" id="webhook-url-error" aria-live="polite">{url_error}</p>
                </div>
                <fieldset class="choices events-field" class:has-error=move || events_error().is_some()
                    aria-describedby="webhook-events-error">
                    <legend>"Events"</legend>
                    {EVENT_TYPES.iter().map(|(name, about)| {
                        let name = *name;
                        let id = format!("event-{}", name.replace('.', "-"));
                        let for_id = id.clone();
                        view! {
                            <label class="checkbox" for=for_id>
                                <input type="checkbox" id=id
                                    prop:checked=move || chosen.with(|c| c.iter().any(|e| e == name))
                                    on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        chosen.update(|c| {
                                            c.retain(|e| e != name);
                                            if on {
                                                c.push(name.to_owned());
                                            }
                                        });
                                    } />
                                <span><code>{name}</code>" · "{*about}</span>
                            </label>
                        }
                    }).collect_view()}
                    <p class="field-error" id="webhook-events-error" aria-live="polite">{events_error}</p>
                </fieldset>
                <FormError error=error fields=&["url", "events"] />
                <div class="form-actions">
                    <button type="submit" class="btn btn-primary" disabled=move || create.pending().get()>
                        {move || if create.pending().get() { "Adding…" } else { "Add endpoint" }}
                    </button>
                </div>
            </ActionForm>
        </section>
    }
}

/// The new endpoint's signing secret, once. Until it was copied, Done asks first.
#[component]
fn SecretReveal() -> impl IntoView {
    let ctx = expect_context::<HooksCtx>();
    let copied = RwSignal::new(false);
    let asking = RwSignal::new(false);
    let heading = NodeRef::<leptos::html::H2>::new();
    // Shown: move focus (and the view) to it, so nobody misses it.
    Effect::new(move |_| {
        if ctx.revealed.with(Option::is_some)
            && let Some(h) = heading.get()
        {
            let _ = h.focus();
        }
    });
    let done = move |_| {
        if copied.get_untracked() || asking.get_untracked() {
            ctx.revealed.set(None);
            copied.set(false);
            asking.set(false);
        } else {
            asking.set(true);
        }
    };
    view! {
        <Show when=move || ctx.revealed.with(Option::is_some)>
            {move || ctx.revealed.get().map(|created| view! {
                <section class="card reveal" data-testid="webhook-secret" aria-labelledby="webhook-secret-title">
                    <h2 id="webhook-secret-title" tabindex="-1" node_ref=heading>"Endpoint added: copy its signing secret"</h2>
                    <p>
                        "Deliveries to " <code>{created.endpoint.url.clone()}</code>
                        " are signed with this secret. Keygate shows it only now."
                    </p>
                    <div class="secret-row">
                        <code class="secret" id="webhook-secret-value">{created.secret.clone()}</code>
                        <CopyButton text=created.secret.clone() label="Copy signing secret"
                            on_copied=Callback::new(move |()| copied.set(true)) />
                    </div>
                    <Show when=move || asking.get()>
                        <p class="alert alert-warn" role="alert">"You have not copied this secret. Close anyway?"</p>
                    </Show>
                    <div class="form-actions">
                        <button type="button" class="btn btn-primary" on:click=done>
                            {move || if asking.get() { "Close anyway" } else { "Done" }}
                        </button>
                        <Show when=move || asking.get()>
                            <button type="button" class="btn btn-secondary" on:click=move |_| asking.set(false)>"Back"</button>
                        </Show>
                    </div>
                </section>
            })}
        </Show>
    }
}

fn status_text(d: &DeliveryView) -> (&'static str, &'static str) {
    match d.status {
        DeliveryStatus::Delivered => ("Delivered", "badge badge-ok"),
        DeliveryStatus::Failed => ("Failed", "badge badge-danger"),
        DeliveryStatus::Pending if d.retrying() => ("Retrying", "badge badge-warn"),
        DeliveryStatus::Pending => ("Pending", "badge"),
    }
}

fn when_text(d: &DeliveryView, now: DateTime<Utc>) -> String {
    let last = d
        .last_attempt_at
        .map(|at| format!("last tried {}", relative(at, now)))
        .unwrap_or_else(|| format!("queued {}", relative(d.created_at, now)));
    match d.next_attempt_at {
        Some(next) if d.retrying() && next - now < chrono::Duration::seconds(60) => {
            format!("{last}; next attempt within a minute")
        }
        Some(next) if d.retrying() => format!("{last}; next attempt {}", relative(next, now)),
        _ => last,
    }
}

/// Re-reads the deliveries in two seconds when one is due within a minute, so a test
/// event's outcome shows up without a reload (browser only).
fn poll_soon(ctx: HooksCtx, deliveries: &[DeliveryView], now: DateTime<Utc>) {
    let soon = deliveries.iter().any(|d| {
        d.status == DeliveryStatus::Pending
            && d.next_attempt_at
                .is_none_or(|at| at <= now + chrono::Duration::seconds(60))
    });
    #[cfg(feature = "hydrate")]
    if soon {
        set_timeout(
            move || ctx.deliveries_version.update(|n| *n += 1),
            std::time::Duration::from_secs(2),
        );
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (ctx, soon);
}

#[component]
fn Deliveries(deliveries: Vec<DeliveryView>) -> impl IntoView {
    let ctx = expect_context::<HooksCtx>();
    let now = Utc::now();
    poll_soon(ctx, &deliveries, now);
    view! {
        <section class="card" data-testid="deliveries">
            <div class="card-header">
                <div>
                    <h2>"Recent deliveries"</h2>
                    <p class="muted">"The last 25 events sent to this organization's endpoints."</p>
                </div>
                <button type="button" class="btn btn-secondary btn-small"
                    on:click=move |_| ctx.deliveries_version.update(|n| *n += 1)>"Refresh"</button>
            </div>
            {if deliveries.is_empty() {
                Either::Left(view! { <p class="muted" data-testid="deliveries-empty">"Nothing sent yet."</p> })
            } else {
                Either::Right(view! {
                    <div class="table-scroll">
                        <table class="table deliveries">
                            <thead>
                                <tr>
                                    <th scope="col">"Event"</th>
                                    <th scope="col">"Endpoint"</th>
                                    <th scope="col">"Status"</th>
                                    <th scope="col">"Response"</th>
                                    <th scope="col">"When"</th>
                                </tr>
                            </thead>
                            <tbody>
                                {deliveries.into_iter().map(|d| {
                                    let (label, class) = status_text(&d);
                                    let response = match (d.response_status, &d.error) {
                                        (Some(code), _) => format!("HTTP {code}"),
                                        (None, Some(error)) => error.clone(),
                                        (None, None) => "—".into(),
                                    };
                                    let attempts = match d.attempts {
                                        0 => "not tried yet".to_owned(),
                                        1 => "1 attempt".to_owned(),
                                        n => format!("{n} attempts"),
                                    };
                                    let when = when_text(&d, now);
                                    view! {
                                        <tr data-testid="delivery" data-event=d.event_type.clone() data-status=d.status.as_str()>
                                            <td data-label="Event">
                                                <code>{d.event_type.clone()}</code>
                                                <div class="muted small">{d.event_id.clone()}</div>
                                            </td>
                                            <td data-label="Endpoint" class="endpoint-cell">{d.endpoint_url.clone()}</td>
                                            <td data-label="Status"><span class=class>{label}</span></td>
                                            <td data-label="Response">
                                                <span data-testid="delivery-response">{response}</span>
                                                <div class="muted small">{attempts}</div>
                                                {d.response_excerpt.clone().map(|body| view! {
                                                    <details class="excerpt">
                                                        <summary>"Response body"</summary>
                                                        <pre>{body}</pre>
                                                    </details>
                                                })}
                                            </td>
                                            <td data-label="When" class="when">{when}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                })
            }}
        </section>
    }
}
