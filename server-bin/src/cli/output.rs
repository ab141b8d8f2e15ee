//! How commands print: aligned tables and `key: value` lines for people, JSON for machines.

use std::io::Write;

/// Where a command's output goes, and in which form.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    json: bool,
}

impl Output {
    /// Output as tables (`json = false`) or JSON.
    pub fn new(json: bool) -> Output {
        Output { json }
    }

    /// Whether JSON was asked for.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Prints a line on stdout.
    #[allow(clippy::print_stdout, reason = "the CLI's output")]
    pub fn line(&self, s: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{s}");
    }

    /// Prints an error on stderr.
    #[allow(clippy::print_stderr, reason = "the CLI reports errors to its user")]
    pub fn error(&self, s: &str) {
        eprintln!("jira-sync: {s}");
    }

    /// Prints a note for people on stderr (never mixed into JSON on stdout).
    #[allow(clippy::print_stderr, reason = "notes for people stay out of stdout")]
    pub fn note(&self, s: &str) {
        eprintln!("{s}");
    }

    /// Prints a JSON value (pretty).
    pub fn json(&self, v: &serde_json::Value) {
        self.line(&serde_json::to_string_pretty(v).unwrap_or_default());
    }

    /// Prints a table: a header and rows, columns aligned; "(none)" when there is no row.
    pub fn table(&self, header: &[&str], rows: &[Vec<String>]) {
        if rows.is_empty() {
            self.line("(none)");
            return;
        }
        let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
        for r in rows {
            for (i, c) in r.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(c.chars().count());
                }
            }
        }
        let fmt_row = |cells: Vec<&str>| {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate() {
                if i + 1 == cells.len() {
                    s.push_str(c);
                } else {
                    let pad = widths[i].saturating_sub(c.chars().count());
                    s.push_str(c);
                    s.push_str(&" ".repeat(pad + 2));
                }
            }
            s.trim_end().to_string()
        };
        self.line(&fmt_row(header.to_vec()));
        for r in rows {
            self.line(&fmt_row(r.iter().map(String::as_str).collect()));
        }
    }
}

/// A time in epoch milliseconds as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn time(ms: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return ms.to_string();
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Shortens a text for a table cell.
pub fn cell(s: &str, max: usize) -> String {
    let one_line = s.replace('\n', "⏎");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let mut t: String = one_line.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}
