//! argon2id hashing and verification, off the async runtime.
//!
//! Parameters: argon2id, m = 19 MiB (19,456 KiB), t = 2, p = 1, a 16-byte random salt and a
//! 32-byte output. This is the first of OWASP's equivalent argon2id configurations (Password
//! Storage Cheat Sheet) and argon2's own default: argon2id resists both GPU cracking
//! (memory-hard) and side channels (data-independent first pass); 19 MiB keeps a login at a
//! few tens of milliseconds and bounds the memory a burst of logins can take. Every stored
//! hash is a PHC string that records its own algorithm, version, parameters and salt, so
//! verification always uses the parameters the hash was made with, and a later change of
//! parameters upgrades stored hashes on their next successful login.
//!
//! Hashing is deliberately slow, so it runs under `spawn_blocking`, never on a runtime
//! worker, and at most [`Hasher::permits`] hashes run at once, so a flood of unauthenticated
//! logins queues instead of taking unbounded memory.
//!
//! An unknown user is checked against a dummy hash with the same parameters, so a login for
//! a name that does not exist costs the same as a wrong password and timing does not reveal
//! which usernames exist.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;
use subtle::ConstantTimeEq;
use tokio::sync::{OnceCell, Semaphore};
use zeroize::Zeroizing;

use crate::error::UserpassError;
use crate::password::Password;

/// OWASP's recommended argon2id memory cost, in KiB (19 MiB).
pub(crate) const M_COST_KIB: u32 = 19 * 1024;
/// OWASP's recommended argon2id iteration count at 19 MiB.
pub(crate) const T_COST: u32 = 2;
/// One lane: parallelism inside one hash would only let a burst of logins take more cores.
pub(crate) const P_COST: u32 = 1;
const OUTPUT_LEN: usize = 32;
const SALT_LEN: usize = 16;

/// Hashes and verifies passwords with one set of argon2id parameters.
#[derive(Debug)]
pub(crate) struct Hasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// A hash of a random password nobody knows, made on first need with `params`.
    dummy: OnceCell<String>,
    /// How many dummy-hash verifications ran to completion (observable by tests). Counted
    /// inside the blocking task, after the argon2 work, so it proves the work happened.
    dummy_verifications: Arc<AtomicU64>,
}

impl Hasher {
    /// The production hasher: OWASP parameters.
    pub(crate) fn recommended() -> Self {
        // The constants are valid argon2 parameters; the fallback is never taken, but
        // `Params::DEFAULT` is the same triple, so even then nothing weaker is used.
        let params =
            Params::new(M_COST_KIB, T_COST, P_COST, Some(OUTPUT_LEN)).unwrap_or(Params::DEFAULT);
        Self::with_params(params)
    }

    pub(crate) fn with_params(params: Params) -> Self {
        Self {
            params,
            permits: Arc::new(Semaphore::new(Self::permits())),
            dummy: OnceCell::new(),
            dummy_verifications: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Concurrent hashes: one per core. Hashing is CPU-bound, so more would not finish sooner
    /// and would only hold more 19 MiB blocks at once.
    fn permits() -> usize {
        std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(2)
            .clamp(1, 16)
    }

    #[cfg(test)]
    pub(crate) fn dummy_verifications(&self) -> u64 {
        self.dummy_verifications.load(Ordering::Relaxed)
    }

    /// Hashes `password` under a fresh random salt into a PHC string.
    pub(crate) async fn hash(&self, password: Password) -> Result<String, UserpassError> {
        let params = self.params.clone();
        self.blocking(move || hash_blocking(&params, password.as_bytes()))
            .await
    }

    /// Checks `password` against the user's stored PHC hash, or, for an unknown user
    /// (`stored` is `None`), against the dummy hash, and then answers "no match" whatever
    /// the outcome. Both paths do the same argon2 work. A match against a hash made with
    /// other parameters also returns a fresh hash with the current ones, so stored hashes
    /// follow parameter upgrades (this extra work happens only once the password is known
    /// to be right, so its timing tells an attacker nothing new).
    pub(crate) async fn verify(
        &self,
        password: Password,
        stored: Option<&str>,
    ) -> Result<Verdict, UserpassError> {
        let (phc, known) = match stored {
            Some(phc) => (phc.to_string(), true),
            None => (self.dummy_hash().await?.to_string(), false),
        };
        let dummy_verifications = Arc::clone(&self.dummy_verifications);
        let upgrade = known && self.needs_rehash(&phc);
        let params = self.params.clone();
        self.blocking(move || {
            // Verify first, then combine: `known && verify(..)` would skip the dummy work.
            let hash_matched = verify_blocking(password.as_bytes(), &phc)?;
            let matched = hash_matched && known;
            if !known {
                dummy_verifications.fetch_add(1, Ordering::Relaxed);
            }
            let rehashed = if matched && upgrade {
                Some(hash_blocking(&params, password.as_bytes())?)
            } else {
                None
            };
            Ok(Verdict { matched, rehashed })
        })
        .await
    }

    /// Whether a stored hash was made with other parameters than the current ones.
    pub(crate) fn needs_rehash(&self, phc: &str) -> bool {
        let Ok(hash) = PasswordHash::new(phc) else {
            return true;
        };
        let Ok(params) = Params::try_from(&hash) else {
            return true;
        };
        Algorithm::try_from(hash.algorithm).ok() != Some(Algorithm::Argon2id)
            || hash.version != Some(Version::V0x13.into())
            || params.m_cost() != self.params.m_cost()
            || params.t_cost() != self.params.t_cost()
            || params.p_cost() != self.params.p_cost()
            || params.output_len() != self.params.output_len()
    }

    async fn dummy_hash(&self) -> Result<&str, UserpassError> {
        self.dummy
            .get_or_try_init(|| async {
                let mut secret = Zeroizing::new([0u8; 32]);
                rand::rng().fill_bytes(secret.as_mut());
                let params = self.params.clone();
                self.blocking(move || hash_blocking(&params, secret.as_ref()))
                    .await
            })
            .await
            .map(String::as_str)
    }

    /// Runs argon2 work on the blocking pool, at most `permits` at a time.
    async fn blocking<T, F>(&self, work: F) -> Result<T, UserpassError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, UserpassError> + Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|error| UserpassError::Task(error.to_string()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|error| UserpassError::Task(error.to_string()))?
    }
}

/// The outcome of [`Hasher::verify`].
#[derive(Debug)]
pub(crate) struct Verdict {
    pub matched: bool,
    /// A replacement hash with the current parameters, when the stored one is outdated.
    pub rehashed: Option<String>,
}

fn argon2id(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_blocking(params: &Params, password: &[u8]) -> Result<String, UserpassError> {
    let mut salt = [0u8; SALT_LEN];
    rand::rng().fill_bytes(&mut salt);
    let salt =
        SaltString::encode_b64(&salt).map_err(|error| UserpassError::Hashing(error.to_string()))?;
    argon2id(params.clone())
        .hash_password(password, &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| UserpassError::Hashing(error.to_string()))
}

/// Recomputes the hash with the stored salt and parameters and compares in constant time.
fn verify_blocking(password: &[u8], phc: &str) -> Result<bool, UserpassError> {
    let corrupt =
        |error: argon2::password_hash::Error| UserpassError::CorruptHash(error.to_string());
    let hash = PasswordHash::new(phc).map_err(corrupt)?;
    if Algorithm::try_from(hash.algorithm).map_err(corrupt)? != Algorithm::Argon2id {
        return Err(UserpassError::CorruptHash("not an argon2id hash".into()));
    }
    let version = match hash.version {
        Some(version) => Version::try_from(version)
            .map_err(|error| UserpassError::CorruptHash(error.to_string()))?,
        None => Version::V0x13,
    };
    let params = Params::try_from(&hash).map_err(corrupt)?;
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return Err(UserpassError::CorruptHash("salt or hash missing".into()));
    };
    let mut salt_buf = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_buf).map_err(corrupt)?;
    let mut computed = Zeroizing::new(vec![0u8; expected.len()]);
    Argon2::new(Algorithm::Argon2id, version, params)
        .hash_password_into(password, salt, &mut computed)
        .map_err(|error| UserpassError::Hashing(error.to_string()))?;
    Ok(bool::from(computed.as_slice().ct_eq(expected.as_bytes())))
}

#[cfg(test)]
mod tests;
