//! ADF conversion tests: every ADF document we produce validates against Atlassian's schema,
//! and every real ADF sample reaches a fixed point (adf → md → adf → md) without losing text.

use std::path::{Path, PathBuf};

use jira_content::{adf_to_md, canonical_md, convert, md_to_adf, ContentError};
use serde_json::{json, Value};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/adf")
}

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("adf-schema-v1-full.json")).expect("schema"),
    )
    .expect("schema json");
    jsonschema::draft4::new(&schema).expect("valid schema")
}

fn assert_valid(v: &jsonschema::Validator, doc: &Value, what: &str) {
    let errors: Vec<String> = v
        .iter_errors(doc)
        .take(5)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what}: ADF not schema-valid: {errors:#?}\n{}",
        serde_json::to_string_pretty(doc).unwrap_or_default()
    );
}

fn samples() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(fixtures().join("samples")).expect("samples dir") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "json") {
            let v: Value =
                serde_json::from_str(&std::fs::read_to_string(&p).expect("read")).expect("json");
            out.push((
                p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .to_string(),
                v,
            ));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// All text content of an ADF tree: text nodes and the text-like attributes of leaf nodes.
fn words(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            let kind = o.get("type").and_then(Value::as_str).unwrap_or("");
            if kind == "text" {
                if let Some(t) = o.get("text").and_then(Value::as_str) {
                    out.extend(t.split_whitespace().map(str::to_string));
                }
            }
            if matches!(kind, "status" | "mention") {
                if let Some(t) = o
                    .get("attrs")
                    .and_then(|a| a.get("text"))
                    .and_then(Value::as_str)
                {
                    out.extend(t.split_whitespace().map(str::to_string));
                }
            }
            if let Some(c) = o.get("content") {
                words(c, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| words(x, out)),
        _ => {}
    }
}

#[test]
fn all_adf_samples_reach_a_fixed_point_without_losing_text() {
    let v = validator();
    let samples = samples();
    assert_eq!(samples.len(), 35, "expected the 35 ADF samples");
    let mut passing = 0;
    let mut failures = Vec::new();
    for (name, doc) in &samples {
        let md1 = adf_to_md(doc).expect("sample is a doc");
        let adf2 = md_to_adf(&md1);
        assert_valid(&v, &adf2, name);
        let md2 = adf_to_md(&adf2).expect("our ADF is a doc");
        // No text lost: every word of the sample's text appears in the Markdown's ADF text.
        let mut want = Vec::new();
        words(doc, &mut want);
        let mut got = Vec::new();
        words(&adf2, &mut got);
        let got_all = got.join(" ");
        let missing: Vec<&String> = want
            .iter()
            .filter(|w| !got_all.contains(w.as_str()))
            .collect();
        if md1 == md2 && missing.is_empty() && canonical_md(&md1) == md1 {
            passing += 1;
        } else {
            failures.push(format!(
                "{name}: missing {missing:?}\n--- md1\n{md1}\n--- md2\n{md2}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{passing}/35 pass; failures:\n{}",
        failures.join("\n\n")
    );
}

#[test]
fn produced_adf_is_schema_valid_for_every_construct() {
    let v = validator();
    let md = r#"# Title with `code` and **bold**

Plain *em* **strong** ~~strike~~ <ins>under</ins> <sub>sub</sub> <sup>sup</sup> `code`
<span style="color: #ff5630">red</span> <span style="background-color: #ffff00">hl</span>\
after break [link](https://example.com "t") <https://example.com> [@Ann](mention:abc:123)
:gear: <time>2026-01-01</time> <status color="blue">TODO</status>

```rust
fn main() {}
```

- a
  - nested
- b

3. three
4. four

- [ ] open
- [x] done
  - [ ] child

> quoted
>
> - list in quote

<div data-panel="warning">

Careful

</div>

<details><summary>More</summary>

Hidden **text**

</details>

---

| h1 | h2 |
| --- | --- |
| a | `b|c` |

![alt text](https://example.com/a.png "caption")

> # heading in quote
"#;
    let doc = md_to_adf(md);
    assert_valid(&v, &doc, "rich sample");
    let back = adf_to_md(&doc).expect("doc");
    assert_eq!(back, canonical_md(md));
    assert!(back.contains("[@Ann](mention:abc:123)"), "{back}");
    assert!(
        back.contains("<status color=\"blue\">TODO</status>"),
        "{back}"
    );
    assert!(back.contains("<time>2026-01-01</time>"), "{back}");
    assert!(back.contains("```rust\nfn main() {}\n```"), "{back}");
    assert!(back.contains("`code`"), "inline code stays inline: {back}");
    // The empty document is valid too.
    assert_valid(&v, &md_to_adf(""), "empty");
}

#[test]
fn inline_code_stays_inline_and_code_blocks_stay_blocks() {
    let doc = md_to_adf("use `x` here\n\n```\nblock\n```");
    let c = &doc["content"];
    assert_eq!(c[0]["type"], "paragraph");
    assert_eq!(c[0]["content"][1]["marks"][0]["type"], "code");
    assert_eq!(c[1]["type"], "codeBlock");
    assert_eq!(
        adf_to_md(&doc).expect("doc"),
        "use `x` here\n\n```\nblock\n```"
    );
}

#[test]
fn not_a_doc_is_an_error_naming_why() {
    assert_eq!(adf_to_md(&json!("text")), Err(ContentError::NotAnObject));
    assert_eq!(
        adf_to_md(&json!({"type": "paragraph"})),
        Err(ContentError::NotADoc("paragraph".into()))
    );
    assert_eq!(
        adf_to_md(&json!({"type": "doc", "content": 3})),
        Err(ContentError::BadContent)
    );
    let e = adf_to_md(&json!({"type": "x"})).expect_err("not a doc");
    assert!(e.to_string().contains("\"x\""));
}

#[test]
fn unknown_nodes_keep_their_text() {
    let doc = json!({"type": "doc", "version": 1, "content": [
        {"type": "futureBlock", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "inner words"}]}]},
        {"type": "paragraph", "content": [{"type": "futureInline", "attrs": {"text": "inline words"}}]}
    ]});
    let md = adf_to_md(&doc).expect("doc");
    assert!(
        md.contains("inner words") && md.contains("inline words"),
        "{md}"
    );
}

#[test]
fn cli_conversions_by_name() {
    let adf = convert("md-to-adf", "**hi**").expect("md-to-adf");
    assert!(adf.contains("\"strong\""), "{adf}");
    assert_eq!(convert("adf-to-md", &adf).expect("adf-to-md"), "**hi**");
    assert_eq!(convert("md-to-wiki", "**hi**").expect("md-to-wiki"), "*hi*");
    assert_eq!(convert("wiki-to-md", "*hi*").expect("wiki-to-md"), "**hi**");
    assert!(matches!(
        convert("adf-to-md", "{"),
        Err(ContentError::InvalidJson(_))
    ));
    assert_eq!(
        convert("md-to-pdf", ""),
        Err(ContentError::UnknownConversion("md-to-pdf".into()))
    );
}

/// Found by the property test: two code spans side by side were written as `` `A`` ` ``,
/// which CommonMark reads back as one different span. Emphasis around code is kept in
/// Markdown (and wiki markup); ADF cannot hold it, so there the spans meet and merge.
#[test]
fn adjacent_code_spans_become_one_span_and_stay_stable() {
    for (md, via_adf) in [
        ("*`A`*` `", Some("`A `")),
        ("`a``b`", None),
        ("x `a` `b` y", None),
    ] {
        let once = jira_content::canonical_md(md);
        let twice = jira_content::canonical_md(&once);
        assert_eq!(once, twice, "{md:?}");
        let adf = jira_content::md_to_adf(&once);
        let back = jira_content::adf_to_md(&adf).expect("doc");
        assert_eq!(back, via_adf.unwrap_or(&once), "{md:?}");
        let again = jira_content::adf_to_md(&jira_content::md_to_adf(&back));
        assert_eq!(again.ok(), Some(back), "{md:?}");
    }
}
