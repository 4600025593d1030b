//! The API's own permissions: the organization's catalog (`/api/v1/permissions`,
//! `/api/v1/roles/{name}`), the gateway's route rules (`/api/v1/route-rules`) and what one
//! key holds (`/api/v1/keys/{id}/permissions`). Reading needs `keys:read`; the catalog
//! and the rules are changed by owners and admins with a browser session only, like the
//! key policy; a key's permissions by anyone who manages keys (`keys:write`), never
//! wider than a calling key's own.

use app::ids::{KeyId, OrgId};
use app::keys::scopes::Scope;
use app::keys::service as keys;
use app::orgs::access::OrgAdmin;
use app::permissions::catalog;
use app::permissions::routes::RouteRules as SavedRules;
use app::permissions::routes::{RouteRule, Unmatched};
use app::permissions::{Catalog, PermissionView, RoleView};
use app::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::shared::{ApiKey, OrgQuery, manager, parse_permissions};
use crate::api::auth::Principal;
use crate::api::error::{ApiError, ErrorBody};
use crate::api::extract::{ApiJson, ApiQuery};

const KEY_REFUSAL: &str =
    "A key cannot change its organization's permission catalog or route rules.";

/// Proof that the caller may change the catalog, the rules and the upstreams: an owner or
/// admin of `query`'s organization, with a browser session (a key gets 403).
async fn catalog_admin(
    state: &AppState,
    principal: &Principal,
    query: &OrgQuery,
) -> Result<OrgAdmin, ApiError> {
    principal
        .session_admin(state, query.org_id.as_deref(), KEY_REFUSAL)
        .await
}

/// After a change to what keys hold or where requests go: this instance re-reads the
/// organization at once (the others follow the announced event).
fn reread_here(state: &AppState, admin: &OrgAdmin) {
    state
        .verifier
        .forget_org_permissions(&admin.member().org_id);
}

/// A permission of the catalog.
#[derive(Debug, Serialize, ToSchema)]
pub struct PermissionBody {
    #[schema(example = "invoices:read")]
    pub name: String,
    #[schema(example = "Read invoices")]
    pub description: String,
}

impl From<PermissionView> for PermissionBody {
    fn from(p: PermissionView) -> Self {
        Self {
            name: p.name,
            description: p.description,
        }
    }
}

/// A role: a named bundle of permissions and wildcards.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleBody {
    #[schema(example = "billing-readonly")]
    pub name: String,
    pub description: String,
    #[schema(example = json!(["invoices:read", "refunds:read"]))]
    pub permissions: Vec<String>,
}

impl From<RoleView> for RoleBody {
    fn from(r: RoleView) -> Self {
        Self {
            name: r.name,
            description: r.description,
            permissions: r.permissions,
        }
    }
}

/// The organization's permission catalog.
#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogBody {
    pub permissions: Vec<PermissionBody>,
    pub roles: Vec<RoleBody>,
}

impl From<Catalog> for CatalogBody {
    fn from(c: Catalog) -> Self {
        Self {
            permissions: c.permissions.into_iter().map(Into::into).collect(),
            roles: c.roles.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutPermissionRequest {
    /// Up to 200 characters, one line.
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutRoleRequest {
    #[serde(default)]
    pub description: String,
    /// Permissions of the catalog and wildcards (`invoices:*`, `*`); at least one.
    pub permissions: Vec<String>,
}

/// A route rule: requests whose method and path match need its permissions.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteRuleBody {
    /// Set by Keygate; ignored in a request.
    #[serde(default, skip_deserializing)]
    #[schema(read_only, example = "rul_2b9...")]
    pub id: Option<String>,
    /// Methods, space- or comma-separated, or `*` for any.
    #[schema(example = "GET HEAD")]
    pub methods: String,
    /// The path after `/gw`: literal segments, `{name}` for one segment, a final `*`
    /// for whatever follows (nothing included). Literals match in any ASCII case.
    #[schema(example = "/invoices/{id}")]
    pub path: String,
    /// Required permissions of the catalog, all of them.
    #[schema(example = json!(["invoices:read"]))]
    pub permissions: Vec<String>,
    /// Count and log would-be refusals, without refusing.
    #[serde(default)]
    pub report_only: bool,
    /// Requests the rule would have refused while report-only, over every instance (up
    /// to a usage flush behind).
    #[serde(default, skip_deserializing)]
    #[schema(read_only)]
    pub would_deny: i64,
}

/// The organization's route rules, in order, and what happens to a request none matches.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteRulesBody {
    /// The first rule that matches a request decides.
    pub rules: Vec<RouteRuleBody>,
    /// `allow` (any key with the `gateway` scope) or `deny` (403
    /// `insufficient_permission`).
    #[schema(example = "allow")]
    pub unmatched: String,
}

impl From<SavedRules> for RouteRulesBody {
    fn from(r: SavedRules) -> Self {
        Self {
            rules: r
                .rules
                .into_iter()
                .map(|s| RouteRuleBody {
                    id: Some(s.id),
                    methods: s.rule.methods,
                    path: s.rule.path,
                    permissions: s.rule.permissions,
                    report_only: s.rule.report_only,
                    would_deny: s.would_deny,
                })
                .collect(),
            unmatched: match r.unmatched {
                Unmatched::Allow => "allow",
                Unmatched::Deny => "deny",
            }
            .into(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// The API's OpenAPI document (3.x or Swagger 2.0), as a JSON object; or `url`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub document: Option<serde_json::Value>,
    /// Where this server fetches the document from instead: a host the operator allows
    /// for upstreams (`KEYGATE_UPSTREAM_HOSTS`).
    #[serde(default)]
    #[schema(example = "https://billing.internal/openapi.json")]
    pub url: Option<String>,
    /// Save it: add the permissions the catalog lacks and replace the route rules with
    /// the proposed ones. Without it (the default) nothing is saved: review the answer
    /// first.
    #[serde(default)]
    pub apply: bool,
}

/// What a document proposes, or (with `apply`) what was saved.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportAnswer {
    /// One per tag and verb class (`pets:read`, `pets:write`).
    pub permissions: Vec<PermissionBody>,
    /// One per operation, in the order they are saved.
    pub rules: Vec<RouteRuleBody>,
    /// Operations left out, and why.
    pub skipped: Vec<String>,
    pub applied: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPermissionsRequest {
    /// Permissions of the catalog and wildcards; empty or left out: none.
    #[serde(default)]
    pub permissions: Vec<String>,
    /// Roles of the catalog; empty or left out: none.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// The organization's permission catalog: permissions and roles, each sorted by name.
/// Needs `keys:read`.
#[utoipa::path(
    get, path = "/api/v1/permissions", tag = "permissions", params(OrgQuery),
    security(("api_key" = ["keys:read"]), ("bearer" = ["keys:read"]), ("session" = [])),
    responses(
        (status = 200, body = CatalogBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn get_catalog(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<OrgQuery>,
) -> Result<Json<CatalogBody>, ApiError> {
    let manager = manager(&state, &principal, query.org_id.as_deref(), Scope::KeysRead).await?;
    Ok(Json(
        catalog::catalog(&state.db, OrgId(manager.org_id()))
            .await?
            .into(),
    ))
}

/// Adds a permission (`resource:action`) to the catalog, or changes its description:
/// owners and admins, with a browser session. 201 when new, 200 when it was there.
#[utoipa::path(
    put, path = "/api/v1/permissions/{name}", tag = "permissions",
    params(("name" = String, Path, description = "e.g. invoices:read"), OrgQuery),
    request_body = PutPermissionRequest,
    security(("session" = [])),
    responses(
        (status = 200, body = PermissionBody),
        (status = 201, body = PermissionBody),
        (status = 400, description = "A name that is not resource:action, a description over 200 characters, or a full catalog", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "A key, or a role other than owner or admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn put_permission(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
    ApiQuery(query): ApiQuery<OrgQuery>,
    request: Option<ApiJson<PutPermissionRequest>>,
) -> Result<impl IntoResponse, ApiError> {
    let admin = catalog_admin(&state, &principal, &query).await?;
    let request = request.map(|ApiJson(r)| r).unwrap_or_default();
    let (view, created) =
        catalog::put_permission(&state.db, &admin, &name, &request.description).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(PermissionBody::from(view))))
}

/// Removes a permission from the catalog: refused (409, naming them) while a role, a
/// live key or a route rule uses it. Owners and admins, with a browser session.
#[utoipa::path(
    delete, path = "/api/v1/permissions/{name}", tag = "permissions",
    params(("name" = String, Path, description = "e.g. invoices:read"), OrgQuery),
    security(("session" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Still used by a role, a key or a route rule", body = ErrorBody),
    )
)]
pub async fn delete_permission(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
    ApiQuery(query): ApiQuery<OrgQuery>,
) -> Result<StatusCode, ApiError> {
    let admin = catalog_admin(&state, &principal, &query).await?;
    catalog::delete_permission(&state.db, &admin, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds or changes a role; keys holding it get the change on every instance within a
/// second. Owners and admins, with a browser session. 201 when new.
#[utoipa::path(
    put, path = "/api/v1/roles/{name}", tag = "permissions",
    params(("name" = String, Path, description = "e.g. billing-readonly"), OrgQuery),
    request_body = PutRoleRequest,
    security(("session" = [])),
    responses(
        (status = 200, body = RoleBody),
        (status = 201, body = RoleBody),
        (status = 400, description = "A bad name, or a permission not in the catalog (named)", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn put_role(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
    ApiQuery(query): ApiQuery<OrgQuery>,
    ApiJson(request): ApiJson<PutRoleRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let admin = catalog_admin(&state, &principal, &query).await?;
    let (view, created) = catalog::put_role(
        &state.db,
        &admin,
        &name,
        &request.description,
        &request.permissions,
    )
    .await?;
    reread_here(&state, &admin);
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(RoleBody::from(view))))
}

/// Removes a role: refused (409) while a live key holds it.
#[utoipa::path(
    delete, path = "/api/v1/roles/{name}", tag = "permissions",
    params(("name" = String, Path, description = "e.g. billing-readonly"), OrgQuery),
    security(("session" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Still held by a key", body = ErrorBody),
    )
)]
pub async fn delete_role(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
    ApiQuery(query): ApiQuery<OrgQuery>,
) -> Result<StatusCode, ApiError> {
    let admin = catalog_admin(&state, &principal, &query).await?;
    catalog::delete_role(&state.db, &admin, &name).await?;
    reread_here(&state, &admin);
    Ok(StatusCode::NO_CONTENT)
}

/// The gateway's route rules, in order, with each report-only rule's count. Needs
/// `keys:read`.
#[utoipa::path(
    get, path = "/api/v1/route-rules", tag = "permissions", params(OrgQuery),
    security(("api_key" = ["keys:read"]), ("bearer" = ["keys:read"]), ("session" = [])),
    responses(
        (status = 200, body = RouteRulesBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn get_route_rules(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<OrgQuery>,
) -> Result<Json<RouteRulesBody>, ApiError> {
    let manager = manager(&state, &principal, query.org_id.as_deref(), Scope::KeysRead).await?;
    Ok(Json(
        catalog::route_rules(&state.db, OrgId(manager.org_id()))
            .await?
            .into(),
    ))
}

/// Replaces the gateway's route rules and the default for unmatched requests, all at
/// once; every instance enforces them within a second. A rule kept with the same
/// methods and path keeps its count. Owners and admins, with a browser session.
#[utoipa::path(
    put, path = "/api/v1/route-rules", tag = "permissions", params(OrgQuery),
    request_body = RouteRulesBody,
    security(("session" = [])),
    responses(
        (status = 200, body = RouteRulesBody),
        (status = 400, description = "A rule that cannot be read (its number and what is wrong), a permission not in the catalog, or a repeated rule", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn set_route_rules(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<OrgQuery>,
    ApiJson(request): ApiJson<RouteRulesBody>,
) -> Result<Json<RouteRulesBody>, ApiError> {
    let admin = catalog_admin(&state, &principal, &query).await?;
    let unmatched = match request.unmatched.as_str() {
        "allow" => Unmatched::Allow,
        "deny" => Unmatched::Deny,
        _ => {
            return Err(ApiError::Invalid {
                field: "unmatched".into(),
                message: "unmatched must be allow or deny.".into(),
            });
        }
    };
    let rules = request
        .rules
        .into_iter()
        .map(|r| RouteRule {
            methods: r.methods,
            path: r.path,
            permissions: r.permissions,
            report_only: r.report_only,
        })
        .collect();
    let saved = catalog::set_route_rules(&state.db, &admin, rules, unmatched).await?;
    reread_here(&state, &admin);
    Ok(Json(saved.into()))
}

/// Proposes permissions and route rules from the API's OpenAPI document: one permission
/// per tag and verb class (`tag:read` for GET and HEAD, `tag:write` otherwise) and one
/// rule per operation. Saves nothing unless `apply` is true; then the catalog gets the
/// permissions it lacks and the route rules are replaced. Owners and admins, with a
/// browser session.
#[utoipa::path(
    post, path = "/api/v1/route-rules/import", tag = "permissions", params(OrgQuery),
    request_body = ImportRequest,
    security(("session" = [])),
    responses(
        (status = 200, body = ImportAnswer),
        (status = 400, description = "Not an OpenAPI document, no operations, more than the catalog or the rules can hold, or a url that cannot be fetched (on a host the operator does not allow, unreachable, not 2xx, over 2 MB)", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn import_openapi(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<OrgQuery>,
    ApiJson(request): ApiJson<ImportRequest>,
) -> Result<Json<ImportAnswer>, ApiError> {
    let admin = catalog_admin(&state, &principal, &query).await?;
    let invalid = |field: &str, message: String| ApiError::Invalid {
        field: field.into(),
        message,
    };
    let proposal = match (&request.document, request.url.as_deref()) {
        (Some(document), None) => app::permissions::openapi::propose_value(document)
            .map_err(|m| invalid("document", m))?,
        (None, Some(url)) => {
            let text = state
                .fetch_document
                .fetch(url)
                .await
                .map_err(|m| invalid("url", m))?;
            app::permissions::openapi::propose(&text).map_err(|m| invalid("url", m))?
        }
        _ => {
            return Err(invalid(
                "document",
                "Give the document or its url, one of them.".into(),
            ));
        }
    };
    let skipped = proposal.skipped.clone();
    let permissions = proposal.permissions.clone();
    let rules: Vec<RouteRuleBody> = if request.apply {
        let saved = catalog::import_openapi(&state.db, &admin, proposal).await?;
        reread_here(&state, &admin);
        RouteRulesBody::from(saved).rules
    } else {
        proposal
            .rules
            .into_iter()
            .map(|r| RouteRuleBody {
                id: None,
                methods: r.methods,
                path: r.path,
                permissions: r.permissions,
                report_only: r.report_only,
                would_deny: 0,
            })
            .collect()
    };
    Ok(Json(ImportAnswer {
        permissions: permissions.into_iter().map(Into::into).collect(),
        rules,
        skipped,
        applied: request.apply,
    }))
}

/// Replaces the permissions and roles a key holds (what is left out is taken away);
/// every instance's gateway and `/verify` see it within a second, and
/// `key.permissions_changed` is sent. Needs `keys:write`; a key can give only what it
/// holds itself.
#[utoipa::path(
    put, path = "/api/v1/keys/{id}/permissions", tag = "keys",
    params(("id" = String, Path, description = "Key id"), OrgQuery),
    request_body = SetPermissionsRequest,
    security(("api_key" = ["keys:write"]), ("bearer" = ["keys:write"]), ("session" = [])),
    responses(
        (status = 200, body = ApiKey),
        (status = 400, description = "A permission or role not in the catalog (named)", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Missing keys:write, or permissions the calling key does not hold", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The key is revoked or expired", body = ErrorBody),
    )
)]
pub async fn set_key_permissions(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<OrgQuery>,
    ApiJson(request): ApiJson<SetPermissionsRequest>,
) -> Result<Json<ApiKey>, ApiError> {
    let (grants, roles) = parse_permissions(Some(&request.permissions), Some(&request.roles))?;
    let manager = manager(
        &state,
        &principal,
        query.org_id.as_deref(),
        Scope::KeysWrite,
    )
    .await?;
    let key = keys::set_permissions(
        &state.db,
        &state.verifier,
        &manager,
        KeyId(&id),
        grants,
        roles,
    )
    .await?;
    Ok(Json(key.into()))
}

/// An upstream: requests whose path (after `/gw`) starts with `prefix` go to `url`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamBody {
    /// Literal segments (`/billing`, `/v2/search`), matched in any ASCII case; stored in
    /// lower case without a trailing slash.
    #[schema(example = "/billing")]
    pub prefix: String,
    /// `http://` or `https://`, a host the operator allows (`KEYGATE_UPSTREAM_HOSTS`), and
    /// an optional path that replaces the prefix.
    #[schema(example = "https://billing.internal:8443/api")]
    pub url: String,
}

/// The organization's upstreams; a request no prefix matches goes to the server's default
/// (`KEYGATE_UPSTREAM_URL`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamsBody {
    pub upstreams: Vec<UpstreamBody>,
}

impl From<Vec<app::permissions::upstreams::UpstreamView>> for UpstreamsBody {
    fn from(list: Vec<app::permissions::upstreams::UpstreamView>) -> Self {
        Self {
            upstreams: list
                .into_iter()
                .map(|u| UpstreamBody {
                    prefix: u.prefix,
                    url: u.url,
                })
                .collect(),
        }
    }
}

/// The organization's upstreams by path prefix. Needs `keys:read`.
#[utoipa::path(
    get, path = "/api/v1/upstreams", tag = "permissions", params(OrgQuery),
    security(("api_key" = ["keys:read"]), ("bearer" = ["keys:read"]), ("session" = [])),
    responses(
        (status = 200, body = UpstreamsBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn get_upstreams(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<OrgQuery>,
) -> Result<Json<UpstreamsBody>, ApiError> {
    let manager = manager(&state, &principal, query.org_id.as_deref(), Scope::KeysRead).await?;
    Ok(Json(
        catalog::upstreams(&state.db, OrgId(manager.org_id()))
            .await?
            .into(),
    ))
}

/// Replaces the organization's upstreams by path prefix, all at once; every instance
/// routes by them within a second. The longest matching prefix wins and is replaced by
/// the URL's path; route rules still see the whole path. Owners and admins, with a
/// browser session.
#[utoipa::path(
    put, path = "/api/v1/upstreams", tag = "permissions", params(OrgQuery),
    request_body = UpstreamsBody,
    security(("session" = [])),
    responses(
        (status = 200, body = UpstreamsBody),
        (status = 400, description = "A prefix that is not literal segments, a URL that is not http(s), has credentials or a query, or names a host the operator does not allow", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn set_upstreams(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<OrgQuery>,
    ApiJson(request): ApiJson<UpstreamsBody>,
) -> Result<Json<UpstreamsBody>, ApiError> {
    let admin = catalog_admin(&state, &principal, &query).await?;
    let check = state.upstream_check.clone();
    let list = request
        .upstreams
        .into_iter()
        .map(|u| app::permissions::upstreams::UpstreamView {
            prefix: u.prefix,
            url: u.url,
        })
        .collect();
    let saved = catalog::set_upstreams(&state.db, &admin, list, |url| (check.0)(url)).await?;
    reread_here(&state, &admin);
    Ok(Json(saved.into()))
}
