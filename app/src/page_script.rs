//! The one island: at the end of the body, once every part of the page before it is
//! there, it starts the browser's behaviours (`behaviours`), which act on the whole
//! document by its data attributes (`hooks`). No views: each as a Leptos island cost
//! kilobytes of the bundle, and the server renders every page whole.

use leptos::prelude::*;

/// The last thing in the body. Renders nothing.
#[island]
pub fn PageScript() -> impl IntoView {
    #[cfg(feature = "hydrate")]
    crate::behaviours::attach();
}
