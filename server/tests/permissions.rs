//! The API's own permissions (issue 29), end to end on both databases: the catalog
//! (permissions and roles) kept checked and audited, keys that carry permissions and
//! never more than a creating key holds, `/api/v1/verify` answering permission
//! questions, route rules in front of a real upstream (enforced and report-only, and the
//! default for unmatched routes), changes reaching a second instance, and a key
//! restricted to the permissions its requests used (counted on two instances).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use app::entities::audit_event;
use common::api::{call, send, whoami};
use common::wait::{WAIT_LIMIT, eventually};
use common::{Client, TestDb, TestServer};
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

on_both_databases!(
    the_catalog_is_checked_kept_consistent_and_audited,
    keys_carry_permissions_and_never_more_than_a_creating_key_holds,
    verify_answers_permission_questions,
    route_rules_guard_the_gateway_before_the_upstream_sees_a_request,
    permission_and_rule_changes_reach_another_instance,
    an_openapi_document_is_proposed_then_applied,
    a_key_is_restricted_to_what_it_used_on_every_instance,
    the_page_reviews_an_import_in_the_session_and_sets_upstreams,
);

/// Ada's organization with a catalog: `invoices:read`, `invoices:write`,
/// `refunds:read`, `refunds:write`, and the role `billing-readonly`
/// (`invoices:read refunds:read`).
async fn org_with_catalog(server: &TestServer) -> (Client, String) {
    let (ada, _) = server.user("Ada").await;
    let org = ada.create_org("Acme").await;
    for name in [
        "invoices:read",
        "invoices:write",
        "refunds:read",
        "refunds:write",
    ] {
        let (status, body) = ada
            .rest(
                Method::PUT,
                &format!("/api/v1/permissions/{name}?org_id={org}"),
                Some(&json!({"description": format!("Can {name}")})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {body}");
    }
    let (status, body) = ada
        .rest(
            Method::PUT,
            &format!("/api/v1/roles/billing-readonly?org_id={org}"),
            Some(&json!({"description": "Reads billing", "permissions": ["invoices:read", "refunds:read"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (ada, org)
}

/// Creates a key over REST with the session of `client`: (id, secret).
async fn create(client: &Client, org: &str, body: Value) -> (String, String) {
    let (status, answer) = client
        .rest(
            Method::POST,
            &format!("/api/v1/keys?org_id={org}"),
            Some(&body),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    (
        answer["key"]["id"].as_str().unwrap().to_owned(),
        answer["secret"].as_str().unwrap().to_owned(),
    )
}

async fn the_catalog_is_checked_kept_consistent_and_audited(db: TestDb) {
    let server = TestServer::start(db).await;
    let (ada, org) = org_with_catalog(&server).await;

    // Saying it again changes nothing and answers 200.
    let (status, body) = ada
        .rest(
            Method::PUT,
            &format!("/api/v1/permissions/invoices:read?org_id={org}"),
            Some(&json!({"description": "Can invoices:read"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Bad names and descriptions are refused, naming the field, and change nothing.
    for (path, body, field) in [
        ("/api/v1/permissions/Invoices:Read", json!({}), "name"),
        ("/api/v1/permissions/invoices:", json!({}), "name"),
        (
            "/api/v1/permissions/notes:read",
            json!({"description": "x".repeat(201)}),
            "description",
        ),
        (
            "/api/v1/roles/billing:x",
            json!({"permissions": ["invoices:read"]}),
            "name",
        ),
        (
            "/api/v1/roles/auditor",
            json!({"permissions": ["orders:read"]}),
            "permissions",
        ),
        (
            "/api/v1/roles/auditor",
            json!({"permissions": []}),
            "permissions",
        ),
    ] {
        let (status, answer) = ada
            .rest(Method::PUT, &format!("{path}?org_id={org}"), Some(&body))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {answer}");
        assert_eq!(answer["field"], field, "{path}: {answer}");
    }
    let (_, answer) = ada
        .rest(
            Method::PUT,
            &format!("/api/v1/roles/auditor?org_id={org}"),
            Some(&json!({"permissions": ["orders:read"]})),
        )
        .await;
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("“orders:read”"),
        "{answer}"
    );

    // A description a person wrote comes back as written (pages escape it).
    let tricky = "</textarea><h1>refunds";
    let (status, _) = ada
        .rest(
            Method::PUT,
            &format!("/api/v1/permissions/refunds:write?org_id={org}"),
            Some(&json!({"description": tricky})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let (_, admin_key) = ada
        .create_key(&org, "reader", "gateway keys:read keys:write")
        .await;
    let http = common::http();
    let (status, catalog) = call(
        &http,
        Method::GET,
        &format!("{}/api/v1/permissions", server.base),
        &admin_key,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{catalog}");
    let names: Vec<&str> = catalog["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "invoices:read",
            "invoices:write",
            "refunds:read",
            "refunds:write"
        ]
    );
    assert_eq!(catalog["permissions"][3]["description"], tricky);
    assert_eq!(
        catalog["roles"][0],
        json!({"name": "billing-readonly", "description": "Reads billing", "permissions": ["invoices:read", "refunds:read"]})
    );

    // A key never changes the catalog, whatever its scopes.
    let (status, _) = call(
        &http,
        Method::PUT,
        &format!("{}/api/v1/permissions/orders:read", server.base),
        &admin_key,
        Some(&json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Nor does a developer.
    let (dev, dev_user) = server.user("Dev").await;
    ada.add_member(&org, &dev_user.email, "developer").await;
    let (status, _) = dev
        .rest(
            Method::DELETE,
            &format!("/api/v1/roles/billing-readonly?org_id={org}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // What is in use cannot be removed: the refusal names its users.
    let (key_id, _) = create(
        &ada,
        &org,
        json!({"name": "billing bot", "roles": ["billing-readonly"], "permissions": ["invoices:write"]}),
    )
    .await;
    for (path, named) in [
        (
            "/api/v1/permissions/invoices:read",
            "role “billing-readonly”",
        ),
        ("/api/v1/permissions/invoices:write", "key “billing bot”"),
        ("/api/v1/roles/billing-readonly", "key “billing bot”"),
    ] {
        let (status, answer) = ada
            .rest(Method::DELETE, &format!("{path}?org_id={org}"), None)
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{path}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(named),
            "{path}: {answer}"
        );
    }

    // Once the key is revoked, both go.
    let (status, _) = ada
        .rest(
            Method::DELETE,
            &format!("/api/v1/keys/{key_id}?org_id={org}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for path in [
        "/api/v1/roles/billing-readonly",
        "/api/v1/permissions/invoices:read",
    ] {
        let (status, answer) = ada
            .rest(Method::DELETE, &format!("{path}?org_id={org}"), None)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{path}: {answer}");
    }
    let (status, _) = ada
        .rest(
            Method::DELETE,
            &format!("/api/v1/roles/billing-readonly?org_id={org}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Every change is in the activity log.
    let conn = server.db.connect().await;
    let details: Vec<String> = audit_event::Entity::find()
        .filter(audit_event::Column::OrgId.eq(&org))
        .filter(audit_event::Column::Action.eq("permissions.changed"))
        .all(&conn)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| e.detail)
        .collect();
    for expected in [
        "added permission invoices:read",
        "added role billing-readonly: invoices:read refunds:read",
        "described permission refunds:write",
        "removed role billing-readonly",
        "removed permission invoices:read",
    ] {
        assert!(
            details.iter().any(|d| d == expected),
            "{expected} not in {details:?}"
        );
    }
}

async fn keys_carry_permissions_and_never_more_than_a_creating_key_holds(db: TestDb) {
    let server = TestServer::start(db).await;
    let (ada, org) = org_with_catalog(&server).await;
    let http = common::http();
    let base = &server.base;

    // A person gives any permission of the catalog, and roles.
    let (billing_id, billing) = create(
        &ada,
        &org,
        json!({
            "name": "billing",
            "scopes": ["gateway", "keys:write"],
            "permissions": ["invoices:*"],
            "roles": ["billing-readonly"],
        }),
    )
    .await;
    let me = whoami(&http, base, &billing).await;
    assert_eq!(
        me["permissions"],
        json!(["invoices:*", "invoices:read", "refunds:read"])
    );

    // Unknown permissions and roles are refused, naming them.
    for (body, field, named) in [
        (
            json!({"name": "x", "permissions": ["orders:read"]}),
            "permissions",
            "orders:read",
        ),
        (
            json!({"name": "x", "permissions": ["orders:*"]}),
            "permissions",
            "orders",
        ),
        (
            json!({"name": "x", "roles": ["auditor"]}),
            "roles",
            "auditor",
        ),
        (
            json!({"name": "x", "permissions": ["Invoices!"]}),
            "permissions",
            "Invoices!",
        ),
    ] {
        let (status, answer) = ada
            .rest(
                Method::POST,
                &format!("/api/v1/keys?org_id={org}"),
                Some(&body),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["field"], field, "{answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(named),
            "{answer}"
        );
    }

    // A key hands on only what it holds (its own grants and its roles').
    let keys_url = format!("{base}/api/v1/keys");
    let (status, answer) = call(
        &http,
        Method::POST,
        &keys_url,
        &billing,
        Some(&json!({"name": "child", "permissions": ["invoices:read", "refunds:read"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(
        answer["key"]["permissions"],
        json!(["invoices:read", "refunds:read"])
    );
    for wider in [
        json!({"name": "child", "permissions": ["refunds:write"]}),
        json!({"name": "child", "permissions": ["refunds:*"]}),
        json!({"name": "child", "permissions": ["*"]}),
    ] {
        let (status, answer) = call(&http, Method::POST, &keys_url, &billing, Some(&wider)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{wider}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains("permissions"),
            "{answer}"
        );
    }
    // A key with no permissions gives none, and cannot re-grant a key that holds some.
    let (_, plain) = ada
        .create_key(&org, "plain", "gateway keys:read keys:write")
        .await;
    let (status, _) = call(
        &http,
        Method::POST,
        &keys_url,
        &plain,
        Some(&json!({"name": "child", "permissions": ["invoices:read"]})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(
        &http,
        Method::PUT,
        &format!("{keys_url}/{billing_id}/permissions"),
        &plain,
        Some(&json!({"permissions": ["invoices:read"]})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(
        &http,
        Method::POST,
        &format!("{keys_url}/{billing_id}/roll"),
        &plain,
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "rolling mints a secret with them"
    );

    // Changing a key's permissions takes effect at once, and is audited.
    let (status, answer) = ada
        .rest(
            Method::PUT,
            &format!("/api/v1/keys/{billing_id}/permissions?org_id={org}"),
            Some(&json!({"permissions": ["refunds:write"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["permissions"], json!(["refunds:write"]));
    assert_eq!(answer["roles"], json!([]));
    assert_eq!(
        whoami(&http, base, &billing).await["permissions"],
        json!(["refunds:write"])
    );
    let conn = server.db.connect().await;
    let audited = audit_event::Entity::find()
        .filter(audit_event::Column::KeyId.eq(&billing_id))
        .filter(audit_event::Column::Action.eq("key.permissions_changed"))
        .one(&conn)
        .await
        .unwrap()
        .expect("an audit row");
    assert_eq!(audited.detail.as_deref(), Some("permissions refunds:write"));
    // A change to nothing records nothing more.
    ada.rest(
        Method::PUT,
        &format!("/api/v1/keys/{billing_id}/permissions?org_id={org}"),
        Some(&json!({"permissions": ["refunds:write"]})),
    )
    .await;
    let rows = audit_event::Entity::find()
        .filter(audit_event::Column::KeyId.eq(&billing_id))
        .filter(audit_event::Column::Action.eq("key.permissions_changed"))
        .all(&conn)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
}

async fn verify_answers_permission_questions(db: TestDb) {
    let server = TestServer::start(db).await;
    let (ada, org) = org_with_catalog(&server).await;
    let (_, key) = create(
        &ada,
        &org,
        json!({"name": "reader", "roles": ["billing-readonly"]}),
    )
    .await;
    let http = common::http();
    let ask = async |question: Value| {
        send(
            http.post(format!("{}/api/v1/verify", server.base))
                .json(&json!({"key": key, "permissions": question})),
        )
        .await
    };
    let (status, _, answer) = ask(json!(["invoices:read", "refunds:read"])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["valid"], true, "{answer}");
    assert_eq!(
        answer["permissions"],
        json!(["invoices:read", "refunds:read"])
    );

    let (_, _, answer) = ask(json!(["invoices:read", "invoices:write"])).await;
    assert_eq!(answer["valid"], false, "{answer}");
    assert_eq!(answer["error"], "insufficient_permission");
    assert_eq!(answer["missing"], json!(["invoices:write"]));
    assert!(answer["key_id"].is_string(), "the key is named: {answer}");

    let (_, _, answer) = ask(json!("invoices:read and (refunds:write or refunds:read)")).await;
    assert_eq!(answer["valid"], true, "{answer}");
    let (_, _, answer) = ask(json!("invoices:write or (refunds:write and admin)")).await;
    assert_eq!(answer["valid"], false, "{answer}");
    assert_eq!(
        answer["missing"],
        json!(["invoices:write", "refunds:write", "admin"])
    );

    // A question that cannot be read is a 400 naming the field.
    for bad in [
        json!("invoices:read and"),
        json!([]),
        json!(42),
        json!("Invoices"),
    ] {
        let (status, _, answer) = ask(bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {answer}");
        assert_eq!(answer["field"], "permissions", "{bad}: {answer}");
    }
    // No question: valid as before.
    let answer = common::api::verify(&http, &server.base, &key).await;
    assert_eq!(answer["valid"], true);
}

/// An upstream that echoes what it got, counting every request it saw.
async fn counting_upstream() -> (String, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            let permissions = request
                .headers()
                .get("x-keygate-permissions")
                .map(|v| v.to_str().unwrap().to_owned());
            axum::Json(json!({
                "method": request.method().as_str(),
                "path": request.uri().path(),
                "permissions": permissions,
            }))
        }
    });
    (common::serve(app).await, seen)
}

async fn set_rules(client: &Client, org: &str, rules: Value) -> Value {
    let (status, answer) = client
        .rest(
            Method::PUT,
            &format!("/api/v1/route-rules?org_id={org}"),
            Some(&rules),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

async fn route_rules_guard_the_gateway_before_the_upstream_sees_a_request(db: TestDb) {
    let (upstream, seen) = counting_upstream().await;
    let server = TestServer::start_with(
        db,
        &[
            ("KEYGATE_UPSTREAM_URL", &upstream),
            ("KEYGATE_USAGE_FLUSH_INTERVAL", "0.2"),
        ],
    )
    .await;
    let (ada, org) = org_with_catalog(&server).await;
    let (reader_id, reader) = create(
        &ada,
        &org,
        json!({"name": "reader", "permissions": ["invoices:read"]}),
    )
    .await;
    let (_, plain) = ada.create_key(&org, "plain", "gateway").await;
    let saved = set_rules(
        &ada,
        &org,
        json!({"unmatched": "allow", "rules": [
            {"methods": "GET, head", "path": "/invoices/*", "permissions": ["invoices:read"]},
            {"methods": "*", "path": "/invoices/*", "permissions": ["invoices:write"]},
            {"methods": "*", "path": "/refunds/{id}", "permissions": ["refunds:write"], "report_only": true},
        ]}),
    )
    .await;
    assert_eq!(saved["rules"][0]["methods"], "GET HEAD");
    assert_eq!(saved["rules"][2]["report_only"], true);

    let http = common::http();
    let gw = |method: Method, path: &str, key: &str| {
        send(
            http.request(method, format!("{}/gw{path}", server.base))
                .header("x-api-key", key),
        )
    };
    // Allowed: the upstream learns what the key holds.
    let (status, _, answer) = gw(Method::GET, "/invoices/7", &reader).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["permissions"], "invoices:read");
    // Refused before the upstream sees it, naming what is missing; also through an
    // encoded or differently cased path.
    let before = seen.load(Ordering::SeqCst);
    for path in ["/invoices/7", "/%49nvoices/7", "//INVOICES/7/pdf"] {
        let (status, _, answer) = gw(Method::POST, path, &reader).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {answer}");
        assert_eq!(answer["error"], "insufficient_permission");
        assert_eq!(answer["missing"], json!(["invoices:write"]));
    }
    let (status, _, _) = gw(Method::GET, "/invoices", &plain).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a key with no permissions");
    assert_eq!(
        seen.load(Ordering::SeqCst),
        before,
        "the upstream saw a refused request"
    );

    // Report-only: let through, and counted.
    let (status, _, _) = gw(Method::DELETE, "/refunds/9", &reader).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = gw(Method::DELETE, "/refunds/10", &plain).await;
    assert_eq!(status, StatusCode::OK);
    eventually(
        "the report-only rule's count is written",
        WAIT_LIMIT,
        async || {
            let (_, rules) = ada
                .rest(
                    Method::GET,
                    &format!("/api/v1/route-rules?org_id={org}"),
                    None,
                )
                .await;
            rules["rules"][2]["would_deny"] == 2
        },
    )
    .await;

    // Unmatched routes: allowed, then refused once the default says so. Saving the same
    // rules again keeps the report-only rule's count.
    let (status, _, _) = gw(Method::GET, "/status", &plain).await;
    assert_eq!(status, StatusCode::OK);
    let saved = set_rules(
        &ada,
        &org,
        json!({"unmatched": "deny", "rules": saved["rules"].as_array().unwrap().iter().map(|r| json!({
            "methods": r["methods"], "path": r["path"], "permissions": r["permissions"], "report_only": r["report_only"],
        })).collect::<Vec<_>>()}),
    )
    .await;
    assert_eq!(saved["rules"][2]["would_deny"], 2);
    let (status, _, answer) = gw(Method::GET, "/status", &plain).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert_eq!(answer["error"], "insufficient_permission");
    assert_eq!(answer["missing"], json!([]));

    // Bad rules are refused with their number, and change nothing.
    for (rules, says) in [
        (
            json!([{"methods": "GET", "path": "invoices", "permissions": []}]),
            "Rule 1",
        ),
        (
            json!([{"methods": "FETCH", "path": "/x", "permissions": []}]),
            "“FETCH”",
        ),
        (
            json!([{"methods": "GET", "path": "/x", "permissions": []}, {"methods": "GET", "path": "/x/*", "permissions": ["orders:read"]}]),
            "Rule 2",
        ),
    ] {
        let (status, answer) = ada
            .rest(
                Method::PUT,
                &format!("/api/v1/route-rules?org_id={org}"),
                Some(&json!({"unmatched": "allow", "rules": rules})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(says),
            "{answer}"
        );
    }
    let (_, rules) = ada
        .rest(
            Method::GET,
            &format!("/api/v1/route-rules?org_id={org}"),
            None,
        )
        .await;
    assert_eq!(rules["unmatched"], "deny");
    assert_eq!(rules["rules"].as_array().unwrap().len(), 3);

    // The refusals were counted on the key's usage.
    let conn = server.db.connect().await;
    eventually(
        "the refusal is counted on the key",
        WAIT_LIMIT,
        async || {
            app::entities::key_usage::Entity::find()
                .filter(app::entities::key_usage::Column::KeyId.eq(&reader_id))
                .filter(app::entities::key_usage::Column::Outcome.eq("insufficient_permission"))
                .one(&conn)
                .await
                .unwrap()
                .is_some_and(|row| row.count == 3)
        },
    )
    .await;
}

async fn permission_and_rule_changes_reach_another_instance(db: TestDb) {
    let (upstream, _) = counting_upstream().await;
    let server = TestServer::start_with(db, &[("KEYGATE_UPSTREAM_URL", &upstream)]).await;
    let other = server.another_instance().await;
    let (ada, org) = org_with_catalog(&server).await;
    let (key_id, key) = create(
        &ada,
        &org,
        json!({"name": "reader", "roles": ["billing-readonly"]}),
    )
    .await;
    set_rules(
        &ada,
        &org,
        json!({"unmatched": "allow", "rules": [
            {"methods": "GET", "path": "/invoices/*", "permissions": ["invoices:read"]},
        ]}),
    )
    .await;
    let http = common::http();
    let status_at = async |base: &str| {
        http.get(format!("{base}/gw/invoices/1"))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap()
            .status()
    };
    // The other instance has the key and the rules cached.
    eventually(
        "the other instance allows the read",
        WAIT_LIMIT,
        async || status_at(&other).await == StatusCode::OK,
    )
    .await;

    // The role loses the permission: refused there too.
    let (status, _) = ada
        .rest(
            Method::PUT,
            &format!("/api/v1/roles/billing-readonly?org_id={org}"),
            Some(&json!({"permissions": ["refunds:read"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    eventually(
        "a role's change reaches the other instance",
        WAIT_LIMIT,
        async || status_at(&other).await == StatusCode::FORBIDDEN,
    )
    .await;

    // The key is given the permission directly: allowed there again.
    let (status, _) = ada
        .rest(
            Method::PUT,
            &format!("/api/v1/keys/{key_id}/permissions?org_id={org}"),
            Some(&json!({"permissions": ["invoices:read"], "roles": ["billing-readonly"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    eventually(
        "a key's change reaches the other instance",
        WAIT_LIMIT,
        async || status_at(&other).await == StatusCode::OK,
    )
    .await;

    // The rule now wants more: refused there.
    set_rules(
        &ada,
        &org,
        json!({"unmatched": "allow", "rules": [
            {"methods": "GET", "path": "/invoices/*", "permissions": ["invoices:read", "invoices:write"]},
        ]}),
    )
    .await;
    eventually(
        "a rule's change reaches the other instance",
        WAIT_LIMIT,
        async || status_at(&other).await == StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(status_at(&server.base).await, StatusCode::FORBIDDEN);
}

async fn an_openapi_document_is_proposed_then_applied(db: TestDb) {
    let (upstream, _) = counting_upstream().await;
    let server = TestServer::start_with(db, &[("KEYGATE_UPSTREAM_URL", &upstream)]).await;
    let (ada, org) = org_with_catalog(&server).await;
    let document = json!({
        "openapi": "3.0.3",
        "tags": [{"name": "Invoices", "description": "Billing documents"}],
        "paths": {
            "/invoices/{id}": {"get": {"tags": ["Invoices"]}, "delete": {"tags": ["Invoices"]}},
            "/invoices/export": {"get": {"tags": ["Invoices"]}},
            "/customers": {"post": {}},
        },
    });
    let url = format!("/api/v1/route-rules/import?org_id={org}");
    let before = ada
        .rest(
            Method::GET,
            &format!("/api/v1/route-rules?org_id={org}"),
            None,
        )
        .await
        .1;
    let (status, proposal) = ada
        .rest(Method::POST, &url, Some(&json!({"document": document})))
        .await;
    assert_eq!(status, StatusCode::OK, "{proposal}");
    assert_eq!(proposal["applied"], false);
    let names: Vec<&str> = proposal["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["customers:write", "invoices:read", "invoices:write"]
    );
    let rules: Vec<String> = proposal["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {} {}",
                r["methods"].as_str().unwrap(),
                r["path"].as_str().unwrap(),
                r["permissions"][0].as_str().unwrap()
            )
        })
        .collect();
    let at = |rule: &str| {
        rules
            .iter()
            .position(|r| r == rule)
            .unwrap_or_else(|| panic!("{rule} not in {rules:?}"))
    };
    assert_eq!(rules.len(), 4, "{rules:?}");
    at("POST /customers customers:write");
    at("DELETE /invoices/{id} invoices:write");
    // The literal path is tried before the template that also matches it.
    assert!(at("GET /invoices/export invoices:read") < at("GET /invoices/{id} invoices:read"));
    // Reviewing saved nothing.
    let after = ada
        .rest(
            Method::GET,
            &format!("/api/v1/route-rules?org_id={org}"),
            None,
        )
        .await
        .1;
    assert_eq!(before, after);

    // Not a document: 400, naming the field.
    let (status, answer) = ada
        .rest(
            Method::POST,
            &url,
            Some(&json!({"document": {"paths": {}}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["field"], "document");

    let (status, applied) = ada
        .rest(
            Method::POST,
            &url,
            Some(&json!({"document": document, "apply": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    assert_eq!(applied["rules"].as_array().unwrap().len(), 4);
    let (_, catalog) = ada
        .rest(
            Method::GET,
            &format!("/api/v1/permissions?org_id={org}"),
            None,
        )
        .await;
    let described: Vec<(String, String)> = catalog["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["description"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    // New ones are added; ones the catalog had keep their descriptions.
    assert!(described.contains(&("customers:write".into(), "Change customers".into())));
    assert!(described.contains(&("invoices:read".into(), "Can invoices:read".into())));

    // The imported rules guard the gateway at once.
    let (_, reader) = create(
        &ada,
        &org,
        json!({"name": "reader", "permissions": ["invoices:read"]}),
    )
    .await;
    let http = common::http();
    let status_of = async |method: Method, path: &str| {
        http.request(method, format!("{}/gw{path}", server.base))
            .header("x-api-key", &reader)
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(status_of(Method::GET, "/invoices/7").await, StatusCode::OK);
    assert_eq!(
        status_of(Method::DELETE, "/invoices/7").await,
        StatusCode::FORBIDDEN
    );
}

async fn a_key_is_restricted_to_what_it_used_on_every_instance(db: TestDb) {
    let (upstream, _) = counting_upstream().await;
    let server = TestServer::start_with(
        db,
        &[
            ("KEYGATE_UPSTREAM_URL", &upstream),
            ("KEYGATE_USAGE_FLUSH_INTERVAL", "0.2"),
        ],
    )
    .await;
    let other = server.another_instance().await;
    let (ada, org) = org_with_catalog(&server).await;
    let (key_id, key) = create(
        &ada,
        &org,
        json!({"name": "wide", "permissions": ["invoices:*"], "roles": ["billing-readonly"]}),
    )
    .await;
    set_rules(
        &ada,
        &org,
        json!({"unmatched": "allow", "rules": [
            {"methods": "GET", "path": "/invoices/*", "permissions": ["invoices:read"]},
            {"methods": "POST", "path": "/invoices/*", "permissions": ["invoices:write"]},
            {"methods": "*", "path": "/refunds/{id}", "permissions": ["refunds:write"], "report_only": true},
        ]}),
    )
    .await;
    let usage_path = format!("/api/v1/keys/{key_id}/permissions/usage?org_id={org}");
    let restrict_path = format!("/api/v1/keys/{key_id}/permissions/restrict?org_id={org}");
    let (status, nothing) = ada.rest(Method::GET, &usage_path, None).await;
    assert_eq!(status, StatusCode::OK, "{nothing}");
    assert_eq!(nothing["routes"], json!([]));
    assert_eq!(nothing["used"], json!([]));

    // Reads on both instances, a report-only refusal here, and a /verify question there.
    let http = common::http();
    let gw = async |base: &str, method: Method, path: &str| {
        let (status, _, answer) = send(
            http.request(method, format!("{base}/gw{path}"))
                .header("x-api-key", &key),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{path}: {answer}");
    };
    gw(&server.base, Method::GET, "/invoices/1").await;
    gw(&server.base, Method::GET, "/invoices/2").await;
    gw(&other, Method::GET, "/invoices/3").await;
    gw(&server.base, Method::DELETE, "/refunds/5").await;
    let (status, answer) = call(
        &http,
        Method::POST,
        &format!("{other}/api/v1/verify"),
        &key,
        Some(&json!({"key": key, "permissions": "refunds:read or refunds:write"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["valid"], true, "{answer}");

    // Counted per rule and outcome, summed over both instances.
    let mut used = Value::Null;
    eventually(
        "both instances' counts are written",
        WAIT_LIMIT,
        async || {
            (_, used) = ada.rest(Method::GET, &usage_path, None).await;
            used["routes"].as_array().is_some_and(|r| r.len() == 3)
                && used["routes"][0]["allowed"] == 3
        },
    )
    .await;
    let route = |name: &str| {
        used["routes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["route"] == name)
            .unwrap_or_else(|| panic!("{name} in {used}"))
            .clone()
    };
    assert_eq!(
        route("GET /invoices/*")["permissions"],
        json!(["invoices:read"])
    );
    assert_eq!(route("* /refunds/{id}")["would_deny"], 1);
    assert_eq!(route("* /refunds/{id}")["allowed"], 0);
    assert_eq!(
        route("POST /api/v1/verify")["permissions"],
        json!(["refunds:read"])
    );
    assert_eq!(route("POST /api/v1/verify")["allowed"], 1);
    assert_eq!(used["used"], json!(["invoices:read", "refunds:read"]));
    assert_eq!(used["removes"], json!(["invoices:*"]));
    assert_eq!(used["removes_roles"], json!(["billing-readonly"]));

    // A confirmation of something else changes nothing.
    let (status, answer) = ada
        .rest(
            Method::POST,
            &restrict_path,
            Some(&json!({"removes": ["invoices:write"], "removes_roles": ["billing-readonly"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("changed since you looked"),
        "{answer}"
    );
    let (_, unchanged) = ada
        .rest(
            Method::GET,
            &format!("/api/v1/keys/{key_id}?org_id={org}"),
            None,
        )
        .await;
    assert_eq!(unchanged["permissions"], json!(["invoices:*"]));
    assert_eq!(unchanged["roles"], json!(["billing-readonly"]));

    // Restricted as shown: the used permissions by name, nothing else; audited.
    let (status, answer) = ada
        .rest(
            Method::POST,
            &restrict_path,
            Some(&json!({"removes": used["removes"], "removes_roles": used["removes_roles"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer["key"]["permissions"],
        json!(["invoices:read", "refunds:read"])
    );
    assert_eq!(answer["key"]["roles"], json!([]));
    assert_eq!(answer["removed"], json!(["invoices:*"]));
    let conn = server.db.connect().await;
    let audited = audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq("key.permissions_changed"))
        .all(&conn)
        .await
        .unwrap();
    assert_eq!(audited.len(), 1, "{audited:?}");

    // The other instance refuses the write from now on; the read still passes.
    let status_at = async |method: Method| {
        http.request(method, format!("{other}/gw/invoices/9"))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap()
            .status()
    };
    eventually(
        "the restriction reaches the other instance",
        WAIT_LIMIT,
        async || status_at(Method::POST).await == StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(status_at(Method::GET).await, StatusCode::OK);

    // Nothing left to take away: said, and nothing changes.
    let (status, answer) = ada.rest(Method::POST, &restrict_path, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("nothing to remove"),
        "{answer}"
    );
}

/// A document with `n` tagged paths (about 170 bytes each).
fn large_document(n: usize) -> Value {
    let paths: serde_json::Map<String, Value> = (0..n)
        .map(|i| {
            (
                format!("/resource-{}/items/{{id}}/part-{i}", i % 7),
                json!({"get": {
                    "tags": [format!("Resource {}", i % 7)],
                    "summary": "Reads one part",
                    "description": "Reads one part of one item of the resource, as it was last saved.",
                }}),
            )
        })
        .collect();
    json!({"openapi": "3.0.3", "paths": paths})
}

async fn the_page_reviews_an_import_in_the_session_and_sets_upstreams(db: TestDb) {
    let server = TestServer::start_with(
        db,
        &[("KEYGATE_UPSTREAM_HOSTS", "billing.internal,127.0.0.1")],
    )
    .await;
    let (ada, org) = org_with_catalog(&server).await;
    let view = async || {
        let (status, view) = ada.call("get_permissions", &[("org_id", &org)]).await;
        assert_eq!(status, StatusCode::OK, "{view}");
        view
    };
    assert_eq!(view().await["review"], Value::Null);

    // A document far over the other bodies' 64 KB limit is read, over REST and by the
    // page's form (URL-encoded, larger still).
    let large = large_document(900);
    assert!(large.to_string().len() > 100_000);
    let (status, proposal) = ada
        .rest(
            Method::POST,
            &format!("/api/v1/route-rules/import?org_id={org}"),
            Some(&json!({"document": large})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{proposal}");
    assert_eq!(proposal["rules"].as_array().unwrap().len(), 900);
    let (status, answer) = ada
        .call(
            "review_openapi",
            &[("org_id", &org), ("document", &large.to_string())],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        view().await["review"]["rules"].as_array().unwrap().len(),
        900
    );

    // Discarded: nothing saved, nothing left to apply.
    let (status, answer) = ada.call("discard_openapi", &[("org_id", &org)]).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(view().await["review"], Value::Null);
    let (status, answer) = ada.call("apply_openapi", &[("org_id", &org)]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(view().await["rules"], json!([]));

    // Not a document: said beside the field, nothing kept for review.
    for (document, says) in [
        ("", "Paste the document"),
        ("openapi: 3.0.3", "not JSON"),
        ("{\"paths\": {}}", "not an OpenAPI document"),
    ] {
        let (status, answer) = ada
            .call(
                "review_openapi",
                &[("org_id", &org), ("document", document)],
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_eq!(answer["field"], "document", "{answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(says),
            "{answer}"
        );
    }
    assert_eq!(view().await["review"], Value::Null);

    // By URL: fetched from a host the operator allows, and from no other.
    let served = json!({"openapi": "3.0.3", "paths": {"/orders": {"get": {"tags": ["orders"]}}}});
    let documents = common::serve(axum::Router::new().route(
        "/openapi.json",
        axum::routing::get(move || {
            let served = served.clone();
            async move { axum::Json(served) }
        }),
    ))
    .await;
    let (status, answer) = ada
        .call(
            "review_openapi",
            &[
                ("org_id", &org),
                ("url", &format!("{documents}/openapi.json")),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(view().await["review"]["rules"][0]["path"], "/orders");
    let (status, _) = ada.call("discard_openapi", &[("org_id", &org)]).await;
    assert_eq!(status, StatusCode::OK);
    for (url, says) in [
        (
            "http://10.0.0.9/openapi.json".to_owned(),
            "billing.internal",
        ),
        (format!("{documents}/missing.json"), "answered 404"),
        ("ftp://127.0.0.1/openapi.json".to_owned(), "http://"),
    ] {
        let (status, answer) = ada
            .call("review_openapi", &[("org_id", &org), ("url", &url)])
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {answer}");
        assert_eq!(answer["field"], "url", "{answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(says),
            "{url}: {answer}"
        );
    }
    assert_eq!(view().await["review"], Value::Null);
    let import = format!("/api/v1/route-rules/import?org_id={org}");
    let (status, proposal) = ada
        .rest(
            Method::POST,
            &import,
            Some(&json!({"url": format!("{documents}/openapi.json")})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{proposal}");
    assert_eq!(proposal["rules"][0]["path"], "/orders");
    let (status, answer) = ada
        .rest(
            Method::POST,
            &import,
            Some(&json!({"url": format!("{documents}/openapi.json"), "document": {"openapi": "3.0.3"}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["field"], "document", "{answer}");

    // Reviewed, then applied: the permissions the catalog lacks are added, the rules
    // replaced, the review gone; another organization's session review is not this one's.
    let small = json!({"openapi": "3.0.3", "paths": {
        "/invoices/{id}": {"get": {"tags": ["invoices"]}, "delete": {"tags": ["invoices"]}},
        "/orders": {"get": {"tags": ["Orders"]}},
    }});
    let (status, _) = ada
        .call(
            "review_openapi",
            &[("org_id", &org), ("document", &small.to_string())],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let other = ada.create_org("Other").await;
    let (_, other_view) = ada.call("get_permissions", &[("org_id", &other)]).await;
    assert_eq!(other_view["review"], Value::Null, "{other_view}");
    let (status, answer) = ada.call("apply_openapi", &[("org_id", &other)]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    let (status, answer) = ada.call("apply_openapi", &[("org_id", &org)]).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let applied = view().await;
    assert_eq!(applied["review"], Value::Null);
    let rules: Vec<String> = applied["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["methods"].as_str().unwrap(),
                r["path"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(rules.len(), 3, "{rules:?}");
    assert!(rules.contains(&"GET /orders".to_owned()), "{rules:?}");
    let names: Vec<&str> = applied["catalog"]["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"orders:read"), "{names:?}");
    assert_eq!(
        names.len(),
        4 + 1,
        "the invoices permissions were there; orders:read is new: {names:?}"
    );

    // Upstreams from the page's form: a host the operator does not allow is refused,
    // naming the ones it does, and saves nothing.
    let (status, answer) = ada
        .call(
            "set_upstreams",
            &[
                ("org_id", &org),
                ("upstreams", "/billing http://10.0.0.7/api"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["field"], "upstreams");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("billing.internal"),
        "{answer}"
    );
    let (status, answer) = ada
        .call(
            "set_upstreams",
            &[
                ("org_id", &org),
                ("upstreams", "billing http://billing.internal/api"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert!(
        answer["message"].as_str().unwrap().contains("Line 1"),
        "{answer}"
    );
    assert_eq!(view().await["upstreams"], json!([]));
    let (status, answer) = ada
        .call(
            "set_upstreams",
            &[
                ("org_id", &org),
                (
                    "upstreams",
                    "# billing\n/Billing/ https://billing.internal/api\n",
                ),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        view().await["upstreams"],
        json!([{"prefix": "/billing", "url": "https://billing.internal/api"}])
    );
}
