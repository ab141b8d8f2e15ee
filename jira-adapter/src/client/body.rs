//! Rich-text bodies (descriptions, comments) between Markdown and the flavor's format.
//!
//! The one place the client converts bodies, so it can call the content module.

use serde_json::{json, Value as Json};

use crate::content;
use crate::error::JiraError;
use crate::fields::ApiFlavor;

/// Markdown → the body JSON of `flavor` (an ADF document for Cloud v3, a wiki markup
/// string for Data Center v2).
pub fn markdown_to_jira(md: &str, flavor: ApiFlavor) -> Json {
    match flavor {
        ApiFlavor::CloudV3 => content::md_to_adf(md),
        ApiFlavor::DataCenterV2 => json!(content::md_to_wiki(md)),
    }
}

/// An ADF document → Markdown.
pub fn adf_to_markdown(adf: &Json) -> Result<String, JiraError> {
    Ok(content::adf_to_md(adf)?)
}

/// Wiki markup → Markdown.
pub fn wiki_to_markdown(wiki: &str) -> String {
    content::wiki_to_md(wiki)
}
