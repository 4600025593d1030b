//! The HTTP surface: pages, server functions, health checks and the middleware every
//! response goes through (sessions, cross-site refusal, security headers, request log).

use std::time::{Duration, Instant};

use app::auth::session::IDLE_TIMEOUT_SECS;
use app::auth::session_store::DbSessionStore;
use app::state::AppState;
use app::{App, shell};
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::{HeaderValue, Method, StatusCode, header};
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tower_http::CompressionLevel;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::services::ServeDir;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::api;
use crate::config::Config;
use crate::health::{self, Health};
use crate::state::{SECURE_SESSION_COOKIE, SESSION_COOKIE, ServerState, Shared};
use crate::upstream::Gateway;
use std::sync::Arc;

/// T2: CORS is off unless origins are configured, and then only those exact origins may
/// read responses. No credentials (cookies) are ever allowed cross-origin: browsers
/// calling from another origin send a key header.
fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::DELETE,
                Method::PUT,
                Method::PATCH,
            ])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                api::auth::X_API_KEY,
            ])
            // Browser callers may read when their key stops working.
            .expose_headers([api::auth::KEY_EXPIRES_HEADER])
            .max_age(Duration::from_secs(600)),
    )
}

/// Largest request body accepted (forms, server-function arguments and REST bodies are
/// small; the gateway streams and is not limited by this).
pub const BODY_LIMIT: usize = 64 * 1024;

/// The whole application router.
pub fn router(app: AppState, leptos_options: LeptosOptions, config: &Config) -> Router {
    let cookie_secure = config.cookie_secure;
    let gateway = Gateway::new(
        config.upstream.clone(),
        config.upstream_timeout,
        config.upstream_ca.as_deref(),
        config.upstream_hosts.clone(),
    );
    // Before the state is shared: the pages check upstream URLs as the REST API does.
    let mut app = app;
    app.upstream_check = gateway.url_check();
    app.fetch_document = gateway.document_fetch();
    let routes = generate_route_list(App);
    let context = {
        let app = app.clone();
        move || provide_context(app.clone())
    };
    let sessions = SessionManagerLayer::new(DbSessionStore::new(app.db.clone()))
        // The `__Host-` prefix makes the browser insist on Secure, Path=/ and no Domain (S1).
        .with_name(if cookie_secure {
            SECURE_SESSION_COOKIE
        } else {
            SESSION_COOKIE
        })
        .with_secure(cookie_secure)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_path("/")
        // Saved when changed: `app::auth::session::user_id` changes an active session once
        // a minute, which moves its idle expiry forward (S4) without a write per request.
        .with_expiry(Expiry::OnInactivity(time::Duration::seconds(
            IDLE_TIMEOUT_SECS,
        )));
    // Where a form posted without script and refused waits for its page, and the
    // renderer of the pages that answer one directly.
    let plain_forms = crate::plain_forms::PlainForms {
        cookie: crate::plain_forms::FlashCookie::new(&app.secret, cookie_secure),
        render: Arc::new(leptos_axum::render_app_async_with_context(
            context.clone(),
            {
                let options = leptos_options.clone();
                move || shell(options.clone())
            },
        )),
    };
    let pkg_dir =
        std::path::Path::new(&*leptos_options.site_root).join(&*leptos_options.site_pkg_dir);
    let health = Health::new(config.sqlite_file());
    health.spawn(app.db.clone());
    let state = ServerState(Arc::new(Shared {
        leptos_options: leptos_options.clone(),
        app,
        gateway,
        health: health.clone(),
    }));
    let cors = cors_layer(&config.cors_origins);
    // A key caller sends no cookie, and a request without one has no session to read:
    // the API takes the session layer only for requests that carry a cookie.
    let mut rest = api::rest_routes().layer(WhenCookie(sessions.clone()));
    let mut gateway = api::gateway_routes();
    if let Some(cors) = cors {
        rest = rest.layer(cors.clone());
        gateway = gateway.layer(cors);
    }

    let site_root = std::path::PathBuf::from(&*leptos_options.site_root);
    let not_found = not_found_page(context.clone(), leptos_options.clone());
    // The pages, compressed as they are sent (the bundle is compressed at build time; API
    // answers are small JSON and not worth the layer's cost per request).
    let pages = Router::new()
        .route(app::orgs::ui::SWITCH_PATH, get(switch_org))
        .leptos_routes_with_context(&state, routes, context.clone(), move || {
            shell(leptos_options.clone())
        })
        // Files of `public/` (copied to the site root by the build), else the 404 page.
        // Not leptos_axum's `file_and_error_handler`: for a file it calls `use_context`
        // for `ResponseOptions` under whatever reactive owner the worker thread last
        // held, finds a page rendering on that thread and takes that page's headers (its
        // CSP nonce), so the page never hydrated.
        .fallback_service(
            ServeDir::new(site_root)
                .precompressed_br()
                .precompressed_gzip()
                .call_fallback_on_method_not_allowed(true)
                .fallback(not_found),
        )
        .layer(page_compression())
        // Inside the router-wide body limit, so it wins for the one form that needs more.
        .layer(middleware::from_fn(openapi_review_limit));
    Router::new()
        .merge(api::docs_routes())
        .route("/rpc/{*name}", post(server_fn_handler))
        .merge(pages)
        // Inside the session layer: reads the session's CSRF token for the pages and
        // checks it on server functions (T4).
        .layer(middleware::from_fn_with_state(
            plain_forms,
            crate::csrf::guard,
        ))
        .layer(sessions)
        // Neither the probes nor the gateway (which takes keys only) read or write a
        // session.
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(rest)
        .merge(gateway)
        // The compiled bundle (wasm, js, css) needs no session: served outside the session
        // layer, a logged-in browser's asset requests neither read nor rewrite its session.
        // Precompressed by the build (`.br`, `.gz` beside each file), chosen by
        // Accept-Encoding (`edge` adds `Vary: Accept-Encoding`).
        .nest_service(
            "/pkg",
            ServeDir::new(pkg_dir)
                .precompressed_br()
                .precompressed_gzip(),
        )
        // Everything every request goes through, in one middleware, and the body limit
        // its extractors see (see `edge`).
        .layer(
            tower::ServiceBuilder::new()
                .layer(middleware::from_fn_with_state(
                    Arc::new(Edge {
                        trusted_proxies: config.trusted_proxies.clone(),
                        health,
                        public_origin: config.public_origin.clone(),
                        https: cookie_secure,
                    }),
                    edge,
                ))
                .layer(DefaultBodyLimit::max(BODY_LIMIT)),
        )
        .with_state(state)
}

/// `L` (the session layer) for requests that carry a `Cookie` header; the routes as they
/// are for requests that do not. For routes that only read a session (the API's key
/// extractor falls back to the browser's session), no cookie means no session either
/// way, and skipping the layer saves its per-request cost: a session handle, a cookie
/// jar, a span and two boxed futures.
#[derive(Clone)]
struct WhenCookie<L>(L);

impl<L: tower::Layer<S>, S: Clone> tower::Layer<S> for WhenCookie<L> {
    type Service = WhenCookieService<L::Service, S>;

    fn layer(&self, inner: S) -> Self::Service {
        WhenCookieService {
            with: Arc::new(self.0.layer(inner.clone())),
            without: inner,
        }
    }
}

/// See [`WhenCookie`]. The session-wrapped routes are shared, and copied only for a
/// request that takes them: axum copies a route's whole service for every request it
/// routes, and copying them costs an allocation.
#[derive(Clone)]
struct WhenCookieService<A, B> {
    with: Arc<A>,
    without: B,
}

impl<A, B> tower::Service<Request> for WhenCookieService<A, B>
where
    A: tower::Service<Request, Response = Response, Error = std::convert::Infallible> + Clone,
    B: tower::Service<Request, Response = Response, Error = std::convert::Infallible>,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = futures_util::future::Either<tower::util::Oneshot<A, Request>, B::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        // The copy made for a request with a cookie is made ready by its `Oneshot`.
        self.without.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        use tower::ServiceExt as _;
        if request.headers().contains_key(header::COOKIE) {
            futures_util::future::Either::Left(A::clone(&self.with).oneshot(request))
        } else {
            futures_util::future::Either::Right(self.without.call(request))
        }
    }
}

/// Brotli or gzip, as the browser accepts, for HTML pages only: the bundle under `/pkg` is
/// compressed at build time, the API's answers are small, and the gateway passes upstream
/// answers on as they came. A keys page of 25 rows carries each row's island props (its
/// actions' state), so its HTML is tens of KB; at quality 4 it shrinks about sevenfold for
/// well under a millisecond.
fn page_compression() -> CompressionLayer<impl tower_http::compression::Predicate> {
    CompressionLayer::new()
        .quality(CompressionLevel::Precise(4))
        .compress_when(
            |_: StatusCode, _: http::Version, headers: &http::HeaderMap, _: &http::Extensions| {
                headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with("text/html"))
            },
        )
}

/// The 404 page, rendered like every other page (its own request context and CSP).
fn not_found_page(
    context: impl Fn() + Clone + Send + Sync + 'static,
    options: LeptosOptions,
) -> impl tower::Service<
    Request<Body>,
    Response = Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone
+ Send
+ 'static {
    let render =
        leptos_axum::render_app_async_with_context(context, move || shell(options.clone()));
    tower::service_fn(move |request: Request<Body>| {
        let page = render(request);
        async move {
            let mut response = page.await;
            if response.status() == StatusCode::OK {
                *response.status_mut() = StatusCode::NOT_FOUND;
            }
            Ok(response)
        }
    })
}

/// The OpenAPI review form's larger body limit (`MAX_FORM_BODY`); every other
/// request of the pages' router keeps [`BODY_LIMIT`]. (Leptos registers each server
/// function's own route, so the limit cannot be a route of its own.)
async fn openapi_review_limit(request: Request, next: Next) -> Response {
    use app::permissions::openapi::MAX_FORM_BODY;
    use leptos::server_fn::ServerFn;
    use tower::{Layer, ServiceExt};
    if request.uri().path() != app::permissions::rpc::ReviewOpenapi::PATH {
        return next.run(request).await;
    }
    match DefaultBodyLimit::max(MAX_FORM_BODY)
        .layer(next)
        .oneshot(request)
        .await
    {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

async fn server_fn_handler(
    State(app): State<AppState>,
    request: Request<Body>,
) -> impl IntoResponse {
    leptos_axum::handle_server_fns_with_context(move || provide_context(app.clone()), request).await
}

/// The organization switcher's form without script: to the same settings page of the
/// chosen organization (which answers for itself whether the visitor may see it), or to
/// the list of organizations when the form was not the switcher's.
async fn switch_org(
    axum::extract::Query(form): axum::extract::Query<Vec<(String, String)>>,
) -> Response {
    let field = |name: &str| {
        form.iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    };
    let target = app::orgs::ui::switch_target(field("org"), field("section"))
        .unwrap_or_else(|| "/orgs".into());
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(&target) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// The process is up.
async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "ok" }))
}

/// The database answers (and, for SQLite, is still the file that was opened): 200,
/// otherwise 503 (never a false 200).
async fn readyz(
    State(app): State<AppState>,
    State(health): State<Arc<Health>>,
) -> impl IntoResponse {
    match health.probe(&app.db).await {
        Ok(()) => (
            StatusCode::OK,
            Json(serde_json::json!({ "status": "ready" })),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "status": "unavailable" })),
            )
        }
    }
}

/// The 403 for a state-changing request sent by another site (S6): `Sec-Fetch-Site:
/// cross-site`, or an `Origin` that is not this server's own. SameSite=Lax cookies already
/// stop most of these; this also covers same-site subdomains and old browsers.
/// With `KEYGATE_PUBLIC_URL` set, `Origin` must be that origin (scheme, host and port);
/// otherwise it must name the `Host` the request was sent to.
fn cross_site_refusal(request: &Request, public_origin: Option<&str>) -> Option<Response> {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    // An API or gateway request carrying a key header is authenticated by that key, which
    // another site cannot send on the user's behalf: only ambient cookies need this check.
    // Server functions never take keys, so they are always checked.
    let path = request.uri().path();
    let keyed = (path.starts_with("/api/") || path == "/gw" || path.starts_with("/gw/"))
        && !matches!(
            api::auth::presented(request.headers()),
            api::auth::Presented::Nothing
        );
    if safe || keyed || !is_cross_site(request.headers(), public_origin) {
        return None;
    }
    let body =
        serde_json::json!({ "error": "forbidden", "message": "Cross-site requests are refused." });
    Some((StatusCode::FORBIDDEN, Json(body)).into_response())
}

fn is_cross_site(headers: &http::HeaderMap, public_origin: Option<&str>) -> bool {
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
    {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let Ok(origin) = origin.to_str() else {
        return true;
    };
    if let Some(public) = public_origin {
        return !origin.eq_ignore_ascii_case(public);
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    match (origin_host, host) {
        (Some(origin_host), Some(host)) => !origin_host.eq_ignore_ascii_case(host),
        _ => true,
    }
}

/// What every request goes through, in this order: its client address is recorded
/// (`crate::client_addr`); while the database is down it gets a 503 (`health`, R4); a
/// state-changing request from another site gets a 403 (S6); the answer gets the security
/// headers (T1); a request that presented a key has its outcome counted on it and gets
/// the key's headers (`api::auth::KeySlot`); and one line is logged.
///
/// One middleware rather than one per concern: axum clones everything below a layer,
/// boxes a future and boxes a `Next` for every request at every layer, and with five
/// layers that was a tenth of the server's CPU for `/healthz` (see docs/performance.md).
async fn edge(State(edge): State<Arc<Edge>>, mut request: Request, next: Next) -> Response {
    // The request line is captured only when it is going to be logged.
    let logged = tracing::enabled!(target: "keygate::http", tracing::Level::INFO).then(|| {
        (
            Instant::now(),
            request.method().clone(),
            request.uri().path().to_owned(),
        )
    });
    crate::client_addr::record(&edge.trusted_proxies, &mut request);
    let key = api::auth::KeySlot::attach(&mut request);
    let mut response = match health::refusal(&edge.health, request.uri().path()) {
        Some(unavailable) => unavailable,
        None => secured(&edge, request, next).await,
    };
    if let Some(key) = key {
        response = key.settle(response);
    }
    if let Some((started, method, path)) = logged {
        log_request(&method, &path, &response, started);
    }
    response
}

/// See [`edge`].
struct Edge {
    trusted_proxies: crate::client_addr::TrustedProxies,
    health: Arc<Health>,
    public_origin: Option<String>,
    /// Served over HTTPS (`KEYGATE_COOKIE_SECURE`): HSTS too.
    https: bool,
}

/// The cross-site refusal (S6) and, on whatever is answered, the security headers (T1):
/// a restrictive CSP, no sniffing, no framing, a strict referrer policy; HSTS when the
/// deployment says it is served over HTTPS. Pages and RPC answers are never cached.
async fn secured(edge: &Edge, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let is_asset = path.starts_with("/pkg/");
    let hashed_asset = is_asset && is_hashed_asset(path);
    // The gateway passes the upstream's answer through as it is.
    let is_gateway = path == "/gw" || path.starts_with("/gw/");
    let mut response = match cross_site_refusal(&request, edge.public_origin.as_deref()) {
        Some(refused) => refused,
        None => next.run(request).await,
    };
    if is_gateway {
        return response;
    }
    let https = edge.https;
    let success = response.status().is_success();
    let headers = response.headers_mut();
    let set = |headers: &mut http::HeaderMap, name: header::HeaderName, value: &'static str| {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        // Pages set their own, with the nonce of their inline hydration script
        // (`app::ssr::page_csp`); everything else allows no inline script at all.
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    );
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(
        headers,
        header::REFERRER_POLICY,
        "strict-origin-when-cross-origin",
    );
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    if https {
        set(
            headers,
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=63072000; includeSubDomains",
        );
    }
    if !is_asset {
        set(headers, header::CACHE_CONTROL, "no-store");
    } else if success {
        // A content-hashed name never changes content: cache it for a year. Anything
        // else in the bundle is revalidated on each use.
        let policy = if hashed_asset {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        set(headers, header::CACHE_CONTROL, policy);
        // The same URL is sent brotli, gzip or plain: caches must key on the encoding.
        set(headers, header::VARY, "accept-encoding");
    }
    response
}

/// `name.<hash>.ext` (optionally `.br`/`.gz`) as cargo-leptos names hashed files: the
/// hash is 22 characters of unpadded base64url (an MD5).
fn is_hashed_asset(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or_default();
    let file = file
        .strip_suffix(".br")
        .or_else(|| file.strip_suffix(".gz"))
        .unwrap_or(file);
    let mut parts = file.rsplit('.');
    let (Some(_ext), Some(hash), Some(stem)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !stem.is_empty()
        && hash.len() == 22
        && hash
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// One line per request: method, path (never the query string, which could carry a
/// credential someone pasted there), status, the API error code if any, and duration.
fn log_request(method: &Method, path: &str, response: &Response, started: Instant) {
    let status = response.status().as_u16();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    // An API error says why, e.g. `key_paused` or `key_expired` (never which key).
    match response.extensions().get::<api::error::ErrorCode>() {
        Some(code) => tracing::info!(
            target: "keygate::http", %method, path = %path, status, error = code.0, ms, "request"
        ),
        None => {
            tracing::info!(target: "keygate::http", %method, path = %path, status, ms, "request")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> http::HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    http::HeaderName::from_static(k),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn same_origin_and_originless_requests_pass() {
        assert!(!is_cross_site(
            &headers(&[("host", "127.0.0.1:3000")]),
            None
        ));
        assert!(!is_cross_site(
            &headers(&[
                ("host", "127.0.0.1:3000"),
                ("origin", "http://127.0.0.1:3000")
            ]),
            None
        ));
        assert!(!is_cross_site(
            &headers(&[("host", "k.example"), ("sec-fetch-site", "same-origin")]),
            None
        ));
    }

    #[test]
    fn only_content_hashed_names_are_immutable() {
        assert!(is_hashed_asset("/pkg/keygate.0a1B2c3D4e5F6g7H8i9J-_.wasm"));
        assert!(is_hashed_asset(
            "/pkg/keygate.0a1B2c3D4e5F6g7H8i9J-_.wasm.br"
        ));
        assert!(is_hashed_asset(
            "/pkg/keygate.0a1B2c3D4e5F6g7H8i9J-_.css.gz"
        ));
        assert!(!is_hashed_asset("/pkg/keygate.wasm"));
        assert!(!is_hashed_asset("/pkg/keygate_bg.wasm.br"));
        assert!(!is_hashed_asset("/pkg/keygate.short.js"));
        assert!(!is_hashed_asset("/pkg/.0a1B2c3D4e5F6g7H8i9J-_.js"));
        assert!(!is_hashed_asset("/pkg/keygate.0a1B2c3D4e5F6g7H8i9J!_.js"));
    }

    #[test]
    fn a_public_url_replaces_the_host_header() {
        let public = Some("https://keys.example.com");
        // A proxy rewrote Host to the backend's address: the public origin still matches.
        assert!(!is_cross_site(
            &headers(&[
                ("host", "10.0.0.5:3000"),
                ("origin", "https://keys.example.com")
            ]),
            public
        ));
        // An origin that only matches the Host header is not the public one.
        assert!(is_cross_site(
            &headers(&[
                ("host", "10.0.0.5:3000"),
                ("origin", "http://10.0.0.5:3000")
            ]),
            public
        ));
        assert!(is_cross_site(
            &headers(&[
                ("host", "keys.example.com"),
                ("origin", "http://keys.example.com")
            ]),
            public
        ));
        assert!(is_cross_site(
            &headers(&[
                ("host", "keys.example.com"),
                ("origin", "https://keys.example.com:8443")
            ]),
            public
        ));
    }

    #[test]
    fn foreign_origins_are_refused() {
        assert!(is_cross_site(
            &headers(&[
                ("host", "127.0.0.1:3000"),
                ("origin", "http://evil.example")
            ]),
            None
        ));
        assert!(is_cross_site(
            &headers(&[("host", "127.0.0.1:3000"), ("origin", "null")]),
            None
        ));
        assert!(is_cross_site(
            &headers(&[
                ("host", "127.0.0.1:3000"),
                ("origin", "http://127.0.0.1:3001")
            ]),
            None
        ));
        assert!(is_cross_site(
            &headers(&[("host", "127.0.0.1:3000"), ("sec-fetch-site", "cross-site")]),
            None
        ));
    }
}
