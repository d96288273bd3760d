//! A named policy: the text exactly as the operator wrote it (returned verbatim by
//! `sys/policies/acl/:name`) together with the rules parsed from it, and the built-in `default`
//! policy.

use crate::document;
use crate::name::normalize_name;
use crate::{PathRule, PolicyError};

/// Vault's `default` policy, trimmed to the endpoints Lessor serves: a token may look itself up,
/// renew and revoke itself, ask for its own capabilities, and look up and renew leases it holds
/// the ids of (knowing a lease id is the credential there, as in Vault).
pub const DEFAULT_POLICY: &str = r#"# Allow tokens to look up their own properties
path "auth/token/lookup-self" {
    capabilities = ["read"]
}

# Allow tokens to renew themselves
path "auth/token/renew-self" {
    capabilities = ["update"]
}

# Allow tokens to revoke themselves
path "auth/token/revoke-self" {
    capabilities = ["update"]
}

# Allow a token to look up its own capabilities on a path
path "sys/capabilities-self" {
    capabilities = ["update"]
}

# Allow a token to renew a lease via lease_id in the request body; old path for
# old clients, new path for newer
path "sys/renew" {
    capabilities = ["update"]
}
path "sys/leases/renew" {
    capabilities = ["update"]
}

# Allow looking up lease properties. This requires knowing the lease ID ahead
# of time and does not divulge any sensitive information.
path "sys/leases/lookup" {
    capabilities = ["update"]
}
"#;

/// A parsed ACL policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    name: String,
    raw: String,
    rules: Vec<PathRule>,
}

impl Policy {
    /// Parses `text` (HCL, or JSON when the trimmed text starts with `{`) as the policy `name`.
    /// The name is validated and lowercased; the text is kept as given.
    ///
    /// `root` parses like any name: refusing to store it is the caller's job, via
    /// [`crate::reserved`], since only the caller knows whether it is writing or reading.
    pub fn parse(name: &str, text: &str) -> Result<Policy, PolicyError> {
        let name = normalize_name(name)?;
        let rules = document::read(text)?
            .into_iter()
            .map(PathRule::from_raw)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Policy {
            name,
            raw: text.to_owned(),
            rules,
        })
    }

    /// The built-in `default` policy, parsed from [`DEFAULT_POLICY`].
    pub fn default_policy() -> Result<Policy, PolicyError> {
        Policy::parse("default", DEFAULT_POLICY)
    }

    /// The stored (lowercase) name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The text exactly as written.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The rules in the order they appear (JSON objects are read in key order).
    pub fn rules(&self) -> &[PathRule] {
        &self.rules
    }
}

#[cfg(test)]
mod tests;
