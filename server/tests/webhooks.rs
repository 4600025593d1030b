//! Organization webhooks end to end (issue 9 §2), on a fresh SQLite file and a fresh
//! PostgreSQL database: endpoints added on the settings page's server functions, real
//! deliveries to a local receiver with their Standard Webhooks signature checked, the
//! events every change raises (and nothing secret in them), a failing endpoint retried
//! with the same id, the expiry notices raised once each, the URL and role checks, and no
//! event lost or sent under a second id across a `kill -9` of the sender.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::process::Running;
use common::{Client, TestDb, TestServer, WAIT_LIMIT, eventually};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

on_both_databases!(
    events_arrive_signed_and_hold_no_secret,
    a_failing_endpoint_is_retried_with_the_same_id,
    expiry_notices_are_raised_once_each,
    urls_and_roles_are_checked,
    the_rest_api_manages_endpoints_with_a_session,
    no_event_is_lost_or_renamed_across_a_kill_9,
    a_tarpit_in_one_org_does_not_delay_another,
    a_secret_rotation_signs_with_both_secrets,
    a_removed_members_endpoints_stop_with_them,
);

/// The local receivers listen on loopback, which webhooks reach only when allowed.
const ALLOW_PRIVATE: (&str, &str) = ("KEYGATE_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1");

/// How the receiver answers.
const ANSWER_OK: u8 = 0;
const ANSWER_500: u8 = 1;
/// Holds the request for a minute: the attempt is in flight when the sender dies.
const ANSWER_HANG: u8 = 2;

#[derive(Debug, Clone)]
struct Delivery {
    id: String,
    timestamp: String,
    signature: String,
    body: Bytes,
    answered: u16,
}

impl Delivery {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A local HTTP endpoint that records every delivery and answers as told.
#[derive(Clone)]
struct Receiver {
    url: String,
    mode: Arc<AtomicU8>,
    seen: Arc<Mutex<Vec<Delivery>>>,
    /// Deliveries received and being held (ANSWER_HANG): in flight at the sender.
    held: Arc<std::sync::atomic::AtomicUsize>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let mode = r.mode.load(Ordering::SeqCst);
    let answered = match mode {
        ANSWER_500 => 500,
        _ => 200,
    };
    if mode == ANSWER_HANG {
        r.held.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(60)).await;
        return StatusCode::OK;
    }
    r.seen.lock().unwrap().push(Delivery {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body,
        answered,
    });
    StatusCode::from_u16(answered).unwrap()
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Receiver {
            url: format!("http://{}/hook", listener.local_addr().unwrap()),
            mode: Arc::new(AtomicU8::new(ANSWER_OK)),
            seen: Arc::default(),
            held: Arc::default(),
        };
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        receiver
    }

    fn answer(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }

    fn deliveries(&self) -> Vec<Delivery> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until a delivery of `event_type` (answered 2xx) has come; returns it.
    async fn wait_for(&self, event_type: &str) -> Delivery {
        eventually(
            &format!("a {event_type} delivery"),
            WAIT_LIMIT,
            async || {
                self.deliveries()
                    .into_iter()
                    .find(|d| d.answered == 200 && d.json()["type"] == event_type)
                    .ok_or_else(|| self.types())
            },
        )
        .await
    }

    fn types(&self) -> Vec<String> {
        self.deliveries()
            .iter()
            .map(|d| d.json()["type"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

/// Checks a delivery's signature the way a receiver following Standard Webhooks does.
fn assert_signed(delivery: &Delivery, whsec: &str) {
    let key = STANDARD
        .decode(whsec.strip_prefix("whsec_").expect("a whsec_ secret"))
        .unwrap();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.", delivery.id, delivery.timestamp).as_bytes());
    mac.update(&delivery.body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    assert_eq!(delivery.signature, expected, "signature of {}", delivery.id);
    assert!(delivery.id.starts_with("msg_"));
    let sent_at: i64 = delivery.timestamp.parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - sent_at).abs() < 120);
}

/// Adds an endpoint for `events` (comma-separated); returns (endpoint id, whsec secret).
async fn add_endpoint(owner: &Client, org_id: &str, url: &str, events: &str) -> (String, String) {
    let (status, body) = owner
        .call(
            "create_webhook",
            &[("org_id", org_id), ("url", url), ("events", events)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "create webhook: {body}");
    (
        body["endpoint"]["id"].as_str().unwrap().to_owned(),
        body["secret"].as_str().unwrap().to_owned(),
    )
}

async fn deliveries(owner: &Client, org_id: &str) -> Vec<Value> {
    let (status, body) = owner
        .call("list_webhook_deliveries", &[("org_id", org_id)])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().unwrap().clone()
}

async fn events_arrive_signed_and_hold_no_secret(db: TestDb) {
    let server = TestServer::start_with(db, &[ALLOW_PRIVATE]).await;
    // A second instance on the same database: between them, each event goes out once.
    let _second = server.another_instance().await;
    let receiver = Receiver::start().await;
    let quiet = Receiver::start().await;
    let (owner, _) = server.user("Olive").await;
    let org_id = owner.create_org("Hooks").await;
    let all =
        "key.created,key.rolled,key.revoked,key.paused,key.expiring,key.expired,member.removed";
    let (endpoint_id, whsec) = add_endpoint(&owner, &org_id, &receiver.url, all).await;
    // Another endpoint that only wants member.removed hears nothing about keys.
    add_endpoint(&owner, &org_id, &quiet.url, "member.removed").await;

    let (status, listed) = owner.call("list_webhooks", &[("org_id", &org_id)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(
        !listed.to_string().contains(&whsec),
        "the secret is shown once"
    );

    let (key_id, raw) = owner.create_key(&org_id, "billing", "keys:read").await;
    let created = receiver.wait_for("key.created").await;
    assert_signed(&created, &whsec);
    let body = created.json();
    assert_eq!(body["data"]["key"]["id"], key_id.as_str());
    assert_eq!(body["data"]["key"]["name"], "billing");
    assert_eq!(body["data"]["key"]["organization_id"], org_id.as_str());
    assert!(
        raw.starts_with(
            body["data"]["key"]["hint"]
                .as_str()
                .unwrap()
                .trim_end_matches('…')
        )
    );

    let (status, rolled) = owner
        .call(
            "roll_api_key",
            &[
                ("org_id", &org_id),
                ("key_id", &key_id),
                ("overlap_seconds", "3600"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rolled}");
    let new_raw = rolled["secret"].as_str().unwrap().to_owned();
    let event = receiver.wait_for("key.rolled").await.json();
    assert_eq!(event["data"]["key"]["id"], key_id.as_str());
    assert!(event["data"]["key"]["previous_secret_stops_at"].is_string());

    let (status, _) = owner
        .call("pause_api_key", &[("org_id", &org_id), ("key_id", &key_id)])
        .await;
    assert_eq!(status, StatusCode::OK);
    receiver.wait_for("key.paused").await;
    let (status, _) = owner
        .call(
            "revoke_api_key",
            &[("org_id", &org_id), ("key_id", &key_id)],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let revoked = receiver.wait_for("key.revoked").await.json();
    assert_eq!(revoked["data"]["reason"], "revoked");

    // A developer with a key is removed, their keys revoked with them.
    let (dev, dev_user) = server.user("Dev").await;
    let (status, body) = owner
        .call(
            "add_member",
            &[
                ("org_id", &org_id),
                ("email", &dev_user.email),
                ("role", "developer"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (dev_key, _) = dev.create_key(&org_id, "dev-key", "keys:read").await;
    let (status, body) = owner
        .call(
            "remove_member",
            &[
                ("org_id", &org_id),
                ("user_id", &dev_user.id),
                ("keys", "revoke"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let removed = receiver.wait_for("member.removed").await.json();
    assert_eq!(removed["data"]["member"]["email"], dev_user.email.as_str());
    assert_eq!(removed["data"]["keys"]["handover"], "revoked");
    assert_eq!(removed["data"]["keys"]["count"], 1);
    quiet.wait_for("member.removed").await;
    eventually("the key.revoked delivery", WAIT_LIMIT, async || {
        let revoked = receiver.deliveries().iter().any(|d| {
            let e = d.json();
            e["type"] == "key.revoked" && e["data"]["key"]["id"] == dev_key.as_str()
        });
        if revoked {
            Ok(())
        } else {
            Err(receiver.types())
        }
    })
    .await;

    // The test event goes to that endpoint only.
    let (status, test_id) = owner
        .call(
            "send_test_webhook",
            &[("org_id", &org_id), ("endpoint_id", &endpoint_id)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{test_id}");
    let test = receiver.wait_for("webhook.test").await;
    assert_eq!(test.id, test_id.as_str().unwrap());
    assert_signed(&test, &whsec);

    // Nothing secret went out: no raw key, no digest, no whsec.
    for d in receiver
        .deliveries()
        .iter()
        .chain(quiet.deliveries().iter())
    {
        let text = String::from_utf8_lossy(&d.body);
        for secret in [raw.as_str(), new_raw.as_str(), whsec.as_str()] {
            assert!(!text.contains(secret), "a secret in {text}");
        }
        assert!(!text.contains("digest"), "{text}");
    }
    assert_eq!(quiet.types(), ["member.removed"]);
    // Each change went out once: one id per event, delivered.
    let ids: BTreeSet<String> = receiver.deliveries().iter().map(|d| d.id.clone()).collect();
    assert_eq!(ids.len(), receiver.deliveries().len());

    // The deliveries log shows each with its answer.
    let log = deliveries(&owner, &org_id).await;
    let test_row = log
        .iter()
        .find(|d| d["event_id"] == test_id)
        .expect("the test event in the log");
    assert_eq!(test_row["status"], "delivered");
    assert_eq!(test_row["response_status"], 200);
    assert_eq!(test_row["attempts"], 1);
    assert_eq!(test_row["endpoint_url"], receiver.url.as_str());
}

async fn a_failing_endpoint_is_retried_with_the_same_id(db: TestDb) {
    let server = TestServer::start_with(db, &[ALLOW_PRIVATE]).await;
    let receiver = Receiver::start().await;
    receiver.answer(ANSWER_500);
    let (owner, _) = server.user("Olive").await;
    let org_id = owner.create_org("Retries").await;
    let (endpoint_id, _) = add_endpoint(&owner, &org_id, &receiver.url, "key.created").await;
    let (status, test_id) = owner
        .call(
            "send_test_webhook",
            &[("org_id", &org_id), ("endpoint_id", &endpoint_id)],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let test_id = test_id.as_str().unwrap().to_owned();
    // The first attempt fails; the log says so and when the next one is. (A delivery
    // counts its attempt when it is claimed, before the answer is in: wait for the answer.)
    let row = eventually(
        "the first attempt's answer in the log",
        WAIT_LIMIT,
        async || {
            let log = deliveries(&owner, &org_id).await;
            log.iter()
                .find(|d| d["attempts"] == 1 && !d["response_status"].is_null())
                .cloned()
                .ok_or(log)
        },
    )
    .await;
    assert_eq!(row["status"], "pending");
    assert_eq!(row["response_status"], 500);
    assert!(row["next_attempt_at"].is_string());
    // The endpoint recovers; the retry (5 s later) carries the same id.
    receiver.answer(ANSWER_OK);
    let delivered = receiver.wait_for("webhook.test").await;
    assert_eq!(delivered.id, test_id);
    let attempts: Vec<String> = receiver.deliveries().iter().map(|d| d.id.clone()).collect();
    assert_eq!(attempts, [test_id.clone(), test_id.clone()]);
    let log = eventually("the retry delivered in the log", WAIT_LIMIT, async || {
        let log = deliveries(&owner, &org_id).await;
        if log[0]["status"] == "delivered" {
            Ok(log)
        } else {
            Err(log)
        }
    })
    .await;
    assert_eq!(log[0]["attempts"], 2);
    assert_eq!(log[0]["response_status"], 200);
}

async fn expiry_notices_are_raised_once_each(db: TestDb) {
    let server = TestServer::start_with(db, &[ALLOW_PRIVATE]).await;
    let receiver = Receiver::start().await;
    let (owner, _) = server.user("Olive").await;
    let org_id = owner.create_org("Expiry").await;
    add_endpoint(&owner, &org_id, &receiver.url, "key.expiring,key.expired").await;
    let (status, body) = owner
        .call(
            "create_api_key",
            &[
                ("org_id", &org_id),
                ("name", "soon"),
                ("expiry", "7"),
                ("scopes", "keys:read"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let key_id = body["key"]["id"].as_str().unwrap().to_owned();
    // A key with no expiry, and one expiring in 30 days, raise nothing.
    owner.create_key(&org_id, "later", "keys:read").await;

    let conn = server.db.connect().await;
    let now = chrono::Utc::now();
    let scan = |at| app::webhooks::outbox::queue_expiry_events(&conn, at);
    // Whichever pass (or instance) gets there first raises it; the others find it raised.
    // (The server's own sender scans too, once a minute: it may have been first.)
    let first = scan(now).await.unwrap();
    assert_eq!(
        scan(now).await.unwrap(),
        0,
        "the 7-day notice is raised once"
    );
    assert!(first <= 1);
    let week = receiver.wait_for("key.expiring").await.json();
    assert_eq!(week["data"]["key"]["id"], key_id.as_str());
    assert_eq!(week["data"]["notice_days"], 7);
    // A day before: the 1-day notice, once.
    let day_before = now + chrono::Duration::days(6) + chrono::Duration::hours(1);
    assert_eq!(scan(day_before).await.unwrap(), 1);
    assert_eq!(scan(day_before).await.unwrap(), 0);
    // After: expired, once; and a week later nothing more.
    let after = now + chrono::Duration::days(7) + chrono::Duration::hours(1);
    assert_eq!(scan(after).await.unwrap(), 1);
    assert_eq!(scan(after).await.unwrap(), 0);
    assert_eq!(scan(now + chrono::Duration::days(14)).await.unwrap(), 0);
    eventually("three expiry notices delivered", WAIT_LIMIT, async || {
        if receiver.deliveries().len() >= 3 {
            Ok(())
        } else {
            Err(receiver.types())
        }
    })
    .await;
    let mut notices: Vec<(String, Value)> = receiver
        .deliveries()
        .iter()
        .map(|d| {
            let e = d.json();
            (
                e["type"].as_str().unwrap().to_owned(),
                e["data"]["notice_days"].clone(),
            )
        })
        .collect();
    // Sent concurrently: in any order, but each once.
    notices.sort_by_key(|(kind, days)| (kind.clone(), days.to_string()));
    assert_eq!(
        notices,
        [
            ("key.expired".to_owned(), Value::Null),
            ("key.expiring".to_owned(), Value::from(1)),
            ("key.expiring".to_owned(), Value::from(7)),
        ]
    );
    // A revoked key raises nothing.
    let (status, _) = owner
        .call(
            "revoke_api_key",
            &[("org_id", &org_id), ("key_id", &key_id)],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = owner
        .call(
            "create_api_key",
            &[
                ("org_id", &org_id),
                ("name", "gone"),
                ("expiry", "7"),
                ("scopes", "keys:read"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let gone = body["key"]["id"].as_str().unwrap().to_owned();
    let (status, _) = owner
        .call("revoke_api_key", &[("org_id", &org_id), ("key_id", &gone)])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(scan(now + chrono::Duration::hours(2)).await.unwrap(), 0);
}

async fn urls_and_roles_are_checked(db: TestDb) {
    // No KEYGATE_WEBHOOK_ALLOWED_HOSTS: private and loopback URLs are refused.
    let server = TestServer::start(db).await;
    let (owner, _) = server.user("Olive").await;
    let org_id = owner.create_org("Checks").await;
    for (url, events, field, says) in [
        (
            "http://127.0.0.1:9/hook",
            "key.created",
            "url",
            "private or loopback",
        ),
        (
            "http://169.254.169.254/latest",
            "key.created",
            "url",
            "private or loopback",
        ),
        ("http://localhost/hook", "key.created", "url", "localhost"),
        ("ftp://example.com/", "key.created", "url", "http://"),
        ("", "key.created", "url", "Enter the URL"),
        (
            "https://example.com/hook",
            "",
            "events",
            "at least one event",
        ),
        (
            "https://example.com/hook",
            "key.created,key.deleted",
            "events",
            "key.deleted",
        ),
    ] {
        let (status, body) = owner
            .call(
                "create_webhook",
                &[("org_id", &org_id), ("url", url), ("events", events)],
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
        assert_eq!(body["field"], field, "{url}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains(says),
            "{url}: {body}"
        );
    }
    let (status, listed) = owner.call("list_webhooks", &[("org_id", &org_id)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed, Value::Array(vec![]), "nothing was saved");

    let (endpoint_id, _) =
        add_endpoint(&owner, &org_id, "https://example.com/hook", "key.created").await;
    let (status, body) = owner
        .call(
            "create_webhook",
            &[
                ("org_id", &org_id),
                ("url", "https://example.com/hook"),
                ("events", "key.created"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // A developer may not see or change webhooks; an outsider does not see the org.
    let (dev, dev_user) = server.user("Dev").await;
    let (status, _) = owner
        .call(
            "add_member",
            &[
                ("org_id", &org_id),
                ("email", &dev_user.email),
                ("role", "developer"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (outsider, _) = server.user("Eve").await;
    for (client, expected) in [
        (&dev, StatusCode::FORBIDDEN),
        (&outsider, StatusCode::NOT_FOUND),
    ] {
        for (name, form) in [
            ("list_webhooks", vec![("org_id", org_id.as_str())]),
            ("list_webhook_deliveries", vec![("org_id", org_id.as_str())]),
            (
                "create_webhook",
                vec![
                    ("org_id", org_id.as_str()),
                    ("url", "https://example.org/x"),
                    ("events", "key.created"),
                ],
            ),
            (
                "send_test_webhook",
                vec![
                    ("org_id", org_id.as_str()),
                    ("endpoint_id", endpoint_id.as_str()),
                ],
            ),
            (
                "delete_webhook",
                vec![
                    ("org_id", org_id.as_str()),
                    ("endpoint_id", endpoint_id.as_str()),
                ],
            ),
        ] {
            let (status, body) = client.call(name, &form).await;
            assert_eq!(status, expected, "{name}: {body}");
        }
    }
    // Another org's owner cannot reach this endpoint through their own org.
    let other_org = outsider.create_org("Elsewhere").await;
    let (status, _) = outsider
        .call(
            "delete_webhook",
            &[("org_id", &other_org), ("endpoint_id", &endpoint_id)],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = owner
        .call(
            "delete_webhook",
            &[("org_id", &org_id), ("endpoint_id", &endpoint_id)],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, listed) = owner.call("list_webhooks", &[("org_id", &org_id)]).await;
    assert_eq!(listed, Value::Array(vec![]));
}

async fn no_event_is_lost_or_renamed_across_a_kill_9(db: TestDb) {
    let receiver = Receiver::start().await;
    let vars = [("KEYGATE_DATABASE_URL", db.url.as_str()), ALLOW_PRIVATE];
    let first = Running::start(db.data_dir(), &vars).await;
    let owner = common::browser(&first.base);
    let (status, body) = owner
        .call(
            "sign_up",
            &[
                ("email", "olive@example.com"),
                ("display_name", "Olive"),
                ("password", common::PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let org_id = owner.create_org("Crash").await;
    // Every attempt hangs: the sender dies with deliveries claimed and in flight.
    receiver.answer(ANSWER_HANG);
    add_endpoint(&owner, &org_id, &receiver.url, "key.created").await;
    let mut keys = BTreeSet::new();
    for n in 0..5 {
        keys.insert(
            owner
                .create_key(&org_id, &format!("k{n}"), "keys:read")
                .await
                .0,
        );
    }
    // The sender dies with a delivery in flight: the receiver holds a request.
    eventually(
        "a delivery in flight (held by the receiver)",
        WAIT_LIMIT,
        async || receiver.held.load(Ordering::SeqCst) > 0,
    )
    .await;
    first.kill9();

    receiver.answer(ANSWER_OK);
    let second = Running::start(db.data_dir(), &vars).await;
    // The lease and the claims of the dead sender lapse within 30 s; then all go out.
    let by_key = eventually(
        "every event arrives after the kill -9",
        Duration::from_secs(90),
        async || {
            let mut by_key: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for d in receiver.deliveries() {
                let key = d.json()["data"]["key"]["id"].as_str().unwrap().to_owned();
                by_key.entry(key).or_default().insert(d.id.clone());
            }
            if by_key.len() == keys.len() {
                Ok(by_key)
            } else {
                Err(format!(
                    "only {} of {} events arrived\n{}",
                    by_key.len(),
                    keys.len(),
                    second.output()
                ))
            }
        },
    )
    .await;
    assert_eq!(by_key.keys().cloned().collect::<BTreeSet<_>>(), keys);
    for (key, ids) in &by_key {
        assert_eq!(
            ids.len(),
            1,
            "key {key}'s event came under two ids: {ids:?}"
        );
    }
    second.stop();
}

async fn the_rest_api_manages_endpoints_with_a_session(db: TestDb) {
    let server = TestServer::start_with(db, &[ALLOW_PRIVATE]).await;
    let receiver = Receiver::start().await;
    let (owner, _) = server.user("Olive").await;
    let org_id = owner.create_org("Rest").await;
    // A browser session's API writes carry its CSRF token, as the page's script sends it.
    let token = owner.csrf_token().await.unwrap();
    let api = |method: reqwest::Method, path: &str| {
        owner
            .http
            .request(method, format!("{}/api/v1{path}", server.base))
            .header("origin", &server.base)
            .header("x-csrf-token", &token)
    };
    let read = |response: reqwest::Response| async move {
        let status = response.status();
        let no_store = response
            .headers()
            .get("cache-control")
            .is_some_and(|v| v == "no-store");
        let body: Value = response.json().await.unwrap_or(Value::Null);
        (status, no_store, body)
    };

    let (status, no_store, created) = read(
        api(reqwest::Method::POST, &format!("/webhooks?org_id={org_id}"))
            .json(&serde_json::json!({"url": receiver.url, "events": ["key.created"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(no_store);
    let whsec = created["secret"].as_str().unwrap().to_owned();
    assert!(whsec.starts_with("whsec_"));
    let id = created["endpoint"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created["endpoint"]["events"],
        serde_json::json!(["key.created"])
    );

    let (status, _, listed) = read(
        api(reqwest::Method::GET, &format!("/webhooks?org_id={org_id}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed[0]["id"], id.as_str());
    assert!(!listed.to_string().contains(&whsec));

    let (status, _, refused) = read(
        api(reqwest::Method::POST, &format!("/webhooks?org_id={org_id}"))
            .json(&serde_json::json!({"url": "https://example.com/x", "events": ["key.nope"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["field"], "events");

    let (status, _, queued) = read(
        api(
            reqwest::Method::POST,
            &format!("/webhooks/{id}/test?org_id={org_id}"),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let event_id = queued["event_id"].as_str().unwrap().to_owned();
    let test = receiver.wait_for("webhook.test").await;
    assert_eq!(test.id, event_id);
    assert_signed(&test, &whsec);
    let log = eventually(
        "the test event delivered in the log",
        WAIT_LIMIT,
        async || {
            let (status, _, log) = read(
                api(
                    reqwest::Method::GET,
                    &format!("/webhooks/deliveries?org_id={org_id}"),
                )
                .send()
                .await
                .unwrap(),
            )
            .await;
            assert_eq!(status, StatusCode::OK);
            if log[0]["status"] == "delivered" {
                Ok(log)
            } else {
                Err(log)
            }
        },
    )
    .await;
    assert_eq!(log[0]["event_id"], event_id.as_str());
    assert_eq!(log[0]["response_status"], 200);

    // A key, even the owner's with every scope, cannot manage webhooks.
    let (_, raw) = owner
        .create_key(&org_id, "ops", "keys:read,keys:write,gateway")
        .await;
    let response = common::http()
        .get(format!("{}/api/v1/webhooks", server.base))
        .header("x-api-key", &raw)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let response = api(
        reqwest::Method::DELETE,
        &format!("/webhooks/{id}?org_id={org_id}"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (_, _, listed) = read(
        api(reqwest::Method::GET, &format!("/webhooks?org_id={org_id}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(listed, Value::Array(vec![]));
}

/// W4 (issue 27 §2): one organization's endpoints that never answer hold a few of the
/// sender's slots, one attempt per endpoint, not the sender: another organization's
/// delivery goes out while every one of those attempts still hangs (not once one has
/// timed out and freed its slot). Test events are rate limited per endpoint.
async fn a_tarpit_in_one_org_does_not_delay_another(db: TestDb) {
    let tarpit = Receiver::start().await;
    tarpit.answer(ANSWER_HANG);
    let fair = Receiver::start().await;
    let server = TestServer::start_with(db, &[ALLOW_PRIVATE]).await;
    let (mallory, _) = server.user("Mallory").await;
    let tarpits = mallory.create_org("Tarpits").await;
    for i in 0..10 {
        let url = format!("{}?{i}", tarpit.url);
        let (endpoint, _) = add_endpoint(&mallory, &tarpits, &url, "key.created").await;
        for _ in 0..app::webhooks::TEST_EVENT_LIMIT {
            let (status, body) = send_test(&mallory, &tarpits, &endpoint).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        let (status, body) = send_test(&mallory, &tarpits, &endpoint).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    }
    // The sender takes up the tarpits: as many attempts hang as one organization may hold.
    // (Read from the database: the page's log shows only the newest deliveries.)
    let conn = server.db.connect().await;
    let tarpit_deliveries = async || {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        app::entities::webhook_delivery::Entity::find()
            .filter(app::entities::webhook_delivery::Column::OrgId.eq(&tarpits))
            .all(&conn)
            .await
            .unwrap()
    };
    eventually("the sender takes up the tarpits", WAIT_LIMIT, async || {
        let claimed = tarpit_deliveries()
            .await
            .into_iter()
            .filter(|d| d.attempts > 0)
            .count();
        if claimed >= server::webhook_worker::MAX_PER_ORG {
            Ok(())
        } else {
            Err(claimed)
        }
    })
    .await;

    let (victor, _) = server.user("Victor").await;
    let org = victor.create_org("Victims").await;
    let (endpoint, _) = add_endpoint(&victor, &org, &fair.url, "key.created").await;
    let (status, body) = send_test(&victor, &org, &endpoint).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    fair.wait_for("webhook.test").await;
    // No tarpit attempt has ended (each times out after the sender's attempt timeout, and
    // records why): the delivery did not wait for a tarpit's slot.
    for d in tarpit_deliveries().await {
        assert!(
            d.error.is_none() && d.response_status.is_none(),
            "a tarpit attempt ended before another organization's delivery went out: {d:?}"
        );
    }
}

/// W5 (issue 27 §7): while the server secret is rotated (`KEYGATE_PREVIOUS_SECRET`),
/// deliveries carry a signature under the endpoint's old secret, which receivers hold,
/// and one under its new secret.
async fn a_secret_rotation_signs_with_both_secrets(db: TestDb) {
    use sea_orm::{ConnectionTrait, EntityTrait};
    const OLD: &str = "the old server secret, 40 characters long";
    const NEW: &str = "the new server secret, 40 characters long";
    let receiver = Receiver::start().await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (base, task) = common::spawn_server(
        db.config_with(&[ALLOW_PRIVATE, ("KEYGATE_SECRET", OLD)]),
        async move {
            let _ = stopped.await;
        },
    );
    common::wait_until_ready(&base).await;
    let owner = common::browser(&base);
    let (status, body) = owner
        .call(
            "sign_up",
            &[
                ("email", "rota@example.com"),
                ("display_name", "Rota"),
                ("password", common::PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let org = owner.create_org("Rotating").await;
    let (endpoint_id, old_whsec) = add_endpoint(&owner, &org, &receiver.url, "key.created").await;
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    // The stopped sender's lease would keep the next one idle for half a minute.
    let conn = db.connect().await;
    conn.execute_unprepared("DELETE FROM leases").await.unwrap();

    let config = db.config_with(&[
        ALLOW_PRIVATE,
        ("KEYGATE_SECRET", NEW),
        ("KEYGATE_PREVIOUS_SECRET", OLD),
    ]);
    let (base, _task) = common::spawn_server(config, std::future::pending());
    common::wait_until_ready(&base).await;
    let owner = common::browser(&base);
    let (status, body) = owner
        .call(
            "log_in",
            &[
                ("email", "rota@example.com"),
                ("password", common::PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = send_test(&owner, &org, &endpoint_id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let delivery = receiver.wait_for("webhook.test").await;
    let signatures: Vec<&str> = delivery.signature.split(' ').collect();
    assert_eq!(signatures.len(), 2, "{}", delivery.signature);
    let endpoint = app::entities::webhook_endpoint::Entity::find_by_id(endpoint_id.clone())
        .one(&conn)
        .await
        .unwrap()
        .unwrap();
    let new_whsec = app::webhooks::outbox::whsec(&app::webhooks::outbox::signing_key(
        &app::ssr::Secret::new(NEW),
        &endpoint,
    ));
    assert_ne!(new_whsec, old_whsec);
    // A receiver tries each signature (Standard Webhooks): the old secret, which it
    // holds, verifies, and so does the new one.
    let verifies = |whsec: &str| {
        signatures.iter().any(|s| {
            signed_by(
                &Delivery {
                    signature: (*s).to_owned(),
                    ..delivery.clone()
                },
                whsec,
            )
        })
    };
    assert!(
        verifies(&old_whsec),
        "the old secret: {}",
        delivery.signature
    );
    assert!(
        verifies(&new_whsec),
        "the new secret: {}",
        delivery.signature
    );
}

/// Whether `delivery`'s signature is the Standard Webhooks signature under `whsec`.
fn signed_by(delivery: &Delivery, whsec: &str) -> bool {
    let key = STANDARD
        .decode(whsec.strip_prefix("whsec_").expect("a whsec_ secret"))
        .unwrap();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.", delivery.id, delivery.timestamp).as_bytes());
    mac.update(&delivery.body);
    delivery.signature == format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Z6 (issue 27 §4): a member's webhook endpoints stop with their membership, in the
/// removal's transaction (the removal dialog lists them first), and do not even hear of
/// the removal; endpoint changes are audited (created, tested, disabled, deleted).
async fn a_removed_members_endpoints_stop_with_them(db: TestDb) {
    let theirs = Receiver::start().await;
    let ours = Receiver::start().await;
    let server = TestServer::start_with(db, &[ALLOW_PRIVATE]).await;
    let (owner, _) = server.user("Olive").await;
    let org = owner.create_org("Departures").await;
    let (admin, adam) = server.user("Adam").await;
    owner.add_member(&org, &adam.email, "admin").await;
    let (their_endpoint, _) =
        add_endpoint(&admin, &org, &theirs.url, "key.created,member.removed").await;
    add_endpoint(&owner, &org, &ours.url, "key.created,member.removed").await;
    let (status, body) = send_test(&admin, &org, &their_endpoint).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    theirs.wait_for("webhook.test").await;

    // What the removal dialog lists.
    let (status, listed) = owner
        .call(
            "list_member_webhooks",
            &[("org_id", &org), ("user_id", &adam.id)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["url"], theirs.url.as_str());

    let (status, body) = owner
        .call("remove_member", &[("org_id", &org), ("user_id", &adam.id)])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    owner.create_key(&org, "after", "gateway").await;
    let removed = ours.wait_for("member.removed").await;
    assert_eq!(removed.json()["data"]["webhook_endpoints_disabled"], 1);
    ours.wait_for("key.created").await;
    assert_eq!(
        theirs.types(),
        ["webhook.test"],
        "a removed admin's endpoint hears nothing more, not even the removal"
    );

    // The Webhooks page says so, and a test event is refused.
    let (_, endpoints) = owner.call("list_webhooks", &[("org_id", &org)]).await;
    let mine: Vec<&Value> = endpoints
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["id"] == their_endpoint.as_str())
        .collect();
    assert!(
        mine[0]["disabled"]
            .as_str()
            .is_some_and(|r| r.contains("left the organization")),
        "{endpoints}"
    );
    let (status, body) = send_test(&owner, &org, &their_endpoint).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = owner
        .call(
            "delete_webhook",
            &[("org_id", &org), ("endpoint_id", &their_endpoint)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Every endpoint change is in the activity, by host only (a path may hold a token).
    let (_, activity) = owner.call("list_key_activity", &[("org_id", &org)]).await;
    let actions: Vec<&str> = activity
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["key_id"] == their_endpoint.as_str())
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "webhook.deleted",
            "webhook.disabled",
            "webhook.tested",
            "webhook.created"
        ],
        "{activity}"
    );
    assert!(!activity.to_string().contains("/hook"), "{activity}");
}

/// Sends a test event to an endpoint through the page's server function.
async fn send_test(by: &Client, org_id: &str, endpoint_id: &str) -> (StatusCode, Value) {
    by.call(
        "send_test_webhook",
        &[("org_id", org_id), ("endpoint_id", endpoint_id)],
    )
    .await
}
