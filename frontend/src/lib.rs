//! The wasm entry point. Pages are rendered on the server; only their islands (dialogs,
//! forms, copy buttons) are hydrated, each by the function the `#[island]` macro exports,
//! which Leptos's island script calls for every `<leptos-island>` it finds.

// Links `app`, whose islands are the bundle's exports, though nothing here names them.
extern crate app;

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
}
