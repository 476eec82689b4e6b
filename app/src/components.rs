//! Small pieces the pages share.

use crate::error::AppError;
use crate::model::{RequestStatus, StackInput};
use leptos::prelude::*;

/// An error shown to the user; "sign in" errors link to the sign-in page.
#[component]
pub fn ErrorNote(error: AppError) -> impl IntoView {
    let signed_out = error == AppError::Unauthorized;
    view! {
        <div class="error-box" role="alert">
            <p>{error.to_string()}</p>
            {signed_out.then(|| view! { <p><a href="/login">"Sign in"</a></p> })}
        </div>
    }
}

#[component]
pub fn StatusBadge(status: RequestStatus) -> impl IntoView {
    view! { <span class=format!("badge status-{}", status.as_str())>{status.label()}</span> }
}

/// One stack's name and parameters as `key = value` rows.
#[component]
pub fn StackTable(title: &'static str, stack: StackInput) -> impl IntoView {
    view! {
        <section class="stack">
            <h3>{title} <code class="stack-name">{stack.stack_name}</code></h3>
            <table class="params">
                <tbody>
                    {stack
                        .parameters
                        .into_iter()
                        .filter(crate::stacks::shown)
                        .map(|p| {
                            // An empty text node does not survive the trip through HTML, and
                            // hydration would stumble on its absence.
                            let value = if p.value.is_empty() { "(empty)".to_string() } else { p.value };
                            view! { <tr><th>{p.key}</th><td><code>{value}</code></td></tr> }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </section>
    }
}

/// "3 h", "2 d": how long ago, from a number of seconds.
pub fn age(seconds: i64) -> String {
    match seconds.max(0) {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    }
}

/// A value percent-encoded for a query string.
pub fn url_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `path?k=v&...` with the given values, leaving out the absent ones: the links of list
/// filters, sort orders and pages.
pub fn href_with(path: &str, pairs: &[(&str, Option<String>)]) -> String {
    let query: Vec<String> = pairs.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", url_encode(v)))).collect();
    format!("{path}?{}", query.join("&"))
}

/// A counter that goes up every `every` while the page is open in a browser (never on the
/// server): a resource keyed on it refreshes itself.
pub fn ticker(every: std::time::Duration) -> ReadSignal<u32> {
    let (tick, set_tick) = signal(0u32);
    Effect::new(move |_| {
        if let Ok(handle) = set_interval_with_handle(move || set_tick.update(|t| *t += 1), every) {
            on_cleanup(move || handle.clear());
        }
    });
    tick
}

#[component]
pub fn VerdictBadge(verdict: crate::health::Verdict) -> impl IntoView {
    view! { <span class=format!("badge health-{}", verdict.as_str())>{verdict.as_str()}</span> }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_only_the_values_given_and_encode_them() {
        let href = href_with("/dashboard", &[("q", Some("a b&c".into())), ("team", None), ("sort", Some("name".into()))]);
        assert_eq!(href, "/dashboard?q=a%20b%26c&sort=name");
    }
}

/// An API's estimated monthly cost: the total, what is its own money, the range when it
/// scales, the environment it shares, what a revision changes, and the lines behind it.
#[component]
pub fn CostView(summary: crate::cost::CostSummary) -> impl IntoView {
    let s = summary;
    view! {
        <section class="cost" id="cost-estimate">
            <h3>"Estimated cost"</h3>
            <p class="cost-total" id="cost-api"><strong>"This API: "</strong>{s.api.clone()}</p>
            {s.api_added.clone().map(|a| view! { <p class="hint" id="cost-added">{a}</p> })}
            {s.api_scaling.clone().map(|r| view! { <p id="cost-scaling">{r}</p> })}
            {s.change.clone().map(|c| view! { <p class="cost-change" id="cost-change"><strong>"This revision: "</strong>{c}</p> })}
            {s.environment.clone().map(|e| view! { <p id="cost-environment">"Its environment: " {e}</p> })}
            {(!s.lines.is_empty()).then(|| view! {
                <details>
                    <summary>"How it adds up"</summary>
                    <table class="params cost-lines">
                        <thead><tr><th>"Item"</th><th>"Quantity"</th><th>"Unit price"</th><th>"A month"</th><th>"Basis"</th></tr></thead>
                        <tbody>
                            {s.lines.iter().map(|l| view! {
                                <tr class:cost-share=l.share>
                                    <td>{l.item.clone()}{l.share.then_some(" (share of the environment)")}</td>
                                    <td>{l.quantity.clone()}</td>
                                    <td>{l.unit_price.clone()}</td>
                                    <td>{l.monthly.clone()}</td>
                                    <td>{l.basis.clone()}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </details>
            })}
            <p class="hint cost-source">{s.prices.clone()} " Not counted: " {s.not_counted.join("; ")} "."</p>
        </section>
    }
}
