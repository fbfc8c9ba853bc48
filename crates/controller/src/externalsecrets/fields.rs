//! Fields kept but not supported. sealkit's CRDs keep every field External Secrets Operator's
//! CRDs accept (a test compares them with the property paths of ESO v2.9.0's generated CRDs,
//! `tests/conformance/eso/`), but its types model only what it implements. A field the types do
//! not model is never dropped silently: deserializing a spec records its path
//! ([`UnsupportedFields`]), and the object's `Ready` condition names it.
//!
//! A spec type opts in with `#[serde(remote = "Self")]` (its derived impls become inherent
//! functions) and [`track_unsupported_fields!`], which wraps them in the `serde` traits with
//! `serde_ignored` watching. A known ESO field sealkit does not implement is declared as
//! [`Unsupported<T>`]: its schema (`T`'s) is in the CRD, and its presence is recorded like any
//! other unmodelled field.

use std::marker::PhantomData;

/// The fields of one spec that sealkit's types do not model, as paths such as
/// `spec.syncWindows` or `spec.provider.vault.tls`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnsupportedFields(Vec<String>);

impl UnsupportedFields {
    /// The recorded paths, in document order.
    pub fn paths(&self) -> &[String] {
        &self.0
    }

    /// Whether every field present is modelled.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `a, b and c` for a condition message.
    pub fn list(&self) -> String {
        match self.0.as_slice() {
            [] => String::new(),
            [one] => one.clone(),
            [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
        }
    }

    #[doc(hidden)]
    pub fn from_paths(paths: Vec<String>) -> Self {
        Self(paths)
    }
}

/// A field ESO defines and sealkit does not implement: the CRD carries `T`'s schema, and
/// deserializing skips the value and records its path (the value is never read, so it is not
/// serialized back either: declare the field `#[serde(default, skip_serializing)]`).
pub struct Unsupported<T>(PhantomData<fn() -> T>);

impl<T> Unsupported<T> {
    /// The marker of a field that was present.
    pub fn present() -> Self {
        Self(PhantomData)
    }
}

impl<T> Clone for Unsupported<T> {
    fn clone(&self) -> Self {
        Self::present()
    }
}

impl<T> std::fmt::Debug for Unsupported<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Unsupported")
    }
}

impl<T> PartialEq for Unsupported<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T> Eq for Unsupported<T> {}

impl<'de, T> serde::Deserialize<'de> for Unsupported<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // `serde_ignored` reports every `deserialize_ignored_any` with its path.
        d.deserialize_ignored_any(serde::de::IgnoredAny)?;
        Ok(Self::present())
    }
}

impl<T: schemars::JsonSchema> schemars::JsonSchema for Unsupported<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> std::borrow::Cow<'static, str> {
        T::schema_id()
    }

    fn inline_schema() -> bool {
        T::inline_schema()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

/// `prefix.a.b[0].c` for a path `serde_ignored` reports (options and newtypes are transparent).
pub fn field_path(prefix: &str, path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    fn walk(path: &Path<'_>, out: &mut String) {
        match path {
            Path::Root => {}
            Path::Seq { parent, index } => {
                walk(parent, out);
                out.push_str(&format!("[{index}]"));
            }
            Path::Map { parent, key } => {
                walk(parent, out);
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Path::Some { parent }
            | Path::NewtypeStruct { parent }
            | Path::NewtypeVariant { parent } => walk(parent, out),
        }
    }
    let mut out = prefix.to_owned();
    walk(path, &mut out);
    out
}

/// Implements `Deserialize` (recording unmodelled fields into the type's `unsupported` field,
/// under `$prefix`) and `Serialize` for a type declared with `#[serde(remote = "Self")]`.
macro_rules! track_unsupported_fields {
    ($ty:ident, $prefix:literal) => {
        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let mut found = Vec::new();
                let mut record = |path: ::serde_ignored::Path<'_>| {
                    found.push($crate::externalsecrets::fields::field_path($prefix, &path));
                };
                let mut value =
                    $ty::deserialize(::serde_ignored::Deserializer::new(d, &mut record))?;
                value.unsupported =
                    $crate::externalsecrets::fields::UnsupportedFields::from_paths(found);
                Ok(value)
            }
        }

        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                $ty::serialize(self, s)
            }
        }
    };
}
pub(crate) use track_unsupported_fields;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, serde::Serialize, Default, Debug)]
    #[serde(remote = "Self", rename_all = "camelCase")]
    struct Spec {
        #[serde(default)]
        name: String,
        #[serde(default)]
        items: Vec<Item>,
        #[serde(default)]
        inner: Option<Item>,
        #[serde(default, skip_serializing)]
        known_but_unsupported: Option<Unsupported<String>>,
        #[serde(skip)]
        unsupported: UnsupportedFields,
    }
    track_unsupported_fields!(Spec, "spec");

    #[derive(serde::Deserialize, serde::Serialize, Default, Debug)]
    struct Item {
        #[serde(default)]
        key: String,
    }

    #[test]
    fn every_unmodelled_field_is_named_with_its_path() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "name": "x",
            "knownButUnsupported": "y",
            "items": [{"key": "a"}, {"key": "b", "extra": {"deep": 1}}],
            "inner": {"key": "c", "other": true},
            "typo": 1,
        }))
        .unwrap();
        assert_eq!(spec.name, "x");
        assert!(spec.known_but_unsupported.is_some());
        assert_eq!(
            spec.unsupported.paths(),
            [
                "spec.knownButUnsupported",
                "spec.items[1].extra",
                "spec.inner.other",
                "spec.typo"
            ]
        );
        assert_eq!(
            spec.unsupported.list(),
            "spec.knownButUnsupported, spec.items[1].extra, spec.inner.other and spec.typo"
        );
        let clean: Spec = serde_json::from_value(serde_json::json!({"name": "x"})).unwrap();
        assert!(clean.unsupported.is_empty());
        assert_eq!(
            serde_json::to_value(&clean).unwrap(),
            serde_json::json!({"name": "x", "items": [], "inner": null})
        );
    }
}
