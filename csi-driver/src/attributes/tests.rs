#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use secrecy::ExposeSecret;

use super::*;

fn attributes(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn parses_yaml_and_json_objects_with_modes() {
    let yaml = "- {path: database/creds/app, files: [{name: db-user, key: username}, {name: db-pass, key: password, mode: \"0400\"}]}\n- path: secret/data/app/config\n  files: [{name: config.json, mode: 256}]\n";
    let spec = VolumeSpec::from_attributes(&attributes(&[
        ("role", "app"),
        ("objects", yaml),
        (POD_NAME, "p"),
    ]))
    .unwrap();
    assert_eq!(spec.auth_mount, "kubernetes");
    assert_eq!(spec.audience, "lessor");
    assert_eq!(spec.objects.len(), 2);
    assert_eq!(spec.objects[0].files[1].mode(), 0o400);
    assert_eq!(spec.objects[0].files[0].mode(), DEFAULT_FILE_MODE);
    assert_eq!(spec.objects[1].files[0].mode(), 0o400);
    let json = r#"[{"path":"apikey/creds/payments","files":[{"name":"api-key","key":"key"}]}]"#;
    assert_eq!(
        parse_objects(json).unwrap()[0].files[0].key.as_deref(),
        Some("key")
    );
}

#[test]
fn refuses_what_it_cannot_serve_safely() {
    let objects = "[{path: database/creds/app, files: [{name: a}]}]";
    let cases = [
        vec![("objects", objects)],
        vec![("role", "app")],
        vec![("role", "app"), ("objects", "[]")],
        vec![("role", "app"), ("objects", "not: [a list")],
        vec![("role", "app"), ("objects", objects), ("rol", "typo")],
        vec![("role", "../x"), ("objects", objects)],
        vec![
            ("role", "app"),
            ("objects", "[{path: /abs, files: [{name: a}]}]"),
        ],
        vec![
            ("role", "app"),
            ("objects", "[{path: a/../b, files: [{name: a}]}]"),
        ],
        vec![
            ("role", "app"),
            ("objects", "[{path: a, files: [{name: ../x}]}]"),
        ],
        vec![
            ("role", "app"),
            ("objects", "[{path: a, files: [{name: ..data}]}]"),
        ],
        vec![
            ("role", "app"),
            ("objects", "[{path: a, files: [{name: x/y}]}]"),
        ],
        vec![
            ("role", "app"),
            ("objects", "[{path: a, files: [{name: x}, {name: x}]}]"),
        ],
        vec![
            ("role", "app"),
            ("objects", "[{path: a, files: [{name: x, mode: \"4755\"}]}]"),
        ],
        vec![
            ("role", "app"),
            ("objects", "[{path: a, files: [{name: x, mode: \"9\"}]}]"),
        ],
        vec![("role", "app"), ("objects", "[{path: a, files: []}]")],
        vec![
            ("role", "app"),
            ("objects", objects),
            ("address", "ftp://x"),
        ],
    ];
    for case in cases {
        assert!(
            VolumeSpec::from_attributes(&attributes(&case)).is_err(),
            "{case:?} was accepted"
        );
    }
}

#[test]
fn picks_the_token_for_the_audience_and_never_echoes_it() {
    let map = r#"{"lessor":{"token":"eyJ.secret.sig","expirationTimestamp":"2030-01-01T00:00:00Z"},"other":{"token":"x","expirationTimestamp":"2030-01-01T00:00:00Z"}}"#;
    let attrs = attributes(&[(SERVICE_ACCOUNT_TOKENS, map)]);
    let token = pod_token(&attrs, "lessor").unwrap().unwrap();
    assert_eq!(token.jwt.expose_secret(), "eyJ.secret.sig");
    assert!(token.expires_at.is_some());
    assert!(!format!("{token:?}").contains("secret"));
    let missing = pod_token(&attrs, "vault").unwrap_err();
    assert!(missing.to_string().contains("vault"));
    let garbled = attributes(&[(SERVICE_ACCOUNT_TOKENS, "{\"lessor\": eyJ.secret")]);
    assert!(
        !pod_token(&garbled, "lessor")
            .unwrap_err()
            .to_string()
            .contains("secret")
    );
    assert!(pod_token(&attributes(&[]), "lessor").unwrap().is_none());
}
