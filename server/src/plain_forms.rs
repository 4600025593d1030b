//! Server functions posted as plain HTML forms, by a browser without the page's script
//! (JavaScript off, the bundle not loaded, or not loaded yet). leptos_axum answers such a
//! post with a redirect to the page it came from, which loses a refusal: here the refusal
//! and what was typed go into the session ([`app::flash::Flash`]), the browser is sent
//! back to the form's page (303), and that page, rendered once with them, shows the error
//! beside its field with the values kept (passwords excepted).

use app::error::AppError;
use app::flash::{self, Flash};
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use tower_sessions::Session;

/// The most of a form body read (to keep what was typed, or to find the CSRF token): the
/// server functions' own body limit (`http::BODY_LIMIT`) refuses anything larger anyway,
/// and the OpenAPI review form's is `openapi::MAX_FORM_BODY`.
const FORM_LIMIT: usize = 64 * 1024;

/// The most of a form posted to the server function at `path` that is read.
pub fn form_limit(path: &str) -> usize {
    use leptos::server_fn::ServerFn;
    if path == app::permissions::rpc::ReviewOpenapi::PATH {
        app::permissions::openapi::MAX_FORM_BODY
    } else {
        FORM_LIMIT
    }
}

/// The most of a refusal's body read (a server function's error is a small JSON object).
const ERROR_LIMIT: usize = 16 * 1024;

/// Whether this request is a form a browser posted itself: URL-encoded, and asking for a
/// page (the page's script asks for JSON).
pub fn is_plain_post(headers: &HeaderMap) -> bool {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    form && html
}

/// The path (and query) of the page the form was on, when `Referer` names a page of this
/// server; `/` otherwise. Never another origin: the answer is a redirect.
fn back_to(headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<http::Uri>().ok())
        .filter(|uri| uri.authority().map(|a| a.as_str()) == host)
        .and_then(|uri| uri.path_and_query().map(|p| p.as_str().to_owned()))
        .filter(|path| path.starts_with('/') && !path.starts_with("//"))
        .unwrap_or_else(|| "/".into())
}

/// Answers a plain form post with `run` (the CSRF check and the server function); a
/// refusal becomes a [`Flash`] and a 303 back to the form's page.
pub async fn answer<F, Fut>(request: Request, run: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let session = request.extensions().get::<Session>().cloned();
    let back = back_to(request.headers());
    let action = request.uri().path().to_owned();
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, form_limit(&action)).await else {
        let error = AppError::BadRequest {
            message: "The form is larger than this server accepts.".into(),
        };
        return flash_and_go_back(
            session,
            back,
            Flash {
                action,
                values: Vec::new(),
                error,
            },
        )
        .await;
    };
    let values: Vec<(String, String)> = form_urlencoded::parse(&bytes)
        .filter(|(name, _)| flash::kept(name))
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    let response = run(Request::from_parts(parts, Body::from(bytes))).await;
    if !response.status().is_client_error() && !response.status().is_server_error() {
        return response;
    }
    let error = refusal(response).await;
    flash_and_go_back(
        session,
        back,
        Flash {
            action,
            values,
            error,
        },
    )
    .await
}

async fn flash_and_go_back(session: Option<Session>, back: String, flash: Flash) -> Response {
    if let Some(session) = session
        && let Err(e) = session.insert(flash::SESSION_KEY, flash).await
    {
        tracing::warn!(error = %e, "session store error");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "Keygate is temporarily unavailable.",
        )
            .into_response();
    }
    see_other(&back)
}

async fn refusal(response: Response) -> AppError {
    let bytes = axum::body::to_bytes(response.into_body(), ERROR_LIMIT)
        .await
        .unwrap_or_else(|_| Bytes::new());
    serde_json::from_slice(&bytes).unwrap_or(AppError::Internal)
}

fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Moves a waiting [`Flash`] from the session into the page request's extensions, where
/// the page being rendered finds it (once: it is gone from the session).
pub async fn take(session: &Session, request: &mut Request) {
    // Read before it is removed: a removal marks the session changed even when there was
    // nothing to remove, and every page view would write the session.
    match session.get::<Flash>(flash::SESSION_KEY).await {
        Ok(Some(flash)) => {
            if let Err(e) = session.remove_value(flash::SESSION_KEY).await {
                tracing::warn!(error = %e, "session store error");
            }
            request.extensions_mut().insert(flash);
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "session store error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    #[test]
    fn only_pages_of_this_server_are_gone_back_to() {
        let on = |referer: &str| {
            back_to(&headers(&[
                ("host", "keygate.example:3000"),
                ("referer", referer),
            ]))
        };
        assert_eq!(on("http://keygate.example:3000/signup"), "/signup");
        assert_eq!(
            on("http://keygate.example:3000/orgs/o1/settings/keys?q=a"),
            "/orgs/o1/settings/keys?q=a"
        );
        assert_eq!(on("https://evil.example/signup"), "/");
        assert_eq!(on("http://keygate.example:3000.evil.example/x"), "/");
        assert_eq!(on("not a url"), "/");
        assert_eq!(back_to(&headers(&[("host", "keygate.example:3000")])), "/");
    }

    #[test]
    fn a_plain_post_is_a_form_asking_for_a_page() {
        let form = ("content-type", "application/x-www-form-urlencoded");
        assert!(is_plain_post(&headers(&[
            form,
            ("accept", "text/html,application/xhtml+xml")
        ])));
        assert!(!is_plain_post(&headers(&[
            form,
            ("accept", "application/json")
        ])));
        assert!(!is_plain_post(&headers(&[("accept", "text/html")])));
    }
}
