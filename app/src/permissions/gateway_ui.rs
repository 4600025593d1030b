//! The Permissions page's gateway cards: the organization's upstreams by path prefix, and
//! starting the catalog and the route rules from the API's OpenAPI document (reviewed in
//! the browser session, saved only when applied). Server forms, as the rest of the page.

use leptos::either::Either;
use leptos::prelude::*;

use crate::hooks::{self, hook};
use leptos::server_fn::ServerFn;

use super::Proposal;
use super::rpc::{ApplyOpenapi, DiscardOpenapi, ReviewOpenapi, SetUpstreams};
use super::upstreams::{UpstreamView, upstreams_text};
use crate::components::{FieldError, FormAlert, FormNote, ServerForm, TextAreaField};

#[component]
pub fn UpstreamsCard(
    org_id: String,
    upstreams: Vec<UpstreamView>,
    can_edit: bool,
) -> impl IntoView {
    let text = upstreams_text(&upstreams);
    let rows = (upstreams.len() + 2).clamp(3, 12);
    let list = if upstreams.is_empty() {
        Either::Left(view! {
            <p data-testid="no-upstreams">"None: every gateway request goes to the server's default upstream."</p>
        })
    } else {
        Either::Right(view! {
            <div class="table-scroll">
                <table class="table" data-testid="upstream-list">
                    <caption class="sr-only">"Upstreams"</caption>
                    <thead><tr><th scope="col">"Path prefix"</th><th scope="col">"Goes to"</th></tr></thead>
                    <tbody>
                        {upstreams.into_iter().map(|u| view! {
                            <tr>
                                <td data-label="Path prefix"><code>{u.prefix}</code></td>
                                <td data-label="Goes to"><code>{u.url}</code></td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        })
    };
    view! {
        <section class="card" aria-labelledby="upstreams-title">
            <h2 id="upstreams-title">"Upstreams"</h2>
            <p class="muted">
                "Where the gateway sends a request, by the start of its path after "<code>"/gw"</code>
                ": the longest prefix wins and is replaced by the URL's path ("<code>"/billing/invoices/7"</code>
                " with "<code>"/billing https://billing.internal/api"</code>" goes to "
                <code>"https://billing.internal/api/invoices/7"</code>"). Route rules still see the whole path."
            </p>
            {list}
            {can_edit.then(|| view! {
                <ServerForm action=SetUpstreams::PATH id="upstreams-form" testid="upstreams-form" class="after-table"
                    focus="upstreams">
                    <input type="hidden" name="org_id" value=org_id />
                    <fieldset class="form-body">
                        <TextAreaField id="upstreams" label="Upstreams, one per line" name="upstreams" value=text
                            rows=rows placeholder="/billing https://billing.internal/api">
                            "A path prefix, a space, then an http:// or https:// URL on a host the server's operator allows."
                        </TextAreaField>
                        <FormAlert />
                        <div class="form-actions">
                            <button type="submit" class="btn btn-primary" {..hook(hooks::SENDING, "Saving…")}>"Save upstreams"</button>
                            <FormNote inline=true note="Saved." />
                        </div>
                    </fieldset>
                </ServerForm>
            })}
        </section>
    }
}

/// Paste a document, review what it proposes, then apply or discard it.
#[component]
pub fn OpenApiImport(
    org_id: String,
    review: Option<Proposal>,
    /// The catalog's permission names, to mark which of the proposed ones are new.
    known: Vec<String>,
    /// How many route rules applying replaces.
    current_rules: usize,
) -> impl IntoView {
    let body = match review {
        None => Either::Left(view! {
            <ServerForm action=ReviewOpenapi::PATH id="openapi-form" testid="openapi-form"
                focus="openapi-review-title">
                <input type="hidden" name="org_id" value=org_id />
                <fieldset class="form-body">
                    <TextAreaField id="openapi-document" label="OpenAPI document (JSON)" name="document" rows=8
                        placeholder="{\"openapi\": \"3.0.3\", \"paths\": {…}}">
                        "OpenAPI 3 or Swagger 2.0, up to 2 MB. One permission per tag and verb class ("
                        <code>"pets:read"</code>" for GET and HEAD, "<code>"pets:write"</code>
                        " otherwise) and one rule per operation. Nothing is saved until you apply it."
                    </TextAreaField>
                    <div class="field">
                        <label for="openapi-url">"Or its URL"</label>
                        <input id="openapi-url" name="url" type="url" autocomplete="off" spellcheck="false"
                            value=crate::flash::kept_value("url")
                            data-field="url" aria-invalid=crate::flash::invalid("url") aria-describedby="openapi-url-error openapi-url-hint"
                            placeholder="https://billing.internal/openapi.json" />
                        <p class="field-hint" id="openapi-url-hint">"Fetched by this server, from a host its operator allows for upstreams."</p>
                        <FieldError id="openapi-url-error" field="url" />
                    </div>
                    <FormAlert />
                    <div class="form-actions">
                        <button type="submit" class="btn btn-primary" {..hook(hooks::SENDING, "Reading…")}>"Review import"</button>
                        <FormNote inline=true note="Read." />
                    </div>
                </fieldset>
            </ServerForm>
        }),
        Some(proposal) => Either::Right(view! {
            <Review org_id=org_id proposal=proposal known=known current_rules=current_rules />
        }),
    };
    view! {
        <section class="card" aria-labelledby="openapi-title">
            <h2 id="openapi-title">"Start from your OpenAPI document"</h2>
            {body}
        </section>
    }
}

#[component]
fn Review(
    org_id: String,
    proposal: Proposal,
    known: Vec<String>,
    current_rules: usize,
) -> impl IntoView {
    let new = proposal
        .permissions
        .iter()
        .filter(|p| !known.contains(&p.name))
        .count();
    let summary = format!(
        "Applying adds {new} of these {} permissions to the catalog and replaces the {current_rules} route {} with these {}.",
        proposal.permissions.len(),
        if current_rules == 1 { "rule" } else { "rules" },
        proposal.rules.len(),
    );
    let discard_org_id = org_id.clone();
    view! {
        <h3 id="openapi-review-title" tabindex="-1">"Review the import"</h3>
        <p data-testid="openapi-summary">{summary}</p>
        <div class="table-scroll">
            <table class="table" data-testid="openapi-permissions">
                <caption class="sr-only">"Proposed permissions"</caption>
                <thead><tr><th scope="col">"Permission"</th><th scope="col">"Description"</th><th scope="col">"In the catalog"</th></tr></thead>
                <tbody>
                    {proposal.permissions.into_iter().map(|p| {
                        let state = if known.contains(&p.name) { "Already" } else { "New" };
                        view! {
                            <tr>
                                <td data-label="Permission"><code>{p.name}</code></td>
                                <td data-label="Description">{p.description}</td>
                                <td data-label="In the catalog">{state}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        <div class="table-scroll">
            <table class="table" data-testid="openapi-rules">
                <caption class="sr-only">"Proposed route rules, in order"</caption>
                <thead><tr><th scope="col">"Methods"</th><th scope="col">"Path"</th><th scope="col">"Requires"</th></tr></thead>
                <tbody>
                    {proposal.rules.into_iter().map(|r| view! {
                        <tr>
                            <td data-label="Methods">{r.methods}</td>
                            <td data-label="Path"><code>{r.path}</code></td>
                            <td data-label="Requires">{r.permissions.join(" ")}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        {(!proposal.skipped.is_empty()).then(|| view! {
            <details data-testid="openapi-skipped">
                <summary>{format!("{} operations left out", proposal.skipped.len())}</summary>
                <ul>{proposal.skipped.into_iter().map(|s| view! { <li>{s}</li> }).collect_view()}</ul>
            </details>
        })}
        <div class="form-actions">
            <ServerForm action=ApplyOpenapi::PATH id="openapi-apply-form" testid="openapi-apply-form"
                class="inline-form" focus="rules">
                <input type="hidden" name="org_id" value=org_id />
                <fieldset class="form-body">
                    <FormAlert />
                    <button type="submit" class="btn btn-primary" {..hook(hooks::SENDING, "Applying…")}>"Apply import"</button>
                    <FormNote inline=true note="Imported." />
                </fieldset>
            </ServerForm>
            <ServerForm action=DiscardOpenapi::PATH id="openapi-discard-form" testid="openapi-discard-form"
                class="inline-form" focus="openapi-document">
                <input type="hidden" name="org_id" value=discard_org_id />
                <fieldset class="form-body">
                    <FormAlert />
                    <button type="submit" class="btn btn-secondary" {..hook(hooks::SENDING, "Discarding…")}>"Discard"</button>
                </fieldset>
            </ServerForm>
        </div>
    }
}
