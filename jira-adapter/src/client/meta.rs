//! Field discovery (cached) and users.

use std::sync::Arc;

use super::types::{FieldInfo, JiraUser};
use super::{EndpointClass, JiraClient};
use crate::error::JiraError;
use crate::fields::ApiFlavor;

impl JiraClient {
    /// Every system and custom field with its schema. Cached after the first call; see
    /// [`JiraClient::refresh_fields`].
    pub async fn fields(&self) -> Result<Arc<Vec<FieldInfo>>, JiraError> {
        if let Some(f) = self.inner.fields.read().await.as_ref() {
            return Ok(f.clone());
        }
        self.refresh_fields().await
    }

    /// Reloads the field list (after an admin added a custom field).
    pub async fn refresh_fields(&self) -> Result<Arc<Vec<FieldInfo>>, JiraError> {
        let path = format!("{}/field", self.prefix().await?);
        let list: Vec<FieldInfo> = self.get_json(EndpointClass::Fields, &path, &[]).await?;
        let list = Arc::new(list);
        *self.inner.fields.write().await = Some(list.clone());
        Ok(list)
    }

    /// A field by id or (case-insensitive) display name.
    pub async fn field(&self, id_or_name: &str) -> Result<Option<FieldInfo>, JiraError> {
        let all = self.fields().await?;
        Ok(all
            .iter()
            .find(|f| f.id == id_or_name)
            .or_else(|| all.iter().find(|f| f.name.eq_ignore_ascii_case(id_or_name)))
            .cloned())
    }

    /// The user the client authenticates as.
    pub async fn myself(&self) -> Result<JiraUser, JiraError> {
        let path = format!("{}/myself", self.prefix().await?);
        self.get_json(EndpointClass::Users, &path, &[]).await
    }

    /// A user by email. Cloud hides most emails: a user is returned only when its visible
    /// email matches, or when the search finds exactly one user. Data Center searches by
    /// user name or email.
    pub async fn find_user_by_email(&self, email: &str) -> Result<Option<JiraUser>, JiraError> {
        let flavor = self.flavor().await?;
        let path = format!("{}/user/search", flavor.api_prefix());
        let key = match flavor {
            ApiFlavor::CloudV3 => "query",
            ApiFlavor::DataCenterV2 => "username",
        };
        let users: Vec<JiraUser> = self
            .get_json(
                EndpointClass::Users,
                &path,
                &[(key, email.to_string()), ("maxResults", "10".into())],
            )
            .await?;
        let exact = users
            .iter()
            .find(|u| {
                u.email_address
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(email))
            })
            .cloned();
        Ok(exact.or_else(|| {
            if users.len() == 1 {
                users.into_iter().next()
            } else {
                None
            }
        }))
    }

    /// A Cloud user by `accountId` (or a Data Center user by name).
    pub async fn user(&self, id: &str) -> Result<JiraUser, JiraError> {
        let flavor = self.flavor().await?;
        let path = format!("{}/user", flavor.api_prefix());
        let key = match flavor {
            ApiFlavor::CloudV3 => "accountId",
            ApiFlavor::DataCenterV2 => "username",
        };
        self.get_json(EndpointClass::Users, &path, &[(key, id.to_string())])
            .await
    }
}
