//! Organization pages: the list (with create), and settings (General, Members).

use leptos::either::Either;
use leptos::prelude::*;
use leptos_router::components::{A, Outlet, Redirect};
use leptos_router::hooks::{use_location, use_navigate, use_params_map};

use super::{
    AddMember, CreateOrg, MemberView, OrgSummary, RemoveMember, RenameOrg, Role,
    change_member_role, get_org, list_member_keys, list_members, list_my_orgs,
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
                                    {current.role.can_manage_keys().then(|| view! {
                                        <A href=format!("/orgs/{}/settings/policy", current.id)>"Key policy"</A>
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

/// State the members page shares with its table and its removal dialog.
#[derive(Clone, Copy)]
struct MembersCtx {
    org_id: Memo<String>,
    /// Bumped after a change the table cannot show by itself (a removal, a change to the
    /// caller's own role): the list refetches, the old one staying on screen meanwhile.
    refresh: RwSignal<u32>,
    /// The banner above the table: the last row action's error.
    row_error: RwSignal<Option<AppError>>,
    /// The member the removal dialog is about.
    removing: RwSignal<Option<MemberView>>,
    /// Members removed since the list was loaded: their rows go, nothing else is redrawn.
    removed: RwSignal<Vec<String>>,
    remove_dialog: NodeRef<leptos::html::Dialog>,
}

#[component]
pub fn MembersPage() -> impl IntoView {
    let org_id = use_org_id();
    let OrgContext { org, .. } = expect_context::<OrgContext>();
    let add = ServerAction::<AddMember>::new();
    let ctx = MembersCtx {
        org_id,
        refresh: RwSignal::new(0),
        row_error: RwSignal::new(None),
        removing: RwSignal::new(None),
        removed: RwSignal::new(Vec::new()),
        remove_dialog: NodeRef::new(),
    };
    provide_context(ctx);
    let members = Resource::new(
        move || (org_id.get(), add.version().get(), ctx.refresh.get()),
        |(id, ..)| list_members(id),
    );
    let add_error = last_error(add.value());
    // Added: the email field is emptied for the next one (the form itself is kept on
    // screen by the transition, with what was typed).
    Effect::new(move |_| {
        if let Some(Ok(_)) = add.value().get() {
            use leptos::wasm_bindgen::JsCast;
            if let Some(input) = document()
                .get_element_by_id("field-email")
                .and_then(|e| e.dyn_into::<leptos::web_sys::HtmlInputElement>().ok())
            {
                input.set_value("");
            }
        }
    });
    view! {
        // A transition, not a suspense: while the list refetches after a change, the
        // current table stays on screen (no "Loading..." flash, focus kept).
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                let me = match org.await {
                    Ok(org) => org,
                    Err(e) => return common_error(e),
                };
                match members.await {
                    Ok(list) => view! {
                        <section class="card">
                            <h1 id="members-title" tabindex="-1">"Members"</h1>
                            <FormError error=ctx.row_error fields=&[] />
                            <MemberTable members=list me=me.clone() />
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
        </Transition>
        <RemoveMemberDialog />
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
    let ctx = expect_context::<MembersCtx>();
    view! {
        <table class="table members-table" data-testid="members">
            <thead>
                <tr><th scope="col">"Member"</th><th scope="col">"Role"</th><th scope="col">"Joined"</th><th scope="col"><span class="sr-only">"Actions"</span></th></tr>
            </thead>
            <tbody>
                {members.into_iter().map(|m| {
                    let user_id = m.user_id.clone();
                    let gone = Memo::new(move |_| ctx.removed.with(|r| r.contains(&user_id)));
                    let (m, me) = (m.clone(), me.clone());
                    move || (!gone.get()).then(|| view! { <MemberRow m=m.clone() me=me.clone() /> })
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn MemberRow(m: MemberView, me: OrgSummary) -> impl IntoView {
    let ctx = expect_context::<MembersCtx>();
    let editable = me.role.can_administer(m.role);
    let select_id = format!("role-{}", m.user_id);
    let on_change = {
        let (org_id, user_id, is_me) = (me.id.clone(), m.user_id.clone(), m.is_you);
        // The role the select last showed with the server's agreement.
        let shown = StoredValue::new(m.role);
        move |ev: leptos::ev::Event| {
            let select = event_target::<leptos::web_sys::HtmlSelectElement>(&ev);
            let (org_id, user_id, role) = (org_id.clone(), user_id.clone(), select.value());
            // The select stays enabled (disabling it would drop keyboard focus); the
            // server serialises concurrent changes under the organization's lock.
            leptos::task::spawn_local(async move {
                let result = change_member_role(org_id, user_id, role).await;
                match &result {
                    // The select already shows the new role: nothing to
                    // re-render, so the table and focus stay as they are.
                    Ok(member) => shown.set_value(member.role),
                    // Refused: take the choice back by hand.
                    Err(_) => select.set_value(shown.get_value().as_str()),
                }
                // A change to one's own role changes what the page offers.
                if is_me && result.is_ok() {
                    ctx.refresh.update(|n| *n += 1);
                }
                ctx.row_error.set(result.err());
            });
        }
    };
    let ask = {
        let member = m.clone();
        move |_| {
            ctx.row_error.set(None);
            ctx.removing.set(Some(member.clone()));
            if let Some(dialog) = ctx.remove_dialog.get_untracked() {
                let _ = dialog.show_modal();
            }
        }
    };
    view! {
        <tr data-testid="member-row" data-email=m.email.clone()>
            <td data-label="Member">
                <div class="member-name">{m.display_name.clone()}</div>
                <div class="muted">{m.email.clone()}</div>
            </td>
            <td data-label="Role">
                {if editable {
                    Either::Left(view! {
                        <label class="sr-only" for=select_id.clone()>{format!("Role of {}", m.display_name)}</label>
                        <select id=select_id on:change=on_change>
                            {Role::ALL.into_iter().filter(|r| me.role.can_administer(*r)).map(|r| view! {
                                <option value=r.as_str() selected=r == m.role>{r.label()}</option>
                            }).collect_view()}
                        </select>
                    })
                } else {
                    Either::Right(view! { <span class="badge">{m.role.label()}</span> })
                }}
            </td>
            <td data-label="Joined">{m.joined_at.format("%Y-%m-%d").to_string()}</td>
            <td class="actions">
                {editable.then(|| view! {
                    <button type="button" class="btn btn-danger-outline btn-small"
                        aria-label=format!("Remove {}", m.display_name) on:click=ask>"Remove"</button>
                })}
            </td>
        </tr>
    }
}

fn focus_by_id(id: &str) {
    use leptos::wasm_bindgen::JsCast;
    if let Some(element) = document()
        .get_element_by_id(id)
        .and_then(|e| e.dyn_into::<leptos::web_sys::HtmlElement>().ok())
    {
        let _ = element.focus();
    }
}

/// Removing a member: shows the keys they created and asks whether to revoke them or
/// transfer them to the caller; the choice is applied in one transaction with the removal.
#[component]
fn RemoveMemberDialog() -> impl IntoView {
    let ctx = expect_context::<MembersCtx>();
    let handover = RwSignal::new("revoke".to_owned());
    let error = RwSignal::new(None::<AppError>);
    let keys = Action::new(move |(org_id, user_id): &(String, String)| {
        list_member_keys(org_id.clone(), user_id.clone())
    });
    let remove = ServerAction::<RemoveMember>::new();
    // Load the member's keys whenever the dialog is opened for someone.
    Effect::new(move |_| {
        if let Some(member) = ctx.removing.get() {
            handover.set("revoke".to_owned());
            error.set(None);
            keys.dispatch((ctx.org_id.get_untracked(), member.user_id));
        }
    });
    Effect::new(move |_| {
        let Some(result) = remove.value().get() else {
            return;
        };
        remove.value().set(None);
        match result {
            Ok(()) => {
                if let Some(member) = ctx.removing.get_untracked() {
                    ctx.removed.update(|r| r.push(member.user_id));
                }
                if let Some(dialog) = ctx.remove_dialog.get_untracked() {
                    dialog.close();
                }
                // The row and its button are gone: focus goes to the table's heading.
                focus_by_id("members-title");
            }
            Err(e) => error.set(Some(e)),
        }
    });
    let confirm = move |_| {
        if let Some(member) = ctx.removing.get_untracked() {
            error.set(None);
            remove.dispatch(RemoveMember {
                org_id: ctx.org_id.get_untracked(),
                user_id: member.user_id,
                keys: Some(handover.get_untracked()),
            });
        }
    };
    let name = move || {
        ctx.removing
            .get()
            .map(|m| m.display_name)
            .unwrap_or_default()
    };
    let on_close = move |_| {
        ctx.removing.set(None);
        error.set(None);
    };
    let key_list = move || {
        match keys.value().get() {
        None => view! { <p class="muted" aria-live="polite">"Looking up the keys they created…"</p> }.into_any(),
        Some(Err(e)) => view! { <div class="alert alert-error" role="alert">{e.to_string()}</div> }.into_any(),
        Some(Ok(list)) if list.is_empty() => view! {
            <p data-testid="member-keys-none">"They have not created any key that is still active."</p>
        }.into_any(),
        Some(Ok(list)) => {
            let count = list.len();
            view! {
                <p>{format!(
                    "They created {count} {} that {} not revoked:",
                    if count == 1 { "key" } else { "keys" },
                    if count == 1 { "is" } else { "are" },
                )}</p>
                <ul class="member-keys" data-testid="member-keys">
                    {list.into_iter().map(|k| view! {
                        <li><strong>{k.name}</strong>" "<code class="muted">{k.hint}</code></li>
                    }).collect_view()}
                </ul>
                <fieldset class="field handover">
                    <legend>"What should happen to them?"</legend>
                    <label class="checkbox" for="handover-revoke">
                        <input type="radio" id="handover-revoke" name="handover" value="revoke"
                            prop:checked=move || handover.get() == "revoke"
                            on:change=move |_| handover.set("revoke".to_owned()) />
                        <span>"Revoke them"</span>
                        <span class="muted small">"Requests with these keys fail from now on."</span>
                    </label>
                    <label class="checkbox" for="handover-transfer">
                        <input type="radio" id="handover-transfer" name="handover" value="transfer"
                            prop:checked=move || handover.get() == "transfer"
                            on:change=move |_| handover.set("transfer".to_owned()) />
                        <span>"Transfer them to me"</span>
                        <span class="muted small">"They keep working, with your role as their limit."</span>
                    </label>
                </fieldset>
            }.into_any()
        }
    }
    };
    view! {
        <dialog node_ref=ctx.remove_dialog class="dialog" aria-labelledby="remove-title"
            data-testid="remove-member-dialog" on:close=on_close>
            <h2 id="remove-title">{move || format!("Remove {}?", name())}</h2>
            <p>"They lose access to this organization at once."</p>
            {key_list}
            {move || error.get().map(|e| view! { <div class="alert alert-error" role="alert">{e.to_string()}</div> })}
            <div class="dialog-actions">
                <button type="button" class="btn btn-link" autofocus on:click=move |_| {
                    if let Some(dialog) = ctx.remove_dialog.get_untracked() { dialog.close(); }
                }>"Cancel"</button>
                <button type="button" class="btn btn-danger" on:click=confirm
                    disabled=move || remove.pending().get() || keys.pending().get()>
                    {move || if remove.pending().get() { "Removing…" } else { "Remove member" }}
                </button>
            </div>
        </dialog>
    }
}
