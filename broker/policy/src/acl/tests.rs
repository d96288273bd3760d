use serde_json::{Map, Value, json};

use super::*;
use crate::Policy;

fn acl(policies: &[(&str, &str)]) -> Acl {
    let parsed: Vec<Policy> = policies
        .iter()
        .map(|(name, text)| Policy::parse(name, text).unwrap_or_else(|e| panic!("{name}: {e}")))
        .collect();
    Acl::new(&parsed)
}

fn one(text: &str) -> Acl {
    acl(&[("p", text)])
}

fn matched(acl: &Acl, path: &str, cap: Capability) -> Option<String> {
    acl.authorize(path, cap, None).matched
}

fn params(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

#[test]
fn exact_beats_glob() {
    let a = one(r#"
        path "secret/*" { capabilities = ["read"] }
        path "secret/foo" { capabilities = ["deny"] }
        "#);
    let d = a.authorize("secret/foo", Capability::Read, None);
    assert!(!d.allowed);
    assert_eq!(d.denied_reason, Some(DenyReason::ExplicitDeny));
    assert_eq!(d.matched.as_deref(), Some("secret/foo"));
    let d = a.authorize("secret/foobar", Capability::Read, None);
    assert!(d.allowed, "{d:?}");
    assert_eq!(d.matched.as_deref(), Some("secret/*"));
}

#[test]
fn glob_is_a_plain_prefix_and_longest_prefix_wins() {
    let a = one(r#"
        path "secret/*" { capabilities = ["read"] }
        path "secret/team*" { capabilities = ["update"] }
        path "secret/teamb/*" { capabilities = ["list"] }
        "#);
    assert_eq!(
        matched(&a, "secret/x", Capability::Read).as_deref(),
        Some("secret/*")
    );
    assert_eq!(
        matched(&a, "secret/teama", Capability::Read).as_deref(),
        Some("secret/team*")
    );
    assert_eq!(
        matched(&a, "secret/teamb/x", Capability::Read).as_deref(),
        Some("secret/teamb/*")
    );
    // The longest prefix alone decides: no fallback to a shorter one's capabilities.
    assert!(!a.authorize("secret/teama", Capability::Read, None).allowed);
    assert!(
        a.authorize("secret/teama", Capability::Update, None)
            .allowed
    );
    // `*` also matches the empty rest, so `secret/` itself matches `secret/*`.
    assert_eq!(
        matched(&a, "secret/", Capability::Read).as_deref(),
        Some("secret/*")
    );
    assert_eq!(matched(&a, "secret", Capability::Read), None);
}

#[test]
fn plus_matches_exactly_one_segment() {
    let a = one(r#"path "secret/+/config" { capabilities = ["read"] }"#);
    assert!(
        a.authorize("secret/app/config", Capability::Read, None)
            .allowed
    );
    assert!(
        !a.authorize("secret/app/x/config", Capability::Read, None)
            .allowed
    );
    assert!(!a.authorize("secret/config", Capability::Read, None).allowed);
    assert!(
        !a.authorize("secret/app/config/x", Capability::Read, None)
            .allowed
    );
}

#[test]
fn plus_segment_beats_glob_at_the_same_position() {
    // Vault docs: `secret/+/teamb` has priority over `secret/*` for `secret/foo/teamb`
    // (same first-wildcard position; the `*` pattern loses rule 2).
    let a = one(r#"
        path "secret/*" { capabilities = ["deny"] }
        path "secret/+/teamb" { capabilities = ["read"] }
        "#);
    let d = a.authorize("secret/foo/teamb", Capability::Read, None);
    assert!(d.allowed, "{d:?}");
    assert_eq!(d.matched.as_deref(), Some("secret/+/teamb"));
    assert!(
        !a.authorize("secret/foo/teama", Capability::Read, None)
            .allowed
    );
}

#[test]
fn later_first_wildcard_wins() {
    // Rule 1: the later first wildcard wins (`secret/a/+/y` over `secret/+/x/y`, `foo/a*` over `foo/+`).
    let a = one(r#"
        path "secret/+/x/y" { capabilities = ["read"] }
        path "secret/a/+/y" { capabilities = ["update"] }
        path "foo/+" { capabilities = ["read"] }
        path "foo/a*" { capabilities = ["update"] }
        "#);
    assert_eq!(
        matched(&a, "secret/a/x/y", Capability::Read).as_deref(),
        Some("secret/a/+/y")
    );
    assert_eq!(
        matched(&a, "foo/ab", Capability::Read).as_deref(),
        Some("foo/a*")
    );
    assert_eq!(
        matched(&a, "foo/b", Capability::Read).as_deref(),
        Some("foo/+")
    );
}

#[test]
fn fewer_plus_segments_win() {
    // Rule 3: same first `+`, neither ends in `*`: the pattern with fewer `+` segments wins.
    let a = one(r#"
        path "a/+/+/d" { capabilities = ["read"] }
        path "a/+/c/d" { capabilities = ["update"] }
        "#);
    assert_eq!(
        matched(&a, "a/b/c/d", Capability::Read).as_deref(),
        Some("a/+/c/d")
    );
    assert_eq!(
        matched(&a, "a/b/x/d", Capability::Read).as_deref(),
        Some("a/+/+/d")
    );
}

#[test]
fn longer_pattern_wins_then_lexical() {
    // Rule 4: `a/+/bar/ba*` beats `a/+/bar/b*`.
    let a = one(r#"
        path "a/+/bar/b*" { capabilities = ["read"] }
        path "a/+/bar/ba*" { capabilities = ["update"] }
        "#);
    assert_eq!(
        matched(&a, "a/x/bar/baz", Capability::Read).as_deref(),
        Some("a/+/bar/ba*")
    );
    assert_eq!(
        matched(&a, "a/x/bar/bz", Capability::Read).as_deref(),
        Some("a/+/bar/b*")
    );
    // Rule 5: same position, no `*`, same count and length: lexically greater wins.
    let a = one(r#"
        path "a/+/b" { capabilities = ["read"] }
        path "a/+/+" { capabilities = ["update"] }
        path "+/x/b" { capabilities = ["list"] }
        "#);
    assert_eq!(
        matched(&a, "a/x/b", Capability::Read).as_deref(),
        Some("a/+/b")
    );
    let lex = one(r#"
        path "x/+/a*" { capabilities = ["read"] }
        path "x/+/*" { capabilities = ["update"] }
        "#);
    assert_eq!(
        matched(&lex, "x/y/ab", Capability::Read).as_deref(),
        Some("x/+/a*")
    );
}

#[test]
fn non_glob_segment_pattern_beats_glob_segment_pattern() {
    // Rule 2 between two `+` patterns: `foo/+/bar` over `foo/+/ba*`.
    let a = one(r#"
        path "foo/+/ba*" { capabilities = ["read"] }
        path "foo/+/bar" { capabilities = ["update"] }
        "#);
    assert_eq!(
        matched(&a, "foo/x/bar", Capability::Read).as_deref(),
        Some("foo/+/bar")
    );
    assert_eq!(
        matched(&a, "foo/x/baz", Capability::Read).as_deref(),
        Some("foo/+/ba*")
    );
    assert_eq!(
        matched(&a, "foo/x/bar/deeper", Capability::Read).as_deref(),
        Some("foo/+/ba*")
    );
}

#[test]
fn deny_wins_across_policies_on_the_same_pattern() {
    let a = acl(&[
        (
            "admin",
            r#"path "secret/*" { capabilities = ["read", "update", "sudo"] }"#,
        ),
        ("block", r#"path "secret/*" { capabilities = ["deny"] }"#),
    ]);
    let d = a.authorize("secret/x", Capability::Read, None);
    assert!(!d.allowed && !d.sudo);
    assert_eq!(d.denied_reason, Some(DenyReason::ExplicitDeny));
    assert_eq!(a.capabilities("secret/x"), vec![Capability::Deny]);
    // Order of policies does not matter.
    let b = acl(&[
        ("block", r#"path "secret/*" { capabilities = ["deny"] }"#),
        ("admin", r#"path "secret/*" { capabilities = ["read"] }"#),
    ]);
    assert!(!b.authorize("secret/x", Capability::Read, None).allowed);
}

#[test]
fn same_pattern_in_two_policies_is_a_union() {
    let a = acl(&[
        ("r", r#"path "kv/app" { capabilities = ["read"] }"#),
        ("w", r#"path "kv/app" { capabilities = ["update"] }"#),
    ]);
    let d = a.authorize("kv/app", Capability::Update, None);
    assert!(d.allowed);
    assert_eq!(d.granting_policies, vec!["w".to_owned()]);
    assert_eq!(
        a.capabilities("kv/app"),
        vec![Capability::Read, Capability::Update]
    );
}

#[test]
fn sudo_is_reported_from_the_matched_rule() {
    let a = one(r#"
        path "sys/*" { capabilities = ["read"] }
        path "sys/audit" { capabilities = ["read", "update", "sudo"] }
        "#);
    let d = a.authorize("sys/audit", Capability::Update, None);
    assert!(d.allowed && d.sudo);
    let d = a.authorize("sys/mounts", Capability::Read, None);
    assert!(d.allowed && !d.sudo);
    assert!(a.authorize("sys/audit", Capability::Sudo, None).allowed);
    assert!(!a.authorize("sys/mounts", Capability::Sudo, None).allowed);
}

#[test]
fn root_allows_everything() {
    let a = Acl::root();
    let d = a.authorize("anything/at/all", Capability::Delete, None);
    assert!(d.allowed && d.sudo && a.is_root());
    assert_eq!(a.capabilities("x"), vec![Capability::Root]);
}

#[test]
fn nothing_matches_means_denied() {
    let a = one(r#"path "a/b" { capabilities = ["read"] }"#);
    let d = a.authorize("a/c", Capability::Read, None);
    assert_eq!(d.denied_reason, Some(DenyReason::NoMatchingRule));
    assert_eq!(a.capabilities("a/c"), vec![Capability::Deny]);
    let d = a.authorize("a/b", Capability::Update, None);
    assert_eq!(
        d.denied_reason,
        Some(DenyReason::MissingCapability(Capability::Update))
    );
    assert!(!a.authorize("a/b", Capability::Deny, None).allowed);
    assert!(!a.authorize("a/b", Capability::Root, None).allowed);
    assert!(
        !Acl::new(&[])
            .authorize("a/b", Capability::Read, None)
            .allowed
    );
}

#[test]
fn list_falls_back_to_the_path_without_trailing_slash() {
    let a = one(r#"
        path "secret/metadata" { capabilities = ["list"] }
        path "+/sys/policies" { capabilities = ["list"] }
        "#);
    assert!(
        a.authorize("secret/metadata/", Capability::List, None)
            .allowed
    );
    assert!(
        !a.authorize("secret/metadata/", Capability::Read, None)
            .allowed
    );
    assert!(
        a.authorize("ns/sys/policies/", Capability::List, None)
            .allowed
    );
    assert_eq!(a.capabilities("secret/metadata/"), vec![Capability::List]);
}

#[test]
fn leading_slashes_are_ignored() {
    let a = one(r#"path "/secret/x" { capabilities = ["read"] }"#);
    assert!(a.authorize("/secret/x", Capability::Read, None).allowed);
    assert!(a.authorize("secret/x", Capability::Read, None).allowed);
}

#[test]
fn star_alone_matches_everything_and_plus_alone_one_segment() {
    let a = one(r#"
        path "*" { capabilities = ["read"] }
        path "+" { capabilities = ["update"] }
        "#);
    assert_eq!(matched(&a, "top", Capability::Read).as_deref(), Some("+"));
    assert_eq!(matched(&a, "a/b", Capability::Read).as_deref(), Some("*"));
}

#[test]
fn required_allowed_and_denied_parameters() {
    let a = one(r#"
        path "kv/app" {
          capabilities = ["create", "update", "read", "list"]
          required_parameters = ["owner"]
          allowed_parameters = {
            "owner" = []
            "Env" = ["dev", "stage-*"]
            "replicas" = [1, 2]
          }
          denied_parameters = {
            "owner" = ["root"]
          }
        }
        "#);
    let ok = params(json!({"owner": "bob", "env": "stage-3", "replicas": 2.0}));
    assert!(a.authorize("kv/app", Capability::Update, Some(&ok)).allowed);

    let cases = [
        (
            json!({"env": "dev"}),
            DenyReason::RequiredParameterMissing("owner".into()),
        ),
        (
            json!({"owner": "root"}),
            DenyReason::ParameterDenied("owner".into()),
        ),
        (
            json!({"owner": "a", "env": "prod"}),
            DenyReason::ParameterNotAllowed("env".into()),
        ),
        (
            json!({"owner": "a", "other": 1}),
            DenyReason::ParameterNotAllowed("other".into()),
        ),
        (
            json!({"owner": "a", "replicas": 3}),
            DenyReason::ParameterNotAllowed("replicas".into()),
        ),
    ];
    for (body, reason) in cases {
        let d = a.authorize("kv/app", Capability::Create, Some(&params(body.clone())));
        assert_eq!(d.denied_reason, Some(reason), "{body}");
        assert_eq!(d.matched.as_deref(), Some("kv/app"));
    }
    // List does not check parameters (as in Vault); read does.
    assert!(a.authorize("kv/app", Capability::List, None).allowed);
    assert!(!a.authorize("kv/app", Capability::Read, None).allowed);
}

#[test]
fn wildcard_parameter_names() {
    let any = one(r#"path "x" {
    capabilities = ["update"]
    allowed_parameters = { "*" = [] }
}"#);
    assert!(
        any.authorize("x", Capability::Update, Some(&params(json!({"a": 1}))))
            .allowed
    );

    let star_plus = one(r#"path "x" {
          capabilities = ["update"]
          allowed_parameters = { "*" = [], "mode" = ["ro"] }
        }"#);
    assert!(
        star_plus
            .authorize("x", Capability::Update, Some(&params(json!({"a": 1}))))
            .allowed
    );
    let d = star_plus.authorize(
        "x",
        Capability::Update,
        Some(&params(json!({"mode": "rw"}))),
    );
    assert_eq!(
        d.denied_reason,
        Some(DenyReason::ParameterNotAllowed("mode".into()))
    );

    let none = one(r#"path "x" {
    capabilities = ["update"]
    denied_parameters = { "*" = [] }
}"#);
    assert!(none.authorize("x", Capability::Update, None).allowed);
    let d = none.authorize("x", Capability::Update, Some(&params(json!({"a": 1}))));
    assert_eq!(
        d.denied_reason,
        Some(DenyReason::ParameterDenied("*".into()))
    );
}

#[test]
fn parameter_lists_merge_like_vault() {
    let a = acl(&[
        (
            "one",
            r#"path "x" {
    capabilities = ["update"]
    allowed_parameters = { "k" = ["a"] }
}"#,
        ),
        (
            "two",
            r#"path "x" {
    capabilities = ["update"]
    allowed_parameters = { "k" = ["b"], "j" = [] }
}"#,
        ),
    ]);
    for (v, ok) in [("a", true), ("b", true), ("c", false)] {
        let d = a.authorize("x", Capability::Update, Some(&params(json!({ "k": v }))));
        assert_eq!(d.allowed, ok, "k={v}");
    }
    assert!(
        a.authorize("x", Capability::Update, Some(&params(json!({"j": "any"}))))
            .allowed
    );

    // An empty list (any value) absorbs a list from another policy.
    let b = acl(&[
        (
            "one",
            r#"path "x" {
    capabilities = ["update"]
    allowed_parameters = { "k" = [] }
}"#,
        ),
        (
            "two",
            r#"path "x" {
    capabilities = ["update"]
    allowed_parameters = { "k" = ["b"] }
}"#,
        ),
    ]);
    assert!(
        b.authorize("x", Capability::Update, Some(&params(json!({"k": "zzz"}))))
            .allowed
    );

    let c = acl(&[
        (
            "one",
            r#"path "x" {
    capabilities = ["update"]
    required_parameters = ["a"]
}"#,
        ),
        (
            "two",
            r#"path "x" {
    capabilities = ["read"]
    required_parameters = ["b", "a"]
}"#,
        ),
    ]);
    let d = c.authorize("x", Capability::Update, Some(&params(json!({"a": 1}))));
    assert_eq!(
        d.denied_reason,
        Some(DenyReason::RequiredParameterMissing("b".into()))
    );
}

#[test]
fn wrapping_ttl_rules_fail_closed() {
    let a = one(r#"path "x" {
    capabilities = ["read"]
    max_wrapping_ttl = "1h"
}"#);
    let d = a.authorize("x", Capability::Read, None);
    assert_eq!(d.denied_reason, Some(DenyReason::WrappingRequired));
    // It still reports the capability for sys/capabilities-self.
    assert_eq!(a.capabilities("x"), vec![Capability::Read]);
}

#[test]
fn capabilities_are_sorted_by_name() {
    let a = one(
        r#"path "x/*" { capabilities = ["update", "sudo", "create", "list", "read", "delete", "patch"] }"#,
    );
    let names: Vec<&str> = a.capabilities("x/y").iter().map(|c| c.as_str()).collect();
    assert_eq!(
        names,
        [
            "create", "delete", "list", "patch", "read", "sudo", "update"
        ]
    );
}

#[test]
fn grants_under_finds_any_grant_inside_a_mount() {
    let acl = one(r#"path "secret/data/app/*" { capabilities = ["read"] }"#);
    assert!(acl.grants_under("secret/"));
    assert!(!acl.grants_under("database/"));
    assert!(!acl.grants_under("sec/"));
    let wide = one(r#"path "sec*" { capabilities = ["list"] }"#);
    assert!(wide.grants_under("secret/"));
    let plus = one(r#"path "+/data/x" { capabilities = ["read"] }"#);
    assert!(plus.grants_under("anything/"));
    let denied = one(r#"path "secret/*" { capabilities = ["deny"] }"#);
    assert!(!denied.grants_under("secret/"));
    assert!(Acl::root().grants_under("whatever/"));
}
