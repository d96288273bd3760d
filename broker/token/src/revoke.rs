//! Token revocation: a token and its descendants, depth-first, children before parents.
//! Each token's leases go first (through [`crate::TokenHooks::token_revoking`]), then its
//! entry and indexes in one atomic batch. A failure keeps the token and its ancestors, so
//! nothing is left unreachable and a retry picks up where this one stopped; the walk goes on
//! past failures and reports them at the end.

use std::collections::HashSet;

use lessor_sdk::StorageOp;

use crate::store::{accessor_key, children_prefix, encode, id_key, parent_key};
use crate::{TokenError, TokenStore};

/// How often one token is re-walked when children keep appearing under it mid-revocation.
const MAX_REWALKS: u8 = 3;

enum Removal {
    Revoked,
    /// Already gone (a concurrent revocation got there first).
    Gone,
    /// Children appeared after the walk listed them; walk them first.
    NewChildren,
}

struct Frame {
    hash: String,
    parent: Option<String>,
    expanded: bool,
    rewalks: u8,
}

impl TokenStore {
    /// Revokes the token at `hash` and all its descendants. Returns how many tokens were
    /// revoked; unknown hashes revoke nothing.
    pub async fn revoke_tree(&self, hash: &str) -> Result<usize, TokenError> {
        let mut stack = vec![Frame {
            hash: hash.to_string(),
            parent: None,
            expanded: false,
            rewalks: 0,
        }];
        // Tokens with a descendant that could not be revoked: they must stay.
        let mut blocked: HashSet<String> = HashSet::new();
        let (mut revoked, mut failed) = (0usize, 0usize);

        while let Some(frame) = stack.pop() {
            if !frame.expanded {
                match self.children(&frame.hash).await {
                    Ok(children) => {
                        let parent = frame.hash.clone();
                        stack.push(Frame {
                            expanded: true,
                            ..frame
                        });
                        stack.extend(children.into_iter().map(|child| Frame {
                            hash: child,
                            parent: Some(parent.clone()),
                            expanded: false,
                            rewalks: 0,
                        }));
                    }
                    Err(error) => {
                        tracing::warn!(%error, "listing child tokens for revocation failed");
                        failed += 1;
                        blocked.extend(frame.parent);
                    }
                }
                continue;
            }
            if blocked.contains(&frame.hash) {
                failed += 1;
                blocked.extend(frame.parent);
                continue;
            }
            match self.remove(&frame.hash, frame.parent.as_deref()).await {
                Ok(Removal::Revoked) => revoked += 1,
                Ok(Removal::Gone) => {}
                Ok(Removal::NewChildren) if frame.rewalks < MAX_REWALKS => stack.push(Frame {
                    expanded: false,
                    rewalks: frame.rewalks + 1,
                    ..frame
                }),
                Ok(Removal::NewChildren) => {
                    tracing::warn!("child tokens kept appearing during revocation");
                    failed += 1;
                    blocked.extend(frame.parent);
                }
                Err(error) => {
                    tracing::warn!(%error, "token revocation failed");
                    failed += 1;
                    blocked.extend(frame.parent);
                }
            }
        }
        if failed > 0 {
            return Err(TokenError::RevocationIncomplete { revoked, failed });
        }
        Ok(revoked)
    }

    /// Revokes a token (and its descendants) given the token itself. Unknown or malformed
    /// tokens revoke nothing, like Vault.
    pub async fn revoke_token(&self, token: &str) -> Result<usize, TokenError> {
        if !crate::credential::is_plausible_token(token) {
            return Ok(0);
        }
        let hash = self.hash(token).await?;
        self.revoke_tree(&hash).await
    }

    /// Revokes the token with this accessor, and its descendants.
    pub async fn revoke_accessor(&self, accessor: &str) -> Result<usize, TokenError> {
        let hash = self.hash_of_accessor(accessor).await?;
        self.revoke_tree(&hash).await
    }

    /// Revokes only the token at `hash`; its children become orphans.
    pub async fn revoke_orphan(&self, hash: &str) -> Result<(), TokenError> {
        for _ in 0..=MAX_REWALKS {
            for child in self.children(hash).await? {
                self.make_orphan(hash, &child).await?;
            }
            match self.remove(hash, None).await? {
                Removal::Revoked | Removal::Gone => return Ok(()),
                Removal::NewChildren => continue,
            }
        }
        Err(TokenError::RevocationIncomplete {
            revoked: 0,
            failed: 1,
        })
    }

    /// Revocation nobody waits for (an expired or used-up token met on the request path):
    /// failures are logged and the token stays for the next attempt.
    pub(crate) async fn revoke_quietly(&self, hash: &str, reason: &'static str) {
        if let Err(error) = self.revoke_tree(hash).await {
            tracing::warn!(%error, reason, "lazy token revocation failed");
        }
    }

    async fn children(&self, hash: &str) -> Result<Vec<String>, TokenError> {
        let mut children = self.storage.list(&children_prefix(hash)).await?;
        children.retain(|child| !child.ends_with('/'));
        Ok(children)
    }

    /// Revokes the leases of one token and deletes it, unless children appeared under it.
    async fn remove(&self, hash: &str, parent_hint: Option<&str>) -> Result<Removal, TokenError> {
        let Some(entry) = self.load(hash).await? else {
            // A dangling parent index left by an interrupted run: tidy it.
            if let Some(parent) = parent_hint {
                self.storage.delete(&parent_key(parent, hash)).await?;
            }
            return Ok(Removal::Gone);
        };
        self.hooks()
            .token_revoking(&entry)
            .await
            .map_err(TokenError::Hook)?;
        let _guard = self.lock(hash).await;
        // `create` writes a child under the parent's lock, so this listing sees every
        // child that will ever be written under this token.
        if !self.children(hash).await?.is_empty() {
            return Ok(Removal::NewChildren);
        }
        let mut ops = vec![
            StorageOp::Delete { key: id_key(hash) },
            StorageOp::Delete {
                key: accessor_key(&entry.accessor),
            },
        ];
        if let Some(parent) = &entry.parent {
            ops.push(StorageOp::Delete {
                key: parent_key(parent, hash),
            });
        }
        self.storage.apply(ops).await?;
        Ok(Removal::Revoked)
    }

    async fn make_orphan(&self, parent: &str, child: &str) -> Result<(), TokenError> {
        let _guard = self.lock(child).await;
        let mut ops = vec![StorageOp::Delete {
            key: parent_key(parent, child),
        }];
        if let Some(mut entry) = self.load(child).await? {
            entry.parent = None;
            ops.push(StorageOp::Put {
                key: id_key(child),
                value: encode(&entry)?,
            });
        }
        self.storage.apply(ops).await?;
        Ok(())
    }
}
