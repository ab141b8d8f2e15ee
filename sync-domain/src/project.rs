//! The project aggregate: the field mapping in force and who changed it when, so the mapping
//! in force at any past time can be replayed.

use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::link::Millis;
use crate::mapping::ProjectMapping;

/// A command to a project.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum ProjectCommand {
    /// Put a new field mapping in force (validated first).
    SetMapping {
        /// The mapping.
        mapping: ProjectMapping,
        /// Who.
        actor: String,
        /// When.
        at: Millis,
    },
}

/// An event of a project.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ProjectEvent {
    /// A mapping was put in force.
    MappingSet {
        /// The mapping.
        mapping: ProjectMapping,
        /// Who.
        actor: String,
        /// When.
        at: Millis,
    },
}

impl ProjectEvent {
    /// The event's name, as stored.
    pub fn event_type(&self) -> &'static str {
        match self {
            ProjectEvent::MappingSet { .. } => "mapping_set",
        }
    }

    /// The schema version of the event.
    pub fn event_version(&self) -> &'static str {
        "1"
    }
}

/// One entry of a project's mapping history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MappingRevision {
    /// The mapping.
    pub mapping: ProjectMapping,
    /// Who put it in force.
    pub actor: String,
    /// When.
    pub at: Millis,
}

/// The state of a project.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct ProjectState {
    /// Every mapping put in force, oldest first.
    pub revisions: Vec<MappingRevision>,
}

impl ProjectState {
    /// The mapping in force now.
    pub fn mapping(&self) -> Option<&ProjectMapping> {
        self.revisions.last().map(|r| &r.mapping)
    }

    /// The mapping that was in force at `at` (the latest revision made at or before it).
    pub fn mapping_at(&self, at: Millis) -> Option<&ProjectMapping> {
        self.revisions
            .iter()
            .rev()
            .find(|r| r.at <= at)
            .map(|r| &r.mapping)
    }
}

/// Decides the events of a project command.
pub fn decide(state: &ProjectState, cmd: ProjectCommand) -> Result<Vec<ProjectEvent>, DomainError> {
    match cmd {
        ProjectCommand::SetMapping { mapping, actor, at } => {
            mapping.validate()?;
            if state.mapping() == Some(&mapping) {
                return Ok(Vec::new());
            }
            Ok(vec![ProjectEvent::MappingSet { mapping, actor, at }])
        }
    }
}

/// Folds a project event into the state.
pub fn evolve(state: &mut ProjectState, e: &ProjectEvent) {
    match e {
        ProjectEvent::MappingSet { mapping, actor, at } => state.revisions.push(MappingRevision {
            mapping: mapping.clone(),
            actor: actor.clone(),
            at: *at,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::FieldMapping;
    use crate::value::ValueKind;

    #[test]
    fn mapping_in_force_at_any_time() {
        let m1 = ProjectMapping::new(vec![FieldMapping::new("title", "summary", ValueKind::Text)]);
        let mut m2 = m1.clone();
        m2.fields.push(FieldMapping::new(
            "description",
            "description",
            ValueKind::RichText,
        ));
        let mut s = ProjectState::default();
        for (m, at) in [(m1.clone(), 100), (m2.clone(), 200)] {
            let evs = decide(
                &s,
                ProjectCommand::SetMapping {
                    mapping: m,
                    actor: "ana".into(),
                    at,
                },
            );
            for e in evs.unwrap_or_default() {
                evolve(&mut s, &e);
            }
        }
        assert_eq!(s.mapping_at(50), None);
        assert_eq!(s.mapping_at(150), Some(&m1));
        assert_eq!(s.mapping_at(250), Some(&m2));
        assert_eq!(s.revisions[1].actor, "ana");
        // Setting the same mapping again records nothing.
        let again = decide(
            &s,
            ProjectCommand::SetMapping {
                mapping: m2,
                actor: "bo".into(),
                at: 300,
            },
        );
        assert_eq!(again, Ok(vec![]));
    }

    #[test]
    fn invalid_mapping_is_refused_with_its_problems() {
        let bad = ProjectMapping::new(vec![
            FieldMapping::new("title", "summary", ValueKind::Text),
            FieldMapping::new("name", "summary", ValueKind::Text),
        ]);
        let r = decide(
            &ProjectState::default(),
            ProjectCommand::SetMapping {
                mapping: bad,
                actor: "x".into(),
                at: 1,
            },
        );
        assert!(matches!(r, Err(DomainError::InvalidMapping(ref v)) if v.len() == 1));
    }
}
