//! `kube-harness`: runs the test API server on a port.
fn main() {}
