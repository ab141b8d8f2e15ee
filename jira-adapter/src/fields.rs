//! The field codec: Jira field JSON ⇄ canonical [`sync_domain::Value`]s.
//!
//! Reads accept every shape Jira uses for a kind (Cloud v3 and Data Center v2, REST and
//! webhook payloads); writes produce the shape the flavor's edit/create API expects.

use serde_json::{json, Value as Json};
use sync_domain::{Value, ValueKind};

use crate::client::body;
use crate::error::JiraError;

/// Which REST API the site speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiFlavor {
    /// Jira Cloud, REST v3: rich text is ADF, users are `accountId`s.
    CloudV3,
    /// Jira Data Center / Server, REST v2: rich text is wiki markup, users are `name`s.
    DataCenterV2,
}

impl ApiFlavor {
    /// The REST path prefix (`/rest/api/3` or `/rest/api/2`).
    pub fn api_prefix(self) -> &'static str {
        match self {
            ApiFlavor::CloudV3 => "/rest/api/3",
            ApiFlavor::DataCenterV2 => "/rest/api/2",
        }
    }
}

/// System fields whose options are named (`{"name": ..}`), not valued (`{"value": ..}`).
const NAMED_OPTION_FIELDS: &[&str] = &["priority", "status", "resolution", "issuetype", "security"];
/// System set fields whose items are named objects.
const NAMED_SET_FIELDS: &[&str] = &["components", "fixVersions", "versions"];

fn shape(kind: ValueKind, raw: &Json) -> JiraError {
    let mut s = raw.to_string();
    if s.len() > 200 {
        let cut = (0..=200)
            .rev()
            .find(|i| s.is_char_boundary(*i))
            .unwrap_or(0);
        s.truncate(cut);
        s.push('…');
    }
    JiraError::FieldShape {
        kind,
        reason: format!("unexpected JSON {s}"),
    }
}

/// The name of an option object: `value` (custom selects) or `name` (priority, status,
/// components, versions).
fn option_name(raw: &Json) -> Option<&str> {
    match raw {
        Json::String(s) => Some(s),
        Json::Object(o) => o
            .get("value")
            .or_else(|| o.get("name"))
            .and_then(Json::as_str),
        _ => None,
    }
}

/// Reads a Jira field value as a canonical value of `kind`. JSON `null` (and a missing
/// field, passed as `null`) is [`Value::Null`] for every kind.
pub fn field_to_value(raw: &Json, kind: ValueKind, flavor: ApiFlavor) -> Result<Value, JiraError> {
    if raw.is_null() {
        return Ok(Value::Null);
    }
    match kind {
        ValueKind::Text => match raw {
            Json::String(s) => Ok(Value::text(s)),
            Json::Number(n) => Ok(Value::text(&n.to_string())),
            _ => Err(shape(kind, raw)),
        },
        ValueKind::RichText => {
            let md = match raw {
                // Cloud v3 REST bodies are ADF documents.
                Json::Object(_) => body::adf_to_markdown(raw)?,
                // v2 REST and every webhook payload carry wiki markup strings.
                Json::String(s) => body::wiki_to_markdown(s),
                _ => return Err(shape(kind, raw)),
            };
            Ok(Value::rich_text(&md))
        }
        ValueKind::Number => match raw {
            Json::Number(n) => {
                let x = n.as_f64().ok_or_else(|| shape(kind, raw))?;
                Ok(Value::number(x)?)
            }
            Json::String(s) if s.trim().is_empty() => Ok(Value::Null),
            Json::String(s) => Ok(Value::Number(sync_domain::Number::parse(s)?)),
            _ => Err(shape(kind, raw)),
        },
        ValueKind::Option => option_name(raw)
            .map(Value::option)
            .ok_or_else(|| shape(kind, raw)),
        ValueKind::OptionSet => match raw {
            Json::Array(items) => {
                let names = items
                    .iter()
                    .map(|i| option_name(i).ok_or_else(|| shape(kind, i)));
                Ok(Value::option_set(names.collect::<Result<Vec<_>, _>>()?))
            }
            // A single-valued select read as a set.
            Json::Object(_) | Json::String(_) => Ok(Value::option_set(
                option_name(raw).into_iter().collect::<Vec<_>>(),
            )),
            _ => Err(shape(kind, raw)),
        },
        ValueKind::User => match raw {
            Json::String(s) => Ok(Value::user(s)),
            Json::Object(o) => {
                let pick = |k: &str| o.get(k).and_then(Json::as_str).filter(|s| !s.is_empty());
                let id = match flavor {
                    ApiFlavor::CloudV3 => pick("accountId"),
                    ApiFlavor::DataCenterV2 => pick("name").or_else(|| pick("key")),
                };
                id.map(Value::user).ok_or_else(|| shape(kind, raw))
            }
            _ => Err(shape(kind, raw)),
        },
        ValueKind::Date => match raw {
            Json::String(s) => Ok(Value::date(s)?),
            _ => Err(shape(kind, raw)),
        },
    }
}

/// The JSON to write into Jira field `jira_field` (for `fields` of an edit or create) for
/// the canonical value `v` of `kind`.
pub fn value_to_field(v: &Value, kind: ValueKind, jira_field: &str, flavor: ApiFlavor) -> Json {
    match v {
        Value::Null => match kind {
            ValueKind::OptionSet => json!([]),
            _ => Json::Null,
        },
        Value::Text(s) => json!(s),
        Value::RichText(md) => body::markdown_to_jira(md, flavor),
        Value::Number(n) => serde_json::Number::from_f64(n.as_f64())
            .map(Json::Number)
            .unwrap_or(Json::Null),
        Value::Option(name) => {
            if NAMED_OPTION_FIELDS.contains(&jira_field) {
                json!({ "name": name })
            } else {
                json!({ "value": name })
            }
        }
        Value::OptionSet(set) => {
            if jira_field == "labels" {
                json!(set)
            } else if NAMED_SET_FIELDS.contains(&jira_field) {
                Json::Array(set.iter().map(|s| json!({ "name": s })).collect())
            } else {
                Json::Array(set.iter().map(|s| json!({ "value": s })).collect())
            }
        }
        Value::User(u) => match flavor {
            ApiFlavor::CloudV3 => json!({ "accountId": u.0 }),
            ApiFlavor::DataCenterV2 => json!({ "name": u.0 }),
        },
        Value::Date(d) => json!(d.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_jira_shapes() {
        let cases = [
            (Value::text("Hello"), ValueKind::Text, "summary"),
            (Value::option("High"), ValueKind::Option, "priority"),
            (Value::option("red"), ValueKind::Option, "customfield_1"),
            (
                Value::option_set(["b", "a"]),
                ValueKind::OptionSet,
                "labels",
            ),
            (
                Value::option_set(["UI"]),
                ValueKind::OptionSet,
                "components",
            ),
            (
                Value::option_set(["x"]),
                ValueKind::OptionSet,
                "customfield_2",
            ),
            (Value::user("abc"), ValueKind::User, "assignee"),
            (Value::Null, ValueKind::OptionSet, "labels"),
            (Value::Null, ValueKind::User, "assignee"),
        ];
        for flavor in [ApiFlavor::CloudV3, ApiFlavor::DataCenterV2] {
            for (v, kind, field) in &cases {
                let j = value_to_field(v, *kind, field, flavor);
                let back = field_to_value(&j, *kind, flavor).ok();
                assert_eq!(back.as_ref(), Some(v), "{field} {flavor:?} via {j}");
            }
            let n = Value::number(2.5).unwrap_or(Value::Null);
            let j = value_to_field(&n, ValueKind::Number, "customfield_3", flavor);
            assert_eq!(field_to_value(&j, ValueKind::Number, flavor).ok(), Some(n));
            let d = Value::date("2024-02-29").unwrap_or(Value::Null);
            let j = value_to_field(&d, ValueKind::Date, "duedate", flavor);
            assert_eq!(field_to_value(&j, ValueKind::Date, flavor).ok(), Some(d));
        }
    }

    #[test]
    fn wrong_shapes_are_errors_not_panics() {
        let bad = [
            (json!({"a": 1}), ValueKind::Text),
            (json!([1]), ValueKind::OptionSet),
            (json!(true), ValueKind::Number),
            (json!("nope"), ValueKind::Number),
            (json!({"displayName": "x"}), ValueKind::User),
            (json!("31/12/2024"), ValueKind::Date),
            (json!(3), ValueKind::RichText),
        ];
        for (raw, kind) in bad {
            assert!(
                field_to_value(&raw, kind, ApiFlavor::CloudV3).is_err(),
                "{raw} as {kind}"
            );
        }
    }

    #[test]
    fn users_by_flavor() {
        let u = json!({"accountId": "5b10", "name": "admin", "key": "k"});
        assert_eq!(
            field_to_value(&u, ValueKind::User, ApiFlavor::CloudV3).ok(),
            Some(Value::user("5b10"))
        );
        assert_eq!(
            field_to_value(&u, ValueKind::User, ApiFlavor::DataCenterV2).ok(),
            Some(Value::user("admin"))
        );
    }
}
