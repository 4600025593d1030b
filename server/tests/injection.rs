//! Issue 27 §1, on a fresh SQLite file and a fresh PostgreSQL database: what a user
//! wrote cannot become markup, even inside a raw-text element such as `<textarea>` (T3),
//! and markup that is not ours cannot act for the person viewing it, because every
//! state-changing server function of a logged-in session needs the session's CSRF token
//! (T4).

mod common;

use common::{TestDb, TestServer, csrf_token_in};
use reqwest::StatusCode;
use serde_json::Value;

on_both_databases!(
    raw_text_children_stay_text,
    server_functions_need_the_session_csrf_token,
);

/// The attack the security review confirmed: a developer's metadata closes the
/// metadata `<textarea>` and its form, and opens a form of its own that makes the
/// attacker an owner.
const HOSTILE: &str = "</textarea></fieldset></form><form method=post action=/rpc/add_member><input name=role value=owner><h1>pwned</h1>";

async fn raw_text_children_stay_text(db: TestDb) {
    // It renders pages: see `start_in_own_process`.
    let server = TestServer::start_in_own_process(db).await;
    let (owner, _) = server.user("Owner").await;
    // The organization's name and a member's display name are people's writing too.
    let org = owner.create_org("Acme </textarea><h1>org</h1>").await;
    let developer = server.client();
    let (status, body) = developer
        .call(
            "sign_up",
            &[
                ("email", "dev@example.com"),
                ("display_name", "Dev </textarea><h1>dev</h1>"),
                ("password", common::PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    owner.add_member(&org, "dev@example.com", "developer").await;
    let (key_id, _) = developer
        .create_key(&org, "</textarea><h1>name</h1>", "gateway")
        .await;
    let metadata = serde_json::json!({ "x": HOSTILE }).to_string();
    let (status, body) = developer
        .call(
            "set_key_context",
            &[
                ("org_id", &org),
                ("key_id", &key_id),
                ("tags", "billing"),
                ("owner", "</textarea><h1>owner</h1>"),
                ("metadata", &metadata),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    for path in [
        format!("/orgs/{org}/settings/keys/{key_id}"),
        format!("/orgs/{org}/settings/keys"),
        format!("/orgs/{org}/settings"),
        format!("/orgs/{org}/settings/members"),
        format!("/orgs/{org}/settings/webhooks"),
        format!("/orgs/{org}/settings/policy"),
        "/orgs".to_owned(),
    ] {
        let html = owner.get(&path).await.text().await.unwrap();
        assert!(html.contains("Acme"), "{path} rendered: {html}");
        for markup in [
            "<h1>pwned",
            "<h1>name",
            "<h1>owner",
            "<h1>org",
            "<h1>dev",
            "<form method=post action=/rpc/add_member",
        ] {
            assert!(
                !html.contains(markup),
                "{path} renders {markup:?} as markup"
            );
        }
        // Every `</textarea>` in the page closes one of ours.
        assert_eq!(
            html.matches("<textarea").count(),
            html.matches("</textarea>").count(),
            "{path}: a value closed a textarea"
        );
    }
    let html = owner
        .get(&format!("/orgs/{org}/settings/keys/{key_id}"))
        .await
        .text()
        .await
        .unwrap();
    // The metadata is there, escaped, so the browser shows it as it was typed.
    assert!(
        html.contains("&lt;/textarea&gt;&lt;/fieldset&gt;&lt;/form&gt;&lt;form method=post"),
        "the metadata is shown escaped"
    );
}

async fn server_functions_need_the_session_csrf_token(db: TestDb) {
    // It renders a page (the token's meta): see `start_in_own_process`.
    let server = TestServer::start_in_own_process(db).await;
    let (owner, _) = server.user("Owner").await;
    let org = owner.create_org("Acme").await;
    let (_, stranger) = server.user("Stranger").await;
    let add_owner = [
        ("org_id", org.as_str()),
        ("email", stranger.email.as_str()),
        ("role", "owner"),
    ];

    // What injected markup sends: a same-origin form post with the owner's cookie, with
    // no token, or with one it guessed.
    for token in [None, Some("guessed"), Some("")] {
        let mut form = add_owner.to_vec();
        if let Some(token) = token {
            form.push(("csrf_token", token));
        }
        let response = owner.post_form("add_member", &form).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "token {token:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "stale_form", "{body}");
    }
    let (_, members) = owner.call("list_members", &[("org_id", &org)]).await;
    assert_eq!(
        members.as_array().map(Vec::len),
        Some(1),
        "nobody was added: {members}"
    );

    // The page publishes the token, and every server form carries it as a hidden field.
    let page = owner
        .get(&format!("/orgs/{org}/settings/members"))
        .await
        .text()
        .await
        .unwrap();
    let token = csrf_token_in(&page).expect("a logged-in page has the csrf-token meta");
    assert!(
        page.contains(&format!(
            r#"<input type="hidden" name="csrf_token" value="{token}""#
        )),
        "server forms carry the token"
    );
    assert_eq!(owner.csrf_token().await.as_deref(), Some(token.as_str()));
    // A form posted without script sends it in the body...
    let mut form = add_owner.to_vec();
    form.push(("csrf_token", &token));
    let response = owner.post_form("add_member", &form).await;
    assert_eq!(response.status(), StatusCode::OK);
    let (_, members) = owner.call("list_members", &[("org_id", &org)]).await;
    assert_eq!(members.as_array().map(Vec::len), Some(2), "{members}");

    // A token is the session's own: another user's does not pass, and logging out and
    // in again makes a new one.
    let (other, _) = server.user("Other").await;
    let theirs = other.csrf_token().await.unwrap();
    assert_ne!(theirs, token);
    let response = owner
        .http
        .post(format!("{}/rpc/rename_org", server.base))
        .header("origin", &server.base)
        .header("x-csrf-token", &theirs)
        .form(&[("org_id", org.as_str()), ("name", "Pwned")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (status, _) = owner.call("log_out", &[]).await;
    assert!(status.is_success() || status.is_redirection(), "{status}");
    let (status, body) = owner
        .call(
            "log_in",
            &[
                ("email", "owner@example.com"),
                ("password", common::PASSWORD),
            ],
        )
        .await;
    assert!(status.is_success() || status.is_redirection(), "{body}");
    let fresh = owner.csrf_token().await.unwrap();
    assert_ne!(fresh, token, "a new session, a new token");
    let (_, org_view) = owner.call("get_org", &[("org_id", &org)]).await;
    assert_eq!(org_view["name"], "Acme", "nothing was renamed");

    // Visitors who are not logged in need none: sign-up works as it did.
    let (status, body) = server
        .client()
        .call(
            "sign_up",
            &[
                ("email", "new@example.com"),
                ("display_name", "New"),
                ("password", common::PASSWORD),
            ],
        )
        .await;
    assert!(status.is_success() || status.is_redirection(), "{body}");
}
