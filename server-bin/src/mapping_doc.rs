//! The one wire schema of a project's field mapping: what `GET /api/projects/{id}/sync-mappings`
//! shows, what `PUT` and the mapping test take, what a `mapping_file` holds, and what each
//! `[[projects.fields]]` table of the TOML config is read as. JSON spells keys in camelCase;
//! the TOML config may also use the snake_case spellings (`handoff_field`, `status_map`, ...)
//! and the short keys `handoff` and `jira`.
//!
//! A transform is written either as `transform = { kind = "status_map", map = { toJira = … } }`
//! or, shorter, as one of `statusMap`, `priorityMap`, `optionMap` (+ `optionPassthrough`),
//! `userMap` (Handoff name → Jira name) or `scale` (+ `decimals`); not both.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sync_domain::mapping::{
    Direction, FieldMapping, Policy, ProjectMapping, RetryPolicy, Transform, ValueMap,
};
use sync_domain::ValueKind;
use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
use utoipa::ToSchema;

fn enum_schema(values: &[&str], example: &str) -> utoipa::openapi::Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .enum_values(Some(values.iter().copied()))
        .examples([serde_json::Value::String(example.to_string())])
        .build()
}

/// The schema of a value kind.
pub fn kind_schema() -> utoipa::openapi::Object {
    enum_schema(
        &[
            "text",
            "rich_text",
            "number",
            "option",
            "option_set",
            "user",
            "date",
        ],
        "text",
    )
}

fn direction_schema() -> utoipa::openapi::Object {
    enum_schema(&["push", "pull", "bidirectional"], "bidirectional")
}

fn policy_schema() -> utoipa::openapi::Object {
    enum_schema(
        &[
            "manual",
            "prefer_handoff",
            "prefer_jira",
            "last_writer_wins",
            "union",
            "text_merge",
        ],
        "manual",
    )
}

/// One mapped field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldMappingDoc {
    /// The Handoff field (`title`, `description`, ...).
    #[serde(alias = "handoff", alias = "handoff_field")]
    pub handoff_field: String,
    /// The Jira field id (`summary`, `customfield_10001`).
    #[serde(alias = "jira", alias = "jira_field")]
    pub jira_field: String,
    /// The kind of value both sides hold.
    #[schema(schema_with = kind_schema)]
    pub kind: ValueKind,
    /// `push`, `pull` or `bidirectional` (the default).
    #[serde(default)]
    #[schema(schema_with = direction_schema)]
    pub direction: Direction,
    /// How a conflict on the field is settled: `manual` (the default: a person decides)
    /// or a policy.
    #[serde(default)]
    #[schema(schema_with = policy_schema)]
    pub policy: Policy,
    /// How the value changes shape between the sides (identity when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<TransformDoc>,
    /// Short for a `status_map` transform: Handoff state → Jira status.
    #[serde(default, alias = "status_map", skip_serializing_if = "Option::is_none")]
    pub status_map: Option<BTreeMap<String, String>>,
    /// Short for a `priority_map` transform: Handoff priority → Jira priority.
    #[serde(
        default,
        alias = "priority_map",
        skip_serializing_if = "Option::is_none"
    )]
    pub priority_map: Option<BTreeMap<String, String>>,
    /// Short for an `option_map` transform: Handoff option → Jira option.
    #[serde(default, alias = "option_map", skip_serializing_if = "Option::is_none")]
    pub option_map: Option<BTreeMap<String, String>>,
    /// With `optionMap`: names missing from the table pass through unchanged.
    #[serde(
        default,
        alias = "option_passthrough",
        skip_serializing_if = "is_false"
    )]
    pub option_passthrough: bool,
    /// Short for a `user_map` transform: Handoff user → Jira user.
    #[serde(default, alias = "user_map", skip_serializing_if = "Option::is_none")]
    pub user_map: Option<BTreeMap<String, String>>,
    /// Short for a `number_scale` transform: `jira = handoff × scale`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    /// With `scale`: decimal places kept on Handoff's side (2 when absent).
    #[serde(
        default,
        deserialize_with = "whole::opt",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(minimum = 0, maximum = 255)]
    pub decimals: Option<u8>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// An unsigned integer as JSON may write it: `2`, or `2.0` (JSON Schema counts a number
/// with no fractional part as an integer, so the document promises both are accepted).
mod whole {
    use serde::de::{Deserializer, Error, Visitor};
    use std::fmt;
    use std::marker::PhantomData;

    struct Whole<T>(PhantomData<T>);

    impl<T: TryFrom<u64>> Visitor<'_> for Whole<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a whole number in range")
        }

        fn visit_u64<E: Error>(self, v: u64) -> Result<T, E> {
            T::try_from(v).map_err(|_| E::custom(format!("{v} is out of range")))
        }

        fn visit_i64<E: Error>(self, v: i64) -> Result<T, E> {
            let u = u64::try_from(v).map_err(|_| E::custom(format!("{v} is negative")))?;
            self.visit_u64(u)
        }

        fn visit_f64<E: Error>(self, v: f64) -> Result<T, E> {
            if v.fract() != 0.0 || !(0.0..=u64::MAX as f64).contains(&v) {
                return Err(E::custom(format!("{v} is not a whole number in range")));
            }
            // A whole, in-range f64: the cast is exact.
            self.visit_u64(v as u64)
        }
    }

    /// Deserializes a whole number of type `T`.
    pub fn de<'de, D: Deserializer<'de>, T: TryFrom<u64>>(d: D) -> Result<T, D::Error> {
        d.deserialize_any(Whole(PhantomData))
    }

    /// Deserializes an optional whole number of type `T`.
    pub fn opt<'de, D: Deserializer<'de>, T: TryFrom<u64>>(d: D) -> Result<Option<T>, D::Error> {
        struct Opt<T>(PhantomData<T>);
        impl<'de, T: TryFrom<u64>> Visitor<'de> for Opt<T> {
            type Value = Option<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number or null")
            }
            fn visit_none<E: Error>(self) -> Result<Option<T>, E> {
                Ok(None)
            }
            fn visit_unit<E: Error>(self) -> Result<Option<T>, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
                de(d).map(Some)
            }
        }
        d.deserialize_option(Opt(PhantomData))
    }
}

/// A two-way table of names.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ValueMapDoc {
    /// Handoff name → Jira name.
    #[serde(alias = "to_jira")]
    pub to_jira: BTreeMap<String, String>,
    /// Jira name → Handoff name; empty means the inverse of `toJira`.
    #[serde(default, alias = "to_handoff")]
    pub to_handoff: BTreeMap<String, String>,
}

/// A field's transform.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TransformDoc {
    /// The same value on both sides.
    #[default]
    Identity,
    /// Handoff states ⇄ Jira statuses.
    StatusMap {
        /// The table.
        map: ValueMapDoc,
    },
    /// Handoff priorities ⇄ Jira priorities.
    PriorityMap {
        /// The table.
        map: ValueMapDoc,
    },
    /// Option names ⇄ Jira option names.
    OptionMap {
        /// The table.
        map: ValueMapDoc,
        /// Whether names missing from the table pass through unchanged.
        #[serde(default)]
        passthrough: bool,
    },
    /// Handoff users ⇄ Jira users.
    UserMap {
        /// The table.
        map: ValueMapDoc,
    },
    /// `jira = handoff × factor`, rounded to `decimals` places on Handoff's side.
    NumberScale {
        /// The factor; finite and not zero.
        factor: f64,
        /// Decimal places kept on Handoff's side.
        #[serde(deserialize_with = "whole::de")]
        #[schema(minimum = 0, maximum = 255)]
        decimals: u8,
    },
}

/// Retry rules of failed writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetryDoc {
    /// Attempts in all before a write gives up (link status `error`).
    #[serde(deserialize_with = "whole::de")]
    pub max_attempts: u32,
    /// The first delay; each further attempt doubles it.
    #[serde(deserialize_with = "whole::de")]
    pub base_delay_ms: u64,
    /// The longest delay.
    #[serde(deserialize_with = "whole::de")]
    pub max_delay_ms: u64,
}

/// A project's field mapping.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MappingDoc {
    /// The mapped fields.
    pub mappings: Vec<FieldMappingDoc>,
    /// Whether a conflict on one field pauses the whole link.
    #[serde(default)]
    pub pause_link_on_conflict: bool,
    /// The Handoff states the status map must cover.
    #[serde(default)]
    pub handoff_statuses: Vec<String>,
    /// The Jira statuses the status map must cover, when known.
    #[serde(default)]
    pub jira_statuses: Vec<String>,
    /// Retry rules (the defaults when absent).
    #[serde(default)]
    pub retry: Option<RetryDoc>,
}

/// A problem of a mapping as written, at the key that caused it (relative to the field:
/// `statusMap`, `decimals`, or empty for the field as a whole).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocProblem {
    /// The key, relative to the field.
    pub key: &'static str,
    /// What is wrong.
    pub message: String,
}

fn map_doc(m: &ValueMap) -> ValueMapDoc {
    ValueMapDoc {
        to_jira: m.to_jira.clone(),
        to_handoff: m.to_handoff.clone(),
    }
}

fn map_domain(m: &ValueMapDoc) -> ValueMap {
    ValueMap {
        to_jira: m.to_jira.clone(),
        to_handoff: m.to_handoff.clone(),
    }
}

fn table(m: &BTreeMap<String, String>) -> ValueMap {
    ValueMap::from_pairs(m.iter().map(|(h, j)| (h.as_str(), j.as_str())))
}

impl FieldMappingDoc {
    /// The field as the domain takes it, or every problem of how it is written (at most one
    /// transform; `optionPassthrough` only with `optionMap`, `decimals` only with `scale`).
    pub fn to_domain(&self) -> Result<FieldMapping, Vec<DocProblem>> {
        let mut problems = Vec::new();
        let mut transforms: Vec<Transform> = Vec::new();
        if let Some(t) = &self.transform {
            transforms.push(t.to_domain());
        }
        if let Some(m) = &self.status_map {
            transforms.push(Transform::StatusMap { map: table(m) });
        }
        if let Some(m) = &self.priority_map {
            transforms.push(Transform::PriorityMap { map: table(m) });
        }
        if let Some(m) = &self.option_map {
            transforms.push(Transform::OptionMap {
                map: table(m),
                passthrough: self.option_passthrough,
            });
        } else if self.option_passthrough {
            problems.push(DocProblem {
                key: "optionPassthrough",
                message: "only means something with optionMap".into(),
            });
        }
        if let Some(m) = &self.user_map {
            transforms.push(Transform::UserMap { map: table(m) });
        }
        if let Some(factor) = self.scale {
            transforms.push(Transform::NumberScale {
                factor,
                decimals: self.decimals.unwrap_or(2),
            });
        } else if self.decimals.is_some() {
            problems.push(DocProblem {
                key: "decimals",
                message: "only means something with scale".into(),
            });
        }
        if transforms.len() > 1 {
            problems.push(DocProblem {
                key: "",
                message:
                    "at most one of transform, statusMap, priorityMap, optionMap, userMap, scale"
                        .into(),
            });
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(
            FieldMapping::new(&self.handoff_field, &self.jira_field, self.kind)
                .direction(self.direction)
                .policy(self.policy)
                .transform(transforms.into_iter().next().unwrap_or_default()),
        )
    }
}

impl TransformDoc {
    /// The transform as the domain takes it.
    pub fn to_domain(&self) -> Transform {
        match self {
            TransformDoc::Identity => Transform::Identity,
            TransformDoc::StatusMap { map } => Transform::StatusMap {
                map: map_domain(map),
            },
            TransformDoc::PriorityMap { map } => Transform::PriorityMap {
                map: map_domain(map),
            },
            TransformDoc::OptionMap { map, passthrough } => Transform::OptionMap {
                map: map_domain(map),
                passthrough: *passthrough,
            },
            TransformDoc::UserMap { map } => Transform::UserMap {
                map: map_domain(map),
            },
            TransformDoc::NumberScale { factor, decimals } => Transform::NumberScale {
                factor: *factor,
                decimals: *decimals,
            },
        }
    }
}

impl From<&Transform> for TransformDoc {
    fn from(t: &Transform) -> Self {
        match t {
            Transform::Identity => TransformDoc::Identity,
            Transform::StatusMap { map } => TransformDoc::StatusMap { map: map_doc(map) },
            Transform::PriorityMap { map } => TransformDoc::PriorityMap { map: map_doc(map) },
            Transform::OptionMap { map, passthrough } => TransformDoc::OptionMap {
                map: map_doc(map),
                passthrough: *passthrough,
            },
            Transform::UserMap { map } => TransformDoc::UserMap { map: map_doc(map) },
            Transform::NumberScale { factor, decimals } => TransformDoc::NumberScale {
                factor: *factor,
                decimals: *decimals,
            },
        }
    }
}

impl From<&FieldMapping> for FieldMappingDoc {
    fn from(f: &FieldMapping) -> Self {
        FieldMappingDoc {
            handoff_field: f.handoff_field.clone(),
            jira_field: f.jira_field.clone(),
            kind: f.kind,
            direction: f.direction,
            policy: f.policy,
            transform: Some(TransformDoc::from(&f.transform)),
            status_map: None,
            priority_map: None,
            option_map: None,
            option_passthrough: false,
            user_map: None,
            scale: None,
            decimals: None,
        }
    }
}

impl From<&ProjectMapping> for MappingDoc {
    fn from(m: &ProjectMapping) -> Self {
        MappingDoc {
            mappings: m.fields.iter().map(FieldMappingDoc::from).collect(),
            pause_link_on_conflict: m.pause_link_on_conflict,
            handoff_statuses: m.handoff_statuses.clone(),
            jira_statuses: m.jira_statuses.clone(),
            retry: Some(RetryDoc {
                max_attempts: m.retry.max_attempts,
                base_delay_ms: m.retry.base_delay_ms,
                max_delay_ms: m.retry.max_delay_ms,
            }),
        }
    }
}

impl MappingDoc {
    /// The mapping as the domain takes it (not yet validated: `ProjectMapping::validate`
    /// names the domain's problems), or every problem of how its fields are written, each
    /// with the index of its field.
    pub fn to_domain(&self) -> Result<ProjectMapping, Vec<(usize, DocProblem)>> {
        let mut fields = Vec::new();
        let mut problems = Vec::new();
        for (i, f) in self.mappings.iter().enumerate() {
            match f.to_domain() {
                Ok(f) => fields.push(f),
                Err(ps) => problems.extend(ps.into_iter().map(|p| (i, p))),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut m = ProjectMapping::new(fields);
        m.pause_link_on_conflict = self.pause_link_on_conflict;
        m.handoff_statuses = self.handoff_statuses.clone();
        m.jira_statuses = self.jira_statuses.clone();
        m.retry = self
            .retry
            .map_or_else(RetryPolicy::default, |r| RetryPolicy {
                max_attempts: r.max_attempts,
                base_delay_ms: r.base_delay_ms,
                max_delay_ms: r.max_delay_ms,
            });
        Ok(m)
    }
}

/// The problems of a mapping as written, in the words of the API (`mappings[2].statusMap: …`).
pub fn describe(problems: &[(usize, DocProblem)]) -> Vec<String> {
    problems
        .iter()
        .map(|(i, p)| {
            if p.key.is_empty() {
                format!("mappings[{i}]: {}", p.message)
            } else {
                format!("mappings[{i}].{}: {}", p.key, p.message)
            }
        })
        .collect()
}
