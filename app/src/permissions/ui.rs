//! Settings → Permissions: the organization's catalog of the API's permissions, its
//! roles, the gateway's route rules (and an OpenAPI import to start them from) and its
//! upstreams. Owners and admins change them; developers read
//! them (to choose a key's permissions); members see the access-denied page, as on every
//! key page. Every change is a server form: it works before, and without, the wasm.

use leptos::either::Either;
use leptos::prelude::*;

use crate::hooks::{self, hook};
use leptos::server_fn::ServerFn;

use super::gateway_ui::{OpenApiImport, UpstreamsCard};
use super::routes::{RouteRule, Unmatched, rules_text};
use super::rpc::{
    DeletePermission, DeleteRole, PermissionsView, PutPermission, PutRole, SetRouteRules,
    get_permissions,
};
use crate::components::{
    Field, FieldError, FormAlert, FormNote, Loading, ServerForm, TextAreaField,
};
use crate::error::AppError;
use crate::orgs::ui::{OrgContext, common_error, keys_denied, use_org_id};

#[component]
pub fn PermissionsPage() -> impl IntoView {
    let org_id = use_org_id();
    let OrgContext { org } = expect_context::<OrgContext>();
    let view = Resource::new(move || org_id.get(), get_permissions);
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let me = match org.await {
                    Ok(me) => me,
                    Err(e) => return common_error(e),
                };
                let page = match view.await {
                    Ok(page) => page,
                    Err(AppError::Forbidden) => return keys_denied(&me),
                    Err(e) => return common_error(e),
                };
                view! { <Permissions page=page org_id=org_id.get_untracked() /> }.into_any()
            })}
        </Suspense>
    }
}

#[component]
fn Permissions(page: PermissionsView, org_id: String) -> impl IntoView {
    let PermissionsView {
        catalog,
        rules,
        unmatched,
        upstreams,
        can_edit,
        review,
    } = page;
    let current_rules = rules.len();
    let names: Vec<String> = catalog.permissions.iter().map(|p| p.name.clone()).collect();
    let role_names: Vec<String> = catalog.roles.iter().map(|r| r.name.clone()).collect();
    let plain_rules: Vec<RouteRule> = rules.iter().map(|r| r.rule.clone()).collect();
    view! {
        <section class="card" data-testid="permissions">
            <h1>"Permissions"</h1>
            <p class="muted">
                "What keys may do in your API behind the gateway. Name each permission "
                <code>"resource:action"</code>" (for example "<code>"invoices:read"</code>
                "); bundle them into roles; give keys permissions and roles on their own pages; "
                "and say which permissions each route of your API needs. Keys can also be given "
                <code>"invoices:*"</code>" (every permission of a resource) or "<code>"*"</code>"."
            </p>
            {if catalog.permissions.is_empty() {
                Either::Left(view! { <p data-testid="no-permissions">"No permissions yet."</p> })
            } else {
                Either::Right(view! {
                    <div class="table-scroll">
                        <table class="table" data-testid="permission-list">
                            <caption class="sr-only">"Permissions"</caption>
                            <thead><tr><th scope="col">"Permission"</th><th scope="col">"Description"</th></tr></thead>
                            <tbody>
                                {catalog.permissions.into_iter().map(|p| view! {
                                    <tr>
                                        <td data-label="Permission"><code>{p.name}</code></td>
                                        <td data-label="Description">{p.description}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                })
            }}
        </section>
        {can_edit.then(|| view! { <PermissionForms org_id=org_id.clone() names=names.clone() /> })}
        <section class="card" aria-labelledby="roles-title">
            <h2 id="roles-title">"Roles"</h2>
            <p class="muted">"Named bundles of permissions, given to keys like a permission. Changing a role changes every key that holds it, on every instance, within a second."</p>
            {if catalog.roles.is_empty() {
                Either::Left(view! { <p data-testid="no-roles">"No roles yet."</p> })
            } else {
                Either::Right(view! {
                    <div class="table-scroll">
                        <table class="table" data-testid="role-list">
                            <caption class="sr-only">"Roles"</caption>
                            <thead><tr><th scope="col">"Role"</th><th scope="col">"Permissions"</th><th scope="col">"Description"</th></tr></thead>
                            <tbody>
                                {catalog.roles.into_iter().map(|r| view! {
                                    <tr>
                                        <td data-label="Role"><code>{r.name}</code></td>
                                        <td data-label="Permissions">{r.permissions.join(", ")}</td>
                                        <td data-label="Description">{r.description}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                })
            }}
            {can_edit.then(|| view! { <RoleForms org_id=org_id.clone() names=role_names /> })}
        </section>
        <section class="card" aria-labelledby="rules-title">
            <h2 id="rules-title">"Route rules"</h2>
            <p class="muted">
                "Which permissions a request through the gateway needs, by method and path (the part after "
                <code>"/gw"</code>"). The first rule that matches decides; a key without its permissions gets 403 "
                <code>"insufficient_permission"</code>" before your API sees the request. A report-only rule lets the request through and counts it."
            </p>
            {if rules.is_empty() {
                Either::Left(view! { <p data-testid="no-rules">"No route rules yet."</p> })
            } else {
                Either::Right(view! {
                    <div class="table-scroll">
                        <table class="table" data-testid="rule-list">
                            <caption class="sr-only">"Route rules, in order"</caption>
                            <thead><tr>
                                <th scope="col">"#"</th><th scope="col">"Methods"</th><th scope="col">"Path"</th>
                                <th scope="col">"Requires"</th><th scope="col">"Mode"</th>
                            </tr></thead>
                            <tbody>
                                {rules.into_iter().enumerate().map(|(i, r)| {
                                    let mode = if r.rule.report_only {
                                        format!("Report only: {} would have been refused", r.would_deny)
                                    } else {
                                        "Enforced".to_owned()
                                    };
                                    let requires = if r.rule.permissions.is_empty() {
                                        "Any gateway key".to_owned()
                                    } else {
                                        r.rule.permissions.join(", ")
                                    };
                                    view! {
                                        <tr>
                                            <td data-label="Rule">{i + 1}</td>
                                            <td data-label="Methods">{r.rule.methods}</td>
                                            <td data-label="Path"><code>{r.rule.path}</code></td>
                                            <td data-label="Requires">{requires}</td>
                                            <td data-label="Mode">{mode}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                })
            }}
            <p data-testid="unmatched">{match unmatched {
                Unmatched::Allow => "Requests no rule matches: allowed for any key with the gateway scope.",
                Unmatched::Deny => "Requests no rule matches: refused.",
            }}</p>
            {if can_edit {
                Either::Left(view! { <RulesForm org_id=org_id.clone() rules=plain_rules unmatched=unmatched /> })
            } else {
                Either::Right(view! { <p class="muted">"Only owners and admins can change the catalog, the route rules and the upstreams."</p> })
            }}
        </section>
        {can_edit.then(|| view! {
            <OpenApiImport org_id=org_id.clone() review=review known=names.clone() current_rules=current_rules />
        })}
        <UpstreamsCard org_id=org_id upstreams=upstreams can_edit=can_edit />
    }
}

/// A select of names, for the remove forms.
#[component]
fn NameSelect(id: &'static str, label: &'static str, names: Vec<String>) -> impl IntoView {
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <select id=id name="name" data-field="name" aria-invalid=crate::flash::invalid("name")
                aria-describedby=format!("{id}-error")>
                {names.into_iter().map(|n| view! { <option value=n.clone()>{n.clone()}</option> }).collect_view()}
            </select>
            <p class="field-error" id=format!("{id}-error") data-for="name" aria-live="polite">{crate::flash::field_error("name")}</p>
        </div>
    }
}

#[component]
fn PermissionForms(org_id: String, names: Vec<String>) -> impl IntoView {
    let remove_org_id = org_id.clone();
    view! {
        <section class="card" aria-labelledby="add-permission-title">
            <h2 id="add-permission-title">"Add or describe a permission"</h2>
            <ServerForm action=PutPermission::PATH id="permission-form" testid="permission-form"
                focus="field-name">
                <input type="hidden" name="org_id" value=org_id.clone() />
                <fieldset class="form-body">
                    <Field label="Name" name="name" autocomplete="off" hint="resource:action, e.g. invoices:read. An existing name gets the new description." />
                    <Field label="Description" name="description" autocomplete="off" hint="Optional, up to 200 characters." />
                    <FormAlert />
                    <div class="form-actions">
                        <button type="submit" class="btn btn-primary" {..hook(hooks::SENDING, "Saving…")}>"Save permission"</button>
                        <FormNote inline=true note="Saved." />
                    </div>
                </fieldset>
            </ServerForm>
            {(!names.is_empty()).then(|| view! {
                <ServerForm action=DeletePermission::PATH id="remove-permission-form"
                    testid="remove-permission-form" class="inline-form remove-form">
                    <input type="hidden" name="org_id" value=remove_org_id.clone() />
                    <fieldset class="form-body">
                        <NameSelect id="remove-permission" label="Remove a permission" names=names />
                        <FormAlert />
                        <button type="submit" class="btn btn-danger" {..hook(hooks::SENDING, "Removing…")}>"Remove"</button>
                        <FormNote inline=true note="Removed." />
                    </fieldset>
                </ServerForm>
            })}
        </section>
    }
}

#[component]
fn RoleForms(org_id: String, names: Vec<String>) -> impl IntoView {
    let remove_org_id = org_id.clone();
    view! {
        <h3>"Add or change a role"</h3>
        <ServerForm action=PutRole::PATH id="role-form" testid="role-form">
            <input type="hidden" name="org_id" value=org_id.clone() />
            <fieldset class="form-body">
                <div class="field">
                    <label for="role-name">"Name"</label>
                    <input id="role-name" name="name" autocomplete="off" value=crate::flash::kept_value("name") data-field="name"
                        aria-invalid=crate::flash::invalid("name") aria-describedby="role-name-error role-name-hint" />
                    <p class="field-hint" id="role-name-hint">"e.g. billing-readonly. An existing name is changed."</p>
                    <FieldError id="role-name-error" field="name" />
                </div>
                <div class="field">
                    <label for="role-permissions">"Permissions"</label>
                    <input id="role-permissions" name="permissions" autocomplete="off" spellcheck="false"
                        value=crate::flash::kept_value("permissions")
                        data-field="permissions" aria-invalid=crate::flash::invalid("permissions")
                        aria-describedby="role-permissions-error role-permissions-hint" />
                    <p class="field-hint" id="role-permissions-hint">"Separated by spaces, e.g. invoices:read refunds:*"</p>
                    <FieldError id="role-permissions-error" field="permissions" />
                </div>
                <div class="field">
                    <label for="role-description">"Description"</label>
                    <input id="role-description" name="description" autocomplete="off"
                        value=crate::flash::kept_value("description") data-field="description"
                        aria-invalid=crate::flash::invalid("description") aria-describedby="role-description-error" />
                    <FieldError id="role-description-error" field="description" />
                </div>
                <FormAlert />
                <div class="form-actions">
                    <button type="submit" class="btn btn-primary" {..hook(hooks::SENDING, "Saving…")}>"Save role"</button>
                    <FormNote inline=true note="Saved." />
                </div>
            </fieldset>
        </ServerForm>
        {(!names.is_empty()).then(|| view! {
            <ServerForm action=DeleteRole::PATH id="remove-role-form" testid="remove-role-form"
                class="inline-form remove-form">
                <input type="hidden" name="org_id" value=remove_org_id.clone() />
                <fieldset class="form-body">
                    <NameSelect id="remove-role" label="Remove a role" names=names />
                    <FormAlert />
                    <button type="submit" class="btn btn-danger" {..hook(hooks::SENDING, "Removing…")}>"Remove"</button>
                    <FormNote inline=true note="Removed." />
                </fieldset>
            </ServerForm>
        })}
    }
}

#[component]
fn RulesForm(org_id: String, rules: Vec<RouteRule>, unmatched: Unmatched) -> impl IntoView {
    let text = rules_text(&rules);
    let rows = (text.lines().count() + 2).clamp(4, 20);
    view! {
        <h3>"Change the rules"</h3>
        <ServerForm action=SetRouteRules::PATH id="rules-form" testid="rules-form"
            focus="rules">
            <input type="hidden" name="org_id" value=org_id />
            <fieldset class="form-body">
                <TextAreaField id="rules" label="Rules, in order" name="rules" value=text rows=rows
                    placeholder="GET,HEAD /invoices/* invoices:read">
                    "One rule per line: methods (comma-separated, or *), the path, then the permissions it needs. "
                    "In a path, {id} matches one segment and a final * everything after it. "
                    "Start a line with “report” to try a rule without enforcing it."
                </TextAreaField>
                <div class="field">
                    <label for="unmatched">"Requests no rule matches"</label>
                    <select id="unmatched" name="unmatched" data-field="unmatched" aria-invalid=crate::flash::invalid("unmatched")>
                        <option value="allow" selected=unmatched == Unmatched::Allow>"Allow any gateway key"</option>
                        <option value="deny" selected=unmatched == Unmatched::Deny>"Refuse"</option>
                    </select>
                </div>
                <FormAlert />
                <div class="form-actions">
                    <button type="submit" class="btn btn-primary" {..hook(hooks::SENDING, "Saving…")}>"Save rules"</button>
                    <FormNote inline=true note="Saved." />
                </div>
            </fieldset>
        </ServerForm>
    }
}
