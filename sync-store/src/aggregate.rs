//! Newtypes that put the domain's aggregates behind cqrs-es's traits.
//!
//! The orphan rule forbids implementing cqrs-es's traits on `sync-domain`'s types, and the
//! domain stays free of cqrs-es, so the store wraps them. cqrs-es 0.5's `EventSink::write`
//! applies each event to the aggregate it is given, and its snapshot and aggregate stores
//! apply the committed events once more: the store therefore runs `handle` on a *clone* of the
//! loaded state ([`decide_link`]), keeps that clone as the new state and never applies the
//! committed events again. `tests::loading_from_a_snapshot_applies_each_event_once` proves it.

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use sync_domain::link::{self, LinkCommand, LinkEvent, LinkState};
use sync_domain::project::{self, ProjectCommand, ProjectEvent, ProjectState};
use sync_domain::DomainError;

/// The link aggregate as cqrs-es sees it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LinkAggregate(pub LinkState);

/// A link event as cqrs-es sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LinkDomainEvent(pub LinkEvent);

impl DomainEvent for LinkDomainEvent {
    fn event_type(&self) -> String {
        self.0.event_type().to_string()
    }

    fn event_version(&self) -> String {
        self.0.event_version().to_string()
    }
}

impl Aggregate for LinkAggregate {
    const TYPE: &'static str = "link";
    type Command = LinkCommand;
    type Event = LinkDomainEvent;
    type Error = DomainError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for e in link::decide(&self.0, command)? {
            sink.write(LinkDomainEvent(e), self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        link::evolve(&mut self.0, &event.0);
    }
}

/// The project aggregate as cqrs-es sees it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProjectAggregate(pub ProjectState);

/// A project event as cqrs-es sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProjectDomainEvent(pub ProjectEvent);

impl DomainEvent for ProjectDomainEvent {
    fn event_type(&self) -> String {
        self.0.event_type().to_string()
    }

    fn event_version(&self) -> String {
        self.0.event_version().to_string()
    }
}

impl Aggregate for ProjectAggregate {
    const TYPE: &'static str = "project";
    type Command = ProjectCommand;
    type Event = ProjectDomainEvent;
    type Error = DomainError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for e in project::decide(&self.0, command)? {
            sink.write(ProjectDomainEvent(e), self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        project::evolve(&mut self.0, &event.0);
    }
}

/// Decides a link command on `state`: returns the events and the state with them applied
/// exactly once. The domain's `decide` is called directly (it is synchronous); the cqrs-es
/// [`Aggregate`] above is the same decision behind cqrs-es's contract, and a test checks the
/// two agree.
pub fn decide_link(
    state: &LinkState,
    cmd: LinkCommand,
) -> Result<(Vec<LinkEvent>, LinkState), DomainError> {
    let events = link::decide(state, cmd)?;
    let mut next = state.clone();
    for e in &events {
        link::evolve(&mut next, e);
    }
    Ok((events, next))
}

/// Decides a project command on `state`, as [`decide_link`] does for links.
pub fn decide_project(
    state: &ProjectState,
    cmd: ProjectCommand,
) -> Result<(Vec<ProjectEvent>, ProjectState), DomainError> {
    let events = project::decide(state, cmd)?;
    let mut next = state.clone();
    for e in &events {
        project::evolve(&mut next, e);
    }
    Ok((events, next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_domain::link::LinkStatus;

    /// The cqrs-es aggregate and the direct decision are one decision: the same events and
    /// the same state, for a command that creates a link and one that changes it.
    #[tokio::test]
    async fn the_cqrs_es_aggregate_decides_as_the_domain_does() {
        use sync_domain::mapping::{FieldMapping, ProjectMapping};
        use sync_domain::{Value, ValueKind};
        let create = LinkCommand::CreateFromHandoff {
            cmd_id: "c1".into(),
            project_id: "P".into(),
            work_item_id: "W1".into(),
            item: sync_domain::link::HandoffObservation {
                version: 1,
                changed_at: 1,
                values: [("title".to_string(), Value::text("T"))].into(),
                actor: Some("ana".into()),
            },
            mapping: ProjectMapping::new(vec![FieldMapping::new(
                "title",
                "summary",
                ValueKind::Text,
            )]),
            at: 1,
        };
        let unlink = LinkCommand::Unlink {
            cmd_id: "c2".into(),
            actor: "ana".into(),
            at: 2,
        };
        let mut state = LinkState::default();
        for cmd in [create, unlink] {
            let direct = decide_link(&state, cmd.clone()).expect("decides");
            let mut agg = LinkAggregate(state.clone());
            let sink = EventSink::default();
            agg.handle(cmd, &(), &sink).await.expect("handles");
            let via_cqrs: Vec<LinkEvent> = sink.collect().await.into_iter().map(|e| e.0).collect();
            assert!(!direct.0.is_empty());
            assert_eq!(direct.0, via_cqrs);
            assert_eq!(direct.1, agg.0);
            state = direct.1;
        }
        assert_eq!(sync_domain::link::status(&state), LinkStatus::Unlinked);
    }
}
