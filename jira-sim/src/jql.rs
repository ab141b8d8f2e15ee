//! The small part of JQL the simulator understands: clauses joined by `AND` over
//! `project`, `key`, `id`/`issue`, `labels`, `status`, `assignee`, `updated`, `created`,
//! with `=`, `!=`, `IN`, `NOT IN`, `>=`, `>`, `<=`, `<`, and `ORDER BY`. Anything else is
//! rejected with an error, as Jira rejects JQL it cannot parse, rather than silently
//! matching everything.

use std::cmp::Ordering;

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub struct Jql {
    clauses: Vec<Clause>,
    order: Vec<(SortField, bool)>,
}

#[derive(Debug, Clone, PartialEq)]
struct Clause {
    field: Field,
    op: Op,
    values: Vec<Literal>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Project,
    Key,
    Id,
    Labels,
    Status,
    Assignee,
    Updated,
    Created,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortField {
    Key,
    Id,
    Updated,
    Created,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    In,
    NotIn,
    Ge,
    Gt,
    Le,
    Lt,
}

#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Text(String),
    Empty,
}

/// What a query sees of an issue.
#[derive(Debug, Clone)]
pub struct JqlIssue<'a> {
    /// Numeric issue id.
    pub id: u64,
    /// Issue key.
    pub key: &'a str,
    /// Project key.
    pub project_key: &'a str,
    /// Labels.
    pub labels: Vec<&'a str>,
    /// Status name.
    pub status: &'a str,
    /// Assignee account id.
    pub assignee: Option<&'a str>,
    /// `updated`, epoch ms.
    pub updated_ms: i64,
    /// `created`, epoch ms.
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Quoted(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            '"' | '\'' => {
                let quote = c;
                let mut text = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated string".into()),
                        Some('\\') => {
                            if let Some(n) = chars.get(i + 1) {
                                text.push(*n);
                            }
                            i += 2;
                        }
                        Some(ch) if *ch == quote => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            text.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Quoted(text));
            }
            '>' | '<' | '!' | '=' | '~' => {
                let next = chars.get(i + 1).copied();
                let (op, len) = match (c, next) {
                    ('>', Some('=')) => (">=", 2),
                    ('<', Some('=')) => ("<=", 2),
                    ('!', Some('=')) => ("!=", 2),
                    ('!', Some('~')) => ("!~", 2),
                    ('>', _) => (">", 1),
                    ('<', _) => ("<", 1),
                    ('=', _) => ("=", 1),
                    ('~', _) => ("~", 1),
                    _ => return Err(format!("unexpected character '{c}'")),
                };
                out.push(Tok::Op(op));
                i += len;
            }
            _ => {
                let start = i;
                while i < chars.len()
                    && !chars[i].is_whitespace()
                    && !matches!(
                        chars[i],
                        '(' | ')' | ',' | '"' | '\'' | '>' | '<' | '!' | '=' | '~'
                    )
                {
                    i += 1;
                }
                out.push(Tok::Word(chars[start..i].iter().collect()));
            }
        }
    }
    Ok(out)
}

fn field_of(word: &str) -> Result<Field, String> {
    Ok(match word.to_ascii_lowercase().as_str() {
        "project" => Field::Project,
        "key" | "issuekey" => Field::Key,
        "id" | "issue" => Field::Id,
        "labels" | "label" => Field::Labels,
        "status" => Field::Status,
        "assignee" => Field::Assignee,
        "updated" | "updateddate" => Field::Updated,
        "created" | "createddate" => Field::Created,
        other => return Err(format!("Field '{other}' is not supported by the simulator")),
    })
}

impl Jql {
    /// Parse a query; the error reads like Jira's JQL errors.
    pub fn parse(text: &str) -> Result<Self, String> {
        let toks = tokenize(text).map_err(|e| format!("Error in the JQL Query: {e}"))?;
        let mut p = 0;
        let mut clauses = Vec::new();
        let mut order = Vec::new();
        // Parentheses around AND-only groups change nothing: they are followed, not kept.
        let mut depth = 0usize;
        let word_is =
            |t: Option<&Tok>, w: &str| matches!(t, Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w));
        while p < toks.len() {
            while toks.get(p) == Some(&Tok::RParen) {
                if depth == 0 {
                    return Err("Error in the JQL Query: unbalanced ')'".into());
                }
                depth -= 1;
                p += 1;
            }
            if p >= toks.len() {
                break;
            }
            if word_is(toks.get(p), "order") {
                if depth != 0 {
                    return Err("Error in the JQL Query: unbalanced '('".into());
                }
                if !word_is(toks.get(p + 1), "by") {
                    return Err("Error in the JQL Query: expected BY after ORDER".into());
                }
                p += 2;
                loop {
                    let Some(Tok::Word(f)) = toks.get(p) else {
                        return Err(
                            "Error in the JQL Query: expected a field after ORDER BY".into()
                        );
                    };
                    let field = match f.to_ascii_lowercase().as_str() {
                        "key" | "issuekey" => SortField::Key,
                        "id" => SortField::Id,
                        "updated" => SortField::Updated,
                        "created" => SortField::Created,
                        other => {
                            return Err(format!(
                                "Field '{other}' cannot be used to order by in the simulator"
                            ))
                        }
                    };
                    p += 1;
                    let mut asc = true;
                    if word_is(toks.get(p), "asc") {
                        p += 1;
                    } else if word_is(toks.get(p), "desc") {
                        asc = false;
                        p += 1;
                    }
                    order.push((field, asc));
                    if toks.get(p) == Some(&Tok::Comma) {
                        p += 1;
                    } else {
                        break;
                    }
                }
                if p != toks.len() {
                    return Err("Error in the JQL Query: unexpected text after ORDER BY".into());
                }
                break;
            }
            if !clauses.is_empty() {
                if word_is(toks.get(p), "and") {
                    p += 1;
                } else if word_is(toks.get(p), "or") {
                    return Err(
                        "Error in the JQL Query: OR is not supported by the simulator".into(),
                    );
                } else {
                    return Err("Error in the JQL Query: expected AND between clauses".into());
                }
            }
            while toks.get(p) == Some(&Tok::LParen) {
                depth += 1;
                p += 1;
            }
            let Some(Tok::Word(fw)) = toks.get(p) else {
                return Err("Error in the JQL Query: expected a field".into());
            };
            let field = field_of(fw).map_err(|e| format!("Error in the JQL Query: {e}"))?;
            p += 1;
            let op = match toks.get(p) {
                Some(Tok::Op("=")) => Op::Eq,
                Some(Tok::Op("!=")) => Op::Ne,
                Some(Tok::Op(">=")) => Op::Ge,
                Some(Tok::Op(">")) => Op::Gt,
                Some(Tok::Op("<=")) => Op::Le,
                Some(Tok::Op("<")) => Op::Lt,
                Some(Tok::Word(w)) if w.eq_ignore_ascii_case("in") => Op::In,
                Some(Tok::Word(w)) if w.eq_ignore_ascii_case("is") => {
                    if word_is(toks.get(p + 1), "not") {
                        p += 1;
                        Op::Ne
                    } else {
                        Op::Eq
                    }
                }
                Some(Tok::Word(w))
                    if w.eq_ignore_ascii_case("not") && word_is(toks.get(p + 1), "in") =>
                {
                    p += 1;
                    Op::NotIn
                }
                _ => {
                    return Err(format!(
                        "Error in the JQL Query: expected an operator after '{fw}'"
                    ))
                }
            };
            p += 1;
            let lit = |t: Option<&Tok>| -> Result<Literal, String> {
                match t {
                    Some(Tok::Quoted(s)) => Ok(Literal::Text(s.clone())),
                    Some(Tok::Word(w))
                        if w.eq_ignore_ascii_case("empty") || w.eq_ignore_ascii_case("null") =>
                    {
                        Ok(Literal::Empty)
                    }
                    Some(Tok::Word(w)) => Ok(Literal::Text(w.clone())),
                    _ => Err("Error in the JQL Query: expected a value".into()),
                }
            };
            let mut values = Vec::new();
            if matches!(op, Op::In | Op::NotIn) {
                if toks.get(p) != Some(&Tok::LParen) {
                    return Err("Error in the JQL Query: expected '(' after IN".into());
                }
                p += 1;
                loop {
                    values.push(lit(toks.get(p))?);
                    p += 1;
                    match toks.get(p) {
                        Some(Tok::Comma) => p += 1,
                        Some(Tok::RParen) => {
                            p += 1;
                            break;
                        }
                        _ => return Err("Error in the JQL Query: expected ',' or ')'".into()),
                    }
                }
            } else {
                values.push(lit(toks.get(p))?);
                p += 1;
            }
            let ordered = matches!(op, Op::Ge | Op::Gt | Op::Le | Op::Lt);
            if ordered && !matches!(field, Field::Updated | Field::Created | Field::Id) {
                return Err(format!(
                    "Error in the JQL Query: '{fw}' cannot be compared with an order operator"
                ));
            }
            if matches!(field, Field::Updated | Field::Created) {
                for v in &values {
                    if let Literal::Text(t) = v {
                        // Validate now so a bad date is a 400, not a silent non-match.
                        parse_jql_date(t, 0).ok_or_else(|| {
                            format!("Error in the JQL Query: Date value '{t}' for field '{fw}' is invalid")
                        })?;
                    }
                }
            }
            clauses.push(Clause { field, op, values });
        }
        if depth != 0 {
            return Err("Error in the JQL Query: unbalanced '('".into());
        }
        Ok(Self { clauses, order })
    }

    /// Whether `issue` matches; `now_ms` resolves relative dates like `-5m`.
    pub fn matches(&self, issue: &JqlIssue<'_>, now_ms: i64) -> bool {
        self.clauses.iter().all(|c| c.matches(issue, now_ms))
    }

    /// Order two issues as the query's `ORDER BY` says (id ascending by default).
    pub fn compare(&self, a: &JqlIssue<'_>, b: &JqlIssue<'_>) -> Ordering {
        for (field, asc) in &self.order {
            let o = match field {
                SortField::Key => key_order(a.key, b.key),
                SortField::Id => a.id.cmp(&b.id),
                SortField::Updated => a.updated_ms.cmp(&b.updated_ms),
                SortField::Created => a.created_ms.cmp(&b.created_ms),
            };
            let o = if *asc { o } else { o.reverse() };
            if o != Ordering::Equal {
                return o;
            }
        }
        a.id.cmp(&b.id)
    }
}

fn key_order(a: &str, b: &str) -> Ordering {
    let split = |k: &str| -> (String, u64) {
        match k.rsplit_once('-') {
            Some((p, n)) => (p.to_owned(), n.parse().unwrap_or(0)),
            None => (k.to_owned(), 0),
        }
    };
    split(a).cmp(&split(b))
}

impl Clause {
    fn matches(&self, issue: &JqlIssue<'_>, now_ms: i64) -> bool {
        let eq = |lit: &Literal| -> bool {
            match (self.field, lit) {
                (Field::Project, Literal::Text(t)) => issue.project_key.eq_ignore_ascii_case(t),
                (Field::Key, Literal::Text(t)) => issue.key.eq_ignore_ascii_case(t),
                (Field::Id, Literal::Text(t)) => {
                    t.parse::<u64>().ok() == Some(issue.id) || issue.key.eq_ignore_ascii_case(t)
                }
                (Field::Labels, Literal::Text(t)) => issue.labels.contains(&t.as_str()),
                (Field::Labels, Literal::Empty) => issue.labels.is_empty(),
                (Field::Status, Literal::Text(t)) => issue.status.eq_ignore_ascii_case(t),
                (Field::Assignee, Literal::Text(t)) => issue.assignee == Some(t.as_str()),
                (Field::Assignee, Literal::Empty) => issue.assignee.is_none(),
                (Field::Updated | Field::Created, Literal::Text(t)) => {
                    parse_jql_date(t, now_ms) == Some(self.time_of(issue))
                }
                _ => false,
            }
        };
        match self.op {
            Op::Eq | Op::In => self.values.iter().any(eq),
            Op::Ne | Op::NotIn => !self.values.iter().any(eq),
            Op::Ge | Op::Gt | Op::Le | Op::Lt => {
                let Some(Literal::Text(t)) = self.values.first() else {
                    return false;
                };
                let (have, want) = if self.field == Field::Id {
                    match t.parse::<i64>() {
                        Ok(n) => (issue.id as i64, n),
                        Err(_) => return false,
                    }
                } else {
                    match parse_jql_date(t, now_ms) {
                        Some(ms) => (self.time_of(issue), ms),
                        None => return false,
                    }
                };
                match self.op {
                    Op::Ge => have >= want,
                    Op::Gt => have > want,
                    Op::Le => have <= want,
                    _ => have < want,
                }
            }
        }
    }

    fn time_of(&self, issue: &JqlIssue<'_>) -> i64 {
        if self.field == Field::Created {
            issue.created_ms
        } else {
            issue.updated_ms
        }
    }
}

/// A JQL date: `"2024-01-31 13:05"`, `"2024/01/31 13:05"`, `"2024-01-31"`, epoch ms, or a
/// relative offset such as `-5m`, `-2h`, `-1d`, `-1w`. The simulator's time zone is UTC.
/// Like Jira, precision is the minute: that is why pollers need a look-back.
pub fn parse_jql_date(text: &str, now_ms: i64) -> Option<i64> {
    use time::macros::format_description;
    use time::{Date, PrimitiveDateTime, Time};

    let t = text.trim();
    if let Ok(ms) = t.parse::<i64>() {
        return Some(ms);
    }
    if let Some(rel) = t.strip_prefix('-').or_else(|| t.strip_prefix('+')) {
        let sign = if t.starts_with('-') { -1 } else { 1 };
        let (num, unit) = rel.split_at(rel.find(|c: char| !c.is_ascii_digit())?);
        let n: i64 = num.parse().ok()?;
        let unit_ms = match unit {
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            _ => return None,
        };
        return Some(now_ms + sign * n * unit_ms);
    }
    let t = t.replace('/', "-");
    let dt = PrimitiveDateTime::parse(
        &t,
        format_description!("[year]-[month]-[day] [hour]:[minute]"),
    )
    .ok()
    .or_else(|| {
        Date::parse(&t, format_description!("[year]-[month]-[day]"))
            .ok()
            .map(|d| PrimitiveDateTime::new(d, Time::MIDNIGHT))
    })?;
    Some(dt.assume_utc().unix_timestamp() * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue() -> JqlIssue<'static> {
        JqlIssue {
            id: 10001,
            key: "SIM-2",
            project_key: "SIM",
            labels: vec!["sync-wi-1"],
            status: "In Progress",
            assignee: None,
            updated_ms: 1_704_067_260_000, // 2024-01-01 00:01 UTC
            created_ms: 1_704_067_200_000,
        }
    }

    #[test]
    fn table() {
        let is = issue();
        let cases = [
            ("project = SIM", true),
            ("project = other", false),
            ("project in (A, SIM)", true),
            ("project = SIM AND updated >= \"2024-01-01 00:01\"", true),
            ("project = SIM AND updated >= \"2024-01-01 00:02\"", false),
            ("updated > \"2024/01/01 00:00\" ORDER BY updated ASC", true),
            ("labels = \"sync-wi-1\" ORDER BY created ASC", true),
            ("labels = other", false),
            ("status = \"In Progress\"", true),
            ("assignee is EMPTY", true),
            ("key = SIM-2", true),
            ("id = 10001", true),
            ("issue in (10001, 10002)", true),
            ("project != SIM", false),
            ("updated >= -5m", false),
        ];
        for (q, want) in cases {
            let jql = Jql::parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
            assert_eq!(jql.matches(&is, 1_704_067_260_000 + 3_600_000), want, "{q}");
        }
    }

    #[test]
    fn parentheses_around_and_groups_are_followed() {
        let q = Jql::parse("(project = SIM) AND updated >= \"-5m\" ORDER BY updated ASC");
        assert!(q.is_ok(), "{q:?}");
        assert_eq!(q.map(|q| q.clauses.len()).ok(), Some(2));
        assert!(Jql::parse("(project = SIM AND key = SIM-1").is_err());
        assert!(Jql::parse("project = SIM)").is_err());
    }

    #[test]
    fn rejects_what_it_cannot_do() {
        for q in [
            "project = A OR project = B",
            "summary ~ foo",
            "updated >= \"not a date\"",
            "project =",
            "project = \"open",
            "status > 3",
        ] {
            assert!(Jql::parse(q).is_err(), "{q}");
        }
    }
}
