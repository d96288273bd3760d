//! The Lessor token store.
