//! Hostile files against the `seal` binary (issue 14): each crash, silent data change and
//! unclear message the issue found in the library's parsers, as the user meets it.
//!
//! Every case must end with exit 1, nothing on stdout and a message that says what is wrong;
//! never an abort (stack overflow, out of memory) or a panic. Needs `age-keygen` and `sops`
//! on PATH (scripts/deps/sops.sh).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use assert_cmd::cargo::CommandCargoExt as _;

/// A private working directory with a fresh sealing key pair (2048 bits, for speed).
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let sb = Self { dir };
        let out = sb
            .seal()
            .args(["keygen", "--bits", "2048", "--out-dir", "keys"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        sb
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        fs_err::write(&path, bytes).unwrap();
        path
    }

    fn seal(&self) -> Command {
        let mut cmd = Command::cargo_bin("seal").unwrap();
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap())
            .env("HOME", self.dir.path())
            .env("SOPS_DISABLE_VERSION_CHECK", "1")
            .current_dir(self.dir.path());
        cmd
    }

    /// `seal FILE --cert keys/tls.crt`.
    fn seal_file(&self, file: &Path) -> Output {
        self.seal()
            .arg(file)
            .args(["--cert", "keys/tls.crt"])
            .output()
            .unwrap()
    }

    /// A fresh age identity file; returns its path and recipient.
    fn age_key(&self, name: &str) -> (PathBuf, String) {
        let path = self.path(name);
        let out = Command::new("age-keygen")
            .arg("-o")
            .arg(&path)
            .output()
            .expect("age-keygen on PATH (scripts/deps/sops.sh)");
        assert!(out.status.success());
        let text = fs_err::read_to_string(&path).unwrap();
        let start = text.find("age1").unwrap();
        let recipient = text[start..].split_whitespace().next().unwrap().to_owned();
        (path, recipient)
    }
}

/// Exit 1, empty stdout, stderr naming `message`, and no sign of a crash.
fn refused(out: &Output, message: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(
        stderr.contains(message),
        "expected {message:?} in: {stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("overflow"),
        "{stderr}"
    );
    stderr
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Ten anchors, each a list of ten aliases of the previous one: 10^10 nodes in 410 bytes.
fn billion_laughs() -> String {
    let mut text = String::from("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    let mut prev = 'a';
    for name in 'b'..='j' {
        let aliases = vec![format!("*{prev}"); 10].join(", ");
        text.push_str(&format!("{name}: &{name} [{aliases}]\n"));
        prev = name;
    }
    text
}

// ---- crashes -------------------------------------------------------------------------------

#[test]
fn billion_laughs_is_refused_by_encrypt_decrypt_filestatus_render_and_seal() {
    // issue 14: aborted at 2 GB in 3 s.
    let sb = Sandbox::new();
    let (_, recipient) = sb.age_key("key.txt");
    let file = sb.write("laughs.yaml", billion_laughs());
    let message = "malformed yaml file at line 4: document contains excessive aliasing";
    refused(
        &sb.seal()
            .args(["encrypt", "--age", &recipient])
            .arg(&file)
            .output()
            .unwrap(),
        message,
    );
    refused(
        &sb.seal().arg("decrypt").arg(&file).output().unwrap(),
        message,
    );
    let status = sb.seal().arg("filestatus").arg(&file).output().unwrap();
    assert_eq!(stdout(&status).trim(), r#"{"encrypted":false}"#);
    sb.write(
        "generator.yaml",
        "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: g\nfiles:\n  - ./laughs.yaml\n",
    );
    let render = sb
        .seal()
        .args(["render", "generator.yaml"])
        .output()
        .unwrap();
    refused(&render, "document contains excessive aliasing");
    // The Secret reader has the same budget.
    refused(&sb.seal_file(&file), "document contains excessive aliasing");
}

#[test]
fn nesting_twenty_thousand_deep_is_refused_not_a_stack_overflow() {
    // issue 14: 20,000-deep JSON overflowed the stack in the JSON and YAML stores.
    let sb = Sandbox::new();
    let (_, recipient) = sb.age_key("key.txt");
    let n = 20_000;
    let json = sb.write(
        "deep.json",
        format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n)),
    );
    let yaml = sb.write(
        "deep.yaml",
        format!("a: {}1{}\n", "{\"a\": ".repeat(n), "}".repeat(n)),
    );
    for (file, store) in [(&json, "json"), (&yaml, "yaml")] {
        let message = format!("malformed {store} file at line 1: nesting deeper than 128 levels");
        refused(
            &sb.seal()
                .args(["encrypt", "--age", &recipient])
                .arg(file)
                .output()
                .unwrap(),
            &message,
        );
        refused(
            &sb.seal().arg("decrypt").arg(file).output().unwrap(),
            &message,
        );
        let status = sb.seal().arg("filestatus").arg(file).output().unwrap();
        assert_eq!(stdout(&status).trim(), r#"{"encrypted":false}"#);
    }
    // A Secret nested as deep: the JSON reader's limit, then the YAML reader's.
    let secret = sb.write(
        "deep-secret.json",
        format!("{}1{}", "[".repeat(n), "]".repeat(n)),
    );
    refused(&sb.seal_file(&secret), "recursion limit exceeded");
    let secret = sb.write(
        "deep-secret.yaml",
        format!("{}1{}", "[".repeat(n), "]".repeat(n)),
    );
    refused(
        &sb.seal_file(&secret),
        "line 1: nesting deeper than 128 levels",
    );
}

// ---- Secret input --------------------------------------------------------------------------

#[test]
fn duplicate_keys_in_a_secret_are_refused_like_kubectl_does() {
    // issue 14: the last `name` silently won.
    let sb = Sandbox::new();
    let yaml = sb.write(
        "dup.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\n  name: b\nstringData:\n  k: v\n",
    );
    refused(
        &sb.seal_file(&yaml),
        "line 5: mapping key \"name\" already defined",
    );
    let json = sb.write(
        "dup.json",
        r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"a"},"stringData":{"k":"v","k":"w"}}"#,
    );
    refused(&sb.seal_file(&json), "duplicate key \"k\" in an object");
}

#[test]
fn binary_values_are_sealed_as_the_bytes_they_stand_for() {
    // issue 14: `!!binary` values were sealed as their base64 text.
    let sb = Sandbox::new();
    let secret = sb.write(
        "bin.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: bin\n  namespace: ns\nstringData:\n  text: plain\n  blob: !!binary AP8Q\ndata:\n  other: !!binary |\n    aGVs\n    bG8=\n",
    );
    let sealed = sb.write("sealed.yaml", stdout(&sb.seal_file(&secret)));
    let unsealed = stdout(
        &sb.seal()
            .args(["unseal", "--private-key", "keys/tls.key", "-o", "json"])
            .arg(&sealed)
            .output()
            .unwrap(),
    );
    let back: serde_json::Value = serde_json::from_str(&unsealed).unwrap();
    // `data` holds base64 of the plaintext: the decoded bytes of each `!!binary`.
    assert_eq!(back["data"]["blob"], "AP8Q");
    assert_eq!(back["data"]["other"], "aGVsbG8=");
    assert_eq!(back["data"]["text"], "cGxhaW4=");
}

#[test]
fn merge_keys_in_a_secret_resolve_as_kubectl_resolves_them() {
    let sb = Sandbox::new();
    let secret = sb.write(
        "merge.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: m, namespace: ns}\nstringData:\n  <<: {user: app, host: db}\n  host: other\n",
    );
    let sealed = stdout(&sb.seal_file(&secret));
    let sealed: serde_json::Value = serde_yaml_ng::from_str(&sealed).unwrap();
    let mut items: Vec<&String> = sealed["spec"]["encryptedData"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    items.sort();
    assert_eq!(items, ["host", "user"]);
}

#[test]
fn a_custom_tag_is_named_in_the_error() {
    // issue 14: "invalid type: enum".
    let sb = Sandbox::new();
    let secret = sb.write(
        "tag.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: t}\nstringData:\n  k: !vault secret/data/x\n",
    );
    refused(
        &sb.seal_file(&secret),
        "line 5: custom YAML tag `!vault` is not supported",
    );
}

#[test]
fn brackets_in_a_yaml_file_give_a_yaml_error() {
    // issue 14: "not valid JSON: recursion limit exceeded".
    let sb = Sandbox::new();
    let secret = sb.write("brackets.yaml", "[".repeat(1000));
    let stderr = refused(&sb.seal_file(&secret), "not valid YAML");
    assert!(!stderr.contains("JSON"), "{stderr}");
}

// ---- .sops.yaml ----------------------------------------------------------------------------

#[test]
fn creation_rules_with_merge_keys_encrypt_for_the_keys_sops_resolves() {
    // issue 14: the merged keys were ignored, then "no master keys … add a creation rule".
    let sb = Sandbox::new();
    let (user_key, user) = sb.age_key("user.txt");
    let (_, host) = sb.age_key("host.txt");
    sb.write(
        ".sops.yaml",
        format!(
            "keys:\n  users: &users\n    age: [{user}]\n  hosts: &hosts\n    age: [{host}]\ncreation_rules:\n  - path_regex: \\.yaml$\n    key_groups:\n      - <<: [*users, *hosts]\n"
        ),
    );
    let plain = sb.write("app.yaml", "password: hunter2\n");
    let ours = stdout(&sb.seal().args(["encrypt", "app.yaml"]).output().unwrap());
    let theirs = stdout(
        Command::new("sops")
            .env("SOPS_DISABLE_VERSION_CHECK", "1")
            .current_dir(sb.dir.path())
            .args(["encrypt"])
            .arg(&plain)
            .output()
            .as_ref()
            .unwrap(),
    );
    let recipients = |text: &str| {
        let v: serde_json::Value = serde_yaml_ng::from_str(text).unwrap();
        let mut r: Vec<String> = v["sops"]["age"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["recipient"].as_str().unwrap().to_owned())
            .collect();
        r.sort();
        r
    };
    // sops merges the first list entry's keys only: go-yaml keeps the earlier mapping's `age`.
    assert_eq!(recipients(&ours), recipients(&theirs));
    assert_eq!(recipients(&ours), [user]);
    let enc = sb.write("app.enc.yaml", &ours);
    let back = stdout(
        &sb.seal()
            .env("SOPS_AGE_KEY_FILE", &user_key)
            .arg("decrypt")
            .arg(&enc)
            .output()
            .unwrap(),
    );
    assert_eq!(back, "password: hunter2\n");
}

#[test]
fn a_rule_with_hckms_keys_says_hckms_is_not_supported() {
    // issue 14: the keys were dropped, then "no master keys … add a creation rule".
    let sb = Sandbox::new();
    sb.write(".sops.yaml", "creation_rules:\n  - hckms: [tenant:1234]\n");
    sb.write("app.yaml", "password: hunter2\n");
    refused(
        &sb.seal().args(["encrypt", "app.yaml"]).output().unwrap(),
        "hckms is not supported",
    );
}

// ---- keys and certificates -----------------------------------------------------------------

#[test]
fn keygen_writes_pem_with_lf_line_ends() {
    // issue 14: every PEM was CRLF.
    let sb = Sandbox::new();
    for file in ["keys/tls.crt", "keys/tls.key"] {
        let text = fs_err::read_to_string(sb.path(file)).unwrap();
        assert!(!text.contains('\r'), "{file} has CR");
        assert!(text.starts_with("-----BEGIN "));
    }
}

#[test]
fn unusable_certificates_and_keys_are_explained_in_one_line() {
    let sb = Sandbox::new();
    let secret = sb.write(
        "s.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: n}\nstringData: {k: v}\n",
    );
    let cert = sb.write("c1024.pem", fs_err::read(fixture("rsa1024.crt")).unwrap());
    let out = sb
        .seal()
        .arg(&secret)
        .arg("--cert")
        .arg(&cert)
        .output()
        .unwrap();
    refused(
        &out,
        "certificate holds an RSA-1024 key, which is not supported: sealing needs an RSA key of 2048 to 8192 bits",
    );
    let random: Vec<u8> = (0..512u32).map(|i| (i * 7919 % 251) as u8).collect();
    let garbage = sb.write("garbage.pem", &random);
    let out = sb
        .seal()
        .arg(&secret)
        .arg("--cert")
        .arg(&garbage)
        .output()
        .unwrap();
    let stderr = refused(&out, "no CERTIFICATE PEM block found");
    assert!(
        !stderr.contains("Der(") && !stderr.contains('{'),
        "{stderr}"
    );
    let armored = sb.write(
        "armored.pem",
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            "WlpaWlpa".repeat(8)
        ),
    );
    let out = sb
        .seal()
        .arg(&secret)
        .arg("--cert")
        .arg(&armored)
        .output()
        .unwrap();
    let stderr = refused(
        &out,
        "invalid X.509 certificate: the bytes are not a DER certificate",
    );
    assert!(!stderr.contains("Der("), "{stderr}");

    let sealed = sb.write("sealed.yaml", stdout(&sb.seal_file(&secret)));
    let unseal = |key: &Path| {
        sb.seal()
            .args(["unseal", "--private-key"])
            .arg(key)
            .arg(&sealed)
            .output()
            .unwrap()
    };
    let encrypted = sb.write(
        "enc.key",
        fs_err::read(fixture("encrypted-pkcs8.key")).unwrap(),
    );
    refused(
        &unseal(&encrypted),
        "private key is encrypted (ENCRYPTED PRIVATE KEY); decrypt it first",
    );
    // issue 14: "stream did not contain valid UTF-8".
    refused(
        &unseal(&garbage),
        "no RSA PRIVATE KEY or PRIVATE KEY PEM block found",
    );
    let broken = sb.write(
        "broken.key",
        "-----BEGIN RSA PRIVATE KEY-----\n%%%%\n-----END RSA PRIVATE KEY-----\n",
    );
    let stderr = refused(
        &unseal(&broken),
        "invalid PEM: a block's content is not valid base64",
    );
    // Said once, not once more by its cause.
    assert_eq!(stderr.matches("base64").count(), 1, "{stderr}");
}

#[test]
fn a_certificate_not_valid_yet_is_used_with_a_warning_like_an_expired_one() {
    // issue 14: it was used without the warning an expired one gets.
    let sb = Sandbox::new();
    let secret = sb.write(
        "s.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: n}\nstringData: {k: v}\n",
    );
    let cert = fixture("not-yet-valid.crt");
    let out = sb
        .seal()
        .arg(&secret)
        .arg("--cert")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr,
        format!(
            "warning: certificate `{}` is not valid before 2099-01-01; check the clock, or that this is the controller's current certificate\n",
            cert.display()
        )
    );
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/hostile")
        .join(name)
}
