//! Rebuilds the crate when a migration changes: `sqlx::migrate!` embeds the SQL files at
//! compile time, and cargo would not otherwise notice edits outside the crate directory.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
