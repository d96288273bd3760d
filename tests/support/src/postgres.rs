//! Placeholder until the PostgreSQL fixture lands.
