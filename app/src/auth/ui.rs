//! Sign-up and log-in pages, and the account part of the site header.

use leptos::prelude::*;
use leptos_router::components::A;

use super::{LogIn, LogOut, SignUp, UserView};
use crate::components::{Field, FormError, last_error};
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
#[island]
fn SignUpForm() -> impl IntoView {
    let action = ServerAction::<SignUp>::new();
    let error = last_error(action.value());
    view! {
            <ActionForm action=action>
                <Field label="Email" name="email" inputmode="email" autocomplete="email" error=error />
                <Field label="Display name" name="display_name" autocomplete="name" error=error />
                <Field
                    label="Password"
                    name="password"
                    kind="password"
                    autocomplete="new-password"
                    hint="8 to 128 characters. A long passphrase is best."
                    error=error
                />
                <FormError error=error fields=&["email", "display_name", "password"] />
                <button type="submit" class="btn btn-primary" disabled=move || action.pending().get()>
                    {move || if action.pending().get() { "Creating account…" } else { "Create account" }}
                </button>
            </ActionForm>
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
#[island]
fn LogInForm() -> impl IntoView {
    let action = ServerAction::<LogIn>::new();
    let error = last_error(action.value());
    view! {
            <ActionForm action=action>
                <Field label="Email" name="email" inputmode="email" autocomplete="username" error=error />
                <Field label="Password" name="password" kind="password" autocomplete="current-password" error=error />
                <FormError error=error fields=&[] />
                <button type="submit" class="btn btn-primary" disabled=move || action.pending().get()>
                    {move || if action.pending().get() { "Logging in…" } else { "Log in" }}
                </button>
            </ActionForm>
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
#[island]
fn LogOutButton() -> impl IntoView {
    let log_out = ServerAction::<LogOut>::new();
    view! {
        <ActionForm action=log_out>
            <button type="submit" class="btn btn-link">"Log out"</button>
        </ActionForm>
    }
}
