//! The SealedSecret (`bitnami.com/v1alpha1`) and Secret (`v1`) manifests as sealkit reads and
//! writes them.
//!
//! Field names and shapes follow bitnami-labs/sealed-secrets
//! `pkg/apis/sealedsecrets/v1alpha1/types.go`. Metadata keeps unknown fields, so nothing a user
//! wrote is lost on the way through. Secret values are held as [`SecretString`]s (zeroized,
//! redacted) and serialized only when explicitly written out.

use std::collections::BTreeMap;

use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// API version of a SealedSecret.
pub const SEALED_SECRET_API_VERSION: &str = "bitnami.com/v1alpha1";
/// Kind of a SealedSecret.
pub const SEALED_SECRET_KIND: &str = "SealedSecret";

/// Kubernetes object metadata; fields sealkit does not interpret stay in `extra`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// `metadata.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `metadata.namespace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `metadata.labels`.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations`.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub annotations: BTreeMap<String, String>,
    /// Every other metadata field, as written.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// `spec.template`: what the unsealed Secret looks like apart from its data.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecretTemplateSpec {
    /// Metadata copied onto the Secret (labels, annotations, finalizers…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ObjectMeta>,
    /// The Secret `type`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// Whether the Secret is immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
    /// Templated data: Go templates over the decrypted items (plain strings, not base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<BTreeMap<String, String>>,
}

/// `spec` of a SealedSecret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "crd", derive(kube::CustomResource))]
#[cfg_attr(feature = "crd", allow(clippy::duplicated_attributes))]
#[cfg_attr(
    feature = "crd",
    kube(
        group = "bitnami.com",
        version = "v1alpha1",
        kind = "SealedSecret",
        namespaced,
        status = "SealedSecretStatus",
        shortname = "sealedsecret",
        schema = "manual",
        printcolumn(
            name = "Status",
            type_ = "string",
            json_path = ".status.conditions[0].message"
        ),
        printcolumn(
            name = "Synced",
            type_ = "string",
            json_path = ".status.conditions[0].status"
        ),
        printcolumn(
            name = "Age",
            type_ = "date",
            json_path = ".metadata.creationTimestamp"
        )
    )
)]
#[serde(rename_all = "camelCase")]
pub struct SealedSecretSpec {
    /// One sealed blob (standard base64) per Secret item.
    #[serde(default, deserialize_with = "null_as_default")]
    pub encrypted_data: BTreeMap<String, String>,
    /// The Secret's metadata, type and templated data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<SecretTemplateSpec>,
    /// Legacy v1 format: the whole JSON Secret sealed as one blob (read, never written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

/// One status condition (`type: Synced`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type, `Synced`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `"True"`, `"False"` or `"Unknown"`.
    pub status: String,
    /// Last time the condition was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<String>,
    /// Last time `status` changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    /// Machine-readable reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable message (never a secret value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `status` of a SealedSecret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SealedSecretStatus {
    /// The `metadata.generation` the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions, `Synced` first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// sealkit: fingerprints (`SHA256:…`) of the sealing keys that opened its items when the
    /// controller last unsealed it (or found its Secret in sync); empty when none of the
    /// controller's keys opens it; absent when not recorded yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealing_keys: Option<Vec<String>>,
}

/// A whole SealedSecret object as found in a file.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SealedSecretManifest {
    /// `bitnami.com/v1alpha1`.
    pub api_version: String,
    /// `SealedSecret`.
    pub kind: String,
    /// Top-level metadata: name, namespace and the scope annotations.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The sealed data and the template.
    #[serde(default)]
    pub spec: SealedSecretSpec,
    /// Status, as the controller wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SealedSecretStatus>,
}

/// A Kubernetes `v1` Secret as found in a file, its values kept secret.
#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct SecretManifest {
    /// `v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `Secret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The Secret `type`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// Base64 values.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default",
        serialize_with = "expose_values"
    )]
    pub data: BTreeMap<String, SecretString>,
    /// Plain-text values (win over `data` on collision, as in Kubernetes).
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default",
        serialize_with = "expose_values"
    )]
    pub string_data: BTreeMap<String, SecretString>,
    /// Whether the Secret is immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
}

impl SecretManifest {
    /// Whether `kind` says Secret (or is absent, as kubeseal tolerates).
    pub fn is_secret_kind(&self) -> bool {
        self.kind.as_deref().is_none_or(|k| k == "Secret")
    }
}

fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

fn expose_values<S: Serializer>(
    values: &BTreeMap<String, SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(values.iter().map(|(k, v)| (k, v.expose_secret())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_metadata_fields_survive_a_round_trip() {
        let text = r#"{"name":"a","finalizers":["x"],"labels":null,"uid":"u"}"#;
        let meta: ObjectMeta = serde_json::from_str(text).unwrap();
        assert_eq!(meta.extra["finalizers"], serde_json::json!(["x"]));
        let back = serde_json::to_value(&meta).unwrap();
        assert_eq!(back["uid"], "u");
        assert!(back.get("labels").is_none());
    }

    #[test]
    fn secret_values_are_redacted_in_debug_but_written_on_serialize() {
        let secret: SecretManifest =
            serde_json::from_str(r#"{"kind":"Secret","stringData":{"k":"hunter2"}}"#).unwrap();
        assert!(!format!("{secret:?}").contains("hunter2"));
        assert!(serde_json::to_string(&secret).unwrap().contains("hunter2"));
    }
}
