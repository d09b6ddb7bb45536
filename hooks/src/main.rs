//! `bus`: the claude-bus command line (placeholder until the CLI issue lands).
fn main() {}
