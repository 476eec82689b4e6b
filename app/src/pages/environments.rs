//! Environments (one cluster stack each): everyone can look; approvers and admins create
//! and change them.

use crate::api::{get_environment, get_environment_plan, list_environments, DecideEnvironmentChange, EnvironmentForm, SaveEnvironment};
use crate::components::ErrorNote;
use crate::instance_types::OFFERED;
use crate::model::{error_for, Environment, EnvironmentAccess, EnvironmentChange, EnvironmentStatus, DEFAULT_RULE_CAPACITY};
use crate::pages::request_activity::PlanView;
use crate::CurrentUser;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

/// Awaited inside a `Suspend`, so the browser renders what the server rendered.
async fn is_platform(user: CurrentUser) -> bool {
    user.await.ok().flatten().is_some_and(|u| u.role.is_platform())
}

#[component]
pub fn EnvironmentsPage() -> impl IntoView {
    let environments = Resource::new(|| (), |_| list_environments());
    let user = expect_context::<CurrentUser>();
    let blank = EnvironmentForm {
        region: "us-east-1".into(),
        instance_type: "t3.medium".into(),
        desired_capacity: "2".into(),
        max_size: "4".into(),
        rule_capacity: DEFAULT_RULE_CAPACITY.to_string(),
        container_insights: Some("on".into()),
        ..Default::default()
    };
    view! {
        <section class="page">
            <h1>"Environments"</h1>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match environments.await {
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        Ok(list) => view! {
                            <table class="list" id="environment-list">
                                <thead>
                                    <tr>
                                        <th>"Name"</th><th>"Account"</th><th>"Region"</th><th>"Instances"</th><th>"APIs"</th>
                                        <th>"Cluster stack"</th><th>"Status"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {list.into_iter().map(|e| view! {
                                        <tr>
                                            <td><a href=format!("/environments/{}", e.name)>{e.name.clone()}</a></td>
                                            <td>{account_of(&e)}</td>
                                            <td>{e.region.clone()}</td>
                                            <td>{format!("{} × {} (max {})", e.parameters.desired_capacity, e.parameters.instance_type, e.parameters.max_size)}</td>
                                            <td>{format!("{} / {}", e.api_count, e.rule_capacity)}</td>
                                            <td><code>{e.stack_name.clone()}</code></td>
                                            <td><EnvironmentBadge status=e.status/></td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }
                            .into_any(),
                    }
                })}
            </Suspense>
            <Suspense fallback=|| ()>
                {move || {
                    let blank = blank.clone();
                    Suspend::new(async move {
                        is_platform(user).await.then(|| view! {
                            <h2>"New environment"</h2>
                            <EnvironmentEditor initial=blank existing=None/>
                        })
                    })
                }}
            </Suspense>
        </section>
    }
}

/// The account an environment's role is in, or Berth's own.
fn account_of(e: &Environment) -> String {
    match e.role_arn.as_deref().map(crate::validation::environment_role_account) {
        Some(Ok(account)) => account.to_string(),
        _ => "Berth's own".into(),
    }
}

/// Whether Berth can act in the environment's account, as last checked.
#[component]
fn AccessFact(access: Option<EnvironmentAccess>) -> impl IntoView {
    match access {
        None => view! { <dd id="environment-access">"not checked"</dd> }.into_any(),
        Some(a) if a.ok => view! {
            <dd id="environment-access" class="access-ok">"Berth acts as " <code>{a.message}</code> {format!(" (checked {})", a.checked_at)}</dd>
        }
            .into_any(),
        Some(a) => view! {
            <dd id="environment-access" class="access-failed" role="alert">
                <strong>"Berth cannot act in this account: "</strong>{a.message}
                {format!(" (checked {}). Deployments, plans and health of this environment fail until the role can be assumed; see iam/README.md.", a.checked_at)}
            </dd>
        }
            .into_any(),
    }
}

#[component]
pub fn EnvironmentBadge(status: EnvironmentStatus) -> impl IntoView {
    let label = match status {
        EnvironmentStatus::NotDeployed => "Not deployed",
        EnvironmentStatus::Deploying => "Deploying",
        EnvironmentStatus::Ready => "Ready",
        EnvironmentStatus::Failed => "Failed",
    };
    view! { <span class=format!("badge env-{}", status.as_str())>{label}</span> }
}

#[component]
pub fn EnvironmentPage() -> impl IntoView {
    let params = use_params_map();
    let name = move || params.read().get("name").unwrap_or_default();
    // Created here, not in the forms below, so that a decision or a saved change reads the
    // environment again: the server's redirect back to this same page changes no route.
    let decide = ServerAction::<DecideEnvironmentChange>::new();
    let save = use_context::<ServerAction<SaveEnvironment>>().unwrap_or_default();
    provide_context(decide);
    provide_context(save);
    let environment = Resource::new(move || (name(), decide.version().get(), save.version().get()), |(name, _, _)| get_environment(name));
    let user = expect_context::<CurrentUser>();
    view! {
        <section class="page">
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let platform = is_platform(user).await;
                    match environment.await {
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        Ok(e) => view! { <EnvironmentDetail environment=e platform=platform/> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn EnvironmentDetail(environment: Environment, platform: bool) -> impl IntoView {
    let e = environment;
    let form = EnvironmentForm::from_environment(&e);
    let outputs = e.outputs.clone();
    view! {
        <div class="page-head">
            <h1>{e.name.clone()} " " <EnvironmentBadge status=e.status/></h1>
        </div>
        <dl class="facts" id="environment-facts">
            <dt>"Cluster stack"</dt><dd><code>{e.stack_name.clone()}</code></dd>
            <dt>"Region"</dt><dd>{e.region.clone()}</dd>
            <dt>"AWS account"</dt><dd id="environment-account">{account_of(&e)}</dd>
            <dt>"Role"</dt>
            <dd id="environment-role">
                {match e.role_arn.clone() {
                    Some(arn) => view! { <code>{arn}</code> {e.external_id.is_some().then_some(" (with an external id)")} }.into_any(),
                    None => view! { "none: Berth's own credentials" }.into_any(),
                }}
            </dd>
            <dt>"Access"</dt>
            <AccessFact access=e.access.clone()/>
            <dt>"Instance type"</dt><dd>{e.parameters.instance_type.clone()}</dd>
            <dt>"Desired capacity"</dt><dd>{e.parameters.desired_capacity}</dd>
            <dt>"Maximum size"</dt><dd>{e.parameters.max_size}</dd>
            <dt>"AMI"</dt><dd><code>{e.parameters.ecs_ami.clone().unwrap_or_else(|| "latest ECS-optimized Amazon Linux 2023 (template default)".into())}</code></dd>
            <dt>"Served over"</dt>
            <dd id="environment-protocol">
                {match e.parameters.certificate_arn.clone() {
                    Some(arn) => view! { "HTTPS (port 80 redirects), certificate " <code>{arn}</code> }.into_any(),
                    None => view! { "plain HTTP: the environment has no certificate" }.into_any(),
                }}
            </dd>
            <dt>"Access logs"</dt><dd>{e.parameters.access_logs_bucket.clone().map(|b| format!("to s3://{b}")).unwrap_or_else(|| "off".into())}</dd>
            <dt>"Deletion protection"</dt><dd>{if e.parameters.deletion_protection { "on" } else { "off" }}</dd>
            <dt>"Container Insights"</dt><dd>{if e.parameters.container_insights { "on" } else { "off" }}</dd>
            <dt>"APIs"</dt><dd>{format!("{} of {} listener rules", e.api_count, e.rule_capacity)}</dd>
        </dl>
        <h2>"Stack outputs"</h2>
        {if outputs.is_empty() {
            view! { <p class="empty">"No outputs yet: the cluster stack is deployed with the first approved API."</p> }.into_any()
        } else {
            view! {
                <table class="params" id="environment-outputs">
                    <tbody>
                        {outputs.into_iter().map(|(k, v)| view! { <tr><th>{k}</th><td><code>{v}</code></td></tr> }).collect_view()}
                    </tbody>
                </table>
            }
                .into_any()
        }}
        {e.pending_change.clone().map(|c| view! { <PendingChange environment=e.name.clone() change=c platform=platform/> })}
        {(platform && e.pending_change.is_none()).then(|| view! {
            <h2>"Change"</h2>
            <p class="hint">"A change waits for another approver's review, with the cluster stack's plan, before it takes effect."</p>
            <EnvironmentEditor initial=form existing=Some(e.name.clone())/>
        })}
    }
}

/// A change waiting for review: what it sets, its plan, and (for anyone but whoever asked
/// for it) the decision.
#[component]
fn PendingChange(environment: String, change: EnvironmentChange, platform: bool) -> impl IntoView {
    let decide = use_context::<ServerAction<DecideEnvironmentChange>>().unwrap_or_default();
    let error = move || decide.value().get().and_then(Result::err);
    let after = change.after.clone();
    let (name, id) = (environment.clone(), change.id.clone());
    let plan = Resource::new(|| (), move |_| {
        let (name, id) = (name.clone(), id.clone());
        async move { if platform { get_environment_plan(name, id).await } else { Ok(None) } }
    });
    view! {
        <section class="pending-change" id="pending-change">
            <h2>{format!("Change {} waiting for review", change.id)}</h2>
            <p>{format!("Asked for by {} at {}.", change.requested_by, change.requested_at)}</p>
            <dl class="facts">
                <dt>"Region"</dt><dd>{after.region.clone()}</dd>
                <dt>"Role"</dt><dd>{after.role_arn.clone().unwrap_or_else(|| "none: Berth's own credentials".into())}</dd>
                <dt>"Instance type"</dt><dd>{after.parameters.instance_type.clone()}</dd>
                <dt>"Desired capacity"</dt><dd>{after.parameters.desired_capacity}</dd>
                <dt>"Maximum size"</dt><dd>{after.parameters.max_size}</dd>
                <dt>"Rule capacity"</dt><dd>{after.rule_capacity}</dd>
            </dl>
            {platform.then(|| view! { <PlanView plan=plan/> })}
            {if change.may_decide {
                view! {
                    <ActionForm action=decide attr:class="decision" attr:id="environment-decision">
                        <input type="hidden" name="name" value=environment.clone()/>
                        <input type="hidden" name="change" value=change.id.clone()/>
                        <label>"Reason (required to reject)" <textarea name="reason" id="environment-reason"></textarea></label>
                        {move || error().map(|e| view! { <ErrorNote error=e/> })}
                        <button type="submit" name="decision" value="approve" id="approve-change">"Approve change"</button>
                        <button type="submit" name="decision" value="reject" id="reject-change">"Reject change"</button>
                    </ActionForm>
                }
                    .into_any()
            } else {
                view! { <p class="hint" id="four-eyes">"Another approver or admin must decide this change."</p> }.into_any()
            }}
        </section>
    }
}

#[component]
fn EnvironmentEditor(initial: EnvironmentForm, existing: Option<String>) -> impl IntoView {
    let save = use_context::<ServerAction<SaveEnvironment>>().unwrap_or_default();
    let error = move || save.value().get().and_then(Result::err);
    let message = move |field: &'static str| error().and_then(|e| error_for(&e.field_errors(), field).map(str::to_string));
    let general = move || error().filter(|e| e.field_errors().is_empty());
    let editing = existing.is_some();
    let text = move |label: &'static str, name: &'static str, field: &'static str, value: String, hint: &'static str| {
        view! {
            <div class="field" class:invalid=move || message(field).is_some()>
                <label for=format!("env-{name}")>{label}</label>
                <input id=format!("env-{name}") name=format!("form[{name}]") value=value/>
                <small class="hint">{hint}</small>
                <p class="field-error" id=format!("env-{name}-error")>{move || message(field)}</p>
            </div>
        }
    };
    view! {
        <ActionForm action=save attr:class="request-form env-form">
            <input type="hidden" name="existing" value=existing.clone().unwrap_or_default()/>
            {(!editing).then(|| text("Name", "name", "name", initial.name.clone(), "Lowercase letters, digits and hyphens, e.g. production."))}
            {text("Region", "region", "region", initial.region.clone(), "The AWS region of the cluster stack.")}
            {text("Role ARN (optional)", "role_arn", "role_arn", initial.role_arn.clone(), "An IAM role in the environment's AWS account that Berth assumes for every call there (iam/target-account-role.json makes one). Empty: Berth's own account.")}
            {text("External id (optional)", "external_id", "external_id", initial.external_id.clone(), "The external id the role's trust policy asks for.")}
            <div class="field" class:invalid=move || message("parameters.InstanceType").is_some()>
                <label for="env-instance_type">"Instance type"</label>
                <select id="env-instance_type" name="form[instance_type]">
                    {OFFERED.iter().map(|t| {
                        let label = format!("{} ({} vCPU, {} MiB)", t.name, t.vcpus, t.memory_mib);
                        view! { <option value=t.name selected=t.name == initial.instance_type>{label}</option> }
                    }).collect_view()}
                </select>
                <p class="field-error" id="env-instance_type-error">{move || message("parameters.InstanceType")}</p>
            </div>
            {text("Desired capacity", "desired_capacity", "parameters.DesiredCapacity", initial.desired_capacity.clone(), "EC2 instances to run.")}
            {text("Maximum size", "max_size", "parameters.MaxSize", initial.max_size.clone(), "The auto scaling group's upper bound.")}
            {text("AMI SSM parameter (optional)", "ecs_ami", "parameters.ECSAMI", initial.ecs_ami.clone(), "Empty: the latest ECS-optimized Amazon Linux 2023 AMI.")}
            {text("Certificate ARN (optional)", "certificate_arn", "parameters.CertificateArn", initial.certificate_arn.clone(), "An ACM certificate in the environment's region: HTTPS on 443, port 80 redirects. Empty: plain HTTP.")}
            {text("Access logs bucket (optional)", "access_logs_bucket", "parameters.AccessLogsBucket", initial.access_logs_bucket.clone(), "An S3 bucket whose policy lets the load balancer write its access logs.")}
            <div class="field checkbox">
                <label>
                    <input type="checkbox" id="env-deletion_protection" name="form[deletion_protection]" checked=initial.deletion_protection.is_some()/>
                    " Deletion protection (the load balancer cannot be deleted while on)"
                </label>
            </div>
            <div class="field checkbox">
                <label>
                    <input type="checkbox" id="env-container_insights" name="form[container_insights]" checked=initial.container_insights.is_some()/>
                    " Container Insights (CloudWatch metrics per task and service)"
                </label>
            </div>
            {text("Rule capacity", "rule_capacity", "rule_capacity", initial.rule_capacity.clone(), "How many APIs the load balancer may route (quota: 100).")}
            {move || general().map(|e| view! { <ErrorNote error=e/> })}
            <button type="submit">{if editing { "Submit change for review" } else { "Create environment" }}</button>
        </ActionForm>
    }
}
