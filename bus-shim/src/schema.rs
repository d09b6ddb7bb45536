//! The tool schemas as common MCP clients read them, rewritten once when the router is built.
//!
//! schemars writes what Rust knows: `format: uint64`, `int64`, `double` on numbers (formats
//! JSON Schema does not define, which Claude Code and the MCP Inspector report as unknown on
//! every listing), and `type: ["integer", "null"]` with `default: null` for an optional
//! argument (which the Inspector's CLI cannot convert, so it sends the value as a string). An
//! optional argument is one that may be left out, so its input schema names its one type.
//! An explicit `null` is still accepted.

use serde_json::{Map, Value};

/// Rewrite one tool's input schema: no `$schema` line, numeric formats dropped, optional
/// arguments declared with their one type.
pub fn input(schema: &mut Map<String, Value>) {
    schema.remove("$schema");
    if let Some(Value::Object(props)) = schema.get_mut("properties") {
        for prop in props.values_mut() {
            if let Value::Object(prop) = prop {
                not_nullable(prop);
            }
        }
    }
    drop_numeric_formats(schema);
}

/// Rewrite one tool's output schema: no `$schema` line, numeric formats and the result types'
/// doc lines dropped. A result field that may be null (`reply_to`, `whoami.name`) stays
/// nullable.
pub fn output(schema: &mut Map<String, Value>) {
    schema.remove("$schema");
    drop_numeric_formats(schema);
    // A result type's doc line ("A message as readers see it.") is for Rust readers; its
    // fields and their descriptions are what a model reads (and the budget needs the room).
    let defs = schema.get_mut("$defs").and_then(|d| d.as_object_mut());
    for def in defs.into_iter().flat_map(|d| d.values_mut()) {
        def.as_object_mut().map(|def| def.remove("description"));
    }
}

/// `type: [T, "null"]` becomes `type: T`, and a `default: null` goes.
fn not_nullable(prop: &mut Map<String, Value>) {
    if let Some(Value::Array(types)) = prop.get("type") {
        let named: Vec<Value> = types
            .iter()
            .filter(|t| t.as_str() != Some("null"))
            .cloned()
            .collect();
        if let [one] = named.as_slice() {
            prop.insert("type".to_owned(), one.clone());
        }
    }
    if prop.get("default") == Some(&Value::Null) {
        prop.remove("default");
    }
}

/// Remove `format` from every number and integer schema, at any depth.
fn drop_numeric_formats(schema: &mut Map<String, Value>) {
    let numeric = |t: &Value| matches!(t.as_str(), Some("integer" | "number"));
    let is_number = match schema.get("type") {
        Some(Value::Array(types)) => types.iter().any(numeric),
        Some(t) => numeric(t),
        None => false,
    };
    if is_number {
        schema.remove("format");
    }
    for value in schema.values_mut() {
        match value {
            Value::Object(inner) => drop_numeric_formats(inner),
            Value::Array(items) => {
                for item in items {
                    if let Value::Object(inner) = item {
                        drop_numeric_formats(inner);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn optional_arguments_name_one_type_and_numbers_lose_their_format() {
        let mut s = map(json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "properties": {
                "reply_to": {"default": null, "format": "int64", "type": ["integer", "null"]},
                "limit": {"default": 100, "format": "uint32", "minimum": 1, "type": "integer"},
                "key": {"type": "string"},
            },
            "type": "object",
        }));
        input(&mut s);
        assert_eq!(
            Value::Object(s),
            json!({
                "properties": {
                    "reply_to": {"type": "integer"},
                    "limit": {"default": 100, "minimum": 1, "type": "integer"},
                    "key": {"type": "string"},
                },
                "type": "object",
            })
        );
    }

    #[test]
    fn nested_output_formats_go_and_nullable_results_stay() {
        let mut s = map(json!({
            "$defs": {"M": {"properties": {
                "id": {"format": "int64", "type": "integer"},
                "reply_to": {"format": "int64", "type": ["integer", "null"]},
                "ts": {"format": "date-time", "type": "string"},
            }}},
            "properties": {"n": {"format": "uint64", "minimum": 0, "type": "integer"}},
        }));
        output(&mut s);
        assert_eq!(
            Value::Object(s),
            json!({
                "$defs": {"M": {"properties": {
                    "id": {"type": "integer"},
                    "reply_to": {"type": ["integer", "null"]},
                    "ts": {"format": "date-time", "type": "string"},
                }}},
                "properties": {"n": {"minimum": 0, "type": "integer"}},
            })
        );
    }
}
