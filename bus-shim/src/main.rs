//! bus-shim entry point.
fn main() {}
