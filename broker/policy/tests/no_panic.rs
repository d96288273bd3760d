//! Property tests: whatever text or path arrives from the API, parsing and deciding never panic,
//! and the ACL's two views of a path (`authorize` and `capabilities`) agree.

use lessor_policy::{Acl, Capability, Policy};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Fragments that make random text look enough like a policy to reach the deeper parser paths.
fn policy_token() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "path",
        "\"secret/*\"",
        "\"a/+/b\"",
        "\"\"",
        "{",
        "}",
        "[",
        "]",
        "=",
        ",",
        "\n",
        " ",
        "capabilities",
        "\"read\"",
        "\"deny\"",
        "\"sudo\"",
        "policy",
        "\"write\"",
        "allowed_parameters",
        "denied_parameters",
        "required_parameters",
        "min_wrapping_ttl",
        "\"*\"",
        "1",
        "-1",
        "\"1h\"",
        "true",
        "null",
        "#",
        "\"${x}\"",
        "name",
        ":",
        "\"path\"",
    ])
}

fn segment() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "a", "b", "ab", "+", "", "a*", "*", "+*", "secret", "data",
    ])
}

fn pattern() -> impl Strategy<Value = String> {
    prop::collection::vec(segment(), 1..5).prop_map(|s| s.join("/"))
}

fn request_path() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec!["a", "b", "ab", "abc", "", "secret", "data", "+"]),
        0..6,
    )
    .prop_map(|s| s.join("/"))
}

fn capability() -> impl Strategy<Value = Capability> {
    prop::sample::select(vec![
        Capability::Create,
        Capability::Read,
        Capability::Update,
        Capability::Patch,
        Capability::Delete,
        Capability::List,
        Capability::Sudo,
        Capability::Deny,
        Capability::Root,
    ])
}

fn stanza() -> impl Strategy<Value = String> {
    (
        pattern(),
        prop::collection::vec(
            prop::sample::select(vec!["read", "list", "update", "sudo", "deny", "create"]),
            0..4,
        ),
        prop::option::of(prop::sample::select(vec!["a", "b", "*"])),
    )
        .prop_map(|(path, caps, param)| {
            let caps: Vec<String> = caps.iter().map(|c| format!("\"{c}\"")).collect();
            let params = param
                .map(|p| format!("  allowed_parameters = {{ \"{p}\" = [\"x*\"] }}\n"))
                .unwrap_or_default();
            format!(
                "path \"{path}\" {{\n  capabilities = [{}]\n{params}}}\n",
                caps.join(", ")
            )
        })
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let _ = Policy::parse("p", &text);
        let _ = Policy::parse(&text, "");
    }

    #[test]
    fn policy_like_text_never_panics(tokens in prop::collection::vec(policy_token(), 0..60)) {
        let text = tokens.join(" ");
        if let Ok(policy) = Policy::parse("p", &text) {
            let acl = Acl::new(&[policy]);
            let _ = acl.capabilities("secret/x");
        }
    }

    #[test]
    fn deciding_never_panics_and_views_agree(
        stanzas in prop::collection::vec(stanza(), 0..6),
        second in prop::collection::vec(stanza(), 0..3),
        path in request_path(),
        cap in capability(),
        param in prop::option::of(prop::sample::select(vec!["a", "b", "c"])),
    ) {
        let policies: Vec<Policy> = [stanzas.concat(), second.concat()]
            .iter()
            .enumerate()
            .filter_map(|(i, text)| Policy::parse(&format!("p{i}"), text).ok())
            .collect();
        let acl = Acl::new(&policies);
        let mut body = Map::new();
        if let Some(p) = param {
            body.insert(p.to_owned(), Value::String("xy".into()));
        }
        let decision = acl.authorize(&path, cap, Some(&body));
        prop_assert_eq!(decision.allowed, decision.denied_reason.is_none());
        let caps = acl.capabilities(&path);
        prop_assert!(!caps.is_empty());
        // `capabilities` looks a path up the way a list does, which also tries the path without a
        // trailing `/`; for other paths both views must agree.
        if decision.allowed && !path.ends_with('/') {
            prop_assert!(caps.contains(&cap), "{:?} allowed on {:?} but capabilities say {:?}", cap, path, caps);
        }
        if decision.allowed {
            prop_assert!(decision.matched.is_some());
        }
        if caps == vec![Capability::Deny] && !path.ends_with('/') {
            prop_assert!(!decision.allowed);
        }
    }
}
