use serde_json::json;

use super::*;

fn body(value: Value) -> TokenFieldsBody {
    serde_json::from_value(value).unwrap()
}

fn apply(value: Value) -> Result<TokenSettings, UserpassError> {
    let mut settings = TokenSettings::default();
    serde_json::from_value::<TokenFieldsBody>(value)
        .map_err(|error| UserpassError::InvalidField(error.to_string()))?
        .apply(&mut settings)?;
    Ok(settings)
}

#[test]
fn current_names_and_lists_in_both_forms() {
    let settings = apply(json!({
        "token_policies": "Ops, dev ,,dev",
        "token_ttl": "1h",
        "token_max_ttl": 7200,
        "token_period": "30m",
        "token_num_uses": "3",
        "token_bound_cidrs": ["10.0.0.0/8", "::1", "192.168.1.7"],
    }))
    .unwrap();
    assert_eq!(settings.policies, vec!["dev", "ops"]);
    assert_eq!(settings.ttl, Ttl::from_secs(3600));
    assert_eq!(settings.max_ttl, Ttl::from_secs(7200));
    assert_eq!(settings.period, Ttl::from_secs(1800));
    assert_eq!(settings.num_uses, 3);
    assert_eq!(
        settings.bound_cidrs,
        vec!["10.0.0.0/8", "::1", "192.168.1.7"]
    );
}

#[test]
fn legacy_names_fill_the_same_settings() {
    let settings =
        apply(json!({"policies": ["a"], "ttl": 60, "max_ttl": 120, "bound_cidrs": "127.0.0.1/32"}))
            .unwrap();
    assert_eq!(settings.policies, vec!["a"]);
    assert_eq!(settings.ttl, Ttl::from_secs(60));
    assert_eq!(settings.max_ttl, Ttl::from_secs(120));
    assert_eq!(settings.bound_cidrs, vec!["127.0.0.1/32"]);
}

#[test]
fn both_names_at_once_are_refused() {
    assert!(apply(json!({"policies": "a", "token_policies": "b"})).is_err());
    assert!(apply(json!({"ttl": 1, "token_ttl": 1})).is_err());
}

#[test]
fn update_touches_only_named_fields() {
    let mut settings = apply(json!({"token_policies": "a", "token_ttl": 60})).unwrap();
    body(json!({"token_num_uses": 2}))
        .apply(&mut settings)
        .unwrap();
    assert_eq!(settings.policies, vec!["a"]);
    assert_eq!(settings.ttl, Ttl::from_secs(60));
    assert_eq!(settings.num_uses, 2);
}

#[test]
fn refuses_bad_values() {
    for bad in [
        json!({"token_ttl": "2h", "token_max_ttl": "1h"}),
        json!({"token_bound_cidrs": "10.0.0.0/33"}),
        json!({"token_bound_cidrs": "not-an-ip"}),
        json!({"token_num_uses": -1}),
        json!({"token_num_uses": "many"}),
        json!({"token_policies": [1, 2]}),
        json!({"token_policies": "root"}),
        json!({"token_ttl": "forever"}),
        json!({"token_explicit_max_ttl": 60}),
        json!({"token_no_default_policy": true}),
        json!({"token_type": "batch"}),
        json!({"unknown_field": 1}),
    ] {
        assert!(apply(bad.clone()).is_err(), "{bad} should be refused");
    }
}

#[test]
fn vault_defaults_of_unsupported_fields_are_accepted() {
    assert!(
        apply(json!({"token_explicit_max_ttl": 0, "token_no_default_policy": false, "token_type": "default"}))
            .is_ok()
    );
}

#[test]
fn policies_body_requires_a_list() {
    let body: PoliciesBody = serde_json::from_value(json!({"policies": "b,a"})).unwrap();
    assert_eq!(body.into_policies().unwrap(), vec!["a", "b"]);
    let body: PoliciesBody = serde_json::from_value(json!({})).unwrap();
    assert!(body.into_policies().is_err());
}

#[test]
fn read_data_carries_current_and_legacy_names() {
    let settings = apply(json!({"token_policies": "a", "token_ttl": 60})).unwrap();
    let data = settings.to_read_data();
    assert_eq!(data["token_policies"], json!(["a"]));
    assert_eq!(data["policies"], json!(["a"]));
    assert_eq!(data["token_ttl"], json!(60));
    assert_eq!(data["ttl"], json!(60));
    assert_eq!(data["token_type"], json!("default"));
}
