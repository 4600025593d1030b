//! The webhook sender against a local receiver: signed deliveries, the private-address
//! refusal (no connection made), redirects not followed, nothing kept of a private
//! destination's answer, timeouts and closed ports.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::webhooks::address::{AllowedHosts, unreachable_host};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use server::webhook_http::{EXCERPT_LIMIT, Sender};
use sha2::Sha256;
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
struct Received {
    path: &'static str,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Clone, Default)]
struct Receiver {
    port: u16,
    seen: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn record(&self, path: &'static str, headers: HeaderMap, body: Bytes) {
        self.seen.lock().unwrap().push(Received {
            path,
            headers,
            body,
        });
    }

    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn count_of(&self, path: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .count()
    }

    fn url(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.port)
    }
}

async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> &'static str {
    r.record("/hook", headers, body);
    "thanks"
}

async fn redirect(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    r.record("/redirect", headers, body);
    let target = r.url("127.0.0.1", "/target");
    (StatusCode::FOUND, [(header::LOCATION, target)], "moved")
}

async fn target(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> &'static str {
    r.record("/target", headers, body);
    "should not be reached"
}

async fn big(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> String {
    r.record("/big", headers, body);
    "x".repeat(5000)
}

async fn slow(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> &'static str {
    r.record("/slow", headers, body);
    tokio::time::sleep(Duration::from_secs(3)).await;
    "late"
}

/// Starts the receiver on 127.0.0.1 with an ephemeral port.
async fn start() -> Receiver {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver = Receiver {
        port: listener.local_addr().unwrap().port(),
        ..Receiver::default()
    };
    let app = Router::new()
        .route("/hook", post(hook))
        .route("/redirect", post(redirect))
        .route("/target", post(target).get(target))
        .route("/big", post(big))
        .route("/slow", post(slow))
        .with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    receiver
}

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const OLD_SECRET: &[u8] = b"the secret being rotated out....";
const BODY: &[u8] = br#"{"type":"key.created","data":{"id":"k_1"}}"#;

fn verifies(secret: &[u8], id: &str, timestamp: &str, body: &[u8], signature: &str) -> bool {
    let Some(encoded) = signature.strip_prefix("v1,") else {
        return false;
    };
    let Ok(tag) = STANDARD.decode(encoded) else {
        return false;
    };
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&tag).is_ok()
}

/// Loopback allowed, as an operator allows an internal receiver.
fn loopback() -> Arc<AllowedHosts> {
    Arc::new(AllowedHosts::parse("127.0.0.1").unwrap())
}

#[tokio::test]
async fn delivery_is_signed_and_succeeds() {
    common::within_time_limit("delivery_is_signed_and_succeeds", async {
        let receiver = start().await;
        let sender = Sender::new(loopback());
        let attempt = sender
            .send(
                &receiver.url("127.0.0.1", "/hook"),
                "msg_2Abc",
                1_700_000_000,
                BODY,
                &[SECRET, OLD_SECRET],
            )
            .await;
        assert_eq!(attempt.status, Some(200), "{attempt:?}");
        assert!(attempt.succeeded());
        assert_eq!(attempt.error, None);
        // A private destination's words stay on the operator's network (issue 27 §6).
        assert_eq!(attempt.excerpt, "");

        let seen = receiver.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 1);
        let got = &seen[0];
        assert_eq!(got.body.as_ref(), BODY);
        let h = |name: &str| got.headers.get(name).unwrap().to_str().unwrap().to_owned();
        assert_eq!(h("webhook-id"), "msg_2Abc");
        assert_eq!(h("webhook-timestamp"), "1700000000");
        assert_eq!(h("content-type"), "application/json");
        assert_eq!(h("user-agent"), "Keygate-Webhooks/1");
        let signatures: Vec<String> = h("webhook-signature")
            .split(' ')
            .map(str::to_owned)
            .collect();
        assert_eq!(signatures.len(), 2);
        assert!(verifies(
            SECRET,
            "msg_2Abc",
            "1700000000",
            BODY,
            &signatures[0]
        ));
        assert!(verifies(
            OLD_SECRET,
            "msg_2Abc",
            "1700000000",
            BODY,
            &signatures[1]
        ));
        assert!(!verifies(
            SECRET,
            "msg_2Abc",
            "1700000001",
            BODY,
            &signatures[0]
        ));
        assert!(!verifies(
            b"wrong",
            "msg_2Abc",
            "1700000000",
            BODY,
            &signatures[0]
        ));

        // localhost works too with the opt-in.
        let attempt = sender
            .send(
                &receiver.url("localhost", "/hook"),
                "msg_2",
                1,
                BODY,
                &[SECRET],
            )
            .await;
        assert_eq!(attempt.status, Some(200), "{attempt:?}");
        assert_eq!(receiver.count(), 2);
    })
    .await;
}

#[tokio::test]
async fn private_addresses_are_refused_without_connecting() {
    common::within_time_limit("private_addresses_are_refused_without_connecting", async {
        let receiver = start().await;
        let sender = Sender::new(Default::default());
        for host in ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]"] {
            let attempt = sender
                .send(&receiver.url(host, "/hook"), "msg_1", 1, BODY, &[SECRET])
                .await;
            assert_eq!(attempt.status, None, "{host}: {attempt:?}");
            assert!(!attempt.succeeded());
            let error = attempt.error.unwrap();
            // A literal address is named; a host name gets the sentence a name that does
            // not resolve gets (W2).
            assert!(
                error.contains("private") || error == unreachable_host("localhost"),
                "{host}: {error}"
            );
            assert!(!error.contains("/hook"), "the error names no URL: {error}");
        }
        // The same URL, allowed by the operator, does reach the receiver: the port was right.
        assert_eq!(receiver.count(), 0);
        let attempt = Sender::new(loopback())
            .send(
                &receiver.url("127.0.0.1", "/hook"),
                "msg_1",
                1,
                BODY,
                &[SECRET],
            )
            .await;
        assert_eq!(attempt.status, Some(200));
        assert_eq!(receiver.count(), 1);
    })
    .await;
}

#[tokio::test]
async fn redirects_are_recorded_not_followed() {
    common::within_time_limit("redirects_are_recorded_not_followed", async {
        let receiver = start().await;
        let attempt = Sender::new(loopback())
            .send(
                &receiver.url("127.0.0.1", "/redirect"),
                "msg_1",
                1,
                BODY,
                &[SECRET],
            )
            .await;
        assert_eq!(attempt.status, Some(302), "{attempt:?}");
        assert!(!attempt.succeeded());
        assert_eq!(attempt.error, None);
        assert_eq!(
            attempt.excerpt, "",
            "nothing kept from a private destination"
        );
        assert_eq!(receiver.count_of("/redirect"), 1);
        assert_eq!(receiver.count_of("/target"), 0);
    })
    .await;
}

/// What a private destination answers is not kept (issue 27 §6): the organization's
/// admins see the status of a delivery to a host the operator allowed, never its body.
/// (The 1 KB limit on a public answer's excerpt is `webhook_http`'s unit test.)
#[tokio::test]
async fn a_private_destination_keeps_its_answer() {
    common::within_time_limit("a_private_destination_keeps_its_answer", async {
        let receiver = start().await;
        let attempt = Sender::new(loopback())
            .send(
                &receiver.url("127.0.0.1", "/big"),
                "msg_1",
                1,
                BODY,
                &[SECRET],
            )
            .await;
        assert_eq!(attempt.status, Some(200));
        assert_eq!(attempt.excerpt, "");
        assert_eq!(EXCERPT_LIMIT, 1024);
    })
    .await;
}

#[tokio::test]
async fn slow_receiver_times_out() {
    common::within_time_limit("slow_receiver_times_out", async {
        let receiver = start().await;
        let sender = Sender::with_timeout(loopback(), Duration::from_millis(300));
        // The receiver answers after 3 s: only the sender's timeout makes this attempt fail.
        let attempt = sender
            .send(
                &receiver.url("127.0.0.1", "/slow"),
                "msg_1",
                1,
                BODY,
                &[SECRET],
            )
            .await;
        assert_eq!(attempt.status, None, "{attempt:?}");
        let error = attempt.error.unwrap();
        assert!(error.contains("timed out"), "{error}");
        assert_eq!(receiver.count_of("/slow"), 1);
    })
    .await;
}

#[tokio::test]
async fn closed_port_is_an_error() {
    common::within_time_limit("closed_port_is_an_error", async {
        // A port held by a socket that is bound but does not listen: connections to it are
        // refused, and no other process can start listening on it meanwhile.
        let closed = tokio::net::TcpSocket::new_v4().unwrap();
        closed.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = closed.local_addr().unwrap().port();
        let attempt = Sender::with_timeout(loopback(), Duration::from_secs(5))
            .send(
                &format!("http://127.0.0.1:{port}/hook"),
                "msg_1",
                1,
                BODY,
                &[SECRET],
            )
            .await;
        assert_eq!(attempt.status, None, "{attempt:?}");
        assert!(!attempt.succeeded());
        let error = attempt.error.unwrap();
        assert!(error.contains("connect"), "{error}");
    })
    .await;
}
