use super::health::{health_resource, HealthPanel};
use super::request_activity::{ActivityData, Actions, RequestActivity};
use crate::api::{get_drift, get_request, CheckDrift};
use crate::model::{Drift, DriftStatus};
use crate::components::{CostView, ErrorNote, StackTable, StatusBadge};
use crate::pages::audit::{timeline_rows, RequestTimeline};
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

#[component]
pub fn RequestDetailPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let actions = expect_context::<Actions>();
    actions.live_events.set(Vec::new());
    let request = Resource::new(move || (id(), actions.version()), |(id, _)| get_request(id));
    let data = ActivityData::new(id, actions);
    // Read again when a deployment finishes, as well as every few seconds.
    let health = health_resource(move || {
        actions.version();
        id()
    });
    let history = timeline_rows(id, move || {
        actions.version();
    });
    Effect::new(move |_| actions.follow(id()));
    view! {
        <section class="page">
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match request.await {
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        Ok(r) => {
                            let p = r.parameters.clone();
                            let public_url = r.outputs.get("PublicUrl").cloned();
                            let reason = r.status_reason.clone();
                            let edit = r.allowed.edit.then(|| format!("/requests/{}/edit", r.id));
                            let https = crate::stacks::served_over_https(&r.stacks.service);
                            let variables = p.environment_variables.iter().map(|v| format!("{}={}", v.name, v.value)).collect::<Vec<_>>().join(", ");
                            let secrets = p.secrets.iter().map(|s| format!("{} ← {}", s.name, s.value_from)).collect::<Vec<_>>().join(", ");
                            let scaling = p.autoscaling.as_ref().map_or_else(
                                || "off".to_string(),
                                |a| format!("{} to {} tasks, {} at {}", a.min, a.max, a.metric.label(), a.target),
                            );
                            view! {
                                <div class="page-head">
                                    <h1>{r.service_name.clone()} " " <StatusBadge status=r.status/></h1>
                                    {edit.map(|href| view! { <a class="button" href=href>"Edit (new revision)"</a> })}
                                </div>
                                {reason.map(|why| view! {
                                    <div class="error-box" id="failure" role="alert"><strong>"Deployment failed: "</strong>{why}</div>
                                })}
                                {public_url.map(|url| view! {
                                    <p class="public-url" id="public-url">"Public URL: " <a href=url.clone()>{url.clone()}</a></p>
                                })}
                                <HealthPanel health=health/>
                                {r.reverts_drift.then(|| view! {
                                    <p class="notice" id="reverts-drift">
                                        "Revision " {r.revision} " brings resources changed behind Berth's back back to revision "
                                        {r.deployed_revision} ": its parameters are the deployed ones, and deploying it sets what drifted back."
                                    </p>
                                })}
                                {r.deployed_revision.is_some().then(|| view! { <DriftPanel id=r.id.clone() revert=r.allowed.revert_drift/> })}
                                <dl class="facts" id="request-facts">
                                    <dt>"Environment"</dt><dd>{r.environment.clone()}</dd>
                                    <dt>"Team"</dt><dd>{r.team.clone()}</dd>
                                    <dt>"Requested by"</dt><dd>{r.requested_by.clone()}</dd>
                                    <dt>"Revision"</dt><dd>{r.revision}</dd>
                                    <dt>"Listener priority"</dt><dd>{r.priority}</dd>
                                    <dt>"Created"</dt><dd>{r.created_at.clone()}</dd>
                                    <dt>"Updated"</dt><dd>{r.updated_at.clone()}</dd>
                                </dl>
                                <h2>"Request"</h2>
                                <p class="description">{p.description.clone()}</p>
                                <dl class="facts">
                                    <dt>"Image"</dt><dd><code>{p.image_url.clone()}</code></dd>
                                    <dt>"Container port"</dt><dd>{p.container_port}</dd>
                                    <dt>"CPU units"</dt><dd>{p.cpu}</dd>
                                    <dt>"Memory"</dt><dd>{p.memory} " MiB"</dd>
                                    <dt>"Desired count"</dt><dd>{p.desired_count}</dd>
                                    <dt>"Path"</dt><dd><code>{p.path.clone()}</code></dd>
                                    <dt>"Health check"</dt><dd><code>{p.health_check_path.clone()}</code></dd>
                                    <dt>"Task role"</dt><dd>{p.task_role_arn.clone().unwrap_or_else(|| "none".into())}</dd>
                                    <dt>"Served over"</dt>
                                    <dd id="protocol">{if https { "HTTPS" } else { "plain HTTP: the environment has no certificate" }}</dd>
                                    <dt>"Environment variables"</dt><dd><code>{if variables.is_empty() { "none".to_string() } else { variables }}</code></dd>
                                    <dt>"Secrets"</dt><dd><code>{if secrets.is_empty() { "none".to_string() } else { secrets }}</code></dd>
                                    <dt>"Auto scaling"</dt><dd>{scaling}</dd>
                                </dl>
                                <CostView summary=r.estimate.clone()/>
                                <h2>"Stack parameters"</h2>
                                <p class="downloads">
                                    "Download for review or a manual deploy: "
                                    {["cluster", "service"].into_iter().map(|stack| {
                                        let id = r.id.clone();
                                        view! {
                                            <a href=format!("/api/v1/requests/{id}/templates/{stack}") download>{format!("{stack} template")}</a>
                                            " · "
                                            <a href=format!("/api/v1/requests/{id}/parameters/{stack}") download>{format!("{stack} parameters")}</a>
                                            " "
                                        }
                                    }).collect_view()}
                                </p>
                                <div class="stacks">
                                    <StackTable title="Cluster stack" stack=r.stacks.cluster.clone()/>
                                    <StackTable title="Service stack" stack=r.stacks.service.clone()/>
                                </div>
                                <RequestActivity request=r.clone() actions=actions data=data/>
                                <RequestTimeline request_id=r.id.clone() rows=history/>
                            }
                                .into_any()
                        }
                    }
                })}
            </Suspense>
        </section>
    }
}


/// Whether the deployed stack is still what Berth deployed, with a button to check now and,
/// for those who may (`revert`), one to ask for the drifted resources to be set back.
#[component]
fn DriftPanel(id: String, revert: bool) -> impl IntoView {
    let check = ServerAction::<CheckDrift>::new();
    let actions = expect_context::<Actions>();
    let drift = {
        let id = id.clone();
        // Its own check only: a revert (or any action) re-renders the whole request view,
        // this panel with it, so a resource tracking those too would be read once disposed.
        Resource::new(move || check.version().get(), move |_| get_drift(id.clone()))
    };
    let id_revert = id.clone();
    let error = move || check.value().get().and_then(Result::err);
    view! {
        <section class="drift" id="drift">
            <h2>"Drift"</h2>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || {
                    let id_revert = id_revert.clone();
                    Suspend::new(async move {
                    match drift.await {
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        Ok(d) => {
                            let drifted = d.status == DriftStatus::Drifted;
                            let id = id_revert.clone();
                            view! {
                                <DriftView drift=d/>
                                {(revert && drifted).then(|| view! {
                                    <ActionForm action=actions.revert attr:class="inline" attr:id="drift-revert">
                                        <input type="hidden" name="id" value=id/>
                                        <button type="submit">"Set back to the deployed revision (needs review)"</button>
                                    </ActionForm>
                                })}
                            }
                            .into_any()
                        }
                    }
                })}}
            </Suspense>
            <ActionForm action=check attr:class="inline" attr:id="drift-check">
                <input type="hidden" name="id" value=id.clone()/>
                <button type="submit" disabled=move || check.pending().get()>
                    {move || if check.pending().get() { "Comparing…" } else { "Check drift now" }}
                </button>
            </ActionForm>
            {move || error().map(|e| view! { <ErrorNote error=e/> })}
        </section>
    }
}

#[component]
fn DriftView(drift: Drift) -> impl IntoView {
    let d = drift;
    let summary = match d.status {
        DriftStatus::InSync => "In sync: every resource CloudFormation compared is as Berth deployed it.".to_string(),
        DriftStatus::Drifted => format!("Drifted: {} resource(s) of {} were changed behind Berth's back.", d.resources.len(), d.stack_name),
        DriftStatus::Unknown => "Unknown: CloudFormation could not compare the stack.".to_string(),
        DriftStatus::NotChecked => "Not checked yet.".to_string(),
    };
    view! {
        <p id="drift-status">
            <span class=format!("badge drift-{}", d.status.as_str())>{d.status.label()}</span>
            " " {summary}
            {d.checked_at.clone().map(|at| format!(" Checked {at}."))}
        </p>
        {d.error.clone().map(|e| view! { <p class="error-box" id="drift-error">{e}</p> })}
        {(!d.resources.is_empty()).then(|| view! {
            <table class="params" id="drift-resources">
                <thead><tr><th>"Resource"</th><th>"Property"</th><th>"Deployed (expected)"</th><th>"On AWS now"</th></tr></thead>
                <tbody>
                    {d.resources.iter().flat_map(|r| {
                        let rows: Vec<(String, String, String, String)> = if r.differences.is_empty() {
                            vec![(format!("{} ({})", r.logical_id, r.resource_type), r.status.clone(), String::new(), String::new())]
                        } else {
                            r.differences.iter().map(|p| (format!("{} ({})", r.logical_id, r.resource_type), p.path.clone(), p.expected.clone(), p.actual.clone())).collect()
                        };
                        rows
                    }).map(|(resource, property, expected, actual)| view! {
                        <tr><td>{resource}</td><td><code>{property}</code></td><td><code>{expected}</code></td><td><code>{actual}</code></td></tr>
                    }).collect_view()}
                </tbody>
            </table>
        })}
    }
}
