//! Field mapping per project: which Handoff field syncs with which Jira field, in which
//! direction, through which transform, and which policy settles a conflict on it.
//!
//! The domain compares every field in **Handoff space**: a Jira value is brought into Handoff
//! space with [`Transform::to_handoff`] when it is observed, and a value bound for Jira is
//! taken out with [`Transform::to_jira`] when an intent is emitted.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::value::{Number, UserRef, Value, ValueKind};

/// One of the two sides of a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The host product.
    Handoff,
    /// Jira.
    Jira,
}

impl Side {
    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::Handoff => Side::Jira,
            Side::Jira => Side::Handoff,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Handoff => "handoff",
            Side::Jira => "jira",
        })
    }
}

/// Which way a field syncs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Handoff → Jira only; edits in Jira are not carried back.
    Push,
    /// Jira → Handoff only; edits in Handoff are not carried over.
    Pull,
    /// Both ways.
    #[default]
    Bidirectional,
}

impl Direction {
    /// Whether a change made on `from` is carried to the other side.
    pub fn carries_from(self, from: Side) -> bool {
        matches!(
            (self, from),
            (Direction::Bidirectional, _)
                | (Direction::Push, Side::Handoff)
                | (Direction::Pull, Side::Jira)
        )
    }

    /// Whether the engine writes this field on `side`.
    pub fn writes(self, side: Side) -> bool {
        self.carries_from(side.other())
    }
}

/// How a conflict on a field (both sides changed it to different values) is settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// A person resolves it from the conflict queue (the default).
    #[default]
    Manual,
    /// Handoff's value wins.
    PreferHandoff,
    /// Jira's value wins.
    PreferJira,
    /// The value written last (by each side's own clock) wins; a tie goes to Handoff.
    LastWriterWins,
    /// Sets only: a 3-way merge of additions and removals.
    Union,
    /// Text only: a 3-way merge of non-overlapping edits; overlapping ones become manual.
    TextMerge,
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Policy::Manual => "manual",
            Policy::PreferHandoff => "prefer_handoff",
            Policy::PreferJira => "prefer_jira",
            Policy::LastWriterWins => "last_writer_wins",
            Policy::Union => "union",
            Policy::TextMerge => "text_merge",
        })
    }
}

impl Policy {
    /// Whether this policy can settle a field of `kind`.
    pub fn fits(self, kind: ValueKind) -> bool {
        match self {
            Policy::Union => kind == ValueKind::OptionSet,
            Policy::TextMerge => matches!(kind, ValueKind::Text | ValueKind::RichText),
            _ => true,
        }
    }
}

/// A two-way table of names (statuses, priorities, options, users).
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ValueMap {
    /// Handoff name → Jira name.
    pub to_jira: BTreeMap<String, String>,
    /// Jira name → Handoff name. Left empty, it is the inverse of `to_jira`.
    #[serde(default)]
    pub to_handoff: BTreeMap<String, String>,
}

impl ValueMap {
    /// A map from pairs `(handoff, jira)`, the inverse taken as the way back.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> ValueMap {
        ValueMap {
            to_jira: pairs
                .into_iter()
                .map(|(h, j)| (h.to_string(), j.to_string()))
                .collect(),
            to_handoff: BTreeMap::new(),
        }
    }

    fn lookup(&self, name: &str, to: Side) -> Option<String> {
        match to {
            Side::Jira => self.to_jira.get(name).cloned(),
            Side::Handoff if self.to_handoff.is_empty() => self
                .to_jira
                .iter()
                .find(|(_, j)| j.as_str() == name)
                .map(|(h, _)| h.clone()),
            Side::Handoff => self.to_handoff.get(name).cloned(),
        }
    }
}

/// How a value changes shape between the two sides.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Transform {
    /// The same canonical value on both sides.
    #[default]
    Identity,
    /// Handoff states ⇄ Jira statuses; every state must be mapped.
    StatusMap {
        /// The table.
        map: ValueMap,
    },
    /// Handoff priorities ⇄ Jira priorities.
    PriorityMap {
        /// The table.
        map: ValueMap,
    },
    /// Option names ⇄ Jira option names (single options and sets).
    OptionMap {
        /// The table.
        map: ValueMap,
        /// Whether names missing from the table pass through unchanged.
        #[serde(default)]
        passthrough: bool,
    },
    /// Handoff users ⇄ Jira users; users missing from the table pass through unchanged.
    UserMap {
        /// The table.
        map: ValueMap,
    },
    /// `jira = handoff × factor` (e.g. hours ⇄ seconds), rounded to `decimals` places.
    NumberScale {
        /// The factor; not zero.
        factor: f64,
        /// Decimal places kept on the Handoff side.
        decimals: u8,
    },
}

impl Eq for Transform {}

/// Why a value could not be carried through a transform.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransformError {
    /// What is wrong, naming the value.
    pub reason: String,
}

impl Transform {
    /// The value as Jira should hold it.
    pub fn to_jira(&self, v: &Value) -> Result<Value, TransformError> {
        self.apply(v, Side::Jira)
    }

    /// The value in Handoff space.
    pub fn to_handoff(&self, v: &Value) -> Result<Value, TransformError> {
        self.apply(v, Side::Handoff)
    }

    fn apply(&self, v: &Value, to: Side) -> Result<Value, TransformError> {
        let missing = |what: &str, name: &str| TransformError {
            reason: format!("the {what} map has no {to} value for {name:?}"),
        };
        match (self, v) {
            (_, Value::Null) | (Transform::Identity, _) => Ok(v.clone()),
            (
                Transform::StatusMap { map } | Transform::PriorityMap { map },
                Value::Option(name),
            ) => {
                let what = if matches!(self, Transform::StatusMap { .. }) {
                    "status"
                } else {
                    "priority"
                };
                map.lookup(name, to)
                    .map(Value::Option)
                    .ok_or_else(|| missing(what, name))
            }
            (Transform::OptionMap { map, passthrough }, Value::Option(name)) => {
                match map.lookup(name, to) {
                    Some(n) => Ok(Value::Option(n)),
                    None if *passthrough => Ok(v.clone()),
                    None => Err(missing("option", name)),
                }
            }
            (Transform::OptionMap { map, passthrough }, Value::OptionSet(set)) => {
                let mut out = BTreeSet::new();
                for name in set {
                    match map.lookup(name, to) {
                        Some(n) => out.insert(n),
                        None if *passthrough => out.insert(name.clone()),
                        None => return Err(missing("option", name)),
                    };
                }
                Ok(Value::option_set(out))
            }
            (Transform::UserMap { map }, Value::User(u)) => Ok(Value::User(UserRef(
                map.lookup(&u.0, to).unwrap_or_else(|| u.0.clone()),
            ))),
            (Transform::NumberScale { factor, decimals }, Value::Number(n)) => {
                let x = match to {
                    Side::Jira => n.as_f64() * factor,
                    Side::Handoff => {
                        let p = 10f64.powi(i32::from(*decimals));
                        (n.as_f64() / factor * p).round() / p
                    }
                };
                Number::from_f64(x)
                    .map(Value::Number)
                    .map_err(|e| TransformError {
                        reason: e.to_string(),
                    })
            }
            (t, v) => Err(TransformError {
                reason: format!("transform {} does not apply to the value {v}", t.name()),
            }),
        }
    }

    /// The transform's name, as in configuration.
    pub fn name(&self) -> &'static str {
        match self {
            Transform::Identity => "identity",
            Transform::StatusMap { .. } => "status_map",
            Transform::PriorityMap { .. } => "priority_map",
            Transform::OptionMap { .. } => "option_map",
            Transform::UserMap { .. } => "user_map",
            Transform::NumberScale { .. } => "number_scale",
        }
    }

    fn fits(&self, kind: ValueKind) -> bool {
        match self {
            Transform::Identity => true,
            Transform::StatusMap { .. } | Transform::PriorityMap { .. } => {
                kind == ValueKind::Option
            }
            Transform::OptionMap { .. } => matches!(kind, ValueKind::Option | ValueKind::OptionSet),
            Transform::UserMap { .. } => kind == ValueKind::User,
            Transform::NumberScale { .. } => kind == ValueKind::Number,
        }
    }
}

/// One mapped field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldMapping {
    /// The Handoff field (`title`, `description`, `acceptanceCriteria`, ...).
    pub handoff_field: String,
    /// The Jira field: a system field id (`summary`, `status`) or `customfield_NNNNN`.
    pub jira_field: String,
    /// The kind of value both sides hold.
    pub kind: ValueKind,
    /// Which way it syncs.
    #[serde(default)]
    pub direction: Direction,
    /// How the value changes shape between the sides.
    #[serde(default)]
    pub transform: Transform,
    /// How a conflict on it is settled.
    #[serde(default)]
    pub policy: Policy,
}

impl FieldMapping {
    /// A bidirectional field, identity transform, manual policy.
    pub fn new(handoff_field: &str, jira_field: &str, kind: ValueKind) -> FieldMapping {
        FieldMapping {
            handoff_field: handoff_field.to_string(),
            jira_field: jira_field.to_string(),
            kind,
            direction: Direction::Bidirectional,
            transform: Transform::Identity,
            policy: Policy::Manual,
        }
    }

    /// The same mapping with another direction.
    pub fn direction(mut self, d: Direction) -> Self {
        self.direction = d;
        self
    }

    /// The same mapping with another policy.
    pub fn policy(mut self, p: Policy) -> Self {
        self.policy = p;
        self
    }

    /// The same mapping with another transform.
    pub fn transform(mut self, t: Transform) -> Self {
        self.transform = t;
        self
    }

    /// Whether Jira's side of this field is its workflow status (written by transitions).
    pub fn is_jira_status(&self) -> bool {
        self.jira_field == "status"
    }
}

/// Retry rules for failed dispatches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Attempts in all before an intent gives up (link status `error`).
    pub max_attempts: u32,
    /// The first delay, in milliseconds; each further attempt doubles it.
    pub base_delay_ms: u64,
    /// The longest delay, in milliseconds.
    pub max_delay_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base_delay_ms: 1_000,
            max_delay_ms: 15 * 60 * 1_000,
        }
    }
}

impl RetryPolicy {
    /// The delay before attempt `attempt + 1` after `attempt` failed (1-based): exponential,
    /// capped, plus the jitter the command supplies, and never shorter than a server's
    /// `Retry-After`.
    pub fn delay_ms(&self, attempt: u32, jitter_ms: u64, retry_after_ms: Option<u64>) -> u64 {
        let exp = self
            .base_delay_ms
            .saturating_mul(1u64 << attempt.saturating_sub(1).min(30));
        let d = exp.min(self.max_delay_ms).saturating_add(jitter_ms);
        d.max(retry_after_ms.unwrap_or(0))
    }
}

/// The sync settings of one project: its field mappings and how conflicts and retries behave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectMapping {
    /// The mapped fields.
    pub fields: Vec<FieldMapping>,
    /// Whether a conflict on one field pauses the whole link (otherwise only that field).
    #[serde(default)]
    pub pause_link_on_conflict: bool,
    /// The Handoff states the status map must cover.
    #[serde(default)]
    pub handoff_statuses: Vec<String>,
    /// The Jira statuses the status map must cover (from discovery), when known.
    #[serde(default)]
    pub jira_statuses: Vec<String>,
    /// Retry rules.
    #[serde(default)]
    pub retry: RetryPolicy,
}

/// One problem in a project's mapping, naming what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum MappingError {
    /// A field name is empty.
    #[error("mapping #{index} has an empty field name")]
    EmptyFieldName {
        /// Position of the mapping in the list.
        index: usize,
    },
    /// A Jira field id is neither a system field id nor `customfield_NNNNN`.
    #[error("{jira_field:?} is not a Jira field id (a system field such as \"summary\" or \"customfield_NNNNN\")")]
    BadJiraField {
        /// The field as written.
        jira_field: String,
    },
    /// Two mappings write one Jira field.
    #[error("Jira field {jira_field:?} is written by two mappings ({first:?} and {second:?})")]
    JiraFieldWrittenTwice {
        /// The Jira field.
        jira_field: String,
        /// The first Handoff field.
        first: String,
        /// The second Handoff field.
        second: String,
    },
    /// Two mappings write one Handoff field.
    #[error("Handoff field {handoff_field:?} is mapped twice")]
    HandoffFieldMappedTwice {
        /// The Handoff field.
        handoff_field: String,
    },
    /// The policy cannot settle a field of this kind.
    #[error("policy {policy} does not fit field {handoff_field:?} of kind {kind}")]
    PolicyDoesNotFit {
        /// The Handoff field.
        handoff_field: String,
        /// The policy.
        policy: Policy,
        /// The field's kind.
        kind: ValueKind,
    },
    /// The transform cannot shape a value of this kind.
    #[error("transform {transform} does not fit field {handoff_field:?} of kind {kind}")]
    TransformDoesNotFit {
        /// The Handoff field.
        handoff_field: String,
        /// The transform's name.
        transform: String,
        /// The field's kind.
        kind: ValueKind,
    },
    /// The status map misses a state of one side.
    #[error("the status map of {handoff_field:?} has no entry for {side} state {state:?}")]
    StatusMapMissesState {
        /// The Handoff field.
        handoff_field: String,
        /// The side whose state is missing.
        side: Side,
        /// The missing state.
        state: String,
    },
    /// A status field needs a status map.
    #[error("field {handoff_field:?} maps to Jira's status and needs a status_map transform")]
    StatusNeedsMap {
        /// The Handoff field.
        handoff_field: String,
    },
    /// A number scale of zero or not finite.
    #[error("number_scale factor of {handoff_field:?} must be finite and not zero")]
    BadScale {
        /// The Handoff field.
        handoff_field: String,
    },
    /// Retry settings that cannot work.
    #[error("retry policy needs max_attempts ≥ 1 and base_delay_ms ≤ max_delay_ms")]
    BadRetryPolicy,
}

fn is_jira_field_id(s: &str) -> bool {
    if let Some(n) = s.strip_prefix("customfield_") {
        return !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
    }
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl ProjectMapping {
    /// A mapping of the given fields with default settings.
    pub fn new(fields: Vec<FieldMapping>) -> ProjectMapping {
        ProjectMapping {
            fields,
            pause_link_on_conflict: false,
            handoff_statuses: Vec::new(),
            jira_statuses: Vec::new(),
            retry: RetryPolicy::default(),
        }
    }

    /// The mapping of a Handoff field.
    pub fn by_handoff(&self, field: &str) -> Option<&FieldMapping> {
        self.fields.iter().find(|m| m.handoff_field == field)
    }

    /// The mappings that read a Jira field.
    pub fn by_jira<'a>(&'a self, field: &'a str) -> impl Iterator<Item = &'a FieldMapping> + 'a {
        self.fields.iter().filter(move |m| m.jira_field == field)
    }

    /// Checks the mapping; every problem found is listed, each naming what is wrong.
    pub fn validate(&self) -> Result<(), DomainError> {
        let mut errors = Vec::new();
        let mut jira_writers: BTreeMap<&str, &str> = BTreeMap::new();
        let mut handoff_seen = BTreeSet::new();
        for (index, m) in self.fields.iter().enumerate() {
            if m.handoff_field.trim().is_empty() || m.jira_field.trim().is_empty() {
                errors.push(MappingError::EmptyFieldName { index });
                continue;
            }
            if !is_jira_field_id(&m.jira_field) {
                errors.push(MappingError::BadJiraField {
                    jira_field: m.jira_field.clone(),
                });
            }
            if !handoff_seen.insert(m.handoff_field.as_str()) {
                errors.push(MappingError::HandoffFieldMappedTwice {
                    handoff_field: m.handoff_field.clone(),
                });
            }
            if m.direction.writes(Side::Jira) {
                if let Some(first) = jira_writers.insert(&m.jira_field, &m.handoff_field) {
                    errors.push(MappingError::JiraFieldWrittenTwice {
                        jira_field: m.jira_field.clone(),
                        first: first.to_string(),
                        second: m.handoff_field.clone(),
                    });
                }
            }
            if !m.policy.fits(m.kind) {
                errors.push(MappingError::PolicyDoesNotFit {
                    handoff_field: m.handoff_field.clone(),
                    policy: m.policy,
                    kind: m.kind,
                });
            }
            if !m.transform.fits(m.kind) {
                errors.push(MappingError::TransformDoesNotFit {
                    handoff_field: m.handoff_field.clone(),
                    transform: m.transform.name().to_string(),
                    kind: m.kind,
                });
            }
            if let Transform::NumberScale { factor, .. } = m.transform {
                if !factor.is_finite() || factor == 0.0 {
                    errors.push(MappingError::BadScale {
                        handoff_field: m.handoff_field.clone(),
                    });
                }
            }
            if m.is_jira_status() {
                match &m.transform {
                    Transform::StatusMap { map } => self.check_status_map(m, map, &mut errors),
                    _ => errors.push(MappingError::StatusNeedsMap {
                        handoff_field: m.handoff_field.clone(),
                    }),
                }
            }
        }
        if self.retry.max_attempts == 0 || self.retry.base_delay_ms > self.retry.max_delay_ms {
            errors.push(MappingError::BadRetryPolicy);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(DomainError::InvalidMapping(errors))
        }
    }

    fn check_status_map(&self, m: &FieldMapping, map: &ValueMap, errors: &mut Vec<MappingError>) {
        if m.direction.writes(Side::Jira) {
            for state in &self.handoff_statuses {
                if map.lookup(state, Side::Jira).is_none() {
                    errors.push(MappingError::StatusMapMissesState {
                        handoff_field: m.handoff_field.clone(),
                        side: Side::Handoff,
                        state: state.clone(),
                    });
                }
            }
        }
        if m.direction.writes(Side::Handoff) {
            for state in &self.jira_statuses {
                if map.lookup(state, Side::Handoff).is_none() {
                    errors.push(MappingError::StatusMapMissesState {
                        handoff_field: m.handoff_field.clone(),
                        side: Side::Jira,
                        state: state.clone(),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(m: &ProjectMapping) -> Vec<MappingError> {
        match m.validate() {
            Err(DomainError::InvalidMapping(v)) => v,
            _ => Vec::new(),
        }
    }

    #[test]
    fn spec_mapping_is_valid() {
        let m = ProjectMapping::new(vec![
            FieldMapping::new("title", "summary", ValueKind::Text),
            FieldMapping::new("description", "description", ValueKind::RichText),
            FieldMapping::new(
                "acceptanceCriteria",
                "customfield_10001",
                ValueKind::RichText,
            )
            .direction(Direction::Push),
            FieldMapping::new("sizeEstimate", "customfield_10002", ValueKind::Number),
        ]);
        assert_eq!(m.validate(), Ok(()));
    }

    #[test]
    fn validation_names_each_problem() {
        let mut m = ProjectMapping::new(vec![
            FieldMapping::new("title", "summary", ValueKind::Text),
            FieldMapping::new("name", "summary", ValueKind::Text),
            FieldMapping::new("labels", "labels", ValueKind::OptionSet).policy(Policy::TextMerge),
            FieldMapping::new("points", "customfield_12x", ValueKind::Number),
            FieldMapping::new("status", "status", ValueKind::Option).transform(
                Transform::StatusMap {
                    map: ValueMap::from_pairs([("todo", "To Do"), ("doing", "In Progress")]),
                },
            ),
            FieldMapping::new("title", "customfield_1", ValueKind::Text).direction(Direction::Pull),
        ]);
        m.handoff_statuses = vec!["todo".into(), "doing".into(), "done".into()];
        m.jira_statuses = vec!["To Do".into(), "In Progress".into(), "Done".into()];
        let p = problems(&m);
        assert!(p.contains(&MappingError::JiraFieldWrittenTwice {
            jira_field: "summary".into(),
            first: "title".into(),
            second: "name".into()
        }));
        assert!(p.contains(&MappingError::PolicyDoesNotFit {
            handoff_field: "labels".into(),
            policy: Policy::TextMerge,
            kind: ValueKind::OptionSet
        }));
        assert!(p.contains(&MappingError::BadJiraField {
            jira_field: "customfield_12x".into()
        }));
        assert!(p.contains(&MappingError::StatusMapMissesState {
            handoff_field: "status".into(),
            side: Side::Handoff,
            state: "done".into()
        }));
        assert!(p.contains(&MappingError::StatusMapMissesState {
            handoff_field: "status".into(),
            side: Side::Jira,
            state: "Done".into()
        }));
        assert!(p.contains(&MappingError::HandoffFieldMappedTwice {
            handoff_field: "title".into()
        }));
        assert_eq!(p.len(), 6, "{p:?}");
        let msg = m
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(msg.contains("\"done\""), "{msg}");
    }

    #[test]
    fn two_pull_mappings_may_read_one_jira_field() {
        let m = ProjectMapping::new(vec![
            FieldMapping::new("title", "summary", ValueKind::Text).direction(Direction::Pull),
            FieldMapping::new("name", "summary", ValueKind::Text).direction(Direction::Pull),
        ]);
        assert_eq!(m.validate(), Ok(()));
    }

    #[test]
    fn transforms_go_both_ways() {
        let t = Transform::StatusMap {
            map: ValueMap::from_pairs([("todo", "To Do"), ("done", "Done")]),
        };
        assert_eq!(
            t.to_jira(&Value::option("todo")),
            Ok(Value::option("To Do"))
        );
        assert_eq!(
            t.to_handoff(&Value::option("Done")),
            Ok(Value::option("done"))
        );
        assert!(t.to_handoff(&Value::option("Blocked")).is_err());
        let s = Transform::NumberScale {
            factor: 3600.0,
            decimals: 2,
        };
        let h = Value::number(1.5).unwrap_or(Value::Null);
        let j = s.to_jira(&h).unwrap_or(Value::Null);
        assert_eq!(j, Value::number(5400.0).unwrap_or(Value::Null));
        assert_eq!(s.to_handoff(&j), Ok(h));
        let u = Transform::UserMap {
            map: ValueMap::from_pairs([("alice", "5cedcb43")]),
        };
        assert_eq!(
            u.to_jira(&Value::user("alice")),
            Ok(Value::user("5cedcb43"))
        );
        assert_eq!(u.to_handoff(&Value::user("zed")), Ok(Value::user("zed")));
    }

    #[test]
    fn retry_delay_is_exponential_capped_and_respects_retry_after() {
        let r = RetryPolicy {
            max_attempts: 5,
            base_delay_ms: 100,
            max_delay_ms: 1_000,
        };
        assert_eq!(r.delay_ms(1, 0, None), 100);
        assert_eq!(r.delay_ms(2, 0, None), 200);
        assert_eq!(r.delay_ms(3, 7, None), 407);
        assert_eq!(r.delay_ms(10, 0, None), 1_000);
        assert_eq!(r.delay_ms(1, 0, Some(5_000)), 5_000);
    }
}
