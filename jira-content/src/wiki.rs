//! Jira wiki markup ⇄ model. Wiki markup has no parser crate, so both directions are written
//! here; the parser accepts what the renderer writes plus the common hand-written forms.

use super::model::{Block, Inline, Mark, Task};

const MARK_CHARS: &[char] = &['*', '_', '-', '+', '^', '~'];

fn mark_for(c: char) -> Option<Mark> {
    Some(match c {
        '*' => Mark::Strong,
        '_' => Mark::Em,
        '-' => Mark::Strike,
        '+' => Mark::Underline,
        '^' => Mark::Sup,
        '~' => Mark::Sub,
        _ => return None,
    })
}

/// Named colours of the `{color}` macro, as ADF's `#rrggbb`.
fn color_hex(name: &str) -> Option<String> {
    let n = name.trim().to_ascii_lowercase();
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
            _ => return None,
        }
        .to_string(),
    )
}

// ---------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------

/// Parses wiki markup into the (not yet normalized) model.
pub(crate) fn parse(wiki: &str) -> Vec<Block> {
    let text = wiki.replace("\r\n", "\n").replace('\r', "\n");
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    lines.reverse(); // a stack: pop from the end
    parse_lines(&mut lines, None)
}

/// The macro a line opens: (name, params).
fn macro_open(line: &str) -> Option<(String, String, String)> {
    let t = line.trim_start();
    let rest = t.strip_prefix('{')?;
    let end = rest.find('}')?;
    let inner = &rest[..end];
    let (name, params) = match inner.find(':') {
        Some(p) => (&inner[..p], &inner[p + 1..]),
        None => (inner, ""),
    };
    let name = name.to_ascii_lowercase();
    if !matches!(
        name.as_str(),
        "code" | "noformat" | "quote" | "panel" | "info" | "note" | "tip" | "warning"
    ) {
        return None;
    }
    Some((name, params.to_string(), rest[end + 1..].to_string()))
}

/// Collects the text up to the closing `{name}`; the rest of that line is pushed back.
fn collect_until(lines: &mut Vec<String>, first: String, name: &str) -> String {
    let close = format!("{{{name}}}");
    let mut body = String::new();
    let mut cur = first;
    let mut first_line = true;
    loop {
        if let Some(p) = cur.find(&close) {
            if !first_line {
                body.push('\n');
            }
            body.push_str(&cur[..p]);
            let rest = cur[p + close.len()..].to_string();
            if !rest.trim().is_empty() {
                lines.push(rest);
            }
            break;
        }
        if !first_line {
            body.push('\n');
        }
        body.push_str(&cur);
        first_line = false;
        match lines.pop() {
            Some(l) => cur = l,
            None => break,
        }
    }
    let body = body.strip_prefix('\n').unwrap_or(&body);
    body.strip_suffix('\n').unwrap_or(body).to_string()
}

fn params_of(p: &str) -> Vec<(String, String)> {
    p.split('|')
        .filter(|s| !s.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), v.trim().to_string()),
            None => (String::new(), kv.trim().to_string()),
        })
        .collect()
}

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

fn list_marker(t: &str) -> Option<(&str, &str)> {
    let end = t.find(|c| !matches!(c, '*' | '#' | '-')).unwrap_or(t.len());
    if end == 0 || end > 12 {
        return None;
    }
    let rest = &t[end..];
    if rest.is_empty() && !t.contains('-') {
        // An empty item: the markers alone.
        return Some((t, ""));
    }
    if !rest.starts_with(' ') {
        return None;
    }
    // "----" style rules and "- -" text are not list items unless markers are uniform
    // bullets/numbers; a `-` marker only as a single first-level bullet.
    let m = &t[..end];
    if m.contains('-') && m != "-" {
        return None;
    }
    Some((m, rest.trim_start()))
}

fn is_block_start(t: &str) -> bool {
    heading_level(t).is_some()
        || t.starts_with("bq. ")
        || t == "----"
        || t.starts_with('|')
        || list_marker(t).is_some()
        || macro_open(t).is_some()
}

fn parse_lines(lines: &mut Vec<String>, until: Option<&str>) -> Vec<Block> {
    let mut out = Vec::new();
    while let Some(line) = lines.pop() {
        let t = line.trim();
        if let Some(close) = until {
            if let Some(p) = line.find(close) {
                let before = &line[..p];
                if !before.trim().is_empty() {
                    out.push(Block::Paragraph(inline(before.trim())));
                }
                let rest = line[p + close.len()..].to_string();
                if !rest.trim().is_empty() {
                    lines.push(rest);
                }
                return out;
            }
        }
        if t.is_empty() {
            continue;
        }
        if let Some((name, params, rest)) = macro_open(t) {
            let ps = params_of(&params);
            match name.as_str() {
                "code" | "noformat" => {
                    let lang = if name == "code" {
                        ps.iter()
                            .find(|(k, _)| k.is_empty())
                            .map(|(_, v)| v.clone())
                            .unwrap_or_default()
                    } else {
                        String::new()
                    };
                    let body = collect_until(lines, rest, &name);
                    out.push(Block::Code(lang, body));
                }
                "quote" => {
                    if !rest.trim().is_empty() {
                        lines.push(rest);
                    }
                    out.push(Block::Quote(parse_lines(lines, Some("{quote}"))));
                }
                _ => {
                    if !rest.trim().is_empty() {
                        lines.push(rest);
                    }
                    let close = format!("{{{name}}}");
                    let inner = parse_lines(lines, Some(&close));
                    let title = ps
                        .iter()
                        .find(|(k, _)| k == "title")
                        .map(|(_, v)| v.clone());
                    out.push(match name.as_str() {
                        "panel" => {
                            if let Some(t) = title {
                                Block::Expand(t, inner)
                            } else {
                                let bg = ps
                                    .iter()
                                    .find(|(k, _)| k == "bgcolor")
                                    .map(|(_, v)| v.to_ascii_lowercase());
                                let kind = match bg.as_deref() {
                                    Some("#e3fcef") => "success",
                                    Some("#ffebe6") => "error",
                                    _ => "custom",
                                };
                                Block::Panel(kind.into(), inner)
                            }
                        }
                        kind => {
                            let mut inner = inner;
                            if let Some(t) = title {
                                inner.insert(
                                    0,
                                    Block::Paragraph(vec![Inline::Marked(
                                        Mark::Strong,
                                        vec![Inline::Text(t)],
                                    )]),
                                );
                            }
                            Block::Panel(kind.into(), inner)
                        }
                    });
                }
            }
            continue;
        }
        if let Some((level, rest)) = heading_level(t) {
            out.push(Block::Heading(level, inline(rest)));
            continue;
        }
        if let Some(rest) = t.strip_prefix("bq. ") {
            out.push(Block::Quote(vec![Block::Paragraph(inline(rest))]));
            continue;
        }
        if t == "----" {
            out.push(Block::Rule);
            continue;
        }
        if t.starts_with('|') {
            let mut rows = vec![table_row(t)];
            while let Some(next) = lines.last() {
                if next.trim().starts_with('|') {
                    let l = lines.pop().unwrap_or_default();
                    rows.push(table_row(l.trim()));
                } else {
                    break;
                }
            }
            out.push(Block::Table(rows));
            continue;
        }
        if list_marker(t).is_some() {
            let mut entries = vec![list_entry(t)];
            while let Some(next) = lines.last() {
                if list_marker(next.trim()).is_some() {
                    let l = lines.pop().unwrap_or_default();
                    entries.push(list_entry(l.trim()));
                } else {
                    break;
                }
            }
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
        let mut para = inline(t);
        while let Some(next) = lines.last() {
            let nt = next.trim();
            if nt.is_empty() || is_block_start(nt) || until.is_some_and(|c| next.contains(c)) {
                break;
            }
            let l = lines.pop().unwrap_or_default();
            para.push(Inline::HardBreak);
            para.extend(inline(l.trim()));
        }
        out.push(Block::Paragraph(para));
    }
    out
}

struct Entry {
    markers: Vec<char>,
    task: Option<bool>,
    content: Vec<Inline>,
}

fn list_entry(t: &str) -> Entry {
    let (m, rest) = list_marker(t).unwrap_or(("*", t));
    let markers: Vec<char> = m.chars().map(|c| if c == '-' { '*' } else { c }).collect();
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
    Entry {
        markers,
        task,
        content: inline(rest),
    }
}

fn build_list(entries: &[Entry], idx: &mut usize, depth: usize) -> Block {
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
                    content: e.content.clone(),
                    children: Vec::new(),
                });
            } else {
                items.push(vec![Block::Paragraph(e.content.clone())]);
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
                        content: super::plain_blocks(&[sub]),
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

fn table_row(t: &str) -> Vec<Vec<Inline>> {
    // Split on `|` / `||` outside `[...]`, `{{...}}` and escapes.
    let chars: Vec<char> = t.chars().collect();
    let mut cells = Vec::new();
    let mut cur = String::new();
    let mut i = 0;
    let mut bracket = 0usize;
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
            if let Some(end) = find_str(&chars, i + 2, "}}") {
                cur.extend(&chars[i..end + 2]);
                i = end + 2;
                continue;
            }
        }
        match c {
            '[' => bracket += 1,
            ']' => bracket = bracket.saturating_sub(1),
            _ => {}
        }
        if c == '|' && bracket == 0 {
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
    cells.iter().map(|c| inline(c.trim())).collect()
}

fn find_str(chars: &[char], from: usize, pat: &str) -> Option<usize> {
    let p: Vec<char> = pat.chars().collect();
    (from..chars.len().saturating_sub(p.len() - 1)).find(|&k| chars[k..].starts_with(&p))
}

/// Finds the closing delimiter of a simple mark starting at `from`, skipping escapes,
/// links and monospace.
fn find_close(chars: &[char], from: usize, c: char) -> Option<usize> {
    let mut j = from;
    while j < chars.len() {
        let x = chars[j];
        if x == '\\' {
            j += 2;
            continue;
        }
        if x == '[' {
            if let Some(e) = chars[j..].iter().position(|&y| y == ']') {
                j += e + 1;
                continue;
            }
        }
        if x == '{' && chars.get(j + 1) == Some(&'{') {
            if let Some(e) = find_str(chars, j + 2, "}}") {
                j = e + 2;
                continue;
            }
        }
        if x == c
            && j > from
            && !chars[j - 1].is_whitespace()
            && chars.get(j + 1).is_none_or(|n| !n.is_alphanumeric())
        {
            return Some(j);
        }
        j += 1;
    }
    None
}

/// Parses one line (or cell) of inline wiki markup.
fn inline(s: &str) -> Vec<Inline> {
    let s = s.replace("&#92;", "\u{0}");
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut buf = String::new();
    let flush = |buf: &mut String, out: &mut Vec<Inline>| {
        if !buf.is_empty() {
            out.push(Inline::Text(std::mem::take(buf).replace('\u{0}', "\\")));
        }
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let prev = if i == 0 { None } else { Some(chars[i - 1]) };
        if c == '\\' {
            if chars.get(i + 1) == Some(&'\\') {
                flush(&mut buf, &mut out);
                out.push(Inline::HardBreak);
                i += 2;
                continue;
            }
            if let Some(&n) = chars.get(i + 1) {
                buf.push(n);
                i += 2;
                continue;
            }
            buf.push(c);
            i += 1;
            continue;
        }
        if c == '{' {
            if chars.get(i + 1) == Some(&'{') {
                if let Some(end) = find_str(&chars, i + 2, "}}") {
                    if end > i + 2 {
                        flush(&mut buf, &mut out);
                        let code: String = chars[i + 2..end].iter().collect();
                        out.push(Inline::Code(code.replace('\u{0}', "\\")));
                        i = end + 2;
                        continue;
                    }
                }
            }
            // {*}bold{*} style delimiters.
            if chars.get(i + 2) == Some(&'}') {
                if let Some(m) = chars.get(i + 1).and_then(|&d| mark_for(d)) {
                    let pat: String = chars[i..i + 3].iter().collect();
                    if let Some(end) = find_str(&chars, i + 3, &pat) {
                        flush(&mut buf, &mut out);
                        let inner: String = chars[i + 3..end].iter().collect();
                        out.push(Inline::Marked(m, inline(&inner)));
                        i = end + 3;
                        continue;
                    }
                }
            }
            let rest: String = chars[i..].iter().collect();
            if let Some(r) = rest.strip_prefix("{color:") {
                if let Some(e) = r.find('}') {
                    let color = &r[..e];
                    let after = &r[e + 1..];
                    if let Some(close) = after.find("{color}") {
                        flush(&mut buf, &mut out);
                        let inner = inline(&after[..close]);
                        match color_hex(color) {
                            Some(h) => out.push(Inline::Marked(Mark::Color(h), inner)),
                            None => out.extend(inner),
                        }
                        let consumed = "{color:".len() + e + 1 + close + "{color}".len();
                        i += rest[..consumed].chars().count();
                        continue;
                    }
                }
            }
        }
        if c == '[' {
            if let Some(e) = chars[i + 1..].iter().position(|&y| y == ']') {
                let inner: String = chars[i + 1..i + 1 + e].iter().collect();
                if !inner.trim().is_empty() {
                    flush(&mut buf, &mut out);
                    out.push(link(&inner));
                    i += e + 2;
                    continue;
                }
            }
        }
        if c == '!' && chars.get(i + 1).is_some_and(|n| !n.is_whitespace()) {
            if let Some(e) = chars[i + 1..]
                .iter()
                .position(|&y| y == '!' || y.is_whitespace())
            {
                if chars[i + 1 + e] == '!' && e > 0 {
                    flush(&mut buf, &mut out);
                    let inner: String = chars[i + 1..i + 1 + e].iter().collect();
                    let (url, params) = inner.split_once('|').unwrap_or((&inner, ""));
                    let mut alt = String::new();
                    let mut title = String::new();
                    for p in params.split(',') {
                        if let Some((k, v)) = p.split_once('=') {
                            match k.trim() {
                                "alt" => alt = v.trim().to_string(),
                                "title" => title = v.trim().to_string(),
                                _ => {}
                            }
                        }
                    }
                    out.push(Inline::Image(url.to_string(), alt, title));
                    i += e + 2;
                    continue;
                }
            }
        }
        if c == '?' && chars.get(i + 1) == Some(&'?') && prev.is_none_or(|p| !p.is_alphanumeric()) {
            if let Some(end) = find_str(&chars, i + 2, "??") {
                if end > i + 2 {
                    flush(&mut buf, &mut out);
                    let inner: String = chars[i + 2..end].iter().collect();
                    out.push(Inline::Marked(Mark::Em, inline(&inner)));
                    i = end + 2;
                    continue;
                }
            }
        }
        if let Some(m) = mark_for(c) {
            let opens = prev.is_none_or(|p| !p.is_alphanumeric())
                && chars
                    .get(i + 1)
                    .is_some_and(|n| !n.is_whitespace() && *n != c);
            if opens {
                if let Some(end) = find_close(&chars, i + 1, c) {
                    flush(&mut buf, &mut out);
                    let inner: String = chars[i + 1..end].iter().collect();
                    out.push(Inline::Marked(m, inline(&inner)));
                    i = end + 1;
                    continue;
                }
            }
        }
        buf.push(c);
        i += 1;
    }
    flush(&mut buf, &mut out);
    out
}

fn link(inner: &str) -> Inline {
    if let Some(user) = inner.strip_prefix('~') {
        let id = user.strip_prefix("accountid:").unwrap_or(user);
        return Inline::Mention(id.to_string(), String::new());
    }
    let parts: Vec<&str> = inner.splitn(3, '|').collect();
    let (text, url, title) = match parts.as_slice() {
        [u] => (None, *u, ""),
        [t, u] => (Some(*t), *u, ""),
        [t, u, ti] => (Some(*t), *u, *ti),
        _ => (None, inner, ""),
    };
    let url = url.trim().replace('\u{0}', "\\");
    let content = match text {
        Some(t) if !t.trim().is_empty() => inline(t),
        _ => vec![Inline::Text(url.clone())],
    };
    Inline::Marked(Mark::Link(url, title.trim().to_string()), content)
}

// ---------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------

/// Renders a normalized document as wiki markup.
pub(crate) fn render(blocks: &[Block]) -> String {
    render_blocks(blocks).trim_matches('\n').to_string()
}

fn render_blocks(blocks: &[Block]) -> String {
    blocks
        .iter()
        .map(render_block)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn render_block(b: &Block) -> String {
    match b {
        Block::Paragraph(c) => render_inlines(c, true, false),
        Block::Heading(l, c) => {
            let t = render_inlines(c, false, true);
            format!("h{l}. {t}").trim_end().to_string()
        }
        Block::Code(lang, text) => {
            if lang.is_empty() {
                format!("{{code}}\n{text}\n{{code}}")
            } else {
                format!("{{code:{lang}}}\n{text}\n{{code}}")
            }
        }
        Block::Bullet(_) | Block::Ordered(..) | Block::Tasks(_) => {
            let mut lines = Vec::new();
            render_list(b, "", &mut lines);
            lines.join("\n")
        }
        Block::Decisions(items) => {
            let list = Block::Bullet(
                items
                    .iter()
                    .map(|i| vec![Block::Paragraph(i.clone())])
                    .collect(),
            );
            render_block(&list)
        }
        Block::Quote(c) => {
            if let [Block::Paragraph(p)] = c.as_slice() {
                if !p.contains(&Inline::HardBreak) {
                    return format!("bq. {}", render_inlines(p, false, false));
                }
            }
            format!("{{quote}}\n{}\n{{quote}}", render_blocks(c))
        }
        Block::Panel(kind, c) => {
            let open = match kind.as_str() {
                "info" | "note" | "tip" | "warning" => format!("{{{kind}}}"),
                "success" => "{panel:bgColor=#e3fcef}".to_string(),
                "error" => "{panel:bgColor=#ffebe6}".to_string(),
                _ => "{panel}".to_string(),
            };
            let close = match kind.as_str() {
                "info" | "note" | "tip" | "warning" => format!("{{{kind}}}"),
                _ => "{panel}".to_string(),
            };
            format!("{open}\n{}\n{close}", render_blocks(c))
        }
        Block::Expand(title, c) => {
            let t: String = title
                .chars()
                .filter(|c| !matches!(c, '|' | '}' | '{' | '='))
                .collect();
            format!("{{panel:title={t}}}\n{}\n{{panel}}", render_blocks(c))
        }
        Block::Rule => "----".to_string(),
        Block::Table(rows) => rows
            .iter()
            .enumerate()
            .map(|(k, row)| {
                let sep = if k == 0 { "||" } else { "|" };
                let cells: Vec<String> = row
                    .iter()
                    .map(|c| {
                        let t = render_inlines(c, false, true);
                        if t.is_empty() {
                            " ".to_string()
                        } else {
                            t
                        }
                    })
                    .collect();
                format!("{sep}{}{sep}", cells.join(sep))
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Block::Media(url, alt, _) => {
            let alt_ok = !alt.is_empty() && !alt.contains([',', '|', '!', '=']);
            if alt_ok {
                format!("!{url}|alt={alt}!")
            } else {
                format!("!{url}!")
            }
        }
    }
}

fn render_list(b: &Block, prefix: &str, lines: &mut Vec<String>) {
    match b {
        Block::Bullet(items) | Block::Ordered(_, items) => {
            let m = if matches!(b, Block::Bullet(_)) {
                '*'
            } else {
                '#'
            };
            let p = format!("{prefix}{m}");
            for item in items {
                let mut text = Vec::new();
                let mut subs = Vec::new();
                for blk in item {
                    match blk {
                        Block::Bullet(_) | Block::Ordered(..) | Block::Tasks(_) => subs.push(blk),
                        Block::Paragraph(c) => text.push(render_inlines(c, false, true)),
                        other => text.push(render_inlines(
                            &super::plain_blocks(std::slice::from_ref(other)),
                            false,
                            true,
                        )),
                    }
                }
                let t = text.join("\\\\");
                if t.trim().is_empty() && subs.is_empty() {
                    // Nothing to show (an empty code block, say): an empty wiki item would
                    // read back as an item Markdown cannot hold.
                    continue;
                }
                lines.push(format!("{p} {t}").trim_end().to_string());
                for s in subs {
                    render_list(s, &p, lines);
                }
            }
        }
        Block::Tasks(tasks) => {
            let p = format!("{prefix}*");
            for t in tasks {
                let check = if t.done { "[x]" } else { "[ ]" };
                let text = render_inlines(&t.content, false, true);
                lines.push(format!("{p} {check} {text}").trim_end().to_string());
                if !t.children.is_empty() {
                    render_list(&Block::Tasks(t.children.clone()), &p, lines);
                }
            }
        }
        _ => {}
    }
}

/// Escapes text so the wiki parser reads it back as the same text.
fn escape(s: &str, line_start: bool) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let prev = if i == 0 { None } else { Some(chars[i - 1]) };
        let next = chars.get(i + 1).copied();
        if c == '\\' {
            out.push_str("&#92;");
            continue;
        }
        let at_start = line_start && i == 0;
        let esc = match c {
            '{' | '}' | '[' | ']' | '|' => true,
            '!' => next.is_some_and(|n| !n.is_whitespace()),
            '?' => next == Some('?') || prev == Some('?'),
            '#' => at_start,
            'h' | 'b' => {
                at_start && {
                    let r: String = chars.iter().take(3).collect();
                    heading_level(&format!("{r} ")).is_some() || r == "bq."
                }
            }
            c if MARK_CHARS.contains(&c) => {
                let could_open = prev.is_none_or(|p| !p.is_alphanumeric())
                    && next.is_none_or(|n| !n.is_whitespace());
                let could_close = prev.is_none_or(|p| !p.is_whitespace())
                    && next.is_none_or(|n| !n.is_alphanumeric());
                could_open || could_close
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

fn render_inlines(inl: &[Inline], line_start: bool, single_line: bool) -> String {
    let mut out = String::new();
    for (k, i) in inl.iter().enumerate() {
        let at_start = (out.is_empty() && line_start) || out.ends_with('\n');
        match i {
            Inline::Text(t) => out.push_str(&escape(t, at_start)),
            Inline::Code(t) => {
                if t.contains("}}") || t.ends_with('}') {
                    out.push_str(&escape(t, at_start));
                } else {
                    out.push_str(&format!("{{{{{t}}}}}"));
                }
            }
            Inline::HardBreak => {
                let next_break = inl.get(k + 1) == Some(&Inline::HardBreak);
                if single_line || next_break || out.ends_with('\n') || out.is_empty() {
                    out.push_str("\\\\");
                } else {
                    out.push('\n');
                }
            }
            Inline::Mention(id, _) => {
                out.push_str(&format!("[~accountid:{id}]"));
            }
            Inline::Emoji(e) => out.push_str(&format!(":{e}:")),
            Inline::Date(d) => out.push_str(&escape(d, at_start)),
            Inline::Status(t, _) => {
                out.push_str(&format!("*{}*", escape(&format!("[{t}]"), false)));
            }
            Inline::Image(u, _, _) => out.push_str(&format!("!{u}!")),
            Inline::Marked(m, c) => {
                let inner = render_inlines(c, false, single_line);
                let prev = out.chars().last();
                let next_is_alnum = match inl.get(k + 1) {
                    Some(Inline::Text(t)) => t.chars().next().is_some_and(char::is_alphanumeric),
                    Some(Inline::Marked(..)) => false,
                    Some(_) => true,
                    None => false,
                };
                out.push_str(&render_mark(m, &inner, c, prev, next_is_alnum, at_start));
            }
        }
    }
    out
}

fn render_mark(
    m: &Mark,
    inner: &str,
    children: &[Inline],
    prev: Option<char>,
    next_alnum: bool,
    line_start: bool,
) -> String {
    let d = match m {
        Mark::Strong => '*',
        Mark::Em => '_',
        Mark::Strike => '-',
        Mark::Underline => '+',
        Mark::Sup => '^',
        Mark::Sub => '~',
        Mark::Color(c) => return format!("{{color:{c}}}{inner}{{color}}"),
        Mark::Bg(_) => return inner.to_string(),
        Mark::Link(href, title) => {
            let mention_like = href.starts_with('~');
            let href_safe = !href.contains(['|', ']', '[']) && !mention_like && !href.is_empty();
            if !href_safe {
                return inner.to_string();
            }
            if title.is_empty() && children == [Inline::Text(href.clone())] {
                return format!("[{href}]");
            }
            if title.is_empty() {
                return format!("[{inner}|{href}]");
            }
            let t: String = title
                .chars()
                .filter(|c| !matches!(c, '|' | ']' | '['))
                .collect();
            return format!("[{inner}|{href}|{t}]");
        }
    };
    let first = inner.chars().next();
    let last = inner.chars().last();
    let simple = first.is_some_and(|f| !f.is_whitespace() && f != d)
        && last.is_some_and(|l| !l.is_whitespace() && l != '\\')
        && prev.is_none_or(|p| !p.is_alphanumeric())
        && !next_alnum
        && !inner.contains('\n')
        // At a line start (also after a hard break), `*#` would open a nested list item.
        && !(line_start && d == '*' && first == Some('#'));
    if simple {
        format!("{d}{inner}{d}")
    } else {
        format!("{{{d}}}{inner}{{{d}}}")
    }
}
