//! API keys against a real database: what is stored (K2), transactions (R1), concurrency
//! (R5), revoke and roll, verification, and the role matrix of the key server functions
//! over HTTP (Z4, Z2, K4).

mod common;

use std::collections::HashSet;

use app::auth::service::create_user;
use app::entities::{api_key, audit_event, membership, organization, session, user};
use app::ids::{KeyId, OrgId, UserId};
use app::keys::scopes::DEFAULT_SCOPES;
use app::keys::service::{self as keys, KeyError, KeyManager};
use app::keys::verify::Verifier;
use app::keys::verify::digest::{self, VerifyError};
use app::orgs::access;
use app::orgs::service as orgs;
use app::ssr::Secret;
use app::state::AppState;
use common::{Client, TestDb, TestServer};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};

on_both_databases!(
    the_database_holds_no_key,
    a_failure_before_commit_leaves_no_row_and_no_key,
    concurrent_creates_are_all_kept,
    revoking_is_final_idempotent_and_scoped_to_the_org,
    rolling_replaces_the_secret_and_keeps_the_record,
    verification_checks_shape_status_and_expiry,
    the_list_is_paginated_newest_first,
    key_actions_follow_the_role_matrix,
    a_thousand_keys_are_paged_on_the_server,
    parallel_revokes_and_rolls_never_fail,
    the_verifier_caches_and_throttles_without_locking_out_valid_keys,
);

/// The cache answers valid keys, stale entries are re-read (even from a throttled
/// address), revocation clears the entry at once, and throttling only stops lookups of
/// keys the cache does not know.
async fn the_verifier_caches_and_throttles_without_locking_out_valid_keys(db: TestDb) {
    use app::keys::verify::Rejection;
    let (state, manager) = setup(&db).await;
    let secret = Secret::new(SECRET);
    let verifier = Verifier::new(std::time::Duration::from_millis(200), 100, 2);
    let ip = Some("10.0.0.9".parse().unwrap());
    let key = keys::create_key(&state.db, &secret, &manager, "cached", None, DEFAULT_SCOPES)
        .await
        .unwrap();
    // Like the server, an accepted key's request is counted as a use.
    let ok = |r: Result<std::sync::Arc<app::keys::verify::Verified>, Rejection>| {
        r.map(|key| key.count(app::keys::usage::Outcome::Ok))
            .is_ok()
    };
    assert!(ok(verifier
        .verify(&state.db, &secret, &key.secret, ip)
        .await
        .unwrap()));
    assert_eq!(verifier.cached_len(), 1);

    // Two failures, then the address is throttled for anything the cache does not know.
    let stranger = app::keys::format::key_from_bytes(&[3u8; 32]);
    for _ in 0..2 {
        assert_eq!(
            verifier
                .verify(&state.db, &secret, &stranger, ip)
                .await
                .unwrap()
                .unwrap_err(),
            Rejection::Invalid(VerifyError::Unknown)
        );
    }
    assert!(matches!(
        verifier
            .verify(&state.db, &secret, &stranger, ip)
            .await
            .unwrap(),
        Err(Rejection::RateLimited(_))
    ));
    // The known key still works, fresh and after its entry went stale.
    assert!(ok(verifier
        .verify(&state.db, &secret, &key.secret, ip)
        .await
        .unwrap()));
    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    assert!(ok(verifier
        .verify(&state.db, &secret, &key.secret, ip)
        .await
        .unwrap()));

    // Revoked through the service with this verifier: refused on the next call.
    keys::revoke_key(&state.db, &verifier, &manager, KeyId(&key.key.id))
        .await
        .unwrap();
    assert_eq!(verifier.cached_len(), 0);
    assert!(!ok(verifier
        .verify(&state.db, &secret, &key.secret, None)
        .await
        .unwrap()));

    // Last-used times are queued, then written in one flush (the first key's use too).
    assert_eq!(verifier.flush_usage(&state.db).await.unwrap(), 1);
    let other = keys::create_key(&state.db, &secret, &manager, "used", None, DEFAULT_SCOPES)
        .await
        .unwrap();
    assert!(ok(verifier
        .verify(&state.db, &secret, &other.secret, None)
        .await
        .unwrap()));
    assert_eq!(verifier.flush_usage(&state.db).await.unwrap(), 1);
    assert_eq!(verifier.flush_usage(&state.db).await.unwrap(), 0);
    let row = api_key::Entity::find_by_id(other.key.id.clone())
        .one(&state.db)
        .await
        .unwrap()
        .unwrap();
    assert!(row.last_used_at.is_some());
}

const SECRET: &str = "test-server-secret-0123456789abcdef0123456789";

async fn setup(db: &TestDb) -> (AppState, KeyManager) {
    let state = AppState::new(db.connect().await, Secret::new(SECRET))
        .await
        .unwrap();
    let ada = create_user(&state.db, "ada@example.com", "Ada", "password one")
        .await
        .unwrap();
    let org = orgs::create_org(&state.db, UserId(&ada.id), "Acme")
        .await
        .unwrap();
    let manager = KeyManager::new(
        access::membership(&state.db, UserId(&ada.id), OrgId(&org.id))
            .await
            .unwrap(),
    )
    .unwrap();
    (state, manager)
}

async fn all_rows_as_text(db: &impl ConnectionTrait) -> String {
    format!(
        "{:?}{:?}{:?}{:?}{:?}{:?}",
        user::Entity::find().all(db).await.unwrap(),
        organization::Entity::find().all(db).await.unwrap(),
        membership::Entity::find().all(db).await.unwrap(),
        session::Entity::find().all(db).await.unwrap(),
        api_key::Entity::find().all(db).await.unwrap(),
        audit_event::Entity::find().all(db).await.unwrap(),
    )
}

async fn the_database_holds_no_key(db: TestDb) {
    let (state, manager) = setup(&db).await;
    let secret = Secret::new(SECRET);
    let mut raw = Vec::new();
    for i in 0..5 {
        let created = keys::create_key(
            &state.db,
            &secret,
            &manager,
            &format!("key {i}"),
            None,
            DEFAULT_SCOPES,
        )
        .await
        .unwrap();
        let row = api_key::Entity::find_by_id(created.key.id.clone())
            .one(&state.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            row.lookup_digest,
            digest::digest(&secret, &created.secret),
            "the digest is the keyed HMAC"
        );
        assert_eq!(
            row.start,
            &created.secret[..7],
            "the hint is the prefix and 4 characters"
        );
        raw.push(created.secret);
    }
    let rolled = keys::roll_key(
        &state.db,
        &secret,
        &Verifier::default(),
        &manager,
        KeyId(
            &api_key::Entity::find()
                .one(&state.db)
                .await
                .unwrap()
                .unwrap()
                .id,
        ),
        0,
    )
    .await
    .unwrap();
    raw.push(rolled.secret);
    let dump = all_rows_as_text(&state.db).await;
    for key in &raw {
        // Neither the key nor its secret body, in any column of any table (K2).
        assert!(
            !dump.contains(key.as_str()) && !dump.contains(&key[3..46]),
            "a key reached the database"
        );
    }
    // On SQLite, the bytes on disk too (database and write-ahead log).
    if db.url.starts_with("sqlite:") {
        for entry in std::fs::read_dir(db.data_dir()).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            for key in &raw {
                assert!(!text.contains(&key[3..46]), "a key reached a database file");
            }
        }
    }
}

async fn a_failure_before_commit_leaves_no_row_and_no_key(db: TestDb) {
    let (state, manager) = setup(&db).await;
    // The audit insert comes after the key insert in the same transaction: without its
    // table, creation fails between the two.
    state
        .db
        .execute_unprepared("DROP TABLE audit_events")
        .await
        .unwrap();
    let result = keys::create_key(
        &state.db,
        &Secret::new(SECRET),
        &manager,
        "doomed",
        None,
        DEFAULT_SCOPES,
    )
    .await;
    assert!(
        matches!(result, Err(KeyError::Db(_))),
        "no key may be returned: {result:?}"
    );
    assert_eq!(
        api_key::Entity::find().count(&state.db).await.unwrap(),
        0,
        "R1: no row"
    );
}

async fn concurrent_creates_are_all_kept(db: TestDb) {
    let (state, manager) = setup(&db).await;
    let secret = Secret::new(SECRET);
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let (db, secret, manager) = (state.db.clone(), secret.clone(), manager.clone());
            tokio::spawn(async move {
                keys::create_key(
                    &db,
                    &secret,
                    &manager,
                    &format!("parallel {i}"),
                    None,
                    DEFAULT_SCOPES,
                )
                .await
            })
        })
        .collect();
    let mut secrets = HashSet::new();
    let mut ids = HashSet::new();
    for task in tasks {
        let created = task
            .await
            .unwrap()
            .expect("every concurrent create succeeds");
        ids.insert(created.key.id.clone());
        secrets.insert(created.secret);
    }
    assert_eq!(
        (secrets.len(), ids.len()),
        (200, 200),
        "R5: 200 distinct keys"
    );
    assert_eq!(api_key::Entity::find().count(&state.db).await.unwrap(), 200);
    assert_eq!(
        audit_event::Entity::find().count(&state.db).await.unwrap(),
        200
    );
    for raw in &secrets {
        let verified = digest::verify_key(&state.db, &secret, raw)
            .await
            .unwrap()
            .expect("each persisted key verifies");
        assert!(ids.contains(&verified.key_id));
    }
}

async fn revoking_is_final_idempotent_and_scoped_to_the_org(db: TestDb) {
    let (state, manager) = setup(&db).await;
    let secret = Secret::new(SECRET);
    let created = keys::create_key(&state.db, &secret, &manager, "deploy", None, DEFAULT_SCOPES)
        .await
        .unwrap();

    // Another organization's manager cannot see or touch it (Z2).
    let bob = create_user(&state.db, "bob@example.com", "Bob", "password one")
        .await
        .unwrap();
    let other = orgs::create_org(&state.db, UserId(&bob.id), "Other")
        .await
        .unwrap();
    let intruder = KeyManager::new(
        access::membership(&state.db, UserId(&bob.id), OrgId(&other.id))
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(matches!(
        keys::revoke_key(
            &state.db,
            &Verifier::default(),
            &intruder,
            KeyId(&created.key.id)
        )
        .await,
        Err(KeyError::NotFound)
    ));
    assert!(matches!(
        keys::roll_key(
            &state.db,
            &secret,
            &Verifier::default(),
            &intruder,
            KeyId(&created.key.id),
            0
        )
        .await,
        Err(KeyError::NotFound)
    ));
    assert!(
        digest::verify_key(&state.db, &secret, &created.secret)
            .await
            .unwrap()
            .is_ok(),
        "still valid"
    );

    let first = keys::revoke_key(
        &state.db,
        &Verifier::default(),
        &manager,
        KeyId(&created.key.id),
    )
    .await
    .unwrap();
    assert_eq!(first.status, app::keys::KeyStatus::Revoked);
    assert_eq!(first.revoked_by.as_deref(), Some("Ada"));
    let second = keys::revoke_key(
        &state.db,
        &Verifier::default(),
        &manager,
        KeyId(&created.key.id),
    )
    .await
    .unwrap();
    assert_eq!(
        second.revoked_at, first.revoked_at,
        "revoking twice changes nothing"
    );
    let events = audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq("key.revoked"))
        .count(&state.db)
        .await
        .unwrap();
    assert_eq!(events, 1);
    assert_eq!(
        digest::verify_key(&state.db, &secret, &created.secret)
            .await
            .unwrap(),
        Err(VerifyError::Revoked)
    );
    assert!(matches!(
        keys::revoke_key(
            &state.db,
            &Verifier::default(),
            &manager,
            KeyId("key_nonexistent")
        )
        .await,
        Err(KeyError::NotFound)
    ));
}

async fn rolling_replaces_the_secret_and_keeps_the_record(db: TestDb) {
    let (state, manager) = setup(&db).await;
    let secret = Secret::new(SECRET);
    let expiry = chrono::Utc::now() + chrono::Duration::days(30);
    let created = keys::create_key(
        &state.db,
        &secret,
        &manager,
        "billing",
        Some(expiry),
        DEFAULT_SCOPES,
    )
    .await
    .unwrap();
    let rolled = keys::roll_key(
        &state.db,
        &secret,
        &Verifier::default(),
        &manager,
        KeyId(&created.key.id),
        0,
    )
    .await
    .unwrap();
    assert_ne!(rolled.secret, created.secret);
    assert_eq!(rolled.key.id, created.key.id);
    assert_eq!(rolled.key.name, "billing");
    assert_eq!(rolled.key.expires_at, created.key.expires_at);
    assert_eq!(
        digest::verify_key(&state.db, &secret, &created.secret)
            .await
            .unwrap(),
        // The replaced secret is known (by digest) and refused as revoked.
        Err(VerifyError::Revoked)
    );
    let verified = digest::verify_key(&state.db, &secret, &rolled.secret)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(verified.key_id, created.key.id);
    let actions: Vec<String> = keys::list_activity(&state.db, &manager, None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["key.rolled", "key.created"]);

    keys::revoke_key(
        &state.db,
        &Verifier::default(),
        &manager,
        KeyId(&created.key.id),
    )
    .await
    .unwrap();
    assert!(matches!(
        keys::roll_key(
            &state.db,
            &secret,
            &Verifier::default(),
            &manager,
            KeyId(&created.key.id),
            0
        )
        .await,
        Err(KeyError::Conflict { .. })
    ));
}

async fn verification_checks_shape_status_and_expiry(db: TestDb) {
    let (state, manager) = setup(&db).await;
    let secret = Secret::new(SECRET);
    let created = keys::create_key(&state.db, &secret, &manager, "svc", None, DEFAULT_SCOPES)
        .await
        .unwrap();
    let ok = digest::verify_key(&state.db, &secret, &created.secret)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (ok.key_id.as_str(), ok.expires_at),
        (created.key.id.as_str(), None)
    );

    let mut typo = created.secret.clone().into_bytes();
    typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).unwrap();
    assert_eq!(
        digest::verify_key(&state.db, &secret, &typo).await.unwrap(),
        Err(VerifyError::Malformed)
    );
    let stranger = app::keys::format::key_from_bytes(&[9; 32]);
    assert_eq!(
        digest::verify_key(&state.db, &secret, &stranger)
            .await
            .unwrap(),
        Err(VerifyError::Unknown)
    );
    // The same key under another server secret is unknown: the digest is keyed.
    let other_secret = Secret::new("another-secret-0123456789abcdef0123456789");
    assert_eq!(
        digest::verify_key(&state.db, &other_secret, &created.secret)
            .await
            .unwrap(),
        Err(VerifyError::Unknown)
    );

    common::expire_key(&state.db, &created.key.id).await;
    assert_eq!(
        digest::verify_key(&state.db, &secret, &created.secret)
            .await
            .unwrap(),
        Err(VerifyError::Expired)
    );
    let listed = keys::list_keys(&state.db, &manager, 1, &app::keys::KeyQuery::default())
        .await
        .unwrap();
    assert_eq!(
        listed.keys[0].status,
        app::keys::KeyStatus::Expired,
        "expired keys stay listed"
    );
    assert!(matches!(
        keys::create_key(
            &state.db,
            &secret,
            &manager,
            "past",
            Some(chrono::Utc::now() - chrono::Duration::days(1)),
            DEFAULT_SCOPES
        )
        .await,
        Err(KeyError::Invalid {
            field: "expiry",
            ..
        })
    ));
}

async fn the_list_is_paginated_newest_first(db: TestDb) {
    let (state, manager) = setup(&db).await;
    let secret = Secret::new(SECRET);
    for i in 0..30 {
        keys::create_key(
            &state.db,
            &secret,
            &manager,
            &format!("key {i:02}"),
            None,
            DEFAULT_SCOPES,
        )
        .await
        .unwrap();
    }
    let first = keys::list_keys(&state.db, &manager, 1, &app::keys::KeyQuery::default())
        .await
        .unwrap();
    assert_eq!(
        (first.keys.len(), first.page, first.pages, first.total),
        (25, 1, 2, 30)
    );
    assert_eq!(first.keys[0].name, "key 29");
    let second = keys::list_keys(&state.db, &manager, 2, &app::keys::KeyQuery::default())
        .await
        .unwrap();
    assert_eq!(second.keys.len(), 5);
    assert_eq!(second.keys[4].name, "key 00");
    assert_eq!(
        keys::list_keys(&state.db, &manager, 99, &app::keys::KeyQuery::default())
            .await
            .unwrap()
            .page,
        2,
        "out-of-range pages clamp"
    );
    assert!(
        keys::list_keys(&state.db, &manager, 0, &app::keys::KeyQuery::default())
            .await
            .unwrap()
            .keys
            .len()
            == 25
    );
    for key in first.keys.iter().chain(&second.keys) {
        assert_eq!(key.hint.len(), 7);
        assert_eq!(key.last_used_at, None);
        assert_eq!(key.created_by, "Ada");
    }
}

/// The key server functions over HTTP: (owner, admin, developer, member) x (own org,
/// other org) x (list, create, revoke, roll); denied calls change nothing.
async fn key_actions_follow_the_role_matrix(db: TestDb) {
    const ROLES: [&str; 4] = ["owner", "admin", "developer", "member"];
    const EXPECTED: [u16; 4] = [200, 200, 200, 403];
    let server = TestServer::start(db).await;
    let (owner_a, _) = server.user("AOwner").await;
    let org_a = owner_a.create_org("A Inc").await;
    let (owner_b, _) = server.user("BOwner").await;
    let org_b = owner_b.create_org("B Inc").await;
    for (i, role) in ROLES.iter().enumerate() {
        let (caller, user) = server.user(&format!("{role}x")).await;
        let (status, _) = owner_a
            .call(
                "add_member",
                &[("org_id", &org_a), ("email", &user.email), ("role", role)],
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        check_key_cell(
            &caller,
            &owner_a,
            &org_a,
            EXPECTED[i],
            &format!("{role}/own org"),
        )
        .await;
        check_key_cell(&caller, &owner_b, &org_b, 404, &format!("{role}/other org")).await;
    }
    let (status, _) = server
        .client()
        .call("list_api_keys", &[("org_id", &org_a), ("page", "1")])
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn create_by(owner: &Client, org: &str, name: &str) -> (String, String) {
    let (status, body) = owner
        .call(
            "create_api_key",
            &[
                ("org_id", org),
                ("name", name),
                ("expiry", "30"),
                ("custom_date", ""),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        body["key"]["id"].as_str().unwrap().to_owned(),
        body["secret"].as_str().unwrap().to_owned(),
    )
}

async fn key_state(owner: &Client, org: &str, key_id: &str) -> (String, String) {
    let (_, body) = owner
        .call("list_api_keys", &[("org_id", org), ("page", "1")])
        .await;
    let key = body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == key_id)
        .unwrap()
        .clone();
    (
        key["status"].as_str().unwrap().to_owned(),
        key["hint"].as_str().unwrap().to_owned(),
    )
}

async fn check_key_cell(caller: &Client, owner: &Client, org: &str, expected: u16, cell: &str) {
    let allowed = expected == 200;
    let (status, body) = caller
        .call("list_api_keys", &[("org_id", org), ("page", "1")])
        .await;
    assert_eq!(status.as_u16(), expected, "{cell} list: {body}");

    let before = owner
        .call("list_api_keys", &[("org_id", org), ("page", "1")])
        .await
        .1["total"]
        .as_u64()
        .unwrap();
    let response = caller
        .post(
            "create_api_key",
            &[
                ("org_id", org),
                ("name", "cell"),
                ("expiry", "never"),
                ("custom_date", ""),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), expected, "{cell} create");
    if allowed {
        // K4: the one response with the key is never cached.
        assert_eq!(response.headers()["cache-control"], "no-store", "{cell}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(
            app::keys::format::check(body["secret"].as_str().unwrap()).is_ok(),
            "{cell}: a real key"
        );
    }
    let after = owner
        .call("list_api_keys", &[("org_id", org), ("page", "1")])
        .await
        .1["total"]
        .as_u64()
        .unwrap();
    assert_eq!(
        after - before,
        u64::from(allowed),
        "{cell} create changed the count wrongly"
    );

    let (key_id, _) = create_by(owner, org, "to revoke").await;
    let (status, body) = caller
        .call("revoke_api_key", &[("org_id", org), ("key_id", &key_id)])
        .await;
    assert_eq!(status.as_u16(), expected, "{cell} revoke: {body}");
    assert_eq!(
        key_state(owner, org, &key_id).await.0,
        if allowed { "revoked" } else { "active" },
        "{cell}"
    );

    let (key_id, old_secret) = create_by(owner, org, "to roll").await;
    let (_, hint_before) = key_state(owner, org, &key_id).await;
    let (status, body) = caller
        .call("roll_api_key", &[("org_id", org), ("key_id", &key_id)])
        .await;
    assert_eq!(status.as_u16(), expected, "{cell} roll: {body}");
    let (_, hint_after) = key_state(owner, org, &key_id).await;
    let http = common::http();
    let old = common::api::verify(&http, &owner.base, &old_secret).await;
    if allowed {
        // A new secret for the same key, which works; the old one (no overlap) does not.
        assert_ne!(
            hint_after, hint_before,
            "{cell}: an allowed roll kept the hint"
        );
        let new_secret = body["secret"].as_str().unwrap();
        assert_ne!(new_secret, old_secret, "{cell}");
        assert_eq!(body["key"]["id"], key_id.as_str(), "{cell}: {body}");
        let new = common::api::verify(&http, &owner.base, new_secret).await;
        assert_eq!(
            (new["valid"].as_bool(), new["key_id"].as_str()),
            (Some(true), Some(key_id.as_str())),
            "{cell}: the new secret: {new}"
        );
        assert_eq!(
            old["valid"], false,
            "{cell}: the old secret still works: {old}"
        );
    } else {
        assert_eq!(
            hint_after, hint_before,
            "{cell}: a denied roll changed the key"
        );
        assert_eq!(
            old["valid"], true,
            "{cell}: a denied roll stopped the key: {old}"
        );
        assert!(body.get("secret").is_none(), "{cell}: {body}");
    }
    // A list never carries a secret.
    let (_, list) = owner
        .call("list_api_keys", &[("org_id", org), ("page", "1")])
        .await;
    assert!(!list.to_string().contains("\"secret\""), "{cell}");
}

/// With 1,000 keys the page is rendered on the server 25 keys at a time.
async fn a_thousand_keys_are_paged_on_the_server(db: TestDb) {
    // It renders pages: see `start_in_own_process`.
    let server = TestServer::start_in_own_process(db).await;
    let (owner, owner_user) = server.user("Owner").await;
    let org = owner.create_org("Big Co").await;
    let conn = server.db.connect().await;
    let manager = KeyManager::new(
        access::membership(&conn, UserId(&owner_user.id), OrgId(&org))
            .await
            .unwrap(),
    )
    .unwrap();
    let secret = Secret::new("unused-here-0123456789abcdef0123456789abcdef");
    for i in 0..1000 {
        keys::create_key(
            &conn,
            &secret,
            &manager,
            &format!("bulk key {i:04}"),
            None,
            DEFAULT_SCOPES,
        )
        .await
        .unwrap();
    }
    let page = |n: &str| {
        let url = format!("{}/orgs/{org}/settings/keys?page={n}", server.base);
        let http = owner.http.clone();
        async move {
            http.get(url)
                .header("accept", "text/html")
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let first = page("1").await;
    assert!(
        first.contains("Page 1 of 40 · 1000 keys"),
        "server-rendered pagination"
    );
    let cell = |name: &str| format!("class=\"key-title\">{name}<");
    assert!(first.contains(&cell("bulk key 0999")) && first.contains(&cell("bulk key 0975")));
    assert!(
        !first.contains(&cell("bulk key 0974")),
        "the 26th key is on page 2"
    );
    assert_eq!(first.matches("data-testid=\"key-row\"").count(), 25);
    let last = page("40").await;
    assert!(last.contains("Page 40 of 40") && last.contains(&cell("bulk key 0000")));
    assert!(
        page("9999").await.contains("Page 40 of 40"),
        "out-of-range pages clamp"
    );
}

/// Revokes and rolls racing on the same keys: each call either succeeds or is refused as
/// a conflict (a roll after the revoke), never a database error; each key ends revoked
/// with exactly one revocation event.
async fn parallel_revokes_and_rolls_never_fail(db: TestDb) {
    let (state, manager) = setup(&db).await;
    let secret = Secret::new(SECRET);
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(
            keys::create_key(
                &state.db,
                &secret,
                &manager,
                &format!("race {i}"),
                None,
                DEFAULT_SCOPES,
            )
            .await
            .unwrap()
            .key
            .id,
        );
    }
    let mut tasks = Vec::new();
    for id in &ids {
        for kind in ["revoke", "roll", "revoke", "roll"] {
            let (db, secret, manager, id) = (
                state.db.clone(),
                secret.clone(),
                manager.clone(),
                id.clone(),
            );
            tasks.push(tokio::spawn(async move {
                match kind {
                    "revoke" => keys::revoke_key(&db, &Verifier::default(), &manager, KeyId(&id))
                        .await
                        .map(|_| ()),
                    _ => {
                        keys::roll_key(&db, &secret, &Verifier::default(), &manager, KeyId(&id), 0)
                            .await
                            .map(|_| ())
                    }
                }
            }));
        }
    }
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) | Err(KeyError::Conflict { .. }) => {}
            Err(other) => panic!("a concurrent revoke or roll failed: {other:?}"),
        }
    }
    for id in &ids {
        let row = api_key::Entity::find_by_id(id.clone())
            .one(&state.db)
            .await
            .unwrap()
            .unwrap();
        assert!(row.revoked_at.is_some());
        let revocations = audit_event::Entity::find()
            .filter(audit_event::Column::KeyId.eq(id.as_str()))
            .filter(audit_event::Column::Action.eq("key.revoked"))
            .count(&state.db)
            .await
            .unwrap();
        assert_eq!(revocations, 1);
    }
}
