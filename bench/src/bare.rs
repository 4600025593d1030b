//! The floor under the gateway's cost: HTTP servers with none of Keygate's code, whose
//! CPU per request `load --only cost` measures beside Keygate's.
//!
//! - `bare direct ADDR`: answers every request with `ok`, as the bench's upstream does.
//! - `bare proxy ADDR UPSTREAM`: forwards every request to `UPSTREAM` with hyper-util's
//!   pooled client, as Keygate's gateway does, with no key check, no header filtering
//!   and no logging.
//! - `bare conn ADDR UPSTREAM`: forwards with hyper's connection API driven on the
//!   request's own task: no connection task, no pool beyond a list of idle connections,
//!   the answer buffered (it is two bytes). The cheapest forwarding hyper allows; not
//!   something to ship (it cannot stream, and drops a connection the upstream closed only
//!   when it next uses it).
//!
//! The difference between `proxy` and `direct` is what forwarding alone costs the
//! server; Keygate's gateway cannot cost less than whoami plus that.

use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

fn usage() -> ! {
    eprintln!("usage: bare direct ADDR | bare proxy ADDR UPSTREAM | bare conn ADDR UPSTREAM");
    std::process::exit(2)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr: SocketAddr = match args.get(1).map(|a| a.parse()) {
        Some(Ok(addr)) => addr,
        _ => usage(),
    };
    let upstream = || -> SocketAddr {
        match args.get(2).map(|a| a.parse()) {
            Some(Ok(addr)) => addr,
            _ => usage(),
        }
    };
    let app = match args.first().map(String::as_str) {
        Some("direct") => axum::Router::new().fallback(|| async { "ok" }),
        Some("proxy") => {
            let mut connector = HttpConnector::new();
            connector.set_nodelay(true);
            let client: Client<_, Body> = Client::builder(TokioExecutor::new()).build(connector);
            axum::Router::new()
                .fallback(forward_pooled)
                .with_state((client, upstream()))
        }
        Some("conn") => axum::Router::new()
            .fallback(forward_on_task)
            .with_state(Arc::new(Idle {
                upstream: upstream(),
                list: Mutex::new(Vec::new()),
            })),
        _ => usage(),
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("cannot listen on {addr}: {e}"));
    axum::serve(listener, app).await.unwrap();
}

fn bad_gateway(e: impl std::fmt::Display) -> Response {
    (StatusCode::BAD_GATEWAY, e.to_string()).into_response()
}

async fn forward_pooled(
    State((client, upstream)): State<(Client<HttpConnector, Body>, SocketAddr)>,
    mut request: Request,
) -> Response {
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    match format!("http://{upstream}{path}").parse() {
        Ok(uri) => *request.uri_mut() = uri,
        Err(e) => return bad_gateway(e),
    }
    match client.request(request).await {
        Ok(response) => response.map(Body::new),
        Err(e) => bad_gateway(e),
    }
}

type Upstream = Pin<Box<Connection<TokioIo<TcpStream>, Body>>>;
type Conn = (SendRequest<Body>, Upstream);

struct Idle {
    upstream: SocketAddr,
    list: Mutex<Vec<Conn>>,
}

/// Polls `work` and the connection together until `work` is done; `None` when the
/// connection ended first.
async fn drive<F: Future>(connection: &mut Upstream, work: F) -> Option<F::Output> {
    let mut work = std::pin::pin!(work);
    poll_fn(|cx| {
        if connection.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        work.as_mut().poll(cx).map(Some)
    })
    .await
}

async fn connect(upstream: SocketAddr) -> Result<Conn, Response> {
    let stream = TcpStream::connect(upstream).await.map_err(bad_gateway)?;
    stream.set_nodelay(true).map_err(bad_gateway)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(bad_gateway)?;
    Ok((sender, Box::pin(connection)))
}

async fn forward_on_task(State(idle): State<Arc<Idle>>, request: Request) -> Response {
    let reused = idle.list.lock().unwrap().pop();
    let mut conn = match reused {
        Some(conn) => conn,
        None => match connect(idle.upstream).await {
            Ok(conn) => conn,
            Err(refused) => return refused,
        },
    };
    let ready = drive(&mut conn.1, poll_fn(|cx| conn.0.poll_ready(cx))).await;
    if !matches!(ready, Some(Ok(()))) {
        conn = match connect(idle.upstream).await {
            Ok(conn) => conn,
            Err(refused) => return refused,
        };
    }
    let sent = conn.0.send_request(request);
    let response = match drive(&mut conn.1, sent).await {
        Some(Ok(response)) => response,
        Some(Err(e)) => return bad_gateway(e),
        None => return bad_gateway("the upstream closed the connection"),
    };
    let (parts, body) = response.into_parts();
    let body = match drive(&mut conn.1, body.collect()).await {
        Some(Ok(collected)) => collected.to_bytes(),
        Some(Err(e)) => return bad_gateway(e),
        None => return bad_gateway("the upstream closed the connection"),
    };
    idle.list.lock().unwrap().push(conn);
    Response::from_parts(parts, Body::from(body))
}
