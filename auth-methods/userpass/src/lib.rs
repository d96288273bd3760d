//! Username and password authentication for operators (argon2id), mounted as `userpass`.
//!
//! [`UserpassAuth`] serves Vault's userpass API (`users/:username`, `users/:username/password`,
//! `users/:username/policies`, `login/:username`; see `method` for the route table).
//! Passwords are stored only as argon2id PHC hashes (`hashing`), travel only in zeroizing
//! memory (`password`), and never appear in responses, logs or errors. Usernames follow
//! Vault's rules and are case-insensitive (`username`).
//!
//! Departures from Vault, on purpose: passwords must be at least 8 characters and at most
//! 1024 bytes; unknown request fields are a 400; `password_hash` (bcrypt import),
//! `token_type=batch`, `token_no_default_policy=true` and a non-zero
//! `token_explicit_max_ttl` are refused; `token_bound_cidrs` is stored but not enforced
//! (the SDK does not pass the client address to auth methods).

mod error;
mod hashing;
mod login;
mod method;
mod password;
mod token_settings;
mod user;
mod username;
mod users;

pub use method::UserpassAuth;
