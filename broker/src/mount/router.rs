//! Longest-prefix routing from a request path to the built-in backends or a mount.

use std::sync::Arc;

use lessor_sdk::{AuthMethod, EngineContext, Route, SecretEngine};

use super::MountEntry;

/// A live mount: its entry, the engine instance, its declared routes and its context.
#[derive(Debug)]
pub struct Mounted {
    pub entry: MountEntry,
    pub backend: MountedBackend,
    pub routes: Vec<Route>,
    pub ctx: EngineContext,
}

#[derive(Debug, Clone)]
pub enum MountedBackend {
    Secret(Arc<dyn SecretEngine>),
    Auth(Arc<dyn AuthMethod>),
}

/// Where a request goes, with the path relative to it.
#[derive(Debug, Clone)]
pub enum Target {
    /// `sys/…`, served by the broker itself.
    System,
    /// `auth/token/…`, the built-in token store.
    Token,
    Mount(Arc<Mounted>),
}

pub const SYSTEM_PREFIX: &str = "sys/";
pub const TOKEN_PREFIX: &str = "auth/token/";

/// An immutable routing table; mount changes build a new one and swap it in, so a request
/// never sees a half-updated table.
#[derive(Debug, Default, Clone)]
pub struct Router {
    /// Sorted longest path first so the first match is the longest prefix.
    mounts: Vec<Arc<Mounted>>,
}

impl Router {
    pub fn new(mut mounts: Vec<Arc<Mounted>>) -> Self {
        mounts.sort_by(|a, b| {
            b.entry
                .path
                .len()
                .cmp(&a.entry.path.len())
                .then_with(|| a.entry.path.cmp(&b.entry.path))
        });
        Self { mounts }
    }

    pub fn mounts(&self) -> &[Arc<Mounted>] {
        &self.mounts
    }

    pub fn find(&self, mount_path: &str) -> Option<&Arc<Mounted>> {
        self.mounts.iter().find(|m| m.entry.path == mount_path)
    }

    /// Resolves a request path (no leading slash, no `v1/`) to its target and the path
    /// relative to it. `secret` and `secret/` both reach the mount `secret/`.
    pub fn route(&self, path: &str) -> Option<(Target, String)> {
        if let Some(rest) = strip_mount(path, SYSTEM_PREFIX) {
            return Some((Target::System, rest.to_string()));
        }
        if let Some(rest) = strip_mount(path, TOKEN_PREFIX) {
            return Some((Target::Token, rest.to_string()));
        }
        self.mounts.iter().find_map(|mounted| {
            strip_mount(path, &mounted.entry.path)
                .map(|rest| (Target::Mount(Arc::clone(mounted)), rest.to_string()))
        })
    }

    /// Whether `path` would collide with an existing mount or a built-in one: equal to it,
    /// nested inside it, or containing it.
    pub fn conflicts(&self, path: &str) -> Option<String> {
        let builtins = [SYSTEM_PREFIX, TOKEN_PREFIX];
        builtins
            .iter()
            .map(|p| (*p).to_string())
            .chain(self.mounts.iter().map(|m| m.entry.path.clone()))
            .find(|existing| existing.starts_with(path) || path.starts_with(existing.as_str()))
    }
}

/// `path` relative to `mount` (which ends with `/`), if it lies inside it.
fn strip_mount<'a>(path: &'a str, mount: &str) -> Option<&'a str> {
    if let Some(rest) = path.strip_prefix(mount) {
        return Some(rest);
    }
    (path == mount.trim_end_matches('/')).then_some("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_take_precedence_and_paths_are_relative() {
        let router = Router::default();
        assert!(
            matches!(router.route("sys/mounts"), Some((Target::System, rest)) if rest == "mounts")
        );
        assert!(
            matches!(router.route("auth/token/lookup-self"), Some((Target::Token, rest)) if rest == "lookup-self")
        );
        assert!(matches!(router.route("sys"), Some((Target::System, rest)) if rest.is_empty()));
        assert!(router.route("secret/data/x").is_none());
        assert!(router.route("system/x").is_none());
    }

    #[test]
    fn conflicts_detect_nesting_both_ways() {
        let router = Router::default();
        assert_eq!(router.conflicts("sys/"), Some("sys/".into()));
        assert_eq!(router.conflicts("sys/x/"), Some("sys/".into()));
        assert_eq!(router.conflicts("auth/"), Some("auth/token/".into()));
        assert_eq!(router.conflicts("secret/"), None);
    }
}
