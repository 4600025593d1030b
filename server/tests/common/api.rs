//! Calling the REST API the way a service does: no cookies, the key in a header.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Sends `request`; the status, the headers and the body as JSON (a JSON string when the
/// body is not JSON).
pub async fn send(
    request: reqwest::RequestBuilder,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let response = request
        .timeout(super::REQUEST_TIMEOUT)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, body)
}

/// `method url` with `x-api-key: key` and an optional JSON body: status and body.
pub async fn call(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    key: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let mut request = http.request(method, url).header("x-api-key", key);
    if let Some(body) = body {
        request = request.json(body);
    }
    let (status, _, body) = send(request).await;
    (status, body)
}

/// `GET /api/v1/whoami` with `key` on the server at `base`: the status and the body.
async fn whoami_call(http: &reqwest::Client, base: &str, key: &str) -> (StatusCode, Value) {
    call(
        http,
        Method::GET,
        &format!("{base}/api/v1/whoami"),
        key,
        None,
    )
    .await
}

/// `GET /api/v1/whoami` with `key` on the server at `base`: asserts 200, returns the answer.
pub async fn whoami(http: &reqwest::Client, base: &str, key: &str) -> Value {
    let (status, body) = whoami_call(http, base, key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// `POST /api/v1/verify` for `key` on the server at `base`: asserts 200, returns the answer.
pub async fn verify(http: &reqwest::Client, base: &str, key: &str) -> Value {
    let (status, _, body) = send(
        http.post(format!("{base}/api/v1/verify"))
            .json(&json!({ "key": key })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// `GET /api/v1/whoami` with `key` on the server at `base`: the status and the `error`
/// code (empty when there is none).
pub async fn whoami_answer(http: &reqwest::Client, base: &str, key: &str) -> (StatusCode, String) {
    let (status, body) = whoami_call(http, base, key).await;
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
    )
}

/// The status of `GET /api/v1/whoami` with `key` on the server at `base`; a request that
/// gets no answer at all (the server is gone) counts as 502.
pub async fn whoami_status(http: &reqwest::Client, base: &str, key: &str) -> StatusCode {
    http.get(format!("{base}/api/v1/whoami"))
        .header("x-api-key", key)
        .timeout(super::REQUEST_TIMEOUT)
        .send()
        .await
        .map(|r| r.status())
        .unwrap_or(StatusCode::BAD_GATEWAY)
}
