//! The userpass method's own failures and how they cross the plugin boundary.
//!
//! No variant carries a password, a hash or a salt: messages reach clients and logs.

use lessor_sdk::EngineError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum UserpassError {
    /// A username outside the accepted charset or length.
    #[error("invalid username: {0}")]
    InvalidUsername(&'static str),
    /// A password the policy refuses (the reason only, never the value).
    #[error("invalid password: {0}")]
    InvalidPassword(&'static str),
    /// A request field with a wrong type or value.
    #[error("{0}")]
    InvalidField(String),
    /// argon2 refused its inputs. Its messages name parameters, never inputs.
    #[error("password hashing failed: {0}")]
    Hashing(String),
    /// A stored hash that is not an argon2id PHC string we can verify.
    #[error("stored password hash is unusable: {0}")]
    CorruptHash(String),
    /// The blocking hashing task died (a panic inside argon2, or runtime shutdown).
    #[error("password hashing task failed: {0}")]
    Task(String),
}

impl From<UserpassError> for EngineError {
    fn from(error: UserpassError) -> Self {
        match error {
            UserpassError::InvalidUsername(_)
            | UserpassError::InvalidPassword(_)
            | UserpassError::InvalidField(_) => EngineError::InvalidRequest(error.to_string()),
            UserpassError::Hashing(_) | UserpassError::CorruptHash(_) | UserpassError::Task(_) => {
                EngineError::Internal(error.to_string())
            }
        }
    }
}
