//! The ACL: the rules of every policy attached to a token, merged per path pattern, and the
//! decision for one request. This is where Vault's matching semantics live:
//!
//! * An exact pattern (no `*`, no `+` segment) matching the path always wins.
//! * Otherwise the candidates are the longest matching `*` prefix pattern plus every matching
//!   pattern with `+` segments, and the highest-priority one wins. Vault documents the order
//!   ("Policies" > "Priority matching"; `CheckAllowedFromNonExactPaths` in `vault/acl.go`); for
//!   two patterns P1 and P2 matching the same path, P1 has lower priority when:
//!   1. the first `+` or `*` occurs earlier in P1;
//!   2. P1 ends in `*` and P2 does not;
//!   3. P1 has more `+` segments;
//!   4. P1 is shorter;
//!   5. P1 is smaller lexicographically.
//! * Only the winning pattern's capabilities apply: a broader `deny` does not reach a path that a
//!   more specific pattern allows, while `deny` on the *same* pattern in any policy wins over
//!   every grant there.
//! * `list` requests, and [`Acl::capabilities`], also try the path without its trailing `/`,
//!   so `path "secret/metadata"` grants listing `secret/metadata/`.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::capability::CapSet;
use crate::params::{self, Constraints};
use crate::rule::ParameterMap;
use crate::{Capability, PathRule, Policy};

/// Why a request was refused. Names parameters, never their values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DenyReason {
    /// No rule of any policy matches the path.
    NoMatchingRule,
    /// The matching pattern is `deny` in at least one policy.
    ExplicitDeny,
    /// The matching pattern does not grant the capability.
    MissingCapability(Capability),
    /// A `required_parameters` entry is absent from the request.
    RequiredParameterMissing(String),
    /// A parameter (or value) is refused by `denied_parameters`.
    ParameterDenied(String),
    /// A parameter (or value) is not listed in `allowed_parameters`.
    ParameterNotAllowed(String),
    /// The rule sets `min_wrapping_ttl`/`max_wrapping_ttl`. Vault then refuses any request that
    /// is not response-wrapped; Lessor does not wrap responses, so such rules grant nothing
    /// rather than silently dropping the author's restriction.
    WrappingRequired,
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DenyReason::NoMatchingRule => f.write_str("no policy grants access to this path"),
            DenyReason::ExplicitDeny => f.write_str("path is explicitly denied"),
            DenyReason::MissingCapability(cap) => write!(f, "missing capability {cap:?}"),
            DenyReason::RequiredParameterMissing(p) => {
                write!(f, "required parameter {p:?} missing")
            }
            DenyReason::ParameterDenied(p) => write!(f, "parameter {p:?} is denied"),
            DenyReason::ParameterNotAllowed(p) => write!(f, "parameter {p:?} is not allowed"),
            DenyReason::WrappingRequired => {
                f.write_str("rule requires response wrapping, which is not supported")
            }
        }
    }
}

/// The outcome of [`Acl::authorize`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// Whether the matched rule grants `sudo` (always true for root). Paths that need root
    /// privileges require this in addition to `allowed`.
    pub sudo: bool,
    /// The winning path pattern as written in the policies (for audit); `None` for root or when
    /// nothing matched.
    pub matched: Option<String>,
    /// The policies whose rule on the matched pattern grants the requested capability, sorted.
    pub granting_policies: Vec<String>,
    /// Why the request was refused; `None` when allowed.
    pub denied_reason: Option<DenyReason>,
}

impl Decision {
    fn deny(reason: DenyReason, entry: Option<&Entry>) -> Decision {
        Decision {
            allowed: false,
            sudo: entry.is_some_and(|e| e.perms.caps.contains(Capability::Sudo)),
            matched: entry.map(|e| e.pattern.clone()),
            granting_policies: Vec::new(),
            denied_reason: Some(reason),
        }
    }
}

/// The merged permissions of one pattern across all policies.
#[derive(Debug, Clone)]
struct Permissions {
    caps: CapSet,
    required: Vec<String>,
    allowed: ParameterMap,
    denied: ParameterMap,
    min_wrapping_ttl: Option<Duration>,
    max_wrapping_ttl: Option<Duration>,
    granting: BTreeMap<Capability, BTreeSet<String>>,
}

impl Permissions {
    fn from_rule(rule: &PathRule, policy: &str) -> Permissions {
        let caps: CapSet = rule.capabilities().iter().copied().collect();
        let mut perms = Permissions {
            caps,
            required: rule.required_parameters().to_vec(),
            allowed: rule.allowed_parameters().clone(),
            denied: rule.denied_parameters().clone(),
            min_wrapping_ttl: rule.min_wrapping_ttl().filter(|d| !d.is_zero()),
            max_wrapping_ttl: rule.max_wrapping_ttl().filter(|d| !d.is_zero()),
            granting: BTreeMap::new(),
        };
        perms.add_granting(caps, policy);
        perms
    }

    fn add_granting(&mut self, caps: CapSet, policy: &str) {
        if caps.contains(Capability::Deny) {
            return;
        }
        for cap in caps.iter() {
            self.granting
                .entry(cap)
                .or_default()
                .insert(policy.to_owned());
        }
    }

    /// Folds another policy's rule for the same pattern in, as Vault's `NewACL` does.
    fn merge(&mut self, other: Permissions) {
        if self.caps.contains(Capability::Deny) {
            return;
        }
        if other.caps.contains(Capability::Deny) {
            *self = other;
            self.granting.clear();
            return;
        }
        self.caps = self.caps.union(other.caps);
        for (cap, policies) in other.granting {
            self.granting.entry(cap).or_default().extend(policies);
        }
        // The shorter wrapping TTLs win: the merge prefers the tighter lifetime.
        self.min_wrapping_ttl = shorter(self.min_wrapping_ttl, other.min_wrapping_ttl);
        self.max_wrapping_ttl = shorter(self.max_wrapping_ttl, other.max_wrapping_ttl);
        // Vault's quirk, kept for compatibility: a rule with no parameter list merged with one
        // that has a list ends up with that list, i.e. constrained.
        merge_parameters(&mut self.allowed, other.allowed);
        merge_parameters(&mut self.denied, other.denied);
        for name in other.required {
            if !self.required.contains(&name) {
                self.required.push(name);
            }
        }
    }
}

fn shorter(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Merges parameter lists: an empty list (any value) absorbs the other side, otherwise values
/// are concatenated.
fn merge_parameters(into: &mut ParameterMap, from: ParameterMap) {
    for (name, values) in from {
        match into.get_mut(&name) {
            None => {
                into.insert(name, values);
            }
            Some(existing) if existing.is_empty() || values.is_empty() => existing.clear(),
            Some(existing) => existing.extend(values),
        }
    }
}

/// One merged pattern.
#[derive(Debug, Clone)]
struct Entry {
    /// The pattern as written, for `Decision::matched`.
    pattern: String,
    perms: Permissions,
}

/// A pattern with `+` segments, pre-split for matching and pre-ranked for priority.
#[derive(Debug, Clone)]
struct SegmentEntry {
    entry: Entry,
    /// The pattern without a trailing `*`, split on `/`.
    parts: Vec<String>,
    rank: Rank,
}

/// What the priority rules compare (see the module documentation).
#[derive(Debug, Clone)]
struct Rank {
    /// Byte offset of the first `+` or `*`.
    first_wildcard: usize,
    /// Ends in `*`.
    is_prefix: bool,
    /// Number of `+` segments.
    wildcards: usize,
    /// The pattern without a trailing `*`.
    stem: String,
}

impl Rank {
    /// `Greater` when `self` has the higher priority.
    fn priority(&self, other: &Rank) -> Ordering {
        self.first_wildcard
            .cmp(&other.first_wildcard)
            .then(other.is_prefix.cmp(&self.is_prefix))
            .then(other.wildcards.cmp(&self.wildcards))
            .then(self.stem.len().cmp(&other.stem.len()))
            .then(self.stem.cmp(&other.stem))
    }
}

/// The merged rules of a token's policies.
#[derive(Debug, Clone, Default)]
pub struct Acl {
    root: bool,
    /// Patterns without wildcards, by pattern.
    exact: HashMap<String, Entry>,
    /// Patterns ending in `*` (without `+` segments), by the prefix before the `*`.
    prefix: HashMap<String, Entry>,
    /// Patterns with `+` segments, by pattern.
    segment: BTreeMap<String, SegmentEntry>,
}

/// Whether Vault treats the pattern as having `+` segment wildcards (`vault/policy.go`).
fn has_segment_wildcards(pattern: &str) -> bool {
    pattern == "+" || pattern.contains("/+") || pattern.starts_with("+/")
}

impl Acl {
    /// Merges the rules of `policies`. The same pattern in several policies gets the union of
    /// their capabilities, unless any of them denies it.
    pub fn new(policies: &[Policy]) -> Acl {
        let mut acl = Acl::default();
        for policy in policies {
            for rule in policy.rules() {
                acl.insert(rule, policy.name());
            }
        }
        acl
    }

    /// The ACL of a root token: everything is allowed, with sudo.
    pub fn root() -> Acl {
        Acl {
            root: true,
            ..Acl::default()
        }
    }

    /// Whether this is the root ACL.
    pub fn is_root(&self) -> bool {
        self.root
    }

    fn insert(&mut self, rule: &PathRule, policy: &str) {
        let pattern = rule.path();
        let perms = Permissions::from_rule(rule, policy);
        let entry = Entry {
            pattern: pattern.to_owned(),
            perms,
        };
        if has_segment_wildcards(pattern) {
            let stem = pattern.strip_suffix('*').unwrap_or(pattern);
            if let Some(existing) = self.segment.get_mut(pattern) {
                existing.entry.perms.merge(entry.perms);
                return;
            }
            let parts: Vec<String> = stem.split('/').map(str::to_owned).collect();
            let rank = Rank {
                first_wildcard: pattern.find('+').unwrap_or(0),
                is_prefix: pattern.ends_with('*'),
                wildcards: parts.iter().filter(|p| *p == "+").count(),
                stem: stem.to_owned(),
            };
            self.segment
                .insert(pattern.to_owned(), SegmentEntry { entry, parts, rank });
            return;
        }
        let (map, key) = match pattern.strip_suffix('*') {
            Some(prefix) => (&mut self.prefix, prefix),
            None => (&mut self.exact, pattern),
        };
        match map.get_mut(key) {
            Some(existing) => existing.perms.merge(entry.perms),
            None => {
                map.insert(key.to_owned(), entry);
            }
        }
    }

    /// Decides whether `capability` on `path` is allowed, checking parameter constraints for
    /// read, create, update and patch against `params` (the request body or query).
    ///
    /// `capability` is the one the operation needs (renew and revoke need `update`, as in
    /// Vault). Asking for `sudo` checks the matched rule grants it; `deny` and `root` are never
    /// granted except by the root ACL.
    pub fn authorize(
        &self,
        path: &str,
        capability: Capability,
        params: Option<&Map<String, Value>>,
    ) -> Decision {
        if self.root {
            return Decision {
                allowed: true,
                sudo: true,
                matched: None,
                granting_policies: vec!["root".to_owned()],
                denied_reason: None,
            };
        }
        let Some(entry) = self.lookup(path, capability == Capability::List) else {
            return Decision::deny(DenyReason::NoMatchingRule, None);
        };
        let perms = &entry.perms;
        if perms.caps.contains(Capability::Deny) {
            return Decision::deny(DenyReason::ExplicitDeny, Some(entry));
        }
        if matches!(capability, Capability::Deny | Capability::Root)
            || !perms.caps.contains(capability)
        {
            return Decision::deny(DenyReason::MissingCapability(capability), Some(entry));
        }
        if perms.min_wrapping_ttl.is_some() || perms.max_wrapping_ttl.is_some() {
            return Decision::deny(DenyReason::WrappingRequired, Some(entry));
        }
        if matches!(
            capability,
            Capability::Read | Capability::Create | Capability::Update | Capability::Patch
        ) {
            let constraints = Constraints {
                required: &perms.required,
                allowed: &perms.allowed,
                denied: &perms.denied,
            };
            if let Err(reason) = params::check(&constraints, params) {
                return Decision::deny(reason, Some(entry));
            }
        }
        Decision {
            allowed: true,
            sudo: perms.caps.contains(Capability::Sudo),
            matched: Some(entry.pattern.clone()),
            granting_policies: perms
                .granting
                .get(&capability)
                .map(|set| set.iter().cloned().collect())
                .unwrap_or_default(),
            denied_reason: None,
        }
    }

    /// The capabilities this ACL grants on `path`, sorted by name, as `sys/capabilities-self`
    /// reports them: `[deny]` when nothing (or an explicit deny) matches, `[root]` for root.
    /// Whether any rule grants something at or below `prefix` (a mount path such as
    /// `secret/`), or a wildcard rule covers it. Vault uses this to decide whether a token
    /// may learn that a mount exists (`sys/internal/ui/mounts`).
    pub fn grants_under(&self, prefix: &str) -> bool {
        if self.root {
            return true;
        }
        let grants = |entry: &Entry| {
            !entry.perms.caps.is_empty() && !entry.perms.caps.contains(Capability::Deny)
        };
        let prefix = prefix.trim_start_matches('/');
        self.exact
            .iter()
            .any(|(pattern, entry)| pattern.starts_with(prefix) && grants(entry))
            || self.prefix.iter().any(|(glob, entry)| {
                (glob.starts_with(prefix) || prefix.starts_with(glob.as_str())) && grants(entry)
            })
            || self.segment.values().any(|segment| {
                // A `+` segment can stand for any mount name: compare segment by segment.
                let mount_parts: Vec<&str> = prefix.trim_end_matches('/').split('/').collect();
                grants(&segment.entry)
                    && mount_parts
                        .iter()
                        .zip(segment.parts.iter())
                        .all(|(mount, part)| part == "+" || part == mount)
            })
    }

    pub fn capabilities(&self, path: &str) -> Vec<Capability> {
        if self.root {
            return vec![Capability::Root];
        }
        let caps = self
            .lookup(path, true)
            .map(|entry| entry.perms.caps)
            .unwrap_or_default();
        if caps.is_empty() || caps.contains(Capability::Deny) {
            return vec![Capability::Deny];
        }
        let mut list: Vec<Capability> = caps.iter().collect();
        list.sort_by_key(|c| c.as_str());
        list
    }

    /// Finds the rule that governs `path`. List operations also try the path without a
    /// trailing `/`, first as an exact match and then against wildcard rules, as Vault does.
    fn lookup(&self, path: &str, is_list: bool) -> Option<&Entry> {
        let path = path.trim_start_matches('/');
        if let Some(entry) = self.exact.get(path) {
            return Some(entry);
        }
        let trimmed = path.strip_suffix('/');
        if is_list && let Some(entry) = trimmed.and_then(|t| self.exact.get(t)) {
            return Some(entry);
        }
        if is_list && let Some(entry) = trimmed.and_then(|t| self.non_exact(t)) {
            return Some(entry);
        }
        self.non_exact(path)
    }

    /// The highest-priority `*` or `+` pattern matching `path`.
    fn non_exact(&self, path: &str) -> Option<&Entry> {
        // Only the longest `*` prefix competes with the `+` patterns, as in Vault.
        let prefix = (0..=path.len())
            .rev()
            .filter_map(|end| path.get(..end))
            .find_map(|candidate| self.prefix.get_key_value(candidate));
        let prefix_rank = prefix.map(|(stem, entry)| {
            (
                Rank {
                    first_wildcard: stem.len(),
                    is_prefix: true,
                    wildcards: 0,
                    stem: stem.clone(),
                },
                entry,
            )
        });
        if self.segment.is_empty() {
            return prefix_rank.map(|(_, entry)| entry);
        }
        let parts: Vec<&str> = path.split('/').collect();
        self.segment
            .values()
            .filter(|seg| segment_matches(seg, &parts))
            .map(|seg| (seg.rank.clone(), &seg.entry))
            .chain(prefix_rank)
            .max_by(|(a, _), (b, _)| a.priority(b))
            .map(|(_, entry)| entry)
    }
}

/// Whether a `+` pattern matches the path's segments: `+` matches any one segment, other
/// segments match literally, and the last segment of a `*` pattern matches as a prefix of the
/// path's segment (the rest of the path then being free).
fn segment_matches(seg: &SegmentEntry, path_parts: &[&str]) -> bool {
    let is_prefix = seg.rank.is_prefix;
    if path_parts.len() < seg.parts.len() || (!is_prefix && path_parts.len() != seg.parts.len()) {
        return false;
    }
    let last = seg.parts.len().saturating_sub(1);
    seg.parts
        .iter()
        .zip(path_parts)
        .enumerate()
        .all(|(i, (pattern, actual))| {
            pattern == "+"
                || pattern == actual
                || (is_prefix && i == last && actual.starts_with(pattern.as_str()))
        })
}

#[cfg(test)]
mod tests;
