//! None / Read / Write per resource of the catalog, as Stripe's restricted keys offer
//! them: the create dialog's and a key's page's first way to give permissions, beside the
//! typed list (for wildcards, roles and actions other than read and write).

use leptos::prelude::*;

use super::ResourceAccess;

/// One `<select>` per resource, named `access[<resource>]` (a map the server function
/// takes), each option's value the permissions it gives. `held`: the key's own
/// permissions, which choose the selected option.
#[component]
pub fn AccessFields(
    /// The form's id: the selects' ids start with it.
    form: &'static str,
    access: Vec<ResourceAccess>,
    #[prop(optional)] held: Vec<String>,
) -> impl IntoView {
    (!access.is_empty()).then(|| {
        let rows = access
            .into_iter()
            .map(|a| {
                let id = a.select_id(form);
                let label_for = id.clone();
                let (level, _) = a.held(&held);
                let option = |label: &'static str, value: Option<String>| {
                    value.map(|value| {
                        view! { <option value=value selected=level == label>{label}</option> }
                    })
                };
                view! {
                    <div class="access-row">
                        <label for=label_for><code>{a.resource.clone()}</code></label>
                        <select id=id name=format!("access[{}]", a.resource) data-testid="access-level">
                            <option value="" selected=level == "None">"None"</option>
                            {option("Read", a.read.clone())}
                            {option("Write", a.write.clone())}
                        </select>
                    </div>
                }
            })
            .collect_view();
        view! {
            <fieldset class="field access">
                <legend>"Access by resource"</legend>
                <p class="muted small">"Write includes Read."</p>
                <div class="access-grid">{rows}</div>
            </fieldset>
        }
    })
}
