//! The Webhooks settings page: endpoints (add with a one-time `whsec_` reveal, send a test
//! event, delete) and the latest deliveries with their status and response.
//!
//! The page is rendered on the server, and its forms are plain forms: without script the
//! browser posts them, a refusal comes back beside its field (`crate::flash`), and an
//! added endpoint's secret is shown once on the page that answers the form
//! ([`NewEndpointSecret`]). With script the same forms are sent in place, and the
//! deliveries refresh themselves while one is due (`hooks::REFRESH_IN`); no code of this
//! page runs in the browser.

use chrono::{DateTime, Utc};
use leptos::either::Either;
use leptos::prelude::*;

use leptos::server_fn::ServerFn;

use super::{
    CreateWebhook, CreatedEndpoint, DeleteWebhook, DeliveryStatus, DeliveryView, EVENT_TYPES,
    EndpointView, SendTestWebhook, list_webhook_deliveries, list_webhooks,
};
use crate::choices::Choices;
use crate::components::{CopyButton, Loading};
use crate::error::AppError;
use crate::flash;
use crate::hooks::{self, hook};
use crate::keys::relative;
use crate::orgs::ui::{OrgContext, common_error, role_denied, use_org_id};

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
                            <Endpoints org_id=me.id.clone() endpoints=list />
                            <NewEndpointSecret org_id=me.id.clone() />
                            <AddEndpoint org_id=me.id.clone() />
                            <Deliveries org_id=me.id.clone() deliveries=deliveries />
                        }.into_any()
                    }
                    Err(AppError::Forbidden) => role_denied(&me, "manage webhooks: owners and admins can"),
                    Err(e) => common_error(e),
                }
            })}
        </Suspense>
    }
}

/// The webhooks page of the organization `org_id`.
pub fn page_path(org_id: &str) -> String {
    format!("/orgs/{org_id}/settings/webhooks")
}

/// The hidden fields every form of the page posts: the CSRF token and the organization.
fn form_fields(org_id: &str) -> impl IntoView + use<> {
    view! {
        {crate::auth::csrf::current().map(|token| view! {
            <input type="hidden" name=crate::auth::csrf::FIELD value=token />
        })}
        <input type="hidden" name="org_id" value=org_id.to_owned() />
    }
}

#[component]
fn Endpoints(org_id: String, endpoints: Vec<EndpointView>) -> impl IntoView {
    // The answer to a row's form posted without script: what it did, or its refusal.
    let row_flash = flash::for_form(SendTestWebhook::PATH)
        .map(|f| (f, "Test event queued. Its delivery appears below."))
        .or_else(|| flash::for_form(DeleteWebhook::PATH).map(|f| (f, "Deleted the endpoint.")));
    let row_error = row_flash.as_ref().and_then(|(f, _)| f.message());
    let notice = row_flash
        .as_ref()
        .filter(|(f, _)| f.error.is_none())
        .map(|(_, done)| *done);
    view! {
        <section class="card" data-testid="webhooks">
            <h1 id="webhooks-title" tabindex="-1">"Webhooks"</h1>
            <p class="muted">
                "Keygate sends these URLs a signed POST when something happens to the organization's keys or members "
                "(Standard Webhooks: check the " <code>"webhook-signature"</code> " header with the endpoint's secret). "
                "Failed deliveries are retried with growing waits for 24 hours."
            </p>
            <div class="alert alert-error" id="webhook-row-error" role="alert" hidden=row_error.is_none()>{row_error.clone()}</div>
            <p class="muted small" role="status" id="webhook-notice" data-testid="webhook-notice">{notice}</p>
            <div id="webhook-endpoints">
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
                            {endpoints.into_iter().map(|e| endpoint_row(&org_id, e)).collect_view()}
                        </ul>
                    })
                }}
            </div>
        </section>
    }
}

fn endpoint_row(org_id: &str, endpoint: EndpointView) -> impl IntoView + use<> {
    let events = endpoint.events.join(", ");
    let url = endpoint.url.clone();
    let disabled = endpoint.disabled.clone();
    view! {
        <li class="endpoint" data-testid="endpoint" data-url=endpoint.url.clone() data-endpoint=endpoint.id.clone()
            data-disabled=disabled.is_some().then_some("true")>
            <div class="endpoint-main">
                <code class="endpoint-url">{endpoint.url.clone()}</code>
                {disabled.clone().map(|reason| view! {
                    <p class="small" data-testid="endpoint-disabled">
                        <span class="badge badge-muted">"Disabled"</span>" "{reason}
                    </p>
                })}
                <p class="muted small">
                    <span class="sr-only">"Events: "</span>{events}
                </p>
                <p class="muted small">
                    {format!("Added by {} on {}", endpoint.created_by, endpoint.created_at.format("%b %-d, %Y"))}
                </p>
            </div>
            <div class="endpoint-actions">
                {disabled.is_none().then(|| view! {
                    <form method="post" action=SendTestWebhook::PATH>
                        {form_fields(org_id)}
                        <input type="hidden" name="endpoint_id" value=endpoint.id.clone() />
                        <button type="submit" class="btn btn-secondary btn-small" {..hook(hooks::SENDING, "Sending…")}
                            aria-label=format!("Send a test event to {url}")>"Send test event"</button>
                    </form>
                })}
                // The question opens in place, with or without script.
                <details class="ask-delete">
                    <summary class="btn btn-danger-outline btn-small" aria-label=format!("Delete the endpoint {url}")>"Delete"</summary>
                    <form method="post" action=DeleteWebhook::PATH class="ask-delete-form">
                        {form_fields(org_id)}
                        <input type="hidden" name="endpoint_id" value=endpoint.id.clone() />
                        <span class="small">"Delete this endpoint? Undelivered events to it are dropped."</span>
                        <button type="submit" class="btn btn-danger btn-small" {..hook(hooks::SENDING, "Deleting…")}>"Delete endpoint"</button>
                    </form>
                </details>
            </div>
        </li>
    }
}

/// A new endpoint's signing secret, on the page that answers the add form: shown once,
/// never again. Done before Copy asks first, with script (`hooks::ASK`).
#[component]
fn NewEndpointSecret(org_id: String) -> impl IntoView {
    flash::in_answer::<CreatedEndpoint>().map(|created| {
        let secret = created.secret.clone();
        let back = page_path(&org_id);
        view! {
            <section class="card reveal" data-testid="webhook-secret" aria-labelledby="new-secret-title">
                <h2 id=NEW_SECRET_TITLE tabindex="-1" autofocus>"Endpoint added: copy its signing secret"</h2>
                <p>"Deliveries to " <code>{created.endpoint.url.clone()}</code>
                    " are signed with this secret. Keygate shows it only now."</p>
                <div class="secret-row">
                    <code class="secret" data-testid="webhook-secret-value">{created.secret}</code>
                    <CopyButton text=secret label="Copy signing secret" />
                </div>
                <div class="form-actions">
                    <a class="btn btn-primary" href=back.clone() {..hook(hooks::UNLESS_COPIED, "")}>"Done"</a>
                </div>
                <div class="alert alert-warn close-anyway" role="alertdialog" aria-labelledby="secret-ask-text"
                    data-testid="secret-ask" hidden {..hook(hooks::ASK, "")}>
                    <p id="secret-ask-text"><strong>"You have not copied this secret. Close anyway?"</strong></p>
                    <div class="dialog-actions">
                        <button type="button" class="btn btn-secondary" {..hook(hooks::KEEP, "")}>"Keep it open"</button>
                        <a class="btn btn-danger" href=back>"Close anyway"</a>
                    </div>
                </div>
            </section>
        }
    })
}

/// The new secret's heading, where focus goes once the add form is accepted.
const NEW_SECRET_TITLE: &str = "new-secret-title";

#[component]
fn AddEndpoint(org_id: String) -> impl IntoView {
    // This form refused without script: what was typed, and the refusal by field.
    let kept = flash::for_form(CreateWebhook::PATH).filter(|f| f.error.is_some());
    let error = |field: &str| kept.as_ref().and_then(|f| f.field_message(field));
    let invalid = |field: &str| {
        if error(field).is_some() {
            "true"
        } else {
            "false"
        }
    };
    let alert = kept
        .as_ref()
        .filter(|_| error("url").is_none() && error("events").is_none())
        .and_then(|f| f.message());
    let events_field = Choices::checkbox_field("events");
    let ticked = |name: &str| {
        kept.as_ref().is_none_or(|f| {
            f.values
                .iter()
                .any(|(n, v)| *n == events_field && v == name)
        })
    };
    view! {
        <section class="card" id="add-endpoint">
            <h2>"Add an endpoint"</h2>
            <form id="add-endpoint-form" method="post" action=CreateWebhook::PATH novalidate
                {..hook(hooks::FOCUS_AFTER, NEW_SECRET_TITLE)}>
                {form_fields(&org_id)}
                <fieldset class="form-body" id="add-endpoint-fields">
                    <div class="field">
                        <label for="webhook-url">"Endpoint URL"</label>
                        <input id="webhook-url" name="url" type="url" inputmode="url" autocomplete="off"
                            placeholder="https://example.com/keygate-events" data-field="url" aria-invalid=invalid("url")
                            aria-describedby="webhook-url-error webhook-url-hint"
                            value=kept.as_ref().and_then(|f| f.value("url").map(str::to_owned)) />
                        <p class="field-hint" id="webhook-url-hint">
                            "HTTPS recommended. Keygate does not follow redirects and does not send to private or loopback addresses."
                        </p>
                        <p class="field-error" id="webhook-url-error" data-for="url" aria-live="polite">{error("url")}</p>
                    </div>
                    <fieldset class="choices events-field" aria-describedby="webhook-events-error">
                        <legend>"Events"</legend>
                        // Says the boxes were there: none ticked is then refused.
                        <input type="hidden" name=events_field.clone() value="" />
                        {EVENT_TYPES.iter().map(|(name, about)| {
                            let id = event_box(name);
                            let for_id = id.clone();
                            view! {
                                <label class="checkbox" for=for_id>
                                    <input type="checkbox" id=id name=events_field.clone() value=*name checked=ticked(name) />
                                    <span><code>{*name}</code>" · "{*about}</span>
                                </label>
                            }
                        }).collect_view()}
                        <p class="field-error" id="webhook-events-error" data-for="events" aria-live="polite">{error("events")}</p>
                    </fieldset>
                    <div class="alert alert-error" id="add-endpoint-alert" role="alert" {..hook(hooks::FORM_ALERT, "")} hidden=alert.is_none()>{alert.clone()}</div>
                    <div class="form-actions">
                        <button type="submit" class="btn btn-primary" id="add-endpoint-submit" {..hook(hooks::SENDING, "Adding…")}>"Add endpoint"</button>
                    </div>
                </fieldset>
            </form>
        </section>
    }
}

/// The id of an event type's checkbox.
fn event_box(name: &str) -> String {
    format!("event-{}", name.replace('.', "-"))
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

/// Whether a delivery is due within a minute: the page then reads the deliveries again
/// in two seconds (with script), so a test event's outcome shows up without a reload.
fn due_soon(deliveries: &[DeliveryView], now: DateTime<Utc>) -> bool {
    deliveries.iter().any(|d| {
        d.status == DeliveryStatus::Pending
            && d.next_attempt_at
                .is_none_or(|at| at <= now + chrono::Duration::seconds(60))
    })
}

#[component]
fn Deliveries(org_id: String, deliveries: Vec<DeliveryView>) -> impl IntoView {
    let now = Utc::now();
    let soon = due_soon(&deliveries, now);
    view! {
        <section class="card" data-testid="deliveries" id="webhook-deliveries"
            {..hook(hooks::REFRESH_IN, soon.then_some("2"))}>
            <div class="card-header">
                <div>
                    <h2>"Recent deliveries"</h2>
                    <p class="muted">"The last 25 events sent to this organization's endpoints."</p>
                </div>
                <a class="btn btn-secondary btn-small" href=page_path(&org_id)>"Refresh"</a>
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
