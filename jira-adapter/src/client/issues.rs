//! Issues: get, edit, idempotent create (marker + look-up before a retry).

use reqwest::Method;
use serde_json::{json, Map, Value as Json};

use super::types::{CreatedIssue, FieldChange, IssueRef, JiraIssue, NewIssue};
use super::{decode, seg, CallOpts, EndpointClass, JiraClient, SearchRequest};
use crate::error::{ErrorClass, JiraError};
use crate::fields::{value_to_field, ApiFlavor};

impl JiraClient {
    /// Reads an issue with the fields `fields` (and always `updated`, its version). A 404
    /// is [`ErrorClass::NotFound`]: the issue was deleted.
    pub async fn get_issue(
        &self,
        id_or_key: &str,
        fields: &[&str],
    ) -> Result<JiraIssue, JiraError> {
        let prefix = self.prefix().await?;
        let mut list: Vec<&str> = fields.to_vec();
        if !list.contains(&"updated") {
            list.push("updated");
        }
        let path = format!("{prefix}/issue/{}", seg(id_or_key));
        self.get_json(
            EndpointClass::IssueGet,
            &path,
            &[("fields", list.join(","))],
        )
        .await
    }

    /// Every changelog entry of an issue, oldest first, as Jira returns them (`id`,
    /// `author`, `created`, `items`). Cloud: `GET /issue/{id}/changelog`, paged;
    /// Data Center: `GET /issue/{id}?expand=changelog` (`changelog.histories`).
    pub async fn changelog(&self, id_or_key: &str) -> Result<Vec<Json>, JiraError> {
        let flavor = self.flavor().await?;
        let prefix = flavor.api_prefix();
        if flavor == ApiFlavor::DataCenterV2 {
            let path = format!("{prefix}/issue/{}", seg(id_or_key));
            let issue: Json = self
                .get_json(
                    EndpointClass::IssueGet,
                    &path,
                    &[("fields", "updated".into()), ("expand", "changelog".into())],
                )
                .await?;
            return Ok(issue
                .pointer("/changelog/histories")
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default());
        }
        let path = format!("{prefix}/issue/{}/changelog", seg(id_or_key));
        let mut out = Vec::new();
        let mut start_at: u64 = 0;
        // Bounded: an issue with more than 100 pages of history is read up to there.
        for _ in 0..100 {
            let page: Json = self
                .get_json(
                    EndpointClass::IssueGet,
                    &path,
                    &[
                        ("startAt", start_at.to_string()),
                        ("maxResults", "100".into()),
                    ],
                )
                .await?;
            let values = page
                .get("values")
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default();
            let n = values.len() as u64;
            out.extend(values);
            let total = page.get("total").and_then(Json::as_u64);
            let is_last = page.get("isLast").and_then(Json::as_bool);
            start_at += n;
            let done = n == 0
                || is_last == Some(true)
                || (is_last.is_none() && total.is_none_or(|t| start_at >= t));
            if done {
                break;
            }
        }
        Ok(out)
    }

    /// Whether the issue still exists (`false` on 404: remote deleted).
    pub async fn issue_exists(&self, id_or_key: &str) -> Result<bool, JiraError> {
        match self.get_issue(id_or_key, &["status"]).await {
            Ok(_) => Ok(true),
            Err(e) if e.class() == ErrorClass::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Writes only the given fields (`PUT /issue/{id}` with `fields`). Idempotent, so
    /// retried on retryable failures.
    pub async fn edit_issue(
        &self,
        id_or_key: &str,
        changes: &[FieldChange],
    ) -> Result<(), JiraError> {
        if changes.is_empty() {
            return Ok(());
        }
        let flavor = self.flavor().await?;
        let body = json!({ "fields": fields_json(changes, flavor) });
        let path = format!("{}/issue/{}", flavor.api_prefix(), seg(id_or_key));
        self.call(
            EndpointClass::IssueEdit,
            Method::PUT,
            &path,
            &[],
            Some(&body),
            CallOpts::default(),
        )
        .await
        .map(|_| ())
    }

    /// Edits fields like [`JiraClient::edit_issue`] and returns the issue as it is after the
    /// edit when Jira answers with it: on Cloud the edit asks for `returnIssue=true` (200 with
    /// the issue in the shape of `GET /issue`). `None` when there is no issue in the answer
    /// (Data Center answers 204; an answer that is not an issue is not guessed at), and for
    /// no changes (no call is made): the caller then reads the issue itself.
    pub async fn edit_issue_returning(
        &self,
        id_or_key: &str,
        changes: &[FieldChange],
    ) -> Result<Option<JiraIssue>, JiraError> {
        if changes.is_empty() {
            return Ok(None);
        }
        let flavor = self.flavor().await?;
        let body = json!({ "fields": fields_json(changes, flavor) });
        let path = format!("{}/issue/{}", flavor.api_prefix(), seg(id_or_key));
        let query: Vec<(&str, String)> = match flavor {
            ApiFlavor::CloudV3 => vec![("returnIssue", "true".to_string())],
            ApiFlavor::DataCenterV2 => Vec::new(),
        };
        let r = self
            .call(
                EndpointClass::IssueEdit,
                Method::PUT,
                &path,
                &query,
                Some(&body),
                CallOpts::default(),
            )
            .await?;
        if r.body.trim().is_empty() {
            return Ok(None);
        }
        Ok(serde_json::from_str::<JiraIssue>(&r.body).ok())
    }

    /// The marker label of a work item (`handoff-WI-42`); characters Jira labels cannot hold
    /// become `_`.
    pub fn marker_label(&self, work_item_id: &str) -> String {
        let clean: String = work_item_id
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("{}{clean}", self.inner.config.marker.label_prefix)
    }

    /// Creates an issue carrying its work item id as a marker (a label, plus an issue
    /// entity property on Cloud). Before any retry it looks the issue up by the marker, so
    /// a create whose answer was lost (timeout, 5xx) never makes a second issue.
    pub async fn create_issue(&self, new: &NewIssue) -> Result<CreatedIssue, JiraError> {
        let flavor = self.flavor().await?;
        let marker = self.marker_label(&new.work_item_id);
        let mut fields = fields_json(&new.fields, flavor);
        fields.insert("project".into(), json!({ "key": new.project_key }));
        fields.insert("issuetype".into(), json!({ "name": new.issue_type }));
        let mut labels: Vec<Json> = fields
            .get("labels")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default();
        if !labels.iter().any(|l| l.as_str() == Some(marker.as_str())) {
            labels.push(json!(marker));
        }
        fields.insert("labels".into(), Json::Array(labels));
        let mut body = json!({ "fields": fields });
        if let (ApiFlavor::CloudV3, Some(key)) = (flavor, &self.inner.config.marker.property_key) {
            body["properties"] =
                json!([{ "key": key, "value": { "workItemId": new.work_item_id } }]);
        }
        let path = format!("{}/issue", flavor.api_prefix());
        let policy = self.inner.config.retry.clone();
        let mut attempt = 0u32;
        loop {
            if attempt > 0 {
                if let Some(found) = self.find_by_marker(&new.work_item_id).await? {
                    return Ok(CreatedIssue {
                        issue: found,
                        recovered: true,
                    });
                }
            }
            attempt += 1;
            let opts = CallOpts {
                no_blind_retry: true,
                ..CallOpts::default()
            };
            match self
                .call(
                    EndpointClass::IssueCreate,
                    Method::POST,
                    &path,
                    &[],
                    Some(&body),
                    opts,
                )
                .await
            {
                Ok(r) => {
                    let issue: IssueRef = decode(EndpointClass::IssueCreate, &r.body)?;
                    return Ok(CreatedIssue {
                        issue,
                        recovered: false,
                    });
                }
                Err(e) => {
                    let retry_after = match e.class() {
                        ErrorClass::Retryable { retry_after_ms } => retry_after_ms,
                        _ => return Err(e),
                    };
                    if attempt >= policy.max_attempts.max(1) {
                        // One last look: the lost create may have landed.
                        if let Some(found) = self.find_by_marker(&new.work_item_id).await? {
                            return Ok(CreatedIssue {
                                issue: found,
                                recovered: true,
                            });
                        }
                        return Err(e);
                    }
                    tokio::time::sleep(policy.delay(attempt - 1, retry_after)).await;
                }
            }
        }
    }

    /// Looks an issue up by the marker label of `work_item_id`. Search is eventually
    /// consistent, so an empty answer is asked again (`marker.lookup_attempts`).
    pub async fn find_by_marker(&self, work_item_id: &str) -> Result<Option<IssueRef>, JiraError> {
        let label = self.marker_label(work_item_id);
        let jql = format!("labels = \"{label}\" ORDER BY created ASC");
        let cfg = &self.inner.config.marker;
        let attempts = cfg.lookup_attempts.max(1);
        for i in 0..attempts {
            let req = SearchRequest::new(&jql, &["labels"]).max_results(5);
            let page = self.search_page(&req, None).await?;
            if let Some(issue) = page
                .issues
                .into_iter()
                .find(|is| is.labels().contains(&label.as_str()))
            {
                return Ok(Some(IssueRef {
                    id: issue.id,
                    key: issue.key,
                }));
            }
            if i + 1 < attempts {
                tokio::time::sleep(cfg.lookup_delay).await;
            }
        }
        Ok(None)
    }

    /// Sets an issue entity property (`PUT /issue/{id}/properties/{key}`).
    pub async fn set_issue_property(
        &self,
        id_or_key: &str,
        key: &str,
        value: &Json,
    ) -> Result<(), JiraError> {
        let path = format!(
            "{}/issue/{}/properties/{}",
            self.prefix().await?,
            seg(id_or_key),
            seg(key)
        );
        self.call(
            EndpointClass::Properties,
            Method::PUT,
            &path,
            &[],
            Some(value),
            CallOpts::default(),
        )
        .await
        .map(|_| ())
    }

    /// Reads an issue entity property's value; `None` when the issue has no such property.
    pub async fn get_issue_property(
        &self,
        id_or_key: &str,
        key: &str,
    ) -> Result<Option<Json>, JiraError> {
        let path = format!(
            "{}/issue/{}/properties/{}",
            self.prefix().await?,
            seg(id_or_key),
            seg(key)
        );
        match self
            .get_json::<Json>(EndpointClass::Properties, &path, &[])
            .await
        {
            Ok(v) => Ok(v.get("value").cloned()),
            Err(e) if e.class() == ErrorClass::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn fields_json(changes: &[FieldChange], flavor: ApiFlavor) -> Map<String, Json> {
    changes
        .iter()
        .map(|c| {
            (
                c.field.clone(),
                value_to_field(&c.value, c.kind, &c.field, flavor),
            )
        })
        .collect()
}
