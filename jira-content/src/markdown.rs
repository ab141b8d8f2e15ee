//! Markdown ⇄ model: parsing with comrak (CommonMark + GFM) and rendering in our one style.

use comrak::nodes::{AstNode, ListType, NodeValue};
use comrak::{parse_document, Arena, Options};

use super::model::{Block, Inline, Mark, Task};

fn options() -> Options<'static> {
    let mut o = Options::default();
    o.extension.strikethrough = true;
    o.extension.table = true;
    o.extension.tasklist = true;
    o.extension.autolink = false;
    o
}

/// Parses Markdown into the (not yet normalized) model.
pub(crate) fn parse(md: &str) -> Vec<Block> {
    let arena = Arena::new();
    let root = parse_document(&arena, md, &options());
    blocks_of(root)
}

/// An opening or closing HTML tag: name, attributes, closing?, self-closing?
#[derive(Debug)]
struct Tag {
    name: String,
    attrs: Vec<(String, String)>,
    close: bool,
}

impl Tag {
    fn attr(&self, k: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses one tag like `<div data-panel="info">` or `</div>` (the whole string, trimmed).
fn parse_tag(s: &str) -> Option<Tag> {
    let s = s.trim();
    let inner = s.strip_prefix('<')?.strip_suffix('>')?;
    let inner = inner.strip_suffix('/').unwrap_or(inner);
    let (close, inner) = match inner.strip_prefix('/') {
        Some(r) => (true, r),
        None => (false, inner),
    };
    let name_end = inner
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .unwrap_or(inner.len());
    let name = inner[..name_end].to_ascii_lowercase();
    if name.is_empty() {
        return None;
    }
    let mut rest = inner[name_end..].trim_start();
    let mut attrs = Vec::new();
    while !rest.is_empty() {
        let eq = rest.find('=')?;
        let key = rest[..eq].trim().to_ascii_lowercase();
        let after = rest[eq + 1..].trim_start();
        let after = after.strip_prefix('"')?;
        let end = after.find('"')?;
        attrs.push((key, unescape_html(&after[..end])));
        rest = after[end + 1..].trim_start();
    }
    Some(Tag { name, attrs, close })
}

fn unescape_html(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Escapes text for an HTML attribute value or element text.
pub(crate) fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A container tag we recognize in an HTML block.
enum Container {
    Panel(String),
    Expand(String),
    Decisions,
}

fn container_open(html: &str) -> Option<Container> {
    let t = html.trim();
    if let Some(rest) = t.strip_prefix("<details><summary>") {
        let title = rest.strip_suffix("</summary>")?;
        if title.contains('<') {
            return None;
        }
        return Some(Container::Expand(unescape_html(title)));
    }
    let tag = parse_tag(t)?;
    if tag.close || tag.name != "div" {
        return None;
    }
    if let Some(p) = tag.attr("data-panel") {
        return Some(Container::Panel(p.to_string()));
    }
    if tag.attr("data-decisions").is_some() {
        return Some(Container::Decisions);
    }
    None
}

fn container_close_name(html: &str) -> Option<&'static str> {
    match html.trim() {
        "</div>" => Some("div"),
        "</details>" => Some("details"),
        _ => None,
    }
}

fn html_block<'a>(n: &'a AstNode<'a>) -> Option<String> {
    match &n.data.borrow().value {
        NodeValue::HtmlBlock(h) => Some(h.literal.clone()),
        _ => None,
    }
}

fn blocks_of<'a>(parent: &'a AstNode<'a>) -> Vec<Block> {
    let nodes: Vec<&'a AstNode<'a>> = parent.children().collect();
    blocks_of_slice(&nodes)
}

fn blocks_of_slice<'a>(nodes: &[&'a AstNode<'a>]) -> Vec<Block> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < nodes.len() {
        if let Some(html) = html_block(nodes[i]) {
            if let Some(c) = container_open(&html) {
                let want = match c {
                    Container::Expand(_) => "details",
                    _ => "div",
                };
                // Find the matching close at this level.
                let mut depth = 0usize;
                let mut end = None;
                for (j, n) in nodes.iter().enumerate().skip(i + 1) {
                    if let Some(h) = html_block(n) {
                        if let Some(o) = container_open(&h) {
                            let name = match o {
                                Container::Expand(_) => "details",
                                _ => "div",
                            };
                            if name == want {
                                depth += 1;
                            }
                        } else if container_close_name(&h) == Some(want) {
                            if depth == 0 {
                                end = Some(j);
                                break;
                            }
                            depth -= 1;
                        }
                    }
                }
                if let Some(j) = end {
                    let inner = blocks_of_slice(&nodes[i + 1..j]);
                    out.push(match c {
                        Container::Panel(k) => Block::Panel(k, inner),
                        Container::Expand(t) => Block::Expand(t, inner),
                        Container::Decisions => Block::Decisions(
                            inner
                                .into_iter()
                                .flat_map(|b| match b {
                                    Block::Bullet(items) => {
                                        items.into_iter().map(item_inlines).collect::<Vec<_>>()
                                    }
                                    Block::Paragraph(p) => vec![p],
                                    other => vec![item_inlines(vec![other])],
                                })
                                .collect(),
                        ),
                    });
                    i = j + 1;
                    continue;
                }
            }
            out.push(Block::Paragraph(vec![Inline::Text(
                html.trim_end_matches('\n').to_string(),
            )]));
            i += 1;
            continue;
        }
        out.extend(block(nodes[i]));
        i += 1;
    }
    out
}

/// The inline content of a list item's blocks (for items that can only hold inline content).
fn item_inlines(blocks: Vec<Block>) -> Vec<Inline> {
    let mut out = Vec::new();
    for b in blocks {
        let c = match b {
            Block::Paragraph(c) | Block::Heading(_, c) => c,
            Block::Code(_, t) => vec![Inline::Code(t)],
            Block::Bullet(items) | Block::Ordered(_, items) => {
                items.into_iter().flat_map(item_inlines).collect()
            }
            Block::Media(u, a, _) => vec![Inline::Image(u, a, String::new())],
            other => super::plain_blocks(&[other]),
        };
        if !out.is_empty() && !c.is_empty() {
            out.push(Inline::HardBreak);
        }
        out.extend(c);
    }
    out
}

fn block<'a>(n: &'a AstNode<'a>) -> Vec<Block> {
    let value = n.data.borrow().value.clone();
    match value {
        NodeValue::Paragraph => vec![Block::Paragraph(inlines_of(n))],
        NodeValue::Heading(h) => vec![Block::Heading(h.level, inlines_of(n))],
        NodeValue::CodeBlock(cb) => {
            let text = cb.literal.strip_suffix('\n').unwrap_or(&cb.literal);
            vec![Block::Code(cb.info.clone(), text.to_string())]
        }
        NodeValue::ThematicBreak => vec![Block::Rule],
        NodeValue::BlockQuote | NodeValue::MultilineBlockQuote(_) | NodeValue::Alert(_) => {
            vec![Block::Quote(blocks_of(n))]
        }
        NodeValue::List(l) => {
            let items: Vec<&'a AstNode<'a>> = n.children().collect();
            let is_task = items
                .iter()
                .any(|i| matches!(i.data.borrow().value, NodeValue::TaskItem(_)));
            if is_task {
                return vec![Block::Tasks(tasks_of(n))];
            }
            let items: Vec<Vec<Block>> = items.iter().map(|i| blocks_of(i)).collect();
            match l.list_type {
                ListType::Bullet => vec![Block::Bullet(items)],
                ListType::Ordered => vec![Block::Ordered(l.start as u64, items)],
            }
        }
        NodeValue::Table(_) => {
            let rows = n
                .children()
                .map(|row| row.children().map(|cell| inlines_of(cell)).collect())
                .collect();
            vec![Block::Table(rows)]
        }
        NodeValue::HtmlBlock(h) => vec![Block::Paragraph(vec![Inline::Text(
            h.literal.trim_end_matches('\n').to_string(),
        )])],
        NodeValue::FrontMatter(s) => vec![Block::Paragraph(vec![Inline::Text(s)])],
        _ => {
            // Anything else that holds blocks: keep its content.
            let inner = blocks_of(n);
            if inner.is_empty() {
                vec![Block::Paragraph(inlines_of(n))]
            } else {
                inner
            }
        }
    }
}

fn tasks_of<'a>(list: &'a AstNode<'a>) -> Vec<Task> {
    list.children()
        .map(|item| {
            let done = match &item.data.borrow().value {
                NodeValue::TaskItem(t) => t.symbol.is_some(),
                _ => false,
            };
            let mut content = Vec::new();
            let mut children = Vec::new();
            let mut other = Vec::new();
            for b in blocks_of(item) {
                match b {
                    Block::Tasks(t) => children.extend(t),
                    Block::Bullet(items) | Block::Ordered(_, items) => {
                        children.extend(items.into_iter().map(|i| Task {
                            done: false,
                            content: item_inlines(i),
                            children: Vec::new(),
                        }))
                    }
                    b => other.push(b),
                }
            }
            content.extend(item_inlines(other));
            Task {
                done,
                content,
                children,
            }
        })
        .collect()
}

fn inlines_of<'a>(parent: &'a AstNode<'a>) -> Vec<Inline> {
    let nodes: Vec<&'a AstNode<'a>> = parent.children().collect();
    inlines_of_slice(&nodes)
}

fn html_inline<'a>(n: &'a AstNode<'a>) -> Option<String> {
    match &n.data.borrow().value {
        NodeValue::HtmlInline(h) => Some(h.clone()),
        _ => None,
    }
}

/// What an inline open tag stands for.
enum Span {
    Mark(Mark),
    Status(String),
    Date,
    Card,
}

fn span_open(h: &str) -> Option<(String, Span)> {
    let tag = parse_tag(h)?;
    if tag.close {
        return None;
    }
    let span = match tag.name.as_str() {
        "strong" | "b" if tag.attrs.is_empty() => Span::Mark(Mark::Strong),
        "em" | "i" if tag.attrs.is_empty() => Span::Mark(Mark::Em),
        "del" | "s" if tag.attrs.is_empty() => Span::Mark(Mark::Strike),
        "ins" | "u" if tag.attrs.is_empty() => Span::Mark(Mark::Underline),
        "sup" if tag.attrs.is_empty() => Span::Mark(Mark::Sup),
        "sub" if tag.attrs.is_empty() => Span::Mark(Mark::Sub),
        "cite" if tag.attrs.is_empty() => Span::Mark(Mark::Cite),
        "card" if tag.attrs.is_empty() => Span::Card,
        "span" => {
            let style: String = tag
                .attr("style")?
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            let style = style.trim_end_matches(';');
            if let Some(c) = style.strip_prefix("background-color:") {
                Span::Mark(Mark::Bg(valid_color(c)?))
            } else if let Some(c) = style.strip_prefix("color:") {
                Span::Mark(Mark::Color(valid_color(c)?))
            } else {
                return None;
            }
        }
        "status" => Span::Status(tag.attr("color").unwrap_or("neutral").to_string()),
        "time" if tag.attrs.is_empty() => Span::Date,
        _ => return None,
    };
    Some((tag.name, span))
}

fn valid_color(c: &str) -> Option<String> {
    let hex = c.strip_prefix('#')?;
    (hex.len() == 6 && hex.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| format!("#{}", hex.to_ascii_lowercase()))
}

fn is_br(h: &str) -> bool {
    matches!(
        parse_tag(h),
        Some(Tag { ref name, close: false, .. }) if name == "br"
    )
}

fn inlines_of_slice<'a>(nodes: &[&'a AstNode<'a>]) -> Vec<Inline> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < nodes.len() {
        if let Some(h) = html_inline(nodes[i]) {
            if is_br(&h) {
                out.push(Inline::HardBreak);
                i += 1;
                continue;
            }
            if let Some((name, span)) = span_open(&h) {
                let mut depth = 0usize;
                let mut end = None;
                for (j, n) in nodes.iter().enumerate().skip(i + 1) {
                    if let Some(h2) = html_inline(n) {
                        match parse_tag(&h2) {
                            Some(t) if t.name == name && !t.close => depth += 1,
                            Some(t) if t.name == name && t.close => {
                                if depth == 0 {
                                    end = Some(j);
                                    break;
                                }
                                depth -= 1;
                            }
                            _ => {}
                        }
                    }
                }
                if let Some(j) = end {
                    let inner = inlines_of_slice(&nodes[i + 1..j]);
                    out.push(match span {
                        Span::Mark(m) => Inline::Marked(m, inner),
                        Span::Status(color) => Inline::Status(super::plain_text(&inner), color),
                        Span::Date => Inline::Date(super::plain_text(&inner)),
                        Span::Card => Inline::Card(super::plain_text(&inner)),
                    });
                    i = j + 1;
                    continue;
                }
            }
            out.push(Inline::Text(h));
            i += 1;
            continue;
        }
        out.extend(inline(nodes[i]));
        i += 1;
    }
    out
}

fn inline<'a>(n: &'a AstNode<'a>) -> Vec<Inline> {
    let value = n.data.borrow().value.clone();
    match value {
        NodeValue::Text(t) => vec![Inline::Text(t.to_string())],
        NodeValue::SoftBreak => vec![Inline::Text(" ".into())],
        NodeValue::LineBreak => vec![Inline::HardBreak],
        NodeValue::Code(c) => vec![Inline::Code(c.literal)],
        NodeValue::Emph => vec![Inline::Marked(Mark::Em, inlines_of(n))],
        NodeValue::Strong => vec![Inline::Marked(Mark::Strong, inlines_of(n))],
        NodeValue::Strikethrough => vec![Inline::Marked(Mark::Strike, inlines_of(n))],
        NodeValue::Underline | NodeValue::Insert => {
            vec![Inline::Marked(Mark::Underline, inlines_of(n))]
        }
        NodeValue::Superscript => vec![Inline::Marked(Mark::Sup, inlines_of(n))],
        NodeValue::Subscript => vec![Inline::Marked(Mark::Sub, inlines_of(n))],
        NodeValue::Link(l) => {
            if let Some(id) = l.url.strip_prefix("mention:") {
                let inner = inlines_of(n);
                return vec![Inline::Mention(id.to_string(), super::plain_text(&inner))];
            }
            vec![Inline::Marked(
                Mark::Link(l.url.clone(), l.title.clone()),
                inlines_of(n),
            )]
        }
        NodeValue::Image(l) => {
            let alt = super::plain_text(&inlines_of(n));
            vec![Inline::Image(l.url.clone(), alt, l.title.clone())]
        }
        NodeValue::HtmlInline(h) => vec![Inline::Text(h)],
        _ => inlines_of(n),
    }
}

// ---------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------

/// Renders a normalized document as canonical Markdown.
pub(crate) fn render(blocks: &[Block]) -> String {
    let s = render_blocks(blocks);
    s.trim_matches('\n').to_string()
}

fn render_blocks(blocks: &[Block]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut prev_list: Option<(u8, bool)> = None; // (kind, alt marker used)
    for b in blocks {
        let (kind, s) = match b {
            Block::Bullet(items) => {
                let alt = prev_list.is_some_and(|(k, a)| k == 1 && !a);
                (1, render_list(items, if alt { "*" } else { "-" }, None))
            }
            Block::Tasks(tasks) => {
                let alt = prev_list.is_some_and(|(k, a)| k == 1 && !a);
                (1, render_tasks(tasks, if alt { "*" } else { "-" }))
            }
            Block::Ordered(start, items) => {
                let alt = prev_list.is_some_and(|(k, a)| k == 2 && !a);
                (
                    2,
                    render_list(items, if alt { ")" } else { "." }, Some(*start)),
                )
            }
            Block::Code(..) if prev_list.is_some() => (0, render_block(b)),
            _ => (0, render_block(b)),
        };
        prev_list = if kind == 0 {
            None
        } else {
            let alt = prev_list.is_some_and(|(k, a)| k == kind && !a);
            Some((kind, alt))
        };
        parts.push(s);
    }
    parts.join("\n\n")
}

fn indent(s: &str, first: &str, rest: &str) -> String {
    let mut out = String::new();
    for (k, line) in s.split('\n').enumerate() {
        if k > 0 {
            out.push('\n');
        }
        let prefix = if k == 0 { first } else { rest };
        if line.is_empty() {
            out.push_str(prefix.trim_end());
        } else {
            out.push_str(prefix);
            out.push_str(line);
        }
    }
    out
}

fn render_item(body: &[Block], marker: &str) -> String {
    // A paragraph followed by a list stays tight; other blocks are separated by blank lines.
    let mut s = String::new();
    for (k, b) in body.iter().enumerate() {
        let r = render_blocks(std::slice::from_ref(b));
        if k > 0 {
            // Only a list that can interrupt a paragraph (non-empty first item, ordered
            // starting at 1) may follow it without a blank line.
            let can_interrupt = match b {
                Block::Bullet(items) => items.first().is_some_and(|i| !i.is_empty()),
                Block::Ordered(start, items) => {
                    *start == 1 && items.first().is_some_and(|i| !i.is_empty())
                }
                Block::Tasks(_) => true,
                _ => false,
            };
            let tight = matches!(body[k - 1], Block::Paragraph(_)) && can_interrupt && k == 1;
            s.push_str(if tight { "\n" } else { "\n\n" });
        }
        s.push_str(&r);
    }
    let pad = " ".repeat(marker.chars().count() + 1);
    if s.is_empty() {
        return marker.to_string();
    }
    // An item starting with a code block or list needs its first line on the marker line.
    indent(&s, &format!("{marker} "), &pad)
}

fn render_list(items: &[Vec<Block>], delim: &str, start: Option<u64>) -> String {
    let mut out = Vec::new();
    for (k, item) in items.iter().enumerate() {
        let marker = match start {
            Some(s) => format!("{}{delim}", s + k as u64),
            None => delim.to_string(),
        };
        out.push(render_item(item, &marker));
    }
    // An empty item right after an item's text would be read as that text's continuation:
    // a blank line goes between.
    let loose = items.iter().skip(1).any(Vec::is_empty)
        || items.iter().any(|i| {
            i.len() > 1
                && !(i.len() == 2
                    && matches!(i[0], Block::Paragraph(_))
                    && matches!(
                        i[1],
                        Block::Bullet(_) | Block::Ordered(..) | Block::Tasks(_)
                    ))
        });
    out.join(if loose { "\n\n" } else { "\n" })
}

fn render_tasks(tasks: &[Task], marker: &str) -> String {
    let mut out = Vec::new();
    for t in tasks {
        let check = if t.done { "[x]" } else { "[ ]" };
        let text = render_inlines(&t.content, Ctx::new(false));
        let mut s = if text.is_empty() {
            format!("{marker} {check}")
        } else {
            format!("{marker} {check} {text}")
        };
        let pad = " ".repeat(marker.len() + 1);
        s = indent(&s, "", &pad);
        if !t.children.is_empty() {
            s.push('\n');
            s.push_str(&indent(&render_tasks(&t.children, "-"), &pad, &pad));
        }
        out.push(s);
    }
    out.join("\n")
}

fn render_block(b: &Block) -> String {
    match b {
        Block::Paragraph(c) => render_inlines(c, Ctx::new(true)),
        Block::Heading(l, c) => {
            let mut ctx = Ctx::new(false);
            ctx.heading = true;
            let t = render_inlines(c, ctx);
            let hashes = "#".repeat(*l as usize);
            if t.is_empty() {
                hashes
            } else {
                format!("{hashes} {t}")
            }
        }
        Block::Code(lang, text) => {
            let longest = max_run(text, '`');
            let (ch, n) = if lang.contains('`') {
                ('~', max_run(text, '~').max(2) + 1)
            } else {
                ('`', longest.max(2) + 1)
            };
            let fence: String = std::iter::repeat_n(ch, n).collect();
            // An info string takes backslash escapes and entity references: a backslash or
            // an ampersand of the language is written escaped, so it reads back as itself.
            let lang = lang.replace('\\', "\\\\").replace('&', "\\&");
            if text.is_empty() {
                format!("{fence}{lang}\n{fence}")
            } else {
                format!("{fence}{lang}\n{text}\n{fence}")
            }
        }
        Block::Bullet(items) => render_list(items, "-", None),
        Block::Ordered(start, items) => render_list(items, ".", Some(*start)),
        Block::Tasks(t) => render_tasks(t, "-"),
        Block::Decisions(items) => {
            let list: Vec<Vec<Block>> = items
                .iter()
                .map(|i| vec![Block::Paragraph(i.clone())])
                .collect();
            format!(
                "<div data-decisions=\"\">\n\n{}\n\n</div>",
                render_list(&list, "-", None)
            )
        }
        Block::Quote(c) => indent(&render_blocks(c), "> ", "> "),
        Block::Panel(kind, c) => format!(
            "<div data-panel=\"{}\">\n\n{}\n\n</div>",
            escape_html(kind),
            render_blocks(c)
        ),
        Block::Expand(title, c) => format!(
            "<details><summary>{}</summary>\n\n{}\n\n</details>",
            escape_html(title),
            render_blocks(c)
        ),
        Block::Rule => "---".to_string(),
        Block::Table(rows) => {
            let mut out = Vec::new();
            let mut ctx = Ctx::new(false);
            ctx.table = true;
            for (k, row) in rows.iter().enumerate() {
                let cells: Vec<String> = row
                    .iter()
                    .map(|c| {
                        let t = render_inlines(c, ctx);
                        if t.is_empty() {
                            " ".to_string()
                        } else {
                            format!(" {t} ")
                        }
                    })
                    .collect();
                out.push(format!("|{}|", cells.join("|")));
                if k == 0 {
                    out.push(format!("|{}|", vec![" --- "; row.len()].join("|")));
                }
            }
            out.join("\n")
        }
        Block::Media(url, alt, caption) => {
            let mut s = format!("![{}]({}", escape_text(alt, false, false), link_dest(url));
            if !caption.is_empty() {
                s.push_str(&format!(" \"{}\"", escape_title(caption)));
            }
            s.push(')');
            s
        }
    }
}

fn max_run(s: &str, ch: char) -> usize {
    let mut best = 0;
    let mut cur = 0;
    for c in s.chars() {
        if c == ch {
            cur += 1;
            best = best.max(cur);
        } else {
            cur = 0;
        }
    }
    best
}

#[derive(Clone, Copy)]
struct Ctx {
    line_start: bool,
    heading: bool,
    table: bool,
}

impl Ctx {
    fn new(line_start: bool) -> Self {
        Ctx {
            line_start,
            heading: false,
            table: false,
        }
    }
}

fn is_punct(c: char) -> bool {
    c.is_ascii_punctuation() || (!c.is_alphanumeric() && !c.is_whitespace() && !c.is_ascii())
}

/// Escapes text so comrak reads it back as the same text.
fn escape_text(s: &str, line_start: bool, heading: bool) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let at_start = line_start && i == 0;
        let prev = if i == 0 { None } else { Some(chars[i - 1]) };
        let next = chars.get(i + 1).copied();
        let esc = match c {
            '\\' | '`' | '*' | '[' | ']' | '<' | '~' | '|' => true,
            '_' => {
                !(prev.is_some_and(char::is_alphanumeric)
                    && next.is_some_and(char::is_alphanumeric))
            }
            '&' => next.is_some_and(|n| n.is_ascii_alphanumeric() || n == '#'),
            // At the end of the text, a link may follow.
            '!' => next.is_none_or(|n| n == '['),
            '#' => at_start || heading,
            '>' | '-' | '+' | '=' => at_start,
            '.' | ')' => {
                line_start && chars[..i].iter().all(char::is_ascii_digit) && i > 0 && i < 10
            }
            _ => false,
        };
        if esc {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn escape_title(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        // `|` too: in a table cell it would end the cell.
        if c == '"' || c == '\\' || c == '|' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn link_dest(url: &str) -> String {
    let mut out = String::new();
    let angle =
        url.is_empty() || url.contains([' ', '(', ')']) || url.chars().any(char::is_control);
    for c in url.chars() {
        match c {
            '<' => out.push_str("%3C"),
            '>' => out.push_str("%3E"),
            '\n' | '\r' => out.push_str("%0A"),
            // `|` too: in a table cell it would end the cell.
            '\\' | '&' | '|' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    if angle {
        format!("<{out}>")
    } else {
        out
    }
}

fn code_span(t: &str, table: bool) -> String {
    let n = max_run(t, '`') + 1;
    let ticks = "`".repeat(n);
    let t = if table {
        t.replace('|', "\\|")
    } else {
        t.to_string()
    };
    let pad = t.starts_with('`')
        || t.ends_with('`')
        || (t.starts_with(' ') && t.ends_with(' ') && !t.chars().all(|c| c == ' '));
    if pad {
        format!("{ticks} {t} {ticks}")
    } else {
        format!("{ticks}{t}{ticks}")
    }
}

/// One rendered inline piece, with whether it starts/ends with a Markdown delimiter char.
fn render_inlines(inl: &[Inline], ctx: Ctx) -> String {
    let mut out = String::new();
    let pieces: Vec<Option<String>> = inl
        .iter()
        .map(|i| match i {
            Inline::Marked(..) => None,
            other => Some(render_leaf(other, ctx, false)),
        })
        .collect();
    for (k, i) in inl.iter().enumerate() {
        let at_line_start = (out.is_empty() && ctx.line_start) || out.ends_with('\n');
        match i {
            Inline::Marked(m, children) => {
                let prev = out.chars().last();
                let next = match pieces.get(k + 1) {
                    Some(Some(s)) => s.chars().next(),
                    Some(None) => Some('*'),
                    None => None,
                };
                let mut inner_ctx = ctx;
                inner_ctx.line_start = false;
                out.push_str(&render_marked(m, children, inner_ctx, prev, next));
            }
            other => out.push_str(&render_leaf(other, ctx, at_line_start)),
        }
    }
    out
}

fn render_leaf(i: &Inline, ctx: Ctx, line_start: bool) -> String {
    match i {
        Inline::Text(t) => escape_text(t, line_start, ctx.heading),
        Inline::Code(t) => code_span(t, ctx.table),
        Inline::HardBreak => {
            if ctx.heading || ctx.table {
                "<br>".into()
            } else {
                "\\\n".into()
            }
        }
        Inline::Mention(id, text) => {
            let text = if text.is_empty() {
                format!("@{id}")
            } else {
                text.clone()
            };
            format!(
                "[{}]({})",
                escape_text(&text, false, ctx.heading),
                link_dest(&format!("mention:{id}"))
            )
        }
        Inline::Emoji(e) => format!(":{e}:"),
        Inline::Date(d) => format!("<time>{}</time>", escape_html(d)),
        Inline::Status(t, c) => format!(
            "<status color=\"{}\">{}</status>",
            escape_html(c),
            escape_html(t)
        ),
        Inline::Image(u, a, title) => {
            let mut s = format!("![{}]({}", escape_text(a, false, false), link_dest(u));
            if !title.is_empty() {
                s.push_str(&format!(" \"{}\"", escape_title(title)));
            }
            s.push(')');
            s
        }
        Inline::Card(u) => format!("<card>{}</card>", escape_text(u, false, false)),
        Inline::Marked(..) => String::new(),
    }
}

fn render_marked(
    m: &Mark,
    children: &[Inline],
    ctx: Ctx,
    prev: Option<char>,
    next: Option<char>,
) -> String {
    let inner = render_inlines(children, ctx);
    let delim = match m {
        Mark::Strong => Some("**"),
        Mark::Em => Some("*"),
        Mark::Strike => Some("~~"),
        _ => None,
    };
    if let Some(d) = delim {
        let first = inner.chars().next();
        let last = inner.chars().last();
        let bad = |c: Option<char>| c.is_some_and(|c| matches!(c, '*' | '~' | '_'));
        // `***x***` is fine when the inner emphasis covers the whole content.
        let whole_star = d != "~~"
            && matches!(children, [Inline::Marked(Mark::Strong | Mark::Em, _)])
            && inner.starts_with('*')
            && inner.ends_with('*');
        let ok = match (first, last) {
            (Some(f), Some(l)) => {
                !f.is_whitespace()
                    && !l.is_whitespace()
                    && (whole_star || (!bad(first) && !bad(last)))
                    && !bad(prev)
                    && !bad(next)
                    && !inner.ends_with('\\')
                    // left-flanking opener
                    && (!is_punct(f) || prev.is_none_or(|p| p.is_whitespace() || is_punct(p)))
                    // right-flanking closer
                    && (!is_punct(l) || next.is_none_or(|n| n.is_whitespace() || is_punct(n)))
            }
            _ => false,
        };
        if ok {
            return format!("{d}{inner}{d}");
        }
    }
    match m {
        Mark::Strong => format!("<strong>{inner}</strong>"),
        Mark::Em => format!("<em>{inner}</em>"),
        Mark::Strike => format!("<del>{inner}</del>"),
        Mark::Underline => format!("<ins>{inner}</ins>"),
        Mark::Sup => format!("<sup>{inner}</sup>"),
        Mark::Sub => format!("<sub>{inner}</sub>"),
        Mark::Cite => format!("<cite>{inner}</cite>"),
        Mark::Color(c) => format!("<span style=\"color: {c}\">{inner}</span>"),
        Mark::Bg(c) => format!("<span style=\"background-color: {c}\">{inner}</span>"),
        Mark::Link(href, title) => {
            let plain = super::plain_text(children);
            let simple = title.is_empty()
                && children == [Inline::Text(href.clone())]
                && plain == *href
                && href.contains("://")
                && !href.chars().any(|c| {
                    c.is_whitespace()
                        || c == '<'
                        || c == '>'
                        || c == '\\'
                        || c == '&'
                        || c == '`'
                        || c == '|'
                })
                && !ctx.table;
            if simple {
                return format!("<{href}>");
            }
            let mut s = format!("[{inner}]({}", link_dest(href));
            if !title.is_empty() {
                s.push_str(&format!(" \"{}\"", escape_title(title)));
            }
            s.push(')');
            s
        }
    }
}
