//! Storage backends for the Lessor broker: SQLite, PostgreSQL and in-memory
