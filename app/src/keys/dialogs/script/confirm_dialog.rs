//! The confirm dialog (roll, end overlap, pause, shorten, revoke) and the row buttons
//! that open it; resume needs no confirmation.

use leptos::prelude::document;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlElement, HtmlInputElement, HtmlSelectElement};

use leptos::server_fn::ServerFn;

use crate::dom::{by_id, call, checked, set_busy, set_hidden, set_text, value};

use crate::calendar;
use crate::keys::confirm::{KeyAction as Confirm, KeyTarget, hint_after};
use crate::keys::{
    EndKeyOverlap, OVERLAP_CHOICES, PauseApiKey, ResumeApiKey, RevokeApiKey, RollApiKey,
    ShortenApiKey, format,
};
use crate::navigation::leaving;

use super::{Shared, close, closed, dialog, reset_create, reveal, revealed};

/// The key a row's button is about, as its cell carries it.
#[derive(Clone, Default)]
pub(super) struct Target {
    id: String,
    key: KeyTarget,
}

/// The end of a pause chosen in the dialog, as RFC 3339 (`None`: until resumed). A
/// date and time (`2027-01-31T09:30`) is the browser's local time.
fn pause_end(choice: &str, local: &str) -> Result<Option<String>, String> {
    use web_sys::js_sys::Date as JsDate;
    let now = calendar::now();
    let at = match choice {
        "resume" => return Ok(None),
        "until" => {
            let pick = || "Pick a date and time.".to_owned();
            let (date, time) = local.trim().split_once('T').ok_or_else(pick)?;
            let date = calendar::Date::parse(date).ok_or_else(pick)?;
            let two_digits = |part: &str, below: u32| {
                (part.len() == 2 && part.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| part.parse::<u32>().ok())
                    .flatten()
                    .filter(|n| *n < below)
            };
            let (hours, minutes) = time.split_once(':').ok_or_else(pick)?;
            let (hours, minutes) = (
                two_digits(hours, 24).ok_or_else(pick)?,
                two_digits(minutes, 60).ok_or_else(pick)?,
            );
            let at = JsDate::new_with_year_month_day_hr_min(
                u32::try_from(date.year).map_err(|_| pick())?,
                date.month as i32 - 1,
                date.day as i32,
                hours as i32,
                minutes as i32,
            );
            // A time that a clock change skips comes back moved by the browser.
            if (at.get_date(), at.get_hours(), at.get_minutes()) != (date.day, hours, minutes) {
                return Err("That time does not exist in your time zone.".into());
            }
            (at.get_time() / 1000.0).floor() as i64
        }
        seconds => {
            let seconds = seconds
                .parse::<i64>()
                .map_err(|_| "Choose how long to pause.".to_owned())?;
            now.saturating_add(seconds)
        }
    };
    if at <= now {
        return Err("Pick a time in the future.".into());
    }
    let at = JsDate::new(&wasm_bindgen::JsValue::from_f64(at as f64 * 1000.0));
    Ok(Some(String::from(at.to_iso_string())))
}

/// A row's button: resume at once, anything else asks first.
pub(super) fn row_action(page: &Shared, button: &Element) {
    if page.busy.get() {
        return;
    }
    let Some(cell) = button.closest("[data-key]").ok().flatten() else {
        return;
    };
    let data = |name: &str| cell.get_attribute(name);
    let target = Target {
        id: data("data-key").unwrap_or_default(),
        key: KeyTarget {
            name: data("data-name").unwrap_or_default(),
            hint: data("data-hint").unwrap_or_default(),
            rolling_hint: data("data-rolling-hint"),
            shorten: data("data-shorten"),
        },
    };
    let action = button.get_attribute("data-action").unwrap_or_default();
    let Some(kind) = Confirm::parse(&action) else {
        return;
    };
    if kind == Confirm::Resume {
        return resume(page, cell, button.clone(), target);
    }
    set_text("confirm-title", &target.key.title(kind));
    set_text("confirm-body", &target.key.body(kind));
    set_hidden("overlap-choices", kind != Confirm::Roll);
    if let Some(zero) = by_id("overlap-0").and_then(|e| e.dyn_into::<HtmlInputElement>().ok()) {
        zero.set_checked(true);
    }
    let older = target
        .key
        .rolling_hint
        .as_deref()
        .filter(|_| kind == Confirm::Roll)
        .map(|hint| {
            format!(
                "This key is already rolling: its older secret{} stops now, when you roll it again.",
                hint_after(hint)
            )
        });
    set_text("ends-older-overlap", older.as_deref().unwrap_or_default());
    set_hidden("ends-older-overlap", older.is_none());
    set_hidden("pause-fields", kind != Confirm::Pause);
    if let Some(select) = by_id("pause-for").and_then(|e| e.dyn_into::<HtmlSelectElement>().ok()) {
        select.set_value("resume");
    }
    if let Some(input) = by_id("pause-until").and_then(|e| e.dyn_into::<HtmlInputElement>().ok()) {
        input.set_value("");
    }
    set_hidden("pause-until-field", true);
    set_text("pause-error", "");
    set_hidden("confirm-alert", true);
    let go = kind.labels().0;
    set_busy("confirm-go", false, go);
    if let Some(button) = by_id("confirm-go") {
        let class = if kind == Confirm::Revoke {
            "btn btn-danger"
        } else {
            "btn btn-primary"
        };
        let _ = button.set_attribute("class", class);
    }
    page.confirm.replace(Some((target, kind)));
    if let Some(d) = dialog("confirm-dialog") {
        // Focus goes to Cancel (`autofocus`): nothing happens by a stray Enter.
        let _ = d.show_modal();
    }
}

pub(super) fn confirm(page: &Shared) {
    let Some((target, kind)) = page.confirm.borrow().clone() else {
        return;
    };
    if page.busy.get() {
        return;
    }
    let until = if kind == Confirm::Pause {
        match pause_end(&value("pause-for"), &value("pause-until")) {
            Ok(until) => until,
            Err(message) => return set_text("pause-error", &message),
        }
    } else {
        None
    };
    set_text("pause-error", "");
    set_hidden("confirm-alert", true);
    let overlap = OVERLAP_CHOICES
        .iter()
        .map(|(seconds, _)| *seconds)
        .find(|seconds| checked(&format!("overlap-{seconds}")))
        .unwrap_or(0);
    page.busy.set(true);
    let (idle, sending) = kind.labels();
    set_busy("confirm-go", true, sending);
    let page = page.clone();
    spawn_local(async move {
        let key = [
            ("org_id", page.org_id.as_str()),
            ("key_id", target.id.as_str()),
        ];
        let overlap = overlap.to_string();
        let result = match kind {
            Confirm::Revoke => call(RevokeApiKey::PATH, &key).await.map(|_| None),
            Confirm::Roll => {
                let args = [key[0], key[1], ("overlap_seconds", overlap.as_str())];
                call(RollApiKey::PATH, &args)
                    .await
                    .and_then(|answer| revealed(&answer))
                    .map(Some)
            }
            Confirm::Pause => {
                let mut args = key.to_vec();
                if let Some(until) = &until {
                    args.push(("until", until));
                }
                call(PauseApiKey::PATH, &args).await.map(|_| None)
            }
            Confirm::EndOverlap => call(EndKeyOverlap::PATH, &key).await.map(|_| None),
            Confirm::Shorten => call(ShortenApiKey::PATH, &key).await.map(|_| None),
            Confirm::Resume => call(ResumeApiKey::PATH, &key).await.map(|_| None),
        };
        page.busy.set(false);
        set_busy("confirm-go", false, idle);
        match result {
            Ok(rolled) => {
                page.changed.set(true);
                let rolled = rolled.filter(|c| format::check(&c.secret).is_ok());
                if rolled.is_none() {
                    leaving();
                }
                close("confirm-dialog");
                if let Some(created) = rolled {
                    reset_create();
                    reveal(&page, created);
                }
            }
            Err(e) => {
                set_text("confirm-alert", &e.to_string());
                set_hidden("confirm-alert", false);
            }
        }
    });
}

fn resume(page: &Shared, cell: Element, button: Element, target: Target) {
    page.busy.set(true);
    let _ = button.set_attribute("disabled", "");
    let page = page.clone();
    spawn_local(async move {
        let args = [
            ("org_id", page.org_id.as_str()),
            ("key_id", target.id.as_str()),
        ];
        let result = call(ResumeApiKey::PATH, &args).await;
        page.busy.set(false);
        let _ = button.remove_attribute("disabled");
        match result {
            Ok(_) => {
                page.changed.set(true);
                closed(&page);
            }
            Err(e) => {
                let note = match cell.query_selector(".field-error").ok().flatten() {
                    Some(note) => note,
                    None => {
                        let Ok(note) = document().create_element("span") else {
                            return;
                        };
                        let _ = note.set_attribute("class", "field-error");
                        let _ = note.set_attribute("role", "alert");
                        let _ = cell.append_child(&note);
                        note
                    }
                };
                note.set_text_content(Some(&e.to_string()));
                if let Ok(b) = button.dyn_into::<HtmlElement>() {
                    let _ = b.focus();
                }
            }
        }
    });
}
