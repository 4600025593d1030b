//! Keygate's web application: routes, pages and server functions (shared by the server
//! and the browser), plus, behind the `ssr` feature, the domain services and entities.

#![recursion_limit = "256"]

use leptos::prelude::*;
use leptos_meta::{HashedStylesheet, MetaTags, Title, provide_meta_context};
use leptos_router::components::{A, ParentRoute, Route, Router, Routes};
use leptos_router::{SsrMode, path};

pub mod audit;
pub mod auth;
#[cfg(feature = "hydrate")]
pub mod behaviours;
pub mod calendar;
pub mod choices;
pub mod components;
#[cfg(feature = "hydrate")]
pub mod dom;
pub mod error;
pub mod flash;
pub mod hooks;
pub mod ids;
pub mod keys;
pub mod navigation;
pub mod orgs;
pub mod page_script;
pub mod permissions;
pub mod validate;
pub mod webhooks;

#[cfg(feature = "ssr")]
pub mod entities;
#[cfg(feature = "ssr")]
pub mod lease;
#[cfg(feature = "ssr")]
pub mod ssr;
#[cfg(feature = "ssr")]
pub mod state;
#[cfg(feature = "ssr")]
pub mod windows;

use auth::ui::{LoginPage, SignUpPage, UserMenu};
use components::NotFoundPage;
use keys::action_page::KeyActionPage;
use keys::key_page::KeyDetailPage;
use keys::list_page::ApiKeysPage;
use keys::new_page::NewKeyPage;
use keys::policy_page::PolicyPage;
use orgs::ui::{GeneralPage, MembersPage, OrgSettingsLayout, OrgsPage, RemoveMemberPage};
use page_script::PageScript;
use permissions::ui::PermissionsPage;
use webhooks::ui::WebhooksPage;

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    ssr::set_page_csp();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <AutoReload options=options.clone() />
                <HashedStylesheet options=options.clone() id="leptos" />
                <HydrationScripts options islands=true />
                <MetaTags />
                {auth::csrf::current().map(|token| view! { <meta name=auth::csrf::META content=token /> })}
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let user = Resource::new(|| (), |_| auth::current_user());

    view! {
        <Title text="Keygate" />
        <Router>
            <a class="skip-link" href="#main">"Skip to content"</a>
            <header class="site-header">
                <A href="/" attr:class="brand">
                    <img class="brand-mark" src="/favicon.svg" alt="" width="24" height="24" />
                    "Keygate"
                </A>
                <UserMenu user=user />
            </header>
            <main id=hooks::MAIN class="page" {..hooks::hook(hooks::PATH, flash::page_path())}>
                <Routes fallback=|| view! { <NotFoundPage /> }>
                    <Route path=path!("/") view=HomePage ssr=SsrMode::Async />
                    <Route path=path!("/signup") view=SignUpPage ssr=SsrMode::Async />
                    <Route path=path!("/login") view=LoginPage ssr=SsrMode::Async />
                    <Route path=path!("/orgs") view=OrgsPage ssr=SsrMode::Async />
                    <ParentRoute path=path!("/orgs/:org_id/settings") view=OrgSettingsLayout ssr=SsrMode::Async>
                        <Route path=path!("") view=GeneralPage />
                        <Route path=path!("members") view=MembersPage />
                        <Route path=path!("members/:user_id/remove") view=RemoveMemberPage />
                        <Route path=path!("keys") view=ApiKeysPage />
                        <Route path=path!("keys/new") view=NewKeyPage />
                        <Route path=path!("keys/:key_id") view=KeyDetailPage />
                        <Route path=path!("keys/:key_id/confirm") view=KeyActionPage />
                        <Route path=path!("policy") view=PolicyPage />
                        <Route path=path!("permissions") view=PermissionsPage />
                        <Route path=path!("webhooks") view=WebhooksPage />
                    </ParentRoute>
                </Routes>
            </main>
            // What a dialog shows of another page, or once (`behaviours`).
            <dialog id=hooks::PAGE_DIALOG class="dialog" aria-label="Dialog"></dialog>
        </Router>
        <PageScript />
    }
}

#[component]
fn HomePage() -> impl IntoView {
    view! {
        <section class="hero">
            <h1>"API keys for your API, done properly."</h1>
            <p class="lead">
                "Keygate gives your organization API keys that are shown once, stored only as digests, "
                "verified in microseconds and revoked in a click."
            </p>
            <p class="hero-actions">
                <A href="/signup" attr:class="btn btn-primary">"Create an account"</A>
                <A href="/login" attr:class="btn btn-secondary">"Log in"</A>
                <A href="/orgs" attr:class="btn btn-link">"Your organizations"</A>
            </p>
        </section>
    }
}
