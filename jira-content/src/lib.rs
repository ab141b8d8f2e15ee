//! Lossless rich-text conversion between Markdown, ADF (Jira Cloud REST v3) and Jira wiki
//! markup (Jira Data Center, REST v2, and bodies inside Cloud webhook payloads).
//!
//! Every format is read into one internal model, normalized, and written out. The canonical
//! form the domain compares is the Markdown written from the normalized model
//! ([`canonical_md`]); converting a value to a side's format and back yields the same
//! canonical Markdown. The mapping, element by element, and what is lossy is documented in
//! `docs/content-conversion.md`.

mod adf;
mod markdown;
mod model;
mod wiki;

use model::{normalize_doc, Block, Inline, Mark};

/// Why a value could not be read as an ADF document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    /// The value is not a JSON object.
    #[error("not an ADF document: the value is not a JSON object")]
    NotAnObject,
    /// The object's `type` is not `doc` (the found type is given).
    #[error("not an ADF document: type is {0:?}, expected \"doc\"")]
    NotADoc(String),
    /// The document's `content` is not an array.
    #[error("not an ADF document: `content` is not an array")]
    BadContent,
    /// The input of `adf-to-md` is not JSON at all.
    #[error("not an ADF document: invalid JSON: {0}")]
    InvalidJson(String),
    /// A conversion name that [`convert`] does not know.
    #[error("unknown conversion {0:?} (expected md-to-adf, adf-to-md, md-to-wiki or wiki-to-md)")]
    UnknownConversion(String),
}

/// The conversions of `jira-sync convert <name>` (stdin → stdout), by name: `md-to-adf`
/// (pretty-printed ADF JSON), `adf-to-md`, `md-to-wiki`, `wiki-to-md`.
pub fn convert(name: &str, input: &str) -> Result<String, ContentError> {
    match name {
        "md-to-adf" => serde_json::to_string_pretty(&md_to_adf(input))
            .map_err(|e| ContentError::InvalidJson(e.to_string())),
        "adf-to-md" => {
            let v: serde_json::Value = serde_json::from_str(input)
                .map_err(|e| ContentError::InvalidJson(e.to_string()))?;
            adf_to_md(&v)
        }
        "md-to-wiki" => Ok(md_to_wiki(input)),
        "wiki-to-md" => Ok(wiki_to_md(input)),
        other => Err(ContentError::UnknownConversion(other.to_string())),
    }
}

/// Converts Markdown to an ADF document (`{"type":"doc","version":1,"content":[...]}`), valid
/// against Atlassian's ADF schema.
pub fn md_to_adf(md: &str) -> serde_json::Value {
    adf::write(&normalize_doc(markdown::parse(md)))
}

/// Converts an ADF document to canonical Markdown. Unknown nodes keep their text; an error
/// only when the value is not an ADF document at all.
pub fn adf_to_md(adf: &serde_json::Value) -> Result<String, ContentError> {
    Ok(markdown::render(&normalize_doc(adf::parse(adf)?)))
}

/// Converts Markdown to Jira wiki markup.
pub fn md_to_wiki(md: &str) -> String {
    wiki::render(&normalize_doc(markdown::parse(md)))
}

/// Converts Jira wiki markup to canonical Markdown.
pub fn wiki_to_md(wiki: &str) -> String {
    markdown::render(&normalize_doc(wiki::parse(wiki)))
}

/// The canonical Markdown of a Markdown text: parsed and written again in our one style.
/// `canonical_md(canonical_md(x)) == canonical_md(x)`.
pub fn canonical_md(md: &str) -> String {
    markdown::render(&normalize_doc(markdown::parse(md)))
}

/// The plain text of inline content (marks dropped, breaks as spaces).
pub(crate) fn plain_text(inl: &[Inline]) -> String {
    let mut s = String::new();
    for i in inl {
        match i {
            Inline::Text(t) | Inline::Code(t) | Inline::Date(t) => s.push_str(t),
            Inline::Marked(_, c) => s.push_str(&plain_text(c)),
            Inline::HardBreak => s.push(' '),
            Inline::Mention(id, t) => s.push_str(if t.is_empty() { id } else { t }),
            Inline::Emoji(e) => {
                s.push(':');
                s.push_str(e);
                s.push(':');
            }
            Inline::Status(t, _) => s.push_str(t),
            Inline::Image(u, a, _) => s.push_str(if a.is_empty() { u } else { a }),
            Inline::Card(u) => s.push_str(u),
        }
    }
    s
}

/// Blocks flattened to inline content (for places that only hold inline content, such as
/// table cells): blocks are separated by hard breaks and no text is lost.
pub(crate) fn plain_blocks(blocks: &[Block]) -> Vec<Inline> {
    let mut out: Vec<Inline> = Vec::new();
    let push = |out: &mut Vec<Inline>, c: Vec<Inline>| {
        if c.is_empty() {
            return;
        }
        if !out.is_empty() {
            out.push(Inline::HardBreak);
        }
        out.extend(c);
    };
    for b in blocks {
        match b {
            Block::Paragraph(c) | Block::Heading(_, c) => push(&mut out, c.clone()),
            Block::Code(info, t) => {
                let (_, title) = model::code_info(info);
                if !title.is_empty() {
                    push(
                        &mut out,
                        vec![Inline::Marked(Mark::Strong, vec![Inline::Text(title)])],
                    );
                }
                for line in t.lines() {
                    push(&mut out, vec![Inline::Code(line.to_string())]);
                }
            }
            Block::Bullet(items) | Block::Ordered(_, items) => {
                for item in items {
                    let mut c = vec![Inline::Text("• ".into())];
                    c.extend(plain_blocks(item));
                    push(&mut out, c);
                }
            }
            Block::Tasks(tasks) => {
                let mut stack: Vec<&model::Task> = tasks.iter().rev().collect();
                while let Some(t) = stack.pop() {
                    let mut c = vec![Inline::Text(if t.done { "☑ " } else { "☐ " }.into())];
                    c.extend(t.content.clone());
                    push(&mut out, c);
                    stack.extend(t.children.iter().rev());
                }
            }
            Block::Decisions(items) => {
                for i in items {
                    push(&mut out, i.clone());
                }
            }
            Block::Quote(c) | Block::Panel(_, c) => push(&mut out, plain_blocks(c)),
            Block::Expand(t, c) => {
                push(
                    &mut out,
                    vec![Inline::Marked(Mark::Strong, vec![Inline::Text(t.clone())])],
                );
                push(&mut out, plain_blocks(c));
            }
            Block::Rule => {}
            Block::Table(rows) => {
                for row in rows {
                    let mut c = Vec::new();
                    for (k, cell) in row.iter().enumerate() {
                        if k > 0 {
                            c.push(Inline::Text(" | ".into()));
                        }
                        c.extend(cell.clone());
                    }
                    push(&mut out, c);
                }
            }
            Block::Media(u, a, _) => push(
                &mut out,
                vec![Inline::Marked(
                    Mark::Link(u.clone(), String::new()),
                    vec![Inline::Text(if a.is_empty() {
                        u.clone()
                    } else {
                        a.clone()
                    })],
                )],
            ),
        }
    }
    out
}
