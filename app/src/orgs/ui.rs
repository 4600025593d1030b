//! Organization pages: the list (with create), and settings (General, Members).

use leptos::either::Either;
use leptos::prelude::*;
use leptos_router::components::{A, Outlet, Redirect};
use leptos_router::hooks::{use_location, use_params_map};

use super::{
    AddMember, ChangeMemberRole, CreateOrg, MemberKeyView, MemberView, OrgSummary, RemoveMember,
    RenameOrg, Role, get_org, list_member_keys, list_members, list_my_orgs,
};
use crate::webhooks::{EndpointView, list_member_webhooks};
use leptos::server_fn::ServerFn;

use crate::components::{
    AccessDeniedPage, CopyButton, ErrorPanel, Field, FormAlert, Loading, NotFoundPage, ServerForm,
};
use crate::error::AppError;
use crate::hooks::{self, hook};

/// The page for errors every org page treats alike: log in, 404, or a generic panel.
pub fn common_error(error: AppError) -> AnyView {
    match error {
        AppError::Unauthenticated => view! { <Redirect path="/login" /> }.into_any(),
        AppError::NotFound => view! { <NotFoundPage /> }.into_any(),
        other => view! { <ErrorPanel error=other /> }.into_any(),
    }
}

/// The access-denied page for what the caller's role in `org` cannot do ("manage
/// members").
pub fn role_denied(org: &OrgSummary, what: &str) -> AnyView {
    view! {
        <AccessDeniedPage message=format!(
            "Your role in {} ({}) cannot {what}.", org.name, org.role.label()
        ) />
    }
    .into_any()
}

/// [`role_denied`] for the pages of API keys.
pub fn keys_denied(org: &OrgSummary) -> AnyView {
    role_denied(org, "see or manage API keys")
}

#[component]
pub fn OrgsPage() -> impl IntoView {
    let orgs = Resource::new(|| (), |_| list_my_orgs());
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match orgs.await {
                    Ok(orgs) => Either::Left(view! {
                        <section class="card">
                            <h1>"Your organizations"</h1>
                            {if orgs.is_empty() {
                                Either::Left(view! {
                                    <p class="empty" data-testid="no-orgs">
                                        "You are not in any organization yet. Create one below, or ask an admin to add you."
                                    </p>
                                })
                            } else {
                                Either::Right(view! {
                                    <ul class="org-list" data-testid="org-list">
                                        {orgs.into_iter().map(|org| view! {
                                            <li>
                                                <A href=format!("/orgs/{}/settings", org.id)>{org.name}</A>
                                                <span class="badge">{org.role.label()}</span>
                                            </li>
                                        }).collect_view()}
                                    </ul>
                                })
                            }}
                        </section>
                        <section class="card">
                            <h2>"Create an organization"</h2>
                            <CreateOrgForm />
                        </section>
                    }),
                    Err(e) => Either::Right(common_error(e)),
                }
            })}
        </Suspense>
    }
}

/// On success the server redirects to the new organization's settings.
#[component]
fn CreateOrgForm() -> impl IntoView {
    view! {
        <ServerForm action=CreateOrg::PATH id="create-org">
            <Field label="Organization name" name="name" />
            <FormAlert />
            <button type="submit" class="btn btn-primary" {..hook(hooks::SENDING, "Creating…")}>
                "Create organization"
            </button>
        </ServerForm>
    }
}

/// The org id in the current path.
pub fn use_org_id() -> Memo<String> {
    let params = use_params_map();
    Memo::new(move |_| params.read().get("org_id").unwrap_or_default())
}

/// Shared with the settings pages: the current org as the caller sees it.
#[derive(Clone, Copy)]
pub struct OrgContext {
    pub org: Resource<Result<OrgSummary, AppError>>,
}

/// Settings shell: the org switcher and the section navigation around the current page.
#[component]
pub fn OrgSettingsLayout() -> impl IntoView {
    let org_id = use_org_id();
    let org = Resource::new(move || org_id.get(), get_org);
    let my_orgs = Resource::new(|| (), |_| list_my_orgs());
    provide_context(OrgContext { org });
    // The settings page being shown (`/members`, `/keys/…` or nothing), for the switcher.
    let location = use_location();
    let section = move || {
        let path = location.pathname.get_untracked();
        path.split("/settings")
            .nth(1)
            .unwrap_or_default()
            .to_owned()
    };
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match (org.await, my_orgs.await) {
                    (Ok(current), Ok(all)) => Either::Left(view! {
                        <div class="settings">
                            <aside class="settings-nav">
                                <OrgSwitcher
                                    current=current.id.clone()
                                    orgs=all.into_iter().map(|o| (o.id, o.name)).collect()
                                    section=section()
                                />
                                <nav aria-label="Organization settings">
                                    <A href=format!("/orgs/{}/settings", current.id) exact=true>"General"</A>
                                    {current.role.can_manage_keys().then(|| view! {
                                        <A href=format!("/orgs/{}/settings/keys", current.id)>"API keys"</A>
                                    })}
                                    {current.role.can_manage_members().then(|| view! {
                                        <A href=format!("/orgs/{}/settings/members", current.id)>"Members"</A>
                                    })}
                                    {current.role.can_manage_keys().then(|| view! {
                                        <A href=format!("/orgs/{}/settings/policy", current.id)>"Key policy"</A>
                                    })}
                                    {current.role.can_manage_keys().then(|| view! {
                                        <A href=format!("/orgs/{}/settings/permissions", current.id)>"Permissions"</A>
                                    })}
                                    {current.role.can_manage_members().then(|| view! {
                                        <A href=format!("/orgs/{}/settings/webhooks", current.id)>"Webhooks"</A>
                                    })}
                                </nav>
                            </aside>
                            <div class="settings-body">
                                <Outlet />
                            </div>
                        </div>
                    }),
                    (Err(e), _) | (_, Err(e)) => Either::Right(common_error(e)),
                }
            })}
        </Suspense>
    }
}

/// Moves to the same settings page (`section`) of another organization: `orgs` are ids
/// and names. A GET form: without the page's script its Switch button sends it to
/// `SWITCH_PATH` (the server's redirect); with it, choosing an org is enough (and the
/// button goes, `hooks::UNSCRIPTED`).
#[component]
fn OrgSwitcher(current: String, orgs: Vec<(String, String)>, section: String) -> impl IntoView {
    view! {
        <form method="get" action=SWITCH_PATH class="switcher">
            <label for="org-switcher">"Organization"</label>
            <div class="switcher-row">
                <select id="org-switcher" name="org" data-testid="org-switcher" {..hook(hooks::SUBMIT_ON_CHANGE, "")}>
                    {orgs.into_iter().map(|(id, name)| {
                        let selected = id == current;
                        view! { <option value=id selected=selected>{name}</option> }
                    }).collect_view()}
                </select>
                <input type="hidden" name="section" value=section />
                <button type="submit" class="btn btn-small" {..hook(hooks::UNSCRIPTED, "")}>"Switch"</button>
            </div>
        </form>
    }
}

/// Where the organization switcher's form goes without script: the server answers with a
/// redirect to [`switch_target`].
pub const SWITCH_PATH: &str = "/orgs/switch";

/// The settings page the switcher opens: `section` of organization `org` (a key's page,
/// or a member's removal, belongs to one organization: another one shows its list). `None` for an `org`
/// that is not an id; a `section` that is no settings page opens the org's General page.
pub fn switch_target(org: &str, section: &str) -> Option<String> {
    let id_like = org.len() <= 64
        && org.starts_with("org_")
        && org.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !id_like {
        return None;
    }
    let section = if section.starts_with("/keys/") {
        "/keys"
    } else if section.starts_with("/members/") {
        "/members"
    } else if SECTIONS.contains(&section) {
        section
    } else {
        ""
    };
    Some(format!("/orgs/{org}/settings{section}"))
}

/// The settings pages under `/orgs/{id}/settings`.
const SECTIONS: [&str; 6] = [
    "",
    "/keys",
    "/members",
    "/policy",
    "/permissions",
    "/webhooks",
];

#[component]
pub fn GeneralPage() -> impl IntoView {
    let OrgContext { org } = expect_context::<OrgContext>();
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                org.await.ok().map(|org| view! {
                    <section class="card">
                        <h1>{org.name.clone()}</h1>
                        <p class="muted">"Your role: " <span class="badge" data-testid="my-role">{org.role.label()}</span></p>
                        <h2>"Organization ID"</h2>
                        <p class="muted">"Use this ID when you call the Keygate API or contact support."</p>
                        <div class="copy-row">
                            <code class="org-id" data-testid="org-id">{org.id.clone()}</code>
                            <CopyButton text=org.id.clone() label="Copy organization ID" />
                        </div>
                    </section>
                    {org.role.can_manage_members().then(|| view! {
                        <section class="card">
                            <h2>"Rename"</h2>
                            <RenameForm org_id=org.id.clone() name=org.name.clone() />
                        </section>
                    })}
                })
            })}
        </Suspense>
    }
}

/// Renaming: the page loads again with the new name in its heading and switcher.
#[component]
fn RenameForm(org_id: String, name: String) -> impl IntoView {
    view! {
        <ServerForm action=RenameOrg::PATH id="rename-org">
            <input type="hidden" name="org_id" value=org_id />
            <Field label="Organization name" name="name" value=name />
            <FormAlert />
            <button type="submit" class="btn btn-primary" {..hook(hooks::SENDING, "Saving…")}>"Save"</button>
        </ServerForm>
    }
}

#[component]
pub fn MembersPage() -> impl IntoView {
    let org_id = use_org_id();
    let OrgContext { org, .. } = expect_context::<OrgContext>();
    let members = Resource::new(move || org_id.get(), list_members);
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let me = match org.await {
                    Ok(org) => org,
                    Err(e) => return common_error(e),
                };
                match members.await {
                    Ok(list) => view! {
                        <section class="card">
                            <h1 id="members-title" tabindex="-1">"Members"</h1>
                            <MemberTable members=list me=me.clone() />
                        </section>
                        <section class="card">
                            <h2>"Add a member"</h2>
                            <p class="muted">"They need a Keygate account first."</p>
                            <AddMemberForm org_id=me.id.clone() granter=me.role />
                        </section>
                    }.into_any(),
                    Err(AppError::Forbidden) => role_denied(&me, "manage members"),
                    Err(e) => common_error(e),
                }
            })}
        </Suspense>
    }
}

/// Adding a member: the page loads again with them in the table and the form emptied.
#[component]
fn AddMemberForm(org_id: String, granter: Role) -> impl IntoView {
    view! {
        <ServerForm action=AddMember::PATH id="add-member" class="inline-form">
            <input type="hidden" name="org_id" value=org_id />
            <Field label="Email" name="email" inputmode="email" autocomplete="off" />
            <RoleSelect name="role" id="add-role" granter=granter selected=Role::Member />
            <button type="submit" class="btn btn-primary" {..hook(hooks::SENDING, "Adding…")}>"Add member"</button>
            <FormAlert />
        </ServerForm>
    }
}

#[component]
fn RoleSelect(
    name: &'static str,
    id: &'static str,
    granter: Role,
    selected: Role,
) -> impl IntoView {
    // The form posted without script and refused: the role that was chosen.
    let selected = crate::flash::current()
        .and_then(|f| f.value(name).and_then(Role::parse))
        .unwrap_or(selected);
    view! {
        <div class="field">
            <label for=id>"Role"</label>
            <select id=id name=name>
                {Role::ALL.into_iter().filter(|r| granter.can_administer(*r)).map(|r| view! {
                    <option value=r.as_str() selected=r == selected>{r.label()}</option>
                }).collect_view()}
            </select>
        </div>
    }
}

#[component]
fn MemberTable(members: Vec<MemberView>, me: OrgSummary) -> impl IntoView {
    view! {
        <table class="table members-table" data-testid="members">
            <thead>
                <tr><th scope="col">"Member"</th><th scope="col">"Role"</th><th scope="col">"Joined"</th><th scope="col"><span class="sr-only">"Actions"</span></th></tr>
            </thead>
            <tbody>
                {members.into_iter().map(|m| view! { <MemberRow m=m me=me.clone() /> }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn MemberRow(m: MemberView, me: OrgSummary) -> impl IntoView {
    let editable = me.role.can_administer(m.role);
    view! {
        <tr data-testid="member-row" data-email=m.email.clone()>
            <td data-label="Member">
                <div class="member-name">{m.display_name.clone()}</div>
                <div class="muted">{m.email.clone()}</div>
            </td>
            <td data-label="Role">
                {if editable {
                    Either::Left(view! {
                        <MemberRoleSelect org_id=me.id.clone() user_id=m.user_id.clone()
                            display_name=m.display_name.clone() role=m.role granter=me.role />
                    })
                } else {
                    Either::Right(view! { <span class="badge">{m.role.label()}</span> })
                }}
            </td>
            <td data-label="Joined">{m.joined_at.format("%Y-%m-%d").to_string()}</td>
            <td class="actions">
                {editable.then(|| view! {
                    <RemoveMemberButton org_id=me.id.clone() user_id=m.user_id.clone()
                        display_name=m.display_name.clone() />
                })}
            </td>
        </tr>
    }
}

/// A member's role: a form of its own, whose Save button posts it; with script, a change
/// submits it in place (`hooks::SUBMIT_ON_CHANGE`) and the button goes. The server
/// serialises concurrent changes under the organization's lock; a refusal comes back in
/// the row's error line.
#[component]
fn MemberRoleSelect(
    org_id: String,
    user_id: String,
    display_name: String,
    role: Role,
    granter: Role,
) -> impl IntoView {
    let select_id = format!("role-{user_id}");
    // This row's refusal, when the page answers its form posted without script.
    let refusal = crate::flash::for_form(ChangeMemberRole::PATH)
        .filter(|f| f.value("user_id") == Some(user_id.as_str()))
        .and_then(|f| f.message());
    let hidden = refusal.is_none();
    view! {
        <form method="post" action=ChangeMemberRole::PATH class="role-form">
            {crate::auth::csrf::current().map(|token| view! {
                <input type="hidden" name=crate::auth::csrf::FIELD value=token />
            })}
            <input type="hidden" name="org_id" value=org_id.clone() />
            <input type="hidden" name="user_id" value=user_id.clone() />
            <label class="sr-only" for=select_id.clone()>{format!("Role of {display_name}")}</label>
            <select id=select_id name="role" {..hook(hooks::SUBMIT_ON_CHANGE, "")}>
                {Role::ALL.into_iter().filter(|r| granter.can_administer(*r)).map(|r| view! {
                    <option value=r.as_str() selected=r == role>{r.label()}</option>
                }).collect_view()}
            </select>
            <button type="submit" class="btn btn-secondary btn-small" {..hook(hooks::UNSCRIPTED, "")}>"Save"</button>
            <p class="field-error" role="alert" hidden=hidden>{refusal}</p>
        </form>
    }
}

/// Removing a member: a page of its own ([`RemoveMemberPage`]), which says what goes with
/// them and asks what should happen to their keys. A link: it works without script.
#[component]
fn RemoveMemberButton(org_id: String, user_id: String, display_name: String) -> impl IntoView {
    view! {
        <a class="btn btn-danger-outline btn-small" aria-label=format!("Remove {display_name}")
            href=format!("/orgs/{org_id}/settings/members/{user_id}/remove")>"Remove"</a>
    }
}

/// Removing a member, confirmed: the keys they created that still work (revoked with them
/// or handed to the caller, one transaction with the removal) and the webhook endpoints
/// that stop with them. Refused, the page comes back with the reason; done, the members
/// list.
#[component]
pub fn RemoveMemberPage() -> impl IntoView {
    let org_id = use_org_id();
    let params = use_params_map();
    let user_id = Memo::new(move |_| params.read().get("user_id").unwrap_or_default());
    let OrgContext { org, .. } = expect_context::<OrgContext>();
    let members = Resource::new(move || org_id.get(), list_members);
    let keys = Resource::new(
        move || (org_id.get(), user_id.get()),
        |(org, user)| list_member_keys(org, user),
    );
    let hooks = Resource::new(
        move || (org_id.get(), user_id.get()),
        |(org, user)| list_member_webhooks(org, user),
    );
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let me = match org.await {
                    Ok(org) => org,
                    Err(e) => return common_error(e),
                };
                let member = match members.await {
                    Ok(list) => list.into_iter().find(|m| m.user_id == user_id.get_untracked()),
                    Err(AppError::Forbidden) => return role_denied(&me, "manage members"),
                    Err(e) => return common_error(e),
                };
                let Some(member) = member else {
                    return view! { <NotFoundPage /> }.into_any();
                };
                if !me.role.can_administer(member.role) {
                    return role_denied(
                        &me,
                        &format!("remove a member whose role is {}", member.role.label()),
                    );
                }
                let (keys, hooks) = match (keys.await, hooks.await) {
                    (Ok(keys), Ok(hooks)) => (keys, hooks),
                    (Err(e), _) | (_, Err(e)) => return common_error(e),
                };
                let members_path = format!("/orgs/{}/settings/members", me.id);
                view! {
                    <section class="card">
                        <h1 id="remove-title">{format!("Remove {}?", member.display_name)}</h1>
                        <p>{format!("{} ({}) loses access to {} at once.", member.display_name, member.email, me.name)}</p>
                        <ServerForm action=RemoveMember::PATH id="remove-member" testid="remove-member">
                            <input type="hidden" name="org_id" value=me.id.clone() />
                            <input type="hidden" name="user_id" value=member.user_id.clone() />
                            <MemberWebhooks hooks=hooks />
                            <MemberKeys keys=keys />
                            <FormAlert />
                            <div class="dialog-actions">
                                <a class="btn btn-link" href=members_path>"Cancel"</a>
                                <button type="submit" class="btn btn-danger" {..hook(hooks::SENDING, "Removing…")}>"Remove member"</button>
                            </div>
                        </ServerForm>
                    </section>
                }.into_any()
            })}
        </Suspense>
    }
}

/// The webhook endpoints a member added: disabled when they go.
#[component]
fn MemberWebhooks(hooks: Vec<EndpointView>) -> impl IntoView {
    let count = hooks.len();
    (count > 0).then(|| {
        let noun = if count == 1 { "endpoint" } else { "endpoints" };
        view! {
            <p>{format!("Their {count} webhook {noun} will be disabled and receive nothing more:")}</p>
            <ul class="member-keys" data-testid="member-webhooks">
                {hooks.into_iter().map(|h| view! { <li><code>{h.url}</code></li> }).collect_view()}
            </ul>
        }
    })
}

/// The keys a member created that still work, and what should happen to them (`keys`:
/// revoke, the default, or transfer).
#[component]
fn MemberKeys(keys: Vec<MemberKeyView>) -> impl IntoView {
    if keys.is_empty() {
        return Either::Left(view! {
            <p data-testid="member-keys-none">"They have not created any key that is still active."</p>
        });
    }
    // Refused without script: the choice that was made.
    let transfer = crate::flash::current().is_some_and(|f| f.value("keys") == Some("transfer"));
    let count = keys.len();
    let (noun, verb) = if count == 1 {
        ("key", "is")
    } else {
        ("keys", "are")
    };
    Either::Right(view! {
        <p>{format!("They created {count} {noun} that {verb} not revoked:")}</p>
        <ul class="member-keys" data-testid="member-keys">
            {keys.into_iter().map(|k| view! {
                <li><strong>{k.name}</strong>" "<code class="muted">{k.hint}</code></li>
            }).collect_view()}
        </ul>
        <fieldset class="field handover">
            <legend>"What should happen to them?"</legend>
            <label class="checkbox" for="handover-revoke">
                <input type="radio" id="handover-revoke" name="keys" value="revoke" checked=!transfer />
                <span>"Revoke them"</span>
                <span class="muted small">"Requests with these keys fail from now on."</span>
            </label>
            <label class="checkbox" for="handover-transfer">
                <input type="radio" id="handover-transfer" name="keys" value="transfer" checked=transfer />
                <span>"Transfer them to me"</span>
                <span class="muted small">"They keep working, with your role as their limit."</span>
            </label>
        </fieldset>
    })
}

#[cfg(test)]
mod tests {
    use super::switch_target;

    #[test]
    fn the_switcher_opens_only_settings_pages_of_an_org_id() {
        let org = "org_0123456789ABCDEFabcdef";
        assert_eq!(
            switch_target(org, "/members").as_deref(),
            Some("/orgs/org_0123456789ABCDEFabcdef/settings/members")
        );
        assert_eq!(
            switch_target(org, "").as_deref(),
            Some("/orgs/org_0123456789ABCDEFabcdef/settings")
        );
        // A key, or a member's removal, belongs to one org: another org opens its list.
        assert_eq!(
            switch_target(org, "/keys/key_abc").as_deref(),
            Some("/orgs/org_0123456789ABCDEFabcdef/settings/keys")
        );
        assert_eq!(
            switch_target(org, "/members/usr_abc/remove").as_deref(),
            Some("/orgs/org_0123456789ABCDEFabcdef/settings/members")
        );
        // Anything else in `section` opens General; anything not an id opens nothing.
        assert_eq!(
            switch_target(org, "//evil.example").as_deref(),
            Some("/orgs/org_0123456789ABCDEFabcdef/settings")
        );
        assert_eq!(switch_target("org_x/../../admin", "/members"), None);
        assert_eq!(switch_target("https://evil.example", ""), None);
        assert_eq!(switch_target("", ""), None);
        assert_eq!(switch_target(&format!("org_{}", "a".repeat(80)), ""), None);
    }
}
