//! Is it up? The health panel of a deployed request and the dashboard of every deployed API.

use crate::api::{get_dashboard, get_health, list_environments};
use crate::components::{href_with, ticker, ErrorNote, StatusBadge, VerdictBadge};
use crate::error::AppError;
use crate::health::{DashboardFilter, Health, Verdict, SORTS};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use std::time::Duration;

/// How often an open page asks again. The server answers from its cache, which one poller
/// keeps fresh while anyone looks, so more viewers do not mean more AWS calls.
const PANEL_REFRESH: Duration = Duration::from_secs(5);
const DASHBOARD_REFRESH: Duration = Duration::from_secs(15);

/// The health of request `id`'s service, refreshed while the page is open. Created by the
/// page itself (not inside a suspended view) so hydration finds it.
pub fn health_resource(id: impl Fn() -> String + Send + Sync + 'static) -> Resource<Result<Health, AppError>> {
    let tick = ticker(PANEL_REFRESH);
    Resource::new(move || (id(), tick.get()), |(id, _)| get_health(id))
}

#[component]
pub fn HealthPanel(health: Resource<Result<Health, AppError>>) -> impl IntoView {
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match health.await {
                    // Not deployed (yet, or any more): nothing to report.
                    Err(AppError::Conflict(_)) => ().into_any(),
                    Err(e) => view! { <section class="health" id="health"><h2>"Health"</h2><ErrorNote error=e/></section> }.into_any(),
                    Ok(h) => view! { <HealthView health=h/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn HealthView(health: Health) -> impl IntoView {
    let Health { service, tasks, events, targets, fetched_at, verdict, summary, error } = health;
    view! {
        <section class="health" id="health" data-verdict=verdict.as_str()>
            <h2>"Health " <VerdictBadge verdict=verdict/></h2>
            <p class="health-summary" id="health-summary">{summary}</p>
            <p class="muted">"Read from AWS at " <time id="health-fetched-at">{fetched_at}</time> "; this panel refreshes every few seconds."</p>
            {error.map(|e| view! { <p class="error-box" role="alert">"The latest read failed, these facts are older: " {e}</p> })}
            <dl class="facts" id="health-service">
                <dt>"Service status"</dt><dd>{service.status.clone()}</dd>
                <dt>"Tasks desired / running / pending"</dt>
                <dd id="health-counts">{format!("{} / {} / {}", service.desired, service.running, service.pending)}</dd>
                <dt>"Rollout"</dt><dd id="health-rollout">{service.rollout_state.clone().unwrap_or_else(|| "-".into())}</dd>
            </dl>
            <h3>"Deployments"</h3>
            <table class="list" id="health-deployments">
                <thead><tr><th>"Status"</th><th>"Task definition"</th><th>"Desired"</th><th>"Running"</th><th>"Pending"</th><th>"Failed"</th><th>"Rollout"</th><th>"Updated"</th></tr></thead>
                <tbody>
                    {service.deployments.into_iter().map(|d| view! {
                        <tr>
                            <td>{d.status}</td><td><code>{d.task_definition}</code></td><td>{d.desired}</td><td>{d.running}</td>
                            <td>{d.pending}</td><td>{d.failed}</td>
                            <td title=d.rollout_state_reason.unwrap_or_default()>{d.rollout_state.unwrap_or_else(|| "-".into())}</td>
                            <td>{d.updated_at.unwrap_or_else(|| "-".into())}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
            <h3>"Tasks"</h3>
            {if tasks.is_empty() {
                view! { <p class="empty" id="health-tasks">"No tasks."</p> }.into_any()
            } else {
                view! {
                    <table class="list" id="health-tasks">
                        <thead><tr><th>"Task"</th><th>"Status"</th><th>"Desired"</th><th>"Health"</th><th>"Started"</th><th>"Stopped"</th><th>"Stopped because"</th><th>"Exit codes"</th></tr></thead>
                        <tbody>
                            {tasks.into_iter().map(|t| {
                                let exits = t.containers.iter()
                                    .filter_map(|c| c.exit_code.map(|code| format!("{}: {code}", c.name)))
                                    .collect::<Vec<_>>()
                                    .join(", ");
                                let reason = [t.stop_code.clone(), t.stopped_reason.clone()].into_iter().flatten().collect::<Vec<_>>().join(": ");
                                let row_class = format!("task task-{}", t.last_status.to_lowercase());
                                let health_class = format!("task-health-{}", t.health.to_lowercase());
                                view! {
                                    <tr class=row_class>
                                        <td><code>{t.task_id}</code></td>
                                        <td>{t.last_status}</td>
                                        <td>{t.desired_status}</td>
                                        <td class=health_class>{t.health}</td>
                                        <td>{t.started_at.unwrap_or_else(|| "-".into())}</td>
                                        <td>{t.stopped_at.unwrap_or_else(|| "-".into())}</td>
                                        <td class="stopped-reason">{if reason.is_empty() { "-".to_string() } else { reason }}</td>
                                        <td>{if exits.is_empty() { "-".to_string() } else { exits }}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
            <h3>"Load balancer targets"</h3>
            {if targets.is_empty() {
                view! { <p class="empty" id="health-targets">"No targets registered."</p> }.into_any()
            } else {
                view! {
                    <table class="list" id="health-targets">
                        <thead><tr><th>"Target"</th><th>"Port"</th><th>"State"</th><th>"Reason"</th></tr></thead>
                        <tbody>
                            {targets.into_iter().map(|t| {
                                let why = [t.reason, t.description].into_iter().flatten().collect::<Vec<_>>().join(": ");
                                let row_class = format!("target target-{}", t.state);
                                view! {
                                    <tr class=row_class>
                                        <td><code>{t.id}</code></td>
                                        <td>{t.port.map(|p| p.to_string()).unwrap_or_else(|| "-".into())}</td>
                                        <td>{t.state}</td>
                                        <td>{if why.is_empty() { "-".to_string() } else { why }}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
            <h3>"Service events"</h3>
            {if events.is_empty() {
                view! { <p class="empty" id="health-events">"No events yet."</p> }.into_any()
            } else {
                view! {
                    <ul class="service-events" id="health-events">
                        {events.into_iter().map(|e| view! { <li><time>{e.at}</time> " " {e.message}</li> }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}

/// Every deployed API the user may see, worst first by default. Filters and sorting are
/// GET links, so they work before the wasm loads; the list refreshes itself while open.
#[component]
pub fn DashboardPage() -> impl IntoView {
    let query = use_query_map();
    let filter = move || {
        let q = query.read();
        let text = |k: &str| q.get(k).filter(|v| !v.is_empty());
        DashboardFilter {
            verdict: text("verdict"),
            environment: text("environment"),
            team: text("team"),
            q: text("q"),
            sort: text("sort"),
            limit: text("limit").and_then(|v| v.parse().ok()),
            cursor: text("cursor"),
        }
    };
    let tick = ticker(DASHBOARD_REFRESH);
    let items = Resource::new(move || (filter(), tick.get()), |(f, _)| get_dashboard(f));
    let environments = Resource::new(|| (), |_| list_environments());
    let sort_link = move |sort: &'static str, label: &'static str| {
        let f = DashboardFilter { sort: Some(sort.into()), cursor: None, ..filter() };
        let current = filter().sort.unwrap_or_else(|| "health".into()) == sort;
        view! { <a href=dashboard_href(&f) class:current=current>{label}</a> }
    };
    view! {
        <section class="page">
            <div class="page-head"><h1>"Dashboard"</h1></div>
            <p class="muted">"Every deployed API and whether it is up, from ECS and the load balancer. Worst first unless sorted otherwise."</p>
            <form method="get" action="/dashboard" class="filters" id="dashboard-filters">
                <label>
                    "Health"
                    <select name="verdict">
                        <option value="">"Any"</option>
                        {move || {
                            let current = filter().verdict.unwrap_or_default();
                            Verdict::ALL.into_iter().map(|v| view! { <option value=v.as_str() selected=current == v.as_str()>{v.as_str()}</option> }).collect_view()
                        }}
                    </select>
                </label>
                <label>
                    "Environment"
                    <select name="environment">
                        <option value="">"Any"</option>
                        <Transition fallback=|| ()>
                            {move || Suspend::new(async move {
                                let current = filter().environment.unwrap_or_default();
                                environments.await.unwrap_or_default().into_iter().map(|e| {
                                    let selected = e.name == current;
                                    let label = e.name.clone();
                                    view! { <option value=e.name selected=selected>{label}</option> }
                                }).collect_view()
                            })}
                        </Transition>
                    </select>
                </label>
                <label>"Team " <input name="team" value=move || filter().team.unwrap_or_default() size="12"/></label>
                <label>"Name " <input name="q" value=move || filter().q.unwrap_or_default() size="14"/></label>
                <label>
                    "Sort"
                    <select name="sort">
                        {move || {
                            let current = filter().sort.unwrap_or_else(|| "health".into());
                            SORTS.into_iter().map(|s| view! { <option value=s selected=current == s>{s}</option> }).collect_view()
                        }}
                    </select>
                </label>
                <button type="submit">"Filter"</button>
            </form>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match items.await {
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        Ok(page) if page.items.is_empty() => view! { <p class="empty" id="dashboard-empty">"No deployed API matches."</p> }.into_any(),
                        Ok(page) => {
                            let next = page.next_cursor.map(|cursor| dashboard_href(&DashboardFilter { cursor: Some(cursor), ..filter() }));
                            view! {
                                <table class="list" id="dashboard">
                                    <thead>
                                        <tr>
                                            <th>{sort_link("name", "Service")}</th><th>{sort_link("health", "Health")}</th><th>"Why"</th>
                                            <th>{sort_link("environment", "Environment")}</th><th>{sort_link("team", "Team")}</th>
                                            <th>"Status"</th><th>"Drift"</th><th>"Public URL"</th><th>"Read at"</th>
                                        </tr>
                                    </thead>
                                    <tbody>
                                        {page.items.into_iter().map(|item| view! {
                                            <tr data-verdict=item.verdict.as_str()>
                                                <td><a href=format!("/requests/{}", item.request_id)>{item.service_name}</a></td>
                                                <td><VerdictBadge verdict=item.verdict/></td>
                                                <td>{item.summary}</td>
                                                <td>{item.environment}</td>
                                                <td>{item.team}</td>
                                                <td><StatusBadge status=item.status/></td>
                                                <td><span class=format!("badge drift-{}", item.drift.as_str())>{item.drift.label()}</span></td>
                                                <td>{item.public_url.map(|url| view! { <a href=url.clone()>{url.clone()}</a> }.into_any()).unwrap_or_else(|| "-".into_any())}</td>
                                                <td>{item.fetched_at.unwrap_or_else(|| "not yet".into())}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                                <nav class="pager">{next.map(|href| view! { <a href=href rel="next">"Next page →"</a> })}</nav>
                            }.into_any()
                        }
                    }
                })}
            </Transition>
        </section>
    }
}

fn dashboard_href(f: &DashboardFilter) -> String {
    href_with(
        "/dashboard",
        &[
            ("verdict", f.verdict.clone()),
            ("environment", f.environment.clone()),
            ("team", f.team.clone()),
            ("q", f.q.clone()),
            ("sort", f.sort.clone()),
            ("limit", f.limit.map(|l| l.to_string())),
            ("cursor", f.cursor.clone()),
        ],
    )
}
