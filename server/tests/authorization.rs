//! Who may do what (SECURITY.md Z4, with Z1, Z2, Z3, Z5 and K9): one table of caller x
//! action x (own organization, other organization), over every server function and every
//! REST handler that acts for an organization, walked by one test. Each cell checks the
//! answer's status and then the database: a refused call changed nothing anywhere, an
//! allowed read changed nothing, an allowed change changed its own organization only, and
//! nothing a request body tried to set itself (organization, creator, revocation,
//! timestamps) was taken.
//!
//! The rules are DESIGN.md's role table: anyone in the organization sees it; owners,
//! admins and developers manage keys (members get 403); owners and admins manage members,
//! webhooks, the key policy, the permission catalog and the route rules, and only owners
//! act on owners; a stranger gets 404 for everything of an organization, so nothing tells
//! them it exists. Keys act through the REST API only, with their scopes (`keys:read`,
//! `keys:write`; `gateway` manages nothing), never on members, webhooks, the policy, the
//! catalog or the route rules, and never outside their own organization. Left out, each
//! tested elsewhere: signing up, logging in and out (`http_api.rs`), `/api/v1/verify` and
//! the leak report, which take a key in the body and no caller (`api.rs`, `leaks.rs`).

mod common;

use std::fmt::Write as _;

use app::entities::{
    api_key, audit_event, cache_event, membership, organization, permission, permission_role,
    route_rule, webhook_endpoint, webhook_event,
};
use common::api::send;
use common::{Client, TestDb, TestServer, User};
use reqwest::{Method, StatusCode};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
};
use serde_json::{Value, json};

on_both_databases!(
    every_cell_of_the_role_matrix_answers_and_changes_as_the_rules_say,
    rest_bodies_cannot_set_what_the_server_decides,
    the_table_lists_every_server_function_and_route,
);

/// Who calls. The keys belong to organization A and were made by its owner.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Caller {
    Owner,
    Admin,
    Developer,
    Member,
    /// Signed in, a member of no organization.
    Stranger,
    Anonymous,
    Key(&'static str),
}

const CALLERS: [Caller; 9] = [
    Caller::Owner,
    Caller::Admin,
    Caller::Developer,
    Caller::Member,
    Caller::Stranger,
    Caller::Anonymous,
    Caller::Key("gateway"),
    Caller::Key("keys:read"),
    Caller::Key("keys:write"),
];

/// What an action asks of its caller.
#[derive(Clone, Copy, Debug)]
enum Rule {
    /// Anyone signed in (a person, or a key where the action is REST).
    SignedIn,
    /// Any member of the organization.
    Member,
    /// Owners, admins and developers; keys with `keys:read`.
    KeysRead,
    /// Owners, admins and developers; keys with `keys:write`.
    KeysWrite,
    /// Owners and admins; no key.
    Admin,
    /// Owners and admins; keys with `keys:write` made by one (importing mints keys whose
    /// secrets were chosen outside Keygate).
    AdminKeysWrite,
    /// Owners only; no key.
    Owner,
}

/// What an allowed call does to the database.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Effect {
    /// Nothing at all.
    Reads,
    /// Its organization's rows, and no other organization's.
    Changes,
    /// A new organization.
    NewOrg,
}

/// How an action is called.
#[derive(Clone, Debug)]
enum Via {
    /// A server function (`/rpc/<name>`), as the pages call it.
    Rpc(&'static str),
    /// A REST route; `{id}` is the target key or endpoint.
    Rest(Method, &'static str),
}

/// The object a cell acts on, made fresh in the target organization before the cell.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Target {
    None,
    Key,
    /// A key paused until resumed.
    PausedKey,
    /// A key rolled with its old secret still valid for an hour.
    OverlappingKey,
    /// A 30-day key in an organization whose policy now allows 7 days at most (the
    /// policy is cleared after the cell).
    KeyOverPolicy,
    /// A person with the role `member`.
    Member,
    /// A second owner.
    OwnerMember,
    /// A person who is in no organization yet.
    Person,
    Endpoint,
    /// A key holding the permission `probe:base` of the catalog.
    KeyWithPermission,
    /// A name no permission or role has yet (`probe-<n>`).
    NewName,
    /// A permission of the catalog, used by nothing.
    Permission,
    /// A role of the catalog, held by no key.
    Role,
}

struct Action {
    name: &'static str,
    via: Via,
    rule: Rule,
    effect: Effect,
    target: Target,
    /// The success status.
    ok: u16,
}

fn rpc(name: &'static str, rule: Rule, effect: Effect, target: Target) -> Action {
    Action {
        name,
        via: Via::Rpc(name),
        rule,
        effect,
        target,
        ok: 200,
    }
}

fn rest(
    name: &'static str,
    method: Method,
    path: &'static str,
    rule: Rule,
    effect: Effect,
    target: Target,
    ok: u16,
) -> Action {
    Action {
        name,
        via: Via::Rest(method, path),
        rule,
        effect,
        target,
        ok,
    }
}

use Effect::{Changes, NewOrg, Reads};
use Rule::{Admin, KeysRead, KeysWrite, Owner, SignedIn};

/// Every server function and REST handler that acts for a caller.
fn actions() -> Vec<Action> {
    vec![
        // Organizations and members (server functions; there is no REST for them).
        rpc("list_my_orgs", SignedIn, Reads, Target::None),
        rpc("create_org", SignedIn, NewOrg, Target::None),
        rpc("get_org", Rule::Member, Reads, Target::None),
        rpc("rename_org", Admin, Changes, Target::None),
        rpc("list_members", Admin, Reads, Target::None),
        Action {
            name: "add_member (as developer)",
            ..rpc("add_member", Admin, Changes, Target::Person)
        },
        Action {
            name: "add_member (as owner)",
            ..rpc("add_member", Owner, Changes, Target::Person)
        },
        rpc("change_member_role", Admin, Changes, Target::Member),
        Action {
            name: "change_member_role (of an owner)",
            ..rpc("change_member_role", Owner, Changes, Target::OwnerMember)
        },
        rpc("list_member_keys", Admin, Reads, Target::Member),
        rpc("remove_member", Admin, Changes, Target::Member),
        Action {
            name: "remove_member (an owner)",
            ..rpc("remove_member", Owner, Changes, Target::OwnerMember)
        },
        // Webhooks.
        rpc("list_webhooks", Admin, Reads, Target::None),
        rpc("list_webhook_deliveries", Admin, Reads, Target::None),
        rpc("create_webhook", Admin, Changes, Target::None),
        rpc("delete_webhook", Admin, Changes, Target::Endpoint),
        rpc("list_member_webhooks", Admin, Reads, Target::Member),
        rpc("send_test_webhook", Admin, Changes, Target::Endpoint),
        // Keys.
        rpc("list_api_keys", KeysRead, Reads, Target::None),
        rpc("get_api_key", KeysRead, Reads, Target::Key),
        rpc("create_api_key", KeysWrite, Changes, Target::None),
        rpc("revoke_api_key", KeysWrite, Changes, Target::Key),
        rpc("roll_api_key", KeysWrite, Changes, Target::Key),
        rpc(
            "end_key_overlap",
            KeysWrite,
            Changes,
            Target::OverlappingKey,
        ),
        rpc("pause_api_key", KeysWrite, Changes, Target::Key),
        rpc("resume_api_key", KeysWrite, Changes, Target::PausedKey),
        rpc("shorten_api_key", KeysWrite, Changes, Target::KeyOverPolicy),
        rpc("set_key_rate_limit", KeysWrite, Changes, Target::Key),
        rpc("set_key_allowed_ips", KeysWrite, Changes, Target::Key),
        rpc("set_key_context", KeysWrite, Changes, Target::Key),
        rpc("get_key_policy", KeysRead, Reads, Target::None),
        rpc("set_key_policy", Admin, Changes, Target::None),
        rpc("list_key_activity", KeysRead, Reads, Target::None),
        rpc("key_usage", KeysRead, Reads, Target::Key),
        rpc("org_usage", KeysRead, Reads, Target::None),
        // The API's permissions.
        rpc("get_permissions", KeysRead, Reads, Target::None),
        rpc("put_permission", Admin, Changes, Target::NewName),
        rpc("delete_permission", Admin, Changes, Target::Permission),
        rpc("put_role", Admin, Changes, Target::NewName),
        rpc("delete_role", Admin, Changes, Target::Role),
        rpc("set_route_rules", Admin, Changes, Target::None),
        // Kept in the caller's session only: nothing of the organization moves.
        rpc("review_openapi", Admin, Reads, Target::None),
        // Reviewed first in the caller's own session (see `call`).
        rpc("apply_openapi", Admin, Changes, Target::None),
        rpc("discard_openapi", Admin, Reads, Target::None),
        rpc("set_upstreams", Admin, Changes, Target::None),
        rpc(
            "set_key_permissions",
            KeysWrite,
            Changes,
            Target::KeyWithPermission,
        ),
        rpc(
            "get_permission_use",
            KeysRead,
            Reads,
            Target::KeyWithPermission,
        ),
        rpc(
            "restrict_key_permissions",
            KeysWrite,
            Changes,
            Target::KeyWithPermission,
        ),
        // REST.
        rest(
            "GET whoami",
            Method::GET,
            "/api/v1/whoami",
            SignedIn,
            Reads,
            Target::None,
            200,
        ),
        rest(
            "GET keys",
            Method::GET,
            "/api/v1/keys",
            KeysRead,
            Reads,
            Target::None,
            200,
        ),
        rest(
            "POST keys",
            Method::POST,
            "/api/v1/keys",
            KeysWrite,
            Changes,
            Target::None,
            201,
        ),
        rest(
            "POST keys/import",
            Method::POST,
            "/api/v1/keys/import",
            Rule::AdminKeysWrite,
            Changes,
            Target::None,
            201,
        ),
        rest(
            "GET key",
            Method::GET,
            "/api/v1/keys/{id}",
            KeysRead,
            Reads,
            Target::Key,
            200,
        ),
        rest(
            "DELETE key",
            Method::DELETE,
            "/api/v1/keys/{id}",
            KeysWrite,
            Changes,
            Target::Key,
            204,
        ),
        rest(
            "POST roll",
            Method::POST,
            "/api/v1/keys/{id}/roll",
            KeysWrite,
            Changes,
            Target::Key,
            200,
        ),
        rest(
            "POST end-overlap",
            Method::POST,
            "/api/v1/keys/{id}/end-overlap",
            KeysWrite,
            Changes,
            Target::OverlappingKey,
            200,
        ),
        rest(
            "POST pause",
            Method::POST,
            "/api/v1/keys/{id}/pause",
            KeysWrite,
            Changes,
            Target::Key,
            200,
        ),
        rest(
            "POST resume",
            Method::POST,
            "/api/v1/keys/{id}/resume",
            KeysWrite,
            Changes,
            Target::PausedKey,
            200,
        ),
        rest(
            "POST shorten-to-policy",
            Method::POST,
            "/api/v1/keys/{id}/shorten-to-policy",
            KeysWrite,
            Changes,
            Target::KeyOverPolicy,
            200,
        ),
        rest(
            "PUT rate-limit",
            Method::PUT,
            "/api/v1/keys/{id}/rate-limit",
            KeysWrite,
            Changes,
            Target::Key,
            200,
        ),
        rest(
            "PUT allowed-ips",
            Method::PUT,
            "/api/v1/keys/{id}/allowed-ips",
            KeysWrite,
            Changes,
            Target::Key,
            200,
        ),
        rest(
            "PUT context",
            Method::PUT,
            "/api/v1/keys/{id}/context",
            KeysWrite,
            Changes,
            Target::Key,
            200,
        ),
        rest(
            "GET key usage",
            Method::GET,
            "/api/v1/keys/{id}/usage",
            KeysRead,
            Reads,
            Target::Key,
            200,
        ),
        rest(
            "GET policy",
            Method::GET,
            "/api/v1/policy",
            KeysRead,
            Reads,
            Target::None,
            200,
        ),
        rest(
            "PUT policy",
            Method::PUT,
            "/api/v1/policy",
            Admin,
            Changes,
            Target::None,
            200,
        ),
        rest(
            "PUT key permissions",
            Method::PUT,
            "/api/v1/keys/{id}/permissions",
            KeysWrite,
            Changes,
            Target::KeyWithPermission,
            200,
        ),
        rest(
            "GET key permission usage",
            Method::GET,
            "/api/v1/keys/{id}/permissions/usage",
            KeysRead,
            Reads,
            Target::KeyWithPermission,
            200,
        ),
        rest(
            "POST key permissions restrict",
            Method::POST,
            "/api/v1/keys/{id}/permissions/restrict",
            KeysWrite,
            Changes,
            Target::KeyWithPermission,
            200,
        ),
        rest(
            "GET permissions",
            Method::GET,
            "/api/v1/permissions",
            KeysRead,
            Reads,
            Target::None,
            200,
        ),
        rest(
            "PUT permission",
            Method::PUT,
            "/api/v1/permissions/{name}",
            Admin,
            Changes,
            Target::NewName,
            201,
        ),
        rest(
            "DELETE permission",
            Method::DELETE,
            "/api/v1/permissions/{name}",
            Admin,
            Changes,
            Target::Permission,
            204,
        ),
        rest(
            "PUT role",
            Method::PUT,
            "/api/v1/roles/{name}",
            Admin,
            Changes,
            Target::NewName,
            201,
        ),
        rest(
            "DELETE role",
            Method::DELETE,
            "/api/v1/roles/{name}",
            Admin,
            Changes,
            Target::Role,
            204,
        ),
        rest(
            "GET route-rules",
            Method::GET,
            "/api/v1/route-rules",
            KeysRead,
            Reads,
            Target::None,
            200,
        ),
        rest(
            "PUT route-rules",
            Method::PUT,
            "/api/v1/route-rules",
            Admin,
            Changes,
            Target::None,
            200,
        ),
        rest(
            "POST route-rules import",
            Method::POST,
            "/api/v1/route-rules/import",
            Admin,
            Changes,
            Target::None,
            200,
        ),
        rest(
            "GET upstreams",
            Method::GET,
            "/api/v1/upstreams",
            KeysRead,
            Reads,
            Target::None,
            200,
        ),
        rest(
            "PUT upstreams",
            Method::PUT,
            "/api/v1/upstreams",
            Admin,
            Changes,
            Target::None,
            200,
        ),
        rest(
            "GET webhooks",
            Method::GET,
            "/api/v1/webhooks",
            Admin,
            Reads,
            Target::None,
            200,
        ),
        rest(
            "POST webhooks",
            Method::POST,
            "/api/v1/webhooks",
            Admin,
            Changes,
            Target::None,
            201,
        ),
        rest(
            "GET webhook deliveries",
            Method::GET,
            "/api/v1/webhooks/deliveries",
            Admin,
            Reads,
            Target::None,
            200,
        ),
        rest(
            "DELETE webhook",
            Method::DELETE,
            "/api/v1/webhooks/{id}",
            Admin,
            Changes,
            Target::Endpoint,
            204,
        ),
        rest(
            "POST webhook test",
            Method::POST,
            "/api/v1/webhooks/{id}/test",
            Admin,
            Changes,
            Target::Endpoint,
            202,
        ),
    ]
}

/// The status a caller gets for an action whose target is in its own organization or in
/// another one. The rules of the module's comment, written out.
fn expected(action: &Action, caller: Caller, own: bool) -> u16 {
    let rpc = matches!(action.via, Via::Rpc(_));
    let rank = |role: &str| match role {
        "owner" => 3,
        "admin" => 2,
        "developer" => 1,
        _ => 0,
    };
    let role = match caller {
        Caller::Anonymous => return 401,
        // A key is no session: server functions do not know it.
        Caller::Key(_) if rpc => return 401,
        Caller::Key(scope) => {
            let allowed = match action.rule {
                Rule::SignedIn => true,
                Rule::Member => true,
                Rule::KeysRead => scope == "keys:read",
                // The keys were made by an owner.
                Rule::KeysWrite | Rule::AdminKeysWrite => scope == "keys:write",
                Rule::Admin | Rule::Owner => false,
            };
            return match (allowed, own || matches!(action.rule, Rule::SignedIn)) {
                (false, _) => 403,
                (true, true) => action.ok,
                (true, false) => 404,
            };
        }
        Caller::Stranger => None,
        Caller::Owner => Some("owner"),
        Caller::Admin => Some("admin"),
        Caller::Developer => Some("developer"),
        Caller::Member => Some("member"),
    };
    if matches!(action.rule, Rule::SignedIn) {
        return action.ok;
    }
    let Some(role) = role.filter(|_| own) else {
        return 404;
    };
    let needed = match action.rule {
        Rule::SignedIn | Rule::Member => 0,
        Rule::KeysRead | Rule::KeysWrite => 1,
        Rule::Admin | Rule::AdminKeysWrite => 2,
        Rule::Owner => 3,
    };
    if rank(role) >= needed { action.ok } else { 403 }
}

/// What a request body tries to set that no caller may: the organization, the creator,
/// a revocation, timestamps. Sent with every server function call (which must ignore
/// them) and, in the REST half, with every body (which must refuse them).
const SENTINEL_TIME: &str = "2001-02-03T04:05:06Z";

struct Org {
    id: String,
    /// Its first owner, who makes every cell's target and is never a caller.
    setup: Client,
}

struct World {
    server: TestServer,
    db: DatabaseConnection,
    a: Org,
    b: Org,
    /// One client per caller, in `CALLERS` order (`None` for the keys and Anonymous).
    sessions: Vec<Client>,
    /// The keys' secrets, by scope.
    keys: Vec<(&'static str, String)>,
    stranger: User,
    /// A webhook receiver on loopback that answers 204 to anything.
    hook_url: String,
}

impl World {
    fn org(&self, own: bool) -> &Org {
        if own { &self.a } else { &self.b }
    }
}

async fn receiver() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(|| async { StatusCode::NO_CONTENT });
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn world(db: TestDb) -> World {
    let server = TestServer::start_with(
        db,
        &[
            ("KEYGATE_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1"),
            ("KEYGATE_UPSTREAM_HOSTS", "127.0.0.1"),
            // Hundreds of refused calls from one address are the point here.
            ("KEYGATE_AUTH_FAILURE_LIMIT", "100000"),
        ],
    )
    .await;
    let db = server.db.connect().await;
    let mut orgs = Vec::new();
    for name in ["A", "B"] {
        let (setup, _) = server.user(&format!("{name}Founder")).await;
        let id = setup.create_org(&format!("{name} Inc")).await;
        orgs.push(Org { id, setup });
    }
    for org in &orgs {
        // The one permission of each catalog, which targets and bodies use.
        let (status, body) = org
            .setup
            .rest(
                Method::PUT,
                &format!("/api/v1/permissions/probe:base?org_id={}", org.id),
                Some(&json!({})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let b = orgs.pop().unwrap();
    let a = orgs.pop().unwrap();
    let mut sessions = Vec::new();
    for role in ["owner", "admin", "developer", "member"] {
        let (client, user) = server.user(&format!("A{role}")).await;
        a.setup.add_member(&a.id, &user.email, role).await;
        // The same roles in B, held by other people, so B looks like A.
        let (_, other) = server.user(&format!("B{role}")).await;
        b.setup.add_member(&b.id, &other.email, role).await;
        sessions.push(client);
    }
    let (stranger_client, stranger) = server.user("Stranger").await;
    sessions.push(stranger_client);
    sessions.push(server.client());
    let mut keys = Vec::new();
    for scope in ["gateway", "keys:read", "keys:write"] {
        // 90 days: longer than every target (30), which a key may then roll (K9: no key
        // rolls one that outlives it).
        let (status, body) = a
            .setup
            .call(
                "create_api_key",
                &[
                    ("org_id", &a.id),
                    ("name", scope),
                    ("expiry", "90"),
                    ("scopes", scope),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        keys.push((scope, body["secret"].as_str().unwrap().to_owned()));
    }
    World {
        db,
        a,
        b,
        sessions,
        keys,
        stranger,
        hook_url: receiver().await,
        server,
    }
}

/// Everything of one organization a call could change, as text; `last_used_at`, which
/// the calling key's own use moves, left out.
async fn org_state(db: &DatabaseConnection, org: &str) -> String {
    let mut out = String::new();
    let o = organization::Entity::find_by_id(org).one(db).await.unwrap();
    writeln!(out, "{o:?}").unwrap();
    for m in membership::Entity::find()
        .filter(membership::Column::OrgId.eq(org))
        .order_by_asc(membership::Column::UserId)
        .all(db)
        .await
        .unwrap()
    {
        writeln!(out, "{m:?}").unwrap();
    }
    for mut k in api_key::Entity::find()
        .filter(api_key::Column::OrgId.eq(org))
        .order_by_asc(api_key::Column::Id)
        .all(db)
        .await
        .unwrap()
    {
        k.last_used_at = None;
        writeln!(out, "{k:?}").unwrap();
    }
    for e in audit_event::Entity::find()
        .filter(audit_event::Column::OrgId.eq(org))
        .order_by_asc(audit_event::Column::Id)
        .all(db)
        .await
        .unwrap()
    {
        writeln!(out, "{e:?}").unwrap();
    }
    for e in webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::OrgId.eq(org))
        .order_by_asc(webhook_endpoint::Column::Id)
        .all(db)
        .await
        .unwrap()
    {
        writeln!(out, "{e:?}").unwrap();
    }
    for e in webhook_event::Entity::find()
        .filter(webhook_event::Column::OrgId.eq(org))
        .order_by_asc(webhook_event::Column::Id)
        .all(db)
        .await
        .unwrap()
    {
        writeln!(out, "{e:?}").unwrap();
    }
    for p in permission::Entity::find()
        .filter(permission::Column::OrgId.eq(org))
        .order_by_asc(permission::Column::Name)
        .all(db)
        .await
        .unwrap()
    {
        writeln!(out, "{p:?}").unwrap();
    }
    for r in permission_role::Entity::find()
        .filter(permission_role::Column::OrgId.eq(org))
        .order_by_asc(permission_role::Column::Name)
        .all(db)
        .await
        .unwrap()
    {
        writeln!(out, "{r:?}").unwrap();
    }
    for r in route_rule::Entity::find()
        .filter(route_rule::Column::OrgId.eq(org))
        .order_by_asc(route_rule::Column::Position)
        .all(db)
        .await
        .unwrap()
    {
        writeln!(out, "{r:?}").unwrap();
    }
    out
}

/// What is not one organization's: how many organizations there are, and the last
/// cache event (every key change publishes one).
async fn global_state(db: &DatabaseConnection) -> (u64, Option<i64>) {
    let orgs = organization::Entity::find().count(db).await.unwrap();
    let last_event = cache_event::Entity::find()
        .order_by_desc(cache_event::Column::Id)
        .one(db)
        .await
        .unwrap()
        .map(|e| e.id);
    (orgs, last_event)
}

/// The ids a cell's call names.
#[derive(Default)]
struct Made {
    key_id: String,
    user: Option<User>,
    endpoint_id: String,
    /// A permission's or role's name.
    name: String,
}

/// Makes the cell's target in `org`, as its founder.
async fn make_target(w: &World, org: &Org, target: Target, n: usize) -> Made {
    let mut made = Made::default();
    let founder = &org.setup;
    let ok = |status: StatusCode, body: &Value, what: &str| {
        assert_eq!(status, StatusCode::OK, "making the target ({what}): {body}");
    };
    match target {
        Target::None => {}
        Target::Key | Target::PausedKey | Target::OverlappingKey | Target::KeyOverPolicy => {
            // `keys:write`, which the `keys:write` key may roll (K9: no key rolls a key
            // broader than itself; `api.rs` tests that refusal).
            let (id, _) = founder
                .create_key(&org.id, &format!("target {n}"), "keys:write")
                .await;
            made.key_id = id;
            let with = |extra: &'static [(&'static str, &'static str)]| {
                let mut form = vec![
                    ("org_id", org.id.as_str()),
                    ("key_id", made.key_id.as_str()),
                ];
                form.extend_from_slice(extra);
                form
            };
            match target {
                Target::PausedKey => {
                    let (s, b) = founder.call("pause_api_key", &with(&[])).await;
                    ok(s, &b, "pause");
                }
                Target::OverlappingKey => {
                    let (s, b) = founder
                        .call("roll_api_key", &with(&[("overlap_seconds", "3600")]))
                        .await;
                    ok(s, &b, "roll");
                }
                Target::KeyOverPolicy => set_policy(founder, &org.id, "7").await,
                _ => {}
            }
        }
        Target::Member | Target::OwnerMember | Target::Person => {
            let (_, user) = w.server.user(&format!("target{n}")).await;
            let role = match target {
                Target::Member => Some("member"),
                Target::OwnerMember => Some("owner"),
                _ => None,
            };
            if let Some(role) = role {
                founder.add_member(&org.id, &user.email, role).await;
            }
            made.user = Some(user);
        }
        Target::Endpoint => {
            let (s, b) = founder
                .call(
                    "create_webhook",
                    &[
                        ("org_id", &org.id),
                        ("url", &format!("{}/target{n}", w.hook_url)),
                        ("events", "key.created"),
                    ],
                )
                .await;
            ok(s, &b, "webhook");
            made.endpoint_id = b["endpoint"]["id"].as_str().unwrap().to_owned();
        }
        Target::KeyWithPermission => {
            let (status, body) = founder
                .rest(
                    Method::POST,
                    &format!("/api/v1/keys?org_id={}", org.id),
                    Some(&json!({
                        "name": format!("target {n}"),
                        "scopes": ["keys:write"],
                        "expires_in_days": 30,
                        "permissions": ["probe:base"],
                    })),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "making the target: {body}");
            made.key_id = body["key"]["id"].as_str().unwrap().to_owned();
        }
        Target::NewName | Target::Permission | Target::Role => {
            made.name = format!("probe-{n}");
            let (path, body) = match target {
                Target::Permission => ("permissions", json!({})),
                Target::Role => ("roles", json!({"permissions": ["probe:base"]})),
                _ => return made,
            };
            let (status, body) = founder
                .rest(
                    Method::PUT,
                    &format!("/api/v1/{path}/{}?org_id={}", made.name, org.id),
                    Some(&body),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "making the target: {body}");
        }
    }
    made
}

async fn set_policy(founder: &Client, org_id: &str, max_days: &str) {
    let (status, body) = founder
        .call(
            "set_key_policy",
            &[
                ("org_id", org_id),
                ("max_days", max_days),
                ("idle_days", ""),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "policy: {body}");
}

/// The server function's form for `action` on `made` in `org`, and the fields no caller
/// may set, which it must ignore.
fn rpc_form(w: &World, action: &Action, org: &Org, made: &Made, n: usize) -> Vec<(String, String)> {
    let mut form: Vec<(String, String)> = Vec::new();
    let mut add = |k: &str, v: &str| form.push((k.to_owned(), v.to_owned()));
    let Via::Rpc(name) = action.via else {
        unreachable!()
    };
    if !matches!(name, "list_my_orgs" | "create_org") {
        add("org_id", &org.id);
    }
    let user_id = made.user.as_ref().map(|u| u.id.clone()).unwrap_or_default();
    let email = made
        .user
        .as_ref()
        .map(|u| u.email.clone())
        .unwrap_or_default();
    match name {
        "create_org" => add("name", &format!("New {n}")),
        "rename_org" => add("name", &format!("Renamed {n}")),
        "add_member" => {
            add("email", &email);
            add(
                "role",
                if matches!(action.rule, Rule::Owner) {
                    "owner"
                } else {
                    "developer"
                },
            );
        }
        "change_member_role" => {
            add("user_id", &user_id);
            add("role", "developer");
        }
        "list_member_keys" | "remove_member" | "list_member_webhooks" => add("user_id", &user_id),
        "create_webhook" => {
            // Each endpoint's URL is its own: one URL is one endpoint per organization.
            add("url", &format!("{}/{n}", w.hook_url));
            add("events", "key.revoked");
        }
        "delete_webhook" | "send_test_webhook" => add("endpoint_id", &made.endpoint_id),
        "list_api_keys" => add("page", "0"),
        "create_api_key" => {
            add("name", &format!("made {n}"));
            add("expiry", "7");
            add("scopes", "gateway");
        }
        "roll_api_key" | "end_key_overlap" | "pause_api_key" | "resume_api_key"
        | "shorten_api_key" | "get_api_key" | "revoke_api_key" => add("key_id", &made.key_id),
        "set_key_rate_limit" => {
            add("key_id", &made.key_id);
            add("requests", "50");
            add("per", "minute");
        }
        "set_key_allowed_ips" => {
            add("key_id", &made.key_id);
            add("allowed_ips", "10.0.0.0/8");
        }
        "set_key_context" => {
            add("key_id", &made.key_id);
            add("tags", "billing");
            add("owner", "cus_1");
            add("metadata", "{\"plan\":\"pro\"}");
        }
        "set_key_policy" => {
            add("max_days", "365");
            add("idle_days", "");
        }
        "key_usage" => {
            add("key_id", &made.key_id);
            add("period", "24h");
        }
        "org_usage" => add("period", "24h"),
        "put_permission" | "delete_permission" | "delete_role" => add("name", &made.name),
        "put_role" => {
            add("name", &made.name);
            add("permissions", "probe:base");
        }
        "set_route_rules" => {
            add("rules", &format!("GET /probe/{n} probe:base"));
            add("unmatched", "allow");
        }
        "set_key_permissions" => {
            add("key_id", &made.key_id);
            add("permissions", "");
        }
        "get_permission_use" => add("key_id", &made.key_id),
        "review_openapi" => add("document", &openapi_probe(n)),
        "apply_openapi" | "discard_openapi" => {}
        "set_upstreams" => add("upstreams", &format!("/probe{n} {}/probe", w.hook_url)),
        "restrict_key_permissions" => {
            add("key_id", &made.key_id);
            add("removes", "probe:base");
            add("removes_roles", "");
        }
        "list_my_orgs"
        | "get_org"
        | "list_members"
        | "list_webhooks"
        | "list_webhook_deliveries"
        | "get_key_policy"
        | "get_permissions"
        | "list_key_activity" => {}
        other => panic!("no form for {other}"),
    }
    // Z3: what no body may set; a server function ignores fields it does not take.
    for field in ["created_by", "revoked_by", "actor_id"] {
        add(field, &w.stranger.id);
    }
    for field in ["created_at", "revoked_at", "expires_at", "last_used_at"] {
        add(field, SENTINEL_TIME);
    }
    add("org", &w.b.id);
    form
}

/// The REST request body for `action`, if it takes one.
/// A one-operation OpenAPI document, new for each cell.
fn openapi_probe(n: usize) -> String {
    json!({
        "openapi": "3.0.3",
        "paths": {format!("/reviewed/{n}"): {"get": {"tags": ["probe"]}}},
    })
    .to_string()
}

fn rest_body(w: &World, action: &Action, n: usize) -> Option<Value> {
    Some(match action.name {
        // A key may make keys no broader than itself and outliving it: `keys:write`,
        // for a week, which every caller allowed to make keys may make.
        "POST keys" => {
            json!({"name": format!("made {n}"), "scopes": ["keys:write"], "expires_in_days": 7})
        }
        "POST keys/import" => json!({"keys": [{
            "name": format!("imported {n}"),
            "sha256": format!("{:0>64x}", n + 1),
            "encoding": "hex",
            "scopes": ["keys:write"],
            "expires_at": (chrono::Utc::now() + chrono::Duration::days(7)).to_rfc3339(),
        }]}),
        "POST roll" => json!({"overlap_seconds": 0}),
        "POST pause" => json!({}),
        "PUT rate-limit" => json!({"rate_limit": {"requests": 50, "per": "minute"}}),
        "PUT allowed-ips" => json!({"allowed_ips": ["10.0.0.0/8"]}),
        "PUT context" => {
            json!({"tags": ["billing"], "owner_id": "cus_1", "metadata": {"plan": "pro"}})
        }
        "PUT policy" => json!({"max_days": 365, "require_expiry": false}),
        "PUT key permissions" => json!({"permissions": [], "roles": []}),
        "POST key permissions restrict" => json!({"removes": ["probe:base"], "removes_roles": []}),
        "PUT permission" => json!({"description": format!("probe {n}")}),
        "PUT role" => json!({"description": "probe", "permissions": ["probe:base"]}),
        "POST route-rules import" => json!({"apply": true, "document": {
            "openapi": "3.0.3",
            "paths": {format!("/imported/{n}"): {"get": {"tags": ["probe"]}}},
        }}),
        "PUT upstreams" => json!({"upstreams": [
            {"prefix": format!("/probe{n}"), "url": format!("{}/probe", w.hook_url)},
        ]}),
        "PUT route-rules" => json!({"unmatched": "allow", "rules": [
            {"methods": "GET", "path": format!("/probe/{n}"), "permissions": ["probe:base"]},
        ]}),
        "POST webhooks" => {
            json!({"url": format!("{}/{n}", w.hook_url), "events": ["key.revoked"]})
        }
        _ => return None,
    })
}

/// Calls `action` as `caller` on `made` in `org`; the status and body.
async fn call(
    w: &World,
    action: &Action,
    caller: usize,
    org: &Org,
    made: &Made,
    n: usize,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let who = CALLERS[caller];
    let key = match who {
        Caller::Key(scope) => Some(&w.keys.iter().find(|(s, _)| *s == scope).unwrap().1),
        _ => None,
    };
    match &action.via {
        Via::Rpc(name) => {
            let form = rpc_form(w, action, org, made, n);
            let form: Vec<(&str, &str)> =
                form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            match key {
                // A key sent to a server function, from the app's own origin.
                Some(key) => {
                    let (status, _, body) = send(
                        w.server
                            .client()
                            .http
                            .post(format!("{}/rpc/{name}", w.server.base))
                            .header("origin", &w.server.base)
                            .header("x-api-key", key)
                            .form(&form),
                    )
                    .await;
                    (status, body)
                }
                None => {
                    let session = &w.sessions[caller];
                    if *name == "apply_openapi" {
                        // What is applied is what this session reviewed; a caller who
                        // may not review is refused here as there.
                        let org_id = form[0].1;
                        session
                            .call(
                                "review_openapi",
                                &[("org_id", org_id), ("document", &openapi_probe(n))],
                            )
                            .await;
                    }
                    session.call(name, &form).await
                }
            }
        }
        Via::Rest(method, path) => {
            let id = if made.endpoint_id.is_empty() {
                &made.key_id
            } else {
                &made.endpoint_id
            };
            let path = path.replace("{id}", id).replace("{name}", &made.name);
            let mut url = format!("{}{path}", w.server.base);
            if [
                "/api/v1/keys",
                "/api/v1/policy",
                "/api/v1/webhooks",
                "/api/v1/permissions",
                "/api/v1/roles",
                "/api/v1/route-rules",
                "/api/v1/upstreams",
            ]
            .iter()
            .any(|prefix| path.starts_with(prefix))
            {
                url.push_str(&format!("?org_id={}", org.id));
            }
            let http = match key {
                Some(_) => common::http(),
                None => w.sessions[caller].http.clone(),
            };
            let mut request = http.request(method.clone(), url);
            match key {
                Some(key) => request = request.header("x-api-key", key),
                None => {
                    request = request.header("origin", &w.server.base);
                    if let Some(token) = w.sessions[caller].csrf_token().await {
                        request = request.header("x-csrf-token", token);
                    }
                }
            }
            if let Some(body) = body {
                request = request.json(&body);
            }
            let (status, _, body) = send(request).await;
            (status, body)
        }
    }
}

/// One cell: make the target, call, check the status, check the database.
async fn cell(w: &World, action: &Action, caller: usize, own: bool, n: usize) {
    let who = CALLERS[caller];
    let here = format!(
        "{:?} / {} / {} org",
        who,
        action.name,
        if own { "own" } else { "other" }
    );
    let org = w.org(own);
    let made = make_target(w, org, action.target, n).await;
    let before_a = org_state(&w.db, &w.a.id).await;
    let before_b = org_state(&w.db, &w.b.id).await;
    let before_global = global_state(&w.db).await;

    let body = match action.via {
        Via::Rest(..) => rest_body(w, action, n),
        Via::Rpc(_) => None,
    };
    let (status, answer) = call(w, action, caller, org, &made, n, body).await;
    let expected = expected(action, who, own);
    assert_eq!(status.as_u16(), expected, "{here}: {answer}");

    let after_a = org_state(&w.db, &w.a.id).await;
    let after_b = org_state(&w.db, &w.b.id).await;
    let after_global = global_state(&w.db).await;
    let allowed = (200..300).contains(&expected);
    let (before_target, after_target, before_other, after_other) = if own {
        (&before_a, &after_a, &before_b, &after_b)
    } else {
        (&before_b, &after_b, &before_a, &after_a)
    };
    // Another organization's rows never move (Z1).
    assert_eq!(
        before_other, after_other,
        "{here} changed another organization"
    );
    match (allowed, action.effect) {
        (false, _) | (true, Reads) => {
            assert_eq!(
                before_target, after_target,
                "{here} changed its organization"
            );
            assert_eq!(before_global, after_global, "{here} changed the rest");
        }
        (true, Changes) => {
            assert_ne!(before_target, after_target, "{here} changed nothing");
        }
        (true, NewOrg) => {
            assert_eq!(
                after_global.0,
                before_global.0 + 1,
                "{here} made no organization"
            );
        }
    }
    if allowed {
        // Z3: the creator, revocation, timestamps and organization of a body were ignored.
        for state in [&after_a, &after_b] {
            assert!(
                !state.contains(&w.stranger.id),
                "{here} took a creator or actor from the body"
            );
            assert!(
                !state.contains("2001-02-03"),
                "{here} took a time from the body"
            );
        }
    }
    // Z5: a refusal names nothing of the organization it refused.
    if !allowed {
        let text = answer.to_string();
        for (what, value) in [("org name", "B Inc"), ("org name", "A Inc")] {
            assert!(
                !text.contains(value),
                "{here}: the refusal names the {what}: {text}"
            );
        }
        if !own {
            assert!(
                !text.contains(&w.b.id),
                "{here}: the refusal names the org: {text}"
            );
            if !made.key_id.is_empty() {
                assert!(
                    !text.contains(&made.key_id),
                    "{here}: names the key: {text}"
                );
            }
        }
    }
    // Put back what would stop later cells: a policy, and endpoints (10 at most).
    if action.target == Target::KeyOverPolicy
        || action.name == "set_key_policy"
        || action.name == "PUT policy"
    {
        set_policy(&org.setup, &org.id, "").await;
    }
    if action.target == Target::Endpoint || action.name.contains("webhook") {
        delete_endpoints(&org.setup, &org.id).await;
    }
}

/// Deletes every webhook endpoint of `org_id`, as its founder.
async fn delete_endpoints(founder: &Client, org_id: &str) {
    let (status, list) = founder.call("list_webhooks", &[("org_id", org_id)]).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    for endpoint in list.as_array().unwrap() {
        let id = endpoint["id"].as_str().unwrap();
        let (status, body) = founder
            .call("delete_webhook", &[("org_id", org_id), ("endpoint_id", id)])
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

async fn every_cell_of_the_role_matrix_answers_and_changes_as_the_rules_say(db: TestDb) {
    let w = world(db).await;
    let actions = actions();
    let mut n = 0;
    let mut refused = 0;
    for action in &actions {
        for (caller, who) in CALLERS.iter().enumerate() {
            for own in [true, false] {
                n += 1;
                cell(&w, action, caller, own, n).await;
                if !(200..300).contains(&expected(action, *who, own)) {
                    refused += 1;
                }
            }
        }
    }
    assert_eq!(
        n,
        actions.len() * CALLERS.len() * 2,
        "every cell was walked"
    );
    assert!(refused > n / 2, "most cells are refusals: {refused} of {n}");
}

/// Z3 over REST: a body naming the organization, the creator, a revocation or timestamps
/// is refused with 400 naming the field, and changes nothing.
async fn rest_bodies_cannot_set_what_the_server_decides(db: TestDb) {
    let w = world(db).await;
    let owner = 0;
    let mut n = 10_000;
    for action in actions() {
        if !matches!(action.via, Via::Rest(..)) {
            continue;
        }
        let Some(clean) = rest_body(&w, &action, n) else {
            continue;
        };
        for (field, value) in [
            ("org_id", json!(w.b.id)),
            ("created_by", json!(w.stranger.id)),
            ("revoked_at", json!(SENTINEL_TIME)),
            ("created_at", json!(SENTINEL_TIME)),
        ] {
            n += 1;
            let made = make_target(&w, &w.a, action.target, n).await;
            let before = org_state(&w.db, &w.a.id).await;
            let mut body = clean.clone();
            body[field] = value;
            let (status, answer) = call(&w, &action, owner, &w.a, &made, n, Some(body)).await;
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "{} with {field}: {answer}",
                action.name
            );
            assert!(
                answer["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(field),
                "{} with {field}: the error names it: {answer}",
                action.name
            );
            assert_eq!(
                org_state(&w.db, &w.a.id).await,
                before,
                "{} with {field} changed something",
                action.name
            );
            if action.target == Target::KeyOverPolicy {
                set_policy(&w.a.setup, &w.a.id, "").await;
            }
        }
    }
}

/// Server functions and routes that are not in the table, each tested where it says.
const LEFT_OUT: &[&str] = &[
    // Accounts: http_api.rs (sessions, login rules, anonymous callers).
    "sign_up",
    "log_in",
    "log_out",
    "current_user",
    // A key in the body and no caller: api.rs and leaks.rs.
    "POST /api/v1/verify",
    "POST /api/v1/keys/leaked",
];

/// The table is complete: every server function in `app/src` (by its `endpoint = "…"`)
/// and every operation of the REST API's OpenAPI document is a row or left out by name,
/// so a new one cannot arrive without a rule.
async fn the_table_lists_every_server_function_and_route(db: TestDb) {
    let server = TestServer::start(db).await;
    let mut in_source = std::collections::BTreeSet::new();
    let mut dirs = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../app/src"
    ))];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for part in text.split("#[server(prefix").skip(1) {
                    let name = part
                        .split("endpoint = \"")
                        .nth(1)
                        .and_then(|rest| rest.split('"').next())
                        .unwrap_or_else(|| {
                            panic!("a server function without an endpoint in {path:?}")
                        });
                    in_source.insert(name.to_owned());
                }
            }
        }
    }
    let actions = actions();
    let mut in_table = std::collections::BTreeSet::new();
    for action in &actions {
        in_table.insert(match &action.via {
            Via::Rpc(name) => (*name).to_owned(),
            Via::Rest(method, path) => format!("{method} {path}"),
        });
    }
    let left_out: std::collections::BTreeSet<String> =
        LEFT_OUT.iter().map(|s| (*s).to_owned()).collect();
    let rpc_missing: Vec<&String> = in_source
        .iter()
        .filter(|n| !in_table.contains(*n) && !left_out.contains(*n))
        .collect();
    assert!(
        in_source.len() > 30,
        "found the server functions: {in_source:?}"
    );
    assert!(
        rpc_missing.is_empty(),
        "server functions with no row: {rpc_missing:?}"
    );

    let doc: Value = server
        .client()
        .get("/api/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                routes.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    assert!(routes.len() > 20, "found the routes: {routes:?}");
    let rest_missing: Vec<&String> = routes
        .iter()
        .filter(|r| !in_table.contains(*r) && !left_out.contains(*r))
        .collect();
    assert!(
        rest_missing.is_empty(),
        "routes with no row: {rest_missing:?}"
    );
}
