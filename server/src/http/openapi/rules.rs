//! Writes `app::field_rules` into the document: each property's and query parameter's
//! bounds, lengths, patterns and words, as JSON Schema states them.

use app::field_rules::{FieldRule, Place, Shape};
use serde_json::{json, Value};

pub fn apply(doc: &mut Value, rules: &[FieldRule]) {
    for rule in rules {
        match rule.place {
            Place::Property { schema, field } => {
                let property = doc.pointer_mut(&format!("/components/schemas/{schema}/properties/{field}"));
                let property = property.unwrap_or_else(|| panic!("field_rules names {schema}.{field}, which the document lacks"));
                constrain(property, &rule.shape, false);
            }
            Place::Query(name) => {
                let mut found = false;
                for parameter in query_parameters(doc, name) {
                    constrain(&mut parameter["schema"], &rule.shape, true);
                    found = true;
                }
                assert!(found, "field_rules names the query parameter {name}, which no operation has");
            }
        }
    }
}

fn query_parameters<'a>(doc: &'a mut Value, name: &'a str) -> impl Iterator<Item = &'a mut Value> + 'a {
    doc["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter_map(|op| op.get_mut("parameters").and_then(Value::as_array_mut))
        .flat_map(|parameters| parameters.iter_mut())
        .filter(move |p| p["in"] == "query" && p["name"] == name)
}

/// Adds `shape` to a property's schema. A query parameter may also be empty, which the
/// services read as absent.
fn constrain(schema: &mut Value, shape: &Shape, may_be_empty: bool) {
    let nullable = schema["type"].as_array().is_some_and(|types| types.iter().any(|t| t == "null"));
    let object = schema.as_object_mut().expect("a property's schema is an object");
    // A default the rule itself refuses (serde's `""` or `0` for a field that must be set)
    // would mislead a client; the field's absence says the same.
    if object.get("default").is_some_and(|d| !d.is_null() && !allows(shape, d)) {
        object.remove("default");
    }
    match shape {
        Shape::Text { min, max, pattern, not } => {
            object.insert("minLength".into(), json!(if may_be_empty { 0 } else { *min }));
            object.insert("maxLength".into(), json!(max));
            if let Some(pattern) = pattern {
                let pattern = if may_be_empty { format!("^$|{pattern}") } else { pattern.clone() };
                object.insert("pattern".into(), json!(pattern));
            }
            match not.as_slice() {
                [] => {}
                // `type` too: a pattern alone matches any non-string, so `not` would refuse
                // null where the field may be null.
                [one] => {
                    object.insert("not".into(), json!({"type": "string", "pattern": one}));
                }
                many => {
                    let nots = many.iter().map(|p| json!({"not": {"type": "string", "pattern": p}})).collect();
                    object.insert("allOf".into(), Value::Array(nots));
                }
            }
        }
        Shape::Integer { min, max } => {
            object.insert("minimum".into(), json!(min));
            object.insert("maximum".into(), json!(max));
            // The bounds say it all; int32 would claim a range the rule does not have.
            object.remove("format");
        }
        Shape::OneOf(words) => {
            let mut values: Vec<Value> = words.iter().map(|w| json!(w)).collect();
            if may_be_empty {
                values.push(json!(""));
            }
            if nullable {
                values.push(Value::Null);
            }
            object.insert("enum".into(), Value::Array(values));
        }
        Shape::DayOrInstant => {
            let mut forms = vec![json!({"format": "date"}), json!({"format": "date-time"})];
            if may_be_empty {
                forms.push(json!({"maxLength": 0}));
            }
            object.insert("anyOf".into(), Value::Array(forms));
        }
        Shape::Items { max } => {
            object.insert("maxItems".into(), json!(max));
        }
    }
}

/// Marks the fields a body must have: Berth reads a missing one as empty, which the
/// validation then refuses, so to a client they are required.
pub fn require(doc: &mut Value, required: &[(&str, &[&str])]) {
    for (schema, fields) in required {
        let schema_value = doc
            .pointer_mut(&format!("/components/schemas/{schema}"))
            .unwrap_or_else(|| panic!("field_rules::REQUIRED names {schema}, which the document lacks"));
        schema_value["required"] = json!(fields);
        // A required field has no default: the one serde fills in (`""`, `0`) is a value the
        // rules refuse, and a generated client would offer it.
        for field in fields.iter() {
            if let Some(property) = schema_value["properties"][field].as_object_mut() {
                property.remove("default");
            }
        }
    }
}

/// Whether a default value keeps to the rule (for the simple shapes; others keep theirs).
fn allows(shape: &Shape, value: &Value) -> bool {
    match (shape, value) {
        (Shape::Text { min, max, .. }, Value::String(s)) => (*min..=*max).contains(&s.chars().count()),
        (Shape::Integer { min, max }, Value::Number(n)) => n.as_i64().is_some_and(|n| (*min..=*max).contains(&n)),
        (Shape::OneOf(words), Value::String(s)) => words.contains(s),
        _ => true,
    }
}
