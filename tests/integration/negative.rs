//! Bad input gets a precise 4xx and loses nothing: wrong and malformed unseal shares,
//! impossible init parameters, malformed and oversized bodies, unknown and denied paths,
//! sealed access, expired and used-up tokens.

use lessor_test_support::broker::{BrokerProcess, Storage};
use serde_json::json;

use crate::api::{self, Api};

#[tokio::test]
async fn unseal_rejects_wrong_and_malformed_shares() {
    let broker = BrokerProcess::start(Storage::Memory, "").await.unwrap();
    let api = Api::new(&broker.address());

    for (shares, threshold) in [(3, 5), (0, 0), (256, 2), (5, 0)] {
        let reply = api
            .put(
                "sys/init",
                json!({"secret_shares": shares, "secret_threshold": threshold}),
            )
            .await;
        assert_eq!(
            reply.status, 400,
            "init {shares}/{threshold}: {:?}",
            reply.body
        );
    }
    assert_eq!(
        api.get("sys/init").await.body["initialized"],
        false,
        "a failed init left state behind"
    );

    let (shares, _, _) = api::init(&api, 5, 3).await;
    assert_eq!(
        api.put("sys/init", json!({})).await.status,
        400,
        "second init must fail"
    );

    // A share of the wrong length is refused at once and keeps the progress.
    api.put("sys/unseal", json!({"key": shares[0]})).await;
    let short = &shares[1][..shares[1].len() - 2];
    let reply = api.put("sys/unseal", json!({"key": short})).await;
    assert_eq!(reply.status, 400, "{:?}", reply.body);
    let reply = api
        .put("sys/unseal", json!({"key": "not hex or base64 !"}))
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(api.get("sys/seal-status").await.body["progress"], 1);

    // A duplicate share does not count twice.
    let reply = api.put("sys/unseal", json!({"key": shares[0]})).await;
    assert_eq!(reply.body["progress"], 1);

    // A forged share of the right length completes the threshold with a wrong key:
    // rejected, progress reset, still sealed, and the message does not say which share.
    let mut forged = hex_decode(&shares[2]);
    let last = forged.len() - 1;
    forged[last] ^= 0x5a;
    let forged = hex_encode(&forged);
    api.put("sys/unseal", json!({"key": shares[1]})).await;
    let reply = api.put("sys/unseal", json!({"key": forged})).await;
    assert_eq!(reply.status, 400, "{:?}", reply.body);
    assert!(!reply.errors().contains(&forged));
    let status = api.get("sys/seal-status").await.body;
    assert_eq!(status["sealed"], true);
    assert_eq!(status["progress"], 0);

    // `reset` clears progress.
    api.put("sys/unseal", json!({"key": shares[0]})).await;
    let reply = api.put("sys/unseal", json!({"reset": true})).await;
    assert_eq!(reply.body["progress"], 0);

    // The right shares still work afterwards.
    api::unseal(&api, &shares[2..5]).await;
}

fn hex_decode(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn bad_requests_get_precise_errors() {
    let broker = BrokerProcess::start_with(Storage::Memory, "max_request_size = 16384", "")
        .await
        .unwrap();
    let anonymous = Api::new(&broker.address());
    let (shares, _, root_token) = api::init(&anonymous, 1, 1).await;
    let root = anonymous.with_token(&root_token);

    // Sealed: 503 for everything but the lifecycle endpoints.
    assert_eq!(root.get("secret/data/x").await.status, 503);
    assert_eq!(root.get("sys/policies/acl").await.status, 503);
    assert_eq!(anonymous.get("sys/seal-status").await.status, 200);
    api::unseal(&anonymous, &shares).await;
    root.put(
        "sys/mounts/secret",
        json!({"type": "kv", "options": {"version": "2"}}),
    )
    .await;

    let reply = root
        .raw("PUT", "secret/data/x", b"{\"data\": {".to_vec())
        .await;
    assert_eq!(reply.status, 400);
    assert!(
        reply.body["errors"][0].as_str().unwrap().contains("JSON"),
        "{:?}",
        reply.body
    );
    assert_eq!(
        root.raw("PUT", "secret/data/x", b"[1,2]".to_vec())
            .await
            .status,
        400
    );
    assert_eq!(
        root.put("secret/data/x", json!({"data": "not an object"}))
            .await
            .status,
        400
    );
    assert_eq!(
        root.put("sys/mounts/kv2", json!({"type": "kv", "bogus": 1}))
            .await
            .status,
        400
    );
    assert_eq!(
        root.put("sys/mounts/nope", json!({"type": "no-such-engine"}))
            .await
            .status,
        400
    );
    assert_eq!(
        root.put(
            "sys/policies/acl/bad",
            json!({"policy": "path \"x\" { capabilities = [\"fly\"] }"})
        )
        .await
        .status,
        400
    );
    assert_eq!(
        root.put("sys/policies/acl/bad", json!({"policy": 7}))
            .await
            .status,
        400
    );

    // Unknown path, unsupported method.
    let reply = root.get("nowhere/at/all").await;
    assert_eq!(reply.status, 404, "{:?}", reply.body);
    assert_eq!(root.call("PATCH", "sys/mounts", None).await.status, 405);

    // No token, unknown token.
    assert_eq!(anonymous.get("secret/data/x").await.status, 403);
    assert_eq!(
        anonymous
            .with_token("hvs.bogus")
            .get("secret/data/x")
            .await
            .status,
        403
    );
    assert_eq!(
        anonymous.get("nowhere/at/all").await.status,
        403,
        "anonymous callers learn nothing of the layout"
    );

    // Denied by policy.
    let reply = root
        .put("auth/token/create", json!({"policies": ["default"]}))
        .await;
    let limited = anonymous.with_token(reply.body["auth"]["client_token"].as_str().unwrap());
    assert_eq!(limited.get("secret/data/x").await.status, 403);
    assert_eq!(limited.get("auth/token/lookup-self").await.status, 200);

    // A body over the limit is refused before it is parsed.
    let big = format!("{{\"data\": {{\"blob\": \"{}\"}}}}", "a".repeat(64 * 1024));
    let reply = root.raw("PUT", "secret/data/big", big.into_bytes()).await;
    assert_eq!(reply.status, 413, "{:?}", reply.body);
    assert_eq!(
        root.get("secret/data/big").await.status,
        404,
        "an oversized write left data behind"
    );
}

#[tokio::test]
async fn expired_and_used_up_tokens_are_refused() {
    let broker = BrokerProcess::start_dev(&[]).await.unwrap();
    let root = Api::new(&broker.address()).with_token(broker.root_token.as_deref().unwrap());

    let reply = root
        .put(
            "auth/token/create",
            json!({"policies": ["default"], "num_uses": 2}),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let limited = root.with_token(reply.body["auth"]["client_token"].as_str().unwrap());
    assert_eq!(limited.get("auth/token/lookup-self").await.status, 200);
    assert_eq!(limited.get("auth/token/lookup-self").await.status, 200);
    assert_eq!(
        limited.get("auth/token/lookup-self").await.status,
        403,
        "third use of a 2-use token"
    );

    let reply = root
        .put(
            "auth/token/create",
            json!({"policies": ["default"], "ttl": "1s"}),
        )
        .await;
    let short = root.with_token(reply.body["auth"]["client_token"].as_str().unwrap());
    assert_eq!(short.get("auth/token/lookup-self").await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(
        short.get("auth/token/lookup-self").await.status,
        403,
        "expired token accepted"
    );
}
