//! The behaviour every page shares, on the server's markup: one island at the end of the
//! body ([`PageScript`]) that, once every island before it is live, listens for clicks and
//! changes on the whole document and acts on elements by their data attributes:
//!
//! - `button[data-copy=TEXT]`: copies TEXT and says so in its `.copy-status` sibling;
//! - `button[data-toggle=ID]`: shows or hides the element ID (a chart's table);
//! - `select[data-org-switch=SECTION]`: opens that settings section of the chosen org;
//! - `form[data-clean-get]`: a GET form whose blank fields stay out of the URL;
//! - `select[data-member-role=USER]`: changes a member's role at once;
//! - `button[data-remove-member=USER]`: asks in `#remove-member-dialog`, then removes.
//!
//! Controls with `data-live` are rendered disabled and enabled here. Then the body is
//! marked `data-hydrated="true"` and focus goes where `navigation::reload_focusing`
//! asked. No views: each of these as a Leptos island cost kilobytes of the bundle.

use leptos::prelude::*;

/// The last thing in the body. Renders nothing.
#[island]
pub fn PageScript() -> impl IntoView {
    #[cfg(feature = "hydrate")]
    dom::attach();
}

#[cfg(feature = "hydrate")]
mod dom {
    use leptos::prelude::{document, request_animation_frame};
    use leptos::server_fn::ServerFn;
    use leptos::task::spawn_local;
    use wasm_bindgen::JsCast;
    use web_sys::{Element, HtmlDialogElement, HtmlFormElement, HtmlSelectElement};

    use crate::dom::{
        by_id, call, closest, copy_and_say, enable, listen, listen_id, set_hidden, set_text,
    };
    use crate::error::AppError;
    use crate::navigation::{focus_by_id, go_to, reload, take_focus_after_reload};
    use crate::orgs::{ChangeMemberRole, ListMemberKeys, RemoveMember};
    use crate::webhooks::ListMemberWebhooks;

    pub(super) fn attach() {
        let doc = document();
        listen(&doc, "click", |ev| {
            if let Some(button) = closest(&ev, "button[data-copy]") {
                copy(button);
            } else if let Some(button) = closest(&ev, "button[data-toggle]") {
                toggle(&button);
            } else if let Some(button) = closest(&ev, "button[data-remove-member]") {
                ask_remove(button);
            }
        });
        listen(&doc, "change", |ev| {
            if let Some(select) = closest(&ev, "select[data-org-switch]") {
                switch_org(&select);
            } else if let Some(select) = closest(&ev, "select[data-member-role]") {
                change_role(select);
            }
        });
        listen(&doc, "submit", |ev| {
            if let Some(form) = closest(&ev, "form[data-clean-get]") {
                ev.prevent_default();
                clean_get(&form);
            }
        });
        listen_id("remove-member-go", "click", |_| remove_member());
        listen_id("remove-member-cancel", "click", |_| close_remove());
        enable("[data-live]");
        if let Some(id) = take_focus_after_reload() {
            // On the next frame: every control is enabled by then.
            request_animation_frame(move || focus_by_id(&id));
        }
        if let Some(body) = doc.body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    }

    fn copy(button: Element) {
        let text = button.get_attribute("data-copy").unwrap_or_default();
        let status = button
            .parent_element()
            .and_then(|p| p.query_selector(".copy-status").ok().flatten());
        spawn_local(async move {
            copy_and_say(&text, button, status).await;
        });
    }

    fn toggle(button: &Element) {
        let Some(target) = button
            .get_attribute("data-toggle")
            .and_then(|id| by_id(&id))
        else {
            return;
        };
        let show = target.has_attribute("hidden");
        let _ = target.toggle_attribute_with_force("hidden", !show);
        let _ = button.set_attribute("aria-expanded", if show { "true" } else { "false" });
        button.set_text_content(Some(if show { "Hide table" } else { "Show as table" }));
    }

    fn switch_org(select: &Element) {
        let Ok(select) = select.clone().dyn_into::<HtmlSelectElement>() else {
            return;
        };
        let section = select.get_attribute("data-org-switch").unwrap_or_default();
        // A key's page belongs to one organization: another one shows its keys list.
        let section = if section.starts_with("/keys/") {
            "/keys"
        } else {
            section.as_str()
        };
        go_to(&format!("/orgs/{}/settings{section}", select.value()));
    }

    /// A GET form's URL without its blank fields (`?q=&tag=` says nothing).
    fn clean_get(form: &Element) {
        let Ok(form) = form.clone().dyn_into::<HtmlFormElement>() else {
            return;
        };
        let Ok(data) = web_sys::FormData::new_with_form(&form) else {
            return;
        };
        let Ok(all) = web_sys::UrlSearchParams::new_with_str_sequence_sequence(&data) else {
            return;
        };
        let Ok(kept) = web_sys::UrlSearchParams::new() else {
            return;
        };
        if let Ok(names) = form.query_selector_all("[name]") {
            for i in 0..names.length() {
                let Some(name) = names
                    .item(i)
                    .and_then(|n| n.dyn_into::<Element>().ok())
                    .and_then(|e| e.get_attribute("name"))
                else {
                    continue;
                };
                if let Some(value) = all.get(&name).filter(|v| !v.trim().is_empty()) {
                    kept.append(&name, value.trim());
                }
            }
        }
        let query = String::from(kept.to_string());
        let action = form.get_attribute("action").unwrap_or_default();
        if query.is_empty() {
            go_to(&action);
        } else {
            go_to(&format!("{action}?{query}"));
        }
    }

    /// The role select of a members row: saved at once; refused, it goes back.
    fn change_role(select: Element) {
        let Ok(select) = select.dyn_into::<HtmlSelectElement>() else {
            return;
        };
        let user = select.get_attribute("data-member-role").unwrap_or_default();
        let org = select.get_attribute("data-org").unwrap_or_default();
        let shown = select.get_attribute("data-shown").unwrap_or_default();
        let role = select.value();
        let is_me = select.has_attribute("data-me");
        spawn_local(async move {
            let args = [
                ("org_id", org.as_str()),
                ("user_id", &user),
                ("role", &role),
            ];
            let result = call(ChangeMemberRole::PATH, &args).await;
            let note = select
                .parent_element()
                .and_then(|p| p.query_selector(".field-error").ok().flatten());
            match &result {
                // The select already shows the new role: the table and focus stay.
                Ok(_) => {
                    let _ = select.set_attribute("data-shown", &role);
                }
                // Refused: take the choice back.
                Err(_) => select.set_value(&shown),
            }
            if let Some(note) = note {
                note.set_text_content(result.as_ref().err().map(|e| e.to_string()).as_deref());
                let _ = note.toggle_attribute_with_force("hidden", result.is_ok());
            }
            // A change to one's own role changes what the page offers.
            if is_me && result.is_ok() {
                reload();
            }
        });
    }

    /// One of the member's keys, as the page reads it.
    #[derive(serde::Deserialize)]
    struct MemberKey {
        name: String,
        hint: String,
    }

    #[derive(serde::Deserialize)]
    struct MemberWebhook {
        url: String,
    }

    fn remove_dialog() -> Option<HtmlDialogElement> {
        by_id("remove-member-dialog").and_then(|d| d.dyn_into().ok())
    }

    fn close_remove() {
        if let Some(dialog) = remove_dialog() {
            dialog.close();
        }
    }

    /// Opens the dialog for this row's member and lists the keys they created.
    fn ask_remove(button: Element) {
        let Some(dialog) = remove_dialog() else {
            return;
        };
        let user = button
            .get_attribute("data-remove-member")
            .unwrap_or_default();
        let name = button.get_attribute("data-name").unwrap_or_default();
        let org = dialog.get_attribute("data-org").unwrap_or_default();
        let _ = dialog.set_attribute("data-user", &user);
        set_text("remove-title", &format!("Remove {name}?"));
        set_text("member-keys-area", "Looking up the keys they created…");
        set_text("member-webhooks-area", "");
        set_hidden("member-webhooks-area", true);
        set_hidden("member-keys-handover", true);
        set_hidden("remove-member-error", true);
        if let Some(revoke) =
            by_id("handover-revoke").and_then(|r| r.dyn_into::<web_sys::HtmlInputElement>().ok())
        {
            revoke.set_checked(true);
        }
        let _ = by_id("remove-member-go").map(|b| b.set_attribute("disabled", ""));
        let _ = dialog.show_modal();
        spawn_local(async move {
            let args = [("org_id", org.as_str()), ("user_id", &user)];
            // Their webhook endpoints stop with them: said before the keys, whose answer
            // enables the button.
            if let Ok(hooks) = call(ListMemberWebhooks::PATH, &args).await.and_then(|a| {
                serde_json::from_str::<Vec<MemberWebhook>>(&a).map_err(|_| AppError::Internal)
            }) && !hooks.is_empty()
                && let Some(area) = by_id("member-webhooks-area")
            {
                let count = hooks.len();
                let noun = if count == 1 { "endpoint" } else { "endpoints" };
                append(
                    &area,
                    "p",
                    &format!(
                        "Their {count} webhook {noun} will be disabled and receive nothing more:"
                    ),
                );
                if let Some(list) = append(&area, "ul", "") {
                    let _ = list.set_attribute("class", "member-keys");
                    let _ = list.set_attribute("data-testid", "member-webhooks");
                    for hook in hooks {
                        if let Some(item) = append(&list, "li", "") {
                            append(&item, "code", &hook.url);
                        }
                    }
                }
                set_hidden("member-webhooks-area", false);
            }
            let listed = call(ListMemberKeys::PATH, &args).await.and_then(|answer| {
                serde_json::from_str::<Vec<MemberKey>>(&answer).map_err(|_| AppError::Internal)
            });
            let _ = by_id("remove-member-go").map(|b| b.remove_attribute("disabled"));
            let Some(area) = by_id("member-keys-area") else {
                return;
            };
            area.set_text_content(None);
            match listed {
                Err(e) => show_remove_error(&e),
                Ok(keys) if keys.is_empty() => {
                    let _ = append(
                        &area,
                        "p",
                        "They have not created any key that is still active.",
                    )
                    .map(|p| p.set_attribute("data-testid", "member-keys-none"));
                }
                Ok(keys) => {
                    let count = keys.len();
                    let (noun, verb) = if count == 1 {
                        ("key", "is")
                    } else {
                        ("keys", "are")
                    };
                    append(
                        &area,
                        "p",
                        &format!("They created {count} {noun} that {verb} not revoked:"),
                    );
                    if let Some(list) = append(&area, "ul", "") {
                        let _ = list.set_attribute("class", "member-keys");
                        let _ = list.set_attribute("data-testid", "member-keys");
                        for key in keys {
                            if let Some(item) = append(&list, "li", "") {
                                append(&item, "strong", &key.name);
                                let _ = item.append_with_str_1(" ");
                                let _ = append(&item, "code", &key.hint)
                                    .map(|c| c.set_attribute("class", "muted"));
                            }
                        }
                    }
                    set_hidden("member-keys-handover", false);
                }
            }
        });
    }

    /// A new `tag` element with this text, at the end of `parent`.
    fn append(parent: &Element, tag: &str, text: &str) -> Option<Element> {
        let element = document().create_element(tag).ok()?;
        if !text.is_empty() {
            element.set_text_content(Some(text));
        }
        parent.append_child(&element).ok()?;
        Some(element)
    }

    fn show_remove_error(e: &AppError) {
        set_text("remove-member-error", &e.to_string());
        set_hidden("remove-member-error", false);
    }

    fn remove_member() {
        let Some(dialog) = remove_dialog() else {
            return;
        };
        let org = dialog.get_attribute("data-org").unwrap_or_default();
        let user = dialog.get_attribute("data-user").unwrap_or_default();
        let handover = if by_id("handover-transfer")
            .and_then(|r| r.dyn_into::<web_sys::HtmlInputElement>().ok())
            .is_some_and(|r| r.checked())
        {
            "transfer"
        } else {
            "revoke"
        };
        set_hidden("remove-member-error", true);
        let _ = by_id("remove-member-go").map(|b| {
            b.set_text_content(Some("Removing…"));
            b.set_attribute("disabled", "")
        });
        spawn_local(async move {
            let args = [
                ("org_id", org.as_str()),
                ("user_id", &user),
                ("keys", handover),
            ];
            let result = call(RemoveMember::PATH, &args).await;
            let _ = by_id("remove-member-go").map(|b| {
                b.set_text_content(Some("Remove member"));
                b.remove_attribute("disabled")
            });
            match result {
                Ok(_) => {
                    dialog.close();
                    let row = document()
                        .query_selector(&format!("button[data-remove-member='{user}']"))
                        .ok()
                        .flatten()
                        .and_then(|b| b.closest("tr").ok().flatten());
                    if let Some(row) = row {
                        row.remove();
                    }
                    // The row and its button are gone: focus goes to the table's heading.
                    focus_by_id("members-title");
                }
                Err(e) => show_remove_error(&e),
            }
        });
    }
}
