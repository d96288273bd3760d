//! The mount tables of `sys/mounts` and `sys/auth`, shared by `secrets list` and `auth list`.

use serde_json::{Map, Value};

use crate::format::{cell, table};

/// The mounts in an answer, sorted by path. Vault puts them under `data` and (for old clients)
/// also at the top level; entries that are not mount objects are skipped.
pub fn entries(response: &Value) -> Vec<(String, Map<String, Value>)> {
    let source = response
        .get("data")
        .and_then(Value::as_object)
        .or_else(|| response.as_object());
    let mut mounts: Vec<(String, Map<String, Value>)> = source
        .map(|map| {
            map.iter()
                .filter_map(|(path, entry)| {
                    let entry = entry.as_object()?;
                    entry
                        .contains_key("type")
                        .then(|| (path.clone(), entry.clone()))
                })
                .collect()
        })
        .unwrap_or_default();
    mounts.sort_by(|a, b| a.0.cmp(&b.0));
    mounts
}

/// The `Path  Type  Accessor  Description` table vault prints.
pub fn render(response: &Value) -> String {
    let rows: Vec<Vec<String>> = entries(response)
        .into_iter()
        .map(|(path, entry)| {
            let entry = Value::Object(entry);
            vec![
                path,
                cell(&entry, "type"),
                cell(&entry, "accessor"),
                cell(&entry, "description"),
            ]
        })
        .collect();
    table(&["Path", "Type", "Accessor", "Description"], &rows)
}

/// The mount map alone, for `-format=json`.
pub fn json_view(response: &Value) -> Value {
    Value::Object(
        entries(response)
            .into_iter()
            .map(|(p, e)| (p, Value::Object(e)))
            .collect(),
    )
}

/// `kv/` or `/kv` → `kv`: mount paths are sent without slashes and shown with one.
pub fn normalise_mount_path(path: &str) -> String {
    path.trim_matches('/').to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn mounts_come_from_data_sorted_and_rendered() {
        let response = json!({
            "request_id": "r",
            "data": {
                "sys/": {"type": "system", "accessor": "system_1", "description": "system endpoints"},
                "secret/": {"type": "kv", "accessor": "kv_2", "description": ""}
            }
        });
        assert_eq!(
            render(&response),
            "Path       Type      Accessor    Description\n\
             ----       ----      --------    -----------\n\
             secret/    kv        kv_2        n/a\n\
             sys/       system    system_1    system endpoints\n"
        );
    }

    #[test]
    fn top_level_mount_maps_are_accepted_and_noise_ignored() {
        let response = json!({"token/": {"type": "token"}, "request_id": "r", "lease_id": ""});
        let mounts = entries(&response);
        assert_eq!(mounts.len(), 1);
        assert_eq!(mounts[0].0, "token/");
    }
}
