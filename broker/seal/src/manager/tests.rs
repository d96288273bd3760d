//! Init and unseal tests against the in-memory backend.

use std::sync::Arc;

use lessor_barrier::{Backend, Barrier, ROOT_KEY_PATH, SEAL_CONFIG_PATH, UnsealedBarrier};
use lessor_storage::MemoryBackend;
use time::OffsetDateTime;

use crate::{SealError, SealManager, SealStatus, Share, UnsealStep};

pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()
}

pub(crate) fn manager() -> (Arc<dyn Backend>, SealManager) {
    let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let manager = SealManager::new(Barrier::new(Arc::clone(&backend)));
    (backend, manager)
}

/// A fresh manager over the same storage, as after a restart (no progress in memory).
pub(crate) fn restarted(backend: &Arc<dyn Backend>) -> SealManager {
    SealManager::new(Barrier::new(Arc::clone(backend)))
}

pub(crate) async fn unseal_with(
    manager: &SealManager,
    shares: &[&Share],
) -> Result<Option<Arc<UnsealedBarrier>>, SealError> {
    let mut last = None;
    for share in shares {
        last = Some(manager.submit_unseal_share(share.expose_secret()).await?);
    }
    Ok(match last {
        Some(UnsealStep::Unsealed(barrier)) => Some(barrier),
        _ => None,
    })
}

/// Every (key, raw value) pair in the backend.
pub(crate) async fn dump(backend: &Arc<dyn Backend>) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pending = vec![String::new()];
    while let Some(prefix) = pending.pop() {
        for child in backend.list(&prefix).await.unwrap() {
            let full = format!("{prefix}{child}");
            if full.ends_with('/') {
                pending.push(full);
            } else if let Some(value) = backend.get(&full).await.unwrap() {
                out.push((full, value));
            }
        }
    }
    out
}

pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

fn combinations(n: usize, k: usize) -> Vec<Vec<usize>> {
    if k == 0 {
        return vec![Vec::new()];
    }
    if n < k {
        return Vec::new();
    }
    let mut out = combinations(n - 1, k);
    for mut rest in combinations(n - 1, k - 1) {
        rest.push(n - 1);
        out.push(rest);
    }
    out
}

#[tokio::test]
async fn status_before_and_after_init() {
    let (_, manager) = manager();
    assert_eq!(
        manager.status().await.unwrap(),
        SealStatus {
            initialized: false,
            t: 0,
            n: 0,
            progress: 0,
            nonce: String::new()
        }
    );
    assert!(matches!(
        manager.submit_unseal_share(&[1; crate::SHARE_LEN]).await,
        Err(SealError::NotInitialized)
    ));
    let init = manager.initialize(5, 3, now()).await.unwrap();
    assert_eq!(init.shares.len(), 5);
    let status = manager.status().await.unwrap();
    assert!(status.initialized);
    assert_eq!((status.t, status.n, status.progress), (3, 5, 0));
}

#[tokio::test]
async fn init_returns_a_working_barrier_and_refuses_a_second_init() {
    let (backend, manager) = manager();
    let init = manager.initialize(3, 2, now()).await.unwrap();
    init.barrier
        .put("sys/token/root", b"root token record")
        .await
        .unwrap();
    init.barrier.seal();
    let config_before = backend.get(SEAL_CONFIG_PATH).await.unwrap();
    assert!(matches!(
        manager.initialize(3, 2, now()).await,
        Err(SealError::AlreadyInitialized)
    ));
    assert!(matches!(
        restarted(&backend).initialize(1, 1, now()).await,
        Err(SealError::AlreadyInitialized)
    ));
    assert_eq!(backend.get(SEAL_CONFIG_PATH).await.unwrap(), config_before);

    let barrier = unseal_with(&manager, &[&init.shares[0], &init.shares[2]])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        barrier.get("sys/token/root").await.unwrap().unwrap(),
        b"root token record"
    );
}

#[tokio::test]
async fn every_threshold_subset_of_five_unseals() {
    let (backend, manager) = manager();
    let init = manager.initialize(5, 3, now()).await.unwrap();
    init.barrier.put("kv/probe", b"readable").await.unwrap();
    init.barrier.seal();
    let subsets = combinations(5, 3);
    assert_eq!(subsets.len(), 10);
    for subset in subsets {
        let manager = restarted(&backend);
        let shares: Vec<&Share> = subset.iter().map(|&i| &init.shares[i]).collect();
        let barrier = unseal_with(&manager, &shares).await.unwrap();
        let barrier = barrier.unwrap_or_else(|| panic!("subset {subset:?} did not unseal"));
        assert_eq!(barrier.get("kv/probe").await.unwrap().unwrap(), b"readable");
        barrier.seal();
    }
}

#[tokio::test]
async fn threshold_minus_one_shares_do_not_unseal() {
    let (_, manager) = manager();
    let init = manager.initialize(5, 3, now()).await.unwrap();
    for pair in combinations(5, 2) {
        manager.reset_unseal().await;
        for &i in &pair {
            let step = manager
                .submit_unseal_share(init.shares[i].expose_secret())
                .await;
            assert!(matches!(
                step,
                Ok(UnsealStep::Progress { threshold: 3, .. })
            ));
        }
        assert_eq!(manager.status().await.unwrap().progress, 2);
    }
}

#[tokio::test]
async fn a_wrong_share_is_rejected_generically_and_resets_progress() {
    let (_, manager) = manager();
    let init = manager.initialize(5, 3, now()).await.unwrap();
    // A foreign share with a valid shape and an unused identifier.
    let other = manager_with_shares().await;
    let mut foreign = other[3].expose_secret().to_vec();
    foreign[0] = 4;

    manager
        .submit_unseal_share(init.shares[0].expose_secret())
        .await
        .unwrap();
    manager
        .submit_unseal_share(init.shares[1].expose_secret())
        .await
        .unwrap();
    let error = manager.submit_unseal_share(&foreign).await.unwrap_err();
    assert!(matches!(error, SealError::InvalidKey));
    let message = error.to_string();
    for hint in ["1", "2", "3", "4", "share 4"] {
        assert!(!message.contains(hint), "{message}");
    }
    assert_eq!(manager.status().await.unwrap().progress, 0);
    assert!(manager.status().await.unwrap().nonce.is_empty());

    // The right shares still work afterwards.
    let barrier = unseal_with(
        &manager,
        &[&init.shares[0], &init.shares[1], &init.shares[3]],
    )
    .await
    .unwrap();
    assert!(barrier.is_some());
}

async fn manager_with_shares() -> Vec<Share> {
    let (_, other) = manager();
    other.initialize(5, 3, now()).await.unwrap().shares
}

#[tokio::test]
async fn a_second_share_with_the_same_identifier_resets_progress() {
    let (_, manager) = manager();
    let init = manager.initialize(5, 3, now()).await.unwrap();
    let mut altered = init.shares[0].expose_secret().to_vec();
    altered[7] ^= 0x01;
    manager
        .submit_unseal_share(init.shares[0].expose_secret())
        .await
        .unwrap();
    assert!(matches!(
        manager.submit_unseal_share(&altered).await,
        Err(SealError::InvalidKey)
    ));
    assert_eq!(manager.status().await.unwrap().progress, 0);
}

#[tokio::test]
async fn duplicates_are_ignored_and_malformed_shares_keep_progress() {
    let (_, manager) = manager();
    let init = manager.initialize(5, 3, now()).await.unwrap();
    let first = init.shares[0].expose_secret();
    let step = manager.submit_unseal_share(first).await.unwrap();
    assert!(matches!(
        step,
        UnsealStep::Progress {
            progress: 1,
            threshold: 3
        }
    ));
    let nonce = manager.status().await.unwrap().nonce;
    assert!(!nonce.is_empty());
    let step = manager.submit_unseal_share(first).await.unwrap();
    assert!(matches!(
        step,
        UnsealStep::Progress {
            progress: 1,
            threshold: 3
        }
    ));

    for bad in [&first[..32], &[first, &[0]].concat()[..], &[][..]] {
        assert!(matches!(
            manager.submit_unseal_share(bad).await,
            Err(SealError::InvalidShare)
        ));
    }
    let mut zero_id = first.to_vec();
    zero_id[0] = 0;
    assert!(matches!(
        manager.submit_unseal_share(&zero_id).await,
        Err(SealError::InvalidShare)
    ));
    let status = manager.status().await.unwrap();
    assert_eq!((status.progress, status.nonce), (1, nonce));

    manager.reset_unseal().await;
    assert_eq!(manager.status().await.unwrap().progress, 0);
}

#[tokio::test]
async fn one_of_one_unseals_with_its_single_share() {
    let (backend, manager) = manager();
    let init = manager.initialize(1, 1, now()).await.unwrap();
    assert_eq!(init.shares.len(), 1);
    assert_eq!(init.shares[0].expose_secret().len(), crate::SHARE_LEN);
    init.barrier.seal();
    let manager = restarted(&backend);
    let step = manager
        .submit_unseal_share(&crate::decode_share(&init.shares[0].to_base64()).unwrap())
        .await
        .unwrap();
    assert!(matches!(step, UnsealStep::Unsealed(_)));

    let mut wrong = init.shares[0].expose_secret().to_vec();
    wrong[20] ^= 0x80;
    assert!(matches!(
        restarted(&backend).submit_unseal_share(&wrong).await,
        Err(SealError::InvalidKey)
    ));
}

#[tokio::test]
async fn the_255_boundary_works_and_bad_configs_are_refused() {
    let (backend, manager) = manager();
    for (n, t) in [(0, 0), (5, 0), (3, 4), (5, 1), (0, 1)] {
        assert!(
            matches!(
                manager.initialize(n, t, now()).await,
                Err(SealError::InvalidConfig(_))
            ),
            "{n}/{t}"
        );
    }
    assert!(backend.get(SEAL_CONFIG_PATH).await.unwrap().is_none());

    let init = manager.initialize(255, 255, now()).await.unwrap();
    assert_eq!(init.shares.len(), 255);
    let manager = restarted(&backend);
    let all: Vec<&Share> = init.shares.iter().rev().collect();
    let (last, rest) = all.split_last().unwrap();
    let progress = unseal_with(&manager, rest).await.unwrap();
    assert!(progress.is_none());
    assert_eq!(manager.status().await.unwrap().progress, 254);
    let step = manager
        .submit_unseal_share(last.expose_secret())
        .await
        .unwrap();
    assert!(matches!(step, UnsealStep::Unsealed(_)));
}

#[tokio::test]
async fn storage_never_holds_the_unseal_key_root_key_or_shares() {
    let (backend, manager) = manager();
    let init = manager.initialize(3, 2, now()).await.unwrap();
    let unseal_key = crate::share::combine(&init.shares[..2], 2).unwrap();
    let root = manager
        .recover_root_key(
            manager.load_config().await.unwrap().unwrap(),
            &init.shares[..2],
        )
        .await
        .unwrap();
    init.barrier
        .put("kv/x", b"some plaintext value")
        .await
        .unwrap();

    let mut secrets: Vec<Vec<u8>> = vec![
        unseal_key.expose_secret().to_vec(),
        root.expose_secret().to_vec(),
        b"some plaintext value".to_vec(),
    ];
    for share in &init.shares {
        secrets.push(share.expose_secret().to_vec());
        secrets.push(share.expose_secret()[1..].to_vec());
        secrets.push(share.to_hex().as_bytes().to_vec());
        secrets.push(share.to_base64().as_bytes().to_vec());
    }
    let stored = dump(&backend).await;
    let keys: Vec<&str> = stored.iter().map(|(key, _)| key.as_str()).collect();
    assert!(
        keys.contains(&ROOT_KEY_PATH) && keys.contains(&SEAL_CONFIG_PATH),
        "{keys:?}"
    );
    for (key, value) in &stored {
        for secret in &secrets {
            assert!(
                !contains(value, secret),
                "secret material in clear at {key}"
            );
        }
    }
}
