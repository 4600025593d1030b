//! The gateway against a real upstream server started by the test: identity headers in,
//! credentials out, bodies of several MB streamed both ways, and the failure statuses
//! (no upstream 404, timeout 504, upstream down 502).

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::IntoResponse;
use axum::routing::{any, get, post};
use common::{TestDb, TestServer};
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const MB: usize = 1024 * 1024;

/// Deterministic content for streamed bodies.
fn chunk(i: usize) -> Vec<u8> {
    (0..64 * 1024)
        .map(|j| ((i * 31 + j * 7) % 251) as u8)
        .collect()
}

/// The upstream: echoes what it received, counts streamed bodies, streams big answers,
/// and has a slow route.
async fn start_upstream() -> String {
    async fn echo(request: Request) -> impl IntoResponse {
        let headers: serde_json::Map<String, Value> = request
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or("?"))))
            .collect();
        (
            [("x-upstream", "yes"), ("cache-control", "max-age=60")],
            axum::Json(json!({
                "method": request.method().as_str(),
                "uri": request.uri().to_string(),
                "headers": headers,
            })),
        )
    }
    async fn count(body: Body) -> impl IntoResponse {
        let mut stream = body.into_data_stream();
        let mut hasher = Sha256::new();
        let mut len = 0usize;
        while let Some(piece) = stream.next().await {
            let piece = piece.unwrap();
            len += piece.len();
            hasher.update(&piece);
        }
        axum::Json(json!({"len": len, "sha256": format!("{:x}", hasher.finalize())}))
    }
    async fn download(axum::extract::Path(mb): axum::extract::Path<usize>) -> impl IntoResponse {
        let chunks = futures_util::stream::iter(0..mb * 16)
            .map(|i| Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(chunk(i))));
        Body::from_stream(chunks)
    }
    async fn slow() -> &'static str {
        tokio::time::sleep(Duration::from_secs(3)).await;
        "late"
    }
    let app = axum::Router::new()
        .route("/base/echo/{*rest}", any(echo))
        .route("/base/count", post(count))
        .route("/base/download/{mb}", get(download))
        .route("/base/slow", get(slow));
    format!("{}/base", common::serve(app).await)
}

async fn gateway_server(extra: &[(&str, &str)]) -> (TestServer, String, String, String) {
    let server = TestServer::start_with(TestDb::sqlite().await, extra).await;
    let (ada, _) = server.user("Ada").await;
    let org = ada.create_org("Acme").await;
    let (key_id, key) = ada.create_key(&org, "gw", "gateway").await;
    (server, org, key_id, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_with_identity_and_without_credentials() {
    common::within_time_limit("forwards_with_identity_and_without_credentials", async {
        let upstream = start_upstream().await;
        let (server, org, key_id, key) =
            gateway_server(&[("KEYGATE_UPSTREAM_URL", upstream.as_str())]).await;
        let client = common::http();
        let response = client
            .patch(format!("{}/gw/echo/a/b?x=1&y=two", server.base))
            .header("authorization", format!("Bearer {key}"))
            .header("x-keygate-org-id", "org_spoofed")
            .header("x-custom", "kept")
            .header("cookie", "keygate_session=should-not-leak; theirs=1")
            .body("hello")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["x-upstream"], "yes");
        assert_eq!(
            response.headers()["cache-control"],
            "max-age=60",
            "the upstream's answer is passed through"
        );
        let seen: Value = response.json().await.unwrap();
        assert_eq!(seen["method"], "PATCH");
        assert_eq!(seen["uri"], "/base/echo/a/b?x=1&y=two");
        let headers = &seen["headers"];
        assert_eq!(headers["x-keygate-org-id"], org.as_str());
        assert_eq!(headers["x-keygate-key-id"], key_id.as_str());
        assert_eq!(headers["x-keygate-scopes"], "gateway");
        assert_eq!(headers["x-custom"], "kept");
        assert_eq!(headers["cookie"], "theirs=1");
        assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
        assert!(headers.get("authorization").is_none(), "{headers}");
        assert!(headers.get("x-api-key").is_none(), "{headers}");
        assert!(
            !seen.to_string().contains(&key),
            "the key reached the upstream"
        );

        let (status, seen) = common::api::call(
            &client,
            reqwest::Method::GET,
            &format!("{}/gw/echo/x", server.base),
            &key,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{seen}");
        assert!(seen["headers"].get("x-api-key").is_none());
        assert_eq!(seen["uri"], "/base/echo/x");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_bodies_of_several_megabytes_both_ways() {
    common::within_time_limit("streams_bodies_of_several_megabytes_both_ways", async {
        let upstream = start_upstream().await;
        let (server, _, _, key) =
            gateway_server(&[("KEYGATE_UPSTREAM_URL", upstream.as_str())]).await;
        let client = common::http();

        // Up: 8 MB sent as a stream of chunks (no Content-Length), far over the API body limit.
        let mut expected = Sha256::new();
        for i in 0..8 * 16 {
            expected.update(chunk(i));
        }
        let body = futures_util::stream::iter(0..8 * 16).map(|i| Ok::<_, std::io::Error>(chunk(i)));
        let response = client
            .post(format!("{}/gw/count", server.base))
            .header("x-api-key", &key)
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let counted: Value = response.json().await.unwrap();
        assert_eq!(counted["len"], 8 * MB);
        assert_eq!(counted["sha256"], format!("{:x}", expected.finalize()));

        // Down: 12 MB streamed back, byte for byte.
        let response = client
            .get(format!("{}/gw/download/12", server.base))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let mut stream = response.bytes_stream();
        let (mut got, mut want) = (Sha256::new(), Sha256::new());
        let mut len = 0;
        while let Some(piece) = stream.next().await {
            let piece = piece.unwrap();
            len += piece.len();
            got.update(&piece);
        }
        for i in 0..12 * 16 {
            want.update(chunk(i));
        }
        assert_eq!(len, 12 * MB);
        assert_eq!(got.finalize(), want.finalize());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_404_504_502_401_and_403() {
    common::within_time_limit("failures_are_404_504_502_401_and_403", async {
        let upstream = start_upstream().await;
        let client = common::http();
        let get = |base: &str, path: &str, key: &str| {
            client
                .get(format!("{base}{path}"))
                .header("x-api-key", key)
                .send()
        };
        let json = |r: reqwest::Response| async move {
            let status = r.status();
            (status, r.json::<Value>().await.unwrap())
        };

        // Timeout: the upstream answers after 3 s; the gateway waits 0.5 s.
        let (server, org, _, key) = gateway_server(&[
            ("KEYGATE_UPSTREAM_URL", upstream.as_str()),
            ("KEYGATE_UPSTREAM_TIMEOUT", "0.5"),
        ])
        .await;
        let (status, body) = json(get(&server.base, "/gw/slow", &key).await.unwrap()).await;
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
        assert_eq!(body["error"], "gateway_timeout");

        // No key: 401; a key without the gateway scope: 403.
        let (status, body) = json(
            client
                .get(format!("{}/gw/echo/x", server.base))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        let ada = server.client();
        let (status, _) = ada
            .call(
                "log_in",
                &[("email", "ada@example.com"), ("password", common::PASSWORD)],
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (_, reader) = ada.create_key(&org, "reader", "keys:read").await;
        let (status, body) = json(get(&server.base, "/gw/echo/x", &reader).await.unwrap()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["error"], "insufficient_scope");

        // Upstream down: a port held by a socket that is bound but does not listen, so
        // connections are refused and nothing else can listen there meanwhile.
        let held = tokio::net::TcpSocket::new_v4().unwrap();
        held.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let closed = held.local_addr().unwrap();
        let (down, _, _, key) =
            gateway_server(&[("KEYGATE_UPSTREAM_URL", &format!("http://{closed}"))]).await;
        let (status, body) = json(get(&down.base, "/gw/anything", &key).await.unwrap()).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
        assert_eq!(body["error"], "bad_gateway");

        // No upstream configured: 404 with a clear error.
        let (none, _, _, key) = gateway_server(&[]).await;
        let (status, body) = json(get(&none.base, "/gw/anything", &key).await.unwrap()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(body["error"], "no_upstream");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("KEYGATE_UPSTREAM_URL")
        );
    })
    .await;
}

/// An upstream that counts the connections it accepts, answers `/ok` with a body,
/// `/empty` with 204 and `/close` with `connection: close`, and closes every idle
/// connection open when `shut` is bumped (as an upstream restarting, or timing idle
/// connections out, does).
async fn counting_upstream() -> (
    String,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
    tokio::sync::watch::Sender<u32>,
) {
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let accepted = std::sync::Arc::new(AtomicUsize::new(0));
    let (shut, watch) = tokio::sync::watch::channel(0u32);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counter = accepted.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            let mut watch = watch.clone();
            let born = *watch.borrow();
            tokio::spawn(async move {
                let service =
                    service_fn(|request: http::Request<hyper::body::Incoming>| async move {
                        let mut response = http::Response::new(String::new());
                        match request.uri().path() {
                            "/empty" => *response.status_mut() = http::StatusCode::NO_CONTENT,
                            "/close" => {
                                *response.body_mut() = "closing".into();
                                response
                                    .headers_mut()
                                    .insert("connection", http::HeaderValue::from_static("close"));
                            }
                            _ => *response.body_mut() = "ok".into(),
                        }
                        Ok::<_, std::convert::Infallible>(response)
                    });
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service);
                let mut connection = std::pin::pin!(connection);
                let shut = tokio::select! {
                    _ = connection.as_mut() => false,
                    seen = watch.wait_for(|shut| *shut > born) => seen.is_ok(),
                };
                if shut {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            });
        }
    });
    (format!("http://{addr}"), accepted, shut)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_reused_and_an_upstream_closing_them_costs_no_request() {
    use std::sync::atomic::Ordering;
    common::within_time_limit("connections are reused", async {
        let (upstream, accepted, shut) = counting_upstream().await;
        let (server, _, _, key) = gateway_server(&[("KEYGATE_UPSTREAM_URL", &upstream)]).await;
        let client = common::http();
        let call = |method: reqwest::Method, path: &str| {
            client
                .request(method, format!("{}/gw{path}", server.base))
                .header("x-api-key", &key)
                .send()
        };
        let ok = |path: &'static str| {
            let call = &call;
            async move {
                let response = call(reqwest::Method::GET, path).await.unwrap();
                let status = response.status();
                (status, response.text().await.unwrap())
            }
        };

        // One after another: one connection, whether the answer has a body or not.
        for _ in 0..10 {
            assert_eq!(ok("/ok").await, (StatusCode::OK, "ok".into()));
            assert_eq!(ok("/empty").await.0, StatusCode::NO_CONTENT);
            let head = call(reqwest::Method::HEAD, "/ok").await.unwrap();
            assert_eq!(head.status(), StatusCode::OK);
        }
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            1,
            "connections were not reused"
        );

        // The upstream says it closes: the next request opens another connection.
        assert_eq!(ok("/close").await, (StatusCode::OK, "closing".into()));
        assert_eq!(ok("/ok").await, (StatusCode::OK, "ok".into()));
        assert_eq!(accepted.load(Ordering::SeqCst), 2);

        // Eight at once, twice: at most eight connections in all, the second round on
        // the first round's.
        for _ in 0..2 {
            let answers = futures_util::future::join_all((0..8).map(|_| ok("/ok"))).await;
            assert!(answers.iter().all(|a| a.0 == StatusCode::OK), "{answers:?}");
        }
        let after_bursts = accepted.load(Ordering::SeqCst);
        assert!(
            after_bursts <= 2 + 8,
            "{after_bursts} connections for 8 at a time"
        );

        // The upstream closes every idle connection (a restart, an idle timeout): the
        // gateway notices when it takes one, and the request goes on a new connection.
        shut.send_modify(|generation| *generation += 1);
        tokio::time::sleep(Duration::from_millis(200)).await;
        for _ in 0..3 {
            assert_eq!(ok("/ok").await, (StatusCode::OK, "ok".into()));
        }
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            after_bursts + 1,
            "the closed connections were not replaced by one"
        );
    })
    .await;
}
