//! The one-time reveal of a key created or rolled by a form the browser posted itself
//! (the create page, a roll's page): the keys list that answers that form shows the
//! secret once, above the list (`flash::show_in_answer`). A reload asks to post the form
//! again; the secret is never in a later page. With the script the dialogs show it in
//! place instead (`dialogs::script`).

use leptos::prelude::*;

use super::CreatedKey;
use crate::components::CopyButton;

/// A created or rolled key, as its form's answer shows it.
#[derive(Clone)]
pub(crate) struct Revealed {
    pub created: CreatedKey,
    pub rolled: bool,
}

/// The secret this page answers with, if any.
#[component]
pub(crate) fn RevealedKey(keys_path: String) -> impl IntoView {
    crate::flash::in_answer::<Revealed>().map(|Revealed { created, rolled }| {
        let secret = created.secret.clone();
        let overlap = created.key.rolling.is_some();
        let title = if rolled {
            format!("New secret for key “{}”", created.key.name)
        } else {
            format!("Your key “{}”", created.key.name)
        };
        view! {
            <section class="card reveal" data-testid="reveal" aria-labelledby="reveal-title">
                <h2 id="reveal-title">{title}</h2>
                <div class="alert alert-warn" role="note">
                    "Copy this key now and store it somewhere safe. You will not be able to see it again."
                </div>
                {overlap.then(|| view! {
                    <p class="muted">"The old secret keeps working until the overlap you chose ends."</p>
                })}
                <div class="secret-row">
                    <code class="secret" data-testid="secret">{created.secret}</code>
                    <CopyButton text=secret label="Copy API key" />
                </div>
                <div class="form-actions">
                    <a class="btn btn-primary" href=keys_path
                        data-unless-copied="You have not copied this key. Close anyway? It cannot be shown again.">"Done"</a>
                </div>
            </section>
        }
    })
}
