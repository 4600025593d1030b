//! A key's page's "Used in the last 30 days" card: the route rules (and `/verify`
//! questions) that decided its requests, the permissions they needed, and **Restrict to
//! what it used**, which asks first: a `<details>` disclosure that opens without script,
//! holding what would be removed and kept, and the form that does it.

use leptos::either::Either;
use leptos::prelude::*;

use crate::hooks::{self, hook};
use leptos::server_fn::ServerFn;

use super::rpc::RestrictKeyPermissions;
use super::usage::PermissionUse;
use crate::components::{FormAlert, FormNote, ServerForm};
use crate::keys::format_date;

/// `invoices:read, invoices:write`, or what to say when there are none.
fn names(list: &[String], none: &'static str) -> String {
    if list.is_empty() {
        none.to_owned()
    } else {
        list.join(", ")
    }
}

#[component]
pub fn PermissionUseCard(org_id: String, key_id: String, used: PermissionUse) -> impl IntoView {
    let days = used.days;
    let table = if used.routes.is_empty() {
        Either::Left(view! {
            <p data-testid="permission-use-none">
                {format!("No request of this key met a route rule or asked /verify about a permission in the last {days} days.")}
            </p>
        })
    } else {
        Either::Right(view! {
            <div class="table-scroll">
                <table class="table" data-testid="permission-use">
                    <caption class="sr-only">{format!("Requests by route rule, last {days} days")}</caption>
                    <thead><tr>
                        <th scope="col">"Route"</th>
                        <th scope="col">"Needs"</th>
                        <th scope="col" class="num">"Allowed"</th>
                        <th scope="col" class="num">"Refused"</th>
                        <th scope="col" class="num">"Report-only refusals"</th>
                        <th scope="col">"Last used"</th>
                    </tr></thead>
                    <tbody>
                        {used.routes.iter().map(|r| view! {
                            <tr>
                                <td data-label="Route"><code>{r.route.clone()}</code></td>
                                <td data-label="Needs">{names(&r.permissions, "Nothing")}</td>
                                <td data-label="Allowed" class="num">{r.allowed}</td>
                                <td data-label="Refused" class="num">{r.denied}</td>
                                <td data-label="Report-only refusals" class="num">{r.would_deny}</td>
                                <td data-label="Last used">{format_date(r.last_day)}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        })
    };
    let restrict = used.can_restrict().then(|| {
        let removes = used.removes.join(" ");
        let removes_roles = used.removes_roles.join(" ");
        let gone = [
            (!used.removes.is_empty()).then(|| format!("permissions {}", used.removes.join(", "))),
            (!used.removes_roles.is_empty())
                .then(|| format!("roles {}", used.removes_roles.join(", "))),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" and ");
        view! {
            <details class="restrict" data-testid="restrict">
                <summary class="btn btn-secondary">"Restrict to what it used…"</summary>
                <div class="restrict-body">
                    <p data-testid="restrict-removes"><strong>"Removes "</strong>{gone}"."</p>
                    <p data-testid="restrict-keeps"><strong>"Keeps "</strong>
                        {names(&used.used, "nothing: the key will hold no permissions")}"."</p>
                    <p class="muted small">
                        "Requests that need a removed permission are refused from the next request on, on every instance. "
                        "Roles are replaced by the permissions the key used from them."
                    </p>
                    <ServerForm action=RestrictKeyPermissions::PATH id="restrict-form" testid="restrict-form"
                        focus="key-permissions-title">
                        <input type="hidden" name="org_id" value=org_id />
                        <input type="hidden" name="key_id" value=key_id />
                        <input type="hidden" name="removes" value=removes />
                        <input type="hidden" name="removes_roles" value=removes_roles />
                        <fieldset class="form-body">
                            <button type="submit" class="btn btn-danger" {..hook(hooks::SENDING, "Restricting…")}>"Restrict permissions"</button>
                        </fieldset>
                        <FormAlert />
                        <FormNote testid="restrict-saved" note="Restricted." />
                    </ServerForm>
                </div>
            </details>
        }
    });
    view! {
        <section class="card" aria-labelledby="permission-use-title">
            <h2 id="permission-use-title">{format!("Permissions used in the last {days} days")}</h2>
            <p data-testid="permission-used">
                <strong>"Used: "</strong>{names(&used.used, "none")}"."
            </p>
            <p class="muted">
                "Counted per route rule at the gateway, and per permission a "<code>"/verify"</code>
                " question named, on every instance (written within a minute)."
            </p>
            {table}
            {restrict}
        </section>
    }
}
