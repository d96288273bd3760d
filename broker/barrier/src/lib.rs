//! The encryption barrier: an AES-256-GCM keyring over a storage backend
