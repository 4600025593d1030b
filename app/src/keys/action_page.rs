//! An action on a key confirmed on a page of its own
//! (`/orgs/:org_id/settings/keys/:key_id/confirm?action=revoke`): where a keys row's
//! button goes without script. The same words as the keys page's dialog
//! (`confirm::KeyTarget`), and a form posted to the action's server function, which sends
//! the browser back to the keys list. A roll's form is always posted by the browser
//! itself: its answer is the keys list showing the new secret once.

use chrono::Utc;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::confirm::{KeyAction, KeyTarget};
use super::dialogs::{overlap_choices, shortening};
use super::{
    EndKeyOverlap, PauseApiKey, ResumeApiKey, RevokeApiKey, RollApiKey, ShortenApiKey, get_api_key,
    get_key_policy,
};
use crate::components::{FieldError, FormAlert, Loading, NotFoundPage, ServerForm};
use crate::error::AppError;
use crate::hooks::{self, hook};
use crate::orgs::ui::{OrgContext, common_error, keys_denied, use_org_id};

/// How long a pause lasts; "until" reads the date and time field.
pub const PAUSE_CHOICES: [(&str, &str); 5] = [
    ("", "Until I resume it"),
    ("3600", "For 1 hour"),
    ("86400", "For 24 hours"),
    ("604800", "For 7 days"),
    ("until", "Until a date and time…"),
];

fn action_path(action: KeyAction) -> &'static str {
    match action {
        KeyAction::Revoke => RevokeApiKey::PATH,
        KeyAction::Pause => PauseApiKey::PATH,
        KeyAction::Resume => ResumeApiKey::PATH,
        KeyAction::EndOverlap => EndKeyOverlap::PATH,
        KeyAction::Shorten => ShortenApiKey::PATH,
        KeyAction::Roll => RollApiKey::PATH,
    }
}

#[component]
pub fn KeyActionPage() -> impl IntoView {
    let org_id = use_org_id();
    let params = use_params_map();
    let query = use_query_map();
    let key_id = Memo::new(move |_| params.read().get("key_id").unwrap_or_default());
    let OrgContext { org, .. } = expect_context::<OrgContext>();
    let key = Resource::new(
        move || (org_id.get(), key_id.get()),
        |(org, key)| get_api_key(org, key),
    );
    let policy = Resource::new(move || org_id.get(), get_key_policy);
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let me = match org.await {
                    Ok(me) => me,
                    Err(e) => return common_error(e),
                };
                let action = query
                    .read_untracked()
                    .get("action")
                    .and_then(|a| KeyAction::parse(&a));
                let Some(action) = action else {
                    return view! { <NotFoundPage /> }.into_any();
                };
                let key = match key.await {
                    Ok(key) => key,
                    Err(AppError::Forbidden) => return keys_denied(&me),
                    Err(e) => return common_error(e),
                };
                let policy = match policy.await {
                    Ok(view) => view.policy,
                    Err(e) => return common_error(e),
                };
                let target = KeyTarget {
                    name: key.name.clone(),
                    hint: key.hint.clone(),
                    rolling_hint: key.rolling.as_ref().map(|r| r.hint.clone()),
                    shorten: shortening(&key, policy, Utc::now()),
                };
                let keys_path = format!("/orgs/{}/settings/keys", me.id);
                let (label, sending) = action.labels();
                let class = if action == KeyAction::Revoke { "btn btn-danger" } else { "btn btn-primary" };
                view! {
                    <section class="card form-page" {..hook(hooks::DIALOG_PART, "")}>
                        <h1>{target.title(action)}</h1>
                        <p>{target.body(action)}</p>
                        {target.ends_older_overlap(action).map(|older| view! {
                            <div class="alert alert-warn" role="note" data-testid="ends-older-overlap">{older}</div>
                        })}
                        <ServerForm action=action_path(action) id="key-action" testid="key-action">
                            <input type="hidden" name="org_id" value=me.id.clone() />
                            <input type="hidden" name="key_id" value=key.id.clone() />
                            {(action == KeyAction::Roll).then(overlap_choices)}
                            {(action == KeyAction::Pause).then(pause_fields)}
                            <FormAlert />
                            <div class="dialog-actions">
                                <a class="btn btn-link" href=keys_path>"Cancel"</a>
                                <button type="submit" class={class} {..hook(hooks::SENDING, sending)}>{label}</button>
                            </div>
                        </ServerForm>
                    </section>
                }
                .into_any()
            })}
        </Suspense>
    }
}

/// How long to pause: a duration, or until a date and time in the browser's time zone
/// (its offset from UTC put in `tz_offset` by the script, `hooks::TZ_OFFSET`; UTC
/// without it, as the field's label then says).
fn pause_fields() -> impl IntoView {
    let kept = crate::flash::kept_value("for_seconds");
    let chosen = kept.unwrap_or_default();
    view! {
        <div class="field">
            <label for="pause-for-seconds">"Pause"</label>
            <select id="pause-for-seconds" name="for_seconds" data-field="for_seconds">
                {PAUSE_CHOICES.iter().map(|(value, label)| view! {
                    <option value=*value selected=*value == chosen>{*label}</option>
                }).collect_view()}
            </select>
            <FieldError id="pause-for-seconds-error" field="for_seconds" />
        </div>
        <div class="field" id="pause-until-field">
            <label for="pause-until">"Resume at"
                <span {..hook(hooks::UNSCRIPTED, "")}>" (UTC)"</span>
                <span hidden {..hook(hooks::SCRIPTED, "")}>" (your local time)"</span>
            </label>
            <input id="pause-until" name="until_local" type="datetime-local" data-field="until_local"
                aria-invalid=crate::flash::invalid("until_local") aria-describedby="pause-until-error"
                value=crate::flash::kept_value("until_local") />
            <input type="hidden" name="tz_offset" value="" {..hook(hooks::TZ_OFFSET, "")} />
            <FieldError id="pause-until-error" field="until_local" />
        </div>
    }
}
