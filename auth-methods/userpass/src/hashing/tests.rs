use super::*;

fn fast() -> Hasher {
    Hasher::with_params(Params::new(64, 1, 1, Some(OUTPUT_LEN)).unwrap())
}

async fn matched(hasher: &Hasher, password: &str, stored: Option<&str>) -> bool {
    hasher.verify(pw(password), stored).await.unwrap().matched
}

fn pw(text: &str) -> Password {
    Password::from_str_for_tests(text)
}

#[tokio::test]
async fn recommended_hash_is_owasp_argon2id_phc() {
    let hasher = Hasher::recommended();
    let phc = hasher.hash(pw("correct horse battery")).await.unwrap();
    assert!(
        phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "unexpected PHC string {phc}"
    );
    assert!(!phc.contains("correct horse battery"));
    assert!(!hasher.needs_rehash(&phc));
    let verdict = hasher
        .verify(pw("correct horse battery"), Some(&phc))
        .await
        .unwrap();
    assert!(verdict.matched);
    assert!(verdict.rehashed.is_none());
}

#[tokio::test]
async fn salts_are_random() {
    let hasher = fast();
    let first = hasher.hash(pw("same password")).await.unwrap();
    let second = hasher.hash(pw("same password")).await.unwrap();
    assert_ne!(first, second);
}

#[tokio::test]
async fn verify_accepts_right_and_refuses_wrong() {
    let hasher = fast();
    let phc = hasher.hash(pw("right password")).await.unwrap();
    assert!(matched(&hasher, "right password", Some(&phc)).await);
    assert!(!matched(&hasher, "wrong password", Some(&phc)).await);
    assert!(!matched(&hasher, "", Some(&phc)).await);
    assert_eq!(hasher.dummy_verifications(), 0);
}

#[tokio::test]
async fn unknown_user_runs_the_dummy_hash_with_the_same_parameters() {
    let hasher = fast();
    assert!(!matched(&hasher, "anything at all", None).await);
    assert!(!matched(&hasher, "anything at all", None).await);
    assert_eq!(hasher.dummy_verifications(), 2);
    let dummy = hasher.dummy.get().unwrap();
    assert!(dummy.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{dummy}");
    assert!(!hasher.needs_rehash(dummy));
}

#[tokio::test]
async fn verify_uses_the_parameters_recorded_in_the_hash() {
    let old = fast();
    let phc = old.hash(pw("long-lived password")).await.unwrap();
    let current = Hasher::with_params(Params::new(128, 2, 1, Some(OUTPUT_LEN)).unwrap());
    assert!(current.needs_rehash(&phc));
    let verdict = current
        .verify(pw("long-lived password"), Some(&phc))
        .await
        .unwrap();
    assert!(verdict.matched);
    let upgraded = verdict.rehashed.unwrap();
    assert!(
        upgraded.starts_with("$argon2id$v=19$m=128,t=2,p=1$"),
        "{upgraded}"
    );
    assert!(!current.needs_rehash(&upgraded));
    assert!(matched(&current, "long-lived password", Some(&upgraded)).await);
    // A wrong password is never upgraded.
    let verdict = current
        .verify(pw("wrong password"), Some(&phc))
        .await
        .unwrap();
    assert!(!verdict.matched && verdict.rehashed.is_none());
}

#[tokio::test]
async fn refuses_other_algorithms_and_garbage() {
    let hasher = fast();
    let phc = hasher.hash(pw("some password")).await.unwrap();
    let argon2i = phc.replacen("$argon2id$", "$argon2i$", 1);
    assert!(matches!(
        hasher.verify(pw("some password"), Some(&argon2i)).await,
        Err(UserpassError::CorruptHash(_))
    ));
    assert!(hasher.verify(pw("x"), Some("not a hash")).await.is_err());
    assert!(hasher.needs_rehash("not a hash"));
}
