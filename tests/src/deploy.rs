//! The shipped manifests (`deploy/`) as parsed objects, rendered the way users install them:
//! `kubectl kustomize` for the kustomize directories, and the real Helm v4 engine for the chart
//! (PyPI `helm-python-sdk` ships Helm's library with Python bindings; `scripts/deps/deploy.sh`
//! installs it). [`grants`] says which RBAC rules reach which subject, so tests can check who can
//! do what, and [`rbac_objects`] picks what an end-to-end test loads into the harness to run each
//! component under the manifests' own RBAC.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

/// The repository's `deploy/` directory.
pub fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// Parses a multi-document YAML stream into objects, leaving out empty documents.
///
/// # Panics
/// When the stream is not YAML (the manifests are the repository's own).
pub fn parse_documents(text: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|d| <Value as serde::Deserialize>::deserialize(d).expect("manifest YAML"))
        .filter(|d| !d.is_null())
        .collect()
}

/// `kubectl kustomize deploy/<dir>`, parsed.
///
/// # Panics
/// When kubectl is missing or the build fails.
pub fn kustomize(dir: &str) -> Vec<Value> {
    let path = deploy_dir().join(dir);
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(&path)
        .output()
        .expect("kubectl must be installed (scripts/deps/deploy.sh)");
    assert!(
        out.status.success(),
        "kubectl kustomize {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    parse_documents(&String::from_utf8_lossy(&out.stdout))
}

/// The chart `deploy/helm/sealkit` rendered by Helm: manifests and NOTES.txt.
#[derive(Debug, Clone)]
pub struct HelmRelease {
    /// Every object, in template-file order.
    pub manifests: Vec<Value>,
    /// The rendered `NOTES.txt`.
    pub notes: String,
}

/// One `helm lint` finding.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct LintMessage {
    /// Helm's severity: 0 unknown, 1 info, 2 warning, 3 error.
    pub severity: u8,
    /// The file it is about.
    pub path: String,
    /// What it says.
    pub error: String,
}

/// Drives Helm's library through `helm-python-sdk`: argv is chart, release, namespace and
/// `render` or `lint`; the values come as JSON on stdin; the answer is JSON on stdout, `{"ok": …}`
/// or `{"error": "…"}` for a chart that refuses the values.
const HELM_DRIVER: &str = r#"
import json, sys
import helm_python
chart, release, namespace, action = sys.argv[1:5]
values = json.load(sys.stdin)
try:
    if action == "render":
        out = helm_python.Chart.load(chart).render(values, name=release, namespace=namespace, is_install=True)
    else:
        out = helm_python.lint(chart, values, strict=True, namespace=namespace)
except helm_python.HelmError as e:
    json.dump({"error": str(e)}, sys.stdout)
else:
    json.dump({"ok": out}, sys.stdout)
"#;

fn helm(action: &str, values: &Value, release: &str, namespace: &str) -> Result<Value, String> {
    let chart = deploy_dir().join("helm/sealkit");
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(HELM_DRIVER)
        .arg(&chart)
        .args([release, namespace, action])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 must be installed (scripts/deps/common.sh)");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin
            .write_all(values.to_string().as_bytes())
            .expect("values to the Helm driver");
    }
    let out = child.wait_with_output().expect("the Helm driver ran");
    assert!(
        out.status.success(),
        "the Helm driver failed (is helm-python-sdk installed? scripts/deps/deploy.sh): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut answer: Value = serde_json::from_slice(&out.stdout).expect("JSON from the Helm driver");
    match answer.get_mut("ok") {
        Some(ok) => Ok(ok.take()),
        None => Err(answer["error"].as_str().unwrap_or_default().to_owned()),
    }
}

/// `helm template` of `deploy/helm/sealkit` with `values` (merged over the chart's defaults) as
/// release `release` in `namespace`; `Err` holds Helm's message when the chart refuses them.
///
/// # Panics
/// When python3 or helm-python-sdk is missing.
pub fn helm_template(
    values: &Value,
    release: &str,
    namespace: &str,
) -> Result<HelmRelease, String> {
    let files = helm("render", values, release, namespace)?;
    let files = files.as_object().cloned().unwrap_or_default();
    let mut names: Vec<&String> = files.keys().collect();
    names.sort();
    let mut manifests = Vec::new();
    let mut notes = String::new();
    for name in names {
        let text = files[name].as_str().unwrap_or_default();
        if name.ends_with("NOTES.txt") {
            notes = text.to_owned();
        } else {
            manifests.extend(parse_documents(text));
        }
    }
    Ok(HelmRelease { manifests, notes })
}

/// `helm lint --strict` of `deploy/helm/sealkit` with `values`: every finding.
///
/// # Panics
/// When python3 or helm-python-sdk is missing.
pub fn helm_lint(values: &Value, namespace: &str) -> Result<Vec<LintMessage>, String> {
    let report = helm("lint", values, "lint", namespace)?;
    let mut messages: Vec<LintMessage> =
        serde_json::from_value(report["messages"].clone()).expect("lint messages");
    for error in report["errors"].as_array().into_iter().flatten() {
        messages.push(LintMessage {
            severity: 3,
            path: String::new(),
            error: error
                .as_str()
                .map_or_else(|| error.to_string(), str::to_owned),
        });
    }
    Ok(messages)
}

/// Who a binding names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subject {
    /// `ServiceAccount`, `User` or `Group`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// A ServiceAccount's namespace; empty for users and groups.
    pub namespace: String,
}

impl Subject {
    /// The ServiceAccount `namespace/name`.
    pub fn service_account(namespace: &str, name: &str) -> Self {
        Self {
            kind: "ServiceAccount".into(),
            name: name.into(),
            namespace: namespace.into(),
        }
    }
}

/// One thing a subject may do: a verb on a resource (with subresource) of an API group, in one
/// namespace or everywhere, on one named object or all.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Grant {
    /// API group (`""` for core, `*` for all).
    pub api_group: String,
    /// Resource, e.g. `secrets` or `serviceaccounts/token` (`*` for all).
    pub resource: String,
    /// Verb (`*` for all).
    pub verb: String,
    /// The namespace it holds in; `None`: every namespace and cluster-scoped resources (a
    /// ClusterRoleBinding).
    pub namespace: Option<String>,
    /// The one object it is limited to (`resourceNames`), if any.
    pub resource_name: Option<String>,
}

impl Grant {
    /// Whether this grant lets its subject `verb` any object of `group`/`resource` in `namespace`
    /// (`None`: cluster-wide, e.g. a list across namespaces).
    pub fn allows(&self, verb: &str, group: &str, resource: &str, namespace: Option<&str>) -> bool {
        let matches = |granted: &str, wanted: &str| granted == "*" || granted == wanted;
        matches(&self.verb, verb)
            && matches(&self.api_group, group)
            && matches(&self.resource, resource)
            && self.resource_name.is_none()
            && (self.namespace.is_none() || self.namespace.as_deref() == namespace)
    }
}

/// What RBAC in `docs` grants each subject. A binding without a namespace is in
/// `default_namespace` (as `kubectl apply -n` would put it).
///
/// # Panics
/// When a binding refers to a role that `docs` do not hold.
pub fn grants(docs: &[Value], default_namespace: &str) -> BTreeMap<Subject, BTreeSet<Grant>> {
    let namespace_of = |d: &Value| {
        d["metadata"]["namespace"]
            .as_str()
            .unwrap_or(default_namespace)
            .to_owned()
    };
    let mut out: BTreeMap<Subject, BTreeSet<Grant>> = BTreeMap::new();
    for binding in docs {
        let namespace = match binding["kind"].as_str() {
            Some("ClusterRoleBinding") => None,
            Some("RoleBinding") => Some(namespace_of(binding)),
            _ => continue,
        };
        let role_kind = binding["roleRef"]["kind"].as_str().unwrap_or_default();
        let role_name = &binding["roleRef"]["name"];
        let role = docs
            .iter()
            .find(|d| {
                d["kind"] == role_kind
                    && d["metadata"]["name"] == *role_name
                    && (role_kind == "ClusterRole" || Some(namespace_of(d)) == namespace)
            })
            .unwrap_or_else(|| {
                panic!(
                    "{} {} refers to a missing {role_kind} {role_name}",
                    binding["kind"], binding["metadata"]["name"]
                )
            });
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        };
        let mut granted = BTreeSet::new();
        for rule in role["rules"].as_array().into_iter().flatten() {
            let names = strings(&rule["resourceNames"]);
            let names: Vec<Option<String>> = if names.is_empty() {
                vec![None]
            } else {
                names.into_iter().map(Some).collect()
            };
            for api_group in strings(&rule["apiGroups"]) {
                for resource in strings(&rule["resources"]) {
                    for verb in strings(&rule["verbs"]) {
                        for resource_name in &names {
                            granted.insert(Grant {
                                api_group: api_group.clone(),
                                resource: resource.clone(),
                                verb: verb.clone(),
                                namespace: namespace.clone(),
                                resource_name: resource_name.clone(),
                            });
                        }
                    }
                }
            }
        }
        for subject in binding["subjects"].as_array().into_iter().flatten() {
            let kind = subject["kind"].as_str().unwrap_or_default();
            let subject = Subject {
                kind: kind.into(),
                name: subject["name"].as_str().unwrap_or_default().into(),
                namespace: if kind == "ServiceAccount" {
                    subject["namespace"]
                        .as_str()
                        .map_or_else(|| namespace_of(binding), str::to_owned)
                } else {
                    String::new()
                },
            };
            out.entry(subject)
                .or_default()
                .extend(granted.iter().cloned());
        }
    }
    out
}

/// The objects an end-to-end test loads into the harness to run the components under the
/// manifests' own identities: Namespaces, ServiceAccounts and RBAC.
pub fn rbac_objects(docs: &[Value]) -> Vec<Value> {
    const KINDS: [&str; 6] = [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
    ];
    docs.iter()
        .filter(|d| KINDS.iter().any(|k| d["kind"] == *k))
        .cloned()
        .collect()
}

/// The object of `kind` named `name` in `docs`.
///
/// # Panics
/// When there is none.
pub fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// A container's flags as `flag → value` (`--flag` alone is `true`).
pub fn flags(container: &Value) -> BTreeMap<String, String> {
    container["args"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(|a| a.strip_prefix("--"))
        .map(|a| match a.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (a.to_owned(), "true".to_owned()),
        })
        .collect()
}
