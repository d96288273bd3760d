use std::sync::Mutex as StdMutex;
use std::time::Duration;

use async_trait::async_trait;
use lessor_sdk::testing::MemoryMountStorage;
use lessor_sdk::{EngineError, ManualClock};
use time::macros::datetime;

use super::*;

const HOUR: Duration = Duration::from_secs(3600);

struct Fixture {
    storage: Arc<MemoryMountStorage>,
    clock: Arc<ManualClock>,
    store: Arc<TokenStore>,
}

fn fixture() -> Fixture {
    let storage = Arc::new(MemoryMountStorage::default());
    let clock = Arc::new(ManualClock::new(datetime!(2030-01-01 00:00 UTC)));
    let store = Arc::new(TokenStore::new(
        storage.clone(),
        clock.clone(),
        TokenLimits::default(),
    ));
    Fixture {
        storage,
        clock,
        store,
    }
}

fn token(ttl: Duration) -> CreateToken {
    CreateToken {
        policies: vec!["app".into(), "default".into()],
        display_name: "token".into(),
        ttl: Some(ttl),
        renewable: true,
        path: "auth/token/create".into(),
        ..CreateToken::default()
    }
}

fn child_of(parent: &IssuedToken, ttl: Duration) -> CreateToken {
    CreateToken {
        parent: Some(parent.entry.hash.clone()),
        ..token(ttl)
    }
}

async fn values(storage: &MemoryMountStorage) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for key in storage.keys() {
        let value = storage.get(&key).await.unwrap().unwrap();
        out.push((key, value));
    }
    out
}

#[tokio::test]
async fn create_lookup_renew_revoke() {
    let f = fixture();
    let issued = f.store.create(token(HOUR)).await.unwrap();
    assert!(issued.client_token.expose().starts_with("hvs."));
    assert_eq!(issued.entry.policies, vec!["app", "default"]);

    let found = f
        .store
        .authenticate(issued.client_token.expose())
        .await
        .unwrap();
    assert_eq!(found, issued.entry);
    assert_eq!(
        f.store
            .lookup_accessor(&issued.entry.accessor)
            .await
            .unwrap(),
        issued.entry
    );

    f.clock.advance(Duration::from_secs(600));
    let renewal = f
        .store
        .renew(&issued.entry.hash, Some(2 * HOUR))
        .await
        .unwrap();
    assert!(renewal.warnings.is_empty());
    assert_eq!(renewal.entry.ttl_remaining(f.store.now()), 7200);
    assert_eq!(renewal.entry.last_renewal, Some(f.store.now()));
    // The renewal is persisted.
    let reread = f.store.lookup(issued.client_token.expose()).await.unwrap();
    assert_eq!(reread.expire_time, renewal.entry.expire_time);

    assert_eq!(
        f.store
            .revoke_token(issued.client_token.expose())
            .await
            .unwrap(),
        1
    );
    assert!(matches!(
        f.store.authenticate(issued.client_token.expose()).await,
        Err(TokenError::InvalidToken)
    ));
    assert!(matches!(
        f.store.lookup_accessor(&issued.entry.accessor).await,
        Err(TokenError::InvalidAccessor)
    ));
    // Only the salt is left.
    assert_eq!(f.storage.keys(), vec!["salt".to_string()]);
}

#[tokio::test]
async fn storage_never_holds_the_raw_token() {
    let f = fixture();
    let parent = f.store.create(token(HOUR)).await.unwrap();
    let child = f.store.create(child_of(&parent, HOUR)).await.unwrap();
    let root = f.store.create_root(None).await.unwrap();
    f.store
        .authenticate(child.client_token.expose())
        .await
        .unwrap();
    f.store.renew(&child.entry.hash, None).await.unwrap();

    let stored = values(&f.storage).await;
    assert!(
        stored.len() >= 8,
        "entries and indexes are stored: {}",
        stored.len()
    );
    for secret in [
        &parent.client_token,
        &child.client_token,
        &root.client_token,
    ] {
        let raw = secret.expose();
        // The random part alone must not appear either (e.g. without the prefix).
        let random = &raw[4..];
        for (key, value) in &stored {
            assert!(!key.contains(random), "token in key {key}");
            let text = String::from_utf8_lossy(value);
            assert!(!text.contains(random), "token in value at {key}");
        }
    }
    // Entries are keyed by a 64-hex-digit HMAC.
    let hash_keys: Vec<_> = f
        .storage
        .keys()
        .into_iter()
        .filter(|k| k.starts_with("id/"))
        .collect();
    assert_eq!(hash_keys.len(), 3);
    assert!(hash_keys.iter().all(|k| k.len() == 3 + 64));
}

#[tokio::test]
async fn the_salt_persists_across_store_instances() {
    let f = fixture();
    let issued = f.store.create(token(HOUR)).await.unwrap();
    let again = TokenStore::new(f.storage.clone(), f.clock.clone(), TokenLimits::default());
    assert_eq!(
        again.lookup(issued.client_token.expose()).await.unwrap(),
        issued.entry
    );
}

#[tokio::test]
async fn an_expired_token_is_rejected_and_revoked() {
    let f = fixture();
    let issued = f.store.create(token(HOUR)).await.unwrap();
    f.clock.advance(HOUR - Duration::from_secs(1));
    assert!(
        f.store
            .authenticate(issued.client_token.expose())
            .await
            .is_ok()
    );
    f.clock.advance(Duration::from_secs(1));
    assert!(matches!(
        f.store.authenticate(issued.client_token.expose()).await,
        Err(TokenError::InvalidToken)
    ));
    assert!(
        f.store.load(&issued.entry.hash).await.unwrap().is_none(),
        "revoked lazily"
    );
    assert!(!f.storage.keys().iter().any(|k| k.starts_with("accessor/")));
}

#[tokio::test]
async fn unknown_and_malformed_tokens_are_invalid() {
    let f = fixture();
    for bad in [
        "",
        "hvs.doesnotexist",
        "with space",
        "\u{1F511}",
        &"x".repeat(600),
    ] {
        assert!(
            matches!(
                f.store.authenticate(bad).await,
                Err(TokenError::InvalidToken)
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        f.store.lookup_accessor("nope").await,
        Err(TokenError::InvalidAccessor)
    ));
    assert!(matches!(
        f.store.lookup_accessor("../salt").await,
        Err(TokenError::InvalidAccessor)
    ));
}

#[tokio::test]
async fn num_uses_two_uses_then_rejected() {
    let f = fixture();
    let issued = f
        .store
        .create(CreateToken {
            num_uses: 2,
            ..token(HOUR)
        })
        .await
        .unwrap();
    let first = f
        .store
        .authenticate(issued.client_token.expose())
        .await
        .unwrap();
    assert_eq!(first.num_uses, 1);
    let second = f
        .store
        .authenticate(issued.client_token.expose())
        .await
        .unwrap();
    assert!(second.uses_exhausted);
    assert!(matches!(
        f.store.authenticate(issued.client_token.expose()).await,
        Err(TokenError::InvalidToken)
    ));
    assert!(
        f.store.load(&issued.entry.hash).await.unwrap().is_none(),
        "revoked after the last use"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_authentications_spend_exactly_num_uses() {
    let f = fixture();
    let issued = f
        .store
        .create(CreateToken {
            num_uses: 5,
            ..token(HOUR)
        })
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let store = f.store.clone();
        let token = issued.client_token.clone();
        tasks.push(tokio::spawn(async move {
            store.authenticate(token.expose()).await.is_ok()
        }));
    }
    let mut allowed = 0;
    for task in tasks {
        allowed += usize::from(task.await.unwrap());
    }
    assert_eq!(allowed, 5);
}

#[tokio::test]
async fn revoking_a_parent_revokes_descendants_but_not_orphans() {
    let f = fixture();
    let parent = f.store.create(token(HOUR)).await.unwrap();
    let child = f.store.create(child_of(&parent, HOUR)).await.unwrap();
    let sibling = f.store.create(child_of(&parent, HOUR)).await.unwrap();
    let grandchild = f.store.create(child_of(&child, HOUR)).await.unwrap();
    let orphan = f.store.create(token(HOUR)).await.unwrap();
    let unrelated_child = f.store.create(child_of(&orphan, HOUR)).await.unwrap();

    assert_eq!(f.store.revoke_tree(&parent.entry.hash).await.unwrap(), 4);
    for gone in [&parent, &child, &sibling, &grandchild] {
        assert!(f.store.lookup(gone.client_token.expose()).await.is_err());
    }
    for alive in [&orphan, &unrelated_child] {
        assert!(f.store.lookup(alive.client_token.expose()).await.is_ok());
    }
    assert!(
        !f.storage
            .keys()
            .iter()
            .any(|k| k.contains(&parent.entry.hash))
    );
}

#[tokio::test]
async fn a_revoked_parent_cannot_get_children() {
    let f = fixture();
    let parent = f.store.create(token(HOUR)).await.unwrap();
    f.store.revoke_tree(&parent.entry.hash).await.unwrap();
    assert!(matches!(
        f.store.create(child_of(&parent, HOUR)).await,
        Err(TokenError::InvalidToken)
    ));
}

#[tokio::test]
async fn revoke_orphan_keeps_the_children() {
    let f = fixture();
    let parent = f.store.create(token(HOUR)).await.unwrap();
    let child = f.store.create(child_of(&parent, HOUR)).await.unwrap();
    let grandchild = f.store.create(child_of(&child, HOUR)).await.unwrap();
    f.store.revoke_orphan(&parent.entry.hash).await.unwrap();
    assert!(f.store.lookup(parent.client_token.expose()).await.is_err());
    let child_now = f.store.lookup(child.client_token.expose()).await.unwrap();
    assert!(child_now.is_orphan());
    // The grandchild still hangs off the child.
    let grandchild_now = f
        .store
        .lookup(grandchild.client_token.expose())
        .await
        .unwrap();
    assert_eq!(
        grandchild_now.parent.as_deref(),
        Some(child.entry.hash.as_str())
    );
    assert!(
        !f.storage
            .keys()
            .iter()
            .any(|k| k.contains(&parent.entry.hash))
    );
}

#[tokio::test]
async fn accessor_revocation() {
    let f = fixture();
    let parent = f.store.create(token(HOUR)).await.unwrap();
    let child = f.store.create(child_of(&parent, HOUR)).await.unwrap();
    let mut accessors = f.store.list_accessors().await.unwrap();
    accessors.sort();
    let mut expected = vec![parent.entry.accessor.clone(), child.entry.accessor.clone()];
    expected.sort();
    assert_eq!(accessors, expected);
    assert_eq!(
        f.store
            .revoke_accessor(&parent.entry.accessor)
            .await
            .unwrap(),
        2
    );
    assert!(f.store.list_accessors().await.unwrap().is_empty());
    assert!(matches!(
        f.store.revoke_accessor(&parent.entry.accessor).await,
        Err(TokenError::InvalidAccessor)
    ));
}

#[tokio::test]
async fn renew_is_capped_by_explicit_max_ttl_with_a_warning() {
    let f = fixture();
    let issued = f
        .store
        .create(CreateToken {
            explicit_max_ttl: 3 * HOUR,
            ..token(HOUR)
        })
        .await
        .unwrap();
    // Without an increment the creation TTL (1h) is used; well within the explicit max.
    f.clock.advance(Duration::from_secs(50 * 60));
    let renewal = f.store.renew(&issued.entry.hash, None).await.unwrap();
    assert_eq!(renewal.entry.ttl_remaining(f.store.now()), 3600);
    assert!(renewal.warnings.is_empty());
    f.clock.advance(Duration::from_secs(50 * 60));
    f.store.renew(&issued.entry.hash, None).await.unwrap();
    f.clock.advance(Duration::from_secs(50 * 60));
    // At 2h30m a 5h increment is capped to the 30 minutes left before 3h.
    let renewal = f
        .store
        .renew(&issued.entry.hash, Some(5 * HOUR))
        .await
        .unwrap();
    assert_eq!(renewal.entry.ttl_remaining(f.store.now()), 1800);
    assert_eq!(renewal.warnings.len(), 1, "{:?}", renewal.warnings);
    assert!(renewal.warnings[0].contains("capped"));
    f.clock.advance(Duration::from_secs(1799));
    assert!(f.store.lookup(issued.client_token.expose()).await.is_ok());
    f.clock.advance(Duration::from_secs(1));
    assert!(f.store.lookup(issued.client_token.expose()).await.is_err());
}

#[tokio::test]
async fn renew_is_capped_by_the_system_max_from_creation() {
    let f = fixture();
    let issued = f.store.create(token(48 * HOUR)).await.unwrap();
    for _ in 0..31 {
        f.clock.advance(Duration::from_secs(24 * 3600));
        f.store
            .renew(&issued.entry.hash, Some(48 * HOUR))
            .await
            .unwrap();
    }
    f.clock.advance(Duration::from_secs(23 * 3600));
    let renewal = f
        .store
        .renew(&issued.entry.hash, Some(48 * HOUR))
        .await
        .unwrap();
    assert_eq!(
        renewal.entry.ttl_remaining(f.store.now()),
        3600,
        "32 days from creation"
    );
    assert!(!renewal.warnings.is_empty());
}

#[tokio::test]
async fn periodic_tokens_renew_to_their_period_forever() {
    let f = fixture();
    let issued = f
        .store
        .create(CreateToken {
            period: HOUR,
            ..token(HOUR)
        })
        .await
        .unwrap();
    for _ in 0..(24 * 40) {
        f.clock.advance(HOUR - Duration::from_secs(60));
        let renewal = f
            .store
            .renew(&issued.entry.hash, Some(10 * HOUR))
            .await
            .unwrap();
        assert_eq!(renewal.entry.ttl_remaining(f.store.now()), 3600);
    }
    // 40 days later, beyond the 32-day system max, it is still alive.
    assert!(
        f.store
            .authenticate(issued.client_token.expose())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn non_renewable_and_root_tokens_do_not_renew() {
    let f = fixture();
    let fixed = f
        .store
        .create(CreateToken {
            renewable: false,
            ..token(HOUR)
        })
        .await
        .unwrap();
    assert!(matches!(
        f.store.renew(&fixed.entry.hash, None).await,
        Err(TokenError::NotRenewable)
    ));
    let root = f.store.create_root(Some("root")).await.unwrap();
    assert!(matches!(
        f.store.renew(&root.entry.hash, None).await,
        Err(TokenError::NotRenewable)
    ));
}

#[tokio::test]
async fn a_child_renewal_never_outlives_its_parent() {
    let f = fixture();
    let parent = f.store.create(token(HOUR)).await.unwrap();
    let child = f.store.create(child_of(&parent, HOUR)).await.unwrap();
    f.clock.advance(Duration::from_secs(1800));
    let renewal = f
        .store
        .renew(&child.entry.hash, Some(5 * HOUR))
        .await
        .unwrap();
    assert_eq!(renewal.entry.expire_time, parent.entry.expire_time);
    assert!(renewal.warnings.iter().any(|w| w.contains("parent")));
}

#[tokio::test]
async fn root_tokens_never_expire_and_may_have_a_fixed_id() {
    let f = fixture();
    let root = f.store.create_root(Some("dev-root")).await.unwrap();
    assert_eq!(root.client_token.expose(), "dev-root");
    assert_eq!(root.entry.expire_time, None);
    assert!(root.entry.is_orphan() && root.entry.is_root() && !root.entry.renewable);
    f.clock.advance(Duration::from_secs(10 * 365 * 24 * 3600));
    assert!(f.store.authenticate("dev-root").await.unwrap().is_root());
    assert!(matches!(
        f.store.create_root(Some("dev-root")).await,
        Err(TokenError::InvalidRequest(_))
    ));
    assert!(f.store.create_root(Some("has.dot")).await.is_err());
    // Only root tokens may be created without a TTL.
    assert!(
        f.store
            .create(CreateToken {
                ttl: None,
                ..token(HOUR)
            })
            .await
            .is_err()
    );
}

#[tokio::test]
async fn logins_mint_orphans_from_grants() {
    let f = fixture();
    let grant = AuthGrant {
        policies: vec!["reader".into()],
        metadata: [("service_account_name".to_string(), "app".to_string())].into(),
        display_name: "default-app".into(),
        ttl: HOUR,
        max_ttl: Some(2 * HOUR),
        renewable: true,
        internal: serde_json::json!({"role": "app"}),
        ..AuthGrant::default()
    };
    let (issued, warnings) = f
        .store
        .issue_from_grant(&grant, "auth/kubernetes/", "login")
        .await
        .unwrap();
    assert!(warnings.is_empty());
    let entry = &issued.entry;
    assert!(entry.is_orphan());
    assert_eq!(entry.path, "auth/kubernetes/login");
    assert_eq!(entry.display_name, "kubernetes-default-app");
    assert_eq!(entry.policies, vec!["default", "reader"]);
    assert_eq!(entry.ttl_remaining(f.store.now()), 3600);
    assert_eq!(entry.internal, serde_json::json!({"role": "app"}));
    // The role's max TTL (2h) caps renewals even without asking the method.
    f.clock.advance(Duration::from_secs(50 * 60));
    let renewal = f.store.renew(&entry.hash, Some(5 * HOUR)).await.unwrap();
    assert_eq!(renewal.entry.ttl_remaining(f.store.now()), 70 * 60);
    assert!(!renewal.warnings.is_empty());

    let root_grant = AuthGrant {
        policies: vec!["root".into()],
        ttl: HOUR,
        ..AuthGrant::default()
    };
    assert!(
        f.store
            .issue_from_grant(&root_grant, "auth/userpass/", "login/bob")
            .await
            .is_err()
    );
}

#[derive(Debug, Default)]
struct RecordingHooks {
    revoked: StdMutex<Vec<String>>,
    fail_for: StdMutex<Option<String>>,
    grant: StdMutex<Option<AuthGrant>>,
}

#[async_trait]
impl TokenHooks for RecordingHooks {
    async fn token_revoking(&self, entry: &TokenEntry) -> Result<(), EngineError> {
        if self.fail_for.lock().unwrap().as_deref() == Some(entry.hash.as_str()) {
            return Err(EngineError::Upstream("database unreachable".into()));
        }
        self.revoked.lock().unwrap().push(entry.hash.clone());
        Ok(())
    }

    async fn login_renewal(
        &self,
        _entry: &TokenEntry,
        _increment: Option<Duration>,
    ) -> Result<Option<AuthGrant>, EngineError> {
        Ok(self.grant.lock().unwrap().clone())
    }
}

#[tokio::test]
async fn revocation_hooks_run_children_first_and_failures_keep_the_ancestors() {
    let f = fixture();
    let hooks = Arc::new(RecordingHooks::default());
    f.store.set_hooks(hooks.clone());
    let parent = f.store.create(token(HOUR)).await.unwrap();
    let child = f.store.create(child_of(&parent, HOUR)).await.unwrap();
    let grandchild = f.store.create(child_of(&child, HOUR)).await.unwrap();
    let sibling = f.store.create(child_of(&parent, HOUR)).await.unwrap();

    *hooks.fail_for.lock().unwrap() = Some(grandchild.entry.hash.clone());
    let error = f.store.revoke_tree(&parent.entry.hash).await.unwrap_err();
    assert!(
        matches!(
            error,
            TokenError::RevocationIncomplete {
                revoked: 1,
                failed: 3
            }
        ),
        "{error:?}"
    );
    // The sibling went; the failing branch and the parent stay, still linked.
    assert!(f.store.lookup(sibling.client_token.expose()).await.is_err());
    for kept in [&parent, &child, &grandchild] {
        assert!(f.store.lookup(kept.client_token.expose()).await.is_ok());
    }

    *hooks.fail_for.lock().unwrap() = None;
    assert_eq!(f.store.revoke_tree(&parent.entry.hash).await.unwrap(), 3);
    let order = hooks.revoked.lock().unwrap().clone();
    let position = |hash: &str| order.iter().rposition(|h| h == hash).unwrap();
    assert!(position(&grandchild.entry.hash) < position(&child.entry.hash));
    assert!(position(&child.entry.hash) < position(&parent.entry.hash));
    assert_eq!(f.storage.keys(), vec!["salt".to_string()]);
}

#[tokio::test]
async fn login_renewal_asks_the_auth_method() {
    let f = fixture();
    let hooks = Arc::new(RecordingHooks::default());
    f.store.set_hooks(hooks.clone());
    let grant = AuthGrant {
        policies: vec!["reader".into()],
        ttl: HOUR,
        renewable: true,
        ..AuthGrant::default()
    };
    let (issued, _) = f
        .store
        .issue_from_grant(&grant, "auth/userpass/", "login/bob")
        .await
        .unwrap();

    *hooks.grant.lock().unwrap() = Some(AuthGrant {
        ttl: 2 * HOUR,
        ..grant.clone()
    });
    let renewal = f.store.renew(&issued.entry.hash, None).await.unwrap();
    assert_eq!(
        renewal.entry.ttl_remaining(f.store.now()),
        7200,
        "the method's TTL applies"
    );

    *hooks.grant.lock().unwrap() = Some(AuthGrant {
        policies: vec!["admin".into()],
        ..grant
    });
    let error = f.store.renew(&issued.entry.hash, None).await.unwrap_err();
    assert!(error.to_string().contains("policies have changed"));
}
