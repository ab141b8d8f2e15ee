//! The second pass: lines into blocks. Placeholders of block macros split the line they sit
//! in, so a macro works inside a paragraph, a heading, a list item or a table cell.

use super::inline;
use super::macros::{self, Macro};
use crate::model::{Block, Inline, Mark, Task};
use crate::plain_blocks;

/// Parses text (with placeholders) into blocks.
pub(super) fn parse(text: &str, table: &[Macro]) -> Vec<Block> {
    let lines: Vec<&str> = text.split('\n').collect();
    blocks(&lines, table)
}

/// The level and text of a heading line (`h1. …` to `h6. …`).
fn heading_level(t: &str) -> Option<(u8, &str)> {
    let b = t.as_bytes();
    if b.len() >= 3 && b[0] == b'h' && (b'1'..=b'6').contains(&b[1]) && b[2] == b'.' {
        let rest = &t[3..];
        if rest.is_empty() || rest.starts_with(' ') {
            return Some((b[1] - b'0', rest.trim()));
        }
    }
    None
}

/// Whether a `text` read at a line start is a heading (for the writer's escaping).
pub(super) fn starts_heading(t: &str) -> bool {
    heading_level(t).is_some()
}

fn quote_line(t: &str) -> Option<&str> {
    let rest = t.strip_prefix("bq.")?;
    (rest.is_empty() || rest.starts_with(' ')).then(|| rest.trim())
}

/// The markers and text of a list item line (trimmed at its start), and whether a space
/// follows the markers. Markers alone are an empty item only inside a list: alone they are
/// text (`**`).
fn list_marker(t: &str) -> Option<(&str, &str, bool)> {
    let end = t.find(|c| !matches!(c, '*' | '#' | '-')).unwrap_or(t.len());
    if end == 0 || end > 12 {
        return None;
    }
    let m = &t[..end];
    // A `-` bullet only on its own (`--`, `---` are dashes, `----` a rule).
    if m.contains('-') && m != "-" {
        return None;
    }
    let rest = &t[end..];
    if rest.is_empty() {
        return (m != "-").then_some((m, "", false));
    }
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    Some((m, rest.trim(), true))
}

/// Whether a line (trimmed at its start) starts a list.
fn starts_list(t: &str) -> bool {
    list_marker(t).is_some_and(|(_, rest, spaced)| spaced && (!rest.is_empty() || t.ends_with(' ')))
}

/// Whether a (trimmed) line starts a block that ends a paragraph.
pub(super) fn is_block_start(t: &str) -> bool {
    heading_level(t).is_some()
        || quote_line(t).is_some()
        || t == "----"
        || t.starts_with('|')
        || starts_list(t)
}

fn is_block_macro(c: char, table: &[Macro]) -> Option<usize> {
    let idx = macros::index(c)?;
    match table.get(idx) {
        Some(Macro::Literal(_)) | None => None,
        Some(_) => Some(idx),
    }
}

/// Text that may hold block macros: paragraphs of the text between them, and their blocks.
fn flow(text: &str, table: &[Macro]) -> Vec<Block> {
    let mut out = Vec::new();
    let mut buf = String::new();
    let flush = |buf: &mut String, out: &mut Vec<Block>| {
        if !buf.trim().is_empty() {
            out.push(Block::Paragraph(inline::parse(buf.trim(), table)));
        }
        buf.clear();
    };
    for c in text.chars() {
        if let Some(idx) = is_block_macro(c, table) {
            flush(&mut buf, &mut out);
            out.extend(macro_blocks(idx, table));
            continue;
        }
        buf.push(c);
    }
    flush(&mut buf, &mut out);
    out
}

/// Inline content of text that may hold block macros (their blocks flattened).
fn flat(text: &str, table: &[Macro]) -> Vec<Inline> {
    plain_blocks(&flow(text, table))
}

/// The blocks of the macro at `idx`.
pub(super) fn macro_blocks(idx: usize, table: &[Macro]) -> Vec<Block> {
    match &table[idx] {
        Macro::Code(info, body) => vec![Block::Code(info.clone(), body.clone())],
        Macro::Quote(body) => vec![Block::Quote(parse(body, table))],
        Macro::Color(color, body) => {
            let inner = parse(body, table);
            match super::color_hex(color) {
                Some(hex) => colored(inner, &hex),
                None => inner,
            }
        }
        Macro::Literal(c) => vec![Block::Paragraph(vec![Inline::Text(c.to_string())])],
        Macro::Panel(name, ps, body) => {
            let mut inner = parse(body, table);
            let get = |k: &str| ps.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
            // `{panel:Title}`: an unnamed parameter is the title, as `title=` is.
            let title = get("title").or_else(|| get("")).filter(|t| !t.is_empty());
            if name == "panel" {
                if let Some(t) = title {
                    return vec![Block::Expand(t, inner)];
                }
                let kind = match get("bgcolor").map(|c| c.to_ascii_lowercase()).as_deref() {
                    Some("#e3fcef") => "success",
                    Some("#ffebe6") => "error",
                    _ => "custom",
                };
                return vec![Block::Panel(kind.into(), inner)];
            }
            if let Some(t) = title {
                inner.insert(
                    0,
                    Block::Paragraph(vec![Inline::Marked(Mark::Strong, vec![Inline::Text(t)])]),
                );
            }
            vec![Block::Panel(name.clone(), inner)]
        }
    }
}

/// Blocks with a text colour over all their inline content.
fn colored(blocks: Vec<Block>, hex: &str) -> Vec<Block> {
    let c = |v: Vec<Inline>| vec![Inline::Marked(Mark::Color(hex.to_string()), v)];
    let items = |items: Vec<Vec<Block>>| {
        items
            .into_iter()
            .map(|i| colored(i, hex))
            .collect::<Vec<_>>()
    };
    blocks
        .into_iter()
        .map(|b| match b {
            Block::Paragraph(v) => Block::Paragraph(c(v)),
            Block::Heading(l, v) => Block::Heading(l, c(v)),
            Block::Bullet(i) => Block::Bullet(items(i)),
            Block::Ordered(s, i) => Block::Ordered(s, items(i)),
            Block::Quote(b) => Block::Quote(colored(b, hex)),
            Block::Panel(k, b) => Block::Panel(k, colored(b, hex)),
            Block::Expand(t, b) => Block::Expand(t, colored(b, hex)),
            Block::Table(rows) => Block::Table(
                rows.into_iter()
                    .map(|r| r.into_iter().map(c).collect())
                    .collect(),
            ),
            Block::Tasks(ts) => Block::Tasks(color_tasks(ts, hex)),
            other => other,
        })
        .collect()
}

fn color_tasks(ts: Vec<Task>, hex: &str) -> Vec<Task> {
    ts.into_iter()
        .map(|t| Task {
            done: t.done,
            content: vec![Inline::Marked(Mark::Color(hex.to_string()), t.content)],
            children: color_tasks(t.children, hex),
        })
        .collect()
}

fn blocks(lines: &[&str], table: &[Macro]) -> Vec<Block> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim();
        if t.is_empty() {
            i += 1;
            continue;
        }
        if let Some((level, rest)) = heading_level(t) {
            let mut f = flow(rest, table);
            let content = match f.first() {
                Some(Block::Paragraph(_)) => match f.remove(0) {
                    Block::Paragraph(p) => p,
                    _ => Vec::new(),
                },
                _ => Vec::new(),
            };
            out.push(Block::Heading(level, content));
            out.extend(f);
            i += 1;
            continue;
        }
        if let Some(rest) = quote_line(t) {
            out.push(Block::Quote(flow(rest, table)));
            i += 1;
            continue;
        }
        if t == "----" {
            out.push(Block::Rule);
            i += 1;
            continue;
        }
        if t.starts_with('|') {
            let mut rows = Vec::new();
            while i < lines.len() && lines[i].trim().starts_with('|') {
                rows.push(
                    split_row(lines[i].trim())
                        .iter()
                        .map(|c| flat(c.trim(), table))
                        .collect(),
                );
                i += 1;
            }
            out.push(Block::Table(rows));
            continue;
        }
        if starts_list(lines[i].trim_start()) {
            let mut entries: Vec<Entry> = Vec::new();
            while i < lines.len() {
                let l = lines[i].trim();
                if l.is_empty() {
                    break;
                }
                if let Some((m, rest, _)) = list_marker(l) {
                    entries.push(Entry::new(m, rest));
                } else if is_block_start(l) {
                    break;
                } else if let Some(last) = entries.last_mut() {
                    // A line that is not an item continues the item above it.
                    last.text.push('\n');
                    last.text.push_str(l);
                }
                i += 1;
            }
            let entries: Vec<Parsed> = entries.into_iter().map(|e| e.parse(table)).collect();
            let mut idx = 0;
            while idx < entries.len() {
                let before = idx;
                out.push(build_list(&entries, &mut idx, 1));
                if idx == before {
                    idx += 1;
                }
            }
            continue;
        }
        // A paragraph: lines up to a blank line or a block start; newlines are breaks.
        let mut text = String::from(t);
        i += 1;
        while i < lines.len() {
            let nt = lines[i].trim();
            if nt.is_empty() || is_block_start(nt) {
                break;
            }
            text.push('\n');
            text.push_str(nt);
            i += 1;
        }
        out.extend(flow(&text, table));
    }
    out
}

struct Entry {
    markers: Vec<char>,
    text: String,
}

impl Entry {
    fn new(m: &str, rest: &str) -> Entry {
        Entry {
            markers: m.chars().map(|c| if c == '-' { '*' } else { c }).collect(),
            text: rest.to_string(),
        }
    }

    fn parse(self, table: &[Macro]) -> Parsed {
        let rest = self.text.as_str();
        let (task, rest) = if let Some(r) = rest.strip_prefix("[ ] ") {
            (Some(false), r)
        } else if let Some(r) = rest
            .strip_prefix("[x] ")
            .or_else(|| rest.strip_prefix("[X] "))
        {
            (Some(true), r)
        } else if rest == "[ ]" {
            (Some(false), "")
        } else if rest == "[x]" || rest == "[X]" {
            (Some(true), "")
        } else {
            (None, rest)
        };
        Parsed {
            markers: self.markers,
            task,
            blocks: item_blocks(flow(rest, table)),
        }
    }
}

/// A list item's blocks as wiki markup can write them back: one paragraph (with line breaks)
/// around code blocks and images, then nested lists. Other blocks (a quote or a panel from a
/// macro) become lines of the paragraph around them, and so does a list with text after it.
fn item_blocks(blocks: Vec<Block>) -> Vec<Block> {
    let seq = unwrap_item(blocks);
    let is_list = |b: &Block| matches!(b, Block::Bullet(_) | Block::Ordered(..) | Block::Tasks(_));
    let last_other = seq.iter().rposition(|b| !is_list(b));
    let mut out = Vec::new();
    for (k, b) in seq.into_iter().enumerate() {
        if is_list(&b) && last_other.is_some_and(|l| k < l) {
            push_item_block(&mut out, Block::Paragraph(plain_blocks(&[b])));
        } else {
            push_item_block(&mut out, b);
        }
    }
    out
}

/// A list item's blocks with containers opened: paragraphs, code, images and lists.
fn unwrap_item(blocks: Vec<Block>) -> Vec<Block> {
    let mut out = Vec::new();
    for b in blocks {
        match b {
            Block::Paragraph(_)
            | Block::Code(..)
            | Block::Media(..)
            | Block::Bullet(_)
            | Block::Ordered(..)
            | Block::Tasks(_) => out.push(b),
            Block::Heading(_, c) => out.push(Block::Paragraph(c)),
            Block::Quote(c) | Block::Panel(_, c) => out.extend(unwrap_item(c)),
            Block::Expand(title, c) => {
                out.push(Block::Paragraph(vec![Inline::Marked(
                    Mark::Strong,
                    vec![Inline::Text(title)],
                )]));
                out.extend(unwrap_item(c));
            }
            other => out.push(Block::Paragraph(plain_blocks(&[other]))),
        }
    }
    out
}

/// Adds a block to a list item's blocks, a paragraph joining the paragraph before it.
fn push_item_block(out: &mut Vec<Block>, b: Block) {
    let Block::Paragraph(inl) = b else {
        out.push(b);
        return;
    };
    {
        if let Some(Block::Paragraph(prev)) = out.last_mut() {
            prev.push(Inline::HardBreak);
            prev.extend(inl);
        } else {
            out.push(Block::Paragraph(inl));
        }
    }
}

struct Parsed {
    markers: Vec<char>,
    task: Option<bool>,
    blocks: Vec<Block>,
}

fn build_list(entries: &[Parsed], idx: &mut usize, depth: usize) -> Block {
    let kind = entries[*idx].markers.get(depth - 1).copied().unwrap_or('*');
    let is_task =
        kind == '*' && entries[*idx].markers.len() == depth && entries[*idx].task.is_some();
    let mut items: Vec<Vec<Block>> = Vec::new();
    let mut tasks: Vec<Task> = Vec::new();
    while *idx < entries.len() && entries[*idx].markers.len() >= depth {
        let e = &entries[*idx];
        if e.markers.len() == depth {
            let same = e.markers[depth - 1] == kind && (e.task.is_some() == is_task);
            if !same && (!items.is_empty() || !tasks.is_empty()) {
                break;
            }
            if is_task {
                tasks.push(Task {
                    done: e.task.unwrap_or(false),
                    content: plain_blocks(&e.blocks),
                    children: Vec::new(),
                });
            } else {
                items.push(e.blocks.clone());
            }
            *idx += 1;
        } else {
            let sub = build_list(entries, idx, depth + 1);
            if is_task {
                if tasks.is_empty() {
                    tasks.push(Task {
                        done: false,
                        content: Vec::new(),
                        children: Vec::new(),
                    });
                }
                if let (Some(last), Block::Tasks(t)) = (tasks.last_mut(), sub.clone()) {
                    last.children.extend(t);
                } else if let Some(last) = tasks.last_mut() {
                    last.children.push(Task {
                        done: false,
                        content: plain_blocks(&[sub]),
                        children: Vec::new(),
                    });
                }
            } else {
                if items.is_empty() {
                    items.push(Vec::new());
                }
                if let Some(last) = items.last_mut() {
                    last.push(sub);
                }
            }
        }
    }
    if is_task {
        Block::Tasks(tasks)
    } else if kind == '#' {
        Block::Ordered(1, items)
    } else {
        Block::Bullet(items)
    }
}

/// Splits a table row into its cells' text on `|` / `||`, but not inside an escape,
/// monospace, a link or an image (whose parameters hold `|`).
fn split_row(t: &str) -> Vec<String> {
    let chars: Vec<char> = t.chars().collect();
    let mut cells = Vec::new();
    let mut cur = String::new();
    let mut i = 0;
    let mut started = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            cur.push(c);
            cur.push(chars[i + 1]);
            i += 2;
            continue;
        }
        if c == '{' && chars.get(i + 1) == Some(&'{') {
            if let Some(end) = macros::find_close_mono(&chars, i + 2) {
                cur.extend(&chars[i..end + 2]);
                i = end + 2;
                continue;
            }
        }
        if c == '[' {
            if let Some(end) = inline::link_end(&chars, i) {
                cur.extend(&chars[i..=end]);
                i = end + 1;
                continue;
            }
        }
        if c == '!' {
            if let Some(end) = inline::image_end(&chars, i) {
                cur.extend(&chars[i..=end]);
                i = end + 1;
                continue;
            }
        }
        if c == '|' {
            if started {
                cells.push(std::mem::take(&mut cur));
            }
            started = true;
            while chars.get(i + 1) == Some(&'|') {
                i += 1;
            }
            i += 1;
            continue;
        }
        cur.push(c);
        i += 1;
    }
    if !cur.trim().is_empty() {
        cells.push(cur);
    }
    cells
}
