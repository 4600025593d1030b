//! The one error type every server function returns, serialised to the browser as
//! `{"error": "<code>", ...}` and mapped to an HTTP status at the edge.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum AppError {
    #[error("Please log in to continue.")]
    Unauthenticated,
    #[error("Incorrect email or password.")]
    InvalidCredentials,
    #[error("You do not have access to this.")]
    Forbidden,
    #[error("Not found.")]
    NotFound,
    /// Bad input for one form field; `field` names the input the message belongs next to.
    #[error("{message}")]
    Invalid { field: String, message: String },
    /// The input is well-formed but clashes with what exists (duplicate email, existing member).
    #[error("{message}")]
    Conflict { field: String, message: String },
    /// A logged-in session's state-changing call without its CSRF token (T4): a page
    /// from before a log-in or log-out in another tab, or markup that is not ours.
    #[error(
        "This page is out of date: you logged in or out since it was loaded. Reload it and try again."
    )]
    StaleForm,
    #[error("Too many attempts. Try again in {retry_after} seconds.")]
    RateLimited { retry_after: u64 },
    /// The request itself could not be read (missing or malformed arguments).
    #[error("The request was malformed: {message}")]
    BadRequest { message: String },
    /// The database could not be reached; nothing was changed.
    #[error("Keygate is temporarily unavailable. Please try again shortly.")]
    Unavailable,
    /// The database has no room left; nothing was saved.
    #[error("Keygate's database is full, so nothing was saved. Ask your operator to free space.")]
    StorageFull,
    #[error("Something went wrong on our side. Please try again.")]
    Internal,
    /// Only produced in the browser: the server could not be reached or answered garbage.
    #[error("Could not reach Keygate: {message}")]
    Network { message: String },
}

impl AppError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    pub fn conflict(field: &str, message: impl Into<String>) -> Self {
        Self::Conflict {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    /// The message to show next to `field`, if this error is about that field.
    pub fn field_message(&self, field: &str) -> Option<String> {
        match self {
            Self::Invalid { field: f, message } | Self::Conflict { field: f, message }
                if f == field =>
            {
                Some(message.clone())
            }
            _ => None,
        }
    }

    /// The HTTP status this error is answered with. Exhaustive on purpose: a new
    /// variant must decide its status.
    pub fn status(&self) -> u16 {
        match self {
            Self::Unauthenticated | Self::InvalidCredentials => 401,
            Self::Forbidden | Self::StaleForm => 403,
            Self::NotFound => 404,
            Self::Invalid { .. } => 422,
            Self::Conflict { .. } => 409,
            Self::RateLimited { .. } => 429,
            Self::BadRequest { .. } => 400,
            Self::Unavailable => 503,
            Self::StorageFull => 507,
            Self::Internal => 500,
            Self::Network { .. } => 502,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(m) | ServerFnErrorErr::MissingArg(m) => {
                Self::BadRequest { message: m }
            }
            // On the server these mean the request body could not be read (too large, not
            // UTF-8): the caller's fault, not a network failure.
            #[cfg(feature = "ssr")]
            ServerFnErrorErr::Request(m) | ServerFnErrorErr::Deserialization(m) => {
                Self::BadRequest { message: m }
            }
            #[cfg(not(feature = "ssr"))]
            ServerFnErrorErr::Request(m) | ServerFnErrorErr::Deserialization(m) => {
                Self::Network { message: m }
            }
            ServerFnErrorErr::Response(m) => Self::Network { message: m },
            ServerFnErrorErr::Registration(_)
            | ServerFnErrorErr::UnsupportedRequestMethod(_)
            | ServerFnErrorErr::MiddlewareError(_)
            | ServerFnErrorErr::Serialization(_)
            | ServerFnErrorErr::ServerError(_) => Self::Internal,
        }
    }

    /// Called by server_fn on the server for every error it answers with, so this is the
    /// one place where an error gets its HTTP status (and `Retry-After`).
    fn ser(&self) -> leptos::server_fn::Bytes {
        #[cfg(feature = "ssr")]
        set_error_status(self);
        <JsonEncoding as leptos::server_fn::Encodes<Self>>::encode(self)
            .unwrap_or_else(|_| leptos::server_fn::Bytes::from_static(br#"{"error":"internal"}"#))
    }
}

#[cfg(feature = "ssr")]
/// Sets the status (and `Retry-After`) of the response being built for this error.
fn set_error_status(error: &AppError) {
    let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() else {
        return;
    };
    if let Ok(status) = http::StatusCode::from_u16(error.status()) {
        response.set_status(status);
    }
    if let AppError::RateLimited { retry_after } = error {
        response.insert_header(
            http::header::RETRY_AFTER,
            http::HeaderValue::from(*retry_after),
        );
    }
}
