//! Status changes through transitions: list them with their screen fields, execute one
//! (409 retried), and reach a target status in several hops when the workflow needs it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Map, Value as Json};

use super::types::{JiraIssue, StatusRef, Transition, TransitionField};
use super::{decode, seg, CallOpts, EndpointClass, JiraClient};
use crate::error::JiraError;

/// What a status change did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransitionOutcome {
    /// The names of the transitions executed, in order (empty: already there).
    pub hops: Vec<String>,
}

/// Transitions seen so far, per status name: lets later status changes plan a path
/// instead of exploring. Learned from the live API, so it follows workflow edits.
#[derive(Debug, Default)]
pub(super) struct WorkflowGraph {
    edges: BTreeMap<String, BTreeSet<String>>,
}

impl WorkflowGraph {
    fn learn(&mut self, from: &str, ts: &[Transition]) {
        let e = self.edges.entry(from.to_lowercase()).or_default();
        e.clear();
        e.extend(ts.iter().map(|t| t.to.name.to_lowercase()));
    }

    /// The next status on a shortest known path from `from` to `to`.
    fn next_hop(&self, from: &str, to: &str) -> Option<String> {
        let (from, to) = (from.to_lowercase(), to.to_lowercase());
        let mut prev: BTreeMap<String, String> = BTreeMap::new();
        let mut queue = VecDeque::from([from.clone()]);
        while let Some(s) = queue.pop_front() {
            for n in self.edges.get(&s).into_iter().flatten() {
                if n == &from || prev.contains_key(n) {
                    continue;
                }
                prev.insert(n.clone(), s.clone());
                if n == &to {
                    let mut cur = n.clone();
                    while let Some(p) = prev.get(&cur) {
                        if p == &from {
                            return Some(cur);
                        }
                        cur = p.clone();
                    }
                    return None;
                }
                queue.push_back(n.clone());
            }
        }
        None
    }
}

#[derive(Deserialize)]
struct TransitionsReply {
    #[serde(default)]
    transitions: Vec<RawTransition>,
}

#[derive(Deserialize)]
struct IssueTransitions {
    #[serde(default)]
    transitions: Option<Vec<RawTransition>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTransition {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    to: StatusRef,
    #[serde(default)]
    has_screen: bool,
    #[serde(default)]
    fields: BTreeMap<String, RawField>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawField {
    #[serde(default)]
    required: bool,
    #[serde(default)]
    has_default_value: bool,
    #[serde(default)]
    allowed_values: Vec<Json>,
}

fn category_rank(s: &StatusRef) -> u8 {
    match s.status_category.as_ref().map(|c| c.key.as_str()) {
        Some("new") => 0,
        Some("indeterminate") => 1,
        Some("done") => 2,
        _ => 1,
    }
}

impl JiraClient {
    /// The transitions available from the issue's current status, with their screen fields.
    pub async fn transitions(&self, id_or_key: &str) -> Result<Vec<Transition>, JiraError> {
        let path = format!(
            "{}/issue/{}/transitions",
            self.prefix().await?,
            seg(id_or_key)
        );
        let r = self
            .call(
                EndpointClass::Transitions,
                Method::GET,
                &path,
                &[("expand", "transitions.fields".to_string())],
                None,
                CallOpts::default(),
            )
            .await?;
        let reply: TransitionsReply = decode(EndpointClass::Transitions, &r.body)?;
        Ok(from_raw(reply.transitions))
    }

    /// The issue's status and the transitions from it, in one read
    /// (`GET /issue/{id}?fields=status&expand=transitions.fields`). A server that leaves the
    /// transitions out is asked for them separately.
    async fn status_and_transitions(
        &self,
        id_or_key: &str,
    ) -> Result<(String, Vec<Transition>), JiraError> {
        let path = format!("{}/issue/{}", self.prefix().await?, seg(id_or_key));
        let r = self
            .call(
                EndpointClass::IssueGet,
                Method::GET,
                &path,
                &[
                    ("fields", "status".to_string()),
                    ("expand", "transitions.fields".to_string()),
                ],
                None,
                CallOpts::default(),
            )
            .await?;
        let issue: JiraIssue = decode(EndpointClass::IssueGet, &r.body)?;
        let status = issue.status_name().unwrap_or_default().to_string();
        let expanded: IssueTransitions = decode(EndpointClass::IssueGet, &r.body)?;
        let ts = match expanded.transitions {
            Some(ts) => from_raw(ts),
            None => self.transitions(id_or_key).await?,
        };
        Ok((status, ts))
    }
}

fn from_raw(raw: Vec<RawTransition>) -> Vec<Transition> {
    raw.into_iter()
        .map(|t| Transition {
            id: t.id,
            name: t.name,
            to: t.to,
            has_screen: t.has_screen,
            fields: t
                .fields
                .into_iter()
                .map(|(id, f)| TransitionField {
                    id,
                    required: f.required,
                    has_default: f.has_default_value,
                    allowed_values: f
                        .allowed_values
                        .iter()
                        .filter_map(|v| match v {
                            Json::String(s) => Some(s.clone()),
                            _ => v
                                .get("name")
                                .or_else(|| v.get("value"))
                                .and_then(Json::as_str)
                                .map(str::to_string),
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect()
}

impl JiraClient {
    /// Executes transition `transition_id` with screen `fields`. A 409 (another
    /// transition running on the issue) is retried with backoff.
    pub async fn do_transition(
        &self,
        id_or_key: &str,
        transition_id: &str,
        fields: Map<String, Json>,
    ) -> Result<(), JiraError> {
        let path = format!(
            "{}/issue/{}/transitions",
            self.prefix().await?,
            seg(id_or_key)
        );
        let mut body = json!({ "transition": { "id": transition_id } });
        if !fields.is_empty() {
            body["fields"] = Json::Object(fields);
        }
        let opts = CallOpts {
            transition: true,
            ..CallOpts::default()
        };
        self.call(
            EndpointClass::Transitions,
            Method::POST,
            &path,
            &[],
            Some(&body),
            opts,
        )
        .await
        .map(|_| ())
    }

    /// Moves the issue to status `target` (by name), in as many hops as the workflow needs
    /// (at most `max_transition_hops`). `resolution` is set on a transition whose screen
    /// has the resolution field (its first allowed value when `None` and it is required).
    pub async fn transition_to(
        &self,
        id_or_key: &str,
        target: &str,
        resolution: Option<&str>,
    ) -> Result<TransitionOutcome, JiraError> {
        // The first hop's transitions come with the status: one read, not two.
        let (mut current, first) = self.status_and_transitions(id_or_key).await?;
        let mut prefetched = Some(first);
        let mut hops = Vec::new();
        let mut visited: BTreeSet<String> = BTreeSet::from([current.to_lowercase()]);
        let max = self.inner.config.max_transition_hops;
        while !current.eq_ignore_ascii_case(target) {
            if hops.len() as u32 >= max {
                return Err(JiraError::NoTransitionPath {
                    from: current,
                    to: target.into(),
                });
            }
            let ts = match prefetched.take() {
                Some(ts) => ts,
                None => self.transitions(id_or_key).await?,
            };
            let planned = {
                let mut g = self
                    .inner
                    .workflow
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                g.learn(&current, &ts);
                g.next_hop(&current, target)
            };
            let chosen = ts
                .iter()
                .find(|t| t.to.name.eq_ignore_ascii_case(target))
                .or_else(|| {
                    planned
                        .as_ref()
                        .and_then(|p| ts.iter().find(|t| t.to.name.to_lowercase() == *p))
                })
                .or_else(|| {
                    // Explore: an unvisited status, furthest along (new → in progress →
                    // done), since most targets lie forward in a workflow.
                    let mut cands: Vec<&Transition> = ts
                        .iter()
                        .filter(|t| !visited.contains(&t.to.name.to_lowercase()))
                        .collect();
                    cands.sort_by_key(|t| std::cmp::Reverse(category_rank(&t.to)));
                    cands.into_iter().next()
                });
            let Some(t) = chosen else {
                return Err(JiraError::NoTransitionPath {
                    from: current,
                    to: target.into(),
                });
            };
            let mut fields = Map::new();
            let mut missing = Vec::new();
            for f in &t.fields {
                if f.id == "resolution" {
                    let name = resolution.map(str::to_string).or_else(|| {
                        if f.required && !f.has_default {
                            f.allowed_values.first().cloned()
                        } else {
                            None
                        }
                    });
                    if let Some(n) = name {
                        fields.insert("resolution".into(), json!({ "name": n }));
                    } else if f.required && !f.has_default {
                        missing.push(f.id.clone());
                    }
                } else if f.required && !f.has_default {
                    missing.push(f.id.clone());
                }
            }
            if !missing.is_empty() {
                return Err(JiraError::TransitionNeedsFields {
                    transition: t.name.clone(),
                    fields: missing,
                });
            }
            self.do_transition(id_or_key, &t.id, fields).await?;
            hops.push(t.name.clone());
            current = t.to.name.clone();
            visited.insert(current.to_lowercase());
        }
        Ok(TransitionOutcome { hops })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(to: &str) -> Transition {
        Transition {
            to: StatusRef {
                name: to.into(),
                ..StatusRef::default()
            },
            ..Transition::default()
        }
    }

    #[test]
    fn graph_plans_shortest_known_path() {
        let mut g = WorkflowGraph::default();
        g.learn("To Do", &[t("In Progress")]);
        g.learn("In Progress", &[t("Review"), t("To Do")]);
        g.learn("Review", &[t("Done")]);
        assert_eq!(g.next_hop("To Do", "Done").as_deref(), Some("in progress"));
        assert_eq!(g.next_hop("Review", "Done").as_deref(), Some("done"));
        assert_eq!(g.next_hop("Done", "To Do"), None);
    }
}
