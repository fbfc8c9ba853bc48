//! Sealing scopes and the OAEP label each one binds.
//!
//! Bitnami `EncryptionLabel` / `SecretScope`: strict binds `"<namespace>/<name>"`, namespace-wide
//! binds `"<namespace>"`, cluster-wide binds the empty label. The scope is read only from the
//! object's own top-level annotations, compared exactly to `"true"`; cluster-wide wins when both
//! are set. A template never widens it.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use super::Error;

/// Annotation that makes a Secret/SealedSecret cluster-wide.
pub const CLUSTER_WIDE_ANNOTATION: &str = "sealedsecrets.bitnami.com/cluster-wide";
/// Annotation that makes a Secret/SealedSecret namespace-wide.
pub const NAMESPACE_WIDE_ANNOTATION: &str = "sealedsecrets.bitnami.com/namespace-wide";

/// Which names a sealed value may be decrypted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Scope {
    /// Only this name in this namespace (the default).
    #[default]
    Strict,
    /// Any name in this namespace.
    NamespaceWide,
    /// Any name in any namespace.
    ClusterWide,
}

impl Scope {
    /// Reads the scope from annotations exactly as Bitnami does (`== "true"`, cluster-wide wins).
    pub fn from_annotations(annotations: &BTreeMap<String, String>) -> Self {
        let is_true = |key: &str| annotations.get(key).is_some_and(|v| v == "true");
        if is_true(CLUSTER_WIDE_ANNOTATION) {
            Self::ClusterWide
        } else if is_true(NAMESPACE_WIDE_ANNOTATION) {
            Self::NamespaceWide
        } else {
            Self::Strict
        }
    }

    /// Rewrites the scope annotations so that [`Scope::from_annotations`] yields `self`.
    pub fn write_annotations(self, annotations: &mut BTreeMap<String, String>) {
        annotations.remove(CLUSTER_WIDE_ANNOTATION);
        annotations.remove(NAMESPACE_WIDE_ANNOTATION);
        match self {
            Self::Strict => {}
            Self::NamespaceWide => {
                annotations.insert(NAMESPACE_WIDE_ANNOTATION.into(), "true".into());
            }
            Self::ClusterWide => {
                annotations.insert(CLUSTER_WIDE_ANNOTATION.into(), "true".into());
            }
        }
    }

    /// The OAEP label for an object called `name` in `namespace` under this scope.
    pub fn label(self, namespace: &str, name: &str) -> Label {
        match self {
            Self::Strict => Label(format!("{namespace}/{name}").into_bytes()),
            Self::NamespaceWide => Label(namespace.as_bytes().to_vec()),
            Self::ClusterWide => Label(Vec::new()),
        }
    }

    /// The name used on the command line and in docs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Strict => "strict",
            Self::NamespaceWide => "namespace-wide",
            Self::ClusterWide => "cluster-wide",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "strict" | "" => Ok(Self::Strict),
            "namespace-wide" => Ok(Self::NamespaceWide),
            "cluster-wide" => Ok(Self::ClusterWide),
            other => Err(Error::UnknownScope(other.to_owned())),
        }
    }
}

/// The RSA-OAEP label that binds a sealed value to its name/namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label(Vec<u8>);

impl Label {
    /// The label bytes (empty for cluster-wide).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn labels_match_bitnami_encryption_label_table() {
        assert_eq!(
            Scope::Strict.label("myns", "myname").as_bytes(),
            b"myns/myname"
        );
        assert_eq!(
            Scope::NamespaceWide.label("myns", "myname").as_bytes(),
            b"myns"
        );
        assert_eq!(Scope::ClusterWide.label("myns", "myname").as_bytes(), b"");
    }

    #[test]
    fn only_the_exact_string_true_widens_the_scope() {
        assert_eq!(
            Scope::from_annotations(&annotations(&[(CLUSTER_WIDE_ANNOTATION, "True")])),
            Scope::Strict
        );
        assert_eq!(
            Scope::from_annotations(&annotations(&[(NAMESPACE_WIDE_ANNOTATION, "yes")])),
            Scope::Strict
        );
    }

    #[test]
    fn cluster_wide_wins_when_both_annotations_are_set() {
        let both = annotations(&[
            (CLUSTER_WIDE_ANNOTATION, "true"),
            (NAMESPACE_WIDE_ANNOTATION, "true"),
        ]);
        assert_eq!(Scope::from_annotations(&both), Scope::ClusterWide);
    }

    #[test]
    fn written_annotations_read_back_as_the_same_scope() {
        for scope in [Scope::Strict, Scope::NamespaceWide, Scope::ClusterWide] {
            let mut ann = annotations(&[(CLUSTER_WIDE_ANNOTATION, "true")]);
            scope.write_annotations(&mut ann);
            assert_eq!(Scope::from_annotations(&ann), scope);
            assert_eq!(scope.as_str().parse::<Scope>().unwrap(), scope);
        }
    }
}
