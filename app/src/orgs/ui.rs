//! Organization pages: the list (with create), and settings (General, Members).

use leptos::either::Either;
use leptos::prelude::*;
use leptos_router::components::{A, Outlet, Redirect};
use leptos_router::hooks::{use_location, use_navigate, use_params_map};

use super::{
    AddMember, CreateOrg, MemberView, OrgSummary, RemoveMember, RenameOrg, Role,
    change_member_role, get_org, list_members, list_my_orgs,
};
use crate::components::{
    AccessDeniedPage, CopyButton, ErrorPanel, Field, FormError, Loading, NotFoundPage, last_error,
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
    let create = ServerAction::<CreateOrg>::new();
    let orgs = Resource::new(move || create.version().get(), |_| list_my_orgs());
    let error = last_error(create.value());
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
                            <ActionForm action=create>
                                <Field label="Organization name" name="name" error=error />
                                <FormError error=error fields=&["name"] />
                                <button type="submit" class="btn btn-primary" disabled=move || create.pending().get()>
                                    "Create organization"
                                </button>
                            </ActionForm>
                        </section>
                    }),
                    Err(e) => Either::Right(common_error(e)),
                }
            })}
        </Suspense>
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
    pub rename: ServerAction<RenameOrg>,
}

/// Settings shell: the org switcher and the section navigation around the current page.
#[component]
pub fn OrgSettingsLayout() -> impl IntoView {
    let org_id = use_org_id();
    let rename = ServerAction::<RenameOrg>::new();
    let org = Resource::new(
        move || (org_id.get(), rename.version().get()),
        |(id, _)| get_org(id),
    );
    let my_orgs = Resource::new(move || rename.version().get(), |_| list_my_orgs());
    provide_context(OrgContext { org, rename });
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match (org.await, my_orgs.await) {
                    (Ok(current), Ok(all)) => Either::Left(view! {
                        <div class="settings">
                            <aside class="settings-nav">
                                <OrgSwitcher current=current.id.clone() orgs=all />
                                <nav aria-label="Organization settings">
                                    <A href=format!("/orgs/{}/settings", current.id) exact=true>"General"</A>
                                    {current.role.can_manage_keys().then(|| view! {
                                        <A href=format!("/orgs/{}/settings/keys", current.id)>"API keys"</A>
                                    })}
                                    {current.role.can_manage_members().then(|| view! {
                                        <A href=format!("/orgs/{}/settings/members", current.id)>"Members"</A>
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

/// Moves to the same settings page of another organization.
#[component]
fn OrgSwitcher(current: String, orgs: Vec<OrgSummary>) -> impl IntoView {
    let navigate = use_navigate();
    let location = use_location();
    let switch = move |ev: leptos::ev::Event| {
        let target = event_target_value(&ev);
        let path = location.pathname.get_untracked();
        let section = path
            .split("/settings")
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        navigate(
            &format!("/orgs/{target}/settings{section}"),
            Default::default(),
        );
    };
    view! {
        <label class="switcher">
            <span>"Organization"</span>
            <select on:change=switch data-testid="org-switcher">
                {orgs.into_iter().map(|o| {
                    let selected = o.id == current;
                    view! { <option value=o.id selected=selected>{o.name}</option> }
                }).collect_view()}
            </select>
        </label>
    }
}

#[component]
pub fn GeneralPage() -> impl IntoView {
    let OrgContext { org, rename } = expect_context::<OrgContext>();
    let error = last_error(rename.value());
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
                            <ActionForm action=rename>
                                <input type="hidden" name="org_id" value=org.id.clone() />
                                <Field label="Organization name" name="name" value=org.name.clone() error=error />
                                <FormError error=error fields=&["name"] />
                                <button type="submit" class="btn btn-primary" disabled=move || rename.pending().get()>"Save"</button>
                            </ActionForm>
                        </section>
                    })}
                })
            })}
        </Suspense>
    }
}

#[component]
pub fn MembersPage() -> impl IntoView {
    let org_id = use_org_id();
    let OrgContext { org, .. } = expect_context::<OrgContext>();
    let add = ServerAction::<AddMember>::new();
    let remove = ServerAction::<RemoveMember>::new();
    // Bumped after each role change, successful or not, so the list shows the truth.
    let refresh = RwSignal::new(0u32);
    let members = Resource::new(
        move || {
            (
                org_id.get(),
                add.version().get(),
                refresh.get(),
                remove.version().get(),
            )
        },
        |(id, ..)| list_members(id),
    );
    let add_error = last_error(add.value());
    // Whichever row action (role change or removal) finished last owns the banner.
    let row_error = RwSignal::new(None::<AppError>);
    Effect::new(move |_| {
        if let Some(result) = remove.value().get() {
            row_error.set(result.err());
        }
    });
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
                            <h1>"Members"</h1>
                            <FormError error=row_error fields=&[] />
                            <MemberTable members=list me=me.clone() remove=remove row_error=row_error refresh=refresh />
                        </section>
                        <section class="card">
                            <h2>"Add a member"</h2>
                            <p class="muted">"They need a Keygate account first."</p>
                            <ActionForm action=add attr:class="inline-form">
                                <input type="hidden" name="org_id" value=me.id.clone() />
                                <Field label="Email" name="email" inputmode="email" autocomplete="off" error=add_error />
                                <RoleSelect name="role" id="add-role" granter=me.role selected=Role::Member />
                                <button type="submit" class="btn btn-primary" disabled=move || add.pending().get()>"Add member"</button>
                            </ActionForm>
                            <FormError error=add_error fields=&["email"] />
                        </section>
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
fn MemberTable(
    members: Vec<MemberView>,
    me: OrgSummary,
    remove: ServerAction<RemoveMember>,
    row_error: RwSignal<Option<AppError>>,
    refresh: RwSignal<u32>,
) -> impl IntoView {
    let confirming = RwSignal::new(None::<String>);
    let changing = RwSignal::new(false);
    view! {
        <table class="table" data-testid="members">
            <thead>
                <tr><th scope="col">"Member"</th><th scope="col">"Role"</th><th scope="col">"Joined"</th><th scope="col"><span class="sr-only">"Actions"</span></th></tr>
            </thead>
            <tbody>
                {members.into_iter().map(|m| {
                    let editable = me.role.can_administer(m.role);
                    let org_id = me.id.clone();
                    let user_id = m.user_id.clone();
                    let select_id = format!("role-{}", m.user_id);
                    let on_change = {
                        let (org_id, user_id, current) = (org_id.clone(), user_id.clone(), m.role);
                        move |ev: leptos::ev::Event| {
                            let select = event_target::<leptos::web_sys::HtmlSelectElement>(&ev);
                            let (org_id, user_id, role) = (org_id.clone(), user_id.clone(), select.value());
                            changing.set(true);
                            leptos::task::spawn_local(async move {
                                let result = change_member_role(org_id, user_id, role).await;
                                if result.is_err() {
                                    // Re-rendering identical data leaves the DOM alone, so
                                    // the refused choice must be taken back by hand.
                                    select.set_value(current.as_str());
                                }
                                row_error.set(result.err());
                                changing.set(false);
                                refresh.update(|n| *n += 1);
                            });
                        }
                    };
                    let confirm_key = user_id.clone();
                    let is_confirming = move || confirming.get().as_deref() == Some(confirm_key.as_str());
                    let ask = { let u = user_id.clone(); move |_| confirming.set(Some(u.clone())) };
                    let really_remove = {
                        let (org_id, user_id) = (org_id.clone(), user_id.clone());
                        move |_| {
                            confirming.set(None);
                            remove.dispatch(RemoveMember { org_id: org_id.clone(), user_id: user_id.clone() });
                        }
                    };
                    let who = m.display_name.clone();
                    view! {
                        <tr data-testid="member-row" data-email=m.email.clone()>
                            <td>
                                <div class="member-name">{m.display_name.clone()}</div>
                                <div class="muted">{m.email.clone()}</div>
                            </td>
                            <td>
                                {if editable {
                                    Either::Left(view! {
                                        <label class="sr-only" for=select_id.clone()>{format!("Role of {}", m.display_name)}</label>
                                        <select id=select_id on:change=on_change disabled=move || changing.get()>
                                            {Role::ALL.into_iter().filter(|r| me.role.can_administer(*r)).map(|r| view! {
                                                <option value=r.as_str() selected=r == m.role>{r.label()}</option>
                                            }).collect_view()}
                                        </select>
                                    })
                                } else {
                                    Either::Right(view! { <span class="badge">{m.role.label()}</span> })
                                }}
                            </td>
                            <td>{m.joined_at.format("%Y-%m-%d").to_string()}</td>
                            <td class="actions">
                                {editable.then(|| view! {
                                    <Show
                                        when=is_confirming.clone()
                                        fallback=move || view! {
                                            <button type="button" class="btn btn-danger-outline btn-small" on:click=ask.clone()>"Remove"</button>
                                        }
                                    >
                                        <span class="confirm">
                                            {format!("Remove {who}?")}
                                            <button type="button" class="btn btn-danger btn-small" on:click=really_remove.clone()>"Yes, remove"</button>
                                            <button type="button" class="btn btn-link btn-small" on:click=move |_| confirming.set(None)>"Cancel"</button>
                                        </span>
                                    </Show>
                                })}
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}
