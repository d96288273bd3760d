//! The Node and Identity services over the real socket: capabilities, every
//! `InvalidArgument`, publish → files that work, ten republishes → one login and one
//! credential, short TTLs → renew then re-mint with atomic swaps, unpublish → everything
//! revoked, and the `--allow-plain-directory` escape hatch.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use lessor_csi::proto::csi;
use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn identity_capabilities_and_every_invalid_argument() {
    let dir = tempfile::tempdir().unwrap();
    // No broker is needed: nothing here may reach one.
    let driver = Driver::start(dir.path(), "http://127.0.0.1:9", &[]).await;
    let mut identity = driver.identity().await;
    let info = identity
        .get_plugin_info(csi::GetPluginInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.name, "csi.lessor.dev");
    assert_eq!(info.vendor_version, env!("CARGO_PKG_VERSION"));
    let capabilities = identity
        .get_plugin_capabilities(csi::GetPluginCapabilitiesRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(
        capabilities.capabilities.is_empty(),
        "a node-only plugin advertises no controller service"
    );
    let probe = identity
        .probe(csi::ProbeRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(probe.ready, Some(true));

    let mut node = driver.node().await;
    let node_caps = node
        .node_get_capabilities(csi::NodeGetCapabilitiesRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(
        node_caps.capabilities.is_empty(),
        "no staging, stats or expansion"
    );
    let node_info = node
        .node_get_info(csi::NodeGetInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(node_info.node_id, "test-node");

    let target = dir.path().join("pods/p/volumes/v/mount");
    let good = || {
        let context = std::collections::HashMap::from([
            ("role".to_string(), "app".to_string()),
            ("objects".to_string(), DB_OBJECTS.to_string()),
            (
                "csi.storage.k8s.io/serviceAccount.tokens".to_string(),
                json!({"lessor": {"token": "x.y.z", "expirationTimestamp": "2099-01-01T00:00:00Z"}}).to_string(),
            ),
        ]);
        publish_request("vol-1", &target, context)
    };
    let mut block = good();
    block.volume_capability.as_mut().unwrap().access_type =
        Some(csi::volume_capability::AccessType::Block(Default::default()));
    let mut no_access_type = good();
    no_access_type
        .volume_capability
        .as_mut()
        .unwrap()
        .access_type = None;
    let mut no_mode = good();
    no_mode.volume_capability.as_mut().unwrap().access_mode = None;
    let mut cases: Vec<(&str, csi::NodePublishVolumeRequest)> = vec![
        (
            "missing volume id",
            csi::NodePublishVolumeRequest {
                volume_id: String::new(),
                ..good()
            },
        ),
        (
            "missing target path",
            csi::NodePublishVolumeRequest {
                target_path: String::new(),
                ..good()
            },
        ),
        (
            "relative target path",
            csi::NodePublishVolumeRequest {
                target_path: "rel/path".into(),
                ..good()
            },
        ),
        (
            "missing capability",
            csi::NodePublishVolumeRequest {
                volume_capability: None,
                ..good()
            },
        ),
        ("block access", block),
        ("missing access type", no_access_type),
        ("missing access mode", no_mode),
    ];
    let edits: [(&str, &str, Option<&str>); 7] = [
        ("missing role", "role", None),
        ("missing objects", "objects", None),
        ("objects not a list", "objects", Some("{path: x}")),
        (
            "file name escaping the target",
            "objects",
            Some("[{path: database/creds/app, files: [{name: ../../etc/passwd}]}]"),
        ),
        ("misspelled attribute", "rol", Some("app")),
        (
            "no token for the audience",
            "csi.storage.k8s.io/serviceAccount.tokens",
            Some(r#"{"other":{"token":"x","expirationTimestamp":"2099-01-01T00:00:00Z"}}"#),
        ),
        (
            "not an ephemeral volume",
            "csi.storage.k8s.io/ephemeral",
            Some("false"),
        ),
    ];
    for (why, key, value) in edits {
        let mut request = good();
        match value {
            Some(value) => request.volume_context.insert(key.into(), value.into()),
            None => request.volume_context.remove(key),
        };
        cases.push((why, request));
    }
    let mut no_tokens = good();
    no_tokens
        .volume_context
        .remove("csi.storage.k8s.io/serviceAccount.tokens");
    cases.push(("no service-account token at all", no_tokens));
    for (why, request) in cases {
        let status = node.node_publish_volume(request).await.unwrap_err();
        assert_eq!(
            status.code(),
            tonic::Code::InvalidArgument,
            "{why}: {status:?}"
        );
    }
    assert!(
        !target.exists(),
        "a refused publish must not create the target"
    );

    let unpublish = |volume_id: &str, target_path: &str| csi::NodeUnpublishVolumeRequest {
        volume_id: volume_id.into(),
        target_path: target_path.into(),
    };
    for (why, request) in [
        ("unpublish without volume id", unpublish("", "/tmp/x")),
        ("unpublish without target path", unpublish("vol-1", "")),
    ] {
        let status = node.node_unpublish_volume(request).await.unwrap_err();
        assert_eq!(
            status.code(),
            tonic::Code::InvalidArgument,
            "{why}: {status:?}"
        );
    }
    // Unknown volumes unpublish fine (the spec's idempotency).
    node.node_unpublish_volume(unpublish("never-published", &target.display().to_string()))
        .await
        .unwrap();
}

/// Publish → files (names, modes, tmpfs) that work against PostgreSQL and the API-key
/// engine; ten republishes → one login, one credential each, leases renewed; unpublish →
/// everything revoked and the target gone; a second unpublish succeeds.
#[tokio::test]
async fn publish_republish_and_unpublish_on_tmpfs() {
    // Short enough that the republish loop spans a renewal, long enough never to be capped.
    let cluster = Cluster::start("6s", "1h").await;
    let dir = tempfile::tempdir().unwrap();
    let driver = Driver::start(dir.path(), &cluster.broker.address(), &[]).await;
    let pod = PodIdentity::new();
    let target = dir.path().join(format!(
        "pods/{}/volumes/kubernetes.io~csi/secrets/mount",
        pod.uid
    ));

    let reviews_before = cluster.fake.token_reviews();
    driver
        .publish(
            "vol-a",
            &target,
            volume_context(&cluster, &pod, ALL_OBJECTS),
        )
        .await
        .unwrap();
    println!("path exercised: tmpfs mount at the target (running with CAP_SYS_ADMIN)");
    assert!(is_tmpfs_mount(&target), "the target must be a tmpfs mount");
    assert_eq!(mode(&target.join("db-user")), 0o644);
    assert_eq!(mode(&target.join("db-pass")), 0o400);
    assert_eq!(mode(&target.join("api-key")), 0o440);
    assert_eq!(mode(&target.join("config.json")), 0o644);
    assert_eq!(
        std::fs::read_link(target.join("db-pass")).unwrap(),
        std::path::Path::new("..data/db-pass"),
        "kubelet's atomic-writer layout"
    );
    let user = read(&target.join("db-user"));
    let password = read(&target.join("db-pass"));
    let api_key = read(&target.join("api-key"));
    assert!(user.starts_with(&cluster.target.prefix));
    assert!(
        cluster.target.login_works(&user, &password).await,
        "database credentials do not log in"
    );
    assert!(
        cluster.api_key_valid(&api_key).await,
        "the API key does not verify"
    );
    let config: serde_json::Value =
        serde_json::from_str(&read(&target.join("config.json"))).unwrap();
    assert_eq!(config, json!({"feature": "on", "level": 3}));
    assert_eq!(cluster.counts().await, (1, 1, 1));
    assert_eq!(
        cluster.fake.token_reviews() - reviews_before,
        1,
        "one login"
    );

    let first_until = cluster.target.valid_until(&user).await.unwrap();
    for _ in 0..10 {
        // kubelet's requiresRepublish: the same volume, a fresh service-account token.
        driver
            .publish(
                "vol-a",
                &target,
                volume_context(&cluster, &pod, ALL_OBJECTS),
            )
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    assert_eq!(
        cluster.counts().await,
        (1, 1, 1),
        "ten republishes: still one login token, one database credential, one API key"
    );
    assert_eq!(
        cluster.fake.token_reviews() - reviews_before,
        1,
        "no login per republish"
    );
    assert_eq!(
        read(&target.join("db-user")),
        user,
        "no new credential per republish"
    );
    assert!(driver.counter("lessor_csi_renewals_total").await >= 1);
    let renewed_until = cluster.target.valid_until(&user).await.unwrap();
    assert_ne!(
        renewed_until, first_until,
        "the database lease was renewed (VALID UNTIL moved)"
    );
    assert_eq!(driver.counter("lessor_csi_publishes_total").await, 11);
    assert_eq!(driver.counter("lessor_csi_logins_total").await, 1);
    assert_eq!(driver.counter("lessor_csi_remints_total").await, 0);

    // The state on disk holds no secret; the token sits on the tmpfs only.
    let state = all_bytes(&dir.path().join("state"));
    assert!(!state.is_empty());
    let token = read(&target.join("..lessor-token"));
    assert_eq!(mode(&target.join("..lessor-token")), 0o600);
    for secret in [&user, &password, &api_key, &token] {
        assert!(
            !contains(&state, secret),
            "a secret reached the state directory"
        );
    }
    for entry in std::fs::read_dir(dir.path().join("state/volumes")).unwrap() {
        assert_eq!(mode(&entry.unwrap().path()), 0o600);
    }
    let broker_user = Api::new(&cluster.broker.address()).with_token(&token);
    assert_eq!(
        broker_user
            .call("GET", "auth/token/lookup-self", None)
            .await
            .0,
        200
    );

    driver.unpublish("vol-a", &target).await.unwrap();
    assert_eq!(
        cluster.target.valid_until(&user).await,
        None,
        "the PostgreSQL role is gone"
    );
    assert!(!cluster.target.login_works(&user, &password).await);
    assert!(
        !cluster.api_key_valid(&api_key).await,
        "the API key still verifies"
    );
    assert_eq!(
        broker_user
            .call("GET", "auth/token/lookup-self", None)
            .await
            .0,
        403,
        "the token is revoked"
    );
    assert_eq!(cluster.counts().await, (0, 0, 0));
    assert!(!is_mounted(&target), "the target is still mounted");
    assert!(!target.exists(), "the target is still there");
    assert_eq!(
        all_bytes(&dir.path().join("state")).len(),
        0,
        "the volume's state is removed"
    );
    driver
        .unpublish("vol-a", &target)
        .await
        .expect("a second unpublish succeeds");
    assert!(driver.counter("lessor_csi_revocations_total").await >= 1);

    let logs = driver.logs();
    for secret in [&password, &api_key, &token] {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret reached the driver's log"
        );
    }
}

/// The broker reports which pod a service-account token is bound to: a token of another pod
/// than the volume's is refused, and the broker token that login made is revoked at once.
#[tokio::test]
async fn a_token_bound_to_another_pod_is_refused() {
    let cluster = Cluster::start("1h", "2h").await;
    let dir = tempfile::tempdir().unwrap();
    let driver = Driver::start(dir.path(), &cluster.broker.address(), &[]).await;
    let pod = PodIdentity::new();
    let target = dir.path().join("pods/other/volumes/mount");
    let mut context = volume_context(&cluster, &pod, DB_OBJECTS);
    context.insert(
        "csi.storage.k8s.io/serviceAccount.tokens".into(),
        cluster.tokens_attribute(&PodIdentity::new()),
    );
    let status = driver
        .publish("vol-other", &target, context)
        .await
        .unwrap_err();
    println!("path exercised: tmpfs mount at the target, removed after the refusal");
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    assert_eq!(
        driver.counter("lessor_csi_logins_total").await,
        1,
        "the broker accepted the login"
    );
    assert_eq!(
        cluster.counts().await,
        (0, 0, 0),
        "the login's token is revoked and nothing was minted"
    );
    assert!(!target.exists(), "a refused publish leaves no target");
}

/// Default TTL 3 s, max TTL 8 s: the driver's own timer renews, then re-mints before the
/// cap, and a reader looping on the files never sees one credential's user with another's
/// password.
#[tokio::test]
async fn short_ttls_renew_then_remint_and_files_swap_atomically() {
    let cluster = Cluster::start("3s", "8s").await;
    let dir = tempfile::tempdir().unwrap();
    let driver = Driver::start(dir.path(), &cluster.broker.address(), &[]).await;
    let pod = PodIdentity::new();
    let target = dir.path().join("pods/short/volumes/mount");
    driver
        .publish(
            "vol-short",
            &target,
            volume_context(&cluster, &pod, DB_OBJECTS),
        )
        .await
        .unwrap();
    println!("path exercised: tmpfs mount at the target");
    let first_user = read(&target.join("db-user"));

    // The reader resolves `..data` once per sample, as an app opening the directory would.
    let reader_target = target.clone();
    let reader = std::thread::spawn(move || {
        let mut samples: Vec<(Instant, String, String)> = Vec::new();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(12) {
            let Ok(generation) = std::fs::read_link(reader_target.join("..data")) else {
                continue;
            };
            let dir = reader_target.join(generation);
            let (Ok(user), Ok(password)) = (
                std::fs::read_to_string(dir.join("db-user")),
                std::fs::read_to_string(dir.join("db-pass")),
            ) else {
                // The generation was cleaned up between the two reads: resolve again.
                continue;
            };
            samples.push((Instant::now(), user, password));
            std::thread::sleep(Duration::from_millis(2));
        }
        samples
    });
    // Meanwhile, note each role's VALID UNTIL as PostgreSQL has it.
    let mut valid_until: BTreeMap<String, Vec<(Instant, String)>> = BTreeMap::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(12) {
        let user = read(&target.join("db-user"));
        if let Some(until) = cluster.target.valid_until(&user).await {
            valid_until
                .entry(user)
                .or_default()
                .push((Instant::now(), until));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let samples = reader.join().unwrap();
    assert!(samples.len() > 100, "the reader barely ran");

    let mut passwords: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (_, user, password) in &samples {
        passwords.entry(user).or_default().insert(password);
    }
    assert!(
        passwords.len() >= 2,
        "no re-mint within 12 s of an 8 s max TTL: {:?}",
        passwords.keys()
    );
    for (user, seen) in &passwords {
        assert_eq!(
            seen.len(),
            1,
            "{user} was seen with {} passwords: a torn read",
            seen.len()
        );
    }
    let first_renewals = &valid_until[&first_user];
    let distinct: BTreeSet<&String> = first_renewals.iter().map(|(_, until)| until).collect();
    assert!(
        distinct.len() >= 2,
        "the first credential was never renewed: {distinct:?}"
    );
    assert!(driver.counter("lessor_csi_renewals_total").await >= 2);
    assert!(driver.counter("lessor_csi_remints_total").await >= 1);
    assert_eq!(
        driver.counter("lessor_csi_logins_total").await,
        1,
        "re-mints reuse the token"
    );
    // Re-minted before expiry: the files moved on while the first role still existed.
    let first_gone = samples
        .iter()
        .position(|(_, user, _)| *user != first_user)
        .unwrap();
    let switched_at = samples[first_gone].0;
    let last_seen_alive = first_renewals.last().unwrap().0;
    assert!(
        switched_at <= last_seen_alive + Duration::from_millis(250),
        "the files still held the first credential after PostgreSQL dropped it"
    );
    let current_user = read(&target.join("db-user"));
    let current_password = read(&target.join("db-pass"));
    assert!(
        cluster
            .target
            .login_works(&current_user, &current_password)
            .await
    );

    driver.unpublish("vol-short", &target).await.unwrap();
    assert_eq!(cluster.target.valid_until(&current_user).await, None);
}

/// Without CAP_SYS_ADMIN (dropped from the bounding set with `setpriv`), a publish fails
/// clearly unless the driver runs with `--allow-plain-directory`.
#[tokio::test]
async fn plain_directory_only_when_explicitly_allowed() {
    let cluster = Cluster::start("1h", "2h").await;
    let without_sys_admin = ["setpriv", "--bounding-set", "-sys_admin", "--"];

    let dir = tempfile::tempdir().unwrap();
    let strict = Driver::start_wrapped(
        dir.path(),
        &cluster.broker.address(),
        &[],
        &without_sys_admin,
    )
    .await;
    let pod = PodIdentity::new();
    let target = dir.path().join("pods/strict/volumes/mount");
    let status = strict
        .publish(
            "vol-strict",
            &target,
            volume_context(&cluster, &pod, DB_OBJECTS),
        )
        .await
        .unwrap_err();
    println!("path exercised: tmpfs refused (no CAP_SYS_ADMIN), no --allow-plain-directory");
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains("CAP_SYS_ADMIN"),
        "{}",
        status.message()
    );
    assert_eq!(
        cluster.counts().await,
        (0, 0, 0),
        "a refused publish leaves nothing leased"
    );
    assert!(!target.exists());

    let dir = tempfile::tempdir().unwrap();
    let lenient = Driver::start_wrapped(
        dir.path(),
        &cluster.broker.address(),
        &["--allow-plain-directory"],
        &without_sys_admin,
    )
    .await;
    let target = dir.path().join("pods/plain/volumes/mount");
    lenient
        .publish(
            "vol-plain",
            &target,
            volume_context(&cluster, &pod, DB_OBJECTS),
        )
        .await
        .unwrap();
    println!("path exercised: --allow-plain-directory (plain directory, no tmpfs)");
    assert!(!is_mounted(&target), "expected the plain-directory path");
    let user = read(&target.join("db-user"));
    assert!(
        cluster
            .target
            .login_works(&user, &read(&target.join("db-pass")))
            .await
    );
    assert!(
        lenient.logs().contains("plain directory"),
        "the fallback must be logged"
    );
    lenient.unpublish("vol-plain", &target).await.unwrap();
    assert_eq!(cluster.target.valid_until(&user).await, None);
    assert!(!target.exists());
}
