//! `sys/metrics?format=prometheus` end to end: a real broker issuing real PostgreSQL roles is
//! scraped over HTTP, the exposition is parsed as Prometheus text, and the request and lease
//! series move as credentials are issued, revoked and expire; the endpoint is token-protected
//! unless the listener's `telemetry` block opens it.

use std::time::{Duration, Instant};

use lessor_test_support::broker::{BrokerProcess, Storage};
use lessor_test_support::postgres::{TargetDatabase, TestPostgres};
use prometheus_parse::{LineInfo, Scrape, Value};
use serde_json::json;

use crate::api::{self, Api};

/// A parsed scrape, kept with its text for assertion messages.
pub(crate) struct Metrics {
    scrape: Scrape,
    text: String,
}

impl Metrics {
    /// The value of the counter, gauge or untyped sample `name` whose labels include
    /// `labels`; histograms by their count. `None` when no such series exists.
    pub(crate) fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.scrape
            .samples
            .iter()
            .filter(|sample| sample.metric == name)
            .find(|sample| {
                labels
                    .iter()
                    .all(|(key, value)| sample.labels.get(key) == Some(*value))
            })
            .map(|sample| match &sample.value {
                Value::Counter(value) | Value::Gauge(value) | Value::Untyped(value) => *value,
                Value::Histogram(buckets) => buckets.last().map_or(0.0, |bucket| bucket.count),
                Value::Summary(_) => f64::NAN,
            })
    }
}

/// Scrapes the broker; asserts the answer is Prometheus text in which every line parses.
pub(crate) async fn scrape(broker: &BrokerProcess, token: Option<&str>) -> Result<Metrics, u16> {
    let mut request = reqwest::Client::new().get(broker.url("sys/metrics?format=prometheus"));
    if let Some(token) = token {
        request = request.header("X-Vault-Token", token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    if status != 200 {
        return Err(status);
    }
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    // The parser skips what it does not understand; refuse that instead.
    for line in text.lines() {
        assert!(
            !matches!(LineInfo::parse(line), LineInfo::Ignored),
            "not Prometheus text: {line:?}"
        );
    }
    let scrape = Scrape::parse(text.lines().map(|line| Ok(line.to_string()))).unwrap();
    assert!(!scrape.samples.is_empty(), "{text}");
    Ok(Metrics { scrape, text })
}

/// Scrapes until `done` holds (storage gauges refresh at most once a second, expiry runs on
/// its own schedule), for at most 15 s.
async fn scrape_until(
    broker: &BrokerProcess,
    token: &str,
    what: &str,
    done: impl Fn(&Metrics) -> bool,
) -> Metrics {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let metrics = scrape(broker, Some(token)).await.unwrap();
        if done(&metrics) {
            return metrics;
        }
        assert!(Instant::now() < deadline, "{what}:\n{}", metrics.text);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A target database with a root role of its own.
async fn target() -> TargetDatabase {
    let server = TestPostgres::shared().await.unwrap();
    TargetDatabase::create(server, "metrics").await.unwrap()
}

async fn configure_database(root: &Api, target: &TargetDatabase) {
    let reply = root
        .put("sys/mounts/database", json!({"type": "database"}))
        .await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    let reply = root
        .put(
            "database/config/main",
            target.engine_config(&["app", "short"]),
        )
        .await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    for (role, ttl) in [("app", "1h"), ("short", "2s")] {
        let reply = root
            .put(
                &format!("database/roles/{role}"),
                json!({
                    "db_name": "main",
                    "creation_statements": [
                        "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"
                    ],
                    "default_ttl": ttl,
                    "max_ttl": "2h",
                }),
            )
            .await;
        assert_eq!(reply.status, 204, "{:?}", reply.body);
    }
}

const CREDS_OK: &[(&str, &str)] = &[
    ("route", "database/creds/:name"),
    ("method", "GET"),
    ("status", "200"),
];
const OUTSTANDING: &str = "lessor_leases_outstanding";
const DATABASE: &[(&str, &str)] = &[("mount", "database/")];

#[tokio::test]
async fn request_and_lease_series_move_as_creds_are_issued_revoked_and_expire() {
    let target = target().await;
    let broker = BrokerProcess::start(Storage::Sqlite, "").await.unwrap();
    let anonymous = Api::new(&broker.address());
    let (shares, _, root_token) = api::init(&anonymous, 1, 1).await;
    api::unseal(&anonymous, &shares).await;
    let root = anonymous.with_token(&root_token);

    // Token-protected by default: no token, a bad token and a token without `read` on
    // sys/metrics are all refused; the root token may scrape.
    assert_eq!(scrape(&broker, None).await.err(), Some(403));
    assert_eq!(scrape(&broker, Some("not-a-token")).await.err(), Some(403));
    let reply = root
        .put(
            "sys/policies/acl/scraper",
            json!({"policy": "path \"sys/metrics\" { capabilities = [\"read\"] }"}),
        )
        .await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    let created = root
        .put("auth/token/create", json!({"policies": ["default"]}))
        .await;
    let plain = created.body["auth"]["client_token"].as_str().unwrap();
    assert_eq!(scrape(&broker, Some(plain)).await.err(), Some(403));
    let created = root
        .put("auth/token/create", json!({"policies": ["scraper"]}))
        .await;
    let scraper = created.body["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    let first = scrape(&broker, Some(&scraper)).await.unwrap();
    assert_eq!(
        first.value("lessor_sealed", &[]),
        Some(0.0),
        "{}",
        first.text
    );
    let json_format = reqwest::Client::new()
        .get(broker.url("sys/metrics?format=json"))
        .header("X-Vault-Token", &scraper)
        .send()
        .await
        .unwrap();
    assert_eq!(json_format.status().as_u16(), 400);

    configure_database(&root, &target).await;
    let expirations_before = first.value("lessor_lease_expirations_total", &[]).unwrap();

    // Two credentials: two requests on the route template, two outstanding leases, and the
    // engine's pool shows its connection to the target.
    let mut issued = Vec::new();
    for _ in 0..2 {
        let creds = root.get("database/creds/app").await;
        assert_eq!(creds.status, 200, "{:?}", creds.body);
        issued.push((
            creds.body["lease_id"].as_str().unwrap().to_string(),
            creds.body["data"]["username"].as_str().unwrap().to_string(),
        ));
    }
    let metrics = scrape_until(&broker, &scraper, "two leases outstanding", |m| {
        m.value(OUTSTANDING, DATABASE) == Some(2.0)
    })
    .await;
    assert_eq!(
        metrics.value("lessor_http_requests_total", CREDS_OK),
        Some(2.0),
        "{}",
        metrics.text
    );
    assert_eq!(
        metrics.value(
            "lessor_http_request_duration_seconds",
            &[("route", "database/creds/:name"), ("method", "GET")]
        ),
        Some(2.0),
        "{}",
        metrics.text
    );
    let pool = |state| {
        metrics.value(
            "lessor_database_pool_connections",
            &[("mount", "database/"), ("config", "main"), ("state", state)],
        )
    };
    assert_eq!(pool("in_use"), Some(0.0), "{}", metrics.text);
    assert!(pool("idle").unwrap() >= 1.0, "{}", metrics.text);
    assert!(metrics.value("lessor_tokens", &[]).unwrap() >= 2.0);
    // Labels carry templates and mounts: no role name, username or lease id.
    for (lease_id, username) in &issued {
        assert!(
            !metrics.text.contains(lease_id.as_str()),
            "{}",
            metrics.text
        );
        assert!(
            !metrics.text.contains(username.as_str()),
            "{}",
            metrics.text
        );
    }

    // Revoking one through the API counts a successful revocation of the mount.
    let (lease_id, _) = &issued[0];
    let revoked = root
        .put("sys/leases/revoke", json!({"lease_id": lease_id}))
        .await;
    assert_eq!(revoked.status, 204, "{:?}", revoked.body);
    let metrics = scrape_until(&broker, &scraper, "one lease left after revoke", |m| {
        m.value(OUTSTANDING, DATABASE) == Some(1.0)
    })
    .await;
    assert_eq!(
        metrics.value(
            "lessor_lease_revocations_total",
            &[("mount", "database/"), ("result", "success")]
        ),
        Some(1.0),
        "{}",
        metrics.text
    );
    assert_eq!(
        metrics.value(
            "lessor_http_requests_total",
            &[("route", "sys/leases/revoke/*id"), ("status", "204")]
        ),
        Some(1.0),
        "{}",
        metrics.text
    );

    // A short lease expires on its own: the expiry loop counts it, with its lag.
    let short = root.get("database/creds/short").await;
    assert_eq!(short.status, 200, "{:?}", short.body);
    let metrics = scrape_until(&broker, &scraper, "the short lease expires", |m| {
        m.value("lessor_lease_expirations_total", &[]) >= Some(expirations_before + 1.0)
            && m.value(OUTSTANDING, DATABASE) == Some(1.0)
    })
    .await;
    assert!(
        metrics
            .value("lessor_lease_revocation_lag_seconds", &[])
            .unwrap()
            >= 1.0,
        "{}",
        metrics.text
    );
    assert_eq!(
        metrics.value(
            "lessor_lease_revocations_total",
            &[("mount", "database/"), ("result", "success")]
        ),
        Some(2.0),
        "{}",
        metrics.text
    );
    assert_eq!(metrics.value("lessor_leases_irrevocable", &[]), Some(0.0));
    assert_eq!(
        metrics.value("lessor_lease_revocation_failures_total", &[]),
        Some(0.0)
    );
}

#[tokio::test]
async fn the_listener_option_opens_scrapes_without_a_token_even_while_sealed() {
    let broker = BrokerProcess::start_with(
        Storage::Sqlite,
        "telemetry {\n    unauthenticated_metrics_access = true\n  }",
        "",
    )
    .await
    .unwrap();
    let sealed = scrape(&broker, None).await.unwrap();
    assert_eq!(
        sealed.value("lessor_sealed", &[]),
        Some(1.0),
        "{}",
        sealed.text
    );

    let anonymous = Api::new(&broker.address());
    let (shares, _, _) = api::init(&anonymous, 1, 1).await;
    api::unseal(&anonymous, &shares).await;
    let unsealed = scrape(&broker, None).await.unwrap();
    assert_eq!(
        unsealed.value("lessor_sealed", &[]),
        Some(0.0),
        "{}",
        unsealed.text
    );
    // The open scrapes are counted like any request, under their fixed route (a scrape is
    // recorded once answered, so this one shows the sealed scrape before it).
    assert_eq!(
        unsealed.value(
            "lessor_http_requests_total",
            &[("route", "sys/metrics"), ("status", "200")]
        ),
        Some(1.0),
        "{}",
        unsealed.text
    );
    // Still only the Prometheus format.
    let json_format = reqwest::get(broker.url("sys/metrics?format=json"))
        .await
        .unwrap();
    assert_eq!(json_format.status().as_u16(), 400);
}

#[tokio::test]
async fn a_revocation_that_keeps_failing_shows_as_failures_then_irrevocable() {
    let target = target().await;
    let broker = BrokerProcess::start(Storage::Sqlite, "lease_revocation_attempts = 2")
        .await
        .unwrap();
    let anonymous = Api::new(&broker.address());
    let (shares, _, root_token) = api::init(&anonymous, 1, 1).await;
    api::unseal(&anonymous, &shares).await;
    let root = anonymous.with_token(&root_token);
    configure_database(&root, &target).await;
    let reply = root
        .put(
            "database/roles/short",
            json!({
                "db_name": "main",
                "creation_statements": ["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}';"],
                "revocation_statements": ["SELECT 1/0;"],
                "default_ttl": "1s",
            }),
        )
        .await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    let creds = root.get("database/creds/short").await;
    assert_eq!(creds.status, 200, "{:?}", creds.body);

    // Expiry fails, is retried after a backoff, fails again and gives up: two failures, one
    // transition, one irrevocable lease, and the lease stays outstanding.
    let metrics = scrape_until(&broker, &root_token, "the lease becomes irrevocable", |m| {
        m.value("lessor_leases_irrevocable", &[]) == Some(1.0)
    })
    .await;
    let failures = &[("mount", "database/"), ("result", "failure")];
    assert_eq!(
        metrics.value("lessor_lease_revocations_total", failures),
        Some(2.0),
        "{}",
        metrics.text
    );
    assert_eq!(
        metrics.value("lessor_lease_revocation_failures_total", &[]),
        Some(2.0)
    );
    assert_eq!(
        metrics.value("lessor_lease_irrevocable_transitions_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        metrics.value("lessor_lease_expirations_total", &[]),
        Some(0.0)
    );
    assert_eq!(metrics.value(OUTSTANDING, DATABASE), Some(1.0));
    let force = root
        .put("sys/leases/revoke-force/database/creds/short", json!({}))
        .await;
    assert_eq!(force.status, 204, "{:?}", force.body);
    scrape_until(&broker, &root_token, "revoke-force clears it", |m| {
        m.value("lessor_leases_irrevocable", &[]) == Some(0.0)
            && m.value(OUTSTANDING, DATABASE) == Some(0.0)
    })
    .await;
}
