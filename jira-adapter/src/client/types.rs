//! What the client returns: small typed views of Jira's JSON.

use serde::Deserialize;
use serde_json::{Map, Value as Json};
use sync_domain::{Value, ValueKind};

use crate::error::JiraError;
use crate::fields::{field_to_value, ApiFlavor};

/// `serverInfo`: enough to tell Cloud from Data Center.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServerInfo {
    /// The site's base URL as Jira knows it.
    pub base_url: String,
    /// The version string.
    pub version: String,
    /// The version as numbers.
    pub version_numbers: Vec<u64>,
    /// `Cloud`, `Server` or `DataCenter` (absent on old servers).
    pub deployment_type: Option<String>,
}

impl ServerInfo {
    /// Cloud when `deploymentType` says so, or (when absent) when the site is on
    /// `atlassian.net` or has Cloud's `1001.x` versions; Data Center otherwise.
    pub fn flavor(&self) -> ApiFlavor {
        let cloud = match self.deployment_type.as_deref() {
            Some(t) => t.eq_ignore_ascii_case("cloud"),
            None => {
                self.base_url.contains(".atlassian.net")
                    || self.version_numbers.first().is_some_and(|v| *v >= 1000)
                    || self.version.starts_with("1001.")
            }
        };
        if cloud {
            ApiFlavor::CloudV3
        } else {
            ApiFlavor::DataCenterV2
        }
    }
}

fn id_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Json::deserialize(d)? {
        Json::String(s) => s,
        Json::Number(n) => n.to_string(),
        _ => String::new(),
    })
}

/// An issue as read: id, key and the requested fields.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct JiraIssue {
    /// The issue id (stable across project moves).
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    /// The issue key (changes when the issue moves).
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub(crate) fields: Map<String, Json>,
}

impl JiraIssue {
    /// An issue from its id, key and field JSON (for fakes and the simulator).
    pub fn from_parts(id: &str, key: &str, fields: Map<String, Json>) -> JiraIssue {
        JiraIssue {
            id: id.into(),
            key: key.into(),
            fields,
        }
    }

    /// The field `field` as a canonical value of `kind` (a missing field is `Null`).
    pub fn value(
        &self,
        field: &str,
        kind: ValueKind,
        flavor: ApiFlavor,
    ) -> Result<Value, JiraError> {
        field_to_value(self.fields.get(field).unwrap_or(&Json::Null), kind, flavor)
    }

    /// The raw JSON of a field, if present.
    pub fn raw_field(&self, field: &str) -> Option<&Json> {
        self.fields.get(field)
    }

    /// Whether the issue has field `field` in the response.
    pub fn has_field(&self, field: &str) -> bool {
        self.fields.contains_key(field)
    }

    /// `updated` as Jira wrote it (`2011-12-14T10:26:06.030+1300`): the issue's version.
    pub fn updated(&self) -> Option<&str> {
        self.fields.get("updated").and_then(Json::as_str)
    }

    /// `updated` in milliseconds since the epoch, for ordering versions.
    pub fn updated_millis(&self) -> Option<i64> {
        match self.fields.get("updated")? {
            Json::Number(n) => n.as_i64(),
            Json::String(s) => {
                parse_jira_time(s).map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
            }
            _ => None,
        }
    }

    /// The name of the issue's status.
    pub fn status_name(&self) -> Option<&str> {
        self.fields.get("status")?.get("name")?.as_str()
    }

    /// The labels on the issue.
    pub fn labels(&self) -> Vec<&str> {
        self.fields
            .get("labels")
            .and_then(Json::as_array)
            .map(|a| a.iter().filter_map(Json::as_str).collect())
            .unwrap_or_default()
    }
}

/// Parses Jira's timestamps: `2011-12-14T10:26:06.030+1300` (REST) or RFC 3339.
pub fn parse_jira_time(s: &str) -> Option<time::OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond][offset_hour sign:mandatory][offset_minute]"
    );
    time::OffsetDateTime::parse(s, &fmt).ok()
}

/// A reference to an issue.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct IssueRef {
    /// The issue id.
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    /// The issue key.
    #[serde(default)]
    pub key: String,
}

/// The result of an idempotent create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatedIssue {
    /// The issue.
    pub issue: IssueRef,
    /// True when an earlier, seemingly failed attempt had made the issue and the look-up by
    /// marker found it (no second issue was created).
    pub recovered: bool,
}

/// One field to write: the Jira field id, the canonical value and its kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldChange {
    /// The Jira field id (`summary`, `customfield_10010`).
    pub field: String,
    /// The value to write.
    pub value: Value,
    /// The kind of the mapped field.
    pub kind: ValueKind,
}

impl FieldChange {
    /// A change of `field` to `value` of `kind`.
    pub fn new(field: impl Into<String>, value: Value, kind: ValueKind) -> FieldChange {
        FieldChange {
            field: field.into(),
            value,
            kind,
        }
    }
}

/// What is needed to create an issue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewIssue {
    /// The project key.
    pub project_key: String,
    /// The issue type name (`Task`, `Bug`).
    pub issue_type: String,
    /// The work item this issue mirrors: carried as the marker.
    pub work_item_id: String,
    /// The fields to set (summary at least).
    pub fields: Vec<FieldChange>,
}

/// A field's schema, from `GET /field`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct FieldSchema {
    /// `string`, `number`, `array`, `option`, `user`, `date`, `priority`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The item type of an array.
    pub items: Option<String>,
    /// The system field it is, for system fields.
    pub system: Option<String>,
    /// The custom field type key, for custom fields.
    pub custom: Option<String>,
}

/// A system or custom field.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct FieldInfo {
    /// The field id (`summary`, `customfield_10010`).
    pub id: String,
    /// The display name.
    pub name: String,
    /// Whether it is a custom field.
    pub custom: bool,
    /// The schema, absent for some system fields.
    pub schema: Option<FieldSchema>,
}

impl FieldInfo {
    /// The canonical kind this field maps to, if the engine can sync it.
    pub fn value_kind(&self) -> Option<ValueKind> {
        let s = self.schema.as_ref()?;
        let custom = s.custom.as_deref().unwrap_or("");
        if matches!(s.system.as_deref(), Some("description" | "environment"))
            || custom.ends_with(":textarea")
        {
            return Some(ValueKind::RichText);
        }
        Some(match s.kind.as_str() {
            "string" => ValueKind::Text,
            "number" => ValueKind::Number,
            "option" | "priority" | "status" | "resolution" | "issuetype" => ValueKind::Option,
            "user" => ValueKind::User,
            "date" => ValueKind::Date,
            "array" => match s.items.as_deref() {
                Some("string" | "option" | "component" | "version") => ValueKind::OptionSet,
                _ => return None,
            },
            _ => return None,
        })
    }
}

/// A Jira user.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct JiraUser {
    /// Cloud identity.
    pub account_id: Option<String>,
    /// Data Center user name.
    pub name: Option<String>,
    /// Data Center user key.
    pub key: Option<String>,
    /// Display name.
    pub display_name: String,
    /// Email, when visible.
    pub email_address: Option<String>,
}

impl JiraUser {
    /// The identity to write into user fields for `flavor` (`accountId` or `name`).
    pub fn identity(&self, flavor: ApiFlavor) -> Option<&str> {
        fn nonempty(o: &Option<String>) -> Option<&str> {
            o.as_deref().filter(|s| !s.is_empty())
        }
        match flavor {
            ApiFlavor::CloudV3 => nonempty(&self.account_id),
            ApiFlavor::DataCenterV2 => nonempty(&self.name).or_else(|| nonempty(&self.key)),
        }
    }
}

/// A status an issue can be in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct StatusRef {
    /// Status id.
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    /// Status name.
    pub name: String,
    /// The status category (`new`, `indeterminate`, `done`).
    pub status_category: Option<StatusCategory>,
}

/// A status category.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct StatusCategory {
    /// `new`, `indeterminate` or `done`.
    pub key: String,
}

/// A field on a transition's screen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransitionField {
    /// The field id (`resolution`).
    pub id: String,
    /// Whether the transition fails without it.
    pub required: bool,
    /// Whether Jira fills it in when absent.
    pub has_default: bool,
    /// Names or values of the allowed options.
    pub allowed_values: Vec<String>,
}

/// A transition available from the issue's current status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transition {
    /// Transition id.
    pub id: String,
    /// Transition name.
    pub name: String,
    /// The status it leads to.
    pub to: StatusRef,
    /// Whether it has a screen.
    pub has_screen: bool,
    /// The fields on its screen.
    pub fields: Vec<TransitionField>,
}

/// A comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JiraComment {
    /// Comment id.
    pub id: String,
    /// The author's display name (the API user, for comments this client wrote).
    pub author: String,
    /// The body as Markdown (with the author line, if any).
    pub body_markdown: String,
    /// Creation time as Jira wrote it.
    pub created: String,
    /// Last update time as Jira wrote it.
    pub updated: String,
}

/// A dynamic webhook.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DynamicWebhook {
    /// Webhook id.
    pub id: i64,
    /// The JQL filter.
    pub jql_filter: String,
    /// Events it sends.
    pub events: Vec<String>,
    /// When it expires unless refreshed.
    pub expiration_date: Option<String>,
    /// Where it delivers.
    pub url: Option<String>,
}

impl DynamicWebhook {
    /// Whether it expires within `margin` of `now` (or its expiry is unknown).
    pub fn needs_refresh(&self, now: time::OffsetDateTime, margin: time::Duration) -> bool {
        match self.expiration_date.as_deref().and_then(parse_jira_time) {
            Some(exp) => exp - now <= margin,
            None => true,
        }
    }
}

/// The outcome of registering one webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookRegistration {
    /// Registered with this id.
    Created(i64),
    /// Refused with these messages (e.g. an unsupported JQL clause).
    Rejected(Vec<String>),
}
