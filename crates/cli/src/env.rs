//! Environment variable names read by `seal` (kubeseal's `SEALED_SECRETS_<FLAG>` spelling).

/// Certificate file or URL to seal with (`--cert`).
pub const SEALED_SECRETS_CERT: &str = "SEALED_SECRETS_CERT";
/// Sealing scope (`--scope`).
pub const SEALED_SECRETS_SCOPE: &str = "SEALED_SECRETS_SCOPE";
/// Output format (`--format`).
pub const SEALED_SECRETS_FORMAT: &str = "SEALED_SECRETS_FORMAT";
/// Seconds a certificate download (`--cert https://…`) may take in all (`--cert-timeout`).
pub const SEAL_CERT_TIMEOUT: &str = "SEAL_CERT_TIMEOUT";
/// Private key files for recovery unseal (`--recovery-private-key`).
pub const SEALED_SECRETS_RECOVERY_PRIVATE_KEY: &str = "SEALED_SECRETS_RECOVERY_PRIVATE_KEY";
/// Namespace of the controller's Service (`--controller-namespace`).
pub const SEALED_SECRETS_CONTROLLER_NAMESPACE: &str = "SEALED_SECRETS_CONTROLLER_NAMESPACE";
/// Name of the controller's Service (`--controller-name`).
pub const SEALED_SECRETS_CONTROLLER_NAME: &str = "SEALED_SECRETS_CONTROLLER_NAME";

/// `seal render`: `sealed` forces SealedSecret output (`--output`).
pub const SEAL_RENDER_OUTPUT: &str = "SEAL_RENDER_OUTPUT";
/// `seal render`: certificate for sealed output (`--cert`).
pub const SEAL_RENDER_CERT: &str = "SEAL_RENDER_CERT";
/// `seal render`: files must lie below this directory (`--root`).
pub const SEAL_RENDER_ROOT: &str = "SEAL_RENDER_ROOT";
/// Set by kustomize for exec plugins: the kustomization root.
pub const KUSTOMIZE_PLUGIN_CONFIG_ROOT: &str = "KUSTOMIZE_PLUGIN_CONFIG_ROOT";
/// KSOPS's limit on files decrypted at once.
pub const KSOPS_CONCURRENCY_LIMIT: &str = "KSOPS_CONCURRENCY_LIMIT";
/// Set by Argo CD for plugins: the application's destination namespace.
pub const ARGOCD_APP_NAMESPACE: &str = "ARGOCD_APP_NAMESPACE";
/// Set by Argo CD for plugins: the application's path inside the repository.
pub const ARGOCD_APP_SOURCE_PATH: &str = "ARGOCD_APP_SOURCE_PATH";
/// helm-secrets: the helm binary `seal helm` runs (default `helm`).
pub const HELM_SECRETS_HELM_PATH: &str = "HELM_SECRETS_HELM_PATH";
/// helm-secrets: the kubectl binary for `secrets+age-import-kubernetes://`.
pub const HELM_SECRETS_KUBECTL_PATH: &str = "HELM_SECRETS_KUBECTL_PATH";
/// Set by helm for plugins: the helm binary that runs them.
pub const HELM_BIN: &str = "HELM_BIN";
