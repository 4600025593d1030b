//! What a form posted without script gets back when the server refuses it: the refusal
//! and what was typed, kept in a short-lived signed cookie across the redirect to the
//! form's page and shown there once, beside the field it names (the server's side is
//! `server::plain_forms`). With script, [`crate::components::ServerForm`] submits in
//! place and shows the same errors without a page load.

use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Flash {
    /// The server function's path: which form on the page it belongs to.
    pub action: String,
    /// What was typed, but for [`kept`]'s exceptions.
    pub values: Vec<(String, String)>,
    pub error: AppError,
}

impl Flash {
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
    match &flash.error {
        AppError::Invalid { field, .. } | AppError::Conflict { field, .. }
            if field_shown(field) =>
        {
            None
        }
        error => Some(error.to_string()),
    }
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
