//! Field values on the wire: plain JSON per field, read and written through a field schema.
//!
//! text, rich text (Markdown), option and user are JSON strings; a number is a JSON number;
//! an option set is an array of strings; a date is a `"YYYY-MM-DD"` string; `null` clears.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};
use sync_domain::{Value, ValueKind};

use crate::error::HostError;
use crate::host::FieldSchema;

fn json_type(j: &Json) -> &'static str {
    match j {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// Reads one field's JSON value as the canonical value of its kind.
pub fn decode_field(name: &str, kind: ValueKind, json: &Json) -> Result<Value, HostError> {
    let mismatch = |found: &str| HostError::FieldTypeMismatch {
        field: name.to_string(),
        expected: kind,
        found: found.to_string(),
    };
    let invalid = |source| HostError::InvalidFieldValue {
        field: name.to_string(),
        source,
    };
    if json.is_null() {
        return Ok(Value::Null);
    }
    match kind {
        ValueKind::Text
        | ValueKind::RichText
        | ValueKind::Option
        | ValueKind::User
        | ValueKind::Date => {
            let s = json.as_str().ok_or_else(|| mismatch(json_type(json)))?;
            Ok(match kind {
                ValueKind::Text => Value::text(s),
                ValueKind::RichText => Value::rich_text(s),
                ValueKind::Option => Value::option(s),
                ValueKind::User => Value::user(s),
                _ => Value::date(s).map_err(invalid)?,
            })
        }
        ValueKind::Number => {
            let x = json.as_f64().ok_or_else(|| mismatch(json_type(json)))?;
            Value::number(x).map_err(invalid)
        }
        ValueKind::OptionSet => {
            let items = json.as_array().ok_or_else(|| mismatch(json_type(json)))?;
            let names = items
                .iter()
                .map(|i| {
                    i.as_str()
                        .ok_or_else(|| mismatch("an array with a non-string element"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Value::option_set(names))
        }
    }
}

/// Writes one canonical value as its field's JSON value; the value must fit the field's kind.
pub fn encode_field(name: &str, kind: ValueKind, value: &Value) -> Result<Json, HostError> {
    if !value.fits(kind) {
        return Err(HostError::FieldTypeMismatch {
            field: name.to_string(),
            expected: kind,
            found: value
                .kind()
                .map_or_else(|| "null".to_string(), |k| format!("a {k} value")),
        });
    }
    Ok(match value {
        Value::Null => Json::Null,
        Value::Text(s) | Value::RichText(s) | Value::Option(s) => Json::String(s.clone()),
        Value::User(u) => Json::String(u.0.clone()),
        Value::Date(d) => Json::String(d.as_str().to_string()),
        Value::OptionSet(set) => Json::Array(set.iter().cloned().map(Json::String).collect()),
        Value::Number(n) => match n.as_str().parse::<i64>() {
            Ok(i) => Json::from(i),
            Err(_) => serde_json::Number::from_f64(n.as_f64())
                .map(Json::Number)
                .ok_or_else(|| HostError::InvalidFieldValue {
                    field: name.to_string(),
                    source: sync_domain::DomainError::InvalidValue {
                        kind: ValueKind::Number,
                        reason: format!("{} is not a finite number", n.as_str()),
                    },
                })?,
        },
    })
}

/// Reads the fields of a host item. Fields outside the schema are left out: a host may have
/// fields nobody maps, and a new one must not stop the sync. Null fields are left out too
/// (an absent field is `Null`).
pub fn decode_fields(
    schema: &FieldSchema,
    fields: &Map<String, Json>,
) -> Result<BTreeMap<String, Value>, HostError> {
    let mut out = BTreeMap::new();
    for (name, json) in fields {
        let Some(kind) = schema.get(name) else {
            continue;
        };
        let value = decode_field(name, *kind, json)?;
        if value != Value::Null {
            out.insert(name.clone(), value);
        }
    }
    Ok(out)
}

/// Writes fields for the host. A field outside the schema is an error: the engine must
/// never write a field the host was not declared to have.
pub fn encode_fields(
    schema: &FieldSchema,
    fields: &BTreeMap<String, Value>,
) -> Result<Map<String, Json>, HostError> {
    fields
        .iter()
        .map(|(name, value)| {
            let kind = schema.get(name).ok_or_else(|| HostError::UnknownField {
                field: name.clone(),
            })?;
            Ok((name.clone(), encode_field(name, *kind, value)?))
        })
        .collect()
}

/// Checks that canonical values fit the schema (used by hosts that keep values as they are).
pub fn check_fields(
    schema: &FieldSchema,
    fields: &BTreeMap<String, Value>,
) -> Result<(), HostError> {
    encode_fields(schema, fields).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> FieldSchema {
        [
            ("title", ValueKind::Text),
            ("description", ValueKind::RichText),
            ("size", ValueKind::Number),
            ("status", ValueKind::Option),
            ("labels", ValueKind::OptionSet),
            ("assignee", ValueKind::User),
            ("due", ValueKind::Date),
        ]
        .into_iter()
        .map(|(n, k)| (n.to_string(), k))
        .collect()
    }

    #[test]
    fn every_kind_round_trips_canonically() -> Result<(), HostError> {
        let wire = json!({
            "title": "Fix login  ",
            "description": "# T\r\n\r\n\r\nbody",
            "size": 3.0,
            "status": " In Progress",
            "labels": ["b", "a", "a"],
            "assignee": "u-ana",
            "due": "2024-12-30",
            "extra": {"not": "mapped"},
        });
        let map = wire.as_object().cloned().unwrap_or_default();
        let values = decode_fields(&schema(), &map)?;
        assert_eq!(values.get("title"), Some(&Value::text("Fix login")));
        assert_eq!(
            values.get("description"),
            Some(&Value::rich_text("# T\n\nbody"))
        );
        assert_eq!(values.get("size"), Value::number(3.0).ok().as_ref());
        assert_eq!(values.get("labels"), Some(&Value::option_set(["a", "b"])));
        assert!(!values.contains_key("extra"));
        let encoded = encode_fields(&schema(), &values)?;
        assert_eq!(encoded.get("size"), Some(&json!(3)));
        assert_eq!(encoded.get("labels"), Some(&json!(["a", "b"])));
        assert_eq!(encoded.get("due"), Some(&json!("2024-12-30")));
        assert_eq!(decode_fields(&schema(), &encoded)?, values);
        Ok(())
    }

    #[test]
    fn fractional_numbers_stay_fractional() -> Result<(), HostError> {
        let v = Value::number(2.5).map_err(|source| HostError::InvalidFieldValue {
            field: "size".into(),
            source,
        })?;
        assert_eq!(encode_field("size", ValueKind::Number, &v)?, json!(2.5));
        Ok(())
    }

    #[test]
    fn mismatches_name_the_field() {
        let cases = [
            ("size", json!("three")),
            ("labels", json!(["a", 1])),
            ("title", json!(5)),
            ("labels", json!("a")),
        ];
        for (field, wire) in cases {
            let kind = schema()[field];
            match decode_field(field, kind, &wire) {
                Err(HostError::FieldTypeMismatch { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: expected a type mismatch, got {other:?}"),
            }
        }
        match decode_field("due", ValueKind::Date, &json!("30/12/2024")) {
            Err(HostError::InvalidFieldValue { field, .. }) => assert_eq!(field, "due"),
            other => panic!("expected an invalid date, got {other:?}"),
        }
    }

    #[test]
    fn writing_an_unknown_or_ill_typed_field_fails() {
        let unknown: BTreeMap<String, Value> = [("nope".to_string(), Value::text("x"))].into();
        assert!(
            matches!(encode_fields(&schema(), &unknown), Err(HostError::UnknownField { field }) if field == "nope")
        );
        let wrong: BTreeMap<String, Value> = [("size".to_string(), Value::text("x"))].into();
        assert!(
            matches!(encode_fields(&schema(), &wrong), Err(HostError::FieldTypeMismatch { field, .. }) if field == "size")
        );
        let null: BTreeMap<String, Value> = [("size".to_string(), Value::Null)].into();
        assert_eq!(
            encode_fields(&schema(), &null)
                .ok()
                .and_then(|m| m.get("size").cloned()),
            Some(Json::Null)
        );
    }
}
