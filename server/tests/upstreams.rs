//! The gateway's upstreams (issue 29 §4): an https upstream whose certificate a private
//! CA signed (trusted only through `KEYGATE_UPSTREAM_CA_FILE`), and an organization's
//! upstreams by path prefix, limited to the hosts the operator allows, reaching a second
//! instance like every other change.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use common::api::send;
use common::wait::{WAIT_LIMIT, eventually};
use common::{TestDb, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_databases!(organizations_send_prefixes_to_their_own_upstreams);

/// A test CA, and a certificate it signed for 127.0.0.1 and localhost: (CA PEM, leaf DER,
/// leaf key DER).
fn test_ca() -> (String, Vec<u8>, Vec<u8>) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Keygate test CA");
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let mut leaf_params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    leaf_params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key).unwrap();
    (ca.pem(), leaf.der().to_vec(), leaf_key.serialize_der())
}

/// An https server on loopback answering every request with its method and path as
/// JSON; its base URL.
async fn tls_echo(cert: Vec<u8>, key: Vec<u8>) -> String {
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![rustls_pki_types::CertificateDer::from(cert)],
        rustls_pki_types::PrivateKeyDer::Pkcs8(key.into()),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that does not trust the certificate hangs up here.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service =
                    service_fn(|request: http::Request<hyper::body::Incoming>| async move {
                        let body = json!({
                            "method": request.method().as_str(),
                            "path": request.uri().path(),
                            "tls": true,
                        })
                        .to_string();
                        Ok::<_, std::convert::Infallible>(http::Response::new(body))
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    format!("https://127.0.0.1:{}", addr.port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_upstream_signed_by_a_private_ca_is_trusted_only_through_the_ca_file() {
    common::within_time_limit("https upstream", async {
        let (ca_pem, cert, key) = test_ca();
        let upstream = tls_echo(cert, key).await;
        let ca_dir = tempfile::tempdir().unwrap();
        let ca_file = ca_dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca_pem).unwrap();
        let base_url = format!("{upstream}/base");
        let ca_path = ca_file.to_str().unwrap().to_owned();
        for (trusted, extra) in [
            (
                true,
                vec![
                    ("KEYGATE_UPSTREAM_URL", base_url.as_str()),
                    ("KEYGATE_UPSTREAM_CA_FILE", ca_path.as_str()),
                ],
            ),
            // The system's roots do not hold the test CA.
            (false, vec![("KEYGATE_UPSTREAM_URL", base_url.as_str())]),
        ] {
            let server = TestServer::start_with(TestDb::sqlite().await, &extra).await;
            let (ada, _) = server.user("Ada").await;
            let org = ada.create_org("Acme").await;
            let (_, key) = ada.create_key(&org, "gw", "gateway").await;
            let (status, _, body) = send(
                common::http()
                    .get(format!("{}/gw/invoices/7", server.base))
                    .header("x-api-key", &key),
            )
            .await;
            if trusted {
                assert_eq!(status, StatusCode::OK, "{body}");
                assert_eq!(body["path"], "/base/invoices/7");
                assert_eq!(body["tls"], true);
            } else {
                assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
                assert_eq!(body["error"], "bad_gateway");
            }
        }
    })
    .await;
}

#[test]
fn a_ca_file_that_cannot_be_read_or_holds_no_certificate_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let missing = dir.path().join("missing.pem");
    for (path, says) in [
        (&empty, "holds no PEM certificate"),
        (&missing, "cannot read"),
    ] {
        let path = path.to_str().unwrap().to_owned();
        let error = server::config::Config::from_lookup(|name| {
            (name == "KEYGATE_UPSTREAM_CA_FILE").then(|| path.clone())
        })
        .unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("KEYGATE_UPSTREAM_CA_FILE") && text.contains(says),
            "{text}"
        );
    }
    for bad in ["a/b", "user@host", "host:port"] {
        let error = server::config::Config::from_lookup(|name| {
            (name == "KEYGATE_UPSTREAM_HOSTS").then(|| bad.to_owned())
        })
        .unwrap_err();
        assert!(
            error.to_string().contains("KEYGATE_UPSTREAM_HOSTS"),
            "{bad}: {error}"
        );
    }
}

/// An http upstream that answers with its name, the method and the path.
async fn named_upstream(name: &'static str) -> String {
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| async move {
        axum::Json(json!({"upstream": name, "path": request.uri().path()}))
    });
    common::serve(app).await
}

async fn organizations_send_prefixes_to_their_own_upstreams(db: TestDb) {
    let default = named_upstream("default").await;
    let billing = named_upstream("billing").await;
    let server = TestServer::start_with(
        db,
        &[
            ("KEYGATE_UPSTREAM_URL", &default),
            ("KEYGATE_UPSTREAM_HOSTS", "127.0.0.1"),
        ],
    )
    .await;
    let other_instance = server.another_instance().await;
    let (ada, _) = server.user("Ada").await;
    let org = ada.create_org("Acme").await;
    let (_, key) = ada.create_key(&org, "gw", "gateway").await;
    let (_, other_org_key) = {
        let (bob, _) = server.user("Bob").await;
        let other = bob.create_org("Globex").await;
        bob.create_key(&other, "gw", "gateway").await
    };
    let http = common::http();
    let gw = async |base: &str, path: &str, key: &str| -> Value {
        let (status, _, body) = send(
            http.get(format!("{base}/gw{path}"))
                .header("x-api-key", key),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    };
    assert_eq!(
        gw(&server.base, "/billing/invoices/7", &key).await["upstream"],
        "default"
    );
    // Cached on the other instance, before the change.
    assert_eq!(
        gw(&other_instance, "/billing/invoices/7", &key).await["upstream"],
        "default"
    );

    let url = format!("/api/v1/upstreams?org_id={org}");
    // A host the operator did not allow is refused, naming those allowed, and saves nothing.
    for (bad, says) in [
        (
            json!([{"prefix": "/billing", "url": "http://10.0.0.7/api"}]),
            "127.0.0.1",
        ),
        (
            json!([{"prefix": "billing", "url": format!("{billing}/api")}]),
            "does not start with /",
        ),
        (
            json!([{"prefix": "/billing", "url": "ftp://127.0.0.1/"}]),
            "http:// or https://",
        ),
        (
            json!([{"prefix": "/billing", "url": "http://user:pw@127.0.0.1/"}]),
            "credentials",
        ),
    ] {
        let (status, answer) = ada
            .rest(Method::PUT, &url, Some(&json!({"upstreams": bad})))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(says),
            "{answer}"
        );
    }
    let (status, answer) = ada
        .rest(
            Method::PUT,
            &url,
            Some(&json!({"upstreams": [{"prefix": "/Billing/", "url": format!("{billing}/api")}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["upstreams"][0]["prefix"], "/billing");

    let routed = gw(&server.base, "/billing/invoices/7", &key).await;
    assert_eq!(
        routed,
        json!({"upstream": "billing", "path": "/api/invoices/7"})
    );
    assert_eq!(gw(&server.base, "/BILLING", &key).await["path"], "/api");
    assert_eq!(
        gw(&server.base, "/billingx/1", &key).await["upstream"],
        "default"
    );
    // Another organization's requests are not affected.
    assert_eq!(
        gw(&server.base, "/billing/1", &other_org_key).await["upstream"],
        "default"
    );
    // The other instance follows within the invalidation interval.
    eventually(
        "the other instance routes by the prefix",
        WAIT_LIMIT,
        async || gw(&other_instance, "/billing/invoices/7", &key).await["upstream"] == "billing",
    )
    .await;
    let (_, listed) = ada.rest(Method::GET, &url, None).await;
    assert_eq!(listed["upstreams"].as_array().unwrap().len(), 1);

    // Removing it sends the prefix to the default again.
    let (status, _) = ada
        .rest(Method::PUT, &url, Some(&json!({"upstreams": []})))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        gw(&server.base, "/billing/invoices/7", &key).await["upstream"],
        "default"
    );
}
