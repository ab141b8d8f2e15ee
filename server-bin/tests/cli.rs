//! The `jira-sync` binary as a user runs it.

use std::io::Write;
use std::process::{Command, Stdio};

fn run(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_jira-sync"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("the binary ends");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn convert_round_trips_through_adf() {
    let (code, adf, _) = run(&["convert", "md-to-adf"], "Some `code` and **bold**\n");
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&adf).expect("ADF is JSON");
    assert_eq!(v["type"], "doc");
    let (code, md, _) = run(&["convert", "adf-to-md"], &adf);
    assert_eq!(code, 0);
    assert_eq!(md.trim_end(), "Some `code` and **bold**");
}

#[test]
fn convert_to_wiki_and_back() {
    let (code, wiki, _) = run(&["convert", "md-to-wiki"], "# Title\n\n- one\n- two\n");
    assert_eq!(code, 0);
    assert!(wiki.starts_with("h1. Title"), "{wiki}");
    let (code, md, _) = run(&["convert", "wiki-to-md"], &wiki);
    assert_eq!(code, 0);
    assert_eq!(md.trim_end(), "# Title\n\n- one\n- two");
}

#[test]
fn a_bad_input_names_the_problem() {
    let (code, out, err) = run(&["convert", "adf-to-md"], "{\"type\": \"paragraph\"}");
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(err.contains("not an ADF document"), "{err}");
    let (code, _, err) = run(&["convert", "adf-to-md"], "not json");
    assert_eq!(code, 1);
    assert!(err.contains("adf-to-md"), "{err}");
}

#[test]
fn the_demo_runs_every_story_and_succeeds() {
    let (code, out, err) = run(&["demo"], "");
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("✓ held: create in Handoff → appears in Jira"),
        "{out}"
    );
    assert!(!out.contains('✗'), "{out}");
    let last = out.lines().last().unwrap_or_default();
    assert!(last.starts_with("7/7 stories held"), "{last}");
    assert!(last.contains("conflicts raised: 1, resolved: 1"), "{last}");
    assert!(last.contains("errors: 0"), "{last}");
}
