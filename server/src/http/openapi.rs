//! The OpenAPI 3 document, generated from the handlers' annotations so it cannot drift.

use super::error::Problem;
use super::AppState;
use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use crate::config::Config;
use crate::services::audit::ExportFormat;
use app::field_rules::{FieldRule, Place, Shape};
use axum::extract::State;
use serde_json::Value;

mod links;
mod rules;

#[derive(OpenApi)]
#[openapi(
    info(title = "Berth API", version = "1", description = "Self-service public APIs on Amazon ECS. Errors are application/problem+json (RFC 9457)."),
    paths(
        super::session::sign_in,
        super::session::sign_out,
        super::session::me,
        super::tokens::list,
        super::tokens::create,
        super::tokens::revoke,
        super::users::list,
        super::users::create,
        super::users::update,
        super::environments::list,
        super::environments::show,
        super::environments::create,
        super::environments::update,
        super::environments::plan,
        super::environments::approve,
        super::environments::reject,
        super::requests::create,
        super::requests::list,
        super::requests::show,
        super::requests::update,
        super::requests::template,
        super::requests::parameters,
        super::review::approve,
        super::review::reject,
        super::review::request_changes,
        super::review::decommission,
        super::review::retry,
        super::review::comments,
        super::review::add_comment,
        super::review::deployments,
        super::review::events,
        super::review::stream,
        super::review::plan,
        super::health::health,
        super::health::dashboard,
        super::drift::drift,
        super::drift::check_drift,
        super::drift::revert_drift,
        super::webhooks::status,
        super::audit::list,
        super::audit::export,
        super::audit::verify,
        super::probes::healthz,
        super::probes::readyz,
    ),
    components(schemas(Problem)),
    modifiers(&CommonResponses),
    tags((name = "session"), (name = "users"), (name = "environments"), (name = "requests"), (name = "review"), (name = "deployments"), (name = "health"), (name = "audit"), (name = "webhooks"), (name = "probes"))
)]
pub struct ApiDoc;

/// What the layers around every handler may answer, added to each operation so that a
/// client (or a fuzzer) finds every status it can get documented, and every error's body
/// described as a [`Problem`].
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let unsafe_methods = [&mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
            for op in unsafe_methods.into_iter().flatten() {
                add(op, "403", "Refused: a browser said the request came from another site");
            }
            for op in [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete].into_iter().flatten() {
                let id = op.operation_id.clone().unwrap_or_default();
                if matches!(id.as_str(), "healthz" | "readyz") {
                    continue;
                }
                if !matches!(id.as_str(), "sign_in" | "sign_out") {
                    add(op, "401", "Not signed in: no session cookie or bearer token, or one that is no longer valid");
                }
                let query = op.parameters.iter().flatten().any(|p| p.parameter_in == ParameterIn::Query);
                if op.request_body.is_some() || query {
                    add(op, "400", "The body is not JSON of the expected shape, or the query string cannot be read");
                }
                if op.request_body.is_some() {
                    add(op, "422", "A field of the wrong type; one `errors[]` entry per field");
                }
                for (code, response) in op.responses.responses.iter_mut() {
                    if let (true, RefOr::T(response)) = (code.starts_with(['4', '5']), response) {
                        if response.content.is_empty() {
                            let problem = ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build();
                            response.content.insert("application/problem+json".into(), problem);
                        }
                    }
                }
            }
        }
    }
}

/// Documents `status` unless the operation already does.
fn add(op: &mut Operation, status: &str, description: &str) {
    op.responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| ResponseBuilder::new().description(description).build().into());
}

/// The document as served: the handlers' annotations, then the rules `validation`
/// enforces (`app::field_rules`, and those this installation's configuration sets) and
/// the links between operations, which utoipa's annotations cannot express.
pub fn document(config: &Config) -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serializes");
    let mut field_rules = app::field_rules::all();
    field_rules.extend(configured(config));
    rules::apply(&mut doc, &field_rules);
    rules::require(&mut doc, app::field_rules::REQUIRED);
    links::apply(&mut doc);
    problems(&mut doc);
    doc
}

/// Each error answer's exact problem: its status, title and type, `errors` always there
/// for a 422 (one entry per field), and `Retry-After` on a 429.
fn problems(doc: &mut Value) {
    let problem = Value::String("#/components/schemas/Problem".into());
    for item in doc["paths"].as_object_mut().into_iter().flat_map(|p| p.values_mut()) {
        for op in item.as_object_mut().into_iter().flat_map(|i| i.values_mut()) {
            for (code, response) in op["responses"].as_object_mut().into_iter().flatten() {
                let Some(status) = code.parse::<u16>().ok().and_then(|c| axum::http::StatusCode::from_u16(c).ok()) else { continue };
                let Some(schema) = response.pointer_mut("/content/application~1problem+json/schema") else { continue };
                if schema.get("$ref") != Some(&problem) {
                    continue;
                }
                let (title, kind) = super::error::problem_names(status);
                let mut exact = serde_json::json!({
                    "allOf": [{"$ref": problem}],
                    "properties": {"status": {"const": status.as_u16()}, "title": {"const": title}, "type": {"const": kind}},
                });
                if status == axum::http::StatusCode::UNPROCESSABLE_ENTITY {
                    exact["required"] = serde_json::json!(["errors"]);
                    exact["properties"]["errors"] = serde_json::json!({"type": "array", "minItems": 1});
                }
                *schema = exact;
                if status == axum::http::StatusCode::TOO_MANY_REQUESTS {
                    response["headers"]["Retry-After"] = serde_json::json!({
                        "description": "Seconds to wait before trying again",
                        "schema": {"type": "integer", "minimum": 0}
                    });
                }
            }
        }
    }
}

/// Rules the configuration decides: a token's longest life, the export formats.
fn configured(config: &Config) -> Vec<FieldRule> {
    let words = |w: &[&str]| Shape::OneOf(w.iter().map(|w| w.to_string()).collect());
    vec![
        FieldRule {
            place: Place::Property { schema: "NewToken", field: "expires_in_days" },
            shape: Shape::Integer { min: 1, max: config.token_max_days.max(1).into() },
        },
        FieldRule { place: Place::Query("format"), shape: words(&ExportFormat::NAMES) },
    ]
}

pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(|State(state): State<AppState>| async move { Json(document(&state.services.config)) }))
}
