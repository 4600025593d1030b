//! The one-time reveal of a created or rolled key: the keys list that answers the form
//! shows the secret once, above the list (`flash::show_in_answer`); the secret is never
//! in a later page. With script it opens in the page dialog (`hooks::SHOW_MODAL`), and
//! Done (or Escape) before Copy asks "Close anyway?" first (`hooks::ASK`).

use leptos::prelude::*;

use super::CreatedKey;
use crate::components::CopyButton;
use crate::hooks::{self, hook};

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
            <section class="card reveal" data-testid="reveal" aria-labelledby="reveal-title"
                {..hook(hooks::SHOW_MODAL, "")}>
                <h2 id="reveal-title" tabindex="-1" autofocus>{title}</h2>
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
                <div class="dialog-actions">
                    <a class="btn btn-primary" href=keys_path.clone() {..hook(hooks::UNLESS_COPIED, "")}>"Done"</a>
                </div>
                <div class="alert alert-warn close-anyway" role="alertdialog" aria-labelledby="close-anyway-text"
                    data-testid="close-anyway" hidden {..hook(hooks::ASK, "")}>
                    <p id="close-anyway-text"><strong>"You have not copied this key. Close anyway?"</strong>
                        " It cannot be shown again."</p>
                    <div class="dialog-actions">
                        <button type="button" class="btn btn-secondary" {..hook(hooks::KEEP, "")}>"Keep it open"</button>
                        <a class="btn btn-danger" href=keys_path>"Close anyway"</a>
                    </div>
                </div>
            </section>
        }
    })
}
