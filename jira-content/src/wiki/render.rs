//! Model → wiki markup. Text is escaped wherever the parser would read markup; marks are
//! written in their simple form (`*x*`) when the parser would read it back, else braced
//! (`{*}x{*}`).

use super::block::starts_heading;
use crate::model::{code_info, Block, Inline, Mark};
use crate::plain_blocks;

const MARK_CHARS: &[char] = &['*', '_', '-', '+', '^', '~'];

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

/// Where inline content is written.
#[derive(Clone, Copy)]
struct At {
    /// At the start of a line (a list or heading marker could be read).
    line_start: bool,
    /// Only one line is possible (breaks are `\\`).
    single_line: bool,
    /// Nothing follows on the line (a final `!` or `?` needs no escape).
    tail: bool,
}

fn code_block(info: &str, text: &str) -> String {
    let (lang, title) = code_info(info);
    let clean = |s: &str| -> String {
        s.chars()
            .filter(|c| !matches!(c, '|' | '}' | '{' | '=' | '\n'))
            .collect()
    };
    let mut params = Vec::new();
    if !title.is_empty() {
        params.push(format!("title={}", clean(&title)));
    }
    if !lang.is_empty() {
        params.push(clean(&lang));
    }
    if params.is_empty() {
        format!("{{code}}\n{text}\n{{code}}")
    } else {
        format!("{{code:{}}}\n{text}\n{{code}}", params.join("|"))
    }
}

fn render_block(b: &Block) -> String {
    let para = At {
        line_start: true,
        single_line: false,
        tail: true,
    };
    let line = At {
        line_start: false,
        single_line: true,
        tail: true,
    };
    match b {
        Block::Paragraph(c) => render_inlines(c, para),
        Block::Heading(l, c) => {
            let t = render_inlines(c, line);
            format!("h{l}. {t}").trim_end().to_string()
        }
        Block::Code(info, text) => code_block(info, text),
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
                    return format!("bq. {}", render_inlines(p, line));
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
                        let t = render_inlines(c, line);
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
        Block::Media(url, alt, caption) => image(url, alt, caption)
            .unwrap_or_else(|| render_inlines(&plain_blocks(std::slice::from_ref(b)), para)),
    }
}

/// `!url!` with `alt` and `title` when the parser reads them back as they are.
fn image(url: &str, alt: &str, title: &str) -> Option<String> {
    let url_ok = !url.is_empty()
        && !url.starts_with('|')
        && !url.contains(|c: char| c.is_whitespace() || matches!(c, '!' | '|' | '\\'))
        && !url.contains("&#92;");
    if !url_ok {
        return None;
    }
    let ok = |s: &str| !s.contains([',', '|', '!', '=', '\\']) && s.trim() == s;
    let mut params = Vec::new();
    if !alt.is_empty() && ok(alt) {
        params.push(format!("alt={alt}"));
    }
    if !title.is_empty() && ok(title) {
        params.push(format!("title={title}"));
    }
    Some(if params.is_empty() {
        format!("!{url}!")
    } else {
        format!("!{url}|{}!", params.join(","))
    })
}

fn render_list(b: &Block, prefix: &str, lines: &mut Vec<String>) {
    let item_at = At {
        line_start: false,
        single_line: true,
        tail: true,
    };
    match b {
        Block::Bullet(items) | Block::Ordered(_, items) => {
            let m = if matches!(b, Block::Bullet(_)) {
                '*'
            } else {
                '#'
            };
            let p = format!("{prefix}{m}");
            for item in items {
                let mut text = String::new();
                let mut subs = Vec::new();
                for blk in item {
                    let piece = match blk {
                        Block::Bullet(_) | Block::Ordered(..) | Block::Tasks(_) => {
                            subs.push(blk);
                            continue;
                        }
                        Block::Paragraph(c) => render_inlines(c, item_at),
                        // A code block stays a block: its macro continues the item.
                        Block::Code(info, t) => format!("\n{}\n", code_block(info, t)),
                        Block::Media(u, a, _) => match image(u, a, "") {
                            Some(s) => s,
                            None => {
                                render_inlines(&plain_blocks(std::slice::from_ref(blk)), item_at)
                            }
                        },
                        other => {
                            render_inlines(&plain_blocks(std::slice::from_ref(other)), item_at)
                        }
                    };
                    if !text.is_empty() && !text.ends_with('\n') && !piece.starts_with('\n') {
                        text.push_str("\\\\");
                    }
                    // A blank line would end the list.
                    let piece = if text.ends_with('\n') {
                        piece.trim_start_matches('\n')
                    } else {
                        &piece
                    };
                    text.push_str(piece);
                }
                let text = text.trim_end_matches('\n');
                // An empty item keeps the space after its markers: markers alone at the start
                // of a list are text.
                if text.is_empty() {
                    lines.push(format!("{p} "));
                } else {
                    lines.push(format!("{p} {text}"));
                }
                for s in subs {
                    render_list(s, &p, lines);
                }
            }
        }
        Block::Tasks(tasks) => {
            let p = format!("{prefix}*");
            for t in tasks {
                let check = if t.done { "[x]" } else { "[ ]" };
                let text = render_inlines(&t.content, item_at);
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
fn escape(s: &str, line_start: bool, tail: bool) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let prev = if i == 0 { None } else { Some(chars[i - 1]) };
        let next = chars.get(i + 1).copied();
        if c == '\\' {
            out.push_str("&#92;");
            continue;
        }
        if c == '&' && chars[i..].starts_with(&['&', '#', '9', '2', ';']) {
            out.push_str("\\&");
            continue;
        }
        let at_start = line_start && i == 0;
        // Whatever follows this text node is unknown unless nothing does.
        let edge_after = next.is_none() && !tail;
        let esc = match c {
            '{' | '}' | '[' | ']' | '|' => true,
            '!' => next.is_some_and(|n| !n.is_whitespace()) || edge_after,
            '?' => next == Some('?') || prev == Some('?') || edge_after || prev.is_none(),
            '#' => at_start,
            'h' | 'b' => {
                at_start && {
                    let r: String = chars.iter().take(3).collect();
                    starts_heading(&format!("{r} ")) || r == "bq."
                }
            }
            '-' if prev == Some('-') || next == Some('-') => true,
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

/// Monospace text: braces escaped, a backslash before a brace or at the end as `&#92;`.
fn mono(t: &str) -> String {
    let chars: Vec<char> = t.chars().collect();
    let mut out = String::from("{{");
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '\\' if matches!(chars.get(i + 1), None | Some('{' | '}' | '\\')) => {
                out.push_str("&#92;")
            }
            '&' if chars[i..].starts_with(&['&', '#', '9', '2', ';']) => out.push_str("&#38;"),
            _ => out.push(c),
        }
    }
    out.push_str("}}");
    out
}

/// An `href` as a wiki link target: `|`, `[` and `]` escaped, a leading `~` or `^` (a user
/// or an attachment) percent-encoded (the same URL).
fn link_target(href: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = href.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        match c {
            // A backslash that would escape what follows (or the closing `|`/`]`).
            '\\' if matches!(chars.get(i + 1), None | Some('|' | '[' | ']' | '{' | '}')) => {
                out.push_str("&#92;")
            }
            // Braces too: a macro tag in a URL would be read before the link.
            '|' | '[' | ']' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '~' if i == 0 => out.push_str("%7E"),
            '^' if i == 0 => out.push_str("%5E"),
            '\n' => out.push_str("%0A"),
            _ => out.push(c),
        }
    }
    out
}

/// Whether a mention id is a Jira Cloud account id (`557058:uuid`, or 24 or more hex digits)
/// rather than a Data Center user name.
fn is_account_id(id: &str) -> bool {
    id.contains(':') || (id.len() >= 24 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-'))
}

fn url_like(p: &str) -> bool {
    p.contains("://")
        || ["mailto:", "file:", "#", "www."]
            .iter()
            .any(|s| p.starts_with(s))
}

fn render_inlines(inl: &[Inline], at: At) -> String {
    let mut out = String::new();
    for (k, i) in inl.iter().enumerate() {
        let at_start = (out.is_empty() && at.line_start) || out.ends_with('\n');
        let last = k + 1 == inl.len();
        match i {
            Inline::Text(t) => out.push_str(&escape(t, at_start, at.tail && last)),
            Inline::Code(t) => out.push_str(&mono(t)),
            Inline::HardBreak => {
                let next_break = inl.get(k + 1) == Some(&Inline::HardBreak);
                if at.single_line || next_break || out.ends_with('\n') || out.is_empty() {
                    out.push_str("\\\\");
                } else {
                    out.push('\n');
                }
            }
            Inline::Mention(id, name) => {
                let target = if id.contains(['|', ']', '[', ' ', '\n']) {
                    link_target(id)
                } else {
                    id.clone()
                };
                // A Cloud account id is written `~accountid:…`; a Data Center user name as
                // itself (Data Center has no account ids).
                let user = if is_account_id(id) {
                    format!("~accountid:{target}")
                } else {
                    format!("~{target}")
                };
                if name.is_empty() || *name == format!("@{id}") {
                    out.push_str(&format!("[{user}]"));
                } else {
                    let n = escape(name, false, false);
                    out.push_str(&format!("[{n}|{user}]"));
                }
            }
            Inline::Card(url) => {
                let u = link_target(url);
                out.push_str(&format!("[{u}|{u}|smart-link]"));
            }
            Inline::Emoji(e) => out.push_str(&format!(":{e}:")),
            Inline::Date(d) => out.push_str(&escape(d, at_start, at.tail && last)),
            Inline::Status(t, _) => {
                out.push_str(&format!("*{}*", escape(&format!("[{t}]"), false, false)));
            }
            Inline::Image(u, a, t) => match image(u, a, t) {
                Some(s) => out.push_str(&s),
                None => {
                    let text = if a.is_empty() { u.clone() } else { a.clone() };
                    let link = Inline::Marked(
                        Mark::Link(u.clone(), String::new()),
                        vec![Inline::Text(text)],
                    );
                    out.push_str(&render_inlines(&[link], at));
                }
            },
            // A citation of coloured text is written inside the colour, whose tags bound
            // its `??` even between letters (`a{color:red}??b??{color}`).
            Inline::Marked(Mark::Cite, c)
                if matches!(c.as_slice(), [Inline::Marked(Mark::Color(_), _)]) =>
            {
                if let [Inline::Marked(Mark::Color(col), inner)] = c.as_slice() {
                    let swapped = Inline::Marked(
                        Mark::Color(col.clone()),
                        vec![Inline::Marked(Mark::Cite, inner.clone())],
                    );
                    let here = At {
                        line_start: at_start,
                        single_line: at.single_line,
                        tail: at.tail && last,
                    };
                    out.push_str(&render_inlines(std::slice::from_ref(&swapped), here));
                }
            }
            Inline::Marked(m, c) => {
                // Inside a mark a break is `\\`: a newline would stop the effect.
                let inner = render_inlines(
                    c,
                    At {
                        line_start: false,
                        single_line: true,
                        tail: false,
                    },
                );
                let prev = out.chars().last();
                // Only text can put a letter right after the closing delimiter.
                let next_is_alnum = match inl.get(k + 1) {
                    Some(Inline::Text(t) | Inline::Date(t)) => {
                        t.chars().next().is_some_and(char::is_alphanumeric)
                    }
                    _ => false,
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
        Mark::Strong => "*",
        Mark::Em => "_",
        Mark::Strike => "-",
        Mark::Underline => "+",
        Mark::Sup => "^",
        Mark::Sub => "~",
        Mark::Cite => "??",
        Mark::Color(c) => return format!("{{color:{c}}}{inner}{{color}}"),
        Mark::Bg(_) => return inner.to_string(),
        Mark::Link(href, title) => {
            if href.is_empty() {
                return inner.to_string();
            }
            if let Some(file) = href.strip_prefix("attachment:") {
                let f = link_target(file);
                if children == [Inline::Text(file.to_string())] && title.is_empty() {
                    return format!("[^{f}]");
                }
                return format!("[{inner}|^{f}]");
            }
            let target = link_target(href);
            if title.is_empty() && children == [Inline::Text(href.clone())] && url_like(href) {
                return format!("[{target}]");
            }
            // An empty link text would make `[|url]`, which is not a link.
            let inner = if inner.is_empty() {
                escape(href, false, false)
            } else {
                inner.to_string()
            };
            if title.is_empty() {
                return format!("[{inner}|{target}]");
            }
            let mut t = String::new();
            let tc: Vec<char> = title.chars().collect();
            for (i, &c) in tc.iter().enumerate() {
                match c {
                    '\\' if matches!(tc.get(i + 1), None | Some('|' | '[' | ']' | '{' | '}')) => {
                        t.push_str("&#92;")
                    }
                    '|' | '[' | ']' | '{' | '}' => {
                        t.push('\\');
                        t.push(c);
                    }
                    '\n' => t.push(' '),
                    _ => t.push(c),
                }
            }
            return format!("[{inner}|{target}|{t}]");
        }
    };
    let dc = d.chars().next().unwrap_or('*');
    let first = inner.chars().next();
    let last = inner.chars().last();
    let simple = first.is_some_and(|f| !f.is_whitespace() && f != dc)
        && last.is_some_and(|l| {
            !l.is_whitespace() && l != '\\' && (l != dc || inner.ends_with(&format!("\\{l}")))
        })
        && prev.is_none_or(|p| !p.is_alphanumeric())
        && !next_alnum
        && !inner.contains('\n')
        // At a line start (also after a hard break), `*#` would open a nested list item.
        && !(line_start && matches!(dc, '*' | '-') && matches!(first, Some('#' | '*' | '-' | ' ')));
    if simple {
        format!("{d}{inner}{d}")
    } else if *m == Mark::Cite {
        // Wiki markup has no braced citation: written as emphasis.
        format!("{{_}}{inner}{{_}}")
    } else {
        format!("{{{d}}}{inner}{{{d}}}")
    }
}
