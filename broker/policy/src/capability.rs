//! Capabilities: the verbs a policy grants on a path, and the small bit set the ACL keeps them
//! in. The names and their meaning are Vault's, so policies written for Vault read the same here.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One capability a policy can grant on a path.
///
/// `Root` never appears in a policy: it is only reported by [`crate::Acl::capabilities`] for the
/// root ACL, the way Vault's `sys/capabilities-self` answers `["root"]` for a root token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Capability {
    /// Write to a path that holds no data yet.
    Create,
    /// Read the data at a path.
    Read,
    /// Change the data at a path (also renew, revoke and other actions on it).
    Update,
    /// Partially change the data at a path.
    Patch,
    /// Delete the data at a path.
    Delete,
    /// List the keys under a path.
    List,
    /// Use paths that require root privileges in addition to the operation's capability.
    Sudo,
    /// Explicitly forbid the path; overrides every other capability on the same path.
    Deny,
    /// Reported for the root ACL only; cannot be written in a policy.
    Root,
}

impl Capability {
    /// Every capability a policy may name, in Vault's documentation order.
    pub const GRANTABLE: [Capability; 8] = [
        Capability::Create,
        Capability::Read,
        Capability::Update,
        Capability::Patch,
        Capability::Delete,
        Capability::List,
        Capability::Sudo,
        Capability::Deny,
    ];

    /// The lowercase name used in policies and API responses.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Create => "create",
            Capability::Read => "read",
            Capability::Update => "update",
            Capability::Patch => "patch",
            Capability::Delete => "delete",
            Capability::List => "list",
            Capability::Sudo => "sudo",
            Capability::Deny => "deny",
            Capability::Root => "root",
        }
    }

    /// The bit for this capability in a [`CapSet`].
    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not one of the capabilities a policy may grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCapability;

impl FromStr for Capability {
    type Err = UnknownCapability;

    /// Parses a capability a policy may name; `root` is not one of them.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Capability::GRANTABLE
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or(UnknownCapability)
    }
}

/// A set of capabilities as a bit set: the ACL merges many rules on hot paths, and a bit set
/// makes union and membership trivial.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CapSet(u16);

impl CapSet {
    pub(crate) fn insert(&mut self, cap: Capability) {
        self.0 |= cap.bit();
    }

    pub(crate) fn contains(self, cap: Capability) -> bool {
        self.0 & cap.bit() != 0
    }

    pub(crate) fn union(self, other: CapSet) -> CapSet {
        CapSet(self.0 | other.0)
    }

    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The members, in [`Capability`]'s declaration order.
    pub(crate) fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::GRANTABLE
            .into_iter()
            .chain([Capability::Root])
            .filter(move |c| self.contains(*c))
    }
}

impl FromIterator<Capability> for CapSet {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        let mut set = CapSet::default();
        for cap in iter {
            set.insert(cap);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_root_is_not_grantable() {
        for cap in Capability::GRANTABLE {
            assert_eq!(cap.as_str().parse::<Capability>(), Ok(cap));
        }
        assert_eq!("root".parse::<Capability>(), Err(UnknownCapability));
        assert_eq!("READ".parse::<Capability>(), Err(UnknownCapability));
        assert_eq!(
            serde_json::to_string(&Capability::Sudo).ok().as_deref(),
            Some("\"sudo\"")
        );
    }

    #[test]
    fn capset_union_and_membership() {
        let a: CapSet = [Capability::Read, Capability::List].into_iter().collect();
        let b: CapSet = [Capability::Sudo].into_iter().collect();
        let u = a.union(b);
        assert!(u.contains(Capability::Read) && u.contains(Capability::Sudo));
        assert!(!u.contains(Capability::Update));
        assert_eq!(
            u.iter().collect::<Vec<_>>(),
            vec![Capability::Read, Capability::List, Capability::Sudo]
        );
        assert!(CapSet::default().is_empty());
    }
}
