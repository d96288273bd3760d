//! The seal configuration: how many shares exist and how many unseal. Not secret.

use serde::{Deserialize, Serialize};

use crate::SealError;

/// Shares N and threshold T, with Vault's names so `sys/seal-status` and `sys/init` map 1:1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealConfig {
    pub secret_shares: u8,
    pub secret_threshold: u8,
}

impl SealConfig {
    /// Validates with Vault's rules: 1 ≤ T ≤ N ≤ 255, and T = 1 only when N = 1 (a 1-of-N
    /// split would hand every operator the whole key). `u8` already caps both at 255.
    pub fn new(secret_shares: u8, secret_threshold: u8) -> Result<Self, SealError> {
        let config = Self {
            secret_shares,
            secret_threshold,
        };
        config.validate()?;
        Ok(config)
    }

    pub(crate) fn validate(&self) -> Result<(), SealError> {
        if self.secret_shares < 1 {
            return Err(SealError::InvalidConfig("shares must be at least one"));
        }
        if self.secret_threshold < 1 {
            return Err(SealError::InvalidConfig("threshold must be at least one"));
        }
        if self.secret_shares > 1 && self.secret_threshold == 1 {
            return Err(SealError::InvalidConfig(
                "threshold must be greater than one for multiple shares",
            ));
        }
        if self.secret_threshold > self.secret_shares {
            return Err(SealError::InvalidConfig(
                "threshold cannot be larger than shares",
            ));
        }
        Ok(())
    }

    pub(crate) fn encode(&self) -> Result<Vec<u8>, SealError> {
        serde_json::to_vec(self).map_err(|_| SealError::Corrupt("seal configuration"))
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, SealError> {
        let config: Self =
            serde_json::from_slice(bytes).map_err(|_| SealError::Corrupt("seal configuration"))?;
        config
            .validate()
            .map_err(|_| SealError::Corrupt("seal configuration out of bounds"))?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_match_vault() {
        assert!(SealConfig::new(1, 1).is_ok());
        assert!(SealConfig::new(5, 3).is_ok());
        assert!(SealConfig::new(255, 255).is_ok());
        assert!(SealConfig::new(255, 2).is_ok());
        for (n, t) in [(0, 0), (0, 1), (5, 0), (3, 4), (1, 2), (2, 1), (255, 1)] {
            assert!(
                matches!(SealConfig::new(n, t), Err(SealError::InvalidConfig(_))),
                "{n}/{t}"
            );
        }
    }

    #[test]
    fn stored_form_round_trips_and_is_checked() {
        let config = SealConfig::new(5, 3).unwrap();
        let bytes = config.encode().unwrap();
        assert_eq!(
            bytes,
            br#"{"secret_shares":5,"secret_threshold":3}"#.to_vec()
        );
        assert_eq!(SealConfig::decode(&bytes).unwrap(), config);
        assert!(SealConfig::decode(br#"{"secret_shares":2,"secret_threshold":3}"#).is_err());
        assert!(SealConfig::decode(b"not json").is_err());
    }
}
