//! busd entry point.
fn main() {}
