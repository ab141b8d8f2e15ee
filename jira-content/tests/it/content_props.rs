//! Property tests: for generated Markdown documents, md → adf → md and md → wiki → md are
//! fixed points after one pass, the canonical form is idempotent and already normalized by
//! the domain's rich-text normalizer, and every produced ADF document is schema-valid.

use jira_content::{adf_to_md, canonical_md, md_to_adf, md_to_wiki, wiki_to_md};
use proptest::prelude::*;
use sync_domain::Value as DomainValue;

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9]{1,8}",
        2 => r"[a-z0-9 *_`~<>&#!|\\\-+=.()\[\]:^{}?]{1,10}",
        1 => Just("well-known snake_case".to_string()),
        1 => Just("x:gear:y :smile:".to_string()),
    ]
}

fn inline() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        6 => word(),
        1 => "[a-z]{1,6}".prop_map(|w| format!("`{w}`")),
        1 => Just("[@Ann](mention:557058:abc)".to_string()),
        1 => Just(":gear:".to_string()),
        1 => Just("<time>2024-02-29</time>".to_string()),
        1 => Just("<status color=\"green\">DONE</status>".to_string()),
        1 => "[a-z]{1,6}".prop_map(|w| format!("[{w}](https://example.com/{w})")),
        1 => Just("<https://example.com/auto>".to_string()),
        1 => Just("<cite>a quote</cite>".to_string()),
        1 => Just("<card>https://example.com/card</card>".to_string()),
        1 => Just("[report.pdf](attachment:report.pdf)".to_string()),
        1 => "[a-z]{1,6}".prop_map(|w| format!("![{w}](https://example.com/{w}.png)")),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        let seq = prop::collection::vec(inner, 1..4).prop_map(|v| v.join(" "));
        prop_oneof![
            seq.clone().prop_map(|s| format!("**{s}**")),
            seq.clone().prop_map(|s| format!("*{s}*")),
            seq.clone().prop_map(|s| format!("~~{s}~~")),
            seq.clone().prop_map(|s| format!("<ins>{s}</ins>")),
            seq.clone().prop_map(|s| format!("<sup>{s}</sup>")),
            seq.clone().prop_map(|s| format!("<sub>{s}</sub>")),
            seq.clone()
                .prop_map(|s| format!("<span style=\"color: #00ff00\">{s}</span>")),
            seq.clone().prop_map(|s| format!("{s}\\\n{s}")),
            seq,
        ]
    })
}

fn line() -> impl Strategy<Value = String> {
    prop::collection::vec(inline(), 1..4).prop_map(|v| v.join(" "))
}

fn block() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        5 => line(),
        1 => (1..7usize, line()).prop_map(|(l, t)| format!("{} {}", "#".repeat(l), t.replace("\\\n", " "))),
        1 => ("[a-z]{0,5}", prop::collection::vec("[ a-z0-9(){};=`*_]{0,12}", 1..4))
            .prop_map(|(lang, lines)| format!("```{lang}\n{}\n```", lines.join("\n"))),
        1 => ("[a-z]{1,5}", "[A-Za-z.]{1,8}").prop_map(|(lang, title)| format!("```{lang} title=\"{title}\"\nx = 1\n```")),
        1 => Just("---".to_string()),
        1 => prop::collection::vec((any::<bool>(), line()), 1..4).prop_map(|items| {
            items.iter().map(|(d, t)| format!("- [{}] {}", if *d { "x" } else { " " }, t.replace("\\\n", " "))).collect::<Vec<_>>().join("\n")
        }),
        1 => (1..4usize, prop::collection::vec(prop::collection::vec(word(), 1..3), 1..4)).prop_map(|(w, rows)| {
            let cell = |r: &Vec<String>, k: usize| r.get(k).cloned().unwrap_or_default().replace('|', "\\|");
            let mut s = format!("| {} |\n|{}|", (0..w).map(|k| cell(&rows[0], k)).collect::<Vec<_>>().join(" | "), vec![" --- "; w].join("|"));
            for r in &rows[1..] {
                s.push_str(&format!("\n| {} |", (0..w).map(|k| cell(r, k)).collect::<Vec<_>>().join(" | ")));
            }
            s
        }),
        1 => Just("![logo](https://example.com/logo.png \"a caption\")".to_string()),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        let blocks = prop::collection::vec(inner, 1..3);
        prop_oneof![
            // Nested lists.
            prop::collection::vec(
                (
                    line(),
                    prop::option::of(prop::collection::vec(line(), 1..3))
                ),
                1..4
            )
            .prop_map(|items| {
                items
                    .iter()
                    .map(|(t, sub)| {
                        let mut s = format!("- {}", t.replace("\\\n", " "));
                        for x in sub.iter().flatten() {
                            s.push_str(&format!("\n  1. {}", x.replace("\\\n", " ")));
                        }
                        s
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            }),
            blocks.clone().prop_map(|b| b
                .join("\n\n")
                .lines()
                .map(|l| if l.is_empty() {
                    ">".to_string()
                } else {
                    format!("> {l}")
                })
                .collect::<Vec<_>>()
                .join("\n")),
            blocks
                .clone()
                .prop_map(|b| format!("<div data-panel=\"note\">\n\n{}\n\n</div>", b.join("\n\n"))),
            blocks.prop_map(|b| format!(
                "<details><summary>More info</summary>\n\n{}\n\n</details>",
                b.join("\n\n")
            )),
        ]
    })
}

fn document() -> impl Strategy<Value = String> {
    prop::collection::vec(block(), 0..6).prop_map(|b| b.join("\n\n"))
}

/// Documents whose inline code, mentions, emoji and images carry no marks, and with no citation or
/// code block title (which ADF has not).
fn plain_document() -> impl Strategy<Value = String> {
    document().prop_filter("marks ADF cannot hold", |md| {
        let c = canonical_md(md);
        !c.contains("<cite>")
            && !c.contains("title=")
            && !c.lines().any(|l| {
                (l.contains('`') || l.contains(':') || l.contains("!["))
                    && (l.contains('*')
                        || l.contains('~')
                        || l.contains("<ins>")
                        || l.contains("<strong>")
                        || l.contains("<em>")
                        || l.contains("<del>")
                        || l.contains("<sup>")
                        || l.contains("<sub>")
                        || l.contains("<span")
                        || l.contains("]("))
            })
    })
}

fn validator() -> jsonschema::Validator {
    crate::adf_validator()
}

/// How many generated documents each property checks.
const CASES: u32 = 512;

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn md_adf_md_is_a_fixed_point_after_one_pass(md in document()) {
        let v = validator();
        let adf1 = md_to_adf(&md);
        prop_assert!(v.is_valid(&adf1), "invalid ADF for {md:?}: {:?}", v.iter_errors(&adf1).map(|e| e.to_string()).take(3).collect::<Vec<_>>());
        let m1 = adf_to_md(&adf1).expect("doc");
        // The canonical Markdown goes to the same ADF as the Markdown it came from.
        prop_assert_eq!(&adf_to_md(&md_to_adf(&canonical_md(&md))).expect("doc"), &m1, "canonical goes to other ADF for {:?}", md);
        let m2 = adf_to_md(&md_to_adf(&m1)).expect("doc");
        prop_assert_eq!(&m2, &m1, "not a fixed point for {:?}", md);
    }

    #[test]
    fn md_adf_md_keeps_canonical_md_without_marks_adf_cannot_hold(md in plain_document()) {
        // Without marks around code, mentions, emoji or images (which ADF cannot hold), canonical
        // Markdown is the same whichever side it went through.
        let m1 = adf_to_md(&md_to_adf(&md)).expect("doc");
        prop_assert_eq!(&m1, &canonical_md(&md), "canonical differs from the ADF round trip for {:?}", md);
    }

    #[test]
    fn md_wiki_md_is_a_fixed_point_after_one_pass(md in document()) {
        let w1 = wiki_to_md(&md_to_wiki(&md));
        let w2 = wiki_to_md(&md_to_wiki(&w1));
        prop_assert_eq!(&w2, &w1, "not a fixed point for {:?} (wiki {:?})", md, md_to_wiki(&w1));
    }

    #[test]
    fn canonical_md_is_idempotent_and_domain_normalized(md in document()) {
        let c = canonical_md(&md);
        prop_assert_eq!(&canonical_md(&c), &c, "canonical_md not idempotent for {:?}", md);
        match DomainValue::rich_text(&c) {
            DomainValue::RichText(n) => prop_assert_eq!(n, c),
            DomainValue::Null => prop_assert!(c.is_empty(), "{:?}", c),
            other => prop_assert!(false, "unexpected {:?}", other),
        }
    }

    #[test]
    fn nothing_panics_on_arbitrary_input(s in "\\PC{0,200}") {
        let _ = md_to_adf(&s);
        let _ = wiki_to_md(&s);
        let _ = md_to_wiki(&s);
        prop_assert_eq!(canonical_md(&canonical_md(&s)), canonical_md(&s));
    }
}

/// Found by a random seed: a code block's language holding a backslash (or an ampersand) was
/// written unescaped, so it read back as another language.
#[test]
fn a_code_block_language_with_a_backslash_or_ampersand_reads_back_as_itself() {
    let adf = md_to_adf("~~~~\\\\~~~~\nx\n~~~~");
    assert_eq!(adf["content"][0]["attrs"]["language"], "\\~~~~");
    for md in [
        "~~~~\\\\~~~~\nx\n~~~~",
        "```a&amp;b\nx\n```",
        "```c\\+\\+\nx\n```",
    ] {
        let c = canonical_md(md);
        assert_eq!(canonical_md(&c), c, "{md:?}");
        assert_eq!(adf_to_md(&md_to_adf(&c)).expect("doc"), c, "{md:?}");
        let w = wiki_to_md(&md_to_wiki(&c));
        assert_eq!(wiki_to_md(&md_to_wiki(&w)), w, "{md:?}");
    }
}
