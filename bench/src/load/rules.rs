//! `--only rules`: what route rules cost the gateway. Two servers on two seeded SQLite
//! files, one with no route rules and one with 100 (`GET /r<i>/{id}` needs `r<i>:read`,
//! the keys holding `r99:read` and asking for `/gw/r99/1`: the last rule in the list, so a
//! scan would pay for all of them), each scenario taken in turn `--rounds` times; the
//! median server CPU per request gives the ratio (issue 29: within 5%).

use std::sync::Arc;
use std::time::Duration;

use app::entities::{api_key, permission, route_rule};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, EntityTrait};

use crate::setup::{seed, start_server};
use crate::{HOT_KEYS, Load, Options, figures, run};

const RULES: usize = 100;

/// Adds the catalog and the rules to the database in `dir`, and gives every key
/// `r99:read`.
async fn add_rules(dir: &std::path::Path) {
    let data_dir = dir.to_str().unwrap().to_owned();
    let config = server::config::Config::from_lookup(|name| {
        (name == "KEYGATE_DATA_DIR").then(|| data_dir.clone())
    })
    .unwrap();
    let db = server::db::connect(&config).await.unwrap();
    let org_id = api_key::Entity::find()
        .one(&db)
        .await
        .unwrap()
        .unwrap()
        .org_id;
    let now = chrono::Utc::now();
    permission::Entity::insert_many((0..RULES).map(|i| permission::ActiveModel {
        org_id: Set(org_id.clone()),
        name: Set(format!("r{i}:read")),
        description: Set(String::new()),
        created_at: Set(now),
    }))
    .exec_without_returning(&db)
    .await
    .unwrap();
    route_rule::Entity::insert_many((0..RULES).map(|i| route_rule::ActiveModel {
        id: Set(format!("rul_bench{i:03}")),
        org_id: Set(org_id.clone()),
        position: Set(i as i32),
        methods: Set("GET".into()),
        path: Set(format!("/r{i}/{{id}}")),
        permissions: Set(format!("r{i}:read")),
        report_only: Set(false),
        would_deny: Set(0),
        created_at: Set(now),
    }))
    .exec_without_returning(&db)
    .await
    .unwrap();
    api_key::Entity::update_many()
        .col_expr(
            api_key::Column::Permissions,
            Expr::value(format!("r{}:read", RULES - 1)),
        )
        .exec(&db)
        .await
        .unwrap();
    db.close().await.unwrap();
}

pub(crate) async fn rules_figures(o: &Options, upstream: std::net::SocketAddr) {
    let (plain_dir, ruled_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let plain_keys = Arc::new(seed(plain_dir.path(), HOT_KEYS, None).await);
    let ruled_keys = Arc::new(seed(ruled_dir.path(), HOT_KEYS, None).await);
    add_rules(ruled_dir.path()).await;
    let servers = [
        start_server(&o.binary, plain_dir.path(), upstream, None).await,
        start_server(&o.binary, ruled_dir.path(), upstream, None).await,
    ];
    let path = format!("/gw/r{}/1", RULES - 1);
    let scenarios = [
        ("gateway, no route rules", 0, plain_keys),
        (
            "gateway, 100 route rules (the last one matches)",
            1,
            ruled_keys,
        ),
    ];
    let duration = Duration::from_secs(o.seconds);
    println!(
        "\n{} connections, {} s per scenario, {} rounds, loopback\n",
        o.connections, o.seconds, o.rounds
    );
    println!("| scenario | req/s | p50 ms | p99 ms | errors | server CPU µs/req | of it kernel |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut cpu: [Vec<f64>; 2] = Default::default();
    for round in 0..o.rounds.max(1) {
        // Each round takes the two in the other order: whatever favours the first or
        // the second scenario of a round (the machine warming up, the other server's
        // idle work) lands on both.
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let (label, server, keys) = &scenarios[i];
            let server = &servers[*server];
            let load = Load {
                url: format!("{}{path}", server.base),
                keys: keys.clone(),
            };
            run(
                server,
                load.clone(),
                o.connections,
                Duration::from_secs(1),
                200,
            )
            .await;
            let f = figures(
                label,
                &run(server, load, o.connections, duration, 200).await,
            );
            cpu[i].push(f.cpu);
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    // The ratio within each round, where both ran under the same conditions.
    let paired: Vec<f64> = cpu[1].iter().zip(&cpu[0]).map(|(r, p)| r / p).collect();
    let paired_text: Vec<String> = paired.iter().map(|r| format!("{r:.3}")).collect();
    let [plain, ruled] = cpu.map(median);
    println!(
        "\nMedian server CPU per request: no rules {plain:.1} µs, 100 rules {ruled:.1} µs: {:.3}x (goal <= 1.05x)",
        ruled / plain
    );
    println!(
        "Round by round: {}; median {:.3}x",
        paired_text.join(", "),
        median(paired)
    );
}
