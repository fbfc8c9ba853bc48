//! Builders for unit tests: `sealed_secret().label("app", "web").build()`.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use sealer::sealed::{SealedSecret, SealedSecretSpec, SecretTemplateSpec};

/// Builder of a SealedSecret `team-a/db` with uid `uid-1` and one item.
pub struct SealedSecretBuilder {
    ss: SealedSecret,
}

/// Starts a builder.
pub fn sealed_secret() -> SealedSecretBuilder {
    let mut ss = SealedSecret::new(
        "db",
        SealedSecretSpec {
            encrypted_data: BTreeMap::from([("username".to_owned(), "AgBold".to_owned())]),
            template: Some(SecretTemplateSpec::default()),
            data: None,
        },
    );
    ss.metadata.namespace = Some("team-a".into());
    ss.metadata.uid = Some("uid-1".into());
    ss.metadata.generation = Some(1);
    SealedSecretBuilder { ss }
}

impl SealedSecretBuilder {
    fn template_meta(&mut self) -> &mut sealer::sealed::ObjectMeta {
        self.ss
            .spec
            .template
            .get_or_insert_with(Default::default)
            .metadata
            .get_or_insert_with(Default::default)
    }

    /// Adds a template label.
    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.template_meta().labels.insert(k.into(), v.into());
        self
    }

    /// Adds a template annotation.
    pub fn template_annotation(mut self, k: &str, v: &str) -> Self {
        self.template_meta().annotations.insert(k.into(), v.into());
        self
    }

    /// Adds a top-level annotation.
    pub fn annotation(mut self, k: &str, v: &str) -> Self {
        self.ss
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(k.into(), v.into());
        self
    }

    /// Sets the template type.
    pub fn type_(mut self, t: &str) -> Self {
        self.ss
            .spec
            .template
            .get_or_insert_with(Default::default)
            .type_ = Some(t.into());
        self
    }

    /// Sets an encrypted item.
    pub fn item(mut self, k: &str, v: &str) -> Self {
        self.ss.spec.encrypted_data.insert(k.into(), v.into());
        self
    }

    /// The object.
    pub fn build(self) -> SealedSecret {
        self.ss
    }
}

/// A Secret `team-a/db` nobody owns.
pub fn existing_secret(items: &[(&str, &str)]) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some("db".into()),
            namespace: Some("team-a".into()),
            resource_version: Some("7".into()),
            ..ObjectMeta::default()
        },
        data: Some(
            items
                .iter()
                .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        type_: Some("Opaque".into()),
        ..Secret::default()
    }
}
