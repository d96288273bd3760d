//! The device table over a real barrier on memory storage: enabling persists the device and
//! its salt, a reload (unseal) gets the same salt back, one working device is enough, and
//! none blocks until a device works again.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;

use lessor_audit::{EntryType, Request};
use lessor_barrier::{Barrier, RootKey};
use lessor_sdk::{Clock, ManualClock};
use lessor_storage::MemoryBackend;
use time::macros::datetime;

use super::*;

async fn barrier() -> (Arc<UnsealedBarrier>, Arc<dyn Clock>) {
    let storage = Arc::new(MemoryBackend::new());
    let barrier = Barrier::new(storage);
    let root = RootKey::generate();
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(datetime!(2026-01-01 00:00 UTC)));
    barrier.initialize(&root, clock.now()).await.unwrap();
    (barrier.unseal(&root).await.unwrap(), clock)
}

fn file_options(path: &Path) -> DeviceOptions {
    let mut options = lessor_sdk::Map::new();
    options.insert("file_path".into(), path.display().to_string().into());
    DeviceOptions::parse(DeviceType::File, &options).unwrap()
}

fn entry() -> Entry<'static> {
    Entry {
        kind: EntryType::Request,
        time: "2026-01-01T00:00:00Z",
        auth: None,
        request: Request {
            id: "r1",
            operation: "read",
            path: "secret/data/x",
            remote_address: None,
            client_token: Some("hvs.the-token"),
            client_token_accessor: None,
            data: None,
        },
        response: None,
        error: None,
    }
}

#[tokio::test]
async fn enabled_devices_and_their_salts_survive_a_reload() {
    let (barrier, clock) = barrier().await;
    let dir = tempfile::tempdir().unwrap();
    let auditor = Auditor::load(Arc::clone(&barrier), Arc::clone(&clock))
        .await
        .unwrap();
    auditor
        .enable(
            "file",
            DeviceType::File,
            "main".into(),
            file_options(&dir.path().join("a.log")),
        )
        .await
        .unwrap();
    let before = auditor.hash("file/", "hvs.the-token").unwrap();
    assert!(before.starts_with("hmac-sha256:"));
    assert!(
        auditor
            .enable(
                "file/",
                DeviceType::Stdout,
                String::new(),
                file_options(&dir.path().join("b.log"))
            )
            .await
            .is_err()
    );

    let reloaded = Auditor::load(barrier, clock).await.unwrap();
    assert_eq!(reloaded.list().len(), 1);
    assert_eq!(reloaded.list()[0].options.mode, 0o600);
    assert_eq!(reloaded.hash("file", "hvs.the-token").unwrap(), before);
    reloaded.disable("file").await.unwrap();
    assert!(reloaded.list().is_empty());
    assert!(reloaded.hash("file", "x").is_err());
    // Disabling again is not an error.
    reloaded.disable("file").await.unwrap();
}

#[tokio::test]
async fn an_unwritable_path_is_refused_at_enable() {
    let (barrier, clock) = barrier().await;
    let dir = tempfile::tempdir().unwrap();
    let auditor = Auditor::load(barrier, clock).await.unwrap();
    let error = auditor
        .enable(
            "file",
            DeviceType::File,
            String::new(),
            file_options(dir.path()),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, ApiError::InvalidRequest(_)), "{error:?}");
    assert!(auditor.list().is_empty());
}

#[tokio::test]
async fn one_working_device_is_enough_and_none_blocks_until_fixed() {
    let (barrier, clock) = barrier().await;
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.log");
    let b = dir.path().join("b.log");
    let auditor = Auditor::load(barrier, clock).await.unwrap();
    auditor
        .enable("a", DeviceType::File, String::new(), file_options(&a))
        .await
        .unwrap();
    auditor
        .enable("b", DeviceType::File, String::new(), file_options(&b))
        .await
        .unwrap();

    let break_path = |path: &Path| {
        std::fs::remove_file(path).unwrap();
        std::fs::create_dir(path).unwrap();
    };
    break_path(&a);
    auditor.reopen();
    let devices = auditor.devices();
    auditor.record(&devices, &entry()).unwrap();
    assert!(!auditor.is_blocked());

    break_path(&b);
    auditor.reopen();
    assert!(auditor.record(&devices, &entry()).is_err());
    assert!(auditor.is_blocked());

    std::fs::remove_dir(&b).unwrap();
    // Health's probe reopens the fixed file; the next line is recorded.
    assert!(!auditor.is_blocked());
    auditor.record(&devices, &entry()).unwrap();
    let text = std::fs::read_to_string(&b).unwrap();
    assert_eq!(text.lines().count(), 1);
    assert!(!text.contains("hvs.the-token"));
}

#[test]
fn options_are_validated() {
    let parse =
        |kind, value: serde_json::Value| DeviceOptions::parse(kind, value.as_object().unwrap());
    assert!(parse(DeviceType::File, serde_json::json!({})).is_err());
    assert!(
        parse(
            DeviceType::File,
            serde_json::json!({"file_path": "relative.log"})
        )
        .is_err()
    );
    assert!(
        parse(
            DeviceType::File,
            serde_json::json!({"file_path": "/x", "mode": "0999"})
        )
        .is_err()
    );
    assert!(
        parse(
            DeviceType::File,
            serde_json::json!({"file_path": "/x", "hmac_acessor": "false"})
        )
        .is_err()
    );
    assert!(parse(DeviceType::Stdout, serde_json::json!({"file_path": "/x"})).is_err());
    let options = parse(
        DeviceType::File,
        serde_json::json!({"file_path": "/var/log/a.log", "mode": "0640", "log_raw": false, "hmac_accessor": "false"}),
    )
    .unwrap();
    assert_eq!(options.mode, 0o640);
    assert!(!options.hmac_accessor && !options.log_raw);
    assert_eq!(options.to_map()["mode"], "0640");
    assert!(parse(DeviceType::Stdout, serde_json::json!({})).is_ok());
}

#[tokio::test]
async fn a_request_trail_debug_shows_neither_token_nor_data() {
    let (barrier, clock) = barrier().await;
    let dir = tempfile::tempdir().unwrap();
    let auditor = Auditor::load(barrier, clock).await.unwrap();
    auditor
        .enable(
            "file",
            DeviceType::File,
            String::new(),
            file_options(&dir.path().join("a.log")),
        )
        .await
        .unwrap();
    let mut data = lessor_sdk::Map::new();
    data.insert("password".into(), "pw-debug-secret".into());
    let request = crate::request::LogicalRequest {
        id: "r1".into(),
        operation: lessor_sdk::Operation::Update,
        path: "auth/userpass/login/a".into(),
        data,
        token: Some(crate::request::ClientToken(Zeroizing::new(
            "hvs.debug-secret".into(),
        ))),
        remote_addr: None,
    };
    let trail = auditor.begin(&request);
    let shown = format!("{trail:?}");
    assert!(
        shown.contains("r1") && !shown.contains("debug-secret"),
        "{shown}"
    );
}

/// `sys/seal` is answered outside the logical pipeline (it must drop the unsealed state), so
/// it drives the audit trail itself: a refused seal and an accepted one are both recorded,
/// before the salts go.
#[tokio::test]
async fn sys_seal_is_recorded_refused_or_not() {
    use axum::body::Body;
    use axum::http::{Request as HttpRequest, StatusCode};
    use tower::ServiceExt;

    let core = Arc::new(crate::core::Core::new(
        Arc::new(MemoryBackend::new()),
        Arc::new(lessor_sdk::SystemClock),
        crate::core::CoreSettings {
            default_lease_ttl: std::time::Duration::from_secs(3600),
            max_lease_ttl: std::time::Duration::from_secs(7200),
            lease_revocation_attempts: 8,
            read_cache: lessor_barrier::CacheLimits::default(),
        },
    ));
    let root = core
        .bootstrap_dev(None)
        .await
        .unwrap()
        .root_token
        .to_string();
    let app = crate::http::router(
        Arc::clone(&core),
        crate::http::Limits {
            max_request_size: 64 * 1024,
            max_request_duration: std::time::Duration::from_secs(30),
            unauthenticated_metrics_access: false,
            x_forwarded_for_authorized_addrs: Vec::new(),
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let send = |method: &str, path: &str, token: &str, body: String| {
        let request = HttpRequest::builder()
            .method(method)
            .uri(path)
            .header("X-Vault-Token", token)
            .body(Body::from(body))
            .unwrap();
        let app = app.clone();
        async move { app.oneshot(request).await.unwrap().status() }
    };
    let enable = serde_json::json!({"type": "file", "options": {"file_path": log}}).to_string();
    assert_eq!(
        send("PUT", "/v1/sys/audit/file", &root, enable).await,
        StatusCode::NO_CONTENT
    );

    let wrong_token = "hvs.not-a-token-seal-test";
    assert_eq!(
        send("PUT", "/v1/sys/seal", wrong_token, String::new()).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(core.mode(), crate::core::NodeMode::Active);
    assert_eq!(
        send("PUT", "/v1/sys/seal", &root, String::new()).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(core.mode(), crate::core::NodeMode::Sealed);

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        !text.contains(&root) && !text.contains(wrong_token),
        "{text}"
    );
    assert_eq!(
        lessor_audit::verify(text.as_bytes()).unwrap().lines,
        text.lines().count()
    );
    let seals: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|line| line["request"]["path"] == "sys/seal")
        .collect();
    let kinds: Vec<&str> = seals
        .iter()
        .map(|line| line["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["request", "response", "request", "response"]);
    // The refused one: no identity, the error on both lines.
    assert!(seals[0]["auth"].is_null());
    assert!(seals[1]["error"].as_str().is_some());
    // The accepted one: the root caller, allowed with sudo, no error.
    assert_eq!(seals[2]["auth"]["policy_results"]["allowed"], true);
    assert_eq!(seals[2]["auth"]["policies"], serde_json::json!(["root"]));
    assert!(seals[3].get("error").is_none());
}
