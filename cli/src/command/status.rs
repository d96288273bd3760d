//! `lessor status`: the seal status table, shared with `operator unseal`.

use serde_json::Value;

use super::{Context, Outcome};
use crate::error::CliError;
use crate::format::cell;

pub async fn run(ctx: &Context) -> Result<Outcome, CliError> {
    let client = ctx.anonymous_client()?;
    let status = client
        .read("sys/seal-status", "checking seal status")
        .await?
        .unwrap_or(Value::Null);
    let sealed = status
        .get("sealed")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let mut rows = seal_status_rows(&status);
    if !sealed {
        // HA details are a bonus: a broker without sys/leader still has a status.
        if let Ok(Some(leader)) = client.read("sys/leader", "checking leader").await {
            rows.extend(leader_rows(&leader));
        }
    }
    ctx.output.rows(&status, &rows)?;
    Ok(if sealed {
        Outcome::Negative
    } else {
        Outcome::Success
    })
}

/// The rows `vault status` shows for a `sys/seal-status` (or `sys/unseal`) answer.
pub fn seal_status_rows(status: &Value) -> Vec<(String, String)> {
    let sealed = status
        .get("sealed")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let mut rows = vec![
        ("Seal Type".to_string(), cell(status, "type")),
        ("Initialized".to_string(), cell(status, "initialized")),
        ("Sealed".to_string(), cell(status, "sealed")),
        ("Total Shares".to_string(), cell(status, "n")),
        ("Threshold".to_string(), cell(status, "t")),
    ];
    if sealed {
        rows.push((
            "Unseal Progress".to_string(),
            format!("{}/{}", cell(status, "progress"), cell(status, "t")),
        ));
        rows.push(("Unseal Nonce".to_string(), cell(status, "nonce")));
    }
    rows.push(("Version".to_string(), cell(status, "version")));
    for (label, key) in [
        ("Build Date", "build_date"),
        ("Storage Type", "storage_type"),
    ] {
        if status.get(key).is_some() {
            rows.push((label.to_string(), cell(status, key)));
        }
    }
    if !sealed {
        for (label, key) in [
            ("Cluster Name", "cluster_name"),
            ("Cluster ID", "cluster_id"),
        ] {
            if status.get(key).is_some() {
                rows.push((label.to_string(), cell(status, key)));
            }
        }
    }
    rows
}

fn leader_rows(leader: &Value) -> Vec<(String, String)> {
    let enabled = leader
        .get("ha_enabled")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut rows = vec![("HA Enabled".to_string(), enabled.to_string())];
    if enabled {
        let is_self = leader
            .get("is_self")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        rows.push((
            "HA Cluster".to_string(),
            cell(leader, "leader_cluster_address"),
        ));
        let mode = if is_self { "active" } else { "standby" };
        rows.push(("HA Mode".to_string(), mode.to_string()));
        if is_self {
            rows.push(("Active Since".to_string(), cell(leader, "active_time")));
        } else {
            let address = cell(leader, "leader_address");
            // A standby that knows no active node (it died, nobody took over yet) says so.
            let address = if address.is_empty() {
                "<none>".to_string()
            } else {
                address
            };
            rows.push(("Active Node Address".to_string(), address));
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn sealed_status_shows_progress_and_nonce() {
        let status = json!({
            "type": "shamir", "initialized": true, "sealed": true, "t": 3, "n": 5,
            "progress": 1, "nonce": "", "version": "0.1.0"
        });
        let rows = seal_status_rows(&status);
        let find = |k: &str| {
            rows.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(find("Unseal Progress").as_deref(), Some("1/3"));
        assert_eq!(find("Unseal Nonce").as_deref(), Some(""));
        assert_eq!(find("Sealed").as_deref(), Some("true"));
        assert_eq!(find("Build Date"), None);
    }

    #[test]
    fn unsealed_status_hides_progress_and_shows_cluster() {
        let status = json!({
            "type": "shamir", "initialized": true, "sealed": false, "t": 1, "n": 1,
            "progress": 0, "version": "0.1.0", "cluster_name": "lessor-1", "storage_type": "sqlite"
        });
        let rows = seal_status_rows(&status);
        let keys: Vec<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "Seal Type",
                "Initialized",
                "Sealed",
                "Total Shares",
                "Threshold",
                "Version",
                "Storage Type",
                "Cluster Name"
            ]
        );
    }

    #[test]
    fn standby_is_reported_from_leader_info() {
        let rows = leader_rows(&json!({"ha_enabled": true, "is_self": false,
            "leader_cluster_address": "https://10.0.0.1:8201"}));
        assert_eq!(rows[2], ("HA Mode".to_string(), "standby".to_string()));
        assert_eq!(rows[3].0, "Active Node Address");
        assert_eq!(rows[3].1, "<none>");
    }

    #[test]
    fn active_and_standby_name_the_active_node() {
        let standby = leader_rows(&json!({"ha_enabled": true, "is_self": false,
            "leader_address": "http://10.0.0.1:8200", "leader_cluster_address": ""}));
        assert_eq!(
            standby[3],
            (
                "Active Node Address".to_string(),
                "http://10.0.0.1:8200".to_string()
            )
        );
        let active = leader_rows(&json!({"ha_enabled": true, "is_self": true,
            "leader_address": "http://10.0.0.1:8200", "active_time": "2025-01-01T00:00:00Z"}));
        assert_eq!(active[2], ("HA Mode".to_string(), "active".to_string()));
        assert_eq!(
            active[3],
            (
                "Active Since".to_string(),
                "2025-01-01T00:00:00Z".to_string()
            )
        );
        let single = leader_rows(&json!({"ha_enabled": false}));
        assert_eq!(single, [("HA Enabled".to_string(), "false".to_string())]);
    }
}
