//! The logical operations a request can perform, independent of HTTP verbs.

use std::fmt;

/// What a request does. Policies grant capabilities named after these.
///
/// HTTP maps onto them in the broker: GET is `Read` (or `List` with `?list=true`), `LIST` is
/// `List`, POST/PUT is `Update` (or `Create` when the route supports it and the target does
/// not exist yet), PATCH is `Patch`, DELETE is `Delete`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Read,
    Create,
    Update,
    Patch,
    Delete,
    List,
}

impl Operation {
    /// The policy capability that grants this operation.
    pub fn capability(self) -> &'static str {
        match self {
            Operation::Read => "read",
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Patch => "patch",
            Operation::Delete => "delete",
            Operation::List => "list",
        }
    }

    /// Whether the operation changes state (used to decide what a request body may carry).
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Operation::Create | Operation::Update | Operation::Patch | Operation::Delete
        )
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.capability())
    }
}
