//! Rendering broker responses the way the `vault` CLI does: `Key    Value` tables, JSON, and
//! single raw fields.
//!
//! Everything here is pure (values in, text out); [`crate::output`] decides where it goes.

use serde_json::{Map, Value};

/// The `-format` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Table,
    Json,
}

impl Format {
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "table" => Some(Format::Table),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// Vault's column separator: four spaces, empty cells shown as `n/a`.
const GLUE: &str = "    ";
const EMPTY_CELL: &str = "n/a";

/// A table with a header row, a row of dashes under it, and left-aligned columns.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let underline: Vec<String> = headers.iter().map(|h| "-".repeat(h.len())).collect();
    let mut lines: Vec<Vec<String>> = Vec::with_capacity(rows.len() + 2);
    lines.push(headers.iter().map(|h| (*h).to_string()).collect());
    lines.push(underline);
    for row in rows {
        lines.push(
            row.iter()
                .map(|cell| {
                    let cell = cell.trim();
                    if cell.is_empty() {
                        EMPTY_CELL.to_string()
                    } else {
                        cell.to_string()
                    }
                })
                .collect(),
        );
    }
    let columns = lines.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            lines
                .iter()
                .filter_map(|line| line.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for line in &lines {
        let mut text = String::new();
        for (c, cell) in line.iter().enumerate() {
            if c + 1 < line.len() {
                let pad = widths[c] - cell.chars().count();
                text.push_str(cell);
                text.push_str(&" ".repeat(pad));
                text.push_str(GLUE);
            } else {
                text.push_str(cell);
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}

/// A two-column `Key`/`Value` table.
pub fn key_value_table(rows: &[(String, String)]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|(k, v)| vec![k.clone(), v.clone()])
        .collect();
    table(&["Key", "Value"], &rows)
}

/// A `Keys` list, as `vault list` prints it.
pub fn keys_table(keys: &[String]) -> String {
    let rows: Vec<Vec<String>> = keys.iter().map(|k| vec![k.clone()]).collect();
    table(&["Keys"], &rows)
}

/// The rows `vault` prints for a response envelope: lease, then auth, then sorted data fields.
pub fn secret_rows(envelope: &Value) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    let lease_duration = envelope
        .get("lease_duration")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let lease_id = envelope
        .get("lease_id")
        .and_then(Value::as_str)
        .unwrap_or("");
    if lease_duration > 0 {
        if lease_id.is_empty() {
            // A static secret's "lease" is only a hint of how often to re-read it.
            rows.push(("refresh_interval".into(), human_duration(lease_duration)));
        } else {
            let renewable = envelope
                .get("renewable")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            rows.push(("lease_id".into(), lease_id.to_string()));
            rows.push(("lease_duration".into(), human_duration(lease_duration)));
            rows.push(("lease_renewable".into(), renewable.to_string()));
        }
    }
    if let Some(auth) = envelope.get("auth").and_then(Value::as_object) {
        rows.extend(auth_rows(auth));
    }
    if let Some(data) = envelope.get("data").and_then(Value::as_object) {
        rows.extend(map_rows(data));
    }
    rows
}

/// The rows for an `auth` block: what `vault login` and `vault token create` show.
pub fn auth_rows(auth: &Map<String, Value>) -> Vec<(String, String)> {
    let text = |key: &str| {
        auth.get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let duration = auth
        .get("lease_duration")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let renewable = auth
        .get("renewable")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut rows = vec![
        ("token".to_string(), text("client_token")),
        ("token_accessor".to_string(), text("accessor")),
        (
            "token_duration".to_string(),
            // A zero duration is a token that never expires (root).
            if duration == 0 {
                "∞".to_string()
            } else {
                human_duration(duration)
            },
        ),
        ("token_renewable".to_string(), renewable.to_string()),
    ];
    for key in ["token_policies", "identity_policies", "policies"] {
        rows.push((key.to_string(), quoted_list(auth.get(key))));
    }
    if let Some(meta) = auth.get("metadata").and_then(Value::as_object) {
        let mut keys: Vec<&String> = meta.keys().collect();
        keys.sort();
        for key in keys {
            rows.push((format!("token_meta_{key}"), value_text(&meta[key])));
        }
    }
    rows
}

/// Sorted `key  value` rows for a JSON object, TTL-looking fields shown as durations.
pub fn map_rows(data: &Map<String, Value>) -> Vec<(String, String)> {
    let mut keys: Vec<&String> = data.keys().collect();
    keys.sort();
    keys.into_iter()
        .map(|key| {
            let value = &data[key];
            let text = if looks_like_duration(key) {
                duration_text(value)
            } else {
                value_text(value)
            };
            (key.clone(), text)
        })
        .collect()
}

/// Vault's rule for which fields hold a number of seconds worth printing as `1h30m`.
fn looks_like_duration(key: &str) -> bool {
    key == "period" || key.ends_with("_period") || key == "ttl" || key.ends_with("_ttl")
}

fn duration_text(value: &Value) -> String {
    let seconds = match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse::<i64>().ok(),
        _ => None,
    };
    seconds.map_or_else(|| value_text(value), human_duration)
}

/// A cell's text, following Go's `%v` as the vault CLI prints it: strings bare, `null` as
/// `<nil>`, lists as `[a b]`, objects as `map[k:v]` with sorted keys.
pub fn value_text(value: &Value) -> String {
    match value {
        Value::Null => "<nil>".to_string(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(value_text).collect();
            format!("[{}]", items.join(" "))
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let items: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{k}:{}", value_text(&map[k])))
                .collect();
            format!("map[{}]", items.join(" "))
        }
    }
}

/// Go's `%q` of a string list: `["default" "root"]`.
fn quoted_list(value: Option<&Value>) -> String {
    let items: Vec<String> = value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|item| match item {
                    Value::String(s) => format!("{s:?}"),
                    other => format!("{:?}", value_text(other)),
                })
                .collect()
        })
        .unwrap_or_default();
    format!("[{}]", items.join(" "))
}

/// Seconds as Go prints a `time.Duration`, trimmed like vault: `768h`, `1h1s`, `1m30s`, `0s`.
pub fn human_duration(seconds: i64) -> String {
    if seconds == 0 {
        return "0s".to_string();
    }
    let sign = if seconds < 0 { "-" } else { "" };
    let total = seconds.unsigned_abs();
    let (hours, minutes, secs) = (total / 3600, (total % 3600) / 60, total % 60);
    let mut text = if hours > 0 {
        format!("{hours}h{minutes}m{secs}s")
    } else if minutes > 0 {
        format!("{minutes}m{secs}s")
    } else {
        format!("{secs}s")
    };
    if let Some(stripped) = text.strip_suffix("m0s") {
        text = format!("{stripped}m");
    }
    if let Some(index) = text.find("h0m") {
        text = format!("{}{}", &text[..=index], &text[index + 3..]);
    }
    format!("{sign}{text}")
}

/// A top-level field as table text; absent, `null` and `""` give an empty cell (`n/a`).
pub fn cell(response: &Value, key: &str) -> String {
    match response.get(key) {
        None | Some(Value::Null) => String::new(),
        Some(value) => value_text(value),
    }
}

/// Pretty JSON with two-space indents, as `vault -format=json` prints.
pub fn json(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    text.push('\n');
    text
}

/// One field of a response for `-field`: auth fields by their table names, then `data`, then
/// the top level (for responses that are not envelopes, like `sys/seal-status`).
pub fn field<'a>(response: &'a Value, name: &str) -> Option<&'a Value> {
    if let Some(auth) = response.get("auth").and_then(Value::as_object) {
        let auth_key = match name {
            "token" => Some("client_token"),
            "token_accessor" => Some("accessor"),
            "token_duration" => Some("lease_duration"),
            "token_renewable" => Some("renewable"),
            "token_policies" | "identity_policies" | "policies" => Some(name),
            _ => None,
        };
        if let Some(value) = auth_key.and_then(|key| auth.get(key)) {
            return Some(value);
        }
    }
    if let Some(value) = response
        .get("data")
        .and_then(Value::as_object)
        .and_then(|d| d.get(name))
    {
        return Some(value);
    }
    response
        .get(name)
        .filter(|_| name != "data" && name != "auth")
}

/// A `-field` value as printed raw: strings without quotes, everything else as JSON.
pub fn raw_field(value: &Value, format: Format) -> String {
    match (value, format) {
        (Value::String(s), Format::Table) => s.clone(),
        (_, Format::Table) => value.to_string(),
        (_, Format::Json) => json(value).trim_end().to_string(),
    }
}

/// Vault's section banner, `== Secret Path ==`, widened to match the table under it.
pub fn banner(title: &str, width: usize) -> String {
    let mut equals = width.saturating_sub(title.len() + 2).max(2);
    if !equals.is_multiple_of(2) {
        equals += 1;
    }
    let side = "=".repeat(equals / 2);
    format!("{side} {title} {side}")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn key_value_table_aligns_like_vault() {
        let rows = vec![
            ("explicit_max_ttl".to_string(), "0s".to_string()),
            ("id".to_string(), "abc".to_string()),
            ("entity_id".to_string(), String::new()),
        ];
        assert_eq!(
            key_value_table(&rows),
            "Key                 Value\n\
             ---                 -----\n\
             explicit_max_ttl    0s\n\
             id                  abc\n\
             entity_id           n/a\n"
        );
    }

    #[test]
    fn keys_table_has_a_header_and_no_trailing_spaces() {
        let keys = vec!["foo".to_string(), "bar/".to_string()];
        assert_eq!(keys_table(&keys), "Keys\n----\nfoo\nbar/\n");
    }

    #[test]
    fn durations_print_like_go_trimmed_by_vault() {
        assert_eq!(human_duration(0), "0s");
        assert_eq!(human_duration(30), "30s");
        assert_eq!(human_duration(60), "1m");
        assert_eq!(human_duration(90), "1m30s");
        assert_eq!(human_duration(3600), "1h");
        assert_eq!(human_duration(3601), "1h1s");
        assert_eq!(human_duration(3660), "1h1m");
        assert_eq!(human_duration(2_764_800), "768h");
        assert_eq!(human_duration(-90), "-1m30s");
    }

    #[test]
    fn secret_rows_order_lease_then_sorted_data_with_ttls_humanised() {
        let envelope = json!({
            "lease_id": "database/creds/app/abc",
            "lease_duration": 3600,
            "renewable": true,
            "data": {"username": "v-app", "ttl": 90, "policies": ["a", "b"], "meta": null}
        });
        let rows = secret_rows(&envelope);
        let keys: Vec<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "lease_id",
                "lease_duration",
                "lease_renewable",
                "meta",
                "policies",
                "ttl",
                "username"
            ]
        );
        assert_eq!(rows[1].1, "1h");
        assert_eq!(rows[3].1, "<nil>");
        assert_eq!(rows[4].1, "[a b]");
        assert_eq!(rows[5].1, "1m30s");
    }

    #[test]
    fn static_secret_lease_is_a_refresh_interval() {
        let rows = secret_rows(&json!({"lease_id": "", "lease_duration": 2764800, "data": {}}));
        assert_eq!(rows, [("refresh_interval".to_string(), "768h".to_string())]);
    }

    #[test]
    fn auth_rows_show_the_token_and_quoted_policies() {
        let envelope = json!({"auth": {
            "client_token": "hvs.x", "accessor": "acc", "lease_duration": 0, "renewable": false,
            "policies": ["root"], "token_policies": ["default", "root"],
            "metadata": {"user": "op"}
        }});
        let rows = secret_rows(&envelope);
        let find = |k: &str| {
            rows.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(find("token"), Some("hvs.x"));
        assert_eq!(find("token_duration"), Some("∞"));
        assert_eq!(find("token_policies"), Some(r#"["default" "root"]"#));
        assert_eq!(find("identity_policies"), Some("[]"));
        assert_eq!(find("token_meta_user"), Some("op"));
    }

    #[test]
    fn values_follow_go_formatting() {
        assert_eq!(
            value_text(&json!({"b": 1, "a": [true]})),
            "map[a:[true] b:1]"
        );
        assert_eq!(value_text(&json!(1.5)), "1.5");
    }

    #[test]
    fn field_looks_in_auth_then_data_then_top_level() {
        let response = json!({
            "auth": {"client_token": "hvs.t", "accessor": "a1"},
            "data": {"password": "pw", "sealed": "in-data"},
            "sealed": true
        });
        assert_eq!(field(&response, "token"), Some(&json!("hvs.t")));
        assert_eq!(field(&response, "password"), Some(&json!("pw")));
        assert_eq!(field(&response, "sealed"), Some(&json!("in-data")));
        assert_eq!(
            field(&json!({"sealed": true}), "sealed"),
            Some(&json!(true))
        );
        assert_eq!(field(&response, "missing"), None);
        assert_eq!(field(&response, "data"), None);
    }

    #[test]
    fn raw_field_prints_strings_bare_and_structures_as_json() {
        assert_eq!(raw_field(&json!("s3cret"), Format::Table), "s3cret");
        assert_eq!(raw_field(&json!(["a", "b"]), Format::Table), r#"["a","b"]"#);
        assert_eq!(raw_field(&json!("s"), Format::Json), "\"s\"");
    }

    #[test]
    fn banners_are_centred_and_even() {
        assert_eq!(banner("Secret Path", 0), "= Secret Path =");
        assert_eq!(banner("Data", 20), "======= Data =======");
        assert_eq!(banner("Data", 19), "======= Data =======");
    }

    #[test]
    fn format_names_parse_case_insensitively() {
        assert_eq!(Format::parse("JSON"), Some(Format::Json));
        assert_eq!(Format::parse("yaml"), None);
    }
}
