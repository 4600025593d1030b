//! Server functions posted as plain HTML forms, by a browser without the page's script
//! (JavaScript off, the bundle not loaded, or not loaded yet). leptos_axum answers such a
//! post with a redirect to the page it came from, which loses a refusal: here the refusal
//! and what was typed ([`app::flash::Flash`]) go into a short-lived cookie, the browser is
//! sent back to the form's page (303), and that page, rendered once with them, shows the
//! error beside its field with the values kept (passwords excepted) and clears the cookie.
//!
//! The cookie, not the session: a visitor who is signing up has no session, and a session
//! made for a refusal would be a database row anyone could create at request rate. The
//! cookie is signed with a key derived from the server secret (so no other site or
//! script can put words on a Keygate page), `HttpOnly`, `SameSite=Lax`, lives 60 seconds,
//! and holds at most [`MAX_COOKIE`] bytes: values too long to keep are dropped, never the
//! refusal.
//!
//! An accepted form's page shows the form's note ("Saved.") the same way, once.
//!
//! A success that must show something once (a created or rolled key's secret,
//! [`app::flash::Outcome`]) is answered with the page itself, rendered at once: the
//! secret never waits anywhere for a second request. Like every page, that answer is
//! `Cache-Control: no-store` (`http::edge`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use app::error::AppError;
use app::flash::{self, Flash, Outcome};
use app::ssr::Secret;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

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

/// The longest cookie value written: browsers keep 4,096 bytes per cookie, name and
/// attributes included.
pub const MAX_COOKIE: usize = 3_000;

/// The longest typed value kept for the form shown again; a longer one is typed again.
const MAX_VALUE: usize = 512;

/// How long a refusal waits for its page, in seconds.
const LIFETIME_SECS: u64 = 60;

/// Renders a page as a `GET` of the request's URI, with the request's extensions (its
/// session and CSRF token) and headers: the pages' own renderer, for answers that are
/// pages.
pub type RenderPage =
    Arc<dyn Fn(Request) -> Pin<Box<dyn Future<Output = Response> + Send>> + Send + Sync>;

/// What answering plain forms takes: the cookie refusals wait in, and the pages'
/// renderer for answers that show an [`Outcome`].
#[derive(Clone)]
pub struct PlainForms {
    pub cookie: FlashCookie,
    pub render: RenderPage,
}

/// The cookie a refusal waits in, and the key that signs it.
#[derive(Clone)]
pub struct FlashCookie {
    mac: Hmac<Sha256>,
    secure: bool,
}

/// What the cookie holds: the refusal and when it was made (a copied cookie is good for
/// [`LIFETIME_SECS`] only, whatever its `Max-Age` said).
#[derive(Serialize, Deserialize)]
struct Sealed {
    at: u64,
    flash: Flash,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl FlashCookie {
    /// `secure`: the site is served over HTTPS (the cookie is then `__Host-` and `Secure`,
    /// as the session's is).
    pub fn new(secret: &Secret, secure: bool) -> Self {
        // A key of its own, so a flash's tag is never a key digest's (nor the reverse).
        let mut derive = secret.mac();
        derive.update(b"keygate form flash cookie v1");
        let key = derive.finalize().into_bytes();
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes any key length");
        Self { mac, secure }
    }

    fn name(&self) -> &'static str {
        if self.secure {
            "__Host-keygate_flash"
        } else {
            "keygate_flash"
        }
    }

    fn tag(&self, payload: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(payload.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// `payload.tag`, both base64url.
    fn encode(&self, sealed: &Sealed) -> String {
        let json = serde_json::to_vec(sealed).unwrap_or_default();
        let payload = URL_SAFE_NO_PAD.encode(&json);
        let tag = self.tag(&payload);
        format!("{payload}.{tag}")
    }

    /// The cookie's value for `flash` made at `at`. Values that would make it longer than
    /// [`MAX_COOKIE`] are left out, longest first; `None` if even the refusal alone does
    /// not fit (then the form comes back as it was, without its refusal).
    fn seal(&self, mut flash: Flash, at: u64) -> Option<String> {
        flash.values.retain(|(_, v)| v.len() <= MAX_VALUE);
        flash.values.sort_by_key(|(_, v)| v.len());
        loop {
            let value = self.encode(&Sealed {
                at,
                flash: flash.clone(),
            });
            if value.len() <= MAX_COOKIE {
                return Some(value);
            }
            flash.values.pop()?;
        }
    }

    /// The refusal in a cookie's value, if this server signed it in the last minute.
    fn open(&self, value: &str, now: u64) -> Option<Flash> {
        let (payload, tag) = value.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let mut mac = self.mac.clone();
        mac.update(payload.as_bytes());
        mac.verify_slice(&tag).ok()?;
        let sealed: Sealed = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        (sealed.at <= now + 5 && now.saturating_sub(sealed.at) <= LIFETIME_SECS)
            .then_some(sealed.flash)
    }

    fn attributes(&self, max_age: u64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax{secure}")
    }

    fn set(&self, flash: Flash) -> Option<HeaderValue> {
        let value = self.seal(flash, now_secs())?;
        HeaderValue::from_str(&format!(
            "{}={value}{}",
            self.name(),
            self.attributes(LIFETIME_SECS)
        ))
        .ok()
    }

    fn clear(&self) -> Option<HeaderValue> {
        HeaderValue::from_str(&format!("{}={}", self.name(), self.attributes(0))).ok()
    }

    /// The cookie's value in the request, if it carries one.
    fn find<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == self.name())
            .map(|(_, value)| value)
    }
}

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
/// refusal becomes a [`Flash`] in the cookie and a 303 back to the form's page, and an
/// [`Outcome`] the page the server function sends the browser to, rendered as the answer.
pub async fn answer<F, Fut>(forms: &PlainForms, request: Request, run: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let cookie = &forms.cookie;
    let back = back_to(request.headers());
    let action = request.uri().path().to_owned();
    let (mut parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, form_limit(&action)).await else {
        let error = AppError::BadRequest {
            message: "The form is larger than this server accepts.".into(),
        };
        return go_back(
            cookie,
            &back,
            Flash {
                action,
                values: Vec::new(),
                error: Some(error),
            },
        );
    };
    let values: Vec<(String, String)> = form_urlencoded::parse(&bytes)
        .filter(|(name, _)| flash::kept(name))
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    let outcome = Outcome::default();
    parts.extensions.insert(outcome.clone());
    let headers = parts.headers.clone();
    let mut response = run(Request::from_parts(parts, Body::from(bytes))).await;
    if !response.status().is_client_error() && !response.status().is_server_error() {
        if let Some(extensions) = outcome.take() {
            let path = local_location(&response).unwrap_or(back);
            return page(&forms.render, &path, headers, extensions).await;
        }
        tidy_location(&mut response);
        // Accepted: the page it goes to shows the form's note ("Saved."), once.
        if response.status().is_redirection()
            && let Some(value) = cookie.set(Flash {
                action,
                values: Vec::new(),
                error: None,
            })
        {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
        return response;
    }
    let error = refusal(response).await;
    go_back(
        cookie,
        &back,
        Flash {
            action,
            values,
            error: Some(error),
        },
    )
}

/// Where the server function sent the browser, when it is a page of this server.
fn local_location(response: &Response) -> Option<String> {
    response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.strip_suffix('?').unwrap_or(v))
        .filter(|path| path.starts_with('/') && !path.starts_with("//"))
        .map(str::to_owned)
}

/// The page at `path`, rendered for the form's request (its cookies and extensions).
async fn page(
    render: &RenderPage,
    path: &str,
    mut headers: HeaderMap,
    extensions: http::Extensions,
) -> Response {
    headers.remove(header::CONTENT_TYPE);
    headers.remove(header::CONTENT_LENGTH);
    let mut request = Request::new(Body::empty());
    *request.uri_mut() = path.parse().unwrap_or_else(|_| http::Uri::from_static("/"));
    *request.headers_mut() = headers;
    *request.extensions_mut() = extensions;
    render(request).await
}

/// leptos_axum sends an accepted form back to its page with an empty query (`/page?`)
/// when the page had none: the `?` goes.
fn tidy_location(response: &mut Response) {
    let tidy = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_suffix('?'))
        .and_then(|v| HeaderValue::from_str(v).ok());
    if let Some(location) = tidy {
        response.headers_mut().insert(header::LOCATION, location);
    }
}

fn go_back(cookie: &FlashCookie, back: &str, flash: Flash) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(back) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    if let Some(value) = cookie.set(flash) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

async fn refusal(response: Response) -> AppError {
    let bytes = axum::body::to_bytes(response.into_body(), ERROR_LIMIT)
        .await
        .unwrap_or_else(|_| Bytes::new());
    serde_json::from_slice(&bytes).unwrap_or(AppError::Internal)
}

/// For a page view: moves a waiting, genuine [`Flash`] from the cookie into the request's
/// extensions, where the page being rendered finds it. Whether there was a cookie to
/// clear (genuine or not): the answer then clears it with [`clear`], so it is shown once.
pub fn take(cookie: &FlashCookie, request: &mut Request) -> bool {
    let Some(value) = cookie.find(request.headers()) else {
        return false;
    };
    if let Some(flash) = cookie.open(value, now_secs()) {
        request.extensions_mut().insert(flash);
    }
    true
}

/// Clears the cookie [`take`] found, on the page's answer.
pub fn clear(cookie: &FlashCookie, response: &mut Response) {
    if let Some(value) = cookie.clear() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::headers;

    fn cookie() -> FlashCookie {
        FlashCookie::new(&Secret::new("0123456789abcdef0123456789abcdef"), false)
    }

    fn refusal(values: &[(&str, &str)]) -> Flash {
        Flash {
            action: "/rpc/sign_up".into(),
            values: values
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            error: Some(AppError::invalid("email", "Enter a valid email address.")),
        }
    }

    #[test]
    fn a_sealed_refusal_opens_for_a_minute_and_only_as_signed() {
        let cookie = cookie();
        let flash = refusal(&[("email", "ada@"), ("display_name", "</textarea><h1>Ada")]);
        let value = cookie.seal(flash.clone(), 1_000).unwrap();
        assert_eq!(cookie.open(&value, 1_000), Some(flash.clone()));
        assert_eq!(cookie.open(&value, 1_060), Some(flash.clone()));
        assert_eq!(cookie.open(&value, 1_061), None, "kept past its minute");
        assert_eq!(cookie.open(&value, 900), None, "made in the future");

        // Another server's secret, a changed payload, a changed tag: nothing.
        let other = FlashCookie::new(&Secret::new("fedcba9876543210fedcba9876543210"), false);
        assert_eq!(other.open(&value, 1_000), None);
        let (payload, tag) = value.split_once('.').unwrap();
        let forged = cookie
            .seal(refusal(&[("email", "mallory@")]), 1_000)
            .unwrap();
        let forged_payload = forged.split_once('.').unwrap().0;
        assert_eq!(cookie.open(&format!("{forged_payload}.{tag}"), 1_000), None);
        assert_eq!(cookie.open(&format!("{payload}.AAAA"), 1_000), None);
        assert_eq!(cookie.open(payload, 1_000), None);
        assert_eq!(cookie.open("", 1_000), None);
    }

    #[test]
    fn a_refusal_fits_a_cookie_by_leaving_out_long_values() {
        let cookie = cookie();
        let long = "x".repeat(MAX_VALUE + 1);
        let medium = "y".repeat(400);
        let many: Vec<(String, String)> = (0..12)
            .map(|i| (format!("field{i}"), medium.clone()))
            .collect();
        let mut flash = refusal(&[("email", "ada@"), ("notes", &long)]);
        flash.values.extend(many);
        let value = cookie.seal(flash, 1_000).unwrap();
        assert!(value.len() <= MAX_COOKIE, "{} bytes", value.len());
        let opened = cookie.open(&value, 1_000).unwrap();
        assert_eq!(opened.value("email"), Some("ada@"), "short values are kept");
        assert_eq!(opened.value("notes"), None, "too long to keep");
        assert!(opened.values.len() < 13);
        assert_eq!(
            opened.error,
            Some(AppError::invalid("email", "Enter a valid email address."))
        );
        let header = cookie.set(opened).unwrap();
        assert!(header.len() < 4_096);

        // A path no server function has, too long for any cookie: no cookie at all.
        let mut absurd = refusal(&[]);
        absurd.action = format!("/rpc/{}", "a".repeat(4_000));
        assert_eq!(cookie.seal(absurd, 1_000), None);
    }

    #[test]
    fn the_cookie_is_found_among_others_and_cleared_with_the_same_attributes() {
        let cookie = cookie();
        let h = headers(&[("cookie", "a=1; keygate_flash=abc.def"), ("cookie", "b=2")]);
        assert_eq!(cookie.find(&h), Some("abc.def"));
        assert_eq!(
            cookie.find(&headers(&[("cookie", "keygate_flashy=1")])),
            None
        );
        let cleared = cookie.clear().unwrap();
        assert_eq!(
            cleared.to_str().unwrap(),
            "keygate_flash=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"
        );
        let secure = FlashCookie::new(&Secret::new("0123456789abcdef0123456789abcdef"), true);
        let set = secure.set(refusal(&[])).unwrap();
        let set = set.to_str().unwrap();
        assert!(set.starts_with("__Host-keygate_flash="), "{set}");
        assert!(
            set.ends_with("; Max-Age=60; Path=/; HttpOnly; SameSite=Lax; Secure"),
            "{set}"
        );
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
