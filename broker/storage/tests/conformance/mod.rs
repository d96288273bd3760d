//! The backend conformance suite: every check takes a `&dyn Backend` over an empty store and
//! asserts the contract documented on `lessor_storage::Backend`; the lease index checks are in
//! [`leases`]. `tests/backends.rs` runs each check against the memory, SQLite and PostgreSQL
//! backends.

mod leases;

pub use leases::*;

use lessor_storage::{Backend, MAX_KEY_LEN, Op, StorageError};

fn put(key: &str, value: &[u8]) -> Op {
    Op::Put {
        key: key.to_owned(),
        value: value.to_vec(),
    }
}

fn delete(key: &str) -> Op {
    Op::Delete {
        key: key.to_owned(),
    }
}

async fn put_all(backend: &dyn Backend, keys: &[&str]) {
    let ops: Vec<Op> = keys.iter().map(|k| put(k, k.as_bytes())).collect();
    backend.apply(&ops).await.unwrap();
}

async fn list(backend: &dyn Backend, prefix: &str) -> Vec<String> {
    backend.list(prefix).await.unwrap()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// A deterministic, non-uniform byte pattern, so truncation or corruption cannot go unnoticed.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31) % 251) as u8 ^ seed)
        .collect()
}

pub async fn put_get_delete(backend: &dyn Backend) {
    assert_eq!(backend.get("sys/a").await.unwrap(), None);
    backend.put("sys/a", b"sealed-1").await.unwrap();
    assert_eq!(
        backend.get("sys/a").await.unwrap().as_deref(),
        Some(&b"sealed-1"[..])
    );
    backend.delete("sys/a").await.unwrap();
    assert_eq!(backend.get("sys/a").await.unwrap(), None);
    // An empty value is a value, not an absence.
    backend.put("sys/empty", b"").await.unwrap();
    assert_eq!(backend.get("sys/empty").await.unwrap(), Some(Vec::new()));
}

pub async fn overwrite(backend: &dyn Backend) {
    let every_byte: Vec<u8> = (0..=255).collect();
    backend
        .put("k", b"first, and longer than the second")
        .await
        .unwrap();
    backend.put("k", &every_byte).await.unwrap();
    assert_eq!(backend.get("k").await.unwrap(), Some(every_byte));
    assert_eq!(list(backend, "").await, strings(&["k"]));
}

pub async fn delete_missing(backend: &dyn Backend) {
    backend.delete("never/written").await.unwrap();
    backend.put("once", b"v").await.unwrap();
    backend.delete("once").await.unwrap();
    backend.delete("once").await.unwrap();
    backend.apply(&[delete("also/never")]).await.unwrap();
    assert_eq!(list(backend, "").await, Vec::<String>::new());
}

pub async fn list_semantics(backend: &dyn Backend) {
    put_all(
        backend,
        &[
            "a", "a/b", "a/c/d", "a/c/e", "a-b", "ab/x", "b", "z%/1", "z_/2", "zq/3", "x%y", "x_y",
            "xay",
        ],
    )
    .await;
    // Sorted bytewise: '%' 0x25 < '-' 0x2D < '/' 0x2F < '_' 0x5F < 'a' 0x61.
    assert_eq!(
        list(backend, "").await,
        strings(&[
            "a", "a-b", "a/", "ab/", "b", "x%y", "x_y", "xay", "z%/", "z_/", "zq/"
        ])
    );
    assert_eq!(list(backend, "a/").await, strings(&["b", "c/"]));
    assert_eq!(list(backend, "a/c/").await, strings(&["d", "e"]));
    // `%` and `_` are plain characters, not LIKE wildcards.
    assert_eq!(list(backend, "z%/").await, strings(&["1"]));
    assert_eq!(list(backend, "z_/").await, strings(&["2"]));
    assert_eq!(list(backend, "missing/").await, Vec::<String>::new());
    assert_eq!(list(backend, "a/b/").await, Vec::<String>::new());
}

pub async fn list_unicode(backend: &dyn Backend) {
    put_all(
        backend,
        &[
            "u/é",
            "u/ü/1",
            "u/\u{FFFF}",
            "u/z",
            "u/\u{10FFFF}/k",
            "v\u{10FFFF}/x",
        ],
    )
    .await;
    // Bytewise order of the UTF-8 encodings, which is code-point order.
    assert_eq!(
        list(backend, "u/").await,
        strings(&["z", "é", "ü/", "\u{FFFF}", "\u{10FFFF}/"])
    );
    assert_eq!(list(backend, "u/\u{10FFFF}/").await, strings(&["k"]));
    assert_eq!(list(backend, "u/ü/").await, strings(&["1"]));
    assert_eq!(list(backend, "").await, strings(&["u/", "v\u{10FFFF}/"]));
}

/// More children than one scan batch (1000), mixed with directories, so listing has to page.
pub async fn list_many_children(backend: &dyn Backend) {
    let mut ops = Vec::new();
    let mut expected = Vec::new();
    for i in 0..2500 {
        ops.push(put(&format!("big/leaf{i:05}"), b"v"));
        expected.push(format!("leaf{i:05}"));
        if i % 500 == 0 {
            for j in 0..3 {
                ops.push(put(&format!("big/leaf{i:05}/sub{j}"), b"v"));
            }
            expected.push(format!("leaf{i:05}/"));
        }
    }
    backend.apply(&ops).await.unwrap();
    expected.sort();
    assert_eq!(list(backend, "big/").await, expected);
}

pub async fn large_values(backend: &dyn Backend) {
    const SIXTEEN_MIB: usize = 16 * 1024 * 1024;
    let big = pattern(SIXTEEN_MIB, 0x5A);
    backend.put("blob/big", &big).await.unwrap();
    assert!(
        backend.get("blob/big").await.unwrap() == Some(big),
        "16 MiB value did not round-trip"
    );
    let other = pattern(3 * 1024 * 1024 + 7, 0x11);
    backend.apply(&[put("blob/other", &other)]).await.unwrap();
    assert!(
        backend.get("blob/other").await.unwrap() == Some(other),
        "batched value did not round-trip"
    );
    backend.put("blob/big", b"small now").await.unwrap();
    assert_eq!(
        backend.get("blob/big").await.unwrap().as_deref(),
        Some(&b"small now"[..])
    );
}

pub async fn apply_in_order(backend: &dyn Backend) {
    backend.apply(&[]).await.unwrap();
    backend
        .apply(&[
            put("a", b"1"),
            put("b", b"2"),
            delete("a"),
            put("c", b"3"),
            put("c", b"4"),
        ])
        .await
        .unwrap();
    assert_eq!(backend.get("a").await.unwrap(), None);
    assert_eq!(backend.get("b").await.unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(backend.get("c").await.unwrap().as_deref(), Some(&b"4"[..]));
    // A delete followed by a put of the same key leaves the put.
    backend
        .apply(&[delete("b"), put("b", b"again")])
        .await
        .unwrap();
    assert_eq!(
        backend.get("b").await.unwrap().as_deref(),
        Some(&b"again"[..])
    );
}

pub async fn apply_is_atomic(backend: &dyn Backend) {
    backend.put("keep", b"original").await.unwrap();
    let too_long = "k".repeat(MAX_KEY_LEN + 1);
    for bad in ["", "bad\0key", too_long.as_str()] {
        let batch = [
            put("new/1", b"x"),
            delete("keep"),
            put("keep", b"changed"),
            put(bad, b"y"),
            put("new/2", b"z"),
        ];
        let result = backend.apply(&batch).await;
        assert!(
            matches!(result, Err(StorageError::InvalidKey(_))),
            "{result:?}"
        );
        assert_eq!(backend.get("new/1").await.unwrap(), None);
        assert_eq!(backend.get("new/2").await.unwrap(), None);
        assert_eq!(
            backend.get("keep").await.unwrap().as_deref(),
            Some(&b"original"[..])
        );
    }
    assert_eq!(list(backend, "").await, strings(&["keep"]));
}

pub async fn invalid_keys_are_rejected(backend: &dyn Backend) {
    let too_long = "k".repeat(MAX_KEY_LEN + 1);
    for bad in ["", "secret\0tail", too_long.as_str()] {
        assert!(matches!(
            backend.get(bad).await,
            Err(StorageError::InvalidKey(_))
        ));
        assert!(matches!(
            backend.delete(bad).await,
            Err(StorageError::InvalidKey(_))
        ));
        let error = backend.put(bad, b"value-bytes").await.unwrap_err();
        assert!(matches!(error, StorageError::InvalidKey(_)));
        let message = error.to_string();
        assert!(
            !message.contains("secret") && !message.contains("value-bytes"),
            "{message}"
        );
    }
    assert!(matches!(
        backend.list("a\0/").await,
        Err(StorageError::InvalidPrefix(_))
    ));
    assert!(matches!(
        backend.delete_prefix("").await,
        Err(StorageError::InvalidPrefix(_))
    ));
    assert!(matches!(
        backend.delete_prefix("a\0").await,
        Err(StorageError::InvalidPrefix(_))
    ));
    // The longest allowed key works everywhere, including PostgreSQL's B-tree.
    let longest = format!("long/{}", "é".repeat((MAX_KEY_LEN - 5) / 2));
    assert!(longest.len() <= MAX_KEY_LEN && longest.len() > MAX_KEY_LEN - 2);
    backend.put(&longest, b"v").await.unwrap();
    assert_eq!(
        backend.get(&longest).await.unwrap().as_deref(),
        Some(&b"v"[..])
    );
    assert_eq!(list(backend, "").await, strings(&["long/"]));
}

pub async fn delete_prefix(backend: &dyn Backend) {
    put_all(
        backend,
        &[
            "a", "a/1", "a/2/3", "a/2/4", "ab/1", "a0", "b/1", "m%/1", "mx/1", "m_/1",
        ],
    )
    .await;
    assert_eq!(backend.delete_prefix("a/").await.unwrap(), 3);
    assert_eq!(
        list(backend, "").await,
        strings(&["a", "a0", "ab/", "b/", "m%/", "m_/", "mx/"])
    );
    assert_eq!(
        backend.get("ab/1").await.unwrap().as_deref(),
        Some(&b"ab/1"[..])
    );
    assert_eq!(backend.delete_prefix("a/").await.unwrap(), 0);
    assert_eq!(backend.delete_prefix("nothing/").await.unwrap(), 0);
    // Wildcard characters match only themselves.
    assert_eq!(backend.delete_prefix("m%/").await.unwrap(), 1);
    assert_eq!(backend.delete_prefix("m_/").await.unwrap(), 1);
    assert_eq!(
        backend.get("mx/1").await.unwrap().as_deref(),
        Some(&b"mx/1"[..])
    );
    // A raw (non-directory) prefix takes the key equal to it too.
    assert_eq!(backend.delete_prefix("a").await.unwrap(), 3);
    assert_eq!(list(backend, "").await, strings(&["b/", "mx/"]));
}

pub async fn delete_prefix_unicode_edges(backend: &dyn Backend) {
    // Upper bounds that need care: the last code point, and the one before the surrogates.
    put_all(
        backend,
        &[
            "w\u{10FFFF}",
            "w\u{10FFFF}a/b",
            "w",
            "x",
            "s\u{D7FF}x",
            "s\u{E000}",
            "\u{10FFFF}z",
        ],
    )
    .await;
    assert_eq!(backend.delete_prefix("w\u{10FFFF}").await.unwrap(), 2);
    assert_eq!(backend.delete_prefix("s\u{D7FF}").await.unwrap(), 1);
    assert_eq!(backend.delete_prefix("\u{10FFFF}").await.unwrap(), 1);
    assert_eq!(list(backend, "").await, strings(&["s\u{E000}", "w", "x"]));
}

/// 16 writers × 50 puts, to their own keys and to one shared key, plus paired batch writes
/// whose two keys must always end equal.
pub async fn concurrent_writers(backend: &dyn Backend) {
    const WRITERS: usize = 16;
    const PUTS: usize = 50;
    let writers = (0..WRITERS).map(|w| async move {
        for i in 0..PUTS {
            let value = format!("w{w}-i{i}");
            backend
                .put(&format!("own/w{w:02}/k{i:02}"), value.as_bytes())
                .await?;
            backend.put("shared", value.as_bytes()).await?;
            backend
                .apply(&[
                    put("pair/left", value.as_bytes()),
                    put("pair/right", value.as_bytes()),
                ])
                .await?;
        }
        Ok::<_, StorageError>(())
    });
    futures::future::try_join_all(writers).await.unwrap();

    for w in 0..WRITERS {
        let keys = list(backend, &format!("own/w{w:02}/")).await;
        assert_eq!(keys.len(), PUTS);
        for i in 0..PUTS {
            let value = backend.get(&format!("own/w{w:02}/k{i:02}")).await.unwrap();
            assert_eq!(value, Some(format!("w{w}-i{i}").into_bytes()));
        }
    }
    // Whoever wrote last, the shared key holds one complete value some writer wrote.
    let shared = String::from_utf8(backend.get("shared").await.unwrap().unwrap()).unwrap();
    let (w, i) = shared
        .strip_prefix('w')
        .and_then(|s| s.split_once("-i"))
        .unwrap();
    assert!(
        w.parse::<usize>().unwrap() < WRITERS && i.parse::<usize>().unwrap() < PUTS,
        "{shared}"
    );
    let left = backend.get("pair/left").await.unwrap();
    assert!(left.is_some());
    assert_eq!(
        left,
        backend.get("pair/right").await.unwrap(),
        "a batch was torn"
    );
    assert_eq!(
        list(backend, "").await,
        strings(&["own/", "pair/", "shared"])
    );
}
