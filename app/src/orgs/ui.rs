//! Organization pages: the list (with create), and settings (General, Members).

use leptos::either::Either;
use leptos::prelude::*;
use leptos_router::components::{A, Outlet, Redirect};
use leptos_router::hooks::{use_location, use_params_map};

use super::{
    AddMember, CreateOrg, MemberView, OrgSummary, RenameOrg, Role, get_org, list_members,
    list_my_orgs,
};
use leptos::server_fn::ServerFn;

use crate::components::{
    AccessDeniedPage, CopyButton, ErrorPanel, Field, FormAlert, Loading, NotFoundPage, ServerForm,
};
use crate::error::AppError;

/// The page for errors every org page treats alike: log in, 404, or a generic panel.
pub fn common_error(error: AppError) -> AnyView {
    match error {
        AppError::Unauthenticated => view! { <Redirect path="/login" /> }.into_any(),
        AppError::NotFound => view! { <NotFoundPage /> }.into_any(),
        other => view! { <ErrorPanel error=other /> }.into_any(),
    }
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
            <button type="submit" class="btn btn-primary" data-sending="Creating…" disabled=true>
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
/// and names.
#[component]
fn OrgSwitcher(current: String, orgs: Vec<(String, String)>, section: String) -> impl IntoView {
    view! {
        <label class="switcher">
            <span>"Organization"</span>
            <select data-org-switch=section data-testid="org-switcher">
                {orgs.into_iter().map(|(id, name)| {
                    let selected = id == current;
                    view! { <option value=id selected=selected>{name}</option> }
                }).collect_view()}
            </select>
        </label>
    }
}

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
        <ServerForm action=RenameOrg::PATH id="rename-org" reload=true>
            <input type="hidden" name="org_id" value=org_id />
            <Field label="Organization name" name="name" value=name />
            <FormAlert />
            <button type="submit" class="btn btn-primary" data-sending="Saving…" disabled=true>"Save"</button>
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
                        <RemoveMemberDialog org_id=me.id.clone() />
                    }.into_any(),
                    Err(AppError::Forbidden) => view! {
                        <AccessDeniedPage message=format!(
                            "Your role in {} ({}) cannot manage members.", me.name, me.role.label()
                        ) />
                    }.into_any(),
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
        <ServerForm action=AddMember::PATH id="add-member" class="inline-form" reload=true>
            <input type="hidden" name="org_id" value=org_id />
            <Field label="Email" name="email" inputmode="email" autocomplete="off" />
            <RoleSelect name="role" id="add-role" granter=granter selected=Role::Member />
            <button type="submit" class="btn btn-primary" data-sending="Adding…" disabled=true>"Add member"</button>
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
                            display_name=m.display_name.clone() role=m.role granter=me.role is_me=m.is_you />
                    })
                } else {
                    Either::Right(view! { <span class="badge">{m.role.label()}</span> })
                }}
            </td>
            <td data-label="Joined">{m.joined_at.format("%Y-%m-%d").to_string()}</td>
            <td class="actions">
                {editable.then(|| view! {
                    <RemoveMemberButton user_id=m.user_id.clone() display_name=m.display_name.clone() />
                })}
            </td>
        </tr>
    }
}

/// A member's role, saved as soon as it is changed. The select stays enabled (disabling it
/// would drop keyboard focus); the server serialises concurrent changes under the
/// organization's lock.
#[component]
fn MemberRoleSelect(
    org_id: String,
    user_id: String,
    display_name: String,
    role: Role,
    granter: Role,
    is_me: bool,
) -> impl IntoView {
    let select_id = format!("role-{user_id}");
    view! {
        <label class="sr-only" for=select_id.clone()>{format!("Role of {display_name}")}</label>
        <select id=select_id data-member-role=user_id data-org=org_id data-shown=role.as_str()
            data-me=is_me.then_some("") data-live="" disabled=true>
            {Role::ALL.into_iter().filter(|r| granter.can_administer(*r)).map(|r| view! {
                <option value=r.as_str() selected=r == role>{r.label()}</option>
            }).collect_view()}
        </select>
        <p class="field-error" role="alert" hidden=true></p>
    }
}

/// Removing a member: shows the keys they created and asks whether to revoke them or
/// transfer them to the caller; the choice is applied in one transaction with the removal.
/// Once removed, their row goes (nothing else is redrawn) and focus moves to the heading.
#[component]
fn RemoveMemberButton(user_id: String, display_name: String) -> impl IntoView {
    view! {
        <button type="button" class="btn btn-danger-outline btn-small" aria-label=format!("Remove {display_name}")
            data-remove-member=user_id data-name=display_name data-live="" disabled=true>"Remove"</button>
    }
}

/// The dialog every row's Remove opens (run by `page_script`): the member's keys, looked
/// up when it opens, and what should happen to them.
#[component]
fn RemoveMemberDialog(org_id: String) -> impl IntoView {
    view! {
        <dialog id="remove-member-dialog" class="dialog" aria-labelledby="remove-title"
            data-testid="remove-member-dialog" data-org=org_id>
            <h2 id="remove-title"></h2>
            <p>"They lose access to this organization at once."</p>
            <div id="member-keys-area" aria-live="polite"></div>
            <div id="member-webhooks-area" aria-live="polite" hidden=true></div>
            <fieldset class="field handover" id="member-keys-handover" hidden=true>
                <legend>"What should happen to them?"</legend>
                <label class="checkbox" for="handover-revoke">
                    <input type="radio" id="handover-revoke" name="handover" value="revoke" checked=true />
                    <span>"Revoke them"</span>
                    <span class="muted small">"Requests with these keys fail from now on."</span>
                </label>
                <label class="checkbox" for="handover-transfer">
                    <input type="radio" id="handover-transfer" name="handover" value="transfer" />
                    <span>"Transfer them to me"</span>
                    <span class="muted small">"They keep working, with your role as their limit."</span>
                </label>
            </fieldset>
            <div class="alert alert-error" role="alert" id="remove-member-error" hidden=true></div>
            <div class="dialog-actions">
                <button type="button" class="btn btn-link" id="remove-member-cancel" autofocus>"Cancel"</button>
                <button type="button" class="btn btn-danger" id="remove-member-go">"Remove member"</button>
            </div>
        </dialog>
    }
}
