//! Making the OpenAPI document state what the server enforces, where utoipa's derive does not.
//!
//! Our request bodies refuse unknown fields (`deny_unknown_fields`), and utoipa writes that as
//! `additionalProperties: false`, except in one place: a serde internally tagged enum (`{"action":
//! "push", …}`, `{"kind": "status_map", …}`). For a variant that wraps a struct, utoipa writes
//! `allOf: [{$ref: Struct}, {tag}]`, which no body can satisfy (the struct's schema refuses the
//! tag); for a struct variant it leaves the object open. [`close_tagged_unions`] rewrites each
//! variant as one closed object: the struct's properties and the tag.

use serde_json::{Map, Value};

/// Rewrites every tagged union of `doc` (a serialized OpenAPI document) as described above.
pub fn close_tagged_unions(doc: &mut Value) {
    let schemas = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some(all) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for schema in all.values_mut() {
            close(schema, &schemas);
        }
    }
}

/// The tag property of a variant object: its only required property whose schema is a
/// one-value string enum.
fn tag_of(variant: &Map<String, Value>) -> Option<String> {
    let props = variant.get("properties")?.as_object()?;
    props
        .iter()
        .find(|(_, p)| {
            p.get("enum")
                .and_then(Value::as_array)
                .is_some_and(|e| e.len() == 1)
        })
        .map(|(name, _)| name.clone())
}

fn close(schema: &mut Value, schemas: &Map<String, Value>) {
    let Some(variants) = schema.get_mut("oneOf").and_then(Value::as_array_mut) else {
        return;
    };
    for v in variants.iter_mut() {
        let Some(obj) = v.as_object_mut() else {
            continue;
        };
        if let Some(parts) = obj.get("allOf").and_then(Value::as_array).cloned() {
            // [{$ref}, {tag object}] → one object.
            let referenced = parts.iter().find_map(|p| {
                let r = p.get("$ref")?.as_str()?;
                schemas
                    .get(r.strip_prefix("#/components/schemas/")?)?
                    .as_object()
                    .cloned()
            });
            let tag = parts
                .iter()
                .find_map(|p| p.as_object().filter(|o| tag_of(o).is_some()).cloned());
            if let (Some(mut merged), Some(tag)) = (referenced, tag) {
                if let (Some(props), Some(tag_props)) = (
                    merged
                        .entry("properties")
                        .or_insert_with(|| Value::Object(Map::new()))
                        .as_object_mut(),
                    tag.get("properties").and_then(Value::as_object),
                ) {
                    for (k, p) in tag_props {
                        props.insert(k.clone(), p.clone());
                    }
                }
                let mut required: Vec<Value> = merged
                    .get("required")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for r in tag
                    .get("required")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if !required.contains(r) {
                        required.push(r.clone());
                    }
                }
                merged.insert("required".into(), Value::Array(required));
                if let Some(d) = obj.get("description") {
                    merged.insert("description".into(), d.clone());
                }
                merged.insert("additionalProperties".into(), Value::Bool(false));
                *obj = merged;
            }
        } else if obj.get("type").and_then(Value::as_str) == Some("object") && tag_of(obj).is_some()
        {
            obj.entry("additionalProperties")
                .or_insert(Value::Bool(false));
        }
    }
}

/// The query of `GET /api/links` as one exploded object parameter: a work item, or a Jira
/// issue (with its site), never both and never neither.
pub fn link_lookup_parameter() -> Value {
    let string = |d: &str| serde_json::json!({"type": "string", "minLength": 1, "description": d});
    serde_json::json!({
        "name": "lookup",
        "in": "query",
        "required": true,
        "style": "form",
        "explode": true,
        "description": "Either `workItemId`, or `issue` (with `site` when several Jira sites are configured).",
        "schema": {
            "oneOf": [
                {
                    "type": "object",
                    "title": "by work item",
                    "required": ["workItemId"],
                    "properties": {"workItemId": string("The work item.")},
                    "additionalProperties": false
                },
                {
                    "type": "object",
                    "title": "by Jira issue",
                    "required": ["issue"],
                    "properties": {
                        "issue": string("The Jira issue id or key."),
                        "site": string("The Jira site of `issue`; may be omitted when one site is configured.")
                    },
                    "additionalProperties": false
                }
            ]
        }
    })
}

/// The body of `POST /api/sync-conflicts/{id}/resolve`: `mergedValue` is required with
/// `merge` (and ignored otherwise); it is plain JSON of the field's kind.
pub fn resolve_request_schema() -> Value {
    let merged = serde_json::json!({
        "description": "The value both sides get: a string (text, rich text, option, user, date), a number, an array of strings (labels), or null.",
        "oneOf": [
            {"type": "string"},
            {"type": "number"},
            {"type": "array", "items": {"type": "string"}},
            {"type": "null"}
        ]
    });
    serde_json::json!({
        "description": "How to settle a conflict.",
        "oneOf": [
            {
                "type": "object",
                "required": ["resolution"],
                "properties": {
                    "resolution": {"type": "string", "enum": ["use_handoff", "use_jira", "ignore"]},
                    "mergedValue": merged.clone()
                },
                "additionalProperties": false
            },
            {
                "type": "object",
                "required": ["resolution", "mergedValue"],
                "properties": {
                    "resolution": {"type": "string", "enum": ["merge"]},
                    "mergedValue": merged
                },
                "additionalProperties": false
            }
        ]
    })
}

/// Applies every rewrite of this module to the document.
pub fn finish(doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let Ok(mut v) = serde_json::to_value(&doc) else {
        return doc;
    };
    close_tagged_unions(&mut v);
    if let Some(params) = v.pointer_mut("/paths/~1api~1links/get/parameters") {
        *params = Value::Array(vec![link_lookup_parameter()]);
    }
    if let Some(r) = v.pointer_mut("/components/schemas/ResolveRequest") {
        *r = resolve_request_schema();
    }
    // A mapping dry run reads an item, an issue, or both: never neither.
    if let Some(Value::Object(d)) = v.pointer_mut("/components/schemas/DryRunRequest") {
        d.insert(
            "anyOf".into(),
            serde_json::json!([{"required": ["workItemId"]}, {"required": ["jiraIssue"]}]),
        );
    }
    serde_json::from_value(v).unwrap_or(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_tagged_variant_wrapping_a_struct_becomes_one_closed_object() {
        let mut doc = json!({"components": {"schemas": {
            "U": {"oneOf": [
                {"allOf": [
                    {"$ref": "#/components/schemas/A"},
                    {"type": "object", "required": ["action"],
                     "properties": {"action": {"type": "string", "enum": ["a"]}}}
                ], "description": "an a"},
                {"type": "object", "required": ["kind"],
                 "properties": {"kind": {"type": "string", "enum": ["b"]}, "x": {"type": "string"}}}
            ]},
            "A": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}},
                  "additionalProperties": false}
        }}});
        close_tagged_unions(&mut doc);
        assert_eq!(
            doc["components"]["schemas"]["U"]["oneOf"][0],
            json!({"type": "object", "required": ["id", "action"],
                   "properties": {"id": {"type": "string"},
                                  "action": {"type": "string", "enum": ["a"]}},
                   "additionalProperties": false, "description": "an a"})
        );
        assert_eq!(
            doc["components"]["schemas"]["U"]["oneOf"][1]["additionalProperties"],
            json!(false)
        );
        // Schemas that are not unions are left alone.
        assert_eq!(doc["components"]["schemas"]["A"]["required"], json!(["id"]));
    }
}
