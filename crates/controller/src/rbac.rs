//! The API calls each half of the controller makes, as RBAC rules. The shipped manifests must
//! grant exactly these, each to its own ServiceAccount: the sealing controller's
//! (`--sealed-secrets`, `sealed-secrets-controller`) in `deploy/base`, the ExternalSecret
//! bridge's (`--sealed-secrets=false --external-secrets=true`, `sealkit-external-secrets`) in
//! `deploy/external-secrets`. A test here checks both; the end-to-end tests run each half under
//! its own token with these grants. The in-process development mode (both halves in one process)
//! needs the union, with the bridge's Secret rules cluster-wide: no shipped manifest grants it.

/// Where a permission is needed, which says how the manifests bind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// In every namespace, or on a cluster-scoped resource: a ClusterRoleBinding.
    Cluster,
    /// In the process's own namespace (the sealing keys, the leader Lease): a RoleBinding there.
    OwnNamespace,
    /// In each namespace the ExternalSecret bridge serves (`--external-secrets-namespaces`): a
    /// RoleBinding in each of them.
    ServedNamespaces,
    /// In `default`, where Kubernetes files Events about cluster-scoped objects.
    DefaultNamespace,
}

/// One permission: API group, resource (with subresource), verb, and where it is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission {
    /// API group (`""` for core).
    pub group: &'static str,
    /// Resource, `secrets` or `sealedsecrets/status`.
    pub resource: &'static str,
    /// Verb.
    pub verb: &'static str,
    /// Where it is needed.
    pub scope: Scope,
}

const fn p(
    group: &'static str,
    resource: &'static str,
    verb: &'static str,
    scope: Scope,
) -> Permission {
    Permission {
        group,
        resource,
        verb,
        scope,
    }
}

/// Every call the sealing controller (`--sealed-secrets`, the default) makes.
pub const SEALED_SECRETS: &[Permission] = &[
    // The SealedSecret controller's watch and status writes.
    p("bitnami.com", "sealedsecrets", "list", Scope::Cluster),
    p("bitnami.com", "sealedsecrets", "watch", Scope::Cluster),
    p(
        "bitnami.com",
        "sealedsecrets/status",
        "patch",
        Scope::Cluster,
    ),
    // Secrets: the cache (list/watch), fresh reads and writes; key Secrets are Secrets too.
    p("", "secrets", "get", Scope::Cluster),
    p("", "secrets", "list", Scope::Cluster),
    p("", "secrets", "watch", Scope::Cluster),
    p("", "secrets", "create", Scope::Cluster),
    p("", "secrets", "update", Scope::Cluster),
    // Events (kube-runtime's Recorder creates, then patches a series).
    p("events.k8s.io", "events", "create", Scope::Cluster),
    p("events.k8s.io", "events", "patch", Scope::Cluster),
    // Leader election.
    p("coordination.k8s.io", "leases", "get", Scope::OwnNamespace),
    p(
        "coordination.k8s.io",
        "leases",
        "create",
        Scope::OwnNamespace,
    ),
    p(
        "coordination.k8s.io",
        "leases",
        "update",
        Scope::OwnNamespace,
    ),
];

/// Every call the ExternalSecret bridge (`--sealed-secrets=false --external-secrets=true
/// --external-secrets-namespaces=…`) makes.
pub const EXTERNAL_SECRETS: &[Permission] = &[
    // Its kinds (stores are read from caches, with a get when a store is not cached yet) and
    // their status: cluster-wide, none of them holds a secret value.
    p(
        "external-secrets.io",
        "externalsecrets",
        "list",
        Scope::Cluster,
    ),
    p(
        "external-secrets.io",
        "externalsecrets",
        "watch",
        Scope::Cluster,
    ),
    p(
        "external-secrets.io",
        "externalsecrets/status",
        "patch",
        Scope::Cluster,
    ),
    p("external-secrets.io", "secretstores", "get", Scope::Cluster),
    p(
        "external-secrets.io",
        "secretstores",
        "list",
        Scope::Cluster,
    ),
    p(
        "external-secrets.io",
        "secretstores",
        "watch",
        Scope::Cluster,
    ),
    p(
        "external-secrets.io",
        "secretstores/status",
        "patch",
        Scope::Cluster,
    ),
    p(
        "external-secrets.io",
        "clustersecretstores",
        "get",
        Scope::Cluster,
    ),
    p(
        "external-secrets.io",
        "clustersecretstores",
        "list",
        Scope::Cluster,
    ),
    p(
        "external-secrets.io",
        "clustersecretstores",
        "watch",
        Scope::Cluster,
    ),
    p(
        "external-secrets.io",
        "clustersecretstores/status",
        "patch",
        Scope::Cluster,
    ),
    // ClusterExternalSecrets (cluster-scoped, no secret value): the controller's watch, their
    // status, and removing ESO's finalizer from one being deleted.
    p(
        "external-secrets.io",
        "clusterexternalsecrets",
        "list",
        Scope::Cluster,
    ),
    p(
        "external-secrets.io",
        "clusterexternalsecrets",
        "watch",
        Scope::Cluster,
    ),
    p(
        "external-secrets.io",
        "clusterexternalsecrets",
        "patch",
        Scope::Cluster,
    ),
    p(
        "external-secrets.io",
        "clusterexternalsecrets/status",
        "patch",
        Scope::Cluster,
    ),
    // PushSecrets (no secret value): the controller's watch and their status.
    p("external-secrets.io", "pushsecrets", "list", Scope::Cluster),
    p(
        "external-secrets.io",
        "pushsecrets",
        "watch",
        Scope::Cluster,
    ),
    p(
        "external-secrets.io",
        "pushsecrets/status",
        "patch",
        Scope::Cluster,
    ),
    // Namespace labels: ClusterSecretStore conditions (get) and the ClusterExternalSecret
    // selectors (a cache: list/watch).
    p("", "namespaces", "get", Scope::Cluster),
    p("", "namespaces", "list", Scope::Cluster),
    p("", "namespaces", "watch", Scope::Cluster),
    // Secrets only where it serves: the cache (list/watch), credential Secrets and fresh reads
    // (get), target Secrets (create/update; delete for deletionPolicy: Delete).
    p("", "secrets", "get", Scope::ServedNamespaces),
    p("", "secrets", "list", Scope::ServedNamespaces),
    p("", "secrets", "watch", Scope::ServedNamespaces),
    p("", "secrets", "create", Scope::ServedNamespaces),
    p("", "secrets", "update", Scope::ServedNamespaces),
    p("", "secrets", "delete", Scope::ServedNamespaces),
    // CA bundles a store names (`caProvider` of type ConfigMap), and `templateFrom` templates.
    p("", "configmaps", "get", Scope::ServedNamespaces),
    // The ExternalSecrets a ClusterExternalSecret stamps into the namespaces the bridge serves.
    p(
        "external-secrets.io",
        "externalsecrets",
        "get",
        Scope::ServedNamespaces,
    ),
    p(
        "external-secrets.io",
        "externalsecrets",
        "create",
        Scope::ServedNamespaces,
    ),
    p(
        "external-secrets.io",
        "externalsecrets",
        "update",
        Scope::ServedNamespaces,
    ),
    p(
        "external-secrets.io",
        "externalsecrets",
        "delete",
        Scope::ServedNamespaces,
    ),
    // Password generators an ExternalSecret names (`dataFrom[].sourceRef.generatorRef`).
    p(
        "generators.external-secrets.io",
        "passwords",
        "get",
        Scope::ServedNamespaces,
    ),
    // TokenRequests for the ServiceAccounts a store names (kubernetes provider
    // `auth.serviceAccount`, Vault `auth.kubernetes.serviceAccountRef`).
    p(
        "",
        "serviceaccounts/token",
        "create",
        Scope::ServedNamespaces,
    ),
    // The ServiceAccounts a store names, for their annotations (AWS `auth.jwt`:
    // `eks.amazonaws.com/role-arn`; GCP `workloadIdentity`: `iam.gke.io/gcp-service-account`;
    // Azure `WorkloadIdentity`: `azure.workload.identity/client-id`).
    p("", "serviceaccounts", "get", Scope::ServedNamespaces),
    // The finalizer of PushSecrets with `deletionPolicy: Delete`.
    p(
        "external-secrets.io",
        "pushsecrets",
        "patch",
        Scope::ServedNamespaces,
    ),
    // Events on ExternalSecrets and SecretStores; on ClusterSecretStores in `default`.
    p("events.k8s.io", "events", "create", Scope::ServedNamespaces),
    p("events.k8s.io", "events", "patch", Scope::ServedNamespaces),
    p("events.k8s.io", "events", "create", Scope::DefaultNamespace),
    p("events.k8s.io", "events", "patch", Scope::DefaultNamespace),
    // Leader election, in its own namespace.
    p("coordination.k8s.io", "leases", "get", Scope::OwnNamespace),
    p(
        "coordination.k8s.io",
        "leases",
        "create",
        Scope::OwnNamespace,
    ),
    p(
        "coordination.k8s.io",
        "leases",
        "update",
        Scope::OwnNamespace,
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    type Grant = (String, String, String, Scope);

    /// Every document of every YAML file in `deploy/<dir>` but its kustomization.
    fn manifests(dir: &str) -> Vec<serde_json::Value> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../deploy")
            .join(dir);
        let mut files: Vec<_> = fs_err::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.extension().is_some_and(|e| e == "yaml")
                    && p.file_name().is_some_and(|n| n != "kustomization.yaml")
            })
            .collect();
        files.sort();
        let mut docs = Vec::new();
        for file in files {
            let text = fs_err::read_to_string(&file).unwrap();
            for doc in serde_yaml_ng::Deserializer::from_str(&text) {
                let doc: serde_json::Value = serde::Deserialize::deserialize(doc).unwrap();
                if !doc.is_null() {
                    docs.push(doc);
                }
            }
        }
        docs
    }

    /// What the ServiceAccount `namespace/sa` is granted by `docs`; a binding without a namespace
    /// is in `namespace` (kustomize sets it). Every served namespace must get the same rules.
    fn grants(docs: &[serde_json::Value], namespace: &str, sa: &str) -> BTreeSet<Grant> {
        let subject = |b: &serde_json::Value| {
            b["subjects"].as_array().is_some_and(|s| {
                s.iter().any(|s| {
                    s["kind"] == "ServiceAccount"
                        && s["name"] == sa
                        && s["namespace"].as_str().unwrap_or(namespace) == namespace
                })
            })
        };
        let role = |kind: &serde_json::Value, name: &serde_json::Value, ns: &str| {
            docs.iter()
                .find(|d| {
                    d["kind"] == *kind
                        && d["metadata"]["name"] == *name
                        && (d["kind"] == "ClusterRole"
                            || d["metadata"]["namespace"].as_str().unwrap_or(namespace) == ns)
                })
                .unwrap_or_else(|| panic!("binding to a missing {kind} {name} in {ns}"))
        };
        let mut served: BTreeMap<String, BTreeSet<Grant>> = BTreeMap::new();
        let mut out = BTreeSet::new();
        for binding in docs.iter().filter(|d| subject(d)) {
            let (scope, ns) = match binding["kind"].as_str() {
                Some("ClusterRoleBinding") => (Scope::Cluster, ""),
                Some("RoleBinding") => {
                    let ns = binding["metadata"]["namespace"]
                        .as_str()
                        .unwrap_or(namespace);
                    let scope = if ns == namespace {
                        Scope::OwnNamespace
                    } else if ns == "default" {
                        Scope::DefaultNamespace
                    } else {
                        Scope::ServedNamespaces
                    };
                    (scope, ns)
                }
                _ => continue,
            };
            let role = role(&binding["roleRef"]["kind"], &binding["roleRef"]["name"], ns);
            for rule in role["rules"].as_array().into_iter().flatten() {
                assert!(
                    rule.get("resourceNames").is_none(),
                    "controller rules are not per name"
                );
                for g in rule["apiGroups"].as_array().unwrap() {
                    for r in rule["resources"].as_array().unwrap() {
                        for v in rule["verbs"].as_array().unwrap() {
                            let grant = (
                                g.as_str().unwrap().into(),
                                r.as_str().unwrap().into(),
                                v.as_str().unwrap().into(),
                                scope,
                            );
                            if scope == Scope::ServedNamespaces {
                                served.entry(ns.into()).or_default().insert(grant.clone());
                            }
                            out.insert(grant);
                        }
                    }
                }
            }
        }
        let mut per_namespace = served.values();
        if let Some(first) = per_namespace.next() {
            assert!(
                per_namespace.all(|s| s == first),
                "served namespaces get different rules: {served:?}"
            );
        }
        out
    }

    fn assert_exact(granted: BTreeSet<Grant>, required: &[Permission]) {
        let required: BTreeSet<Grant> = required
            .iter()
            .map(|p| (p.group.into(), p.resource.into(), p.verb.into(), p.scope))
            .collect();
        let missing: Vec<_> = required.difference(&granted).collect();
        let extra: Vec<_> = granted.difference(&required).collect();
        assert!(missing.is_empty(), "not granted: {missing:?}");
        assert!(extra.is_empty(), "granted but never used: {extra:?}");
    }

    fn both() -> Vec<serde_json::Value> {
        let mut docs = manifests("base");
        docs.extend(manifests("external-secrets"));
        docs
    }

    #[test]
    fn deploy_base_grants_the_sealing_controller_exactly_what_it_calls() {
        assert_exact(
            grants(&both(), "kube-system", "sealed-secrets-controller"),
            SEALED_SECRETS,
        );
    }

    // issue 13: the bridge runs under its own ServiceAccount, with Secrets only where it serves.
    #[test]
    fn deploy_external_secrets_grants_the_bridge_exactly_what_it_calls() {
        assert_exact(
            grants(
                &both(),
                "sealkit-external-secrets",
                "sealkit-external-secrets",
            ),
            EXTERNAL_SECRETS,
        );
    }
}
