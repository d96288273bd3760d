use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse(text: &str) -> Result<ServerConfig, ConfigError> {
    let file = ConfigFile::parse(text).map_err(ConfigError::Invalid)?;
    ServerConfig::from_file(file, &no_env)
}

#[test]
fn hcl_with_sqlite_and_plain_listener() {
    let config = parse(
        r#"
        storage "sqlite" { path = "/tmp/lessor.db" }
        listener "tcp" {
          address = "127.0.0.1:8300"
          tls_disable = "true"
          max_request_size = 1024
        }
        default_lease_ttl = "1h"
        max_lease_ttl = "24h"
        log_format = "json"
        "#,
    )
    .unwrap();
    assert_eq!(
        config.storage,
        StorageConfig::Sqlite {
            path: "/tmp/lessor.db".into()
        }
    );
    assert_eq!(config.listener.address, "127.0.0.1:8300".parse().unwrap());
    assert_eq!(config.listener.tls, TlsConfig::Disabled);
    assert_eq!(config.listener.max_request_size, 1024);
    assert_eq!(config.default_lease_ttl, Duration::from_secs(3600));
    assert_eq!(config.max_lease_ttl, Duration::from_secs(86400));
    assert_eq!(config.log_format, LogFormat::Json);
}

#[test]
fn json_with_postgres_and_tls() {
    let config = parse(
        r#"{"storage": {"postgresql": {"connection_url": "postgres://u@h/db", "max_parallel": 4}},
            "listener": {"tcp": {"address": "0.0.0.0:8200", "tls_cert_file": "c.pem", "tls_key_file": "k.pem"}}}"#,
    )
    .unwrap();
    assert_eq!(
        config.storage,
        StorageConfig::Postgres {
            connection_url: "postgres://u@h/db".into(),
            max_connections: 4
        }
    );
    assert_eq!(
        config.listener.tls,
        TlsConfig::Files {
            cert_file: "c.pem".into(),
            key_file: "k.pem".into()
        }
    );
}

#[test]
fn unknown_keys_are_errors() {
    for (text, key) in [
        (
            "storage \"sqlite\" {\n path = \"x\"\n pathh = \"y\"\n}\nlistener \"tcp\" {\n tls_disable = true\n}",
            "pathh",
        ),
        (
            "storage \"sqlite\" {\n path = \"x\"\n}\nlistener \"tcp\" {\n tls_disable = true\n tls_disabled = true\n}",
            "tls_disabled",
        ),
        (
            "storage \"sqlite\" {\n path = \"x\"\n}\nlistener \"tcp\" {\n tls_disable = true\n}\ntelemetryy = 1",
            "telemetryy",
        ),
        (
            "storage \"s3\" {\n bucket = \"x\"\n}\nlistener \"tcp\" {\n tls_disable = true\n}",
            "s3",
        ),
    ] {
        let error = parse(text).unwrap_err().to_string();
        assert!(error.contains(key), "{key}: {error}");
        assert!(
            !error.contains("parse error"),
            "not a syntax error: {error}"
        );
    }
}

#[test]
fn tls_needs_both_files_unless_disabled() {
    let error = parse("storage \"inmem\" {}\nlistener \"tcp\" {\n tls_cert_file = \"c.pem\"\n}")
        .unwrap_err();
    assert!(error.to_string().contains("tls_key_file"), "{error}");
}

#[test]
fn bad_values_are_named() {
    let error = parse(
        "storage \"inmem\" {}\nlistener \"tcp\" {\n address = \"nonsense\"\n tls_disable = 1\n}",
    )
    .unwrap_err();
    assert!(error.to_string().contains("is not host:port"), "{error}");
    let error =
        parse("storage \"inmem\" {}\nlistener \"tcp\" {\n tls_disable = \"maybe\"\n}").unwrap_err();
    assert!(error.to_string().contains("not a boolean"), "{error}");
    let error = parse(
        "storage \"inmem\" {}\nlistener \"tcp\" {\n tls_disable = true\n}\ndefault_lease_ttl = \"2h\"\nmax_lease_ttl = \"1h\"",
    )
    .unwrap_err();
    assert!(error.to_string().contains("default_lease_ttl"), "{error}");
}

#[test]
fn environment_overrides_the_file() {
    let file = ConfigFile::parse(
        r#"storage "postgresql" { connection_url = "postgres://file" }
           listener "tcp" { tls_disable = true }"#,
    )
    .unwrap();
    let env = |name: &str| match name {
        "LESSOR_PG_CONNECTION_URL" => Some("postgres://env".to_string()),
        "LESSOR_LISTEN_ADDRESS" => Some("127.0.0.1:9999".to_string()),
        "LESSOR_LOG_LEVEL" => Some("debug".to_string()),
        _ => None,
    };
    let config = ServerConfig::from_file(file, &env).unwrap();
    assert_eq!(
        config.storage,
        StorageConfig::Postgres {
            connection_url: "postgres://env".into(),
            max_connections: 16
        }
    );
    assert_eq!(config.listener.address.port(), 9999);
    assert_eq!(config.log_level, "debug");
}

#[test]
fn log_levels_are_levels_or_filters() {
    for good in ["info", "debug", "warn,lessor_broker=debug", "off"] {
        assert!(validate_log_level(good.into()).is_ok(), "{good}");
    }
    for bad in ["verbose", "info,chatty", "lessor=loud", ""] {
        assert!(validate_log_level(bad.into()).is_err(), "{bad}");
    }
}

#[test]
fn listener_telemetry_allows_unauthenticated_metrics_as_vault_spells_it() {
    let config = parse("storage \"inmem\" {}\nlistener \"tcp\" {\n tls_disable = true\n}").unwrap();
    assert!(!config.listener.telemetry.unauthenticated_metrics_access);
    for value in ["true", "\"true\"", "1"] {
        let config = parse(&format!(
            "storage \"inmem\" {{}}\nlistener \"tcp\" {{\n tls_disable = true\n telemetry {{\n  unauthenticated_metrics_access = {value}\n }}\n}}"
        ))
        .unwrap();
        assert!(
            config.listener.telemetry.unauthenticated_metrics_access,
            "{value}"
        );
    }
    let config = parse(
        r#"{"storage": {"inmem": {}}, "listener": {"tcp": {"tls_disable": true,
            "telemetry": {"unauthenticated_metrics_access": false}}}}"#,
    )
    .unwrap();
    assert!(!config.listener.telemetry.unauthenticated_metrics_access);
}

#[test]
fn unknown_listener_telemetry_keys_are_errors() {
    for (text, key) in [
        (
            "storage \"inmem\" {}\nlistener \"tcp\" {\n tls_disable = true\n telemetry {\n  unauthenticated_metric_access = true\n }\n}",
            "unauthenticated_metric_access",
        ),
        (
            "storage \"inmem\" {}\nlistener \"tcp\" {\n tls_disable = true\n telemetry {\n  unauthenticated_metrics_access = true\n  prometheus_retention_time = \"30s\"\n }\n}",
            "prometheus_retention_time",
        ),
    ] {
        let error = parse(text).unwrap_err().to_string();
        assert!(error.contains(key), "{key}: {error}");
    }
    let error = parse(
        "storage \"inmem\" {}\nlistener \"tcp\" {\n tls_disable = true\n telemetry {\n  unauthenticated_metrics_access = \"sometimes\"\n }\n}",
    )
    .unwrap_err();
    assert!(error.to_string().contains("not a boolean"), "{error}");
}

#[test]
fn read_cache_size_and_switch() {
    let base = "storage \"inmem\" {}\nlistener \"tcp\" {\n address = \"127.0.0.1:8300\"\n tls_disable = true\n}\n";
    let config = parse(base).unwrap();
    assert_eq!(config.read_cache, lessor_barrier::CacheLimits::default());
    let config = parse(&format!("{base}cache_size = 1000\n")).unwrap();
    assert_eq!(config.read_cache.max_entries, 1000);
    assert_eq!(
        config.read_cache.max_bytes,
        lessor_barrier::CacheLimits::default().max_bytes
    );
    for off in ["cache_size = 0\n", "disable_cache = true\n"] {
        let config = parse(&format!("{base}{off}")).unwrap();
        assert_eq!(
            config.read_cache,
            lessor_barrier::CacheLimits::DISABLED,
            "{off}"
        );
    }
    assert!(parse(&format!("{base}cache_size = \"big\"\n")).is_err());
}

#[test]
fn ha_on_postgres_needs_an_api_addr() {
    let base = "storage \"postgresql\" {\n connection_url = \"postgres://u@h/db\"\n ha_enabled = \"true\"\n}\nlistener \"tcp\" {\n tls_disable = true\n}\n";
    let error = parse(base).unwrap_err().to_string();
    assert!(error.contains("api_addr"), "{error}");
    let config = parse(&format!(
        "{base}api_addr = \"http://10.0.0.1:8200/\"\ncluster_addr = \"https://10.0.0.1:8201\"\n"
    ))
    .unwrap();
    assert_eq!(
        config.ha,
        Some(HaConfig {
            api_addr: "http://10.0.0.1:8200".into(),
            cluster_addr: Some("https://10.0.0.1:8201".into()),
            disable_forwarding: false,
        })
    );
    // Booleans as Vault writes them; forwarding can be turned off.
    let config = parse(
        "storage \"postgresql\" {\n connection_url = \"postgres://u@h/db\"\n ha_enabled = true\n}\nlistener \"tcp\" {\n tls_disable = true\n}\napi_addr = \"https://lessor-0.lessor:8200\"\ndisable_forwarding = \"true\"\n",
    )
    .unwrap();
    assert!(config.ha.unwrap().disable_forwarding);
    // The environment names the pod's own address.
    let file = ConfigFile::parse(base).unwrap();
    let env = |name: &str| match name {
        "LESSOR_API_ADDR" => Some("http://10.1.2.3:8200".to_string()),
        "LESSOR_CLUSTER_ADDR" => Some("https://10.1.2.3:8201".to_string()),
        _ => None,
    };
    let ha = ServerConfig::from_file(file, &env).unwrap().ha.unwrap();
    assert_eq!(ha.api_addr, "http://10.1.2.3:8200");
    assert_eq!(ha.cluster_addr.as_deref(), Some("https://10.1.2.3:8201"));
    // Without ha_enabled nothing HA is set up, whatever else is there.
    let config = parse(
        "storage \"postgresql\" {\n connection_url = \"postgres://u@h/db\"\n}\nlistener \"tcp\" {\n tls_disable = true\n}\napi_addr = \"http://x:1\"\n",
    )
    .unwrap();
    assert_eq!(config.ha, None);
}

#[test]
fn api_addr_must_be_a_base_url() {
    let base = "storage \"postgresql\" {\n connection_url = \"postgres://u@h/db\"\n ha_enabled = \"true\"\n}\nlistener \"tcp\" {\n tls_disable = true\n}\n";
    for bad in [
        "10.0.0.1:8200",
        "ftp://10.0.0.1",
        "http://10.0.0.1:8200/v1",
        "http://u:p@10.0.0.1:8200",
        "http://10.0.0.1:8200?x=1",
    ] {
        let error = parse(&format!("{base}api_addr = \"{bad}\"\n"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("api_addr"), "{bad}: {error}");
        assert!(!error.contains(":p@"), "{bad}: {error}");
    }
}

#[test]
fn ha_needs_postgresql_storage() {
    for storage in [
        "storage \"sqlite\" {\n path = \"x\"\n ha_enabled = \"true\"\n}",
        "storage \"inmem\" {\n ha_enabled = true\n}",
    ] {
        let error = parse(&format!(
            "{storage}\nlistener \"tcp\" {{\n tls_disable = true\n}}\napi_addr = \"http://x:1\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(error.contains("postgresql"), "{error}");
    }
    // Saying false is allowed anywhere.
    assert!(
        parse("storage \"inmem\" {\n ha_enabled = false\n}\nlistener \"tcp\" {\n tls_disable = true\n}")
            .is_ok()
    );
}

#[test]
fn forwarded_for_authorized_addresses_as_a_list_or_a_string() {
    let with = |value: &str| {
        parse(&format!(
            "storage \"inmem\" {{}}\nlistener \"tcp\" {{\n tls_disable = true\n x_forwarded_for_authorized_addrs = {value}\n}}"
        ))
    };
    let config = with("\"10.0.0.0/8, 192.0.2.7\"").unwrap();
    assert_eq!(
        config.listener.x_forwarded_for_authorized_addrs,
        vec![
            "10.0.0.0/8".parse::<ipnet::IpNet>().unwrap(),
            "192.0.2.7/32".parse().unwrap()
        ]
    );
    let config = with("[\"::1\", \"fd00::/8\"]").unwrap();
    assert_eq!(config.listener.x_forwarded_for_authorized_addrs.len(), 2);
    let error = with("\"10.0.0.0/33\"").unwrap_err().to_string();
    assert!(
        error.contains("x_forwarded_for_authorized_addrs"),
        "{error}"
    );
    let config = parse("storage \"inmem\" {}\nlistener \"tcp\" {\n tls_disable = true\n}").unwrap();
    assert!(config.listener.x_forwarded_for_authorized_addrs.is_empty());
}

#[test]
fn debug_output_never_shows_a_storage_password() {
    let config = parse(
        "storage \"postgresql\" {\n connection_url = \"postgres://lessor:s3cr3t-pw@db.internal:5432/lessor?sslmode=require\"\n}\nlistener \"tcp\" {\n tls_disable = true\n}\n",
    )
    .unwrap();
    let shown = format!("{config:?}");
    assert!(!shown.contains("s3cr3t-pw"), "{shown}");
    assert!(!shown.contains("lessor:"), "{shown}");
    assert!(
        shown.contains("postgres://***@db.internal:5432/lessor"),
        "{shown}"
    );

    let file: ConfigFile = hcl::from_str(
        "storage \"postgresql\" {\n connection_url = \"host=db password=s3cr3t-pw dbname=lessor\"\n}\n",
    )
    .unwrap();
    let shown = format!("{file:?}");
    assert!(!shown.contains("s3cr3t-pw"), "{shown}");

    assert_eq!(
        redacted_url("postgres://db.internal/lessor"),
        "postgres://db.internal/lessor"
    );
    assert_eq!(
        redacted_url("host=db dbname=lessor"),
        "host=db dbname=lessor"
    );
}
