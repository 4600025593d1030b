//! What a form posted without script gets back when the server refuses it: the refusal
//! and what was typed, kept in a short-lived signed cookie across the redirect to the
//! form's page and shown there once, beside the field it names (the server's side is
//! `server::plain_forms`). With script, [`crate::components::ServerForm`] submits in
//! place and shows the same errors without a page load.
//!
//! A success whose page must show something that may travel nowhere else (a created or
//! rolled key's secret, shown once) is answered with that page itself: see [`Outcome`].

use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Flash {
    /// The server function's path: which form on the page it belongs to.
    pub action: String,
    /// What was typed, but for [`kept`]'s exceptions.
    pub values: Vec<(String, String)>,
    /// The refusal; none when the form was accepted, and its page then shows the form's
    /// note ([`crate::components::FormNote`]).
    pub error: Option<AppError>,
}

impl Flash {
    /// The refusal's message for `field`, when it names that field.
    pub fn field_message(&self, field: &str) -> Option<String> {
        self.error.as_ref()?.field_message(field)
    }

    /// The refusal, said in full.
    pub fn message(&self) -> Option<String> {
        self.error.as_ref().map(ToString::to_string)
    }

    pub fn value(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Whether a posted field's value may be kept for the form shown again: never a password
/// or the CSRF token (a password is typed again, as GitHub and Stripe ask).
pub fn kept(name: &str) -> bool {
    !name.contains("password") && name != crate::auth::csrf::FIELD
}

/// Which form the components inside a [`crate::components::ServerForm`] belong to.
#[derive(Clone, Copy, Debug)]
pub struct FormAction(pub &'static str);

/// The refusal of the form posting to `action`, when the page being rendered is the
/// answer to one.
pub fn for_form(action: &str) -> Option<Flash> {
    #[cfg(feature = "ssr")]
    {
        let parts = leptos::prelude::use_context::<http::request::Parts>()?;
        parts
            .extensions
            .get::<Flash>()
            .filter(|flash| flash.action == action)
            .cloned()
    }
    #[cfg(not(feature = "ssr"))]
    {
        let _ = action;
        None
    }
}

/// The refusal of the form the calling component is inside, if any.
pub fn current() -> Option<Flash> {
    let action = leptos::prelude::use_context::<FormAction>()?;
    for_form(action.0)
}

/// What was typed in the field `name` of the form the calling component is inside, when
/// the page answers that form refused.
pub fn kept_value(name: &str) -> Option<String> {
    current()
        .filter(|f| f.error.is_some())
        .and_then(|f| f.value(name).map(str::to_owned))
}

/// The refusal naming `field`, for its error line, in the form the calling component is
/// inside; the field is then one the form shows (see [`ShownFields`]).
pub fn field_error(field: &str) -> Option<String> {
    shown(field);
    current()?.field_message(field)
}

/// `aria-invalid` for `field` of the form the calling component is inside.
pub fn invalid(field: &str) -> &'static str {
    if current().and_then(|f| f.field_message(field)).is_some() {
        "true"
    } else {
        "false"
    }
}

/// Whether the page answers the calling component's form accepted, posted without script.
pub fn saved() -> bool {
    current().is_some_and(|f| f.error.is_none())
}

/// The fields a [`crate::components::ServerForm`] has rendered so far, each with a line
/// of its own for a refusal: a refusal naming another field (or none) goes in the form's
/// alert instead, which comes after its fields.
#[derive(Clone, Default)]
pub struct ShownFields(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

/// Notes that the form the calling component is inside shows `name`'s refusals itself.
pub fn shown(name: &str) {
    if let Some(fields) = leptos::prelude::use_context::<ShownFields>()
        && let Ok(mut names) = fields.0.lock()
    {
        names.push(name.to_owned());
    }
}

/// The refusal for the form's alert: one that names no field the form has shown.
pub fn alert_message() -> Option<String> {
    let flash = current()?;
    let error = flash.error.as_ref()?;
    let field_shown = |field: &str| {
        leptos::prelude::use_context::<ShownFields>()
            .and_then(|fields| {
                fields
                    .0
                    .lock()
                    .ok()
                    .map(|names| names.iter().any(|n| n == field))
            })
            .unwrap_or(false)
    };
    match error {
        AppError::Invalid { field, .. } | AppError::Conflict { field, .. }
            if field_shown(field) =>
        {
            None
        }
        error => Some(error.to_string()),
    }
}

/// Where a server function posted as a plain form leaves what its answer must show: the
/// server (`server::plain_forms`) puts an empty one in the request, and when the server
/// function fills it with [`show_in_answer`], answers with the page the server function
/// sends the browser to, rendered at once with the value, rather than with a redirect.
/// A secret shown once never waits in a cookie, a URL or the database for a second
/// request (which might also reach another instance).
#[cfg(feature = "ssr")]
#[derive(Clone, Default)]
pub struct Outcome(std::sync::Arc<std::sync::Mutex<Option<http::Extensions>>>);

#[cfg(feature = "ssr")]
impl Outcome {
    /// What the page is rendered with: the server function's request extensions (its
    /// session and CSRF token) and the value, once the server function has given one.
    pub fn take(&self) -> Option<http::Extensions> {
        self.0.lock().ok()?.take()
    }
}

/// Shows `value` on the page that answers this server function, when it was posted as a
/// plain form; does nothing for the page's script, which reads the server function's
/// own answer.
#[cfg(feature = "ssr")]
pub fn show_in_answer<T: Clone + Send + Sync + 'static>(value: T) {
    let Some(parts) = leptos::prelude::use_context::<http::request::Parts>() else {
        return;
    };
    let Some(outcome) = parts.extensions.get::<Outcome>() else {
        return;
    };
    let mut extensions = parts.extensions.clone();
    // Not the slot itself: it would hold itself, and never be freed.
    extensions.remove::<Outcome>();
    extensions.insert(value);
    if let Ok(mut slot) = outcome.0.lock() {
        *slot = Some(extensions);
    }
}

/// The path of the page being rendered, on the server: a page that answers a form the
/// browser posted is at the server function's URL (`/rpc/...`), and the page's script
/// puts this path in the address bar (`behaviours`), so that a reload or the page's own
/// background reads go to the page, not to the form's action.
pub fn page_path() -> Option<String> {
    #[cfg(feature = "ssr")]
    {
        let parts = leptos::prelude::use_context::<http::request::Parts>()?;
        Some(parts.uri.path().to_owned())
    }
    #[cfg(not(feature = "ssr"))]
    None
}

/// The value a server function gave [`show_in_answer`], when the page being rendered
/// is its answer.
pub fn in_answer<T: Clone + Send + Sync + 'static>() -> Option<T> {
    #[cfg(feature = "ssr")]
    {
        let parts = leptos::prelude::use_context::<http::request::Parts>()?;
        parts.extensions.get::<T>().cloned()
    }
    #[cfg(not(feature = "ssr"))]
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_the_csrf_token_are_never_kept() {
        assert!(kept("email"));
        assert!(kept("display_name"));
        assert!(!kept("password"));
        assert!(!kept("new_password"));
        assert!(!kept(crate::auth::csrf::FIELD));
    }
}
