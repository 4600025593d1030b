//! IP allowlists per key (issue 13 §1), on a fresh SQLite file and a fresh PostgreSQL
//! database: IPv4 and IPv6 ranges, a request through a trusted proxy, a forged
//! `X-Forwarded-For` from anyone else, 403 `ip_not_allowed` before any rate limit counts,
//! the REST API, the page's server function, field errors that change nothing, and a
//! change that reaches another instance.

mod common;

use common::api::{call, send};
use common::{TestDb, TestServer, WAIT_LIMIT, eventually};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_databases!(
    keys_work_only_from_their_addresses,
    a_forged_forwarded_for_changes_nothing,
    a_key_made_by_a_key_inherits_its_limits,
);

/// `GET /api/v1/whoami` with `key`, from `client` (an `X-Forwarded-For` the trusted proxy
/// would add); the status and the error code.
async fn whoami_from(base: &str, key: &str, client: Option<&str>) -> (StatusCode, String) {
    let mut request = common::http()
        .get(format!("{base}/api/v1/whoami"))
        .header("x-api-key", key);
    if let Some(client) = client {
        request = request.header("x-forwarded-for", client);
    }
    let (status, _, body) = send(request).await;
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
    )
}

fn refused() -> (StatusCode, String) {
    (StatusCode::FORBIDDEN, "ip_not_allowed".to_owned())
}

fn ok() -> (StatusCode, String) {
    (StatusCode::OK, String::new())
}

async fn keys_work_only_from_their_addresses(db: TestDb) {
    // The test's requests come from 127.0.0.1, named as the load balancer: the client is
    // the X-Forwarded-For address it adds.
    let server = TestServer::start_with(db, &[("KEYGATE_TRUSTED_PROXIES", "127.0.0.1")]).await;
    let other = server.another_instance().await;
    let (owner, org, admin) = server.org_with_admin_key().await;
    let http = common::http();
    let keys_url = format!("{}/api/v1/keys", server.base);
    let create = |body: Value| {
        let (http, url, admin) = (http.clone(), keys_url.clone(), admin.clone());
        async move { call(&http, Method::POST, &url, &admin, Some(&body)).await }
    };

    // Bad entries: a field error naming the entry; nothing is created.
    let many: Vec<String> = (0..51).map(|i| format!("10.{i}.0.0/16")).collect();
    for (list, names) in [
        (json!(["0.0.0.0/0"]), "0.0.0.0/0"),
        (json!(["203.0.113.0/24", "::/0"]), "::/0"),
        (json!(["10.0.0.1/33"]), "10.0.0.1/33"),
        (json!(["2001:db8::/129"]), "2001:db8::/129"),
        (json!(["office"]), "office"),
        (json!(["203.0.113.5/24"]), "203.0.113.0/24"),
        (json!(many), "at most 50"),
    ] {
        let (status, body) =
            create(json!({"name": "bad", "scopes": ["gateway"], "allowed_ips": list})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["field"], "allowed_ips", "{body}");
        assert!(body["message"].as_str().unwrap().contains(names), "{body}");
    }
    let (_, list) = call(&http, Method::GET, &keys_url, &admin, None).await;
    assert_eq!(list["total"], 1, "nothing was created: {list}");

    let (status, created) = create(json!({
        "name": "office only",
        "scopes": ["gateway", "keys:read"],
        "allowed_ips": ["203.0.113.0/24", "2001:DB8::/32", "203.0.113.0/24"],
    }))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created["key"]["allowed_ips"],
        json!(["203.0.113.0/24", "2001:db8::/32"]),
        "normalized, duplicates dropped"
    );
    let key = created["secret"].as_str().unwrap().to_owned();
    let key_id = created["key"]["id"].as_str().unwrap().to_owned();

    // IPv4 and IPv6, in and out of the ranges; the proxy itself is not an allowed client.
    for (client, expected) in [
        (Some("203.0.113.9"), ok()),
        (Some("198.51.100.7, 203.0.113.200"), ok()),
        (Some("2001:db8:1::7"), ok()),
        (Some("203.0.114.1"), refused()),
        (Some("2001:db9::1"), refused()),
        (None, refused()),
    ] {
        assert_eq!(
            whoami_from(&server.base, &key, client).await,
            expected,
            "{client:?}"
        );
    }
    // The gateway too (refused before it looks for an upstream).
    let (status, _, body) = send(
        http.get(format!("{}/gw/anything", server.base))
            .header("x-api-key", &key)
            .header("x-forwarded-for", "192.0.2.1"),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("ip_not_allowed"))
    );

    // Refused before the rate limit counts: a key limited to 1 a minute, asked 5 times from
    // elsewhere, still has its one request for its own address.
    let (status, limited) = create(json!({
        "name": "limited",
        "scopes": ["gateway"],
        "allowed_ips": ["203.0.113.0/24"],
        "rate_limit": {"requests": 1, "per": "minute"},
    }))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{limited}");
    let limited = limited["secret"].as_str().unwrap().to_owned();
    for _ in 0..5 {
        assert_eq!(
            whoami_from(&server.base, &limited, Some("192.0.2.1")).await,
            refused()
        );
    }
    assert_eq!(
        whoami_from(&server.base, &limited, Some("203.0.113.1")).await,
        ok()
    );
    assert_eq!(
        whoami_from(&server.base, &limited, Some("203.0.113.1")).await,
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited".to_owned())
    );

    // Changed over REST: bad input changes nothing; a new list applies on every instance.
    let url = format!("{keys_url}/{key_id}/allowed-ips");
    assert_eq!(whoami_from(&other, &key, Some("203.0.113.9")).await, ok());
    let (status, body) = call(
        &http,
        Method::PUT,
        &url,
        &admin,
        Some(&json!({"allowed_ips": ["192.0.2.0/24", "::/0"]})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (_, unchanged) = call(
        &http,
        Method::GET,
        &format!("{keys_url}/{key_id}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(
        unchanged["allowed_ips"],
        json!(["203.0.113.0/24", "2001:db8::/32"])
    );
    let (status, body) = call(
        &http,
        Method::PUT,
        &url,
        &admin,
        Some(&json!({"allowed_ips": ["192.0.2.0/24"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["allowed_ips"], json!(["192.0.2.0/24"]));
    assert_eq!(
        whoami_from(&server.base, &key, Some("203.0.113.9")).await,
        refused()
    );
    eventually(
        "the other instance refuses the old address",
        WAIT_LIMIT,
        async || whoami_from(&other, &key, Some("203.0.113.9")).await == refused(),
    )
    .await;
    assert_eq!(whoami_from(&other, &key, Some("192.0.2.44")).await, ok());

    // The page's server function: new lines and commas; empty means anywhere.
    let (status, body) = owner
        .call(
            "set_key_allowed_ips",
            &[
                ("org_id", org.as_str()),
                ("key_id", key_id.as_str()),
                ("allowed_ips", "192.0.2.0/24\n2001:db8::/32, 198.51.100.7"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["allowed_ips"],
        json!(["192.0.2.0/24", "2001:db8::/32", "198.51.100.7"])
    );
    let (status, body) = owner
        .call(
            "set_key_allowed_ips",
            &[
                ("org_id", org.as_str()),
                ("key_id", key_id.as_str()),
                ("allowed_ips", "192.0.2.0/24\n0.0.0.0/0"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = owner
        .call(
            "set_key_allowed_ips",
            &[
                ("org_id", org.as_str()),
                ("key_id", key_id.as_str()),
                ("allowed_ips", "  "),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["allowed_ips"], json!([]));
    assert_eq!(whoami_from(&server.base, &key, None).await, ok());

    // Each change is in the key's activity.
    let (_, activity) = owner
        .call(
            "list_key_activity",
            &[("org_id", org.as_str()), ("key_id", key_id.as_str())],
        )
        .await;
    let details: Vec<&str> = activity
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "key.allowed_ips_changed")
        .map(|e| e["detail"].as_str().unwrap())
        .collect();
    assert_eq!(
        details,
        [
            "allowed from anywhere",
            "allowed from 192.0.2.0/24, 2001:db8::/32, 198.51.100.7",
            "allowed from 192.0.2.0/24",
        ]
    );
}

async fn a_forged_forwarded_for_changes_nothing(db: TestDb) {
    // No trusted proxy: the client is the connection's peer, 127.0.0.1, whatever the
    // request claims.
    let server = TestServer::start(db).await;
    let (owner, _) = server.user("Ada").await;
    let org = owner.create_org("Acme").await;
    let (key_id, key) = owner.create_key(&org, "office", "gateway").await;
    let set = |list: &'static str| {
        let (owner, org, key_id) = (&owner, org.clone(), key_id.clone());
        async move {
            let (status, body) = owner
                .call(
                    "set_key_allowed_ips",
                    &[
                        ("org_id", org.as_str()),
                        ("key_id", key_id.as_str()),
                        ("allowed_ips", list),
                    ],
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    };
    set("203.0.113.0/24").await;
    assert_eq!(
        whoami_from(&server.base, &key, Some("203.0.113.9")).await,
        refused()
    );
    set("127.0.0.1").await;
    assert_eq!(
        whoami_from(&server.base, &key, Some("203.0.113.9")).await,
        ok()
    );
    set("::1, 127.0.0.0/8").await;
    assert_eq!(whoami_from(&server.base, &key, None).await, ok());
}

/// Z6 (issue 27): a key made by a key inherits the creating key's allowed addresses and
/// rate limit when it asks for none, and may narrow them but never widen them.
async fn a_key_made_by_a_key_inherits_its_limits(db: TestDb) {
    let server = TestServer::start_with(db, &[("KEYGATE_TRUSTED_PROXIES", "127.0.0.1")]).await;
    let (_, _, admin) = server.org_with_admin_key().await;
    let http = common::http();
    let keys_url = format!("{}/api/v1/keys", server.base);
    let (status, made) = call(
        &http,
        Method::POST,
        &keys_url,
        &admin,
        Some(&json!({
            "name": "office writer",
            "scopes": ["gateway", "keys:read", "keys:write"],
            "allowed_ips": ["203.0.113.0/24"],
            "rate_limit": {"requests": 100, "per": "minute"},
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let writer = made["secret"].as_str().unwrap().to_owned();
    // The writer is used from the office, as its list requires.
    let from_office = |body: Value| {
        let (http, url, writer) = (http.clone(), keys_url.clone(), writer.clone());
        async move {
            send(
                http.post(url)
                    .header("x-api-key", writer)
                    .header("x-forwarded-for", "203.0.113.9")
                    .json(&body),
            )
            .await
        }
    };

    // Nothing asked: the new key gets the writer's list and limit.
    let (status, _, child) = from_office(json!({"name": "child", "scopes": ["gateway"]})).await;
    assert_eq!(status, StatusCode::CREATED, "{child}");
    assert_eq!(child["key"]["allowed_ips"], json!(["203.0.113.0/24"]));
    assert_eq!(
        child["key"]["rate_limit"],
        json!({"requests": 100, "per": "minute"})
    );
    let secret = child["secret"].as_str().unwrap();
    assert_eq!(
        whoami_from(&server.base, secret, Some("198.51.100.7")).await,
        refused(),
        "the child works from the office only"
    );

    // Narrower is fine; wider is refused, naming what is wrong, and creates nothing.
    let (status, _, narrow) = from_office(json!({
        "name": "narrow", "scopes": ["gateway"],
        "allowed_ips": ["203.0.113.9"],
        "rate_limit": {"requests": 10, "per": "minute"},
    }))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{narrow}");
    for (body, field, says) in [
        (
            json!({"name": "wide", "scopes": ["gateway"], "allowed_ips": ["203.0.0.0/16"]}),
            "allowed_ips",
            "203.0.0.0/16 is outside",
        ),
        (
            json!({"name": "fast", "scopes": ["gateway"], "rate_limit": {"requests": 200, "per": "minute"}}),
            "rate_limit",
            "looser rate limit than its own (100 per minute)",
        ),
        (
            json!({"name": "bursty", "scopes": ["gateway"], "rate_limit": {"requests": 1000, "per": "hour"}}),
            "rate_limit",
            "looser",
        ),
    ] {
        let (status, _, refused) = from_office(body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {refused}");
        assert_eq!(refused["field"], field, "{refused}");
        assert!(
            refused["message"].as_str().unwrap().contains(says),
            "{refused}"
        );
    }
    let (_, list) = call(&http, Method::GET, &keys_url, &admin, None).await;
    assert_eq!(list["total"], 4, "admin, writer, child, narrow: {list}");
}
