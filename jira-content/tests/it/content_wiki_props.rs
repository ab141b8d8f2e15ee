//! Property tests of the wiki markup parser on generated wiki markup: nested effects (inside
//! and around monospace, mentions, links and colour), macros inside list items, table cells
//! and panels, multi-line macros, and adversarial punctuation. For every input:
//!
//! - no text is lost: every word of the input appears in the Markdown (and in the Markdown
//!   that comes back from ADF);
//! - wiki → md → wiki → md is a fixed point after one pass;
//! - the Markdown's ADF validates against Atlassian's schema and md → adf → md is a fixed
//!   point after one pass.

use jira_content::{adf_to_md, md_to_adf, md_to_wiki, wiki_to_md};
use proptest::prelude::*;

/// A word of text. Words are upper case, which no markup keyword is, so that the words of an
/// input are found again by [`words`].
fn word() -> impl Strategy<Value = String> {
    "W[A-Z]{1,5}"
}

/// Punctuation that wiki markup may read as markup.
fn punct() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => r"[*_\-+^~?!{}\[\]|\\#:;.,()=&<>` ]{1,4}",
        1 => Just("??".to_string()),
        1 => Just("**".to_string()),
        1 => Just("***".to_string()),
        1 => Just(" -- ".to_string()),
        1 => Just(" --- ".to_string()),
        1 => Just("!".to_string()),
        1 => Just("\\\\".to_string()),
        1 => Just("{color}".to_string()),
        1 => Just("&#92;".to_string()),
        // Escaped markup: literal characters the writer must escape again.
        2 => prop_oneof![
            Just(r"\!"),
            Just(r"\*"),
            Just(r"\["),
            Just(r"\{"),
            Just(r"\?\?"),
            Just(r"\-\-"),
            Just(r"\|"),
        ]
        .prop_map(str::to_string),
    ]
}

fn inline() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        8 => word(),
        3 => punct(),
        1 => word().prop_map(|w| format!("{{{{{w}}}}}")),
        1 => word().prop_map(|w| format!("[~{w}]")),
        1 => (word(), word()).prop_map(|(a, b)| format!("[{a}|~accountid:{b}]")),
        1 => word().prop_map(|w| format!("[{w}|https://example.com/{w}]")),
        1 => word().prop_map(|w| format!("[https://example.com/{w}]")),
        1 => word().prop_map(|w| format!("[^{w}.txt]")),
        1 => word().prop_map(|w| format!("[{w}]")),
        1 => word().prop_map(|w| format!("!{w}.png!")),
        1 => word().prop_map(|w| format!("!{w}.png|width=300,alt={w}!")),
        1 => word().prop_map(|w| format!("[https://example.com/{w}|https://example.com/{w}|smart-link]")),
        1 => word().prop_map(|w| format!("??{w}??")),
        1 => word().prop_map(|w| format!(":{w}:")),
        // Escaped image, link and citation syntax around a word.
        1 => word().prop_map(|w| format!(r"\!{w}\!")),
        1 => word().prop_map(|w| format!(r"\[{w}|https://x.com\]")),
        1 => word().prop_map(|w| format!(r"\?\?{w}\?\?")),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        let seq = prop::collection::vec(inner, 1..4).prop_map(|v| v.join(" "));
        let tight = prop::collection::vec(seq.clone(), 1..3).prop_map(|v| v.join(""));
        prop_oneof![
            seq.clone().prop_map(|s| format!("*{s}*")),
            seq.clone().prop_map(|s| format!("_{s}_")),
            seq.clone().prop_map(|s| format!("-{s}-")),
            seq.clone().prop_map(|s| format!("+{s}+")),
            seq.clone().prop_map(|s| format!("^{s}^")),
            seq.clone().prop_map(|s| format!("~{s}~")),
            seq.clone().prop_map(|s| format!("??{s}??")),
            seq.clone().prop_map(|s| format!("{{*}}{s}{{*}}")),
            seq.clone()
                .prop_map(|s| format!("{{color:red}}{s}{{color}}")),
            seq.clone()
                .prop_map(|s| format!("{{color:rgba(0,0,255,0.5)}}{s}{{color}}")),
            seq.clone()
                .prop_map(|s| format!("{{color:#00ff00}}{s}\n{s}{{color}}")),
            seq.clone()
                .prop_map(|s| format!("[{s}|https://example.com/x]")),
            seq.clone().prop_map(|s| format!("{s}\\\\{s}")),
            tight,
            seq,
        ]
    })
}

/// One line of inline markup (a newline inside colour is allowed).
fn line() -> impl Strategy<Value = String> {
    prop::collection::vec(inline(), 1..4).prop_map(|v| v.join(" "))
}

/// One-line text (no newline at all), for list items, headings and cells.
fn one_line() -> impl Strategy<Value = String> {
    line().prop_map(|l| l.replace('\n', " "))
}

fn macro_in_line() -> impl Strategy<Value = String> {
    (word(), word()).prop_flat_map(|(a, b)| {
        prop_oneof![
            Just(format!("{{quote}}{a} {b}{{quote}}")),
            Just(format!("{{quote}}\n{a}\n{b}\n{{quote}}")),
            Just(format!("{{panel}}\n{a}\n{{panel}}")),
            Just(format!("{{panel:title={a}}}\n{b}\n{{panel}}")),
            Just(format!("{{color:red}}{a}\n{b}{{color}}")),
            Just(format!("{{color:blue}}{a}\n\n{b}{{color}}")),
            Just(format!("{{code}}\n{a} *{b}*\n{{code}}")),
            Just(format!("{{noformat}}{a}{{noformat}}")),
        ]
    })
}

fn block() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        6 => prop::collection::vec(line(), 1..3).prop_map(|v| v.join("\n")),
        1 => (1..7usize, one_line()).prop_map(|(l, t)| format!("h{l}. {t}")),
        1 => one_line().prop_map(|t| format!("bq. {t}")),
        1 => Just("----".to_string()),
        1 => (prop::option::of(word()), "[a-z]{0,5}", prop::collection::vec(r"[ a-z0-9(){};=*_\[\]|!]{0,12}", 1..4))
            .prop_map(|(title, lang, lines)| {
                let mut params = Vec::new();
                if let Some(t) = title {
                    params.push(format!("title={t}"));
                }
                if !lang.is_empty() {
                    params.push(lang);
                }
                let open = if params.is_empty() { "{code}".to_string() } else { format!("{{code:{}}}", params.join("|")) };
                format!("{open}\n{}\n{{code}}", lines.join("\n"))
            }),
        // Lists: nested markers, macros inside items, continuation lines, empty items.
        2 => prop::collection::vec(
            (
                prop_oneof![Just("*"), Just("#"), Just("**"), Just("*#"), Just("##"), Just("-")],
                one_line(),
                prop::option::of(macro_in_line()),
                any::<bool>(),
            ),
            1..5,
        )
        .prop_map(|items| {
            let mut out: Vec<String> = Vec::new();
            for (k, (m, t, mac, empty)) in items.into_iter().enumerate() {
                // A nested marker cannot start a list.
                let m = if k == 0 { &m[..1] } else { m };
                if empty && k > 0 && m != "-" {
                    out.push(format!("{m} "));
                    continue;
                }
                match mac {
                    Some(mac) => out.push(format!("{m} {t} {mac}")),
                    None => out.push(format!("{m} {t}")),
                }
            }
            out.join("\n")
        }),
        // Tables: header row, cells with effects, images with parameters and one-line macros.
        2 => (1..4usize, prop::collection::vec(prop::collection::vec(
            prop_oneof![
                3 => one_line(),
                1 => word().prop_map(|w| format!("!{w}.png|width=300!")),
                1 => word().prop_map(|w| format!("{{quote}}{w}{{quote}}")),
                1 => word().prop_map(|w| format!("*{{{{{w}}}}}*")),
            ], 1..4), 1..4))
            .prop_map(|(w, rows)| {
                rows.iter().enumerate().map(|(k, r)| {
                    let sep = if k == 0 { "||" } else { "|" };
                    let cells: Vec<String> = (0..w).map(|c| r.get(c).cloned().unwrap_or_else(|| " ".into())).collect();
                    format!("{sep}{}{sep}", cells.join(sep))
                }).collect::<Vec<_>>().join("\n")
            }),
        1 => macro_in_line(),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        let blocks = prop::collection::vec(inner, 1..3).prop_map(|b| b.join("\n\n"));
        prop_oneof![
            blocks
                .clone()
                .prop_map(|b| format!("{{quote}}\n{b}\n{{quote}}")),
            blocks
                .clone()
                .prop_map(|b| format!("{{panel}}\n{b}\n{{panel}}")),
            (word(), blocks.clone()).prop_map(|(t, b)| format!("{{panel:{t}}}\n{b}\n{{panel}}")),
            blocks
                .clone()
                .prop_map(|b| format!("{{info}}\n{b}\n{{info}}")),
            blocks.prop_map(|b| format!("{{color:green}}\n{b}\n{{color}}")),
        ]
    })
}

fn document() -> impl Strategy<Value = String> {
    prop::collection::vec(block(), 1..5).prop_map(|b| b.join("\n\n"))
}

/// The words of a text: its upper-case runs that start with `W`.
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in s.chars().chain([' ']) {
        if c.is_ascii_uppercase() {
            cur.push(c);
        } else {
            if cur.starts_with('W') {
                out.push(std::mem::take(&mut cur));
            }
            cur.clear();
        }
    }
    out
}

fn validator() -> jsonschema::Validator {
    crate::adf_validator()
}

/// How many generated documents each property checks.
const CASES: u32 = 512;

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn wiki_to_md_loses_no_word(wiki in document()) {
        let md = wiki_to_md(&wiki);
        let via_adf = adf_to_md(&md_to_adf(&md)).expect("doc");
        for w in words(&wiki) {
            prop_assert!(md.contains(&w), "{w} lost from {wiki:?}: {md:?}");
            prop_assert!(via_adf.contains(&w), "{w} lost through ADF from {wiki:?}: {via_adf:?}");
        }
    }

    #[test]
    fn wiki_md_wiki_md_is_a_fixed_point_after_one_pass(wiki in document()) {
        let m1 = wiki_to_md(&wiki);
        let w2 = md_to_wiki(&m1);
        let m2 = wiki_to_md(&w2);
        prop_assert_eq!(&m2, &m1, "not a fixed point for {:?} (wiki written {:?})", wiki, w2);
    }

    #[test]
    fn md_of_wiki_gives_valid_adf_and_settles(wiki in document()) {
        let v = validator();
        let md = wiki_to_md(&wiki);
        let adf = md_to_adf(&md);
        prop_assert!(v.is_valid(&adf), "invalid ADF for {wiki:?}: {:?}", v.iter_errors(&adf).map(|e| e.to_string()).take(3).collect::<Vec<_>>());
        let a1 = adf_to_md(&adf).expect("doc");
        let a2 = adf_to_md(&md_to_adf(&a1)).expect("doc");
        prop_assert_eq!(&a2, &a1, "md → adf → md not a fixed point for {:?}", wiki);
    }
}

/// The generator's words are found by `words` (else the no-loss property checks nothing).
#[test]
fn words_are_found_in_markup() {
    assert_eq!(
        words("*WAB* {color:red}WX{color} [WQ|~accountid:WZ] h1. x"),
        ["WAB", "WX", "WQ", "WZ"]
    );
}
