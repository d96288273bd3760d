//! Provider mode (Secrets Store CSI Driver `CSIDriverProvider` v1alpha1): two mounts for one
//! pod uid share one login and one credential, renewed in between; object versions are
//! present; the pod going away revokes.

use std::collections::HashMap;
use std::time::Duration;

use lessor_csi::proto::provider as pb;

use crate::harness::*;

#[tokio::test]
async fn mount_twice_for_one_pod_is_one_renewed_credential() {
    let cluster = Cluster::start("3s", "1h").await;
    let dir = tempfile::tempdir().unwrap();
    let providers = dir.path().join("providers");
    let driver = Driver::start(
        dir.path(),
        &cluster.broker.address(),
        &[&format!("--provider-dir={}", providers.display())],
    )
    .await;
    let mut provider = driver.provider(&providers.join("lessor.sock")).await;
    let version = provider
        .version(pb::VersionRequest {
            version: "v1alpha1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(version.runtime_name, "lessor");
    assert_eq!(version.runtime_version, env!("CARGO_PKG_VERSION"));

    let pod = PodIdentity::new();
    // The pod's volume directory, which the Secrets Store CSI Driver owns.
    let target = dir.path().join(format!(
        "pods/{}/volumes/kubernetes.io~csi/store/mount",
        pod.uid
    ));
    std::fs::create_dir_all(&target).unwrap();
    let mount = |cluster: &Cluster| {
        let mut attributes: HashMap<String, String> = volume_context(cluster, &pod, DB_OBJECTS);
        attributes.insert("secretProviderClass".into(), "app-db".into());
        pb::MountRequest {
            attributes: serde_json::to_string(&attributes).unwrap(),
            secrets: "{}".into(),
            target_path: target.display().to_string(),
            permission: "420".into(),
            current_object_version: Vec::new(),
        }
    };
    let first = provider.mount(mount(&cluster)).await.unwrap().into_inner();
    println!("path exercised: provider mode (files returned to the Secrets Store CSI Driver)");
    assert_eq!(
        first.object_version.len(),
        1,
        "object versions are required by the driver"
    );
    assert_eq!(first.object_version[0].id, "database/creds/app");
    assert!(!first.object_version[0].version.is_empty());
    let file = |response: &pb::MountResponse, name: &str| {
        let file = response.files.iter().find(|f| f.path == name).unwrap();
        String::from_utf8(file.contents.clone()).unwrap()
    };
    let user = file(&first, "db-user");
    let password = file(&first, "db-pass");
    assert!(cluster.target.login_works(&user, &password).await);
    let until = cluster.target.valid_until(&user).await.unwrap();

    // A rotation poll after the lease passed 2/3 of its TTL.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let second = provider.mount(mount(&cluster)).await.unwrap().into_inner();
    assert_eq!(
        second.object_version, first.object_version,
        "same credential, same version"
    );
    assert_eq!(file(&second, "db-user"), user);
    assert_eq!(cluster.counts().await.0, 1, "one login for the pod");
    assert_eq!(cluster.counts().await.1, 1, "one credential for the pod");
    assert_ne!(
        cluster.target.valid_until(&user).await.unwrap(),
        until,
        "the lease was renewed"
    );
    assert!(driver.counter("lessor_csi_renewals_total").await >= 1);
    assert_eq!(driver.counter("lessor_csi_provider_mounts_total").await, 2);

    // The pod goes: kubelet removes its volume directory; the provider notices and revokes.
    std::fs::remove_dir_all(dir.path().join("pods")).unwrap();
    assert!(
        cluster
            .target
            .dropped_within(&user, Duration::from_secs(10))
            .await,
        "the gone pod's credential was not revoked"
    );
    assert_eq!(cluster.counts().await, (0, 0, 0));
}
