//! ADF (Atlassian Document Format, Jira Cloud REST v3) ⇄ model.

use serde_json::{json, Map, Value};

use super::model::{flatten, Atom, Block, Inline, Mark, Task};
use super::ContentError;

/// Reads an ADF document into the (not yet normalized) model.
pub(crate) fn parse(adf: &Value) -> Result<Vec<Block>, ContentError> {
    let obj = adf.as_object().ok_or(ContentError::NotAnObject)?;
    match obj.get("type").and_then(Value::as_str) {
        Some("doc") => {}
        Some(other) => return Err(ContentError::NotADoc(other.to_string())),
        None => return Err(ContentError::NotADoc("no type".to_string())),
    }
    match obj.get("content") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(c)) => Ok(blocks(c)),
        Some(_) => Err(ContentError::BadContent),
    }
}

fn kind(v: &Value) -> &str {
    v.get("type").and_then(Value::as_str).unwrap_or("")
}

fn attr<'a>(v: &'a Value, k: &str) -> Option<&'a Value> {
    v.get("attrs").and_then(|a| a.get(k))
}

fn attr_str(v: &Value, k: &str) -> String {
    match attr(v, k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn content(v: &Value) -> &[Value] {
    v.get("content")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

const INLINE_TYPES: &[&str] = &[
    "text",
    "hardBreak",
    "mention",
    "emoji",
    "date",
    "status",
    "inlineCard",
    "mediaInline",
    "placeholder",
    "inlineExtension",
];

fn blocks(nodes: &[Value]) -> Vec<Block> {
    let mut out = Vec::new();
    let mut pending_inline: Vec<Inline> = Vec::new();
    for n in nodes {
        if INLINE_TYPES.contains(&kind(n)) {
            pending_inline.extend(inline(n));
            continue;
        }
        if !pending_inline.is_empty() {
            out.push(Block::Paragraph(std::mem::take(&mut pending_inline)));
        }
        out.extend(block(n));
    }
    if !pending_inline.is_empty() {
        out.push(Block::Paragraph(pending_inline));
    }
    out
}

fn list_items(n: &Value) -> Vec<Vec<Block>> {
    content(n)
        .iter()
        .map(|item| {
            if kind(item) == "listItem" {
                blocks(content(item))
            } else {
                blocks(std::slice::from_ref(item))
            }
        })
        .collect()
}

fn tasks(n: &Value) -> Vec<Task> {
    let mut out: Vec<Task> = Vec::new();
    for item in content(n) {
        match kind(item) {
            "taskList" => {
                let sub = tasks(item);
                match out.last_mut() {
                    Some(t) => t.children.extend(sub),
                    None => out.push(Task {
                        done: false,
                        content: Vec::new(),
                        children: sub,
                    }),
                }
            }
            _ => {
                let done = attr_str(item, "state") == "DONE";
                let c = content(item);
                let content = if c.iter().all(|x| INLINE_TYPES.contains(&kind(x))) {
                    inlines(c)
                } else {
                    super::plain_blocks(&blocks(c))
                };
                out.push(Task {
                    done,
                    content,
                    children: Vec::new(),
                });
            }
        }
    }
    out
}

fn block(n: &Value) -> Vec<Block> {
    match kind(n) {
        "paragraph" => vec![Block::Paragraph(inlines(content(n)))],
        "heading" => {
            let level = attr(n, "level").and_then(Value::as_u64).unwrap_or(1);
            vec![Block::Heading(level.clamp(1, 6) as u8, inlines(content(n)))]
        }
        "codeBlock" => {
            let text: String = content(n)
                .iter()
                .filter_map(|t| t.get("text").and_then(Value::as_str))
                .collect();
            vec![Block::Code(attr_str(n, "language"), text)]
        }
        "bulletList" => vec![Block::Bullet(list_items(n))],
        "orderedList" => {
            let start = attr(n, "order").and_then(Value::as_u64).unwrap_or(1);
            vec![Block::Ordered(start, list_items(n))]
        }
        "taskList" => vec![Block::Tasks(tasks(n))],
        "decisionList" => vec![Block::Decisions(
            content(n).iter().map(|i| inlines(content(i))).collect(),
        )],
        "blockquote" => vec![Block::Quote(blocks(content(n)))],
        "panel" => vec![Block::Panel(attr_str(n, "panelType"), blocks(content(n)))],
        "expand" | "nestedExpand" => {
            vec![Block::Expand(attr_str(n, "title"), blocks(content(n)))]
        }
        "rule" => vec![Block::Rule],
        "table" => {
            let rows = content(n)
                .iter()
                .map(|row| {
                    content(row)
                        .iter()
                        .map(|cell| super::plain_blocks(&blocks(content(cell))))
                        .collect()
                })
                .collect();
            vec![Block::Table(rows)]
        }
        "mediaSingle" | "mediaGroup" => {
            let caption = content(n)
                .iter()
                .find(|c| kind(c) == "caption")
                .map(|c| super::plain_text(&inlines(content(c))))
                .unwrap_or_default();
            content(n)
                .iter()
                .filter(|c| kind(c) == "media")
                .map(|m| Block::Media(media_url(m), attr_str(m, "alt"), caption.clone()))
                .collect()
        }
        "media" => vec![Block::Media(
            media_url(n),
            attr_str(n, "alt"),
            String::new(),
        )],
        "blockCard" | "embedCard" => {
            let url = attr_str(n, "url");
            if url.is_empty() {
                return Vec::new();
            }
            vec![Block::Paragraph(vec![Inline::Marked(
                Mark::Link(url.clone(), String::new()),
                vec![Inline::Text(url)],
            )])]
        }
        _ => {
            // Unknown node: keep its content, or its text.
            let c = content(n);
            if !c.is_empty() {
                return blocks(c);
            }
            let text = attr_str(n, "text");
            let text = if text.is_empty() {
                n.get("text")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            } else {
                text
            };
            if text.is_empty() {
                Vec::new()
            } else {
                vec![Block::Paragraph(vec![Inline::Text(text)])]
            }
        }
    }
}

/// The Markdown-side URL of a media node: its URL, or `media:collection/id` for a file.
fn media_url(m: &Value) -> String {
    let url = attr_str(m, "url");
    if !url.is_empty() {
        return url;
    }
    format!("media:{}/{}", attr_str(m, "collection"), attr_str(m, "id"))
}

fn inlines(nodes: &[Value]) -> Vec<Inline> {
    nodes.iter().flat_map(inline).collect()
}

fn inline(n: &Value) -> Vec<Inline> {
    match kind(n) {
        "text" => {
            let mut node = Inline::Text(n.get("text").and_then(Value::as_str).unwrap_or("").into());
            let marks = n.get("marks").and_then(Value::as_array);
            let mut is_code = false;
            let mut wrappers = Vec::new();
            for m in marks.map(Vec::as_slice).unwrap_or(&[]) {
                let mk = match kind(m) {
                    "code" => {
                        is_code = true;
                        continue;
                    }
                    "strong" => Mark::Strong,
                    "em" => Mark::Em,
                    "strike" => Mark::Strike,
                    "underline" => Mark::Underline,
                    "subsup" => {
                        if attr_str(m, "type") == "sub" {
                            Mark::Sub
                        } else {
                            Mark::Sup
                        }
                    }
                    "textColor" => Mark::Color(attr_str(m, "color").to_ascii_lowercase()),
                    "backgroundColor" => Mark::Bg(attr_str(m, "color").to_ascii_lowercase()),
                    "link" => Mark::Link(attr_str(m, "href"), attr_str(m, "title")),
                    _ => continue,
                };
                wrappers.push(mk);
            }
            if is_code {
                if let Inline::Text(t) = node {
                    node = Inline::Code(t);
                }
            }
            for w in wrappers {
                node = Inline::Marked(w, vec![node]);
            }
            vec![node]
        }
        "hardBreak" => vec![Inline::HardBreak],
        "mention" => vec![Inline::Mention(attr_str(n, "id"), attr_str(n, "text"))],
        "emoji" => {
            let short = attr_str(n, "shortName");
            let name = short.trim_matches(':').to_string();
            if name.is_empty() {
                vec![Inline::Text(attr_str(n, "text"))]
            } else {
                vec![Inline::Emoji(name)]
            }
        }
        "date" => vec![Inline::Date(timestamp_to_date(&attr_str(n, "timestamp")))],
        "status" => vec![Inline::Status(attr_str(n, "text"), attr_str(n, "color"))],
        "inlineCard" => {
            let url = attr_str(n, "url");
            if url.is_empty() {
                return Vec::new();
            }
            vec![Inline::Card(url)]
        }
        "mediaInline" => {
            let url = attr_str(n, "url");
            if url.is_empty() {
                return Vec::new();
            }
            vec![Inline::Marked(
                Mark::Link(url.clone(), String::new()),
                vec![Inline::Text(url)],
            )]
        }
        _ => {
            let c = content(n);
            if !c.is_empty() {
                return inlines(c);
            }
            let text = attr_str(n, "text");
            if text.is_empty() {
                Vec::new()
            } else {
                vec![Inline::Text(text)]
            }
        }
    }
}

/// Days since 1970-01-01 → (year, month, day) (Howard Hinnant's civil_from_days).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An ADF timestamp (milliseconds since the epoch, UTC) as `YYYY-MM-DD`; other text is kept.
fn timestamp_to_date(ts: &str) -> String {
    match ts.trim().parse::<i64>() {
        Ok(ms) => {
            let (y, m, d) = civil_from_days(ms.div_euclid(86_400_000));
            if (0..=9999).contains(&y) {
                format!("{y:04}-{m:02}-{d:02}")
            } else {
                ts.to_string()
            }
        }
        Err(_) => ts.to_string(),
    }
}

/// `YYYY-MM-DD` → ADF timestamp (midnight UTC, milliseconds), if it is a valid date.
pub(crate) fn date_to_timestamp(date: &str) -> Option<String> {
    let b = date.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i64 = date.get(0..4)?.parse().ok()?;
    let m: u32 = date.get(5..7)?.parse().ok()?;
    let d: u32 = date.get(8..10)?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let days = days_from_civil(y, m, d);
    // Reject dates like 02-31 that do not exist.
    if civil_from_days(days) != (y, m, d) {
        return None;
    }
    Some((days * 86_400_000).to_string())
}

// ---------------------------------------------------------------------------------------
// Writing ADF
// ---------------------------------------------------------------------------------------

struct Writer {
    next_id: u64,
}

impl Writer {
    fn local_id(&mut self) -> String {
        self.next_id += 1;
        format!("{:08x}-0000-4000-8000-{:012x}", self.next_id, self.next_id)
    }
}

/// Writes a normalized document as an ADF `doc`.
pub(crate) fn write(blocks: &[Block]) -> Value {
    let mut w = Writer { next_id: 0 };
    let content: Vec<Value> = w.blocks(blocks);
    json!({"type": "doc", "version": 1, "content": content})
}

fn mark_json(m: &Mark) -> Value {
    match m {
        Mark::Strong => json!({"type": "strong"}),
        // ADF has no citation: it is emphasis there.
        Mark::Em | Mark::Cite => json!({"type": "em"}),
        Mark::Strike => json!({"type": "strike"}),
        Mark::Underline => json!({"type": "underline"}),
        Mark::Sup => json!({"type": "subsup", "attrs": {"type": "sup"}}),
        Mark::Sub => json!({"type": "subsup", "attrs": {"type": "sub"}}),
        Mark::Color(c) => json!({"type": "textColor", "attrs": {"color": c}}),
        Mark::Bg(c) => json!({"type": "backgroundColor", "attrs": {"color": c}}),
        Mark::Link(href, title) => {
            let mut attrs = Map::new();
            attrs.insert("href".into(), json!(href));
            if !title.is_empty() {
                attrs.insert("title".into(), json!(title));
            }
            json!({"type": "link", "attrs": attrs})
        }
    }
}

/// The marks of a text node as ADF holds them: citation is emphasis, once.
fn adf_marks(marks: &[Mark]) -> Vec<Mark> {
    let mut ms: Vec<Mark> = marks
        .iter()
        .map(|m| {
            if *m == Mark::Cite {
                Mark::Em
            } else {
                m.clone()
            }
        })
        .collect();
    ms.sort();
    ms.dedup();
    ms
}

fn text_node(text: &str, marks: &[Mark]) -> Value {
    let mut o = Map::new();
    o.insert("type".into(), json!("text"));
    o.insert("text".into(), json!(text));
    if !marks.is_empty() {
        o.insert(
            "marks".into(),
            Value::Array(marks.iter().map(mark_json).collect()),
        );
    }
    Value::Object(o)
}

fn valid_status_color(c: &str) -> bool {
    matches!(
        c,
        "neutral" | "purple" | "blue" | "red" | "yellow" | "green"
    ) || (c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|x| x.is_ascii_hexdigit()))
}

impl Writer {
    fn inlines(&mut self, inl: &[Inline]) -> Vec<Value> {
        let mut out = Vec::new();
        for (atom, marks) in flatten(inl) {
            match atom {
                Atom::Text(t) => out.push(text_node(&t, &adf_marks(&marks))),
                Atom::Code(t) => {
                    let mut ms = vec![];
                    ms.extend(
                        marks
                            .iter()
                            .filter(|m| matches!(m, Mark::Link(..)))
                            .cloned(),
                    );
                    let mut node = text_node(&t, &ms);
                    if let Some(Value::Array(a)) = node.get_mut("marks") {
                        a.insert(0, json!({"type": "code"}));
                    } else if let Value::Object(o) = &mut node {
                        o.insert("marks".into(), json!([{"type": "code"}]));
                    }
                    out.push(node);
                }
                Atom::HardBreak => out.push(json!({"type": "hardBreak"})),
                Atom::Mention(id, text) => {
                    if id.is_empty() {
                        out.push(text_node(&text, &[]));
                    } else if text.is_empty() {
                        out.push(json!({"type": "mention", "attrs": {"id": id}}));
                    } else {
                        out.push(json!({"type": "mention", "attrs": {"id": id, "text": text}}));
                    }
                }
                Atom::Emoji(e) => {
                    out.push(json!({"type": "emoji", "attrs": {"shortName": format!(":{e}:")}}))
                }
                Atom::Date(d) => match date_to_timestamp(&d) {
                    Some(ts) => out.push(json!({"type": "date", "attrs": {"timestamp": ts}})),
                    None if !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()) => {
                        out.push(json!({"type": "date", "attrs": {"timestamp": d}}))
                    }
                    None => out.push(text_node(&format!("<time>{d}</time>"), &[])),
                },
                Atom::Status(t, c) => {
                    let c = if valid_status_color(&c) {
                        c
                    } else {
                        "neutral".into()
                    };
                    out.push(json!({"type": "status", "attrs": {"text": t, "color": c, "localId": self.local_id()}}))
                }
                // ADF has no inline image: it is a link to the image (inside a link, that link).
                Atom::Image(u, a, _) => {
                    let text = if a.is_empty() { u.clone() } else { a };
                    let mut ms = adf_marks(&marks);
                    if !ms.iter().any(|m| matches!(m, Mark::Link(..))) {
                        ms.push(Mark::Link(u, String::new()));
                    }
                    out.push(text_node(&text, &ms))
                }
                Atom::Card(u) => {
                    out.push(json!({"type": "inlineCard", "attrs": {"url": u}}));
                }
            }
        }
        out.retain(|v| {
            v.get("text")
                .is_none_or(|t| t.as_str().is_some_and(|s| !s.is_empty()))
        });
        out
    }

    /// Blocks as ADF nodes. ADF has no code block title: it is written as a bold paragraph
    /// before the code block, so its text is not lost.
    fn blocks(&mut self, blocks: &[Block]) -> Vec<Value> {
        let mut out = Vec::new();
        for b in blocks {
            if let Block::Code(info, _) = b {
                let (_, title) = super::model::code_info(info);
                if !title.is_empty() {
                    out.push(
                        self.paragraph(&[Inline::Marked(Mark::Strong, vec![Inline::Text(title)])]),
                    );
                }
            }
            out.push(self.block(b));
        }
        out
    }

    fn paragraph(&mut self, inl: &[Inline]) -> Value {
        let c = self.inlines(inl);
        if c.is_empty() {
            json!({"type": "paragraph"})
        } else {
            json!({"type": "paragraph", "content": c})
        }
    }

    fn items(&mut self, items: &[Vec<Block>]) -> Vec<Value> {
        items
            .iter()
            .map(|item| {
                let mut c: Vec<Value> = self.blocks(item);
                if c.is_empty() {
                    c.push(json!({"type": "paragraph"}));
                }
                json!({"type": "listItem", "content": c})
            })
            .collect()
    }

    fn tasks(&mut self, tasks: &[Task]) -> Value {
        let mut c = Vec::new();
        for t in tasks {
            let state = if t.done { "DONE" } else { "TODO" };
            let inl = self.inlines(&t.content);
            let mut item =
                json!({"type": "taskItem", "attrs": {"localId": self.local_id(), "state": state}});
            if !inl.is_empty() {
                item["content"] = Value::Array(inl);
            }
            c.push(item);
            if !t.children.is_empty() {
                c.push(self.tasks(&t.children));
            }
        }
        json!({"type": "taskList", "attrs": {"localId": self.local_id()}, "content": c})
    }

    fn block(&mut self, b: &Block) -> Value {
        match b {
            Block::Paragraph(c) => self.paragraph(c),
            Block::Heading(l, c) => {
                let inl = self.inlines(c);
                let mut h = json!({"type": "heading", "attrs": {"level": l}});
                if !inl.is_empty() {
                    h["content"] = Value::Array(inl);
                }
                h
            }
            Block::Code(info, text) => {
                // ADF has no code block title.
                let (lang, _) = super::model::code_info(info);
                let mut v = json!({"type": "codeBlock"});
                if !lang.is_empty() {
                    v["attrs"] = json!({"language": lang});
                }
                if !text.is_empty() {
                    v["content"] = json!([{"type": "text", "text": text}]);
                }
                v
            }
            Block::Bullet(items) => json!({"type": "bulletList", "content": self.items(items)}),
            Block::Ordered(start, items) => {
                json!({"type": "orderedList", "attrs": {"order": start}, "content": self.items(items)})
            }
            Block::Tasks(t) => self.tasks(t),
            Block::Decisions(items) => {
                let c: Vec<Value> = items
                    .iter()
                    .map(|i| {
                        let inl = self.inlines(i);
                        let mut d = json!({"type": "decisionItem", "attrs": {"localId": self.local_id(), "state": "DECIDED"}});
                        if !inl.is_empty() {
                            d["content"] = Value::Array(inl);
                        }
                        d
                    })
                    .collect();
                json!({"type": "decisionList", "attrs": {"localId": self.local_id()}, "content": c})
            }
            Block::Quote(c) => {
                let c: Vec<Value> = self.blocks(c);
                json!({"type": "blockquote", "content": c})
            }
            Block::Panel(kind, c) => {
                let c: Vec<Value> = self.blocks(c);
                json!({"type": "panel", "attrs": {"panelType": kind}, "content": c})
            }
            Block::Expand(title, c) => {
                let c: Vec<Value> = self.blocks(c);
                json!({"type": "expand", "attrs": {"title": title}, "content": c})
            }
            Block::Rule => json!({"type": "rule"}),
            Block::Table(rows) => {
                let rows: Vec<Value> = rows
                    .iter()
                    .enumerate()
                    .map(|(k, row)| {
                        let cell_type = if k == 0 { "tableHeader" } else { "tableCell" };
                        let cells: Vec<Value> = row
                            .iter()
                            .map(|c| json!({"type": cell_type, "content": [self.paragraph(c)]}))
                            .collect();
                        json!({"type": "tableRow", "content": cells})
                    })
                    .collect();
                json!({"type": "table", "content": rows})
            }
            Block::Media(url, alt, caption) => {
                let mut attrs = Map::new();
                if let Some(rest) = url.strip_prefix("media:") {
                    let (coll, id) = rest.rsplit_once('/').unwrap_or(("", rest));
                    attrs.insert("type".into(), json!("file"));
                    attrs.insert(
                        "id".into(),
                        json!(if id.is_empty() { "unknown" } else { id }),
                    );
                    attrs.insert("collection".into(), json!(coll));
                } else {
                    attrs.insert("type".into(), json!("external"));
                    attrs.insert("url".into(), json!(url));
                }
                if !alt.is_empty() {
                    attrs.insert("alt".into(), json!(alt));
                }
                let mut c = vec![json!({"type": "media", "attrs": attrs})];
                if !caption.is_empty() {
                    c.push(
                        json!({"type": "caption", "content": [{"type": "text", "text": caption}]}),
                    );
                }
                json!({"type": "mediaSingle", "attrs": {"layout": "center"}, "content": c})
            }
        }
    }
}
