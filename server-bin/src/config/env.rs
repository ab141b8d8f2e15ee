//! Environment overrides: `JIRA_SYNC_<KEY>__<KEY>…` variables applied to the parsed TOML
//! before it is read (see the module above for the rules).

use super::*;

fn normalize(s: &str) -> String {
    s.to_ascii_lowercase().replace('-', "_")
}

/// Applies the `JIRA_SYNC_…` overrides of `env` to the parsed file.
pub(super) fn apply_env_overrides(table: &mut toml::Table, env: &Env) -> Result<(), ConfigError> {
    let mut problems = Vec::new();
    for (var, value) in env {
        let Some(rest) = var.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let path: Vec<String> = if var == LOG_ENV {
            vec!["log".into(), "filter".into()]
        } else {
            rest.split("__").map(normalize).collect()
        };
        if !TOP_KEYS.contains(&path[0].as_str()) {
            continue;
        }
        if let Err(message) = set_path(table, &path, value) {
            problems.push(Problem {
                key: var.clone(),
                message,
            });
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConfigError {
            file: None,
            problems,
        })
    }
}

/// The value an override sets: a string where the file has a string (or a value that is not
/// TOML), otherwise the TOML value the text spells (`true`, `30`, `["a"]`).
fn override_value(existing: Option<&toml::Value>, text: &str) -> toml::Value {
    if matches!(existing, Some(toml::Value::String(_))) {
        return toml::Value::String(text.to_string());
    }
    match format!("v = {text}").parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(text.to_string())),
        Err(_) => toml::Value::String(text.to_string()),
    }
}

fn set_path(table: &mut toml::Table, path: &[String], text: &str) -> Result<(), String> {
    let (first, rest) = path.split_first().ok_or("an empty key")?;
    if first.is_empty() {
        return Err("an empty key part (two `__` in a row?)".into());
    }
    let key = table
        .keys()
        .find(|k| normalize(k) == *first)
        .cloned()
        .unwrap_or_else(|| first.clone());
    if rest.is_empty() {
        let v = override_value(table.get(&key), text);
        table.insert(key, v);
        return Ok(());
    }
    let child = table
        .entry(key.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    set_in(child, &key, rest, text)
}

fn set_in(v: &mut toml::Value, at: &str, path: &[String], text: &str) -> Result<(), String> {
    match v {
        toml::Value::Table(t) => set_path(t, path, text),
        toml::Value::Array(a) => {
            let (first, rest) = path.split_first().ok_or("an empty key")?;
            let i: usize = first.parse().map_err(|_| {
                format!("{at} is a list: the next part must be an index, not {first:?}")
            })?;
            let len = a.len();
            let el = a
                .get_mut(i)
                .ok_or_else(|| format!("{at} has {len} entries; there is no [{i}]"))?;
            if rest.is_empty() {
                *el = override_value(Some(el), text);
                Ok(())
            } else {
                set_in(el, &format!("{at}[{i}]"), rest, text)
            }
        }
        _ => Err(format!("{at} is a single value, not a table")),
    }
}
