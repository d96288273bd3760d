//! Username and password authentication for operators (argon2id)
