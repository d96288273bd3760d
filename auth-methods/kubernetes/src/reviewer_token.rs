//! The reviewer's bearer token when it comes from a file: in a pod, the broker's own
//! projected service-account token, which kubelet rotates (by default hourly, swapping the
//! `..data` symlink). A copy read once goes stale and every TokenReview starts failing with
//! 401 (vault#12855), so the file is checked before every review: re-read when its
//! modification time or size changed, and at least once a minute regardless.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::error::KubeAuthError;

/// Even an unchanged-looking file is re-read this often (mtime granularity, clock quirks).
const MAX_AGE: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub(crate) struct TokenFile {
    path: PathBuf,
    cached: Mutex<Option<Cached>>,
}

struct Cached {
    modified: Option<SystemTime>,
    len: u64,
    read_at: OffsetDateTime,
    token: Zeroizing<String>,
}

impl std::fmt::Debug for Cached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cached")
            .field("modified", &self.modified)
            .field("read_at", &self.read_at)
            .finish_non_exhaustive()
    }
}

impl TokenFile {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            cached: Mutex::new(None),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The token as the file holds it now.
    pub(crate) async fn current(
        &self,
        now: OffsetDateTime,
    ) -> Result<Zeroizing<String>, KubeAuthError> {
        let unreadable = |error: std::io::Error| {
            KubeAuthError::upstream(format!(
                "cannot read the reviewer token file {}: {error}",
                self.path.display()
            ))
        };
        // `metadata` follows symlinks, so kubelet's `..data` swap shows up as a change.
        let metadata = tokio::fs::metadata(&self.path).await.map_err(unreadable)?;
        let modified = metadata.modified().ok();
        let len = metadata.len();
        if let Some(cached) = self
            .cached
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            && cached.modified == modified
            && cached.len == len
            && now < cached.read_at + MAX_AGE
        {
            return Ok(cached.token.clone());
        }
        let contents = Zeroizing::new(
            tokio::fs::read_to_string(&self.path)
                .await
                .map_err(unreadable)?,
        );
        let token = Zeroizing::new(contents.trim().to_string());
        if token.is_empty() {
            return Err(KubeAuthError::upstream(format!(
                "the reviewer token file {} is empty",
                self.path.display()
            )));
        }
        tracing::debug!(path = %self.path.display(), "read the reviewer token file");
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = Some(Cached {
            modified,
            len,
            read_at: now,
            token: token.clone(),
        });
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rereads_after_a_change_and_after_a_minute() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "first\n").unwrap();
        let file = TokenFile::new(path.clone());
        let start = OffsetDateTime::from_unix_timestamp(1_000_000).unwrap();
        assert_eq!(file.current(start).await.unwrap().as_str(), "first");

        std::fs::write(&path, "second-token").unwrap();
        assert_eq!(file.current(start).await.unwrap().as_str(), "second-token");

        // Same size and (possibly) same mtime: only the age forces a re-read.
        std::fs::write(&path, "third--token").unwrap();
        let later = start + MAX_AGE + Duration::from_secs(1);
        assert_eq!(file.current(later).await.unwrap().as_str(), "third--token");

        std::fs::write(&path, "  \n").unwrap();
        assert!(file.current(later).await.is_err());
        std::fs::remove_file(&path).unwrap();
        assert!(file.current(later).await.is_err());
    }
}
