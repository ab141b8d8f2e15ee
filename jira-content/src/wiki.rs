//! Jira wiki markup ⇄ model. Wiki markup has no parser crate, so both directions are written
//! here, following the order in which Jira's own renderer works:
//!
//! 1. [`macros`]: bodied macros (`{code}`, `{noformat}`, `{quote}`, `{panel}`, `{info}`…, and
//!    `{color}` spanning blocks) are found first over the whole text and replaced by one
//!    placeholder character each, so that a macro may sit inside a list item, a table cell or
//!    a paragraph and span lines without disturbing the line structure around it.
//! 2. [`block`]: the text is read line by line into blocks (headings, lists with their
//!    continuation lines, tables, `bq.`, rules, paragraphs); a placeholder inside a line
//!    splits it around the macro's block.
//! 3. [`inline`]: a tokenizer turns a block's text into tokens (text, effect delimiters with
//!    their flanking, monospace, links, images, colour tags, breaks) and a parser pairs them,
//!    colour first (a macro in Jira), then effects, so effects nest inside and around
//!    monospace, mentions, links and colour.
//!
//! [`render`] writes the model back, escaping whatever the parser would read as markup.

mod block;
mod inline;
mod macros;
mod render;

pub(crate) use render::render;

use super::model::{Block, Mark};

/// The effect a delimiter character stands for (`??` is [`Mark::Cite`]).
fn mark_for(c: char) -> Option<Mark> {
    Some(match c {
        '*' => Mark::Strong,
        '_' => Mark::Em,
        '-' => Mark::Strike,
        '+' => Mark::Underline,
        '^' => Mark::Sup,
        '~' => Mark::Sub,
        '?' => Mark::Cite,
        _ => return None,
    })
}

/// Parses wiki markup into the (not yet normalized) model.
pub(crate) fn parse(wiki: &str) -> Vec<Block> {
    let text = wiki.replace("\r\n", "\n").replace('\r', "\n");
    let (text, table) = macros::extract(&text);
    block::parse(&text, &table)
}

/// A colour of the `{color}` macro as ADF's `#rrggbb`: hex (`#rgb`, `#rrggbb`), `rgb()` /
/// `rgba()` (alpha dropped) or a CSS colour name.
fn color_hex(name: &str) -> Option<String> {
    let n: String = name
        .trim()
        .to_ascii_lowercase()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if let Some(h) = n.strip_prefix('#') {
        if h.len() == 6 && h.chars().all(|c| c.is_ascii_hexdigit()) {
            return Some(n);
        }
        if h.len() == 3 && h.chars().all(|c| c.is_ascii_hexdigit()) {
            let e: String = h.chars().flat_map(|c| [c, c]).collect();
            return Some(format!("#{e}"));
        }
        return None;
    }
    if let Some(args) = n
        .strip_prefix("rgba(")
        .or_else(|| n.strip_prefix("rgb("))
        .and_then(|r| r.strip_suffix(')'))
    {
        let parts: Vec<&str> = args.split(',').collect();
        if !(3..=4).contains(&parts.len()) {
            return None;
        }
        let mut hex = String::from("#");
        for p in &parts[..3] {
            let v: u8 = p.parse().ok()?;
            hex.push_str(&format!("{v:02x}"));
        }
        return Some(hex);
    }
    Some(
        match n.as_str() {
            "black" => "#000000",
            "white" => "#ffffff",
            "red" => "#ff0000",
            "green" => "#008000",
            "blue" => "#0000ff",
            "yellow" => "#ffff00",
            "orange" => "#ffa500",
            "purple" => "#800080",
            "gray" | "grey" => "#808080",
            "silver" => "#c0c0c0",
            "maroon" => "#800000",
            "olive" => "#808000",
            "lime" => "#00ff00",
            "aqua" | "cyan" => "#00ffff",
            "teal" => "#008080",
            "navy" => "#000080",
            "fuchsia" | "magenta" => "#ff00ff",
            "brown" => "#a52a2a",
            "pink" => "#ffc0cb",
            "gold" => "#ffd700",
            "darkred" => "#8b0000",
            "darkgreen" => "#006400",
            "darkblue" => "#00008b",
            "lightgray" | "lightgrey" => "#d3d3d3",
            "darkgray" | "darkgrey" => "#a9a9a9",
            "violet" => "#ee82ee",
            "indigo" => "#4b0082",
            _ => return None,
        }
        .to_string(),
    )
}
