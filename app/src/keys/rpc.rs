//! The server functions behind the organization's API keys pages: each checks its
//! arguments, then who is calling (`service::authorize`), then asks the key service.
//! The raw key leaves the server in exactly one response (create or roll), after the row
//! has committed (K4).

#[cfg(feature = "ssr")]
use chrono::{DateTime, Utc};
use leptos::prelude::*;

use super::{
    ApiKeyView, AuditEventView, CreatedKey, KeyPage, KeyPolicy, PolicyView, context, usage,
};
#[cfg(feature = "ssr")]
use super::{
    KeyQuery, RateLimit, StatusFilter, allowlist, expiry::resolve_expiry, scopes, service,
};
use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::ids::{KeyId, OrgId, UserId};

#[server(prefix = "/rpc", endpoint = "list_api_keys")]
pub async fn list_api_keys(
    org_id: String,
    page: u64,
    /// Part of the name or hint, or a key id.
    #[server(default)]
    q: Option<String>,
    #[server(default)] tag: Option<String>,
    #[server(default)] owner: Option<String>,
    /// `active`, `paused`, `expiring`, `expired` or `revoked`.
    #[server(default)]
    status: Option<String>,
    /// The same as `status=expiring`, as pages loaded before the status filter send it.
    #[server(default)]
    expiring_soon: bool,
) -> Result<KeyPage, AppError> {
    let status = match status {
        None if expiring_soon => Some(StatusFilter::Expiring.as_str().to_owned()),
        status => status,
    };
    let query = KeyQuery::parse(
        q.as_deref(),
        tag.as_deref(),
        owner.as_deref(),
        status.as_deref(),
    )
    .map_err(|(field, message)| AppError::invalid(field, message))?;
    let (state, manager) = service::authorize(&org_id).await?;
    let mut list = service::list_keys(&state.db, &manager, page, &query).await?;
    list.access = crate::permissions::catalog::catalog(&state.db, OrgId(&org_id))
        .await
        .map_err(crate::ssr::db_error)?
        .access();
    Ok(list)
}

pub use create::{CreateApiKey, create_api_key};

/// In a module of its own: a server function's arguments are its form's fields, one each,
/// and the lint's allowance must reach the code the macro generates for the browser too.
#[allow(clippy::too_many_arguments)]
mod create {
    use super::*;

    #[server(prefix = "/rpc", endpoint = "create_api_key")]
    pub async fn create_api_key(
        org_id: String,
        name: String,
        expiry: String,
        custom_date: Option<String>,
        /// Scope names, in one field or one checkbox each; none given means the default
        /// (`gateway`).
        scopes: Option<crate::choices::Choices>,
        /// The key's own rate limit: requests (empty: none) per `rate_limit_per`.
        #[server(default)]
        rate_limit: Option<String>,
        #[server(default)] rate_limit_per: Option<String>,
        /// Tags separated by commas or spaces.
        #[server(default)]
        tags: Option<String>,
        /// The external owner id.
        #[server(default)]
        owner: Option<String>,
        /// Permissions of the API from the organization's catalog, and wildcards,
        /// separated by spaces or commas.
        #[server(default)]
        permissions: Option<String>,
        /// Roles of the organization's catalog, separated by spaces or commas.
        #[server(default)]
        roles: Option<String>,
        /// The None / Read / Write selects, by resource, as a form posted without script
        /// sends them (the page's script adds them to `permissions`).
        #[server(default)]
        access: std::collections::BTreeMap<String, String>,
    ) -> Result<CreatedKey, AppError> {
        let grants = crate::permissions::parse_grants(
            std::iter::once(permissions.as_deref().unwrap_or_default())
                .chain(access.values().map(String::as_str)),
        )
        .map_err(|m| AppError::invalid("permissions", m))?;
        let roles = crate::permissions::parse_roles([roles.as_deref().unwrap_or_default()])
            .map_err(|m| AppError::invalid("roles", m))?;
        let limit = RateLimit::from_form(
            rate_limit.as_deref().unwrap_or_default(),
            rate_limit_per.as_deref().unwrap_or("minute"),
        )?;
        let context = context_from_form(
            tags.as_deref().unwrap_or_default(),
            owner.as_deref().unwrap_or_default(),
            "",
        )?;
        let (state, manager) = service::authorize(&org_id).await?;
        let expires_at = resolve_expiry(
            &expiry,
            custom_date.as_deref().unwrap_or_default(),
            Utc::now(),
        )?;
        let scopes = match scopes {
            None => scopes::DEFAULT_SCOPES,
            Some(names) => scopes::Scopes::parse_list(names.names())
                .map_err(|m| AppError::invalid("scopes", m))?,
        };
        let created = service::create_key_with(
            &state.db,
            &state.secret,
            &manager,
            &name,
            expires_at,
            scopes,
            service::KeyExtras {
                rate_limit: limit,
                allowed_ips: None,
                context,
                grants,
                roles,
            },
        )
        .await?;
        shown_once(&org_id, &created, false);
        Ok(created)
    }
}

/// After a key is created or rolled: the keys list, which shows its secret once when
/// the form was posted without script (`flash::show_in_answer`); the page's script reads
/// the answer instead.
#[cfg(feature = "ssr")]
fn shown_once(org_id: &str, created: &CreatedKey, rolled: bool) {
    crate::flash::show_in_answer(super::reveal::Revealed {
        created: created.clone(),
        rolled,
    });
    back_to_keys(org_id);
}

/// After an action on a key confirmed by a form (the action's own page, posted with or
/// without script): the keys list. The keys page's dialogs read the answer and ignore it.
#[cfg(feature = "ssr")]
fn back_to_keys(org_id: &str) {
    leptos_axum::redirect(&format!("/orgs/{org_id}/settings/keys"));
}

/// Applies `change` to one key of the organization, as the caller (the body of every
/// server function that changes a key without a new secret).
#[cfg(feature = "ssr")]
async fn change(
    org_id: &str,
    key_id: &str,
    change: service::KeyChange,
) -> Result<ApiKeyView, AppError> {
    let (state, manager) = service::authorize(org_id).await?;
    Ok(service::change_key(&state.db, &state.verifier, &manager, KeyId(key_id), change).await?)
}

/// Sets a key's own rate limit; empty `requests`, or `remove` (the form's "Remove
/// limit" button, posted without script), removes it.
#[server(prefix = "/rpc", endpoint = "set_key_rate_limit")]
pub async fn set_key_rate_limit(
    org_id: String,
    key_id: String,
    requests: String,
    per: String,
    #[server(default)] remove: bool,
) -> Result<ApiKeyView, AppError> {
    let limit = if remove {
        None
    } else {
        RateLimit::from_form(&requests, &per)?
    };
    change(&org_id, &key_id, service::KeyChange::SetRateLimit(limit)).await
}

#[server(prefix = "/rpc", endpoint = "revoke_api_key")]
pub async fn revoke_api_key(org_id: String, key_id: String) -> Result<ApiKeyView, AppError> {
    let (state, manager) = service::authorize(&org_id).await?;
    let key = service::revoke_key(&state.db, &state.verifier, &manager, KeyId(&key_id)).await?;
    back_to_keys(&org_id);
    Ok(key)
}

#[server(prefix = "/rpc", endpoint = "roll_api_key")]
pub async fn roll_api_key(
    org_id: String,
    key_id: String,
    // How long the old secret keeps working, 0 to 604800 seconds.
    #[server(default)] overlap_seconds: u32,
) -> Result<CreatedKey, AppError> {
    let (state, manager) = service::authorize(&org_id).await?;
    let rolled = service::roll_key(
        &state.db,
        &state.secret,
        &state.verifier,
        &manager,
        KeyId(&key_id),
        overlap_seconds,
    )
    .await?;
    shown_once(&org_id, &rolled, true);
    Ok(rolled)
}

#[server(prefix = "/rpc", endpoint = "end_key_overlap")]
pub async fn end_key_overlap(org_id: String, key_id: String) -> Result<ApiKeyView, AppError> {
    let key = change(&org_id, &key_id, service::KeyChange::EndOverlap).await?;
    back_to_keys(&org_id);
    Ok(key)
}

#[server(prefix = "/rpc", endpoint = "pause_api_key")]
pub async fn pause_api_key(
    org_id: String,
    key_id: String,
    // RFC 3339; none: until resumed (or `for_seconds`).
    until: Option<String>,
    // Seconds from now, as the confirmation page offers it (at most a year); none or
    // empty: until resumed; `until`: until `until_local`.
    #[server(default)] for_seconds: Option<String>,
    // A date and time (`2027-01-31T09:30`) in the browser's time zone, whose offset the
    // page's script puts in `tz_offset` (JavaScript's `getTimezoneOffset` for that time,
    // minutes); without script, UTC.
    #[server(default)] until_local: Option<String>,
    #[server(default)] tz_offset: Option<String>,
) -> Result<ApiKeyView, AppError> {
    let filled = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let until = match (filled(&until), filled(&for_seconds)) {
        (Some(text), _) => Some(
            DateTime::parse_from_rfc3339(&text)
                .map_err(|_| AppError::invalid("until", "Pick a date and time."))?
                .with_timezone(&Utc),
        ),
        (None, None) => None,
        (None, Some(choice)) if choice == "until" => {
            Some(local_time(filled(&until_local), filled(&tz_offset))?)
        }
        (None, Some(text)) => {
            let seconds = text
                .parse::<i64>()
                .ok()
                .filter(|s| (60..=366 * 86_400).contains(s))
                .ok_or_else(|| {
                    AppError::invalid("for_seconds", "Choose how long to pause the key.")
                })?;
            Some(Utc::now() + chrono::Duration::seconds(seconds))
        }
    };
    let key = change(&org_id, &key_id, service::KeyChange::Pause { until }).await?;
    back_to_keys(&org_id);
    Ok(key)
}

/// A pause's end picked as a local date and time, `offset` minutes behind UTC (as
/// JavaScript's `getTimezoneOffset` says), in the future.
#[cfg(feature = "ssr")]
fn local_time(local: Option<String>, offset: Option<String>) -> Result<DateTime<Utc>, AppError> {
    let pick = || AppError::invalid("until_local", "Pick a date and time to resume the key.");
    let local = local.ok_or_else(pick)?;
    let naive = chrono::NaiveDateTime::parse_from_str(&local, "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(&local, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| pick())?;
    let offset = match offset {
        None => 0,
        Some(gap) if gap == "gap" => {
            return Err(AppError::invalid(
                "until_local",
                "That time does not exist in your time zone.",
            ));
        }
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|m| (-16 * 60..=16 * 60).contains(m))
            .ok_or_else(|| {
                AppError::invalid(
                    "until_local",
                    "Your browser's time zone was not understood.",
                )
            })?,
    };
    let at = naive.and_utc() + chrono::Duration::minutes(offset);
    let now = Utc::now();
    if at <= now {
        return Err(AppError::invalid(
            "until_local",
            "Pick a time in the future.",
        ));
    }
    Ok(at)
}

#[server(prefix = "/rpc", endpoint = "resume_api_key")]
pub async fn resume_api_key(org_id: String, key_id: String) -> Result<ApiKeyView, AppError> {
    let key = change(&org_id, &key_id, service::KeyChange::Resume).await?;
    back_to_keys(&org_id);
    Ok(key)
}

#[server(prefix = "/rpc", endpoint = "shorten_api_key")]
pub async fn shorten_api_key(org_id: String, key_id: String) -> Result<ApiKeyView, AppError> {
    let key = change(&org_id, &key_id, service::KeyChange::ShortenToPolicy).await?;
    back_to_keys(&org_id);
    Ok(key)
}

/// The organization's key policy, for any member.
#[server(prefix = "/rpc", endpoint = "get_key_policy")]
pub async fn get_key_policy(org_id: String) -> Result<PolicyView, AppError> {
    let (state, user_id) = crate::state::authenticated().await?;
    let member =
        crate::orgs::access::membership(&state.db, UserId(&user_id), OrgId(&org_id)).await?;
    // The same rule as `GET /api/v1/policy`: the policy is about keys, which a member
    // has no say over.
    if !member.role.can_manage_keys() {
        return Err(AppError::Forbidden);
    }
    Ok(PolicyView {
        policy: service::org_policy(&state.db, OrgId(&org_id))
            .await
            .map_err(crate::ssr::db_error)?,
        can_edit: member.role.can_manage_members(),
    })
}

/// Sets the key policy (owners and admins). `max_days` and `idle_days`: empty for none.
#[server(prefix = "/rpc", endpoint = "set_key_policy")]
pub async fn set_key_policy(
    org_id: String,
    max_days: String,
    #[server(default)] require_expiry: bool,
    idle_days: String,
) -> Result<KeyPolicy, AppError> {
    let (state, user_id) = crate::state::authenticated().await?;
    let admin = crate::orgs::access::membership(&state.db, UserId(&user_id), OrgId(&org_id))
        .await?
        .require_admin()?;
    let days = |text: &str, field: &'static str| -> Result<Option<u32>, AppError> {
        match text.trim() {
            "" => Ok(None),
            t => t
                .parse::<u32>()
                .map(Some)
                .map_err(|_| AppError::invalid(field, "Enter a whole number of days.")),
        }
    };
    let policy = KeyPolicy {
        max_days: days(&max_days, "max_days")?,
        require_expiry,
        idle_days: days(&idle_days, "idle_days")?,
    };
    Ok(service::set_policy(&state.db, &admin, policy).await?)
}

/// The most recent key events of the organization, or of one key.
#[server(prefix = "/rpc", endpoint = "list_key_activity")]
pub async fn list_key_activity(
    org_id: String,
    #[server(default)] key_id: Option<String>,
) -> Result<Vec<AuditEventView>, AppError> {
    let (state, manager) = service::authorize(&org_id).await?;
    Ok(service::list_activity(&state.db, &manager, key_id.as_deref().map(KeyId)).await?)
}

#[server(prefix = "/rpc", endpoint = "key_usage")]
pub async fn key_usage(
    org_id: String,
    key_id: String,
    period: String,
) -> Result<usage::UsageView, AppError> {
    let period = usage::Period::parse(&period)
        .ok_or_else(|| AppError::invalid("period", "The period must be 24h or 30d.".to_owned()))?;
    let (state, manager) = service::authorize(&org_id).await?;
    service::get_key(&state.db, &manager, KeyId(&key_id)).await?;
    usage::store::of_key(&state.db, &org_id, &key_id, period, Utc::now())
        .await
        .map_err(crate::ssr::db_error)
}

#[server(prefix = "/rpc", endpoint = "org_usage")]
pub async fn org_usage(org_id: String, period: String) -> Result<usage::OrgUsageView, AppError> {
    let period = usage::Period::parse(&period)
        .ok_or_else(|| AppError::invalid("period", "The period must be 24h or 30d.".to_owned()))?;
    let (state, _) = service::authorize(&org_id).await?;
    usage::store::of_org(&state.db, &org_id, period, Utc::now())
        .await
        .map_err(crate::ssr::db_error)
}

/// Sets the addresses a key may be used from: entries separated by commas, spaces or new
/// lines; empty for anywhere.
#[server(prefix = "/rpc", endpoint = "set_key_allowed_ips")]
pub async fn set_key_allowed_ips(
    org_id: String,
    key_id: String,
    allowed_ips: String,
) -> Result<ApiKeyView, AppError> {
    let ranges = allowlist::parse_list([allowed_ips.as_str()])
        .map_err(|m| AppError::invalid("allowed_ips", m))?;
    change(&org_id, &key_id, service::KeyChange::SetAllowedIps(ranges)).await
}

/// The context a form gives: tags separated by commas or spaces, an owner id and
/// metadata as JSON text; blanks are none. An error names its field.
pub fn context_from_form(
    tags: &str,
    owner: &str,
    metadata: &str,
) -> Result<context::KeyContext, AppError> {
    Ok(context::KeyContext {
        tags: context::parse_tags_text(tags).map_err(|m| AppError::invalid("tags", m))?,
        owner: context::parse_owner(owner).map_err(|m| AppError::invalid("owner", m))?,
        metadata: context::parse_metadata_text(metadata)
            .map_err(|m| AppError::invalid("metadata", m))?,
    })
}

/// Replaces a key's tags, owner id and metadata.
#[server(prefix = "/rpc", endpoint = "set_key_context")]
pub async fn set_key_context(
    org_id: String,
    key_id: String,
    tags: String,
    owner: String,
    metadata: String,
) -> Result<ApiKeyView, AppError> {
    let context = context_from_form(&tags, &owner, &metadata)?;
    change(&org_id, &key_id, service::KeyChange::SetContext(context)).await
}

/// One key of the organization, for its page.
#[server(prefix = "/rpc", endpoint = "get_api_key")]
pub async fn get_api_key(org_id: String, key_id: String) -> Result<ApiKeyView, AppError> {
    let (state, manager) = service::authorize(&org_id).await?;
    Ok(service::get_key(&state.db, &manager, KeyId(&key_id)).await?)
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::local_time;

    fn at(local: &str, offset: Option<&str>) -> Result<String, String> {
        local_time(Some(local.to_owned()), offset.map(str::to_owned))
            .map(|t| t.format("%Y-%m-%dT%H:%M").to_string())
            .map_err(|e| e.field_message("until_local").unwrap_or_default())
    }

    #[test]
    fn a_pause_end_is_read_in_the_browsers_time_zone() {
        // New York in summer time (JavaScript's offset 240): 03:30 there is 07:30 UTC.
        assert_eq!(
            at("2030-03-10T03:30", Some("240")),
            Ok("2030-03-10T07:30".into())
        );
        let next_month = (chrono::Utc::now() + chrono::Duration::days(30)).format("%Y-%m-%d");
        let local = format!("{next_month}T03:30");
        assert_eq!(at(&local, Some("240")), Ok(format!("{next_month}T07:30")));
        // India (offset -330): 09:30 there is 04:00 UTC; no offset (no script) is UTC.
        assert_eq!(
            at(&format!("{next_month}T09:30"), Some("-330")),
            Ok(format!("{next_month}T04:00"))
        );
        assert_eq!(at(&local, None), Ok(local.clone()));
        // A time a clock change skips, the past, nonsense: refused, each with its reason.
        assert_eq!(
            at(&local, Some("gap")),
            Err("That time does not exist in your time zone.".into())
        );
        assert_eq!(
            at("2020-01-01T10:00", Some("0")),
            Err("Pick a time in the future.".into())
        );
        assert_eq!(
            at(&local, Some("99999")),
            Err("Your browser's time zone was not understood.".into())
        );
        assert_eq!(
            at("tomorrow", None),
            Err("Pick a date and time to resume the key.".into())
        );
        assert!(local_time(None, None).is_err());
    }
}
