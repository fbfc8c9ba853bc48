//! HashiCorp Vault / OpenBao: the transit master key.

mod transit;

pub use transit::{TOKEN_FILE, VaultTransitKey};
