//! The route template a request matched, as a bounded metrics label.
//!
//! Only the pipeline knows which route pattern a path resolved to (`core::dispatch`), and it
//! runs in its own task with no HTTP in sight (invariant 5); the HTTP layer records the
//! request. A [`RouteCapture`] bridges the two without widening the core's types: the HTTP
//! layer runs the core's future inside the capture's task-local scope, the pipeline calls
//! [`matched`] once it has resolved a route, and the HTTP layer reads the label afterwards,
//! on success and on error alike. Outside a capture (unit tests, the expiry loop) [`matched`]
//! does nothing.
//!
//! Labels are interned: one `Arc<str>` per (mount path, pattern), built on first use, so a
//! request costs two map lookups and a reference count, not a string allocation.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, LazyLock, OnceLock, RwLock};

use metrics::SharedString;

/// The label of requests that resolved no route: unknown paths, and requests refused before
/// routing (a `sys/` or `auth/token/` request without a valid token).
pub const UNMATCHED: &str = "unmatched";

type Slot = Arc<OnceLock<SharedString>>;

tokio::task_local! {
    static SLOT: Slot;
}

/// Interned labels by mount prefix, then pattern.
type Labels = HashMap<Box<str>, HashMap<Box<str>, SharedString>>;

static LABELS: LazyLock<RwLock<Labels>> = LazyLock::new(Default::default);

/// The route template one request resolved to, as the HTTP layer sees it after the fact.
#[derive(Debug, Clone)]
pub struct RouteLabel(pub SharedString);

impl RouteLabel {
    pub fn unmatched() -> Self {
        Self(SharedString::const_str(UNMATCHED))
    }
}

/// Collects the route the pipeline resolves while running one request.
#[derive(Debug, Default)]
pub struct RouteCapture(Slot);

impl RouteCapture {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `future` with this capture as the current request's route slot.
    pub fn scope<F: Future>(&self, future: F) -> impl Future<Output = F::Output> + use<F> {
        SLOT.scope(Arc::clone(&self.0), future)
    }

    /// What the pipeline resolved so far, or [`UNMATCHED`].
    pub fn label(&self) -> RouteLabel {
        self.0
            .get()
            .map_or_else(RouteLabel::unmatched, |label| RouteLabel(label.clone()))
    }
}

/// Records that the current request resolved to `pattern` under `prefix` (a mount path such
/// as `database/`, or `sys/`). The first resolution of a request wins.
pub fn matched(prefix: &str, pattern: &str) {
    let _outside_a_capture = SLOT.try_with(|slot| {
        slot.get_or_init(|| label(prefix, pattern));
    });
}

/// The interned label `prefix` + `pattern`.
fn label(prefix: &str, pattern: &str) -> SharedString {
    let labels = LABELS
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(label) = labels
        .get(prefix)
        .and_then(|patterns| patterns.get(pattern))
    {
        return label.clone();
    }
    drop(labels);
    let mut labels = LABELS
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    labels
        .entry(prefix.into())
        .or_default()
        .entry(pattern.into())
        .or_insert_with(|| SharedString::from(Arc::<str>::from(format!("{prefix}{pattern}"))))
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_pipeline_fills_the_capture_of_its_own_request_only() {
        let capture = RouteCapture::new();
        let other = RouteCapture::new();
        capture
            .scope(async {
                matched("database/", "creds/:role");
                // A second resolution (a nested lookup) does not overwrite the first.
                matched("sys/", "mounts");
            })
            .await;
        assert_eq!(&*capture.label().0, "database/creds/:role");
        assert_eq!(&*other.label().0, UNMATCHED);
        // Outside any capture nothing happens (and nothing panics).
        matched("sys/", "mounts");
    }

    #[test]
    fn labels_are_interned() {
        let first = label("apikey/", "creds/:role");
        let second = label("apikey/", "creds/:role");
        assert_eq!(&*first, "apikey/creds/:role");
        assert!(std::ptr::eq(first.as_ref(), second.as_ref()));
        assert_eq!(&*label("", "sys/init"), "sys/init");
    }
}
