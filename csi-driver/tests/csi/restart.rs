//! `kill -9` between publish and unpublish: the restarted driver resumes renewing from its
//! state and the token on the volume's tmpfs, and unpublish still revokes.

use std::time::Duration;

use crate::harness::*;

#[tokio::test]
async fn kill_nine_then_restart_keeps_renewing_and_still_revokes() {
    let cluster = Cluster::start("4s", "1h").await;
    let dir = tempfile::tempdir().unwrap();
    let mut driver = Driver::start(dir.path(), &cluster.broker.address(), &[]).await;
    let pod = PodIdentity::new();
    let target = dir.path().join("pods/restart/volumes/mount");
    driver
        .publish("vol-r", &target, volume_context(&cluster, &pod, DB_OBJECTS))
        .await
        .unwrap();
    println!("path exercised: tmpfs mount at the target");
    let user = read(&target.join("db-user"));
    let password = read(&target.join("db-pass"));
    let (_, lease) = cluster
        .root
        .call("LIST", "sys/leases/lookup/database/creds/app/", None)
        .await;
    let lease_id = format!(
        "database/creds/app/{}",
        lease["data"]["keys"][0].as_str().unwrap()
    );

    driver.kill9().await;
    assert!(
        is_tmpfs_mount(&target),
        "the volume outlives the driver process"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    driver.restart().await;

    // Well past the 4 s lease: only renewals by the restarted process keep it alive (no
    // republish happens here).
    tokio::time::sleep(Duration::from_secs(7)).await;
    let (status, lookup) = cluster
        .root
        .put(
            "sys/leases/lookup",
            serde_json::json!({"lease_id": lease_id}),
        )
        .await;
    assert_eq!(
        status,
        200,
        "the lease expired: the restarted driver did not renew it: {lookup}\n{}",
        driver.logs()
    );
    assert!(
        driver.counter("lessor_csi_renewals_total").await >= 1,
        "the new process renewed nothing"
    );
    assert_eq!(
        driver.counter("lessor_csi_logins_total").await,
        0,
        "the restarted driver logged in again"
    );
    assert_eq!(
        read(&target.join("db-user")),
        user,
        "the credential was replaced, not renewed"
    );
    assert!(cluster.target.login_works(&user, &password).await);

    driver.unpublish("vol-r", &target).await.unwrap();
    assert_eq!(
        cluster.target.valid_until(&user).await,
        None,
        "unpublish after restart did not revoke"
    );
    assert_eq!(cluster.counts().await, (0, 0, 0));
    assert!(!is_mounted(&target) && !target.exists());
}
