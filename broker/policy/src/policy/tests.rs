use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::{Acl, Capability};

const HCL: &str = r#"
# A policy using every supported key.
path "secret/data/*" {
  capabilities = ["create", "read", "update", "patch", "delete", "list", "sudo"]
}

path "secret/data/restricted" {
  capabilities = ["create", "update"]
  required_parameters = ["owner"]
  allowed_parameters = {
    "Owner" = []
    "env"   = ["dev", "prod-*"]
    "count" = [1, 2]
  }
  denied_parameters = {
    "debug" = []
  }
  min_wrapping_ttl = "1m"
  max_wrapping_ttl = 3600
}

path "secret/+/legacy" {
  policy = "write"
}

path "sys/*" {
  capabilities = ["deny"]
}
"#;

const JSON: &str = r#"{
  "path": {
    "secret/data/*": {
      "capabilities": ["create", "read", "update", "patch", "delete", "list", "sudo"]
    },
    "secret/data/restricted": {
      "capabilities": ["create", "update"],
      "required_parameters": ["owner"],
      "allowed_parameters": {"Owner": [], "env": ["dev", "prod-*"], "count": [1, 2]},
      "denied_parameters": {"debug": []},
      "min_wrapping_ttl": 60,
      "max_wrapping_ttl": "1h"
    },
    "secret/+/legacy": {"policy": "write"},
    "sys/*": {"capabilities": ["deny"]}
  }
}"#;

fn sorted(p: &Policy) -> Vec<PathRule> {
    let mut rules = p.rules().to_vec();
    rules.sort_by(|a, b| a.path().cmp(b.path()));
    rules
}

fn err(text: &str) -> PolicyError {
    match Policy::parse("p", text) {
        Ok(p) => panic!("expected an error for {text:?}, got {p:?}"),
        Err(e) => e,
    }
}

fn caps(list: &[Capability]) -> BTreeSet<Capability> {
    list.iter().copied().collect()
}

#[test]
fn hcl_and_json_give_the_same_rules() {
    let hcl = Policy::parse("Team", HCL).unwrap_or_else(|e| panic!("{e}"));
    let json = Policy::parse("team", JSON).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(hcl.rules().len(), 4);
    assert_eq!(sorted(&hcl), sorted(&json));
    assert_eq!(hcl.name(), "team");
    assert_eq!(hcl.raw(), HCL, "the text is kept exactly as written");
    assert_eq!(json.raw(), JSON);
}

#[test]
fn rule_fields_are_parsed() {
    let p = Policy::parse("p", HCL).unwrap_or_else(|e| panic!("{e}"));
    let rules = sorted(&p);
    let restricted = rules
        .iter()
        .find(|r| r.path() == "secret/data/restricted")
        .unwrap_or_else(|| panic!("missing rule"));
    assert_eq!(
        restricted.capabilities(),
        &caps(&[Capability::Create, Capability::Update])
    );
    assert_eq!(restricted.required_parameters(), ["owner".to_owned()]);
    // Parameter names are lowercased; values are kept.
    assert_eq!(
        restricted.allowed_parameters().keys().collect::<Vec<_>>(),
        ["count", "env", "owner"]
    );
    assert_eq!(
        restricted.allowed_parameters()["env"],
        vec![json!("dev"), json!("prod-*")]
    );
    assert_eq!(
        restricted.denied_parameters()["debug"],
        Vec::<serde_json::Value>::new()
    );
    assert_eq!(restricted.min_wrapping_ttl(), Some(Duration::from_secs(60)));
    assert_eq!(
        restricted.max_wrapping_ttl(),
        Some(Duration::from_secs(3600))
    );

    let legacy = rules
        .iter()
        .find(|r| r.path() == "secret/+/legacy")
        .unwrap_or_else(|| panic!("missing rule"));
    use Capability::*;
    assert_eq!(
        legacy.capabilities(),
        &caps(&[Create, Read, Update, Delete, List])
    );
}

#[test]
fn legacy_policy_shorthand() {
    use Capability::*;
    let cases: [(&str, &[Capability]); 4] = [
        ("read", &[Read, List]),
        ("write", &[Create, Read, Update, Delete, List]),
        ("sudo", &[Create, Read, Update, Delete, List, Sudo]),
        ("deny", &[Deny]),
    ];
    for (legacy, expected) in cases {
        let text = format!("path \"a\" {{\n policy = \"{legacy}\"\n}}");
        let p = Policy::parse("p", &text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.rules()[0].capabilities(), &caps(expected), "{legacy}");
    }
    // `policy` and `capabilities` together are a union.
    let p = Policy::parse(
        "p",
        "path \"a\" {\n policy = \"read\"\n capabilities = [\"patch\"]\n}",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.rules()[0].capabilities(), &caps(&[Read, List, Patch]));
}

#[test]
fn deny_drops_everything_else() {
    let p = Policy::parse(
        "p",
        r#"path "a" {
          capabilities = ["read", "deny", "sudo"]
          allowed_parameters = { "x" = [] }
        }"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let rule = &p.rules()[0];
    assert_eq!(rule.capabilities(), &caps(&[Capability::Deny]));
    assert!(rule.allowed_parameters().is_empty());
}

#[test]
fn hcl1_block_spelling_and_json_lists_are_accepted() {
    let block = Policy::parse(
        "p",
        "path \"a\" {\n capabilities = [\"update\"]\n allowed_parameters {\n x = []\n }\n}",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(block.rules()[0].allowed_parameters().contains_key("x"));
    let listed = Policy::parse(
        "p",
        r#"{"path": [{"a": {"capabilities": ["read"]}}, {"b": [{"capabilities": ["list"]}]}]}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(listed.rules().len(), 2);
    // A `name` key is tolerated (Vault ignores it) and does not rename the policy.
    let named = Policy::parse(
        "real",
        "name = \"other\"\npath \"a\" {\n capabilities = [\"read\"]\n}",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(named.name(), "real");
}

#[test]
fn empty_text_is_an_empty_policy() {
    for text in ["", "  \n# nothing\n", "{}"] {
        let p = Policy::parse("p", text).unwrap_or_else(|e| panic!("{e}"));
        assert!(p.rules().is_empty());
    }
}

#[test]
fn malformed_policies_are_rejected_with_a_reason() {
    let cases: &[(&str, &str)] = &[
        (
            "path \"a\" {\n capabilities = [\"reed\"]\n}",
            "invalid capability \"reed\"",
        ),
        (
            "path \"a\" {\n capabilities = [\"root\"]\n}",
            "invalid capability \"root\"",
        ),
        (
            "path \"a\" {\n capabilities = \"read\"\n}",
            "must be a list of strings",
        ),
        (
            "path \"a\" {\n capabilities = [1]\n}",
            "must be a list of strings",
        ),
        (
            "path \"a\" {\n policy = \"admin\"\n}",
            "invalid policy \"admin\"",
        ),
        (
            "path \"a\" {\n policy = [\"read\"]\n}",
            "\"policy\" must be a string",
        ),
        (
            "paths \"a\" {\n capabilities = [\"read\"]\n}",
            "invalid top-level key \"paths\"",
        ),
        ("name = 1", "\"name\" must be a string"),
        ("other = 1", "invalid top-level key \"other\""),
        (
            "path \"a\" {\n capabilities = [\"read\"]\n colour = \"red\"\n}",
            "invalid key \"colour\"",
        ),
        (
            "path \"a\" {\n mfa_methods = [\"x\"]\n}",
            "not supported by Lessor",
        ),
        (
            "path \"\" {\n capabilities = [\"read\"]\n}",
            "path is empty",
        ),
        (
            "path \"/\" {\n capabilities = [\"read\"]\n}",
            "path is empty",
        ),
        (
            "path \"a/*/b\" {\n capabilities = [\"read\"]\n}",
            "'*' may only appear as the last character",
        ),
        (
            "path \"a/+*\" {\n capabilities = [\"read\"]\n}",
            "'+*' is forbidden",
        ),
        ("path {\n capabilities = [\"read\"]\n}", "exactly one label"),
        (
            "path \"a\" \"b\" {\n capabilities = [\"read\"]\n}",
            "exactly one label",
        ),
        (
            "path \"a\" {\n allowed_parameters = [\"x\"]\n}",
            "must be a map",
        ),
        (
            "path \"a\" {\n allowed_parameters = { x = \"y\" }\n}",
            "must be a list",
        ),
        (
            "path \"a\" {\n denied_parameters = { X = [], x = [] }\n}",
            "listed twice",
        ),
        (
            "path \"a\" {\n required_parameters = \"x\"\n}",
            "must be a list of strings",
        ),
        (
            "path \"a\" {\n max_wrapping_ttl = \"soon\"\n}",
            "max_wrapping_ttl",
        ),
        (
            "path \"a\" {\n min_wrapping_ttl = true\n}",
            "min_wrapping_ttl",
        ),
        (
            "path \"a\" {\n min_wrapping_ttl = -5\n}",
            "min_wrapping_ttl",
        ),
        (
            "path \"a\" {\n min_wrapping_ttl = \"2h\"\n max_wrapping_ttl = \"1h\"\n}",
            "cannot be less",
        ),
        (
            "path \"a\" {\n capabilities = [var.caps]\n}",
            "must be a literal value",
        ),
        (
            "path \"a\" {\n capabilities = [\"${x}\"]\n}",
            "must be a literal value",
        ),
        (
            "path \"a\" {\n capabilities = concat([\"read\"])\n}",
            "must be a literal value",
        ),
        (
            "path \"a\" {\n comment = 5\n}",
            "\"comment\" must be a string",
        ),
        (
            "path \"a\" {\n capabilities = [\"read\"]\n capabilities = [\"list\"]\n}",
            "redefined attribute",
        ),
        (
            "path \"a\" {\n allowed_parameters = {}\n allowed_parameters {\n }\n}",
            "more than once",
        ),
        ("path \"a\" {\n nested \"x\" {}\n}", "labelled block"),
        (
            "path \"a\" {\n capabilities = [\"read\"]\n",
            "failed to parse policy: line",
        ),
        ("[1, 2]", "failed to parse policy"),
        ("{\"path\": 1}", "\"path\" must be an object"),
        ("{\"path\": {\"a\": 1}}", "body must be an object"),
        (
            "{\"path\": {\"a\": {\"capabilities\": [\"read\"]}}, \"x\": 1}",
            "invalid top-level key \"x\"",
        ),
        ("{\"path\": ", "line 1, column"),
        ("{ \"path\": 1 } trailing", "failed to parse policy"),
    ];
    for (text, needle) in cases {
        let message = err(text).to_string();
        assert!(
            message.contains(needle),
            "{text:?}: {message:?} lacks {needle:?}"
        );
    }
}

#[test]
fn errors_carry_line_numbers() {
    let text = "path \"ok\" {\n  capabilities = [\"read\"]\n}\n\npath \"bad\" {\n  capabilities = [\"nope\"]\n}\n";
    match err(text) {
        PolicyError::Invalid { line, message } => {
            assert_eq!(line, Some(5));
            assert!(message.contains("path \"bad\""), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
    match err("path \"a\" {\n  capabilities = [\"read\"\n}") {
        PolicyError::Syntax { line, column, .. } => {
            assert!(line.is_some() && column.is_some());
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let text = format!(
        "path \"a\" {{\n capabilities = {}{}\n}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(err(&text).to_string().contains("nested too deeply"));
    let json = format!(
        "{{\"path\": {}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(Policy::parse("p", &json).is_err());
}

#[test]
fn bad_names_are_rejected_before_the_text() {
    assert!(matches!(
        Policy::parse("a/b", "path \"x\" {}"),
        Err(PolicyError::InvalidName { .. })
    ));
}

#[test]
fn default_policy_grants_self_service_and_nothing_else() {
    let default = Policy::default_policy().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(default.name(), "default");
    let acl = Acl::new(&[default]);
    assert!(
        acl.authorize("auth/token/lookup-self", Capability::Read, None)
            .allowed
    );
    for path in [
        "auth/token/renew-self",
        "auth/token/revoke-self",
        "sys/capabilities-self",
        "sys/leases/lookup",
        "sys/leases/renew",
        "sys/renew",
    ] {
        assert_eq!(acl.capabilities(path), vec![Capability::Update], "{path}");
    }
    assert_eq!(
        acl.capabilities("auth/token/lookup-self"),
        vec![Capability::Read]
    );
    for path in [
        "auth/token/create",
        "auth/token/lookup",
        "auth/token/revoke",
        "sys/leases/revoke",
        "sys/policies/acl/default",
        "sys/mounts",
        "secret/data/x",
        "cubbyhole/x",
        "",
    ] {
        assert_eq!(acl.capabilities(path), vec![Capability::Deny], "{path}");
    }
    assert!(
        !acl.authorize("auth/token/lookup-self", Capability::Sudo, None)
            .allowed
    );
}
