//! The audit log: filters, pages newest first, exports of the selection and, for admins,
//! the state of the hash chain. Each request's page shows its own part as a timeline.

use crate::api::{list_audit, verify_audit};
use crate::components::{url_encode, ErrorNote};
use crate::error::AppError;
use crate::model::{AuditEntry, AuditFilter, ChainStatus, Page, Role};
use crate::CurrentUser;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// Filters, "next page" and the export links are plain GET forms and links, so they work
/// before (and without) the wasm.
#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let filter = move || {
        let q = query.read();
        let text = |k: &str| q.get(k).filter(|v| !v.is_empty());
        AuditFilter {
            actor: text("actor"),
            action: text("action"),
            request: text("request"),
            from: text("from"),
            to: text("to"),
            limit: text("limit"),
            cursor: text("cursor"),
        }
    };
    let rows = Resource::new(filter, list_audit);
    // Created with the page (a resource created while a suspended part resolves does not
    // hydrate); the server refuses everyone but admins before reading anything.
    let chain: ChainResource = Resource::new(|| (), |_| verify_audit());
    let user = expect_context::<CurrentUser>();

    view! {
        <section class="page">
            <div class="page-head">
                <h1>"Audit log"</h1>
                <p class="downloads" id="audit-exports">
                    "Export this selection: "
                    <a href=move || export_href("csv", &filter()) download>"CSV"</a>
                    " · "
                    <a href=move || export_href("json", &filter()) download>"JSON"</a>
                </p>
            </div>
            <Suspense fallback=|| view! { <p class="chain">"Verifying the hash chain…"</p> }>
                {move || Suspend::new(async move {
                    let admin = matches!(user.await, Ok(Some(u)) if u.role == Role::Admin);
                    if admin {
                        Some(view! { <ChainState status=chain.await/> })
                    } else {
                        None
                    }
                })}
            </Suspense>
            <form method="get" action="/audit" class="filters" id="audit-filters">
                <label>"Actor" <input name="actor" value=move || filter().actor.unwrap_or_default() size="12"/></label>
                <label>
                    "Action"
                    <input name="action" value=move || filter().action.unwrap_or_default() size="16" placeholder="request.create"/>
                </label>
                <label>"Request" <input name="request" value=move || filter().request.unwrap_or_default() size="6"/></label>
                <label>"From" <input type="date" name="from" value=move || filter().from.unwrap_or_default()/></label>
                <label>"To" <input type="date" name="to" value=move || filter().to.unwrap_or_default()/></label>
                <button type="submit">"Filter"</button>
            </form>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match rows.await {
                        Err(e) => view! { <FilterErrors error=e/> }.into_any(),
                        Ok(page) if page.items.is_empty() => {
                            view! { <p class="empty">"No audit rows match."</p> }.into_any()
                        }
                        Ok(page) => {
                            let current = filter();
                            let newest = current.cursor.is_some().then(|| audit_href(&AuditFilter { cursor: None, ..current.clone() }));
                            let next = page.next_cursor.map(|cursor| audit_href(&AuditFilter { cursor: Some(cursor), ..current }));
                            view! {
                                <table class="list audit" id="audit-list">
                                    <thead>
                                        <tr>
                                            <th>"Time (UTC)"</th><th>"Actor"</th><th>"Action"</th><th>"Subject"</th>
                                            <th>"Request"</th><th>"Details"</th><th>"Hash"</th>
                                        </tr>
                                    </thead>
                                    <tbody>
                                        {page.items.into_iter().map(|entry| view! { <AuditRow entry/> }).collect_view()}
                                    </tbody>
                                </table>
                                <nav class="pager">
                                    {newest.map(|href| view! { <a href=href>"← Newest"</a> " " })}
                                    {next.map(|href| view! { <a href=href rel="next">"Older →"</a> })}
                                </nav>
                            }
                                .into_any()
                        }
                    }
                })}
            </Transition>
        </section>
    }
}

type ChainResource = Resource<Result<ChainStatus, AppError>>;

/// The verification of the whole hash chain, for admins. It reads every row; the page is
/// streamed, so the rest of it shows while this part is still being computed.
#[component]
fn ChainState(status: Result<ChainStatus, AppError>) -> impl IntoView {
    match status {
        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
        Ok(ChainStatus { broken: None, verified_rows, last_hash }) => view! {
            <p class="chain ok" id="chain-state">
                {format!("Chain verified: {verified_rows} rows")}
                {last_hash.map(|hash| view! { " · last hash " <code title=hash.clone()>{short(&hash)}</code> })}
            </p>
        }
            .into_any(),
        Ok(ChainStatus { broken: Some(broken), verified_rows, .. }) => view! {
            <div class="chain broken" id="chain-state" role="alert">
                <p><strong>{format!("Broken at row {} ({})", broken.id, broken.kind.label())}</strong> ": " {broken.reason}</p>
                <p>
                    "Stored hash " <code>{broken.stored_hash}</code> ", expected " <code>{broken.expected_hash}</code> ". "
                    {format!("The {verified_rows} rows before it check out.")}
                </p>
            </div>
        }
            .into_any(),
    }
}

/// Bad filters listed by name, since a summary ("2 fields need attention") would not say
/// which.
#[component]
fn FilterErrors(error: AppError) -> impl IntoView {
    let fields = error.field_errors();
    if fields.is_empty() {
        return view! { <ErrorNote error/> }.into_any();
    }
    view! {
        <div class="error-box" role="alert" id="audit-errors">
            <p>"Check the filters:"</p>
            <ul>{fields.into_iter().map(|f| view! { <li>{format!("{}: {}", f.field, f.message)}</li> }).collect_view()}</ul>
        </div>
    }
    .into_any()
}

#[component]
fn AuditRow(entry: AuditEntry) -> impl IntoView {
    view! {
        <tr>
            <td class="at">{entry.at}</td>
            <td>{entry.actor}</td>
            <td><code>{entry.action}</code></td>
            <td>{subject_link(&entry.subject)}</td>
            <td>{entry.request_id.map(|id| view! { <a href=format!("/requests/{id}")>{id.clone()}</a> })}</td>
            <td class="details"><Details details=entry.details/></td>
            <td><code class="hash" title=entry.hash.clone()>{short(&entry.hash)}</code></td>
        </tr>
    }
}

/// The details of a row: one line, unfolding into the whole JSON.
#[component]
fn Details(details: serde_json::Value) -> impl IntoView {
    if details.as_object().is_some_and(|o| o.is_empty()) {
        return view! { <span class="empty">"—"</span> }.into_any();
    }
    let line = details.to_string();
    let summary = if line.chars().count() > 60 { format!("{}…", line.chars().take(60).collect::<String>()) } else { line };
    let pretty = serde_json::to_string_pretty(&details).unwrap_or_default();
    view! {
        <details>
            <summary><code>{summary}</code></summary>
            <pre>{pretty}</pre>
        </details>
    }
    .into_any()
}

/// "request:12" as a link to the request, "environment:staging" to the environment.
fn subject_link(subject: &str) -> AnyView {
    match subject.split_once(':') {
        Some(("request", id)) => view! { <a href=format!("/requests/{id}")>{subject.to_string()}</a> }.into_any(),
        Some(("environment", name)) => view! { <a href=format!("/environments/{name}")>{subject.to_string()}</a> }.into_any(),
        _ => subject.to_string().into_any(),
    }
}

/// The start of a hash: enough to compare by eye.
fn short(hash: &str) -> String {
    format!("{}…", hash.get(..12).unwrap_or(hash))
}

fn filter_pairs(filter: &AuditFilter) -> Vec<(&'static str, String)> {
    [
        ("actor", &filter.actor),
        ("action", &filter.action),
        ("request", &filter.request),
        ("from", &filter.from),
        ("to", &filter.to),
    ]
    .into_iter()
    .filter_map(|(key, value)| value.clone().map(|v| (key, v)))
    .collect()
}

fn query(pairs: Vec<(&str, String)>) -> String {
    pairs.into_iter().map(|(k, v)| format!("{k}={}", url_encode(&v))).collect::<Vec<_>>().join("&")
}

/// The page of `filter`, its limit and cursor included.
fn audit_href(filter: &AuditFilter) -> String {
    let mut pairs = filter_pairs(filter);
    pairs.extend(filter.limit.clone().map(|l| ("limit", l)));
    pairs.extend(filter.cursor.clone().map(|c| ("cursor", c)));
    format!("/audit?{}", query(pairs))
}

/// The export of the whole selection: the filters without the page position.
fn export_href(format: &str, filter: &AuditFilter) -> String {
    let mut pairs = vec![("format", format.to_string())];
    pairs.extend(filter_pairs(filter));
    format!("/api/v1/audit/export?{}", query(pairs))
}

/// The audit rows of one API request, newest first. Created with the request page (a
/// resource created while a suspended part resolves does not hydrate), refreshed with it.
pub type TimelineRows = Resource<Result<Page<AuditEntry>, AppError>>;

pub fn timeline_rows(id: impl Fn() -> String + Send + Sync + 'static, refresh: impl Fn() + Send + Sync + 'static) -> TimelineRows {
    Resource::new(
        move || {
            refresh();
            AuditFilter { request: Some(id()), ..Default::default() }
        },
        list_audit,
    )
}

/// The audit trail of one API request, newest first, for its page.
#[component]
pub fn RequestTimeline(request_id: String, rows: TimelineRows) -> impl IntoView {
    let full = audit_href(&AuditFilter { request: Some(request_id), ..Default::default() });
    view! {
        <section class="timeline" id="request-timeline">
            <h2>"History"</h2>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match rows.await {
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        Ok(page) => view! {
                            <ol>
                                {page
                                    .items
                                    .into_iter()
                                    .map(|e| {
                                        let revision = e.details.get("revision").map(|r| format!(" (revision {r})"));
                                        view! {
                                            <li>
                                                <span class="at">{e.at}</span> " " <strong>{e.actor}</strong> " "
                                                <code>{e.action}</code> {revision}
                                            </li>
                                        }
                                    })
                                    .collect_view()}
                            </ol>
                        }
                            .into_any(),
                    }
                })}
            </Suspense>
            <p><a href=full>"In the audit log"</a></p>
        </section>
    }
}
