//! The kinds the harness serves: built-in ones and those registered by CustomResourceDefinitions.

use serde_json::{Value, json};
use std::collections::BTreeMap;

/// How `metadata.generation` is kept for a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Generation {
    /// Not set (Secret, ConfigMap, Service, Event, Lease, Namespace).
    None,
    /// 1 at create, +1 whenever anything outside `metadata` (and `status`, when it is a subresource)
    /// changes: apiextensions `customResourceStrategy.PrepareForUpdate`, also the CRD strategy.
    NonMetadata,
}

/// One resource (a kind in a group, served in one or more versions).
#[derive(Debug, Clone)]
pub(crate) struct ResourceType {
    pub group: String,
    /// Served versions; the first is the storage version.
    pub versions: Vec<String>,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub status_subresource: bool,
    pub generation: Generation,
    /// Set for custom resources: the CRD's name.
    pub crd: Option<String>,
    /// Structural schema per version (custom resources only).
    pub schemas: BTreeMap<String, Value>,
    /// Whether DELETE answers with the deleted object instead of a `Status` (Service does).
    pub return_deleted_object: bool,
    /// A review kind (TokenReview, SubjectAccessReview, ...): only `create`, answered at once and
    /// never stored.
    pub create_only: bool,
}

/// The key of a resource's storage.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct GroupResource {
    pub group: String,
    pub resource: String,
}

impl ResourceType {
    pub fn gr(&self) -> GroupResource {
        GroupResource {
            group: self.group.clone(),
            resource: self.plural.clone(),
        }
    }

    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{version}", self.group)
        }
    }

    pub fn storage_version(&self) -> &str {
        &self.versions[0]
    }

    pub fn serves(&self, version: &str) -> bool {
        self.versions.iter().any(|v| v == version)
    }

    pub fn is_custom(&self) -> bool {
        self.crd.is_some()
    }

    fn builtin(group: &str, version: &str, plural: &str, kind: &str, namespaced: bool) -> Self {
        Self {
            group: group.into(),
            versions: vec![version.into()],
            plural: plural.into(),
            singular: kind.to_lowercase(),
            kind: kind.into(),
            namespaced,
            short_names: vec![],
            categories: vec![],
            status_subresource: false,
            generation: Generation::None,
            crd: None,
            schemas: BTreeMap::new(),
            return_deleted_object: false,
            create_only: false,
        }
    }

    fn review(group: &str, plural: &str, kind: &str, namespaced: bool) -> Self {
        let mut t = Self::builtin(group, "v1", plural, kind, namespaced);
        t.create_only = true;
        t
    }

    /// Whether this is the core `v1` resource `plural`.
    pub fn is_core(&self, plural: &str) -> bool {
        self.group.is_empty() && self.plural == plural
    }

    fn short(mut self, names: &[&str]) -> Self {
        self.short_names = names.iter().map(|s| s.to_string()).collect();
        self
    }

    /// The resource list entry of legacy discovery (`APIResource`).
    pub fn discovery_entries(&self) -> Vec<Value> {
        let verbs = json!([
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch"
        ]);
        let verbs = if self.create_only {
            json!(["create"])
        } else {
            verbs
        };
        let mut main = json!({
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": verbs,
        });
        if !self.short_names.is_empty() {
            main["shortNames"] = json!(self.short_names);
        }
        if !self.categories.is_empty() {
            main["categories"] = json!(self.categories);
        }
        let mut out = vec![main];
        if self.status_subresource {
            out.push(json!({
                "name": format!("{}/status", self.plural),
                "singularName": "",
                "namespaced": self.namespaced,
                "kind": self.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
        if self.is_core("serviceaccounts") {
            out.push(json!({
                "name": "serviceaccounts/token",
                "singularName": "",
                "namespaced": true,
                "group": "authentication.k8s.io",
                "version": "v1",
                "kind": "TokenRequest",
                "verbs": ["create"],
            }));
        }
        if self.group.is_empty() && self.plural == "services" {
            out.push(json!({
                "name": "services/proxy",
                "singularName": "",
                "namespaced": true,
                "kind": "ServiceProxyOptions",
                "verbs": ["create", "delete", "get", "patch", "update"],
            }));
        }
        out
    }
}

/// The API group of Role, ClusterRole, RoleBinding and ClusterRoleBinding.
pub(crate) const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// The built-in kinds.
pub(crate) fn builtins() -> Vec<ResourceType> {
    let mut ns = ResourceType::builtin("", "v1", "namespaces", "Namespace", false).short(&["ns"]);
    ns.status_subresource = true;
    let mut svc = ResourceType::builtin("", "v1", "services", "Service", true).short(&["svc"]);
    svc.status_subresource = true;
    svc.return_deleted_object = true;
    svc.categories = vec!["all".into()];
    let mut crd = ResourceType::builtin(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        false,
    )
    .short(&["crd", "crds"]);
    crd.status_subresource = true;
    crd.generation = Generation::NonMetadata;
    vec![
        ns,
        ResourceType::builtin("", "v1", "secrets", "Secret", true),
        ResourceType::builtin("", "v1", "configmaps", "ConfigMap", true).short(&["cm"]),
        svc,
        ResourceType::builtin("", "v1", "events", "Event", true).short(&["ev"]),
        ResourceType::builtin("events.k8s.io", "v1", "events", "Event", true).short(&["ev"]),
        ResourceType::builtin("coordination.k8s.io", "v1", "leases", "Lease", true),
        crd,
        ResourceType::builtin("", "v1", "serviceaccounts", "ServiceAccount", true).short(&["sa"]),
        ResourceType::builtin(RBAC_GROUP, "v1", "roles", "Role", true),
        ResourceType::builtin(RBAC_GROUP, "v1", "rolebindings", "RoleBinding", true),
        ResourceType::builtin(RBAC_GROUP, "v1", "clusterroles", "ClusterRole", false),
        ResourceType::builtin(
            RBAC_GROUP,
            "v1",
            "clusterrolebindings",
            "ClusterRoleBinding",
            false,
        ),
        ResourceType::review(
            "authentication.k8s.io",
            "tokenreviews",
            "TokenReview",
            false,
        ),
        ResourceType::review(
            "authentication.k8s.io",
            "selfsubjectreviews",
            "SelfSubjectReview",
            false,
        ),
        ResourceType::review(
            "authorization.k8s.io",
            "selfsubjectaccessreviews",
            "SelfSubjectAccessReview",
            false,
        ),
        ResourceType::review(
            "authorization.k8s.io",
            "selfsubjectrulesreviews",
            "SelfSubjectRulesReview",
            false,
        ),
        ResourceType::review(
            "authorization.k8s.io",
            "subjectaccessreviews",
            "SubjectAccessReview",
            false,
        ),
        ResourceType::review(
            "authorization.k8s.io",
            "localsubjectaccessreviews",
            "LocalSubjectAccessReview",
            true,
        ),
    ]
}

/// The resource a CustomResourceDefinition object defines, or why it cannot.
pub(crate) fn from_crd(crd: &Value) -> Result<ResourceType, Vec<(String, String)>> {
    let mut errs = vec![];
    let spec = &crd["spec"];
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let group = s(&spec["group"]);
    let plural = s(&spec["names"]["plural"]);
    let kind = s(&spec["names"]["kind"]);
    let singular = spec["names"]["singular"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| kind.to_lowercase());
    let scope = s(&spec["scope"]);
    if group.is_empty() {
        errs.push(("spec.group".into(), "Required value".into()));
    }
    if plural.is_empty() {
        errs.push(("spec.names.plural".into(), "Required value".into()));
    }
    if kind.is_empty() {
        errs.push(("spec.names.kind".into(), "Required value".into()));
    }
    if scope != "Namespaced" && scope != "Cluster" {
        errs.push((
            "spec.scope".into(),
            format!(
                "Unsupported value: \"{scope}\": supported values: \"Cluster\", \"Namespaced\""
            ),
        ));
    }
    let name = crd["metadata"]["name"].as_str().unwrap_or_default();
    if name != format!("{plural}.{group}") {
        errs.push((
            "metadata.name".into(),
            format!("Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    let mut versions = vec![];
    let mut storage = vec![];
    let mut status = false;
    let mut schemas = BTreeMap::new();
    for v in spec["versions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let vname = s(&v["name"]);
        if v["storage"] == json!(true) {
            storage.push(vname.clone());
        }
        if v["served"] == json!(true) {
            versions.push(vname.clone());
        }
        if v["subresources"]["status"].is_object() {
            status = true;
        }
        if let Some(schema) = v["schema"]["openAPIV3Schema"].as_object() {
            schemas.insert(vname, Value::Object(schema.clone()));
        }
    }
    if storage.len() != 1 {
        errs.push((
            "spec.versions".into(),
            "Invalid value: must have exactly one version marked as storage version".into(),
        ));
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    // The storage version goes first; the others keep their order.
    versions.retain(|v| v != &storage[0]);
    versions.insert(0, storage[0].clone());
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(ResourceType {
        group,
        versions,
        plural,
        singular,
        kind,
        namespaced: scope == "Namespaced",
        short_names: list(&spec["names"]["shortNames"]),
        categories: list(&spec["names"]["categories"]),
        status_subresource: status,
        generation: Generation::NonMetadata,
        crd: Some(name.to_string()),
        schemas,
        return_deleted_object: false,
        create_only: false,
    })
}
