//! The keys list's search and filters over an organization of 10,000 keys (issue 13 §2),
//! on a fresh SQLite file and a fresh PostgreSQL database: what one page of
//! `service::list_keys` costs (the count, the page of 25 and the names of the people
//! on it), per filter.
//!
//! The organization's keys carry tags from a small set, an owner id from 500 customers,
//! and statuses in realistic shares (about 1 in 10 revoked, 1 in 20 expired, 1 in 50
//! paused); a second organization of 10,000 keys shares the tables.
//!
//! `cargo run --release -p bench --bin search -- [KEYS=10000] [RUNS=200]
//!  [--postgres postgres://postgres@127.0.0.1:5432/postgres]`

use std::time::{Duration, Instant};

use app::entities::api_key;
use app::ids::{OrgId, UserId};
use app::keys::KeyQuery;
use app::keys::service::{self as keys, KeyManager};
use chrono::Utc;
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, TransactionTrait};

const TAGS: [&str; 8] = [
    "prod", "staging", "billing", "search", "eu", "us", "internal", "ci",
];

async fn seed(db: &DatabaseConnection, count: usize) -> KeyManager {
    let mut manager = None;
    for (o, email) in ["search@example.com", "other@example.com"]
        .into_iter()
        .enumerate()
    {
        let user = app::auth::service::create_user(db, email, "Search", "search password")
            .await
            .unwrap();
        let org = app::orgs::service::create_org(db, UserId(&user.id), "Search")
            .await
            .unwrap();
        let now = Utc::now();
        let mut i = 0;
        while i < count {
            let batch = (count - i).min(1000);
            let txn = db.begin().await.unwrap();
            let rows: Vec<api_key::ActiveModel> = (i..i + batch)
                .map(|n| {
                    let tags: Vec<String> = [TAGS[n % 8], TAGS[(n / 8) % 8]]
                        .into_iter()
                        .map(str::to_owned)
                        .collect::<std::collections::BTreeSet<_>>()
                        .into_iter()
                        .collect();
                    let created_at = now - chrono::Duration::minutes(n as i64);
                    api_key::ActiveModel::from(api_key::Model {
                        id: format!("key_s{o}{n:08}"),
                        org_id: org.id.clone(),
                        created_by: user.id.clone(),
                        name: format!(
                            "{} service {n}",
                            ["Billing", "Search", "Reports", "Sync"][n % 4]
                        ),
                        start: format!("kg_{:04}", n % 10_000),
                        lookup_digest: format!("{o}{n:063}"),
                        scopes: "gateway".into(),
                        created_at,
                        expires_at: match n % 20 {
                            0 => Some(now - chrono::Duration::days(1)),
                            1 => Some(now + chrono::Duration::days(3)),
                            _ => None,
                        },
                        last_used_at: None,
                        revoked_at: (n % 10 == 5).then_some(now),
                        revoked_by: (n % 10 == 5).then(|| user.id.clone()),
                        previous_digest: None,
                        previous_start: None,
                        previous_until: None,
                        paused_at: (n % 50 == 7).then_some(now),
                        paused_until: None,
                        rate_limit: None,
                        rate_limit_window: None,
                        allowed_ips: None,
                        tags: app::keys::context::store_tags(&tags),
                        owner_id: Some(format!("cus_{:04}", n % 500)),
                        metadata: Some(format!("{{\"n\":{n}}}")),
                        import_digest: None,
                        imported_at: None,
                        permissions: None,
                        roles: None,
                    })
                })
                .collect();
            api_key::Entity::insert_many(rows)
                .exec_without_returning(&txn)
                .await
                .unwrap();
            txn.commit().await.unwrap();
            i += batch;
        }
        if o == 0 {
            let member = app::orgs::access::membership(db, UserId(&user.id), OrgId(&org.id))
                .await
                .unwrap();
            manager = Some(KeyManager::new(member).unwrap());
        }
    }
    manager.unwrap()
}

fn query(
    q: Option<&str>,
    tag: Option<&str>,
    owner: Option<&str>,
    status: Option<&str>,
) -> KeyQuery {
    KeyQuery::parse(q, tag, owner, status).unwrap()
}

async fn measure(db: &DatabaseConnection, manager: &KeyManager, label: &str, runs: usize) {
    let cases: [(&str, KeyQuery, u64); 9] = [
        ("no filter, page 1", KeyQuery::default(), 1),
        ("no filter, last page", KeyQuery::default(), u64::MAX),
        (
            "search \"service 77\"",
            query(Some("service 77"), None, None, None),
            1,
        ),
        ("tag prod", query(None, Some("prod"), None, None), 1),
        (
            "owner cus_0042",
            query(None, None, Some("cus_0042"), None),
            1,
        ),
        ("status active", query(None, None, None, Some("active")), 1),
        (
            "status expiring",
            query(None, None, None, Some("expiring")),
            1,
        ),
        ("status paused", query(None, None, None, Some("paused")), 1),
        (
            "search + tag + status",
            query(Some("billing"), Some("eu"), None, Some("active")),
            1,
        ),
    ];
    println!("\n{label}");
    println!("| filter | matches | mean ms | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|---:|");
    for (name, query, page) in cases {
        // Warm up (statement caches, pages in memory), then measure.
        let first = keys::list_keys(db, manager, page, &query).await.unwrap();
        let mut times: Vec<Duration> = Vec::with_capacity(runs);
        for _ in 0..runs {
            let started = Instant::now();
            let listed = keys::list_keys(db, manager, page, &query).await.unwrap();
            times.push(started.elapsed());
            assert_eq!(listed.total, first.total);
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let mean = times.iter().map(|t| ms(*t)).sum::<f64>() / runs as f64;
        println!(
            "| {name} | {} | {mean:.2} | {:.2} | {:.2} |",
            first.total,
            ms(times[runs / 2]),
            ms(times[(runs * 99 / 100).min(runs - 1)]),
        );
    }
}

fn config(dir: &std::path::Path, url: Option<&str>) -> server::config::Config {
    let data_dir = dir.to_str().unwrap().to_owned();
    server::config::Config::from_lookup(|name| match name {
        "KEYGATE_DATA_DIR" => Some(data_dir.clone()),
        "KEYGATE_DATABASE_URL" => url.map(str::to_owned),
        _ => None,
    })
    .unwrap()
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut positional = Vec::new();
    let mut postgres = "postgres://postgres@127.0.0.1:5432/postgres".to_owned();
    while let Some(arg) = args.next() {
        if arg == "--postgres" {
            postgres = args.next().expect("--postgres URL");
        } else {
            positional.push(arg.parse::<usize>().expect("KEYS and RUNS are numbers"));
        }
    }
    let count = positional.first().copied().unwrap_or(10_000);
    let runs = positional.get(1).copied().unwrap_or(200);

    let dir = tempfile::tempdir().unwrap();
    let db = server::db::connect(&config(dir.path(), None))
        .await
        .unwrap();
    let started = Instant::now();
    let manager = seed(&db, count).await;
    eprintln!(
        "SQLite: seeded 2 x {count} keys in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    db.execute_unprepared("PRAGMA optimize").await.unwrap();
    measure(
        &db,
        &manager,
        &format!("SQLite, {count} keys in the organization"),
        runs,
    )
    .await;

    let Ok(admin) = sea_orm::Database::connect(postgres.as_str()).await else {
        eprintln!("PostgreSQL not reachable at {postgres}: skipped");
        return;
    };
    let name = format!("keygate_search_{}", std::process::id());
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let url = format!("{}/{name}", postgres.rsplit_once('/').unwrap().0);
    let pg = server::db::connect(&config(dir.path(), Some(&url)))
        .await
        .unwrap();
    let started = Instant::now();
    let manager = seed(&pg, count).await;
    eprintln!(
        "PostgreSQL: seeded 2 x {count} keys in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    pg.execute_unprepared("ANALYZE").await.unwrap();
    measure(
        &pg,
        &manager,
        &format!("PostgreSQL, {count} keys in the organization"),
        runs,
    )
    .await;
    pg.close().await.unwrap();
    admin
        .execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .unwrap();
}
