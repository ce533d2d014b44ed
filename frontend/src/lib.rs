#![recursion_limit = "512"]
//! The browser entry point: hydrates the server-rendered portal.

/// Hydrates the page. A lazily loaded page (`app/src/routes.rs`) hydrates once its chunk has
/// arrived, so the page is marked interactive (`<body data-hydrated>`, which tests and
/// progressive-enhancement CSS read) after all of it is, not when the main bundle starts.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    wasm_bindgen_futures::spawn_local(async {
        let Some(body) = leptos::prelude::document().body() else {
            return;
        };
        leptos::mount::hydrate_from_async(body.clone(), app::App)
            .await
            .forget();
        let _ = body.set_attribute("data-hydrated", "true");
    });
}
