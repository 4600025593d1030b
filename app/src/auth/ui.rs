//! Sign-up and log-in pages, and the account part of the site header.

use leptos::prelude::*;

use crate::hooks::{self, hook};
use leptos_router::components::A;

use super::{LogIn, LogOut, SignUp, UserView};
use leptos::server_fn::ServerFn;

use crate::components::{Field, FormAlert, ServerForm};
use crate::error::AppError;

#[component]
pub fn SignUpPage() -> impl IntoView {
    view! {
        <section class="card narrow">
            <h1>"Create your Keygate account"</h1>
            <SignUpForm />
            <p class="muted">"Already have an account? " <A href="/login">"Log in"</A></p>
        </section>
    }
}

/// On success the server redirects to the organizations page (a full page load).
#[component]
fn SignUpForm() -> impl IntoView {
    view! {
        <ServerForm action=SignUp::PATH id="sign-up">
            <Field label="Email" name="email" inputmode="email" autocomplete="email" />
            <Field label="Display name" name="display_name" autocomplete="name" />
            <Field label="Password" name="password" kind="password" autocomplete="new-password"
                hint="8 to 128 characters. A long passphrase is best." />
            <FormAlert />
            <button type="submit" class="btn btn-primary" {..hook(hooks::SENDING, "Creating account…")}>
                "Create account"
            </button>
        </ServerForm>
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    view! {
        <section class="card narrow">
            <h1>"Log in to Keygate"</h1>
            <LogInForm />
            <p class="muted">"New to Keygate? " <A href="/signup">"Create an account"</A></p>
        </section>
    }
}

/// On success the server redirects to the organizations page (a full page load).
#[component]
fn LogInForm() -> impl IntoView {
    view! {
        <ServerForm action=LogIn::PATH id="log-in">
            <Field label="Email" name="email" inputmode="email" autocomplete="username" />
            <Field label="Password" name="password" kind="password" autocomplete="current-password" />
            <FormAlert />
            <button type="submit" class="btn btn-primary" {..hook(hooks::SENDING, "Logging in…")}>"Log in"</button>
        </ServerForm>
    }
}

/// The right-hand side of the header: who is logged in and a log-out button, or links.
#[component]
pub fn UserMenu(user: Resource<Result<Option<UserView>, AppError>>) -> impl IntoView {
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match user.await {
                    Ok(Some(user)) => view! {
                        <nav class="user-menu" aria-label="Account">
                            <A href="/orgs">"Organizations"</A>
                            <span class="user-name" data-testid="user-name">{user.display_name}</span>
                            <LogOutButton />
                        </nav>
                    }.into_any(),
                    _ => view! {
                        <nav class="user-menu" aria-label="Account">
                            <A href="/login">"Log in"</A>
                            <A href="/signup" attr:class="btn btn-primary btn-small">"Sign up"</A>
                        </nav>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// On success the server redirects to the log-in page (a full page load).
#[component]
fn LogOutButton() -> impl IntoView {
    view! {
        <ServerForm action=LogOut::PATH id="log-out">
            <button type="submit" class="btn btn-link" {..hook(hooks::SENDING, "Logging out…")}>"Log out"</button>
        </ServerForm>
    }
}
