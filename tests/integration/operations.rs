//! Operator endpoints over real HTTP: rekey, keyring rotation, health overrides, mount
//! management, policy management, capabilities and token trees.

use lessor_test_support::broker::{BrokerProcess, Storage};
use serde_json::json;

use crate::api::{self, Api};

#[tokio::test]
async fn rekey_replaces_the_shares_and_rotate_adds_a_term() {
    let broker = BrokerProcess::start(Storage::Sqlite, "").await.unwrap();
    let anonymous = Api::new(&broker.address());
    let (old_shares, _, root_token) = api::init(&anonymous, 3, 2).await;
    let root = anonymous.with_token(&root_token);

    // Rekey needs an unsealed broker.
    assert_eq!(
        anonymous
            .put(
                "sys/rekey/init",
                json!({"secret_shares": 4, "secret_threshold": 2})
            )
            .await
            .status,
        503
    );
    api::unseal(&anonymous, &old_shares[..2]).await;
    root.put("sys/mounts/secret", json!({"type": "kv-v2"}))
        .await;
    assert_eq!(
        root.put("secret/data/kept", json!({"data": {"v": "before-rekey"}}))
            .await
            .status,
        200
    );

    let started = anonymous
        .put(
            "sys/rekey/init",
            json!({"secret_shares": 4, "secret_threshold": 3}),
        )
        .await;
    assert_eq!(started.status, 200, "{:?}", started.body);
    assert_eq!(started.body["started"], true);
    assert_eq!(started.body["n"], 4);
    assert_eq!(started.body["required"], 2);
    let nonce = started.body["nonce"].as_str().unwrap().to_string();

    let wrong_nonce = anonymous
        .put(
            "sys/rekey/update",
            json!({"key": old_shares[0], "nonce": "nope"}),
        )
        .await;
    assert_eq!(wrong_nonce.status, 400);
    let first = anonymous
        .put(
            "sys/rekey/update",
            json!({"key": old_shares[0], "nonce": nonce}),
        )
        .await;
    assert_eq!(first.body["progress"], 1, "{:?}", first.body);
    let done = anonymous
        .put(
            "sys/rekey/update",
            json!({"key": old_shares[2], "nonce": nonce}),
        )
        .await;
    assert_eq!(done.status, 200, "{:?}", done.body);
    assert_eq!(done.body["complete"], true);
    let new_shares: Vec<String> = done.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    assert_eq!(new_shares.len(), 4);

    // Key status and rotation.
    let status = root.get("sys/key-status").await;
    assert_eq!(status.body["data"]["term"], 1, "{:?}", status.body);
    assert_eq!(root.put("sys/rotate", json!({})).await.status, 204);
    assert_eq!(root.get("sys/key-status").await.body["data"]["term"], 2);
    assert_eq!(
        root.put("secret/data/after", json!({"data": {"v": "after-rotate"}}))
            .await
            .status,
        200
    );

    // Old shares no longer unseal; new ones do, and data from both terms reads back.
    root.put("sys/seal", json!({})).await;
    anonymous
        .put("sys/unseal", json!({"key": old_shares[0]}))
        .await;
    let reply = anonymous
        .put("sys/unseal", json!({"key": old_shares[1]}))
        .await;
    assert_eq!(
        reply.status, 200,
        "two old shares only make progress under the new 3-threshold"
    );
    let reply = anonymous
        .put("sys/unseal", json!({"key": old_shares[2]}))
        .await;
    assert_eq!(
        reply.status, 400,
        "old shares must not unseal after rekey: {:?}",
        reply.body
    );
    assert_eq!(anonymous.get("sys/seal-status").await.body["sealed"], true);
    api::unseal(&anonymous, &new_shares[1..4]).await;
    assert_eq!(
        root.get("secret/data/kept").await.body["data"]["data"]["v"],
        "before-rekey"
    );
    assert_eq!(
        root.get("secret/data/after").await.body["data"]["data"]["v"],
        "after-rotate"
    );
}

#[tokio::test]
async fn health_codes_and_overrides() {
    let broker = BrokerProcess::start(Storage::Memory, "").await.unwrap();
    let api = Api::new(&broker.address());
    assert_eq!(api.get("sys/health").await.status, 501);
    assert_eq!(api.get("sys/health?uninitcode=200").await.status, 200);
    let (shares, _, _) = api::init(&api, 1, 1).await;
    let reply = api.get("sys/health").await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.body["sealed"], true);
    assert_eq!(api.get("sys/health?sealedcode=299").await.status, 299);
    api::unseal(&api, &shares).await;
    let reply = api.get("sys/health").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["initialized"], true);
    assert_eq!(reply.body["standby"], false);
    assert_eq!(api.get("sys/health?activecode=204").await.status, 204);
    assert_eq!(api.get("sys/health?activecode=banana").await.status, 400);
}

#[tokio::test]
async fn mounts_policies_capabilities_and_token_trees() {
    let broker = BrokerProcess::start_dev(&["-dev-storage", "memory"])
        .await
        .unwrap();
    let root = Api::new(&broker.address()).with_token(broker.root_token.as_deref().unwrap());

    // Mounts: enable, list, tune, collide, disable (data gone with it).
    assert_eq!(
        root.put(
            "sys/mounts/team/kv",
            json!({"type": "kv", "options": {"version": "2"}, "description": "team"})
        )
        .await
        .status,
        204
    );
    let mounts = root.get("sys/mounts").await;
    assert_eq!(mounts.body["data"]["team/kv/"]["type"], "kv");
    assert_eq!(mounts.body["data"]["secret/"]["options"]["version"], "2");
    assert_eq!(mounts.body["data"]["sys/"]["type"], "system");
    assert_eq!(
        root.put("sys/mounts/team", json!({"type": "kv-v2"}))
            .await
            .status,
        400,
        "nesting over a mount"
    );
    assert_eq!(
        root.put("sys/mounts/team/kv/inner", json!({"type": "kv-v2"}))
            .await
            .status,
        400,
        "nesting inside a mount"
    );
    assert_eq!(
        root.put("sys/mounts/sys", json!({"type": "kv-v2"}))
            .await
            .status,
        400
    );
    assert_eq!(
        root.put(
            "sys/mounts/team/kv/tune",
            json!({"max_lease_ttl": "2h", "default_lease_ttl": "1h"})
        )
        .await
        .status,
        204
    );
    let tuned = root.get("sys/mounts/team/kv/tune").await;
    assert_eq!(tuned.body["data"]["max_lease_ttl"], 7200);
    assert_eq!(
        root.put(
            "sys/mounts/team/kv/tune",
            json!({"default_lease_ttl": "3h"})
        )
        .await
        .status,
        400,
        "default above max"
    );
    assert_eq!(
        root.put("team/kv/data/x", json!({"data": {"a": "b"}}))
            .await
            .status,
        200
    );
    assert_eq!(root.delete("sys/mounts/team/kv").await.status, 204);
    assert_eq!(root.get("team/kv/data/x").await.status, 404);
    assert_eq!(
        root.put("sys/mounts/team/kv", json!({"type": "kv-v2"}))
            .await
            .status,
        204
    );
    assert_eq!(
        root.get("team/kv/data/x").await.status,
        404,
        "a re-enabled mount must not see the old data"
    );
    assert_eq!(
        root.get("sys/auth").await.body["data"]["token/"]["type"],
        "token"
    );
    assert_eq!(
        root.put("sys/auth/kubernetes", json!({"type": "no-such-method"}))
            .await
            .status,
        400
    );

    // Policies: list, default, root, delete.
    let policy = r#"
path "secret/data/reader/*" { capabilities = ["read"] }
path "auth/token/create" { capabilities = ["update"] }
"#;
    assert_eq!(
        root.put("sys/policies/acl/Reader", json!({"policy": policy}))
            .await
            .status,
        204
    );
    let listed = root.list("sys/policies/acl").await;
    assert_eq!(
        listed.body["data"]["keys"],
        json!(["default", "reader", "root"])
    );
    assert!(
        root.get("sys/policies/acl/default").await.body["data"]["policy"]
            .as_str()
            .unwrap()
            .contains("lookup-self")
    );
    assert_eq!(
        root.put("sys/policies/acl/root", json!({"policy": policy}))
            .await
            .status,
        400
    );
    assert_eq!(root.delete("sys/policies/acl/default").await.status, 400);

    let child = root
        .put("auth/token/create", json!({"policies": ["reader"]}))
        .await;
    let child_token = child.body["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    let reader = root.with_token(&child_token);
    let caps = reader
        .put(
            "sys/capabilities-self",
            json!({"paths": ["secret/data/reader/x", "secret/data/other"]}),
        )
        .await;
    assert_eq!(caps.body["data"]["secret/data/reader/x"], json!(["read"]));
    assert_eq!(caps.body["data"]["secret/data/other"], json!(["deny"]));
    root.put("secret/data/reader/x", json!({"data": {"k": "v"}}))
        .await;
    assert_eq!(reader.get("secret/data/reader/x").await.status, 200);
    assert_eq!(
        reader
            .put("secret/data/reader/x", json!({"data": {"k": "w"}}))
            .await
            .status,
        403
    );

    let grandchild = reader
        .put("auth/token/create", json!({"policies": ["default"]}))
        .await;

    // A policy change takes effect on the next request.
    assert_eq!(root.delete("sys/policies/acl/reader").await.status, 204);
    assert_eq!(reader.get("secret/data/reader/x").await.status, 403);

    // Token trees: a grandchild dies with its parent; an orphan does not.
    assert_eq!(grandchild.status, 200, "{:?}", grandchild.body);
    let grandchild = root.with_token(grandchild.body["auth"]["client_token"].as_str().unwrap());
    let orphan = root
        .put("auth/token/create-orphan", json!({"policies": ["default"]}))
        .await;
    let orphan = root.with_token(orphan.body["auth"]["client_token"].as_str().unwrap());
    assert_eq!(
        root.put("auth/token/revoke", json!({"token": child_token}))
            .await
            .status,
        204
    );
    assert_eq!(reader.get("auth/token/lookup-self").await.status, 403);
    assert_eq!(grandchild.get("auth/token/lookup-self").await.status, 403);
    assert_eq!(orphan.get("auth/token/lookup-self").await.status, 200);
}

#[tokio::test]
async fn tokens_with_a_ttl_are_leases_and_expire_unpresented() {
    let broker = BrokerProcess::start_dev(&["-dev-storage", "memory"])
        .await
        .unwrap();
    let root = Api::new(&broker.address()).with_token(broker.root_token.as_deref().unwrap());
    let created = root
        .put(
            "auth/token/create",
            json!({"policies": ["default"], "ttl": "2s"}),
        )
        .await;
    let accessor = created.body["auth"]["accessor"]
        .as_str()
        .unwrap()
        .to_string();
    let token = created.body["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    let accessors = |reply: &api::Reply| -> Vec<String> {
        reply.body["data"]["keys"]
            .as_array()
            .map_or_else(Vec::new, |keys| {
                keys.iter()
                    .map(|k| k.as_str().unwrap().to_string())
                    .collect()
            })
    };
    assert!(accessors(&root.list("auth/token/accessors").await).contains(&accessor));
    let lookup = root.list("sys/leases/lookup/auth/token/create/").await;
    assert_eq!(lookup.status, 200, "token lease listed: {:?}", lookup.body);

    // Nobody presents the token again; the expiration manager revokes it on time.
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    assert!(
        !accessors(&root.list("auth/token/accessors").await).contains(&accessor),
        "expired token still stored"
    );
    assert_eq!(
        root.list("sys/leases/lookup/auth/token/create/")
            .await
            .status,
        404
    );
    assert_eq!(
        root.with_token(&token)
            .get("auth/token/lookup-self")
            .await
            .status,
        403
    );

    // A token revoked by a client takes its lease row with it.
    let created = root
        .put(
            "auth/token/create",
            json!({"policies": ["default"], "ttl": "1h"}),
        )
        .await;
    let token = created.body["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        root.list("sys/leases/lookup/auth/token/create/")
            .await
            .status,
        200
    );
    assert_eq!(
        root.put("auth/token/revoke", json!({"token": token}))
            .await
            .status,
        204
    );
    assert_eq!(
        root.list("sys/leases/lookup/auth/token/create/")
            .await
            .status,
        404
    );
}
