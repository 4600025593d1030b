//! The CSRF token check for server functions (T4), and the token pages render: see
//! `app::auth::csrf` for the design.
//!
//! Runs inside the session layer on the pages and `/rpc`. For a logged-in session it
//! reads (or makes) the session's token and puts it in the request's extensions, where
//! a page being rendered finds it; a `POST /rpc/...` must present it, in the
//! `x-csrf-token` header (the page's script) or the `csrf_token` form field (a form
//! posted without script). A visitor who is not logged in has nothing to protect and
//! sends no token.

use app::auth::csrf::{self, CsrfToken};
use app::error::AppError;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode, header};
use tower_sessions::Session;

use crate::plain_forms::{self, PlainForms};

pub async fn guard(State(forms): State<PlainForms>, mut request: Request, next: Next) -> Response {
    // A form a browser posted without the page's script: a refusal (this check's or the
    // server function's) goes back to the form's page, shown beside its field.
    if request.method() == Method::POST
        && request.uri().path().starts_with("/rpc/")
        && plain_forms::is_plain_post(request.headers())
    {
        return plain_forms::answer(&forms, request, |request| checked(request, next)).await;
    }
    // The page such a refusal went back to: shown with it, once.
    if request.method() == Method::GET
        && !is_file(&request)
        && plain_forms::take(&forms.cookie, &mut request)
    {
        let mut response = checked(request, next).await;
        plain_forms::clear(&forms.cookie, &mut response);
        return response;
    }
    checked(request, next).await
}

/// A file of the site (`/favicon.svg`: a name with a dot, which no page has).
fn is_file(request: &Request) -> bool {
    request
        .uri()
        .path()
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains('.'))
}

async fn checked(mut request: Request, next: Next) -> Response {
    // No cookie, no session: nothing to read, nothing to protect. A file of the site
    // renders no form either, so its request does not load the session.
    if !request.headers().contains_key(header::COOKIE)
        || (is_file(&request) && request.method() == Method::GET)
    {
        return next.run(request).await;
    }
    let Some(session) = request.extensions().get::<Session>().cloned() else {
        return next.run(request).await;
    };
    let token = match app::auth::session::csrf_token(&session).await {
        Ok(Some(token)) => token,
        Ok(None) => return next.run(request).await,
        Err(err) => {
            tracing::warn!(error = %err, "session store error");
            return refusal(AppError::Unavailable);
        }
    };
    if request.method() == Method::POST && request.uri().path().starts_with("/rpc/") {
        let presented = match request.headers().get(csrf::HEADER) {
            Some(value) => value.to_str().is_ok_and(|v| csrf::matches(&token, v)),
            None => {
                let limit = plain_forms::form_limit(request.uri().path());
                let (parts, body) = request.into_parts();
                let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
                    return refusal(AppError::BadRequest {
                        message: "The request body could not be read.".into(),
                    });
                };
                let presented = is_form(&parts.headers) && form_field_matches(&bytes, &token);
                request = Request::from_parts(parts, Body::from(bytes));
                presented
            }
        };
        if !presented {
            return refusal(AppError::StaleForm);
        }
    }
    request.extensions_mut().insert(token);
    next.run(request).await
}

fn is_form(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// Whether the URL-encoded `body` has the token in its `csrf_token` field (the first
/// one: a form has one).
fn form_field_matches(body: &Bytes, token: &CsrfToken) -> bool {
    form_urlencoded::parse(body)
        .find(|(name, _)| name == csrf::FIELD)
        .is_some_and(|(_, value)| csrf::matches(token, &value))
}

/// The answer a server function would give with this error: its JSON and status.
fn refusal(error: AppError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::FORBIDDEN);
    (status, axum::Json(error)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_field_must_hold_the_token() {
        let token = CsrfToken("abc".into());
        let body = |s: &'static str| Bytes::from_static(s.as_bytes());
        assert!(form_field_matches(&body("org_id=o&csrf_token=abc"), &token));
        assert!(!form_field_matches(
            &body("org_id=o&csrf_token=abd"),
            &token
        ));
        assert!(!form_field_matches(&body("org_id=o&csrf_token="), &token));
        assert!(!form_field_matches(&body("org_id=o"), &token));
        assert!(!form_field_matches(&body("csrf=abc"), &token));
    }
}
