//! The behaviour every page shares, on the server's markup: one island at the end of the
//! body ([`PageScript`]) that, once every island before it is live, listens for clicks and
//! changes on the whole document and acts on elements by their data attributes:
//!
//! - `button[data-copy=TEXT]`: copies TEXT and says so in its `.copy-status` sibling;
//! - `a[data-unless-copied=QUESTION]`: leaves a secret shown once (`.reveal`) only once
//!   it was copied, or when the person answers QUESTION yes;
//! - `select[data-org-switch=SECTION]`: opens that settings section of the chosen org;
//! - `[data-unscripted]`: hidden (needed only without script, like a GET form's button);
//! - `form[data-clean-get]`: a GET form whose blank fields stay out of the URL;
//! - `select[data-member-role=USER]`: changes a member's role at once.
//!
//! A page that answers a form the browser posted (at `/rpc/...`) gets its own path in
//! the address bar (`main[data-path]`). Controls with `data-live` are rendered disabled
//! and enabled here. Then the body is
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
    use web_sys::{Element, HtmlFormElement, HtmlSelectElement};

    use crate::dom::{by_id, call, closest, copy_and_say, enable, listen};
    use crate::navigation::{focus_by_id, go_to, reload, take_focus_after_reload};
    use crate::orgs::ChangeMemberRole;

    pub(super) fn attach() {
        let doc = document();
        listen(&doc, "click", |ev| {
            if let Some(button) = closest(&ev, "button[data-copy]") {
                copy(button);
            } else if let Some(link) = closest(&ev, "a[data-unless-copied]")
                && !leave_uncopied(&link)
            {
                ev.prevent_default();
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
        own_url();
        enable("[data-live]");
        hide_unscripted();
        if let Some(id) = take_focus_after_reload() {
            // On the next frame: every control is enabled by then.
            request_animation_frame(move || focus_by_id(&id));
        }
        if let Some(body) = doc.body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    }

    /// A page that answers a form the browser posted (a created key's secret) is at the
    /// server function's URL: the page's own path replaces it, so that a reload reads the
    /// page rather than posting the form again.
    fn own_url() {
        let Some(window) = web_sys::window() else {
            return;
        };
        let at_action = window
            .location()
            .pathname()
            .is_ok_and(|p| p.starts_with("/rpc/"));
        let path = by_id("main").and_then(|main| main.get_attribute("data-path"));
        if let (true, Some(path), Ok(history)) = (at_action, path, window.history()) {
            let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&path));
        }
    }

    /// What only a page without script needs (a GET form's submit button, where the
    /// script acts on change) goes once the script is live.
    fn hide_unscripted() {
        if let Ok(all) = document().query_selector_all("[data-unscripted]") {
            for i in 0..all.length() {
                if let Some(e) = all.item(i).and_then(|n| n.dyn_into::<Element>().ok()) {
                    let _ = e.toggle_attribute_with_force("hidden", true);
                }
            }
        }
    }

    fn copy(button: Element) {
        // A secret shown once may now be left (`leave_uncopied`).
        if let Ok(Some(reveal)) = button.closest(".reveal") {
            let _ = reveal.set_attribute("data-copied", "");
        }
        let text = button.get_attribute("data-copy").unwrap_or_default();
        let status = button
            .parent_element()
            .and_then(|p| p.query_selector(".copy-status").ok().flatten());
        spawn_local(async move {
            copy_and_say(&text, button, status).await;
        });
    }

    /// Whether to follow a link away from a secret shown once: yes once it was copied,
    /// else if the person says so to its question (`data-unless-copied`).
    fn leave_uncopied(link: &Element) -> bool {
        let copied = link
            .closest(".reveal")
            .ok()
            .flatten()
            .is_none_or(|reveal| reveal.has_attribute("data-copied"));
        let question = link.get_attribute("data-unless-copied").unwrap_or_default();
        copied
            || web_sys::window()
                .and_then(|w| w.confirm_with_message(&question).ok())
                .unwrap_or(true)
    }

    fn switch_org(select: &Element) {
        let Ok(select) = select.clone().dyn_into::<HtmlSelectElement>() else {
            return;
        };
        let section = select.get_attribute("data-org-switch").unwrap_or_default();
        if let Some(target) = crate::orgs::ui::switch_target(&select.value(), &section) {
            go_to(&target);
        }
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
}
