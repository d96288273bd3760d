//! KV version 2 secret engine
