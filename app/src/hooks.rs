//! The names the pages' markup and the browser's behaviours (`behaviours`) share: the
//! data attributes that ask for a behaviour and the few element ids the behaviours look
//! up. Browser-safe (no server code): views and browser code both read them from here, so
//! renaming one renames it on both sides. Views write an attribute with
//! [`hook`](crate::hooks::hook) (`{..hook(DIALOG, "")}`), never as a literal name.

use leptos::attr::custom::{CustomAttr, custom_attribute};

/// The page's `<main>`: what a submit in place replaces, with the site header.
pub const MAIN: &str = "main";

/// The shared dialog that shows a part of another page (a key action's confirmation) or
/// something shown once (a created key): outside `<main>`, so a swap leaves it open.
pub const PAGE_DIALOG: &str = "page-dialog";

/// On a link, or on a GET form's submit: open the target page's [`DIALOG_PART`] in a
/// dialog instead of going there. With a value, the id of a `<dialog>` already on the
/// page that holds that part (opened at once, no request).
pub const DIALOG: &str = "data-dialog";

/// The part of a page that a dialog shows (the page's form, with its heading).
pub const DIALOG_PART: &str = "data-dialog-part";

/// On a `<dialog>`: the page its part came from, where a refused form comes back to.
pub const DIALOG_SOURCE: &str = "data-source";

/// On something shown once (a new key's secret): shown in the page dialog with script.
pub const SHOW_MODAL: &str = "data-show-modal";

/// On a button: copies the attribute's value, and says so in its `.copy-status` sibling.
pub const COPY: &str = "data-copy";

/// On a `.reveal` once its secret was copied.
pub const COPIED: &str = "data-copied";

/// On a link out of a `.reveal`: followed only once the secret was copied, otherwise
/// the reveal's [`ASK`] question shows first.
pub const UNLESS_COPIED: &str = "data-unless-copied";

/// The reveal's hidden "Close anyway?" question.
pub const ASK: &str = "data-ask";

/// On the question's button that keeps the secret shown.
pub const KEEP: &str = "data-keep";

/// On a select: a change submits its form.
pub const SUBMIT_ON_CHANGE: &str = "data-submit-on-change";

/// On an element with an id: the server's current version of it replaces it after this
/// many seconds (a delivery due soon).
pub const REFRESH_IN: &str = "data-refresh-in";

/// Needed only without script (a GET form's button where a change submits): removed.
pub const UNSCRIPTED: &str = "data-unscripted";

/// True only with script (a time read in the browser's time zone): hidden until live.
pub const SCRIPTED: &str = "data-scripted";

/// On a GET form: its blank fields stay out of the URL.
pub const CLEAN_GET: &str = "data-clean-get";

/// On a control that only the script can run (a Copy button): rendered disabled,
/// enabled once live.
pub const LIVE: &str = "data-live";

/// On a submit button: its label while its form is being sent.
pub const SENDING: &str = "data-sending";

/// In a form: where an error that belongs to none of its fields is shown.
pub const FORM_ALERT: &str = "data-form-alert";

/// On a form: the id of the element to focus once its answer is shown.
pub const FOCUS_AFTER: &str = "data-focus-after";

/// On `<main>`: the page's own path, for an answer rendered at a server function's URL.
pub const PATH: &str = "data-path";

/// On `<body>` once the script is live (tests wait for it).
pub const HYDRATED: &str = "data-hydrated";

/// On the create form: the line that says when the chosen expiry ends.
pub const EXPIRY_PREVIEW: &str = "data-expiry-preview";

/// On a hidden input beside a `datetime-local` field: the browser's offset from UTC at
/// the time picked (JavaScript's `getTimezoneOffset`, minutes), filled by the script.
pub const TZ_OFFSET: &str = "data-tz-offset";

/// A data attribute from this module, for a view: `{..hook(COPY, text)}`.
pub fn hook<V>(name: &'static str, value: V) -> CustomAttr<&'static str, V>
where
    V: leptos::attr::AttributeValue,
{
    custom_attribute(name, value)
}
