//! A3: an unknown email costs what a wrong password costs, checked on the code path
//! rather than with a clock: each runs exactly one full argon2 verification, against a
//! hash with the same parameters (the dummy hash), and both answer the same. Alone in
//! its test binary (and its two cases one at a time), so the process-wide count of
//! verifications is this test's own.

mod common;

use app::auth::password::verifications;
use app::auth::service::{AuthError, authenticate, create_user};
use app::ssr::Secret;
use app::state::AppState;
use common::TestDb;

on_both_databases!(an_unknown_email_costs_one_verification_like_a_wrong_password);

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The algorithm, version and parameters of a PHC hash string
/// (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>` gives everything before the salt).
fn cost(hash: &str) -> String {
    let parts: Vec<&str> = hash.split('$').collect();
    assert_eq!(parts.len(), 6, "a PHC string: {hash:?}");
    parts[..4].join("$")
}

async fn an_unknown_email_costs_one_verification_like_a_wrong_password(db: TestDb) {
    let _alone = ONE_AT_A_TIME.lock().await;
    let state = AppState::new(
        db.connect().await,
        Secret::new("login-cost-secret-0123456789abcdef0123456789"),
    )
    .await
    .unwrap();
    let ada = create_user(&state.db, "ada@example.com", "Ada", "the right password")
        .await
        .unwrap();
    let stored: String = {
        use sea_orm::EntityTrait;
        app::entities::user::Entity::find_by_id(ada.id.clone())
            .one(&state.db)
            .await
            .unwrap()
            .unwrap()
            .password_hash
    };
    assert_eq!(
        cost(&state.dummy_hash),
        cost(&stored),
        "the dummy hash costs what a real one does"
    );
    assert!(cost(&stored).starts_with("$argon2id$"), "{}", cost(&stored));

    for (what, email, password) in [
        ("wrong password", "ada@example.com", "not the password"),
        ("unknown email", "nobody@example.com", "not the password"),
        (
            "unknown email, right-looking password",
            "eve@example.com",
            "the right password",
        ),
    ] {
        let before = verifications();
        let result = authenticate(&state, email, password, None).await;
        assert!(
            matches!(result, Err(AuthError::InvalidCredentials)),
            "{what}: {result:?}"
        );
        assert_eq!(
            verifications() - before,
            1,
            "{what}: one argon2 verification"
        );
    }
    let before = verifications();
    authenticate(&state, "ada@example.com", "the right password", None)
        .await
        .unwrap();
    assert_eq!(
        verifications() - before,
        1,
        "the right password: one verification"
    );
}
