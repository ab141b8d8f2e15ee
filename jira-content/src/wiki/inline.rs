//! The third pass: inline text into tokens, and tokens into inline content.
//!
//! Colour pairs first (a macro in Jira, so it may cross effect delimiters and lines), then
//! effects, each opener taking the nearest closer of its kind on the same line. Monospace,
//! links, mentions and images are single tokens, so effects go around them.

use super::macros::{self, Macro};
use super::{block, color_hex, mark_for};
use crate::model::{Inline, Mark};
use crate::plain_blocks;

#[derive(Clone, Debug)]
enum Kind {
    /// Literal text (escapes resolved).
    Text(String),
    /// An effect delimiter (`?` for `??`) and whether it may open and close an effect.
    Delim { c: char, open: bool, close: bool },
    /// Monospace.
    Code(String),
    /// The inside of `[…]`.
    Link(String),
    /// The inside of `!…!`.
    Image(String),
    /// `{color:…}` with its colour.
    ColorOpen(String),
    /// `{color}`.
    ColorClose,
    /// `\\`.
    Break,
    /// A newline.
    Newline,
    /// A block macro's placeholder.
    Block(usize),
}

#[derive(Clone, Debug)]
struct Tok {
    kind: Kind,
    raw: String,
}

/// Parses inline wiki markup (placeholders resolved through `table`).
pub(super) fn parse(s: &str, table: &[Macro]) -> Vec<Inline> {
    let toks = tokenize(s, table);
    build(&toks, table)
}

const EFFECT_CHARS: &[char] = &['*', '_', '-', '+', '^', '~'];

fn tokenize(s: &str, table: &[Macro]) -> Vec<Tok> {
    let chars: Vec<char> = s.chars().collect();
    let mut toks: Vec<Tok> = Vec::new();
    let mut text = String::new();
    let flush = |text: &mut String, toks: &mut Vec<Tok>| {
        if !text.is_empty() {
            toks.push(Tok {
                kind: Kind::Text(std::mem::take(text)),
                raw: String::new(),
            });
        }
    };
    let push = |text: &mut String, toks: &mut Vec<Tok>, kind: Kind, raw: &[char]| {
        flush(text, toks);
        toks.push(Tok {
            kind,
            raw: raw.iter().collect(),
        });
    };
    let mut i = 0;
    // Whether the character before `i` was escaped (an escaped `*` closes no effect, but one
    // may close right after it).
    let mut escaped = false;
    while i < chars.len() {
        let c = chars[i];
        let prev = i.checked_sub(1).map(|p| chars[p]);
        let prev_escaped = std::mem::take(&mut escaped);
        if chars[i..].starts_with(&['&', '#', '9', '2', ';']) {
            text.push('\\');
            i += 5;
            continue;
        }
        if c == '\\' {
            match chars.get(i + 1) {
                Some('\\') => {
                    push(&mut text, &mut toks, Kind::Break, &chars[i..i + 2]);
                    i += 2;
                }
                Some(&n) if n != '\n' && macros::index(n).is_none() => {
                    text.push(n);
                    i += 2;
                    escaped = true;
                }
                _ => {
                    text.push('\\');
                    i += 1;
                }
            }
            continue;
        }
        if let Some(idx) = macros::index(c) {
            match table.get(idx) {
                Some(Macro::Literal(ch)) => text.push(*ch),
                Some(_) => push(&mut text, &mut toks, Kind::Block(idx), &chars[i..=i]),
                None => text.push(c),
            }
            i += 1;
            continue;
        }
        if c == '\n' {
            push(&mut text, &mut toks, Kind::Newline, &chars[i..=i]);
            i += 1;
            continue;
        }
        if c == '{' {
            if chars.get(i + 1) == Some(&'{') {
                if let Some(end) = macros::find_close_mono(&chars, i + 2) {
                    let code = unescape_mono(&chars[i + 2..end]);
                    push(&mut text, &mut toks, Kind::Code(code), &chars[i..end + 2]);
                    i = end + 2;
                    continue;
                }
            }
            if chars.get(i + 2) == Some(&'}') {
                if let Some(&d) = chars.get(i + 1).filter(|d| EFFECT_CHARS.contains(d)) {
                    let kind = Kind::Delim {
                        c: d,
                        open: true,
                        close: true,
                    };
                    push(&mut text, &mut toks, kind, &chars[i..i + 3]);
                    i += 3;
                    continue;
                }
            }
            if let Some((len, name, params)) = macros::tag_at(&chars, i) {
                if name == "color" {
                    let kind = if params.is_empty() {
                        Kind::ColorClose
                    } else {
                        Kind::ColorOpen(params)
                    };
                    push(&mut text, &mut toks, kind, &chars[i..i + len]);
                    i += len;
                    continue;
                }
            }
        }
        if c == '[' {
            if let Some(end) = link_end(&chars, i) {
                let inner: String = chars[i + 1..end].iter().collect();
                if is_link(&inner) {
                    push(&mut text, &mut toks, Kind::Link(inner), &chars[i..=end]);
                    i = end + 1;
                    continue;
                }
            }
        }
        if c == '!' {
            if let Some(end) = image_end(&chars, i) {
                let inner: String = chars[i + 1..end].iter().collect();
                push(&mut text, &mut toks, Kind::Image(inner), &chars[i..=end]);
                i = end + 1;
                continue;
            }
        }
        if c == '-' {
            let n = chars[i..].iter().take_while(|&&x| x == '-').count();
            let after = chars.get(i + n).copied();
            let bounded =
                prev.is_none_or(char::is_whitespace) && after.is_none_or(char::is_whitespace);
            if bounded && (n == 2 || n == 3) {
                text.push(if n == 2 { '\u{2013}' } else { '\u{2014}' });
                i += n;
                continue;
            }
            if n > 1 {
                text.extend(&chars[i..i + n]);
                i += n;
                continue;
            }
        }
        let (d, width) = if c == '?' && chars.get(i + 1) == Some(&'?') {
            ('?', 2)
        } else if EFFECT_CHARS.contains(&c) {
            (c, 1)
        } else {
            text.push(c);
            i += 1;
            continue;
        };
        let next = chars.get(i + width).copied();
        let open = prev.is_none_or(|p| !p.is_alphanumeric())
            && next.is_some_and(|n| !n.is_whitespace() && n != d);
        let close = prev.is_some_and(|p| !p.is_whitespace() && (p != d || prev_escaped))
            && next.is_none_or(|n| !n.is_alphanumeric());
        let kind = Kind::Delim { c: d, open, close };
        push(&mut text, &mut toks, kind, &chars[i..i + width]);
        i += width;
    }
    flush(&mut text, &mut toks);
    toks
}

/// Monospace text: `\{` and `\}` are braces, `&#92;` a backslash, other backslashes stay.
fn unescape_mono(chars: &[char]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\\' && matches!(chars.get(i + 1), Some('{' | '}')) {
            out.push(chars[i + 1]);
            i += 2;
            continue;
        }
        if chars[i..].starts_with(&['&', '#', '9', '2', ';']) {
            out.push('\\');
            i += 5;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// The position of the `]` closing a `[` at `i` on the same line (escapes skipped).
pub(super) fn link_end(chars: &[char], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while j < chars.len() {
        match chars[j] {
            '\n' | '[' => return None,
            '\\' => j += 2,
            ']' => return (j > i + 1).then_some(j),
            _ => j += 1,
        }
    }
    None
}

/// The position of the `!` closing an image opened at `i`: `!url!` or `!url|params!` on one
/// line, the URL without whitespace or backslash.
pub(super) fn image_end(chars: &[char], i: usize) -> Option<usize> {
    if chars.get(i) != Some(&'!') {
        return None;
    }
    let first = *chars.get(i + 1)?;
    if first.is_whitespace() || first == '!' || first == '|' {
        return None;
    }
    let mut j = i + 1;
    let mut params: Option<String> = None;
    while j < chars.len() {
        let c = chars[j];
        match (c, params.as_mut()) {
            ('!', _) => {
                return params
                    .is_none_or(|p| p.split(',').all(is_image_param))
                    .then_some(j);
            }
            ('\n' | '\\', _) => return None,
            ('|', None) => params = Some(String::new()),
            (c, None) if c.is_whitespace() || matches!(c, '[' | ']' | '{' | '}') => return None,
            (c, Some(p)) => p.push(c),
            _ => {}
        }
        j += 1;
    }
    None
}

/// An image parameter: `name` or `name=value` (`thumbnail`, `width=300`, `alt=…`).
fn is_image_param(p: &str) -> bool {
    let (k, v) = p.split_once('=').unwrap_or((p, ""));
    let k = k.trim();
    !k.is_empty()
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !v.contains(['|', '[', ']', '{', '}'])
}

/// Splits on `|` outside escapes and monospace.
fn split_pipes(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut parts = vec![String::new()];
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            if let Some(p) = parts.last_mut() {
                p.push(c);
                p.push(chars[i + 1]);
            }
            i += 2;
            continue;
        }
        if c == '{' && chars.get(i + 1) == Some(&'{') {
            if let Some(end) = macros::find_close_mono(&chars, i + 2) {
                if let Some(p) = parts.last_mut() {
                    p.extend(&chars[i..end + 2]);
                }
                i = end + 2;
                continue;
            }
        }
        if c == '!' {
            // An image's parameters hold `|`: `[!a.png|width=9!|url]`.
            if let Some(end) = image_end(&chars, i) {
                if let Some(p) = parts.last_mut() {
                    p.extend(&chars[i..=end]);
                }
                i = end + 1;
                continue;
            }
        }
        if c == '|' {
            parts.push(String::new());
        } else if let Some(p) = parts.last_mut() {
            p.push(c);
        }
        i += 1;
    }
    parts
}

/// A link target or title: `\|`, `\[`, `\]`, `\{` and `\}` are the characters, `&#92;` a
/// backslash; other backslashes stay (paths).
fn unescape_url(u: &str) -> String {
    u.replace("\\|", "|")
        .replace("\\[", "[")
        .replace("\\]", "]")
        .replace("\\{", "{")
        .replace("\\}", "}")
        .replace("&#92;", "\\")
}

fn url_like(p: &str) -> bool {
    p.contains("://")
        || ["mailto:", "file:", "#", "www.", "attachment:"]
            .iter()
            .any(|s| p.starts_with(s))
}

/// Whether the inside of `[…]` is a link (else the brackets are text: `[text]` with no URL).
fn is_link(inner: &str) -> bool {
    let parts = split_pipes(inner);
    match parts.as_slice() {
        [one] => {
            let p = one.trim();
            (p.len() > 1 && (p.starts_with('~') || p.starts_with('^'))) || url_like(p)
        }
        [_, url, ..] => !url.trim().is_empty(),
        [] => false,
    }
}

const CARD_TITLES: &[&str] = &["smart-link", "smart-card", "smart-embed"];

fn link(inner: &str, table: &[Macro]) -> Vec<Inline> {
    let parts = split_pipes(inner);
    let (text, url, title) = match parts.as_slice() {
        [one] => (None, unescape_url(one.trim()), String::new()),
        [t, u, rest @ ..] => (
            Some(t.clone()),
            unescape_url(u.trim()),
            unescape_url(&rest.join("|")),
        ),
        [] => return Vec::new(),
    };
    // Blank link text shows the URL (whose words would otherwise be lost).
    let text = text.filter(|t| !t.trim().is_empty());
    if let Some(user) = url.strip_prefix('~') {
        let id = user.strip_prefix("accountid:").unwrap_or(user).to_string();
        let name = text
            .map(|t| crate::plain_text(&parse(t.trim(), table)))
            .unwrap_or_default();
        return vec![Inline::Mention(id, name)];
    }
    let title = title.trim().to_string();
    if CARD_TITLES.contains(&title.as_str()) && text.as_deref().is_none_or(|t| t.trim() == url) {
        return vec![Inline::Card(url)];
    }
    let (href, shown) = match url.strip_prefix('^') {
        Some(file) => (format!("attachment:{file}"), file.to_string()),
        None => (url.clone(), url.clone()),
    };
    let content = match text {
        Some(t) => parse(&t, table),
        None => vec![Inline::Text(shown)],
    };
    vec![Inline::Marked(Mark::Link(href, title), content)]
}

fn image(inner: &str) -> Inline {
    let (url, params) = inner.split_once('|').unwrap_or((inner, ""));
    let mut alt = String::new();
    let mut title = String::new();
    for p in params.split(',') {
        if let Some((k, v)) = p.split_once('=') {
            match k.trim().to_ascii_lowercase().as_str() {
                "alt" => alt = v.trim().to_string(),
                "title" => title = v.trim().to_string(),
                _ => {}
            }
        }
    }
    Inline::Image(url.to_string(), alt, title)
}

/// The matching `{color}` of a `{color:…}` at `i`.
fn color_close(toks: &[Tok], i: usize) -> Option<usize> {
    (i + 1..toks.len()).find(|&j| matches!(toks[j].kind, Kind::ColorClose))
}

/// The closer of an effect `c` opened before `from`: the nearest on the same line, colour
/// spans being skipped whole.
fn closer(toks: &[Tok], from: usize, c: char) -> Option<usize> {
    let mut j = from;
    while j < toks.len() {
        match &toks[j].kind {
            Kind::Newline => return None,
            Kind::ColorOpen(_) => {
                if let Some(k) = color_close(toks, j) {
                    j = k + 1;
                    continue;
                }
            }
            Kind::Delim {
                c: d, close: true, ..
            } if *d == c && j > from => return Some(j),
            _ => {}
        }
        j += 1;
    }
    None
}

fn build(toks: &[Tok], table: &[Macro]) -> Vec<Inline> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let t = &toks[i];
        match &t.kind {
            Kind::ColorOpen(color) => {
                if let Some(j) = color_close(toks, i) {
                    let inner = build(&toks[i + 1..j], table);
                    match color_hex(color) {
                        Some(h) => out.push(Inline::Marked(Mark::Color(h), inner)),
                        None => out.extend(inner),
                    }
                    i = j + 1;
                    continue;
                }
                out.push(Inline::Text(t.raw.clone()));
            }
            Kind::Delim { c, open: true, .. } => {
                if let Some(j) = closer(toks, i + 1, *c) {
                    if let Some(m) = mark_for(*c) {
                        out.push(Inline::Marked(m, build(&toks[i + 1..j], table)));
                        i = j + 1;
                        continue;
                    }
                }
                out.push(Inline::Text(t.raw.clone()));
            }
            Kind::Delim { .. } | Kind::ColorClose => out.push(Inline::Text(t.raw.clone())),
            Kind::Text(s) => out.push(Inline::Text(s.clone())),
            Kind::Code(s) => out.push(Inline::Code(s.clone())),
            Kind::Link(inner) => out.extend(link(inner, table)),
            Kind::Image(inner) => out.push(image(inner)),
            Kind::Break => out.push(Inline::HardBreak),
            Kind::Newline => out.push(Inline::Text("\n".into())),
            Kind::Block(idx) => out.extend(plain_blocks(&block::macro_blocks(*idx, table))),
        }
        i += 1;
    }
    out
}
