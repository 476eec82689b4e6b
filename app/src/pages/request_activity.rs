//! The live half of a request page: the decision forms and the plan for reviewers, the
//! conversation, the deployments and the stack events, which arrive over Server-Sent Events
//! while the page is open.

use crate::api::{get_activity, get_plan, get_request, Activity, AddComment, DecideRequest, DecommissionRequest, RetryRequest, RevertDrift};
use crate::error::AppError;
use crate::model::Plan;
use crate::components::ErrorNote;
#[cfg(feature = "hydrate")]
use crate::model::FeedItem;
use crate::model::{ApiRequest, StackEventView};
use leptos::prelude::*;

/// The actions of a request page; the page refetches the request when any of them runs.
#[derive(Clone, Copy)]
pub struct Actions {
    pub decide: ServerAction<DecideRequest>,
    pub comment: ServerAction<AddComment>,
    pub decommission: ServerAction<DecommissionRequest>,
    pub retry: ServerAction<RetryRequest>,
    /// Asking to set a drifted API back (from the drift panel).
    pub revert: ServerAction<RevertDrift>,
    /// Bumped whenever the live feed reports a deployment status change.
    pub live: RwSignal<u32>,
    pub live_events: RwSignal<Vec<StackEventView>>,
}

impl Actions {
    pub fn new() -> Self {
        Actions {
            decide: ServerAction::new(),
            comment: ServerAction::new(),
            decommission: ServerAction::new(),
            retry: ServerAction::new(),
            revert: ServerAction::new(),
            live: RwSignal::new(0),
            live_events: RwSignal::new(Vec::new()),
        }
    }

    pub fn version(&self) -> (usize, usize, usize, usize, usize, u32) {
        (
            self.decide.version().get(),
            self.comment.version().get(),
            self.decommission.version().get(),
            self.retry.version().get(),
            self.revert.version().get(),
            self.live.get(),
        )
    }

    fn error(&self) -> Option<crate::error::AppError> {
        [self.decide.value().get(), self.comment.value().get(), self.decommission.value().get(), self.retry.value().get(), self.revert.value().get()]
            .into_iter()
            .flatten()
            .find_map(Result::err)
    }

    /// Follows the request's live feed until the page goes away.
    pub fn follow(&self, id: String) {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::{closure::Closure, JsCast};
            let Ok(source) = web_sys::EventSource::new(&format!("/api/v1/requests/{id}/events/stream")) else { return };
            let (live, live_events) = (self.live, self.live_events);
            let on_message = Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
                let Some(text) = e.data().as_string() else { return };
                match serde_json::from_str::<FeedItem>(&text) {
                    Ok(FeedItem::Stack(event)) => live_events.update(|v| v.push(event)),
                    Ok(FeedItem::Deployment { .. }) => live.update(|n| *n += 1),
                    Err(_) => {}
                }
            });
            for name in ["stack", "deployment"] {
                let _ = source.add_event_listener_with_callback(name, on_message.as_ref().unchecked_ref());
            }
            on_message.forget();
            let source = send_wrapper::SendWrapper::new(source);
            on_cleanup(move || source.close());
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = id;
    }
}

fn cursor(e: &StackEventView) -> i64 {
    e.cursor.parse().unwrap_or(0)
}

/// The data of the live half, created with the page: resources created while a suspended
/// part resolves do not hydrate.
#[derive(Clone, Copy)]
pub struct ActivityData {
    pub activity: Resource<Result<Activity, AppError>>,
    /// The plan, for those who may decide (None for everyone else).
    pub plan: Resource<Result<Option<Plan>, AppError>>,
}

impl ActivityData {
    pub fn new(id: impl Fn() -> String + Copy + Send + Sync + 'static, actions: Actions) -> Self {
        ActivityData {
            activity: Resource::new(move || (id(), actions.version()), |(id, _)| get_activity(id)),
            plan: Resource::new(
                move || (id(), actions.version()),
                |(id, _)| async move {
                    if get_request(id.clone()).await?.allowed.plan {
                        get_plan(id).await.map(Some)
                    } else {
                        Ok(None)
                    }
                },
            ),
        }
    }
}

#[component]
pub fn RequestActivity(request: ApiRequest, actions: Actions, data: ActivityData) -> impl IntoView {
    let id = request.id.clone();
    let activity = data.activity;
    let allowed = request.allowed.clone();
    let (decidable, can_retry, can_decommission, show_plan) = (allowed.decide, allowed.retry, allowed.decommission, allowed.plan);
    let revision = request.revision;

    let (id_decide, id_retry, id_decommission, id_comment) = (id.clone(), id.clone(), id.clone(), id.clone());
    view! {
        {move || actions.error().map(|e| view! { <ErrorNote error=e/> })}
        {decidable.then(|| view! { <DecisionForms id=id_decide revision=revision actions=actions/> })}
        {show_plan.then(|| view! { <PlanView plan=data.plan/> })}
        <div class="row-actions">
            {can_retry.then(|| view! {
                <ActionForm action=actions.retry>
                    <input type="hidden" name="id" value=id_retry/>
                    <button type="submit" id="retry">"Retry the deployment"</button>
                </ActionForm>
            })}
            {can_decommission.then(|| view! {
                <ActionForm action=actions.decommission>
                    <input type="hidden" name="id" value=id_decommission/>
                    <button type="submit" class="danger" id="decommission">"Decommission (needs review)"</button>
                </ActionForm>
            })}
        </div>
        <Transition fallback=|| view! { <p>"Loading activity…"</p> }>
            {move || Suspend::new(async move {
                match activity.await {
                    Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                    Ok(a) => {
                        let last = a.events.last().map(cursor).unwrap_or(0);
                        let stored = a.events.clone();
                        let events = move || {
                            let mut all = stored.clone();
                            all.extend(actions.live_events.get().into_iter().filter(|e| cursor(e) > last));
                            all
                        };
                        view! {
                            <h2>"Conversation"</h2>
                            <ul class="notes" id="conversation">
                                {a.notes.into_iter().map(|n| view! {
                                    <li class=format!("note note-{}", n.kind.as_str())>
                                        <strong>{n.author}</strong> " " {n.kind.label()}
                                        " revision " {n.revision} " · " <time>{n.created_at}</time>
                                        {(!n.body.is_empty()).then(|| view! { <p>{n.body.clone()}</p> })}
                                    </li>
                                }).collect_view()}
                            </ul>
                            <h2>"Deployments"</h2>
                            <table class="list" id="deployments">
                                <thead><tr><th>"#"</th><th>"Kind"</th><th>"Revision"</th><th>"Status"</th><th>"Stacks"</th><th>"Finished"</th></tr></thead>
                                <tbody>
                                    {a.deployments.into_iter().map(|d| view! {
                                        <tr>
                                            <td>{d.id}</td><td>{d.kind}</td><td>{d.revision}</td>
                                            <td><span class=format!("badge deploy-{}", d.status)>{d.status.clone()}</span></td>
                                            <td>{d.stacks.into_iter().map(|s| view! {
                                                <div><code>{s.stack_name}</code> " " {s.status}
                                                    {s.status_reason.map(|r| view! { <span class="error">" — " {r}</span> })}
                                                </div>
                                            }).collect_view()}</td>
                                            <td>{d.finished_at}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                            <h2>"Stack events"</h2>
                            {move || {
                                let all = events();
                                let done = all.iter().filter(|e| e.status.ends_with("_COMPLETE") && e.logical_id != e.stack_name).count();
                                let started = all.iter().filter(|e| e.status.ends_with("_IN_PROGRESS") && e.logical_id != e.stack_name).count();
                                view! {
                                    <progress id="progress" max=started.max(1) value=done.min(started)></progress>
                                    <span class="hint">" " {done} " of " {started} " resource steps finished"</span>
                                    <table class="list events" id="events">
                                        <thead><tr><th>"Time"</th><th>"Stack"</th><th>"Resource"</th><th>"Type"</th><th>"Status"</th><th>"Reason"</th></tr></thead>
                                        <tbody>
                                            {all.into_iter().rev().map(|e| {
                                                let failed = e.status.contains("FAILED") || e.status.contains("ROLLBACK");
                                                view! {
                                                <tr class:failed=failed>
                                                    <td><time>{e.timestamp}</time></td><td>{e.stack_name}</td><td>{e.logical_id}</td>
                                                    <td>{e.resource_type}</td><td>{e.status}</td><td>{e.reason}</td>
                                                </tr>
                                            }}).collect_view()}
                                        </tbody>
                                    </table>
                                }
                            }}
                        }
                            .into_any()
                    }
                }
            })}
        </Transition>
        <ActionForm action=actions.comment attr:class="comment-form">
            <input type="hidden" name="id" value=id_comment/>
            <label for="comment">"Add a comment"</label>
            <textarea id="comment" name="comment" rows="2" required></textarea>
            <button type="submit">"Comment"</button>
        </ActionForm>
    }
}

#[component]
fn DecisionForms(id: String, revision: u32, actions: Actions) -> impl IntoView {
    let id = StoredValue::new(id);
    let form = move |decision: &'static str, label: &'static str, text: &'static str, required: bool| {
        view! {
            <ActionForm action=actions.decide attr:class=format!("decision decision-{decision}")>
                <input type="hidden" name="id" value=id.get_value()/>
                <input type="hidden" name="form[decision]" value=decision/>
                <input type="hidden" name="form[revision]" value=revision/>
                <label for=format!("{decision}-text")>{text}</label>
                <textarea id=format!("{decision}-text") name="form[text]" rows="2" required=required></textarea>
                <button type="submit" id=decision>{label}</button>
            </ActionForm>
        }
    };
    view! {
        <section class="review" id="review">
            <h2>"Your decision on revision " {revision}</h2>
            <div class="decisions">
                {form("approve", "Approve and deploy", "Comment (optional)", false)}
                {form("request_changes", "Ask for changes", "What should change", true)}
                {form("reject", "Reject", "Why", true)}
            </div>
        </section>
    }
}

#[component]
pub fn PlanView(plan: Resource<Result<Option<Plan>, AppError>>) -> impl IntoView {
    view! {
        <section class="plan" id="plan">
            <h2>"Plan: what CloudFormation will change"</h2>
            <Suspense fallback=|| view! { <p>"Asking CloudFormation…"</p> }>
                {move || Suspend::new(async move {
                    match plan.await {
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        Ok(None) => ().into_any(),
                        Ok(Some(p)) => view! {
                            {(!p.parameter_changes.is_empty()).then(|| view! {
                                <h3>"Changes since the deployed revision"</h3>
                                <table class="params" id="diff">
                                    <tbody>{p.parameter_changes.into_iter().map(|c| view! {
                                        <tr><th>{c.field}</th><td><del>{c.before}</del> " → " <ins>{c.after}</ins></td></tr>
                                    }).collect_view()}</tbody>
                                </table>
                            })}
                            {p.stacks.into_iter().map(|s| view! {
                                <div class="stack-plan">
                                    <h3><code>{s.stack_name}</code> " " <span class=format!("badge plan-{}", s.action)>{s.action.clone()}</span></h3>
                                    {s.note.map(|n| view! { <p class="hint">{n}</p> })}
                                    {(!s.changes.is_empty()).then(|| view! {
                                        <table class="params">
                                            <tbody>{s.changes.into_iter().map(|c| view! {
                                                <tr>
                                                    <th>{c.action}</th><td>{c.logical_id}</td><td>{c.resource_type}</td>
                                                    <td>{c.replacement.map(|r| format!("replacement: {r}"))}
                                                        {(!c.reverts.is_empty()).then(|| view! {
                                                            <ul class="reverts">{c.reverts.into_iter().map(|p| view! {
                                                                <li>"sets " <code>{p.path}</code> " back: " <del>{p.live}</del> " → " <ins>{p.approved}</ins></li>
                                                            }).collect_view()}</ul>
                                                        })}
                                                    </td>
                                                </tr>
                                            }).collect_view()}</tbody>
                                        </table>
                                    })}
                                </div>
                            }).collect_view()}
                        }
                            .into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
