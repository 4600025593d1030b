//! Creating a key on a page of its own (`/orgs/:org_id/settings/keys/new`): where
//! "Create key" goes without script. The create dialog's fields (`dialogs::create_fields`)
//! in a form the browser posts itself, with the script too: the answer is the keys list
//! showing the secret once (`reveal`), or this page again with the refusal beside its
//! field and what was typed.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use super::dialogs::{CREATE_FORM, CreateCancel, create_fields};
use super::{CreateApiKey, get_key_policy};
use crate::components::{Loading, ServerForm};
use crate::error::AppError;
use crate::orgs::ui::{OrgContext, common_error, keys_denied, use_org_id};
use crate::permissions::rpc::get_permissions;

#[component]
pub fn NewKeyPage() -> impl IntoView {
    let org_id = use_org_id();
    let OrgContext { org, .. } = expect_context::<OrgContext>();
    let policy = Resource::new(move || org_id.get(), get_key_policy);
    let catalog = Resource::new(move || org_id.get(), get_permissions);
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let me = match org.await {
                    Ok(me) => me,
                    Err(e) => return common_error(e),
                };
                let policy = match policy.await {
                    Ok(view) => view.policy,
                    Err(AppError::Forbidden) => return keys_denied(&me),
                    Err(e) => return common_error(e),
                };
                let access = match catalog.await {
                    Ok(view) => view.catalog.access(),
                    Err(e) => return common_error(e),
                };
                let keys_path = format!("/orgs/{}/settings/keys", me.id);
                let kept = crate::flash::for_form(CreateApiKey::PATH);
                view! {
                    <section class="card form-page">
                        <h1 id="create-key-title">"Create an API key"</h1>
                        <ServerForm action=CreateApiKey::PATH id=CREATE_FORM native=true>
                            <input type="hidden" name="org_id" value=me.id.clone() />
                            {create_fields(policy, access, kept, CreateCancel::Page { keys_path })}
                        </ServerForm>
                    </section>
                }
                .into_any()
            })}
        </Suspense>
    }
}
