//! What `jira-sync demo --serve` leaves for a newcomer to open in the browser after its
//! stories: one open conflict (both sides edited a description while the write to Jira was
//! on its way, as in the demo's story 3) and one work item not pushed yet.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;
use sync_domain::link::LinkStatus;
use sync_domain::Value;

use crate::demo::{DemoError, DemoWorld, HANDOFF_PERSON, JIRA_PERSON, PROJECT};

/// Handoff's edit of the left conflict's description.
pub const LEFT_HANDOFF_TEXT: &str =
    "Users sign in with email and password.\n\nLock the account after 5 failed attempts.";
/// Jira's edit of the same description.
pub const LEFT_JIRA_TEXT: &str =
    "Users sign in with email and password.\n\nShow a **captcha** after 3 failed attempts.";

/// What the demo left for the UI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeftForUi {
    /// The work item with the open conflict.
    pub conflict_item: String,
    /// The open conflict's id.
    pub conflict_id: String,
    /// A work item created in Handoff, not pushed to Jira.
    pub unpushed_item: String,
}

async fn wait_until<F, Fut>(mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if cond().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn setup(e: impl std::fmt::Display) -> DemoError {
    DemoError::Setup(e.to_string())
}

/// Creates "User Login" in Handoff, pushes it, then edits its description on both sides
/// while the write to Jira is held, which opens a conflict; and creates an item that is not
/// pushed. Leaves the dispatcher running.
pub async fn leave_for_ui(world: &DemoWorld) -> Result<LeftForUi, DemoError> {
    let rt = &world.rt;
    let fields = |pairs: &[(&str, Value)]| -> BTreeMap<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect()
    };
    let item = world
        .host
        .create_as_person(
            PROJECT,
            &fields(&[
                ("title", Value::text("User Login")),
                (
                    "description",
                    Value::rich_text("Users sign in with email and password."),
                ),
                ("status", Value::option("todo")),
                ("labels", Value::option_set(["auth"])),
            ]),
            HANDOFF_PERSON,
        )
        .map_err(setup)?;
    let link_id = rt.push_item(&item.id, HANDOFF_PERSON).await?;
    if !world.settle().await {
        return Err(setup("the runtime did not settle after the push"));
    }
    let issue_id = rt
        .store()
        .link_view(&link_id)
        .await?
        .and_then(|v| v.issue_id)
        .ok_or_else(|| setup("the pushed item has no Jira issue"))?;
    rt.set_dispatch_paused(true);
    let opened = async {
        world
            .host
            .edit_as_person(
                &item.id,
                &fields(&[("description", Value::rich_text(LEFT_HANDOFF_TEXT))]),
                HANDOFF_PERSON,
            )
            .map_err(setup)?;
        let queued = wait_until(|| async {
            matches!(rt.store().link_view(&link_id).await, Ok(Some(v)) if v.status == LinkStatus::PendingPush)
        })
        .await;
        if !queued {
            return Err(setup("Handoff's edit was not observed"));
        }
        {
            let mut sim = world
                .sim
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let edit = json!({ "description": LEFT_JIRA_TEXT });
            let edit = edit.as_object().cloned().unwrap_or_default();
            sim.edit_as_person(&issue_id, &edit, JIRA_PERSON)
                .map_err(setup)?;
        }
        let opened = wait_until(|| async {
            matches!(rt.store().conflicts(PROJECT).await, Ok(v) if v.iter().any(|c| c.link_id == link_id))
        })
        .await;
        Ok::<bool, DemoError>(opened)
    }
    .await;
    rt.set_dispatch_paused(false);
    if !opened? {
        return Err(setup("no conflict was opened"));
    }
    world.settle().await;
    let conflict_id = rt
        .store()
        .conflicts(PROJECT)
        .await?
        .into_iter()
        .find(|c| c.link_id == link_id)
        .map(|c| c.conflict.id)
        .ok_or_else(|| setup("the conflict is gone"))?;
    let draft = world
        .host
        .create_as_person(
            PROJECT,
            &fields(&[
                ("title", Value::text("Two-factor sign-in")),
                (
                    "description",
                    Value::rich_text("Offer a one-time code by app as a second factor."),
                ),
                ("status", Value::option("todo")),
            ]),
            HANDOFF_PERSON,
        )
        .map_err(setup)?;
    Ok(LeftForUi {
        conflict_item: item.id,
        conflict_id,
        unpushed_item: draft.id,
    })
}
