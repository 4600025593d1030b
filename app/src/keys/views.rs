//! Pieces the key pages share: a key's hint, the activity list, times, and the period
//! of a usage chart (in the URL, so a view can be shared and survives a reload).

use chrono::Utc;
use leptos::either::Either;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::usage::Period;
use super::{AuditEventView, relative};

/// A key's hint, its first characters: nothing for an imported key that came without one.
#[component]
pub(crate) fn Hint(hint: String) -> impl IntoView {
    (!hint.is_empty()).then(|| {
        view! { <code class="hint" title="The first characters of the key">{format!("{hint}…")}</code> }
    })
}

/// `Dec 1, 2026, 14:05 UTC`.
pub(crate) fn format_time(at: chrono::DateTime<Utc>) -> String {
    at.format("%b %-d, %Y, %H:%M UTC").to_string()
}

/// The period a page shows, from `?<name>=24h|30d` (24 hours by default).
pub fn use_period(name: &'static str) -> Memo<Period> {
    let query = use_query_map();
    Memo::new(move |_| {
        query
            .read()
            .get(name)
            .and_then(|p| Period::parse(&p))
            .unwrap_or(Period::Day)
    })
}

/// Links between the two periods, the current one marked for assistive technology.
#[component]
pub fn PeriodSwitch(current: Period, base: String, name: &'static str) -> impl IntoView {
    let link = move |period: Period, text: &'static str| {
        let href = format!("{base}?{name}={}", period.as_str());
        // A plain link (the router still handles it): `A` would set its own aria-current.
        view! {
            <a href=href class="period-link" aria-current=(period == current).then_some("true")>{text}</a>
        }
    };
    view! {
        <nav class="period-switch" aria-label="Period">
            {link(Period::Day, "24 hours")}
            {link(Period::Month, "30 days")}
        </nav>
    }
}

#[component]
pub(crate) fn Activity(
    events: Vec<AuditEventView>,
    /// What to say when there are no events.
    #[prop(default = "Nothing has happened to this organization's keys yet.")]
    empty: &'static str,
) -> impl IntoView {
    let now = Utc::now();
    view! {
        <section class="card">
            <h2>"Activity"</h2>
            {if events.is_empty() {
                Either::Left(view! { <p class="muted">{empty}</p> })
            } else {
                Either::Right(view! {
                    <ol class="activity" data-testid="activity">
                        {events.into_iter().map(|e| {
                            let what = match crate::audit::Action::parse(&e.action) {
                                Some(action) => action.sentence(&e.key_name),
                                None => format!(" {} key “{}”", e.action, e.key_name),
                            };
                            // No empty text node when there is no detail: hydration needs the
                            // browser's DOM to match the server's markup exactly.
                            let detail = e.detail.map(|d| view! { <span class="muted">{format!(": {d}")}</span> });
                            view! {
                                <li>
                                    <span><strong>{e.actor}</strong>{what}{detail}</span>
                                    <time class="muted small" datetime=e.at.to_rfc3339()>{relative(e.at, now)}</time>
                                </li>
                            }
                        }).collect_view()}
                    </ol>
                })
            }}
        </section>
    }
}
