use std::time::Duration;

use lessor_sdk::testing::MemoryMountStorage;
use lessor_sdk::{EngineError, ManualClock, Params};
use serde_json::json;
use time::macros::datetime;

use super::*;

const HOUR: u64 = 3600;

struct Fixture {
    clock: Arc<ManualClock>,
    store: Arc<TokenStore>,
    endpoints: TokenEndpoints,
    root: Caller,
}

async fn fixture() -> Fixture {
    let clock = Arc::new(ManualClock::new(datetime!(2030-01-01 00:00 UTC)));
    let store = Arc::new(TokenStore::new(
        Arc::new(MemoryMountStorage::default()),
        clock.clone(),
        crate::TokenLimits::default(),
    ));
    let root = store.create_root(None).await.unwrap();
    let root = Caller {
        token: root.client_token,
        entry: root.entry,
        sudo: false, // root implies sudo without the broker saying so
    };
    let endpoints = TokenEndpoints::new(store.clone());
    Fixture {
        clock,
        store,
        endpoints,
        root,
    }
}

fn request(route: &'static str, operation: Operation, data: Value) -> Request {
    Request {
        id: "request".into(),
        operation,
        route,
        path: route.into(),
        params: Params::default(),
        data: data.as_object().cloned().unwrap(),
        client: None,
        mount_path: "auth/token/".into(),
    }
}

impl Fixture {
    async fn call(
        &self,
        caller: &Caller,
        route: &'static str,
        data: Value,
    ) -> Result<TokenResponse, TokenError> {
        let operation = TokenEndpoints::routes()
            .into_iter()
            .find(|r| r.pattern.source() == route)
            .map(|r| r.operations[0])
            .unwrap();
        self.endpoints
            .handle(&request(route, operation, data), caller)
            .await
    }

    /// Creates a token as `caller` and returns it as a caller of its own.
    async fn create(
        &self,
        caller: &Caller,
        route: &'static str,
        data: Value,
    ) -> (Caller, Vec<String>) {
        match self.call(caller, route, data).await.unwrap() {
            TokenResponse::Issued { token, warnings } => (
                Caller {
                    token: token.client_token,
                    entry: token.entry,
                    sudo: false,
                },
                warnings,
            ),
            other => panic!("expected an issued token, got {other:?}"),
        }
    }

    async fn error(&self, caller: &Caller, route: &'static str, data: Value) -> String {
        let error = self.call(caller, route, data).await.unwrap_err();
        let engine: EngineError = error.into();
        assert!(
            matches!(engine, EngineError::InvalidRequest(_)),
            "{engine:?}"
        );
        engine.to_string()
    }
}

fn data(response: TokenResponse) -> Map {
    match response {
        TokenResponse::Data(data) => data,
        other => panic!("expected data, got {other:?}"),
    }
}

#[tokio::test]
async fn create_with_vault_defaults() {
    let f = fixture().await;
    let (child, warnings) = f
        .create(
            &f.root,
            CREATE,
            json!({"policies": ["app"], "meta": {"team": "a"}, "display_name": "ci job"}),
        )
        .await;
    assert!(warnings.is_empty());
    let entry = &child.entry;
    assert!(child.token.expose().starts_with("hvs."));
    assert_eq!(entry.policies, vec!["app", "default"]);
    assert_eq!(entry.display_name, "token-ci-job");
    assert_eq!(entry.path, "auth/token/create");
    assert_eq!(entry.parent.as_deref(), Some(f.root.entry.hash.as_str()));
    assert_eq!(entry.ttl_remaining(f.store.now()), 32 * 24 * HOUR);
    assert!(entry.renewable);
    assert_eq!(entry.meta.get("team").map(String::as_str), Some("a"));

    // A root child of a root token with no TTL is a non-expiring root token.
    let (root_child, _) = f.create(&f.root, CREATE, json!({})).await;
    assert_eq!(root_child.entry.policies, vec!["root"]);
    assert_eq!(root_child.entry.expire_time, None);
    assert!(!root_child.entry.renewable);

    let (bare, _) = f
        .create(
            &f.root,
            CREATE,
            json!({"policies": "app, db", "no_default_policy": true, "ttl": "90m"}),
        )
        .await;
    assert_eq!(bare.entry.policies, vec!["app", "db"]);
    assert_eq!(bare.entry.ttl_remaining(f.store.now()), 5400);
}

#[tokio::test]
async fn child_policies_must_be_a_subset_of_the_parents() {
    let f = fixture().await;
    let (parent, _) = f
        .create(&f.root, CREATE, json!({"policies": ["app", "db"]}))
        .await;
    let message = f
        .error(&parent, CREATE, json!({"policies": ["admin"]}))
        .await;
    assert_eq!(message, "child policies must be subset of parent");
    let message = f
        .error(&parent, CREATE, json!({"policies": ["root"]}))
        .await;
    assert_eq!(message, "child policies must be subset of parent");

    let (child, _) = f.create(&parent, CREATE, json!({"policies": ["db"]})).await;
    assert_eq!(child.entry.policies, vec!["db", "default"]);
    let (inherited, _) = f.create(&parent, CREATE, json!({})).await;
    assert_eq!(inherited.entry.policies, parent.entry.policies);

    // With sudo the subset rule is lifted, but only root makes root.
    let sudo_parent = Caller {
        sudo: true,
        ..parent.clone()
    };
    let (escalated, _) = f
        .create(&sudo_parent, CREATE, json!({"policies": ["admin"]}))
        .await;
    assert_eq!(escalated.entry.policies, vec!["admin", "default"]);
    let message = f
        .error(&sudo_parent, CREATE, json!({"policies": ["root"]}))
        .await;
    assert!(
        message.contains("root tokens may not be created"),
        "{message}"
    );
    let message = f
        .error(&f.root, CREATE, json!({"policies": ["response-wrapping"]}))
        .await;
    assert!(message.contains("cannot assign policy"), "{message}");
}

#[tokio::test]
async fn orphans_ids_and_periods_need_sudo() {
    let f = fixture().await;
    let (parent, _) = f
        .create(&f.root, CREATE, json!({"policies": ["app"]}))
        .await;
    for (route, body) in [
        (CREATE_ORPHAN, json!({})),
        (CREATE, json!({"no_parent": true})),
        (CREATE, json!({"id": "custom"})),
        (CREATE, json!({"period": "1h"})),
    ] {
        let message = f.error(&parent, route, body).await;
        assert!(
            message.contains("root or sudo privileges required"),
            "{message}"
        );
    }
    let sudo_parent = Caller {
        sudo: true,
        ..parent
    };
    let (orphan, _) = f.create(&sudo_parent, CREATE_ORPHAN, json!({})).await;
    assert!(orphan.entry.is_orphan());
    assert_eq!(orphan.entry.path, "auth/token/create-orphan");
    let (orphan, _) = f
        .create(&sudo_parent, CREATE, json!({"no_parent": true}))
        .await;
    assert!(orphan.entry.is_orphan());

    let (custom, warnings) = f
        .create(
            &f.root,
            CREATE,
            json!({"id": "my-token", "policies": ["app"]}),
        )
        .await;
    assert!(warnings.is_empty());
    assert_eq!(custom.token.expose(), "my-token");
    assert!(f.store.authenticate("my-token").await.is_ok());
    let message = f.error(&f.root, CREATE, json!({"id": "hvs.fake"})).await;
    assert!(message.contains("'.'"), "{message}");
}

#[tokio::test]
async fn children_live_no_longer_than_their_parent_unless_orphaned() {
    let f = fixture().await;
    let (parent, _) = f
        .create(&f.root, CREATE, json!({"policies": ["app"], "ttl": "1h"}))
        .await;
    let (child, warnings) = f.create(&parent, CREATE, json!({"ttl": "5h"})).await;
    assert_eq!(child.entry.expire_time, parent.entry.expire_time);
    assert!(
        warnings.iter().any(|w| w.contains("parent")),
        "{warnings:?}"
    );

    let sudo_parent = Caller {
        sudo: true,
        ..parent
    };
    let (orphan, warnings) = f
        .create(&sudo_parent, CREATE_ORPHAN, json!({"ttl": "5h"}))
        .await;
    assert_eq!(orphan.entry.ttl_remaining(f.store.now()), 5 * HOUR);
    assert!(warnings.is_empty());

    // An expiring root token cannot make a root token that never expires.
    let (expiring_root, _) = f.create(&f.root, CREATE, json!({"ttl": "1h"})).await;
    let message = f.error(&expiring_root, CREATE, json!({})).await;
    assert!(message.contains("non-expiring"), "{message}");
}

#[tokio::test]
async fn limited_use_tokens_cannot_create_children() {
    let f = fixture().await;
    let (limited, _) = f
        .create(&f.root, CREATE, json!({"policies": ["app"], "num_uses": 3}))
        .await;
    assert_eq!(limited.entry.num_uses, 3);
    let message = f.error(&limited, CREATE, json!({})).await;
    assert_eq!(message, "restricted use token cannot generate child tokens");
}

#[tokio::test]
async fn lookup_data_has_every_vault_field() {
    let f = fixture().await;
    let (child, _) = f
        .create(
            &f.root,
            CREATE,
            json!({"policies": ["app"], "ttl": "1h", "explicit_max_ttl": "2h", "meta": {"k": "v"}}),
        )
        .await;
    f.clock.advance(Duration::from_secs(600));
    let lookup = data(f.call(&child, LOOKUP_SELF, json!({})).await.unwrap());
    for field in [
        "accessor",
        "creation_time",
        "creation_ttl",
        "display_name",
        "entity_id",
        "expire_time",
        "explicit_max_ttl",
        "id",
        "issue_time",
        "meta",
        "num_uses",
        "orphan",
        "path",
        "policies",
        "renewable",
        "ttl",
        "type",
    ] {
        assert!(lookup.contains_key(field), "missing {field}");
    }
    assert_eq!(lookup["id"], json!(child.token.expose()));
    assert_eq!(lookup["accessor"], json!(child.entry.accessor));
    assert_eq!(
        lookup["creation_time"],
        json!(datetime!(2030-01-01 00:00 UTC).unix_timestamp())
    );
    assert_eq!(lookup["creation_ttl"], json!(3600));
    assert_eq!(lookup["ttl"], json!(3000));
    assert_eq!(lookup["explicit_max_ttl"], json!(7200));
    assert_eq!(lookup["expire_time"], json!("2030-01-01T01:00:00Z"));
    assert_eq!(lookup["issue_time"], json!("2030-01-01T00:00:00Z"));
    assert_eq!(lookup["meta"], json!({"k": "v"}));
    assert_eq!(lookup["orphan"], json!(false));
    assert_eq!(lookup["policies"], json!(["app", "default"]));
    assert_eq!(lookup["type"], json!("service"));
    assert_eq!(lookup["entity_id"], json!(""));

    // By token: shows the id; by accessor: never.
    let by_token = data(
        f.call(&f.root, LOOKUP, json!({"token": child.token.expose()}))
            .await
            .unwrap(),
    );
    assert_eq!(by_token["id"], json!(child.token.expose()));
    let by_accessor = data(
        f.call(
            &f.root,
            LOOKUP_ACCESSOR,
            json!({"accessor": child.entry.accessor}),
        )
        .await
        .unwrap(),
    );
    assert_eq!(by_accessor["id"], json!(""));
    assert_eq!(by_accessor["accessor"], json!(child.entry.accessor));

    let root_lookup = data(f.call(&f.root, LOOKUP_SELF, json!({})).await.unwrap());
    assert_eq!(root_lookup["expire_time"], Value::Null);
    assert_eq!(root_lookup["ttl"], json!(0));
    assert_eq!(root_lookup["meta"], Value::Null);
    assert_eq!(root_lookup["orphan"], json!(true));
}

#[tokio::test]
async fn renew_endpoints() {
    let f = fixture().await;
    let (child, _) = f
        .create(
            &f.root,
            CREATE,
            json!({"policies": ["app"], "ttl": "1h", "explicit_max_ttl": "90m"}),
        )
        .await;
    f.clock.advance(Duration::from_secs(1800));
    let TokenResponse::Issued { token, warnings } = f
        .call(&child, RENEW_SELF, json!({"increment": "1h"}))
        .await
        .unwrap()
    else {
        panic!("renew-self answers with an auth block");
    };
    assert_eq!(token.client_token.expose(), child.token.expose());
    assert_eq!(token.entry.ttl_remaining(f.store.now()), 3600);
    assert!(warnings.is_empty());
    let auth = token.to_auth_data(f.store.now());
    assert_eq!(auth["lease_duration"], json!(3600));
    assert_eq!(auth["client_token"], json!(child.token.expose()));

    f.clock.advance(Duration::from_secs(1800));
    let TokenResponse::Issued { token, warnings } = f
        .call(
            &f.root,
            RENEW,
            json!({"token": child.token.expose(), "increment": 7200}),
        )
        .await
        .unwrap()
    else {
        panic!("renew answers with an auth block");
    };
    assert_eq!(
        token.entry.ttl_remaining(f.store.now()),
        1800,
        "capped at 90m from creation"
    );
    assert_eq!(warnings.len(), 1);

    let TokenResponse::Renewed { entry, .. } = f
        .call(
            &f.root,
            RENEW_ACCESSOR,
            json!({"accessor": child.entry.accessor}),
        )
        .await
        .unwrap()
    else {
        panic!("renew-accessor answers without the token");
    };
    assert_eq!(
        entry.to_auth_data(None, f.store.now())["client_token"],
        json!("")
    );

    let (fixed, _) = f
        .create(
            &f.root,
            CREATE,
            json!({"policies": ["app"], "renewable": false}),
        )
        .await;
    assert_eq!(
        f.error(&fixed, RENEW_SELF, json!({})).await,
        "token is not renewable"
    );
}

#[tokio::test]
async fn revoke_endpoints() {
    let f = fixture().await;
    let (a, _) = f
        .create(&f.root, CREATE, json!({"policies": ["app"]}))
        .await;
    let (a_child, _) = f.create(&a, CREATE, json!({})).await;
    let (b, _) = f
        .create(&f.root, CREATE, json!({"policies": ["app"]}))
        .await;
    let (c, _) = f
        .create(&f.root, CREATE, json!({"policies": ["app"]}))
        .await;

    assert!(matches!(
        f.call(&a, REVOKE_SELF, json!({})).await.unwrap(),
        TokenResponse::NoContent
    ));
    assert!(
        f.store.lookup(a_child.token.expose()).await.is_err(),
        "children go with the parent"
    );
    f.call(&f.root, REVOKE, json!({"token": b.token.expose()}))
        .await
        .unwrap();
    assert!(f.store.lookup(b.token.expose()).await.is_err());
    f.call(
        &f.root,
        REVOKE_ACCESSOR,
        json!({"accessor": c.entry.accessor}),
    )
    .await
    .unwrap();
    assert!(f.store.lookup(c.token.expose()).await.is_err());
    // Revoking what is already gone is not an error (Vault answers 204).
    f.call(&f.root, REVOKE, json!({"token": b.token.expose()}))
        .await
        .unwrap();
    assert_eq!(
        f.error(
            &f.root,
            REVOKE_ACCESSOR,
            json!({"accessor": c.entry.accessor})
        )
        .await,
        "invalid accessor"
    );

    let (d, _) = f
        .create(&f.root, CREATE, json!({"policies": ["app"]}))
        .await;
    let (d_child, _) = f.create(&d, CREATE, json!({})).await;
    let message = f
        .error(&d, REVOKE_ORPHAN, json!({"token": d.token.expose()}))
        .await;
    assert!(message.contains("sudo"), "{message}");
    f.call(&f.root, REVOKE_ORPHAN, json!({"token": d.token.expose()}))
        .await
        .unwrap();
    assert!(f.store.lookup(d.token.expose()).await.is_err());
    assert!(
        f.store
            .lookup(d_child.token.expose())
            .await
            .unwrap()
            .is_orphan()
    );
}

#[tokio::test]
async fn the_accessor_list_needs_sudo() {
    let f = fixture().await;
    let (child, _) = f
        .create(&f.root, CREATE, json!({"policies": ["app"]}))
        .await;
    let listed = data(f.call(&f.root, ACCESSORS, json!({})).await.unwrap());
    let keys = listed["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert!(keys.contains(&json!(child.entry.accessor)));
    let denied: EngineError = f
        .call(&child, ACCESSORS, json!({}))
        .await
        .unwrap_err()
        .into();
    assert!(matches!(denied, EngineError::PermissionDenied));
}

#[tokio::test]
async fn malformed_inputs_are_rejected_clearly() {
    let f = fixture().await;
    for (route, body, expected) in [
        (
            CREATE,
            json!({"polices": ["typo"]}),
            "unknown field `polices`",
        ),
        (
            CREATE,
            json!({"ttl": "forever"}),
            "field `ttl`: invalid duration",
        ),
        (CREATE, json!({"ttl": true}), "field `ttl`"),
        (CREATE, json!({"num_uses": -1}), "field `num_uses`"),
        (CREATE, json!({"policies": 7}), "policies must be"),
        (CREATE, json!({"policies": ["a", 1]}), "policies must be"),
        (CREATE, json!({"meta": {"k": 1}}), "field `meta`"),
        (
            CREATE,
            json!({"type": "batch"}),
            "batch tokens are not supported",
        ),
        (CREATE, json!({"type": "weird"}), "invalid 'type'"),
        (LOOKUP_ACCESSOR, json!({}), "missing accessor"),
        (
            LOOKUP_ACCESSOR,
            json!({"accessor": "nope"}),
            "invalid accessor",
        ),
        (RENEW, json!({"increment": "1h"}), "missing token"),
        (RENEW_SELF, json!({"increment": "-5s"}), "field `increment`"),
        (REVOKE, json!({"token": ""}), "missing token"),
        (LOOKUP_SELF, json!({"extra": 1}), "unknown field `extra`"),
    ] {
        let message = f.error(&f.root, route, body.clone()).await;
        assert!(message.contains(expected), "{route} {body}: {message}");
    }
    // A bad token in a body is a 403, never a hint about why.
    let denied: EngineError = f
        .call(&f.root, LOOKUP, json!({"token": "hvs.nope"}))
        .await
        .unwrap_err()
        .into();
    assert!(matches!(denied, EngineError::PermissionDenied));
}

#[test]
fn display_names_follow_vault() {
    assert_eq!(display_name(None), "token");
    assert_eq!(display_name(Some("")), "token");
    assert_eq!(display_name(Some("ci  job!")), "token-ci-job");
    assert_eq!(display_name(Some("a.b-c")), "token-a-b-c");
}

#[test]
fn routes_cover_every_endpoint_once() {
    let routes = TokenEndpoints::routes();
    let mut sources: Vec<_> = routes.iter().map(|r| r.pattern.source()).collect();
    sources.sort_unstable();
    sources.dedup();
    assert_eq!(sources.len(), 13);
    assert!(routes.iter().all(|r| !r.unauthenticated));
    let accessors = routes
        .iter()
        .find(|r| r.pattern.source() == ACCESSORS)
        .unwrap();
    assert!(accessors.supports(Operation::List) && !accessors.supports(Operation::Read));
}
