//! The `external-secrets.io/v1` kinds the bridge serves: `ExternalSecret`, `SecretStore` and
//! `ClusterSecretStore`, with the fields users write most (external-secrets
//! `apis/externalsecrets/v1/externalsecret_types.go`, `secretstore_types.go` and the
//! `secretstore_{vault,aws,kubernetes,webhook,fake}_types.go` files).
//!
//! Field names and enum values are ESO's. Unlike ESO's generated CRDs, no optional field has a
//! server-side default: defaults are applied in code, so what a user applies is what the API
//! server stores and GitOps tools see no drift (external-secrets#6398, #6797).
//! Every field ESO's CRDs accept is kept (a test compares the schemas with ESO v2.9.0's): a
//! field sealkit does not implement is declared as [`Unsupported`] or kept under
//! `x-kubernetes-preserve-unknown-fields`, and [`super::fields`] records it so the object's
//! `Ready` condition names it instead of it being pruned away or ignored.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::fields::{Unsupported, UnsupportedFields, track_unsupported_fields};

/// `ExternalSecret.spec`.
// Several `printcolumn(...)` entries look like duplicated attributes to clippy.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(remote = "Self")]
#[kube(
    group = "external-secrets.io",
    version = "v1",
    kind = "ExternalSecret",
    namespaced,
    status = "ExternalSecretStatus",
    shortname = "es",
    category = "external-secrets",
    label("external-secrets.io/component", "controller"),
    printcolumn(
        name = "StoreType",
        type_ = "string",
        json_path = ".spec.secretStoreRef.kind"
    ),
    printcolumn(
        name = "Store",
        type_ = "string",
        json_path = ".spec.secretStoreRef.name"
    ),
    printcolumn(
        name = "Refresh Interval",
        type_ = "string",
        json_path = ".spec.refreshInterval"
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Last Sync", type_ = "date", json_path = ".status.refreshTime")
)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretSpec {
    /// The store to read from (`kind` defaults to `SecretStore`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_store_ref: Option<SecretStoreRef>,
    /// The Secret to write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<ExternalSecretTarget>,
    /// `CreatedOnce`, `Periodic` (unset) or `OnChange`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_policy: Option<RefreshPolicy>,
    /// Go duration between fetches (`1h0m0s` when unset; `0s` fetches once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_interval: Option<String>,
    /// One Secret key per remote value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<ExternalSecretData>,
    /// Many keys at once: every property of one remote secret, every secret found, or the
    /// output of a generator.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_from: Vec<ExternalSecretDataFromRemoteRef>,
    /// Time windows that allow or deny refreshes: not supported by sealkit (kept, and named in
    /// the `Ready` condition).
    #[serde(default, skip_serializing)]
    pub sync_windows: Option<Unsupported<SyncWindows>>,
    /// Fields present that sealkit does not model (named in the `Ready` condition).
    #[serde(skip)]
    #[schemars(skip)]
    pub unsupported: UnsupportedFields,
}
track_unsupported_fields!(ExternalSecretSpec, "spec");

/// `spec.syncWindows` (ESO 2.x): kept for the schema, not supported.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct SyncWindows {
    /// `allow` or `deny`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The windows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<SyncWindow>,
}

/// One `syncWindows.windows[]` entry.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct SyncWindow {
    /// Cron schedule (UTC) of the window's start.
    #[serde(default)]
    pub schedule: String,
    /// Go duration of the window.
    #[serde(default)]
    pub duration: String,
}

/// `secretStoreRef` / `sourceRef.storeRef`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretStoreRef {
    /// Name of the store.
    #[serde(default)]
    pub name: String,
    /// `SecretStore` (unset) or `ClusterSecretStore`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<StoreKind>,
}

/// The two store kinds.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum StoreKind {
    /// A namespaced store, usable from its own namespace.
    #[default]
    SecretStore,
    /// A cluster-wide store, usable from the namespaces its `conditions` allow.
    ClusterSecretStore,
}

impl std::fmt::Display for StoreKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::SecretStore => "SecretStore",
            Self::ClusterSecretStore => "ClusterSecretStore",
        })
    }
}

/// `spec.refreshPolicy`.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum RefreshPolicy {
    /// Fetch once, when the Secret is first created.
    CreatedOnce,
    /// Fetch every `refreshInterval`.
    Periodic,
    /// Fetch when the ExternalSecret's spec, labels or annotations change.
    OnChange,
}

/// `spec.target`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretTarget {
    /// Secret name (defaults to the ExternalSecret's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `Owner` (unset), `Orphan`, `Merge`, `CreateOrMerge` or `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_policy: Option<CreationPolicy>,
    /// `Retain` (unset), `Delete` or `Merge`: what happens when the remote data is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
    /// How the Secret is built from the fetched values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<ExternalSecretTemplate>,
    /// Write the Secret as `immutable: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
    /// A generic target (another kind than Secret): not supported by sealkit (kept, and named
    /// in the `Ready` condition).
    #[serde(default, skip_serializing)]
    pub manifest: Option<Unsupported<TargetManifest>>,
}

/// `target.manifest`: kept for the schema, not supported.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetManifest {
    /// API version of the target kind.
    #[serde(default)]
    pub api_version: String,
    /// The target kind.
    #[serde(default)]
    pub kind: String,
}

/// `target.creationPolicy`.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum CreationPolicy {
    /// Create the Secret and own it (it goes when the ExternalSecret goes).
    #[default]
    Owner,
    /// Create or update the Secret without an owner reference.
    Orphan,
    /// Only merge keys into an existing Secret.
    Merge,
    /// Never write the Secret.
    None,
    /// Create the Secret if missing, else merge keys into it; no owner reference.
    CreateOrMerge,
}

/// `target.deletionPolicy`.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Keep the Secret when the remote data is gone (and report an error).
    #[default]
    Retain,
    /// Delete the Secret when every remote value is gone.
    Delete,
    /// Drop the keys whose remote value is gone.
    Merge,
}

/// `target.template`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretTemplate {
    /// Secret `type`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// Only `v2` exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_version: Option<String>,
    /// Labels and annotations of the Secret (values are templates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<TemplateMetadata>,
    /// `Replace` (unset: only the template's keys) or `Merge` (fetched keys too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_policy: Option<TemplateMergePolicy>,
    /// Secret key → template text.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    /// More templates, applied in order before `data`: kept in ConfigMaps or Secrets of the
    /// ExternalSecret's namespace, or written inline.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub template_from: Vec<TemplateFrom>,
}

/// One `template.templateFrom[]` entry: a `configMap`, a `secret` or a `literal`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateFrom {
    /// Templates kept in a ConfigMap of the ExternalSecret's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<TemplateRef>,
    /// Templates kept in a Secret of the ExternalSecret's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<TemplateRef>,
    /// `Data` (unset), `Annotations` or `Labels` (any case): where the output goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// One template rendering a YAML map of keys to values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub literal: Option<String>,
    /// How each rendered value is decoded (`None` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_decoding_strategy: Option<DecodingStrategy>,
}

/// `templateFrom[].configMap` / `templateFrom[].secret`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct TemplateRef {
    /// Name of the ConfigMap or Secret.
    #[serde(default)]
    pub name: String,
    /// The keys to use.
    #[serde(default)]
    pub items: Vec<TemplateRefItem>,
}

/// One `templateFrom[].configMap.items[]` entry.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateRefItem {
    /// Key of the ConfigMap or Secret.
    #[serde(default)]
    pub key: String,
    /// `Values` (unset: the key names the output, its value is the template) or
    /// `KeysAndValues` (the value renders a YAML map of outputs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_as: Option<TemplateScope>,
}

/// `templateAs`.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum TemplateScope {
    /// The key names the output; its value is the template.
    #[default]
    Values,
    /// The value is a template rendering a YAML map of outputs.
    KeysAndValues,
}

/// `template.metadata`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateMetadata {
    /// Annotations of the Secret.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Labels of the Secret.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Finalizers of the Secret.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
}

/// `template.mergePolicy`.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum TemplateMergePolicy {
    /// The Secret holds only the template's keys.
    #[default]
    Replace,
    /// The Secret holds the fetched keys, overridden by the template's.
    Merge,
}

/// One `spec.data[]` entry.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretData {
    /// Key in the Secret.
    pub secret_key: String,
    /// Where the value comes from.
    pub remote_ref: RemoteRef,
    /// Another store for this entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<StoreSourceRef>,
}

/// `sourceRef`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoreSourceRef {
    /// The store to read this entry from.
    #[serde(default, rename = "storeRef", skip_serializing_if = "Option::is_none")]
    pub store_ref: Option<SecretStoreRef>,
    /// A generator whose output becomes the values (`dataFrom[]` only; sealkit implements
    /// the `Password` generator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_ref: Option<GeneratorRef>,
}

/// `sourceRef.generatorRef`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GeneratorRef {
    /// `generators.external-secrets.io/v1alpha1` (also when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// The generator kind (`Password`).
    #[serde(default)]
    pub kind: String,
    /// Name of the generator, in the ExternalSecret's namespace.
    #[serde(default)]
    pub name: String,
}

/// `remoteRef` / `dataFrom[].extract`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemoteRef {
    /// The remote secret's name or path.
    pub key: String,
    /// A property of the remote value (exact key first, then a gjson path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
    /// A version of the remote value (provider-specific).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `None` (unset) or `Fetch` (read metadata instead of the value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_policy: Option<MetadataPolicy>,
    /// `Default` (unset) or `Unicode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion_strategy: Option<ConversionStrategy>,
    /// `None` (unset), `Base64`, `Base64URL` or `Auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoding_strategy: Option<DecodingStrategy>,
    /// `Ignore` (unset) or `Fail`: what to do with values holding NUL bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub null_byte_policy: Option<NullBytePolicy>,
}

/// `metadataPolicy`.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum MetadataPolicy {
    /// Read the value.
    #[default]
    None,
    /// Read the remote secret's metadata (tags, labels, custom metadata).
    Fetch,
}

/// `conversionStrategy`.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ConversionStrategy {
    /// Keys with characters a Secret key cannot hold get them replaced by `_`.
    #[default]
    Default,
    /// Such characters become `_U<hex>_`.
    Unicode,
}

/// `decodingStrategy`.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DecodingStrategy {
    /// Take the value as it is.
    #[default]
    None,
    /// Standard base64.
    Base64,
    /// URL-safe base64.
    #[serde(rename = "Base64URL")]
    Base64Url,
    /// Base64 or base64url when the value decodes, else as it is.
    Auto,
}

/// `nullBytePolicy`.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum NullBytePolicy {
    /// Accept NUL bytes.
    #[default]
    Ignore,
    /// Fail the sync.
    Fail,
}

/// One `spec.dataFrom[]` entry: exactly one of `extract` or `find`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretDataFromRemoteRef {
    /// Every property of one remote secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<RemoteRef>,
    /// Every remote secret matching a name or tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub find: Option<ExternalSecretFind>,
    /// Key rewrites, applied in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rewrite: Vec<ExternalSecretRewrite>,
    /// Another store for this entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<StoreSourceRef>,
}

/// `dataFrom[].find`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretFind {
    /// Root path to search under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Match names against a regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<FindName>,
    /// Match tags (labels, custom metadata) exactly.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// How keys are made valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion_strategy: Option<ConversionStrategy>,
    /// How values are decoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoding_strategy: Option<DecodingStrategy>,
    /// What to do with values holding NUL bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub null_byte_policy: Option<NullBytePolicy>,
}

/// `find.name`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct FindName {
    /// Regular expression (RE2 syntax as far as the `regex` crate shares it).
    #[serde(default)]
    pub regexp: String,
}

/// One `dataFrom[].rewrite[]` operation.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretRewrite {
    /// Replace every match of `source` in each key by `target` (`$1`, `${name}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regexp: Option<RewriteRegexp>,
    /// Rewrite each key with a template (`.value` is the key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<RewriteTransform>,
    /// Merging rewrites are not supported by sealkit (an error names it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
    pub merge: Option<serde_json::Value>,
}

/// `rewrite[].regexp`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct RewriteRegexp {
    /// Regular expression.
    pub source: String,
    /// Replacement.
    pub target: String,
}

/// `rewrite[].transform`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct RewriteTransform {
    /// Template; `.value` is the key.
    pub template: String,
}

/// `ExternalSecret.status`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretStatus {
    /// When the values were last fetched and written (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_time: Option<String>,
    /// `<generation>-<hash of labels and annotations>` of the last sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced_resource_version: Option<String>,
    /// `Ready`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The Secret written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<Binding>,
}

/// `status.binding`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct Binding {
    /// Secret name.
    #[serde(default)]
    pub name: String,
}

/// A status condition (ExternalSecret and stores).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// CamelCase reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human message: never a secret value or a credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When `status` last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

/// `SecretStore.spec` (and, flattened, `ClusterSecretStore.spec`).
// Several `printcolumn(...)` entries look like duplicated attributes to clippy.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(remote = "Self")]
#[kube(
    group = "external-secrets.io",
    version = "v1",
    kind = "SecretStore",
    namespaced,
    status = "SecretStoreStatus",
    shortname = "ss",
    category = "external-secrets",
    label("external-secrets.io/component", "controller"),
    printcolumn(
        name = "AGE",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "Capabilities",
        type_ = "string",
        json_path = ".status.capabilities"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct SecretStoreSpec {
    /// Controller class: stores naming another class are left to that controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<String>,
    /// The provider (exactly one key).
    pub provider: StoreProvider,
    /// HTTP retries (accepted; sealkit retries through the reconcile backoff).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
    pub retry_settings: Option<serde_json::Value>,
    /// How often the store is validated: int seconds or Go duration (5m when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "int_or_string")]
    pub refresh_interval: Option<serde_json::Value>,
    /// ClusterSecretStore only: namespaces allowed to use it (none set: every namespace;
    /// else any condition admitting).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ClusterSecretStoreCondition>,
    /// Fields present that sealkit does not model (named in the `Ready` condition).
    #[serde(skip)]
    #[schemars(skip)]
    pub unsupported: UnsupportedFields,
}
track_unsupported_fields!(SecretStoreSpec, "spec");

fn int_or_string(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "x-kubernetes-int-or-string": true })
}

/// `ClusterSecretStore.spec`: the same fields as a SecretStore's.
// Several `printcolumn(...)` entries look like duplicated attributes to clippy.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "external-secrets.io",
    version = "v1",
    kind = "ClusterSecretStore",
    status = "SecretStoreStatus",
    shortname = "css",
    category = "external-secrets",
    label("external-secrets.io/component", "controller"),
    printcolumn(
        name = "AGE",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "Capabilities",
        type_ = "string",
        json_path = ".status.capabilities"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    )
)]
#[serde(transparent)]
pub struct ClusterSecretStoreSpec {
    /// The store's fields.
    pub store: SecretStoreSpec,
}

/// `conditions[]` of a ClusterSecretStore. A condition admits a namespace when its selector
/// matches the namespace's labels, or it lists the name, or one of its regexes matches the name
/// anywhere (Go's `regexp.MatchString`: anchor with `^…$`); an empty condition admits none.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSecretStoreCondition {
    /// Namespaces whose labels match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Namespaces by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Namespaces whose name contains a match of one of these regular expressions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespace_regexes: Vec<String>,
}

/// A Kubernetes label selector.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// Labels that must be present with these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// Set-based requirements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One `matchExpressions` entry.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct LabelSelectorRequirement {
    /// Label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists`, `DoesNotExist`.
    pub operator: String,
    /// Values for `In`/`NotIn`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// `SecretStore.status`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretStoreStatus {
    /// `Ready`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// `ReadOnly` for every provider sealkit implements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<String>,
}

/// `spec.provider`: one of the providers sealkit implements; other ESO providers are kept as
/// written and reported as unsupported.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct StoreProvider {
    /// HashiCorp Vault / OpenBao KV.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault: Option<VaultProvider>,
    /// AWS Secrets Manager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsProvider>,
    /// Secrets of a Kubernetes cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<KubernetesProvider>,
    /// A generic HTTP JSON API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookProvider>,
    /// Static data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fake: Option<FakeProvider>,
    /// GCP Secret Manager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcpsm: Option<GcpsmProvider>,
    /// Azure Key Vault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azurekv: Option<AzureKvProvider>,
    /// Every other provider key, kept so the status can name it.
    #[serde(flatten)]
    #[schemars(skip)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// A reference to one key of a Secret (`esmeta.SecretKeySelector`).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct SecretKeySelector {
    /// Secret name.
    #[serde(default)]
    pub name: String,
    /// Secret namespace: ClusterSecretStore only (default: the ExternalSecret's namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Key in the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// A reference to a ServiceAccount (`esmeta.ServiceAccountSelector`).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ServiceAccountSelector {
    /// ServiceAccount name.
    pub name: String,
    /// Namespace: ClusterSecretStore only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Token audiences.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
}

/// `provider.vault`. ESO's fields sealkit does not implement yet (`tls`, `checkAndSet`,
/// `readYourWrites`, `forwardInconsistent`) are kept and named in the store's `Ready` condition.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct VaultProvider {
    /// `https://vault.example.com:8200`.
    pub server: String,
    /// KV mount path (`secret`); without it the key's first segment is the mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `v2` (unset) or `v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<VaultKvVersion>,
    /// Vault namespace (`X-Vault-Namespace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// PEM CA bundle (base64 in YAML) for an https server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<String>,
    /// The CA bundle from a Secret or ConfigMap (`caBundle` wins when both are set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_provider: Option<CaProvider>,
    /// Extra request headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// How to log in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<VaultAuth>,
}

/// `vault.version`.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum VaultKvVersion {
    /// KV version 1.
    #[serde(rename = "v1")]
    V1,
    /// KV version 2.
    #[default]
    #[serde(rename = "v2")]
    V2,
}

/// `vault.auth`: one method.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct VaultAuth {
    /// Namespace to log in to (defaults to the provider's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// A token read from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_secret_ref: Option<SecretKeySelector>,
    /// AppRole login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_role: Option<VaultAppRole>,
    /// Kubernetes ServiceAccount login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<VaultKubernetesAuth>,
    /// Username and password login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_pass: Option<VaultUserPassAuth>,
    /// JWT/OIDC login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<VaultJwtAuth>,
    /// TLS client certificate login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<VaultCertAuth>,
    /// Other methods (ldap, iam, gcp): reported as unsupported.
    #[serde(flatten)]
    #[schemars(skip)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// `auth.appRole`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultAppRole {
    /// Mount path (`approle` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Role ID inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_id: Option<String>,
    /// Role ID from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_ref: Option<SecretKeySelector>,
    /// Secret ID from a Secret.
    pub secret_ref: SecretKeySelector,
}

/// `auth.kubernetes`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultKubernetesAuth {
    /// Mount path (`kubernetes` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_path: Option<String>,
    /// Vault role.
    pub role: String,
    /// A ServiceAccount JWT in a Secret (`token` key when unset). With neither this nor
    /// `serviceAccountRef` the store is refused: the controller's own token never leaves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeySelector>,
    /// A ServiceAccount whose token is requested with the TokenRequest API (audiences as
    /// listed, 10 minutes); wins over `secretRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_ref: Option<ServiceAccountSelector>,
}

/// `auth.userPass`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultUserPassAuth {
    /// Mount path (`userpass` when empty).
    #[serde(default)]
    pub path: String,
    /// The user name.
    #[serde(default)]
    pub username: String,
    /// The password, from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeySelector>,
}

/// `auth.jwt`: a JWT from a Secret, or a TokenRequest token of a ServiceAccount.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultJwtAuth {
    /// Mount path (`jwt` when empty).
    #[serde(default)]
    pub path: String,
    /// Vault role (the mount's `default_role` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The JWT, from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeySelector>,
    /// A ServiceAccount whose token is requested for the login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_service_account_token: Option<VaultServiceAccountToken>,
}

/// `auth.jwt.kubernetesServiceAccountToken`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultServiceAccountToken {
    /// The ServiceAccount (its `audiences` come first).
    pub service_account_ref: ServiceAccountSelector,
    /// Audiences (deprecated in ESO; `["vault"]` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audiences: Option<Vec<String>>,
    /// Token lifetime (deprecated in ESO; 600 when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_seconds: Option<i64>,
}

/// `auth.cert`: a TLS client certificate, presented on every call to the server.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultCertAuth {
    /// Mount path (`cert` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The certificate role to log in as (any matching one when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault_role: Option<String>,
    /// The PEM client certificate (key `tls.crt` when unset).
    #[serde(default)]
    pub client_cert: SecretKeySelector,
    /// The PEM private key (key `tls.key` when unset).
    #[serde(default)]
    pub secret_ref: SecretKeySelector,
}

/// `provider.aws`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct AwsProvider {
    /// `SecretsManager` or `ParameterStore` (`CertificateManager` is refused).
    pub service: String,
    /// Region, such as `eu-west-1`.
    pub region: String,
    /// Static credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AwsAuth>,
    /// Prefix added to every key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Role assumed last, with `externalID` and the session tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Roles assumed in order before `role` (role chaining).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_roles: Vec<String>,
    /// `ExternalId` of the `role` AssumeRole.
    #[serde(
        default,
        rename = "externalID",
        skip_serializing_if = "Option::is_none"
    )]
    pub external_id: Option<String>,
    /// Session tags of the `role` AssumeRole.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub session_tags: Vec<AwsTag>,
    /// Session tag keys passed on to chained sessions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transitive_tag_keys: Vec<String>,
}

/// A session tag.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct AwsTag {
    /// Tag key.
    pub key: String,
    /// Tag value.
    pub value: String,
}

/// `aws.auth`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct AwsAuth {
    /// Access keys from Secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<AwsAuthSecretRef>,
    /// Web identity (IRSA): a TokenRequest token of a ServiceAccount exchanged with
    /// `AssumeRoleWithWebIdentity` for its `eks.amazonaws.com/role-arn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<AwsJwtAuth>,
}

/// `aws.auth.jwt`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsJwtAuth {
    /// The ServiceAccount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_ref: Option<ServiceAccountSelector>,
}

/// `aws.auth.secretRef`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct AwsAuthSecretRef {
    /// Access key ID.
    #[serde(default, rename = "accessKeyIDSecretRef")]
    pub access_key_id: SecretKeySelector,
    /// Secret access key.
    #[serde(default, rename = "secretAccessKeySecretRef")]
    pub secret_access_key: SecretKeySelector,
    /// Session token of temporary credentials.
    #[serde(
        default,
        rename = "sessionTokenSecretRef",
        skip_serializing_if = "Option::is_none"
    )]
    pub session_token: Option<SecretKeySelector>,
}

/// `provider.kubernetes`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesProvider {
    /// The API server (`kubernetes.default` when unset, as ESO's CRD default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<KubernetesServer>,
    /// How to authenticate to `server`: exactly one method, always required (sealkit never
    /// lends its own identity to a store).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<KubernetesAuth>,
    /// A kubeconfig in a Secret: not supported by sealkit (an error names it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_ref: Option<SecretKeySelector>,
    /// Namespace to read Secrets from (`default` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_namespace: Option<String>,
}

/// `kubernetes.server`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesServer {
    /// API server URL (`https://` is assumed when it names no scheme).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// PEM CA bundle (base64 in YAML).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<String>,
    /// The CA bundle from a Secret or ConfigMap (`caBundle` wins when both are set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_provider: Option<CaProvider>,
}

/// `kubernetes.auth`: exactly one of `token`, `cert` or `serviceAccount`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesAuth {
    /// A bearer token from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<KubernetesTokenAuth>,
    /// A client certificate and key from Secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<KubernetesCertAuth>,
    /// A ServiceAccount whose token is requested with the TokenRequest API (in the store's
    /// namespace for a SecretStore).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<ServiceAccountSelector>,
}

/// `kubernetes.auth.token`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesTokenAuth {
    /// The token.
    pub bearer_token: SecretKeySelector,
}

/// `kubernetes.auth.cert`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesCertAuth {
    /// PEM client certificate.
    pub client_cert: SecretKeySelector,
    /// PEM private key of the certificate.
    pub client_key: SecretKeySelector,
}

/// `provider.gcpsm` (external-secrets `secretstore_gcpsm_types.go`). Unmodelled ESO fields
/// (`auth.workloadIdentityFederation`) are kept and named in the store's `Ready` condition.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct GcpsmProvider {
    /// The project holding the secrets (else `workloadIdentity.clusterProjectID`).
    #[serde(default, rename = "projectID", skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// Region of regional secrets (`projects/P/locations/L/secrets/S`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// `LatestOrFail` (unset) or `LatestOrFetch` (a disabled `latest` falls back to the
    /// newest enabled version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_version_selection_policy: Option<String>,
    /// How to authenticate (none: the bridge's own Google identity, ClusterSecretStores only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<GcpsmAuth>,
}

/// `gcpsm.auth`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct GcpsmAuth {
    /// A service account key JSON in a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<GcpsmSecretRef>,
    /// GKE Workload Identity for a Kubernetes ServiceAccount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_identity: Option<GcpWorkloadIdentity>,
    /// Workload Identity Federation with a Kubernetes ServiceAccount token (`serviceAccountRef`;
    /// `credConfig` and `awsSecurityCredentials` are kept and named as unsupported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_identity_federation: Option<GcpWorkloadIdentityFederation>,
}

/// `gcpsm.auth.workloadIdentityFederation`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct GcpWorkloadIdentityFederation {
    /// The ServiceAccount whose token is exchanged (its audiences are the token's, as ESO).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_ref: Option<ServiceAccountSelector>,
    /// The workload identity pool provider
    /// (`//iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/P/providers/R`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// A Google service account to impersonate (else the ServiceAccount's
    /// `iam.gke.io/gcp-service-account` annotation, else none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcp_service_account_email: Option<String>,
}

/// `gcpsm.auth.secretRef`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GcpsmSecretRef {
    /// The key holding the service account JSON.
    #[serde(default)]
    pub secret_access_key_secret_ref: SecretKeySelector,
}

/// `gcpsm.auth.workloadIdentity`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GcpWorkloadIdentity {
    /// The ServiceAccount whose token is exchanged (annotation `iam.gke.io/gcp-service-account`
    /// names the Google service account to impersonate).
    pub service_account_ref: ServiceAccountSelector,
    /// The cluster's location (else the metadata server's `cluster-location`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_location: Option<String>,
    /// The cluster's name (else the metadata server's `cluster-name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// The cluster's project (else the metadata server's `project-id`).
    #[serde(
        default,
        rename = "clusterProjectID",
        skip_serializing_if = "Option::is_none"
    )]
    pub cluster_project_id: Option<String>,
}

/// `provider.azurekv` (external-secrets `secretstore_azurekv_types.go`). Unmodelled ESO fields
/// (`customCloudConfig`) are kept and named in the store's `Ready` condition.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct AzureKvProvider {
    /// `https://<name>.vault.azure.net`.
    pub vault_url: String,
    /// `ServicePrincipal` (unset), `ManagedIdentity` or `WorkloadIdentity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_type: Option<AzureAuthType>,
    /// The Entra ID tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The cloud (`PublicCloud` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment_type: Option<AzureEnvironment>,
    /// Service principal credentials (and WorkloadIdentity's client and tenant IDs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_secret_ref: Option<AzureKvAuth>,
    /// WorkloadIdentity: the ServiceAccount whose token is the client assertion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_ref: Option<ServiceAccountSelector>,
    /// ManagedIdentity: a user-assigned identity's client ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_id: Option<String>,
    /// ESO's choice of Go SDK; sealkit always speaks the v2.0 token endpoint.
    #[serde(
        default,
        rename = "useAzureSDK",
        skip_serializing_if = "Option::is_none"
    )]
    pub use_azure_sdk: Option<bool>,
}

/// `azurekv.authType`.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum AzureAuthType {
    /// A client secret or certificate from Secrets.
    #[default]
    ServicePrincipal,
    /// The bridge's own managed identity (ClusterSecretStores only).
    ManagedIdentity,
    /// A ServiceAccount token as a federated client assertion.
    WorkloadIdentity,
}

/// `azurekv.environmentType`.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum AzureEnvironment {
    /// `login.microsoftonline.com`, `vault.azure.net`.
    #[default]
    PublicCloud,
    /// `login.microsoftonline.us`, `vault.usgovcloudapi.net`.
    USGovernmentCloud,
    /// `login.chinacloudapi.cn`, `vault.azure.cn`.
    ChinaCloud,
    /// `login.microsoftonline.de`, `vault.microsoftazure.de`.
    GermanCloud,
    /// Needs `customCloudConfig`: not supported by sealkit.
    AzureStackCloud,
}

/// `azurekv.authSecretRef`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AzureKvAuth {
    /// The client (application) ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<SecretKeySelector>,
    /// The client secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<SecretKeySelector>,
    /// A PEM client certificate with its key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<SecretKeySelector>,
    /// The tenant ID (wins over `tenantId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<SecretKeySelector>,
}

/// `caProvider`: a CA bundle kept in a Secret or a ConfigMap.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct CaProvider {
    /// `Secret` or `ConfigMap`.
    #[serde(rename = "type")]
    pub type_: CaProviderType,
    /// Name of the object.
    pub name: String,
    /// Key holding the PEM bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Namespace: ClusterSecretStore only, and required there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// `caProvider.type`.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum CaProviderType {
    /// A key of a Secret.
    #[default]
    Secret,
    /// A key of a ConfigMap.
    ConfigMap,
}

/// `provider.webhook`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookProvider {
    /// URL template (`{{ .remoteRef.key }}`).
    pub url: String,
    /// HTTP method (`GET` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Header templates.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Body template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Go duration (ESO's default when unset: none; sealkit: 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// How to pick the value out of the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<WebhookResult>,
    /// Secrets made available to the templates as `.<name>.<key>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<WebhookSecret>,
    /// PEM CA bundle (base64 in YAML).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<String>,
    /// The CA bundle from a Secret or ConfigMap (`caBundle` wins when both are set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_provider: Option<CaProvider>,
    /// NTLM authentication: not supported by sealkit (kept, and named in the store's `Ready`
    /// condition).
    #[serde(default, skip_serializing)]
    pub auth: Option<Unsupported<WebhookAuth>>,
}

/// `webhook.auth`: kept for the schema, not supported.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct WebhookAuth {
    /// NTLM credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ntlm: Option<WebhookNtlm>,
}

/// `webhook.auth.ntlm`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookNtlm {
    /// The user name.
    #[serde(default)]
    pub username_secret: SecretKeySelector,
    /// The password.
    #[serde(default)]
    pub password_secret: SecretKeySelector,
}

/// `webhook.result`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookResult {
    /// JSONPath into the answer (`$.data.value`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_path: Option<String>,
}

/// `webhook.secrets[]`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSecret {
    /// Name in the templates.
    pub name: String,
    /// The Secret (every key of it is available; `key` is ignored).
    pub secret_ref: SecretKeySelector,
}

/// `provider.fake`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FakeProvider {
    /// The values.
    #[serde(default)]
    pub data: Vec<FakeProviderData>,
    /// Force the store's validation result: 0 ready, 1 unknown, 2 error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_result: Option<u8>,
}

/// `fake.data[]`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct FakeProviderData {
    /// Key.
    pub key: String,
    /// Value (a JSON object for `dataFrom.extract`).
    pub value: String,
    /// Version; an entry with a version only answers requests for that version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}
