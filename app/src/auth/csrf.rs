//! The per-session CSRF token (T4). The Origin check (S6) refuses other sites; this
//! refuses markup on our own origin that cannot read the page: an injected form posts
//! from the same origin with the user's cookie, but it does not know the token.
//!
//! A synchronizer token: 32 random bytes kept in the session when the user logs in
//! (`auth::session::csrf_token`; a session from before this token existed gets one on its
//! next request). Every page
//! carries it in `<meta name="csrf-token">` and in a hidden field of every server form;
//! a server-function call from the page's script sends it as `x-csrf-token`. The server
//! (`server/src/http.rs`) refuses a state-changing call of a logged-in session without it.

/// The hidden form field a server form carries the token in.
pub const FIELD: &str = "csrf_token";
/// The header a script sends the token in.
pub const HEADER: &str = "x-csrf-token";
/// The `<meta name>` a page publishes the token under, for its script.
pub const META: &str = "csrf-token";

/// This request's token, as the server put it in the request's extensions: `None` for a
/// visitor who is not logged in (nothing to protect) and always in the browser.
#[cfg(feature = "ssr")]
#[derive(Clone, Debug)]
pub struct CsrfToken(pub std::sync::Arc<str>);

/// The token for the page being rendered, if its visitor is logged in.
pub fn current() -> Option<String> {
    #[cfg(feature = "ssr")]
    {
        let parts = leptos::prelude::use_context::<http::request::Parts>()?;
        parts
            .extensions
            .get::<CsrfToken>()
            .map(|t| t.0.as_ref().to_owned())
    }
    #[cfg(not(feature = "ssr"))]
    None
}

/// A fresh token: 32 random bytes, base64url.
#[cfg(feature = "ssr")]
pub(crate) fn fresh() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `presented` is the session's token, compared in constant time (`subtle`), so
/// timing says nothing about how much of a guess was right.
#[cfg(feature = "ssr")]
pub fn matches(expected: &CsrfToken, presented: &str) -> bool {
    subtle::ConstantTimeEq::ct_eq(expected.0.as_bytes(), presented.as_bytes()).into()
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use crate::auth::csrf::{CsrfToken, fresh, matches};

    #[test]
    fn tokens_are_fresh_and_compared_whole() {
        let token = CsrfToken(fresh().into());
        assert_eq!(token.0.len(), 43);
        assert_ne!(fresh(), fresh());
        assert!(matches(&token, &token.0));
        assert!(!matches(&token, &token.0[..42]));
        assert!(!matches(&token, ""));
        let mut other = token.0.to_string();
        other.replace_range(0..1, if other.starts_with('A') { "B" } else { "A" });
        assert!(!matches(&token, &other));
    }
}
