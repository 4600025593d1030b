//! Usage charts: stacked bars by outcome, drawn as SVG markup on the server (no chart
//! library reaches the browser), readable without colour (each outcome has its own
//! pattern, named in the legend), with a "Show as table" toggle that reveals the same
//! numbers as a real table.

use std::fmt::Write;

use leptos::prelude::*;

use super::usage::{Outcome, Period, UsageView};

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 160.0;

/// SVG fill of each outcome: a colour plus, for every outcome but success, a pattern.
fn fill(chart_id: &str, outcome: Outcome) -> String {
    match outcome {
        Outcome::Ok => "var(--chart-ok)".into(),
        other => format!("url(#{chart_id}-{})", other.as_str()),
    }
}

/// The pattern of each refusal: stripes, dots, cross-hatch, horizontal and vertical lines,
/// a grid.
fn patterns(chart_id: &str) -> String {
    let mut defs = String::from("<defs>");
    for (outcome, shape) in [
        (
            Outcome::Revoked,
            r#"<path d="M0 8L8 0" stroke-width="2.5"/>"#,
        ),
        (
            Outcome::Expired,
            r#"<circle cx="4" cy="4" r="2" stroke-width="0"/>"#,
        ),
        (
            Outcome::Paused,
            r#"<path d="M0 0L8 8M8 0L0 8" stroke-width="1.5"/>"#,
        ),
        (
            Outcome::InsufficientScope,
            r#"<path d="M0 4H8" stroke-width="2.5"/>"#,
        ),
        (
            Outcome::RateLimited,
            r#"<path d="M4 0V8" stroke-width="2.5"/>"#,
        ),
        (
            Outcome::InsufficientPermission,
            r#"<path d="M0 4H8M4 0V8" stroke-width="1.5"/>"#,
        ),
    ] {
        let _ = write!(
            defs,
            r#"<pattern id="{chart_id}-{name}" class="pat-{name}" width="8" height="8" patternUnits="userSpaceOnUse"><rect width="8" height="8" class="pat-bg"/><g class="pat-fg">{shape}</g></pattern>"#,
            name = outcome.as_str(),
        );
    }
    defs.push_str("</defs>");
    defs
}

/// `Dec 1, 14:00` for an hour, `Dec 1` for a day.
fn bucket_label(period: Period, at: chrono::DateTime<chrono::Utc>) -> String {
    match period {
        Period::Day => at.format("%b %-d, %H:00").to_string(),
        Period::Month => at.format("%b %-d").to_string(),
    }
}

/// The chart's markup: one stacked bar per bucket, each with a tooltip.
fn svg(chart_id: &str, usage: &UsageView, label: &str) -> String {
    let max = usage
        .buckets
        .iter()
        .map(|b| b.total())
        .max()
        .unwrap_or(0)
        .max(1);
    let n = usage.buckets.len().max(1) as f64;
    let slot = WIDTH / n;
    let bar = (slot * 0.72).max(1.0);
    let mut out = format!(
        r#"<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{label}" focusable="false">{}"#,
        patterns(chart_id)
    );
    let _ = write!(
        out,
        r#"<line x1="0" y1="{HEIGHT}" x2="{WIDTH}" y2="{HEIGHT}" class="chart-axis"/>"#
    );
    for (i, bucket) in usage.buckets.iter().enumerate() {
        let x = i as f64 * slot + (slot - bar) / 2.0;
        let mut y = HEIGHT;
        let _ = write!(
            out,
            "<g><title>{}: {} requests</title>",
            bucket_label(usage.period, bucket.start),
            bucket.total()
        );
        for outcome in Outcome::ALL {
            let count = bucket.counts[outcome as usize];
            if count == 0 {
                continue;
            }
            let h = (count as f64 / max as f64 * (HEIGHT - 4.0)).max(1.5);
            y -= h;
            let _ = write!(
                out,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{h:.1}" fill="{}" class="bar-{}"/>"#,
                fill(chart_id, outcome),
                outcome.as_str()
            );
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    out
}

/// A swatch of an outcome's fill for the legend.
fn swatch(chart_id: &str, outcome: Outcome) -> String {
    format!(
        r#"<svg viewBox="0 0 14 14" width="14" height="14" aria-hidden="true" focusable="false">{}<rect width="14" height="14" fill="{}" class="swatch-border"/></svg>"#,
        if outcome == Outcome::Ok {
            String::new()
        } else {
            patterns(&format!("{chart_id}-legend"))
        },
        fill(&format!("{chart_id}-legend"), outcome)
    )
}

/// Requests over a period as a stacked bar chart with its total, error rate, legend and
/// a "Show as table" toggle. `chart_id` must be unique on the page.
#[component]
pub fn UsageChart(usage: UsageView, #[prop(into)] chart_id: String) -> impl IntoView {
    let total = usage.total();
    let unit = match usage.period {
        Period::Day => "hour",
        Period::Month => "day",
    };
    let label = format!(
        "Requests per {unit}, {}: {total} in all, error rate {}",
        usage.period.label().to_lowercase(),
        usage.error_rate_text()
    );
    let max = usage.buckets.iter().map(|b| b.total()).max().unwrap_or(0);
    let first = usage
        .buckets
        .first()
        .map(|b| bucket_label(usage.period, b.start))
        .unwrap_or_default();
    let last = usage
        .buckets
        .last()
        .map(|b| bucket_label(usage.period, b.start))
        .unwrap_or_default();
    // The outcomes that occurred, in the legend and the table; success always.
    let shown: Vec<Outcome> = Outcome::ALL
        .into_iter()
        .filter(|o| *o == Outcome::Ok || usage.of(*o) > 0)
        .collect();
    let table_id = format!("{chart_id}-table");
    let legend = shown
        .iter()
        .map(|o| {
            let o = *o;
            view! {
                <li>
                    <span class="swatch" inner_html=swatch(&chart_id, o)></span>
                    {format!("{} {}", o.label(), usage.of(o))}
                </li>
            }
        })
        .collect_view();
    let rows = usage
        .buckets
        .iter()
        .rev()
        .map(|b| {
            let when = bucket_label(usage.period, b.start);
            let cells = shown
                .iter()
                .map(
                    |o| view! { <td class="num" data-label=o.label()>{b.counts[*o as usize]}</td> },
                )
                .collect_view();
            view! {
                <tr>
                    <th scope="row">{when}</th>
                    {cells}
                    <td class="num" data-label="Total">{b.total()}</td>
                </tr>
            }
        })
        .collect_view();
    let heads = shown
        .iter()
        .map(|o| view! { <th scope="col" class="num">{o.label()}</th> })
        .collect_view();
    view! {
        <div class="usage-chart" data-testid="usage-chart" data-period=usage.period.as_str()>
            <dl class="usage-figures">
                <div><dt>"Requests"</dt><dd data-testid="usage-total">{total}</dd></div>
                <div><dt>"Errors"</dt><dd data-testid="usage-errors">{usage.errors()}</dd></div>
                <div><dt>"Error rate"</dt><dd data-testid="usage-error-rate">{usage.error_rate_text()}</dd></div>
            </dl>
            <div class="chart-frame">
                <span class="chart-max muted small">{format!("{max} per {unit} at most")}</span>
                <div class="chart-svg" inner_html=svg(&chart_id, &usage, &label)></div>
                <div class="chart-range muted small"><span>{first}</span><span>{last}</span></div>
            </div>
            <ul class="chart-legend" aria-label="Legend">{legend}</ul>
            // Opens and closes without script.
            <details class="chart-table">
                <summary class="btn btn-link btn-small">
                    <span class="when-closed">"Show as table"</span><span class="when-open">"Hide table"</span>
                </summary>
            <div class="table-scroll" id=table_id>
                <table class="table usage-table" data-testid="usage-table">
                    <caption class="sr-only">{label.clone()}</caption>
                    <thead>
                        <tr>
                            <th scope="col">{if unit == "hour" { "Hour (UTC)" } else { "Day (UTC)" }}</th>
                            {heads}
                            <th scope="col" class="num">"Total"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
            </details>
        </div>
    }
}
