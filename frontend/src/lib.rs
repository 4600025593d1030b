//! The wasm entry point. Pages are rendered on the server; the one island at the end of
//! the body (`app::page_script::PageScript`) is hydrated by the function the `#[island]`
//! macro exports, which Leptos's island script calls, and starts the browser's generic
//! behaviours (`app::behaviours`).

// Links `app`, whose island is the bundle's export, though nothing here names it.
extern crate app;

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
}
