//! issue 14: the `seal` binary never crashes on hostile input and never leaves data behind.
//!
//! One test (or a few) per case of the issue, black-box: exact stderr where the issue called a
//! message unclear, empty stdout and exit status 1 on failure (2 for usage), files untouched by
//! a failed in-place command, writes through symlinks, no plaintext left in `$TMPDIR`.
//!
//! Needs `age-keygen`, `openssl` and `kubectl` on PATH (scripts/deps/*.sh install them).

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{PermissionsExt as _, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use sealkit_tests::servers::{free_port, require_tool};

const SECRET: &str = "\
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: prod
stringData:
  password: hunter2
";

/// A private HOME, TMPDIR and working directory, an age identity, and nothing from the
/// caller's environment that `seal` reads.
struct Sandbox {
    dir: tempfile::TempDir,
    recipient: String,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["home", "tmp", "work"] {
            fs_err::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let identity = dir.path().join("home/age.txt");
        let out = Command::new(require_tool("age-keygen"))
            .arg("-o")
            .arg(&identity)
            .output()
            .unwrap();
        assert!(out.status.success(), "age-keygen failed");
        let text = fs_err::read_to_string(&identity).unwrap();
        let recipient = text
            .lines()
            .find_map(|l| l.strip_prefix("# public key: "))
            .unwrap()
            .to_owned();
        Self { dir, recipient }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join("work").join(name)
    }

    fn tmp(&self) -> PathBuf {
        self.dir.path().join("tmp")
    }

    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent).unwrap();
        }
        fs_err::write(&path, contents).unwrap();
        path
    }

    /// `seal` in the work directory with the sandbox's environment, stopped after five
    /// minutes (a guard against a hang, not a time limit under test).
    fn seal(&self) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::from_std(self.std_seal());
        cmd.timeout(Duration::from_secs(300));
        cmd
    }

    /// [`Self::seal`] as a plain `std` command (to spawn it).
    fn std_seal(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_seal"));
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy().into_owned();
            if [
                "SOPS_",
                "SEALED_SECRETS_",
                "SEAL_",
                "VAULT_",
                "KUBECONFIG",
                "SSL_CERT_",
            ]
            .iter()
            .any(|p| name.starts_with(p))
            {
                cmd.env_remove(name);
            }
        }
        cmd.current_dir(self.dir.path().join("work"))
            .env("HOME", self.dir.path().join("home"))
            .env("TMPDIR", self.tmp())
            .env("SOPS_AGE_KEY_FILE", self.dir.path().join("home/age.txt"))
            .stdin(Stdio::null());
        cmd
    }

    /// `name` SOPS-encrypted for the sandbox's recipient.
    fn encrypt(&self, name: &str, plaintext: &str) -> PathBuf {
        let plain = self.write(&format!("{name}.plain.yaml"), plaintext);
        let out = self
            .seal()
            .args(["encrypt", "--age", &self.recipient])
            .arg(&plain)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        fs_err::remove_file(&plain).unwrap();
        self.write(name, out.stdout)
    }

    /// A fresh 2048-bit key pair in `dir` (relative to work); returns the certificate path.
    fn keygen(&self, dir: &str) -> PathBuf {
        let out = self
            .seal()
            .args(["keygen", "--bits", "2048", "--out-dir", dir])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        self.path(dir).join("tls.crt")
    }

    fn tmp_is_empty(&self) -> bool {
        fs_err::read_dir(self.tmp()).unwrap().next().is_none()
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts the contract of a failure: exit 1, nothing on stdout, exactly `message` (one
/// line) on stderr.
fn fails_with(cmd: &mut assert_cmd::Command, message: &str) {
    let out = cmd.output().unwrap();
    assert_eq!(
        (
            out.status.code(),
            stderr(&out).as_str(),
            out.stdout.as_slice()
        ),
        (Some(1), format!("error: {message}\n").as_str(), &b""[..]),
    );
}

/// Exit 1, nothing on stdout, one `error:` line that starts with `prefix`; returns it.
fn fails_starting_with(cmd: &mut assert_cmd::Command, prefix: &str) -> String {
    let out = cmd.output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(out.stdout.is_empty(), "partial output on failure");
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    assert!(err.starts_with(&format!("error: {prefix}")), "{err}");
    err
}

fn is_symlink(path: &Path) -> bool {
    fs_err::symlink_metadata(path)
        .unwrap()
        .file_type()
        .is_symlink()
}

fn mode(path: &Path) -> u32 {
    fs_err::metadata(path).unwrap().permissions().mode() & 0o777
}

// ---------------------------------------------------------------------------------------
// Crashes

// issue 14: a malformed certificate in VAULT_CACERT panicked `seal decrypt`.
#[test]
fn a_malformed_vault_cacert_fails_decrypt_with_one_line_instead_of_a_panic() {
    let sb = Sandbox::new();
    // The file's only master key is a Vault transit key; the client for it is built (and
    // fails) before any connection.
    let file = sb.write(
        "vault.enc.yaml",
        "password: ENC[AES256_GCM,data:AAAA,iv:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]
sops:
    hc_vault:
        - vault_address: https://127.0.0.1:9
          engine_path: transit
          key_name: k
          created_at: \"2024-01-01T00:00:00Z\"
          enc: vault:v1:AAAA
    lastmodified: \"2024-01-01T00:00:00Z\"
    mac: ENC[AES256_GCM,data:AAAA,iv:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]
    version: 3.11.0
",
    );
    let ca = sb.write(
        "ca.pem",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    let before = fs_err::read(&file).unwrap();
    fails_with(
        sb.seal()
            .args(["decrypt", "vault.enc.yaml"])
            .env("VAULT_TOKEN", "s.test")
            .env("VAULT_CACERT", &ca),
        &format!(
            "vault.enc.yaml: invalid hc_vault key `https://127.0.0.1:9/v1/transit/keys/k`: \
             VAULT_CACERT {}: holds a certificate that is not valid DER",
            ca.display()
        ),
    );
    // In place: the same failure leaves the file as it was.
    sb.seal()
        .args(["decrypt", "-i", "vault.enc.yaml"])
        .env("VAULT_TOKEN", "s.test")
        .env("VAULT_CACERT", &ca)
        .assert()
        .code(1)
        .stdout("");
    assert_eq!(fs_err::read(&file).unwrap(), before);
}

// issue 14: `seal keygen --validity-days 999999999` panicked.
#[test]
fn an_out_of_range_validity_is_a_usage_error_and_writes_nothing() {
    let sb = Sandbox::new();
    for days in ["999999999", "0"] {
        let out = sb
            .seal()
            .args(["keygen", "--out-dir", "keys", "--validity-days", days])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(out.stdout.is_empty());
        assert_eq!(
            stderr(&out),
            format!(
                "error: invalid value '{days}' for '--validity-days <VALIDITY_DAYS>': {days} is \
                 not in 1..=36500\n\nFor more information, try '--help'.\n"
            )
        );
        assert!(!sb.path("keys").exists());
    }
}

// ---------------------------------------------------------------------------------------
// `--cert` sources

/// An HTTP server that answers every request with a chunked body that never ends: `flood`
/// sends as fast as it can, else one byte per 100 ms. Runs until the test process exits.
fn endless_server(flood: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/cert.pem", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve_endless(stream, flood));
        }
    });
    url
}

fn serve_endless(stream: TcpStream, flood: bool) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let mut out = stream;
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/x-pem-file\r\nTransfer-Encoding: chunked\r\n\r\n";
    if out.write_all(head.as_bytes()).is_err() {
        return;
    }
    let chunk = if flood {
        format!("2000\r\n{}\r\n", "A".repeat(0x2000))
    } else {
        "1\r\nA\r\n".to_owned()
    };
    // Ends when the client hangs up.
    while out.write_all(chunk.as_bytes()).is_ok() {
        if !flood {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

// issue 14: a server whose body never ends grew `seal` to gigabytes.
#[test]
fn a_certificate_answer_larger_than_64_kib_is_refused() {
    let sb = Sandbox::new();
    sb.write("secret.yaml", SECRET);
    let url = endless_server(true);
    fails_with(
        sb.seal().args(["secret.yaml", "--cert", &url]),
        &format!(
            "cannot fetch `{url}`: the answer is larger than 64 KiB, so it is not a certificate"
        ),
    );
}

#[test]
fn a_certificate_download_that_never_completes_ends_at_the_cert_timeout() {
    let sb = Sandbox::new();
    sb.write("secret.yaml", SECRET);
    let url = endless_server(false);
    let message = format!(
        "cannot fetch `{url}`: no complete answer within 1 s (raise --cert-timeout or \
         SEAL_CERT_TIMEOUT)"
    );
    fails_with(
        sb.seal()
            .args(["secret.yaml", "--cert-timeout", "1", "--cert", &url]),
        &message,
    );
    // The environment variable sets it too, for `seal render` as well.
    fails_with(
        sb.seal()
            .args(["secret.yaml", "--cert", &url])
            .env("SEAL_CERT_TIMEOUT", "1"),
        &message,
    );
}

#[test]
fn a_local_certificate_source_is_bounded_too() {
    let sb = Sandbox::new();
    sb.write("secret.yaml", SECRET);
    fails_with(
        sb.seal().args(["secret.yaml", "--cert", "/dev/zero"]),
        "certificate `/dev/zero` is larger than 64 KiB: not a PEM certificate",
    );
}

// issue 14: `--cert ftp://…` was read as a local path.
#[test]
fn a_certificate_url_of_an_unknown_scheme_is_refused_by_name() {
    let sb = Sandbox::new();
    sb.write("secret.yaml", SECRET);
    fails_with(
        sb.seal()
            .args(["secret.yaml", "--cert", "ftp://example.com/cert.pem"]),
        "certificate `ftp://example.com/cert.pem`: unsupported URL scheme `ftp` (give a PEM \
         file, file://PATH, or an http:// or https:// URL)",
    );
}

/// Runs `openssl` with `args` in `dir`, asserting success.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new(require_tool("openssl"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl {args:?}: {}", stderr(&out));
}

/// `openssl s_server -WWW` (serves files of `dir`) on a free port, with a leaf certificate for
/// 127.0.0.1 issued by a private CA (`dir/ca.crt`); killed on drop.
struct TlsServer {
    child: std::process::Child,
    port: u16,
}

impl TlsServer {
    fn start(dir: &Path) -> Self {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "2",
                "-subj",
                "/CN=sealkit test CA",
            ],
        );
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "srv.key",
                "-out",
                "srv.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        );
        fs_err::write(
            dir.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "srv.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "srv.crt",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
            ],
        );
        let port = free_port();
        let server = Self {
            child: Command::new(require_tool("openssl"))
                .args([
                    "s_server", "-quiet", "-WWW", "-cert", "srv.crt", "-key", "srv.key", "-accept",
                ])
                .arg(port.to_string())
                .current_dir(dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
            port,
        };
        // Wait until it listens (bounded by the number of tries, not a clock assertion).
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("openssl s_server did not listen on {port}");
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// issue 14: an untrusted TLS issuer was reported as "BadSignature".
#[test]
fn a_certificate_server_with_an_untrusted_issuer_is_explained_with_the_way_to_trust_it() {
    let sb = Sandbox::new();
    sb.write("secret.yaml", SECRET);
    sb.keygen("keys");
    let server = TlsServer::start(&sb.path("keys"));
    let url = format!("https://127.0.0.1:{}/tls.crt", server.port);
    fails_with(
        sb.seal().args(["secret.yaml", "--cert", &url]),
        &format!(
            "cannot fetch `{url}`: the server's certificate is not signed by a CA this machine \
             trusts: add the CA to the system's trust store, or set SSL_CERT_FILE to a PEM file \
             that holds it"
        ),
    );
    // The advice works.
    let out = sb
        .seal()
        .args(["secret.yaml", "--cert", &url])
        .env("SSL_CERT_FILE", sb.path("keys/ca.crt"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("kind: SealedSecret"));
}

// ---------------------------------------------------------------------------------------
// Symlinks: every writer writes through the link to its target.

/// `work/link.yaml` -> `real/<name>` holding `contents`; returns (link, target).
fn linked(sb: &Sandbox, name: &str, contents: impl AsRef<[u8]>) -> (PathBuf, PathBuf) {
    let target = sb.write(&format!("real/{name}"), contents);
    let link = sb.path(&format!("link-{name}"));
    symlink(format!("real/{name}"), &link).unwrap();
    (link, target)
}

/// The link is still a link and the target's directory holds only the target.
fn written_through(link: &Path, target: &Path) {
    assert!(
        is_symlink(link),
        "{} was replaced by a file",
        link.display()
    );
    let dir = target.parent().unwrap();
    let names: Vec<String> = fs_err::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names.len(),
        1,
        "temporary files left in {}: {names:?}",
        dir.display()
    );
}

// issue 14: `seal encrypt -i` on a symlink replaced the link, and the target kept the
// plaintext.
#[test]
fn encrypt_and_decrypt_in_place_write_through_a_symlink() {
    let sb = Sandbox::new();
    let (link, target) = linked(&sb, "secret.yaml", SECRET);
    sb.seal()
        .args(["encrypt", "-i", "--age", &sb.recipient])
        .arg(&link)
        .assert()
        .success()
        .stdout("");
    written_through(&link, &target);
    let encrypted = fs_err::read_to_string(&target).unwrap();
    assert!(
        !encrypted.contains("hunter2") && encrypted.contains("ENC["),
        "{encrypted}"
    );

    sb.seal()
        .args(["decrypt", "-i"])
        .arg(&link)
        .assert()
        .success();
    written_through(&link, &target);
    assert!(
        fs_err::read_to_string(&target)
            .unwrap()
            .contains("password: hunter2")
    );
}

#[test]
fn set_unset_rotate_and_updatekeys_write_through_a_symlink() {
    let sb = Sandbox::new();
    let encrypted = sb.encrypt("enc.yaml", SECRET);
    let (link, target) = linked(&sb, "secret.enc.yaml", fs_err::read(&encrypted).unwrap());

    sb.seal()
        .args(["set"])
        .arg(&link)
        .args([r#"["stringData"]["token"]"#, r#""abc""#])
        .assert()
        .success();
    written_through(&link, &target);
    assert!(
        fs_err::read_to_string(&target)
            .unwrap()
            .contains("token: ENC[")
    );

    sb.seal()
        .args(["unset"])
        .arg(&link)
        .arg(r#"["stringData"]["token"]"#)
        .assert()
        .success();
    written_through(&link, &target);
    assert!(!fs_err::read_to_string(&target).unwrap().contains("token:"));

    let before = fs_err::read(&target).unwrap();
    sb.seal()
        .args(["rotate", "-i"])
        .arg(&link)
        .assert()
        .success();
    written_through(&link, &target);
    assert_ne!(fs_err::read(&target).unwrap(), before, "not rotated");

    // A second recipient in the rules: updatekeys adds it.
    let other = Sandbox::new().recipient;
    sb.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - path_regex: .*\n    age: {},{other}\n",
            sb.recipient
        ),
    );
    sb.seal()
        .args(["updatekeys", "-y"])
        .arg(&link)
        .assert()
        .success();
    written_through(&link, &target);
    assert!(fs_err::read_to_string(&target).unwrap().contains(&other));

    // And the plaintext still opens through the link.
    let out = sb.seal().arg("decrypt").arg(&link).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("password: hunter2"));
}

// issue 14: `seal edit` on a symlink replaced the link.
#[test]
fn edit_writes_through_a_symlink() {
    let sb = Sandbox::new();
    let encrypted = sb.encrypt("enc.yaml", SECRET);
    let (link, target) = linked(&sb, "secret.enc.yaml", fs_err::read(&encrypted).unwrap());
    let editor = sb.write(
        "editor.sh",
        "#!/bin/sh\nsed -i 's/hunter2/changed/' \"$1\"\n",
    );
    fs_err::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
    sb.seal()
        .arg("edit")
        .arg(&link)
        .env("EDITOR", &editor)
        .assert()
        .success();
    written_through(&link, &target);
    let out = sb.seal().arg("decrypt").arg(&target).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("password: changed"));
    assert!(
        sb.tmp_is_empty(),
        "the editor's plaintext copy was left behind"
    );
}

// issue 14: `-w` and `--merge-into` on a symlink replaced the link.
#[test]
fn sealing_output_and_merge_into_write_through_a_symlink() {
    let sb = Sandbox::new();
    let cert = sb.keygen("keys");
    sb.write("secret.yaml", SECRET);
    let (link, target) = linked(&sb, "sealed.yaml", "old\n");
    sb.seal()
        .arg("secret.yaml")
        .arg("--cert")
        .arg(&cert)
        .arg("-w")
        .arg(&link)
        .assert()
        .success()
        .stdout("");
    written_through(&link, &target);
    assert!(
        fs_err::read_to_string(&target)
            .unwrap()
            .contains("kind: SealedSecret")
    );

    sb.write(
        "more.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: prod\nstringData:\n  token: abc\n",
    );
    sb.seal()
        .arg("more.yaml")
        .arg("--cert")
        .arg(&cert)
        .arg("--merge-into")
        .arg(&link)
        .assert()
        .success();
    written_through(&link, &target);
    let merged = fs_err::read_to_string(&target).unwrap();
    assert!(
        merged.contains("password:") && merged.contains("token:"),
        "{merged}"
    );
}

// ---------------------------------------------------------------------------------------
// Failed in-place commands leave the file byte-identical.

#[test]
fn failed_in_place_commands_leave_the_file_untouched_and_no_temporary_file() {
    let sb = Sandbox::new();
    let broken = sb.write("broken.yaml", "a: [1, 2\n");
    fails_starting_with(
        sb.seal()
            .args(["encrypt", "-i", "--age", &sb.recipient])
            .arg(&broken),
        "",
    );
    assert_eq!(fs_err::read_to_string(&broken).unwrap(), "a: [1, 2\n");

    let encrypted = sb.encrypt("secret.enc.yaml", SECRET);
    let before = fs_err::read(&encrypted).unwrap();
    fails_starting_with(
        sb.seal()
            .arg("set")
            .arg(&encrypted)
            .args(["not a path", r#""x""#]),
        "",
    );
    // Wrong identity: decrypt -i fails without touching the file.
    let stranger = Sandbox::new();
    fails_starting_with(
        sb.seal().args(["decrypt", "-i"]).arg(&encrypted).env(
            "SOPS_AGE_KEY_FILE",
            stranger.dir.path().join("home/age.txt"),
        ),
        "",
    );
    assert_eq!(fs_err::read(&encrypted).unwrap(), before);

    let cert = sb.keygen("keys");
    let sealed = sb.write("sealed.yaml", "not: a SealedSecret\n");
    sb.write("secret.yaml", SECRET);
    fails_with(
        sb.seal()
            .arg("secret.yaml")
            .arg("--cert")
            .arg(&cert)
            .arg("--merge-into")
            .arg(&sealed),
        &format!("{}: document 0: not a SealedSecret", sealed.display()),
    );
    assert_eq!(
        fs_err::read_to_string(&sealed).unwrap(),
        "not: a SealedSecret\n"
    );
    let names: Vec<String> = fs_err::read_dir(sb.path(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".seal-"))
        .collect();
    assert!(names.is_empty(), "temporary files left: {names:?}");
}

// ---------------------------------------------------------------------------------------
// keygen

// issue 14: `seal keygen --force` over a 0644 `tls.key` kept the mode and followed symlinks.
#[test]
fn keygen_force_writes_a_0600_key_and_replaces_symlinks_instead_of_following_them() {
    let sb = Sandbox::new();
    let keys = sb.path("keys");
    fs_err::create_dir_all(&keys).unwrap();
    fs_err::write(keys.join("tls.key"), "old").unwrap();
    fs_err::set_permissions(keys.join("tls.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let elsewhere = sb.write("elsewhere.crt", "not to be overwritten");
    symlink(&elsewhere, keys.join("tls.crt")).unwrap();

    sb.seal()
        .args(["keygen", "--bits", "2048", "--force", "--out-dir", "keys"])
        .assert()
        .success()
        .stdout("");
    assert_eq!(mode(&keys.join("tls.key")), 0o600);
    assert!(
        fs_err::read_to_string(keys.join("tls.key"))
            .unwrap()
            .starts_with("-----BEGIN RSA PRIVATE KEY-----")
    );
    assert!(!is_symlink(&keys.join("tls.crt")));
    assert_eq!(
        fs_err::read_to_string(&elsewhere).unwrap(),
        "not to be overwritten"
    );
    assert_eq!(mode(&keys.join("tls.crt")), 0o644);
}

#[test]
fn keygen_without_force_refuses_an_existing_file_or_link_and_writes_nothing() {
    let sb = Sandbox::new();
    let keys = sb.path("keys");
    fs_err::create_dir_all(&keys).unwrap();
    // A dangling link: following it would create the file it points to.
    symlink(sb.path("planted.key"), keys.join("tls.key")).unwrap();
    fails_with(
        sb.seal()
            .args(["keygen", "--bits", "2048", "--out-dir", "keys"]),
        "`keys/tls.key` already exists (use --force to overwrite)",
    );
    assert!(!sb.path("planted.key").exists());
    assert!(!keys.join("tls.crt").exists());
}

// ---------------------------------------------------------------------------------------
// exec-file

// issue 14: `seal exec-file --no-fifo` left the plaintext temporary file on SIGINT.
#[test]
fn exec_file_no_fifo_removes_the_plaintext_on_sigint() {
    use std::os::unix::process::CommandExt as _;
    let sb = Sandbox::new();
    sb.encrypt("secret.enc.yaml", SECRET);
    let seen = sb.path("seen-path");
    let mut child = sb
        .std_seal()
        .args(["exec-file", "--no-fifo", "secret.enc.yaml"])
        .arg(format!("echo {{}} > {}; exec sleep 60", seen.display()))
        .stderr(Stdio::piped())
        // Its own process group, as a shell gives a foreground job: Ctrl-C reaches all of it.
        .process_group(0)
        .spawn()
        .unwrap();
    // Wait for the command to have the file (bounded by tries).
    let mut tries = 0;
    while fs_err::read_to_string(&seen).map_or(true, |s| !s.ends_with('\n')) {
        tries += 1;
        assert!(tries < 1200, "the command never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let plaintext_path = PathBuf::from(fs_err::read_to_string(&seen).unwrap().trim());
    assert!(
        fs_err::read_to_string(&plaintext_path)
            .unwrap()
            .contains("hunter2")
    );

    let killed = Command::new("kill")
        .args(["-INT", "--", &format!("-{}", child.id())])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    assert_eq!(err, "error: interrupted: the decrypted file was removed\n");
    assert!(!plaintext_path.exists());
    assert!(
        sb.tmp_is_empty(),
        "the private temporary directory was left"
    );
}

#[test]
fn exec_file_no_fifo_removes_the_plaintext_when_the_command_fails() {
    let sb = Sandbox::new();
    sb.encrypt("secret.enc.yaml", SECRET);
    let out = sb
        .seal()
        .args([
            "exec-file",
            "--no-fifo",
            "secret.enc.yaml",
            "grep -q hunter2 {} && exit 7",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert!(sb.tmp_is_empty());
}

#[test]
fn exec_file_refuses_a_temporary_name_that_is_not_a_plain_file_name() {
    let sb = Sandbox::new();
    sb.encrypt("secret.enc.yaml", SECRET);
    for name in ["", "..", "a/b"] {
        fails_with(
            sb.seal()
                .args(["exec-file", "--filename", name, "secret.enc.yaml", "cat {}"]),
            &format!("--filename must be a plain file name, got `{name}`"),
        );
    }
    assert!(sb.tmp_is_empty());
}

// ---------------------------------------------------------------------------------------
// render confinement

const GENERATOR_OUTSIDE: &str = "apiVersion: viaduct.ai/v1
kind: ksops
metadata:
  name: g
files:
  - ../outside.enc.yaml
";

// issue 14: `seal render` read encrypted files from anywhere (`../../…`).
#[test]
fn render_refuses_encrypted_files_outside_the_kustomization_root() {
    let sb = Sandbox::new();
    let outside = sb.encrypt("outside.enc.yaml", SECRET);
    sb.write("app/gen.yaml", GENERATOR_OUTSIDE);
    let app = fs_err::canonicalize(sb.path("app")).unwrap();
    let real = fs_err::canonicalize(&outside).unwrap();
    fails_with(
        sb.seal().args(["render", "gen.yaml"]).current_dir(&app),
        &format!(
            "../outside.enc.yaml: resolves to {} outside the kustomization root {} (--root or \
             SEAL_RENDER_ROOT allow a wider directory)",
            real.display(),
            app.display()
        ),
    );

    // A symlink inside the root that points out is the same file.
    symlink("../outside.enc.yaml", sb.path("app/inside.enc.yaml")).unwrap();
    sb.write(
        "app/gen-link.yaml",
        "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: g\nfiles: [inside.enc.yaml]\n",
    );
    fails_with(
        sb.seal()
            .args(["render", "gen-link.yaml"])
            .current_dir(&app),
        &format!(
            "inside.enc.yaml: resolves to {} outside the kustomization root {} (--root or \
             SEAL_RENDER_ROOT allow a wider directory)",
            real.display(),
            app.display()
        ),
    );

    // A wider root lets encrypted files in, never unencrypted ones.
    sb.write("plain.yaml", SECRET);
    sb.write(
        "app/gen-plain.yaml",
        "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: g\nallowUnencrypted: true\n\
         files: [../plain.yaml]\n",
    );
    fails_with(
        sb.seal()
            .args(["render", "gen-plain.yaml", "--root"])
            .arg(sb.path(""))
            .current_dir(&app),
        &format!(
            "../plain.yaml: not SOPS-encrypted, and unencrypted files must lie inside the \
             kustomization root {}",
            app.display()
        ),
    );

    // A wider root, given on purpose, lets it in.
    let out = sb
        .seal()
        .args(["render", "gen.yaml", "--root"])
        .arg(sb.path(""))
        .current_dir(&app)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("password: hunter2"));
}

#[test]
fn render_names_a_missing_file_plainly() {
    let sb = Sandbox::new();
    sb.write(
        "app/gen.yaml",
        "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: g\nfiles: [gone.enc.yaml]\n",
    );
    let app = fs_err::canonicalize(sb.path("app")).unwrap();
    fails_with(
        sb.seal().args(["render", "gen.yaml"]).current_dir(&app),
        &format!("{}: no such file", app.join("gone.enc.yaml").display()),
    );
}

// ---------------------------------------------------------------------------------------
// Unclear errors

// issue 14: a missing kubeconfig repeated the OS error.
#[test]
fn a_missing_kubeconfig_is_named_once() {
    let sb = Sandbox::new();
    sb.write("secret.yaml", SECRET);
    let missing = sb.path("no-such-kubeconfig");
    let expected = format!(
        "no --cert given (nor SEALED_SECRETS_CERT), so the certificate comes from the \
         controller: cannot read kubeconfig `{}`: No such file or directory (os error 2)",
        missing.display()
    );
    fails_with(
        sb.seal().arg("secret.yaml").env("KUBECONFIG", &missing),
        &expected,
    );
    fails_with(
        sb.seal()
            .arg("secret.yaml")
            .arg("--kubeconfig")
            .arg(&missing),
        &expected,
    );
}

// issue 14: a KRM ResourceList without functionConfig exited 1 with an empty stderr.
#[test]
fn a_resource_list_without_a_generator_says_so_on_stderr() {
    let sb = Sandbox::new();
    let out = sb
        .seal()
        .arg("render")
        .write_stdin("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: no generator: functionConfig or items must hold a `viaduct.ai/v1` `ksops` or a \
         `sealkit.dev/v1alpha1` `SecretGenerator`\n"
    );
    // stdout carries the protocol's answer: the items unchanged and the error result.
    let list: serde_json::Value = serde_yaml_ng::from_slice(&out.stdout).unwrap();
    assert_eq!(list["items"], serde_json::json!([]));
    assert_eq!(list["results"][0]["severity"], "error");
}

// issue 14: `seal render --kustomize` passed kubectl's own log line through before its own.
#[test]
fn a_failed_kustomize_build_is_one_line_with_the_plugins_reason() {
    let sb = Sandbox::new();
    sb.encrypt("app/secret.enc.yaml", SECRET);
    sb.write(
        "app/gen.yaml",
        "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: g\nfiles: [secret.enc.yaml]\n",
    );
    sb.write("app/kustomization.yaml", "generators:\n  - gen.yaml\n");
    let stranger = Sandbox::new();
    let kubectl = require_tool("kubectl");
    let err = fails_starting_with(
        sb.seal()
            .args(["render", "--kustomize", "app", "--kustomize-command"])
            .arg(&kubectl)
            .env(
                "SOPS_AGE_KEY_FILE",
                stranger.dir.path().join("home/age.txt"),
            ),
        "kustomize build of `app` failed (exit status: 1): ",
    );
    assert!(
        err.contains("secret.enc.yaml: no age identity matches the file's recipients")
            && err.ends_with("; nothing printed\n"),
        "{err}"
    );

    // kubectl's own failure (no kustomization): its message, unwrapped from its log line.
    let err = fails_starting_with(
        sb.seal()
            .args(["render", "--kustomize", "nowhere", "--kustomize-command"])
            .arg(&kubectl),
        "kustomize build of `nowhere` failed (exit status: 1): must build at directory",
    );
    assert!(
        !err.contains("run.go") && !err.contains("command failed"),
        "{err}"
    );
}

// clap's standard form for usage errors is kept (README: "Errors and exit codes").
#[test]
fn usage_errors_exit_2_in_claps_standard_form() {
    let sb = Sandbox::new();
    let out = sb.seal().arg("--bogus").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert_eq!(
        stderr(&out),
        "error: unexpected argument '--bogus' found\n\n  tip: to pass '--bogus' as a value, use \
         '-- --bogus'\n\nUsage: seal [OPTIONS] [FILE]\n       seal <COMMAND>\n\nFor more \
         information, try '--help'.\n"
    );
}

// issue 14: `seal --input-type yaml` with no file exited 2 silently.
#[test]
fn sops_style_flags_without_a_file_print_the_usage() {
    let sb = Sandbox::new();
    for (args, message) in [
        (
            &["--input-type", "yaml"][..],
            "missing FILE: `--input-type`/`--output-type` edit a SOPS file (sops's `sops \
             --input-type yaml FILE`)",
        ),
        (
            &["-d"][..],
            "missing FILE: sops-style `-d/-e/-r` need a file (or `-` for stdin)",
        ),
    ] {
        let out = sb.seal().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(out.stdout.is_empty());
        assert_eq!(
            stderr(&out),
            format!(
                "error: {message}\n\nUsage: seal [OPTIONS] [FILE]\n       seal <COMMAND>\n\nFor \
                 more information, try '--help'.\n"
            )
        );
    }
}
