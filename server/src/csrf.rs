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
use app::permissions::rpc::ReviewOpenapi;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode, header};
use leptos::server_fn::ServerFn;
use tower_sessions::Session;

/// The most of a form body read to find the token: the server functions' own body limit
/// (`http::BODY_LIMIT`) refuses anything larger anyway (the OpenAPI review form's is
/// `openapi::MAX_FORM_BODY`).
const FORM_LIMIT: usize = 64 * 1024;

pub async fn guard(mut request: Request, next: Next) -> Response {
    // No cookie, no session: nothing to read, nothing to protect. A file of the site
    // (`/favicon.svg`: a name with a dot, which no page has) renders no form either, so
    // its request does not load the session.
    let is_file = request
        .uri()
        .path()
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains('.'));
    if !request.headers().contains_key(header::COOKIE)
        || (is_file && request.method() == Method::GET)
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
                let limit = if request.uri().path() == ReviewOpenapi::PATH {
                    app::permissions::openapi::MAX_FORM_BODY
                } else {
                    FORM_LIMIT
                };
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
