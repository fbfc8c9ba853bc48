//! The API calls the controller makes, as RBAC rules. `deploy/base/rbac.yaml` must grant
//! exactly these to the controller's ServiceAccount (a test here checks it, and the end-to-end
//! tests check that the controller calls nothing else).

/// One permission: API group, resource (with subresource), verb, and whether it is needed in
/// every namespace or only in the controller's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission {
    /// API group (`""` for core).
    pub group: &'static str,
    /// Resource, `secrets` or `sealedsecrets/status`.
    pub resource: &'static str,
    /// Verb.
    pub verb: &'static str,
    /// Needed cluster-wide (else in the controller namespace only).
    pub cluster: bool,
}

const fn p(
    group: &'static str,
    resource: &'static str,
    verb: &'static str,
    cluster: bool,
) -> Permission {
    Permission {
        group,
        resource,
        verb,
        cluster,
    }
}

/// Every call the controller makes.
pub const REQUIRED: &[Permission] = &[
    // The SealedSecret controller's watch and status writes.
    p("bitnami.com", "sealedsecrets", "list", true),
    p("bitnami.com", "sealedsecrets", "watch", true),
    p("bitnami.com", "sealedsecrets/status", "patch", true),
    // Secrets: the cache (list/watch), fresh reads and writes; key Secrets are Secrets too.
    p("", "secrets", "get", true),
    p("", "secrets", "list", true),
    p("", "secrets", "watch", true),
    p("", "secrets", "create", true),
    p("", "secrets", "update", true),
    // Events (kube-runtime's Recorder creates, then patches a series).
    p("events.k8s.io", "events", "create", true),
    p("events.k8s.io", "events", "patch", true),
    // The ExternalSecret bridge: its kinds (stores are read from caches, with a get when a
    // store is not cached yet), status writes, Secret deletion for deletionPolicy Delete, and
    // Namespace labels for ClusterSecretStore conditions.
    p("external-secrets.io", "externalsecrets", "list", true),
    p("external-secrets.io", "externalsecrets", "watch", true),
    p(
        "external-secrets.io",
        "externalsecrets/status",
        "patch",
        true,
    ),
    p("external-secrets.io", "secretstores", "get", true),
    p("external-secrets.io", "secretstores", "list", true),
    p("external-secrets.io", "secretstores", "watch", true),
    p("external-secrets.io", "secretstores/status", "patch", true),
    p("external-secrets.io", "clustersecretstores", "get", true),
    p("external-secrets.io", "clustersecretstores", "list", true),
    p("external-secrets.io", "clustersecretstores", "watch", true),
    p(
        "external-secrets.io",
        "clustersecretstores/status",
        "patch",
        true,
    ),
    p("", "secrets", "delete", true),
    p("", "namespaces", "get", true),
    // Leader election.
    p("coordination.k8s.io", "leases", "get", false),
    p("coordination.k8s.io", "leases", "create", false),
    p("coordination.k8s.io", "leases", "update", false),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    type Grant = (String, String, String, bool);

    fn grants(docs: &[serde_json::Value], sa: &str) -> BTreeSet<Grant> {
        let bound = |kind: &str, name: &str| {
            docs.iter().any(|d| {
                (d["kind"] == "ClusterRoleBinding" || d["kind"] == "RoleBinding")
                    && d["roleRef"]["kind"] == kind
                    && d["roleRef"]["name"] == name
                    && d["subjects"].as_array().is_some_and(|s| {
                        s.iter()
                            .any(|s| s["kind"] == "ServiceAccount" && s["name"] == sa)
                    })
            })
        };
        let mut out = BTreeSet::new();
        for d in docs {
            let kind = d["kind"].as_str().unwrap_or_default();
            if kind != "ClusterRole" && kind != "Role" {
                continue;
            }
            if !bound(kind, d["metadata"]["name"].as_str().unwrap_or_default()) {
                continue;
            }
            for rule in d["rules"].as_array().into_iter().flatten() {
                assert!(
                    rule.get("resourceNames").is_none(),
                    "controller rules are not per name"
                );
                for g in rule["apiGroups"].as_array().unwrap() {
                    for r in rule["resources"].as_array().unwrap() {
                        for v in rule["verbs"].as_array().unwrap() {
                            out.insert((
                                g.as_str().unwrap().into(),
                                r.as_str().unwrap().into(),
                                v.as_str().unwrap().into(),
                                kind == "ClusterRole",
                            ));
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn deploy_rbac_grants_exactly_what_the_controller_calls() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/base/rbac.yaml");
        let text = fs_err::read_to_string(path).unwrap();
        let docs: Vec<serde_json::Value> = serde_yaml_ng::Deserializer::from_str(&text)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect();
        let granted = grants(&docs, "sealed-secrets-controller");
        let required: BTreeSet<Grant> = REQUIRED
            .iter()
            .map(|p| (p.group.into(), p.resource.into(), p.verb.into(), p.cluster))
            .collect();
        let missing: Vec<_> = required.difference(&granted).collect();
        let extra: Vec<_> = granted.difference(&required).collect();
        assert!(missing.is_empty(), "not granted: {missing:?}");
        assert!(extra.is_empty(), "granted but never used: {extra:?}");
    }
}
