//! Test harness: a fresh database per test (a SQLite file in a temp dir, or a new
//! PostgreSQL database), the real server on a free port, and a cookie-keeping client
//! that calls server functions the way the browser does.
#![allow(dead_code)]

pub mod api;
pub mod process;
pub mod wait;

pub use wait::{WAIT_LIMIT, eventually};

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::Value;
use server::config::Config;

/// Where tests create their PostgreSQL databases (any database on the server works).
fn postgres_admin_url() -> String {
    std::env::var("KEYGATE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// What tests need from outside their process, told by their names, so that the test
/// command can leave out (`cargo test -- --skip <pattern>`) the ones whose service is not
/// there and report them as skipped. A test run without its service fails: a skipped
/// test must never be counted as passed. `.ci/test.sh` reads this table.
///
/// - `postgres::` (the second half of [`on_both_databases!`]) and `postgres_only::`:
///   PostgreSQL at `KEYGATE_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`);
/// - `redis::`: Redis at 127.0.0.1:6379 and the `redis-server` binary.
pub const NEEDS: &[(&str, &str)] = &[
    ("postgres::", "PostgreSQL"),
    ("postgres_only::", "PostgreSQL"),
    ("redis::", "Redis"),
];

pub struct TestDb {
    pub url: String,
    dir: tempfile::TempDir,
    postgres_name: Option<String>,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("keygate.db").display()
        );
        TestDb {
            url,
            dir,
            postgres_name: None,
        }
    }

    /// A new, empty PostgreSQL database. A test that needs PostgreSQL and cannot reach it
    /// fails, naming the way out: it is never reported as passed. The test command leaves
    /// such tests out by name when no server is reachable (outside CI), and reports them
    /// as skipped, with their count and the reason (see [`NEEDS`]).
    pub async fn postgres() -> TestDb {
        let admin_url = postgres_admin_url();
        let admin = match Database::connect(admin_url.as_str()).await {
            Ok(admin) => admin,
            Err(e) => panic!(
                "PostgreSQL is not reachable at {admin_url} ({e}): start it, set \
                 KEYGATE_TEST_POSTGRES_URL, or leave these tests out with `cargo test -- \
                 --skip postgres:: --skip postgres_only::` (.ci/test.sh does that, and \
                 reports them as skipped)"
            ),
        };
        let name = format!("keygate_test_{}", app::ssr::random_id("db").to_lowercase());
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap();
        let base = admin_url.rsplit_once('/').map(|(b, _)| b).unwrap();
        TestDb {
            url: format!("{base}/{name}"),
            dir: tempfile::tempdir().unwrap(),
            postgres_name: Some(name),
        }
    }

    /// The PostgreSQL database's name (`None` on SQLite).
    pub fn postgres_name(&self) -> Option<&str> {
        self.postgres_name.as_deref()
    }

    /// A connection to the PostgreSQL server's administrative database.
    pub async fn postgres_admin() -> DatabaseConnection {
        Database::connect(postgres_admin_url().as_str())
            .await
            .unwrap()
    }

    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub fn config(&self) -> Config {
        self.config_with(&[])
    }

    /// The test configuration plus `extra` `KEYGATE_*` variables.
    pub fn config_with(&self, extra: &[(&str, &str)]) -> Config {
        let data_dir = self.dir.path().to_str().unwrap().to_owned();
        let url = self.url.clone();
        Config::from_lookup(|name| {
            if let Some((_, value)) = extra.iter().find(|(k, _)| *k == name) {
                return Some((*value).to_owned());
            }
            match name {
                "KEYGATE_ADDR" => Some("127.0.0.1:0".into()),
                "KEYGATE_DATA_DIR" => Some(data_dir.clone()),
                "KEYGATE_DATABASE_URL" => Some(url.clone()),
                "KEYGATE_SITE_ROOT" => Some(format!("{data_dir}/site")),
                // Tests sign many people up from one address.
                "KEYGATE_SIGNUP_LIMIT" => Some("1000".into()),
                _ => None,
            }
        })
        .unwrap()
    }

    /// The `keygate` binary (for a one-shot CLI command) on this database and data
    /// directory, as a test server started on it sees them: the same secret (the one in
    /// the data directory) and nothing else from the tests' environment.
    pub fn keygate(&self) -> std::process::Command {
        let mut command = std::process::Command::new(process::BIN);
        command
            .env_clear()
            .env("KEYGATE_DATA_DIR", self.data_dir())
            .env("KEYGATE_DATABASE_URL", &self.url);
        command
    }

    /// The migrated database, as the server would open it.
    pub async fn connect(&self) -> DatabaseConnection {
        server::db::connect(&self.config()).await.unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else {
            return;
        };
        // Async drop does not exist: drop the database from a short-lived runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(admin) = Database::connect(postgres_admin_url().as_str()).await {
                    let _ = admin
                        .execute_unprepared(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .await;
                }
            });
        })
        .join();
    }
}

/// Moves the expiry of the key `key_id` a minute into the past, in the database, as time
/// would.
pub async fn expire_key(db: &DatabaseConnection, key_id: &str) {
    use app::entities::api_key;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    let result = api_key::Entity::update_many()
        .col_expr(
            api_key::Column::ExpiresAt,
            Expr::value(chrono::Utc::now() - chrono::Duration::minutes(1)),
        )
        .filter(api_key::Column::Id.eq(key_id))
        .exec(db)
        .await
        .unwrap();
    assert_eq!(result.rows_affected, 1, "no key {key_id} to expire");
}

/// Runs an async test body once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::common::within_time_limit(
                        concat!("sqlite::", stringify!($name)),
                        async { super::$name($crate::common::TestDb::sqlite().await).await },
                    )
                    .await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::common::TestDb::postgres().await;
                    $crate::common::within_time_limit(
                        concat!("postgres::", stringify!($name)),
                        super::$name(db),
                    )
                    .await;
                }
            )*
        }
    };
}

/// The longest any test request may take: far beyond any answer, short of a hung run.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A plain HTTP client (no cookies) whose requests time out after [`REQUEST_TIMEOUT`]:
/// every client a test builds must have a timeout, so a hung request fails its test.
pub fn http() -> reqwest::Client {
    http_builder().build().unwrap()
}

/// [`http`]'s builder, for a test that needs more (a cookie jar, no redirects, ...).
pub fn http_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().timeout(REQUEST_TIMEOUT)
}

/// The longest one test on one database may take.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(300);

/// Runs a test body with [`TEST_TIMEOUT`]: a test stuck on anything fails, naming itself.
pub async fn within_time_limit(name: &str, test: impl std::future::Future<Output = ()>) {
    if tokio::time::timeout(TEST_TIMEOUT, test).await.is_err() {
        panic!("{name} did not finish within {TEST_TIMEOUT:?}");
    }
}

pub struct TestServer {
    pub base: String,
    /// Set when the server runs as the real binary in a process of its own.
    process: Option<process::Running>,
    pub db: TestDb,
    /// The extra `KEYGATE_*` variables it was started with; other instances get them too.
    extra: Vec<(String, String)>,
}

impl TestServer {
    pub async fn start(db: TestDb) -> TestServer {
        Self::start_with(db, &[]).await
    }

    /// Starts the server with extra `KEYGATE_*` variables.
    pub async fn start_with(db: TestDb, extra: &[(&str, &str)]) -> TestServer {
        let base = serve_in_process(db.config_with(extra)).await;
        let extra = extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        TestServer {
            base,
            process: None,
            db,
            extra,
        }
    }

    /// The real binary in a process of its own, for tests that render pages. Leptos's
    /// page rendering, with other Keygate servers starting, serving and stopping in the
    /// same process (the other tests' servers), now and then never answered one page
    /// request (seen about once in 40 runs of the hardening tests; never with one server
    /// per process, as deployed, even under concurrent load). Server functions and the
    /// REST API were never affected.
    pub async fn start_in_own_process(db: TestDb) -> TestServer {
        Self::start_in_own_process_with(db, &[]).await
    }

    /// [`TestServer::start_in_own_process`] with extra `KEYGATE_*` variables.
    pub async fn start_in_own_process_with(db: TestDb, extra: &[(&str, &str)]) -> TestServer {
        let mut vars = vec![("KEYGATE_DATABASE_URL", db.url.as_str())];
        vars.extend_from_slice(extra);
        let running = process::Running::start(db.data_dir(), &vars).await;
        let extra = extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        TestServer {
            base: running.base.clone(),
            process: Some(running),
            db,
            extra,
        }
    }

    /// What the server's process wrote so far (without colours); empty for a server
    /// running in the test's own process.
    pub fn process_output(&self) -> String {
        self.process
            .as_ref()
            .map(process::Running::output)
            .unwrap_or_default()
    }

    /// Another instance on the same database and configuration, as a second machine
    /// would run it; its base URL.
    pub async fn another_instance(&self) -> String {
        let extra: Vec<(&str, &str)> = self
            .extra
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        serve_in_process(self.db.config_with(&extra)).await
    }

    /// Ada, owner of a new organization "Acme", with a key that may read and write keys:
    /// her client, the organization's id and the key.
    pub async fn org_with_admin_key(&self) -> (Client, String, String) {
        let (owner, _) = self.user("Ada").await;
        let org = owner.create_org("Acme").await;
        let (_, admin) = owner
            .create_key(&org, "admin", "gateway keys:read keys:write")
            .await;
        (owner, org, admin)
    }

    /// A new browser-like client with its own cookie jar.
    pub fn client(&self) -> Client {
        browser(&self.base)
    }

    /// A client already signed up and logged in as `name`.
    pub async fn user(&self, name: &str) -> (Client, User) {
        let client = self.client();
        let email = format!("{}@example.com", name.to_lowercase());
        let (status, body) = client
            .call(
                "sign_up",
                &[
                    ("email", &email),
                    ("display_name", name),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "sign up {name}: {body}");
        let user = User {
            id: body["id"].as_str().unwrap().to_owned(),
            email,
        };
        (client, user)
    }
}

/// Serves `config` in this process on a free port; the base URL once it is ready.
/// Starts `server::serve` in this test's runtime with a listener on a free port; its
/// base URL and its task (which ends when `shutdown` resolves and the server has
/// stopped).
pub fn spawn_server(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> (
    String,
    tokio::task::JoinHandle<Result<(), server::StartError>>,
) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        server::serve(config, listener, shutdown).await
    });
    (base, task)
}

/// Serves `app` (an upstream, a webhook receiver) in this test's runtime on a port of
/// its own; its base URL.
pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// An upstream that answers every request with what it received: `{"method", "uri",
/// "headers": {name: value}}`.
pub async fn echo_upstream() -> String {
    async fn echo(request: axum::extract::Request) -> axum::Json<Value> {
        let headers: serde_json::Map<String, Value> = request
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("?").into()))
            .collect();
        axum::Json(serde_json::json!({
            "method": request.method().as_str(),
            "uri": request.uri().to_string(),
            "headers": headers,
        }))
    }
    serve(axum::Router::new().fallback(echo)).await
}

/// Waits until the server at `base` answers `/readyz`.
pub async fn wait_until_ready(base: &str) {
    let probe = http();
    eventually("the test server answers /readyz", WAIT_LIMIT, async || {
        probe
            .get(format!("{base}/readyz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await
}

async fn serve_in_process(config: Config) -> String {
    let (base, task) = spawn_server(config, std::future::pending());
    // A server that fails to start fails its test here, with its error.
    tokio::task::yield_now().await;
    if task.is_finished() {
        match task.await {
            Ok(Err(e)) => panic!("test server failed: {e}"),
            other => panic!("test server stopped: {other:?}"),
        }
    }
    wait_until_ready(&base).await;
    base
}

pub const PASSWORD: &str = "correct horse battery staple";

#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub email: String,
}

/// A new browser-like client of the server at `base`, with its own cookie jar (which
/// sends its cookies to every server on 127.0.0.1, as a browser would to one host).
pub fn browser(base: &str) -> Client {
    Client::new(
        // A request the server never answers fails its test here, with the place it was
        // made, instead of hanging the whole run.
        http_builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        base.to_owned(),
    )
}

/// Clones share the cookie jar, as a browser's tabs do.
#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    /// The session's CSRF token as the pages publish it, read once per session.
    csrf: Arc<Mutex<Option<String>>>,
}

/// The CSRF token a page publishes in `<meta name="csrf-token">`, if it has one.
pub fn csrf_token_in(html: &str) -> Option<String> {
    const META: &str = r#"<meta name="csrf-token" content=""#;
    let start = html.find(META)? + META.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_owned())
}

impl Client {
    pub fn new(http: reqwest::Client, base: String) -> Self {
        Self {
            http,
            base,
            csrf: Arc::default(),
        }
    }

    /// Calls a server function as the hydrated app does: a same-origin form POST
    /// with the page's CSRF token.
    pub async fn call(&self, name: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let response = self.post(name, form).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    pub async fn post(&self, name: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}/rpc/{name}", self.base))
            .header("origin", &self.base)
            .form(form);
        if let Some(token) = self.csrf_token().await {
            request = request.header("x-csrf-token", token);
        }
        let response = request.send().await.unwrap();
        // Logging in or out changes the session, and with it the token.
        if matches!(name, "sign_up" | "log_in" | "log_out") {
            *self.csrf.lock().unwrap() = None;
        }
        response
    }

    /// The session's CSRF token, as whoami tells a browser session (pages publish the
    /// same token, but rendering pages in the tests' process is avoided: see
    /// `start_in_own_process`); `None` when nobody is logged in.
    pub async fn csrf_token(&self) -> Option<String> {
        if let Some(token) = self.csrf.lock().unwrap().clone() {
            return Some(token);
        }
        let who: Value = self.get("/api/v1/whoami").await.json().await.ok()?;
        let token = who["csrf_token"].as_str()?.to_owned();
        *self.csrf.lock().unwrap() = Some(token.clone());
        Some(token)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    /// Creates a key through the keys page's server function; returns (key id, raw key).
    pub async fn create_key(&self, org_id: &str, name: &str, scopes: &str) -> (String, String) {
        let (status, body) = self
            .call(
                "create_api_key",
                &[
                    ("org_id", org_id),
                    ("name", name),
                    ("expiry", "30"),
                    ("scopes", scopes),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "create key: {body}");
        (
            body["key"]["id"].as_str().unwrap().to_owned(),
            body["secret"].as_str().unwrap().to_owned(),
        )
    }

    /// Adds `email` to the organization as `role` (through the members page's server
    /// function), and fails the test if that is refused.
    pub async fn add_member(&self, org_id: &str, email: &str, role: &str) {
        let (status, body) = self
            .call(
                "add_member",
                &[("org_id", org_id), ("email", email), ("role", role)],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "add {email} as {role}: {body}");
    }

    /// A form posted to a server function as a browser without script posts it: the
    /// same origin, this client's cookie, and no `x-csrf-token` header (only what the
    /// form's fields carry).
    pub async fn post_form(&self, name: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}/rpc/{name}", self.base))
            .header("origin", &self.base)
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// Calls the REST API with this client's browser session, as a page's script would:
    /// the same origin and, for a write, the session's CSRF token. The status and the
    /// body as JSON (a JSON string when it is not JSON).
    pub async fn rest(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header("origin", &self.base);
        if method != reqwest::Method::GET
            && let Some(token) = self.csrf_token().await
        {
            request = request.header("x-csrf-token", token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let (status, _, body) = api::send(request).await;
        (status, body)
    }

    /// Creates an organization and returns its id.
    pub async fn create_org(&self, name: &str) -> String {
        let (status, body) = self.call("create_org", &[("name", name)]).await;
        assert_eq!(status, StatusCode::OK, "create org: {body}");
        body["id"].as_str().unwrap().to_owned()
    }
}
