//! Conformance of `sealer::sops` with files written by the real sops (see
//! `tests/conformance/sops/*/README.md` for where each file comes from).
//!
//! Files with PGP keys (getsops-functional, sops-nix) are opened through their PGP stanza with
//! the real `gpg` and the test key beside them, and the key must equal `data_key_hex`; other
//! data keys are injected from each `FILE.expected.json` (`data_key_hex`).

use std::path::{Path, PathBuf};

use sealer::sops::master_keys::DataKey;
use sealer::sops::{
    EncryptedFile, Error, Format, MacCheck, PlainFile, Scalar, StoreOptions, TreePath, Value,
};

fn conformance() -> PathBuf {
    sealkit_tests::conformance().join("sops")
}

fn read(p: &Path) -> Vec<u8> {
    fs_err::read(p).unwrap()
}

fn key_from_hex(h: &str) -> DataKey {
    DataKey::from_slice(&hex::decode(h).unwrap()).unwrap()
}

fn format_of(file: &Path, expected: &serde_json::Value) -> Format {
    match expected.get("store").and_then(|s| s.as_str()) {
        Some(s) => s.parse().unwrap(),
        None => Format::from_path(file),
    }
}

/// The decrypted tree as JSON, the way the fixtures store `values`.
fn to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Branch(b) => {
            let mut m = serde_json::Map::new();
            for item in &b.items {
                if let Some(k) = item.key.as_str() {
                    m.insert(k.to_owned(), to_json(&item.value));
                }
            }
            J::Object(m)
        }
        Value::List(l) => J::Array(
            l.iter()
                .filter(|v| !matches!(v, Value::Comment(_)))
                .map(to_json)
                .collect(),
        ),
        Value::Scalar(s) => match s {
            Scalar::Null => J::Null,
            Scalar::Str(s) | Scalar::Time(s) => J::String(s.clone()),
            // The fixtures spell non-UTF-8 bytes as Latin-1 characters.
            Scalar::RawStr(b) => J::String(b.iter().map(|&c| char::from(c)).collect()),
            Scalar::Int(i) => J::from(*i),
            // The fixtures spell non-finite floats as Go prints them.
            Scalar::Float(f) if f.is_nan() => J::String("NaN".into()),
            Scalar::Float(f) if f.is_infinite() => {
                J::String(if *f > 0.0 { "+Inf" } else { "-Inf" }.into())
            }
            Scalar::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Scalar::Bool(b) => J::Bool(*b),
            _ => J::Null,
        },
        Value::Comment(_) => J::Null,
    }
}

/// Equality with numbers compared by value (`3` == `3.0`), integers exactly.
fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match (a, b) {
        (J::Number(x), J::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                x == y
            } else if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
                x == y
            } else {
                x.as_f64() == y.as_f64()
            }
        }
        (J::Array(x), J::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (J::Object(x), J::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn plain_json(plain: &PlainFile, multi: bool) -> serde_json::Value {
    let docs: Vec<_> = plain
        .documents()
        .iter()
        .map(|d| to_json(&Value::Branch(d.clone())))
        .collect();
    if multi {
        serde_json::Value::Array(docs)
    } else {
        docs.into_iter().next().unwrap()
    }
}

fn expected_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in fs_err::read_dir(conformance()).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for f in fs_err::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            if f.to_string_lossy().ends_with(".expected.json") {
                out.push(f);
            }
        }
    }
    out.sort();
    out
}

/// The PGP test key beside a fixture, if its folder has one.
fn pgp_test_key(file: &Path) -> Option<PathBuf> {
    ["sops_functional_tests_key.asc", "key.asc"]
        .iter()
        .map(|name| file.parent().unwrap().join(name))
        .find(|p| p.is_file())
}

/// GnuPG homes by PGP test key, each imported once (their gpg-agents stop when dropped).
type GnupgHomes = Vec<(PathBuf, sealkit_tests::gnupg::GnupgHome)>;

fn gnupg_home_for(homes: &mut GnupgHomes, key: &Path) -> PathBuf {
    if let Some((_, home)) = homes.iter().find(|(k, _)| k == key) {
        return home.path().to_owned();
    }
    let home = sealkit_tests::gnupg::GnupgHome::new();
    home.import(key);
    let path = home.path().to_owned();
    homes.push((key.to_owned(), home));
    path
}

/// The data key of a fixture: through its PGP stanza with the real gpg (checked against
/// `data_key_hex`), else `data_key_hex`, or (helm-secrets) unwrapped from the file's age
/// stanza with the identity beside it.
fn data_key(
    file: &Path,
    expected: &serde_json::Value,
    enc: &EncryptedFile,
    homes: &mut GnupgHomes,
) -> DataKey {
    let has_pgp = enc
        .metadata()
        .key_groups()
        .iter()
        .flatten()
        .any(|s| s.kind() == sealer::sops::master_keys::KeyKind::Pgp);
    if let (true, Some(key)) = (has_pgp, pgp_test_key(file)) {
        let home = gnupg_home_for(homes, &key);
        let with = sealer::sops::master_keys::Unwrappers::from_env(Default::default())
            .with_key_env(sealer::sops::master_keys::KeyEnv::from_vars([(
                "GNUPGHOME",
                home.to_string_lossy().as_ref(),
            )]));
        let opened = sealer::sops::master_keys::unwrap_data_key(enc.metadata(), &with)
            .unwrap_or_else(|e| panic!("{}: PGP: {e}", file.display()));
        let want = expected["data_key_hex"].as_str().unwrap();
        assert_eq!(hex::encode(opened.expose()), want, "{}", file.display());
        return opened;
    }
    if let Some(h) = expected.get("data_key_hex").and_then(|h| h.as_str()) {
        return key_from_hex(h);
    }
    let identity_file = file.parent().unwrap().join("key.txt");
    let identities = age::IdentityFile::from_file(identity_file.to_string_lossy().into_owned())
        .unwrap()
        .into_identities()
        .unwrap();
    for group in enc.metadata().key_groups() {
        for stanza in group {
            let armored = age::armor::ArmoredReader::new(stanza.enc().as_bytes());
            let Ok(decryptor) = age::Decryptor::new(armored) else {
                continue;
            };
            if let Ok(mut r) =
                decryptor.decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
            {
                let mut key = Vec::new();
                std::io::Read::read_to_end(&mut r, &mut key).unwrap();
                return DataKey::from_slice(&key).unwrap();
            }
        }
    }
    panic!("no data key for {}", file.display());
}

#[test]
fn every_conformance_file_decrypts_to_its_expected_values() {
    let files = expected_files();
    assert!(
        files.len() >= 40,
        "conformance files not found under {}",
        conformance().display()
    );
    let mut failures = Vec::new();
    let mut homes = GnupgHomes::new();
    for exp_path in files {
        let expected: serde_json::Value = serde_json::from_slice(&read(&exp_path)).unwrap();
        let name = exp_path
            .to_string_lossy()
            .trim_end_matches(".expected.json")
            .to_owned();
        let mut file = PathBuf::from(&name);
        if !file.exists() {
            // helm-secrets: `secrets.age.expected.json` describes `secrets.age.yaml`.
            file = PathBuf::from(format!("{name}.yaml"));
        }
        let (values, mac_ok) = match expected.get("values") {
            Some(v) => (
                v.clone(),
                expected
                    .get("mac_ok")
                    .cloned()
                    .unwrap_or(serde_json::Value::Bool(true)),
            ),
            None => (expected.clone(), serde_json::Value::Bool(true)),
        };
        let format = format_of(&file, &expected);
        let enc = match EncryptedFile::parse(&read(&file), format) {
            Ok(e) => e,
            Err(e) => {
                failures.push(format!("{}: parse: {e}", file.display()));
                continue;
            }
        };
        assert!(EncryptedFile::is_encrypted(&read(&file), format));
        let key = data_key(&file, &expected, &enc, &mut homes);
        let verified = enc.decrypt(&key, MacCheck::Verify);
        match (&mac_ok, &verified) {
            (serde_json::Value::Bool(true), Ok(_)) => {}
            (serde_json::Value::Bool(true), Err(e)) => {
                failures.push(format!("{}: decrypt: {e}", file.display()));
                continue;
            }
            (_, Err(Error::MacMismatch)) => {}
            (_, other) => {
                failures.push(format!(
                    "{}: expected a MAC mismatch, got {other:?}",
                    file.display()
                ));
                continue;
            }
        }
        let plain = enc.decrypt(&key, MacCheck::Ignore).unwrap();
        let mut got = plain_json(&plain, values.is_array());
        // getsops-functional's INI fixtures leave out the (empty) DEFAULT section sops always has.
        if format == Format::Ini
            && values.get("DEFAULT").is_none()
            && got["DEFAULT"] == serde_json::json!({})
        {
            got.as_object_mut().unwrap().remove("DEFAULT");
        }
        if !same(&got, &values) {
            failures.push(format!(
                "{}: values differ:\n got {got}\nwant {values}",
                file.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn generated() -> PathBuf {
    conformance().join("sops-3.11-generated")
}

fn decrypt_generated(name: &str) -> (PlainFile, Format) {
    let file = generated().join(name);
    let expected: serde_json::Value =
        serde_json::from_slice(&read(&generated().join(format!("{name}.expected.json")))).unwrap();
    let format = format_of(&file, &expected);
    let enc = EncryptedFile::parse(&read(&file), format).unwrap();
    let key = key_from_hex(expected["data_key_hex"].as_str().unwrap());
    (enc.decrypt(&key, MacCheck::Verify).unwrap(), format)
}

#[test]
fn every_sops_3_11_file_decrypts_to_its_dec_file_byte_for_byte() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for f in fs_err::read_dir(generated()).unwrap() {
        let f = f.unwrap().path();
        let fname = f.file_name().unwrap().to_string_lossy().into_owned();
        let Some((stem, ext)) = fname.split_once(".enc.") else {
            continue;
        };
        if ext.ends_with(".json") && ext.contains("expected") {
            continue;
        }
        let dec = generated().join(format!("{stem}.dec.{ext}"));
        if !dec.exists() {
            continue;
        }
        let (plain, format) = decrypt_generated(&fname);
        // encrypted-regex was made with `stores: {yaml: {indent: 2}, json: {indent: 2}}`.
        let opts = if stem == "encrypted-regex" {
            StoreOptions {
                yaml_indent: 2,
                json_indent: Some(2),
                ..StoreOptions::default()
            }
        } else {
            StoreOptions::default()
        };
        let out = plain.to_bytes_with(format, &opts).unwrap();
        let want = read(&dec);
        if out != want {
            failures.push(format!(
                "{fname}: output differs from {}:\n--- got\n{}\n--- want\n{}",
                dec.display(),
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&want)
            ));
        }
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} files checked");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn cross_format_output_matches_sops() {
    for (src, out_format, want) in [
        (
            "kitchen.enc.yaml",
            Format::Json,
            "kitchen.dec-json.from-yaml.json",
        ),
        (
            "kitchen.enc.env",
            Format::Json,
            "kitchen.dec-json.from-env.json",
        ),
        (
            "kitchen.enc.ini",
            Format::Json,
            "kitchen.dec-json.from-ini.json",
        ),
        (
            "kitchen.enc.env",
            Format::Dotenv,
            "kitchen.env-roundtrip.txt",
        ),
    ] {
        let (plain, _) = decrypt_generated(src);
        let out = plain.to_bytes(out_format).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&read(&generated().join(want))),
            "{src} as {out_format}"
        );
    }
}

#[test]
fn extract_matches_sops() {
    let (plain, format) = decrypt_generated("kitchen.enc.yaml");
    for (path, want) in [
        (r#"["nested"]["map"]"#, "kitchen.extract-nested-map.txt"),
        (
            r#"["nested"]["list_of_maps"][1]["port"]"#,
            "kitchen.extract-port.txt",
        ),
        (r#"["string"]"#, "kitchen.extract-string.txt"),
    ] {
        let p: TreePath = path.parse().unwrap();
        let out = plain.extract(&p, format).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&read(&generated().join(want))),
            "{path}"
        );
    }
}

#[test]
fn filestatus_tells_encrypted_from_plain_files() {
    assert!(EncryptedFile::is_encrypted(
        &read(&generated().join("kitchen.enc.yaml")),
        Format::Yaml
    ));
    assert!(!EncryptedFile::is_encrypted(
        &read(&generated().join("kitchen.plain.yaml")),
        Format::Yaml
    ));
    assert!(matches!(
        EncryptedFile::parse(&read(&generated().join("kitchen.plain.yaml")), Format::Yaml),
        Err(Error::NotEncrypted)
    ));
}

/// The negative files are edits of other fixtures; find the data key through the shared
/// age stanza.
fn negative_key(enc: &EncryptedFile) -> DataKey {
    let stanza = enc.metadata().key_groups()[0][0].enc().to_owned();
    for f in fs_err::read_dir(generated()).unwrap() {
        let f = f.unwrap().path();
        let fname = f.file_name().unwrap().to_string_lossy().into_owned();
        let Some(src) = fname.strip_suffix(".expected.json") else {
            continue;
        };
        if !src.ends_with(".yaml") {
            continue;
        }
        let Ok(other) = EncryptedFile::parse(&read(&generated().join(src)), Format::Yaml) else {
            continue;
        };
        if other.metadata().key_groups()[0][0].enc() == stanza {
            let expected: serde_json::Value = serde_json::from_slice(&read(&f)).unwrap();
            return key_from_hex(expected["data_key_hex"].as_str().unwrap());
        }
    }
    panic!("no fixture shares the negative file's key");
}

#[test]
fn negative_files_are_refused_like_sops() {
    let dir = generated().join("negative");
    for (name, check) in [
        (
            "lastmodified-changed.enc.yaml",
            (|e: &Error| matches!(e, Error::MacUndecryptable)) as fn(&Error) -> bool,
        ),
        ("list-item-removed.enc.yaml", |e| {
            matches!(e, Error::MacMismatch)
        }),
        ("reordered-keys.enc.yaml", |e| {
            matches!(e, Error::MacMismatch | Error::TamperedValue { .. })
        }),
        ("unencrypted-edited.enc.yaml", |e| {
            matches!(e, Error::MacMismatch)
        }),
        (
            "value-moved.enc.yaml",
            |e| matches!(e, Error::TamperedValue { key_path } if key_path == "change:"),
        ),
    ] {
        let enc = EncryptedFile::parse(&read(&dir.join(name)), Format::Yaml).unwrap();
        let key = negative_key(&enc);
        let err = enc.decrypt(&key, MacCheck::Verify).unwrap_err();
        assert!(check(&err), "{name}: unexpected error {err:?}");
    }
}

/// Flux's `algorithms-age-pq.yaml` (sops 3.12.1, Go age 1.3): its `mlkem768x25519` stanza opens
/// with the `AGE-SECRET-KEY-PQ-1` identity beside it to the data key the fixture records, and
/// the file decrypts with a valid MAC to the expected values.
#[test]
fn post_quantum_stanza_written_by_go_age_opens_to_the_recorded_data_key() {
    use sealer::sops::master_keys::age::AgeIdentities;
    let dir = conformance().join("flux-kustomize-controller");
    let file = dir.join("algorithms-age-pq.yaml");
    let expected: serde_json::Value =
        serde_json::from_slice(&read(&dir.join("algorithms-age-pq.yaml.expected.json"))).unwrap();
    let enc = EncryptedFile::parse(&read(&file), Format::Yaml).unwrap();
    let stanza = &enc.metadata().key_groups()[0][0];
    assert!(stanza.enc().contains("BEGIN AGE ENCRYPTED FILE"));
    let identities = AgeIdentities::from_text(
        &fs_err::read_to_string(dir.join("keys/age-pq.txt")).unwrap(),
        "keys/age-pq.txt",
    )
    .unwrap();
    assert_eq!(identities.len(), 1);
    let key = identities.unwrap(stanza.enc(), "age1pq1…").unwrap();
    assert_eq!(
        hex::encode(&key[..]),
        expected["data_key_hex"].as_str().unwrap()
    );
    let plain = enc
        .decrypt(&DataKey::from_slice(&key).unwrap(), MacCheck::Verify)
        .unwrap();
    assert_eq!(plain_json(&plain, false), expected["values"]);

    // Our Bech32 encoding of the recipient is age-keygen's.
    let key_text = fs_err::read_to_string(dir.join("keys/age-pq.txt")).unwrap();
    let public = key_text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap();
    let secret = key_text
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-PQ-1"))
        .unwrap();
    let identity: sealer::sops::master_keys::age_pq::AgePqIdentity = secret.parse().unwrap();
    assert_eq!(identity.to_public().to_string(), public);
    assert_eq!(stanza.recipient(), Some(public));

    // Any other identity (here a fresh post-quantum one) does not open it.
    let other = sealer::sops::master_keys::age_pq::AgePqIdentity::generate();
    use secrecy::ExposeSecret as _;
    let others = AgeIdentities::from_text(other.to_string().expose_secret(), "fresh").unwrap();
    assert!(others.unwrap(stanza.enc(), "age1pq1…").is_err());
}
