//! The write rules that are Jira's, not the domain's: how a set of canonical field values
//! becomes the field changes of an edit or create.

use std::collections::BTreeMap;

use sync_domain::mapping::ProjectMapping;
use sync_domain::{Value, ValueKind};

use crate::client::FieldChange;

/// The field changes that write `fields` (Jira field id → canonical value) to an issue of a
/// project mapped by `mapping`.
///
/// `labels` is written whole, and the create marker (`marker`, the label that finds
/// the issue of a work item again after an unknown create outcome) lives among the labels:
/// it is kept in every labels write, so syncing the labels never removes it.
pub fn field_changes(
    mapping: &ProjectMapping,
    fields: &BTreeMap<String, Value>,
    marker: Option<&str>,
) -> Vec<FieldChange> {
    fields
        .iter()
        .map(|(f, v)| {
            let kind = mapping
                .by_jira(f)
                .next()
                .map_or(ValueKind::Text, |m| m.kind);
            let v = match (f.as_str(), marker, v) {
                ("labels", Some(m), Value::OptionSet(set)) => {
                    Value::option_set(set.iter().map(String::as_str).chain([m]))
                }
                ("labels", Some(m), Value::Null) => Value::option_set([m]),
                _ => v.clone(),
            };
            FieldChange::new(f.clone(), v, kind)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_domain::mapping::FieldMapping;

    fn mapping() -> ProjectMapping {
        ProjectMapping::new(vec![
            FieldMapping::new("labels", "labels", ValueKind::OptionSet),
            FieldMapping::new("title", "summary", ValueKind::Text),
        ])
    }

    #[test]
    fn labels_keep_the_marker_and_other_fields_pass_through() {
        let mut fields = BTreeMap::new();
        fields.insert("labels".to_string(), Value::option_set(["a"]));
        fields.insert("summary".to_string(), Value::text("T"));
        let changes = field_changes(&mapping(), &fields, Some("jira-sync-w1"));
        assert_eq!(
            changes,
            vec![
                FieldChange::new(
                    "labels".to_string(),
                    Value::option_set(["a", "jira-sync-w1"]),
                    ValueKind::OptionSet
                ),
                FieldChange::new("summary".to_string(), Value::text("T"), ValueKind::Text),
            ]
        );
    }

    #[test]
    fn clearing_the_labels_leaves_the_marker() {
        let mut fields = BTreeMap::new();
        fields.insert("labels".to_string(), Value::Null);
        let changes = field_changes(&mapping(), &fields, Some("m"));
        assert_eq!(
            changes,
            vec![FieldChange::new(
                "labels".to_string(),
                Value::option_set(["m"]),
                ValueKind::OptionSet
            )]
        );
        // Without a marker (a create), the value is written as it is.
        assert_eq!(
            field_changes(&mapping(), &fields, None),
            vec![FieldChange::new(
                "labels".to_string(),
                Value::Null,
                ValueKind::OptionSet
            )]
        );
    }
}
