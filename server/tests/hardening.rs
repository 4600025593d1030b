//! The defects a review of the code found (issue 11), each as the scenario that showed
//! it, on a fresh SQLite file and a fresh PostgreSQL database: a rolled secret that
//! outlived the person who received it, hashing that disconnecting could stack up,
//! revocations the event follower could miss, keys revived by re-adding their creator,
//! last-used times lost mid-flush, a session written on every request, a page CSP that
//! allowed any inline script, and a form check that trusted the `Host` header.

mod common;

use std::time::Duration;

use app::entities::api_key;
use app::ids::{KeyId, OrgId, UserId};
use app::keys::scopes::DEFAULT_SCOPES;
use app::keys::service::{self as keys, KeyManager};
use app::orgs::access;
use app::orgs::service as orgs;
use app::state::AppState;
use common::api::send;
use common::{Client, TestDb, TestServer, User, WAIT_LIMIT, eventually};
use reqwest::{Method, StatusCode};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    TransactionTrait,
};
use serde_json::Value;

on_both_databases!(
    a_rolled_secret_belongs_to_whoever_rolled_it,
    removing_a_member_revokes_or_hands_over_their_keys,
    adding_a_member_back_revives_no_key,
    a_revocation_recorded_before_the_follower_started_is_not_missed,
    a_flush_cut_off_mid_write_loses_nothing,
    the_server_writes_last_used_times_in_flight_at_shutdown,
    browsing_writes_the_session_at_most_once_a_minute,
    a_refused_plain_form_is_kept_by_the_browser_not_the_server,
    a_key_made_by_a_plain_form_is_shown_in_its_answer_only,
);

mod postgres_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stalled_event_poll_clears_the_cache() {
        let db = crate::common::TestDb::postgres().await;
        crate::common::within_time_limit(
            "postgres_only::a_stalled_event_poll_clears_the_cache",
            super::a_stalled_event_poll_clears_the_cache(db),
        )
        .await;
    }
}

async fn whoami(server: &TestServer, key: &str) -> (StatusCode, Value) {
    let (status, _, body) = send(
        common::http()
            .request(Method::GET, format!("{}/api/v1/whoami", server.base))
            .header("x-api-key", key),
    )
    .await;
    (status, body)
}

/// Ada's org with Dev in it as a developer.
async fn org_with_developer(server: &TestServer) -> (Client, Client, User, String) {
    let (ada, _) = server.user("Ada").await;
    let org = ada.create_org("Acme").await;
    let (dev, dev_user) = server.user("Dev").await;
    add(&ada, &org, &dev_user.email, "developer").await;
    (ada, dev, dev_user, org)
}

async fn add(admin: &Client, org: &str, email: &str, role: &str) {
    let (status, body) = admin
        .call(
            "add_member",
            &[("org_id", org), ("email", email), ("role", role)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "add member: {body}");
}

async fn remove(admin: &Client, org: &str, user_id: &str, keys: Option<&str>) {
    let mut form = vec![("org_id", org), ("user_id", user_id)];
    if let Some(keys) = keys {
        form.push(("keys", keys));
    }
    let (status, body) = admin.call("remove_member", &form).await;
    assert_eq!(status, StatusCode::OK, "remove member: {body}");
}

async fn key_row(server: &TestServer, key_id: &str) -> api_key::Model {
    api_key::Entity::find_by_id(key_id.to_owned())
        .one(&server.db.connect().await)
        .await
        .unwrap()
        .unwrap()
}

/// Review item 1: a developer who rolls the owner's key holds the new secret; its rights
/// follow the developer from then on, and removing them ends it.
async fn a_rolled_secret_belongs_to_whoever_rolled_it(db: TestDb) {
    let server = TestServer::start(db).await;
    let (ada, dev, dev_user, org) = org_with_developer(&server).await;
    let (key_id, _) = ada
        .create_key(&org, "billing", "gateway keys:read keys:write")
        .await;
    let (status, body) = dev
        .call("roll_api_key", &[("org_id", &org), ("key_id", &key_id)])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let secret = body["secret"].as_str().unwrap().to_owned();
    assert_eq!(body["key"]["created_by"], "Dev", "{body}");
    assert_eq!(key_row(&server, &key_id).await.created_by, dev_user.id);

    // Dev demoted to member: the secret Dev holds can do nothing any more.
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
    let (status, who) = whoami(&server, &secret).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(who["scopes"], serde_json::json!([]), "{who}");

    // Dev removed (the form's default: their keys are revoked): the secret is refused.
    remove(&ada, &org, &dev_user.id, None).await;
    let (status, _) = whoami(&server, &secret).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(key_row(&server, &key_id).await.revoked_at.is_some());
}

/// Review item 5 and offboarding: the remover chooses, in the same transaction as the
/// removal, between revoking the member's keys and taking them over.
async fn removing_a_member_revokes_or_hands_over_their_keys(db: TestDb) {
    let server = TestServer::start(db).await;
    let (ada, dev, dev_user, org) = org_with_developer(&server).await;
    let (kept_id, kept) = dev.create_key(&org, "kept", "gateway keys:read").await;
    let (gone_id, _) = dev.create_key(&org, "already revoked", "gateway").await;
    let (status, _) = dev
        .call("revoke_api_key", &[("org_id", &org), ("key_id", &gone_id)])
        .await;
    assert_eq!(status, StatusCode::OK);

    // The dialog lists the keys the removal affects: live ones only.
    let (status, listed) = ada
        .call(
            "list_member_keys",
            &[("org_id", &org), ("user_id", &dev_user.id)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["kept"]);
    // Only admins may look, and only in their org.
    let (status, _) = dev
        .call(
            "list_member_keys",
            &[("org_id", &org), ("user_id", &dev_user.id)],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A choice that is neither changes nothing.
    let (status, body) = ada
        .call(
            "remove_member",
            &[
                ("org_id", &org),
                ("user_id", &dev_user.id),
                ("keys", "keep"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "keys");
    assert_eq!(whoami(&server, &kept).await.0, StatusCode::OK);

    // Transfer: the key keeps working, now Ada's, capped by Ada's role.
    remove(&ada, &org, &dev_user.id, Some("transfer")).await;
    let (status, who) = whoami(&server, &kept).await;
    assert_eq!(status, StatusCode::OK, "{who}");
    let row = key_row(&server, &kept_id).await;
    assert!(row.revoked_at.is_none());
    let ada_id = orgs_owner(&server, &org).await;
    assert_eq!(row.created_by, ada_id);
    let (_, activity) = ada.call("list_key_activity", &[("org_id", &org)]).await;
    assert_eq!(activity[0]["action"], "key.transferred", "{activity}");
    assert_eq!(activity[0]["key_name"], "kept");

    // Revoke: Eve's keys end with her removal, recorded per key.
    let (eve, eve_user) = server.user("Eve").await;
    add(&ada, &org, &eve_user.email, "admin").await;
    let (eve_key_id, eve_key) = eve.create_key(&org, "eve's", "gateway").await;
    assert_eq!(whoami(&server, &eve_key).await.0, StatusCode::OK);
    remove(&ada, &org, &eve_user.id, Some("revoke")).await;
    assert_eq!(whoami(&server, &eve_key).await.0, StatusCode::UNAUTHORIZED);
    let row = key_row(&server, &eve_key_id).await;
    assert_eq!(row.revoked_by.as_deref(), Some(ada_id.as_str()));
    let (_, activity) = ada.call("list_key_activity", &[("org_id", &org)]).await;
    assert_eq!(
        activity[0]["action"], "key.revoked_with_member",
        "{activity}"
    );
}

async fn orgs_owner(server: &TestServer, org: &str) -> String {
    app::entities::membership::Entity::find()
        .filter(app::entities::membership::Column::OrgId.eq(org))
        .filter(app::entities::membership::Column::Role.eq("owner"))
        .one(&server.db.connect().await)
        .await
        .unwrap()
        .unwrap()
        .user_id
}

/// Review item 5: adding a removed person back brings back none of their keys, whether
/// the removal revoked them or (before removals handled keys) left them orphaned.
async fn adding_a_member_back_revives_no_key(db: TestDb) {
    let server = TestServer::start(db).await;
    let (ada, dev, dev_user, org) = org_with_developer(&server).await;
    let (_, revoked) = dev
        .create_key(&org, "revoked with removal", "gateway")
        .await;
    let (orphan_id, orphan) = dev.create_key(&org, "orphaned", "gateway").await;
    remove(&ada, &org, &dev_user.id, None).await;
    add(&ada, &org, &dev_user.email, "developer").await;
    assert_eq!(whoami(&server, &revoked).await.0, StatusCode::UNAUTHORIZED);
    // An orphan as a removal used to leave it: the membership gone, the key live.
    let conn = server.db.connect().await;
    api_key::Entity::update_many()
        .col_expr(
            api_key::Column::RevokedAt,
            sea_orm::sea_query::Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
        )
        .filter(api_key::Column::Id.eq(&orphan_id))
        .exec(&conn)
        .await
        .unwrap();
    app::entities::membership::Entity::delete_many()
        .filter(app::entities::membership::Column::UserId.eq(&dev_user.id))
        .exec(&conn)
        .await
        .unwrap();
    add(&ada, &org, &dev_user.email, "developer").await;
    assert_eq!(whoami(&server, &orphan).await.0, StatusCode::UNAUTHORIZED);
    assert!(key_row(&server, &orphan_id).await.revoked_at.is_some());
}

/// Two "instances" (states) on one database, and a key the first one verified.
async fn two_instances_and_a_cached_key(
    db: &TestDb,
) -> (AppState, AppState, KeyManager, app::keys::CreatedKey) {
    let config = db.config();
    let a = server::build_state(&config).await.unwrap();
    let b = server::build_state(&config).await.unwrap();
    let ada = app::auth::service::create_user(&a.db, "ada@example.com", "Ada", "password one")
        .await
        .unwrap();
    let org = orgs::create_org(&a.db, UserId(&ada.id), "Acme")
        .await
        .unwrap();
    let manager = KeyManager::new(
        access::membership(&a.db, UserId(&ada.id), OrgId(&org.id))
            .await
            .unwrap(),
    )
    .unwrap();
    let created = keys::create_key(&a.db, &a.secret, &manager, "cached", None, DEFAULT_SCOPES)
        .await
        .unwrap();
    let verified = b
        .verifier
        .verify(&b.db, &b.secret, &created.secret, None)
        .await
        .unwrap();
    assert!(verified.is_ok());
    assert_eq!(b.verifier.cached_len(), 1);
    (a, b, manager, created)
}

/// Verifies and, like the server, counts an accepted key's request as a use.
async fn accepted(state: &AppState, secret: &str) -> bool {
    state
        .verifier
        .verify(&state.db, &state.secret, secret, None)
        .await
        .unwrap()
        .map(|key| key.count(app::keys::usage::Outcome::Ok))
        .is_ok()
}

/// Review item 4: a key cached before the follower started, and revoked elsewhere before
/// it started, used to be served from the cache for up to 30 s: the follower marked the
/// revocation as already seen. Now the cache is cleared once the follower knows where
/// the log stands, before the first request is served.
async fn a_revocation_recorded_before_the_follower_started_is_not_missed(db: TestDb) {
    let (a, b, manager, created) = two_instances_and_a_cached_key(&db).await;
    keys::revoke_key(&a.db, &a.verifier, &manager, KeyId(&created.key.id))
        .await
        .unwrap();
    let background = server::background::Background::start(&b, Duration::from_secs(5)).await;
    assert!(
        !accepted(&b, &created.secret).await,
        "R3: the revoked key was still served from the cache"
    );
    background.stop().await;
}

/// Review item 4: an event poll that stalls (here: a lock on the event table) is
/// abandoned after its timeout and the cache cleared, instead of blocking the follower
/// while revoked keys stay cached.
async fn a_stalled_event_poll_clears_the_cache(db: TestDb) {
    let (_a, b, _, _) = two_instances_and_a_cached_key(&db).await;
    let background = server::background::Background::start(&b, Duration::from_secs(5)).await;
    // The start cleared the cache; fill it again.
    let secret = fresh_key(&b).await.secret;
    assert!(accepted(&b, &secret).await);
    assert_eq!(b.verifier.cached_len(), 1);
    let locker = db.connect().await;
    let txn = locker.begin().await.unwrap();
    txn.execute_unprepared("LOCK TABLE cache_events IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    eventually("a stalled poll clears the cache", WAIT_LIMIT, async || {
        b.verifier.cached_len() == 0
    })
    .await;
    txn.rollback().await.unwrap();
    background.stop().await;
}

async fn fresh_key(state: &AppState) -> app::keys::CreatedKey {
    let owner = app::entities::membership::Entity::find()
        .one(&state.db)
        .await
        .unwrap()
        .unwrap();
    let manager = KeyManager::new(
        access::membership(&state.db, UserId(&owner.user_id), OrgId(&owner.org_id))
            .await
            .unwrap(),
    )
    .unwrap();
    keys::create_key(
        &state.db,
        &state.secret,
        &manager,
        "fresh",
        None,
        DEFAULT_SCOPES,
    )
    .await
    .unwrap()
}

/// Holds the database's write lock until dropped (a second connection in a transaction
/// that has written), so every other writer waits.
async fn hold_write_lock(db: &TestDb) -> (DatabaseConnection, sea_orm::DatabaseTransaction) {
    let conn = db.connect().await;
    let txn = conn.begin().await.unwrap();
    let sql = match txn.get_database_backend() {
        DbBackend::Postgres => "LOCK TABLE api_keys IN EXCLUSIVE MODE",
        _ => "UPDATE api_keys SET name = name",
    };
    txn.execute_unprepared(sql).await.unwrap();
    (conn, txn)
}

/// Review item 6: a flush that is cut off while writing (a shutdown, a timeout) used to
/// drop the batch it had taken from the queue. Now the batch goes back in the queue.
async fn a_flush_cut_off_mid_write_loses_nothing(db: TestDb) {
    let (a, _b, _, created) = two_instances_and_a_cached_key(&db).await;
    assert!(accepted(&a, &created.secret).await);
    assert_eq!(a.verifier.pending_usage(), 1);
    let (conn, lock) = hold_write_lock(&db).await;
    let cut = tokio::time::timeout(Duration::from_millis(300), a.verifier.flush_usage(&a.db)).await;
    assert!(cut.is_err(), "the flush should have waited for the lock");
    assert_eq!(a.verifier.pending_usage(), 1, "the batch was lost");
    lock.rollback().await.unwrap();
    drop(conn);
    assert_eq!(a.verifier.flush_usage(&a.db).await.unwrap(), 1);
    let row = api_key::Entity::find_by_id(created.key.id.clone())
        .one(&a.db)
        .await
        .unwrap()
        .unwrap();
    assert!(row.last_used_at.is_some());
}

/// Review item 6, at shutdown (`server::serve` ends with `Background::stop`): a stop while
/// a flush waits on the database lets that flush finish (and writes what is left)
/// instead of aborting it. Each step waits for what it needs, so the path under test
/// runs: the flush is seen waiting before the stop, and the stop is seen sent before the
/// database lets the flush go on.
async fn the_server_writes_last_used_times_in_flight_at_shutdown(db: TestDb) {
    let setup = server::build_state(&db.config()).await.unwrap();
    let created = {
        let ada =
            app::auth::service::create_user(&setup.db, "ada@example.com", "Ada", "password one")
                .await
                .unwrap();
        let org = orgs::create_org(&setup.db, UserId(&ada.id), "Acme")
            .await
            .unwrap();
        let manager = KeyManager::new(
            access::membership(&setup.db, UserId(&ada.id), OrgId(&org.id))
                .await
                .unwrap(),
        )
        .unwrap();
        keys::create_key(
            &setup.db,
            &setup.secret,
            &manager,
            "used",
            None,
            DEFAULT_SCOPES,
        )
        .await
        .unwrap()
    };
    let every = Duration::from_millis(200);
    let background = server::background::Background::start(&setup, every).await;
    // The flush loop runs: a flush (of nothing yet) has just succeeded.
    eventually("the flush loop runs", WAIT_LIMIT, async || {
        setup.verifier.flush_lag() < every * 2
    })
    .await;
    let (lock_conn, lock) = hold_write_lock(&db).await;
    assert!(accepted(&setup, &created.secret).await);
    // A flush takes the use and waits on the lock. On PostgreSQL its lock request is seen
    // waiting; SQLite has no lock queue to look at, but no flush can succeed while the
    // lock is held, and none has for five flush intervals: one is waiting (SQLite's
    // busy timeout lets it wait 5 s).
    eventually(
        "a flush waits on the lock",
        WAIT_LIMIT,
        async || match setup.db.get_database_backend() {
            DbBackend::Postgres => {
                let row = setup
                    .db
                    .query_one(sea_orm::Statement::from_string(
                        DbBackend::Postgres,
                        "SELECT count(*)::bigint AS n FROM pg_locks l \
                         JOIN pg_database d ON d.oid = l.database \
                         WHERE NOT l.granted AND d.datname = current_database()",
                    ))
                    .await
                    .unwrap()
                    .unwrap();
                row.try_get::<i64>("", "n").unwrap() > 0
            }
            _ => setup.verifier.pending_usage() == 1 && setup.verifier.flush_lag() >= every * 5,
        },
    )
    .await;
    // Told to stop while that flush waits: the first poll sends the stop, then waits for
    // the flush.
    let mut stopping = std::pin::pin!(background.stop());
    tokio::select! {
        biased;
        _ = &mut stopping => panic!("stopped while a flush still waited on the lock"),
        _ = std::future::ready(()) => {}
    }
    lock.rollback().await.unwrap();
    drop(lock_conn);
    stopping.await;
    let row = api_key::Entity::find_by_id(created.key.id.clone())
        .one(&setup.db)
        .await
        .unwrap()
        .unwrap();
    assert!(
        row.last_used_at.is_some(),
        "the last use, queued before the shutdown, was lost"
    );
    // Its count too: one successful verification, in the hour it was made.
    let counted: Vec<(String, i64)> = app::entities::key_usage::Entity::find()
        .all(&setup.db)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.key_id == created.key.id)
        .map(|r| (r.outcome, r.count))
        .collect();
    assert_eq!(counted, [("ok".to_owned(), 1)], "the count was lost");
}

/// Counts the updates of the sessions table with a trigger, on either database.
async fn count_session_writes(conn: &DatabaseConnection) {
    let statements: &[&str] = match conn.get_database_backend() {
        DbBackend::Postgres => &[
            "CREATE TABLE session_writes (n INTEGER)",
            "CREATE FUNCTION count_session_write() RETURNS trigger AS $$ \
             BEGIN INSERT INTO session_writes VALUES (1); RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER count_session_writes AFTER UPDATE ON sessions \
             FOR EACH ROW EXECUTE FUNCTION count_session_write()",
        ],
        _ => &[
            "CREATE TABLE session_writes (n INTEGER)",
            "CREATE TRIGGER count_session_writes AFTER UPDATE ON sessions \
             BEGIN INSERT INTO session_writes VALUES (1); END",
        ],
    };
    for sql in statements {
        conn.execute_unprepared(sql).await.unwrap();
    }
}

async fn session_writes(conn: &DatabaseConnection) -> i64 {
    let row = conn
        .query_one(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            "SELECT COUNT(*) AS n FROM session_writes",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

/// Long-standing item: the idle timeout is extended at most once a minute per session,
/// so browsing does not write the database on every page and server-function call.
async fn browsing_writes_the_session_at_most_once_a_minute(db: TestDb) {
    use app::entities::session;
    // It renders pages: see `start_in_own_process`.
    let server = TestServer::start_in_own_process(db).await;
    let (client, _) = server.user("Ada").await;
    let conn = server.db.connect().await;
    count_session_writes(&conn).await;
    let expiry = || async {
        session::Entity::find()
            .one(&conn)
            .await
            .unwrap()
            .unwrap()
            .expires_at
    };
    let before = expiry().await;
    for _ in 0..10 {
        let (status, _) = client.call("list_my_orgs", &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(client.get("/orgs").await.status(), StatusCode::OK);
    }
    assert_eq!(
        session_writes(&conn).await,
        0,
        "20 requests wrote the session"
    );
    assert_eq!(expiry().await, before);

    // A minute after the last refresh (the stamp aged by hand), the next request moves
    // the idle expiry forward, once.
    let row = session::Entity::find().one(&conn).await.unwrap().unwrap();
    let mut data: serde_json::Map<String, Value> = serde_json::from_str(&row.data).unwrap();
    let seen = data["seen"].as_i64().unwrap();
    data.insert("seen".into(), Value::from(seen - 61));
    session::Entity::update_many()
        .col_expr(
            session::Column::Data,
            sea_orm::sea_query::Expr::value(Value::Object(data).to_string()),
        )
        .col_expr(
            session::Column::ExpiresAt,
            sea_orm::sea_query::Expr::value(row.expires_at - 61),
        )
        .exec(&conn)
        .await
        .unwrap();
    let aged = session_writes(&conn).await;
    for _ in 0..5 {
        let (status, _) = client.call("list_my_orgs", &[]).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(session_writes(&conn).await - aged, 1);
    assert!(
        expiry().await >= before,
        "S4: activity must extend the idle expiry"
    );
}

/// Issue 28: a form posted without script and refused comes back to its page with the
/// refusal and what was typed, which wait in a small signed cookie: never in a session
/// (a visitor signing up has none, and one made per refusal would be a database row
/// anyone could create at request rate).
async fn a_refused_plain_form_is_kept_by_the_browser_not_the_server(db: TestDb) {
    use app::entities::session;
    use base64::Engine;
    use sea_orm::PaginatorTrait;
    // It renders pages: see `start_in_own_process`.
    let server = TestServer::start_in_own_process(db).await;
    let conn = server.db.connect().await;
    let http = common::http_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let name = "</textarea><h1>Ada";
    let sign_up = |display_name: String| {
        http.post(format!("{}/rpc/sign_up", server.base))
            .header("origin", &server.base)
            .header("referer", format!("{}/signup", server.base))
            .header("accept", "text/html,application/xhtml+xml")
            .form(&[
                ("email", "not-an-email".to_owned()),
                ("display_name", display_name),
                ("password", common::PASSWORD.to_owned()),
            ])
            .send()
    };
    let flash_cookie = |response: &reqwest::Response| -> String {
        let set = set_cookies(response)
            .into_iter()
            .find(|v| v.starts_with("keygate_flash="))
            .expect("no flash cookie");
        assert!(
            set.ends_with("; Max-Age=60; Path=/; HttpOnly; SameSite=Lax"),
            "{set}"
        );
        set.split(';').next().unwrap().to_owned()
    };

    let refused = sign_up(name.to_owned()).await.unwrap();
    assert_eq!(refused.status(), StatusCode::SEE_OTHER);
    assert_eq!(refused.headers()["location"], "/signup");
    let cookie = flash_cookie(&refused);
    let payload = cookie["keygate_flash=".len()..].split('.').next().unwrap();
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let json = String::from_utf8(json).unwrap();
    assert!(json.contains("not-an-email"), "{json}");
    assert!(
        !json.contains(common::PASSWORD),
        "the password was kept: {json}"
    );

    // A form as large as the server takes still makes a cookie a browser keeps, and
    // neither makes a session.
    let huge = sign_up("x".repeat(60 * 1024)).await.unwrap();
    assert_eq!(huge.status(), StatusCode::SEE_OTHER);
    let huge_cookie = flash_cookie(&huge);
    assert!(huge_cookie.len() <= 3_100, "{} bytes", huge_cookie.len());
    assert_eq!(session::Entity::find().count(&conn).await.unwrap(), 0);

    let sign_up_page = |cookie: Option<String>| {
        let request = http.get(format!("{}/signup", server.base));
        match cookie {
            Some(cookie) => request.header("cookie", cookie),
            None => request,
        }
        .send()
    };

    // The page shows it once, escaped, and clears it.
    let page = sign_up_page(Some(cookie.clone())).await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let cleared = set_cookies(&page);
    assert!(
        cleared
            .iter()
            .any(|v| v.starts_with("keygate_flash=;") && v.contains("Max-Age=0")),
        "{cleared:?}"
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Enter a valid email address"),
        "no refusal shown"
    );
    assert!(html.contains(r#"value="not-an-email""#));
    assert!(html.contains("&lt;/textarea&gt;&lt;h1&gt;Ada"));
    assert!(!html.contains(name), "what was typed became markup");
    assert!(!html.contains(common::PASSWORD));

    // A cookie this server did not sign shows nothing (and is cleared too).
    let last = if cookie.ends_with('A') { 'B' } else { 'A' };
    let forged = format!("{}{last}", &cookie[..cookie.len() - 1]);
    let page = sign_up_page(Some(forged)).await.unwrap();
    assert!(
        set_cookies(&page)
            .iter()
            .any(|v| v.starts_with("keygate_flash=;"))
    );
    assert!(
        !page
            .text()
            .await
            .unwrap()
            .contains("Enter a valid email address")
    );

    // Without the cookie (shown once: the browser dropped it), the form is new.
    let page = sign_up_page(None).await.unwrap();
    assert!(page.headers().get("set-cookie").is_none());
    assert!(
        !page
            .text()
            .await
            .unwrap()
            .contains("Enter a valid email address")
    );
    assert_eq!(session::Entity::find().count(&conn).await.unwrap(), 0);
}

/// Review item 2: sign-ups are throttled per client address (each costs a hash).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ups_are_throttled_per_address() {
    common::within_time_limit("sign_ups_are_throttled_per_address", async {
        let server =
            TestServer::start_with(TestDb::sqlite().await, &[("KEYGATE_SIGNUP_LIMIT", "3")]).await;
        for i in 0..3 {
            server.user(&format!("User{i}")).await;
        }
        let client = server.client();
        let response = client
            .post(
                "sign_up",
                &[
                    ("email", "one.more@example.com"),
                    ("display_name", "One more"),
                    ("password", common::PASSWORD),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(response.headers().contains_key("retry-after"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "rate_limited", "{body}");
        let conn = server.db.connect().await;
        let users = app::entities::user::Entity::find()
            .all(&conn)
            .await
            .unwrap();
        assert_eq!(users.len(), 3, "a refused sign-up created nothing");
    })
    .await;
}

/// Long-standing item: pages carry a CSP whose only inline-script allowance is this
/// response's nonce, and every inline script on the page has it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_allow_only_their_own_nonced_inline_scripts() {
    common::within_time_limit("pages_allow_only_their_own_nonced_inline_scripts", async {
        // It renders pages: see `start_in_own_process`.
        let server = TestServer::start_in_own_process(TestDb::sqlite().await).await;
        let (client, _) = server.user("Ada").await;
        let org = client.create_org("Acme").await;
        let mut nonces = std::collections::HashSet::new();
        for path in [
            "/".to_owned(),
            "/login".to_owned(),
            "/signup".to_owned(),
            "/orgs".to_owned(),
            format!("/orgs/{org}/settings"),
            format!("/orgs/{org}/settings/keys"),
            format!("/orgs/{org}/settings/members"),
            "/no/such/page".to_owned(),
        ] {
            let response = client.get(&path).await;
            let csp = csp_of(&response);
            let html = response.text().await.unwrap();
            let script_src = csp
                .split(';')
                .map(str::trim)
                .find(|d| d.starts_with("script-src "))
                .unwrap_or_else(|| panic!("{path}: no script-src in {csp}"));
            assert!(
                !script_src.contains("'unsafe-inline'"),
                "{path}: {script_src}"
            );
            let nonce = script_src
                .split(' ')
                .find_map(|s| s.strip_prefix("'nonce-")?.strip_suffix('\''))
                .unwrap_or_else(|| panic!("{path}: no nonce in {script_src}"));
            assert!(nonce.len() >= 16, "{path}: nonce {nonce:?}");
            assert!(nonces.insert(nonce.to_owned()), "{path}: nonce reused");
            let mut inline = 0;
            for tag in html.split("<script").skip(1) {
                let open = &tag[..tag.find('>').unwrap()];
                if open.contains(" src=") {
                    continue;
                }
                inline += 1;
                assert!(
                    open.contains(&format!("nonce=\"{nonce}\"")),
                    "{path}: inline script without the nonce: <script{open}>"
                );
            }
            assert!(inline >= 1, "{path}: the hydration script is inline");
        }
        // A JSON answer allows no inline script at all.
        let response = client.get("/api/openapi.json").await;
        let csp = response.headers()["content-security-policy"]
            .to_str()
            .unwrap();
        let script_src = csp
            .split(';')
            .map(str::trim)
            .find(|d| d.starts_with("script-src "))
            .unwrap();
        assert!(!script_src.contains("'unsafe-inline'"), "{script_src}");
    })
    .await;
}

/// Regression: leptos_axum's file handler, serving `favicon.svg` on a worker thread that
/// had just rendered a page, took that page's headers, CSP nonce included, so the page's
/// hydration script was blocked and it never became interactive (a browser test failed
/// now and then). Pages and files, fetched side by side, each keep their own headers;
/// an unknown path is the 404 page with its own nonce, whatever the method.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_keep_their_nonce_while_files_are_served_beside_them() {
    common::within_time_limit(
        "pages_keep_their_nonce_while_files_are_served_beside_them",
        async {
            let db = TestDb::sqlite().await;
            let site = db.data_dir().join("site");
            std::fs::create_dir_all(&site).unwrap();
            let icon = br#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"/>"#;
            std::fs::write(site.join("favicon.svg"), icon).unwrap();
            // It renders pages: see `start_in_own_process`.
            let server = TestServer::start_in_own_process(db).await;
            let (client, _) = server.user("Ada").await;
            let org = client.create_org("Acme").await;

            let icon_response = client.get("/favicon.svg").await;
            assert_eq!(icon_response.status(), StatusCode::OK);
            assert_eq!(icon_response.headers()["content-type"], "image/svg+xml");
            assert_eq!(&icon_response.bytes().await.unwrap()[..], &icon[..]);

            let pages = |path: String| {
                let client = client.clone();
                tokio::spawn(async move {
                    let mut lost = Vec::new();
                    for _ in 0..150 {
                        let response = client.get(&path).await;
                        assert_eq!(response.status(), StatusCode::OK, "{path}");
                        let csp = csp_of(&response);
                        let html = response.text().await.unwrap();
                        let nonce = first_script_nonce(&html)
                            .unwrap_or_else(|| panic!("{path}: no nonced script"));
                        if !csp.contains(&format!("'nonce-{nonce}'")) {
                            lost.push(csp);
                        }
                    }
                    lost
                })
            };
            let files = || {
                let client = client.clone();
                tokio::spawn(async move {
                    let mut carried = Vec::new();
                    for _ in 0..300 {
                        let response = client.get("/favicon.svg").await;
                        assert_eq!(response.status(), StatusCode::OK);
                        let csp = csp_of(&response);
                        if csp.contains("'nonce-") {
                            carried.push(csp);
                        }
                    }
                    carried
                })
            };
            let page_tasks = [
                pages("/login".to_owned()),
                pages(format!("/orgs/{org}/settings/keys")),
            ];
            let file_tasks = [files(), files()];
            for task in page_tasks {
                let lost = task.await.unwrap();
                assert!(
                    lost.is_empty(),
                    "{} of 150 pages lost their nonce: {:?}",
                    lost.len(),
                    lost[0]
                );
            }
            for task in file_tasks {
                let carried = task.await.unwrap();
                assert!(
                    carried.is_empty(),
                    "a file carried a page's CSP: {:?}",
                    carried[0]
                );
            }

            for method in [Method::GET, Method::POST] {
                let response = client
                    .http
                    .request(method.clone(), format!("{}/no/such/page", server.base))
                    .header("origin", &server.base)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method}");
                let csp = csp_of(&response);
                let html = response.text().await.unwrap();
                assert!(html.contains("Page not found"), "{method}: {html}");
                let nonce = first_script_nonce(&html).unwrap();
                assert!(csp.contains(&format!("'nonce-{nonce}'")), "{method}: {csp}");
            }
        },
    )
    .await;
}

/// The response's Content-Security-Policy header.
fn csp_of(response: &reqwest::Response) -> String {
    response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// The nonce of the first script in `html` that has one.
fn first_script_nonce(html: &str) -> Option<&str> {
    html.split("nonce=\"").nth(1)?.split('"').next()
}

/// Long-standing item: with `KEYGATE_PUBLIC_URL`, the cross-site check (S6) compares
/// `Origin` with the public origin, so a proxy that rewrites `Host` breaks no form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_url_is_the_origin_forms_must_come_from() {
    common::within_time_limit("a_public_url_is_the_origin_forms_must_come_from", async {
        let server = TestServer::start_with(
            TestDb::sqlite().await,
            &[("KEYGATE_PUBLIC_URL", "https://keys.example.com")],
        )
        .await;
        let sign_up = |origin: &'static str, email: &'static str| {
            let http = common::http();
            let url = format!("{}/rpc/sign_up", server.base);
            async move {
                http.post(url)
                    .header("origin", origin)
                    .form(&[
                        ("email", email),
                        ("display_name", "Proxied"),
                        ("password", common::PASSWORD),
                    ])
                    .send()
                    .await
                    .unwrap()
                    .status()
            }
        };
        // The proxy sent Host 127.0.0.1:port; the browser's Origin is the public one.
        assert_eq!(
            sign_up("https://keys.example.com", "a@example.com").await,
            StatusCode::OK
        );
        // The Host header's own origin is no longer what counts.
        assert_eq!(
            sign_up("http://127.0.0.1", "b@example.com").await,
            StatusCode::FORBIDDEN
        );
        let base_origin: &'static str = Box::leak(server.base.clone().into_boxed_str());
        assert_eq!(
            sign_up(base_origin, "c@example.com").await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            sign_up("https://keys.example.com.evil.example", "d@example.com").await,
            StatusCode::FORBIDDEN
        );
    })
    .await;
}

/// The cookies a response sets, as written.
fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The secret in a page: the text of its first non-empty `data-testid="secret"` element
/// (the create dialog's template has an empty one).
fn secret_in(html: &str) -> Option<String> {
    const MARK: &str = r#"data-testid="secret""#;
    html.match_indices(MARK).find_map(|(at, _)| {
        let start = at + html[at..].find('>')? + 1;
        let end = start + html[start..].find('<')?;
        Some(html[start..end].to_owned()).filter(|text| !text.is_empty())
    })
}

/// A key created, then rolled, by forms a browser posts itself (the create page, a
/// roll's page): the answer is the keys page with the secret, and no cookie, later page
/// or refusal ever holds it. A refused create makes nothing and keeps what was typed.
async fn a_key_made_by_a_plain_form_is_shown_in_its_answer_only(db: TestDb) {
    // It renders pages: see `start_in_own_process`.
    let server = TestServer::start_in_own_process(db).await;
    let conn = server.db.connect().await;
    let (ada, _) = server.user("Ada").await;
    let org = ada.create_org("Acme").await;
    let token = ada.csrf_token().await.unwrap();
    let keys_path = format!("/orgs/{org}/settings/keys");
    let plain = |action: &str, from: String, form: Vec<(&str, &str)>| {
        let mut form = form;
        form.extend([("csrf_token", token.as_str()), ("org_id", org.as_str())]);
        ada.http
            .post(format!("{}/rpc/{action}", ada.base))
            .header("origin", &ada.base)
            .header("referer", format!("{}{from}", ada.base))
            .header("accept", "text/html,application/xhtml+xml")
            .form(&form)
            .send()
    };
    let name = "</textarea><h1>Billing";
    let new_page = format!("{keys_path}/new");

    // No box ticked: refused, nothing made, and the create page shows why with the name.
    let refused = plain(
        "create_api_key",
        new_page.clone(),
        vec![("name", name), ("expiry", "30"), ("scopes[]", "")],
    )
    .await
    .unwrap();
    assert_eq!(refused.status(), StatusCode::SEE_OTHER);
    assert_eq!(refused.headers()["location"], new_page.as_str());
    let page = ada.get(&new_page).await.text().await.unwrap();
    assert!(
        page.contains("Choose at least one scope."),
        "no refusal shown"
    );
    assert!(
        page.contains("&lt;/textarea&gt;&lt;h1&gt;Billing"),
        "the name was not kept"
    );
    assert!(!page.contains(name), "what was typed became markup");
    assert_eq!(api_key::Entity::find().all(&conn).await.unwrap().len(), 0);

    // Created: the answer is the keys page with the secret, not to be stored.
    let created = plain(
        "create_api_key",
        new_page.clone(),
        vec![
            ("name", name),
            ("expiry", "30"),
            ("scopes[]", ""),
            ("scopes[]", "gateway"),
            ("scopes[]", "keys:read"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(created.status(), StatusCode::OK);
    assert_eq!(created.headers()["cache-control"], "no-store");
    let cookies = set_cookies(&created);
    assert!(
        cookies.iter().all(|c| !c.starts_with("keygate_flash=")),
        "{cookies:?}"
    );
    let html = created.text().await.unwrap();
    let secret = secret_in(&html).unwrap_or_else(|| panic!("the answer shows no secret: {html}"));
    assert!(html.contains("&lt;/textarea&gt;&lt;h1&gt;Billing"));
    assert!(!html.contains(name), "the key's name became markup");
    for cookie in &cookies {
        assert!(!cookie.contains(&secret), "a cookie holds the secret");
    }
    let (status, who) = whoami(&server, &secret).await;
    assert_eq!(status, StatusCode::OK, "{who}");
    assert_eq!(who["scopes"], serde_json::json!(["gateway", "keys:read"]));
    let key = api_key::Entity::find().one(&conn).await.unwrap().unwrap();
    assert_eq!(key.name, name);

    // The keys page after it does not show it again.
    let list = ada.get(&keys_path).await.text().await.unwrap();
    assert!(
        list.contains("&lt;/textarea&gt;&lt;h1&gt;Billing"),
        "the key is not listed"
    );
    assert_eq!(secret_in(&list), None);
    assert!(!list.contains(&secret));

    // Rolled with an hour's overlap, from the roll's page: a new secret, both working.
    let rolled = plain(
        "roll_api_key",
        format!("{keys_path}/{}/confirm?action=roll", key.id),
        vec![("key_id", key.id.as_str()), ("overlap_seconds", "3600")],
    )
    .await
    .unwrap();
    assert_eq!(rolled.status(), StatusCode::OK);
    assert_eq!(rolled.headers()["cache-control"], "no-store");
    let html = rolled.text().await.unwrap();
    let new_secret =
        secret_in(&html).unwrap_or_else(|| panic!("the answer shows no new secret: {html}"));
    assert_ne!(new_secret, secret);
    assert!(html.contains("The old secret keeps working"), "{html}");
    assert_eq!(whoami(&server, &new_secret).await.0, StatusCode::OK);
    assert_eq!(whoami(&server, &secret).await.0, StatusCode::OK);
    assert!(
        !ada.get(&keys_path)
            .await
            .text()
            .await
            .unwrap()
            .contains(&new_secret)
    );
}
