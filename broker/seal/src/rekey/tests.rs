//! Rekey tests: new shares replace the old ones, data survives.

use crate::manager::tests::{contains, dump, manager, now, restarted, unseal_with};
use crate::{RekeyStep, SealError, Share, UnsealStep};

#[tokio::test]
async fn rekey_replaces_the_shares_and_keeps_the_data() {
    let (backend, manager) = manager();
    let init = manager.initialize(5, 3, now()).await.unwrap();
    init.barrier
        .put("kv/before", b"written before rekey")
        .await
        .unwrap();

    let status = manager.rekey_init(3, 2).await.unwrap();
    assert!(status.started);
    assert_eq!(
        (status.t, status.n, status.progress, status.required),
        (2, 3, 0, 3)
    );
    let nonce = status.nonce.clone();
    assert_eq!(manager.rekey_status().await.unwrap(), status);

    let step = manager
        .rekey_update(init.shares[4].expose_secret(), &nonce)
        .await
        .unwrap();
    assert!(matches!(
        step,
        RekeyStep::Progress {
            progress: 1,
            required: 3
        }
    ));
    let step = manager
        .rekey_update(init.shares[4].expose_secret(), &nonce)
        .await
        .unwrap();
    assert!(matches!(
        step,
        RekeyStep::Progress {
            progress: 1,
            required: 3
        }
    ));
    manager
        .rekey_update(init.shares[1].expose_secret(), &nonce)
        .await
        .unwrap();
    let RekeyStep::Complete(result) = manager
        .rekey_update(init.shares[2].expose_secret(), &nonce)
        .await
        .unwrap()
    else {
        panic!("rekey did not complete at the threshold");
    };
    assert_eq!(result.shares.len(), 3);
    assert_eq!(
        (result.config.secret_shares, result.config.secret_threshold),
        (3, 2)
    );
    assert!(!manager.rekey_status().await.unwrap().started);
    let status = manager.status().await.unwrap();
    assert_eq!((status.t, status.n), (2, 3));
    init.barrier.seal();

    // Old shares (any three) no longer unseal.
    let old = restarted(&backend);
    let error = unseal_with(&old, &[&init.shares[0], &init.shares[1]])
        .await
        .unwrap_err();
    assert!(matches!(error, SealError::InvalidKey));

    // New shares do, and the data written before the rekey is still readable.
    let new = restarted(&backend);
    let barrier = unseal_with(&new, &[&result.shares[2], &result.shares[0]])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        barrier.get("kv/before").await.unwrap().unwrap(),
        b"written before rekey"
    );

    // The new shares are not stored either.
    for (key, value) in dump(&backend).await {
        for share in &result.shares {
            assert!(
                !contains(&value, &share.expose_secret()[1..]),
                "share in clear at {key}"
            );
        }
    }
}

#[tokio::test]
async fn rekey_rejects_wrong_shares_and_wrong_nonces() {
    let (_, manager) = manager();
    let init = manager.initialize(3, 2, now()).await.unwrap();
    assert!(matches!(
        manager
            .rekey_update(init.shares[0].expose_secret(), "none")
            .await,
        Err(SealError::NoRekey)
    ));
    let nonce = manager.rekey_init(2, 2).await.unwrap().nonce;
    assert!(matches!(
        manager.rekey_init(2, 2).await,
        Err(SealError::RekeyInProgress)
    ));
    assert!(matches!(
        manager
            .rekey_update(init.shares[0].expose_secret(), "not-the-nonce")
            .await,
        Err(SealError::RekeyNonce)
    ));
    assert!(matches!(
        manager.rekey_update(&[1; 5], &nonce).await,
        Err(SealError::InvalidShare)
    ));

    // A share from another broker with a fitting identifier: verification fails, progress resets.
    let (_, other) = crate::manager::tests::manager();
    let foreign = other
        .initialize(3, 2, now())
        .await
        .unwrap()
        .shares
        .remove(1);
    manager
        .rekey_update(init.shares[0].expose_secret(), &nonce)
        .await
        .unwrap();
    assert!(matches!(
        manager.rekey_update(foreign.expose_secret(), &nonce).await,
        Err(SealError::InvalidKey)
    ));
    let status = manager.rekey_status().await.unwrap();
    assert!(status.started);
    assert_eq!(status.progress, 0);

    // Cancel: the old shares stay valid and nothing changed.
    manager.rekey_cancel().await;
    assert!(!manager.rekey_status().await.unwrap().started);
    init.barrier.seal();
    let shares: Vec<&Share> = vec![&init.shares[0], &init.shares[2]];
    assert!(unseal_with(&manager, &shares).await.unwrap().is_some());
}

#[tokio::test]
async fn rekey_completion_invalidates_an_unseal_attempt_in_progress() {
    let (_, manager) = manager();
    let init = manager.initialize(3, 2, now()).await.unwrap();
    manager
        .submit_unseal_share(init.shares[0].expose_secret())
        .await
        .unwrap();
    let nonce = manager.rekey_init(1, 1).await.unwrap().nonce;
    manager
        .rekey_update(init.shares[1].expose_secret(), &nonce)
        .await
        .unwrap();
    let RekeyStep::Complete(result) = manager
        .rekey_update(init.shares[2].expose_secret(), &nonce)
        .await
        .unwrap()
    else {
        panic!("rekey did not complete");
    };
    assert_eq!(manager.status().await.unwrap().progress, 0);
    let step = manager
        .submit_unseal_share(result.shares[0].expose_secret())
        .await
        .unwrap();
    assert!(matches!(step, UnsealStep::Unsealed(_)));
}
