//! `seal reseal` offline, checked by the independent Python implementation of the format
//! (`tests/interop/bitnami_format.py`): SealedSecrets sealed by Python for an old key, in a
//! tree of YAML and JSON files with comments, lists and other objects, re-sealed by `seal`
//! for a new certificate, then opened by Python with the new key. Every byte outside the
//! `encryptedData` values must be as it was. (issue 17)

use std::path::Path;
use std::process::Command as StdCommand;

use predicates::prelude::*;

use super::{python_impl, seal};

/// Runs the Python implementation.
fn python(args: &[&str], stdin: &str) -> String {
    use std::io::Write as _;
    let mut child = StdCommand::new("python3")
        .arg(python_impl())
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "bitnami_format.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn python_ok(args: &[&str], stdin: &str) -> bool {
    use std::io::Write as _;
    let mut child = StdCommand::new("python3")
        .arg(python_impl())
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait().unwrap().success()
}

/// A Secret for Python to seal.
fn secret(ns: &str, name: &str, scope: Option<&str>, items: &[(&str, &str)]) -> String {
    let mut annotations = serde_json::Map::new();
    if let Some(scope) = scope {
        annotations.insert(format!("sealedsecrets.bitnami.com/{scope}"), "true".into());
    }
    let data: serde_json::Map<String, serde_json::Value> = items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).into()))
        .collect();
    serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": ns, "annotations": annotations},
        "stringData": data,
    })
    .to_string()
}

/// The values of `spec.encryptedData` of a Python-sealed object, sorted by key.
fn values(sealed_json: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(sealed_json).unwrap();
    v["spec"]["encryptedData"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// `text` with every long base64 run (a sealed blob) replaced by `<blob>`.
fn masked(text: &str) -> String {
    let is_b64 = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=');
    let mut out = String::new();
    let mut run = String::new();
    for c in text.chars() {
        if is_b64(c) {
            run.push(c);
            continue;
        }
        out.push_str(if run.len() > 200 { "<blob>" } else { &run });
        run.clear();
        out.push(c);
    }
    out.push_str(if run.len() > 200 { "<blob>" } else { &run });
    out
}

/// Every SealedSecret of a file, as JSON objects (documents and List items).
fn sealed_objects(path: &Path) -> Vec<String> {
    let text = fs_err::read_to_string(path).unwrap();
    let (_, docs) = sealer::yaml::parse_stream(&text).unwrap();
    docs.into_iter()
        .filter(|d| d.kind() == Some("SealedSecret"))
        .map(|d| d.value.to_string())
        .collect()
}

/// The plaintext items Python opens with `key`, as JSON `data` (base64 values).
fn open(key: &Path, sealed: &str) -> serde_json::Value {
    let out = python(&["unseal", key.to_str().unwrap()], sealed);
    serde_json::from_str::<serde_json::Value>(&out).unwrap()["data"].clone()
}

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn a_tree_resealed_offline_opens_with_the_new_key_in_python_and_only_values_change() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (old, new) = (root.join("old"), root.join("new"));
    python(&["keygen", old.to_str().unwrap()], "");
    python(&["keygen", new.to_str().unwrap()], "");
    let old_cert = old.join("tls.crt");
    let new_cert = new.join("tls.crt");
    let seal_with = |cert: &Path, s: &str| python(&["seal", cert.to_str().unwrap()], s);

    let db = seal_with(
        &old_cert,
        &secret(
            "team-a",
            "db",
            None,
            &[
                ("user", "admin"),
                ("password", "hunter2"),
                ("url", "postgres://db"),
            ],
        ),
    );
    let api = seal_with(
        &old_cert,
        &secret(
            "team-b",
            "api",
            Some("namespace-wide"),
            &[("token", "t0k3n")],
        ),
    );
    let wide = seal_with(
        &old_cert,
        &secret("any", "shared", Some("cluster-wide"), &[("ca", "PEM…")]),
    );
    let current = seal_with(
        &new_cert,
        &secret("team-a", "cur", None, &[("k", "already new")]),
    );
    let hidden = seal_with(&old_cert, &secret("team-a", "hidden", None, &[("k", "v")]));

    let tree = root.join("tree");
    fs_err::create_dir_all(tree.join("app/nested")).unwrap();
    fs_err::create_dir_all(tree.join(".git")).unwrap();
    // kubeseal's JSON output as is.
    fs_err::write(tree.join("app/db.json"), &db).unwrap();
    // A hand-written YAML stream: comments, another kind, quoting, a List.
    let [api_token] = values(&api).try_into().unwrap();
    let [wide_ca] = values(&wide).try_into().unwrap();
    let yaml = format!(
        "# Everything for team B.\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings}}\ndata:\n  mode: \"strict\"   # keep me\n---\n# the API token\napiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: api\n  namespace: team-b\n  annotations:\n    sealedsecrets.bitnami.com/namespace-wide: \"true\"\nspec:\n  encryptedData:\n    token: \"{api_token}\"   # rotated yearly\n  template:\n    metadata: {{name: api, namespace: team-b}}\n---\napiVersion: v1\nkind: List\nitems:\n  - apiVersion: bitnami.com/v1alpha1\n    kind: SealedSecret\n    metadata:\n      name: shared\n      namespace: any\n      annotations: {{sealedsecrets.bitnami.com/cluster-wide: \"true\"}}\n    spec:\n      encryptedData:\n        ca: '{wide_ca}'\n"
    );
    fs_err::write(tree.join("app/nested/all.yaml"), &yaml).unwrap();
    fs_err::write(tree.join("app/current.json"), &current).unwrap();
    fs_err::write(tree.join(".git/hidden.json"), &hidden).unwrap();
    fs_err::write(tree.join("app/notes.md"), "kind: SealedSecret (prose)\n").unwrap();
    let before = |p: &str| fs_err::read_to_string(tree.join(p)).unwrap();
    let (db_before, all_before, current_before, hidden_before) = (
        before("app/db.json"),
        before("app/nested/all.yaml"),
        before("app/current.json"),
        before(".git/hidden.json"),
    );

    // A dry run changes nothing and says what would change.
    let keys = format!(
        "{},{}",
        old.join("tls.key").display(),
        new.join("tls.key").display()
    );
    let out = seal()
        .args([
            "reseal",
            "--dry-run",
            "--output",
            "json",
            "--private-key",
            &keys,
            "--cert",
        ])
        .arg(&new_cert)
        .arg(&tree)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let report: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(report["summary"]["resealed"], 2, "{report}");
    assert_eq!(report["summary"]["unchanged"], 1, "{report}");
    assert_eq!(before("app/db.json"), db_before);

    let out = seal()
        .args([
            "reseal",
            "--output",
            "json",
            "--private-key",
            &keys,
            "--cert",
        ])
        .arg(&new_cert)
        .arg(&tree)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let report: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let summary = &report["summary"];
    assert_eq!(
        (
            &summary["files"],
            &summary["resealed"],
            &summary["unchanged"],
            &summary["failed"]
        ),
        (&3.into(), &2.into(), &1.into(), &0.into()),
        "{report}"
    );
    assert_eq!(
        (&summary["resealedItems"], &summary["keptItems"]),
        (&5.into(), &1.into())
    );

    // Only the values changed; the file already sealed for the new key and the hidden
    // directory are byte-identical.
    assert_ne!(before("app/db.json"), db_before);
    assert_eq!(masked(&before("app/db.json")), masked(&db_before));
    assert_ne!(before("app/nested/all.yaml"), all_before);
    assert_eq!(masked(&before("app/nested/all.yaml")), masked(&all_before));
    assert_eq!(before("app/current.json"), current_before);
    assert_eq!(before(".git/hidden.json"), hidden_before);

    // Python opens every re-sealed object with the new key only.
    let (old_key, new_key) = (old.join("tls.key"), new.join("tls.key"));
    let mut opened = Vec::new();
    for file in ["app/db.json", "app/nested/all.yaml"] {
        for object in sealed_objects(&tree.join(file)) {
            assert!(!python_ok(&["unseal", old_key.to_str().unwrap()], &object));
            opened.push(open(&new_key, &object));
        }
    }
    assert_eq!(opened[0]["password"], b64("hunter2"));
    assert_eq!(opened[0]["user"], b64("admin"));
    assert_eq!(opened[1]["token"], b64("t0k3n"));
    assert_eq!(opened[2]["ca"], b64("PEM…"));

    // Run again: everything is current now, nothing is written.
    seal()
        .args(["reseal", "--private-key", &keys, "--cert"])
        .arg(&new_cert)
        .arg(&tree)
        .assert()
        .success()
        .stdout(
            predicates::str::contains("unchanged")
                .and(predicates::str::contains("resealed ").not()),
        );
}

#[test]
fn without_the_new_private_key_a_current_file_fails_untouched_and_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (old, new) = (root.join("old"), root.join("new"));
    python(&["keygen", old.to_str().unwrap()], "");
    python(&["keygen", new.to_str().unwrap()], "");
    let stale = python(
        &["seal", old.join("tls.crt").to_str().unwrap()],
        &secret("ns", "stale", None, &[("k", "v")]),
    );
    let current = python(
        &["seal", new.join("tls.crt").to_str().unwrap()],
        &secret("ns", "current", None, &[("k", "v")]),
    );
    fs_err::write(root.join("stale.json"), &stale).unwrap();
    fs_err::write(root.join("current.json"), &current).unwrap();
    seal()
        .args(["reseal", "--private-key"])
        .arg(old.join("tls.key"))
        .arg("--cert")
        .arg(new.join("tls.crt"))
        .arg(root.join("stale.json"))
        .arg(root.join("current.json"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "the private key of --cert is not among --private-key",
        ))
        .stderr(predicate::str::contains(
            "1 file(s) failed and were left untouched",
        ))
        .stderr(predicate::str::contains(
            "current.json: ns/current: item \"k\": no key could decrypt it",
        ));
    assert_eq!(
        fs_err::read_to_string(root.join("current.json")).unwrap(),
        current
    );
    assert_ne!(
        fs_err::read_to_string(root.join("stale.json")).unwrap(),
        stale
    );
}
