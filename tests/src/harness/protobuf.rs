//! Request bodies in `application/vnd.kubernetes.protobuf`, as kubectl's typed clients send them
//! (`kubectl create namespace|secret|configmap|serviceaccount|role|rolebinding|clusterrole|
//! clusterrolebinding|token`, `kubectl auth can-i|whoami`). The answer stays JSON, which client-go
//! decodes by the response's Content-Type.
//!
//! Envelope (apimachinery `runtime/serializer/protobuf`): the 4 bytes `k8s\0`, then a
//! `runtime.Unknown` whose `typeMeta` names the kind and whose `raw` holds the object's message.
//! Messages are decoded with the kube-rs project's generated `k8s-pb` types and mapped to the JSON
//! the rest of the harness stores; a kind not listed here answers 415 as before.

use super::status::{ApiError, ApiResult};
use k8s_pb::api::authentication::v1 as authn;
use k8s_pb::api::authorization::v1 as authz;
use k8s_pb::api::core::v1 as core;
use k8s_pb::api::rbac::v1 as rbac;
use k8s_pb::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_pb::apimachinery::pkg::runtime::Unknown;
use prost::Message;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The content type.
pub(crate) const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

const MAGIC: &[u8] = b"k8s\0";

/// An object, built field by field; empty fields are left out, as `omitempty` does.
#[derive(Default)]
struct Obj(Map<String, Value>);

impl Obj {
    fn s(mut self, key: &str, v: &Option<String>) -> Self {
        if let Some(v) = v {
            self.0.insert(key.into(), json!(v));
        }
        self
    }

    fn list(mut self, key: &str, v: &[String]) -> Self {
        if !v.is_empty() {
            self.0.insert(key.into(), json!(v));
        }
        self
    }

    fn map(mut self, key: &str, v: &BTreeMap<String, String>) -> Self {
        if !v.is_empty() {
            self.0.insert(key.into(), json!(v));
        }
        self
    }

    fn v(mut self, key: &str, v: Option<Value>) -> Self {
        if let Some(v) = v {
            self.0.insert(key.into(), v);
        }
        self
    }

    fn done(self) -> Value {
        Value::Object(self.0)
    }
}

fn bool_opt(v: Option<bool>) -> Option<Value> {
    v.map(Value::Bool)
}

fn base64_map(m: &BTreeMap<String, Vec<u8>>) -> Option<Value> {
    use base64::Engine as _;
    (!m.is_empty()).then(|| {
        json!(
            m.iter()
                .map(|(k, v)| (
                    k.clone(),
                    base64::engine::general_purpose::STANDARD.encode(v)
                ))
                .collect::<BTreeMap<_, _>>()
        )
    })
}

fn object_meta(m: &Option<ObjectMeta>) -> Option<Value> {
    let m = m.as_ref()?;
    let owners: Vec<Value> = m
        .owner_references
        .iter()
        .map(|o| {
            Obj::default()
                .s("apiVersion", &o.api_version)
                .s("kind", &o.kind)
                .s("name", &o.name)
                .s("uid", &o.uid)
                .v("controller", bool_opt(o.controller))
                .v("blockOwnerDeletion", bool_opt(o.block_owner_deletion))
                .done()
        })
        .collect();
    Some(
        Obj::default()
            .s("name", &m.name)
            .s("generateName", &m.generate_name)
            .s("namespace", &m.namespace)
            .s("resourceVersion", &m.resource_version)
            .map("labels", &m.labels)
            .map("annotations", &m.annotations)
            .v(
                "ownerReferences",
                (!owners.is_empty()).then(|| json!(owners)),
            )
            .list("finalizers", &m.finalizers)
            .done(),
    )
}

fn rules(rules: &[rbac::PolicyRule]) -> Value {
    rules
        .iter()
        .map(|r| {
            Obj::default()
                .list("verbs", &r.verbs)
                .list("apiGroups", &r.api_groups)
                .list("resources", &r.resources)
                .list("resourceNames", &r.resource_names)
                .list("nonResourceURLs", &r.non_resource_ur_ls)
                .done()
        })
        .collect()
}

fn binding(subjects: &[rbac::Subject], role_ref: &Option<rbac::RoleRef>) -> (Value, Option<Value>) {
    let subjects = subjects
        .iter()
        .map(|s| {
            Obj::default()
                .s("kind", &s.kind)
                .s("apiGroup", &s.api_group)
                .s("name", &s.name)
                .s("namespace", &s.namespace)
                .done()
        })
        .collect();
    let role_ref = role_ref.as_ref().map(|r| {
        Obj::default()
            .s("apiGroup", &r.api_group)
            .s("kind", &r.kind)
            .s("name", &r.name)
            .done()
    });
    (subjects, role_ref)
}

fn resource_attributes(a: &Option<authz::ResourceAttributes>) -> Option<Value> {
    let a = a.as_ref()?;
    Some(
        Obj::default()
            .s("namespace", &a.namespace)
            .s("verb", &a.verb)
            .s("group", &a.group)
            .s("version", &a.version)
            .s("resource", &a.resource)
            .s("subresource", &a.subresource)
            .s("name", &a.name)
            .done(),
    )
}

fn non_resource_attributes(a: &Option<authz::NonResourceAttributes>) -> Option<Value> {
    let a = a.as_ref()?;
    Some(Obj::default().s("path", &a.path).s("verb", &a.verb).done())
}

fn access_review_spec(s: &Option<authz::SubjectAccessReviewSpec>) -> Value {
    let Some(s) = s else { return json!({}) };
    let extra: BTreeMap<&String, &Vec<String>> =
        s.extra.iter().map(|(k, v)| (k, &v.items)).collect();
    Obj::default()
        .v(
            "resourceAttributes",
            resource_attributes(&s.resource_attributes),
        )
        .v(
            "nonResourceAttributes",
            non_resource_attributes(&s.non_resource_attributes),
        )
        .s("user", &s.user)
        .list("groups", &s.groups)
        .v("extra", (!extra.is_empty()).then(|| json!(extra)))
        .s("uid", &s.uid)
        .done()
}

fn bad(kind: &str, e: prost::DecodeError) -> ApiError {
    ApiError::bad_request(format!("error decoding protobuf {kind}: {e}"))
}

fn decode<M: Message + Default>(kind: &str, raw: &[u8]) -> ApiResult<M> {
    M::decode(raw).map_err(|e| bad(kind, e))
}

/// The JSON object a protobuf request body carries.
pub(crate) fn to_json(body: &[u8]) -> ApiResult<Value> {
    let envelope = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| ApiError::bad_request("protobuf body without the k8s envelope"))?;
    let unknown = Unknown::decode(envelope).map_err(|e| bad("envelope", e))?;
    let tm = unknown.type_meta.unwrap_or_default();
    let api_version = tm.api_version.unwrap_or_default();
    let kind = tm.kind.unwrap_or_default();
    let raw = unknown.raw.unwrap_or_default();
    let k = kind.as_str();
    let obj = match (api_version.as_str(), k) {
        ("v1", "Namespace") => {
            let n: core::Namespace = decode(k, &raw)?;
            let spec = n
                .spec
                .map(|s| Obj::default().list("finalizers", &s.finalizers).done());
            Obj::default()
                .v("metadata", object_meta(&n.metadata))
                .v("spec", spec)
                .done()
        }
        ("v1", "Secret") => {
            let s: core::Secret = decode(k, &raw)?;
            Obj::default()
                .v("metadata", object_meta(&s.metadata))
                .v("immutable", bool_opt(s.immutable))
                .v("data", base64_map(&s.data))
                .map("stringData", &s.string_data)
                .s("type", &s.r#type)
                .done()
        }
        ("v1", "ConfigMap") => {
            let c: core::ConfigMap = decode(k, &raw)?;
            Obj::default()
                .v("metadata", object_meta(&c.metadata))
                .v("immutable", bool_opt(c.immutable))
                .map("data", &c.data)
                .v("binaryData", base64_map(&c.binary_data))
                .done()
        }
        ("v1", "ServiceAccount") => {
            let sa: core::ServiceAccount = decode(k, &raw)?;
            let pull: Vec<Value> = sa
                .image_pull_secrets
                .iter()
                .map(|r| Obj::default().s("name", &r.name).done())
                .collect();
            Obj::default()
                .v("metadata", object_meta(&sa.metadata))
                .v("imagePullSecrets", (!pull.is_empty()).then(|| json!(pull)))
                .v(
                    "automountServiceAccountToken",
                    bool_opt(sa.automount_service_account_token),
                )
                .done()
        }
        ("rbac.authorization.k8s.io/v1", "Role") => {
            let r: rbac::Role = decode(k, &raw)?;
            Obj::default()
                .v("metadata", object_meta(&r.metadata))
                .v("rules", Some(rules(&r.rules)))
                .done()
        }
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => {
            let r: rbac::ClusterRole = decode(k, &raw)?;
            Obj::default()
                .v("metadata", object_meta(&r.metadata))
                .v("rules", Some(rules(&r.rules)))
                .done()
        }
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => {
            let b: rbac::RoleBinding = decode(k, &raw)?;
            let (subjects, role_ref) = binding(&b.subjects, &b.role_ref);
            Obj::default()
                .v("metadata", object_meta(&b.metadata))
                .v("subjects", Some(subjects))
                .v("roleRef", role_ref)
                .done()
        }
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            let b: rbac::ClusterRoleBinding = decode(k, &raw)?;
            let (subjects, role_ref) = binding(&b.subjects, &b.role_ref);
            Obj::default()
                .v("metadata", object_meta(&b.metadata))
                .v("subjects", Some(subjects))
                .v("roleRef", role_ref)
                .done()
        }
        ("authentication.k8s.io/v1", "TokenRequest") => {
            let t: authn::TokenRequest = decode(k, &raw)?;
            let spec = t.spec.unwrap_or_default();
            let bound = spec.bound_object_ref.map(|b| {
                Obj::default()
                    .s("kind", &b.kind)
                    .s("apiVersion", &b.api_version)
                    .s("name", &b.name)
                    .s("uid", &b.u_id)
                    .done()
            });
            let spec = Obj::default()
                .list("audiences", &spec.audiences)
                .v(
                    "expirationSeconds",
                    spec.expiration_seconds.map(|s| json!(s)),
                )
                .v("boundObjectRef", bound)
                .done();
            Obj::default()
                .v("metadata", object_meta(&t.metadata))
                .v("spec", Some(spec))
                .done()
        }
        ("authentication.k8s.io/v1", "TokenReview") => {
            let t: authn::TokenReview = decode(k, &raw)?;
            let spec = t.spec.unwrap_or_default();
            let spec = Obj::default()
                .s("token", &spec.token)
                .list("audiences", &spec.audiences)
                .done();
            Obj::default()
                .v("metadata", object_meta(&t.metadata))
                .v("spec", Some(spec))
                .done()
        }
        ("authentication.k8s.io/v1", "SelfSubjectReview") => {
            let r: authn::SelfSubjectReview = decode(k, &raw)?;
            Obj::default()
                .v("metadata", object_meta(&r.metadata))
                .done()
        }
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => {
            let r: authz::SelfSubjectAccessReview = decode(k, &raw)?;
            let spec = r.spec.unwrap_or_default();
            let spec = Obj::default()
                .v(
                    "resourceAttributes",
                    resource_attributes(&spec.resource_attributes),
                )
                .v(
                    "nonResourceAttributes",
                    non_resource_attributes(&spec.non_resource_attributes),
                )
                .done();
            Obj::default()
                .v("metadata", object_meta(&r.metadata))
                .v("spec", Some(spec))
                .done()
        }
        ("authorization.k8s.io/v1", "SubjectAccessReview") => {
            let r: authz::SubjectAccessReview = decode(k, &raw)?;
            Obj::default()
                .v("metadata", object_meta(&r.metadata))
                .v("spec", Some(access_review_spec(&r.spec)))
                .done()
        }
        ("authorization.k8s.io/v1", "LocalSubjectAccessReview") => {
            let r: authz::LocalSubjectAccessReview = decode(k, &raw)?;
            Obj::default()
                .v("metadata", object_meta(&r.metadata))
                .v("spec", Some(access_review_spec(&r.spec)))
                .done()
        }
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview") => {
            let r: authz::SelfSubjectRulesReview = decode(k, &raw)?;
            let spec = r
                .spec
                .map(|s| Obj::default().s("namespace", &s.namespace).done());
            Obj::default()
                .v("metadata", object_meta(&r.metadata))
                .v("spec", spec)
                .done()
        }
        _ => {
            return Err(ApiError::unsupported_media_type(&format!(
                "{CONTENT_TYPE} ({api_version} {kind})"
            )));
        }
    };
    let mut obj = obj;
    obj["apiVersion"] = json!(api_version);
    obj["kind"] = json!(kind);
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_pb::apimachinery::pkg::runtime::TypeMeta;

    fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
        let u = Unknown {
            type_meta: Some(TypeMeta {
                api_version: Some(api_version.into()),
                kind: Some(kind.into()),
            }),
            raw: Some(raw),
            content_encoding: Some(String::new()),
            content_type: Some(String::new()),
        };
        let mut out = MAGIC.to_vec();
        out.extend(u.encode_to_vec());
        out
    }

    #[test]
    fn a_protobuf_secret_becomes_the_json_secret() {
        let secret = core::Secret {
            metadata: Some(ObjectMeta {
                name: Some("db".into()),
                namespace: Some("x".into()),
                labels: BTreeMap::from([("app".into(), "db".into())]),
                ..Default::default()
            }),
            data: BTreeMap::from([("password".into(), b"hunter2".to_vec())]),
            r#type: Some("Opaque".into()),
            ..Default::default()
        };
        let v = to_json(&envelope("v1", "Secret", secret.encode_to_vec())).unwrap();
        assert_eq!(
            v,
            json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "db", "namespace": "x", "labels": {"app": "db"}},
                "data": {"password": "aHVudGVyMg=="},
                "type": "Opaque",
            })
        );
    }

    #[test]
    fn kinds_without_a_mapping_and_bodies_without_the_envelope_are_refused() {
        let e = to_json(&envelope("apps/v1", "Deployment", vec![])).unwrap_err();
        assert_eq!(e.code, 415);
        assert_eq!(to_json(b"{}").unwrap_err().code, 400);
        // A truncated message is a 400, never a panic.
        let e = to_json(&envelope("v1", "Secret", vec![0x0a, 0x05, 0x0a])).unwrap_err();
        assert_eq!(e.code, 400);
    }
}
