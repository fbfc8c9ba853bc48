//! The environment master keys read: a snapshot taken once, so tests can hand in their own.
//!
//! Every value is kept as a [`SecretString`] (tokens and keys live in these variables);
//! `Debug` prints the variable names only.

use std::collections::BTreeMap;
use std::path::PathBuf;

use secrecy::{ExposeSecret as _, SecretString};

/// Prefixes (and names) of the variables a snapshot keeps from the process environment.
const KEPT: &[&str] = &[
    "SOPS_",
    "VAULT_",
    "AWS_",
    "GOOGLE_",
    "GCE_METADATA_",
    "AZURE_",
    "IDENTITY_",
    "IMDS_ENDPOINT",
    "MSI_",
    "GNUPGHOME",
    "HOME",
    "CLOUDSDK_CONFIG",
];

/// A snapshot of the variables master keys read (`VAULT_TOKEN`, `AWS_*`, `GOOGLE_*`,
/// `GCE_METADATA_*`, `AZURE_*`, managed identity's `IDENTITY_*`/`IMDS_ENDPOINT`/`MSI_*`,
/// `GNUPGHOME`, `SOPS_*`, `HOME`).
#[derive(Clone, Default)]
pub struct KeyEnv {
    vars: BTreeMap<String, SecretString>,
}

impl std::fmt::Debug for KeyEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEnv")
            .field("vars", &self.vars.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl KeyEnv {
    /// The relevant variables of the process environment.
    pub fn from_process() -> Self {
        Self::from_vars(std::env::vars_os().filter_map(|(k, v)| {
            let k = k.into_string().ok()?;
            let v = v.into_string().ok()?;
            KEPT.iter().any(|p| k.starts_with(p)).then_some((k, v))
        }))
    }

    /// Exactly these variables (tests).
    pub fn from_vars<K: Into<String>, V: Into<String>>(
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: vars
                .into_iter()
                .map(|(k, v)| (k.into(), SecretString::from(v.into())))
                .collect(),
        }
    }

    /// Adds or replaces one variable.
    pub fn set(&mut self, name: &str, value: &str) {
        self.vars
            .insert(name.to_owned(), SecretString::from(value.to_owned()));
    }

    /// A variable, `None` when unset or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(|v| v.expose_secret())
            .filter(|v| !v.is_empty())
    }

    /// Every variable, by name.
    pub fn vars(&self) -> impl Iterator<Item = (&str, &SecretString)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// A variable as a secret, `None` when unset or empty.
    pub fn secret(&self, name: &str) -> Option<SecretString> {
        self.get(name).map(|v| SecretString::from(v.to_owned()))
    }

    /// `$HOME`.
    pub fn home(&self) -> Option<PathBuf> {
        self.get("HOME").map(PathBuf::from)
    }

    /// The key kinds tried first when opening a key group (`SOPS_DECRYPTION_ORDER`,
    /// comma-separated; sops's default `age,pgp`). Kinds not listed follow in file order.
    pub fn decryption_order(&self) -> Vec<String> {
        match self.get("SOPS_DECRYPTION_ORDER") {
            Some(order) => order
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_owned)
                .collect(),
            None => vec!["age".to_owned(), "pgp".to_owned()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_count_as_unset_and_debug_shows_names_only() {
        let env = KeyEnv::from_vars([("VAULT_TOKEN", "s.secret"), ("AWS_PROFILE", "")]);
        assert_eq!(env.get("VAULT_TOKEN"), Some("s.secret"));
        assert_eq!(env.get("AWS_PROFILE"), None);
        let debug = format!("{env:?}");
        assert!(
            debug.contains("VAULT_TOKEN") && !debug.contains("s.secret"),
            "{debug}"
        );
    }

    #[test]
    fn decryption_order_defaults_to_age_then_pgp() {
        assert_eq!(KeyEnv::default().decryption_order(), ["age", "pgp"]);
        let env = KeyEnv::from_vars([("SOPS_DECRYPTION_ORDER", "hc_vault, age")]);
        assert_eq!(env.decryption_order(), ["hc_vault", "age"]);
    }
}
