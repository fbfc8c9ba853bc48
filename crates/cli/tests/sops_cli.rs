//! The sops subcommands of `seal`, with the real sops 3.11 and the real Go `age` as peers.
//!
//! Needs `sops` and `age` on PATH (scripts/deps/sops.sh installs them); tests fail without.
//! Conformance files are read from tests/conformance/sops (see its READMEs for provenance).

use std::path::{Path, PathBuf};
use std::process::Command;

use sealkit_tests::Sandbox;

#[path = "sops_cli/git.rs"]
mod git;
#[path = "sops_cli/identity.rs"]
mod identity;
#[path = "sops_cli/keys.rs"]
mod keys;

fn conformance() -> PathBuf {
    sealkit_tests::conformance().join("sops")
}

fn gen311() -> PathBuf {
    conformance().join("sops-3.11-generated")
}

fn key_file(name: &str) -> PathBuf {
    gen311().join("keys").join(name)
}

fn recipient(name: &str) -> String {
    let text = fs_err::read_to_string(key_file(name)).unwrap();
    let start = text.find("age1").unwrap();
    text[start..].split_whitespace().next().unwrap().to_owned()
}

/// `seal` and the real `sops` run in a [`Sandbox`]: private HOME and TMPDIR, no SOPS_* from the
/// outside.
trait SopsSandbox {
    fn seal(&self) -> Command;
    fn sops(&self) -> Command;
}

impl SopsSandbox for Sandbox {
    fn seal(&self) -> Command {
        self.command(assert_cmd::cargo::cargo_bin("seal"))
    }

    fn sops(&self) -> Command {
        self.command("sops")
    }
}

fn stdout_of(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs and expects exit 1, empty stdout and one stderr line; returns that line.
fn fails(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{cmd:?}: {stderr}");
    assert!(out.stdout.is_empty(), "stdout not empty: {:?}", out.stdout);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one stderr line, got: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    lines[0].to_owned()
}

fn sops_decrypt(sb: &Sandbox, file: &Path, key: &str) -> Vec<u8> {
    stdout_of(
        sb.sops()
            .env("SOPS_AGE_KEY_FILE", key_file(key))
            .arg("decrypt")
            .arg(file),
    )
}

/// The lines of an encrypted YAML file that hold no ciphertext, metadata left out.
fn clear(text: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(text)
        .lines()
        .take_while(|l| !l.starts_with("sops:"))
        .filter(|l| !l.contains("ENC["))
        .map(str::to_owned)
        .collect()
}

/// `seal decrypt FILE` with `SOPS_AGE_KEY_FILE` = the conformance key `key`.
fn seal_decrypt(sb: &Sandbox, file: &Path, key: &str) -> Vec<u8> {
    stdout_of(
        sb.seal()
            .env("SOPS_AGE_KEY_FILE", key_file(key))
            .arg("decrypt")
            .arg(file),
    )
}

/// `seal decrypt FILE` that must fail with key `key`; returns the error line.
fn seal_decrypt_fails(sb: &Sandbox, file: &Path, key: &str) -> String {
    fails(
        sb.seal()
            .env("SOPS_AGE_KEY_FILE", key_file(key))
            .arg("decrypt")
            .arg(file),
    )
}

// ---- our output → real sops ---------------------------------------------------------------

#[test]
fn every_store_we_encrypt_is_decrypted_by_real_sops_to_the_original() {
    let sb = Sandbox::new();
    let a = recipient("key-a.txt");
    for (input, name) in [
        ("kitchen.yaml", "k.yaml"),
        ("kitchen.json", "k.json"),
        ("kitchen.env", "k.env"),
        ("kitchen.ini", "k.ini"),
        ("blob.bin", "k.bin"),
        ("note.txt", "k.txt"),
        ("multidoc.yaml", "multi.yaml"),
        ("floats.yaml", "floats.yaml"),
        ("comments.yaml", "comments.yaml"),
    ] {
        let plain = sb.copy_in(&gen311().join("inputs").join(input), name);
        let enc = stdout_of(sb.seal().args(["encrypt", "--age", &a]).arg(&plain));
        let enc_path = sb.write(&format!("enc/{name}"), &enc);
        let ours = seal_decrypt(&sb, &enc_path, "key-a.txt");
        let theirs = sops_decrypt(&sb, &enc_path, "key-a.txt");
        // sops's own decryption of its own encryption is the reference cleartext.
        let reference_enc = stdout_of(sb.sops().args(["encrypt", "--age", &a]).arg(&plain));
        let reference_path = sb.write(&format!("ref/{name}"), &reference_enc);
        let reference = sops_decrypt(&sb, &reference_path, "key-a.txt");
        assert_eq!(
            String::from_utf8_lossy(&theirs),
            String::from_utf8_lossy(&reference),
            "{input}: sops decrypts our file differently"
        );
        assert_eq!(
            ours, reference,
            "{input}: our round trip differs from sops's"
        );
    }
}

// found by fuzzing: fuzz/sops_yaml (a `!!binary` value that is not UTF-8 was written with
// U+FFFD in place of its bytes; sops writes it back as `!!binary`, on several lines when long).
#[test]
fn binary_values_that_are_not_utf8_round_trip_as_with_real_sops() {
    let sb = Sandbox::new();
    let a = recipient("key-a.txt");
    let long = "/".repeat(80);
    let plain = sb.write(
        "bin.yaml",
        format!("k: !!binary /w==\nlong: !!binary {long}\ntext: !!binary aGk=\n"),
    );
    let theirs = stdout_of(sb.sops().args(["encrypt", "--age", &a]).arg(&plain));
    let theirs_path = sb.write("theirs.enc.yaml", &theirs);
    let reference = sops_decrypt(&sb, &theirs_path, "key-a.txt");
    assert!(String::from_utf8_lossy(&reference).contains("long: !!binary |\n"));
    assert_eq!(seal_decrypt(&sb, &theirs_path, "key-a.txt"), reference);
    let ours = stdout_of(sb.seal().args(["encrypt", "--age", &a]).arg(&plain));
    let ours_path = sb.write("ours.enc.yaml", &ours);
    assert_eq!(sops_decrypt(&sb, &ours_path, "key-a.txt"), reference);
}

/// A YAML file of `sections` × 50 keys with comments, well over the emitter's 64 KiB chunks.
fn large_yaml(sections: usize) -> String {
    let mut text = String::from("# large file\n");
    for s in 0..sections {
        text.push_str(&format!("section_{s}:\n"));
        for k in 0..50 {
            text.push_str(&format!("    key_{k}: value {s} {k} {}\n", "x".repeat(60)));
        }
        text.push_str("    # end of section\n    list: [1, 2.5, true]\n");
    }
    text
}

#[test]
fn large_files_streamed_in_chunks_open_in_real_sops_and_a_closed_pipe_is_no_error() {
    let sb = Sandbox::new();
    let a = recipient("key-a.txt");
    let plain = sb.write("large.yaml", large_yaml(200));
    assert!(fs_err::metadata(&plain).unwrap().len() > 4 * 64 * 1024);

    // To stdout and to a file (`--output`): the same cleartext for the real sops.
    let enc = stdout_of(sb.seal().args(["encrypt", "--age", &a]).arg(&plain));
    let enc_path = sb.write("large.enc.yaml", &enc);
    let out_path = sb.path("large.out.yaml");
    stdout_of(
        sb.seal()
            .args(["encrypt", "--age", &a, "--output"])
            .arg(&out_path)
            .arg(&plain),
    );
    let theirs = sops_decrypt(&sb, &enc_path, "key-a.txt");
    assert_eq!(theirs, sops_decrypt(&sb, &out_path, "key-a.txt"));
    let ours = seal_decrypt(&sb, &enc_path, "key-a.txt");
    assert_eq!(ours, theirs);
    assert!(ours.len() > 4 * 64 * 1024);

    // 160,400 short lines without comments: a tree would cost more than 3x the file + 32 MiB,
    // so it is encrypted without one (and decrypted without one, as any such file). In
    // sections: sops's duplicate-key check is quadratic in the size of one mapping.
    let flat_text: String = (0..400)
        .map(|s| {
            let keys: String = (0..400).map(|k| format!("    k{k}: v{k}\n")).collect();
            format!("s{s}:\n{keys}")
        })
        .collect();
    assert!(sealer::sops::PlainFile::yaml_tree_exceeds_budget(
        flat_text.as_bytes()
    ));
    let flat = sb.write("flat.yaml", &flat_text);
    let flat_enc = sb.write(
        "flat.enc.yaml",
        stdout_of(sb.seal().args(["encrypt", "--age", &a]).arg(&flat)),
    );
    let theirs = sops_decrypt(&sb, &flat_enc, "key-a.txt");
    assert!(
        theirs == flat_text.as_bytes(),
        "sops decrypts the streamed file to another text"
    );
    assert!(
        seal_decrypt(&sb, &flat_enc, "key-a.txt") == theirs,
        "seal and sops decrypt the streamed file to different texts"
    );

    let decrypt = |p: &std::path::Path| vec!["decrypt".to_owned(), p.display().to_string()];
    let encrypt = |p: &std::path::Path| {
        let args = ["encrypt", "--age", &a, &p.display().to_string()];
        args.map(str::to_owned).to_vec()
    };
    // Through the tree (with comments), then without (no comments).
    let runs = [
        decrypt(&enc_path),
        encrypt(&plain),
        decrypt(&flat_enc),
        encrypt(&flat),
    ];

    // A reader that stops after one line (`| head -1`): exit 0, nothing on stderr.
    for args in &runs {
        let mut child = sb
            .seal()
            .env("SOPS_AGE_KEY_FILE", key_file("key-a.txt"))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 16];
        std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{args:?}: {:?}", out.status);
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // A full disk is an error, in one line.
    let full = fs_err::File::create("/dev/full").map(fs_err::File::into_parts);
    if let Ok((full, _)) = full {
        for args in [&runs[0], &runs[2], &runs[3]] {
            let out = sb
                .seal()
                .env("SOPS_AGE_KEY_FILE", key_file("key-a.txt"))
                .args(args)
                .stdout(full.try_clone().unwrap())
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
            assert!(stderr.contains("No space left on device"), "{stderr}");
        }
    }
}

#[test]
fn each_selector_we_apply_is_honoured_by_real_sops() {
    let sb = Sandbox::new();
    let a = recipient("key-a.txt");
    let cases: &[(&str, &[&str], &str, &str)] = &[
        // input, flags, a key that must stay clear, a key that must be encrypted
        (
            "k8s-secret.yaml",
            &["--encrypted-regex", "^(data|stringData)$"],
            "kind:",
            "password",
        ),
        (
            "k8s-secret.yaml",
            &["--unencrypted-regex", "^(apiVersion|kind|metadata|type)$"],
            "kind:",
            "password",
        ),
        (
            "suffix.yaml",
            &["--encrypted-suffix", "_secret"],
            "",
            "_secret",
        ),
        (
            "suffix.yaml",
            &["--unencrypted-suffix", "_host"],
            "_host",
            "",
        ),
    ];
    for (index, (input, flags, _, _)) in cases.iter().enumerate() {
        let plain = sb.copy_in(
            &gen311().join("inputs").join(input),
            &format!("{index}.yaml"),
        );
        let ours = stdout_of(
            sb.seal()
                .args(["encrypt", "--age", &a])
                .args(*flags)
                .arg(&plain),
        );
        let ours_path = sb.write(&format!("ours/{index}.yaml"), &ours);
        let reference = stdout_of(
            sb.sops()
                .args(["encrypt", "--age", &a])
                .args(*flags)
                .arg(&plain),
        );
        let reference_path = sb.write(&format!("ref/{index}.yaml"), &reference);
        assert_eq!(
            String::from_utf8_lossy(&sops_decrypt(&sb, &ours_path, "key-a.txt")),
            String::from_utf8_lossy(&sops_decrypt(&sb, &reference_path, "key-a.txt")),
            "case {index} {flags:?}"
        );
        // The same values are left in clear as sops leaves them.
        assert_eq!(clear(&ours), clear(&reference), "case {index} {flags:?}");
    }
}

/// Scalar styles, tags, anchors, flow collections, comments in lists and after quoted
/// scalars, timestamps, odd numbers: how sops 3.11 normalises them.
const STYLES_YAML: &str = r#"# head comment
a: 'single'
b: "double"
c: >
  folded text
  continues here

d: |
  literal
   indented
e: "needs: quote"
f: 'it''s'
"quoted key": v
g: {x: 1, y: [a, b]}
h: [1, 2, "three"]
anchor: &anc
  k: v
alias: *anc
bin: !!binary aGVsbG8=
tagged: !!str 123
nul: ~
empty:
multi: this is a
  multi line plain
long: Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua
longq: "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore: et dolore magna aliqua"
keep: |+
  trailing

strip: |-
  no newline
ts: 2001-12-14t21:59:43.10-05:00
oct: 0o17
hex: 0x1F
flt: 1e3
inf: .inf
yes: yes
date: 2002-12-14
unicode: "caf\u00e9 \U0001F600"
tab: "a\tb"
trail: "x "   # trailing comment
list:
  - one   # c1
  # c2
  - two
  - - nested
    - seq
  - k: v
    k2: v2
"#;

/// Masks ciphertexts and drops the metadata, leaving the layout.
fn layout(text: &[u8], metadata_starts: &str) -> String {
    let text = String::from_utf8_lossy(text);
    let mut out = String::new();
    for line in text.lines().take_while(|l| !l.starts_with(metadata_starts)) {
        let mut rest = line;
        while let Some(start) = rest.find("ENC[AES256_GCM,") {
            out.push_str(&rest[..start]);
            out.push_str("ENC");
            rest = &rest[start..];
            rest = &rest[rest.find(']').map_or(rest.len(), |end| end + 1)..];
        }
        out.push_str(rest);
        out.push('\n');
    }
    out
}

#[test]
fn odd_inputs_round_trip_exactly_as_with_real_sops() {
    let sb = Sandbox::new();
    let a = recipient("key-a.txt");
    let cases = [
        ("styles.yaml", STYLES_YAML, "sops:"),
        (
            "odd.json",
            r#"{"int": 12345678901234567890, "neg": -0.0, "exp": 1e3, "f": 0.1, "big": 1.5e300, "s": "a\u00e9\n\t\"", "nested": {"l": [1, "two", null, true, {"x": []}], "e": {}}, "u": "\ud83d\ude00", "esc": "</script>&"}"#,
            "\t\"sops\"",
        ),
        (
            "odd.env",
            "A=1\nB=\"quoted value\"\n# comment\nC=multi\\nline\nEMPTY=\nD=x=y\n",
            "sops_",
        ),
        (
            "defaults.ini",
            "a=0\n[DEFAULT]\nk=v\n; c\n[s]\nx=1\n[DEFAULT]\nz=2\n",
            "[sops]",
        ),
    ];
    for (name, text, metadata) in cases {
        let plain = sb.write(name, text);
        let theirs = sb.write(
            &format!("theirs/{name}"),
            stdout_of(sb.sops().args(["encrypt", "--age", &a]).arg(&plain)),
        );
        let ours = sb.write(
            &format!("ours/{name}"),
            stdout_of(sb.seal().args(["encrypt", "--age", &a]).arg(&plain)),
        );
        let reference = sops_decrypt(&sb, &theirs, "key-a.txt");
        let ours_by_sops = sops_decrypt(&sb, &ours, "key-a.txt");
        let theirs_by_us = seal_decrypt(&sb, &theirs, "key-a.txt");
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        assert_eq!(
            text(&theirs_by_us),
            text(&reference),
            "{name}: we decrypt sops's file differently"
        );
        assert_eq!(
            text(&ours_by_sops),
            text(&reference),
            "{name}: sops decrypts our file differently"
        );
        assert_eq!(
            layout(&fs_err::read(&ours).unwrap(), metadata),
            layout(&fs_err::read(&theirs).unwrap(), metadata),
            "{name}: encrypted layout differs"
        );
    }
}

#[test]
fn several_recipients_each_open_the_file_in_real_sops() {
    let sb = Sandbox::new();
    let list = format!(
        "{},{},{}",
        recipient("key-a.txt"),
        recipient("key-b.txt"),
        recipient("key-c.txt")
    );
    let plain = sb.copy_in(&gen311().join("inputs/kitchen.yaml"), "k.yaml");
    let enc = sb.write(
        "k.enc.yaml",
        stdout_of(sb.seal().args(["encrypt", "--age", &list]).arg(&plain)),
    );
    let expected = fs_err::read(gen311().join("kitchen.dec.yaml")).unwrap();
    for key in ["key-a.txt", "key-b.txt", "key-c.txt"] {
        assert_eq!(sops_decrypt(&sb, &enc, key), expected, "{key}");
    }
}

#[test]
fn ssh_ed25519_recipient_is_opened_by_real_sops_with_the_ssh_key() {
    let sb = Sandbox::new();
    let ssh = fs_err::read_to_string(key_file("ssh-ed25519.pub")).unwrap();
    let plain = sb.copy_in(&gen311().join("inputs/shamir.yaml"), "s.yaml");
    let enc = sb.write(
        "s.enc.yaml",
        stdout_of(sb.seal().args(["encrypt", "--age", ssh.trim()]).arg(&plain)),
    );
    let theirs = stdout_of(
        sb.sops()
            .env("SOPS_AGE_SSH_PRIVATE_KEY_FILE", key_file("ssh-ed25519"))
            .env("SOPS_AGE_KEY_FILE", "/dev/null")
            .arg("decrypt")
            .arg(&enc),
    );
    assert_eq!(
        theirs,
        fs_err::read(gen311().join("ssh-recipient.dec.yaml")).unwrap()
    );
    let ours = stdout_of(
        sb.seal()
            .env("SOPS_AGE_SSH_PRIVATE_KEY_FILE", key_file("ssh-ed25519"))
            .arg("decrypt")
            .arg(&enc),
    );
    assert_eq!(ours, theirs);
}

#[test]
fn comment_selectors_and_mac_only_encrypted_from_sops_yaml_match_real_sops() {
    // sops 3.11 takes these only from `.sops.yaml` (no command-line flags): use the rules the
    // conformance files were made with, for both tools.
    let sb = Sandbox::new();
    sb.copy_in(&gen311().join("config/rules.sops.yaml"), ".sops.yaml");
    for name in [
        "encrypted-comment-regex",
        "unencrypted-comment-regex",
        "mac-only-encrypted",
        "mac-only-suffix",
    ] {
        let plain = sb.copy_in(
            &gen311().join(format!("{name}.plain.yaml")),
            &format!("{name}.yaml"),
        );
        let ours = stdout_of(sb.seal().arg("encrypt").arg(&plain));
        let ours_path = sb.write(&format!("out/{name}.yaml"), &ours);
        let expected = fs_err::read(gen311().join(format!("{name}.dec.yaml"))).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&sops_decrypt(&sb, &ours_path, "key-a.txt")),
            String::from_utf8_lossy(&expected),
            "{name}"
        );
        // What stays clear (values and comments) is what sops leaves clear.
        let reference = fs_err::read(gen311().join(format!("{name}.enc.yaml"))).unwrap();
        assert_eq!(clear(&ours), clear(&reference), "{name}");
        if name.starts_with("mac-only") {
            let text = String::from_utf8_lossy(&ours);
            assert!(text.contains("mac_only_encrypted: true"), "{name}: {text}");
        }
        if name == "mac-only-encrypted" {
            let text = String::from_utf8_lossy(&ours).into_owned();
            // The MAC covers only encrypted values: real sops accepts an edited clear value.
            let line = clear(text.as_bytes())
                .into_iter()
                .find(|l| l.contains(": ") && !l.trim_end().ends_with(':'))
                .unwrap();
            let edited = text.replacen(&line, &format!("{line}x"), 1);
            let edited_path = sb.write(&format!("out/{name}.edited.yaml"), edited);
            let out = sops_decrypt(&sb, &edited_path, "key-a.txt");
            assert!(
                String::from_utf8_lossy(&out).contains(&format!("{}x", line.trim())),
                "{name}"
            );
        }
    }
}

#[test]
fn ssh_rsa_recipients_work_both_ways_with_real_sops() {
    let sb = Sandbox::new();
    let key = sb.root().join("id_rsa");
    let status = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "rsa",
            "-b",
            "2048",
            "-N",
            "",
            "-C",
            "sealkit-test",
            "-f",
        ])
        .arg(&key)
        .status()
        .expect("ssh-keygen (openssh-client) is needed");
    assert!(status.success());
    let public = fs_err::read_to_string(key.with_extension("pub")).unwrap();
    let public = public.trim();
    assert!(public.starts_with("ssh-rsa "));
    let plain = sb.copy_in(&gen311().join("inputs/shamir.yaml"), "s.yaml");
    let expected = fs_err::read(gen311().join("ssh-recipient.dec.yaml")).unwrap();
    let ours = sb.write(
        "ours.yaml",
        stdout_of(sb.seal().args(["encrypt", "--age", public]).arg(&plain)),
    );
    let theirs = sb.write(
        "theirs.yaml",
        stdout_of(sb.sops().args(["encrypt", "--age", public]).arg(&plain)),
    );
    for file in [&ours, &theirs] {
        let by_sops = stdout_of(
            sb.sops()
                .env("SOPS_AGE_SSH_PRIVATE_KEY_FILE", &key)
                .env("SOPS_AGE_KEY_FILE", "/dev/null")
                .arg("decrypt")
                .arg(file),
        );
        assert_eq!(by_sops, expected, "{}", file.display());
        let by_us = stdout_of(
            sb.seal()
                .env("SOPS_AGE_SSH_PRIVATE_KEY_FILE", &key)
                .arg("decrypt")
                .arg(file),
        );
        assert_eq!(by_us, expected, "{}", file.display());
    }
}

#[test]
fn filestatus_reports_every_conformance_file_encrypted_and_its_cleartext_not() {
    let sb = Sandbox::new();
    let mut encrypted = 0;
    for dir in fs_err::read_dir(conformance()).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let mut files: Vec<PathBuf> = fs_err::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        let negative = dir.join("negative");
        if negative.is_dir() {
            files.extend(
                fs_err::read_dir(negative)
                    .unwrap()
                    .map(|e| e.unwrap().path()),
            );
        }
        for file in files {
            let name = file.to_string_lossy().into_owned();
            let Some(target) = name.strip_suffix(".expected.json") else {
                if name.contains("/negative/") {
                    // Tampered files still carry their metadata.
                    let out = stdout_of(sb.seal().arg("filestatus").arg(&file));
                    assert_eq!(out, b"{\"encrypted\":true}\n", "{name}");
                    encrypted += 1;
                }
                continue;
            };
            let expected: serde_json::Value =
                serde_json::from_slice(&fs_err::read(&file).unwrap()).unwrap();
            let mut target = PathBuf::from(target);
            if !target.exists() {
                target = PathBuf::from(format!("{}.yaml", target.display()));
            }
            let mut cmd = sb.seal();
            cmd.arg("filestatus");
            if let Some(store) = expected.get("store").and_then(|s| s.as_str()) {
                cmd.args(["--input-type", store]);
            }
            let out = stdout_of(cmd.arg(&target));
            assert_eq!(out, b"{\"encrypted\":true}\n", "{}", target.display());
            encrypted += 1;
        }
    }
    assert!(encrypted >= 50, "only {encrypted} files found");
    for plain in [
        "kitchen.plain.yaml",
        "kitchen.plain.json",
        "kitchen.plain.env",
        "kitchen.plain.ini",
    ] {
        let out = stdout_of(sb.seal().arg("filestatus").arg(gen311().join(plain)));
        assert_eq!(out, b"{\"encrypted\":false}\n", "{plain}");
    }
}

#[test]
fn shamir_key_groups_from_sops_yaml_are_opened_by_real_sops_with_two_of_three() {
    let sb = Sandbox::new();
    sb.copy_in(&gen311().join("config/shamir.sops.yaml"), ".sops.yaml");
    for (name, ext) in [
        ("shamir-2of3", "yaml"),
        ("groups-all", "yaml"),
        ("groups-mixed", "yaml"),
        ("shamir-2of3", "env"),
    ] {
        let input = if ext == "env" {
            "kitchen.env"
        } else {
            "shamir.yaml"
        };
        let plain = sb.copy_in(
            &gen311().join("inputs").join(input),
            &format!("{name}.{ext}"),
        );
        let enc = stdout_of(sb.seal().arg("encrypt").arg(&plain));
        let text = String::from_utf8_lossy(&enc).into_owned();
        assert!(
            text.contains("key_groups") || ext == "env",
            "{name}: {text}"
        );
        let enc_path = sb.write(&format!("out/{name}.{ext}"), &enc);
        let keys = if name == "groups-mixed" {
            "keys-bc.txt"
        } else {
            "keys-ab.txt"
        };
        let expected = fs_err::read(gen311().join(format!("{name}.dec.{ext}"))).unwrap();
        assert_eq!(sops_decrypt(&sb, &enc_path, keys), expected, "{name}.{ext}");
        let ours = seal_decrypt(&sb, &enc_path, keys);
        assert_eq!(ours, expected, "{name}.{ext}");
    }
    // One key alone cannot open a 2-of-3 file: the error says how many groups opened.
    let enc = sb.path("out/shamir-2of3.yaml");
    let line = seal_decrypt_fails(&sb, &enc, "key-a.txt");
    assert!(
        line.contains("1 of 3 key groups opened, 2 needed"),
        "{line}"
    );
}

#[test]
fn sops_yaml_rules_pick_the_first_matching_path_regex_walking_up_from_the_file() {
    let sb = Sandbox::new();
    let a = recipient("key-a.txt");
    let b = recipient("key-b.txt");
    sb.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - path_regex: ^prod/.*\\.yaml$\n    age: {b}\n    encrypted_regex: ^secret$\n  - path_regex: \\.yaml$\n    age: {a}\n"
        ),
    );
    let prod = sb.write("prod/app.yaml", "name: app\nsecret: s3cr3t\n");
    let dev = sb.write("dev/app.yaml", "name: app\nsecret: s3cr3t\n");
    // Run from a subdirectory: the config is found from the file upwards.
    let mut cmd = sb.seal();
    cmd.current_dir(sb.path("dev")).arg("encrypt").arg(&prod);
    let prod_enc = String::from_utf8(stdout_of(&mut cmd)).unwrap();
    assert!(
        prod_enc.contains(&b) && !prod_enc.contains(&a),
        "{prod_enc}"
    );
    assert!(
        prod_enc.contains("name: app"),
        "encrypted_regex not applied: {prod_enc}"
    );
    let dev_enc = String::from_utf8(stdout_of(sb.seal().arg("encrypt").arg(&dev))).unwrap();
    assert!(dev_enc.contains(&a) && !dev_enc.contains(&b), "{dev_enc}");
    assert!(!dev_enc.contains("name: app"), "{dev_enc}");
    let out = sb.write("prod/app.enc.yaml", &prod_enc);
    assert_eq!(
        sops_decrypt(&sb, &out, "key-b.txt"),
        b"name: app\nsecret: s3cr3t\n"
    );
}

// ---- real sops output → us ----------------------------------------------------------------

#[test]
fn every_file_real_sops_made_decrypts_with_us_byte_for_byte() {
    let sb = Sandbox::new();
    let mut checked = 0;
    for entry in fs_err::read_dir(gen311()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some((stem, ext)) = name.split_once(".enc.") else {
            continue;
        };
        if ext.ends_with(".json") && name.ends_with(".expected.json") {
            continue;
        }
        let dec = gen311().join(format!("{stem}.dec.{ext}"));
        if !dec.exists() {
            continue;
        }
        let meta: serde_json::Value = serde_json::from_slice(
            &fs_err::read(gen311().join(format!("{name}.expected.json"))).unwrap(),
        )
        .unwrap();
        let key = meta["decrypt_with"].as_str().unwrap();
        let mut cmd = sb.seal();
        cmd.arg("decrypt").arg(&path);
        if stem == "encrypted-regex" {
            cmd.arg("--config")
                .arg(gen311().join("config/indent2.sops.yaml"));
        }
        if key.contains("ssh") {
            cmd.env("SOPS_AGE_SSH_PRIVATE_KEY_FILE", gen311().join(key));
        } else {
            cmd.env("SOPS_AGE_KEY_FILE", gen311().join(key));
        }
        let ours = stdout_of(&mut cmd);
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&fs_err::read(&dec).unwrap()),
            "{name}"
        );
        let status = stdout_of(sb.seal().arg("filestatus").arg(&path));
        assert_eq!(status, b"{\"encrypted\":true}\n", "{name}");
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} files checked");
}

#[test]
fn extract_prints_what_real_sops_prints() {
    let sb = Sandbox::new();
    for (path, file) in [
        (r#"["nested"]["map"]"#, "kitchen.extract-nested-map.txt"),
        (
            r#"["nested"]["list_of_maps"][1]["port"]"#,
            "kitchen.extract-port.txt",
        ),
        (r#"["string"]"#, "kitchen.extract-string.txt"),
    ] {
        let ours = stdout_of(
            sb.seal()
                .env("SOPS_AGE_KEY_FILE", key_file("key-a.txt"))
                .args(["decrypt", "--extract", path])
                .arg(gen311().join("kitchen.enc.yaml")),
        );
        assert_eq!(ours, fs_err::read(gen311().join(file)).unwrap(), "{path}");
    }
}

#[test]
fn other_conformance_folders_decrypt_through_the_cli() {
    let sb = Sandbox::new();
    let cases = [
        ("helm-secrets/secrets.age.yaml", "helm-secrets/key.txt"),
        (
            "flux-kustomize-controller/algorithms-age.yaml",
            "flux-kustomize-controller/keys/age.txt",
        ),
        (
            "flux-kustomize-controller/global-secret.yaml",
            "flux-kustomize-controller/keys/age-global.txt",
        ),
        (
            "flux-kustomize-controller/patches-merge1.yaml",
            "flux-kustomize-controller/keys/age.txt",
        ),
        (
            "flux-kustomize-controller/envs-env.env",
            "flux-kustomize-controller/keys/age.txt",
        ),
        (
            "flux-kustomize-controller/component-env.env",
            "flux-kustomize-controller/keys/age.txt",
        ),
        (
            "flux-kustomize-controller/files-file.txt",
            "flux-kustomize-controller/keys/age.txt",
        ),
    ];
    for (file, key) in cases {
        let file = conformance().join(file);
        let ours = stdout_of(
            sb.seal()
                .env("SOPS_AGE_KEY_FILE", conformance().join(key))
                .arg("decrypt")
                .arg(&file),
        );
        let theirs = stdout_of(
            sb.sops()
                .env("SOPS_AGE_KEY_FILE", conformance().join(key))
                .arg("decrypt")
                .arg(&file),
        );
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs),
            "{}",
            file.display()
        );
        assert_eq!(
            stdout_of(sb.seal().arg("filestatus").arg(&file)),
            b"{\"encrypted\":true}\n"
        );
    }
}

/// The flux post-quantum key (`AGE-SECRET-KEY-PQ-1…`) and its `age1pq1…` recipient.
fn flux_pq_key() -> (PathBuf, String) {
    let key = conformance().join("flux-kustomize-controller/keys/age-pq.txt");
    let text = fs_err::read_to_string(&key).unwrap();
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .trim()
        .to_owned();
    assert!(recipient.starts_with("age1pq1"));
    (key, recipient)
}

#[test]
fn post_quantum_age_file_from_go_age_decrypts_like_real_sops() {
    let sb = Sandbox::new();
    let (key, _) = flux_pq_key();
    let file = conformance().join("flux-kustomize-controller/algorithms-age-pq.yaml");
    let ours = stdout_of(
        sb.seal()
            .env("SOPS_AGE_KEY_FILE", &key)
            .arg("decrypt")
            .arg(&file),
    );
    let theirs = stdout_of(
        sb.sops()
            .env("SOPS_AGE_KEY_FILE", &key)
            .arg("decrypt")
            .arg(&file),
    );
    assert_eq!(
        String::from_utf8_lossy(&ours),
        String::from_utf8_lossy(&theirs)
    );
    assert!(String::from_utf8_lossy(&ours).contains("key: value"));
    assert_eq!(
        stdout_of(sb.seal().arg("filestatus").arg(&file)),
        b"{\"encrypted\":true}\n"
    );
    // An X25519 key alone cannot open it, and the error names the post-quantum recipient.
    let line = seal_decrypt_fails(&sb, &file, "key-a.txt");
    assert!(
        line.contains("no age identity matches the file's recipients: age1pq1"),
        "{line}"
    );
}

#[test]
fn post_quantum_recipient_we_encrypt_to_is_opened_by_real_sops() {
    let sb = Sandbox::new();
    let (pq_key, pq) = flux_pq_key();
    let a = recipient("key-a.txt");
    let plain = sb.copy_in(&gen311().join("inputs/kitchen.yaml"), "k.yaml");
    let expected = fs_err::read(gen311().join("kitchen.dec.yaml")).unwrap();
    // A post-quantum recipient beside a classical one: sops wraps the data key once for each.
    let enc = sb.write(
        "k.enc.yaml",
        stdout_of(
            sb.seal()
                .args(["encrypt", "--age", &format!("{pq},{a}")])
                .arg(&plain),
        ),
    );
    let text = fs_err::read_to_string(&enc).unwrap();
    assert!(text.contains(&pq) && text.contains(&a));
    let with_pq = stdout_of(
        sb.sops()
            .env("SOPS_AGE_KEY_FILE", &pq_key)
            .arg("decrypt")
            .arg(&enc),
    );
    assert_eq!(
        String::from_utf8_lossy(&with_pq),
        String::from_utf8_lossy(&expected)
    );
    assert_eq!(sops_decrypt(&sb, &enc, "key-a.txt"), expected);
    assert_eq!(
        stdout_of(
            sb.seal()
                .env("SOPS_AGE_KEY_FILE", &pq_key)
                .arg("decrypt")
                .arg(&enc)
        ),
        expected
    );
    // The same key in SOPS_AGE_KEY works too.
    assert_eq!(
        stdout_of(
            sb.seal()
                .env("SOPS_AGE_KEY", fs_err::read_to_string(&pq_key).unwrap())
                .arg("decrypt")
                .arg(&enc)
        ),
        expected
    );
}

// ---- set / unset / rotate / updatekeys keep the file valid for real sops --------------------

#[test]
fn set_unset_rotate_and_updatekeys_leave_a_file_real_sops_accepts() {
    let sb = Sandbox::new();
    let a = recipient("key-a.txt");
    let b = recipient("key-b.txt");
    let file = sb.copy_in(&gen311().join("edit-chain.enc.yaml"), "chain.yaml");
    let with_a = |cmd: &mut Command| {
        cmd.env("SOPS_AGE_KEY_FILE", key_file("key-a.txt"));
    };

    let mut cmd = sb.seal();
    with_a(&mut cmd);
    stdout_of(
        cmd.args(["set"])
            .arg(&file)
            .args([r#"["change"]"#, r#""new value""#]),
    );
    let mut cmd = sb.seal();
    with_a(&mut cmd);
    stdout_of(
        cmd.args(["set"])
            .arg(&file)
            .args([r#"["added"]"#, r#"{"n": 5, "f": 1.5, "b": true}"#]),
    );
    let mut cmd = sb.seal();
    with_a(&mut cmd);
    stdout_of(cmd.args(["unset"]).arg(&file).arg(r#"["remove_me"]"#));
    let after_unset = sops_decrypt(&sb, &file, "key-a.txt");
    let reference = stdout_of(
        sb.sops()
            .env("SOPS_AGE_KEY_FILE", key_file("key-a.txt"))
            .arg("decrypt")
            .arg(gen311().join("edit-chain.after-unset.enc.yaml")),
    );
    assert_eq!(
        String::from_utf8_lossy(&after_unset),
        String::from_utf8_lossy(&reference)
    );

    let mut cmd = sb.seal();
    with_a(&mut cmd);
    stdout_of(cmd.args(["rotate", "-i", "--add-age", &b]).arg(&file));
    assert_eq!(
        sops_decrypt(&sb, &file, "key-b.txt"),
        fs_err::read(gen311().join("edit-chain.after-rotate.dec.yaml")).unwrap()
    );

    // updatekeys: the rule now names only B.
    sb.write(".sops.yaml", format!("creation_rules:\n  - age: {b}\n"));
    let mut cmd = sb.seal();
    with_a(&mut cmd);
    stdout_of(cmd.args(["updatekeys", "-y"]).arg(&file));
    let text = fs_err::read_to_string(&file).unwrap();
    assert!(text.contains(&b) && !text.contains(&a), "{text}");
    assert_eq!(
        sops_decrypt(&sb, &file, "key-b.txt"),
        fs_err::read(gen311().join("edit-chain.after-rotate.dec.yaml")).unwrap()
    );
    let out = sb
        .sops()
        .env("SOPS_AGE_KEY_FILE", key_file("key-a.txt"))
        .arg("decrypt")
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success(), "key A must no longer open the file");
}

// ---- age interop ----------------------------------------------------------------------------

fn first_enc_block(yaml: &str) -> String {
    let start = yaml.find("-----BEGIN AGE ENCRYPTED FILE-----").unwrap();
    let end = yaml[start..]
        .find("-----END AGE ENCRYPTED FILE-----")
        .unwrap()
        + start;
    yaml[start..end + "-----END AGE ENCRYPTED FILE-----".len()]
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn our_enc_block_opens_with_go_age_and_go_age_blocks_open_with_us() {
    let sb = Sandbox::new();
    let a = recipient("key-a.txt");
    let plain = sb.write("v.yaml", "password: hunter2\n");
    let enc = String::from_utf8(stdout_of(
        sb.seal().args(["encrypt", "--age", &a]).arg(&plain),
    ))
    .unwrap();
    let block = sb.write("block.age", first_enc_block(&enc));
    let data_key = stdout_of(
        Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(key_file("key-a.txt"))
            .arg(&block),
    );
    assert_eq!(data_key.len(), 32);

    // Re-wrap the same data key with Go age and put that block into the file.
    let raw = sb.write("dk.bin", &data_key);
    let go_block = String::from_utf8(stdout_of(
        Command::new("age").args(["-a", "-r", &a]).arg(&raw),
    ))
    .unwrap();
    let indented: String = go_block
        .lines()
        .map(|l| format!("            {l}\n"))
        .collect();
    let ours_block: String = first_enc_block(&enc)
        .lines()
        .map(|l| format!("            {l}\n"))
        .collect();
    let swapped = enc.replace(&ours_block, &indented);
    assert_ne!(swapped, enc, "block not found in {enc}");
    let file = sb.write("swapped.yaml", swapped);
    let out = seal_decrypt(&sb, &file, "key-a.txt");
    assert_eq!(out, b"password: hunter2\n");
    fs_err::remove_file(&raw).unwrap();
}

// ---- identities -----------------------------------------------------------------------------

#[test]
fn identities_are_found_in_each_place_sops_looks() {
    let sb = Sandbox::new();
    let file = gen311().join("kitchen.enc.yaml");
    let expected = fs_err::read(gen311().join("kitchen.dec.yaml")).unwrap();
    let key_text = fs_err::read_to_string(key_file("key-a.txt")).unwrap();
    // SOPS_AGE_KEY
    assert_eq!(
        stdout_of(
            sb.seal()
                .env("SOPS_AGE_KEY", &key_text)
                .arg("decrypt")
                .arg(&file)
        ),
        expected
    );
    // SOPS_AGE_KEY_CMD
    assert_eq!(
        stdout_of(
            sb.seal()
                .env(
                    "SOPS_AGE_KEY_CMD",
                    format!("cat {}", key_file("key-a.txt").display())
                )
                .arg("decrypt")
                .arg(&file)
        ),
        expected
    );
    // $XDG_CONFIG_HOME/sops/age/keys.txt
    let xdg = sb.root().join("xdg");
    fs_err::create_dir_all(xdg.join("sops/age")).unwrap();
    fs_err::write(xdg.join("sops/age/keys.txt"), &key_text).unwrap();
    assert_eq!(
        stdout_of(
            sb.seal()
                .env("XDG_CONFIG_HOME", &xdg)
                .arg("decrypt")
                .arg(&file)
        ),
        expected
    );
    // ~/.config/sops/age/keys.txt
    let cfg = sb.home().join(".config/sops/age");
    fs_err::create_dir_all(&cfg).unwrap();
    fs_err::write(cfg.join("keys.txt"), &key_text).unwrap();
    assert_eq!(stdout_of(sb.seal().arg("decrypt").arg(&file)), expected);
}

// ---- errors ---------------------------------------------------------------------------------

#[test]
fn wrong_identity_names_the_files_recipients() {
    let sb = Sandbox::new();
    let line = fails(
        sb.seal()
            .env("SOPS_AGE_KEY_FILE", key_file("key-b.txt"))
            .arg("decrypt")
            .arg(gen311().join("kitchen.enc.yaml")),
    );
    assert!(line.contains(&recipient("key-a.txt")), "{line}");
    assert!(line.contains("no age identity matches"), "{line}");
}

#[test]
fn missing_identity_says_where_it_looked_and_names_the_recipients() {
    let sb = Sandbox::new();
    let line = fails(
        sb.seal()
            .arg("decrypt")
            .arg(gen311().join("kitchen.enc.yaml")),
    );
    assert!(line.contains(&recipient("key-a.txt")), "{line}");
    assert!(line.contains("SOPS_AGE_KEY_FILE"), "{line}");
}

#[test]
fn mac_mismatch_fails_unless_ignore_mac_and_a_moved_value_names_its_path() {
    let sb = Sandbox::new();
    let neg = gen311().join("negative");
    for name in [
        "unencrypted-edited",
        "lastmodified-changed",
        "reordered-keys",
        "list-item-removed",
    ] {
        let file = neg.join(format!("{name}.enc.yaml"));
        let line = seal_decrypt_fails(&sb, &file, "key-a.txt");
        assert!(line.to_lowercase().contains("mac"), "{name}: {line}");
        let mut cmd = sb.seal();
        cmd.env("SOPS_AGE_KEY_FILE", key_file("key-a.txt"))
            .args(["decrypt", "--ignore-mac"])
            .arg(&file);
        stdout_of(&mut cmd);
    }
    let line = fails(
        sb.seal()
            .env("SOPS_AGE_KEY_FILE", key_file("key-a.txt"))
            .arg("decrypt")
            .arg(neg.join("value-moved.enc.yaml")),
    );
    assert!(line.contains("value-moved.enc.yaml"), "{line}");
    // The value that no longer authenticates is named by its key path.
    assert!(
        line.contains("value at `change:` could not be decrypted"),
        "{line}"
    );
}

#[test]
fn bad_inputs_fail_with_one_line_and_leave_files_untouched() {
    let sb = Sandbox::new();
    let a = recipient("key-a.txt");
    let enc = sb.copy_in(&gen311().join("kitchen.enc.yaml"), "k.enc.yaml");
    let before = fs_err::read(&enc).unwrap();
    let line = fails(sb.seal().args(["encrypt", "-i", "--age", &a]).arg(&enc));
    assert!(line.contains("already encrypted"), "{line}");
    assert_eq!(fs_err::read(&enc).unwrap(), before);

    let plain = sb.copy_in(&gen311().join("inputs/kitchen.yaml"), "p.yaml");
    let before_plain = fs_err::read(&plain).unwrap();
    let line = fails(sb.seal().args(["decrypt", "-i"]).arg(&plain));
    assert!(
        line.contains("not encrypted") || line.contains("sops metadata"),
        "{line}"
    );
    assert_eq!(fs_err::read(&plain).unwrap(), before_plain);

    // An unknown store is a usage error, found by clap at the edge: exit 2, as for any flag.
    let out = sb
        .seal()
        .args(["encrypt", "--input-type", "xml", "--age", &a])
        .arg(&plain)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(
        stderr.starts_with("error: invalid value 'xml' for '--input-type <TYPE>'"),
        "{stderr}"
    );

    sb.write(".sops.yaml", "creation_rules: [oops\n");
    let line = fails(sb.seal().args(["encrypt", "-i"]).arg(&plain));
    assert!(line.contains(".sops.yaml"), "{line}");
    assert_eq!(fs_err::read(&plain).unwrap(), before_plain);

    fs_err::remove_file(sb.path(".sops.yaml")).unwrap();
    // Wrong key + in place: the file is byte-identical afterwards.
    let line = fails(
        sb.seal()
            .env("SOPS_AGE_KEY_FILE", key_file("key-b.txt"))
            .args(["decrypt", "-i"])
            .arg(&enc),
    );
    assert!(line.contains("no age identity"), "{line}");
    assert_eq!(fs_err::read(&enc).unwrap(), before);
}

#[test]
fn in_place_writes_keep_the_file_mode() {
    use std::os::unix::fs::PermissionsExt as _;
    let sb = Sandbox::new();
    let plain = sb.write("m.yaml", "a: b\n");
    fs_err::set_permissions(&plain, std::fs::Permissions::from_mode(0o640)).unwrap();
    stdout_of(
        sb.seal()
            .args(["encrypt", "-i", "--age", &recipient("key-a.txt")])
            .arg(&plain),
    );
    let mode = fs_err::metadata(&plain).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    assert!(fs_err::read_to_string(&plain).unwrap().contains("ENC["));
}

// ---- helm-secrets' sops command lines -------------------------------------------------------

#[test]
fn helm_secrets_sops_command_lines_work() {
    let sb = Sandbox::new();
    let a = recipient("key-a.txt");
    let file = sb.copy_in(&gen311().join("kitchen.enc.yaml"), "secrets.yaml");
    let expected = fs_err::read(gen311().join("kitchen.dec.yaml")).unwrap();
    let with_a = |mut cmd: Command| {
        cmd.env("SOPS_AGE_KEY_FILE", key_file("key-a.txt"));
        cmd
    };
    let mut cmd = with_a(sb.seal());
    assert_eq!(
        stdout_of(
            cmd.args(["--decrypt", "--input-type", "yaml", "--output-type", "yaml"])
                .arg(&file)
        ),
        expected
    );
    let mut cmd = with_a(sb.seal());
    assert_eq!(stdout_of(cmd.arg("-d").arg(&file)), expected);
    let out = sb.path("out.yaml");
    let mut cmd = with_a(sb.seal());
    stdout_of(
        cmd.args([
            "--decrypt",
            "--input-type",
            "yaml",
            "--output-type",
            "yaml",
            "--output",
        ])
        .arg(&out)
        .arg(&file),
    );
    assert_eq!(fs_err::read(&out).unwrap(), expected);
    // stdin literal
    let mut cmd = with_a(sb.seal());
    cmd.args([
        "--decrypt",
        "--input-type",
        "yaml",
        "--output-type",
        "yaml",
        "/dev/stdin",
    ])
    .stdin(fs_err::File::open(&file).unwrap().into_parts().0);
    assert_eq!(stdout_of(&mut cmd), expected);
    // decrypt -i then encrypt -i with the creation rules in cwd
    sb.write(".sops.yaml", format!("creation_rules:\n  - age: {a}\n"));
    let mut cmd = with_a(sb.seal());
    stdout_of(
        cmd.args([
            "--decrypt",
            "--input-type",
            "yaml",
            "--output-type",
            "yaml",
            "--in-place",
        ])
        .arg(&file),
    );
    assert_eq!(fs_err::read(&file).unwrap(), expected);
    let mut cmd = with_a(sb.seal());
    stdout_of(
        cmd.args([
            "--encrypt",
            "--input-type",
            "yaml",
            "--output-type",
            "yaml",
            "--in-place",
        ])
        .arg(&file),
    );
    assert_eq!(sops_decrypt(&sb, &file, "key-a.txt"), expected);
}

// ---- exec-env / exec-file -------------------------------------------------------------------

#[test]
fn exec_env_and_exec_file_hand_the_cleartext_to_the_command() {
    let sb = Sandbox::new();
    let a = recipient("key-a.txt");
    let plain = sb.write("app.env", "DB_USER=admin\nDB_PASS=s3cr3t\n");
    let enc = sb.write(
        "app.enc.env",
        stdout_of(sb.seal().args(["encrypt", "--age", &a]).arg(&plain)),
    );
    let with_a = |mut cmd: Command| {
        cmd.env("SOPS_AGE_KEY_FILE", key_file("key-a.txt"));
        cmd
    };
    let mut cmd = with_a(sb.seal());
    let out = stdout_of(
        cmd.arg("exec-env")
            .arg(&enc)
            .arg("printf %s:%s \"$DB_USER\" \"$DB_PASS\""),
    );
    assert_eq!(out, b"admin:s3cr3t");
    for fifo in [true, false] {
        let mut cmd = with_a(sb.seal());
        cmd.arg("exec-file");
        if !fifo {
            cmd.args(["--no-fifo", "--filename", "app.env"]);
        }
        let out = stdout_of(cmd.arg(&enc).arg("cat {}"));
        assert_eq!(out, b"DB_USER=admin\nDB_PASS=s3cr3t\n", "fifo={fifo}");
    }
    // A command that never reads the FIFO does not hang us; its status is ours.
    let mut cmd = with_a(sb.seal());
    let status = cmd
        .arg("exec-file")
        .arg(&enc)
        .arg("exit 3")
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(3));
    assert!(sb.tmp_is_empty());
}

// ---- edit -----------------------------------------------------------------------------------

fn editor_script(sb: &Sandbox, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = sb.root().join(name);
    fs_err::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn edit_reencrypts_a_changed_file_and_real_sops_reads_it() {
    let sb = Sandbox::new();
    let file = sb.copy_in(&gen311().join("edit-chain.enc.yaml"), "e.yaml");
    let editor = editor_script(
        &sb,
        "ed.sh",
        "sed -i 's/^change: .*/change: edited/' \"$1\"",
    );
    stdout_of(
        sb.seal()
            .env("SOPS_AGE_KEY_FILE", key_file("key-a.txt"))
            .env("EDITOR", &editor)
            .arg("edit")
            .arg(&file),
    );
    let text = String::from_utf8(sops_decrypt(&sb, &file, "key-a.txt")).unwrap();
    assert!(text.contains("change: edited"), "{text}");
    assert!(sb.tmp_is_empty());
}

#[test]
fn edit_without_change_leaves_the_file_byte_identical() {
    let sb = Sandbox::new();
    let file = sb.copy_in(&gen311().join("edit-chain.enc.yaml"), "e.yaml");
    let before = fs_err::read(&file).unwrap();
    let editor = editor_script(&sb, "ed.sh", "test -f \"$1\"");
    let out = sb
        .seal()
        .env("SOPS_AGE_KEY_FILE", key_file("key-a.txt"))
        .env("SOPS_EDITOR", &editor)
        .env("EDITOR", "false")
        .arg("edit")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fs_err::read(&file).unwrap(), before);
    assert!(sb.tmp_is_empty());
}

#[test]
fn edit_with_invalid_result_or_failing_editor_keeps_the_original() {
    let sb = Sandbox::new();
    let file = sb.copy_in(&gen311().join("edit-chain.enc.yaml"), "e.yaml");
    let before = fs_err::read(&file).unwrap();
    let broken = editor_script(&sb, "broken.sh", "printf 'a: [unclosed\\n' > \"$1\"");
    let line = fails(
        sb.seal()
            .env("SOPS_AGE_KEY_FILE", key_file("key-a.txt"))
            .env("EDITOR", &broken)
            .arg("edit")
            .arg(&file),
    );
    assert!(line.contains("invalid"), "{line}");
    assert_eq!(fs_err::read(&file).unwrap(), before);
    assert!(sb.tmp_is_empty());

    let failing = editor_script(&sb, "fail.sh", "echo changed > \"$1\"; exit 4");
    let line = fails(
        sb.seal()
            .env("SOPS_AGE_KEY_FILE", key_file("key-a.txt"))
            .env("EDITOR", &failing)
            .arg("edit")
            .arg(&file),
    );
    assert!(line.contains("editor"), "{line}");
    assert_eq!(fs_err::read(&file).unwrap(), before);
    assert!(sb.tmp_is_empty());
}

#[test]
fn edit_with_invalid_result_on_a_terminal_reopens_the_editor_until_it_parses() {
    use std::io::Write as _;
    // `script` (util-linux) gives seal a pseudo-terminal, as a user at a shell has.
    let sb = Sandbox::new();
    let file = sb.copy_in(&gen311().join("edit-chain.enc.yaml"), "e.yaml");
    let count = sb.root().join("count");
    let editor = editor_script(
        &sb,
        "ed.sh",
        &format!(
            "n=$(cat {c} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {c}\n\
             if [ $n = 1 ]; then printf 'a: [unclosed\\n' > \"$1\"; else printf 'token: fixed\\n' > \"$1\"; fi",
            c = count.display()
        ),
    );
    let seal = assert_cmd::cargo::cargo_bin("seal");
    let mut child = sb
        .command("script")
        .env("SOPS_AGE_KEY_FILE", key_file("key-a.txt"))
        .env("EDITOR", &editor)
        .args(["-q", "-e", "-c"])
        .arg(format!("{} edit {}", seal.display(), file.display()))
        .arg("/dev/null")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("script (util-linux) is needed");
    // The terminal holds the Enter until seal asks for it after the first, invalid edit.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"\n").unwrap();
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains("Press Enter to return to the editor"),
        "{shown}"
    );
    assert_eq!(fs_err::read_to_string(&count).unwrap().trim(), "2");
    assert_eq!(sops_decrypt(&sb, &file, "key-a.txt"), b"token: fixed\n");
    assert!(sb.tmp_is_empty());
}

#[test]
fn edit_interrupted_by_sigint_removes_the_plaintext_and_keeps_the_original() {
    use std::os::unix::process::CommandExt as _;
    let sb = Sandbox::new();
    let file = sb.copy_in(&gen311().join("edit-chain.enc.yaml"), "e.yaml");
    let before = fs_err::read(&file).unwrap();
    let ready = sb.root().join("ready");
    let editor = editor_script(
        &sb,
        "slow.sh",
        &format!("echo changed > \"$1\"; touch {}; sleep 30", ready.display()),
    );
    let mut cmd = sb.seal();
    cmd.env("SOPS_AGE_KEY_FILE", key_file("key-a.txt"))
        .env("EDITOR", &editor)
        .arg("edit")
        .arg(&file)
        .process_group(0)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    while !ready.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        !sb.tmp_is_empty(),
        "the plaintext should exist while editing"
    );
    // Ctrl-C reaches the whole foreground process group.
    let status = Command::new("kill")
        .args(["-INT", "--", &format!("-{}", child.id())])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    assert_eq!(fs_err::read(&file).unwrap(), before);
    assert!(sb.tmp_is_empty(), "plaintext left behind");
}

#[test]
fn edit_creates_a_new_file_from_the_rules() {
    let sb = Sandbox::new();
    let a = recipient("key-a.txt");
    sb.write(".sops.yaml", format!("creation_rules:\n  - age: {a}\n"));
    let editor = editor_script(&sb, "ed.sh", "printf 'token: abc\\n' > \"$1\"");
    let file = sb.path("new.yaml");
    stdout_of(
        sb.seal()
            .env("SOPS_AGE_KEY_FILE", key_file("key-a.txt"))
            .env("EDITOR", &editor)
            .arg("edit")
            .arg(&file),
    );
    assert_eq!(sops_decrypt(&sb, &file, "key-a.txt"), b"token: abc\n");
    assert!(sb.tmp_is_empty());
}
