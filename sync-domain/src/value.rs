//! Canonical values of mapped fields.
//!
//! Every value that crosses between the two sides is compared in one canonical form, so that
//! converting a value to a side's format and back never "changes" it (formatting drift).
//! Constructors normalize; two values are equal exactly when their canonical forms are.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::DomainError;

/// The canonical value of one mapped field.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Value {
    /// No value. Empty text and empty sets are canonically `Null`.
    #[default]
    Null,
    /// Plain text (a summary, a title): line endings `\n`, no trailing whitespace.
    Text(String),
    /// Rich text as normalized Markdown (see [`Value::rich_text`]).
    RichText(String),
    /// A number in canonical decimal form.
    Number(Number),
    /// One option of a select list, by its canonical name.
    Option(String),
    /// A set of options or labels, sorted, without duplicates.
    OptionSet(BTreeSet<String>),
    /// A reference to a person, as an identity resolved by the user map.
    User(UserRef),
    /// A calendar date.
    Date(Date),
}

/// The type of a mapped field's value; a policy or transform must fit it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueKind {
    /// [`Value::Text`].
    Text,
    /// [`Value::RichText`].
    RichText,
    /// [`Value::Number`].
    Number,
    /// [`Value::Option`].
    Option,
    /// [`Value::OptionSet`].
    OptionSet,
    /// [`Value::User`].
    User,
    /// [`Value::Date`].
    Date,
}

impl fmt::Display for ValueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValueKind::Text => "text",
            ValueKind::RichText => "rich_text",
            ValueKind::Number => "number",
            ValueKind::Option => "option",
            ValueKind::OptionSet => "option_set",
            ValueKind::User => "user",
            ValueKind::Date => "date",
        })
    }
}

/// A number in canonical decimal form: the shortest decimal that reads back as the same
/// `f64`, no exponent, no `-0`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Number(String);

impl Number {
    /// A canonical number from a float; `NaN` and infinities are not numbers a field can hold.
    pub fn from_f64(x: f64) -> Result<Self, DomainError> {
        if !x.is_finite() {
            return Err(DomainError::InvalidValue {
                kind: ValueKind::Number,
                reason: format!("{x} is not a finite number"),
            });
        }
        let x = if x == 0.0 { 0.0 } else { x };
        Ok(Number(format!("{x}")))
    }

    /// A canonical number from its decimal text (`"5"`, `"5.0"`, `" 2.50 "`).
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let x: f64 = s.trim().parse().map_err(|_| DomainError::InvalidValue {
            kind: ValueKind::Number,
            reason: format!("{s:?} is not a number"),
        })?;
        Self::from_f64(x)
    }

    /// The number as a float.
    pub fn as_f64(&self) -> f64 {
        // The canonical text was produced from a finite f64, so it parses back.
        self.0.parse().unwrap_or(0.0)
    }

    /// The canonical decimal text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Number {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Number::parse(&s)
    }
}

impl From<Number> for String {
    fn from(n: Number) -> String {
        n.0
    }
}

/// A person, as an identity resolved by the project's user map (an email, a Handoff user id,
/// a Jira `accountId` or a Data Center user name, depending on the side and the map).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UserRef(pub String);

/// A calendar date, `YYYY-MM-DD`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Date(String);

impl Date {
    /// Parses `YYYY-MM-DD`; also accepts a full timestamp and keeps its date part
    /// (`2024-12-30T10:00:00Z` → `2024-12-30`).
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let s = s.trim();
        let day = s.get(..10).unwrap_or(s);
        let bad = || DomainError::InvalidValue {
            kind: ValueKind::Date,
            reason: format!("{s:?} is not a date (YYYY-MM-DD)"),
        };
        let b = day.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(bad());
        }
        let num = |r: std::ops::Range<usize>| day[r].parse::<u32>().map_err(|_| bad());
        let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let days = match m {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return Err(bad()),
        };
        let sep = s.as_bytes().get(10);
        if d == 0 || d > days || (sep.is_some() && sep != Some(&b'T') && sep != Some(&b' ')) {
            return Err(bad());
        }
        Ok(Date(day.to_string()))
    }

    /// The date as `YYYY-MM-DD`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Date {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Date::parse(&s)
    }
}

impl From<Date> for String {
    fn from(d: Date) -> String {
        d.0
    }
}

fn normalize_lines(s: &str) -> String {
    let s = s.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(s.len());
    for (i, line) in s.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(line.trim_end());
    }
    out
}

impl Value {
    /// Plain text: `\r\n` → `\n`, trailing whitespace of each line and of the whole text
    /// removed; empty text is `Null`.
    pub fn text(s: &str) -> Value {
        let t = normalize_lines(s);
        let t = t.trim_matches('\n');
        if t.trim().is_empty() {
            Value::Null
        } else {
            Value::Text(t.to_string())
        }
    }

    /// Rich text as Markdown, normalized for comparison: line endings `\n`, no trailing
    /// whitespace on a line, at most one blank line in a row, no leading or trailing blank
    /// lines; empty text is `Null`. Markdown produced by the content converters is already
    /// in this form, so this only removes differences that carry no meaning.
    pub fn rich_text(s: &str) -> Value {
        let t = normalize_lines(s);
        let mut out = String::with_capacity(t.len());
        let mut blank_run = 0;
        let mut in_fence = false;
        for line in t.split('\n') {
            let trimmed = line.trim_start();
            if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
                in_fence = !in_fence;
            }
            if line.is_empty() && !in_fence {
                blank_run += 1;
                if blank_run > 1 {
                    continue;
                }
            } else {
                blank_run = 0;
            }
            out.push_str(line);
            out.push('\n');
        }
        let t = out.trim_matches('\n');
        if t.trim().is_empty() {
            Value::Null
        } else {
            Value::RichText(t.to_string())
        }
    }

    /// A number from a float (see [`Number::from_f64`]).
    pub fn number(x: f64) -> Result<Value, DomainError> {
        Number::from_f64(x).map(Value::Number)
    }

    /// One option, by name (trimmed); an empty name is `Null`.
    pub fn option(s: &str) -> Value {
        let t = s.trim();
        if t.is_empty() {
            Value::Null
        } else {
            Value::Option(t.to_string())
        }
    }

    /// A set of options or labels: trimmed, empty names dropped, sorted, deduplicated; an
    /// empty set is `Null`.
    pub fn option_set<I, S>(items: I) -> Value
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let set: BTreeSet<String> = items
            .into_iter()
            .map(|s| s.as_ref().trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if set.is_empty() {
            Value::Null
        } else {
            Value::OptionSet(set)
        }
    }

    /// A user reference; an empty identity is `Null`.
    pub fn user(id: &str) -> Value {
        let t = id.trim();
        if t.is_empty() {
            Value::Null
        } else {
            Value::User(UserRef(t.to_string()))
        }
    }

    /// A date from `YYYY-MM-DD` (or a timestamp whose date part is kept).
    pub fn date(s: &str) -> Result<Value, DomainError> {
        if s.trim().is_empty() {
            return Ok(Value::Null);
        }
        Date::parse(s).map(Value::Date)
    }

    /// Brings a value that may have been built without its constructor (e.g. deserialized
    /// from an older event) into canonical form. Idempotent.
    pub fn canonical(self) -> Value {
        match self {
            Value::Null => Value::Null,
            Value::Text(s) => Value::text(&s),
            Value::RichText(s) => Value::rich_text(&s),
            Value::Number(n) => Value::Number(n),
            Value::Option(s) => Value::option(&s),
            Value::OptionSet(set) => Value::option_set(set),
            Value::User(u) => Value::user(&u.0),
            Value::Date(d) => Value::Date(d),
        }
    }

    /// The kind of this value; `None` for `Null`, which fits every kind.
    pub fn kind(&self) -> Option<ValueKind> {
        Some(match self {
            Value::Null => return None,
            Value::Text(_) => ValueKind::Text,
            Value::RichText(_) => ValueKind::RichText,
            Value::Number(_) => ValueKind::Number,
            Value::Option(_) => ValueKind::Option,
            Value::OptionSet(_) => ValueKind::OptionSet,
            Value::User(_) => ValueKind::User,
            Value::Date(_) => ValueKind::Date,
        })
    }

    /// Whether this value may be held by a field of `kind` (`Null` fits every kind).
    pub fn fits(&self, kind: ValueKind) -> bool {
        self.kind().is_none_or(|k| k == kind)
    }

    /// The value as text for a text merge (`Null` is the empty text).
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Null => Some(""),
            Value::Text(s) | Value::RichText(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a set for a set merge (`Null` is the empty set).
    pub fn as_set(&self) -> Option<BTreeSet<String>> {
        match self {
            Value::Null => Some(BTreeSet::new()),
            Value::OptionSet(s) => Some(s.clone()),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("(empty)"),
            Value::Text(s) | Value::RichText(s) | Value::Option(s) => f.write_str(s),
            Value::Number(n) => f.write_str(n.as_str()),
            Value::OptionSet(set) => {
                let v: Vec<&str> = set.iter().map(String::as_str).collect();
                write!(f, "[{}]", v.join(", "))
            }
            Value::User(u) => write!(f, "@{}", u.0),
            Value::Date(d) => f.write_str(d.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_normalized() {
        assert_eq!(
            Value::text("  hi \r\nthere  \n\n"),
            Value::Text("  hi\nthere".into())
        );
        assert_eq!(Value::text(" \n "), Value::Null);
        assert_eq!(Value::text(""), Value::Null);
    }

    #[test]
    fn rich_text_collapses_blank_lines_outside_code() {
        let v = Value::rich_text("# T\r\n\r\n\r\npara  \n\n```\na\n\n\nb\n```\n");
        assert_eq!(
            v,
            Value::RichText("# T\n\npara\n\n```\na\n\n\nb\n```".into())
        );
        assert_eq!(v.clone().canonical(), v);
    }

    #[test]
    fn numbers_compare_canonically() {
        assert_eq!(Number::parse("5.0").ok(), Number::from_f64(5.0).ok());
        assert_eq!(
            Number::parse(" 2.50 ").map(|n| n.as_str().to_string()).ok(),
            Some("2.5".into())
        );
        assert_eq!(
            Number::from_f64(-0.0).map(|n| n.as_str().to_string()).ok(),
            Some("0".into())
        );
        assert!(Number::from_f64(f64::NAN).is_err());
        assert!(Number::parse("five").is_err());
    }

    #[test]
    fn sets_are_sorted_and_empty_is_null() {
        assert_eq!(
            Value::option_set(["b", "a", " a "]),
            Value::option_set(["a", "b"])
        );
        assert_eq!(Value::option_set(Vec::<String>::new()), Value::Null);
    }

    #[test]
    fn dates_validate() {
        assert_eq!(
            Value::date("2024-12-30T10:00:00Z").ok(),
            Value::date("2024-12-30").ok()
        );
        assert!(Value::date("2023-02-29").is_err());
        assert!(Value::date("2024-02-29").is_ok());
        assert!(Value::date("30/12/2024").is_err());
        assert!(Value::date("2024-12-30x").is_err());
    }

    #[test]
    fn serde_round_trip() {
        let v = Value::option_set(["x", "y"]);
        let s = serde_json::to_string(&v).unwrap_or_default();
        let back: Value = serde_json::from_str(&s).unwrap_or(Value::Null);
        assert_eq!(back, v);
        let n: Result<Value, _> = serde_json::from_str(r#"{"type":"number","value":"1.50"}"#);
        assert_eq!(n.ok(), Value::number(1.5).ok());
    }
}
