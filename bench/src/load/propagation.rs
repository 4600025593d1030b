//! `--only propagation`: how long a revocation takes to reach an instance that has the key
//! cached (SECURITY.md R3 asks for one second), on a shared SQLite file and on PostgreSQL
//! (when reachable). The revocation is made the way any instance makes it (the key
//! service, with its cache event in the same transaction) by this process; the instance
//! under test is the release binary, polled every millisecond with the revoked key until
//! it answers 401. These figures used to be asserted in `server/tests/cluster.rs`; tests
//! now only wait for the refusal, and the time is measured here.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use app::entities::{membership, user};
use app::ids::{KeyId, OrgId, UserId};
use app::keys::service::{KeyManager, revoke_key};
use app::keys::verify::Verifier;
use app::orgs::access;
use http_body_util::{BodyExt, Empty};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::setup::{BenchDatabase, client, seed, start_server};
use crate::{Options, SECRET};

/// Revocations measured per database.
const REVOCATIONS: usize = 20;

pub(crate) async fn propagation_figures(o: &Options, upstream: SocketAddr) {
    println!("\nRevocation propagation to another instance ({REVOCATIONS} revocations each)\n");
    println!("| database | median ms | max ms | how |");
    println!("|---|---:|---:|---|");
    let dir = tempfile::tempdir().unwrap();
    let sqlite = measure(o, upstream, dir.path(), None).await;
    row(
        "shared SQLite file",
        &sqlite,
        "the 200 ms poll of the cache event log",
    );
    let Some(database) = BenchDatabase::create(&o.postgres, "propagation").await else {
        println!("| PostgreSQL | - | - | not reachable at {} |", o.postgres);
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let postgres = measure(o, upstream, dir.path(), Some(&database.url)).await;
    row(
        "PostgreSQL",
        &postgres,
        "pushed: NOTIFY on commit, a listener per instance",
    );
    database.drop_database().await;
}

fn row(database: &str, samples: &[f64], how: &str) {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    println!(
        "| {database} | {:.1} | {:.1} | {how} |",
        sorted[sorted.len() / 2],
        sorted[sorted.len() - 1]
    );
}

/// Milliseconds from each revocation's commit to the instance's first 401.
async fn measure(o: &Options, upstream: SocketAddr, dir: &Path, url: Option<&str>) -> Vec<f64> {
    let keys = seed(dir, REVOCATIONS, url).await;
    assert_eq!(keys.len(), REVOCATIONS, "every seeded key is returned");
    let server = start_server(&o.binary, dir, upstream, url).await;
    let data_dir = dir.to_str().unwrap().to_owned();
    let config = server::config::Config::from_lookup(|name| match name {
        "KEYGATE_DATA_DIR" => Some(data_dir.clone()),
        "KEYGATE_SECRET" => Some(SECRET.into()),
        "KEYGATE_DATABASE_URL" => url.map(str::to_owned),
        _ => None,
    })
    .unwrap();
    let db = server::db::connect(&config).await.unwrap();
    let owner = user::Entity::find()
        .filter(user::Column::Email.eq("load@example.com"))
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    let org = membership::Entity::find()
        .filter(membership::Column::UserId.eq(&owner.id))
        .one(&db)
        .await
        .unwrap()
        .unwrap()
        .org_id;
    let manager = KeyManager::new(
        access::membership(&db, UserId(&owner.id), OrgId(&org))
            .await
            .unwrap(),
    )
    .unwrap();
    let verifier = Verifier::default();
    let http = client();
    let whoami = |key: &str| {
        let request = http::Request::get(format!("{}/api/v1/whoami", server.base))
            .header("x-api-key", key)
            .body(Empty::new())
            .unwrap();
        let response = http.request(request);
        async move {
            let response = response.await.unwrap();
            let status = response.status().as_u16();
            let _ = response.into_body().collect().await;
            status
        }
    };
    let mut samples = Vec::with_capacity(REVOCATIONS);
    for (n, key) in keys.iter().enumerate() {
        // Cached by the instance first: what is measured is the cache's invalidation.
        assert_eq!(whoami(key).await, 200);
        assert_eq!(whoami(key).await, 200);
        // The seed names its keys in order (`bench/src/load/setup.rs`).
        revoke_key(&db, &verifier, &manager, KeyId(&format!("key_load{n:08}")))
            .await
            .unwrap();
        let committed = Instant::now();
        loop {
            if whoami(key).await == 401 {
                break;
            }
            assert!(
                committed.elapsed() < Duration::from_secs(30),
                "the instance never refused a revoked key"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        samples.push(committed.elapsed().as_secs_f64() * 1000.0);
    }
    db.close().await.unwrap();
    drop(server);
    samples
}
