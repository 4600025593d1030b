//! Sign-up and log-in pages, and the account part of the site header.

use leptos::prelude::*;
use leptos_router::components::A;

use super::{LogIn, LogOut, SignUp, UserView};
use crate::components::{Field, FormError, last_error};
use crate::error::AppError;

/// The auth actions, shared through context so the header can refetch the current user
/// whenever one of them completes.
#[derive(Clone, Copy)]
pub struct AuthActions {
    pub sign_up: ServerAction<SignUp>,
    pub log_in: ServerAction<LogIn>,
    pub log_out: ServerAction<LogOut>,
}

impl AuthActions {
    pub fn new() -> Self {
        Self {
            sign_up: ServerAction::new(),
            log_in: ServerAction::new(),
            log_out: ServerAction::new(),
        }
    }

    /// Changes whenever any of the actions completes.
    pub fn version(&self) -> (usize, usize, usize) {
        (
            self.sign_up.version().get(),
            self.log_in.version().get(),
            self.log_out.version().get(),
        )
    }
}

impl Default for AuthActions {
    fn default() -> Self {
        Self::new()
    }
}

#[component]
pub fn SignUpPage() -> impl IntoView {
    let action = expect_context::<AuthActions>().sign_up;
    let error = last_error(action.value());
    view! {
        <section class="card narrow">
            <h1>"Create your Keygate account"</h1>
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
            <p class="muted">"Already have an account? " <A href="/login">"Log in"</A></p>
        </section>
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let action = expect_context::<AuthActions>().log_in;
    let error = last_error(action.value());
    view! {
        <section class="card narrow">
            <h1>"Log in to Keygate"</h1>
            <ActionForm action=action>
                <Field label="Email" name="email" inputmode="email" autocomplete="username" error=error />
                <Field label="Password" name="password" kind="password" autocomplete="current-password" error=error />
                <FormError error=error fields=&[] />
                <button type="submit" class="btn btn-primary" disabled=move || action.pending().get()>
                    {move || if action.pending().get() { "Logging in…" } else { "Log in" }}
                </button>
            </ActionForm>
            <p class="muted">"New to Keygate? " <A href="/signup">"Create an account"</A></p>
        </section>
    }
}

/// The right-hand side of the header: who is logged in and a log-out button, or links.
#[component]
pub fn UserMenu(user: Resource<Result<Option<UserView>, AppError>>) -> impl IntoView {
    let log_out = expect_context::<AuthActions>().log_out;
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match user.await {
                    Ok(Some(user)) => view! {
                        <nav class="user-menu" aria-label="Account">
                            <A href="/orgs">"Organizations"</A>
                            <span class="user-name" data-testid="user-name">{user.display_name}</span>
                            <ActionForm action=log_out>
                                <button type="submit" class="btn btn-link">"Log out"</button>
                            </ActionForm>
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
