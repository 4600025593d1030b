//! JSON bodies and query strings for the REST API, with the API's own errors: a wrong
//! Content-Type is 415, a body over the limit 413, unknown fields and bad values 400 (I2).

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequest, Request};
use http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match <axum::Json<T> as FromRequest<S>>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::UnsupportedMediaType),
            Err(JsonRejection::BytesRejection(e))
                if e.status() == http::StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(ApiError::PayloadTooLarge)
            }
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::BadRequest(format!(
                "The JSON body does not match the expected shape: {}",
                redact_quoted(e.body_text().trim_start_matches(
                    "Failed to deserialize the JSON body into the target type: "
                ))
            ))),
            Err(JsonRejection::JsonSyntaxError(_)) => {
                Err(ApiError::BadRequest("The body is not valid JSON.".into()))
            }
            Err(_) => Err(ApiError::BadRequest(
                "The request body could not be read.".into(),
            )),
        }
    }
}

/// An optional JSON body: none when the request has no body and no Content-Type; a body
/// without `Content-Type: application/json` is still 415.
impl<S: Send + Sync, T: DeserializeOwned> OptionalFromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        let headers = request.headers();
        let declared_empty = headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|v| v.trim() == "0");
        if !headers.contains_key(http::header::CONTENT_TYPE)
            && !headers.contains_key(http::header::TRANSFER_ENCODING)
            && declared_empty
        {
            return Ok(None);
        }
        <Self as FromRequest<S>>::from_request(request, state)
            .await
            .map(Some)
    }
}

pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                Err(ApiError::BadRequest(format!(
                    "Bad query string: {}",
                    redact_quoted(
                        e.body_text()
                            .trim_start_matches("Failed to deserialize query string: ")
                    )
                )))
            }
            Err(_) => Err(ApiError::BadRequest("Bad query string.".into())),
        }
    }
}

/// serde quotes the offending value (`invalid type: string "kg_...", expected ...`): an
/// error body must not echo what could be a key, so quoted text is elided.
fn redact_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        if c == '"' {
            if !quoted {
                out.push_str("\"…\"");
            }
            quoted = !quoted;
        } else if !quoted {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn quoted_values_are_elided() {
        assert_eq!(
            super::redact_quoted(r#"invalid type: string "kg_secret", expected u32 at line 1"#),
            "invalid type: string \"…\", expected u32 at line 1"
        );
        assert_eq!(
            super::redact_quoted("unknown field `x`"),
            "unknown field `x`"
        );
    }
}
