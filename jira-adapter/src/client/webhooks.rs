//! Dynamic webhooks (Cloud, OAuth/Connect apps): register with a JQL filter, list,
//! refresh before the 30-day expiry, delete.

use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value as Json};

use super::types::{DynamicWebhook, WebhookRegistration};
use super::{decode, CallOpts, EndpointClass, JiraClient};
use crate::error::JiraError;
use crate::fields::ApiFlavor;

const PATH: &str = "/rest/api/3/webhook";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegisterReply {
    #[serde(default)]
    webhook_registration_result: Vec<RegResult>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegResult {
    created_webhook_id: Option<i64>,
    #[serde(default)]
    errors: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListPage {
    #[serde(default)]
    values: Vec<DynamicWebhook>,
    #[serde(default)]
    start_at: u64,
    is_last: Option<bool>,
    total: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefreshReply {
    expiration_date: Option<String>,
}

impl JiraClient {
    async fn require_cloud(&self) -> Result<(), JiraError> {
        match self.flavor().await? {
            ApiFlavor::CloudV3 => Ok(()),
            ApiFlavor::DataCenterV2 => Err(JiraError::Config(
                "dynamic webhooks are a Jira Cloud API; on Data Center an admin registers the webhook".into(),
            )),
        }
    }

    /// Registers one webhook delivering `events` for issues matching `jql` to `url`
    /// (`fieldIdsFilter` limits `jira:issue_updated` to changes of those fields).
    pub async fn register_webhook(
        &self,
        url: &str,
        jql: &str,
        events: &[&str],
        field_ids: &[&str],
    ) -> Result<WebhookRegistration, JiraError> {
        self.require_cloud().await?;
        let mut hook = json!({ "events": events, "jqlFilter": jql });
        if !field_ids.is_empty() {
            hook["fieldIdsFilter"] = json!(field_ids);
        }
        let body = json!({ "url": url, "webhooks": [hook] });
        let r = self
            .call(
                EndpointClass::Webhooks,
                Method::POST,
                PATH,
                &[],
                Some(&body),
                CallOpts::default(),
            )
            .await?;
        let reply: RegisterReply = decode(EndpointClass::Webhooks, &r.body)?;
        let first = reply.webhook_registration_result.into_iter().next();
        Ok(match first {
            Some(RegResult {
                created_webhook_id: Some(id),
                ..
            }) => WebhookRegistration::Created(id),
            Some(RegResult { errors, .. }) => WebhookRegistration::Rejected(errors),
            None => WebhookRegistration::Rejected(vec!["empty registration result".into()]),
        })
    }

    /// Every dynamic webhook of the app.
    pub async fn list_webhooks(&self) -> Result<Vec<DynamicWebhook>, JiraError> {
        self.require_cloud().await?;
        let mut out = Vec::new();
        let mut start = 0u64;
        loop {
            let q = [
                ("startAt", start.to_string()),
                ("maxResults", self.inner.config.page_size.to_string()),
            ];
            let page: ListPage = self.get_json(EndpointClass::Webhooks, PATH, &q).await?;
            let n = page.values.len() as u64;
            out.extend(page.values);
            start = page.start_at + n;
            let last = page
                .is_last
                .unwrap_or_else(|| page.total.is_none_or(|t| start >= t));
            if last || n == 0 {
                return Ok(out);
            }
        }
    }

    /// Extends the life of the webhooks by 30 days; returns the new expiry.
    pub async fn refresh_webhooks(&self, ids: &[i64]) -> Result<Option<String>, JiraError> {
        self.require_cloud().await?;
        let body = json!({ "webhookIds": ids });
        let path = format!("{PATH}/refresh");
        let r = self
            .call(
                EndpointClass::Webhooks,
                Method::PUT,
                &path,
                &[],
                Some(&body),
                CallOpts::default(),
            )
            .await?;
        let reply: RefreshReply = decode(EndpointClass::Webhooks, &r.body)?;
        Ok(reply.expiration_date)
    }

    /// Refreshes every webhook expiring within `margin` of `now`; returns how many.
    pub async fn refresh_expiring_webhooks(
        &self,
        now: time::OffsetDateTime,
        margin: time::Duration,
    ) -> Result<usize, JiraError> {
        let ids: Vec<i64> = self
            .list_webhooks()
            .await?
            .iter()
            .filter(|w| w.needs_refresh(now, margin))
            .map(|w| w.id)
            .collect();
        if !ids.is_empty() {
            self.refresh_webhooks(&ids).await?;
        }
        Ok(ids.len())
    }

    /// Deletes webhooks by id.
    pub async fn delete_webhooks(&self, ids: &[i64]) -> Result<(), JiraError> {
        self.require_cloud().await?;
        let body: Json = json!({ "webhookIds": ids });
        self.call(
            EndpointClass::Webhooks,
            Method::DELETE,
            PATH,
            &[],
            Some(&body),
            CallOpts::default(),
        )
        .await
        .map(|_| ())
    }
}
