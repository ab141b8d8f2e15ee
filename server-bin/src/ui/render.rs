//! HTML and SVG pieces the templates embed: changes against a base highlighted, Markdown as
//! HTML, the dashboard's chart, the badge, and values and times for people. Everything a
//! person or Jira wrote is escaped here before it is marked safe in a template.

use sync_domain::link::Millis;

use sync_engine::insights::DayCounts;

/// Escapes text for HTML (element content and quoted attributes).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Words and the whitespace between them, as tokens.
fn tokens(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut last_space: Option<bool> = None;
    for (i, c) in s.char_indices() {
        let space = c.is_whitespace();
        if last_space.is_some_and(|l| l != space) {
            out.push(&s[start..i]);
            start = i;
        }
        last_space = Some(space);
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// The most tokens a word diff compares (beyond, the whole text is shown as changed).
const MAX_DIFF_TOKENS: usize = 3000;

/// The longest-common-subsequence alignment of two token lists: for each step, `Same`,
/// `Added` (from `b`) or `Removed` (from `a`).
fn align<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<(Change, &'a str)> {
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            out.push((Change::Same, a[i]));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push((Change::Added, b[j]));
            j += 1;
        } else {
            out.push((Change::Removed, a[i]));
            i += 1;
        }
    }
    out
}

/// One step of an alignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    Same,
    Added,
    Removed,
}

/// Markdown `text` rendered as HTML, block by block (paragraphs, lists, ...), with the
/// blocks it added against `base` marked `added` and the base's blocks it dropped shown
/// struck through as `removed`.
pub fn rich_diff_html(base: &str, text: &str) -> String {
    let blocks = |s: &'_ str| -> Vec<String> {
        s.split("\n\n")
            .map(str::trim)
            .filter(|b| !b.is_empty())
            .map(str::to_string)
            .collect()
    };
    let (a, b) = (blocks(base), blocks(text));
    if a.len() > MAX_DIFF_TOKENS || b.len() > MAX_DIFF_TOKENS {
        return markdown_html(text);
    }
    let a_refs: Vec<&str> = a.iter().map(String::as_str).collect();
    let b_refs: Vec<&str> = b.iter().map(String::as_str).collect();
    align(&a_refs, &b_refs)
        .into_iter()
        .map(|(c, block)| match c {
            Change::Same => markdown_html(block),
            Change::Added => format!(
                "<div class=\"added\" title=\"added against the base\">{}</div>",
                markdown_html(block)
            ),
            Change::Removed => format!(
                "<div class=\"removed\" title=\"removed against the base\">{}</div>",
                markdown_html(block)
            ),
        })
        .collect()
}

/// `text` as HTML with its changes against `base` marked: `<ins>` for what it added,
/// `<del>` for what it removed (word by word).
pub fn diff_html(base: &str, text: &str) -> String {
    let (a, b) = (tokens(base), tokens(text));
    if a.len() > MAX_DIFF_TOKENS || b.len() > MAX_DIFF_TOKENS {
        if base == text {
            return esc(text);
        }
        return format!("<ins>{}</ins>", esc(text));
    }
    let mut out = String::new();
    for (c, t) in align(&a, &b) {
        match c {
            Change::Same => out.push_str(&esc(t)),
            Change::Added => out.push_str(&format!("<ins>{}</ins>", esc(t))),
            Change::Removed => out.push_str(&format!("<del>{}</del>", esc(t))),
        }
    }
    out.replace("</ins><ins>", "").replace("</del><del>", "")
}

/// Markdown (the engine's rich text) as HTML; raw HTML in it is not passed through.
pub fn markdown_html(md: &str) -> String {
    let mut opts = comrak::Options::default();
    opts.extension.strikethrough = true;
    opts.extension.table = true;
    opts.extension.tasklist = true;
    opts.extension.autolink = true;
    comrak::markdown_to_html(md, &opts)
}

/// A plain JSON value for people: text as is, sets one per line, none as "(none)".
/// A value as people read it.
pub fn show_value(v: &sync_domain::Value) -> String {
    show_json(&crate::api::dto::value_json(v))
}

/// Plain JSON of a value as people read it.
pub fn show_json(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "(none)".into(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// An epoch-milliseconds time as `2026-01-02 14:02 UTC`.
pub fn when(ms: Millis) -> String {
    let format =
        time::format_description::parse_borrowed::<2>("[year]-[month]-[day] [hour]:[minute]");
    match (
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000),
        format,
    ) {
        (Ok(t), Ok(f)) => t
            .format(&f)
            .map_or_else(|_| "not known".into(), |s| format!("{s} UTC")),
        _ => "not known".into(),
    }
}

/// An epoch-milliseconds time to the second: `14:02:05 UTC`.
pub fn when_seconds(ms: Millis) -> String {
    let format = time::format_description::parse_borrowed::<2>("[hour]:[minute]:[second]");
    match (
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000),
        format,
    ) {
        (Ok(t), Ok(f)) => t
            .format(&f)
            .map_or_else(|_| "not known".into(), |s| format!("{s} UTC")),
        _ => "not known".into(),
    }
}

/// An RFC 3339 time (or Jira's `2026-01-02T14:02:05.000+0000`) as [`when`] shows it.
pub fn when_iso(iso: &str) -> String {
    time::OffsetDateTime::parse(iso, &time::format_description::well_known::Rfc3339)
        .ok()
        .or_else(|| jira_adapter::client::parse_jira_time(iso))
        .map(|t| when((t.unix_timestamp_nanos() / 1_000_000) as Millis))
        .unwrap_or_else(|| iso.to_string())
}

/// How long ago, in words: "5 s ago", "3 min ago", "2 h ago", "4 d ago".
pub fn ago(ms: Millis, now: Millis) -> String {
    let s = (now - ms).max(0) / 1000;
    match s {
        0..=59 => format!("{s} s ago"),
        60..=3599 => format!("{} min ago", s / 60),
        3600..=86_399 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

/// The dashboard's chart: succeeded (bars) and failed (red bars on top) write attempts per
/// day, as inline SVG with a title and a text alternative.
pub fn chart_svg(days: &[DayCounts]) -> String {
    let (w, h, pad) = (560.0_f64, 160.0_f64, 24.0_f64);
    let max = days
        .iter()
        .map(|d| d.succeeded + d.failed)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let bw = (w - 2.0 * pad) / days.len().max(1) as f64;
    let mut bars = String::new();
    for (i, d) in days.iter().enumerate() {
        let x = pad + i as f64 * bw + 2.0;
        let hs = (d.succeeded as f64 / max) * (h - 2.0 * pad);
        let hf = (d.failed as f64 / max) * (h - 2.0 * pad);
        let base = h - pad;
        let label = when(d.day_start);
        let day = label.get(5..10).unwrap_or("");
        bars.push_str(&format!(
            "<g><title>{day}: {} succeeded, {} failed</title>\
             <rect class=\"ok\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{hs:.1}\"/>\
             <rect class=\"fail\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{hf:.1}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" class=\"axis\">{day}</text></g>",
            d.succeeded,
            d.failed,
            base - hs,
            bw - 4.0,
            base - hs - hf,
            bw - 4.0,
            x + (bw - 4.0) / 2.0,
            h - 6.0,
        ));
    }
    format!(
        "<svg class=\"chart\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-labelledby=\"chart-title\" xmlns=\"http://www.w3.org/2000/svg\">\
         <title id=\"chart-title\">Write attempts per day over the last {} days: succeeded and failed</title>\
         <line x1=\"{pad}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" class=\"axis-line\"/>\
         <text x=\"2\" y=\"{}\" class=\"axis\">{}</text>{bars}</svg>",
        days.len(),
        h - pad,
        w - pad,
        h - pad,
        pad - 8.0,
        max as u64,
    )
}

/// The badge's words for a link status: symbol and label.
pub fn badge_words(status: &str) -> (&'static str, &'static str, &'static str) {
    match status {
        "synced" => ("✓", "Synced", "synced"),
        "pending_push" | "pending_pull" => ("…", "Pending", "pending"),
        "conflict" => ("⚠", "Conflict", "conflict"),
        "error" => ("✕", "Error", "error"),
        "unlinked" => ("–", "Unlinked", "unlinked"),
        _ => ("?", "Not linked", "unlinked"),
    }
}

/// The badge as SVG ("PROJ-123 ✓ Synced").
pub fn badge_svg(key: &str, status: &str) -> String {
    let (sym, label, class) = badge_words(status);
    let color = match class {
        "synced" => "#1a7f37",
        "pending" => "#6e7781",
        "conflict" => "#9a6700",
        "error" => "#cf222e",
        _ => "#6e7781",
    };
    let key_w = 8 + 7 * key.chars().count();
    let text = format!("{sym} {label}");
    let st_w = 12 + 7 * text.chars().count();
    let total = key_w + st_w;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{total}\" height=\"20\" role=\"img\" aria-label=\"{k}: {t}\">\
         <title>{k}: {t}</title>\
         <rect width=\"{key_w}\" height=\"20\" fill=\"#24292f\"/>\
         <rect x=\"{key_w}\" width=\"{st_w}\" height=\"20\" fill=\"{color}\"/>\
         <g fill=\"#fff\" font-family=\"Verdana,DejaVu Sans,sans-serif\" font-size=\"11\">\
         <text x=\"4\" y=\"14\">{k}</text><text x=\"{}\" y=\"14\">{t}</text></g></svg>",
        key_w + 6,
        k = esc(key),
        t = esc(&text),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_marks_words_added_and_removed() {
        let h = diff_html("reset via email", "reset via a secure email");
        assert_eq!(h, "reset via <ins>a secure </ins>email");
        let h = diff_html("one two", "one");
        assert_eq!(h, "one<del> two</del>");
        assert_eq!(diff_html("<b>", "<b>"), "&lt;b&gt;");
    }

    #[test]
    fn rich_diff_marks_blocks() {
        let h = rich_diff_html("a\n\nb", "a\n\nc");
        assert!(h.contains("<div class=\"added\""), "{h}");
        assert!(h.contains("<div class=\"removed\""), "{h}");
        assert!(h.starts_with("<p>a</p>"), "{h}");
    }

    #[test]
    fn markdown_does_not_pass_raw_html() {
        let h = markdown_html("**bold** <script>x</script>");
        assert!(h.contains("<strong>bold</strong>"), "{h}");
        assert!(!h.contains("<script>"), "{h}");
    }

    #[test]
    fn badge_svg_escapes_and_names_the_status() {
        let s = badge_svg("SIM-1", "conflict");
        assert!(s.contains("SIM-1") && s.contains("⚠ Conflict"), "{s}");
        assert!(badge_svg("<x>", "synced").contains("&lt;x&gt;"));
    }

    #[test]
    fn times_for_people() {
        assert_eq!(when(0), "1970-01-01 00:00 UTC");
        assert_eq!(ago(0, 125_000), "2 min ago");
    }
}
