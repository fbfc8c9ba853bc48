//! `seal`: the sealkit command line.
fn main() {}
