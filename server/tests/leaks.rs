//! Leaked keys (issue 13 §3), on a fresh SQLite file and a fresh PostgreSQL database: a
//! reported key stops on every instance with an answer that says nothing, a reported old
//! secret ends its roll's overlap, bad reports change nothing, reports are rate limited,
//! the operator's CLI reads keys from stdin; and the pattern published in
//! docs/secret-scanning.md finds generated keys while the checksum drops look-alikes.

mod common;

use app::keys::format;
use common::api::send;
use common::{Client, TestDb, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_databases!(
    a_reported_key_stops_everywhere_and_the_answer_says_nothing,
    a_reported_old_secret_ends_its_overlap_and_the_new_one_works,
    bad_reports_change_nothing_and_reports_are_rate_limited,
    a_report_costs_one_unit_per_key,
    the_cli_revokes_keys_read_from_stdin,
);

const DOC: &str = include_str!("../../docs/secret-scanning.md");

/// The first fenced block of `lang` in the published document.
fn block(lang: &str) -> &'static str {
    let start = DOC
        .find(&format!("```{lang}\n"))
        .unwrap_or_else(|| panic!("no {lang} block"))
        + lang.len()
        + 4;
    let end = start + DOC[start..].find("```").unwrap();
    &DOC[start..end]
}

#[test]
fn the_published_pattern_finds_keys_and_the_checksum_drops_look_alikes() {
    let pattern = block("regex").trim();
    // Every published rule uses the same expression.
    assert!(block("toml").contains(&format!("regex = '''{pattern}'''")));
    assert!(block("yaml").contains(&format!("key: '{pattern}'")));
    let re = regex::Regex::new(pattern).unwrap();
    let mut seed = [0u8; 32];
    for n in 0..1_000u32 {
        use sha2::Digest;
        seed = sha2::Sha256::digest([&seed[..], &n.to_be_bytes()].concat()).into();
        let key = format::key_from_bytes(&seed);
        for text in [
            format!("KEYGATE_KEY={key}\n"),
            format!("\"x-api-key\": \"{key}\""),
            format!("Authorization: Bearer {key}"),
            key.clone(),
        ] {
            let found = re.captures(&text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(&found[1], key);
        }
        // A look-alike with one checksum character changed matches the pattern, and the
        // checksum (as docs/secret-scanning.md describes it) refuses it.
        let last = key.chars().last().unwrap();
        let other = if last == 'z' { 'y' } else { 'z' };
        let look_alike = format!("{}{other}", &key[..key.len() - 1]);
        assert!(re.is_match(&look_alike));
        assert_eq!(
            format::check(&look_alike),
            Err(format::FormatError::BadChecksum)
        );
        // One character short or long, or glued to other text: not found.
        assert!(!re.is_match(&key[..key.len() - 1]));
        assert!(!re.is_match(&format!("{key}x")));
        assert!(!re.is_match(&format!("xkg_{}", &key[3..])));
    }
}

async fn report(base: &str, body: &Value) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    send(
        common::http()
            .post(format!("{base}/api/v1/keys/leaked"))
            .json(body),
    )
    .await
}

/// `GET /api/v1/whoami` with `key`: the status and the `error` code.
async fn whoami(base: &str, key: &str) -> (StatusCode, String) {
    common::api::whoami_answer(&common::http(), base, key).await
}

/// Waits until `base` refuses `key` with `code` (a report takes effect everywhere within
/// a second; the test allows far more, so a slow machine does not fail it).
async fn until_refused(base: &str, key: &str, code: &str) {
    common::eventually(
        &format!("{base} refuses the reported key as {code}"),
        common::WAIT_LIMIT,
        async || {
            let got = whoami(base, key).await;
            if got == (StatusCode::UNAUTHORIZED, code.to_owned()) {
                Ok(())
            } else {
                Err(got)
            }
        },
    )
    .await
}

async fn listed(owner: &Client, org: &str, key_id: &str) -> Value {
    let (status, body) = owner
        .call("list_api_keys", &[("org_id", org), ("page", "1")])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == key_id)
        .cloned()
        .unwrap()
}

/// A key in the right format (checksum included) that was never issued.
fn unissued_key() -> String {
    format::key_from_bytes(&[42; 32])
}

async fn a_reported_key_stops_everywhere_and_the_answer_says_nothing(db: TestDb) {
    let server = TestServer::start(db).await;
    let other = server.another_instance().await;
    let (owner, _) = server.user("Olive").await;
    let org = owner.create_org("Leaky").await;
    let (status, body) = owner
        .call(
            "create_webhook",
            &[
                ("org_id", &org),
                ("url", "https://example.com/keygate"),
                ("events", "key.leaked,key.revoked"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (leaked_id, leaked) = owner.create_key(&org, "leaked", "keys:read").await;
    let (_, kept) = owner.create_key(&org, "kept", "keys:read").await;
    // The second instance has the key cached as valid.
    assert_eq!(whoami(&other, &leaked).await.0, StatusCode::OK);

    let source = "https://github.com/acme/app/blob/main/.env";
    let (status, headers, body) = report(
        &server.base,
        &json!({"keys": [leaked, unissued_key(), "not a key"], "source": source}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body, json!({"received": 3}));
    assert!(headers.get("keygate-key-expires").is_none());
    until_refused(&other, &leaked, "key_revoked").await;
    until_refused(&server.base, &leaked, "key_revoked").await;
    assert_eq!(whoami(&other, &kept).await.0, StatusCode::OK);

    // A report that matches nothing answers alike.
    let (status, _, body) = report(&server.base, &json!({"keys": [unissued_key()]})).await;
    assert_eq!(
        (status, body),
        (StatusCode::ACCEPTED, json!({"received": 1}))
    );
    // Reporting it again is harmless.
    let (status, _, _) = report(&server.base, &json!({"keys": [leaked]})).await;
    assert_eq!(status, StatusCode::ACCEPTED);

    let row = listed(&owner, &org, &leaked_id).await;
    assert_eq!(row["status"], "revoked");
    assert_eq!(row["revoked_by"], "Keygate (leak report)");
    let (_, events) = owner.call("list_key_activity", &[("org_id", &org)]).await;
    let revoked: Vec<&Value> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["key_id"] == leaked_id.as_str() && e["action"] == "key.revoked")
        .collect();
    assert_eq!(revoked.len(), 1, "{events}");
    assert_eq!(revoked[0]["actor"], "Keygate (leak report)");
    assert_eq!(
        revoked[0]["detail"],
        format!("revoked as leaked, found at {source}").as_str()
    );

    // The outbox: key.leaked and key.revoked, naming the key and the source, never the key.
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let conn = server.db.connect().await;
    let events = app::entities::webhook_event::Entity::find()
        .filter(app::entities::webhook_event::Column::OrgId.eq(&org))
        .all(&conn)
        .await
        .unwrap();
    let mut kinds: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    kinds.sort();
    assert_eq!(kinds, ["key.leaked", "key.revoked"]);
    for event in &events {
        assert!(!event.payload.contains(&leaked), "{}", event.payload);
        let payload: Value = serde_json::from_str(&event.payload).unwrap();
        assert_eq!(payload["data"]["key"]["id"], leaked_id.as_str());
        assert_eq!(payload["data"]["source"], source);
    }
}

async fn a_reported_old_secret_ends_its_overlap_and_the_new_one_works(db: TestDb) {
    let server = TestServer::start(db).await;
    let (owner, _) = server.user("Olive").await;
    let org = owner.create_org("Rolling").await;
    let (key_id, old) = owner.create_key(&org, "rolling", "keys:read").await;
    let (status, rolled) = owner
        .call(
            "roll_api_key",
            &[
                ("org_id", &org),
                ("key_id", &key_id),
                ("overlap_seconds", "86400"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rolled}");
    let new = rolled["secret"].as_str().unwrap().to_owned();
    assert_eq!(whoami(&server.base, &old).await.0, StatusCode::OK);

    let (status, _, body) = report(&server.base, &json!({"keys": [old]})).await;
    assert_eq!(
        (status, body),
        (StatusCode::ACCEPTED, json!({"received": 1}))
    );
    until_refused(&server.base, &old, "key_revoked").await;
    assert_eq!(whoami(&server.base, &new).await.0, StatusCode::OK);
    let row = listed(&owner, &org, &key_id).await;
    assert_eq!(row["status"], "active");
    assert!(row["rolling"].is_null(), "the overlap is over: {row}");
}

async fn bad_reports_change_nothing_and_reports_are_rate_limited(db: TestDb) {
    let server = TestServer::start_with(db, &[("KEYGATE_AUTH_FAILURE_LIMIT", "6")]).await;
    let (owner, _) = server.user("Olive").await;
    let org = owner.create_org("Careful").await;
    let (_, key) = owner.create_key(&org, "safe", "keys:read").await;
    let many: Vec<String> = (0..101).map(|_| key.clone()).collect();
    for (body, field) in [
        (json!({"keys": []}), "keys"),
        (json!({"keys": many}), "keys"),
        (
            json!({"keys": [key], "source": "ftp://example.com/dump"}),
            "source",
        ),
        (json!({"keys": [key], "source": "somewhere"}), "source"),
    ] {
        let (status, _, answer) = report(&server.base, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["field"], field, "{answer}");
    }
    let (status, _, answer) = report(&server.base, &json!({"key": key})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "unknown field: {answer}");
    assert_eq!(
        whoami(&server.base, &key).await.0,
        StatusCode::OK,
        "nothing changed"
    );

    // Four reports went through the limit above (the unknown field never got there); two
    // more are allowed, the next is refused.
    for _ in 0..2 {
        let (status, _, _) = report(&server.base, &json!({"keys": [unissued_key()]})).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    let (status, headers, answer) = report(&server.base, &json!({"keys": [key]})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
    assert!(headers.get("retry-after").is_some());
    assert_eq!(
        whoami(&server.base, &key).await.0,
        StatusCode::OK,
        "refused, not acted on"
    );
}

/// Issue 27 §8: a report costs one unit of the per-address failure budget per
/// well-formed key it carries, as trying each key would, so a report is no cheaper way
/// to test keys; repeats and strings that cannot be keys cost nothing more.
async fn a_report_costs_one_unit_per_key(db: TestDb) {
    let server = TestServer::start_with(db, &[("KEYGATE_AUTH_FAILURE_LIMIT", "6")]).await;
    let random_key = || {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        format::key_from_bytes(&bytes)
    };
    let first = random_key();
    let five: Vec<String> = [first.clone(), first.clone(), "not a key".into()]
        .into_iter()
        .chain((0..4).map(|_| random_key()))
        .collect();
    let (status, _, answer) = report(&server.base, &json!({ "keys": five })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let (status, _, answer) = report(&server.base, &json!({"keys": [random_key()]})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "the sixth unit: {answer}");
    let (status, headers, answer) = report(&server.base, &json!({"keys": [random_key()]})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
    assert!(headers.get("retry-after").is_some());
    // The same budget as failed verifications from that address.
    assert_eq!(
        whoami(&server.base, &random_key()).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
}

async fn the_cli_revokes_keys_read_from_stdin(db: TestDb) {
    use std::io::Write;
    let server = TestServer::start(db).await;
    let (owner, _) = server.user("Olive").await;
    let org = owner.create_org("Ops").await;
    let (first_id, first) = owner.create_key(&org, "first", "keys:read").await;
    let (_, second) = owner.create_key(&org, "second", "keys:read").await;
    let (_, kept) = owner.create_key(&org, "kept", "keys:read").await;
    let mut child = server
        .db
        .keygate()
        .args([
            "key",
            "revoke-leaked",
            "--source",
            "https://pastebin.example/raw/abc",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    write!(
        child.stdin.take().unwrap(),
        "{first}\n  {second} garbage\n{}\n",
        unissued_key()
    )
    .unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(
        stdout.trim(),
        "checked 4 strings: 2 keys revoked, 0 old secrets stopped"
    );
    assert!(stderr.contains(&format!("revoked {first_id}")), "{stderr}");
    until_refused(&server.base, &first, "key_revoked").await;
    until_refused(&server.base, &second, "key_revoked").await;
    assert_eq!(whoami(&server.base, &kept).await.0, StatusCode::OK);
}
