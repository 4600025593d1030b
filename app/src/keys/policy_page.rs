//! The organization's key policy page: maximum lifetime, mandatory expiry and revocation
//! of idle keys. Owners and admins change it; developers read it; members see the
//! access-denied page, as on every key page.

use leptos::prelude::*;

use crate::hooks::{self, hook};

use super::{IDLE_DAYS_RANGE, KeyPolicy, POLICY_MAX_DAYS, SetKeyPolicy, get_key_policy};
use leptos::server_fn::ServerFn;

use crate::components::{Field, FormAlert, FormNote, Loading, ServerForm};
use crate::orgs::ui::{common_error, use_org_id};

#[component]
pub fn PolicyPage() -> impl IntoView {
    let org_id = use_org_id();
    let policy = Resource::new(move || org_id.get(), get_key_policy);
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let view = match policy.await {
                    Ok(view) => view,
                    Err(e) => return common_error(e),
                };
                let p = view.policy;
                let summary = p.summary().unwrap_or_else(|| "Keys may live as long as their creator chooses, or never expire.".into());
                let idle = match p.idle_days {
                    Some(days) => format!("Keys unused for {} are revoked automatically.", super::days_text(days)),
                    None => "Unused keys are never revoked automatically.".into(),
                };
                view! {
                    <section class="card" data-testid="policy">
                        <h1>"Key policy"</h1>
                        <p class="muted">"Rules every new API key of this organization follows. Existing keys that outlive a new limit are flagged on the API keys page and keep working until someone shortens them."</p>
                        <ul class="policy-summary" data-testid="policy-summary">
                            <li>{summary}</li>
                            <li>{idle}</li>
                        </ul>
                    </section>
                    {if view.can_edit {
                        view! {
                            <section class="card">
                                <h2>"Change the policy"</h2>
                                <PolicyForm org_id=org_id.get_untracked() policy=p />
                            </section>
                        }.into_any()
                    } else {
                        view! { <p class="muted card">"Only owners and admins can change the key policy."</p> }.into_any()
                    }}
                }.into_any()
            })}
        </Suspense>
    }
}

/// Saved, the page loads again (its summary shows the new rules) with the "Saved" note.
#[component]
fn PolicyForm(org_id: String, policy: KeyPolicy) -> impl IntoView {
    let p = policy;
    let number = |days: Option<u32>| days.map(|d| d.to_string()).unwrap_or_default();
    view! {
        <ServerForm action=SetKeyPolicy::PATH id="key-policy">
            <input type="hidden" name="org_id" value=org_id />
            <Field label="Maximum lifetime of a new key, in days" name="max_days" kind="number"
                inputmode="numeric" value=number(p.max_days)
                hint=format!("1 to {POLICY_MAX_DAYS}. Leave empty for no limit.") />
            <label class="checkbox" for="require-expiry">
                <input type="checkbox" id="require-expiry" name="require_expiry" value="true"
                    checked=crate::flash::current()
                        .filter(|f| f.error.is_some())
                        .map_or(p.require_expiry, |f| f.value("require_expiry").is_some()) />
                "Every key must expire (no “No expiry” option)"
            </label>
            <Field label="Revoke keys unused for this many days" name="idle_days" kind="number"
                inputmode="numeric" value=number(p.idle_days)
                hint=format!("{} to {}. Leave empty to never revoke idle keys.", IDLE_DAYS_RANGE.start(), IDLE_DAYS_RANGE.end()) />
            <FormAlert />
            <div class="form-actions">
                <button type="submit" class="btn btn-primary" {..hook(hooks::SENDING, "Saving…")}>"Save policy"</button>
                <FormNote inline=true testid="policy-saved" note="Saved." />
            </div>
        </ServerForm>
    }
}
