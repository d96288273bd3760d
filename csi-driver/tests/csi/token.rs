//! The volume's own broker token: renewed while it can be, replaced by a new login (with the
//! pod's token the driver kept from kubelet) only when it nears its max TTL, and the replaced
//! token revoked with its leases once the new files are in place.

use std::time::Duration;

use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn token_near_its_max_ttl_is_replaced_by_one_new_login() {
    let cluster = Cluster::start("1h", "2h").await;
    let (status, body) = cluster
        .root
        .put(
            "auth/kubernetes/role/app",
            app_role(json!({"token_ttl": "3s", "token_max_ttl": "7s"})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let dir = tempfile::tempdir().unwrap();
    let driver = Driver::start(dir.path(), &cluster.broker.address(), &[]).await;
    let pod = PodIdentity::new();
    let target = dir.path().join("pods/token/volumes/mount");
    driver
        .publish("vol-t", &target, volume_context(&cluster, &pod, DB_OBJECTS))
        .await
        .unwrap();
    println!("path exercised: tmpfs mount at the target");
    let first_user = read(&target.join("db-user"));
    let first_token = read(&target.join("..lessor-token"));

    // No republish: the driver's timer renews the token, then logs in again on its own.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while driver.counter("lessor_csi_logins_total").await < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no second login before the token's max TTL:\n{}",
            driver.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        driver.counter("lessor_csi_renewals_total").await >= 1,
        "the token was never renewed first"
    );
    // Give the swap and the old token's revocation a moment to finish.
    assert!(
        cluster
            .target
            .dropped_within(&first_user, Duration::from_secs(5))
            .await,
        "the replaced token's credential lives on"
    );
    assert_eq!(
        driver.counter("lessor_csi_logins_total").await,
        2,
        "exactly one new login"
    );
    let user = read(&target.join("db-user"));
    assert_ne!(
        user, first_user,
        "leases of the old token are re-minted under the new one"
    );
    assert!(
        cluster
            .target
            .login_works(&user, &read(&target.join("db-pass")))
            .await
    );
    assert_ne!(read(&target.join("..lessor-token")), first_token);
    let old = Api::new(&cluster.broker.address()).with_token(&first_token);
    assert_eq!(
        old.call("GET", "auth/token/lookup-self", None).await.0,
        403,
        "the old token is revoked"
    );

    driver.unpublish("vol-t", &target).await.unwrap();
    assert_eq!(cluster.target.valid_until(&user).await, None);
}
