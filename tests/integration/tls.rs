//! The listener serves TLS with rustls when given a certificate and key, and refuses plain
//! HTTP on that port.

use lessor_test_support::broker::{BrokerProcess, Storage};

#[tokio::test]
async fn tls_listener_serves_https_only() {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();

    let listener = format!(
        "tls_disable = false\n  tls_cert_file = \"{}\"\n  tls_key_file = \"{}\"",
        cert.display(),
        key.display()
    );
    let broker = BrokerProcess::start_tls(Storage::Memory, &listener)
        .await
        .unwrap();

    let client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).unwrap(),
        )
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/v1/sys/seal-status", broker.port());
    let reply = client.get(&url).send().await.unwrap();
    assert_eq!(reply.status(), 200);
    let body: serde_json::Value = reply.json().await.unwrap();
    assert_eq!(body["initialized"], false);

    // The same port does not speak plain HTTP.
    let plain = reqwest::get(format!(
        "http://127.0.0.1:{}/v1/sys/seal-status",
        broker.port()
    ))
    .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    // And a client that does not trust the certificate is refused.
    assert!(reqwest::get(&url).await.is_err());
}
