//! The wasm entry point: hydrates the server-rendered page and nothing else.

// Leptos view types nest deeply; their layout is computed here, where they are instantiated.
#![recursion_limit = "512"]

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
