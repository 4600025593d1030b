//! Creating a key on a page of its own (`/orgs/:org_id/settings/keys/new`): where
//! "Create key" goes without script, and where its refusals come back to (the keys
//! page's dialog shows this page's part). The answer to an accepted form is the keys list
//! showing the secret once (`reveal`).

use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use super::dialogs::create_section;
use super::{CreateApiKey, get_key_policy};
use crate::components::Loading;
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
                let kept = crate::flash::for_form(CreateApiKey::PATH);
                create_section(&me.id, policy, access, kept).into_any()
            })}
        </Suspense>
    }
}
