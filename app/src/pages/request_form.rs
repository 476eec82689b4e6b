//! The request form, used for new requests and for new revisions of existing ones. Every
//! field is checked as the user types (the same rules the server applies), and a preview
//! beside the form shows the parameters of both stacks.

use crate::api::{get_request, list_environments, SubmitRequest};
use crate::components::{CostView, ErrorNote, StackTable};
use crate::error::AppError;
use crate::model::{error_for, Environment, ScalingMetric};
use crate::stacks;
use crate::validation::RequestDraft;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

#[component]
pub fn NewRequestPage() -> impl IntoView {
    let environments = Resource::new(|| (), |_| list_environments());
    view! {
        <section class="page">
            <h1>"Request a new public API"</h1>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match environments.await {
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        Ok(environments) => {
                            let first = environments.first().map(|e| e.name.clone()).unwrap_or_default();
                            view! {
                                <RequestForm environments initial=RequestDraft::new_form(&first) request_id=None priority=None/>
                            }
                                .into_any()
                        }
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
pub fn EditRequestPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let data = Resource::new(id, |id| async move {
        let environments = list_environments().await?;
        let request = get_request(id).await?;
        Ok::<_, AppError>((environments, request))
    });
    view! {
        <section class="page">
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        Ok((environments, request)) => {
                            view! {
                                <h1>"Edit " {request.service_name.clone()} " (new revision " {request.revision + 1} ")"</h1>
                                <RequestForm
                                    environments
                                    initial=RequestDraft::from_input(&request.parameters)
                                    request_id=Some(request.id.clone())
                                    priority=Some(request.priority)
                                />
                            }
                                .into_any()
                        }
                    }
                })}
            </Suspense>
        </section>
    }
}

type Getter = fn(&RequestDraft) -> &String;
type Setter = fn(&mut RequestDraft, String);

/// One form field: label, input, hint and the message for this field, if any.
struct Field {
    key: &'static str,
    label: &'static str,
    hint: &'static str,
    input_type: &'static str,
    get: Getter,
    set: Setter,
}

const FIELDS: &[Field] = &[
    Field {
        key: "service_name",
        label: "Service name",
        hint: "Lowercase letters, digits and hyphens; names the ECS service and the stack.",
        input_type: "text",
        get: |d| &d.service_name,
        set: |d, v| d.service_name = v,
    },
    Field {
        key: "image_url",
        label: "Container image",
        hint: "For example 123456789012.dkr.ecr.eu-west-1.amazonaws.com/orders:1.4.2",
        input_type: "text",
        get: |d| &d.image_url,
        set: |d, v| d.image_url = v,
    },
    Field {
        key: "container_port",
        label: "Container port",
        hint: "The port your container listens on.",
        input_type: "number",
        get: |d| &d.container_port,
        set: |d, v| d.container_port = v,
    },
    Field {
        key: "cpu",
        label: "CPU units",
        hint: "1024 = one vCPU.",
        input_type: "number",
        get: |d| &d.cpu,
        set: |d, v| d.cpu = v,
    },
    Field {
        key: "memory",
        label: "Memory (MiB)",
        hint: "Hard limit for the container.",
        input_type: "number",
        get: |d| &d.memory,
        set: |d, v| d.memory = v,
    },
    Field {
        key: "desired_count",
        label: "Desired count",
        hint: "How many tasks run at once.",
        input_type: "number",
        get: |d| &d.desired_count,
        set: |d, v| d.desired_count = v,
    },
    Field {
        key: "path",
        label: "Path pattern",
        hint: "Requests matching it on the public load balancer reach your API, e.g. /orders*",
        input_type: "text",
        get: |d| &d.path,
        set: |d, v| d.path = v,
    },
    Field {
        key: "health_check_path",
        label: "Health-check path",
        hint: "The load balancer calls it; a 2xx or 3xx answer means healthy.",
        input_type: "text",
        get: |d| &d.health_check_path,
        set: |d, v| d.health_check_path = v,
    },
    Field {
        key: "task_role_arn",
        label: "Task role ARN (optional)",
        hint: "An IAM role your containers assume, if they call AWS.",
        input_type: "text",
        get: |d| &d.task_role_arn,
        set: |d, v| d.task_role_arn = v,
    },
];

/// Read only when auto scaling is on.
const SCALING_FIELDS: &[Field] = &[
    Field {
        key: "scaling_min",
        label: "Minimum tasks",
        hint: "Auto scaling never goes below this.",
        input_type: "number",
        get: |d| &d.scaling_min,
        set: |d, v| d.scaling_min = v,
    },
    Field {
        key: "scaling_max",
        label: "Maximum tasks",
        hint: "Auto scaling never goes above this; the environment must hold twice as many (deployments).",
        input_type: "number",
        get: |d| &d.scaling_max,
        set: |d, v| d.scaling_max = v,
    },
    Field {
        key: "scaling_target",
        label: "Target",
        hint: "CPU: a percentage such as 60. Requests: per task per minute, such as 1000.",
        input_type: "number",
        get: |d| &d.scaling_target,
        set: |d, v| d.scaling_target = v,
    },
];

/// A `NAME=value` list, one a line.
struct ListField {
    key: &'static str,
    label: &'static str,
    hint: &'static str,
    placeholder: &'static str,
    get: Getter,
    set: Setter,
}

const LIST_FIELDS: &[ListField] = &[
    ListField {
        key: "environment_variables",
        label: "Environment variables (optional)",
        hint: "NAME=value, one a line. Not for secrets: anyone who can read the request sees them.",
        placeholder: "LOG_LEVEL=info",
        get: |d| &d.environment_variables,
        set: |d, v| d.environment_variables = v,
    },
    ListField {
        key: "secrets",
        label: "Secrets (optional)",
        hint: "NAME=ARN of an SSM parameter or Secrets Manager secret of your team, one a line. ECS reads the value when a task starts; only this API's tasks may read them.",
        placeholder: "DB_PASSWORD=arn:aws:ssm:us-east-1:123456789012:parameter/payments/orders/db-password",
        get: |d| &d.secrets,
        set: |d, v| d.secrets = v,
    },
];

#[component]
fn RequestForm(
    environments: Vec<Environment>,
    initial: RequestDraft,
    request_id: Option<String>,
    priority: Option<u32>,
) -> impl IntoView {
    let submit = ServerAction::<SubmitRequest>::new();
    let draft = RwSignal::new(initial.clone());
    let touched = RwSignal::new(Vec::<&'static str>::new());
    let environments = StoredValue::new(environments);

    let cluster = move || {
        let name = draft.with(|d| d.environment.clone());
        environments.with_value(|all| all.iter().find(|e| e.name == name).map(|e| e.parameters.clone()))
    };
    let client_errors = Memo::new(move |_| {
        let cluster = cluster();
        draft.with(|d| d.parse(cluster.as_ref()).err().unwrap_or_default())
    });
    let server_error = move || submit.value().get().and_then(Result::err);
    let submitted = move || submit.version().get() > 0;
    let message = move |field: &'static str| {
        let show_client = submitted() || touched.with(|t| t.contains(&field));
        let client = show_client.then(|| client_errors.with(|e| error_for(e, field).map(str::to_string))).flatten();
        client.or_else(|| {
            server_error().and_then(|e| error_for(&e.field_errors(), field).map(str::to_string))
        })
    };
    let touch = move |field: &'static str| {
        touched.update(|t| {
            if !t.contains(&field) {
                t.push(field)
            }
        })
    };
    let general_error = move || server_error().filter(|e| e.field_errors().is_empty());
    let preview = move || {
        let cluster = cluster()?;
        Some(draft.with(|d| stacks::render(&cluster, &d.lenient(), priority)))
    };
    // The estimate follows the draft as the preview does (and the approver sees the same).
    let estimate = move || {
        let name = draft.with(|d| d.environment.clone());
        let environment = environments.with_value(|all| all.iter().find(|e| e.name == name).cloned())?;
        Some(draft.with(|d| crate::cost::summary(&environment.region, &environment.parameters, &d.lenient(), None)))
    };

    let https = move || cluster().is_some_and(|c| c.https());
    // What the server renders into the fields; field views are used for several lists.
    let initial_values = StoredValue::new(initial.clone());
    let list_view = move |field: &'static ListField| {
        let key = field.key;
        let (get, set) = (field.get, field.set);
        view! {
            <div class="field" class:invalid=move || message(key).is_some()>
                <label for=key>{field.label}</label>
                <textarea
                    id=key
                    name=format!("draft[{key}]")
                    rows="3"
                    placeholder=field.placeholder
                    prop:value=move || draft.with(|d| get(d).clone())
                    on:input=move |ev| {
                        let value = event_target_value(&ev);
                        draft.update(|d| set(d, value));
                        touch(key);
                    }
                    aria-describedby=format!("{key}-error")
                >
                    {initial_values.with_value(|d| get(d).clone())}
                </textarea>
                <small class="hint">{field.hint}</small>
                <p class="field-error" id=format!("{key}-error")>{move || message(key)}</p>
            </div>
        }
    };
    let initial_metric = initial.scaling_metric.clone();
    let field_view = move |field: &'static Field| {
        let key = field.key;
        let set = field.set;
        let get = field.get;
        view! {
            <div class="field" class:invalid=move || message(key).is_some()>
                <label for=key>{field.label}</label>
                <input
                    id=key
                    name=format!("draft[{key}]")
                    type=field.input_type
                    value=initial_values.with_value(|d| get(d).clone())
                    prop:value=move || draft.with(|d| get(d).clone())
                    on:input=move |ev| {
                        let value = event_target_value(&ev);
                        draft.update(|d| set(d, value));
                        touch(key);
                    }
                    aria-describedby=format!("{key}-error")
                />
                <small class="hint">{field.hint}</small>
                <p class="field-error" id=format!("{key}-error")>{move || message(key)}</p>
            </div>
        }
    };

    view! {
        <div class="form-with-preview">
            <ActionForm action=submit attr:class="request-form" attr:novalidate=true>
                <input type="hidden" name="id" value=request_id.clone().unwrap_or_default()/>
                <div class="field" class:invalid=move || message("environment").is_some()>
                    <label for="environment">"Environment"</label>
                    <select
                        id="environment"
                        name="draft[environment]"
                        on:change=move |ev| {
                            let value = event_target_value(&ev);
                            draft.update(|d| d.environment = value);
                            touch("environment");
                        }
                    >
                        {environments
                            .get_value()
                            .into_iter()
                            .map(|e| {
                                let selected = e.name == initial.environment;
                                let label = format!("{} ({}, {})", e.name, e.region, e.parameters.instance_type);
                                view! { <option value=e.name selected=selected>{label}</option> }
                            })
                            .collect_view()}
                    </select>
                    <p class="hint" id="environment-protocol">
                        {move || if https() { "Served over HTTPS (port 80 redirects)." } else { "Served over plain HTTP: this environment has no certificate." }}
                    </p>
                    <p class="field-error" id="environment-error">{move || message("environment")}</p>
                </div>
                <div class="field" class:invalid=move || message("description").is_some()>
                    <label for="description">"Description"</label>
                    <textarea
                        id="description"
                        name="draft[description]"
                        rows="2"
                        prop:value=move || draft.with(|d| d.description.clone())
                        on:input=move |ev| {
                            let value = event_target_value(&ev);
                            draft.update(|d| d.description = value);
                            touch("description");
                        }
                    >
                        {initial.description.clone()}
                    </textarea>
                    <small class="hint">"What the API does, for the reviewers."</small>
                    <p class="field-error" id="description-error">{move || message("description")}</p>
                </div>
                {FIELDS.iter().map(field_view).collect_view()}
                {LIST_FIELDS.iter().map(list_view).collect_view()}
                <div class="field" class:invalid=move || message("scaling_metric").is_some()>
                    <label for="scaling_metric">"Auto scaling"</label>
                    <select
                        id="scaling_metric"
                        name="draft[scaling_metric]"
                        on:change=move |ev| {
                            let value = event_target_value(&ev);
                            draft.update(|d| d.scaling_metric = value);
                            touch("scaling_metric");
                        }
                    >
                        <option value="" selected=initial_metric.is_empty()>"Off: always the desired count"</option>
                        {ScalingMetric::ALL
                            .into_iter()
                            .map(|m| view! { <option value=m.as_str() selected=initial_metric == m.as_str()>{m.label()}</option> })
                            .collect_view()}
                    </select>
                    <small class="hint">"Target tracking between a minimum and a maximum; the desired count is where it starts."</small>
                    <p class="field-error" id="scaling_metric-error">{move || message("scaling_metric")}</p>
                </div>
                {SCALING_FIELDS.iter().map(field_view).collect_view()}
                {move || general_error().map(|e| view! { <ErrorNote error=e/> })}
                <button type="submit" disabled=move || submit.pending().get()>
                    {if request_id.is_some() { "Submit new revision" } else { "Submit for review" }}
                </button>
            </ActionForm>
            <aside class="preview" id="preview">
                <h2>"What Berth will deploy"</h2>
                <p class="hint">"The parameters of both CloudFormation stacks, as they will be rendered."</p>
                {move || estimate().map(|summary| view! { <CostView summary=summary/> })}
                {move || {
                    preview()
                        .map(|s| {
                            view! {
                                <StackTable title="Cluster stack" stack=s.cluster/>
                                <StackTable title="Service stack" stack=s.service/>
                            }
                        })
                }}
            </aside>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RequestInput;
    use crate::validation::validate_request;

    fn form_fields() -> Vec<&'static str> {
        let mut keys = vec!["environment", "description", "scaling_metric"];
        keys.extend(FIELDS.iter().chain(SCALING_FIELDS).map(|f| f.key));
        keys.extend(LIST_FIELDS.iter().map(|f| f.key));
        keys
    }

    #[test]
    fn the_form_has_a_field_for_every_validated_field() {
        use crate::model::{AutoScaling, EnvironmentVariable, Secret};
        let errors: Vec<crate::model::FieldError> = validate_request(
            &RequestInput {
                task_role_arn: Some("x".into()),
                environment_variables: vec![EnvironmentVariable { name: "1".into(), value: String::new() }],
                secrets: vec![Secret { name: "S".into(), value_from: "x".into() }],
                autoscaling: Some(AutoScaling { min: 0, max: 100, target: 0, ..Default::default() }),
                ..Default::default()
            },
            None,
        );
        for field in ["environment_variables", "secrets", "scaling_min", "scaling_max", "scaling_target"] {
            assert!(errors.iter().any(|e| e.field == field), "{field} is validated: {errors:?}");
        }
        for e in errors {
            assert!(form_fields().contains(&e.field.as_str()), "no form field for {}", e.field);
        }
    }
}
