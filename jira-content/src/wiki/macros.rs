//! The first pass: bodied macros are found over the whole text (as Jira's renderer does
//! before it looks at lines) and each is replaced by one placeholder character that indexes
//! a [`Macro`]. Macros nest; a macro that is not closed is literal text.

use std::collections::HashSet;

/// A bodied macro found in the text.
#[derive(Debug)]
pub(super) enum Macro {
    /// `{code}` or `{noformat}`: the code block's info string (language and title) and its
    /// verbatim body.
    Code(String, String),
    /// `{quote}` and its body (which may hold placeholders).
    Quote(String),
    /// `{panel}`, `{info}`, `{note}`, `{tip}`, `{warning}`: name, parameters, body.
    Panel(String, Vec<(String, String)>, String),
    /// `{color}` whose body holds blocks: colour, body.
    Color(String, String),
    /// An input character that falls in the placeholder range, kept as itself.
    Literal(char),
}

const BASE: u32 = 0xF0000;
const LAST: u32 = 0xFFFFD;

/// The placeholder character of the macro at `idx`, if there is one.
fn token(idx: usize) -> Option<char> {
    let n = BASE.checked_add(u32::try_from(idx).ok()?)?;
    if n > LAST {
        return None;
    }
    char::from_u32(n)
}

/// The macro index a placeholder character stands for.
pub(super) fn index(c: char) -> Option<usize> {
    let n = c as u32;
    (BASE..=LAST).contains(&n).then(|| (n - BASE) as usize)
}

/// Replaces the bodied macros of `text` by placeholders; returns the text and the macros.
pub(super) fn extract(text: &str) -> (String, Vec<Macro>) {
    let chars: Vec<char> = text.chars().collect();
    let mut st = Scan {
        chars: &chars,
        table: Vec::new(),
        failed: HashSet::new(),
    };
    let (out, _, _) = st.scan(0, &[]);
    (out, st.table)
}

/// The parameters of a macro (`{name:a|k=v}`): unnamed ones have an empty key.
pub(super) fn params_of(p: &str) -> Vec<(String, String)> {
    p.split('|')
        .filter(|s| !s.trim().is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), v.trim().to_string()),
            None => (String::new(), kv.trim().to_string()),
        })
        .collect()
}

/// An opening or closing macro tag at a position: its length in chars, name and parameters.
pub(super) fn tag_at(chars: &[char], i: usize) -> Option<(usize, String, String)> {
    if chars.get(i) != Some(&'{') {
        return None;
    }
    let mut j = i + 1;
    while j < chars.len() && chars[j].is_ascii_alphabetic() {
        j += 1;
    }
    if j == i + 1 {
        return None;
    }
    let name: String = chars[i + 1..j]
        .iter()
        .collect::<String>()
        .to_ascii_lowercase();
    let mut params = String::new();
    if chars.get(j) == Some(&':') {
        j += 1;
        while j < chars.len() && chars[j] != '}' && chars[j] != '\n' && chars[j] != '{' {
            params.push(chars[j]);
            j += 1;
        }
    }
    if chars.get(j) != Some(&'}') {
        return None;
    }
    Some((j + 1 - i, name, params))
}

fn is_container(name: &str) -> bool {
    matches!(
        name,
        "quote" | "panel" | "info" | "note" | "tip" | "warning" | "color"
    )
}

struct Scan<'a> {
    chars: &'a [char],
    table: Vec<Macro>,
    /// Opening tags already found not to be closed.
    failed: HashSet<usize>,
}

impl Scan<'_> {
    fn push_macro(&mut self, m: Macro, out: &mut String, raw: &str) {
        match token(self.table.len()) {
            Some(t) => {
                self.table.push(m);
                out.push(t);
            }
            // Out of placeholders: the macro stays text.
            None => out.push_str(raw),
        }
    }

    /// Scans from `start` until the end or a closing tag of one of `closers` (innermost
    /// last): the text with placeholders, the position after the closing tag, and which
    /// closer closed it.
    fn scan(&mut self, start: usize, closers: &[String]) -> (String, usize, Option<usize>) {
        let chars = self.chars;
        let mut out = String::new();
        let mut i = start;
        while i < chars.len() {
            let c = chars[i];
            if c == '\\' && i + 1 < chars.len() && index(chars[i + 1]).is_none() {
                out.push(c);
                out.push(chars[i + 1]);
                i += 2;
                continue;
            }
            if index(c).is_some() {
                self.push_macro(Macro::Literal(c), &mut out, &c.to_string());
                i += 1;
                continue;
            }
            if c == '{' && chars.get(i + 1) == Some(&'{') {
                // Monospace is copied as it is: `{{quote}}` is code, not a macro.
                if let Some(end) = find_close_mono(chars, i + 2) {
                    out.extend(&chars[i..end + 2]);
                    i = end + 2;
                    continue;
                }
            }
            let Some((len, name, params)) = tag_at(chars, i) else {
                out.push(c);
                i += 1;
                continue;
            };
            let raw: String = chars[i..i + len].iter().collect();
            if params.is_empty() {
                if let Some(k) = closers.iter().rposition(|n| *n == name) {
                    return (out, i + len, Some(k));
                }
            }
            if name == "code" || name == "noformat" {
                if let Some(p) = find_tag(chars, i + len, &name) {
                    let body: String = chars[i + len..p].iter().collect();
                    let info = if name == "code" {
                        code_info(&params)
                    } else {
                        String::new()
                    };
                    let whole: String = chars[i..p + name.len() + 2].iter().collect();
                    self.push_macro(Macro::Code(info, trim_body(&body)), &mut out, &whole);
                    i = p + name.len() + 2;
                    continue;
                }
            } else if is_container(&name)
                // `{color}` without a colour only closes.
                && !(name == "color" && params.is_empty())
                && !self.failed.contains(&i)
            {
                let mut inner_closers = closers.to_vec();
                inner_closers.push(name.clone());
                let (body, end, closed) = self.scan(i + len, &inner_closers);
                if closed == Some(closers.len()) {
                    let whole: String = chars[i..end].iter().collect();
                    if name == "color" {
                        if holds_blocks(&body) {
                            self.push_macro(Macro::Color(params, body), &mut out, &whole);
                        } else {
                            // Inline colour is paired by the inline parser.
                            out.push_str(&raw);
                            out.push_str(&body);
                            out.push_str("{color}");
                        }
                    } else if name == "quote" {
                        self.push_macro(Macro::Quote(body), &mut out, &whole);
                    } else {
                        self.push_macro(
                            Macro::Panel(name, params_of(&params), body),
                            &mut out,
                            &whole,
                        );
                    }
                    i = end;
                    continue;
                }
                self.failed.insert(i);
            }
            out.push_str(&raw);
            i += len;
        }
        (out, i, None)
    }
}

/// The info string of a `{code:…}` macro's parameters: the language (the unnamed parameter
/// or `language=`) and the `title=`.
fn code_info(params: &str) -> String {
    let ps = params_of(params);
    let get = |k: &str| {
        ps.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut lang = get("");
    if lang.is_empty() {
        lang = get("language");
    }
    let lang = lang.split_whitespace().next().unwrap_or("").to_string();
    let title: String = get("title").replace('"', "");
    super::super::model::code_info_string(&lang, title.trim())
}

/// A macro body without the line break after the opening tag and before the closing one.
fn trim_body(body: &str) -> String {
    let b = match body.find('\n') {
        Some(p) if body[..p].trim().is_empty() => &body[p + 1..],
        _ => body,
    };
    let b = match b.rfind('\n') {
        Some(p) if b[p + 1..].trim().is_empty() => &b[..p],
        _ => b,
    };
    b.to_string()
}

/// Whether a `{color}` body is more than inline text: a blank line, a block start on a later
/// line, or a block macro inside.
fn holds_blocks(body: &str) -> bool {
    let lines: Vec<&str> = body.split('\n').collect();
    // The first piece is on the opening tag's line; the last, before the closing tag, may be
    // empty when the tag closes on a line of its own.
    let inner = lines.len().saturating_sub(1);
    body.chars().any(|c| index(c).is_some())
        || lines.iter().enumerate().skip(1).any(|(k, l)| {
            let t = l.trim();
            (t.is_empty() && k < inner) || super::block::is_block_start(t)
        })
}

/// The position of the `}}` closing monospace that opened before `from`, on the same line.
pub(super) fn find_close_mono(chars: &[char], from: usize) -> Option<usize> {
    let mut j = from;
    while j + 1 < chars.len() {
        match chars[j] {
            '\n' => return None,
            '\\' => j += 2,
            '}' if chars[j + 1] == '}' && j > from => return Some(j),
            _ => j += 1,
        }
    }
    None
}

/// The position of the closing tag `{name}` (case-insensitive) at or after `from`.
fn find_tag(chars: &[char], from: usize, name: &str) -> Option<usize> {
    let pat: Vec<char> = format!("{{{name}}}").chars().collect();
    (from..chars.len().saturating_sub(pat.len() - 1)).find(|&k| {
        chars[k..k + pat.len()]
            .iter()
            .zip(&pat)
            .all(|(a, b)| a.to_ascii_lowercase() == *b)
    })
}
