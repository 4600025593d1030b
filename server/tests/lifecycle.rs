//! A key's whole life (issue 9), on a fresh SQLite file and a fresh PostgreSQL database,
//! over HTTP on two in-process instances sharing the database: a roll with an overlap
//! (both secrets work, the old one stops by time alone on an instance that had it
//! cached), only one overlap at a time, pause until a time and automatic resume, error
//! codes a caller can act on, `Keygate-Key-Expires`, the expiring-soon count and filter,
//! and the organization's key policy on the page's server functions, the REST API and
//! the CLI.

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::api::send;
use common::{Client, TestDb, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_databases!(
    a_roll_with_an_overlap_keeps_both_secrets_until_it_ends,
    a_paused_key_is_refused_everywhere_and_resumes_by_itself,
    refusals_say_why_and_responses_say_when_the_key_stops,
    keys_expiring_this_week_are_counted_and_filtered,
    the_key_policy_holds_on_every_entry_point,
    idle_keys_are_revoked_but_never_one_used_within_the_window,
);

/// `GET /api/v1/whoami` with `key`: status, headers and body.
async fn whoami(base: &str, key: &str) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    send(
        common::http()
            .get(format!("{base}/api/v1/whoami"))
            .header("x-api-key", key),
    )
    .await
}

async fn status(base: &str, key: &str) -> (StatusCode, String) {
    common::api::whoami_answer(&common::http(), base, key).await
}

/// Waits until `base` answers `key` with `expected` (a change reaches every instance
/// within a second or two; the test allows far more, so a slow machine does not fail it:
/// how long it takes is measured in bench/).
async fn until_status(base: &str, key: &str, expected: Answer) {
    common::eventually(
        &format!("{base} answers {expected:?}"),
        common::WAIT_LIMIT,
        async || {
            let got = status(base, key).await;
            if got == expected { Ok(()) } else { Err(got) }
        },
    )
    .await
}

type Answer = (StatusCode, String);

#[allow(non_snake_case)]
fn OK() -> Answer {
    (StatusCode::OK, String::new())
}

fn refused(code: &str) -> Answer {
    (StatusCode::UNAUTHORIZED, code.to_owned())
}

async fn roll(owner: &Client, org: &str, key_id: &str, overlap: &str) -> Value {
    let (status, body) = owner
        .call(
            "roll_api_key",
            &[
                ("org_id", org),
                ("key_id", key_id),
                ("overlap_seconds", overlap),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "roll: {body}");
    body
}

async fn listed(owner: &Client, org: &str, key_id: &str) -> Value {
    let (status, body) = owner
        .call("list_api_keys", &[("org_id", org), ("page", "1")])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == key_id)
        .cloned()
        .unwrap_or_else(|| panic!("{key_id} not listed: {body}"))
}

fn time(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

async fn a_roll_with_an_overlap_keeps_both_secrets_until_it_ends(db: TestDb) {
    let server = TestServer::start(db).await;
    let other = server.another_instance().await;
    let (ada, _) = server.user("Ada").await;
    let org = ada.create_org("Acme").await;
    let (id, first) = ada.create_key(&org, "billing", "gateway keys:read").await;
    // The other instance has the first secret cached before the roll.
    assert_eq!(status(&other, &first).await, OK());
    let before = listed(&ada, &org, &id).await;

    let rolling = Utc::now();
    let rolled = roll(&ada, &org, &id, "3").await;
    let second = rolled["secret"].as_str().unwrap().to_owned();
    let rolled_at = Utc::now();
    // Both secrets are the same key record, on both instances.
    for base in [server.base.as_str(), other.as_str()] {
        for secret in [&first, &second] {
            let (status, headers, body) = whoami(base, secret).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body["key_id"], id.as_str());
            // (The other instance may still hold the old secret's entry from before the
            // roll for up to a poll interval.)
            if secret == &first && base == server.base {
                // The old secret tells its callers when it stops.
                let stops: DateTime<Utc> = headers["keygate-key-expires"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                // Three seconds after the roll, which happened between `rolling` and
                // `rolled_at` (the header is to the second).
                let overlap = chrono::Duration::seconds(3);
                assert!(
                    stops >= rolling + overlap - chrono::Duration::seconds(1)
                        && stops <= rolled_at + overlap,
                    "{stops} is not three seconds after the roll ({rolling} to {rolled_at})"
                );
            }
        }
    }
    let row = listed(&ada, &org, &id).await;
    assert_eq!(row["status"], "active");
    assert_eq!(row["rolling"]["hint"], before["hint"]);
    assert_ne!(row["hint"], before["hint"]);
    for same in ["name", "scopes", "expires_at", "created_at"] {
        assert_eq!(row[same], before[same], "{same} changed by the roll");
    }
    // When the overlap ends, the old secret is refused by time alone: no request or event
    // has to reach the instance that had it cached.
    until_status(&other, &first, refused("key_revoked")).await;
    assert_eq!(status(&server.base, &first).await, refused("key_revoked"));
    assert_eq!(status(&other, &second).await, OK());
    assert!(listed(&ada, &org, &id).await["rolling"].is_null());

    // Only one overlap at a time: a roll during an overlap ends the older secret at once.
    let third = roll(&ada, &org, &id, "3600").await["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(status(&other, &second).await, OK());
    let fourth = roll(&ada, &org, &id, "86400").await["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    // Twice replaced, the second secret is not known at all any more.
    until_status(&other, &second, refused("invalid_token")).await;
    assert_eq!(status(&other, &third).await, OK());
    assert_eq!(status(&other, &fourth).await, OK());

    // End overlap now: the old secret is refused on the other instance within a second.
    let (code, body) = ada
        .call("end_key_overlap", &[("org_id", &org), ("key_id", &id)])
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert!(body["rolling"].is_null(), "{body}");
    until_status(&other, &third, refused("key_revoked")).await;
    assert_eq!(status(&other, &fourth).await, OK());

    // Revoke during an overlap ends both secrets.
    let fifth = roll(&ada, &org, &id, "86400").await["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(status(&other, &fourth).await, OK());
    let (code, body) = ada
        .call("revoke_api_key", &[("org_id", &org), ("key_id", &id)])
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    for secret in [&fourth, &fifth] {
        until_status(&other, secret, refused("key_revoked")).await;
    }

    // Out of range overlaps are refused with a field error, over REST too.
    let (target, _) = ada.create_key(&org, "target", "gateway").await;
    let (_, key) = ada
        .create_key(&org, "manager", "gateway keys:read keys:write")
        .await;
    let (code, _, body) = send(
        common::http()
            .post(format!("{}/api/v1/keys/{target}/roll", server.base))
            .header("x-api-key", &key)
            .json(&json!({ "overlap_seconds": 604_801 })),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "overlap_seconds");
    let (code, _, body) = send(
        common::http()
            .post(format!("{}/api/v1/keys/{target}/roll", server.base))
            .header("x-api-key", &key)
            .json(&json!({ "overlap_seconds": 600 })),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert!(body["key"]["previous_hint"].is_string(), "{body}");
    let until = time(&body["key"]["previous_expires_at"]);
    assert!(
        (until - Utc::now()).num_seconds().abs_diff(600) <= 5,
        "{until}"
    );
    // No body still rolls, with no overlap.
    let (code, _, body) = send(
        common::http()
            .post(format!("{}/api/v1/keys/{target}/roll", server.base))
            .header("x-api-key", &key),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert!(body["key"]["previous_hint"].is_null(), "{body}");

    // The audit log says who rolled and the overlap.
    let (_, events) = ada.call("list_key_activity", &[("org_id", &org)]).await;
    let details: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "key.rolled")
        .filter_map(|e| e["detail"].as_str())
        .collect();
    assert!(
        details.iter().any(|d| d.contains("works for 24 hours")),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.contains("previous overlap was ended")),
        "{details:?}"
    );
    assert!(
        details.iter().any(|d| d.contains("stopped at once")),
        "{details:?}"
    );
}

async fn pause(
    owner: &Client,
    org: &str,
    key_id: &str,
    until: Option<&str>,
) -> (StatusCode, Value) {
    let mut form = vec![("org_id", org), ("key_id", key_id)];
    if let Some(until) = until {
        form.push(("until", until));
    }
    owner.call("pause_api_key", &form).await
}

async fn a_paused_key_is_refused_everywhere_and_resumes_by_itself(db: TestDb) {
    let server = TestServer::start(db).await;
    let other = server.another_instance().await;
    let (ada, _) = server.user("Ada").await;
    let org = ada.create_org("Acme").await;
    let (id, key) = ada.create_key(&org, "billing", "gateway").await;
    assert_eq!(status(&other, &key).await, OK());

    // Paused until a time five seconds away: refused on both instances, then back by
    // itself.
    let until = (Utc::now() + chrono::Duration::seconds(5)).to_rfc3339();
    let (code, body) = pause(&ada, &org, &id, Some(&until)).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "paused");
    assert!(body["paused_until"].is_string(), "{body}");
    until_status(&other, &key, refused("key_paused")).await;
    assert_eq!(status(&server.base, &key).await, refused("key_paused"));
    // The gateway refuses it the same way.
    let (code, _, body) = send(
        common::http()
            .get(format!("{}/gw/anything", server.base))
            .header("x-api-key", &key),
    )
    .await;
    assert_eq!(
        (code, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("key_paused"))
    );
    assert_eq!(listed(&ada, &org, &id).await["status"], "paused");
    until_status(&other, &key, OK()).await;
    assert_eq!(listed(&ada, &org, &id).await["status"], "active");

    // Paused until resumed, over REST with a key that may write keys.
    let (_, writer) = ada
        .create_key(&org, "ops", "gateway keys:read keys:write")
        .await;
    let http = common::http();
    let (code, body) = common::api::call(
        &http,
        Method::POST,
        &format!("{}/api/v1/keys/{id}/pause", server.base),
        &writer,
        None,
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert!(body["paused_until"].is_null(), "{body}");
    until_status(&other, &key, refused("key_paused")).await;
    let (code, body) = common::api::call(
        &http,
        Method::POST,
        &format!("{}/api/v1/keys/{id}/resume", server.base),
        &writer,
        None,
    )
    .await;
    assert_eq!(
        (code, body["status"].as_str()),
        (StatusCode::OK, Some("active")),
        "{body}"
    );
    until_status(&other, &key, OK()).await;

    // Bad ends change nothing.
    let past = (Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    let (code, body) = pause(&ada, &org, &id, Some(&past)).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let after_expiry = (Utc::now() + chrono::Duration::days(40)).to_rfc3339();
    let (code, body) = pause(&ada, &org, &id, Some(&after_expiry)).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (code, body) = pause(&ada, &org, &id, Some("tomorrow")).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(status(&server.base, &key).await, OK());

    // Revoke still works on a paused key.
    let (code, _) = pause(&ada, &org, &id, None).await;
    assert_eq!(code, StatusCode::OK);
    let (code, body) = ada
        .call("revoke_api_key", &[("org_id", &org), ("key_id", &id)])
        .await;
    assert_eq!(
        (code, body["status"].as_str()),
        (StatusCode::OK, Some("revoked")),
        "{body}"
    );
    until_status(&other, &key, refused("key_revoked")).await;
    let (code, body) = pause(&ada, &org, &id, None).await;
    assert_eq!(code, StatusCode::CONFLICT, "{body}");
}

async fn refusals_say_why_and_responses_say_when_the_key_stops(db: TestDb) {
    let server = TestServer::start(db).await;
    let (ada, _) = server.user("Ada").await;
    let org = ada.create_org("Acme").await;
    let (id, key) = ada.create_key(&org, "billing", "gateway").await;
    let http = common::http();

    // A key with an expiry says when, on the REST API and at the gateway.
    let expires = time(&listed(&ada, &org, &id).await["expires_at"]);
    let (code, headers, _) = whoami(&server.base, &key).await;
    assert_eq!(code, StatusCode::OK);
    let header: DateTime<Utc> = headers["keygate-key-expires"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(header.timestamp(), expires.timestamp());
    let (_, headers, _) = send(
        http.get(format!("{}/gw/x", server.base))
            .header("x-api-key", &key),
    )
    .await;
    assert!(headers.contains_key("keygate-key-expires"), "{headers:?}");
    // A key that never expires, and a browser session, get no such header.
    let (code, body) = ada
        .call(
            "create_api_key",
            &[
                ("org_id", &org),
                ("name", "forever"),
                ("expiry", "never"),
                ("scopes", "gateway"),
            ],
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let forever = body["secret"].as_str().unwrap().to_owned();
    let (code, headers, _) = whoami(&server.base, &forever).await;
    assert_eq!(code, StatusCode::OK);
    assert!(!headers.contains_key("keygate-key-expires"));

    // Unknown and malformed keys stay invalid_token; a revoked one says so.
    let unknown = app::keys::format::key_from_bytes(&[7u8; 32]);
    assert_eq!(
        status(&server.base, &unknown).await,
        refused("invalid_token")
    );
    assert_eq!(
        status(&server.base, "kg_nope").await,
        refused("invalid_token")
    );
    let (code, body) = ada
        .call("revoke_api_key", &[("org_id", &org), ("key_id", &id)])
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "revoked", "{body}");
    assert_eq!(status(&server.base, &key).await, refused("key_revoked"));
    let answer = common::api::verify(&http, &server.base, &key).await;
    assert_eq!(
        (answer["valid"].as_bool(), answer["error"].as_str()),
        (Some(false), Some("key_revoked"))
    );
    let answer = common::api::verify(&http, &server.base, &unknown).await;
    assert_eq!(answer["error"], "invalid_token");

    // An expired key says so (its expiry moved into the past in the database).
    let (expired_id, expired) = ada.create_key(&org, "old", "gateway").await;
    common::expire_key(&server.db.connect().await, &expired_id).await;
    assert_eq!(status(&server.base, &expired).await, refused("key_expired"));
    let answer = common::api::verify(&http, &server.base, &expired).await;
    assert_eq!(answer["error"], "key_expired");
    let (_, headers, _) = whoami(&server.base, &expired).await;
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token"),
        "RFC 6750's code stays in the challenge"
    );
}

async fn keys_expiring_this_week_are_counted_and_filtered(db: TestDb) {
    let server = TestServer::start(db).await;
    let (ada, _) = server.user("Ada").await;
    let org = ada.create_org("Acme").await;
    let mut soon = Vec::new();
    for (name, expiry) in [
        ("week", "7"),
        ("month", "30"),
        ("never", "never"),
        ("week2", "7"),
    ] {
        let (code, body) = ada
            .call(
                "create_api_key",
                &[
                    ("org_id", &org),
                    ("name", name),
                    ("expiry", expiry),
                    ("scopes", "gateway"),
                ],
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{body}");
        if expiry == "7" {
            soon.push(body["key"]["id"].as_str().unwrap().to_owned());
        }
    }
    // A revoked key expiring this week is not counted.
    let (code, body) = ada
        .call(
            "create_api_key",
            &[
                ("org_id", &org),
                ("name", "gone"),
                ("expiry", "7"),
                ("scopes", "gateway"),
            ],
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let gone = body["key"]["id"].as_str().unwrap().to_owned();
    let (code, body) = ada
        .call("revoke_api_key", &[("org_id", &org), ("key_id", &gone)])
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "revoked", "{body}");

    let (_, all) = ada
        .call("list_api_keys", &[("org_id", &org), ("page", "1")])
        .await;
    assert_eq!(all["expiring_soon"], 2, "{all}");
    assert_eq!(all["total"], 5);
    let (_, only) = ada
        .call(
            "list_api_keys",
            &[("org_id", &org), ("page", "1"), ("expiring_soon", "true")],
        )
        .await;
    let mut ids: Vec<String> = only["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    soon.sort();
    assert_eq!(ids, soon, "{only}");
    // The REST API offers the same filter.
    let (_, key) = ada.create_key(&org, "reader", "keys:read").await;
    let (code, body) = common::api::call(
        &common::http(),
        Method::GET,
        &format!("{}/api/v1/keys?expiring_soon=true", server.base),
        &key,
        None,
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["keys"].as_array().unwrap().len(), 2, "{body}");
    assert_eq!(body["expiring_soon"], 2);
}

async fn set_policy(
    client: &Client,
    org: &str,
    max: &str,
    require: bool,
    idle: &str,
) -> (StatusCode, Value) {
    let mut form = vec![("org_id", org), ("max_days", max), ("idle_days", idle)];
    if require {
        form.push(("require_expiry", "true"));
    }
    client.call("set_key_policy", &form).await
}

async fn create(client: &Client, org: &str, expiry: &str, date: &str) -> (StatusCode, Value) {
    client
        .call(
            "create_api_key",
            &[
                ("org_id", org),
                ("name", "k"),
                ("expiry", expiry),
                ("custom_date", date),
                ("scopes", "gateway"),
            ],
        )
        .await
}

async fn the_key_policy_holds_on_every_entry_point(db: TestDb) {
    let server = TestServer::start(db).await;
    let (ada, _) = server.user("Ada").await;
    let org = ada.create_org("Acme").await;
    let (old_id, _) = {
        let (code, body) = create(&ada, &org, "never", "").await;
        assert_eq!(code, StatusCode::OK);
        (body["key"]["id"].as_str().unwrap().to_owned(), ())
    };
    // A key that never expires: a key's own expiry would cap what it creates anyway.
    let (code, body) = ada
        .call(
            "create_api_key",
            &[
                ("org_id", &org),
                ("name", "ops"),
                ("expiry", "never"),
                ("scopes", "gateway keys:read keys:write"),
            ],
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let writer = body["secret"].as_str().unwrap().to_owned();
    let (dev, dev_user) = server.user("Dev").await;
    let (code, body) = ada
        .call(
            "add_member",
            &[
                ("org_id", &org),
                ("email", &dev_user.email),
                ("role", "developer"),
            ],
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");

    // Only owners and admins set it; bad values change nothing.
    let (code, _) = set_policy(&dev, &org, "30", true, "").await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    for (max, idle, field) in [
        ("0", "", "max_days"),
        ("367", "", "max_days"),
        ("", "29", "idle_days"),
        ("", "366", "idle_days"),
        ("ten", "", "max_days"),
    ] {
        let (code, body) = set_policy(&ada, &org, max, false, idle).await;
        assert_eq!(
            code,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{max} {idle}: {body}"
        );
        assert!(body.to_string().contains(field), "{body}");
    }
    let (_, view) = ada.call("get_key_policy", &[("org_id", &org)]).await;
    assert_eq!(view["policy"]["max_days"], Value::Null, "{view}");
    let (code, body) = set_policy(&ada, &org, "30", true, "90").await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let (_, view) = dev.call("get_key_policy", &[("org_id", &org)]).await;
    assert_eq!(view["policy"]["max_days"], 30, "{view}");
    assert_eq!(view["can_edit"], false);
    // A member, who has no say over keys, reads it neither through the page's server
    // function nor over REST (issue 27 §11: one rule on both).
    let (member, member_user) = server.user("Member").await;
    let (code, body) = ada
        .call(
            "add_member",
            &[
                ("org_id", &org),
                ("email", &member_user.email),
                ("role", "member"),
            ],
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let (code, view) = member.call("get_key_policy", &[("org_id", &org)]).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{view}");
    assert!(view.get("policy").is_none(), "{view}");
    let rest = member.get(&format!("/api/v1/policy?org_id={org}")).await;
    assert_eq!(rest.status(), StatusCode::FORBIDDEN);

    // The page's server function.
    for (expiry, date) in [
        ("60", ""),
        ("never", ""),
        (
            "custom",
            &*(Utc::now() + chrono::Duration::days(45))
                .format("%Y-%m-%d")
                .to_string(),
        ),
    ] {
        let (code, body) = create(&ada, &org, expiry, date).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{expiry}: {body}");
        assert!(body.to_string().contains("policy"), "{body}");
    }
    assert_eq!(create(&ada, &org, "30", "").await.0, StatusCode::OK);
    assert_eq!(create(&ada, &org, "7", "").await.0, StatusCode::OK);

    // The REST API.
    let http = common::http();
    let url = format!("{}/api/v1/keys", server.base);
    for body in [
        json!({"name": "r"}),
        json!({"name": "r", "expires_in_days": 31}),
    ] {
        let (code, answer) =
            common::api::call(&http, Method::POST, &url, &writer, Some(&body)).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["field"], "expiry");
    }
    let (code, answer) = common::api::call(
        &http,
        Method::POST,
        &url,
        &writer,
        Some(&json!({"name": "r", "expires_in_days": 30})),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{answer}");
    let (code, answer) = common::api::call(
        &http,
        Method::GET,
        &format!("{}/api/v1/policy", server.base),
        &writer,
        None,
    )
    .await;
    assert_eq!(
        (code, answer["max_days"].as_u64()),
        (StatusCode::OK, Some(30)),
        "{answer}"
    );
    // A key cannot change the policy.
    let (code, _) = common::api::call(
        &http,
        Method::PUT,
        &format!("{}/api/v1/policy", server.base),
        &writer,
        Some(&json!({"max_days": null})),
    )
    .await;
    assert_eq!(code, StatusCode::FORBIDDEN);

    // The CLI.
    let output = server
        .db
        .keygate()
        .args([
            "key",
            "create",
            "--org",
            &org,
            "--name",
            "cli",
            "--expires-in",
            "never",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("policy"), "{stderr}");
    assert!(output.stdout.is_empty(), "no key may be printed");

    // The key from before the policy is flagged, unchanged until shortened.
    let row = listed(&ada, &org, &old_id).await;
    assert_eq!(row["exceeds_policy"], true, "{row}");
    assert!(row["expires_at"].is_null());
    let (code, body) = ada
        .call("shorten_api_key", &[("org_id", &org), ("key_id", &old_id)])
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["exceeds_policy"], false, "{body}");
    let shortened = time(&body["expires_at"]);
    assert!(
        (shortened - Utc::now() - chrono::Duration::days(30))
            .num_seconds()
            .abs()
            < 60,
        "{shortened}"
    );
}

mod cli {
    use super::*;

    /// `keygate key roll --overlap 24h`: prints the new secret; both secrets work.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_cli_rolls_with_an_overlap() {
        crate::common::within_time_limit("the_cli_rolls_with_an_overlap", async {
            let server = TestServer::start(TestDb::sqlite().await).await;
            let (ada, _) = server.user("Ada").await;
            let org = ada.create_org("Acme").await;
            let (id, old) = ada.create_key(&org, "billing", "gateway").await;
            let run = |args: &[&str]| server.db.keygate().args(args).output().unwrap();
            let bad = run(&["key", "roll", "--org", &org, "--id", &id, "--overlap", "8d"]);
            assert_eq!(bad.status.code(), Some(2));
            assert_eq!(status(&server.base, &old).await, OK());
            let output = run(&[
                "key",
                "roll",
                "--org",
                &org,
                "--id",
                &id,
                "--overlap",
                "24h",
            ]);
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            let new = String::from_utf8(output.stdout).unwrap().trim().to_owned();
            assert!(
                app::keys::format::check(&new).is_ok(),
                "stdout is the key alone"
            );
            assert!(String::from_utf8_lossy(&output.stderr).contains("works until"));
            assert_eq!(status(&server.base, &new).await, OK());
            assert_eq!(status(&server.base, &old).await, OK());
            let row = listed(&ada, &org, &id).await;
            let until = time(&row["rolling"]["until"]);
            assert!(
                (until - Utc::now() - chrono::Duration::hours(24))
                    .num_seconds()
                    .abs()
                    < 60
            );
        })
        .await;
    }
}

async fn backdate(
    db: &sea_orm::DatabaseConnection,
    key_id: &str,
    created_days: i64,
    used_days: Option<i64>,
) {
    use app::entities::api_key;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    let now = Utc::now();
    api_key::Entity::update_many()
        .col_expr(
            api_key::Column::CreatedAt,
            Expr::value(now - chrono::Duration::days(created_days)),
        )
        .col_expr(
            api_key::Column::LastUsedAt,
            Expr::value(used_days.map(|d| now - chrono::Duration::days(d))),
        )
        .filter(api_key::Column::Id.eq(key_id))
        .exec(db)
        .await
        .unwrap();
}

async fn idle_keys_are_revoked_but_never_one_used_within_the_window(db: TestDb) {
    // The server writes last-used times every second here; the sweep below waits longer.
    let server = TestServer::start_with(db, &[("KEYGATE_USAGE_FLUSH_INTERVAL", "1")]).await;
    let (ada, _) = server.user("Ada").await;
    let org = ada.create_org("Acme").await;
    let lax = ada.create_org("Lax").await;
    let (code, body) = set_policy(&ada, &org, "", false, "30").await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let create_never = async |org: &str, name: &str| {
        let (code, body) = ada
            .call(
                "create_api_key",
                &[
                    ("org_id", org),
                    ("name", name),
                    ("expiry", "never"),
                    ("scopes", "gateway"),
                ],
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{body}");
        (
            body["key"]["id"].as_str().unwrap().to_owned(),
            body["secret"].as_str().unwrap().to_owned(),
        )
    };
    let (stale, stale_key) = create_never(&org, "stale").await;
    let (recent, _) = create_never(&org, "used 29 days ago").await;
    let (just_now, just_now_key) = create_never(&org, "used just now").await;
    let (fresh, _) = create_never(&org, "new").await;
    let (elsewhere, _) = create_never(&lax, "no policy").await;
    // A webhook endpoint that wants revocations (its deliveries go nowhere here).
    let (code, body) = ada
        .call(
            "create_webhook",
            &[
                ("org_id", &org),
                ("url", "https://example.com/keygate"),
                ("events", "key.revoked"),
            ],
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let conn = server.db.connect().await;
    backdate(&conn, &stale, 40, None).await;
    backdate(&conn, &recent, 40, Some(29)).await;
    backdate(&conn, &just_now, 40, Some(40)).await;
    backdate(&conn, &elsewhere, 400, None).await;
    // Used a moment ago: the server holds that use in memory, not yet in the database.
    assert_eq!(status(&server.base, &just_now_key).await, OK());
    assert_eq!(status(&server.base, &stale_key).await, OK());
    // (That call used the stale key too; once the server has written that use, put it
    // back 40 days.)
    let mut written = Vec::new();
    for id in [&stale, &just_now] {
        use sea_orm::EntityTrait as _;
        written.push(
            common::eventually(
                &format!("the server writes {id}'s last use"),
                common::WAIT_LIMIT,
                async || {
                    let row = app::entities::api_key::Entity::find_by_id(id.clone())
                        .one(&conn)
                        .await
                        .unwrap()
                        .unwrap();
                    row.last_used_at
                        .filter(|t| Utc::now() - *t < chrono::Duration::days(1))
                },
            )
            .await,
        );
    }
    // Last uses are kept to the second: the next use must fall in a later second than
    // the one written, or the server has nothing new to write for it.
    let last_written = written.iter().map(DateTime::timestamp).max().unwrap();
    common::eventually("a later second", common::WAIT_LIMIT, async || {
        Utc::now().timestamp() > last_written
    })
    .await;
    backdate(&conn, &stale, 40, Some(40)).await;
    backdate(&conn, &just_now, 40, Some(40)).await;
    assert_eq!(status(&server.base, &just_now_key).await, OK());

    // The sweep, as another instance would run it: its own (empty) verifier, and a settle
    // (how long it waits for other instances to write their last-used times) five times
    // the server's flush interval.
    let verifier = app::keys::verify::Verifier::default();
    let revoked = app::keys::service::revoke_idle_keys(&conn, &verifier, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(revoked, vec![stale.clone()], "only the stale key");
    for (id, status) in [
        (&stale, "revoked"),
        (&recent, "active"),
        (&just_now, "active"),
        (&fresh, "active"),
    ] {
        assert_eq!(listed(&ada, &org, id).await["status"], status, "{id}");
    }
    let row = listed(&ada, &org, &stale).await;
    assert_eq!(row["revoked_by"], "Keygate (key policy)");
    assert_eq!(listed(&ada, &lax, &elsewhere).await["status"], "active");
    until_status(&server.base, &stale_key, refused("key_revoked")).await;
    let (_, events) = ada.call("list_key_activity", &[("org_id", &org)]).await;
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "key.idle_revoked" && e["key_id"] == stale.as_str()),
        "{events}"
    );
    // ... and one webhook event, in the outbox with it.
    {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let outbox = app::entities::webhook_event::Entity::find()
            .filter(app::entities::webhook_event::Column::OrgId.eq(&org))
            .filter(app::entities::webhook_event::Column::EventType.eq("key.revoked"))
            .all(&conn)
            .await
            .unwrap();
        assert_eq!(outbox.len(), 1, "{outbox:?}");
        let payload: Value = serde_json::from_str(&outbox[0].payload).unwrap();
        assert_eq!(payload["data"]["key"]["id"], stale.as_str());
        assert_eq!(payload["data"]["reason"], "idle");
        assert_eq!(payload["data"]["actor"]["id"], "keygate");
    }
    // A second sweep finds nothing more.
    assert!(
        app::keys::service::revoke_idle_keys(&conn, &verifier, Duration::ZERO)
            .await
            .unwrap()
            .is_empty()
    );

    // One instance at a time: the lease (under another name: the server holds the sweep's).
    let lease = async |holder: &str, ttl: chrono::Duration| {
        app::lease::take_lease(&conn, "test-lease", holder, ttl)
            .await
            .unwrap()
    };
    let hour = chrono::Duration::hours(1);
    assert!(lease("a", hour).await, "a free lease is taken");
    assert!(!lease("b", hour).await, "a held lease is refused");
    assert!(lease("a", hour).await, "its holder renews it");
    // Once it runs out (the holder died), another instance takes over.
    assert!(lease("a", chrono::Duration::milliseconds(1)).await);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(lease("b", hour).await, "a lapsed lease is taken over");
    assert!(!lease("a", hour).await, "the old holder has lost it");
}
