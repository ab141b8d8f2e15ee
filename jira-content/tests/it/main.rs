//! The conversion's tests, in one binary: ADF against Atlassian's schema and samples, wiki markup against a public corpus, and property tests of the round trips.

mod content_adf;
mod content_props;
mod content_wiki;
mod content_wiki_corpus;
mod content_wiki_props;

/// Atlassian's ADF schema (from the fixtures beside the checkout), compiled.
pub fn adf_validator() -> jsonschema::Validator {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/adf/adf-schema-v1-full.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p).expect("schema")).expect("json");
    jsonschema::draft4::new(&schema).expect("schema compiles")
}
