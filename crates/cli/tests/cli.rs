//! Black-box tests of the `seal` binary: SealedSecret commands, their errors, and interop with
//! an independent implementation of the format (Python `cryptography`).

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use assert_cmd::Command;
use predicates::prelude::*;
use tempfile::TempDir;

#[path = "cli/reseal.rs"]
mod reseal;

const SECRET: &str = "\
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: prod
  labels:
    app: shop
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{\"stringData\":{\"password\":\"hunter2\"}}'
type: kubernetes.io/basic-auth
stringData:
  password: hunter2
data:
  username: YWRtaW4=
";

fn seal() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_seal"));
    cmd.env_remove("SEALED_SECRETS_CERT")
        .env_remove("SEALED_SECRETS_SCOPE")
        .env_remove("SEALED_SECRETS_FORMAT");
    cmd
}

fn conformance() -> PathBuf {
    sealkit_tests::conformance()
}

fn python_impl() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/bitnami_format.py")
}

/// A temp dir with a fresh 2048-bit key pair (tls.key, tls.crt) and the sample Secret.
struct Fixture {
    dir: TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = TempDir::new().unwrap();
        seal()
            .args(["keygen", "--bits", "2048", "--out-dir"])
            .arg(dir.path())
            .assert()
            .success()
            .stdout("");
        fs_err::write(dir.path().join("secret.yaml"), SECRET).unwrap();
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.path(name);
        fs_err::write(&path, contents).unwrap();
        path
    }

    fn seal_args(&self, extra: &[&str]) -> String {
        let out = seal()
            .arg(self.path("secret.yaml"))
            .arg("--cert")
            .arg(self.path("tls.crt"))
            .args(extra)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        String::from_utf8(out).unwrap()
    }

    fn unseal(&self, sealed: &str) -> assert_cmd::assert::Assert {
        seal()
            .args(["unseal", "--private-key"])
            .arg(self.path("tls.key"))
            .write_stdin(sealed)
            .assert()
    }
}

fn failure(assert: assert_cmd::assert::Assert, message: &str) {
    assert
        .code(1)
        .stdout("")
        .stderr(predicate::str::starts_with("error: ").and(predicate::str::contains(message)))
        .stderr(predicate::function(|s: &str| s.lines().count() == 1));
}

fn yaml_value(text: &str) -> serde_json::Value {
    serde_yaml_ng::from_str(text).unwrap()
}

#[test]
fn keygen_writes_a_private_key_only_its_owner_can_read() {
    use std::os::unix::fs::PermissionsExt as _;
    let fx = Fixture::new();
    let mode = fs_err::metadata(fx.path("tls.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let key = fs_err::read_to_string(fx.path("tls.key")).unwrap();
    assert!(key.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    let out = StdCommand::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(fx.path("tls.crt"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "openssl rejected the certificate");
    assert!(text.contains("Encipher Only"), "{text}");
    assert!(text.contains("CA:TRUE"), "{text}");
}

#[test]
fn sealed_output_holds_no_plaintext_and_unseals_to_the_same_secret() {
    let fx = Fixture::new();
    let sealed = fx.seal_args(&[]);
    assert!(sealed.starts_with("---\n"));
    assert!(!sealed.contains("hunter2"));
    assert!(!sealed.contains("last-applied-configuration"));
    let doc = yaml_value(&sealed);
    assert_eq!(doc["kind"], "SealedSecret");
    assert_eq!(doc["spec"]["template"]["type"], "kubernetes.io/basic-auth");
    assert_eq!(doc["spec"]["template"]["metadata"]["labels"]["app"], "shop");
    let out = fx.unseal(&sealed).success().get_output().stdout.clone();
    let secret = yaml_value(std::str::from_utf8(&out).unwrap());
    assert_eq!(secret["data"]["password"], "aHVudGVyMg==");
    assert_eq!(secret["data"]["username"], "YWRtaW4=");
    assert_eq!(secret["metadata"]["name"], "db");
    assert_eq!(secret["type"], "kubernetes.io/basic-auth");
}

#[test]
fn every_scope_round_trips_and_rejects_a_move_it_does_not_allow() {
    let fx = Fixture::new();
    for (scope, rename_ok, move_ok) in [
        ("strict", false, false),
        ("namespace-wide", true, false),
        ("cluster-wide", true, true),
    ] {
        let sealed = fx.seal_args(&["--scope", scope, "-o", "json"]);
        fx.unseal(&sealed).success();
        let mut doc: serde_json::Value = serde_json::from_str(&sealed).unwrap();
        doc["metadata"]["name"] = "renamed".into();
        let renamed = fx.unseal(&doc.to_string());
        if rename_ok {
            renamed.success();
        } else {
            failure(renamed, "sealed for a different name/namespace or scope");
        }
        doc["metadata"]["namespace"] = "elsewhere".into();
        let moved = fx.unseal(&doc.to_string());
        if move_ok {
            moved.success();
        } else {
            failure(moved, "sealed for a different name/namespace or scope");
        }
    }
}

#[test]
fn scope_annotation_on_the_input_secret_is_honoured() {
    let fx = Fixture::new();
    let input = SECRET.replace(
        "  annotations:\n",
        "  annotations:\n    sealedsecrets.bitnami.com/namespace-wide: \"true\"\n",
    );
    let path = fx.write("ns-wide.yaml", &input);
    let out = seal()
        .arg(&path)
        .arg("--cert")
        .arg(fx.path("tls.crt"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let doc = yaml_value(std::str::from_utf8(&out).unwrap());
    assert_eq!(
        doc["metadata"]["annotations"]["sealedsecrets.bitnami.com/namespace-wide"],
        "true"
    );
}

#[test]
fn multi_document_stream_keeps_its_order_and_json_list_gives_json() {
    let fx = Fixture::new();
    let stream = "kind: Secret\nmetadata: {name: a}\nstringData: {k: '1'}\n---\nkind: Secret\nmetadata: {name: b, namespace: x}\nstringData: {k: '2'}\n";
    let out = seal()
        .args(["--cert"])
        .arg(fx.path("tls.crt"))
        .write_stdin(stream)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    let names: Vec<String> = serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| {
            let v = <serde_json::Value as serde::Deserialize>::deserialize(d).unwrap();
            format!(
                "{}/{}",
                v["metadata"]["namespace"].as_str().unwrap(),
                v["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(names, ["default/a", "x/b"]);

    let list = r#"{"kind":"List","items":[{"kind":"Secret","metadata":{"name":"c"},"stringData":{"k":"v"}}]}"#;
    let out = seal()
        .arg("--cert")
        .arg(fx.path("tls.crt"))
        .args(["-n", "team"])
        .write_stdin(list)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(doc["metadata"]["namespace"], "team");
}

#[test]
fn raw_mode_prints_only_a_blob_that_opens_under_its_name() {
    let fx = Fixture::new();
    let out = seal()
        .args(["--raw", "--name", "db", "--namespace", "prod", "--cert"])
        .arg(fx.path("tls.crt"))
        .write_stdin("s3cret")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let blob = String::from_utf8(out).unwrap();
    assert!(!blob.ends_with('\n'));
    assert!(
        blob.starts_with("AQ"),
        "2048-bit keys give the 0x0100 prefix"
    );
    let sealed = format!(
        r#"{{"apiVersion":"bitnami.com/v1alpha1","kind":"SealedSecret","metadata":{{"name":"db","namespace":"prod"}},"spec":{{"encryptedData":{{"v":"{blob}"}}}}}}"#
    );
    let out = fx.unseal(&sealed).success().get_output().stdout.clone();
    let secret: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(secret["data"]["v"], "czNjcmV0");
    // --from-file reads the value from a file.
    let value = fx.write("value.txt", "from-file");
    seal()
        .args(["--raw", "--scope", "cluster-wide", "--from-file"])
        .arg(format!("key={}", value.display()))
        .arg("--cert")
        .arg(fx.path("tls.crt"))
        .assert()
        .success();
}

#[test]
fn raw_mode_without_namespace_or_name_is_a_usage_error() {
    let fx = Fixture::new();
    seal()
        .args(["--raw", "--name", "db", "--cert"])
        .arg(fx.path("tls.crt"))
        .write_stdin("x")
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains(
            "must provide the --namespace flag",
        ));
    seal()
        .args(["--raw", "--namespace", "prod", "--cert"])
        .arg(fx.path("tls.crt"))
        .write_stdin("x")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("must provide the --name flag"));
}

#[test]
fn merge_into_adds_items_and_keeps_the_others_ciphertext() {
    let fx = Fixture::new();
    let sealed = fx.seal_args(&[]);
    let target = fx.write("sealed.yaml", &sealed);
    let before = yaml_value(&sealed);
    seal()
        .arg("--merge-into")
        .arg(&target)
        .arg("--cert")
        .arg(fx.path("tls.crt"))
        .write_stdin(
            "kind: Secret\nmetadata: {name: ignored}\nstringData: {token: abc, password: new}\n",
        )
        .assert()
        .success()
        .stdout("");
    let merged_text = fs_err::read_to_string(&target).unwrap();
    let merged = yaml_value(&merged_text);
    assert_eq!(
        merged["spec"]["encryptedData"]["username"],
        before["spec"]["encryptedData"]["username"]
    );
    assert_ne!(
        merged["spec"]["encryptedData"]["password"],
        before["spec"]["encryptedData"]["password"]
    );
    let out = fx
        .unseal(&merged_text)
        .success()
        .get_output()
        .stdout
        .clone();
    let secret = yaml_value(std::str::from_utf8(&out).unwrap());
    assert_eq!(secret["data"]["token"], "YWJj");
    assert_eq!(secret["data"]["password"], "bmV3");
}

#[test]
fn failed_merge_leaves_the_target_byte_identical() {
    let fx = Fixture::new();
    let sealed = fx.seal_args(&[]);
    let target = fx.write("sealed.yaml", &sealed);
    failure(
        seal()
            .arg("--merge-into")
            .arg(&target)
            .arg("--cert")
            .arg(fx.path("tls.crt"))
            .write_stdin("kind: Secret\ndata: {token: '!!notbase64'}\n")
            .assert(),
        "item \"token\": data value is not valid base64",
    );
    assert_eq!(fs_err::read_to_string(&target).unwrap(), sealed);
}

#[test]
fn bitnami_test_certificate_with_encipher_only_usage_seals() {
    let cert = conformance().join("sealed-secrets/kubeseal_test_cert.pem");
    let out = seal()
        .args(["--raw", "--scope", "cluster-wide", "--cert"])
        .arg(&cert)
        .write_stdin("bar")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    // 2 + 512 + 3 + 16 = 533 bytes = 712 base64 characters, prefix 0x0200 (RSA-4096).
    assert_eq!(out.len(), 712);
    use base64::Engine as _;
    let blob = base64::engine::general_purpose::STANDARD
        .decode(&out)
        .unwrap();
    assert_eq!(&blob[..2], &[0x02, 0x00]);
}

#[test]
fn independent_python_implementation_opens_what_seal_seals() {
    let fx = Fixture::new();
    for scope in ["strict", "namespace-wide", "cluster-wide"] {
        let sealed = fx.seal_args(&["--scope", scope]);
        let out = StdCommand::new("python3")
            .arg(python_impl())
            .arg("unseal")
            .arg(fx.path("tls.key"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write as _;
                child.stdin.take().unwrap().write_all(sealed.as_bytes())?;
                child.wait_with_output()
            })
            .unwrap();
        assert!(
            out.status.success(),
            "python: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let secret: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(secret["data"]["password"], "aHVudGVyMg==", "{scope}");
        assert_eq!(secret["data"]["username"], "YWRtaW4=", "{scope}");
    }
}

#[test]
fn seal_unseal_opens_what_the_independent_python_implementation_seals() {
    let fx = Fixture::new();
    let py_keys = fx.path("py");
    let status = StdCommand::new("python3")
        .arg(python_impl())
        .arg("keygen")
        .arg(&py_keys)
        .status()
        .unwrap();
    assert!(status.success());
    for annotation in [
        "",
        "sealedsecrets.bitnami.com/namespace-wide",
        "sealedsecrets.bitnami.com/cluster-wide",
    ] {
        let mut input = SECRET.to_owned();
        if !annotation.is_empty() {
            input = input.replace(
                "  annotations:\n",
                &format!("  annotations:\n    {annotation}: \"true\"\n"),
            );
        }
        let out = StdCommand::new("python3")
            .arg(python_impl())
            .arg("seal")
            .arg(py_keys.join("tls.crt"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write as _;
                child.stdin.take().unwrap().write_all(input.as_bytes())?;
                child.wait_with_output()
            })
            .unwrap();
        assert!(out.status.success());
        let unsealed = seal()
            .args(["unseal", "--private-key"])
            .arg(py_keys.join("tls.key"))
            .write_stdin(out.stdout)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let secret: serde_json::Value = serde_json::from_slice(&unsealed).unwrap();
        assert_eq!(secret["data"]["password"], "aHVudGVyMg==", "{annotation}");
        // Our keys must not open it.
        assert_eq!(secret["data"]["username"], "YWRtaW4=");
    }
}

#[test]
fn recovery_unseal_accepts_kubeseal_spelling_and_key_secrets() {
    let fx = Fixture::new();
    let sealed = fx.seal_args(&[]);
    // A key Secret as `kubectl get secret -o yaml` prints it.
    let key_pem = fs_err::read(fx.path("tls.key")).unwrap();
    let cert_pem = fs_err::read(fx.path("tls.crt")).unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let key_secret = format!(
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata: {{name: sealed-secrets-keyabcde, labels: {{sealedsecrets.bitnami.com/sealed-secrets-key: active}}}}\n  type: kubernetes.io/tls\n  data:\n    tls.crt: {}\n    tls.key: {}\n",
        b64.encode(cert_pem),
        b64.encode(key_pem)
    );
    let key_file = fx.write("keys.yaml", &key_secret);
    seal()
        .arg("--recovery-unseal")
        .arg("--recovery-private-key")
        .arg(&key_file)
        .write_stdin(sealed)
        .assert()
        .success()
        .stdout(predicate::str::contains("aHVudGVyMg=="));
}

#[test]
fn wrong_private_key_fails_naming_document_and_items() {
    let fx = Fixture::new();
    let other = Fixture::new();
    let sealed = fx.seal_args(&[]);
    failure(
        seal()
            .args(["unseal", "--private-key"])
            .arg(other.path("tls.key"))
            .write_stdin(sealed)
            .assert(),
        "<stdin>: document 0 (db): item \"password\": no key could decrypt it",
    );
}

#[test]
fn tampered_truncated_and_bad_base64_blobs_fail_cleanly() {
    let fx = Fixture::new();
    let sealed = fx.seal_args(&["-o", "json"]);
    let mut doc: serde_json::Value = serde_json::from_str(&sealed).unwrap();
    let blob = doc["spec"]["encryptedData"]["password"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut tampered = blob.clone().into_bytes();
    let i = tampered.len() - 10;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    doc["spec"]["encryptedData"]["password"] = String::from_utf8(tampered).unwrap().into();
    failure(
        fx.unseal(&doc.to_string()),
        "item \"password\": no key could decrypt it",
    );
    doc["spec"]["encryptedData"]["password"] = blob[..40].into();
    failure(
        fx.unseal(&doc.to_string()),
        "item \"password\": sealed data is too short",
    );
    doc["spec"]["encryptedData"]["password"] = "not base64!".into();
    failure(
        fx.unseal(&doc.to_string()),
        "item \"password\": sealed data is not valid base64",
    );
}

#[test]
fn bad_inputs_fail_with_one_line_and_no_output() {
    let fx = Fixture::new();
    let cert = fx.path("tls.crt");
    let cases: Vec<(Vec<String>, Option<&str>, &str)> = vec![
        (vec!["missing.yaml".into()], None, "missing.yaml"),
        (
            vec![],
            Some("key: [unclosed\n"),
            "<stdin>: document 0: not valid YAML",
        ),
        (
            vec![],
            Some("kind: ConfigMap\nmetadata: {name: cm}\n"),
            "document 0 (cm): not a Secret (kind: ConfigMap)",
        ),
        (
            vec![],
            Some("kind: Secret\nstringData: {a: b}\n"),
            "secret has no metadata.name",
        ),
        (
            vec![],
            Some("kind: Secret\nmetadata: {name: a}\n"),
            "secret has no data and no stringData",
        ),
        (
            vec![],
            Some("kind: Secret\nmetadata: {name: a, namespace: x}\nstringData: {a: b}\n"),
            "namespace mismatch",
        ),
    ];
    for (args, stdin, message) in cases {
        let mut cmd = seal();
        cmd.current_dir(fx.dir.path())
            .args(&args)
            .arg("--cert")
            .arg(&cert);
        if message == "namespace mismatch" {
            cmd.args(["-n", "y"]);
        }
        if let Some(stdin) = stdin {
            cmd.write_stdin(stdin);
        }
        failure(cmd.assert(), message);
    }
}

#[test]
fn certificates_that_cannot_seal_are_refused() {
    let fx = Fixture::new();
    let not_cert = fx.write("not-a-cert.pem", "hello\n");
    failure(
        seal()
            .arg(fx.path("secret.yaml"))
            .arg("--cert")
            .arg(&not_cert)
            .assert(),
        "no CERTIFICATE PEM block found",
    );
    // An EC certificate made by openssl.
    let ec_dir = fx.path("ec");
    fs_err::create_dir(&ec_dir).unwrap();
    let status = StdCommand::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=ec",
            "-days",
            "1",
            "-keyout",
        ])
        .arg(ec_dir.join("k.pem"))
        .arg("-out")
        .arg(ec_dir.join("c.pem"))
        .output()
        .unwrap();
    assert!(status.status.success());
    failure(
        seal()
            .arg(fx.path("secret.yaml"))
            .arg("--cert")
            .arg(ec_dir.join("c.pem"))
            .assert(),
        "certificate public key is EC, not RSA; sealing needs an RSA certificate",
    );
    failure(
        seal()
            .arg(fx.path("secret.yaml"))
            .args(["--cert", "http://127.0.0.1:9/v1/cert.pem"])
            .assert(),
        "cannot fetch `http://127.0.0.1:9/v1/cert.pem`",
    );
    // Without --cert the certificate comes from the controller, through the kubeconfig.
    seal()
        .arg(fx.path("secret.yaml"))
        .env("KUBECONFIG", fx.path("no-such-kubeconfig"))
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains(
            "no --cert given (nor SEALED_SECRETS_CERT), so the certificate comes from the controller",
        ))
        .stderr(predicate::str::contains("kubeconfig"));
}

#[test]
fn expired_certificate_warns_but_seals() {
    let fx = Fixture::new();
    let dir = fx.path("old");
    let status = StdCommand::new("python3")
        .arg(python_impl())
        .arg("keygen")
        .arg(&dir)
        .env("VALID_DAYS", "-1")
        .status()
        .unwrap();
    assert!(status.success());
    seal()
        .arg(fx.path("secret.yaml"))
        .arg("--cert")
        .arg(dir.join("tls.crt"))
        .assert()
        .success()
        .stderr(
            predicate::str::contains("warning: certificate")
                .and(predicate::str::contains("expired")),
        )
        .stdout(predicate::str::contains("SealedSecret"));
}

#[test]
fn certificate_is_fetched_from_an_http_url_and_the_env_variable() {
    let fx = Fixture::new();
    let cert = fs_err::read(fx.path("tls.crt")).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/cert.pem", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        use std::io::{Read as _, Write as _};
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 1024];
        let _ = stream.read(&mut buf).unwrap();
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-pem-file\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            cert.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&cert).unwrap();
    });
    seal()
        .arg(fx.path("secret.yaml"))
        .env("SEALED_SECRETS_CERT", &url)
        .assert()
        .success()
        .stdout(predicate::str::contains("encryptedData"));
    server.join().unwrap();
}

#[test]
fn output_file_is_written_atomically_in_its_extension_format() {
    let fx = Fixture::new();
    let out = fx.path("out.json");
    seal()
        .arg(fx.path("secret.yaml"))
        .arg("--cert")
        .arg(fx.path("tls.crt"))
        .arg("-w")
        .arg(&out)
        .assert()
        .success()
        .stdout("");
    let doc: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(doc["kind"], "SealedSecret");
}

#[test]
fn demo_shows_a_full_round_trip() {
    seal()
        .args(["demo", "--bits", "2048"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("kind: SealedSecret")
                .and(predicate::str::contains("Round trip OK: 2 items identical")),
        );
}

#[test]
fn help_explains_every_command_with_an_example() {
    for sub in [
        vec![],
        vec!["unseal"],
        vec!["keygen"],
        vec!["demo"],
        vec!["completions"],
        vec!["man"],
    ] {
        seal()
            .args(&sub)
            .arg("--help")
            .assert()
            .success()
            .stdout(predicate::str::contains("$ seal"));
    }
}

#[test]
fn completions_and_man_page_are_generated() {
    seal()
        .args(["completions", "bash"])
        .assert()
        .success()
        .stdout(predicate::str::contains("_seal()"));
    seal()
        .arg("man")
        .assert()
        .success()
        .stdout(predicate::str::contains(".TH seal"));
}

#[test]
fn fetch_cert_copies_the_cert_and_controller_modes_fail_cleanly_before_any_call() {
    let fx = Fixture::new();
    let cert = fs_err::read(fx.path("tls.crt")).unwrap();
    seal()
        .args(["--fetch-cert", "--cert"])
        .arg(fx.path("tls.crt"))
        .assert()
        .success()
        .stdout(cert);
    failure(
        seal()
            .args(["--fetch-cert", "--cert"])
            .arg(fx.path("secret.yaml"))
            .assert(),
        "no CERTIFICATE PEM block found",
    );
    // A Secret is not a SealedSecret: refused before the controller is asked, file untouched.
    let secret = fs_err::read(fx.path("secret.yaml")).unwrap();
    for mode in ["--re-encrypt", "--validate"] {
        failure(
            seal()
                .arg(mode)
                .arg(fx.path("secret.yaml"))
                .env("KUBECONFIG", fx.path("no-such-kubeconfig"))
                .assert(),
            "not a SealedSecret (kind: Secret)",
        );
        assert_eq!(fs_err::read(fx.path("secret.yaml")).unwrap(), secret);
    }
    // Without a cluster, one line naming the kubeconfig.
    let sealed = fx.write("sealed.yaml", &fx.seal_args(&[]));
    let before = fs_err::read(&sealed).unwrap();
    failure(
        seal()
            .arg("--re-encrypt")
            .arg(&sealed)
            .env("KUBECONFIG", fx.path("no-such-kubeconfig"))
            .assert(),
        "kubeconfig",
    );
    assert_eq!(fs_err::read(&sealed).unwrap(), before);
    // The modes exclude each other (usage error).
    seal()
        .args(["--validate", "--re-encrypt"])
        .arg(&sealed)
        .assert()
        .code(2)
        .stdout("");
}
