use crate::api::{list_environments, list_requests};
use crate::components::{age, href_with, ErrorNote, StatusBadge};
use crate::model::{RequestFilter, RequestStatus};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// The request list: filters and "next page" are plain links and GET forms, so they work
/// before (and without) the wasm.
#[component]
pub fn RequestsPage() -> impl IntoView {
    let query = use_query_map();
    let filter = move || {
        let q = query.read();
        let text = |k: &str| q.get(k).filter(|v| !v.is_empty());
        RequestFilter {
            status: text("status"),
            environment: text("environment"),
            team: text("team"),
            mine: text("mine").map(|v| v == "true"),
            limit: text("limit").and_then(|v| v.parse().ok()),
            cursor: text("cursor"),
            queue: text("queue").map(|v| v == "true"),
        }
    };
    let requests = Resource::new(filter, list_requests);
    let environments = Resource::new(|| (), |_| list_environments());

    view! {
        <section class="page">
            <div class="page-head">
                <h1>"API requests"</h1>
                <a class="button" href="/requests/new">"Request a new API"</a>
            </div>
            <form method="get" action="/requests" class="filters">
                <label>
                    "Status"
                    <select name="status">
                        <option value="">"Any"</option>
                        {move || {
                            let current = filter().status.unwrap_or_default();
                            RequestStatus::ALL
                                .into_iter()
                                .map(|s| {
                                    view! {
                                        <option value=s.as_str() selected=current == s.as_str()>{s.label()}</option>
                                    }
                                })
                                .collect_view()
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
                                environments
                                    .await
                                    .unwrap_or_default()
                                    .into_iter()
                                    .map(|e| {
                                        let selected = e.name == current;
                                        let label = e.name.clone();
                                        view! { <option value=e.name selected=selected>{label}</option> }
                                    })
                                    .collect_view()
                            })}
                        </Transition>
                    </select>
                </label>
                <label>
                    "Team" <input name="team" value=move || filter().team.unwrap_or_default() size="12"/>
                </label>
                <label class="check">
                    <input type="checkbox" name="mine" value="true" checked=move || filter().mine == Some(true)/>
                    "Mine only"
                </label>
                <button type="submit">"Filter"</button>
            </form>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match requests.await {
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        Ok(page) if page.items.is_empty() => {
                            view! { <p class="empty">"No requests match."</p> }.into_any()
                        }
                        Ok(page) => {
                            let next = page.next_cursor.map(|cursor| next_page_href(&filter(), &cursor));
                            view! {
                                <table class="list" id="request-list">
                                    <thead>
                                        <tr>
                                            <th>"Service"</th><th>"Status"</th><th>"Environment"</th>
                                            <th>"Team"</th><th>"Path"</th><th>"Requested by"</th><th>"Age"</th>
                                        </tr>
                                    </thead>
                                    <tbody>
                                        {page
                                            .items
                                            .into_iter()
                                            .map(|r| {
                                                view! {
                                                    <tr>
                                                        <td><a href=format!("/requests/{}", r.id)>{r.service_name}</a></td>
                                                        <td><StatusBadge status=r.status/></td>
                                                        <td>{r.environment}</td>
                                                        <td>{r.team}</td>
                                                        <td><code>{r.path}</code></td>
                                                        <td>{r.requested_by}</td>
                                                        <td title=r.created_at>{age(r.age_seconds)}</td>
                                                    </tr>
                                                }
                                            })
                                            .collect_view()}
                                    </tbody>
                                </table>
                                <nav class="pager">
                                    {next.map(|href| view! { <a href=href rel="next">"Next page →"</a> })}
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

fn next_page_href(filter: &RequestFilter, cursor: &str) -> String {
    href_with(
        "/requests",
        &[
            ("cursor", Some(cursor.to_string())),
            ("status", filter.status.clone()),
            ("environment", filter.environment.clone()),
            ("team", filter.team.clone()),
            ("mine", filter.mine.map(|m| m.to_string())),
            ("limit", filter.limit.map(|l| l.to_string())),
            ("queue", filter.queue.map(|q| q.to_string())),
        ],
    )
}
