//! The browser's whole vocabulary: generic behaviours on the server's markup, keyed by
//! the data attributes of [`crate::hooks`]. Every page works without them (its forms are
//! plain forms the server answers with a page); with them:
//!
//! - every `POST` form is **submitted in place**: sent as the browser would send it, and
//!   the page the server answers with (the same page with the refusal beside its field,
//!   or the page the form leads to) replaces the site header and `<main>`; the address
//!   bar follows, and focus goes to the refused field, the form's [`FOCUS_AFTER`], or
//!   back to the control that had it;
//! - a link or GET form with [`DIALOG`] **opens a dialog** with the target page's
//!   [`DIALOG_PART`] (a key action's confirmation), or a `<dialog>` already on the page;
//!   a form in it that is refused comes back into it, one that is accepted closes it;
//! - something the answer shows once ([`SHOW_MODAL`], a created key) opens in the page
//!   dialog, which cannot be closed before Copy without "Close anyway?" ([`ASK`]);
//! - [`COPY`] copies, [`SUBMIT_ON_CHANGE`] submits, [`REFRESH_IN`] refreshes a part,
//!   [`CLEAN_GET`] keeps blank filters out of the URL.
//!
//! Page-specific code stays beside its markup: `keys::dialogs::preview_expiry` only.

use std::cell::RefCell;

use leptos::prelude::{document, set_timeout};
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Document, Element, Event, HtmlDialogElement, HtmlElement, HtmlFormElement};

use crate::dom::{by_id, closest, copy_and_say, listen, target};
use crate::hooks::{
    ASK, CLEAN_GET, COPIED, COPY, DIALOG, DIALOG_PART, DIALOG_SOURCE, EXPIRY_PREVIEW, FOCUS_AFTER,
    FORM_ALERT, HYDRATED, KEEP, LIVE, MAIN, PAGE_DIALOG, PATH, REFRESH_IN, SCRIPTED, SENDING,
    SHOW_MODAL, SUBMIT_ON_CHANGE, TZ_OFFSET, UNLESS_COPIED, UNSCRIPTED,
};
use crate::navigation::go_to;

thread_local! {
    /// The control that opened the dialog now open: focus goes back to it (or to its
    /// successor, after a swap) when the dialog closes.
    static OPENER: RefCell<Option<Element>> = const { RefCell::new(None) };
    /// The address of the page shown (path and query): another one in the address bar
    /// (Back, Forward) is loaded.
    static SHOWN: RefCell<String> = const { RefCell::new(String::new()) };
}

fn attr(name: &str) -> String {
    format!("[{name}]")
}

pub fn attach() {
    let doc = document();
    listen(&doc, "click", on_click);
    listen(&doc, "submit", on_submit);
    listen(&doc, "change", on_change);
    listen(&doc, "input", |ev| {
        if let Some(form) = closest(&ev, "form") {
            preview(&form);
        }
    });
    // Dialogs' own events do not bubble: caught on the way down.
    let capture = web_sys::AddEventListenerOptions::new();
    capture.set_capture(true);
    for (event, handler) in [("cancel", on_cancel as fn(Event)), ("close", on_close)] {
        let closure = wasm_bindgen::closure::Closure::<dyn FnMut(Event)>::new(handler);
        let _ = doc.add_event_listener_with_callback_and_add_event_listener_options(
            event,
            closure.as_ref().unchecked_ref(),
            &capture,
        );
        closure.forget();
    }
    if let Some(window) = web_sys::window() {
        // Back or Forward over a swap: that page is loaded (a jump within the page is not).
        listen(&window, "popstate", |_| {
            if SHOWN.with(|s| !same_url(&s.borrow(), &current_url())) {
                let _ = web_sys::window().map(|w| w.location().reload());
            }
        });
    }
    own_url(&doc);
    SHOWN.with(|s| *s.borrow_mut() = current_url());
    settle();
    if let Some(body) = doc.body() {
        let _ = body.set_attribute(HYDRATED, "true");
    }
}

/// What every new content needs once shown: [`enliven`], and something shown once
/// opened in the page dialog.
fn settle() {
    enliven();
    if let Ok(Some(shown)) = document().query_selector(&attr(SHOW_MODAL)) {
        let _ = shown.remove_attribute(SHOW_MODAL);
        show_in_page_dialog(&shown, None);
    }
}

/// Controls enabled, script-less parts gone and scripted ones shown, refreshes planned.
fn enliven() {
    for e in all(&attr(LIVE)) {
        let _ = e.remove_attribute("disabled");
    }
    for e in all(&attr(UNSCRIPTED)) {
        e.remove();
    }
    for e in all(&attr(SCRIPTED)) {
        let _ = e.remove_attribute("hidden");
    }
    for e in all(&attr(REFRESH_IN)) {
        plan_refresh(&e);
    }
}

/// Shows `part` in the page dialog, named by its heading; `source`: the page it came
/// from, where a refused form in it comes back to.
fn show_in_page_dialog(part: &Element, source: Option<&str>) {
    let Some(dialog) = page_dialog() else {
        return;
    };
    dialog.replace_children_with_node_1(part);
    enliven();
    match source {
        Some(source) => dialog.set_attribute(DIALOG_SOURCE, source),
        None => dialog.remove_attribute(DIALOG_SOURCE),
    }
    .ok();
    if let Ok(Some(heading)) = part.query_selector("h1, h2") {
        let name = heading.text_content().unwrap_or_default();
        let _ = dialog.set_attribute("aria-label", name.trim());
    }
    if !dialog.open() {
        let _ = dialog.show_modal();
    }
    focus_first(&dialog);
}

/// Every element of the page matching `selector`.
fn all(selector: &str) -> Vec<Element> {
    document()
        .document_element()
        .map(|root| all_in(&root, selector))
        .unwrap_or_default()
}

fn page_dialog() -> Option<HtmlDialogElement> {
    by_id(PAGE_DIALOG).and_then(|d| d.dyn_into().ok())
}

fn on_click(ev: Event) {
    if let Some(dialog) = target::<HtmlDialogElement>(&ev)
        && on_backdrop(&ev, &dialog)
    {
        // A click beside a dialog: as Escape.
        if !keeps_secret(&dialog) {
            dialog.close();
        }
    } else if let Some(button) = closest(&ev, &attr(COPY)) {
        copy(button);
    } else if let Some(keep) = closest(&ev, &attr(KEEP)) {
        ask(&keep, false);
    } else if let Some(link) = closest(&ev, &format!("a{}", attr(UNLESS_COPIED)))
        && !copied(&link)
    {
        ev.prevent_default();
        ask(&link, true);
    } else if let Some(link) = closest(&ev, &format!("a{}", attr(DIALOG))) {
        ev.prevent_default();
        let href = link.get_attribute("href").unwrap_or_default();
        open_dialog(href, link);
    } else if let Some(link) = closest(&ev, "dialog a[href]")
        && same_page(&link.get_attribute("href").unwrap_or_default())
        && let Some(dialog) = link.closest("dialog").ok().flatten()
        && let Ok(dialog) = dialog.dyn_into::<HtmlDialogElement>()
    {
        // A dialog's Cancel (or Done) leads back to the page under it: it just closes.
        ev.prevent_default();
        dialog.close();
    }
}

fn on_change(ev: Event) {
    if let Some(select) = closest(&ev, &attr(SUBMIT_ON_CHANGE))
        && let Some(form) = select.closest("form").ok().flatten()
        && let Ok(form) = form.dyn_into::<HtmlFormElement>()
    {
        let _ = form.request_submit();
    } else if let Some(form) = closest(&ev, "form") {
        preview(&form);
    }
}

/// A date and time in `form` (`input`): its offset from UTC goes in the form's
/// [`TZ_OFFSET`] field, so that the server reads the time the person meant.
fn set_offset(input: &web_sys::HtmlInputElement, form: &Element) {
    let Some(field) = form
        .query_selector(&attr(TZ_OFFSET))
        .ok()
        .flatten()
        .and_then(|f| f.dyn_into::<web_sys::HtmlInputElement>().ok())
    else {
        return;
    };
    let value = input.value();
    let at = web_sys::js_sys::Date::new(&value.as_str().into());
    let offset = at.get_timezone_offset();
    // A time a clock change skips comes back moved: the server says so.
    let shown = format!("{:02}:{:02}", at.get_hours(), at.get_minutes());
    let offset = if offset.is_nan() {
        String::new()
    } else if value.get(11..16) != Some(shown.as_str()) {
        "gap".to_owned()
    } else {
        offset.to_string()
    };
    field.set_value(&offset);
}

fn preview(form: &Element) {
    if let Ok(Some(line)) = form.query_selector(&attr(EXPIRY_PREVIEW)) {
        crate::keys::dialogs::preview_expiry(form, &line);
    }
}

fn on_submit(ev: Event) {
    let Some(form) = target::<HtmlFormElement>(&ev) else {
        return;
    };
    let submitter = ev
        .dyn_ref::<web_sys::SubmitEvent>()
        .and_then(|s| s.submitter());
    // Attributes, not the `action` and `method` properties: a control named `action` (a
    // row's buttons) stands in for those on a form element.
    let method = form.get_attribute("method").unwrap_or_default();
    if !method.eq_ignore_ascii_case("post") {
        if form.has_attribute(CLEAN_GET) {
            ev.prevent_default();
            go_to(&get_url(&form, None, true));
        } else if form.has_attribute(DIALOG) {
            ev.prevent_default();
            let opener = submitter
                .clone()
                .map(Element::from)
                .unwrap_or(form.clone().into());
            open_dialog(get_url(&form, submitter.as_ref(), false), opener);
        }
        return;
    }
    ev.prevent_default();
    if form.has_attribute("aria-busy") {
        return;
    }
    spawn_local(submit(form, submitter));
}

/// A GET form's URL; `clean`: without its blank fields.
fn get_url(form: &HtmlFormElement, submitter: Option<&HtmlElement>, clean: bool) -> String {
    let action = form.get_attribute("action").unwrap_or_default();
    let Some(query) = fields(form, submitter) else {
        return action;
    };
    if clean {
        for e in all_in(form, "[name]") {
            let name = e.get_attribute("name").unwrap_or_default();
            if query.get(&name).is_some_and(|v| v.trim().is_empty()) {
                query.delete(&name);
            }
        }
    }
    let query = String::from(query.to_string());
    if query.is_empty() {
        action
    } else {
        format!("{action}?{query}")
    }
}

/// A form's fields as the browser sends them, the button that sent it included.
fn fields(
    form: &HtmlFormElement,
    submitter: Option<&HtmlElement>,
) -> Option<web_sys::UrlSearchParams> {
    let data = web_sys::FormData::new_with_form(form).ok()?;
    let params = web_sys::UrlSearchParams::new_with_str_sequence_sequence(&data).ok()?;
    if let Some(button) = submitter
        && let Some(name) = button.get_attribute("name")
    {
        params.append(&name, &button.get_attribute("value").unwrap_or_default());
    }
    Some(params)
}

fn all_in(root: &Element, selector: &str) -> Vec<Element> {
    let Ok(list) = root.query_selector_all(selector) else {
        return Vec::new();
    };
    (0..list.length())
        .filter_map(|i| list.item(i).and_then(|n| n.dyn_into::<Element>().ok()))
        .collect()
}

/// Sends `form` as the browser would and shows the page that answers it.
async fn submit(form: HtmlFormElement, submitter: Option<HtmlElement>) {
    let dialog = form
        .closest("dialog")
        .ok()
        .flatten()
        .and_then(|d| d.dyn_into::<HtmlDialogElement>().ok());
    // Where a refusal comes back to: the dialog's page, or this one.
    let source = dialog
        .as_ref()
        .and_then(|d| d.get_attribute(DIALOG_SOURCE))
        .unwrap_or_else(current_url);
    // Times are read in the browser's time zone, as of when they are sent.
    for input in all_in(&form, "input[type=datetime-local]") {
        if let Ok(input) = input.dyn_into::<web_sys::HtmlInputElement>() {
            set_offset(&input, &form);
        }
    }
    let Some(body) = fields(&form, submitter.as_ref()) else {
        return unreachable(&form);
    };
    let button = submitter.or_else(|| {
        form.query_selector("button[type=submit]")
            .ok()
            .flatten()
            .and_then(|b| b.dyn_into().ok())
    });
    let label = button.as_ref().and_then(|b| b.text_content());
    let _ = form.set_attribute("aria-busy", "true");
    if let Some(b) = &button
        && let Some(sending) = b.get_attribute(SENDING)
    {
        b.set_text_content(Some(&sending));
    }
    let action = form.get_attribute("action").unwrap_or_else(current_url);
    let answer = fetch_page(&action, Some((&body, &source))).await;
    let _ = form.remove_attribute("aria-busy");
    if let Some(b) = &button {
        b.set_text_content(label.as_deref());
    }
    let Some((url, fresh)) = answer else {
        return unreachable(&form);
    };
    let focus_after = form.get_attribute(FOCUS_AFTER);
    if let Some(dialog) = dialog
        && same_url(&url, &source)
        && let (Ok(Some(part)), Some(old)) = (
            fresh.query_selector(&attr(DIALOG_PART)),
            dialog.query_selector(&attr(DIALOG_PART)).ok().flatten(),
        )
    {
        // Refused: the dialog's form again, with the refusal and what was typed.
        let _ = old.replace_with_with_node_1(&part);
        enliven();
        focus_first(&dialog);
        return;
    }
    if let Some(dialog) = page_dialog().filter(|d| d.open()) {
        dialog.close();
    }
    for d in all("dialog[open]") {
        if let Ok(d) = d.dyn_into::<HtmlDialogElement>() {
            d.close();
        }
    }
    swap(&fresh, &url, focus_after.as_deref());
}

/// The form's request failed (not the server): said in its alert, nothing changed.
fn unreachable(form: &HtmlFormElement) {
    if let Ok(Some(alert)) = form.query_selector(&attr(FORM_ALERT)) {
        alert.set_text_content(Some(
            "Keygate could not be reached. Check your connection and try again.",
        ));
        let _ = alert.remove_attribute("hidden");
    }
}

/// Puts the answer's header and `<main>` in place of ours, and its address in the bar.
fn swap(fresh: &Document, url: &str, focus_after: Option<&str>) {
    let doc = document();
    let before = doc.active_element();
    let (same_path, shown) = shown_url(fresh, url);
    for selector in ["header.site-header", &format!("#{MAIN}")] {
        if let (Ok(Some(new)), Ok(Some(old))) =
            (fresh.query_selector(selector), doc.query_selector(selector))
        {
            let _ = old.replace_with_with_node_1(&new);
        }
    }
    doc.set_title(&fresh.title());
    let token = format!("meta[name=\"{}\"]", crate::auth::csrf::META);
    if let (Ok(Some(new)), Ok(Some(old))) =
        (fresh.query_selector(&token), doc.query_selector(&token))
    {
        let _ = old.replace_with_with_node_1(&new);
    }
    if let Some(history) = web_sys::window().and_then(|w| w.history().ok())
        && !same_url(&shown, &current_url())
    {
        let _ = history.push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&shown));
    }
    SHOWN.with(|s| *s.borrow_mut() = current_url());
    if !same_path && let Some(window) = web_sys::window() {
        window.scroll_to_with_x_and_y(0.0, 0.0);
    }
    settle();
    if page_dialog().is_some_and(|d| d.open()) {
        return;
    }
    let main = by_id(MAIN);
    let target = main
        .as_ref()
        .and_then(|m| m.query_selector("[aria-invalid=true]").ok().flatten())
        .or_else(|| focus_after.and_then(by_id))
        .or_else(|| before.as_ref().and_then(successor))
        .or_else(|| main.and_then(|m| m.query_selector("h1").ok().flatten()));
    if let Some(target) = target {
        focus(&target);
    }
}

/// The address to show for an answer at `url`: its page's own path when it is a server
/// function's answer (`/rpc/...`), and whether it is this page's path.
fn shown_url(fresh: &Document, url: &str) -> (bool, String) {
    let parsed = web_sys::Url::new(url).ok();
    let path = parsed.as_ref().map(|u| u.pathname()).unwrap_or_default();
    let shown = if path.starts_with("/rpc/") {
        fresh
            .get_element_by_id(MAIN)
            .and_then(|m| m.get_attribute(PATH))
            .unwrap_or_else(current_url)
    } else {
        parsed
            .map(|u| format!("{}{}", u.pathname(), u.search()))
            .unwrap_or_else(current_url)
    };
    let here = web_sys::window()
        .and_then(|w| w.location().pathname().ok())
        .unwrap_or_default();
    let same =
        web_sys::Url::new_with_base(&shown, &current_url()).is_ok_and(|u| u.pathname() == here);
    (same, shown)
}

/// The element that took `old`'s place in a swap: same id, or same label.
fn successor(old: &Element) -> Option<Element> {
    if old.is_connected() {
        return Some(old.clone());
    }
    if !old.id().is_empty() {
        return by_id(&old.id());
    }
    let label = old.get_attribute("aria-label")?;
    let selector = format!(
        "{}[aria-label=\"{}\"]",
        old.tag_name(),
        label.replace('"', "\\\"")
    );
    document().query_selector(&selector).ok().flatten()
}

fn focus(element: &Element) {
    if let Some(e) = element.dyn_ref::<HtmlElement>() {
        let _ = e.focus();
    }
}

/// Focus in a dialog: its refused field, its `autofocus`, or its first field.
fn focus_first(dialog: &Element) {
    let target = [
        "[aria-invalid=true]",
        "[autofocus]",
        "input, select, textarea, button, a[href]",
    ]
    .iter()
    .find_map(|s| dialog.query_selector(s).ok().flatten());
    if let Some(target) = target {
        focus(&target);
    }
}

fn current_url() -> String {
    web_sys::window()
        .and_then(|w| w.location().href().ok())
        .unwrap_or_default()
}

fn same_url(a: &str, b: &str) -> bool {
    let base = current_url();
    let key = |u: &str| {
        web_sys::Url::new_with_base(u, &base)
            .map(|u| format!("{}{}", u.pathname(), u.search()))
            .ok()
    };
    key(a).is_some() && key(a) == key(b)
}

fn same_page(href: &str) -> bool {
    let here = web_sys::window().and_then(|w| w.location().pathname().ok());
    web_sys::Url::new_with_base(href, &current_url())
        .ok()
        .map(|u| u.pathname())
        == here
}

/// Opens the page at `href`'s [`DIALOG_PART`] in a dialog; `opener` gets focus back.
fn open_dialog(href: String, opener: Element) {
    OPENER.with(|o| *o.borrow_mut() = Some(opener.clone()));
    // A dialog already on the page, holding that part: at once.
    if let Some(id) = opener.get_attribute(DIALOG).filter(|id| !id.is_empty())
        && let Some(dialog) = by_id(&id).and_then(|d| d.dyn_into::<HtmlDialogElement>().ok())
    {
        let _ = dialog.set_attribute(DIALOG_SOURCE, &href);
        let _ = dialog.show_modal();
        return focus_first(&dialog);
    }
    spawn_local(async move {
        let part = fetch_page(&href, None).await.and_then(|(url, fresh)| {
            let part = fresh.query_selector(&attr(DIALOG_PART)).ok().flatten()?;
            Some((url, part))
        });
        let Some((url, part)) = part else {
            // Not a part to show (an error page, no connection): the page itself.
            return go_to(&href);
        };
        show_in_page_dialog(&part, Some(&url));
    });
}

/// Escape on a dialog showing a secret not yet copied asks first.
fn on_cancel(ev: Event) {
    if let Some(dialog) = target::<Element>(&ev)
        && keeps_secret(&dialog)
    {
        ev.prevent_default();
    }
}

/// Whether `dialog` shows a secret not copied yet: then it stays, and asks.
fn keeps_secret(dialog: &Element) -> bool {
    let Ok(Some(reveal)) = dialog.query_selector(".reveal") else {
        return false;
    };
    let keep = !reveal.has_attribute(COPIED);
    if keep {
        ask(&reveal, true);
    }
    keep
}

/// Whether a click on a dialog landed outside its box (on the backdrop).
fn on_backdrop(ev: &Event, dialog: &Element) -> bool {
    let Some(click) = ev.dyn_ref::<web_sys::MouseEvent>() else {
        return false;
    };
    let (x, y) = (f64::from(click.client_x()), f64::from(click.client_y()));
    let r = dialog.get_bounding_client_rect();
    // A key press on a button inside comes as a click at (0, 0) on that button, never
    // on the dialog itself.
    x < r.left() || x > r.right() || y < r.top() || y > r.bottom()
}

/// A closed dialog: the page dialog empties (a secret leaves the page), focus goes back
/// to what opened it. The event comes after the fact: a dialog opened again since (the
/// answer's secret shown in it) stays as it is.
fn on_close(ev: Event) {
    let Some(dialog) = target::<HtmlDialogElement>(&ev) else {
        return;
    };
    if dialog.open() {
        return;
    }
    if dialog.id() == PAGE_DIALOG {
        dialog.replace_children_with_node_0();
    }
    if all("dialog[open]").is_empty()
        && let Some(opener) = OPENER.with(|o| o.borrow_mut().take())
        && let Some(opener) = successor(&opener)
    {
        focus(&opener);
    }
}

/// The question before leaving a secret not copied: shown (`ask`) or put away.
fn ask(inside: &Element, ask: bool) {
    let Some(reveal) = inside.closest(".reveal").ok().flatten() else {
        return;
    };
    if let Ok(Some(question)) = reveal.query_selector(&attr(ASK)) {
        let _ = question.toggle_attribute_with_force("hidden", !ask);
        if ask && let Ok(Some(keep)) = question.query_selector(&attr(KEEP)) {
            focus(&keep);
        }
    }
}

/// Whether a link out of a reveal may be followed: its secret was copied, or the link
/// is the question's own "Close anyway".
fn copied(link: &Element) -> bool {
    link.closest(&attr(ASK)).ok().flatten().is_some()
        || link
            .closest(".reveal")
            .ok()
            .flatten()
            .is_none_or(|reveal| reveal.has_attribute(COPIED))
}

fn copy(button: Element) {
    if let Ok(Some(reveal)) = button.closest(".reveal") {
        let _ = reveal.set_attribute(COPIED, "");
    }
    let text = button.get_attribute(COPY).unwrap_or_default();
    let status = button
        .parent_element()
        .and_then(|p| p.query_selector(".copy-status").ok().flatten());
    spawn_local(async move {
        copy_and_say(&text, button, status).await;
    });
}

/// In `seconds` (its [`REFRESH_IN`]), the server's current version of `part` replaces it.
fn plan_refresh(part: &Element) {
    let seconds = part
        .get_attribute(REFRESH_IN)
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    let id = part.id();
    if seconds == 0 || id.is_empty() {
        return;
    }
    // Planned once per element: a refreshed part plans its own.
    let _ = part.remove_attribute(REFRESH_IN);
    set_timeout(
        move || {
            spawn_local(async move {
                let Some((_, fresh)) = fetch_page(&current_url(), None).await else {
                    return;
                };
                if let (Some(new), Some(old)) = (fresh.get_element_by_id(&id), by_id(&id)) {
                    let _ = old.replace_with_with_node_1(&new);
                    if new.has_attribute(REFRESH_IN) {
                        plan_refresh(&new);
                    }
                }
            });
        },
        std::time::Duration::from_secs(seconds),
    );
}

/// A page of this server: `GET`, or a form `POST` (`body`, sent from page `from`) whose
/// redirects are followed. Returns the final URL and the page; `None` when the request
/// failed or the answer is not a page.
async fn fetch_page(
    url: &str,
    post: Option<(&web_sys::UrlSearchParams, &str)>,
) -> Option<(String, Document)> {
    let window = web_sys::window()?;
    let headers = web_sys::Headers::new().ok()?;
    let _ = headers.set("accept", "text/html");
    let init = web_sys::RequestInit::new();
    if let Some((body, from)) = post {
        let _ = headers.set("content-type", "application/x-www-form-urlencoded");
        init.set_method("POST");
        init.set_body(&body.to_string().into());
        init.set_referrer(from);
    }
    init.set_headers(&headers);
    let response = JsFuture::from(window.fetch_with_str_and_init(url, &init))
        .await
        .ok()?
        .dyn_into::<web_sys::Response>()
        .ok()?;
    let is_html = response
        .headers()
        .get("content-type")
        .ok()
        .flatten()
        .is_some_and(|t| t.starts_with("text/html"));
    if !is_html {
        return None;
    }
    let text = JsFuture::from(response.text().ok()?)
        .await
        .ok()?
        .as_string()?;
    let parser = web_sys::DomParser::new().ok()?;
    let fresh = parser
        .parse_from_string(&text, web_sys::SupportedType::TextHtml)
        .ok()?;
    Some((response.url(), fresh))
}

/// A page that answers a form the browser posted (a created key's secret) is at the
/// server function's URL: the page's own path replaces it, so that a reload reads the
/// page rather than posting the form again.
fn own_url(doc: &Document) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let at_action = window
        .location()
        .pathname()
        .is_ok_and(|p| p.starts_with("/rpc/"));
    let path = doc
        .get_element_by_id(MAIN)
        .and_then(|main| main.get_attribute(PATH));
    if let (true, Some(path), Ok(history)) = (at_action, path, window.history()) {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&path));
    }
}
