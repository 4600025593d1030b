//! Tags, owner ids and metadata, and finding a key among many (issue 13 §2), on a fresh
//! SQLite file and a fresh PostgreSQL database: field errors that create and change
//! nothing, `/verify` and whoami returning all three, the gateway forwarding the owner
//! (and never a client's own `X-Keygate-Key-Owner`), a change reaching another instance,
//! and the list's search and filters combined and paged over REST and the page's server
//! function.

mod common;

use common::api::{call, send, verify, whoami};
use common::{TestDb, TestServer, WAIT_LIMIT, eventually};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_databases!(
    keys_carry_tags_an_owner_and_metadata,
    search_and_filters_combine_and_page,
);

async fn keys_carry_tags_an_owner_and_metadata(db: TestDb) {
    let upstream = common::echo_upstream().await;
    let server = TestServer::start_with(db, &[("KEYGATE_UPSTREAM_URL", upstream.as_str())]).await;
    let other = server.another_instance().await;
    let (owner, org, admin) = server.org_with_admin_key().await;
    let http = common::http();
    let keys_url = format!("{}/api/v1/keys", server.base);

    // Bad context: a field error naming what is wrong; nothing is created.
    let many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
    for (extra, field, says) in [
        (json!({"tags": ["prod", "Billing"]}), "tags", "\"Billing\""),
        (json!({"tags": ["a b"]}), "tags", "\"a b\""),
        (json!({"tags": ["under_score"]}), "tags", "\"_\""),
        (json!({"tags": many}), "tags", "at most 20"),
        (json!({"owner_id": "x".repeat(129)}), "owner_id", "128"),
        (json!({"owner_id": "café"}), "owner_id", "ASCII"),
        (json!({"metadata": [1, 2]}), "metadata", "object"),
        (json!({"metadata": "plan=pro"}), "metadata", "object"),
        (
            json!({"metadata": {"blob": "x".repeat(4100)}}),
            "metadata",
            "4096",
        ),
    ] {
        let mut body = json!({"name": "bad", "scopes": ["gateway"]});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (status, answer) = call(&http, Method::POST, &keys_url, &admin, Some(&body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{extra}: {answer}");
        assert_eq!(answer["field"], field, "{answer}");
        let message = answer["message"].as_str().unwrap();
        assert!(message.contains(says), "{extra}: {message}");
    }
    let (_, list) = call(&http, Method::GET, &keys_url, &admin, None).await;
    assert_eq!(list["total"], 1, "nothing was created: {list}");

    let (status, created) = call(
        &http,
        Method::POST,
        &keys_url,
        &admin,
        Some(&json!({
            "name": "Billing for Globex",
            "scopes": ["gateway", "keys:read"],
            "tags": ["prod", "billing", "prod"],
            "owner_id": " cus_4QFJ ",
            "metadata": {"plan": "pro", "seats": 12, "nested": {"eu": true}},
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["key"]["tags"], json!(["billing", "prod"]));
    assert_eq!(created["key"]["owner_id"], "cus_4QFJ");
    assert_eq!(created["key"]["metadata"]["nested"]["eu"], true);
    let key = created["secret"].as_str().unwrap().to_owned();
    let key_id = created["key"]["id"].as_str().unwrap().to_owned();

    // /verify and whoami return all three; the gateway forwards the owner and drops one
    // the client set.
    let verified = verify(&http, &server.base, &key).await;
    assert_eq!(verified["valid"], true, "{verified}");
    assert_eq!(verified["tags"], json!(["billing", "prod"]));
    assert_eq!(verified["owner_id"], "cus_4QFJ");
    assert_eq!(verified["metadata"]["plan"], "pro");
    let me = whoami(&http, &server.base, &key).await;
    assert_eq!(
        (&me["tags"], &me["owner_id"], &me["metadata"]["seats"]),
        (&json!(["billing", "prod"]), &json!("cus_4QFJ"), &json!(12))
    );
    let (status, _, seen) = send(
        http.get(format!("{}/gw/anything", server.base))
            .header("x-api-key", &key)
            .header("x-keygate-key-owner", "cus_spoofed"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["headers"]["x-keygate-key-owner"], "cus_4QFJ");
    // A key without an owner: no owner header at all, even one the client sent.
    let (status, _, seen) = send(
        http.get(format!("{}/gw/anything", server.base))
            .header("x-api-key", &admin)
            .header("x-keygate-key-owner", "cus_spoofed"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert!(
        seen["headers"].get("x-keygate-key-owner").is_none(),
        "{seen}"
    );
    let unlabelled = verify(&http, &server.base, &admin).await;
    assert_eq!(
        (
            &unlabelled["tags"],
            &unlabelled["owner_id"],
            &unlabelled["metadata"]
        ),
        (&json!([]), &Value::Null, &Value::Null)
    );

    // Replaced over REST: a bad change changes nothing; a good one reaches the other
    // instance, which had the key cached.
    assert_eq!(verify(&http, &other, &key).await["owner_id"], "cus_4QFJ");
    let context_url = format!("{keys_url}/{key_id}/context");
    let (status, body) = call(
        &http,
        Method::PUT,
        &context_url,
        &admin,
        Some(&json!({"tags": ["ok", "NOT-OK"], "owner_id": "cus_9"})),
    )
    .await;
    assert_eq!(
        (status, &body["field"]),
        (StatusCode::BAD_REQUEST, &json!("tags")),
        "{body}"
    );
    let (_, unchanged) = call(
        &http,
        Method::GET,
        &format!("{keys_url}/{key_id}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(unchanged["owner_id"], "cus_4QFJ", "{unchanged}");
    let (status, body) = call(
        &http,
        Method::PUT,
        &context_url,
        &admin,
        Some(&json!({"tags": ["staging"], "owner_id": "cus_9"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["tags"], &body["owner_id"], &body["metadata"]),
        (&json!(["staging"]), &json!("cus_9"), &Value::Null),
        "what is left out is cleared"
    );
    eventually(
        "the other instance returns the new owner",
        WAIT_LIMIT,
        async || verify(&http, &other, &key).await["owner_id"] == "cus_9",
    )
    .await;
    assert_eq!(
        verify(&http, &other, &key).await["tags"],
        json!(["staging"])
    );
    // whoami's answer is kept with the key's cache entry on the instance that served it
    // above: the change replaces it there as well.
    let me = whoami(&http, &server.base, &key).await;
    assert_eq!(
        (&me["tags"], &me["owner_id"], &me["metadata"]),
        (&json!(["staging"]), &json!("cus_9"), &Value::Null),
        "{me}"
    );

    // The page's server function: tags from text, metadata as JSON text, field errors.
    let set = |tags: &'static str, owner_id: &'static str, metadata: &'static str| {
        let (org, key_id, client) = (org.clone(), key_id.clone(), &owner);
        async move {
            client
                .call(
                    "set_key_context",
                    &[
                        ("org_id", org.as_str()),
                        ("key_id", key_id.as_str()),
                        ("tags", tags),
                        ("owner", owner_id),
                        ("metadata", metadata),
                    ],
                )
                .await
        }
    };
    let (status, body) = set("eu, prod  billing", "team:payments", "{\"tier\": 2}").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["tags"], json!(["billing", "eu", "prod"]));
    assert_eq!(body["metadata"], "{\"tier\":2}");
    for (tags, metadata, field) in [
        ("Prod", "", "tags"),
        ("prod", "{\"a\":", "metadata"),
        ("prod", "42", "metadata"),
    ] {
        let (status, body) = set(tags, "x", metadata).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body.to_string().contains(field), "{field}: {body}");
    }
    let (_, unchanged) = call(
        &http,
        Method::GET,
        &format!("{keys_url}/{key_id}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(unchanged["owner_id"], "team:payments");

    // Audited, with what changed.
    let conn = server.db.connect().await;
    let details: Vec<String> = {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        app::entities::audit_event::Entity::find()
            .filter(app::entities::audit_event::Column::Action.eq("key.context_changed"))
            .all(&conn)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|e| e.detail)
            .collect()
    };
    assert_eq!(details.len(), 2, "{details:?}");
    assert!(
        details
            .iter()
            .any(|d| d.contains("tags staging") && d.contains("owner cus_9")),
        "{details:?}"
    );

    // A key with the most metadata allowed: its answers are too long to keep with its
    // cache entry and are made anew for each request, whole every time.
    let blob = "m".repeat(4000);
    let (status, created) = call(
        &http,
        Method::POST,
        &keys_url,
        &admin,
        Some(&json!({"name": "Large metadata", "scopes": ["gateway"], "metadata": {"blob": blob}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let large = created["secret"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let verified = verify(&http, &server.base, &large).await;
        assert_eq!(verified["valid"], true, "{verified}");
        assert_eq!(verified["metadata"]["blob"], blob.as_str());
        let me = whoami(&http, &server.base, &large).await;
        assert_eq!(me["metadata"]["blob"], blob.as_str());
    }
}

/// `GET /api/v1/keys` with `query`; the names listed, and the answer.
async fn names(http: &reqwest::Client, base: &str, key: &str, query: &str) -> (Vec<String>, Value) {
    let (status, body) = call(
        http,
        Method::GET,
        &format!("{base}/api/v1/keys?{query}"),
        key,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    let mut names: Vec<String> = body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    (names, body)
}

async fn search_and_filters_combine_and_page(db: TestDb) {
    let server = TestServer::start(db).await;
    let (owner, org, admin) = server.org_with_admin_key().await;
    let http = common::http();
    let keys_url = format!("{}/api/v1/keys", server.base);
    let create = |body: Value| {
        let (http, url, admin) = (http.clone(), keys_url.clone(), admin.clone());
        async move {
            let (status, created) = call(&http, Method::POST, &url, &admin, Some(&body)).await;
            assert_eq!(status, StatusCode::CREATED, "{created}");
            created["key"]["id"].as_str().unwrap().to_owned()
        }
    };
    create(json!({"name": "Billing EU", "tags": ["prod", "eu"], "owner_id": "cus_1"})).await;
    create(json!({"name": "Billing US", "tags": ["prod", "us"], "owner_id": "cus_2"})).await;
    create(json!({"name": "billing staging", "tags": ["staging"], "owner_id": "cus_1"})).await;
    create(json!({"name": "100%_literal", "tags": ["prod.eu"]})).await;
    let soon =
        create(json!({"name": "Expiring reports", "tags": ["prod"], "expires_in_days": 3})).await;
    let revoked =
        create(json!({"name": "Old billing", "tags": ["prod"], "owner_id": "cus_1"})).await;
    let (status, _) = call(
        &http,
        Method::DELETE,
        &format!("{keys_url}/{revoked}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let paused = create(json!({"name": "Paused billing", "owner_id": "cus_2"})).await;
    let (status, body) = call(
        &http,
        Method::POST,
        &format!("{keys_url}/{paused}/pause"),
        &admin,
        Some(&json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let find = |query: &'static str| names(&http, &server.base, &admin, query);
    // The name in any case; the hint; LIKE's own characters are plain text.
    assert_eq!(
        find("q=BILLING").await.0,
        [
            "Billing EU",
            "Billing US",
            "Old billing",
            "Paused billing",
            "billing staging"
        ]
    );
    // (Every hint has a "_": an unescaped "%" would match all keys, an unescaped "_"
    // after "n" would match "Billing".)
    assert_eq!(find("q=%25_").await.0, ["100%_literal"]);
    assert_eq!(find("q=n_").await.0, Vec::<String>::new());
    let (_, all) = find("").await;
    let hint = all["keys"][0]["hint"].as_str().unwrap().to_owned();
    let (by_hint, _) = names(&http, &server.base, &admin, &format!("q={hint}")).await;
    assert!(by_hint.contains(&all["keys"][0]["name"].as_str().unwrap().to_owned()));
    let (by_id, _) = names(&http, &server.base, &admin, &format!("q={soon}")).await;
    assert_eq!(by_id, ["Expiring reports"]);
    // Whole tags only: "prod" is neither "prod.eu" nor a prefix.
    assert_eq!(
        find("tag=prod").await.0,
        [
            "Billing EU",
            "Billing US",
            "Expiring reports",
            "Old billing"
        ]
    );
    assert_eq!(find("tag=prod.eu").await.0, ["100%_literal"]);
    assert_eq!(find("tag=pro").await.0, Vec::<String>::new());
    assert_eq!(
        find("owner=cus_1").await.0,
        ["Billing EU", "Old billing", "billing staging"]
    );
    // Status, alone and combined with everything else.
    assert_eq!(find("status=revoked").await.0, ["Old billing"]);
    assert_eq!(find("status=paused").await.0, ["Paused billing"]);
    assert_eq!(find("status=expiring").await.0, ["Expiring reports"]);
    assert_eq!(find("expiring_soon=true").await.0, ["Expiring reports"]);
    assert_eq!(find("status=expired").await.0, Vec::<String>::new());
    assert_eq!(
        find("q=billing&tag=prod&owner=cus_1&status=active").await.0,
        ["Billing EU"]
    );
    let (listed, body) = find("tag=prod&status=active").await;
    assert_eq!(listed, ["Billing EU", "Billing US", "Expiring reports"]);
    assert_eq!(body["total"], 3);
    assert!(
        body["expiring_soon"] == 1,
        "the banner's count ignores the filters: {body}"
    );

    // Bad filters: a field error, never an empty list.
    for (query, field) in [
        ("tag=Prod", "tag"),
        ("status=dormant", "status"),
        ("owner=caf%C3%A9", "owner"),
        ("status=active&expiring_soon=true", "status"),
    ] {
        let (status, body) = call(
            &http,
            Method::GET,
            &format!("{keys_url}?{query}"),
            &admin,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["field"], field, "{query}: {body}");
    }
    let long = "x".repeat(101);
    let (status, body) = call(
        &http,
        Method::GET,
        &format!("{keys_url}?q={long}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(
        (status, &body["field"]),
        (StatusCode::BAD_REQUEST, &json!("q"))
    );

    // Paged within the filter: 30 tagged keys are two pages, and the pages do not overlap.
    for i in 0..30 {
        create(json!({"name": format!("bulk {i:02}"), "tags": ["bulk"]})).await;
    }
    let (first, body) = find("tag=bulk&page=1").await;
    assert_eq!(
        (first.len(), &body["total"], &body["pages"]),
        (25, &json!(30), &json!(2))
    );
    let (second, _) = find("tag=bulk&page=2").await;
    assert_eq!(second.len(), 5);
    assert!(first.iter().all(|n| !second.contains(n)));

    // The page's server function takes the same filters and answers with them applied.
    let (status, body) = owner
        .call(
            "list_api_keys",
            &[
                ("org_id", org.as_str()),
                ("page", "1"),
                ("q", "billing"),
                ("tag", "prod"),
                ("status", "active"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"], 2, "{body}");
    assert_eq!(body["query"]["tag"], "prod");
    let (status, body) = owner
        .call(
            "list_api_keys",
            &[("org_id", org.as_str()), ("page", "1"), ("tag", "No Good")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("tag"), "{body}");
}
