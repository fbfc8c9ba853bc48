//! Secret → SealedSecret and SealedSecret → Secret.
//!
//! Follows kubeseal's `Seal` (pkg/kubeseal) and `NewSealedSecret` / `(*SealedSecret).Unseal`
//! (pkg/apis/sealedsecrets/v1alpha1/sealedsecret_expansion.go):
//! - sealing keeps the Secret's type, labels, annotations (minus the last-applied annotations,
//!   which hold the plaintext) and `immutable` in `spec.template`; `data` (base64) and
//!   `stringData` are both sealed, `stringData` winning on collision; the top-level metadata gets
//!   only name, namespace and the scope annotations;
//! - unsealing reads the scope from the SealedSecret's own top-level annotations (never the
//!   template's), opens every item, and reads the legacy `spec.data` format too.

use std::collections::{BTreeMap, BTreeSet};

use secrecy::{ExposeSecret as _, SecretString};

use super::cipher;
use super::keypair::{PrivateKey, PublicKey};
use super::model::{
    ObjectMeta, SEALED_SECRET_API_VERSION, SEALED_SECRET_KIND, SealedSecretManifest,
    SealedSecretSpec, SecretManifest, SecretTemplateSpec,
};
use super::scope::{CLUSTER_WIDE_ANNOTATION, NAMESPACE_WIDE_ANNOTATION, Scope};
use super::{ConvertError, Error, ItemError};
use crate::encoding;
use crate::secret::SecretBytes;
use crate::template::{Budget, Data, Limits, MissingKey, Template};

/// Annotations that carry the whole object, plaintext included; never sealed into a template.
const LAST_APPLIED_ANNOTATIONS: [&str; 2] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    "kubecfg.ksonnet.io/last-applied-configuration",
];

/// Server-populated metadata that must not travel into a template.
const SERVER_FIELDS: [&str; 8] = [
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

/// How to seal a Secret.
#[derive(Debug, Clone, Default)]
pub struct SealOptions {
    /// Scope to seal with; `None` reads it from the Secret's annotations.
    pub scope: Option<Scope>,
    /// Overrides the Secret's name.
    pub name: Option<String>,
    /// Namespace asked for explicitly; must agree with the Secret's own if it has one.
    pub namespace: Option<String>,
    /// Namespace for a Secret that has none and no explicit one was given.
    pub default_namespace: String,
    /// Allow a Secret without any data.
    pub allow_empty_data: bool,
}

/// Seals every item of `secret` for `key`.
pub fn seal_secret(
    secret: &SecretManifest,
    key: &PublicKey,
    options: &SealOptions,
) -> Result<SealedSecretManifest, ConvertError> {
    let target = SealTarget::new(secret, options)?;
    let items = secret_items(secret)?;
    if items.is_empty() && !options.allow_empty_data {
        return Err(Error::EmptySecret.into());
    }
    let mut encrypted_data = BTreeMap::new();
    for (item, plaintext) in items {
        let blob = target.seal_item(key, &item, plaintext.expose())?;
        encrypted_data.insert(item, encoding::encode_std(&blob));
    }
    Ok(target.manifest(secret, encrypted_data))
}

/// [`seal_secret`] that takes the Secret and lets go of each value once it is sealed: the
/// plaintext is never copied whole (a `stringData` value is sealed where it lies, a `data`
/// value is decoded once), so a large value costs its size, its blob and its base64.
pub fn seal_secret_owned(
    mut secret: SecretManifest,
    key: &PublicKey,
    options: &SealOptions,
) -> Result<SealedSecretManifest, ConvertError> {
    let target = SealTarget::new(&secret, options)?;
    let data = std::mem::take(&mut secret.data);
    let string_data = std::mem::take(&mut secret.string_data);
    if data.is_empty() && string_data.is_empty() && !options.allow_empty_data {
        return Err(Error::EmptySecret.into());
    }
    let mut encrypted_data = BTreeMap::new();
    let mut failures = Vec::new();
    for (item, value) in data {
        // `stringData` wins on collision, as in Kubernetes.
        if string_data.contains_key(&item) {
            continue;
        }
        match encoding::decode_std(value.expose_secret()) {
            Ok(bytes) => {
                drop(value);
                let bytes = SecretBytes::new(bytes);
                let blob = target.seal_item(key, &item, bytes.expose())?;
                drop(bytes);
                encrypted_data.insert(item, encoding::encode_std(&blob));
            }
            Err(e) => failures.push(ItemError {
                item,
                error: Error::InvalidDataBase64(e),
            }),
        }
    }
    if !failures.is_empty() {
        return Err(ConvertError::Items(failures));
    }
    for (item, value) in string_data {
        let blob = target.seal_item(key, &item, value.expose_secret().as_bytes())?;
        // The plaintext goes before its base64 blob is made.
        drop(value);
        encrypted_data.insert(item, encoding::encode_std(&blob));
    }
    Ok(target.manifest(&secret, encrypted_data))
}

/// Where a Secret is sealed to: its name, namespace, annotations and the label they make.
struct SealTarget {
    name: String,
    namespace: String,
    annotations: BTreeMap<String, String>,
    label: super::Label,
}

impl SealTarget {
    fn new(secret: &SecretManifest, options: &SealOptions) -> Result<Self, ConvertError> {
        let name = options
            .name
            .clone()
            .or_else(|| secret.metadata.name.clone())
            .filter(|n| !n.is_empty())
            .ok_or(Error::MissingName)?;
        let namespace = match (secret.metadata.namespace.as_deref(), &options.namespace) {
            (Some(input), Some(requested)) if !input.is_empty() && input != requested => {
                return Err(Error::NamespaceMismatch {
                    input: input.to_owned(),
                    requested: requested.clone(),
                }
                .into());
            }
            (Some(input), _) if !input.is_empty() => input.to_owned(),
            (_, Some(requested)) => requested.clone(),
            _ => options.default_namespace.clone(),
        };
        let mut annotations = secret.metadata.annotations.clone();
        for key in LAST_APPLIED_ANNOTATIONS {
            annotations.remove(key);
        }
        if let Some(scope) = options.scope {
            scope.write_annotations(&mut annotations);
        }
        let scope = Scope::from_annotations(&annotations);
        let label = scope.label(&namespace, &name);
        Ok(Self {
            name,
            namespace,
            annotations,
            label,
        })
    }

    /// Seals one item's plaintext into its blob.
    fn seal_item(
        &self,
        key: &PublicKey,
        item: &str,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, ConvertError> {
        cipher::seal(key, &self.label, plaintext).map_err(|error| {
            ConvertError::Items(vec![ItemError {
                item: item.to_owned(),
                error,
            }])
        })
    }

    fn manifest(
        self,
        secret: &SecretManifest,
        encrypted_data: BTreeMap<String, String>,
    ) -> SealedSecretManifest {
        let Self {
            name,
            namespace,
            annotations,
            ..
        } = self;
        let mut template_meta = secret.metadata.clone();
        template_meta.name = Some(name.clone());
        template_meta.namespace = Some(namespace.clone());
        template_meta.annotations = annotations.clone();
        template_meta.extra.remove("ownerReferences");
        for field in SERVER_FIELDS {
            template_meta.extra.remove(field);
        }

        let top_annotations = annotations
            .into_iter()
            .filter(|(k, _)| k == CLUSTER_WIDE_ANNOTATION || k == NAMESPACE_WIDE_ANNOTATION)
            .collect();
        SealedSecretManifest {
            api_version: SEALED_SECRET_API_VERSION.into(),
            kind: SEALED_SECRET_KIND.into(),
            metadata: ObjectMeta {
                name: Some(name),
                namespace: Some(namespace),
                annotations: top_annotations,
                ..ObjectMeta::default()
            },
            spec: SealedSecretSpec {
                encrypted_data,
                template: Some(SecretTemplateSpec {
                    metadata: Some(template_meta),
                    type_: secret.type_.clone().filter(|t| !t.is_empty()),
                    immutable: secret.immutable,
                    data: None,
                }),
                data: None,
            },
            status: None,
        }
    }
}

/// The plaintext items of a Secret: `data` (base64-decoded), then `stringData` over it.
pub fn secret_items(
    secret: &SecretManifest,
) -> Result<BTreeMap<String, SecretBytes>, ConvertError> {
    let mut items = BTreeMap::new();
    let mut failures = Vec::new();
    for (item, value) in &secret.data {
        match encoding::decode_std(value.expose_secret()) {
            Ok(bytes) => {
                items.insert(item.clone(), SecretBytes::new(bytes));
            }
            Err(e) => failures.push(ItemError {
                item: item.clone(),
                error: Error::InvalidDataBase64(e),
            }),
        }
    }
    if !failures.is_empty() {
        return Err(ConvertError::Items(failures));
    }
    for (item, value) in &secret.string_data {
        items.insert(
            item.clone(),
            SecretBytes::new(value.expose_secret().as_bytes().to_vec()),
        );
    }
    Ok(items)
}

/// Opens every item of a SealedSecret with `keys` and builds the Secret it stands for.
///
/// `metadata` is the SealedSecret's own top-level metadata: its name, namespace and scope
/// annotations form the label. The Secret takes the template's metadata, type and
/// `immutable`, with name and namespace forced to the SealedSecret's.
pub fn unseal(
    metadata: &ObjectMeta,
    spec: &SealedSecretSpec,
    keys: &[&PrivateKey],
) -> Result<SecretManifest, ConvertError> {
    unseal_reporting_keys(metadata, spec, keys).map(|(secret, _)| secret)
}

/// Like [`unseal`], and also returns the indices (into `keys`) of the keys that opened the
/// items, so the controller can record which keys a Secret depends on.
pub fn unseal_reporting_keys(
    metadata: &ObjectMeta,
    spec: &SealedSecretSpec,
    keys: &[&PrivateKey],
) -> Result<(SecretManifest, BTreeSet<usize>), ConvertError> {
    let mut keys_used = BTreeSet::new();
    let name = metadata
        .name
        .as_deref()
        .filter(|n| !n.is_empty())
        .ok_or(Error::MissingName)?;
    let namespace = metadata.namespace.as_deref().unwrap_or_default();
    let label = Scope::from_annotations(&metadata.annotations).label(namespace, name);

    let mut data: BTreeMap<String, SecretString> = BTreeMap::new();
    if let Some(legacy) = &spec.data {
        if !spec.encrypted_data.is_empty() {
            return Err(Error::BothDataFormats.into());
        }
        let blob = encoding::decode_std(legacy).map_err(Error::InvalidBase64)?;
        let (key, plaintext) = cipher::open_indexed(keys, &label, &blob)?;
        keys_used.insert(key);
        let legacy_secret: SecretManifest =
            serde_json::from_slice(plaintext.expose()).map_err(Error::InvalidLegacyData)?;
        data = legacy_secret.data;
    } else {
        let mut failures = Vec::new();
        for (item, value) in &spec.encrypted_data {
            let opened = encoding::decode_std(value)
                .map_err(Error::InvalidBase64)
                .and_then(|blob| cipher::open_indexed(keys, &label, &blob));
            match opened {
                Ok((key, plaintext)) => {
                    keys_used.insert(key);
                    data.insert(
                        item.clone(),
                        SecretString::from(encoding::encode_std(plaintext.expose())),
                    );
                }
                Err(error) => failures.push(ItemError {
                    item: item.clone(),
                    error,
                }),
            }
        }
        if !failures.is_empty() {
            return Err(ConvertError::Items(failures));
        }
    }

    let template = spec.template.clone().unwrap_or_default();
    if let Some(template_data) = &template.data {
        render_template_data(template_data, &mut data)?;
    }
    let mut secret_meta = template.metadata.unwrap_or_default();
    secret_meta.name = Some(name.to_owned());
    secret_meta.namespace = metadata.namespace.clone();
    let secret = SecretManifest {
        api_version: Some("v1".into()),
        kind: Some("Secret".into()),
        metadata: secret_meta,
        type_: template.type_,
        data,
        string_data: BTreeMap::new(),
        immutable: template.immutable,
    };
    Ok((secret, keys_used))
}

/// Renders `spec.template.data` into `data` as Bitnami's `Unseal` does (v0.37+): each value is
/// a Go text/template over the items (`.` = item name → string, a missing key prints
/// `<no value>`); plain template values are in `.` too unless an encrypted item has that name,
/// and encrypted items win over template items of the same name. Any failure fails the whole
/// unseal; errors name the item, never a value. All the templates of one SealedSecret share
/// one template [`Budget`], so a SealedSecret with many templates is bounded as a whole.
fn render_template_data(
    template_data: &BTreeMap<String, String>,
    data: &mut BTreeMap<String, SecretString>,
) -> Result<(), ConvertError> {
    let mut values: BTreeMap<String, SecretBytes> = BTreeMap::new();
    for (item, value) in data.iter() {
        let bytes =
            encoding::decode_std(value.expose_secret()).map_err(Error::InvalidDataBase64)?;
        values.insert(item.clone(), SecretBytes::new(bytes));
    }
    for (item, value) in template_data {
        values
            .entry(item.clone())
            .or_insert_with(|| SecretBytes::new(value.as_bytes().to_vec()));
    }
    let values = Data::new(&values);
    let mut budget = Budget::new(Limits::default());
    let mut failures = Vec::new();
    for (item, source) in template_data {
        if data.contains_key(item) {
            continue;
        }
        let rendered = Template::parse(source)
            .map(|t| t.missing_key(MissingKey::NoValue))
            .and_then(|t| t.execute(&values, &mut budget));
        match rendered {
            Ok(bytes) => {
                data.insert(
                    item.clone(),
                    SecretString::from(encoding::encode_std(bytes.expose())),
                );
            }
            Err(e) => {
                // Once the shared budget is spent every later item fails the same way: one
                // error says it.
                let spent = matches!(e, crate::template::Error::Limit { .. });
                failures.push(ItemError {
                    item: item.clone(),
                    error: Error::Template(e),
                });
                if spent {
                    break;
                }
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(ConvertError::Items(failures))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use super::*;

    static KEY: LazyLock<PrivateKey> = LazyLock::new(|| PrivateKey::generate(2048).unwrap());

    fn secret(yaml: &str) -> SecretManifest {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    fn options() -> SealOptions {
        SealOptions {
            default_namespace: "default".into(),
            ..SealOptions::default()
        }
    }

    fn plain(secret: &SecretManifest, item: &str) -> Vec<u8> {
        encoding::decode_std(secret.data[item].expose_secret()).unwrap()
    }

    const INPUT: &str = r#"
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: prod
  uid: 1234
  labels: {app: db}
  annotations:
    note: kept
    kubectl.kubernetes.io/last-applied-configuration: '{"stringData":{"password":"hunter2"}}'
type: kubernetes.io/basic-auth
immutable: true
data:
  username: YWRtaW4=
stringData:
  password: hunter2
"#;

    #[test]
    fn sealing_keeps_type_labels_annotations_and_immutable_in_the_template() {
        let sealed = seal_secret(&secret(INPUT), KEY.public_key(), &options()).unwrap();
        assert_eq!(sealed.metadata.name.as_deref(), Some("db"));
        assert_eq!(sealed.metadata.namespace.as_deref(), Some("prod"));
        assert!(sealed.metadata.annotations.is_empty());
        let template = sealed.spec.template.as_ref().unwrap();
        let meta = template.metadata.as_ref().unwrap();
        assert_eq!(meta.labels["app"], "db");
        assert_eq!(meta.annotations["note"], "kept");
        assert!(!meta.annotations.contains_key(LAST_APPLIED_ANNOTATIONS[0]));
        assert!(!meta.extra.contains_key("uid"));
        assert_eq!(template.type_.as_deref(), Some("kubernetes.io/basic-auth"));
        assert_eq!(template.immutable, Some(true));
        let json = serde_json::to_string(&sealed).unwrap();
        assert!(!json.contains("hunter2"));
    }

    #[test]
    fn unsealing_restores_the_secret() {
        let sealed = seal_secret(&secret(INPUT), KEY.public_key(), &options()).unwrap();
        let back = unseal(&sealed.metadata, &sealed.spec, &[&KEY]).unwrap();
        assert_eq!(plain(&back, "username"), b"admin");
        assert_eq!(plain(&back, "password"), b"hunter2");
        assert_eq!(back.type_.as_deref(), Some("kubernetes.io/basic-auth"));
        assert_eq!(back.metadata.labels["app"], "db");
        assert_eq!(back.immutable, Some(true));
    }

    #[test]
    fn unsealing_reports_which_key_opened_the_items() {
        static OTHER: LazyLock<PrivateKey> = LazyLock::new(|| PrivateKey::generate(2048).unwrap());
        let sealed = seal_secret(&secret(INPUT), KEY.public_key(), &options()).unwrap();
        let (back, used) =
            unseal_reporting_keys(&sealed.metadata, &sealed.spec, &[&OTHER, &KEY]).unwrap();
        assert_eq!(plain(&back, "username"), b"admin");
        assert_eq!(used, BTreeSet::from([1]));
    }

    fn templated(template_data: &[(&str, &str)]) -> SealedSecretManifest {
        let mut sealed = seal_secret(&secret(INPUT), KEY.public_key(), &options()).unwrap();
        sealed.spec.template.as_mut().unwrap().data = Some(
            template_data
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
        sealed
    }

    #[test]
    fn template_data_renders_over_the_decrypted_items_and_plain_values() {
        let sealed = templated(&[
            (
                "url",
                "postgres://{{ .username }}:{{ index . \"password\" }}@{{ .host }}/x",
            ),
            ("host", "db.internal"),
            ("missing", "[{{ .nope }}]"),
            // Encrypted items win over template items of the same name.
            ("username", "overridden"),
        ]);
        let back = unseal(&sealed.metadata, &sealed.spec, &[&KEY]).unwrap();
        assert_eq!(
            plain(&back, "url"),
            b"postgres://admin:hunter2@db.internal/x"
        );
        assert_eq!(plain(&back, "host"), b"db.internal");
        assert_eq!(plain(&back, "missing"), b"[<no value>]");
        assert_eq!(plain(&back, "username"), b"admin");
    }

    #[test]
    fn a_template_that_fails_names_the_item_and_no_value() {
        let sealed = templated(&[("bad", "{{ .password | nosuchfunc }}")]);
        let err = unseal(&sealed.metadata, &sealed.spec, &[&KEY]).unwrap_err();
        assert_eq!(err.failed_items(), ["bad"]);
        let message = err.to_string();
        assert!(
            message.contains("template data did not render"),
            "{message}"
        );
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn sealing_an_owned_secret_gives_what_sealing_a_borrowed_one_gives() {
        let sealed = seal_secret_owned(secret(INPUT), KEY.public_key(), &options()).unwrap();
        let reference = seal_secret(&secret(INPUT), KEY.public_key(), &options()).unwrap();
        assert_eq!(sealed.metadata, reference.metadata);
        assert_eq!(sealed.spec.template, reference.spec.template);
        let back = unseal(&sealed.metadata, &sealed.spec, &[&KEY]).unwrap();
        assert_eq!(plain(&back, "username"), b"admin");
        assert_eq!(plain(&back, "password"), b"hunter2");

        let s = secret("metadata: {name: a}\ndata: {k: YQ==}\nstringData: {k: b}\n");
        let sealed = seal_secret_owned(s, KEY.public_key(), &options()).unwrap();
        let back = unseal(&sealed.metadata, &sealed.spec, &[&KEY]).unwrap();
        assert_eq!(plain(&back, "k"), b"b");

        let s = secret("metadata: {name: a}\ndata: {k: '%%', j: YQ==}\n");
        let err = seal_secret_owned(s, KEY.public_key(), &options()).unwrap_err();
        assert_eq!(err.failed_items(), ["k"]);
        let s = secret("metadata: {name: a}\n");
        let err = seal_secret_owned(s, KEY.public_key(), &options()).unwrap_err();
        assert!(matches!(err, ConvertError::Invalid(Error::EmptySecret)));
    }

    #[test]
    fn string_data_wins_over_data_on_collision() {
        let s = secret("metadata: {name: a}\ndata: {k: YQ==}\nstringData: {k: b}\n");
        let sealed = seal_secret(&s, KEY.public_key(), &options()).unwrap();
        let back = unseal(&sealed.metadata, &sealed.spec, &[&KEY]).unwrap();
        assert_eq!(plain(&back, "k"), b"b");
        assert_eq!(sealed.metadata.namespace.as_deref(), Some("default"));
    }

    #[test]
    fn strict_blob_fails_under_another_name_and_names_the_item() {
        let sealed = seal_secret(&secret(INPUT), KEY.public_key(), &options()).unwrap();
        let mut renamed = sealed.metadata.clone();
        renamed.name = Some("other".into());
        let err = unseal(&renamed, &sealed.spec, &[&KEY]).unwrap_err();
        assert_eq!(err.failed_items(), vec!["password", "username"]);
        assert!(
            err.to_string()
                .contains("sealed for a different name/namespace or scope")
        );
    }

    #[test]
    fn namespace_wide_blob_opens_under_any_name_in_its_namespace() {
        let opts = SealOptions {
            scope: Some(Scope::NamespaceWide),
            ..options()
        };
        let sealed = seal_secret(&secret(INPUT), KEY.public_key(), &opts).unwrap();
        assert_eq!(
            sealed.metadata.annotations[NAMESPACE_WIDE_ANNOTATION],
            "true"
        );
        let mut renamed = sealed.metadata.clone();
        renamed.name = Some("other".into());
        assert!(unseal(&renamed, &sealed.spec, &[&KEY]).is_ok());
        renamed.namespace = Some("elsewhere".into());
        assert!(unseal(&renamed, &sealed.spec, &[&KEY]).is_err());
    }

    #[test]
    fn template_annotations_never_widen_the_scope() {
        let sealed = seal_secret(&secret(INPUT), KEY.public_key(), &options()).unwrap();
        let mut spec = sealed.spec.clone();
        let meta = spec.template.as_mut().unwrap().metadata.as_mut().unwrap();
        meta.annotations
            .insert(CLUSTER_WIDE_ANNOTATION.into(), "true".into());
        let mut moved = sealed.metadata.clone();
        moved.namespace = Some("attacker".into());
        assert!(unseal(&moved, &spec, &[&KEY]).is_err());
    }

    #[test]
    fn namespace_mismatch_is_refused() {
        let opts = SealOptions {
            namespace: Some("dev".into()),
            ..options()
        };
        let err = seal_secret(&secret(INPUT), KEY.public_key(), &opts).unwrap_err();
        assert!(err.to_string().contains("namespace mismatch"));
    }

    #[test]
    fn empty_secret_is_refused_unless_allowed() {
        let s = secret("metadata: {name: a}\n");
        assert!(seal_secret(&s, KEY.public_key(), &options()).is_err());
        let opts = SealOptions {
            allow_empty_data: true,
            ..options()
        };
        assert!(seal_secret(&s, KEY.public_key(), &opts).is_ok());
    }

    #[test]
    fn legacy_spec_data_is_read() {
        let label = Scope::Strict.label("ns", "old");
        let inner = br#"{"apiVersion":"v1","kind":"Secret","data":{"k":"dg=="}}"#;
        let blob = cipher::seal(KEY.public_key(), &label, inner).unwrap();
        let spec = SealedSecretSpec {
            data: Some(encoding::encode_std(&blob)),
            ..SealedSecretSpec::default()
        };
        let meta = ObjectMeta {
            name: Some("old".into()),
            namespace: Some("ns".into()),
            ..ObjectMeta::default()
        };
        let back = unseal(&meta, &spec, &[&KEY]).unwrap();
        assert_eq!(plain(&back, "k"), b"v");
        let mut both = spec.clone();
        both.encrypted_data.insert("x".into(), "AAAA".into());
        assert!(matches!(
            unseal(&meta, &both, &[&KEY]),
            Err(ConvertError::Invalid(Error::BothDataFormats))
        ));
    }

    #[test]
    fn bad_base64_and_truncated_blobs_name_their_item() {
        let meta = ObjectMeta {
            name: Some("a".into()),
            namespace: Some("b".into()),
            ..ObjectMeta::default()
        };
        let mut spec = SealedSecretSpec::default();
        spec.encrypted_data.insert("bad".into(), "!!!".into());
        spec.encrypted_data.insert("short".into(), "AgA=".into());
        let err = unseal(&meta, &spec, &[&KEY]).unwrap_err().to_string();
        assert!(
            err.contains("item \"bad\": sealed data is not valid base64"),
            "{err}"
        );
        assert!(
            err.contains("item \"short\": sealed data is too short"),
            "{err}"
        );
    }
}
