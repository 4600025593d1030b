//! The gateway's upstream (`KEYGATE_UPSTREAM_URL`) and the pooled HTTP/1.1 client that
//! `api::gateway` forwards requests with.

use std::time::Duration;

use axum::body::Body;
use http::Uri;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The upstream and a pooled HTTP/1.1 client to it.
#[derive(Clone, Debug)]
pub struct Gateway {
    pub(crate) upstream: Option<Uri>,
    pub(crate) timeout: Duration,
    pub(crate) client: Client<HttpConnector, Body>,
}

impl Gateway {
    pub fn new(upstream: Option<Uri>, timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        // Shorter than the whole timeout, so an unreachable upstream is a 502 rather than
        // a race between the connect timeout (502) and the request timeout (504).
        connector.set_connect_timeout(Some((timeout / 2).min(Duration::from_secs(5))));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        Self {
            upstream,
            timeout,
            client,
        }
    }
}
