//! The shipped manifests (issue 13, "Separate identities"): `deploy/base` and
//! `deploy/external-secrets` rendered by `kubectl kustomize`, the chart `deploy/helm/sealkit`
//! rendered and linted by the real Helm v4 engine (helm-python-sdk), and who can do what in them.
//! Which API calls each component makes is checked against the same manifests in
//! `crates/controller/src/rbac.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use serde_json::{Value, json};

use sealkit_tests::deploy::{
    Grant, Subject, find, flags, grants, helm_lint, helm_template, kustomize, parse_documents,
};

/// Where the sealing keys live in the shipped manifests.
const KEY_NAMESPACE: &str = "kube-system";
/// The bridge's own namespace.
const BRIDGE_NAMESPACE: &str = "sealkit-external-secrets";
/// The served namespace of the kustomize example.
const SERVED: &str = "apps";

fn sealer() -> Subject {
    Subject::service_account(KEY_NAMESPACE, "sealed-secrets-controller")
}

fn bridge() -> Subject {
    Subject::service_account(BRIDGE_NAMESPACE, "sealkit-external-secrets")
}

/// `kubectl apply -k deploy/base && kubectl apply -k deploy/external-secrets`.
fn kustomized() -> Vec<Value> {
    let mut docs = kustomize("base");
    docs.extend(kustomize("external-secrets"));
    docs
}

fn helm_values_with_bridge() -> Value {
    json!({"externalSecrets": {"enabled": true, "namespaces": [SERVED]}})
}

/// `helm template sealkit deploy/helm/sealkit -n kube-system` with the bridge serving `apps`.
fn helm_with_bridge() -> Vec<Value> {
    helm_template(&helm_values_with_bridge(), "sealkit", KEY_NAMESPACE)
        .unwrap()
        .manifests
}

/// Both renderings of the full install, named for messages.
fn renderings() -> [(&'static str, Vec<Value>); 2] {
    [("kustomize", kustomized()), ("helm", helm_with_bridge())]
}

fn container(docs: &[Value], deployment: &str) -> Value {
    find(docs, "Deployment", deployment)["spec"]["template"]["spec"]["containers"][0].clone()
}

fn can(granted: &BTreeSet<Grant>, verb: &str, group: &str, resource: &str, ns: &str) -> bool {
    granted
        .iter()
        .any(|g| g.allows(verb, group, resource, Some(ns)))
}

#[test]
fn kustomize_and_helm_grant_every_identity_the_same_rules() {
    assert_eq!(
        grants(&kustomized(), KEY_NAMESPACE),
        grants(&helm_with_bridge(), KEY_NAMESPACE),
        "deploy/base + deploy/external-secrets and the chart with externalSecrets.enabled"
    );
    let default_chart = helm_template(&json!({}), "sealkit", KEY_NAMESPACE).unwrap();
    assert_eq!(
        grants(&kustomize("base"), KEY_NAMESPACE),
        grants(&default_chart.manifests, KEY_NAMESPACE),
        "deploy/base and the chart's defaults"
    );
}

// issue 13: no namespace user may reach the sealing keys through the bridge's identity.
#[test]
fn only_the_sealing_controller_can_read_secrets_in_the_key_namespace() {
    for (how, docs) in renderings() {
        let all = grants(&docs, KEY_NAMESPACE);
        assert!(
            can(&all[&sealer()], "get", "", "secrets", KEY_NAMESPACE),
            "{how}: the sealing controller must read its keys"
        );
        for (subject, granted) in &all {
            for verb in ["get", "list", "watch"] {
                assert!(
                    *subject == sealer() || !can(granted, verb, "", "secrets", KEY_NAMESPACE),
                    "{how}: {subject:?} may {verb} Secrets in {KEY_NAMESPACE}"
                );
            }
        }
    }
}

// issue 13: the bridge touches Secrets only through RoleBindings in the namespaces it serves,
// the same ones its --external-secrets-namespaces names.
#[test]
fn the_bridge_reaches_secrets_only_in_the_namespaces_it_serves() {
    for (how, docs) in renderings() {
        let all = grants(&docs, KEY_NAMESPACE);
        let granted = &all[&bridge()];
        let mut secret_namespaces = BTreeSet::new();
        for g in granted {
            let on_secrets = g.allows(&g.verb, "", "secrets", g.namespace.as_deref());
            if !on_secrets {
                continue;
            }
            let ns = g.namespace.as_deref().unwrap_or_else(|| {
                panic!("{how}: a ClusterRoleBinding grants the bridge Secrets: {g:?}")
            });
            secret_namespaces.insert(ns.to_owned());
        }
        for verb in [
            "get", "list", "watch", "create", "update", "patch", "delete",
        ] {
            assert!(
                !can(granted, verb, "", "secrets", KEY_NAMESPACE),
                "{how}: the bridge may {verb} Secrets in {KEY_NAMESPACE}"
            );
        }
        let flags = flags(&container(&docs, "sealkit-external-secrets"));
        let served: BTreeSet<String> = flags["external-secrets-namespaces"]
            .split(',')
            .map(str::to_owned)
            .collect();
        assert_eq!(secret_namespaces, served, "{how}: RoleBindings vs flag");
        assert_eq!(served, BTreeSet::from([SERVED.to_owned()]), "{how}");
        assert!(
            can(granted, "create", "", "serviceaccounts/token", SERVED),
            "{how}: TokenRequests for the stores' ServiceAccounts"
        );
        assert!(
            !can(
                granted,
                "create",
                "",
                "serviceaccounts/token",
                KEY_NAMESPACE
            ),
            "{how}: no TokenRequest for the sealing controller's ServiceAccount"
        );
        assert!(
            can(granted, "get", "", "serviceaccounts", SERVED)
                && !can(granted, "get", "", "serviceaccounts", KEY_NAMESPACE),
            "{how}: the stores' ServiceAccounts (IRSA role annotation), only where served"
        );
    }

    // More namespaces: one RoleBinding each, and the same list in the flag.
    let values = json!({"externalSecrets": {"enabled": true, "namespaces": ["apps", "web"]}});
    let docs = helm_template(&values, "sealkit", KEY_NAMESPACE)
        .unwrap()
        .manifests;
    let granted = &grants(&docs, KEY_NAMESPACE)[&bridge()];
    for ns in ["apps", "web"] {
        assert!(can(granted, "get", "", "secrets", ns), "{ns}");
    }
    assert!(!can(granted, "get", "", "secrets", "default"));
    assert_eq!(
        flags(&container(&docs, "sealkit-external-secrets"))["external-secrets-namespaces"],
        "apps,web"
    );
}

#[test]
fn deploy_base_and_the_default_chart_run_no_bridge_and_grant_nothing_external_secrets_io() {
    let base = kustomize("base");
    let default_chart = helm_template(&json!({}), "sealkit", KEY_NAMESPACE)
        .unwrap()
        .manifests;
    for (how, docs) in [("deploy/base", &base), ("default chart", &default_chart)] {
        let deployments: Vec<&str> = docs
            .iter()
            .filter(|d| d["kind"] == "Deployment")
            .filter_map(|d| d["metadata"]["name"].as_str())
            .collect();
        assert_eq!(deployments, ["sealed-secrets-controller"], "{how}");
        assert_eq!(
            flags(&container(docs, "sealed-secrets-controller"))["external-secrets"],
            "false",
            "{how}"
        );
        for (subject, granted) in grants(docs, KEY_NAMESPACE) {
            assert!(
                granted.iter().all(|g| g.api_group != "external-secrets.io"),
                "{how}: {subject:?} is granted external-secrets.io"
            );
        }
        assert!(
            !docs.iter().any(|d| d["kind"] == "CustomResourceDefinition"
                && d["spec"]["group"] == "external-secrets.io"),
            "{how}: ESO's CRDs belong to the bridge (a cluster running ESO keeps its own)"
        );
    }
}

// The modes and flags of INTERFACES.md ("seal-controller process modes").
#[test]
fn the_deployments_run_the_modes_and_identities_the_interfaces_name() {
    let mut bridge_flags = Vec::new();
    for (how, docs) in renderings() {
        let sealing = find(&docs, "Deployment", "sealed-secrets-controller");
        assert_eq!(sealing["metadata"]["namespace"], KEY_NAMESPACE, "{how}");
        let pod = &sealing["spec"]["template"]["spec"];
        assert_eq!(pod["serviceAccountName"], "sealed-secrets-controller");
        let f = flags(&pod["containers"][0]);
        assert_eq!(f.get("external-secrets").map(String::as_str), Some("false"));
        assert_ne!(f.get("sealed-secrets").map(String::as_str), Some("false"));
        assert_eq!(f["leader-elect"], "true", "{how}");

        let bridge = find(&docs, "Deployment", "sealkit-external-secrets");
        assert_eq!(bridge["metadata"]["namespace"], BRIDGE_NAMESPACE, "{how}");
        let pod = &bridge["spec"]["template"]["spec"];
        assert_eq!(pod["serviceAccountName"], "sealkit-external-secrets");
        let f = flags(&pod["containers"][0]);
        let expected: BTreeMap<String, String> = [
            ("sealed-secrets", "false"),
            ("external-secrets", "true"),
            ("external-secrets-namespaces", SERVED),
            ("leader-elect", "true"),
            ("leader-elect-lease-name", "sealkit-external-secrets"),
            ("log-format", "json"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(f, expected, "{how}");
        bridge_flags.push(f);

        // The Lease lives in the pod's namespace: POD_NAMESPACE comes from the downward API.
        for deployment in [sealing, bridge] {
            let env = &deployment["spec"]["template"]["spec"]["containers"][0]["env"];
            assert!(
                env.as_array()
                    .into_iter()
                    .flatten()
                    .any(|e| e["name"] == "POD_NAMESPACE"
                        && e["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"),
                "{how}: {}",
                deployment["metadata"]["name"]
            );
        }
        // The bridge's own namespace exists, with the restricted Pod Security level.
        let ns = find(&docs, "Namespace", BRIDGE_NAMESPACE);
        assert_eq!(
            ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], "restricted",
            "{how}"
        );
        // A metrics Service selects the bridge's pods; it serves no API.
        let svc = find(&docs, "Service", "sealkit-external-secrets-metrics");
        assert_eq!(svc["metadata"]["namespace"], BRIDGE_NAMESPACE);
        assert_eq!(
            svc["spec"]["selector"]["app.kubernetes.io/name"],
            "sealkit-external-secrets"
        );
        assert_eq!(svc["spec"]["ports"][0]["port"], 8081);
    }

    // Apart from the pull policy (Helm sets it), the bridge's pod is the same either way.
    let pod = |docs: &[Value]| {
        let mut pod =
            find(docs, "Deployment", "sealkit-external-secrets")["spec"]["template"]["spec"]
                .clone();
        let c = &mut pod["containers"][0];
        c.as_object_mut().unwrap().remove("imagePullPolicy");
        c["args"] = Value::Null;
        pod
    };
    assert_eq!(pod(&kustomized()), pod(&helm_with_bridge()));
}

#[test]
fn every_pod_runs_unprivileged_with_a_read_only_root() {
    for (how, docs) in renderings() {
        for deployment in docs.iter().filter(|d| d["kind"] == "Deployment") {
            let name = &deployment["metadata"]["name"];
            let pod = &deployment["spec"]["template"]["spec"];
            let sc = &pod["securityContext"];
            assert_eq!(sc["runAsNonRoot"], true, "{how} {name}");
            assert_eq!(
                sc["seccompProfile"]["type"], "RuntimeDefault",
                "{how} {name}"
            );
            for c in pod["containers"].as_array().unwrap() {
                let sc = &c["securityContext"];
                assert_eq!(sc["allowPrivilegeEscalation"], false, "{how} {name}");
                assert_eq!(sc["readOnlyRootFilesystem"], true, "{how} {name}");
                assert_eq!(sc["privileged"], false, "{how} {name}");
                assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{how} {name}");
                assert!(
                    c["image"]
                        .as_str()
                        .unwrap()
                        .starts_with("ghcr.io/sealkit/seal-controller:"),
                    "{how} {name}"
                );
            }
        }
    }
}

#[test]
fn the_helm_chart_lints_clean_with_the_real_helm_engine() {
    for values in [
        json!({}),
        helm_values_with_bridge(),
        json!({
            "externalSecrets": {"enabled": true, "namespaces": [SERVED]},
            "networkPolicy": {
                "enabled": true,
                "apiServer": {"cidrs": ["192.0.2.10/32"]},
                "externalSecrets": {"providerCIDRs": ["0.0.0.0/0"], "providerPorts": [443]},
            },
        }),
    ] {
        let messages = helm_lint(&values, KEY_NAMESPACE).unwrap();
        let serious: Vec<_> = messages.iter().filter(|m| m.severity >= 2).collect();
        assert!(serious.is_empty(), "{values}: {serious:?}");
    }
}

#[test]
fn the_helm_chart_refuses_a_bridge_serving_every_namespace_or_the_key_namespace() {
    let refused = |values: Value| {
        helm_template(&values, "sealkit", KEY_NAMESPACE)
            .err()
            .unwrap_or_else(|| panic!("the chart rendered {values}"))
    };
    let no_list = refused(json!({"externalSecrets": {"enabled": true}}));
    assert!(
        no_list.contains("externalSecrets.namespaces must list the namespaces"),
        "{no_list}"
    );
    let keys = refused(
        json!({"externalSecrets": {"enabled": true, "namespaces": ["apps", KEY_NAMESPACE]}}),
    );
    assert!(keys.contains("must not hold kube-system"), "{keys}");
    let same_home = refused(json!({"externalSecrets": {
        "enabled": true, "namespaces": ["apps"], "namespace": KEY_NAMESPACE}}));
    assert!(
        same_home.contains("runs in its own namespace"),
        "{same_home}"
    );
}

#[test]
fn the_helm_notes_say_which_identity_reads_the_keys_and_where_the_bridge_serves() {
    let notes = helm_template(
        &json!({"externalSecrets": {"enabled": true, "namespaces": ["apps", "web"]}}),
        "sealkit",
        KEY_NAMESPACE,
    )
    .unwrap()
    .notes;
    assert!(
        notes.contains("only identity this chart lets read the sealing keys"),
        "{notes}"
    );
    assert!(notes.contains("Secrets only in: apps,web"), "{notes}");
    let notes = helm_template(&json!({}), "sealkit", KEY_NAMESPACE)
        .unwrap()
        .notes;
    assert!(
        notes.contains("The ExternalSecret bridge is off"),
        "{notes}"
    );
}

// ---- NetworkPolicies ----------------------------------------------------------------------

/// An IPv4 CIDR as (network, prefix length).
fn v4(cidr: &str) -> Option<(u32, u32)> {
    let (addr, bits) = cidr.split_once('/')?;
    let addr: Ipv4Addr = addr.parse().ok()?;
    let bits: u32 = bits.parse().ok()?;
    (bits <= 32).then_some((u32::from(addr), bits))
}

/// Whether `outer` holds every address of `inner`.
fn holds(outer: (u32, u32), inner: (u32, u32)) -> bool {
    let mask = |bits: u32| u32::MAX.checked_shl(32 - bits).unwrap_or(0);
    outer.1 <= inner.1 && outer.0 & mask(outer.1) == inner.0 & mask(outer.1)
}

/// Whether an `ipBlock` lets traffic reach 169.254.0.0/16 (or, for `::/0`, fe80::/10).
fn reaches_link_local(block: &Value) -> bool {
    let cidr = block["cidr"].as_str().unwrap();
    let except: Vec<&str> = block["except"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if cidr.contains(':') {
        return (cidr == "::/0" && !except.contains(&"fe80::/10"))
            || cidr.to_ascii_lowercase().starts_with("fe8");
    }
    let link_local = v4("169.254.0.0/16").unwrap();
    let range = v4(cidr).unwrap_or_else(|| panic!("bad CIDR {cidr}"));
    if holds(link_local, range) {
        return true;
    }
    holds(range, link_local)
        && !except
            .iter()
            .filter_map(|e| v4(e))
            .any(|e| holds(e, link_local))
}

/// Checks one component's policy: it selects the Deployment's pods; ingress only on 8080/8081;
/// every egress rule names its peers (no "anywhere"), DNS only on port 53, and `ip_blocks` lists
/// every allowed address range besides DNS. Returns the ranges.
fn check_policy(how: &str, policy: &Value, deployment: &Value) -> Vec<Value> {
    let name = &policy["metadata"]["name"];
    assert_eq!(
        policy["metadata"]["namespace"], deployment["metadata"]["namespace"],
        "{how} {name}"
    );
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    for (k, v) in policy["spec"]["podSelector"]["matchLabels"]
        .as_object()
        .unwrap()
    {
        assert_eq!(&labels[k], v, "{how} {name}: selects the Deployment's pods");
    }
    let types = &policy["spec"]["policyTypes"];
    assert_eq!(*types, json!(["Ingress", "Egress"]), "{how} {name}");
    for rule in policy["spec"]["ingress"].as_array().unwrap() {
        let ports: BTreeSet<i64> = rule["ports"]
            .as_array()
            .expect("ingress limited to ports")
            .iter()
            .map(|p| p["port"].as_i64().unwrap())
            .collect();
        assert!(
            !ports.is_empty() && ports.is_subset(&BTreeSet::from([8080, 8081])),
            "{how} {name}: ingress ports {ports:?}"
        );
    }
    let mut blocks = Vec::new();
    for rule in policy["spec"]["egress"].as_array().unwrap() {
        let peers = rule["to"].as_array().expect("egress names its peers");
        assert!(!peers.is_empty(), "{how} {name}: egress anywhere");
        for peer in peers {
            if peer.get("ipBlock").is_some() {
                blocks.push(peer["ipBlock"].clone());
            } else {
                assert_eq!(
                    peer["podSelector"]["matchLabels"]["k8s-app"], "kube-dns",
                    "{how} {name}: {peer}"
                );
                let ports: BTreeSet<i64> = rule["ports"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["port"].as_i64().unwrap())
                    .collect();
                assert_eq!(ports, BTreeSet::from([53]), "{how} {name}: DNS only");
            }
        }
    }
    blocks
}

fn example_policies() -> Vec<Value> {
    let path = sealkit_tests::deploy::deploy_dir().join("examples/networkpolicy.yaml");
    parse_documents(&fs_err::read_to_string(path).unwrap())
}

// issue 13: the sealing controller talks to the API server and DNS only; the bridge never to
// the cloud metadata addresses.
#[test]
fn network_policies_confine_the_sealing_controller_and_keep_the_bridge_off_cloud_metadata() {
    let api_server = json!({"cidr": "192.0.2.10/32"});
    let helm = helm_template(
        &json!({
            "externalSecrets": {"enabled": true, "namespaces": [SERVED]},
            "networkPolicy": {
                "enabled": true,
                "apiServer": {"cidrs": ["192.0.2.10/32"]},
                "externalSecrets": {"providerCIDRs": ["10.20.0.0/16", "0.0.0.0/0"]},
            },
        }),
        "sealkit",
        KEY_NAMESPACE,
    )
    .unwrap()
    .manifests;
    let mut example = kustomized();
    example.extend(example_policies());
    for (how, docs) in [("deploy/examples", &example), ("helm", &helm)] {
        let sealing = check_policy(
            how,
            find(docs, "NetworkPolicy", "sealed-secrets-controller"),
            find(docs, "Deployment", "sealed-secrets-controller"),
        );
        assert_eq!(
            sealing,
            std::slice::from_ref(&api_server),
            "{how}: the sealing controller reaches the API server only"
        );
        let bridge = check_policy(
            how,
            find(docs, "NetworkPolicy", "sealkit-external-secrets"),
            find(docs, "Deployment", "sealkit-external-secrets"),
        );
        assert!(bridge.contains(&api_server), "{how}");
        assert!(bridge.len() > 1, "{how}: the example lists providers");
        for block in &bridge {
            assert!(!reaches_link_local(block), "{how}: {block}");
        }
    }
}

#[test]
fn the_chart_cuts_cloud_metadata_out_of_every_provider_range() {
    let render = |cidrs: Value| {
        helm_template(
            &json!({
                "externalSecrets": {"enabled": true, "namespaces": [SERVED]},
                "networkPolicy": {
                    "enabled": true,
                    "apiServer": {"cidrs": ["192.0.2.10/32"]},
                    "externalSecrets": {"providerCIDRs": cidrs},
                },
            }),
            "sealkit",
            KEY_NAMESPACE,
        )
    };
    let cidrs = json!([
        "0.0.0.0/0",
        "128.0.0.0/1",
        "169.0.0.0/8",
        "169.254.0.0/15",
        "10.20.0.0/16",
        "169.255.0.0/16",
        "::/0",
        "2001:db8::/32"
    ]);
    let docs = render(cidrs.clone()).unwrap().manifests;
    let policy = find(&docs, "NetworkPolicy", "sealkit-external-secrets");
    let rendered: Vec<&Value> = policy["spec"]["egress"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["to"].as_array().unwrap())
        .filter_map(|p| p.get("ipBlock"))
        .filter(|b| b["cidr"] != "192.0.2.10/32")
        .collect();
    assert_eq!(
        rendered
            .iter()
            .map(|b| b["cidr"].clone())
            .collect::<Vec<_>>(),
        cidrs.as_array().unwrap().clone(),
        "every listed range, in order"
    );
    for block in &rendered {
        assert!(!reaches_link_local(block), "{block}");
    }
    // Exceptions only where a range holds the metadata range (the API server refuses an
    // `except` outside its `cidr`).
    for block in &rendered {
        let cidr = block["cidr"].as_str().unwrap();
        let excepted = block.get("except").is_some();
        let expected = [
            "0.0.0.0/0",
            "128.0.0.0/1",
            "169.0.0.0/8",
            "169.254.0.0/15",
            "::/0",
        ]
        .contains(&cidr);
        assert_eq!(excepted, expected, "{block}");
    }
    for inside in ["169.254.169.254/32", "169.254.0.0/16", "fe80::/10"] {
        let err = render(json!([inside]))
            .err()
            .unwrap_or_else(|| panic!("{inside} rendered"));
        assert!(err.contains(inside), "{err}");
    }
}
