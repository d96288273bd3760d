//! The lease index conformance suite: every check takes a `&dyn LeaseIndex` (or a `&dyn Storage`
//! where it compares with the key/value side) over an empty store and asserts the contract
//! documented on `lessor_storage::LeaseIndex`.

use std::time::Instant;

use lessor_storage::{LeaseIndex, LeaseRow, LeaseState, MAX_KEY_LEN, Storage, StorageError};

fn lease(id: &str, due_at: i64, state: LeaseState, owner: Option<&str>) -> LeaseRow {
    LeaseRow {
        id: id.to_owned(),
        due_at,
        state,
        owner: owner.map(str::to_owned),
        value: format!("sealed:{id}:{due_at}").into_bytes(),
    }
}

fn active(id: &str, due_at: i64) -> LeaseRow {
    lease(id, due_at, LeaseState::Active, None)
}

async fn put_all(index: &dyn LeaseIndex, rows: &[LeaseRow]) {
    index.put_leases(rows).await.unwrap();
}

async fn due_ids(index: &dyn LeaseIndex, before: i64, limit: usize) -> Vec<String> {
    let rows = index.leases_due_before(before, limit).await.unwrap();
    rows.into_iter().map(|row| row.id).collect()
}

async fn page(
    index: &dyn LeaseIndex,
    prefix: &str,
    after: Option<&str>,
    limit: usize,
) -> Vec<String> {
    index
        .lease_ids_with_prefix(prefix, after, limit)
        .await
        .unwrap()
}

/// Every id under `prefix`, fetched `limit` at a time with the last id as the cursor.
async fn all_pages(index: &dyn LeaseIndex, prefix: &str, limit: usize) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    loop {
        let next = page(index, prefix, ids.last().map(String::as_str), limit).await;
        assert!(next.len() <= limit);
        let done = next.len() < limit;
        ids.extend(next);
        if done {
            return ids;
        }
    }
}

async fn owned(index: &dyn LeaseIndex, owner: &str) -> Vec<String> {
    index.lease_ids_by_owner(owner).await.unwrap()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

pub async fn lease_put_get_replace(index: &dyn LeaseIndex) {
    assert_eq!(index.get_lease("db/creds/a/1").await.unwrap(), None);
    let first = lease("db/creds/a/1", 5_000, LeaseState::Pending, Some("tok-1"));
    index.put_lease(&first).await.unwrap();
    assert_eq!(index.get_lease("db/creds/a/1").await.unwrap(), Some(first));
    index
        .put_lease(&active("db/creds/a/2", 6_000))
        .await
        .unwrap();
    index
        .put_lease(&active("db/creds/a/3", 7_000))
        .await
        .unwrap();
    assert_eq!(
        due_ids(index, i64::MAX, 10).await,
        strings(&["db/creds/a/1", "db/creds/a/2", "db/creds/a/3"])
    );

    // Replacing changes every column, and moves the row in the due order.
    let replaced = LeaseRow {
        id: "db/creds/a/1".into(),
        due_at: 9_000,
        state: LeaseState::Active,
        owner: None,
        value: (0..=255).collect(),
    };
    index.put_lease(&replaced).await.unwrap();
    assert_eq!(
        index.get_lease("db/creds/a/1").await.unwrap(),
        Some(replaced)
    );
    assert_eq!(
        due_ids(index, i64::MAX, 10).await,
        strings(&["db/creds/a/2", "db/creds/a/3", "db/creds/a/1"])
    );
    // Its old due time is gone from the index, not merely shadowed.
    assert_eq!(due_ids(index, 6_000, 10).await, Vec::<String>::new());
    assert_eq!(owned(index, "tok-1").await, Vec::<String>::new());
    assert_eq!(index.count_leases("", None).await.unwrap(), 3);
    assert_eq!(index.lease_state_counts().await.unwrap(), (0, 3, 0));

    // An empty record is a record; extreme due times are stored exactly.
    let mut empty = active("db/creds/b/1", i64::MIN);
    empty.value = Vec::new();
    index.put_lease(&empty).await.unwrap();
    let mut last = active("db/creds/b/2", i64::MAX);
    last.value = vec![0; 64 * 1024];
    index.put_lease(&last).await.unwrap();
    assert_eq!(index.get_lease("db/creds/b/1").await.unwrap(), Some(empty));
    assert_eq!(index.get_lease("db/creds/b/2").await.unwrap(), Some(last));
    assert_eq!(
        due_ids(index, i64::MIN + 1, 10).await,
        strings(&["db/creds/b/1"])
    );
    // `before` is exclusive, so a lease due at i64::MAX is never "due before" anything.
    assert_eq!(due_ids(index, i64::MAX, 10).await.len(), 4);
}

pub async fn lease_delete(index: &dyn LeaseIndex) {
    assert!(!index.delete_lease("never/written").await.unwrap());
    put_all(
        index,
        &[
            lease("m/a", 10, LeaseState::Active, Some("tok")),
            lease("m/b", 20, LeaseState::Irrevocable, Some("tok")),
        ],
    )
    .await;
    assert!(index.delete_lease("m/a").await.unwrap());
    assert!(!index.delete_lease("m/a").await.unwrap());
    assert_eq!(index.get_lease("m/a").await.unwrap(), None);
    assert_eq!(due_ids(index, i64::MAX, 10).await, strings(&["m/b"]));
    assert_eq!(owned(index, "tok").await, strings(&["m/b"]));
    assert_eq!(index.list_leases("m/").await.unwrap(), strings(&["b"]));
    assert_eq!(index.count_leases("m/", None).await.unwrap(), 1);
    assert_eq!(index.lease_state_counts().await.unwrap(), (0, 0, 1));
    // Deleted and written again: a new row, found everywhere again.
    index.put_lease(&active("m/a", 5)).await.unwrap();
    assert_eq!(due_ids(index, i64::MAX, 10).await, strings(&["m/a", "m/b"]));
}

pub async fn lease_due_order_limit_and_ties(index: &dyn LeaseIndex) {
    put_all(
        index,
        &[
            active("z/late", 300),
            active("b/tie", 200),
            active("a/tie", 200),
            active("c/tie", 200),
            active("y/early", 100),
            active("n/negative", -50),
            lease("p/pending", 150, LeaseState::Pending, None),
            lease("i/irrevocable", 250, LeaseState::Irrevocable, None),
        ],
    )
    .await;
    // Ordered by (due_at, id): ties broken by id, whatever the insertion order or state.
    assert_eq!(
        due_ids(index, i64::MAX, 100).await,
        strings(&[
            "n/negative",
            "y/early",
            "p/pending",
            "a/tie",
            "b/tie",
            "c/tie",
            "i/irrevocable",
            "z/late"
        ])
    );
    // Strictly before.
    assert_eq!(
        due_ids(index, 200, 100).await,
        strings(&["n/negative", "y/early", "p/pending"])
    );
    assert_eq!(
        due_ids(index, 201, 100).await,
        strings(&[
            "n/negative",
            "y/early",
            "p/pending",
            "a/tie",
            "b/tie",
            "c/tie"
        ])
    );
    // The limit cuts inside a tie, in id order.
    assert_eq!(
        due_ids(index, i64::MAX, 5).await,
        strings(&["n/negative", "y/early", "p/pending", "a/tie", "b/tie"])
    );
    assert_eq!(due_ids(index, i64::MAX, 0).await, Vec::<String>::new());
    assert_eq!(due_ids(index, -50, 100).await, Vec::<String>::new());
    // Whole rows come back, not only ids.
    let rows = index.leases_due_before(101, 10).await.unwrap();
    assert_eq!(rows[1], active("y/early", 100));
}

pub async fn lease_prefix_paging(index: &dyn LeaseIndex) {
    let mut rows: Vec<LeaseRow> = (0..250)
        .map(|i| active(&format!("db/creds/a/{i:04}"), i))
        .collect();
    for id in [
        "db/creds/a",
        "db/creds/a%/x",
        "db/creds/a_/y",
        "db/creds/ab/z",
        "db/creds/b/1",
        "db/creds/a-/w",
    ] {
        rows.push(active(id, 0));
    }
    put_all(index, &rows).await;

    let expected: Vec<String> = (0..250).map(|i| format!("db/creds/a/{i:04}")).collect();
    for limit in [1, 7, 100, 250, 1000] {
        assert_eq!(
            all_pages(index, "db/creds/a/", limit).await,
            expected,
            "limit {limit}"
        );
    }
    // The cursor is exclusive, need not exist, and may lie before the prefix range.
    assert_eq!(
        page(index, "db/creds/a/", Some("db/creds/a/0247"), 10).await,
        strings(&["db/creds/a/0248", "db/creds/a/0249"])
    );
    assert_eq!(
        page(index, "db/creds/a/", Some("db/creds/a/0099x"), 2).await,
        strings(&["db/creds/a/0100", "db/creds/a/0101"])
    );
    assert_eq!(
        page(index, "db/creds/a/", Some("aaa"), 1).await,
        strings(&["db/creds/a/0000"])
    );
    assert_eq!(
        page(index, "db/creds/a/", Some("db/creds/a/0249"), 10).await,
        Vec::<String>::new()
    );
    assert_eq!(
        page(index, "db/creds/a/", Some("zzz"), 10).await,
        Vec::<String>::new()
    );
    assert_eq!(
        page(index, "db/creds/a/", None, 0).await,
        Vec::<String>::new()
    );
    // `%` and `_` match only themselves.
    assert_eq!(
        page(index, "db/creds/a%", None, 10).await,
        strings(&["db/creds/a%/x"])
    );
    assert_eq!(
        page(index, "db/creds/a_", None, 10).await,
        strings(&["db/creds/a_/y"])
    );
    assert_eq!(
        page(index, "db/creds/a%/", None, 10).await,
        strings(&["db/creds/a%/x"])
    );
    // A raw prefix includes the id equal to it and its siblings sharing the prefix.
    assert_eq!(
        page(index, "db/creds/a", None, 4).await,
        strings(&[
            "db/creds/a",
            "db/creds/a%/x",
            "db/creds/a-/w",
            "db/creds/a/0000"
        ])
    );
    assert_eq!(
        page(index, "db/creds/a", Some("db/creds/a/0249"), 10).await,
        strings(&["db/creds/a_/y", "db/creds/ab/z"])
    );
    assert_eq!(page(index, "", None, 100_000).await.len(), 256);
    assert_eq!(
        page(index, "nothing/", None, 10).await,
        Vec::<String>::new()
    );
}

/// Lease listing has exactly the semantics of `Backend::list`: the same ids written to both
/// sides list the same way. The two namespaces stay separate.
pub async fn lease_list_semantics(storage: &dyn Storage) {
    let ids = [
        "a",
        "a/b",
        "a/c/d",
        "a/c/e",
        "a-b",
        "ab/x",
        "b",
        "z%/1",
        "z_/2",
        "zq/3",
        "x%y",
        "x_y",
        "xay",
        "u/é",
        "u/ü/1",
        "u/\u{10FFFF}/k",
    ];
    let rows: Vec<LeaseRow> = ids.iter().map(|id| active(id, 1)).collect();
    storage.put_leases(&rows).await.unwrap();
    assert_eq!(storage.list("").await.unwrap(), Vec::<String>::new());
    assert_eq!(
        storage.list_leases("").await.unwrap(),
        strings(&[
            "a", "a-b", "a/", "ab/", "b", "u/", "x%y", "x_y", "xay", "z%/", "z_/", "zq/"
        ])
    );
    assert_eq!(
        storage.list_leases("a/").await.unwrap(),
        strings(&["b", "c/"])
    );
    assert_eq!(storage.list_leases("z%/").await.unwrap(), strings(&["1"]));
    assert_eq!(storage.list_leases("z_/").await.unwrap(), strings(&["2"]));
    assert_eq!(
        storage.list_leases("u/").await.unwrap(),
        strings(&["é", "ü/", "\u{10FFFF}/"])
    );
    assert_eq!(
        storage.list_leases("missing/").await.unwrap(),
        Vec::<String>::new()
    );

    for id in ids {
        storage.put(id, b"v").await.unwrap();
    }
    for prefix in [
        "",
        "a/",
        "a/c/",
        "a",
        "z%/",
        "z_/",
        "x",
        "u/",
        "u/\u{10FFFF}/",
        "b/",
    ] {
        assert_eq!(
            storage.list_leases(prefix).await.unwrap(),
            storage.list(prefix).await.unwrap(),
            "{prefix:?}"
        );
    }
    // Deleting the key/value side leaves the lease side alone, and the reverse.
    assert_eq!(storage.delete_prefix("a").await.unwrap(), 6);
    assert_eq!(
        storage.list_leases("a/").await.unwrap(),
        strings(&["b", "c/"])
    );
    assert!(storage.delete_lease("b").await.unwrap());
    assert_eq!(storage.get("b").await.unwrap().as_deref(), Some(&b"v"[..]));
}

/// More children than one listing batch (1000), so lease listing has to page.
pub async fn lease_list_many_children(index: &dyn LeaseIndex) {
    let mut rows = Vec::new();
    let mut expected = Vec::new();
    for i in 0..2500 {
        rows.push(active(&format!("big/l{i:05}"), i));
        expected.push(format!("l{i:05}"));
        if i % 500 == 0 {
            for j in 0..3 {
                rows.push(active(&format!("big/l{i:05}/s{j}"), i));
            }
            expected.push(format!("l{i:05}/"));
        }
    }
    put_all(index, &rows).await;
    expected.sort();
    assert_eq!(index.list_leases("big/").await.unwrap(), expected);
}

pub async fn lease_owner_index(index: &dyn LeaseIndex) {
    put_all(
        index,
        &[
            lease("m/3", 3, LeaseState::Active, Some("tok-a")),
            lease("m/1", 1, LeaseState::Active, Some("tok-a")),
            lease("m/2", 2, LeaseState::Pending, Some("tok-b")),
            lease("m/4", 4, LeaseState::Active, None),
            lease("n/1", 5, LeaseState::Active, Some("tok-a%")),
        ],
    )
    .await;
    assert_eq!(owned(index, "tok-a").await, strings(&["m/1", "m/3"]));
    assert_eq!(owned(index, "tok-b").await, strings(&["m/2"]));
    assert_eq!(owned(index, "tok-a%").await, strings(&["n/1"]));
    assert_eq!(owned(index, "tok-").await, Vec::<String>::new());
    assert_eq!(owned(index, "tok-c").await, Vec::<String>::new());

    // A change of owner moves the lease; dropping the owner removes it from the index.
    index
        .put_lease(&lease("m/3", 3, LeaseState::Active, Some("tok-b")))
        .await
        .unwrap();
    assert_eq!(owned(index, "tok-a").await, strings(&["m/1"]));
    assert_eq!(owned(index, "tok-b").await, strings(&["m/2", "m/3"]));
    index.put_lease(&active("m/2", 2)).await.unwrap();
    assert_eq!(owned(index, "tok-b").await, strings(&["m/3"]));
    // An unowned lease gains an owner.
    index
        .put_lease(&lease("m/4", 4, LeaseState::Active, Some("tok-a")))
        .await
        .unwrap();
    assert_eq!(owned(index, "tok-a").await, strings(&["m/1", "m/4"]));
    assert!(index.delete_lease("m/1").await.unwrap());
    assert_eq!(owned(index, "tok-a").await, strings(&["m/4"]));
    // An owner is an HMAC in practice, but any valid string works; invalid ones are refused.
    for bad in ["", "a\0b"] {
        assert!(matches!(
            index.lease_ids_by_owner(bad).await,
            Err(StorageError::InvalidLease(_))
        ));
        let result = index
            .put_lease(&lease("m/9", 9, LeaseState::Active, Some(bad)))
            .await;
        assert!(
            matches!(result, Err(StorageError::InvalidLease(_))),
            "{result:?}"
        );
    }
    let longest = "h".repeat(MAX_KEY_LEN);
    index
        .put_lease(&lease("m/9", 9, LeaseState::Active, Some(&longest)))
        .await
        .unwrap();
    assert_eq!(owned(index, &longest).await, strings(&["m/9"]));
    let too_long = lease("m/10", 9, LeaseState::Active, Some(&format!("{longest}h")));
    assert!(matches!(
        index.put_lease(&too_long).await,
        Err(StorageError::InvalidLease(_))
    ));
}

pub async fn lease_counts(index: &dyn LeaseIndex) {
    assert_eq!(index.count_leases("", None).await.unwrap(), 0);
    assert_eq!(index.lease_state_counts().await.unwrap(), (0, 0, 0));
    let mut rows = Vec::new();
    for i in 0..30 {
        let state = match i % 3 {
            0 => LeaseState::Pending,
            1 => LeaseState::Active,
            _ => LeaseState::Irrevocable,
        };
        rows.push(lease(&format!("db/creds/app/{i:02}"), i, state, None));
    }
    for (i, id) in [
        "db/creds/app%/1",
        "db/creds/app_/1",
        "db/creds/apps/1",
        "kv/x",
    ]
    .iter()
    .enumerate()
    {
        rows.push(lease(id, i as i64, LeaseState::Irrevocable, None));
    }
    put_all(index, &rows).await;

    let count = async |prefix: &str, state| index.count_leases(prefix, state).await.unwrap();
    assert_eq!(count("", None).await, 34);
    assert_eq!(count("db/creds/app/", None).await, 30);
    assert_eq!(count("db/creds/app/", Some(LeaseState::Pending)).await, 10);
    assert_eq!(
        count("db/creds/app/", Some(LeaseState::Irrevocable)).await,
        10
    );
    assert_eq!(count("db/creds/app", None).await, 33);
    assert_eq!(
        count("db/creds/app", Some(LeaseState::Irrevocable)).await,
        13
    );
    assert_eq!(count("db/creds/app%", None).await, 1);
    assert_eq!(
        count("db/creds/app_", Some(LeaseState::Irrevocable)).await,
        1
    );
    assert_eq!(count("db/creds/app_", Some(LeaseState::Active)).await, 0);
    assert_eq!(count("", Some(LeaseState::Irrevocable)).await, 14);
    assert_eq!(count("none/", None).await, 0);
    assert_eq!(index.lease_state_counts().await.unwrap(), (10, 10, 14));

    // Paging through one state: pages of 4 cover exactly the pending ids, in order.
    let mut pending = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = index
            .lease_ids_in_state(LeaseState::Pending, after.as_deref(), 4)
            .await
            .unwrap();
        assert!(page.len() <= 4);
        let Some(last) = page.last().cloned() else {
            break;
        };
        pending.extend(page);
        after = Some(last);
    }
    let expected: Vec<String> = (0..30)
        .filter(|i| i % 3 == 0)
        .map(|i| format!("db/creds/app/{i:02}"))
        .collect();
    assert_eq!(pending, expected);
    assert_eq!(
        index
            .lease_ids_in_state(LeaseState::Irrevocable, Some("db/creds/app_/1"), 10)
            .await
            .unwrap(),
        vec!["db/creds/apps/1".to_string(), "kv/x".to_string()]
    );

    // A state change moves the lease between counts; a delete drops it.
    index
        .put_lease(&lease("db/creds/app/00", 0, LeaseState::Irrevocable, None))
        .await
        .unwrap();
    assert!(index.delete_lease("kv/x").await.unwrap());
    assert_eq!(index.lease_state_counts().await.unwrap(), (9, 10, 14));
    assert_eq!(count("db/creds/app/", Some(LeaseState::Pending)).await, 9);
    assert_eq!(count("", Some(LeaseState::Irrevocable)).await, 14);
    assert!(matches!(
        index.count_leases("a\0", None).await,
        Err(StorageError::InvalidPrefix(_))
    ));
}

pub async fn lease_invalid_input(index: &dyn LeaseIndex) {
    let too_long = "k".repeat(MAX_KEY_LEN + 1);
    for bad in ["", "secret\0tail", too_long.as_str()] {
        let mut row = active(bad, 1);
        row.value = b"value-bytes".to_vec();
        let error = index.put_lease(&row).await.unwrap_err();
        assert!(matches!(error, StorageError::InvalidKey(_)), "{error:?}");
        let message = error.to_string();
        assert!(
            !message.contains("secret") && !message.contains("value-bytes"),
            "{message}"
        );
        assert!(matches!(
            index.get_lease(bad).await,
            Err(StorageError::InvalidKey(_))
        ));
        assert!(matches!(
            index.delete_lease(bad).await,
            Err(StorageError::InvalidKey(_))
        ));
        // One bad row fails the whole batch before anything is written.
        let batch = [active("ok/1", 1), row, active("ok/2", 2)];
        assert!(matches!(
            index.put_leases(&batch).await,
            Err(StorageError::InvalidKey(_))
        ));
    }
    for bad_prefix in ["a\0", "a/\0/"] {
        assert!(matches!(
            index.lease_ids_with_prefix(bad_prefix, None, 10).await,
            Err(StorageError::InvalidPrefix(_))
        ));
        assert!(matches!(
            index.list_leases(bad_prefix).await,
            Err(StorageError::InvalidPrefix(_))
        ));
    }
    assert!(matches!(
        index.lease_ids_with_prefix("a/", Some("a/\0"), 10).await,
        Err(StorageError::InvalidPrefix(_))
    ));
    assert_eq!(index.count_leases("", None).await.unwrap(), 0);
    // The longest valid id works everywhere, including PostgreSQL's B-tree.
    let longest = format!("long/{}", "é".repeat((MAX_KEY_LEN - 5) / 2));
    index.put_lease(&active(&longest, 1)).await.unwrap();
    assert_eq!(
        index.get_lease(&longest).await.unwrap(),
        Some(active(&longest, 1))
    );
    assert_eq!(index.list_leases("").await.unwrap(), strings(&["long/"]));
}

pub async fn lease_batches(index: &dyn LeaseIndex) {
    index.put_leases(&[]).await.unwrap();
    // Within a batch the last row for an id wins, as if put one after another.
    index
        .put_leases(&[
            lease("b/1", 10, LeaseState::Pending, Some("tok")),
            active("b/2", 20),
            lease("b/1", 30, LeaseState::Active, Some("other")),
        ])
        .await
        .unwrap();
    assert_eq!(
        index.get_lease("b/1").await.unwrap(),
        Some(lease("b/1", 30, LeaseState::Active, Some("other")))
    );
    assert_eq!(owned(index, "tok").await, Vec::<String>::new());
    assert_eq!(due_ids(index, i64::MAX, 10).await, strings(&["b/2", "b/1"]));
    // A batch replaces rows written before it.
    index.put_leases(&[active("b/1", 5)]).await.unwrap();
    assert_eq!(due_ids(index, i64::MAX, 10).await, strings(&["b/1", "b/2"]));
    assert_eq!(index.lease_state_counts().await.unwrap(), (0, 2, 0));
}

/// 16 tasks at once, each putting its own leases (owned by itself), deleting every other one,
/// re-putting some with a new due time, and fighting over one shared lease. Afterwards every
/// index must agree with the rows.
pub async fn lease_concurrent_put_delete(index: &dyn LeaseIndex) {
    const TASKS: usize = 16;
    const LEASES: usize = 40;
    let tasks = (0..TASKS).map(|t| async move {
        let owner = format!("tok-{t:02}");
        for i in 0..LEASES {
            let id = format!("c/t{t:02}/l{i:02}");
            index
                .put_lease(&lease(
                    &id,
                    (i * TASKS + t) as i64,
                    LeaseState::Pending,
                    Some(&owner),
                ))
                .await?;
            let shared_state = if i % 2 == 0 {
                LeaseState::Active
            } else {
                LeaseState::Irrevocable
            };
            index
                .put_lease(&lease("c/shared", t as i64, shared_state, Some(&owner)))
                .await?;
            if i % 2 == 1 {
                let previous = format!("c/t{t:02}/l{:02}", i - 1);
                assert!(index.delete_lease(&previous).await?);
                // The survivor moves to a later due time and becomes active.
                index
                    .put_lease(&lease(
                        &id,
                        10_000 + (i * TASKS + t) as i64,
                        LeaseState::Active,
                        Some(&owner),
                    ))
                    .await?;
            }
        }
        Ok::<_, StorageError>(())
    });
    futures::future::try_join_all(tasks).await.unwrap();

    let survivors = TASKS * LEASES / 2;
    for t in 0..TASKS {
        let expected: Vec<String> = (0..LEASES)
            .filter(|i| i % 2 == 1)
            .map(|i| format!("c/t{t:02}/l{i:02}"))
            .collect();
        let mine = owned(index, &format!("tok-{t:02}")).await;
        let (shared, own): (Vec<String>, Vec<String>) =
            mine.into_iter().partition(|id| id == "c/shared");
        assert_eq!(own, expected, "task {t}");
        assert!(shared.len() <= 1);
    }
    // The shared lease holds one complete write, and exactly its owner lists it.
    let shared = index.get_lease("c/shared").await.unwrap().unwrap();
    let owner = shared.owner.clone().unwrap();
    let t: i64 = owner.strip_prefix("tok-").unwrap().parse().unwrap();
    assert_eq!(
        shared,
        lease("c/shared", t, LeaseState::Irrevocable, Some(&owner))
    );
    let mut listing_shared = 0;
    for t in 0..TASKS {
        listing_shared += owned(index, &format!("tok-{t:02}"))
            .await
            .iter()
            .filter(|id| *id == "c/shared")
            .count();
    }
    assert_eq!(listing_shared, 1);

    // The due index holds each survivor once, at its last due time, in order.
    let due = index.leases_due_before(i64::MAX, 10_000).await.unwrap();
    assert_eq!(due.len(), survivors + 1);
    assert_eq!(due[0].id, "c/shared");
    assert!(
        due[1..]
            .iter()
            .all(|row| row.due_at >= 10_000 && row.state == LeaseState::Active)
    );
    assert!(
        due.windows(2)
            .all(|w| (w[0].due_at, &w[0].id) < (w[1].due_at, &w[1].id))
    );
    for row in &due {
        assert_eq!(index.get_lease(&row.id).await.unwrap().as_ref(), Some(row));
    }
    assert_eq!(
        index.count_leases("c/", None).await.unwrap(),
        (survivors + 1) as u64
    );
    assert_eq!(
        index.lease_state_counts().await.unwrap(),
        (0, survivors as u64, 1)
    );
}

/// 20,000 leases written in batches, then the manager's query for the first 100 due, checked
/// against a plain sort. Prints timings so regressions show in `--nocapture` runs.
pub async fn lease_twenty_thousand(index: &dyn LeaseIndex) {
    const ROWS: usize = 20_000;
    const BATCH: usize = 2_000;
    // A deterministic scramble with plenty of ties: due times in 0..5000 over 20k rows.
    let rows: Vec<LeaseRow> = (0..ROWS)
        .map(|i| {
            let due_at = ((i * 7_919 + 13) % 5_000) as i64;
            let state = if i % 50 == 0 {
                LeaseState::Irrevocable
            } else {
                LeaseState::Active
            };
            let mut row = lease(
                // 3571 is coprime with 20,000: every id distinct, and not in due order.
                &format!("m{:02}/creds/r/{:05}", i % 20, (i * 3_571 + 1) % ROWS),
                due_at,
                state,
                Some(&format!("tok-{:04}", i % 1000)),
            );
            row.value = vec![(i % 251) as u8; 160];
            row
        })
        .collect();

    let started = Instant::now();
    for chunk in rows.chunks(BATCH) {
        index.put_leases(chunk).await.unwrap();
    }
    let inserted = started.elapsed();

    let started = Instant::now();
    let due = index.leases_due_before(i64::MAX, 100).await.unwrap();
    let queried = started.elapsed();
    let mut expected: Vec<&LeaseRow> = rows.iter().collect();
    expected.sort_by(|a, b| (a.due_at, &a.id).cmp(&(b.due_at, &b.id)));
    assert_eq!(due.iter().collect::<Vec<_>>(), expected[..100]);

    // A window in the middle, where the limit is not what stops the scan.
    let window: Vec<&LeaseRow> = expected
        .iter()
        .copied()
        .filter(|row| row.due_at < 7)
        .collect();
    assert!(!window.is_empty() && window.len() < 100);
    assert_eq!(
        index
            .leases_due_before(7, 100)
            .await
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        window
    );

    let started = Instant::now();
    let counted = index.count_leases("m07/", None).await.unwrap();
    let states = index.lease_state_counts().await.unwrap();
    let counting = started.elapsed();
    assert_eq!(counted, (ROWS / 20) as u64);
    assert_eq!(states, (0, (ROWS - ROWS / 50) as u64, (ROWS / 50) as u64));
    assert_eq!(owned(index, "tok-0007").await.len(), ROWS / 1000);
    let paged = all_pages(index, "m07/", 333).await;
    assert_eq!(paged.len(), ROWS / 20);
    eprintln!(
        "{ROWS} leases: insert {inserted:?} ({BATCH}/batch), first 100 due {queried:?}, counts {counting:?}"
    );
}
