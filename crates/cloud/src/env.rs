//! An environment snapshot: the variables credential lookups read, taken once.

use std::collections::{BTreeMap, HashMap};

use sealer::sops::master_keys::KeyEnv;
use secrecy::{ExposeSecret as _, SecretString};

/// Variables by name, each held as a secret (tokens and keys live in them). `Debug` prints
/// the names only.
#[derive(Clone, Default)]
pub struct EnvSnapshot {
    vars: BTreeMap<String, SecretString>,
}

impl std::fmt::Debug for EnvSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvSnapshot")
            .field("vars", &self.vars.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl EnvSnapshot {
    /// Exactly these variables.
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

    /// A variable, `None` when unset or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(|v| v.expose_secret())
            .filter(|v| !v.is_empty())
    }

    /// Adds or replaces one variable.
    pub fn set(&mut self, name: &str, value: &str) {
        self.vars
            .insert(name.to_owned(), SecretString::from(value.to_owned()));
    }

    /// Removes one variable.
    pub fn remove(&mut self, name: &str) {
        self.vars.remove(name);
    }

    /// The variables as a plain map, for crates that take one (aws-config's `Env`).
    pub(crate) fn to_map(&self) -> HashMap<String, String> {
        self.vars
            .iter()
            .map(|(k, v)| (k.clone(), v.expose_secret().to_owned()))
            .collect()
    }
}

impl From<&KeyEnv> for EnvSnapshot {
    fn from(env: &KeyEnv) -> Self {
        Self::from_vars(env.vars().map(|(k, v)| (k, v.expose_secret())))
    }
}
