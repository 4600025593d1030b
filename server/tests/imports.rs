//! Importing keys from Better Auth and Unkey (issue 13 §4), on a fresh SQLite file and a
//! fresh PostgreSQL database: keys hashed exactly as those products hash them are
//! imported by the CLI, verify through the gateway as issued, and lose their SHA-256 on
//! first use; bad files import nothing; and strings in another format cost no database
//! query while no imported key waits for its first use.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use app::ids::{OrgId, UserId};
use app::keys::imports;
use app::keys::verify::digest::{VerifyError, digest};
use app::keys::verify::{Rejection, Verifier};
use app::ssr::Secret;
use base64::Engine;
use common::api::{call, send};
use common::{TestDb, TestServer};
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

on_both_databases!(
    imported_keys_work_as_issued_and_lose_their_sha256_on_first_use,
    bad_files_import_nothing,
    foreign_strings_cost_no_query_while_no_imported_key_waits,
    the_rest_api_imports_what_the_cli_imports,
    two_instances_racing_on_a_first_use_both_answer_and_move_the_key_once,
    an_imported_key_that_expired_before_its_first_use_leaves_the_others_working,
    imports_follow_the_policy_emit_events_and_need_an_admin,
    an_imported_key_is_idle_from_its_import_not_its_birth,
);

/// A random string of `len` characters from `alphabet`.
fn random(alphabet: &[u8], len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A Better Auth key and its stored digest: SHA-256, base64url without padding (its
/// default key hasher).
fn better_auth_key() -> (String, String) {
    let key = format!("ba_{}", random(ALNUM, 64));
    let hash = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(&key));
    (key, hash)
}

/// An Unkey key and its stored digest: SHA-256, standard base64 with padding.
fn unkey_key() -> (String, String) {
    let key = format!(
        "uk_{}",
        random(
            b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz",
            24
        )
    );
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&key));
    (key, hash)
}

/// Runs `keygate key import` against the test database; (success, stdout, stderr).
fn import_cli(db: &TestDb, org: &str, file: &str) -> (bool, String, String) {
    let output = db
        .keygate()
        .args(["key", "import", "--org", org, "--file", file])
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Writes `lines` to a file and imports it with the CLI, which must succeed.
fn import_lines(db: &TestDb, org: &str, lines: &[Value]) {
    let file = db.data_dir().join("import.jsonl");
    let text: Vec<String> = lines.iter().map(Value::to_string).collect();
    std::fs::write(&file, text.join("\n")).unwrap();
    let (ok, _, stderr) = import_cli(db, org, file.to_str().unwrap());
    assert!(ok, "{stderr}");
}

/// An upstream that answers with the identity headers the gateway sent it.
async fn start_upstream() -> String {
    async fn echo(request: axum::extract::Request) -> axum::Json<Value> {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        axum::Json(json!({
            "key_id": header("x-keygate-key-id"),
            "org_id": header("x-keygate-org-id"),
            "credential": header("x-api-key").or(header("authorization")),
        }))
    }
    common::serve(axum::Router::new().fallback(echo)).await
}

async fn row(db: &DatabaseConnection, id: &str) -> app::entities::api_key::Model {
    app::entities::api_key::Entity::find_by_id(id.to_owned())
        .one(db)
        .await
        .unwrap()
        .unwrap()
}

/// The gateway's answer for `key`, retried while the server may not have re-read the
/// imported keys yet (it is told within a poll interval).
async fn through_gateway(base: &str, header: (&str, String)) -> (StatusCode, Value) {
    let body = common::eventually(
        "the gateway lets the imported key through",
        common::WAIT_LIMIT,
        async || {
            let (status, _, body) = send(
                common::http()
                    .get(format!("{base}/gw/anything"))
                    .header(header.0, header.1.clone()),
            )
            .await;
            if status == StatusCode::OK {
                Ok(body)
            } else {
                Err((status, body))
            }
        },
    )
    .await;
    (StatusCode::OK, body)
}

async fn imported_keys_work_as_issued_and_lose_their_sha256_on_first_use(db: TestDb) {
    let upstream = start_upstream().await;
    let server = TestServer::start_with(db, &[("KEYGATE_UPSTREAM_URL", upstream.as_str())]).await;
    let (_, org, admin) = server.org_with_admin_key().await;
    let (ba_key, ba_hash) = better_auth_key();
    let (uk_key, uk_hash) = unkey_key();
    let hex_key = format!("legacy-{}", random(ALNUM, 40));
    let hex_hash = format!("{:X}", Sha256::digest(&hex_key));
    let (expired_key, expired_hash) = better_auth_key();
    let lines = [
        json!({"name": "Better Auth key", "sha256": ba_hash, "encoding": "base64url",
               "start": &ba_key[..6], "created_at": "2025-03-01T10:00:00Z", "scopes": ["gateway"]}),
        json!({"name": "Unkey key", "sha256": uk_hash, "encoding": "base64",
               "start": &uk_key[..7], "expires_at": "2099-01-01T00:00:00Z"}),
        json!({"name": "Hex key", "sha256": hex_hash, "encoding": "hex"}),
        json!({"name": "Gone", "sha256": expired_hash, "encoding": "base64url",
               "expires_at": "2020-01-01T00:00:00Z"}),
    ];
    let file = server.db.data_dir().join("keys.jsonl");
    let text: Vec<String> = lines.iter().map(Value::to_string).collect();
    std::fs::write(&file, text.join("\n\n") + "\n").unwrap();
    let (ok, stdout, stderr) = import_cli(&server.db, &org, file.to_str().unwrap());
    assert!(ok, "{stderr}");
    assert_eq!(
        stdout,
        format!("imported 3 keys into {org}, skipped 1 already expired")
    );
    assert!(stderr.contains("skipped line 7 (Gone)"), "{stderr}");

    // Listed as imported, with their old hints and dates.
    let http = common::http();
    let (status, list) = call(
        &http,
        Method::GET,
        &format!("{}/api/v1/keys?q=key", server.base),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let listed = |name: &str| {
        list["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["name"] == name)
            .unwrap_or_else(|| panic!("{name} not listed: {list}"))
            .clone()
    };
    let ba = listed("Better Auth key");
    assert_eq!(ba["hint"], &ba_key[..6]);
    assert_eq!(ba["created_at"], "2025-03-01T10:00:00Z");
    assert!(ba["imported_at"].is_string(), "{ba}");
    assert_eq!(ba["scopes"], json!(["gateway"]));
    assert_eq!(listed("Unkey key")["expires_at"], "2099-01-01T00:00:00Z");
    assert_eq!(listed("Hex key")["hint"], "");
    let ids: Vec<String> = ["Better Auth key", "Unkey key", "Hex key"]
        .iter()
        .map(|n| listed(n)["id"].as_str().unwrap().to_owned())
        .collect();

    // Before its first use, only the other product's digest is stored.
    let conn = server.db.connect().await;
    let before = row(&conn, &ids[0]).await;
    let sha = |key: &str| format!("{:x}", Sha256::digest(key));
    assert_eq!(before.import_digest.as_deref(), Some(sha(&ba_key).as_str()));
    assert!(before.lookup_digest.starts_with("imported:"));

    // Each verifies through the gateway as issued, with either header.
    let secret: Secret = server.db.config().load_or_create_secret().unwrap();
    for ((key, id), header) in [&ba_key, &uk_key, &hex_key].into_iter().zip(&ids).zip([
        "x-api-key",
        "authorization",
        "x-api-key",
    ]) {
        let value = if header == "authorization" {
            format!("Bearer {key}")
        } else {
            key.clone()
        };
        let (status, body) = through_gateway(&server.base, (header, value)).await;
        assert_eq!(status, StatusCode::OK, "{id}: {body}");
        assert_eq!(body["key_id"], id.as_str());
        assert_eq!(body["org_id"], org.as_str());
        assert_eq!(
            body["credential"],
            Value::Null,
            "the key reached the upstream"
        );
        // After the first use: our HMAC digest, and no SHA-256 left.
        let after = row(&conn, id).await;
        assert_eq!(after.import_digest, None, "{id}");
        assert_eq!(after.lookup_digest, digest(&secret, key), "{id}");
    }

    // Moved, they keep working: on this instance (cached) and on one that never saw them.
    let other = server.another_instance().await;
    for base in [&server.base, &other] {
        let (status, body) = through_gateway(base, ("x-api-key", ba_key.clone())).await;
        assert_eq!(status, StatusCode::OK, "{base}: {body}");
    }
    // A leak report stops an imported key like any other.
    let (status, _, body) = send(
        http.post(format!("{}/api/v1/keys/leaked", server.base))
            .json(&json!({ "keys": [hex_key] })),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, _, body) = send(
        http.get(format!("{}/api/v1/whoami", server.base))
            .header("x-api-key", hex_key.as_str()),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "key_revoked");
    // The expired line was not imported; look-alikes and our own malformed keys fail.
    for bad in [
        expired_key,
        format!("{ba_key}x"),
        ba_key[..ba_key.len() - 1].to_owned(),
        format!("kg_{}", &ba_key[3..]),
    ] {
        let (status, _, body) = send(
            http.get(format!("{}/api/v1/whoami", server.base))
                .header("x-api-key", bad),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"], "invalid_token");
    }
    // An imported key revoked before its first use keeps nothing and stops working.
    let (lone_key, lone_hash) = unkey_key();
    std::fs::write(
        &file,
        json!({"name": "Lone", "sha256": lone_hash, "encoding": "base64"}).to_string(),
    )
    .unwrap();
    assert!(import_cli(&server.db, &org, file.to_str().unwrap()).0);
    let (_, list) = call(
        &http,
        Method::GET,
        &format!("{}/api/v1/keys?q=Lone", server.base),
        &admin,
        None,
    )
    .await;
    let lone_id = list["keys"][0]["id"].as_str().unwrap().to_owned();
    assert!(row(&conn, &lone_id).await.import_digest.is_some());
    let (status, body) = call(
        &http,
        Method::DELETE,
        &format!("{}/api/v1/keys/{lone_id}", server.base),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(row(&conn, &lone_id).await.import_digest, None);
    let (status, _, body) = send(
        http.get(format!("{}/gw/anything", server.base))
            .header("x-api-key", lone_key),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

async fn bad_files_import_nothing(db: TestDb) {
    let server = TestServer::start(db).await;
    let (_, org, _) = server.org_with_admin_key().await;
    let (_, good) = better_auth_key();
    let file = server.db.data_dir().join("keys.jsonl");
    let good_line = json!({"name": "ok", "sha256": good, "encoding": "base64url"}).to_string();
    for (bad_line, expected) in [
        (
            // '-' is base64url's alone.
            json!({"name": "x", "sha256": format!("-{}", &good[1..]), "encoding": "base64"}).to_string(),
            "line 2: sha256 is not base64",
        ),
        (
            json!({"name": "x", "sha256": "abcd", "encoding": "hex"}).to_string(),
            "line 2: sha256 is not 64 hexadecimal digits",
        ),
        (
            json!({"name": "x", "sha256": good, "encoding": "sha1"}).to_string(),
            "line 2: unknown variant `sha1`",
        ),
        (
            json!({"name": "x", "sha256": good, "encoding": "base64url", "expire_at": "2030-01-01T00:00:00Z"}).to_string(),
            "line 2: unknown field `expire_at`",
        ),
        (
            json!({"name": "", "sha256": good, "encoding": "base64url"}).to_string(),
            "line 2: name is required.",
        ),
        (
            json!({"name": "x", "sha256": good, "encoding": "base64url", "scopes": ["root"]}).to_string(),
            "line 2: ",
        ),
        (
            json!({"name": "x", "sha256": good, "encoding": "base64url",
                   "created_at": "2021-01-01T00:00:00Z", "expires_at": "2020-01-01T00:00:00Z"}).to_string(),
            "line 2: expires_at is not after created_at",
        ),
        (
            json!({"name": "x", "sha256": good, "encoding": "base64url",
                   "created_at": "2999-01-01T00:00:00Z"}).to_string(),
            "line 2: created_at is in the future",
        ),
        (good_line.clone(), "line 2: the same key as line 1"),
        ("{not json".to_owned(), "line 2: "),
    ] {
        std::fs::write(&file, format!("{good_line}\n{bad_line}\n")).unwrap();
        let (ok, _, stderr) = import_cli(&server.db, &org, file.to_str().unwrap());
        assert!(!ok, "{bad_line} was accepted");
        assert!(stderr.contains(expected), "{bad_line}: {stderr}");
        assert!(stderr.contains("Nothing was imported."), "{stderr}");
    }
    let conn = server.db.connect().await;
    let imported = app::entities::api_key::Entity::find()
        .filter(app::entities::api_key::Column::ImportedAt.is_not_null())
        .all(&conn)
        .await
        .unwrap();
    assert!(imported.is_empty(), "a bad file imported {imported:?}");
    // The same key twice, across two imports: the second is refused whole.
    std::fs::write(&file, format!("{good_line}\n")).unwrap();
    assert!(import_cli(&server.db, &org, file.to_str().unwrap()).0);
    let (_, other) = unkey_key();
    let other_line = json!({"name": "new", "sha256": other, "encoding": "base64"}).to_string();
    std::fs::write(&file, format!("{other_line}\n{good_line}\n")).unwrap();
    let (ok, _, stderr) = import_cli(&server.db, &org, file.to_str().unwrap());
    assert!(!ok);
    assert!(
        stderr.contains("line 2: this key was already imported, as key_"),
        "{stderr}"
    );
    // An empty file and a missing one say so.
    std::fs::write(&file, "\n\n").unwrap();
    let (ok, _, stderr) = import_cli(&server.db, &org, file.to_str().unwrap());
    assert!(!ok && stderr.contains("the file holds no keys"), "{stderr}");
    let (ok, _, stderr) = import_cli(&server.db, &org, "/nonexistent/keys.jsonl");
    assert!(
        !ok && stderr.contains("cannot read /nonexistent/keys.jsonl"),
        "{stderr}"
    );
    let imported = app::entities::api_key::Entity::find()
        .filter(app::entities::api_key::Column::ImportedAt.is_not_null())
        .all(&conn)
        .await
        .unwrap();
    assert_eq!(imported.len(), 1);
}

/// The first use of an imported key, sent to two instances at once many times over: every
/// request is answered as the key's own, and the key ends up moved exactly once (our
/// digest stored, its SHA-256 gone), whichever instance's conditional update won.
async fn two_instances_racing_on_a_first_use_both_answer_and_move_the_key_once(db: TestDb) {
    let server = TestServer::start(db).await;
    let (_, org, _) = server.org_with_admin_key().await;
    let (probe_key, probe_hash) = better_auth_key();
    let (raced_key, raced_hash) = unkey_key();
    import_lines(
        &server.db,
        &org,
        &[
            json!({"name": "Probe", "sha256": probe_hash, "encoding": "base64url"}),
            json!({"name": "Raced", "sha256": raced_hash, "encoding": "base64"}),
        ],
    );
    // The second instance reads the waiting keys when it starts; the first learns of them
    // from the announcement, which the probe key (imported in the same file) waits for.
    let other = server.another_instance().await;
    let whoami = |base: &str, key: &str| {
        send(
            common::http()
                .get(format!("{base}/api/v1/whoami"))
                .header("x-api-key", key),
        )
    };
    common::eventually(
        "the first instance learns of the import",
        common::WAIT_LIMIT,
        async || {
            let (status, _, body) = whoami(&server.base, &probe_key).await;
            if status == StatusCode::OK {
                Ok(())
            } else {
                Err(body)
            }
        },
    )
    .await;

    let conn = server.db.connect().await;
    let raced = app::entities::api_key::Entity::find()
        .filter(app::entities::api_key::Column::Name.eq("Raced"))
        .one(&conn)
        .await
        .unwrap()
        .unwrap();
    assert!(raced.import_digest.is_some(), "used before the race");
    let calls = (0..16).map(|i| {
        let base = if i % 2 == 0 { &server.base } else { &other };
        whoami(base, &raced_key)
    });
    for (i, (status, _, body)) in futures_util::future::join_all(calls)
        .await
        .into_iter()
        .enumerate()
    {
        assert_eq!(status, StatusCode::OK, "call {i}: {body}");
        assert_eq!(body["key_id"], raced.id.as_str(), "call {i}: {body}");
    }
    let secret: Secret = server.db.config().load_or_create_secret().unwrap();
    let after = row(&conn, &raced.id).await;
    assert_eq!(after.import_digest, None);
    assert_eq!(after.lookup_digest, digest(&secret, &raced_key));
    assert_eq!(
        app::entities::api_key::Entity::find()
            .filter(app::entities::api_key::Column::Name.eq("Raced"))
            .count(&conn)
            .await
            .unwrap(),
        1
    );
}

/// An imported key that expires before its first use is refused as expired when it comes,
/// and does not count down the keys still waiting: an instance started after the expiry
/// counts one waiting key (the other), and must still let that one in.
async fn an_imported_key_that_expired_before_its_first_use_leaves_the_others_working(db: TestDb) {
    let server = TestServer::start(db).await;
    let (_, org, _) = server.org_with_admin_key().await;
    let (late_key, late_hash) = better_auth_key();
    let (kept_key, kept_hash) = unkey_key();
    let expires = chrono::Utc::now() + chrono::Duration::seconds(2);
    import_lines(
        &server.db,
        &org,
        &[
            json!({"name": "Late", "sha256": late_hash, "encoding": "base64url",
               "expires_at": expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)}),
            json!({"name": "Kept", "sha256": kept_hash, "encoding": "base64"}),
        ],
    );
    let left = (expires - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(left + std::time::Duration::from_millis(500)).await;
    let other = server.another_instance().await;
    let whoami = |key: &str| {
        send(
            common::http()
                .get(format!("{other}/api/v1/whoami"))
                .header("x-api-key", key),
        )
    };
    let (status, _, body) = whoami(&late_key).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "key_expired", "{body}");
    let (status, _, body) = whoami(&kept_key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Strings of every length up to 256 bytes that are not one of our keys: printable, with
/// and without our prefix.
fn garbage() -> Vec<String> {
    let printable: Vec<u8> = (b'!'..=b'~').collect();
    (1..=256)
        .flat_map(|len| {
            let foreign = random(&printable, len);
            let foreign = if foreign.starts_with("kg_") {
                format!("x{}", &foreign[1..])
            } else {
                foreign
            };
            let ours = format!("kg_{}", random(ALNUM, len.saturating_sub(3)));
            [foreign, ours]
        })
        .filter(|s| s.len() <= 256)
        .collect()
}

/// How many queries verifying each of `strings` took; each must be refused as not a key.
async fn costs(
    verifier: &Verifier,
    conn: &DatabaseConnection,
    secret: &Secret,
    queries: &AtomicUsize,
    strings: &[String],
) -> usize {
    let before = queries.load(Ordering::SeqCst);
    for s in strings {
        let answer = verifier.verify(conn, secret, s, None).await.unwrap();
        assert!(
            matches!(
                answer,
                Err(Rejection::Invalid(
                    VerifyError::Malformed | VerifyError::Unknown
                ))
            ),
            "{s:?}: {answer:?}"
        );
    }
    queries.load(Ordering::SeqCst) - before
}

async fn foreign_strings_cost_no_query_while_no_imported_key_waits(db: TestDb) {
    let mut conn = db.connect().await;
    let queries = Arc::new(AtomicUsize::new(0));
    let counter = queries.clone();
    conn.set_metric_callback(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let secret = Secret::new("imports-test-secret");
    let user =
        app::auth::service::create_user(&conn, "ada@example.com", "Ada", "correct horse battery")
            .await
            .unwrap();
    let org = app::orgs::service::create_org(&conn, UserId(&user.id), "Acme")
        .await
        .unwrap();
    let member = app::orgs::access::membership(&conn, UserId(&user.id), OrgId(&org.id))
        .await
        .unwrap();
    let manager = app::keys::service::KeyManager::new(member).unwrap();
    let verifier = Verifier::default();
    let garbage = garbage();
    // No imported key at all: nothing reaches the database.
    verifier.imports().reload(&conn).await.unwrap();
    assert_eq!(
        costs(&verifier, &conn, &secret, &queries, &garbage).await,
        0
    );

    // One waits for its first use: a foreign string is looked up (our malformed keys are
    // still not), and the same string again within the negative cache's life is not.
    let (key, hash) = better_auth_key();
    let file = json!({"name": "waiting", "sha256": hash, "encoding": "base64url"}).to_string();
    let plan = imports::parse(&file, &manager, Default::default(), chrono::Utc::now()).unwrap();
    imports::import(&conn, &manager, &plan).await.unwrap();
    verifier.imports().reload(&conn).await.unwrap();
    let foreign: Vec<String> = garbage
        .iter()
        .filter(|s| !s.starts_with("kg_"))
        .cloned()
        .collect();
    let ours: Vec<String> = garbage
        .iter()
        .filter(|s| s.starts_with("kg_"))
        .cloned()
        .collect();
    assert!(costs(&verifier, &conn, &secret, &queries, &foreign[..20]).await >= 20);
    assert_eq!(
        costs(&verifier, &conn, &secret, &queries, &foreign[..20]).await,
        0,
        "misses are remembered"
    );
    assert_eq!(costs(&verifier, &conn, &secret, &queries, &ours).await, 0);

    // Its first use moves it; with none waiting, garbage costs nothing again, while the
    // moved key still verifies after the cache forgets it.
    assert!(
        verifier
            .verify(&conn, &secret, &key, None)
            .await
            .unwrap()
            .is_ok()
    );
    let fresh = Verifier::default();
    fresh.imports().reload(&conn).await.unwrap();
    assert_eq!(costs(&fresh, &conn, &secret, &queries, &garbage).await, 0);
    let before = queries.load(Ordering::SeqCst);
    assert!(
        fresh
            .verify(&conn, &secret, &key, None)
            .await
            .unwrap()
            .is_ok()
    );
    assert!(
        queries.load(Ordering::SeqCst) > before,
        "looked up, not guessed"
    );
}

/// `POST /api/v1/keys/import`: the CLI's entries and checks, named by position; the keys
/// work at once on the instance that imported them and soon on the others.
async fn the_rest_api_imports_what_the_cli_imports(db: TestDb) {
    let server = TestServer::start(db).await;
    let (owner, org, admin) = server.org_with_admin_key().await;
    let http = common::http();
    let url = format!("{}/api/v1/keys/import", server.base);
    let (ba_key, ba_hash) = better_auth_key();
    let (uk_key, uk_hash) = unkey_key();
    // The calling key expires in 30 days: what it imports may not outlive it.
    let soon = (chrono::Utc::now() + chrono::Duration::days(20)).to_rfc3339();
    let good = [
        json!({"name": "From Better Auth", "sha256": ba_hash, "encoding": "base64url",
               "start": &ba_key[..6], "expires_at": soon}),
        json!({"name": "From Unkey", "sha256": uk_hash, "encoding": "base64",
               "expires_at": soon, "scopes": ["gateway", "keys:read"]}),
        json!({"name": "Expired", "sha256": "00".repeat(32), "encoding": "hex",
               "expires_at": "2020-01-01T00:00:00Z"}),
    ];

    // Every problem, by position; nothing imported.
    let body = json!({"keys": [
        good[0],
        {"name": "No expiry", "sha256": "11".repeat(32), "encoding": "hex"},
        {"name": "x", "sha256": "abc", "encoding": "hex", "expires_at": soon},
        good[0],
    ]});
    let (status, answer) = call(&http, Method::POST, &url, &admin, Some(&body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["field"], "keys");
    let message = answer["message"].as_str().unwrap();
    for expected in [
        "keys[1]: it would outlive the key that imports it",
        "keys[2]: sha256 is not 64 hexadecimal digits",
        "keys[3]: the same key as keys[0]",
        "Nothing was imported.",
    ] {
        assert!(message.contains(expected), "{expected}: {message}");
    }
    assert!(!message.contains(&ba_hash), "{message}");
    for (body, expected) in [
        (json!({"keys": []}), "keys is empty"),
        (json!({"keys": [1]}), "keys[0]: invalid type"),
        (json!({"keys": [], "org": "x"}), "unknown field"),
    ] {
        let (status, answer) = call(&http, Method::POST, &url, &admin, Some(&body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert!(answer.to_string().contains(expected), "{body}: {answer}");
    }
    let (_, gateway_only) = owner.create_key(&org, "gateway only", "gateway").await;
    let (status, answer) = call(
        &http,
        Method::POST,
        &url,
        &gateway_only,
        Some(&json!({"keys": good})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    let (status, _) = call(&http, Method::POST, &url, "", Some(&json!({"keys": good}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let conn = server.db.connect().await;
    let imported = app::entities::api_key::Entity::find()
        .filter(app::entities::api_key::Column::ImportedAt.is_not_null())
        .count(&conn)
        .await
        .unwrap();
    assert_eq!(imported, 0);

    // The good ones, and they work at once here.
    let (status, answer) = call(
        &http,
        Method::POST,
        &url,
        &admin,
        Some(&json!({"keys": good})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["skipped_expired"], json!(["keys[2]"]));
    let imported = answer["imported"].as_array().unwrap();
    assert_eq!(imported.len(), 2);
    assert_eq!(imported[0]["at"], "keys[0]");
    assert_eq!(imported[1]["name"], "From Unkey");
    for (key, id) in [(&ba_key, &imported[0]["id"]), (&uk_key, &imported[1]["id"])] {
        let (status, _, whoami) = send(
            http.get(format!("{}/api/v1/whoami", server.base))
                .header("x-api-key", key.as_str()),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{whoami}");
        assert_eq!(&whoami["key_id"], id);
    }
    let (_, listed) = call(
        &http,
        Method::GET,
        &format!("{}/api/v1/keys?q=From", server.base),
        &admin,
        None,
    )
    .await;
    let listed = listed["keys"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert!(
        listed.iter().all(|k| k["imported_at"].is_string()),
        "{listed:?}"
    );

    // A key imported twice before its first use: the second import is refused whole.
    let (other_key, other_hash) = better_auth_key();
    let entry = json!({"name": "Later", "sha256": other_hash, "encoding": "base64url",
                       "expires_at": soon});
    let (status, answer) = call(
        &http,
        Method::POST,
        &url,
        &admin,
        Some(&json!({"keys": [entry]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let id = answer["imported"][0]["id"].as_str().unwrap().to_owned();
    let (status, answer) = call(
        &http,
        Method::POST,
        &url,
        &admin,
        Some(&json!({"keys": [entry]})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains(&format!("keys[0]: this key was already imported, as {id}")),
        "{answer}"
    );
    // Another instance learns of it by the announcement.
    let other = server.another_instance().await;
    common::eventually(
        "the other instance learns of the import",
        common::WAIT_LIMIT,
        async || {
            let (status, _, _) = send(
                http.get(format!("{other}/api/v1/whoami"))
                    .header("authorization", format!("Bearer {other_key}")),
            )
            .await;
            if status == StatusCode::OK {
                Ok(())
            } else {
                Err(status)
            }
        },
    )
    .await;
}

/// Issue 27 §3 and §10: an import meets the organization's key policy line by line, is
/// an owner's or admin's act, tells the webhooks of every key it creates, and a key that
/// another organization imported is refused without naming it.
async fn imports_follow_the_policy_emit_events_and_need_an_admin(db: TestDb) {
    use app::entities::webhook_event;
    let server =
        TestServer::start_with(db, &[("KEYGATE_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1")]).await;
    let (owner, org, admin) = server.org_with_admin_key().await;
    let (status, body) = owner
        .call(
            "set_key_policy",
            &[
                ("org_id", &org),
                ("max_days", "30"),
                ("require_expiry", "true"),
                ("idle_days", ""),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = owner
        .call(
            "create_webhook",
            &[
                ("org_id", &org),
                ("url", "http://127.0.0.1:9/hook"),
                ("events", "key.created"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let conn = server.db.connect().await;
    let created_events = || async {
        webhook_event::Entity::find()
            .filter(webhook_event::Column::EventType.eq("key.created"))
            .all(&conn)
            .await
            .unwrap()
    };

    // The policy, per line, by the CLI (which acts as the first owner, with no expiry of
    // its own to cap what it imports); nothing is imported.
    let in_days = |days: i64| (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339();
    let (_, never) = better_auth_key();
    let (_, too_long) = better_auth_key();
    let (ok_key, ok_hash) = better_auth_key();
    let file = server.db.data_dir().join("policy.jsonl");
    std::fs::write(
        &file,
        [
            json!({"name": "Never", "sha256": never, "encoding": "base64url"}),
            json!({"name": "Too long", "sha256": too_long, "encoding": "base64url",
                   "expires_at": in_days(60)}),
            json!({"name": "Fine", "sha256": ok_hash, "encoding": "base64url",
                   "expires_at": in_days(20)}),
        ]
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n"),
    )
    .unwrap();
    let (ok, _, stderr) = import_cli(&server.db, &org, file.to_str().unwrap());
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains("line 1: Your organization's key policy requires keys to expire within"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 2: Your organization's key policy allows keys to live at most"),
        "{stderr}"
    );
    assert!(!stderr.contains("line 3"), "{stderr}");
    assert!(created_events().await.is_empty());

    // A developer may not import, by a key of theirs or by the CLI.
    let (developer, dev) = server.user("Dev").await;
    owner.add_member(&org, &dev.email, "developer").await;
    let (_, dev_key) = developer
        .create_key(&org, "dev", "gateway keys:read keys:write")
        .await;
    let entry = json!({"name": "Fine", "sha256": ok_hash, "encoding": "base64url",
                       "expires_at": in_days(20)});
    let url = format!("{}/api/v1/keys/import", server.base);
    let http = common::http();
    let (status, answer) = call(
        &http,
        Method::POST,
        &url,
        &dev_key,
        Some(&json!({"keys": [entry]})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("owners and admins")
    );
    let output = server
        .db
        .keygate()
        .args(["key", "import", "--org", &org, "--as", &dev.email, "--file"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("owners and admins"), "{stderr}");

    // An admin's key imports, and the webhooks hear of each key as created.
    let (status, answer) = call(
        &http,
        Method::POST,
        &url,
        &admin,
        Some(&json!({"keys": [entry]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let id = answer["imported"][0]["id"].as_str().unwrap().to_owned();
    let events: Vec<Value> = created_events()
        .await
        .iter()
        .map(|e| serde_json::from_str(&e.payload).unwrap())
        .filter(|e: &Value| e["data"]["detail"] == "imported")
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["data"]["key"]["id"], id.as_str());
    assert!(
        !events[0].to_string().contains(&ok_hash),
        "no digest in an event (W1)"
    );

    // Another organization importing the same key (before its first use, while Keygate
    // knows it by its SHA-256) learns that it exists, not its id.
    let (stranger, _) = server.user("Stranger").await;
    let their_org = stranger.create_org("Elsewhere").await;
    let (_, their_key) = stranger
        .create_key(&their_org, "ops", "gateway keys:read keys:write")
        .await;
    let (status, answer) = call(
        &http,
        Method::POST,
        &url,
        &their_key,
        Some(&json!({"keys": [entry]})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let message = answer["message"].as_str().unwrap();
    assert!(
        message.contains("keys[0]: this key is already in Keygate"),
        "{message}"
    );
    assert!(
        !message.contains(&id) && !message.contains(&org),
        "{message} (Z5)"
    );
    let (status, _, _) = send(
        http.get(format!("{}/api/v1/whoami", server.base))
            .header("x-api-key", &ok_key),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "the imported key works as issued");
}

/// Issue 27: the idle policy measures an imported key from its import, not from the
/// `created_at` it had in the other product, so a key moved today is not revoked as idle
/// tomorrow; a key made here just as long ago is.
async fn an_imported_key_is_idle_from_its_import_not_its_birth(db: TestDb) {
    use app::entities::api_key;
    let server = TestServer::start(db).await;
    let (owner, org, _) = server.org_with_admin_key().await;
    let (status, body) = owner
        .call(
            "set_key_policy",
            &[("org_id", &org), ("max_days", ""), ("idle_days", "30")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, hash) = better_auth_key();
    let long_ago = (chrono::Utc::now() - chrono::Duration::days(700)).to_rfc3339();
    let file = server.db.data_dir().join("old.jsonl");
    std::fs::write(
        &file,
        json!({"name": "Old customer key", "sha256": hash, "encoding": "base64url",
               "created_at": long_ago})
        .to_string(),
    )
    .unwrap();
    let (ok, _, stderr) = import_cli(&server.db, &org, file.to_str().unwrap());
    assert!(ok, "{stderr}");
    let conn = server.db.connect().await;
    let imported = api_key::Entity::find()
        .filter(api_key::Column::Name.eq("Old customer key"))
        .one(&conn)
        .await
        .unwrap()
        .unwrap();
    // A key of this organization's own, made as long ago and never used: the control.
    let mut made = imported.clone();
    made.id = "key_madehere700daysago".into();
    made.lookup_digest = "made-here-700-days-ago".into();
    made.import_digest = None;
    made.imported_at = None;
    api_key::Entity::insert(api_key::ActiveModel::from(made))
        .exec_without_returning(&conn)
        .await
        .unwrap();

    let revoked = app::keys::service::revoke_idle_keys(
        &conn,
        &Verifier::default(),
        std::time::Duration::ZERO,
    )
    .await
    .unwrap();
    assert_eq!(revoked, ["key_madehere700daysago"], "only the control");
    assert!(row(&conn, &imported.id).await.revoked_at.is_none());
}
