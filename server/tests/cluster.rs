//! Several real `keygate` processes on one database, and the faults a deployment meets
//! (R1-R5), each on a fresh SQLite file and a fresh PostgreSQL database.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::TestDb;
use common::api::whoami_status as whoami;
use common::process::{Running, cli};
use common::{WAIT_LIMIT, eventually};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::Mutex;

/// A data directory and the database URL every instance of one test shares.
struct Cluster {
    db: TestDb,
    dirs: Vec<tempfile::TempDir>,
}

impl Cluster {
    fn new(db: TestDb) -> Self {
        Cluster {
            db,
            dirs: Vec::new(),
        }
    }

    fn url(&self) -> String {
        self.db.url.clone()
    }

    /// Starts one more instance, with its own data directory, on the shared database.
    async fn instance(&mut self, extra: &[(&str, &str)]) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let url = self.url();
        let mut vars = vec![("KEYGATE_DATABASE_URL", url.as_str())];
        vars.extend_from_slice(extra);
        let running = Running::start(dir.path(), &vars).await;
        self.dirs.push(dir);
        running
    }

    /// A user, an org and a key with every scope, made with the CLI; returns the key.
    fn bootstrap(&self) -> (String, String) {
        let dir = tempfile::tempdir().unwrap();
        let url = self.url();
        let vars = [
            ("KEYGATE_DATABASE_URL", url.as_str()),
            ("KEYGATE_PASSWORD", common::PASSWORD),
        ];
        cli(
            dir.path(),
            &vars,
            &[
                "user",
                "create",
                "--email",
                "ops@example.com",
                "--name",
                "Ops",
            ],
        );
        let org = cli(
            dir.path(),
            &vars,
            &[
                "org",
                "create",
                "--name",
                "Acme",
                "--owner",
                "ops@example.com",
            ],
        );
        let key = cli(
            dir.path(),
            &vars,
            &[
                "key",
                "create",
                "--org",
                &org,
                "--name",
                "admin",
                "--scopes",
                "gateway,keys:read,keys:write",
            ],
        );
        (org, key)
    }
}

fn http() -> reqwest::Client {
    common::http_builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap()
}

async fn create(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    name: &str,
) -> Result<(String, String), String> {
    let response = http
        .post(format!("{base}/api/v1/keys"))
        .header("x-api-key", key)
        .json(&json!({"name": name, "scopes": ["gateway"]}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body: Value = response.json().await.map_err(|e| e.to_string())?;
    if status != StatusCode::CREATED {
        return Err(format!("{status}: {body}"));
    }
    Ok((
        body["key"]["id"].as_str().unwrap().to_owned(),
        body["secret"].as_str().unwrap().to_owned(),
    ))
}

/// Waits until `base` refuses `key` (R3 says within a second; the test allows far more,
/// so that a slow machine does not fail it: the time it takes is measured in bench/).
async fn until_refused(http: &reqwest::Client, base: &str, key: &str) {
    eventually(&format!("{base} refuses the key"), WAIT_LIMIT, async || {
        whoami(http, base, key).await == StatusCode::UNAUTHORIZED
    })
    .await
}

async fn sessions_keys_and_revocations_are_shared(db: TestDb) {
    let mut cluster = Cluster::new(db);
    let (org, admin) = cluster.bootstrap();
    let a = cluster.instance(&[]).await;
    let b = cluster.instance(&[]).await;
    let http = http();

    // A session made on A is valid on B (the cookie jar sends it to both).
    let browser = common::browser(&a.base);
    let (status, body) = browser
        .call(
            "sign_up",
            &[
                ("email", "ada@example.com"),
                ("display_name", "Ada"),
                ("password", common::PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let who: Value = browser
        .http
        .get(format!("{}/api/v1/whoami", b.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(who["email"], "ada@example.com", "{who}");

    // Keys made on A work on B at once; revocations on A reach B (on PostgreSQL pushed by
    // NOTIFY, on SQLite read from the event log). 19 revokes and a roll.
    for i in 0..19 {
        let (id, key) = create(&http, &a.base, &admin, &format!("shared {i}"))
            .await
            .unwrap();
        assert_eq!(
            whoami(&http, &b.base, &key).await,
            StatusCode::OK,
            "cached on B now"
        );
        assert_eq!(
            whoami(&http, &a.base, &key).await,
            StatusCode::OK,
            "cached on A now"
        );
        let response = http
            .delete(format!("{}/api/v1/keys/{id}", a.base))
            .header("x-api-key", &admin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            whoami(&http, &a.base, &key).await,
            StatusCode::UNAUTHORIZED,
            "at once on A"
        );
        until_refused(&http, &b.base, &key).await;
    }
    // A roll on B stops the old secret on A too.
    let (id, old) = create(&http, &b.base, &admin, "rolled").await.unwrap();
    assert_eq!(whoami(&http, &a.base, &old).await, StatusCode::OK);
    let rolled: Value = http
        .post(format!("{}/api/v1/keys/{id}/roll", b.base))
        .header("x-api-key", &admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    until_refused(&http, &a.base, &old).await;
    assert_eq!(
        whoami(&http, &a.base, rolled["secret"].as_str().unwrap()).await,
        StatusCode::OK
    );
    let _ = org;
}

/// On PostgreSQL, with the listener's connection cut (and reconnecting made impossible),
/// the event-log poll is the backstop: the other instance still refuses a revoked key
/// (within its backstop interval, well inside R3's second: measured in bench/).
async fn a_cut_listener_falls_back_to_the_poll(db: TestDb) {
    let name = db
        .postgres_name()
        .expect("a PostgreSQL database")
        .to_owned();
    let mut cluster = Cluster::new(db);
    let (_, admin) = cluster.bootstrap();
    let a = cluster.instance(&[]).await;
    let b = cluster.instance(&[]).await;
    let http = http();
    let (id, key) = create(&http, &a.base, &admin, "watched").await.unwrap();
    // A few requests at once on both, so each pool holds open connections to work with
    // once new ones are refused.
    let warm: Vec<_> = (0..6)
        .map(|i| {
            let (http, base, key) = (
                http.clone(),
                [&a.base, &b.base][i % 2].clone(),
                admin.clone(),
            );
            tokio::spawn(async move { whoami(&http, &base, &key).await })
        })
        .collect();
    for task in warm {
        assert_eq!(task.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(whoami(&http, &b.base, &key).await, StatusCode::OK);

    let pg = TestDb::postgres_admin().await;
    use sea_orm::ConnectionTrait;
    pg.execute_unprepared(&format!(
        "ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS false"
    ))
    .await
    .unwrap();
    let cut = pg
        .query_all(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!(
                "SELECT pg_terminate_backend(pid) AS cut FROM pg_stat_activity \
                 WHERE datname = '{name}' AND query LIKE 'LISTEN%'"
            ),
        ))
        .await
        .unwrap();
    assert_eq!(cut.len(), 2, "one listener per instance");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let response = http
        .delete(format!("{}/api/v1/keys/{id}", a.base))
        .header("x-api-key", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    until_refused(&http, &b.base, &key).await;
    pg.execute_unprepared(&format!(
        "ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS true"
    ))
    .await
    .unwrap();
}

async fn kill_9_keeps_every_key_that_was_shown(db: TestDb) {
    let mut cluster = Cluster::new(db);
    let (_, admin) = cluster.bootstrap();
    let server = cluster.instance(&[]).await;
    let shown: Arc<Mutex<Vec<String>>> = Arc::default();
    // Set just before the kill: from then on a failed creation is expected; before it,
    // one fails the test at once (not after its time limit).
    let killing = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (base, admin, shown, killing) = (
            server.base.clone(),
            admin.clone(),
            shown.clone(),
            killing.clone(),
        );
        writers.push(tokio::spawn(async move {
            let http = http();
            for i in 0.. {
                match create(&http, &base, &admin, &format!("w{w} k{i}")).await {
                    Ok((_, key)) => shown.lock().await.push(key),
                    Err(_) if killing.load(Ordering::SeqCst) => return, // the server is gone
                    Err(e) => panic!("writer {w}: creation {i} failed before the kill: {e}"),
                }
            }
        }));
    }
    eventually("40 keys shown", WAIT_LIMIT, async || {
        if let Some(writer) = writers.iter_mut().find(|w| w.is_finished()) {
            // Only a panic ends a writer before the kill: this re-raises it.
            writer.await.unwrap();
            panic!("a writer stopped before the kill");
        }
        shown.lock().await.len() >= 40
    })
    .await;
    // Killed with creations in flight.
    killing.store(true, Ordering::SeqCst);
    server.kill9();
    for w in writers {
        w.await.unwrap();
    }
    let shown = shown.lock().await.clone();
    let restarted = cluster.instance(&[]).await;
    let http = http();
    for key in &shown {
        assert_eq!(
            whoami(&http, &restarted.base, key).await,
            StatusCode::OK,
            "R2: a shown key was lost"
        );
    }
    println!(
        "kill -9 after {} keys were shown: all verify after restart",
        shown.len()
    );
}

async fn parallel_creates_and_revokes_on_two_instances_lose_nothing(db: TestDb) {
    let mut cluster = Cluster::new(db);
    let (_, admin) = cluster.bootstrap();
    // 500 checks of revoked keys from one address would otherwise be throttled (K7).
    let limit = [("KEYGATE_AUTH_FAILURE_LIMIT", "100000")];
    let a = cluster.instance(&limit).await;
    let b = cluster.instance(&limit).await;
    let http = http();
    let bases = [a.base.clone(), b.base.clone()];

    let creates = (0..500).map(|i| {
        let (http, base, admin) = (http.clone(), bases[i % 2].clone(), admin.clone());
        tokio::spawn(async move { create(&http, &base, &admin, &format!("parallel {i}")).await })
    });
    let mut created = Vec::new();
    for task in creates.collect::<Vec<_>>() {
        created.push(task.await.unwrap().expect("every create succeeds"));
    }
    let revokes = created
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
        .map(|(i, (id, _))| {
            let (http, base, admin, id) = (
                http.clone(),
                bases[(i / 2) % 2].clone(),
                admin.clone(),
                id.clone(),
            );
            tokio::spawn(async move {
                http.delete(format!("{base}/api/v1/keys/{id}"))
                    .header("x-api-key", &admin)
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        });
    for task in revokes.collect::<Vec<_>>() {
        assert_eq!(task.await.unwrap(), StatusCode::NO_CONTENT);
    }

    // Counts and states, from the database through the API of either instance.
    let mut statuses = std::collections::HashMap::<String, String>::new();
    for page in 1..=30 {
        let list: Value = http
            .get(format!("{}/api/v1/keys?page={page}", bases[page % 2]))
            .header("x-api-key", &admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for key in list["keys"].as_array().unwrap() {
            statuses.insert(
                key["id"].as_str().unwrap().into(),
                key["status"].as_str().unwrap().into(),
            );
        }
        if list["page"] == list["pages"] {
            assert_eq!(list["total"], 501, "500 created + the admin key");
            break;
        }
    }
    assert_eq!(statuses.len(), 501);
    assert_eq!(statuses.values().filter(|s| *s == "revoked").count(), 250);
    for (i, (id, key)) in created.iter().enumerate() {
        let expected = if i % 2 == 0 { "revoked" } else { "active" };
        assert_eq!(statuses[id], expected, "{id}");
        let code = if i % 2 == 0 {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::OK
        };
        for base in &bases {
            // A revocation made on the other instance reaches this one soon after.
            eventually(
                &format!("{id} answers {code} on {base}"),
                WAIT_LIMIT,
                async || {
                    let got = whoami(&http, base, key).await;
                    if got == code { Ok(()) } else { Err(got) }
                },
            )
            .await;
        }
    }
}

/// A TCP proxy to PostgreSQL that the test can cut (every connection dropped, new ones
/// refused) and restore.
struct Proxy {
    port: u16,
    cut: Arc<AtomicBool>,
    links: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let links: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (c, l) = (cut.clone(), links.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if c.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                l.lock().unwrap().push(link);
            }
        });
        Proxy { port, cut, links }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

async fn status_of(
    http: &reqwest::Client,
    request: reqwest::RequestBuilder,
) -> (StatusCode, String) {
    let _ = http;
    match request.send().await {
        Ok(r) => {
            let status = r.status();
            (status, r.text().await.unwrap_or_default())
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()),
    }
}

async fn a_lost_database_means_503_then_service_resumes(db: TestDb) {
    let cluster = Cluster::new(db);
    let (_, admin) = cluster.bootstrap();
    let postgres = !cluster.url().starts_with("sqlite");
    // PostgreSQL is reached through a proxy the test can cut; SQLite's file is moved away.
    let proxy = if postgres {
        Some(Proxy::start("127.0.0.1:5432".into()).await)
    } else {
        None
    };
    let url = match &proxy {
        Some(p) => cluster
            .url()
            .replacen("127.0.0.1:5432", &format!("127.0.0.1:{}", p.port), 1),
        None => cluster.url(),
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(dir.path(), &[("KEYGATE_DATABASE_URL", &url)]).await;
    let http = http();
    assert_eq!(
        whoami(&http, &server.base, &admin).await,
        StatusCode::OK,
        "cached now"
    );

    let file = cluster.db.data_dir().join("keygate.db");
    let away = cluster.db.data_dir().join("keygate.db.away");
    match &proxy {
        Some(p) => p.cut(),
        None => std::fs::rename(&file, &away).unwrap(),
    }
    let ready = format!("{}/readyz", server.base);
    eventually("readyz 503", WAIT_LIMIT, async || {
        status_of(&http, http.get(&ready)).await.0 == StatusCode::SERVICE_UNAVAILABLE
    })
    .await;
    // Authenticated requests: 503 with the generic body, never 200 from the cache, never 500.
    let requests = [
        http.get(format!("{}/api/v1/whoami", server.base))
            .header("x-api-key", &admin),
        http.get(format!("{}/api/v1/keys", server.base))
            .header("authorization", format!("Bearer {admin}")),
        http.post(format!("{}/api/v1/keys", server.base))
            .header("x-api-key", &admin)
            .json(&json!({"name": "during"})),
        http.get(format!("{}/gw/x", server.base))
            .header("x-api-key", &admin),
        http.get(format!("{}/login", server.base)),
    ];
    for request in requests {
        let (status, body) = status_of(&http, request).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(body.contains("\"unavailable\""), "{body}");
        for internal in ["sqlx", "SQL", "Connection", "keygate.db", "postgres"] {
            assert!(!body.contains(internal), "internals in {body}");
        }
    }
    assert_eq!(
        status_of(&http, http.get(format!("{}/healthz", server.base)))
            .await
            .0,
        StatusCode::OK
    );

    match &proxy {
        Some(p) => p.restore(),
        None => std::fs::rename(&away, &file).unwrap(),
    }
    eventually("readyz 200 again", WAIT_LIMIT, async || {
        status_of(&http, http.get(&ready)).await.0 == StatusCode::OK
    })
    .await;
    eventually("whoami 200 again", WAIT_LIMIT, async || {
        whoami(&http, &server.base, &admin).await == StatusCode::OK
    })
    .await;
    create(&http, &server.base, &admin, "after the outage")
        .await
        .unwrap();
    let log = server.stop();
    assert!(
        log.contains("database unavailable"),
        "the outage was logged"
    );
}

/// Rotating the server secret without locking anyone out: with the old secret as
/// `KEYGATE_PREVIOUS_SECRET`, old keys keep working and move to the new secret on first
/// use; afterwards the old secret can go. A key never used during the rotation is lost.
async fn the_secret_rotates_without_locking_anyone_out(db: TestDb) {
    let cluster = Cluster::new(db);
    let (org, admin) = cluster.bootstrap();
    let dir = tempfile::tempdir().unwrap();
    let url = cluster.url();
    let vars = [("KEYGATE_DATABASE_URL", url.as_str())];
    let unused = cli(
        dir.path(),
        &vars,
        &["key", "create", "--org", &org, "--name", "idle"],
    );
    let new_secret = "rotated-secret-0123456789abcdef0123456789abcdef";
    let http = http();

    let rotating = Running::start(
        dir.path(),
        &[
            ("KEYGATE_DATABASE_URL", &url),
            ("KEYGATE_SECRET", new_secret),
            ("KEYGATE_PREVIOUS_SECRET", common::process::SECRET),
        ],
    )
    .await;
    assert_eq!(
        whoami(&http, &rotating.base, &admin).await,
        StatusCode::OK,
        "old key, during"
    );
    let (_, fresh) = create(&http, &rotating.base, &admin, "made during")
        .await
        .unwrap();
    rotating.stop();

    let after = Running::start(
        dir.path(),
        &[
            ("KEYGATE_DATABASE_URL", &url),
            ("KEYGATE_SECRET", new_secret),
        ],
    )
    .await;
    assert_eq!(
        whoami(&http, &after.base, &admin).await,
        StatusCode::OK,
        "moved on first use"
    );
    assert_eq!(
        whoami(&http, &after.base, &fresh).await,
        StatusCode::OK,
        "made under the new secret"
    );
    assert_eq!(
        whoami(&http, &after.base, &unused).await,
        StatusCode::UNAUTHORIZED,
        "a key not used during the rotation stays under the old secret"
    );
}

mod postgres_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cut_listener_falls_back_to_the_poll() {
        let db = crate::common::TestDb::postgres().await;
        crate::common::within_time_limit(
            "postgres_only::a_cut_listener_falls_back_to_the_poll",
            super::a_cut_listener_falls_back_to_the_poll(db),
        )
        .await;
    }
}

on_both_databases!(
    the_secret_rotates_without_locking_anyone_out,
    sessions_keys_and_revocations_are_shared,
    kill_9_keeps_every_key_that_was_shown,
    parallel_creates_and_revokes_on_two_instances_lose_nothing,
    a_lost_database_means_503_then_service_resumes,
);

/// SQLite out of room (`KEYGATE_SQLITE_MAX_SIZE_MB`): creation fails with a clear error,
/// shows no key and leaves no row; every key that was shown still works (R1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sqlite_database_refuses_cleanly() {
    common::within_time_limit("a_full_sqlite_database_refuses_cleanly", async {
        let server = common::TestServer::start_with(
            TestDb::sqlite().await,
            &[("KEYGATE_SQLITE_MAX_SIZE_MB", "1")],
        )
        .await;
        let (_, _, admin) = server.org_with_admin_key().await;
        let http = http();
        let mut shown = Vec::new();
        let failure = loop {
            assert!(shown.len() < 20_000, "never filled up");
            let response = http
                .post(format!("{}/api/v1/keys", server.base))
                .header("x-api-key", &admin)
                .json(&json!({"name": format!("filler {}", shown.len()), "scopes": ["gateway"]}))
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap();
            if status == StatusCode::CREATED {
                shown.push(body["secret"].as_str().unwrap().to_owned());
            } else {
                break (status, body);
            }
        };
        assert_eq!(failure.0, StatusCode::INSUFFICIENT_STORAGE, "{}", failure.1);
        assert_eq!(failure.1["error"], "storage_full");
        assert!(failure.1.get("secret").is_none() && !failure.1.to_string().contains("kg_"));
        // Exactly the shown keys exist (plus the admin key), and each one works.
        let conn = server.db.connect().await;
        use sea_orm::{EntityTrait, PaginatorTrait};
        let rows = app::entities::api_key::Entity::find()
            .count(&conn)
            .await
            .unwrap();
        assert_eq!(rows as usize, shown.len() + 1);
        for key in &shown {
            let body = common::api::verify(&http, &server.base, key).await;
            assert_eq!(body["valid"], true, "{body}");
        }
        println!(
            "SQLite capped at 1 MB: {} keys created, then a clean 507",
            shown.len()
        );
    })
    .await;
}
