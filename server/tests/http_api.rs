//! The server over real HTTP, on SQLite and on PostgreSQL: authorization of every server
//! function (Z4), sessions (S1-S3, S5), cross-site refusal (S6), login rules (A3, A4),
//! bad input, page statuses and security headers (T1).

mod common;

use common::{Client, PASSWORD, TestDb, TestServer};
use reqwest::StatusCode;
use serde_json::Value;

on_both_databases!(
    the_bundle_is_precompressed_and_hashed_names_are_immutable,
    role_matrix_covers_every_org_action,
    anonymous_callers_are_unauthenticated,
    session_cookie_is_http_only_lax_and_host_wide,
    login_issues_a_new_session_id,
    logout_deletes_the_session_server_side,
    sessions_past_their_lifetime_are_refused,
    static_assets_leave_the_session_alone,
    role_changes_apply_on_the_next_request,
    cross_site_state_changes_are_refused,
    login_failures_look_the_same,
    failed_logins_are_throttled,
    bad_input_gets_a_field_error_and_changes_nothing,
    last_owner_cannot_be_removed_or_demoted,
    pages_answer_with_the_right_status,
    health_endpoints_and_security_headers,
);

#[derive(Debug, Clone, Copy)]
enum Action {
    ViewOrg,
    RenameOrg,
    ListMembers,
    AddMember,
    AddOwner,
    ChangeRole,
    ChangeOwnerRole,
    RemoveMember,
    RemoveOwner,
}

/// DESIGN.md's role table, written out: the expected status per caller role
/// (owner, admin, developer, member) acting in their own organization. In an organization
/// they are not a member of, every action is 404.
const MATRIX: &[(Action, [u16; 4])] = &[
    (Action::ViewOrg, [200, 200, 200, 200]),
    (Action::RenameOrg, [200, 200, 403, 403]),
    (Action::ListMembers, [200, 200, 403, 403]),
    (Action::AddMember, [200, 200, 403, 403]),
    (Action::AddOwner, [200, 403, 403, 403]),
    (Action::ChangeRole, [200, 200, 403, 403]),
    (Action::ChangeOwnerRole, [200, 403, 403, 403]),
    (Action::RemoveMember, [200, 200, 403, 403]),
    (Action::RemoveOwner, [200, 403, 403, 403]),
];
const ROLES: [&str; 4] = ["owner", "admin", "developer", "member"];

struct Org {
    id: String,
    owner: Client,
}

async fn org_with_roles(server: &TestServer, prefix: &str) -> (Org, Vec<Client>) {
    let (owner, _) = server.user(&format!("{prefix}Owner")).await;
    let id = owner.create_org(&format!("{prefix} Inc")).await;
    let mut callers = Vec::new();
    for role in ROLES {
        if role == "owner" {
            // A second owner acts, so the org never depends on the caller being the last one.
            let (client, user) = server.user(&format!("{prefix}Second{role}")).await;
            add(&owner, &id, &user.email, role).await;
            callers.push(client);
        } else {
            let (client, user) = server.user(&format!("{prefix}{role}")).await;
            add(&owner, &id, &user.email, role).await;
            callers.push(client);
        }
    }
    (Org { id, owner }, callers)
}

async fn add(by: &Client, org_id: &str, email: &str, role: &str) {
    let (status, body) = by
        .call(
            "add_member",
            &[("org_id", org_id), ("email", email), ("role", role)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "add {email} as {role}: {body}");
}

async fn members(org: &Org) -> Vec<(String, String)> {
    let (status, body) = org.owner.call("list_members", &[("org_id", &org.id)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut list: Vec<(String, String)> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["email"].as_str().unwrap().to_owned(),
                m["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    list.sort();
    list
}

async fn org_name(org: &Org) -> String {
    let (_, body) = org.owner.call("get_org", &[("org_id", &org.id)]).await;
    body["name"].as_str().unwrap().to_owned()
}

/// Performs `action` by `caller` on `org`, checks the status, and checks that the
/// state changed exactly when the call was allowed.
async fn run_cell(
    server: &TestServer,
    cell: &str,
    caller: &Client,
    org: &Org,
    action: Action,
    expected: u16,
) {
    let before_members = members(org).await;
    let before_name = org_name(org).await;
    // A fresh target account per cell, so no cell depends on another.
    let (_, target) = server
        .user(&format!("t{}", app::ssr::random_id("u").to_lowercase()))
        .await;
    let target_role = match action {
        Action::ChangeOwnerRole | Action::RemoveOwner => Some("owner"),
        Action::ChangeRole | Action::RemoveMember => Some("member"),
        _ => None,
    };
    if let Some(role) = target_role {
        add(&org.owner, &org.id, &target.email, role).await;
    }
    let before = members(org).await;
    let (status, body) = match action {
        Action::ViewOrg => caller.call("get_org", &[("org_id", &org.id)]).await,
        Action::RenameOrg => {
            caller
                .call("rename_org", &[("org_id", &org.id), ("name", "Renamed")])
                .await
        }
        Action::ListMembers => caller.call("list_members", &[("org_id", &org.id)]).await,
        Action::AddMember | Action::AddOwner => {
            let role = if matches!(action, Action::AddOwner) {
                "owner"
            } else {
                "developer"
            };
            caller
                .call(
                    "add_member",
                    &[
                        ("org_id", &org.id),
                        ("email", &target.email),
                        ("role", role),
                    ],
                )
                .await
        }
        Action::ChangeRole | Action::ChangeOwnerRole => {
            caller
                .call(
                    "change_member_role",
                    &[
                        ("org_id", &org.id),
                        ("user_id", &target.id),
                        ("role", "developer"),
                    ],
                )
                .await
        }
        Action::RemoveMember | Action::RemoveOwner => {
            caller
                .call(
                    "remove_member",
                    &[("org_id", &org.id), ("user_id", &target.id)],
                )
                .await
        }
    };
    assert_eq!(status.as_u16(), expected, "{cell} {action:?}: {body}");
    let after = members(org).await;
    let after_name = org_name(org).await;
    let target_after = after
        .iter()
        .find(|(e, _)| *e == target.email)
        .map(|(_, r)| r.as_str());
    let allowed = expected == 200;
    match action {
        Action::ViewOrg | Action::ListMembers => assert_eq!(after, before, "{cell} {action:?}"),
        Action::RenameOrg => {
            assert_eq!(after_name == "Renamed", allowed, "{cell} {action:?}");
            if allowed {
                // Put the name back so later cells can tell a change from no change.
                let (status, body) = org
                    .owner
                    .call("rename_org", &[("org_id", &org.id), ("name", &before_name)])
                    .await;
                assert_eq!(status, StatusCode::OK, "put the name back: {body}");
            }
        }
        Action::AddMember | Action::AddOwner => {
            let role = if matches!(action, Action::AddOwner) {
                "owner"
            } else {
                "developer"
            };
            assert_eq!(target_after, allowed.then_some(role), "{cell} {action:?}");
        }
        Action::ChangeRole | Action::ChangeOwnerRole => {
            let expected_role = if allowed {
                "developer"
            } else {
                target_role.unwrap()
            };
            assert_eq!(target_after, Some(expected_role), "{cell} {action:?}");
        }
        Action::RemoveMember | Action::RemoveOwner => {
            assert_eq!(target_after.is_none(), allowed, "{cell} {action:?}");
        }
    }
    // Nobody else's membership moved.
    let others = |list: &[(String, String)]| -> Vec<(String, String)> {
        list.iter()
            .filter(|(e, _)| *e != target.email)
            .cloned()
            .collect()
    };
    assert_eq!(
        others(&after),
        others(&before_members),
        "{cell} {action:?} touched other members"
    );
}

async fn role_matrix_covers_every_org_action(db: TestDb) {
    let server = TestServer::start(db).await;
    let (org_a, callers) = org_with_roles(&server, "A").await;
    let (org_b, _) = org_with_roles(&server, "B").await;
    let mut cells = 0;
    for (action, expected) in MATRIX {
        for (i, caller) in callers.iter().enumerate() {
            let role = ROLES[i];
            run_cell(
                &server,
                &format!("{role}/own org"),
                caller,
                &org_a,
                *action,
                expected[i],
            )
            .await;
            run_cell(
                &server,
                &format!("{role}/other org"),
                caller,
                &org_b,
                *action,
                404,
            )
            .await;
            cells += 2;
        }
    }
    assert_eq!(cells, MATRIX.len() * ROLES.len() * 2);
}

async fn anonymous_callers_are_unauthenticated(db: TestDb) {
    let server = TestServer::start(db).await;
    let (owner, member) = server.user("Owner").await;
    let org = owner.create_org("Acme").await;
    let anonymous = server.client();
    let calls: &[(&str, Vec<(&str, &str)>)] = &[
        ("list_my_orgs", vec![]),
        ("create_org", vec![("name", "Evil")]),
        ("get_org", vec![("org_id", &org)]),
        ("rename_org", vec![("org_id", &org), ("name", "Evil")]),
        ("list_members", vec![("org_id", &org)]),
        (
            "add_member",
            vec![
                ("org_id", &org),
                ("email", "x@example.com"),
                ("role", "owner"),
            ],
        ),
        (
            "change_member_role",
            vec![
                ("org_id", &org),
                ("user_id", &member.id),
                ("role", "member"),
            ],
        ),
        (
            "remove_member",
            vec![("org_id", &org), ("user_id", &member.id)],
        ),
    ];
    for (name, form) in calls {
        let (status, body) = anonymous.call(name, form).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {body}");
        assert_eq!(body["error"], "unauthenticated", "{name}");
    }
    let (_, me) = anonymous.call("current_user", &[]).await;
    assert_eq!(me, Value::Null);
    let (_, orgs) = owner.call("list_my_orgs", &[]).await;
    assert_eq!(
        orgs.as_array().unwrap().len(),
        1,
        "anonymous create_org must not create anything"
    );
}

/// Signs up Ada through the raw server function, returning the response (and its cookie).
async fn sign_up_ada(client: &Client) -> reqwest::Response {
    client
        .post(
            "sign_up",
            &[
                ("email", "ada@example.com"),
                ("display_name", "Ada"),
                ("password", PASSWORD),
            ],
        )
        .await
}

fn session_cookie(response: &reqwest::Response) -> Option<(String, String)> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .find_map(|v| {
            let v = v.to_str().ok()?;
            let (pair, _) = v.split_once(';').unwrap_or((v, ""));
            let (name, value) = pair.split_once('=')?;
            (name.contains("keygate")).then(|| (value.to_owned(), v.to_owned()))
        })
}

async fn session_cookie_is_http_only_lax_and_host_wide(db: TestDb) {
    let server = TestServer::start(db).await;
    let client = server.client();
    let response = sign_up_ada(&client).await;
    let (_, header) = session_cookie(&response).expect("sign-up sets a session cookie");
    assert!(header.starts_with("keygate_session="), "{header}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(header.contains(attribute), "missing {attribute}: {header}");
    }
    assert!(
        !header.contains("Secure"),
        "plain http by default: {header}"
    );
    assert!(!header.contains("Domain"), "{header}");
}

/// Behind HTTPS (`KEYGATE_COOKIE_SECURE=true`) the cookie is `__Host-` and Secure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_cookie_uses_the_host_prefix() {
    common::within_time_limit("secure_cookie_uses_the_host_prefix", async {
        let db = TestDb::sqlite().await;
        let mut config = db.config();
        config.cookie_secure = true;
        let state = server::build_state(&config).await.unwrap();
        let router = server::http::router(state, server::leptos_options(&config), &config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await
            .unwrap();
        });
        let client = Client::new(common::http(), base);
        let response = sign_up_ada(&client).await;
        let header = response
            .headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(header.starts_with("__Host-keygate="), "{header}");
        assert!(
            header.contains("Secure") && header.contains("HttpOnly") && header.contains("Path=/"),
            "{header}"
        );
        assert!(
            response
                .headers()
                .get("strict-transport-security")
                .is_some()
        );
    })
    .await;
}

async fn current_user_with_cookie(base: &str, cookie: &str) -> Value {
    let http = common::http();
    let cookie = format!("keygate_session={cookie}");
    // This session's CSRF token, as a browser holding the cookie learns it.
    let who: Value = http
        .get(format!("{base}/api/v1/whoami"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut request = http
        .post(format!("{base}/rpc/current_user"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(token) = who["csrf_token"].as_str() {
        request = request.header("x-csrf-token", token);
    }
    request.send().await.unwrap().json().await.unwrap()
}

async fn login_issues_a_new_session_id(db: TestDb) {
    let server = TestServer::start(db).await;
    let client = server.client();
    let first = sign_up_ada(&client).await;
    let (before, _) = session_cookie(&first).unwrap();
    assert_eq!(
        current_user_with_cookie(&server.base, &before).await["email"],
        "ada@example.com"
    );

    let second = client
        .post(
            "log_in",
            &[("email", "ada@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(second.status(), StatusCode::OK);
    let (after, _) = session_cookie(&second).expect("login sets a new cookie");
    assert_ne!(before, after, "S2: the session id must change at login");
    assert_eq!(
        current_user_with_cookie(&server.base, &before).await,
        Value::Null,
        "old id must be worthless"
    );
    assert_eq!(
        current_user_with_cookie(&server.base, &after).await["email"],
        "ada@example.com"
    );

    // A cookie the attacker invented is not adopted either.
    assert_eq!(
        current_user_with_cookie(&server.base, "AAAAAAAAAAAAAAAAAAAAAA").await,
        Value::Null
    );
}

async fn logout_deletes_the_session_server_side(db: TestDb) {
    let server = TestServer::start(db).await;
    let client = server.client();
    let response = sign_up_ada(&client).await;
    let (cookie, _) = session_cookie(&response).unwrap();
    let (status, _) = client.call("log_out", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        current_user_with_cookie(&server.base, &cookie).await,
        Value::Null,
        "S3: replayed cookie"
    );
    let (status, _) = client.call("list_my_orgs", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// S4: the server, not the cookie, decides when a session ends: past the absolute
/// lifetime since login, or past its idle expiry, the session is worthless.
async fn sessions_past_their_lifetime_are_refused(db: TestDb) {
    use tower_sessions::SessionStore;
    use tower_sessions::session::{Id, Record};

    let server = TestServer::start(db).await;
    let (_, user) = server.user("Ada").await;
    let store = app::auth::session_store::DbSessionStore::new(server.db.connect().await);
    let now = time::OffsetDateTime::now_utc();
    let lifetime = app::auth::session::ABSOLUTE_LIFETIME_SECS;
    let plant = |logged_in_secs_ago: i64, expires_in_secs: i64| {
        let store = store.clone();
        let user_id = user.id.clone();
        async move {
            let mut record = Record {
                id: Id::default(),
                data: [
                    ("uid".to_owned(), serde_json::json!(user_id)),
                    (
                        "auth_at".to_owned(),
                        serde_json::json!(now.unix_timestamp() - logged_in_secs_ago),
                    ),
                ]
                .into_iter()
                .collect(),
                expiry_date: now + time::Duration::seconds(expires_in_secs),
            };
            store.create(&mut record).await.unwrap();
            record.id.to_string()
        }
    };
    let fresh = plant(60, 3600).await;
    assert_eq!(
        current_user_with_cookie(&server.base, &fresh).await["id"],
        user.id.as_str(),
        "control"
    );
    let too_old = plant(lifetime + 60, 3600).await;
    assert_eq!(
        current_user_with_cookie(&server.base, &too_old).await,
        Value::Null,
        "absolute lifetime"
    );
    let idle = plant(60, -1).await;
    assert_eq!(
        current_user_with_cookie(&server.base, &idle).await,
        Value::Null,
        "idle timeout"
    );
}

async fn role_changes_apply_on_the_next_request(db: TestDb) {
    let server = TestServer::start(db).await;
    let (owner, _) = server.user("Owner").await;
    let org = owner.create_org("Acme").await;
    let (admin, admin_user) = server.user("Admin").await;
    add(&owner, &org, &admin_user.email, "admin").await;
    assert_eq!(
        admin.call("list_members", &[("org_id", &org)]).await.0,
        StatusCode::OK
    );

    let (status, body) = owner
        .call(
            "change_member_role",
            &[
                ("org_id", &org),
                ("user_id", &admin_user.id),
                ("role", "member"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "demote: {body}");
    assert_eq!(
        admin.call("list_members", &[("org_id", &org)]).await.0,
        StatusCode::FORBIDDEN,
        "S5: demotion"
    );
    assert_eq!(
        admin.call("get_org", &[("org_id", &org)]).await.0,
        StatusCode::OK
    );

    let (status, body) = owner
        .call(
            "remove_member",
            &[("org_id", &org), ("user_id", &admin_user.id)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "remove: {body}");
    assert_eq!(
        admin.call("get_org", &[("org_id", &org)]).await.0,
        StatusCode::NOT_FOUND,
        "S5: removal"
    );
}

async fn cross_site_state_changes_are_refused(db: TestDb) {
    let server = TestServer::start(db).await;
    let (owner, _) = server.user("Owner").await;
    let org = owner.create_org("Acme").await;
    // With the session's own CSRF token, so that the origin check alone refuses them
    // (T4's token is the other guard, tested in injection.rs).
    let token = owner.csrf_token().await.unwrap();
    for (header, value) in [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
        ("origin", "null"),
    ] {
        let response = owner
            .http
            .post(format!("{}/rpc/rename_org", server.base))
            .header(header, value)
            .header("x-csrf-token", &token)
            .form(&[("org_id", org.as_str()), ("name", "Pwned")])
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "{header}: {value}"
        );
    }
    let (_, body) = owner.call("get_org", &[("org_id", &org)]).await;
    assert_eq!(body["name"], "Acme", "nothing changed");
    // Server functions that change state never accept GET.
    let response = owner
        .get(&format!("/rpc/rename_org?org_id={org}&name=Pwned"))
        .await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        response.headers().get("allow").map(|v| v.to_str().unwrap()),
        Some("POST")
    );
    assert_eq!(
        response.text().await.unwrap(),
        "",
        "nothing but the refusal"
    );
    assert_eq!(
        owner.call("get_org", &[("org_id", &org)]).await.1["name"],
        "Acme"
    );
}

async fn login_failures_look_the_same(db: TestDb) {
    let server = TestServer::start(db).await;
    server.user("Ada").await;
    let client = server.client();
    let wrong_password = client
        .call(
            "log_in",
            &[
                ("email", "ada@example.com"),
                ("password", "not the password"),
            ],
        )
        .await;
    let unknown_email = client
        .call(
            "log_in",
            &[
                ("email", "nobody@example.com"),
                ("password", "not the password"),
            ],
        )
        .await;
    assert_eq!(wrong_password.0, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_password, unknown_email, "A3: same status and body");
    assert_eq!(wrong_password.1["error"], "invalid_credentials");
    // Emails are matched case-insensitively.
    let (status, _) = client
        .call(
            "log_in",
            &[("email", " ADA@Example.com "), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

async fn failed_logins_are_throttled(db: TestDb) {
    let server = TestServer::start(db).await;
    server.user("Ada").await;
    let client = server.client();
    for _ in 0..app::auth::throttle::ACCOUNT_LIMIT {
        let (status, _) = client
            .call(
                "log_in",
                &[("email", "ada@example.com"), ("password", "wrong password")],
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Even the right password is refused while the account is throttled.
    let response = client
        .post(
            "log_in",
            &[("email", "ada@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 0);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");

    // Per client address too: failures spread over many accounts (none of which reaches
    // its own limit) stop the address, even for another account's right password.
    server.user("Bea").await;
    let spread = server.client();
    let mut refused_at = None;
    for n in 0..app::auth::throttle::ADDRESS_LIMIT * 2 {
        let (status, body) = spread
            .call(
                "log_in",
                &[
                    ("email", &format!("guess{n}@example.com")),
                    ("password", "wrong password"),
                ],
            )
            .await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            refused_at = Some(n);
            break;
        }
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
    // Ada's five failures came from this address as well.
    let refused_at = refused_at.expect("the address was throttled");
    assert!(
        refused_at <= app::auth::throttle::ADDRESS_LIMIT,
        "throttled after {refused_at} more failures"
    );
    let (status, body) = spread
        .call(
            "log_in",
            &[("email", "bea@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
}

async fn bad_input_gets_a_field_error_and_changes_nothing(db: TestDb) {
    let server = TestServer::start(db).await;
    let (owner, _) = server.user("Owner").await;
    let anonymous = server.client();
    let sign_up = |email: &'static str, name: String, password: String| {
        let anonymous = &anonymous;
        async move {
            anonymous
                .call(
                    "sign_up",
                    &[
                        ("email", email),
                        ("display_name", &name),
                        ("password", &password),
                    ],
                )
                .await
        }
    };
    let cases = [
        (
            sign_up("OWNER@example.com", "Dup".into(), PASSWORD.into()).await,
            409,
            "email",
        ),
        (
            sign_up("not-an-email", "X".into(), PASSWORD.into()).await,
            422,
            "email",
        ),
        (
            sign_up("new@example.com", "X".into(), "short".into()).await,
            422,
            "password",
        ),
        (
            sign_up("new@example.com", "X".into(), "p".repeat(129)).await,
            422,
            "password",
        ),
        (
            sign_up("new@example.com", "   ".into(), PASSWORD.into()).await,
            422,
            "display_name",
        ),
        (
            owner.call("create_org", &[("name", "   ")]).await,
            422,
            "name",
        ),
        (
            owner
                .call("create_org", &[("name", &"n".repeat(101))])
                .await,
            422,
            "name",
        ),
    ];
    for ((status, body), expected_status, field) in cases {
        assert_eq!(status.as_u16(), expected_status, "{body}");
        assert_eq!(body["field"], field, "{body}");
        assert!(!body["message"].as_str().unwrap().is_empty());
    }
    // Nothing was created: the new email can still sign up, and the owner has no org.
    assert_eq!(
        owner.call("list_my_orgs", &[]).await.1,
        serde_json::json!([])
    );
    assert_eq!(
        sign_up("new@example.com", "New".into(), PASSWORD.into())
            .await
            .0,
        StatusCode::OK
    );

    let org = owner.create_org("  Acme  ").await;
    assert_eq!(
        owner.call("get_org", &[("org_id", &org)]).await.1["name"],
        "Acme",
        "names are trimmed"
    );
    let (status, body) = owner
        .call(
            "add_member",
            &[
                ("org_id", &org),
                ("email", "ghost@example.com"),
                ("role", "member"),
            ],
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["field"].as_str()),
        (422, Some("email")),
        "{body}"
    );
    let (status, body) = owner
        .call(
            "add_member",
            &[
                ("org_id", &org),
                ("email", "new@example.com"),
                ("role", "god"),
            ],
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["field"].as_str()),
        (422, Some("role")),
        "{body}"
    );
    add(&owner, &org, "new@example.com", "member").await;
    let (status, body) = owner
        .call(
            "add_member",
            &[
                ("org_id", &org),
                ("email", "NEW@example.com"),
                ("role", "admin"),
            ],
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["field"].as_str()),
        (409, Some("email")),
        "{body}"
    );
    // Missing arguments are a 400, not a crash.
    let (status, body) = owner.call("add_member", &[("org_id", &org)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (_, list) = owner.call("list_members", &[("org_id", &org)]).await;
    let new = list
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == "new@example.com")
        .unwrap();
    assert_eq!(new["role"], "member", "the failed re-add changed nothing");
}

async fn last_owner_cannot_be_removed_or_demoted(db: TestDb) {
    let server = TestServer::start(db).await;
    let (owner, owner_user) = server.user("Owner").await;
    let org = owner.create_org("Acme").await;
    let (status, body) = owner
        .call(
            "change_member_role",
            &[
                ("org_id", &org),
                ("user_id", &owner_user.id),
                ("role", "admin"),
            ],
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["field"].as_str()),
        (422, Some("role")),
        "{body}"
    );
    let (status, _) = owner
        .call(
            "remove_member",
            &[("org_id", &org), ("user_id", &owner_user.id)],
        )
        .await;
    assert_eq!(status.as_u16(), 422);
    let (_, me) = owner.call("get_org", &[("org_id", &org)]).await;
    assert_eq!(me["role"], "owner", "still the owner");

    // With a second owner, the first may step down.
    let (_, second) = server.user("Second").await;
    add(&owner, &org, &second.email, "owner").await;
    let (status, _) = owner
        .call(
            "change_member_role",
            &[
                ("org_id", &org),
                ("user_id", &owner_user.id),
                ("role", "admin"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

async fn page(client: &Client, path: &str) -> (StatusCode, String, reqwest::header::HeaderMap) {
    let response = client
        .http
        .get(format!("{}{path}", client.base))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, response.text().await.unwrap(), headers)
}

async fn pages_answer_with_the_right_status(db: TestDb) {
    // It renders pages: see `start_in_own_process`.
    let server = TestServer::start_in_own_process(db).await;
    let (owner, _) = server.user("Owner").await;
    let org = owner.create_org("Acme Widgets").await;
    let (member, member_user) = server.user("Member").await;
    add(&owner, &org, &member_user.email, "member").await;
    let (outsider, _) = server.user("Outsider").await;

    let (status, html, _) = page(&owner, &format!("/orgs/{org}/settings")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Acme Widgets") && html.contains(&org),
        "general page shows name and id"
    );
    let (status, html, _) = page(&owner, &format!("/orgs/{org}/settings/members")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("member@example.com"));

    let (status, html, _) = page(&member, &format!("/orgs/{org}/settings/members")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "member on an admin page");
    assert!(
        html.contains("Access denied") && !html.contains("owner@example.com"),
        "no member list leaks"
    );
    let (status, _, _) = page(&member, &format!("/orgs/{org}/settings")).await;
    assert_eq!(status, StatusCode::OK, "any member sees the general page");

    for (client, path) in [
        (&outsider, format!("/orgs/{org}/settings")),
        (&outsider, format!("/orgs/{org}/settings/members")),
        (&owner, "/orgs/org_doesnotexist/settings".to_owned()),
        (&owner, "/no/such/page".to_owned()),
    ] {
        let (status, html, _) = page(client, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(html.contains("Page not found"), "{path}");
        if std::ptr::eq(client, &outsider) {
            assert!(
                !html.contains("Acme Widgets"),
                "{path}: another org's name leaked"
            );
        }
    }

    let (status, _, headers) = page(&server.client(), "/orgs").await;
    assert!(
        status.is_redirection(),
        "anonymous /orgs redirects, got {status}"
    );
    assert_eq!(headers["location"], "/login");
}

async fn health_endpoints_and_security_headers(db: TestDb) {
    // It renders pages: see `start_in_own_process`.
    let server = TestServer::start_in_own_process(db).await;
    let client = server.client();
    assert_eq!(client.get("/healthz").await.status(), StatusCode::OK);
    let ready = client.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(ready.json::<Value>().await.unwrap()["status"], "ready");

    let (status, html, headers) = page(&client, "/login").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Log in to Keygate"));
    assert!(
        !headers.contains_key("content-encoding"),
        "no Accept-Encoding, no compression"
    );

    // Pages are compressed for a browser that accepts it; JSON answers are not.
    for encoding in ["gzip", "br"] {
        let response = client
            .http
            .get(format!("{}/login", client.base))
            .header("accept", "text/html")
            .header("accept-encoding", encoding)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-encoding"], encoding);
        let vary = response.headers()["vary"].to_str().unwrap().to_lowercase();
        assert!(vary.contains("accept-encoding"), "vary: {vary}");
        let body = response.bytes().await.unwrap();
        assert!(
            body.len() < html.len() / 2,
            "{encoding}: {} of {} bytes",
            body.len(),
            html.len()
        );
        if encoding == "gzip" {
            use std::io::Read;
            let mut unzipped = String::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_string(&mut unzipped)
                .unwrap();
            assert!(unzipped.contains("Log in to Keygate"));
        }
    }
    let ready = client
        .http
        .get(format!("{}/readyz", client.base))
        .header("accept-encoding", "gzip, br")
        .send()
        .await
        .unwrap();
    assert!(!ready.headers().contains_key("content-encoding"));
    let csp = headers["content-security-policy"].to_str().unwrap();
    for directive in [
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(
            csp.contains(directive),
            "T1: {directive} missing from {csp}"
        );
    }
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers.contains_key("referrer-policy"));
    assert!(
        !headers.contains_key("strict-transport-security"),
        "no HSTS over plain http"
    );
}

/// `/readyz` tells the truth: when PostgreSQL drops the server's database (and with it
/// every connection), readiness is 503, never a false 200, while `/healthz` stays 200.
mod postgres_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn readiness_fails_when_the_database_is_gone() {
        let db = crate::common::TestDb::postgres().await;
        crate::common::within_time_limit(
            "postgres_only::readiness_fails_when_the_database_is_gone",
            super::readiness_fails_when_the_database_is_gone(db),
        )
        .await;
    }
}

async fn readiness_fails_when_the_database_is_gone(db: TestDb) {
    let name = db.url.rsplit('/').next().unwrap().to_owned();
    let admin_url = db.url.replace(&format!("/{name}"), "/postgres");
    let server = TestServer::start(db).await;
    let client = server.client();
    assert_eq!(client.get("/readyz").await.status(), StatusCode::OK);
    let admin = sea_orm::Database::connect(admin_url.as_str())
        .await
        .unwrap();
    sea_orm::ConnectionTrait::execute_unprepared(
        &admin,
        &format!("DROP DATABASE \"{name}\" WITH (FORCE)"),
    )
    .await
    .unwrap();
    let response = client.get("/readyz").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert_eq!(client.get("/healthz").await.status(), StatusCode::OK);
}

/// The bundle is served precompressed as the browser accepts it (brotli, else gzip, else
/// as is), with `Vary: Accept-Encoding`; content-hashed names are cached for a year,
/// anything else revalidated; pages are never stored.
async fn the_bundle_is_precompressed_and_hashed_names_are_immutable(db: TestDb) {
    let pkg = db.data_dir().join("site/pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    let hashed = "keygate.0a1B2c3D4e5F6g7H8i9J-_.wasm";
    std::fs::write(pkg.join(hashed), b"plain wasm").unwrap();
    std::fs::write(pkg.join(format!("{hashed}.br")), b"brotli wasm").unwrap();
    std::fs::write(pkg.join(format!("{hashed}.gz")), b"gzip wasm").unwrap();
    std::fs::write(pkg.join("keygate.css"), b"body{}").unwrap();
    // A bundle with hashed names is named by its hash.txt, or the server refuses to start
    // (see `deployment.rs`).
    std::fs::write(
        db.data_dir().join("site/hash.txt"),
        "wasm: 0a1B2c3D4e5F6g7H8i9J-_
",
    )
    .unwrap();
    let server = TestServer::start(db).await;
    let http = common::http_builder()
        .no_gzip()
        .no_brotli()
        .build()
        .unwrap();
    let get = |path: String, accept: &'static str| {
        let http = http.clone();
        async move {
            let response = http
                .get(path)
                .header("accept-encoding", accept)
                .send()
                .await
                .unwrap();
            let headers = response.headers().clone();
            (response.status(), headers, response.bytes().await.unwrap())
        }
    };
    let url = format!("{}/pkg/{hashed}", server.base);
    for (accept, encoding, body) in [
        ("gzip, deflate, br, zstd", Some("br"), &b"brotli wasm"[..]),
        ("gzip", Some("gzip"), b"gzip wasm"),
        ("identity", None, b"plain wasm"),
    ] {
        let (status, headers, bytes) = get(url.clone(), accept).await;
        assert_eq!(status, StatusCode::OK, "{accept}");
        assert_eq!(
            headers.get("content-encoding").map(|v| v.to_str().unwrap()),
            encoding,
            "{accept}"
        );
        assert_eq!(&bytes[..], body, "{accept}");
        assert_eq!(
            headers["cache-control"],
            "public, max-age=31536000, immutable"
        );
        assert!(
            headers["vary"]
                .to_str()
                .unwrap()
                .to_ascii_lowercase()
                .contains("accept-encoding"),
            "{headers:?}"
        );
    }
    let (status, headers, _) = get(format!("{}/pkg/keygate.css", server.base), "br").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["cache-control"], "no-cache");
    let (_, headers, _) = get(format!("{}/login", server.base), "br").await;
    assert_eq!(headers["cache-control"], "no-store");
}

/// The wasm/js/css bundle is served without touching the session table.
async fn static_assets_leave_the_session_alone(db: TestDb) {
    use app::entities::session;
    use sea_orm::EntityTrait;

    let pkg = db.data_dir().join("site/pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("keygate.css"), "body{}").unwrap();
    let server = TestServer::start(db).await;
    let (client, _) = server.user("Ada").await;
    let conn = server.db.connect().await;
    let before = session::Entity::find().one(&conn).await.unwrap().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let response = client.get("/pkg/keygate.css").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["x-content-type-options"],
        "nosniff",
        "security headers still apply"
    );
    assert_eq!(response.text().await.unwrap(), "body{}");
    let after = session::Entity::find().one(&conn).await.unwrap().unwrap();
    assert_eq!(
        after.expires_at, before.expires_at,
        "an asset request must not rewrite the session"
    );
}
