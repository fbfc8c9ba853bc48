//! Replays the committed fuzz corpora and regression inputs (`fuzz/corpus/TARGET/`,
//! `fuzz/regressions/TARGET/`) through the bodies the fuzz targets run (`fuzz/src/lib.rs`,
//! included here), so stable `cargo test` catches a regression without nightly or cargo-fuzz.
//! The controller's own entry points are replayed too: `/v1/verify`'s body parse over the
//! `verify_body` inputs, and the key Secret reader over the certificate and private-key inputs.

#[allow(dead_code, missing_docs)]
#[path = "../fuzz/src/lib.rs"]
mod fuzzing;

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use seal_controller::keyring::store::entry_from_secret;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Every committed input of `target`: its corpus, then its regressions.
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = fs_err::read_dir(fuzz_dir().join(dir).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_file() {
                let bytes = fs_err::read(&path).expect("an input reads");
                files.push((path, bytes));
            }
        }
    }
    files.sort();
    files
}

/// Runs `check` on every input of `target`; fails naming each input that panicked.
fn replay(target: &str, check: impl Fn(&[u8])) -> usize {
    let files = inputs(target);
    let failed: Vec<String> = files
        .iter()
        .filter(|(_, data)| catch_unwind(AssertUnwindSafe(|| check(data))).is_err())
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert!(failed.is_empty(), "{target}: {failed:#?}");
    files.len()
}

#[test]
fn every_committed_fuzz_input_passes_its_target() {
    let mut counts = BTreeMap::new();
    for (target, body) in fuzzing::TARGETS {
        counts.insert(*target, replay(target, body));
    }
    // A target whose corpus went missing would pass silently: each has one.
    let empty: Vec<_> = counts.iter().filter(|(_, n)| **n == 0).collect();
    assert!(empty.is_empty(), "no committed inputs for {empty:?}");
}

#[test]
fn the_controller_reads_every_verify_body_input_as_the_fuzzed_parser_does() {
    replay("verify_body", |data| {
        let ours = sealer::yaml::parse_single::<sealer::sealed::SealedSecretManifest>(
            data,
            "SealedSecret",
        );
        let controller = seal_controller::http::parse_sealed_secret(data, usize::MAX);
        assert_eq!(ours.is_ok(), controller.is_ok());
    });
}

fn key_secret(key: &[u8], cert: &[u8]) -> Secret {
    let mut secret = Secret::default();
    secret.metadata.name = Some("sealed-secrets-key".to_owned());
    secret.data = Some(BTreeMap::from([
        ("tls.key".to_owned(), ByteString(key.to_vec())),
        ("tls.crt".to_owned(), ByteString(cert.to_vec())),
    ]));
    secret
}

#[test]
fn the_controller_reads_key_secrets_made_of_fuzz_inputs_without_panicking() {
    let key = include_bytes!("../fuzz/keys/sealing.key");
    let cert = include_bytes!("../fuzz/keys/sealing.crt");
    let legacy = Some("sealed-secrets-key");
    assert!(
        entry_from_secret(&key_secret(key, cert), legacy)
            .unwrap()
            .is_some()
    );
    replay("certificate", |data| {
        let _ = entry_from_secret(&key_secret(key, data), legacy);
    });
    replay("private_key", |data| {
        let _ = entry_from_secret(&key_secret(data, cert), legacy);
    });
}

/// The streaming YAML encryptor is compared with the tree (`fuzzing::yaml_stream`) on every
/// YAML-like input of the corpora, and so is an edit of each file spliced: enough of them
/// stream and splice that the comparisons are not empty.
#[test]
fn the_yaml_encrypted_without_a_tree_is_the_trees_on_the_fuzzing_inputs() {
    let (mut streamed, mut spliced) = (0, 0);
    for target in [
        "sops_yaml",
        "sops_rules",
        "secret_stream",
        "sealed_manifest",
    ] {
        let files = inputs(target);
        let failed: Vec<String> = files
            .iter()
            .filter(|(_, data)| {
                match catch_unwind(AssertUnwindSafe(|| fuzzing::yaml_stream(data))) {
                    Ok(fuzzing::Streamed::Yes) => {
                        streamed += 1;
                        false
                    }
                    Ok(fuzzing::Streamed::AndSpliced) => {
                        streamed += 1;
                        spliced += 1;
                        false
                    }
                    Ok(fuzzing::Streamed::No) => false,
                    Err(_) => true,
                }
            })
            .map(|(path, _)| path.display().to_string())
            .collect();
        assert!(failed.is_empty(), "{target}: {failed:#?}");
    }
    assert!(streamed > 500, "only {streamed} inputs streamed");
    assert!(spliced > 150, "only {spliced} edits spliced");
}
