//! Where secrets must never be (K8, K2, W1), over the whole product: the real binary on
//! SQLite and on PostgreSQL, every CLI command, and a browser and services doing
//! everything that handles a secret (sign-up and log-in, create, roll with an overlap,
//! pause, resume, webhooks with their `whsec_` secrets and a test delivery, imports over
//! the CLI and REST and the imported keys' first use, a leak report, mistyped keys and a
//! key in the query string). Afterwards every line the server and the CLI wrote is
//! searched for every secret the flow handled, and so is every row of every table in the
//! database (read from the database's own catalog, so a new table is searched too).

mod common;

use std::io::Write as _;
use std::process::Stdio;

use common::TestDb;
use common::process::{Running, SECRET, keygate};
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

on_both_databases!(no_secret_reaches_a_log_line_or_a_table_row);

/// Everything one CLI run wrote, and its stdout alone.
struct Run {
    stdout: String,
    all: String,
}

fn cli(db: &TestDb, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    let mut vars = vec![
        ("KEYGATE_DATABASE_URL", db.url.as_str()),
        ("KEYGATE_LOG", "trace"),
    ];
    vars.extend_from_slice(env);
    let mut child = keygate(db.data_dir(), &vars)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        output.status.success(),
        "keygate {args:?}\nstdout: {stdout}\nstderr: {stderr}"
    );
    Run {
        all: format!("$ keygate {args:?}\n{stdout}\n{stderr}\n"),
        stdout: stdout.trim().to_owned(),
    }
}

/// A webhook receiver on loopback: its URL, and every delivery's headers and body.
async fn receiver() -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap, body: String| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(format!("{headers:?}\n{body}\n"));
            StatusCode::NO_CONTENT
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

/// A rival product's key and the line that imports it (its unsalted SHA-256, hex).
fn rival(name: &str) -> (String, Value) {
    let raw = format!("rival_{}", app::ssr::random_id("sk"));
    let digest = Sha256::digest(raw.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    // A week: no longer than the key that imports it over REST may live.
    let expires_at = (chrono::Utc::now() + chrono::Duration::days(7)).to_rfc3339();
    let line = json!({
        "name": name, "sha256": hex, "encoding": "hex", "scopes": ["gateway"],
        "expires_at": expires_at,
    });
    (raw, line)
}

/// Every row of every table, as text, from the database's own catalog; and the tables'
/// names.
async fn every_row(db: &TestDb) -> (String, Vec<String>) {
    let conn = db.connect().await;
    let backend = conn.get_database_backend();
    let names_sql = match backend {
        DatabaseBackend::Postgres => {
            "SELECT table_name AS name FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        }
        _ => "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    };
    let mut tables = Vec::new();
    for row in conn
        .query_all(Statement::from_string(backend, names_sql))
        .await
        .unwrap()
    {
        tables.push(row.try_get::<String>("", "name").unwrap());
    }
    let mut text = String::new();
    for table in &tables {
        let select = match backend {
            DatabaseBackend::Postgres => {
                format!("SELECT CAST(t AS text) AS row FROM \"{table}\" t")
            }
            _ => {
                let columns = conn
                    .query_all(Statement::from_string(
                        backend,
                        format!("SELECT name FROM pragma_table_info('{table}')"),
                    ))
                    .await
                    .unwrap()
                    .iter()
                    .map(|c| format!("quote(\"{}\")", c.try_get::<String>("", "name").unwrap()))
                    .collect::<Vec<_>>()
                    .join(" || ',' || ");
                format!("SELECT {columns} AS row FROM \"{table}\"")
            }
        };
        for row in conn
            .query_all(Statement::from_string(backend, select))
            .await
            .unwrap()
        {
            text.push_str(table);
            text.push(':');
            text.push_str(&row.try_get::<String>("", "row").unwrap());
            text.push('\n');
        }
    }
    (text, tables)
}

async fn no_secret_reaches_a_log_line_or_a_table_row(db: TestDb) {
    // Secrets the flow handles, by what they are; keys are searched for whole and for
    // their secret body (without the `kg_` prefix and the checksum).
    let mut secrets: Vec<(String, String)> = vec![("server secret".into(), SECRET.into())];
    let mut cli_out = String::new();
    let ops_password = "ops password that is long enough";

    // The CLI, every command.
    cli_out.push_str(&cli(&db, &["migrate"], &[], None).all);
    let run = cli(
        &db,
        &[
            "user",
            "create",
            "--email",
            "ops@example.com",
            "--name",
            "Ops",
        ],
        &[("KEYGATE_PASSWORD", ops_password)],
        None,
    );
    cli_out.push_str(&run.all);
    secrets.push(("password (CLI)".into(), ops_password.into()));
    let run = cli(
        &db,
        &[
            "org",
            "create",
            "--name",
            "Ops",
            "--owner",
            "ops@example.com",
        ],
        &[],
        None,
    );
    cli_out.push_str(&run.all);
    let ops_org = run.stdout.clone();
    let run = cli(
        &db,
        &[
            "key",
            "create",
            "--org",
            &ops_org,
            "--name",
            "cli",
            "--expires-in",
            "30d",
            "--scopes",
            "gateway,keys:read,keys:write",
        ],
        &[],
        None,
    );
    let cli_key = run.stdout.clone();
    // The one place a new key is written: the command's stdout, alone.
    assert!(app::keys::format::check(&cli_key).is_ok(), "{cli_key:?}");
    cli_out.push_str(&run.all.replacen(&cli_key, "<the key, on stdout>", 1));
    secrets.push(("CLI key".into(), cli_key.clone()));
    let conn = db.connect().await;
    let cli_key_id = conn
        .query_one(Statement::from_string(
            conn.get_database_backend(),
            format!("SELECT id FROM api_keys WHERE org_id = '{ops_org}' AND name = 'cli'"),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<String>("", "id")
        .unwrap();
    let run = cli(
        &db,
        &[
            "key",
            "roll",
            "--org",
            &ops_org,
            "--id",
            &cli_key_id,
            "--overlap",
            "1h",
        ],
        &[],
        None,
    );
    let cli_rolled = run.stdout.clone();
    assert!(
        app::keys::format::check(&cli_rolled).is_ok(),
        "{cli_rolled:?}"
    );
    cli_out.push_str(&run.all.replacen(&cli_rolled, "<the key, on stdout>", 1));
    secrets.push(("CLI-rolled key".into(), cli_rolled.clone()));
    let (rival_cli, line) = rival("imported by the CLI");
    secrets.push(("rival key (CLI import)".into(), rival_cli.clone()));
    let run = cli(
        &db,
        &["key", "import", "--org", &ops_org, "--file", "-"],
        &[],
        Some(&format!("{line}\n")),
    );
    cli_out.push_str(&run.all);

    // The server, with a webhook receiver it may send to.
    let (hook_url, mut deliveries) = receiver().await;
    let server = Running::start(
        db.data_dir(),
        &[
            ("KEYGATE_DATABASE_URL", db.url.as_str()),
            ("KEYGATE_LOG", "trace"),
            ("KEYGATE_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1"),
        ],
    )
    .await;
    let browser = common::browser(&server.base);
    let password = "a long and unique password 1234";
    secrets.push(("password (sign-up)".into(), password.into()));
    let (status, body) = browser
        .call(
            "sign_up",
            &[
                ("email", "kay@example.com"),
                ("display_name", "Kay"),
                ("password", password),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = browser.call("log_out", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let login = browser
        .post(
            "log_in",
            &[("email", "kay@example.com"), ("password", password)],
        )
        .await;
    assert_eq!(login.status(), StatusCode::OK);
    let session_id = login
        .cookies()
        .find(|c| c.name() == "keygate_session")
        .map(|c| c.value().to_owned())
        .expect("a session cookie");
    secrets.push(("session id".into(), session_id));
    secrets.push(("CSRF token".into(), browser.csrf_token().await.unwrap()));
    let org = browser.create_org("Logs").await;

    let (status, made) = browser
        .call(
            "create_webhook",
            &[
                ("org_id", &org),
                ("url", &hook_url),
                (
                    "events",
                    "key.created,key.rolled,key.revoked,key.paused,key.leaked",
                ),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{made}");
    let whsec = made["secret"].as_str().unwrap().to_owned();
    assert!(whsec.starts_with("whsec_"), "{whsec}");
    secrets.push(("webhook secret".into(), whsec.clone()));
    secrets.push((
        "webhook secret body".into(),
        whsec["whsec_".len()..].to_owned(),
    ));
    let endpoint_id = made["endpoint"]["id"].as_str().unwrap().to_owned();

    let (key_id, key) = browser
        .create_key(&org, "flow", "gateway keys:read keys:write")
        .await;
    secrets.push(("key".into(), key.clone()));
    let response = browser
        .post(
            "roll_api_key",
            &[
                ("org_id", &org),
                ("key_id", &key_id),
                ("overlap_seconds", "3600"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    // K4: the one response with the new secret is never stored by a cache.
    assert_eq!(
        response.headers()["cache-control"],
        "no-store",
        "the roll's answer"
    );
    let rolled: Value = response.json().await.unwrap();
    let rolled = rolled["secret"].as_str().unwrap().to_owned();
    secrets.push(("rolled key".into(), rolled.clone()));
    for action in ["pause_api_key", "resume_api_key"] {
        let (status, body) = browser
            .call(action, &[("org_id", &org), ("key_id", &key_id)])
            .await;
        assert_eq!(status, StatusCode::OK, "{action}: {body}");
    }
    let (status, body) = browser
        .call(
            "send_test_webhook",
            &[("org_id", &org), ("endpoint_id", &endpoint_id)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let api = common::http();
    let url = |path: &str| format!("{}{path}", server.base);
    for credential in [&rolled, &key, &cli_key, &cli_rolled] {
        let answer = common::api::whoami(&api, &server.base, credential).await;
        assert!(answer["key_id"].is_string(), "{answer}");
    }
    let (status, headers, child) = common::api::send(
        api.post(url("/api/v1/keys"))
            .header("x-api-key", &rolled)
            .json(&json!({"name": "child", "scopes": ["gateway"], "expires_in_days": 7})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{child}");
    assert_eq!(
        headers["cache-control"], "no-store",
        "the REST create's answer"
    );
    let child_id = child["key"]["id"].as_str().unwrap().to_owned();
    secrets.push((
        "child key, before its roll".into(),
        child["secret"].as_str().unwrap().to_owned(),
    ));
    // A roll over REST, and its answer's headers (K4); the rolled child is the one the
    // leak report stops below.
    let (status, headers, child) = common::api::send(
        api.post(url(&format!("/api/v1/keys/{child_id}/roll")))
            .header("x-api-key", &rolled)
            .json(&json!({"overlap_seconds": 0})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{child}");
    assert_eq!(
        headers["cache-control"], "no-store",
        "the REST roll's answer"
    );
    let child = child["secret"].as_str().unwrap().to_owned();
    secrets.push(("child key".into(), child.clone()));
    let (rival_rest, line) = rival("imported over REST");
    secrets.push(("rival key (REST import)".into(), rival_rest.clone()));
    let (status, body) = common::api::call(
        &api,
        Method::POST,
        &url("/api/v1/keys/import"),
        &rolled,
        Some(&json!({"keys": [line]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // The imported keys' first use moves them from their rival's digest to Keygate's.
    for imported in [&rival_cli, &rival_rest] {
        let answer = common::api::whoami(&api, &server.base, imported).await;
        assert!(answer["key_id"].is_string(), "{answer}");
    }
    // A key in a body: a service asking about it, and the key list with a Bearer key.
    let verified = common::api::verify(&api, &server.base, &child).await;
    assert_eq!(verified["valid"], true, "{verified}");
    let (status, _, _) = common::api::send(
        api.get(url("/api/v1/keys"))
            .header("authorization", format!("Bearer {rolled}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // A leak report, as a scanner sends it, and what the CLI reads from a leak.
    let (status, _, body) = common::api::send(
        api.post(url("/api/v1/keys/leaked"))
            .json(&json!({"keys": [child], "source": "https://example.com/leak"})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    // Mistyped keys, in a header and in the query string: failures, never echoed.
    // The last character changed (to one it is not), so the checksum fails.
    let last = if key.ends_with('x') { "y" } else { "x" };
    let typo = format!("{}{last}", &key[..key.len() - 1]);
    secrets.push(("mistyped key".into(), typo.clone()));
    let (status, _, _) = common::api::send(
        api.get(url(&format!("/api/v1/whoami?key={typo}")))
            .header("x-api-key", &typo),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = common::api::send(
        api.get(url("/gw/anything"))
            .header("authorization", format!("Bearer {rolled}")),
    )
    .await;
    assert!(
        status.is_client_error() || status.is_server_error(),
        "{status}"
    );
    // The webhook deliveries arrive; none carries a secret.
    let mut received = String::new();
    common::wait::eventually(
        "the test delivery and the key events",
        common::wait::WAIT_LIMIT,
        async || {
            while let Ok(body) = deliveries.try_recv() {
                received.push_str(&body);
            }
            received.contains("key.rolled") && received.contains("key.leaked")
        },
    )
    .await;
    let (status, body) = browser
        .call("revoke_api_key", &[("org_id", &org), ("key_id", &key_id)])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let log = server.stop();

    // A CLI leak report after the server: it reads the keys from stdin.
    let run = cli(
        &db,
        &[
            "key",
            "revoke-leaked",
            "--source",
            "https://example.com/paste",
        ],
        &[],
        Some(&format!("{cli_rolled}\n")),
    );
    cli_out.push_str(&run.all);

    assert!(
        log.contains("/api/v1/whoami"),
        "the flow was logged: {} bytes",
        log.len()
    );
    let (rows, tables) = every_row(&db).await;
    // Every table the migrations made (13, with the migrations' own), none empty of the
    // flow's rows but the ones a short run leaves empty.
    assert!(tables.len() >= 13, "every table was read: {tables:?}");
    for table in [
        "api_keys",
        "audit_events",
        "webhook_events",
        "webhook_deliveries",
        "sessions",
    ] {
        assert!(
            rows.lines().any(|l| l.starts_with(&format!("{table}:"))),
            "{table} has rows to search"
        );
    }
    for (what, secret) in &secrets {
        let mut needles = vec![secret.as_str()];
        if secret.starts_with("kg_") {
            needles.push(&secret[3..46]);
        }
        for needle in needles {
            assert!(
                !log.contains(needle),
                "the {what} appears in the server's log"
            );
            assert!(
                !cli_out.contains(needle),
                "the {what} appears in the CLI's output"
            );
            assert!(
                !received.contains(needle),
                "the {what} appears in a webhook delivery"
            );
            // The CSRF token is part of its session's data; it is worth nothing without
            // the session id, which the session store keeps only as a digest.
            if what != "CSRF token" {
                assert!(!rows.contains(needle), "the {what} appears in the database");
            }
        }
    }
}
