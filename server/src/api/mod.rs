//! The machine-facing surface: the REST API under `/api/v1`, its OpenAPI document at
//! `/api/openapi.json`, Swagger UI at `/docs`, and the gateway at `/gw/*`.

pub mod auth;
pub mod error;
pub mod extract;
pub mod gateway;
pub mod imports;
pub mod leaks;
pub mod rest;
pub mod webhooks;

use axum::Router;
use axum::routing::{any, delete, get, post, put};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use crate::state::ServerState;

pub const OPENAPI_PATH: &str = "/api/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Keygate API",
        description = "Manage an organization's API keys and check who is calling.\n\n\
            Authenticate with an API key in `x-api-key: <key>` or `Authorization: Bearer <key>`. \
            Scopes: `keys:read` (list keys), `keys:write` (create, roll, revoke keys), \
            `gateway` (call the upstream through `/gw/*`). A key never has more rights than \
            its creator's current role, and cannot grant scopes it does not have.\n\n\
            Errors are `{\"error\": \"<code>\", \"message\": \"...\"}`: 401 `unauthenticated`, \
            `invalid_token` (unknown or malformed key), `key_expired`, `key_revoked` or `key_paused` \
            (with `WWW-Authenticate`), 403 `insufficient_scope`, 403 `ip_not_allowed` (a key used \
            from an address its allowlist does not name), 404, 413, 415, \
            429 `rate_limited` (with `Retry-After`: too many failed verifications from an address, \
            or a key over its own rate limit), 503 `unavailable`.\n\n\
            A key with a rate limit gets `RateLimit-Policy: \"key\";q=<requests>;w=<seconds>` and \
            `RateLimit: \"key\";r=<remaining>;t=<seconds to full quota>` on every response \
            (draft-ietf-httpapi-ratelimit-headers).\n\n\
            The gateway: any method on `/gw/<path>` is forwarded to the configured upstream with \
            `X-Keygate-Org-Id`, `X-Keygate-Key-Id`, `X-Keygate-Scopes`, for a key with an \
            owner id `X-Keygate-Key-Owner`, and for a key with permissions of the API \
            `X-Keygate-Permissions` (needs the `gateway` scope). The organization's route rules \
            (`/api/v1/route-rules`) decide first: a request the matching rule refuses gets 403 \
            `insufficient_permission` with the permissions the key lacks in `missing`.\n\n\
            Every response to a request made with a key that expires carries \
            `Keygate-Key-Expires: <RFC 3339 time>`."
    ),
    paths(
        rest::whoami,
        rest::list_keys,
        rest::create_key,
        rest::get_key,
        rest::revoke_key,
        rest::roll_key,
        rest::end_overlap,
        rest::pause_key,
        rest::resume_key,
        rest::shorten_key,
        rest::set_rate_limit,
        rest::set_allowed_ips,
        rest::set_context,
        rest::key_usage,
        rest::get_policy,
        rest::set_policy,
        rest::set_key_permissions,
        rest::key_permission_use,
        rest::restrict_key_permissions,
        rest::get_catalog,
        rest::put_permission,
        rest::delete_permission,
        rest::put_role,
        rest::delete_role,
        rest::get_route_rules,
        rest::set_route_rules,
        rest::import_openapi,
        rest::get_upstreams,
        rest::set_upstreams,
        rest::verify,
        leaks::report_leaked,
        imports::import_keys,
        webhooks::list_endpoints,
        webhooks::create_endpoint,
        webhooks::delete_endpoint,
        webhooks::test_endpoint,
        webhooks::list_deliveries,
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "identity", description = "Who is calling"),
        (name = "keys", description = "The organization's API keys"),
        (name = "policy", description = "The organization's rules for keys"),
        (name = "permissions", description = "The API's own permissions: the organization's \
            catalog (permissions `resource:action` and roles), and the gateway's route rules"),
        (name = "webhooks", description = "Where the organization's key and member events are sent \
            (Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`)"),
    )
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-api-key",
                "An API key, kg_...",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("Authorization: Bearer kg_..."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::state::SESSION_COOKIE,
                "The browser session of a logged-in user (key routes then need org_id)",
            ))),
        );
    }
}

/// The REST API under `/api/v1`, each route by its full path rather than nested: a nested
/// router rebuilds every request's URI without its prefix, which was a tenth of whoami's
/// own cost (see docs/performance.md). Browser callers need the session layer.
pub fn rest_routes() -> Router<ServerState> {
    Router::new()
        .route("/api/v1/whoami", get(rest::whoami))
        .route("/api/v1/keys", get(rest::list_keys).post(rest::create_key))
        .route("/api/v1/keys/leaked", post(leaks::report_leaked))
        .route("/api/v1/keys/import", post(imports::import_keys))
        .route(
            "/api/v1/keys/{id}",
            get(rest::get_key).delete(rest::revoke_key),
        )
        .route("/api/v1/keys/{id}/roll", post(rest::roll_key))
        .route("/api/v1/keys/{id}/end-overlap", post(rest::end_overlap))
        .route("/api/v1/keys/{id}/pause", post(rest::pause_key))
        .route("/api/v1/keys/{id}/resume", post(rest::resume_key))
        .route(
            "/api/v1/keys/{id}/shorten-to-policy",
            post(rest::shorten_key),
        )
        .route("/api/v1/keys/{id}/rate-limit", put(rest::set_rate_limit))
        .route("/api/v1/keys/{id}/allowed-ips", put(rest::set_allowed_ips))
        .route("/api/v1/keys/{id}/context", put(rest::set_context))
        .route("/api/v1/keys/{id}/usage", get(rest::key_usage))
        .route(
            "/api/v1/keys/{id}/permissions",
            put(rest::set_key_permissions),
        )
        .route(
            "/api/v1/keys/{id}/permissions/usage",
            get(rest::key_permission_use),
        )
        .route(
            "/api/v1/keys/{id}/permissions/restrict",
            post(rest::restrict_key_permissions),
        )
        .route("/api/v1/permissions", get(rest::get_catalog))
        .route(
            "/api/v1/permissions/{name}",
            put(rest::put_permission).delete(rest::delete_permission),
        )
        .route(
            "/api/v1/roles/{name}",
            put(rest::put_role).delete(rest::delete_role),
        )
        .route(
            "/api/v1/route-rules",
            get(rest::get_route_rules).put(rest::set_route_rules),
        )
        // A document of up to `MAX_DOCUMENT`, in its JSON wrapper: more than other bodies.
        .route(
            "/api/v1/route-rules/import",
            post(rest::import_openapi).layer(axum::extract::DefaultBodyLimit::max(
                app::permissions::openapi::MAX_DOCUMENT + 4096,
            )),
        )
        .route(
            "/api/v1/upstreams",
            get(rest::get_upstreams).put(rest::set_upstreams),
        )
        .route(
            "/api/v1/policy",
            get(rest::get_policy).put(rest::set_policy),
        )
        .route("/api/v1/verify", post(rest::verify))
        .route(
            "/api/v1/webhooks",
            get(webhooks::list_endpoints).post(webhooks::create_endpoint),
        )
        .route(
            "/api/v1/webhooks/deliveries",
            get(webhooks::list_deliveries),
        )
        .route("/api/v1/webhooks/{id}", delete(webhooks::delete_endpoint))
        .route("/api/v1/webhooks/{id}/test", post(webhooks::test_endpoint))
        // Anything else under the prefix is the API's own JSON 404, not the 404 page.
        .route("/api/v1", any(not_found))
        .route("/api/v1/", any(not_found))
        .route("/api/v1/{*rest}", any(not_found))
}

async fn not_found() -> error::ApiError {
    error::ApiError::NotFound
}

/// `/gw/*`: keys only, so it sits outside the session layer.
pub fn gateway_routes() -> Router<ServerState> {
    Router::new()
        .route("/gw", any(gateway::forward))
        .route("/gw/", any(gateway::forward))
        .route("/gw/{*path}", any(gateway::forward))
}

/// The OpenAPI document and Swagger UI, bundled into the binary at build time.
pub fn docs_routes() -> Router<ServerState> {
    let config = utoipa_swagger_ui::Config::from(OPENAPI_PATH)
        .try_it_out_enabled(true)
        .display_request_duration(true);
    Router::new().merge(
        SwaggerUi::new("/docs")
            .url(OPENAPI_PATH, ApiDoc::openapi())
            .config(config),
    )
}
