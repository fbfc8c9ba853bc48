//! SOPS file format (getsops/sops): tree, `ENC[...]` values, MAC, metadata, stores.
//!
//! Owned by the sops-core helper.
