//! Shamir unseal, seal, init and rekey for the Lessor barrier
