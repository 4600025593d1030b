//! Domain services against a real database (a fresh SQLite file and a fresh PostgreSQL
//! database per test): what is stored, and the rules that must hold under concurrency.

mod common;

use app::auth::service::{AuthError, authenticate, create_user};
use app::auth::session_store::DbSessionStore;
use app::entities::{session, user};
use app::ids::{OrgId, UserId};
use app::orgs::Role;
use app::orgs::access::{self, OrgError};
use app::orgs::service as orgs;
use app::ssr::Secret;
use app::state::AppState;
use common::TestDb;
use sea_orm::{EntityTrait, PaginatorTrait};
use tower_sessions::SessionStore;
use tower_sessions::session::{Id, Record};

on_both_databases!(
    passwords_are_stored_as_argon2id_only,
    emails_are_unique_whatever_their_case,
    unknown_email_and_wrong_password_are_one_error,
    concurrent_owner_demotions_leave_an_owner,
    concurrent_sign_ups_with_one_email_make_one_account,
    session_store_keeps_only_digests_and_honours_expiry,
    org_creation_makes_the_creator_owner,
);

async fn state(db: &TestDb) -> AppState {
    AppState::new(db.connect().await, Secret::new("s".repeat(64)))
        .await
        .unwrap()
}

async fn passwords_are_stored_as_argon2id_only(db: TestDb) {
    let state = state(&db).await;
    let password = "a long and unique passphrase ✓";
    create_user(&state.db, "ada@example.com", "Ada", password)
        .await
        .unwrap();
    let row = user::Entity::find().one(&state.db).await.unwrap().unwrap();
    assert!(!row.password_hash.contains(password));
    // A1: argon2id, m = 19 MiB, t = 2, p = 1, 16-byte salt (22 base64 characters).
    let parts: Vec<&str> = row.password_hash.split('$').collect();
    assert_eq!(parts[1], "argon2id", "{}", row.password_hash);
    assert_eq!(parts[3], "m=19456,t=2,p=1");
    assert_eq!(parts[4].len(), 22, "16-byte salt");
    // The full password (not a truncation) is what verifies.
    assert!(
        authenticate(&state, "ada@example.com", password, None)
            .await
            .is_ok()
    );
    let truncated: String = password.chars().take(8).collect();
    assert!(
        authenticate(&state, "ada@example.com", &truncated, None)
            .await
            .is_err()
    );
}

async fn emails_are_unique_whatever_their_case(db: TestDb) {
    let state = state(&db).await;
    let ada = create_user(&state.db, " Ada@Example.com", "Ada", "password one")
        .await
        .unwrap();
    assert_eq!(ada.email, "ada@example.com");
    let err = create_user(&state.db, "ADA@EXAMPLE.COM", "Other", "password two")
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::EmailTaken), "{err:?}");
    assert_eq!(user::Entity::find().count(&state.db).await.unwrap(), 1);
}

async fn unknown_email_and_wrong_password_are_one_error(db: TestDb) {
    let state = state(&db).await;
    create_user(&state.db, "ada@example.com", "Ada", "the right one")
        .await
        .unwrap();
    let wrong = authenticate(&state, "ada@example.com", "the wrong one", None)
        .await
        .unwrap_err();
    let unknown = authenticate(&state, "bob@example.com", "the wrong one", None)
        .await
        .unwrap_err();
    assert!(matches!(wrong, AuthError::InvalidCredentials));
    assert!(matches!(unknown, AuthError::InvalidCredentials));
    // Overlong passwords are refused without hashing, with the same error.
    let long = "x".repeat(10_000);
    assert!(matches!(
        authenticate(&state, "ada@example.com", &long, None)
            .await
            .unwrap_err(),
        AuthError::InvalidCredentials
    ));
}

async fn org_creation_makes_the_creator_owner(db: TestDb) {
    let state = state(&db).await;
    let ada = create_user(&state.db, "ada@example.com", "Ada", "password one")
        .await
        .unwrap();
    let org = orgs::create_org(&state.db, UserId(&ada.id), " Acme ")
        .await
        .unwrap();
    assert!(
        org.id.starts_with("org_") && org.id.len() == 26,
        "{}",
        org.id
    );
    assert_eq!(org.name, "Acme");
    let member = access::membership(&state.db, UserId(&ada.id), OrgId(&org.id))
        .await
        .unwrap();
    assert_eq!(member.role, Role::Owner);
    assert!(matches!(
        orgs::create_org(&state.db, UserId(&ada.id), "").await,
        Err(OrgError::Invalid { field: "name", .. })
    ));
    assert_eq!(
        orgs::list_orgs(&state.db, UserId(&ada.id))
            .await
            .unwrap()
            .len(),
        1
    );
}

/// Two owners demote each other at the same moment: the org lock serialises the two
/// transactions, so exactly one succeeds and one owner remains.
async fn concurrent_owner_demotions_leave_an_owner(db: TestDb) {
    let state = state(&db).await;
    for round in 0..5 {
        let a = create_user(
            &state.db,
            &format!("a{round}@example.com"),
            "A",
            "password one",
        )
        .await
        .unwrap();
        let b = create_user(
            &state.db,
            &format!("b{round}@example.com"),
            "B",
            "password one",
        )
        .await
        .unwrap();
        let org = orgs::create_org(&state.db, UserId(&a.id), "Acme")
            .await
            .unwrap();
        let admin_a = access::membership(&state.db, UserId(&a.id), OrgId(&org.id))
            .await
            .unwrap()
            .require_admin()
            .unwrap();
        orgs::add_member(&state.db, &admin_a, &b.email, Role::Owner)
            .await
            .unwrap();
        let admin_b = access::membership(&state.db, UserId(&b.id), OrgId(&org.id))
            .await
            .unwrap()
            .require_admin()
            .unwrap();

        let (db1, db2) = (state.db.clone(), state.db.clone());
        let (a_id, b_id) = (a.id.clone(), b.id.clone());
        let first = tokio::spawn(async move {
            orgs::change_role(&db1, &admin_a, UserId(&b_id), Role::Member).await
        });
        let second = tokio::spawn(async move {
            orgs::change_role(&db2, &admin_b, UserId(&a_id), Role::Member).await
        });
        let results = [first.await.unwrap(), second.await.unwrap()];
        let succeeded = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(succeeded, 1, "round {round}: {results:?}");

        let owner_a = access::membership(&state.db, UserId(&a.id), OrgId(&org.id))
            .await
            .unwrap();
        let owner_b = access::membership(&state.db, UserId(&b.id), OrgId(&org.id))
            .await
            .unwrap();
        let owners = [owner_a.role, owner_b.role]
            .iter()
            .filter(|r| **r == Role::Owner)
            .count();
        assert_eq!(owners, 1, "round {round}: exactly one owner remains");
    }
}

async fn concurrent_sign_ups_with_one_email_make_one_account(db: TestDb) {
    let state = state(&db).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let db = state.db.clone();
        tasks.push(tokio::spawn(async move {
            create_user(
                &db,
                "race@example.com",
                &format!("Racer {i}"),
                "password one",
            )
            .await
        }));
    }
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => created += 1,
            Err(AuthError::EmailTaken) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(user::Entity::find().count(&state.db).await.unwrap(), 1);
}

async fn session_store_keeps_only_digests_and_honours_expiry(db: TestDb) {
    let conn = db.connect().await;
    let store = DbSessionStore::new(conn.clone());
    let mut record = Record {
        id: Id::default(),
        data: [("uid".to_owned(), serde_json::json!("usr_1"))]
            .into_iter()
            .collect(),
        expiry_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
    };
    store.create(&mut record).await.unwrap();
    let loaded = store
        .load(&record.id)
        .await
        .unwrap()
        .expect("saved session loads");
    assert_eq!(loaded.data, record.data);

    let rows = session::Entity::find().all(&conn).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_ne!(
        rows[0].id,
        record.id.to_string(),
        "the raw session id is not stored"
    );
    assert_eq!(rows[0].id.len(), 64);

    // Expired sessions do not load, and cleanup deletes them.
    let mut expired = Record {
        id: Id::default(),
        data: Default::default(),
        expiry_date: time::OffsetDateTime::now_utc() - time::Duration::seconds(1),
    };
    store.create(&mut expired).await.unwrap();
    assert!(store.load(&expired.id).await.unwrap().is_none());
    assert_eq!(store.delete_expired().await.unwrap(), 1);

    store.delete(&record.id).await.unwrap();
    assert!(store.load(&record.id).await.unwrap().is_none());
}
