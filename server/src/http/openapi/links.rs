//! OpenAPI links: from each operation that creates something to every operation that
//! takes its id in the path, so that a client generator, a reader and a stateful fuzzer
//! know where the ids come from.

use serde_json::{json, Map, Value};

/// What a creating operation gives out, and the path prefix of the operations that use it.
struct Source {
    operation: &'static str,
    status: &'static str,
    under: &'static str,
    /// Each path parameter and where its value is in the creating response.
    values: &'static [(&'static str, &'static str)],
}

const SOURCES: &[Source] = &[
    Source { operation: "create_request", status: "201", under: "/api/v1/requests/{id}", values: &[("id", "$response.body#/id")] },
    Source { operation: "create_user", status: "201", under: "/api/v1/users/{id}", values: &[("id", "$response.body#/id")] },
    Source { operation: "create_token", status: "201", under: "/api/v1/tokens/{id}", values: &[("id", "$response.body#/id")] },
    Source { operation: "create_environment", status: "201", under: "/api/v1/environments/{name}", values: &[("name", "$response.body#/name")] },
    Source {
        operation: "update_environment",
        status: "202",
        under: "/api/v1/environments/{name}/changes/{change}",
        values: &[("name", "$response.body#/name"), ("change", "$response.body#/pending_change/id")],
    },
];

/// The stacks a request has, for the parameter and template downloads.
const STACKS: [&str; 2] = ["cluster", "service"];

pub fn apply(doc: &mut Value) {
    let mut targets: Vec<(String, String, Vec<String>)> = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for op in item.as_object().into_iter().flat_map(|i| i.values()) {
            let id = op["operationId"].as_str().unwrap_or_default().to_string();
            let in_path: Vec<String> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .filter_map(|p| p["name"].as_str().map(str::to_string))
                .collect();
            if !in_path.is_empty() && !id.is_empty() {
                targets.push((path.clone(), id, in_path));
            }
        }
    }
    for source in SOURCES {
        let mut links = Map::new();
        for (path, target, in_path) in &targets {
            if !path.starts_with(source.under) || *target == source.operation {
                continue;
            }
            let mut parameters = Map::new();
            for name in in_path {
                match source.values.iter().find(|(n, _)| n == name) {
                    Some((_, expression)) => parameters.insert(name.clone(), json!(expression)),
                    None if name == "stack" => parameters.insert(name.clone(), json!(STACKS[1])),
                    None => continue,
                };
            }
            if parameters.len() == in_path.len() {
                links.insert(target.clone(), json!({"operationId": target, "parameters": parameters}));
                if in_path.iter().any(|n| n == "stack") {
                    let cluster = json!({"operationId": target, "parameters": {"id": "$response.body#/id", "stack": STACKS[0]}});
                    links.insert(format!("{target}_{}", STACKS[0]), cluster);
                }
            }
        }
        let response = find_response(doc, source.operation, source.status)
            .unwrap_or_else(|| panic!("{} has no {} response to link from", source.operation, source.status));
        response.insert("links".into(), Value::Object(links));
    }
}

fn find_response<'a>(doc: &'a mut Value, operation: &str, status: &str) -> Option<&'a mut Map<String, Value>> {
    doc["paths"]
        .as_object_mut()?
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .find(|op| op["operationId"] == operation)?
        .pointer_mut(&format!("/responses/{status}"))?
        .as_object_mut()
}
