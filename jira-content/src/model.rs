//! The internal document model shared by the three formats, and its normalization.
//!
//! Every format is parsed into this model, normalized (so that equal content has one
//! representation) and rendered from it. Normalization also applies the nesting rules of
//! Atlassian's ADF schema, so that the canonical Markdown is the same whichever side a value
//! went through.

/// A mark on inline content (Markdown emphasis and its Jira relatives).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Mark {
    /// A link; `href` and optional title.
    Link(String, String),
    /// Bold.
    Strong,
    /// Italic.
    Em,
    /// Strikethrough.
    Strike,
    /// Underline.
    Underline,
    /// Superscript.
    Sup,
    /// Subscript.
    Sub,
    /// A citation (wiki `??x??`; ADF has none and writes emphasis).
    Cite,
    /// Text colour `#rrggbb`.
    Color(String),
    /// Background colour `#rrggbb`.
    Bg(String),
}

/// An inline node of the tree form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Inline {
    /// Plain text.
    Text(String),
    /// Inline code (only a link mark may surround it).
    Code(String),
    /// Content carrying one mark.
    Marked(Mark, Vec<Inline>),
    /// A hard line break.
    HardBreak,
    /// A mention of a user by id, with its display text.
    Mention(String, String),
    /// An emoji by short name (without colons).
    Emoji(String),
    /// A date, `YYYY-MM-DD` (or the raw timestamp when it is not a valid one).
    Date(String),
    /// A status lozenge: text and colour.
    Status(String, String),
    /// An image: url, alt text, title. Alone in a paragraph it becomes a media block in
    /// normalization; elsewhere it stays inline (ADF, which has no inline image, writes a link).
    Image(String, String, String),
    /// An inline smart card (ADF `inlineCard`) of a URL; it carries no marks.
    Card(String),
}

/// A block node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Block {
    /// A paragraph.
    Paragraph(Vec<Inline>),
    /// A heading of level 1–6.
    Heading(u8, Vec<Inline>),
    /// A code block: language (may be empty) and text (no final newline).
    Code(String, String),
    /// A bullet list; each item is a list of blocks.
    Bullet(Vec<Vec<Block>>),
    /// An ordered list with its start number.
    Ordered(u64, Vec<Vec<Block>>),
    /// A task list.
    Tasks(Vec<Task>),
    /// A decision list (ADF only); each item is inline content.
    Decisions(Vec<Vec<Inline>>),
    /// A block quote.
    Quote(Vec<Block>),
    /// An ADF panel of a type (`info`, `note`, …).
    Panel(String, Vec<Block>),
    /// An expand (collapsible section) with a title.
    Expand(String, Vec<Block>),
    /// A horizontal rule.
    Rule,
    /// A table: rows of cells of inline content; the first row is the header row.
    Table(Vec<Vec<Vec<Inline>>>),
    /// An image or attachment: url, alt text, caption.
    Media(String, String, String),
}

/// One task of a task list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Task {
    /// Whether the task is done.
    pub done: bool,
    /// The task's text.
    pub content: Vec<Inline>,
    /// Nested tasks.
    pub children: Vec<Task>,
}

/// A leaf of the flat form of inline content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Atom {
    Text(String),
    Code(String),
    HardBreak,
    Mention(String, String),
    Emoji(String),
    Date(String),
    Status(String, String),
    Image(String, String, String),
    Card(String),
}

/// Inline content as a sequence of atoms with their marks (the shape ADF uses).
pub(crate) type Runs = Vec<(Atom, Vec<Mark>)>;

/// Flattens the tree form into runs.
pub(crate) fn flatten(inlines: &[Inline]) -> Runs {
    let mut out = Vec::new();
    flatten_into(inlines, &mut Vec::new(), &mut out);
    out
}

fn flatten_into(inlines: &[Inline], marks: &mut Vec<Mark>, out: &mut Runs) {
    for i in inlines {
        let atom = match i {
            Inline::Marked(m, children) => {
                let pushed = !marks.iter().any(|x| same_kind(x, m));
                if pushed {
                    marks.push(m.clone());
                }
                flatten_into(children, marks, out);
                if pushed {
                    marks.pop();
                }
                continue;
            }
            Inline::Text(t) => Atom::Text(t.clone()),
            Inline::Code(t) => Atom::Code(t.clone()),
            Inline::HardBreak => Atom::HardBreak,
            Inline::Mention(a, b) => Atom::Mention(a.clone(), b.clone()),
            Inline::Emoji(a) => Atom::Emoji(a.clone()),
            Inline::Date(a) => Atom::Date(a.clone()),
            Inline::Status(a, b) => Atom::Status(a.clone(), b.clone()),
            Inline::Image(a, b, c) => Atom::Image(a.clone(), b.clone(), c.clone()),
            Inline::Card(u) => Atom::Card(u.clone()),
        };
        let mut ms = marks.clone();
        ms.sort();
        out.push((atom, ms));
    }
}

fn same_kind(a: &Mark, b: &Mark) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// Whether a character counts as Markdown/CommonMark inline whitespace to trim.
fn is_ws(c: char) -> bool {
    c.is_whitespace()
}

/// Normalizes runs: splits newlines into hard breaks, applies the ADF rules on which marks an
/// atom may carry, recognizes emoji short names, trims whitespace at line edges, and merges
/// neighbours.
pub(crate) fn normalize_runs(runs: Runs) -> Runs {
    let mut v: Runs = Vec::new();
    for (atom, mut marks) in runs {
        marks.sort();
        marks.dedup_by(|a, b| same_kind(a, b));
        match atom {
            Atom::Text(t) => {
                let t = t.replace("\r\n", "\n").replace('\r', "\n");
                for (k, line) in t.split('\n').enumerate() {
                    if k > 0 {
                        v.push((Atom::HardBreak, Vec::new()));
                    }
                    for piece in split_emoji(line) {
                        v.push((piece, marks.clone()));
                    }
                }
            }
            // Marks around code, a mention or an image are kept (Markdown and wiki markup
            // carry them); the ADF writer drops those ADF cannot hold.
            Atom::Code(t) => {
                let t = t.replace("\r\n", " ").replace(['\n', '\r'], " ");
                v.push((Atom::Code(t), marks));
            }
            Atom::Mention(id, text) => v.push((Atom::Mention(id, one_line(&text)), marks)),
            // A card is marked by nothing (as in ADF).
            Atom::Card(u) => v.push((Atom::Card(one_line(&u)), Vec::new())),
            Atom::Emoji(e) => v.push((Atom::Emoji(e), marks)),
            Atom::Status(text, color) => v.push((Atom::Status(one_line(&text), color), Vec::new())),
            Atom::Image(u, a, c) => v.push((Atom::Image(u, one_line(&a), one_line(&c)), marks)),
            other => v.push((other, Vec::new())),
        }
    }
    // Trim whitespace at line starts and ends, drop empty text and leading/trailing breaks.
    let mut lines: Vec<Runs> = vec![Vec::new()];
    for r in v {
        if r.0 == Atom::HardBreak {
            lines.push(Vec::new());
        } else if let Some(l) = lines.last_mut() {
            l.push(r);
        }
    }
    for line in &mut lines {
        while let Some((Atom::Text(t), _)) = line.first_mut() {
            let s = t.trim_start_matches(is_ws).to_string();
            if s.is_empty() {
                line.remove(0);
            } else {
                *t = s;
                break;
            }
        }
        while let Some((Atom::Text(t), _)) = line.last_mut() {
            let s = t.trim_end_matches(is_ws).to_string();
            if s.is_empty() {
                line.pop();
            } else {
                *t = s;
                break;
            }
        }
        line.retain(|(a, _)| match a {
            Atom::Text(t) | Atom::Code(t) => !t.is_empty(),
            Atom::Status(t, _) => !t.is_empty(),
            _ => true,
        });
    }
    while lines.first().is_some_and(|l| l.is_empty()) {
        lines.remove(0);
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let mut out: Runs = Vec::new();
    for (k, line) in lines.into_iter().enumerate() {
        if k > 0 {
            out.push((Atom::HardBreak, Vec::new()));
        }
        for (a, m) in line {
            if let (Atom::Text(t), Some((Atom::Text(prev), pm))) = (&a, out.last_mut()) {
                if *pm == m {
                    prev.push_str(t);
                    continue;
                }
            }
            // Two code spans side by side are one: written apart, their backticks would run
            // together and read back as a different span.
            if let (Atom::Code(t), Some((Atom::Code(prev), pm))) = (&a, out.last_mut()) {
                if *pm == m {
                    prev.push_str(t);
                    continue;
                }
            }
            out.push((a, m));
        }
    }
    peel_edge_whitespace(out)
}

/// Moves whitespace at the edges of a marked span out of the span (`**a **b` is `**a** b`),
/// except in link text. Written as markup, such whitespace would not read back
/// as marked in Markdown or wiki markup.
fn peel_edge_whitespace(mut runs: Runs) -> Runs {
    let movable = |m: &Mark| !matches!(m, Mark::Link(..));
    let mut changed = true;
    while changed {
        changed = false;
        let mut i = 0;
        while i < runs.len() {
            // Link text keeps its spaces: peeled, they would make a blank link of their own.
            let (Atom::Text(t), ms) = &runs[i] else {
                i += 1;
                continue;
            };
            if ms.iter().any(|m| matches!(m, Mark::Link(..))) {
                i += 1;
                continue;
            }
            let (t, ms) = (t.clone(), ms.clone());
            let starts = |m: &Mark| i == 0 || !runs[i - 1].1.contains(m);
            let ends = |m: &Mark| i + 1 == runs.len() || !runs[i + 1].1.contains(m);
            let lead: Vec<Mark> = ms
                .iter()
                .filter(|m| movable(m) && starts(m))
                .cloned()
                .collect();
            let trail: Vec<Mark> = ms
                .iter()
                .filter(|m| movable(m) && ends(m))
                .cloned()
                .collect();
            let body = t.trim_start_matches(is_ws);
            let head_len = t.len() - body.len();
            let body = body.trim_end_matches(is_ws);
            let tail_start = head_len + body.len();
            let mut pieces: Runs = Vec::new();
            let without = |drop: &[Mark]| -> Vec<Mark> {
                ms.iter().filter(|m| !drop.contains(m)).cloned().collect()
            };
            if body.is_empty() {
                // All whitespace: none of the marks that start or end here cover it.
                let mut drop = lead.clone();
                drop.extend(trail.iter().cloned());
                if drop.is_empty() {
                    i += 1;
                    continue;
                }
                pieces.push((Atom::Text(t.clone()), without(&drop)));
            } else {
                if head_len > 0 && !lead.is_empty() {
                    pieces.push((Atom::Text(t[..head_len].to_string()), without(&lead)));
                } else if head_len > 0 {
                    pieces.push((Atom::Text(t[..head_len].to_string()), ms.clone()));
                }
                pieces.push((Atom::Text(body.to_string()), ms.clone()));
                if tail_start < t.len() {
                    let m = if trail.is_empty() {
                        ms.clone()
                    } else {
                        without(&trail)
                    };
                    pieces.push((Atom::Text(t[tail_start..].to_string()), m));
                }
                let split = (head_len > 0 && !lead.is_empty())
                    || (tail_start < t.len() && !trail.is_empty());
                if !split {
                    i += 1;
                    continue;
                }
            }
            let n = pieces.len();
            runs.splice(i..=i, pieces);
            changed = true;
            i += n;
        }
        // Merge neighbours the split made equal.
        let mut merged: Runs = Vec::new();
        for (a, m) in runs {
            if let (Atom::Text(t), Some((Atom::Text(prev), pm))) = (&a, merged.last_mut()) {
                if *pm == m {
                    prev.push_str(t);
                    continue;
                }
            }
            merged.push((a, m));
        }
        runs = merged;
    }
    runs
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Splits text into text and emoji atoms (`:short_name:`).
fn split_emoji(s: &str) -> Vec<Atom> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut buf = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == ':' && (i == 0 || !chars[i - 1].is_alphanumeric()) {
            let mut j = i + 1;
            while j < chars.len()
                && (chars[j].is_ascii_alphanumeric() || matches!(chars[j], '_' | '+' | '-'))
            {
                j += 1;
            }
            let ok_start = chars
                .get(i + 1)
                .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '+' | '-'));
            if ok_start
                && j < chars.len()
                && chars[j] == ':'
                && j > i + 1
                && chars.get(j + 1).is_none_or(|c| !c.is_alphanumeric())
            {
                if !buf.is_empty() {
                    out.push(Atom::Text(std::mem::take(&mut buf)));
                }
                out.push(Atom::Emoji(chars[i + 1..j].iter().collect()));
                i = j + 1;
                continue;
            }
        }
        buf.push(chars[i]);
        i += 1;
    }
    if !buf.is_empty() {
        out.push(Atom::Text(buf));
    }
    out
}

/// Rebuilds the tree form from runs: at each position the mark with the longest run is
/// opened first (ties broken by mark order), so one set of runs has exactly one tree.
pub(crate) fn unflatten(runs: &[(Atom, Vec<Mark>)]) -> Vec<Inline> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < runs.len() {
        let (atom, marks) = &runs[i];
        if marks.is_empty() {
            out.push(atom_to_inline(atom));
            i += 1;
            continue;
        }
        let mut best: Option<(usize, &Mark)> = None;
        for m in marks {
            let mut j = i;
            while j < runs.len() && runs[j].1.contains(m) {
                j += 1;
            }
            if best.is_none_or(|(bj, bm)| j > bj || (j == bj && m < bm)) {
                best = Some((j, m));
            }
        }
        let Some((j, m)) = best else { break };
        let inner: Runs = runs[i..j]
            .iter()
            .map(|(a, ms)| (a.clone(), ms.iter().filter(|x| *x != m).cloned().collect()))
            .collect();
        out.push(Inline::Marked(m.clone(), unflatten(&inner)));
        i = j;
    }
    out
}

fn atom_to_inline(a: &Atom) -> Inline {
    match a {
        Atom::Text(t) => Inline::Text(t.clone()),
        Atom::Code(t) => Inline::Code(t.clone()),
        Atom::HardBreak => Inline::HardBreak,
        Atom::Mention(a, b) => Inline::Mention(a.clone(), b.clone()),
        Atom::Emoji(a) => Inline::Emoji(a.clone()),
        Atom::Date(a) => Inline::Date(a.clone()),
        Atom::Status(a, b) => Inline::Status(a.clone(), b.clone()),
        Atom::Image(a, b, c) => Inline::Image(a.clone(), b.clone(), c.clone()),
        Atom::Card(u) => Inline::Card(u.clone()),
    }
}

/// Normalizes inline content (tree in, tree out).
pub(crate) fn normalize_inlines(inlines: &[Inline]) -> Vec<Inline> {
    unflatten(&normalize_runs(flatten(inlines)))
}

/// A code block's info string split into its language and title (`lang title="T"`, the
/// form Markdown fences carry and wiki markup writes `{code:title=T|lang}`).
pub(crate) fn code_info(info: &str) -> (String, String) {
    let info = info.trim();
    let (lang, rest) = match info.find(char::is_whitespace) {
        Some(p) => (&info[..p], info[p..].trim_start()),
        None => (info, ""),
    };
    let (lang, rest) = if lang.starts_with("title=") {
        ("", info)
    } else {
        (lang, rest)
    };
    let title = rest
        .strip_prefix("title=")
        .map(|t| {
            let t = t.trim();
            t.strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .unwrap_or(t)
        })
        .unwrap_or("");
    (lang.replace('`', ""), one_line(&title.replace('"', "")))
}

/// The info string of a code block of a language and title (see [`code_info`]).
pub(crate) fn code_info_string(lang: &str, title: &str) -> String {
    if title.is_empty() {
        lang.to_string()
    } else if lang.is_empty() {
        format!("title=\"{title}\"")
    } else {
        format!("{lang} title=\"{title}\"")
    }
}

/// Where a list of blocks sits, which decides what it may contain (ADF's nesting rules).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Ctx {
    /// The document.
    Doc,
    /// A list item.
    Item,
    /// A block quote.
    Quote,
    /// A panel.
    Panel,
    /// An expand.
    Expand,
}

fn allowed(ctx: Ctx, b: &Block) -> bool {
    use Block::*;
    match ctx {
        Ctx::Doc => true,
        Ctx::Item => matches!(
            b,
            Paragraph(_) | Bullet(_) | Ordered(..) | Tasks(_) | Media(..) | Code(..)
        ),
        Ctx::Quote => matches!(
            b,
            Paragraph(_) | Bullet(_) | Ordered(..) | Code(..) | Media(..)
        ),
        Ctx::Panel => matches!(
            b,
            Paragraph(_)
                | Heading(..)
                | Bullet(_)
                | Ordered(..)
                | Media(..)
                | Code(..)
                | Tasks(_)
                | Rule
                | Decisions(_)
        ),
        Ctx::Expand => !matches!(b, Expand(..)),
    }
}

/// Normalizes a list of blocks in a context.
pub(crate) fn normalize_blocks(blocks: Vec<Block>, ctx: Ctx) -> Vec<Block> {
    let mut out = Vec::new();
    for b in blocks {
        for nb in normalize_block(b) {
            if allowed(ctx, &nb) {
                out.push(nb);
            } else {
                // Re-normalize the replacement in the same context (it may still not fit).
                out.extend(normalize_blocks(demote(nb), ctx));
            }
        }
    }
    if ctx == Ctx::Item {
        out = merge_adjacent_lists(out);
    }
    out
}

/// Two lists of one kind side by side in a list item are one list: neither Markdown (whose
/// item lists cannot alternate markers) nor wiki markup can write them apart.
fn merge_adjacent_lists(blocks: Vec<Block>) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    for b in blocks {
        match (out.last_mut(), b) {
            (Some(Block::Bullet(a)), Block::Bullet(b)) => a.extend(b),
            (Some(Block::Ordered(_, a)), Block::Ordered(_, b)) => a.extend(b),
            (Some(Block::Tasks(a)), Block::Tasks(b)) => a.extend(b),
            (_, b) => out.push(b),
        }
    }
    out
}

/// What a block becomes where it is not allowed: its content, in simpler blocks.
fn demote(b: Block) -> Vec<Block> {
    match b {
        Block::Heading(_, c) => vec![Block::Paragraph(c)],
        Block::Quote(c) | Block::Panel(_, c) => c,
        Block::Expand(title, c) => {
            let mut v = vec![Block::Paragraph(vec![Inline::Marked(
                Mark::Strong,
                vec![Inline::Text(title)],
            )])];
            v.extend(c);
            v
        }
        Block::Table(rows) => rows
            .into_iter()
            .map(|row| {
                let mut p = Vec::new();
                for (k, cell) in row.into_iter().enumerate() {
                    if k > 0 {
                        p.push(Inline::Text(" | ".into()));
                    }
                    p.extend(cell);
                }
                Block::Paragraph(p)
            })
            .collect(),
        Block::Rule => Vec::new(),
        Block::Tasks(tasks) => vec![Block::Bullet(tasks_to_items(tasks))],
        Block::Decisions(items) => vec![Block::Bullet(
            items
                .into_iter()
                .map(|c| vec![Block::Paragraph(c)])
                .collect(),
        )],
        // Paragraphs, code, lists and media are allowed everywhere, so never demoted.
        other => vec![other],
    }
}

fn tasks_to_items(tasks: Vec<Task>) -> Vec<Vec<Block>> {
    tasks
        .into_iter()
        .map(|t| {
            let mut p = vec![Inline::Text(if t.done { "[x] " } else { "[ ] " }.into())];
            p.extend(t.content);
            let mut v = vec![Block::Paragraph(p)];
            if !t.children.is_empty() {
                v.push(Block::Bullet(tasks_to_items(t.children)));
            }
            v
        })
        .collect()
}

fn normalize_tasks(tasks: Vec<Task>) -> Vec<Task> {
    tasks
        .into_iter()
        .map(|t| Task {
            done: t.done,
            content: normalize_inlines(&t.content),
            children: normalize_tasks(t.children),
        })
        .collect()
}

/// Normalizes one block; may yield several (an image paragraph becomes media blocks) or none.
fn normalize_block(b: Block) -> Vec<Block> {
    match b {
        Block::Paragraph(c) => {
            let runs = flatten(&c);
            let only_images = runs.iter().any(|(a, _)| matches!(a, Atom::Image(..)))
                && runs.iter().all(|(a, m)| match a {
                    Atom::Image(..) => m.is_empty(),
                    Atom::Text(t) => t.trim().is_empty(),
                    Atom::HardBreak => true,
                    _ => false,
                });
            if only_images {
                return runs
                    .into_iter()
                    .filter_map(|(a, _)| match a {
                        Atom::Image(u, alt, cap) => {
                            Some(Block::Media(u, one_line(&alt), one_line(&cap)))
                        }
                        _ => None,
                    })
                    .collect();
            }
            let c = normalize_inlines(&c);
            if c.is_empty() {
                Vec::new()
            } else {
                vec![Block::Paragraph(c)]
            }
        }
        Block::Heading(l, c) => vec![Block::Heading(l.clamp(1, 6), normalize_inlines(&c))],
        Block::Code(info, text) => {
            let (lang, title) = code_info(&info);
            let lang = code_info_string(&lang, &title);
            // Trailing whitespace on a line is not kept (the domain's normalizer drops it).
            let text = text
                .replace("\r\n", "\n")
                .replace('\r', "\n")
                .split('\n')
                .map(str::trim_end)
                .collect::<Vec<_>>()
                .join("\n");
            vec![Block::Code(lang, text)]
        }
        Block::Bullet(items) => {
            let items = normalize_items(items, false);
            if items.is_empty() {
                Vec::new()
            } else {
                vec![Block::Bullet(items)]
            }
        }
        Block::Ordered(start, items) => {
            let items = normalize_items(items, true);
            if items.is_empty() {
                Vec::new()
            } else {
                vec![Block::Ordered(start.min(999_999_999), items)]
            }
        }
        Block::Tasks(t) => {
            let t = normalize_tasks(t);
            if t.is_empty() {
                Vec::new()
            } else {
                vec![Block::Tasks(t)]
            }
        }
        Block::Decisions(items) => {
            let items: Vec<Vec<Inline>> = items.iter().map(|i| normalize_inlines(i)).collect();
            if items.is_empty() {
                Vec::new()
            } else {
                vec![Block::Decisions(items)]
            }
        }
        Block::Quote(c) => {
            let c = normalize_blocks(c, Ctx::Quote);
            if c.is_empty() {
                Vec::new()
            } else {
                vec![Block::Quote(c)]
            }
        }
        Block::Panel(kind, c) => {
            let kind = match kind.as_str() {
                "info" | "note" | "tip" | "warning" | "error" | "success" | "custom" => kind,
                _ => "info".to_string(),
            };
            let c = normalize_blocks(c, Ctx::Panel);
            if c.is_empty() {
                Vec::new()
            } else {
                vec![Block::Panel(kind, c)]
            }
        }
        Block::Expand(title, c) => {
            let c = normalize_blocks(c, Ctx::Expand);
            let title = one_line(&title);
            if c.is_empty() {
                if title.is_empty() {
                    return Vec::new();
                }
                return vec![Block::Paragraph(normalize_inlines(&[Inline::Marked(
                    Mark::Strong,
                    vec![Inline::Text(title)],
                )]))];
            }
            vec![Block::Expand(title, c)]
        }
        Block::Rule => vec![Block::Rule],
        Block::Table(rows) => {
            let width = rows.iter().map(Vec::len).max().unwrap_or(0).max(1);
            let mut rows: Vec<Vec<Vec<Inline>>> = rows
                .into_iter()
                .map(|r| {
                    let mut r: Vec<Vec<Inline>> = r.iter().map(|c| normalize_inlines(c)).collect();
                    r.resize(width, Vec::new());
                    r
                })
                .collect();
            if rows.is_empty() {
                rows.push(vec![Vec::new(); width]);
            }
            vec![Block::Table(rows)]
        }
        Block::Media(u, a, c) => vec![Block::Media(u, one_line(&a), one_line(&c))],
    }
}

fn normalize_items(items: Vec<Vec<Block>>, ordered: bool) -> Vec<Vec<Block>> {
    // An empty bullet item is kept (ADF writes it with an empty paragraph). An empty numbered
    // item cannot be written so that Markdown reads it back as an item (comrak reads a lone
    // `2.` as text): it is dropped. A list of only empty items is no list.
    let items: Vec<Vec<Block>> = items
        .into_iter()
        .map(|i| normalize_blocks(i, Ctx::Item))
        .filter(|i| !(ordered && i.is_empty()))
        .collect();
    if items.iter().all(Vec::is_empty) {
        Vec::new()
    } else {
        items
    }
}

/// Normalizes a whole document.
pub(crate) fn normalize_doc(blocks: Vec<Block>) -> Vec<Block> {
    normalize_blocks(blocks, Ctx::Doc)
}
