//! Atlassian's REST examples and real Jira Server v2 responses decode through the client
//! and the field codec (`../shared/fixtures/rest/`).

use std::time::Duration;

use jira_adapter::auth::Credentials;
use jira_adapter::client::{
    ApiFlavor, FieldInfo, JiraClient, JiraConfig, SearchRequest, ServerInfo,
};
use jira_adapter::error::JiraMessages;
use jira_adapter::fields::field_to_value;
use serde_json::Value as Json;
use sync_domain::{Value, ValueKind};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn fixture(rel: &str) -> String {
    let p = format!(
        "{}/../../shared/fixtures/rest/{rel}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn json(rel: &str) -> Json {
    serde_json::from_str(&fixture(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

async fn serve(routes: &[(&str, &str, &str)]) -> MockServer {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    let s = MockServer::builder().listener(listener).start().await;
    for (m, p, file) in routes {
        Mock::given(method(*m))
            .and(path(*p))
            .respond_with(ResponseTemplate::new(200).set_body_string(fixture(file)))
            .mount(&s)
            .await;
    }
    s
}

fn client(s: &MockServer, flavor: Option<ApiFlavor>) -> JiraClient {
    let mut c = JiraConfig::new(
        s.uri().parse().unwrap_or_else(|e| panic!("{e}")),
        Credentials::Anonymous,
    );
    c.flavor = flavor;
    c.timeout = Duration::from_secs(5);
    JiraClient::new(c).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_indexed_cloud_example_is_json() {
    let index = fixture("atlassian-cloud-v3/INDEX.tsv");
    let mut n = 0;
    for line in index.lines().filter(|l| !l.trim().is_empty()) {
        let file = line.split('\t').next().unwrap_or_default();
        let _ = json(&format!("atlassian-cloud-v3/{file}"));
        n += 1;
    }
    assert!(n >= 25, "{n} examples");
}

#[test]
fn error_bodies_keep_jira_messages() {
    let cases = [
        (
            "atlassian-cloud-v3/createIssue.response-400.json",
            "Field 'priority' is required",
        ),
        (
            "jira-ruby-server-v2/issue_10002.invalid.put.json",
            "invalid: Field 'invalid' is not valid for this operation.",
        ),
        (
            "jira-ruby-server-v2/component_10000.invalid.put.json",
            "Unrecognized field \"invalid\"",
        ),
        (
            "jira-ruby-server-v2/version_10000.invalid.put.json",
            "Unrecognized field \"chump\"",
        ),
        (
            "atlassian-cloud-v3/getCreateIssueMetaIssueTypes.response-400.json",
            "",
        ),
    ];
    for (file, want) in cases {
        let m = JiraMessages::from_body(&fixture(file));
        assert!(!m.is_empty(), "{file}");
        assert!(m.to_string().contains(want), "{file}: {m}");
    }
}

#[tokio::test]
async fn cloud_issue_decodes_into_canonical_values() {
    let s = serve(&[(
        "GET",
        "/rest/api/3/issue/ED-1",
        "atlassian-cloud-v3/getIssue.response-200.json",
    )])
    .await;
    let c = client(&s, Some(ApiFlavor::CloudV3));
    let issue = c
        .get_issue("ED-1", &["description"])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((issue.id.as_str(), issue.key.as_str()), ("10002", "ED-1"));
    let f = ApiFlavor::CloudV3;
    assert_eq!(
        issue.value("description", ValueKind::RichText, f).ok(),
        Some(Value::rich_text("Main order flow broken"))
    );
    assert_eq!(
        issue.value("summary", ValueKind::Text, f).ok(),
        Some(Value::Null),
        "absent field"
    );
    // Atlassian's example has `"updated": 1`: a version still, not a crash.
    assert_eq!(issue.updated_millis(), Some(1));
}

#[tokio::test]
async fn server_v2_issue_decodes_into_canonical_values() {
    let s = serve(&[(
        "GET",
        "/rest/api/2/issue/10002",
        "jira-ruby-server-v2/issue_10002.json",
    )])
    .await;
    let c = client(&s, Some(ApiFlavor::DataCenterV2));
    let issue = c
        .get_issue("10002", &["summary"])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let f = ApiFlavor::DataCenterV2;
    let table = [
        ("summary", ValueKind::Text, Value::text("Sample Issue")),
        ("priority", ValueKind::Option, Value::option("Major")),
        ("status", ValueKind::Option, Value::option("Open")),
        (
            "components",
            ValueKind::OptionSet,
            Value::option_set(["Jamflam", "Jammy"]),
        ),
        ("assignee", ValueKind::User, Value::user("admin")),
        ("reporter", ValueKind::User, Value::user("admin")),
        (
            "duedate",
            ValueKind::Date,
            Value::date("2011-12-14").unwrap_or(Value::Null),
        ),
        ("labels", ValueKind::OptionSet, Value::Null),
        ("description", ValueKind::RichText, Value::Null),
    ];
    for (field, kind, want) in table {
        assert_eq!(issue.value(field, kind, f).ok(), Some(want), "{field}");
    }
    assert_eq!(issue.status_name(), Some("Open"));
    assert_eq!(issue.updated(), Some("2011-12-14T10:26:06.030+1300"));
    // 2011-12-13T21:26:06.030Z
    assert_eq!(issue.updated_millis(), Some(1_323_811_566_030));
}

#[test]
fn create_request_example_fields_decode() {
    let req = json("atlassian-cloud-v3/createIssue.request.json");
    let f = &req["fields"];
    let c = ApiFlavor::CloudV3;
    assert_eq!(
        field_to_value(&f["labels"], ValueKind::OptionSet, c).ok(),
        Some(Value::option_set(["bugfix", "blitz_test"]))
    );
    assert_eq!(
        field_to_value(&f["customfield_80000"], ValueKind::Option, c).ok(),
        Some(Value::option("red"))
    );
    assert_eq!(
        field_to_value(&f["summary"], ValueKind::Text, c).ok(),
        Some(Value::text("Main order flow broken"))
    );
    assert_eq!(
        field_to_value(&f["description"], ValueKind::RichText, c).ok(),
        Some(Value::rich_text(
            "Order entry fails when selecting supplier."
        ))
    );
    assert_eq!(
        field_to_value(&f["duedate"], ValueKind::Date, c).ok(),
        Value::date("2019-05-11").ok()
    );
    assert_eq!(
        field_to_value(&f["customfield_70000"], ValueKind::OptionSet, c)
            .ok()
            .map(|v| v.to_string()),
        Some("[jira-administrators, jira-software-users]".to_string())
    );
}

#[tokio::test]
async fn transitions_comments_fields_and_users_decode() {
    let s = serve(&[
        (
            "GET",
            "/rest/api/3/issue/ED-1/transitions",
            "atlassian-cloud-v3/getTransitions.response-200.json",
        ),
        (
            "GET",
            "/rest/api/2/issue/10002/transitions",
            "jira-ruby-server-v2/issue_10002_transitions.json",
        ),
        (
            "GET",
            "/rest/api/3/issue/ED-1/comment",
            "atlassian-cloud-v3/getComments.response-200.json",
        ),
        (
            "GET",
            "/rest/api/2/issue/10002/comment",
            "jira-ruby-server-v2/issue_10002_comment.json",
        ),
        (
            "GET",
            "/rest/api/3/field",
            "atlassian-cloud-v3/getFields.response-200.json",
        ),
        ("GET", "/rest/api/2/field", "jira-ruby-server-v2/field.json"),
        (
            "GET",
            "/rest/api/3/myself",
            "atlassian-cloud-v3/getCurrentUser.response-200.json",
        ),
    ])
    .await;
    let cloud = client(&s, Some(ApiFlavor::CloudV3));
    let dc = client(&s, Some(ApiFlavor::DataCenterV2));

    let ts = cloud
        .transitions("ED-1")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ts[0].name, "Close Issue");
    assert_eq!(ts[0].to.name, "In Progress");
    assert_eq!(ts[0].fields[0].allowed_values, ["red", "blue"]);
    let ts = dc
        .transitions("10002")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(ts.iter().any(|t| t.name == "Resolve"), "{ts:?}");

    let cs = cloud
        .comments("ED-1")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cs[0].author, "Mia Krystof");
    assert!(
        cs[0]
            .body_markdown
            .starts_with("Lorem ipsum dolor sit amet"),
        "{}",
        cs[0].body_markdown
    );
    let cs = dc.comments("10002").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cs.len(), 2);
    assert_eq!(cs[0].body_markdown, "This is a comment. Creative.");

    let fields = cloud.fields().await.unwrap_or_else(|e| panic!("{e}"));
    let kinds: Vec<(String, Option<ValueKind>)> = fields
        .iter()
        .map(|f: &FieldInfo| (f.id.clone(), f.value_kind()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("description".to_string(), Some(ValueKind::RichText)),
            ("summary".to_string(), Some(ValueKind::Text))
        ]
    );
    assert_eq!(dc.fields().await.map(|f| f.len()).ok(), Some(2));

    let me = cloud.myself().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        me.identity(ApiFlavor::CloudV3),
        Some("5b10a2844c20165700ede21g")
    );
}

#[tokio::test]
async fn search_responses_decode_on_both_apis() {
    let s = serve(&[
        (
            "POST",
            "/rest/api/3/search/jql",
            "atlassian-cloud-v3/searchAndReconsileIssuesUsingJqlPost.response-200.json",
        ),
        (
            "POST",
            "/rest/api/2/search",
            "jira-ruby-server-v2/issue.json",
        ),
    ])
    .await;
    let req = SearchRequest::new("project = ED", &["summary"]);
    let page = client(&s, Some(ApiFlavor::CloudV3))
        .search_page(&req, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(page.issues.len(), 1);
    assert_eq!(page.next, None, "isLast");
    let page = client(&s, Some(ApiFlavor::DataCenterV2))
        .search_page(&req, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(page.issues.len(), 11);
    assert_eq!(page.next, None, "startAt + 11 reaches total 11");
    assert_eq!(page.issues[0].key, "SAMPLEPROJECT-13");
}

#[test]
fn server_info_tells_cloud_from_data_center() {
    let info: ServerInfo =
        serde_json::from_value(json("atlassian-cloud-v3/getServerInfo.response-200.json"))
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(info.flavor(), ApiFlavor::CloudV3);
    let dc = ServerInfo {
        version: "9.4.0".into(),
        version_numbers: vec![9, 4, 0],
        ..ServerInfo::default()
    };
    assert_eq!(dc.flavor(), ApiFlavor::DataCenterV2);
    let typed = ServerInfo {
        deployment_type: Some("Server".into()),
        ..info
    };
    assert_eq!(typed.flavor(), ApiFlavor::DataCenterV2);
}

#[tokio::test]
async fn webhook_examples_decode() {
    let s = serve(&[
        (
            "GET",
            "/rest/api/3/webhook",
            "atlassian-cloud-v3/getDynamicWebhooksForApp.response-200.json",
        ),
        (
            "PUT",
            "/rest/api/3/webhook/refresh",
            "atlassian-cloud-v3/refreshWebhooks.response-200.json",
        ),
    ])
    .await;
    let c = client(&s, Some(ApiFlavor::CloudV3));
    let hooks = c.list_webhooks().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        hooks.iter().map(|h| h.id).collect::<Vec<_>>(),
        [10000, 10001, 10002]
    );
    assert_eq!(hooks[1].jql_filter, "issuetype = Bug");
    let exp = c
        .refresh_webhooks(&[10000])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(exp.as_deref(), Some("2019-06-01T12:42:30.000+0000"));
}
