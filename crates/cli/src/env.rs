//! Environment variable names read by `seal` (kubeseal's `SEALED_SECRETS_<FLAG>` spelling).

/// Certificate file or URL to seal with (`--cert`).
pub const SEALED_SECRETS_CERT: &str = "SEALED_SECRETS_CERT";
/// Sealing scope (`--scope`).
pub const SEALED_SECRETS_SCOPE: &str = "SEALED_SECRETS_SCOPE";
/// Output format (`--format`).
pub const SEALED_SECRETS_FORMAT: &str = "SEALED_SECRETS_FORMAT";
/// Private key files for recovery unseal (`--recovery-private-key`).
pub const SEALED_SECRETS_RECOVERY_PRIVATE_KEY: &str = "SEALED_SECRETS_RECOVERY_PRIVATE_KEY";
/// Namespace of the controller's Service (`--controller-namespace`).
pub const SEALED_SECRETS_CONTROLLER_NAMESPACE: &str = "SEALED_SECRETS_CONTROLLER_NAMESPACE";
/// Name of the controller's Service (`--controller-name`).
pub const SEALED_SECRETS_CONTROLLER_NAME: &str = "SEALED_SECRETS_CONTROLLER_NAME";
