//! `lessor`: the server and the operator/client command line.
fn main() {}
