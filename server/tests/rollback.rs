//! A change that fails before commit (R1, W3): the database refuses the transaction's
//! last statement (the outbox's delivery row, written after the key, its audit row and
//! its event), and then nothing of the change is left: no key shown, no row changed, no
//! audit row, no event, and no webhook sent, on SQLite and PostgreSQL, through the server
//! as the pages call it.

mod common;

use app::entities::{api_key, audit_event, webhook_event};
use common::{TestDb, TestServer};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait};
use serde_json::Value;
use tokio::sync::mpsc;

on_both_databases!(a_create_or_roll_that_rolls_back_shows_no_key_and_sends_nothing);

/// Makes every insert into `webhook_deliveries` fail, until [`allow_deliveries`].
async fn refuse_deliveries(db: &DatabaseConnection) {
    let sql: &[&str] = match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => &[
            "CREATE FUNCTION refuse() RETURNS trigger AS $$ \
             BEGIN RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse BEFORE INSERT ON webhook_deliveries \
             FOR EACH ROW EXECUTE FUNCTION refuse()",
        ],
        _ => &["CREATE TRIGGER refuse BEFORE INSERT ON webhook_deliveries \
                BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"],
    };
    for statement in sql {
        db.execute_unprepared(statement).await.unwrap();
    }
}

async fn allow_deliveries(db: &DatabaseConnection) {
    let sql = match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => "DROP TRIGGER refuse ON webhook_deliveries",
        _ => "DROP TRIGGER refuse",
    };
    db.execute_unprepared(sql).await.unwrap();
}

/// The rows a failed change must not leave: keys (with their digests), audit rows, events.
async fn snapshot(db: &DatabaseConnection) -> (String, u64, u64) {
    let mut keys = api_key::Entity::find().all(db).await.unwrap();
    for key in &mut keys {
        key.last_used_at = None;
    }
    (
        format!("{keys:?}"),
        audit_event::Entity::find().count(db).await.unwrap(),
        webhook_event::Entity::find().count(db).await.unwrap(),
    )
}

async fn a_create_or_roll_that_rolls_back_shows_no_key_and_sends_nothing(db: TestDb) {
    let server =
        TestServer::start_with(db, &[("KEYGATE_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1")]).await;
    let conn = server.db.connect().await;
    let (tx, mut received) = mpsc::unbounded_channel::<String>();
    let hook = common::serve(axum::Router::new().fallback(move |body: String| {
        let tx = tx.clone();
        async move {
            tx.send(body).unwrap();
            StatusCode::NO_CONTENT
        }
    }))
    .await;
    let (ada, _) = server.user("Ada").await;
    let org = ada.create_org("Acme").await;
    let (key_id, key) = ada.create_key(&org, "kept", "gateway").await;
    let (status, body) = ada
        .call(
            "create_webhook",
            &[
                ("org_id", &org),
                ("url", &format!("{hook}/hook")),
                ("events", "key.created,key.rolled"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    refuse_deliveries(&conn).await;
    let before = snapshot(&conn).await;
    let create = ada
        .call(
            "create_api_key",
            &[
                ("org_id", &org),
                ("name", "doomed"),
                ("expiry", "30"),
                ("scopes", "gateway"),
            ],
        )
        .await;
    let roll = ada
        .call(
            "roll_api_key",
            &[
                ("org_id", &org),
                ("key_id", &key_id),
                ("overlap_seconds", "0"),
            ],
        )
        .await;
    for (what, (status, body)) in [("create", &create), ("roll", &roll)] {
        assert!(status.is_server_error(), "{what}: {status} {body}");
        let text = body.to_string();
        assert!(!text.contains("kg_"), "{what} showed a key: {text}");
        assert!(
            !text.contains("refused by the test"),
            "{what} leaked the database's error"
        );
    }
    assert_eq!(
        snapshot(&conn).await,
        before,
        "R1/W3: the failed changes left rows"
    );
    // The key that failed to roll still works with its old secret.
    let who = common::api::whoami(&common::http(), &server.base, &key).await;
    assert_eq!(who["key_id"], key_id.as_str());

    // Then a change that commits: its event is the first and only one the receiver gets,
    // so none was sent for the two that rolled back (and the receiver was listening).
    allow_deliveries(&conn).await;
    let (made_id, _) = ada.create_key(&org, "made", "gateway").await;
    let first = common::eventually(
        "the committed change's event",
        common::WAIT_LIMIT,
        async || received.try_recv().ok(),
    )
    .await;
    let event: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(event["type"], "key.created", "{event}");
    assert_eq!(event["data"]["key"]["id"], made_id.as_str(), "{event}");
    assert!(received.try_recv().is_err(), "another delivery arrived");
}
