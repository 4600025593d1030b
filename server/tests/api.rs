//! The REST API under `/api/v1`, end to end over HTTP on a fresh SQLite file and a fresh
//! PostgreSQL database: every authentication and status path (K3, K5-K9, I2, T2).

mod common;

use common::api::send;
use common::{Client, TestDb, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A raw HTTP client with no cookies: what a service calling the API looks like.
fn service() -> reqwest::Client {
    common::http()
}

async fn with_key(
    server: &TestServer,
    method: Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = service()
        .request(method, format!("{}{path}", server.base))
        .header("x-api-key", key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    send(request).await
}

/// An org owned by Ada, and a key of hers with `scopes`.
async fn setup(server: &TestServer, scopes: &str) -> (Client, String, String, String) {
    let (ada, _) = server.user("Ada").await;
    let org = ada.create_org("Acme").await;
    let (key_id, key) = ada.create_key(&org, "svc", scopes).await;
    (ada, org, key_id, key)
}

fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, code: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

async fn whoami_accepts_both_headers_and_refuses_everything_else(db: TestDb) {
    let server = TestServer::start(db).await;
    let (_, org, key_id, key) = setup(&server, "gateway").await;
    let url = format!("{}/api/v1/whoami", server.base);

    for request in [
        service().get(&url).header("x-api-key", &key),
        service()
            .get(&url)
            .header("authorization", format!("Bearer {key}")),
        service()
            .get(&url)
            .header("authorization", format!("bEaReR {key}")),
        service()
            .get(&url)
            .header("x-api-key", &key)
            .header("authorization", format!("Bearer {key}")),
    ] {
        let (status, headers, body) = send(request).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // A key caller sends no cookie and gets no session.
        assert!(headers.get("set-cookie").is_none(), "{headers:?}");
        assert_eq!(
            headers.get("content-type").map(|v| v.as_bytes()),
            Some(&b"application/json"[..])
        );
        assert_eq!(body["kind"], "key");
        assert_eq!(body["org_id"], org.as_str());
        assert_eq!(body["key_id"], key_id.as_str());
        assert_eq!(body["scopes"], json!(["gateway"]));
    }

    // No credential, and empty headers (which are no credential): 401 with the challenge.
    for request in [
        service().get(&url),
        service().get(&url).header("x-api-key", ""),
        service().get(&url).header("authorization", "Bearer "),
        service().get(format!("{url}?api_key={key}")),
    ] {
        let (status, headers, body) = send(request).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthenticated");
        assert_eq!(headers["www-authenticate"], r#"Bearer realm="keygate""#);
    }

    // A typo, a stranger's well-formed key, an oversized header: invalid_token.
    let mut typo = key.clone().into_bytes();
    typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
    let stranger = app::keys::format::key_from_bytes(&[7u8; 32]);
    for bad in [String::from_utf8(typo).unwrap(), stranger, "k".repeat(300)] {
        let (status, headers, body) = send(service().get(&url).header("x-api-key", bad)).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_token");
        assert_eq!(
            headers["www-authenticate"],
            r#"Bearer realm="keygate", error="invalid_token""#
        );
        assert!(!body.to_string().contains("kg_"), "no key echoed: {body}");
    }

    // Two different keys: 400.
    let (status, _, body) = send(
        service()
            .get(&url)
            .header("x-api-key", &key)
            .header("authorization", "Bearer kg_other"),
    )
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
}

async fn revoked_rolled_and_expired_keys_stop_at_once(db: TestDb) {
    let server = TestServer::start(db).await;
    let (ada, org, key_id, key) = setup(&server, "gateway").await;
    // Used once, so it sits in the cache when it is revoked.
    let (status, _, _) = with_key(&server, Method::GET, "/api/v1/whoami", &key, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = ada
        .call("revoke_api_key", &[("org_id", &org), ("key_id", &key_id)])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, headers, body) =
        with_key(&server, Method::GET, "/api/v1/whoami", &key, None).await;
    // A key that exists but was revoked says so; the challenge keeps RFC 6750's code.
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "key_revoked");
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );

    // Roll: the old secret stops, the new one works, both at once.
    let (rolled_id, old) = ada.create_key(&org, "rolled", "gateway").await;
    assert_eq!(
        with_key(&server, Method::GET, "/api/v1/whoami", &old, None)
            .await
            .0,
        StatusCode::OK
    );
    let (status, body) = ada
        .call("roll_api_key", &[("org_id", &org), ("key_id", &rolled_id)])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let new = body["secret"].as_str().unwrap();
    assert_eq!(
        with_key(&server, Method::GET, "/api/v1/whoami", &old, None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        with_key(&server, Method::GET, "/api/v1/whoami", new, None)
            .await
            .0,
        StatusCode::OK
    );

    // Expired: the row's expiry is moved into the past (as time would).
    let (expired_id, expired) = ada.create_key(&org, "old", "gateway").await;
    common::expire_key(&server.db.connect().await, &expired_id).await;
    let (status, _, body) = with_key(&server, Method::GET, "/api/v1/whoami", &expired, None).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "key_expired");
}

async fn scopes_decide_what_a_key_may_do(db: TestDb) {
    let server = TestServer::start(db).await;
    let (ada, org, _, gateway_only) = setup(&server, "gateway").await;
    let (_, reader) = ada.create_key(&org, "reader", "keys:read").await;
    let (_, writer) = ada.create_key(&org, "writer", "keys:write gateway").await;

    let (status, headers, body) =
        with_key(&server, Method::GET, "/api/v1/keys", &gateway_only, None).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "insufficient_scope");
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(r#"scope="keys:read""#)
    );

    let (status, _, body) = with_key(&server, Method::GET, "/api/v1/keys", &reader, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["org_id"], org.as_str());
    assert_eq!(body["total"], 3);
    assert!(body.to_string().find("kg_").is_none_or(|_| {
        // Hints start with kg_ but are 7 characters; no full key is listed.
        !body.to_string().contains(&reader) && !body.to_string().contains(&writer)
    }));

    let create = json!({"name": "made by a key", "scopes": ["gateway"], "expires_in_days": 7});
    let (status, _, body) = with_key(
        &server,
        Method::POST,
        "/api/v1/keys",
        &reader,
        Some(create.clone()),
    )
    .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "insufficient_scope");

    // keys:write may create a key with its own scopes or fewer...
    let response = service()
        .post(format!("{}/api/v1/keys", server.base))
        .header("x-api-key", &writer)
        .json(&create)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let made: Value = response.json().await.unwrap();
    let child = made["secret"].as_str().unwrap();
    assert_eq!(made["key"]["scopes"], json!(["gateway"]));
    assert!(made["key"]["expires_at"].is_string());
    let (status, _, who) = with_key(&server, Method::GET, "/api/v1/whoami", child, None).await;
    assert_eq!(status, StatusCode::OK, "works at once: {who}");

    // ...but never a broader one (K9), and nothing is created.
    let broader = json!({"name": "escalation", "scopes": ["keys:read"]});
    let (status, _, body) = with_key(
        &server,
        Method::POST,
        "/api/v1/keys",
        &writer,
        Some(broader),
    )
    .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (_, _, list) = with_key(&server, Method::GET, "/api/v1/keys", &reader, None).await;
    assert_eq!(list["total"], 4, "{list}");

    // A short-lived key cannot mint or roll a key that outlives it: what it creates expires
    // no later than itself, whatever it asks for.
    let short = json!({"name": "ci", "scopes": ["keys:write", "gateway"], "expires_in_days": 7});
    let (status, _, body) =
        with_key(&server, Method::POST, "/api/v1/keys", &writer, Some(short)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let short_lived = body["secret"].as_str().unwrap().to_owned();
    let limit = body["key"]["expires_at"].as_str().unwrap().to_owned();
    for longer in [
        json!({"name": "forever", "scopes": ["gateway"]}),
        json!({"name": "month", "scopes": ["gateway"], "expires_in_days": 30}),
    ] {
        let (status, _, body) = with_key(
            &server,
            Method::POST,
            "/api/v1/keys",
            &short_lived,
            Some(longer),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["key"]["expires_at"], limit.as_str(), "{body}");
    }
    let writer_id = list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "writer")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _, body) = with_key(
        &server,
        Method::POST,
        &format!("/api/v1/keys/{writer_id}/roll"),
        &short_lived,
        None,
    )
    .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, _, _) = with_key(&server, Method::GET, "/api/v1/whoami", &writer, None).await;
    assert_eq!(status, StatusCode::OK, "the refused roll changed nothing");
    let within = json!({"name": "within", "scopes": ["gateway"], "expires_in_days": 3});
    let (status, _, body) = with_key(
        &server,
        Method::POST,
        "/api/v1/keys",
        &short_lived,
        Some(within),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_ne!(
        body["key"]["expires_at"],
        limit.as_str(),
        "a shorter expiry is kept"
    );
    let (_, _, list) = with_key(&server, Method::GET, "/api/v1/keys", &reader, None).await;
    assert_eq!(list["total"], 8, "{list}");

    // Revoke by key: 204; again: still 204 (no-op); unknown id: 404.
    let child_id = made["key"]["id"].as_str().unwrap();
    for _ in 0..2 {
        let (status, _, _) = with_key(
            &server,
            Method::DELETE,
            &format!("/api/v1/keys/{child_id}"),
            &writer,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    assert_eq!(
        with_key(&server, Method::GET, "/api/v1/whoami", child, None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _, body) = with_key(
        &server,
        Method::DELETE,
        "/api/v1/keys/key_doesnotexist",
        &writer,
        None,
    )
    .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
}

async fn another_orgs_keys_are_404_and_untouched(db: TestDb) {
    let server = TestServer::start(db).await;
    let (_, org_a, _, writer_a) = setup(&server, "keys:read keys:write").await;
    let (bob, _) = server.user("Bob").await;
    let org_b = bob.create_org("Bobco").await;
    let (b_id, b_key) = bob.create_key(&org_b, "bob's", "gateway").await;

    let (status, _, body) = with_key(
        &server,
        Method::DELETE,
        &format!("/api/v1/keys/{b_id}"),
        &writer_a,
        None,
    )
    .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, _, body) = with_key(
        &server,
        Method::POST,
        &format!("/api/v1/keys/{b_id}/roll"),
        &writer_a,
        None,
    )
    .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, _, _) = with_key(
        &server,
        Method::GET,
        &format!("/api/v1/keys?org_id={org_b}"),
        &writer_a,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Bob's key still works, A's own org listing still works.
    assert_eq!(
        with_key(&server, Method::GET, "/api/v1/whoami", &b_key, None)
            .await
            .0,
        StatusCode::OK
    );
    let (status, _, body) = with_key(
        &server,
        Method::GET,
        &format!("/api/v1/keys?org_id={org_a}"),
        &writer_a,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn keys_never_outlive_their_creators_role(db: TestDb) {
    let server = TestServer::start(db).await;
    let (ada, _) = server.user("Ada").await;
    let org = ada.create_org("Acme").await;
    let (dev, dev_user) = server.user("Dev").await;
    let (status, body) = ada
        .call(
            "add_member",
            &[
                ("org_id", &org),
                ("email", &dev_user.email),
                ("role", "developer"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, key) = dev.create_key(&org, "dev key", "keys:read gateway").await;
    let (status, _, _) = with_key(&server, Method::GET, "/api/v1/keys", &key, None).await;
    assert_eq!(status, StatusCode::OK);

    // Demoted to member: the key keeps authenticating but can do nothing, at once.
    let (status, body) = ada
        .call(
            "change_member_role",
            &[
                ("org_id", &org),
                ("user_id", &dev_user.id),
                ("role", "member"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, _, who) = with_key(&server, Method::GET, "/api/v1/whoami", &key, None).await;
    assert_eq!(who["scopes"], json!([]), "{who}");
    let (status, _, body) = with_key(&server, Method::GET, "/api/v1/keys", &key, None).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "insufficient_scope");
    let notice = |page: &Value| page["keys"][0]["notice"].as_str().unwrap_or("").to_owned();
    let (_, page) = ada
        .call("list_api_keys", &[("org_id", &org), ("page", "1")])
        .await;
    assert!(notice(&page).starts_with("No rights"), "{page}");

    // Removed (their keys revoked with them, the default): the key stops working.
    let (status, body) = ada
        .call(
            "remove_member",
            &[("org_id", &org), ("user_id", &dev_user.id)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = with_key(&server, Method::GET, "/api/v1/whoami", &key, None).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "key_revoked");
    let (_, page) = ada
        .call("list_api_keys", &[("org_id", &org), ("page", "1")])
        .await;
    assert_eq!(page["keys"][0]["status"], "revoked", "{page}");
}

async fn bad_bodies_get_specific_errors_and_change_nothing(db: TestDb) {
    let server = TestServer::start(db).await;
    let (_, _, _, writer) = setup(&server, "keys:read keys:write gateway").await;
    let url = format!("{}/api/v1/keys", server.base);
    let cases: Vec<(reqwest::RequestBuilder, StatusCode, &str)> = vec![
        (
            service()
                .post(&url)
                .header("content-type", "text/plain")
                .body(r#"{"name":"x"}"#),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            service()
                .post(&url)
                .json(&json!({"name": "x".repeat(70 * 1024)})),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            service()
                .post(&url)
                .json(&json!({"name": "x", "org_id": "org_other"})),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            service()
                .post(&url)
                .header("content-type", "application/json")
                .body("{not json"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            service().post(&url).json(&json!({"name": "   "})),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            service()
                .post(&url)
                .json(&json!({"name": "x", "scopes": ["admin"]})),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            service()
                .post(&url)
                .json(&json!({"name": "x", "scopes": []})),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            service()
                .post(&url)
                .json(&json!({"name": "x", "expires_in_days": 0})),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            service()
                .post(&url)
                .json(&json!({"name": "x", "expires_at": "2001-01-01T00:00:00Z"})),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            service()
                .post(&url)
                .json(&json!({"name": "x", "expires_in_days": "kg_sneaky"})),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            service().get(format!("{url}?page=0")),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            service().get(format!("{url}?page=abc")),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
    ];
    for (request, expected, code) in cases {
        let (status, _, body) = send(request.header("x-api-key", &writer)).await;
        assert_error(status, &body, expected, code);
        assert!(
            !body.to_string().contains("kg_sneaky"),
            "value echoed: {body}"
        );
    }
    let (_, _, list) = with_key(&server, Method::GET, "/api/v1/keys", &writer, None).await;
    assert_eq!(list["total"], 1, "nothing was created: {list}");
    let (status, _, body) = send(service().get(format!("{}/api/v1/nope", server.base))).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
}

async fn failed_verifications_are_rate_limited_per_address(db: TestDb) {
    let server = TestServer::start_with(db, &[("KEYGATE_AUTH_FAILURE_LIMIT", "5")]).await;
    let (_, _, _, key) = setup(&server, "gateway").await;
    // Cached before the flood.
    assert_eq!(
        with_key(&server, Method::GET, "/api/v1/whoami", &key, None)
            .await
            .0,
        StatusCode::OK
    );
    let stranger = app::keys::format::key_from_bytes(&[9u8; 32]);
    for _ in 0..5 {
        let (status, _, _) =
            with_key(&server, Method::GET, "/api/v1/whoami", &stranger, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, headers, body) =
        with_key(&server, Method::GET, "/api/v1/whoami", &stranger, None).await;
    assert_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // The verify endpoint counts against the same limit.
    let (status, _, _) = send(
        service()
            .post(format!("{}/api/v1/verify", server.base))
            .json(&json!({"key": stranger})),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // A valid caller the cache knows carries on.
    assert_eq!(
        with_key(&server, Method::GET, "/api/v1/whoami", &key, None)
            .await
            .0,
        StatusCode::OK
    );
}

/// Fails `whoami` with an unknown key as if sent by `forwarded_for` (through a proxy).
async fn fail_as(server: &TestServer, forwarded_for: &str) -> StatusCode {
    let stranger = app::keys::format::key_from_bytes(&[7u8; 32]);
    send(
        service()
            .get(format!("{}/api/v1/whoami", server.base))
            .header("x-api-key", stranger)
            .header("x-forwarded-for", forwarded_for),
    )
    .await
    .0
}

async fn forwarded_addresses_count_only_from_trusted_proxies(db: TestDb) {
    // The test client connects from 127.0.0.1: here that is the load balancer.
    let behind = TestServer::start_with(
        db,
        &[
            ("KEYGATE_AUTH_FAILURE_LIMIT", "3"),
            ("KEYGATE_TRUSTED_PROXIES", "127.0.0.1"),
        ],
    )
    .await;
    for _ in 0..3 {
        assert_eq!(
            fail_as(&behind, "198.51.100.1").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        fail_as(&behind, "198.51.100.1").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another client behind the same balancer has its own count.
    assert_eq!(
        fail_as(&behind, "198.51.100.2").await,
        StatusCode::UNAUTHORIZED
    );
    // A client cannot pick a fresh address by prepending one: the balancer's entry counts.
    assert_eq!(
        fail_as(&behind, "203.0.113.50, 198.51.100.1").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

async fn forwarded_addresses_are_ignored_by_default(db: TestDb) {
    let direct = TestServer::start_with(db, &[("KEYGATE_AUTH_FAILURE_LIMIT", "3")]).await;
    for n in 0..3 {
        let status = fail_as(&direct, &format!("198.51.100.{n}")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Every request came from 127.0.0.1, whatever the header said.
    assert_eq!(
        fail_as(&direct, "198.51.100.99").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

async fn verify_endpoint_tells_services_whose_key_it_is(db: TestDb) {
    let server = TestServer::start(db).await;
    let (_, org, key_id, key) = setup(&server, "gateway keys:read").await;
    let url = format!("{}/api/v1/verify", server.base);
    let (status, headers, body) = send(service().post(&url).json(&json!({"key": key}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["valid"], true);
    assert_eq!(body["org_id"], org.as_str());
    assert_eq!(body["key_id"], key_id.as_str());
    assert_eq!(body["scopes"], json!(["gateway", "keys:read"]));
    assert!(headers.get("www-authenticate").is_none());
    for bad in [json!({"key": "kg_nope"}), json!({"key": "x".repeat(1000)})] {
        let (status, _, body) = send(service().post(&url).json(&bad)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            json!({"valid": false, "error": "invalid_token", "org_id": null, "key_id": null, "scopes": [],
                "expires_at": null, "tags": [], "owner_id": null, "metadata": null, "permissions": []})
        );
    }
    let (status, _, body) = send(service().post(&url).json(&json!({"key": key, "extra": 1}))).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
}

async fn browser_sessions_use_the_api_with_their_role(db: TestDb) {
    let server = TestServer::start(db).await;
    let (ada, org, _, _) = setup(&server, "gateway").await;
    let (status, _, who) = send(ada.http.get(format!("{}/api/v1/whoami", server.base))).await;
    assert_eq!(status, StatusCode::OK, "{who}");
    assert_eq!(who["kind"], "user");
    assert_eq!(who["email"], "ada@example.com");

    let keys_url = format!("{}/api/v1/keys", server.base);
    let (status, _, body) = send(ada.http.get(&keys_url)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");
    assert_eq!(body["field"], "org_id");
    let (status, _, body) = send(ada.http.get(format!("{keys_url}?org_id={org}"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"], 1);

    // Cookie-authenticated writes from another site are refused (S6), and change nothing...
    let (status, orgs_before) = ada.call("list_my_orgs", &[]).await;
    assert_eq!(status, StatusCode::OK, "{orgs_before}");
    let (status, _, _) = send(
        ada.http
            .post(format!("{keys_url}?org_id={org}"))
            .header("origin", "http://evil.example")
            .json(&json!({"name": "csrf"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A key header does not exempt a server function from the check.
    let (status, _, _) = send(
        ada.http
            .post(format!("{}/rpc/create_org", server.base))
            .header("origin", "http://evil.example")
            .header("x-api-key", "kg_anything")
            .form(&[("name", "csrf")]),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, _, listed) = send(ada.http.get(format!("{keys_url}?org_id={org}"))).await;
    assert_eq!(
        listed["total"], 1,
        "no key was created from another site: {listed}"
    );
    let (status, orgs_after) = ada.call("list_my_orgs", &[]).await;
    assert_eq!(status, StatusCode::OK, "{orgs_after}");
    assert_eq!(
        orgs_after, orgs_before,
        "no organization was created from another site"
    );
    // ...and so are same-origin ones without the session's CSRF token (T4): markup
    // injected into one of our pages posts from our origin but cannot read the token...
    let (status, _, body) = send(
        ada.http
            .post(format!("{keys_url}?org_id={org}"))
            .header("origin", &server.base)
            .json(&json!({"name": "no token", "scopes": ["gateway"]})),
    )
    .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    assert!(body["message"].as_str().unwrap().contains("x-csrf-token"));
    let (status, _, body) = send(
        ada.http
            .post(format!("{keys_url}?org_id={org}"))
            .header("origin", &server.base)
            .header("x-csrf-token", "not-the-token")
            .json(&json!({"name": "wrong token", "scopes": ["gateway"]})),
    )
    .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (_, _, listed) = send(ada.http.get(format!("{keys_url}?org_id={org}"))).await;
    assert_eq!(listed["total"], 1, "nothing was created: {listed}");
    // ...while the page's own calls, which send it, work.
    let token = ada
        .csrf_token()
        .await
        .expect("a logged-in session has a token");
    let (status, _, body) = send(
        ada.http
            .post(format!("{keys_url}?org_id={org}"))
            .header("origin", &server.base)
            .header("x-csrf-token", token)
            .json(&json!({"name": "from the browser", "scopes": ["gateway"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // The gateway never takes a session.
    let (status, _, _) = send(ada.http.get(format!("{}/gw/anything", server.base))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn last_used_is_recorded_in_the_background(db: TestDb) {
    let server = TestServer::start_with(db, &[("KEYGATE_USAGE_FLUSH_INTERVAL", "0.2")]).await;
    let (ada, org, key_id, key) = setup(&server, "gateway").await;
    let before = chrono::Utc::now();
    for _ in 0..20 {
        assert_eq!(
            with_key(&server, Method::GET, "/api/v1/whoami", &key, None)
                .await
                .0,
            StatusCode::OK
        );
    }
    let last_used = common::eventually("last_used_at written", common::WAIT_LIMIT, async || {
        let (_, page) = ada
            .call("list_api_keys", &[("org_id", &org), ("page", "1")])
            .await;
        let row = page["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == key_id.as_str())
            .cloned()
            .unwrap();
        let last_used = row["last_used_at"].clone();
        (!last_used.is_null()).then_some(last_used)
    })
    .await;
    let at: chrono::DateTime<chrono::Utc> = last_used
        .as_str()
        .unwrap_or_else(|| panic!("last_used_at never written: {last_used}"))
        .parse()
        .unwrap();
    assert!(
        at >= before - chrono::Duration::seconds(1),
        "{at} < {before}"
    );
}

async fn cors_is_off_by_default_and_exact_when_configured(db: TestDb) {
    let allowed = "https://app.example.com";
    let preflight = |base: &str, origin: &str| {
        service()
            .request(Method::OPTIONS, format!("{base}/api/v1/whoami"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "x-api-key")
    };
    let plain = TestServer::start(TestDb::sqlite().await).await;
    let (_, headers, _) = send(preflight(&plain.base, allowed)).await;
    assert!(headers.get("access-control-allow-origin").is_none());

    let server = TestServer::start_with(db, &[("KEYGATE_CORS_ORIGINS", allowed)]).await;
    let (_, headers, _) = send(preflight(&server.base, allowed)).await;
    assert_eq!(headers["access-control-allow-origin"], allowed);
    assert!(headers.get("access-control-allow-credentials").is_none());
    let (_, headers, _) = send(preflight(&server.base, "https://evil.example")).await;
    assert!(headers.get("access-control-allow-origin").is_none());

    // A cross-origin call with a key is not refused as cross-site: it carries no cookie.
    let (_, _, _, key) = setup(&server, "keys:read keys:write").await;
    let (status, headers, body) = send(
        service()
            .post(format!("{}/api/v1/keys", server.base))
            .header("origin", allowed)
            .header("x-api-key", &key)
            .json(&json!({"name": "from the SPA", "scopes": ["keys:read"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(headers["access-control-allow-origin"], allowed);
}

async fn openapi_document_lists_every_route_with_auth(db: TestDb) {
    let server = TestServer::start(db).await;
    let (status, _, doc) = send(service().get(format!("{}/api/openapi.json", server.base))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let expected = [
        ("/api/v1/whoami", "get"),
        ("/api/v1/keys", "get"),
        ("/api/v1/keys", "post"),
        ("/api/v1/keys/{id}", "get"),
        ("/api/v1/keys/{id}", "delete"),
        ("/api/v1/keys/{id}/roll", "post"),
        ("/api/v1/keys/{id}/end-overlap", "post"),
        ("/api/v1/keys/{id}/pause", "post"),
        ("/api/v1/keys/{id}/resume", "post"),
        ("/api/v1/keys/{id}/shorten-to-policy", "post"),
        ("/api/v1/keys/{id}/rate-limit", "put"),
        ("/api/v1/keys/{id}/allowed-ips", "put"),
        ("/api/v1/keys/{id}/usage", "get"),
        ("/api/v1/policy", "get"),
        ("/api/v1/policy", "put"),
        ("/api/v1/verify", "post"),
        ("/api/v1/keys/leaked", "post"),
        ("/api/v1/keys/import", "post"),
        ("/api/v1/keys/{id}/context", "put"),
        ("/api/v1/webhooks", "get"),
        ("/api/v1/webhooks", "post"),
        ("/api/v1/webhooks/{id}", "delete"),
        ("/api/v1/webhooks/{id}/test", "post"),
        ("/api/v1/webhooks/deliveries", "get"),
        ("/api/v1/keys/{id}/permissions", "put"),
        ("/api/v1/keys/{id}/permissions/usage", "get"),
        ("/api/v1/keys/{id}/permissions/restrict", "post"),
        ("/api/v1/permissions", "get"),
        ("/api/v1/permissions/{name}", "put"),
        ("/api/v1/permissions/{name}", "delete"),
        ("/api/v1/roles/{name}", "put"),
        ("/api/v1/roles/{name}", "delete"),
        ("/api/v1/route-rules", "get"),
        ("/api/v1/route-rules", "put"),
        ("/api/v1/route-rules/import", "post"),
        ("/api/v1/upstreams", "get"),
        ("/api/v1/upstreams", "put"),
    ];
    // Changed by owners and admins with a browser session only, like the key policy.
    let session_only = [
        ("/api/v1/permissions/{name}", "put"),
        ("/api/v1/permissions/{name}", "delete"),
        ("/api/v1/roles/{name}", "put"),
        ("/api/v1/roles/{name}", "delete"),
        ("/api/v1/route-rules", "put"),
        ("/api/v1/route-rules/import", "post"),
        ("/api/v1/upstreams", "put"),
    ];
    let mut listed = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            assert!(
                expected.contains(&(path.as_str(), method.as_str())),
                "undocumented-in-test route {method} {path}"
            );
            let security = op["security"].as_array().unwrap();
            if path == "/api/v1/verify" || path == "/api/v1/keys/leaked" {
                assert_eq!(security, &vec![json!({})], "{path} is public");
            } else if (path.as_str(), method.as_str()) == ("/api/v1/policy", "put")
                || path.starts_with("/api/v1/webhooks")
                || session_only.contains(&(path.as_str(), method.as_str()))
            {
                assert_eq!(
                    security,
                    &vec![json!({"session": []})],
                    "keys cannot set policy or manage webhooks: {method} {path}"
                );
                assert!(op["responses"].get("401").is_some(), "{method} {path}");
            } else {
                assert!(
                    security.iter().any(|s| s.get("api_key").is_some()),
                    "{path}"
                );
                assert!(op["responses"].get("401").is_some(), "{method} {path}");
            }
            listed += 1;
        }
    }
    assert_eq!(listed, expected.len());
    for scheme in ["api_key", "bearer", "session"] {
        assert!(
            doc["components"]["securitySchemes"].get(scheme).is_some(),
            "{scheme}"
        );
    }
    // Every route in the document exists: an unauthenticated call gets 401, not 404.
    for (path, method) in expected {
        let path = path
            .replace("{id}", "key_x")
            .replace("{name}", "invoices:read");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let (status, _, body) = send(
            service()
                .request(method.clone(), format!("{}{path}", server.base))
                .json(&json!({"key": "kg_x"})),
        )
        .await;
        if path == "/api/v1/verify" {
            assert_eq!(status, StatusCode::OK, "{body}");
        } else if path == "/api/v1/keys/leaked" {
            // Public too: the route exists and reads the body (this one has the wrong shape).
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        } else {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
        }
    }
    let response = service()
        .get(format!("{}/docs/", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("swagger-ui"));
}

on_both_databases!(
    whoami_accepts_both_headers_and_refuses_everything_else,
    revoked_rolled_and_expired_keys_stop_at_once,
    scopes_decide_what_a_key_may_do,
    another_orgs_keys_are_404_and_untouched,
    keys_never_outlive_their_creators_role,
    bad_bodies_get_specific_errors_and_change_nothing,
    failed_verifications_are_rate_limited_per_address,
    forwarded_addresses_count_only_from_trusted_proxies,
    forwarded_addresses_are_ignored_by_default,
    verify_endpoint_tells_services_whose_key_it_is,
    browser_sessions_use_the_api_with_their_role,
    last_used_is_recorded_in_the_background,
    cors_is_off_by_default_and_exact_when_configured,
    openapi_document_lists_every_route_with_auth,
    a_created_key_is_at_its_location,
);

/// `POST /api/v1/keys` answers with `Location`, and `GET` there shows the key (never the
/// secret) to a key with `keys:read`; another org's or an unknown id is 404.
async fn a_created_key_is_at_its_location(db: TestDb) {
    let server = TestServer::start(db).await;
    let (_, _, _, writer) = setup(&server, "keys:read keys:write gateway").await;
    let (status, headers, body) = with_key(
        &server,
        Method::POST,
        "/api/v1/keys",
        &writer,
        Some(json!({"name": "located", "scopes": ["gateway"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["key"]["id"].as_str().unwrap();
    let location = headers["location"].to_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/v1/keys/{id}"));
    let (status, _, key) = with_key(&server, Method::GET, &location, &writer, None).await;
    assert_eq!(status, StatusCode::OK, "{key}");
    assert_eq!(key["id"], id);
    assert_eq!(key["name"], "located");
    assert_eq!(key["status"], "active");
    assert_eq!(key["scopes"], json!(["gateway"]));
    assert!(!key.to_string().contains(body["secret"].as_str().unwrap()));

    // Without keys:read: 403. Unknown: 404. Another organization's: 404.
    let (status, _, body) = with_key(
        &server,
        Method::GET,
        &location,
        body["secret"].as_str().unwrap(),
        None,
    )
    .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "insufficient_scope");
    let (status, _, body) =
        with_key(&server, Method::GET, "/api/v1/keys/key_nope", &writer, None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (eve, _) = server.user("Eve").await;
    let other_org = eve.create_org("Other").await;
    let (_, eve_reader) = eve.create_key(&other_org, "reader", "keys:read").await;
    let (status, _, body) = with_key(&server, Method::GET, &location, &eve_reader, None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
}
