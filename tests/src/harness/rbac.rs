//! The RBAC authorizer: Role, ClusterRole, RoleBinding and ClusterRoleBinding
//! (`rbac.authorization.k8s.io/v1`) decide what an authenticated user may do, as kube-apiserver's
//! RBAC authorizer does (`plugin/pkg/auth/authorizer/rbac/rbac.go`, `rbac/v1/evaluation_helpers.go`).
//!
//! - A rule allows a request when its `verbs`, `apiGroups`, `resources` and `resourceNames` all
//!   match (`*` matches any verb, group or resource, subresources included; `*/status` matches the
//!   `status` subresource of any resource; empty `resourceNames` match every name, and a rule with
//!   names never matches a request without one: list, watch, create of a collection).
//! - A ClusterRoleBinding grants its role everywhere, a RoleBinding only in its namespace (a Role
//!   only through a RoleBinding of its own namespace).
//! - Subjects: `User` by name, `Group` by the user's groups (`system:authenticated`,
//!   `system:serviceaccounts`, `system:serviceaccounts:<ns>`), `ServiceAccount` by its user name
//!   `system:serviceaccount:<ns>:<name>` (the namespace defaults to the binding's).
//! - The group `system:masters` may do everything (kube-apiserver's privileged-group authorizer).
//!
//! Left out: aggregation rules (an aggregated ClusterRole holds only the rules written in it) and
//! `nonResourceURLs` (every authenticated user may read discovery, `/version` and health paths).
//!
//! Speed: the bindings are parsed once per change of any RBAC object ([`Index`], rebuilt lazily by
//! the store), and each user's rules are gathered once per index ([`Index::rules_for`]); a request
//! then walks only that user's rules.

use super::auth::Identity;
use super::store::{State, meta};
use super::types::{GroupResource, RBAC_GROUP};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The group whose members may do everything.
pub(crate) const MASTERS: &str = "system:masters";

/// What a request wants to do (kube-apiserver's `authorizer.Attributes` for a resource request).
#[derive(Debug, Clone, Default)]
pub(crate) struct Attributes {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
}

impl Attributes {
    /// `secrets` or `serviceaccounts/token`.
    fn combined_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }

    /// The message of a 403, as kube-apiserver writes it (`responsewriters.forbiddenMessage`).
    pub fn forbidden_message(&self, user: &str) -> String {
        let resource = self.combined_resource();
        let scope = if self.namespace.is_empty() {
            "at the cluster scope".to_string()
        } else {
            format!("in the namespace \"{}\"", self.namespace)
        };
        format!(
            "User \"{user}\" cannot {} resource \"{resource}\" in API group \"{}\" {scope}",
            self.verb, self.group
        )
    }
}

/// One `PolicyRule` (resource rules only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

impl Rule {
    fn parse(v: &Value) -> Option<Self> {
        let rule = Self {
            verbs: strings(&v["verbs"]),
            api_groups: strings(&v["apiGroups"]),
            resources: strings(&v["resources"]),
            resource_names: strings(&v["resourceNames"]),
        };
        // A rule of nonResourceURLs only grants nothing on resources.
        (!rule.resources.is_empty()).then_some(rule)
    }

    fn parse_all(role: &Value) -> Arc<[Rule]> {
        role["rules"]
            .as_array()
            .map(|a| a.iter().filter_map(Self::parse).collect())
            .unwrap_or_default()
    }

    /// `rbacv1helpers.RuleAllows`.
    pub fn allows(&self, a: &Attributes) -> bool {
        let any = |list: &[String], want: &str| list.iter().any(|x| x == "*" || x == want);
        any(&self.verbs, &a.verb)
            && any(&self.api_groups, &a.group)
            && self.resource_matches(a)
            && (self.resource_names.is_empty() || self.resource_names.iter().any(|n| n == &a.name))
    }

    fn resource_matches(&self, a: &Attributes) -> bool {
        let combined = a.combined_resource();
        self.resources.iter().any(|r| {
            r == "*"
                || *r == combined
                || (!a.subresource.is_empty()
                    && r.strip_prefix("*/") == Some(a.subresource.as_str()))
        })
    }

    /// As a `PolicyRule` object (SelfSubjectRulesReview).
    fn to_json(&self) -> Value {
        let mut v =
            json!({"verbs": self.verbs, "apiGroups": self.api_groups, "resources": self.resources});
        if !self.resource_names.is_empty() {
            v["resourceNames"] = json!(self.resource_names);
        }
        v
    }
}

/// A `subjects[]` entry.
#[derive(Debug, Clone)]
enum SubjectRef {
    User(String),
    Group(String),
    /// The user name `system:serviceaccount:<ns>:<name>`.
    ServiceAccount(String),
}

impl SubjectRef {
    fn parse(v: &Value, binding_ns: Option<&str>) -> Option<Self> {
        let name = v["name"].as_str()?.to_string();
        match v["kind"].as_str()? {
            "User" => Some(Self::User(name)),
            "Group" => Some(Self::Group(name)),
            "ServiceAccount" => {
                let ns = v["namespace"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .or(binding_ns)?;
                Some(Self::ServiceAccount(format!(
                    "system:serviceaccount:{ns}:{name}"
                )))
            }
            _ => None,
        }
    }

    fn applies_to(&self, user: &Identity) -> bool {
        match self {
            Self::User(n) | Self::ServiceAccount(n) => *n == user.username,
            Self::Group(g) => user.groups.iter().any(|x| x == g),
        }
    }

    /// As the RBAC authorizer names it in its reasons.
    fn describe(&self) -> String {
        match self {
            Self::User(n) => format!("User {n:?}"),
            Self::Group(g) => format!("Group {g:?}"),
            Self::ServiceAccount(u) => {
                let mut parts = u.rsplitn(3, ':');
                let name = parts.next().unwrap_or_default();
                let ns = parts.next().unwrap_or_default();
                format!("ServiceAccount \"{name}/{ns}\"")
            }
        }
    }
}

/// A parsed RoleBinding or ClusterRoleBinding.
#[derive(Debug)]
struct Binding {
    /// `None` for a ClusterRoleBinding.
    namespace: Option<String>,
    name: String,
    subjects: Vec<SubjectRef>,
    /// `Role` or `ClusterRole`.
    role_kind: String,
    role_name: String,
}

/// Rules one binding grants to one user, with where they came from.
#[derive(Debug, Clone)]
struct Grant {
    /// `ClusterRoleBinding "x" of ClusterRole "y" to Group "z"`.
    origin: Arc<str>,
    rules: Arc<[Rule]>,
}

/// Everything one user may do.
#[derive(Debug, Default)]
pub(crate) struct UserRules {
    masters: bool,
    cluster: Vec<Grant>,
    namespaced: HashMap<String, Vec<Grant>>,
}

/// What the authorizer decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Allowed, with the reason (`RBAC: allowed by ...`).
    Allow(String),
    /// No rule allows it.
    Deny,
}

impl UserRules {
    /// Whether these rules allow `a`.
    pub fn decide(&self, a: &Attributes) -> Decision {
        if self.masters {
            return Decision::Allow(format!("allowed by group {MASTERS:?}"));
        }
        let ns_grants = if a.namespace.is_empty() {
            None
        } else {
            self.namespaced.get(&a.namespace)
        };
        self.cluster
            .iter()
            .chain(ns_grants.into_iter().flatten())
            .find(|g| g.rules.iter().any(|r| r.allows(a)))
            .map_or(Decision::Deny, |g| {
                Decision::Allow(format!("RBAC: allowed by {}", g.origin))
            })
    }

    /// The rules that apply in `namespace` (SelfSubjectRulesReview), as `PolicyRule` objects.
    pub fn rules_in(&self, namespace: &str) -> Vec<Value> {
        if self.masters {
            return vec![json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})];
        }
        self.cluster
            .iter()
            .chain(self.namespaced.get(namespace).into_iter().flatten())
            .flat_map(|g| g.rules.iter().map(Rule::to_json))
            .collect()
    }
}

/// The parsed RBAC objects, and each user's rules gathered from them on first use.
#[derive(Debug, Default)]
pub(crate) struct Index {
    roles: HashMap<(String, String), Arc<[Rule]>>,
    cluster_roles: HashMap<String, Arc<[Rule]>>,
    bindings: Vec<Binding>,
    users: Mutex<HashMap<String, Arc<UserRules>>>,
}

fn rbac_gr(resource: &str) -> GroupResource {
    GroupResource {
        group: RBAC_GROUP.into(),
        resource: resource.into(),
    }
}

/// Whether a write to `gr` changes who may do what (RBAC objects; ServiceAccounts, whose deletion
/// invalidates their tokens).
pub(crate) fn affects_access(gr: &GroupResource) -> bool {
    gr.group == RBAC_GROUP || (gr.group.is_empty() && gr.resource == "serviceaccounts")
}

impl Index {
    /// Parses every RBAC object of `state`.
    pub fn build(state: &State) -> Self {
        let objects = |resource: &str| {
            state
                .store(&rbac_gr(resource))
                .into_iter()
                .flat_map(|m| m.values())
        };
        let mut index = Self::default();
        for role in objects("roles") {
            let m = meta(role);
            let key = (
                m["namespace"].as_str().unwrap_or_default().to_string(),
                m["name"].as_str().unwrap_or_default().to_string(),
            );
            index.roles.insert(key, Rule::parse_all(role));
        }
        for role in objects("clusterroles") {
            let name = meta(role)["name"].as_str().unwrap_or_default().to_string();
            index.cluster_roles.insert(name, Rule::parse_all(role));
        }
        for (resource, namespaced) in [("clusterrolebindings", false), ("rolebindings", true)] {
            for b in objects(resource) {
                let m = meta(b);
                let namespace =
                    namespaced.then(|| m["namespace"].as_str().unwrap_or_default().to_string());
                let subjects = b["subjects"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| SubjectRef::parse(s, namespace.as_deref()))
                            .collect()
                    })
                    .unwrap_or_default();
                index.bindings.push(Binding {
                    namespace,
                    name: m["name"].as_str().unwrap_or_default().to_string(),
                    subjects,
                    role_kind: b["roleRef"]["kind"].as_str().unwrap_or_default().into(),
                    role_name: b["roleRef"]["name"].as_str().unwrap_or_default().into(),
                });
            }
        }
        index
    }

    /// The rules of `user`, gathered once per index.
    pub fn rules_for(&self, user: &Identity) -> Arc<UserRules> {
        let mut users = self.users.lock().expect("rbac cache lock");
        if let Some(r) = users.get(user.key()) {
            return r.clone();
        }
        let rules = Arc::new(self.gather(user));
        users.insert(user.key().to_string(), rules.clone());
        rules
    }

    fn gather(&self, user: &Identity) -> UserRules {
        let mut out = UserRules {
            masters: user.groups.iter().any(|g| g == MASTERS),
            ..UserRules::default()
        };
        if out.masters {
            return out;
        }
        for b in &self.bindings {
            let Some(subject) = b.subjects.iter().find(|s| s.applies_to(user)) else {
                continue;
            };
            let rules = match (b.role_kind.as_str(), &b.namespace) {
                ("ClusterRole", _) => self.cluster_roles.get(&b.role_name),
                ("Role", Some(ns)) => self.roles.get(&(ns.clone(), b.role_name.clone())),
                _ => None,
            };
            let Some(rules) = rules else { continue };
            let origin = match &b.namespace {
                Some(ns) => format!(
                    "RoleBinding \"{}/{ns}\" of {} {:?} to {}",
                    b.name,
                    b.role_kind,
                    b.role_name,
                    subject.describe()
                ),
                None => format!(
                    "ClusterRoleBinding {:?} of ClusterRole {:?} to {}",
                    b.name,
                    b.role_name,
                    subject.describe()
                ),
            };
            let grant = Grant {
                origin: origin.into(),
                rules: rules.clone(),
            };
            match &b.namespace {
                Some(ns) => out.namespaced.entry(ns.clone()).or_default().push(grant),
                None => out.cluster.push(grant),
            }
        }
        out
    }
}

/// Why a write of an RBAC object would grant more than its author holds (kube-apiserver's
/// escalation check, `rbac/validation.ConfirmNoEscalation`): a user may write a Role or
/// ClusterRole only with rules they hold themselves (in that namespace, or cluster-wide), unless
/// they may `escalate` it; and bind a role only if they hold its rules where the binding applies,
/// unless they may `bind` it. `None` when the write is allowed.
pub(crate) fn escalation(
    index: &Index,
    user: &Identity,
    plural: &str,
    obj: &Value,
) -> Option<String> {
    let namespace = meta(obj)["namespace"].as_str().unwrap_or_default();
    let name = meta(obj)["name"].as_str().unwrap_or_default();
    let own = index.rules_for(user);
    let may = |verb: &str, resource: &str, name: &str| {
        own.decide(&Attributes {
            verb: verb.into(),
            group: RBAC_GROUP.into(),
            resource: resource.into(),
            subresource: String::new(),
            namespace: namespace.into(),
            name: name.into(),
        }) != Decision::Deny
    };
    let granted: Vec<Rule> = match plural {
        "roles" | "clusterroles" => {
            if may("escalate", plural, name) {
                return None;
            }
            Rule::parse_all(obj).to_vec()
        }
        "rolebindings" | "clusterrolebindings" => {
            let role_kind = obj["roleRef"]["kind"].as_str().unwrap_or_default();
            let role_name = obj["roleRef"]["name"].as_str().unwrap_or_default();
            let (resource, rules) = match role_kind {
                "Role" => (
                    "roles",
                    index
                        .roles
                        .get(&(namespace.to_string(), role_name.to_string())),
                ),
                _ => ("clusterroles", index.cluster_roles.get(role_name)),
            };
            if may("bind", resource, role_name) {
                return None;
            }
            rules.map(|r| r.to_vec()).unwrap_or_default()
        }
        _ => return None,
    };
    let mut missing = vec![];
    for rule in &granted {
        let names: Vec<&str> = if rule.resource_names.is_empty() {
            vec![""]
        } else {
            rule.resource_names.iter().map(String::as_str).collect()
        };
        for verb in &rule.verbs {
            for group in &rule.api_groups {
                for resource in &rule.resources {
                    let (resource, subresource) =
                        resource.split_once('/').unwrap_or((resource, ""));
                    for n in &names {
                        let a = Attributes {
                            verb: verb.clone(),
                            group: group.clone(),
                            resource: resource.into(),
                            subresource: subresource.into(),
                            namespace: namespace.into(),
                            name: (*n).into(),
                        };
                        if own.decide(&a) == Decision::Deny {
                            missing.push(format!(
                                "{{APIGroups:[{group:?}], Resources:[{:?}], Verbs:[{verb:?}]{}}}",
                                a.combined_resource(),
                                if n.is_empty() {
                                    String::new()
                                } else {
                                    format!(", ResourceNames:[{n:?}]")
                                }
                            ));
                        }
                    }
                }
            }
        }
    }
    (!missing.is_empty()).then(|| {
        format!(
            "user {:?} (groups={:?}) is attempting to grant RBAC permissions not currently held:\n{}",
            user.username,
            user.groups,
            missing.join("\n")
        )
    })
}

/// The ClusterRoles and ClusterRoleBindings a cluster starts with (kube-apiserver's bootstrap
/// policy, the part tests lean on): `cluster-admin` for `system:masters`, `system:basic-user`
/// (self reviews) for every authenticated user, and `system:auth-delegator` (TokenReview,
/// SubjectAccessReview) to bind to delegating servers.
pub(crate) fn bootstrap_policy() -> Vec<(&'static str, Value)> {
    let role = |name: &str, rules: Value| {
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                         "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}},
            "rules": rules,
        })
    };
    let binding = |name: &str, group: &str| {
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                         "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}],
        })
    };
    vec![
        (
            "clusterroles",
            role(
                "cluster-admin",
                json!([
                    {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                    {"nonResourceURLs": ["*"], "verbs": ["*"]},
                ]),
            ),
        ),
        (
            "clusterroles",
            role(
                "system:basic-user",
                json!([
                    {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], "verbs": ["create"]},
                    {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]},
                ]),
            ),
        ),
        (
            "clusterroles",
            role(
                "system:auth-delegator",
                json!([
                    {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
                    {"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"], "verbs": ["create"]},
                ]),
            ),
        ),
        ("clusterrolebindings", binding("cluster-admin", MASTERS)),
        (
            "clusterrolebindings",
            binding("system:basic-user", "system:authenticated"),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(
        verb: &str,
        group: &str,
        resource: &str,
        sub: &str,
        ns: &str,
        name: &str,
    ) -> Attributes {
        Attributes {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            subresource: sub.into(),
            namespace: ns.into(),
            name: name.into(),
        }
    }

    fn rule(v: Value) -> Rule {
        Rule::parse(&v).expect("a resource rule")
    }

    #[test]
    fn wildcards_match_verbs_groups_resources_and_subresources() {
        let all = rule(json!({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}));
        assert!(all.allows(&attrs("delete", "apps", "deployments", "scale", "x", "y")));
        let status =
            rule(json!({"apiGroups": [""], "resources": ["*/status"], "verbs": ["patch"]}));
        assert!(status.allows(&attrs("patch", "", "secrets", "status", "x", "y")));
        assert!(!status.allows(&attrs("patch", "", "secrets", "", "x", "y")));
        let secrets = rule(json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}));
        assert!(!secrets.allows(&attrs("get", "", "secrets", "status", "x", "y")));
        assert!(!secrets.allows(&attrs("get", "apps", "secrets", "", "x", "y")));
        assert!(!secrets.allows(&attrs("list", "", "secrets", "", "x", "")));
    }

    #[test]
    fn resource_names_restrict_to_named_requests() {
        let named = rule(
            json!({"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["a"], "verbs": ["get", "list"]}),
        );
        assert!(named.allows(&attrs("get", "", "secrets", "", "x", "a")));
        assert!(!named.allows(&attrs("get", "", "secrets", "", "x", "b")));
        // A list without a name is not covered by a rule with names.
        assert!(!named.allows(&attrs("list", "", "secrets", "", "x", "")));
    }

    #[test]
    fn a_rule_of_non_resource_urls_grants_nothing_on_resources() {
        assert!(Rule::parse(&json!({"nonResourceURLs": ["*"], "verbs": ["*"]})).is_none());
    }

    #[test]
    fn forbidden_messages_read_as_kube_apiserver_writes_them() {
        let a = attrs("get", "", "secrets", "", "kube-system", "k");
        assert_eq!(
            a.forbidden_message("system:serviceaccount:ns:sa"),
            "User \"system:serviceaccount:ns:sa\" cannot get resource \"secrets\" in API group \"\" in the namespace \"kube-system\""
        );
        let c = attrs("create", "", "serviceaccounts", "token", "", "");
        assert_eq!(
            c.forbidden_message("u"),
            "User \"u\" cannot create resource \"serviceaccounts/token\" in API group \"\" at the cluster scope"
        );
    }
}
