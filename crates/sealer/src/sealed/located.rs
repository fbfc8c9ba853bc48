//! SealedSecrets found in a file's text, with the place of each `spec.encryptedData` value,
//! so that re-sealing replaces those values and leaves every other byte of the file as it was
//! (comments, key order, quoting, other documents).
//!
//! Objects are found where `kubectl` finds them: each YAML document or JSON value, the items
//! of a `kind: List`, and the elements of a top-level JSON array. An object is a SealedSecret
//! when its `kind` is `SealedSecret` and its `apiVersion` is in the `bitnami.com` group.
//!
//! [`LocatedSealedSecret::reseal`] decides per item: an item opened by the target key pair is
//! kept byte for byte; any other item that opens is sealed again for the target, under the
//! label its top-level metadata sets (scope from the top-level annotations only, as the
//! controller reads it).

use std::collections::BTreeMap;
use std::ops::Range;

use super::cipher;
use super::keypair::{PrivateKey, PublicKey};
use super::model::ObjectMeta;
use super::scope::Scope;
use super::{ConvertError, Error, ItemError};
use crate::encoding;
use crate::yaml::spanned::{self, Node};

/// One `spec.encryptedData` entry and where its text is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocatedItem {
    /// The item's key.
    pub key: String,
    /// The base64 blob as read.
    pub value: String,
    /// 1-based line of the value.
    pub line: usize,
    /// The bytes holding the value, when it can be replaced in place.
    pub text: Option<Range<usize>>,
}

/// A SealedSecret in a text.
#[derive(Debug, Clone, PartialEq)]
pub struct LocatedSealedSecret {
    /// 1-based line where the object starts (its first item, or `kind`, for messages).
    pub line: usize,
    /// Top-level name, namespace and annotations (what sets the label).
    pub metadata: ObjectMeta,
    /// `spec.encryptedData`, in file order.
    pub items: Vec<LocatedItem>,
    /// Whether it carries the legacy `spec.data` (whole Secret as one blob).
    pub legacy_data: bool,
}

/// What re-sealing one SealedSecret gives.
#[derive(Debug, Default)]
pub struct Resealed {
    /// Text edits: the range of an item's value and its new base64.
    pub edits: Vec<(Range<usize>, String)>,
    /// Items left as they were (already sealed for the target).
    pub kept: usize,
    /// Indices (into the keys given) of the keys that opened items, one per item, in order.
    pub opened_with: Vec<usize>,
}

impl LocatedSealedSecret {
    /// `namespace/name` for messages (`<no name>` when missing).
    pub fn display_name(&self) -> String {
        let name = self.metadata.name.as_deref().unwrap_or("<no name>");
        match self.metadata.namespace.as_deref() {
            Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
            _ => name.to_owned(),
        }
    }

    /// Re-seals the items for `target`: each item is opened with the first of `keys` that can;
    /// an item opened by `keys[target_index]` (the target's own private key, when the caller
    /// has it) is kept, every other one sealed again for `target` under the same label.
    ///
    /// Fails as a whole (nothing to apply) when any item does not open or cannot be replaced
    /// in place, naming the items, never a value.
    pub fn reseal(
        &self,
        keys: &[&PrivateKey],
        target: &PublicKey,
        target_index: Option<usize>,
    ) -> Result<Resealed, ConvertError> {
        if self.legacy_data {
            return Err(Error::LegacyDataInPlace.into());
        }
        let name = self
            .metadata
            .name
            .as_deref()
            .filter(|n| !n.is_empty())
            .ok_or(Error::MissingName)?;
        let namespace = self.metadata.namespace.as_deref().unwrap_or_default();
        let label = Scope::from_annotations(&self.metadata.annotations).label(namespace, name);
        let mut out = Resealed::default();
        let mut failures = Vec::new();
        for item in &self.items {
            let fail = |error| ItemError {
                item: item.key.clone(),
                error,
            };
            let Some(range) = item.text.clone() else {
                failures.push(fail(Error::NotInPlace));
                continue;
            };
            let opened = encoding::decode_std(&item.value)
                .map_err(Error::InvalidBase64)
                .and_then(|blob| cipher::open_indexed(keys, &label, &blob));
            let (index, plaintext) = match opened {
                Ok(opened) => opened,
                Err(error) => {
                    failures.push(fail(error));
                    continue;
                }
            };
            out.opened_with.push(index);
            if Some(index) == target_index {
                out.kept += 1;
                continue;
            }
            match cipher::seal(target, &label, plaintext.expose()) {
                Ok(blob) => out.edits.push((range, encoding::encode_std(&blob))),
                Err(error) => failures.push(fail(error)),
            }
        }
        if failures.is_empty() {
            Ok(out)
        } else {
            Err(ConvertError::Items(failures))
        }
    }
}

/// Finds every SealedSecret in `text` (YAML or JSON, several documents, `List`s).
pub fn locate(text: &str) -> Result<Vec<LocatedSealedSecret>, spanned::Error> {
    let mut found = Vec::new();
    for document in spanned::parse(text)? {
        collect(&document, &mut found, 0);
    }
    Ok(found)
}

/// Looks at one object, the items of a `List`, or the elements of an array.
fn collect(node: &Node, found: &mut Vec<LocatedSealedSecret>, depth: usize) {
    match node {
        // A List of Lists is as deep as kubectl goes.
        Node::Sequence(items) if depth < 2 => {
            for item in items {
                collect(item, found, depth + 1);
            }
        }
        Node::Mapping(_) => {
            let kind = node.get("kind").and_then(Node::as_str);
            if kind == Some("List") && depth < 2 {
                if let Some(items) = node.get("items") {
                    collect(items, found, depth + 1);
                }
            } else if kind == Some(super::model::SEALED_SECRET_KIND)
                && node
                    .get("apiVersion")
                    .and_then(Node::as_str)
                    .is_some_and(|v| v.starts_with("bitnami.com/"))
            {
                found.push(located(node));
            }
        }
        _ => {}
    }
}

fn located(node: &Node) -> LocatedSealedSecret {
    let metadata = node.get("metadata");
    let field = |name: &str| {
        metadata
            .and_then(|m| m.get(name))
            .and_then(Node::as_str)
            .map(str::to_owned)
    };
    let annotations: BTreeMap<String, String> = metadata
        .and_then(|m| m.get("annotations"))
        .map(|a| {
            a.entries()
                .iter()
                .filter_map(|(k, v)| Some((k.clone()?, v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    let spec = node.get("spec");
    let items: Vec<LocatedItem> = spec
        .and_then(|s| s.get("encryptedData"))
        .map(|data| {
            data.entries()
                .iter()
                .filter_map(|(k, v)| {
                    let key = k.clone()?;
                    Some(match v.as_scalar() {
                        Some(s) => LocatedItem {
                            key,
                            value: s.value.clone(),
                            line: s.line,
                            text: s.text.clone(),
                        },
                        // An alias or a nested value: nothing to replace.
                        None => LocatedItem {
                            key,
                            value: String::new(),
                            line: 0,
                            text: None,
                        },
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let line = node
        .get("kind")
        .and_then(Node::as_scalar)
        .map_or(0, |s| s.line);
    LocatedSealedSecret {
        line,
        metadata: ObjectMeta {
            name: field("name"),
            namespace: field("namespace"),
            annotations,
            ..ObjectMeta::default()
        },
        items,
        legacy_data: spec.and_then(|s| s.get("data")).is_some_and(|d| {
            // `data: null` is no legacy payload.
            d.as_str()
                .is_none_or(|v| !v.is_empty() && v != "null" && v != "~")
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sealed::{Certificate, SealOptions, SecretManifest, seal_secret};
    use std::sync::LazyLock;

    static KEYS: LazyLock<Vec<PrivateKey>> = LazyLock::new(|| {
        (0..2)
            .map(|_| PrivateKey::generate(2048).unwrap())
            .collect()
    });

    fn blob(key: usize, ns: &str, name: &str, value: &str) -> String {
        let cert = Certificate::self_signed(&KEYS[key], time::Duration::days(1), "").unwrap();
        let secret: SecretManifest = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": ns},
            "stringData": {"v": value}
        }))
        .unwrap();
        seal_secret(&secret, cert.public_key(), &SealOptions::default())
            .unwrap()
            .spec
            .encrypted_data["v"]
            .clone()
    }

    fn open(key: usize, ns: &str, name: &str, b64: &str) -> Option<String> {
        let label = Scope::Strict.label(ns, name);
        let blob = encoding::decode_std(b64).ok()?;
        let pt = cipher::open(&[&KEYS[key]], &label, &blob).ok()?;
        Some(String::from_utf8(pt.expose().to_vec()).unwrap())
    }

    #[test]
    fn sealed_secrets_are_found_in_documents_and_lists_and_other_kinds_are_ignored() {
        let text = format!(
            "apiVersion: v1\nkind: Secret\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: bitnami.com/v1alpha1\n  kind: SealedSecret\n  metadata: {{name: a, namespace: n}}\n  spec:\n    encryptedData:\n      x: {}\n---\napiVersion: other.io/v1\nkind: SealedSecret\n",
            blob(0, "n", "a", "1")
        );
        let found = locate(&text).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].display_name(), "n/a");
        assert_eq!(found[0].items[0].key, "x");
        assert_eq!(found[0].items[0].line, 12);
    }

    #[test]
    fn items_for_the_target_are_kept_and_the_others_resealed_for_it() {
        let old = blob(0, "team", "db", "old-key");
        let current = blob(1, "team", "db", "new-key");
        let text = format!(
            "# comment stays\napiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: db\n  namespace: team\nspec:\n  encryptedData:\n    a: {old} # why\n    b: \"{current}\"\n"
        );
        let found = locate(&text).unwrap();
        let keys = [&KEYS[0], &KEYS[1]];
        let target = KEYS[1].public_key();
        let resealed = found[0].reseal(&keys, target, Some(1)).unwrap();
        assert_eq!(resealed.kept, 1);
        assert_eq!(resealed.opened_with, [0, 1]);
        let out = spanned::replace(&text, resealed.edits);
        let again = locate(&out).unwrap();
        assert_eq!(
            open(1, "team", "db", &again[0].items[0].value).as_deref(),
            Some("old-key")
        );
        assert_eq!(again[0].items[1].value, current);
        // Only the value changed.
        assert_eq!(
            out.replace(&again[0].items[0].value, "X"),
            text.replace(&old, "X")
        );
    }

    #[test]
    fn an_item_no_key_opens_fails_the_whole_object_naming_the_item() {
        let text = format!(
            "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {{name: db, namespace: team}}\nspec:\n  encryptedData:\n    good: {}\n    bad: {}\n",
            blob(0, "team", "db", "1"),
            blob(1, "team", "db", "2")
        );
        let found = locate(&text).unwrap();
        let err = found[0]
            .reseal(&[&KEYS[0]], KEYS[0].public_key(), Some(0))
            .unwrap_err();
        assert_eq!(err.failed_items(), ["bad"]);
        assert!(!err.to_string().contains('2'), "{err}");
    }

    #[test]
    fn a_renamed_strict_sealed_secret_does_not_open() {
        let text = format!(
            "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {{name: other, namespace: team}}\nspec:\n  encryptedData:\n    v: {}\n",
            blob(0, "team", "db", "1")
        );
        let found = locate(&text).unwrap();
        assert!(
            found[0]
                .reseal(&[&KEYS[0]], KEYS[1].public_key(), None)
                .is_err()
        );
    }

    #[test]
    fn block_values_and_legacy_data_are_refused_in_place() {
        let text = "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: db, namespace: t}\nspec:\n  encryptedData:\n    v: |\n      AgB\n";
        let found = locate(text).unwrap();
        let err = found[0]
            .reseal(&[&KEYS[0]], KEYS[0].public_key(), None)
            .unwrap_err();
        assert!(err.to_string().contains("in place"), "{err}");
        let legacy = "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: db, namespace: t}\nspec:\n  data: AgB\n";
        let found = locate(legacy).unwrap();
        assert!(found[0].legacy_data);
        assert!(
            found[0]
                .reseal(&[&KEYS[0]], KEYS[0].public_key(), None)
                .is_err()
        );
    }
}
