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

/// Runs a command through `handle` on a clone of `state`: returns the events and the state
/// with them applied exactly once.
pub async fn decide_link(
    state: &LinkState,
    cmd: LinkCommand,
) -> Result<(Vec<LinkEvent>, LinkState), DomainError> {
    let mut working = LinkAggregate(state.clone());
    let sink = EventSink::default();
    working.handle(cmd, &(), &sink).await?;
    let events = sink.collect().await.into_iter().map(|e| e.0).collect();
    Ok((events, working.0))
}

/// Runs a project command through `handle` on a clone of `state`.
pub async fn decide_project(
    state: &ProjectState,
    cmd: ProjectCommand,
) -> Result<(Vec<ProjectEvent>, ProjectState), DomainError> {
    let mut working = ProjectAggregate(state.clone());
    let sink = EventSink::default();
    working.handle(cmd, &(), &sink).await?;
    let events = sink.collect().await.into_iter().map(|e| e.0).collect();
    Ok((events, working.0))
}
