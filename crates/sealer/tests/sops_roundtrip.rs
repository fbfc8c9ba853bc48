//! Round trips through `sealer::sops`, checked against what the real sops 3.11 wrote for the
//! same cleartext (`tests/conformance/sops/sops-3.11-generated`, see its README).

use std::path::{Path, PathBuf};

use sealer::sops::master_keys::DataKey;
use sealer::sops::{
    EncryptedFile, Error, Format, MacCheck, MasterKeyStanza, Metadata, PlainFile, Scalar,
    Selectors, StoreOptions, TreePath, Value, shamir,
};
use sealkit_tests::replace_in_fixture;

/// Metadata with one (fake) age stanza: enough for the file to parse back.
fn metadata() -> Metadata {
    Metadata::new(
        vec![vec![MasterKeyStanza::age(
            "age1test",
            "not a real age file",
        )]],
        Selectors::default(),
    )
}

fn generated() -> PathBuf {
    sealkit_tests::conformance().join("sops/sops-3.11-generated")
}

fn read(name: &str) -> Vec<u8> {
    fs_err::read(generated().join(name)).unwrap()
}

fn expected(name: &str) -> serde_json::Value {
    serde_json::from_slice(&read(&format!("{name}.expected.json"))).unwrap()
}

fn data_key(name: &str) -> DataKey {
    DataKey::from_slice(&hex::decode(expected(name)["data_key_hex"].as_str().unwrap()).unwrap())
        .unwrap()
}

/// Replaces every `ENC[AES256_GCM,...]` with `ENC[]`, so two encryptions of the same tree compare
/// equal exactly when everything but the ciphertexts is the same.
fn mask(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    let mut rest: &str = &text;
    while let Some(i) = rest.find("ENC[AES256_GCM,") {
        out.push_str(&rest[..i]);
        let end = rest[i..].find(']').map_or(rest.len(), |e| i + e + 1);
        out.push_str("ENC[]");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Encrypts sops's cleartext input with sops's own metadata and time stamp, and compares with
/// what sops wrote, ciphertexts masked.
fn encrypts_like_sops(case: &str, ext: &str, opts: StoreOptions) {
    let enc_name = format!("{case}.enc.{ext}");
    let format = expected(&enc_name)["store"]
        .as_str()
        .unwrap()
        .parse::<Format>()
        .unwrap();
    let input_format = if case == "shamir-2of3" && ext == "json" {
        Format::Yaml
    } else {
        format
    };
    let theirs = EncryptedFile::parse(&read(&enc_name), format).unwrap();
    let plain = PlainFile::parse(
        &read(&format!(
            "{case}.plain.{}",
            if input_format == Format::Yaml {
                "yaml"
            } else {
                ext
            }
        )),
        input_format,
    )
    .unwrap();
    let key = data_key(&enc_name);
    let ours = plain
        .encrypt_at(
            &key,
            theirs.metadata().clone(),
            &theirs.metadata().last_modified,
        )
        .unwrap();
    let bytes = ours.to_bytes_with(format, &opts).unwrap();
    assert_eq!(mask(&bytes), mask(&read(&enc_name)), "{enc_name}");
    // And it decrypts back, MAC included, to what sops decrypted.
    let back = EncryptedFile::parse(&bytes, format)
        .unwrap()
        .decrypt(&key, MacCheck::Verify)
        .unwrap();
    let dec = format!("{case}.dec.{ext}");
    if generated().join(&dec).exists() {
        assert_eq!(
            String::from_utf8_lossy(&back.to_bytes_with(format, &opts).unwrap()),
            String::from_utf8_lossy(&read(&dec)),
            "{dec}"
        );
    }
}

#[test]
fn each_store_encrypts_the_same_values_in_the_same_layout_as_sops() {
    for (case, ext) in [
        ("kitchen", "yaml"),
        ("kitchen", "json"),
        ("kitchen", "env"),
        ("multidoc", "yaml"),
        ("shamir-2of3", "yaml"),
        ("shamir-2of3", "json"),
        ("shamir-2of3", "env"),
        ("groups-all", "yaml"),
        ("groups-mixed", "yaml"),
        ("multi-recipient", "yaml"),
        ("special-floats", "yaml"),
        ("blob", "bin"),
        ("note", "txt"),
    ] {
        encrypts_like_sops(case, ext, StoreOptions::default());
    }
}

#[test]
fn ini_files_encrypt_the_same_values_as_sops() {
    // sops writes the `[sops]` section in Go map order; compare everything before it.
    for case in ["kitchen", "shamir-2of3"] {
        let enc_name = format!("{case}.enc.ini");
        let theirs = EncryptedFile::parse(&read(&enc_name), Format::Ini).unwrap();
        let plain = PlainFile::parse(&read(&format!("{case}.plain.ini")), Format::Ini).unwrap();
        let key = data_key(&enc_name);
        let ours = plain
            .encrypt_at(
                &key,
                theirs.metadata().clone(),
                &theirs.metadata().last_modified,
            )
            .unwrap();
        let bytes = ours.to_bytes(Format::Ini).unwrap();
        let cut = |s: String| s[..s.find("[sops]").unwrap()].to_owned();
        assert_eq!(cut(mask(&bytes)), cut(mask(&read(&enc_name))), "{enc_name}");
        let reparsed = EncryptedFile::parse(&bytes, Format::Ini).unwrap();
        assert_eq!(reparsed.metadata(), ours.metadata());
        reparsed.decrypt(&key, MacCheck::Verify).unwrap();
    }
}

#[test]
fn every_selector_encrypts_exactly_what_sops_encrypts() {
    for case in [
        "encrypted-suffix",
        "unencrypted-suffix",
        "unencrypted-regex",
        "encrypted-comment-regex",
        "unencrypted-comment-regex",
        "mac-only-encrypted",
        "mac-only-suffix",
    ] {
        encrypts_like_sops(case, "yaml", StoreOptions::default());
    }
    encrypts_like_sops(
        "encrypted-regex",
        "yaml",
        StoreOptions {
            yaml_indent: 2,
            json_indent: Some(2),
            ..StoreOptions::default()
        },
    );
}

#[test]
fn a_decrypted_file_reencrypted_differs_only_in_ciphertext() {
    for name in [
        "kitchen.enc.yaml",
        "multidoc.enc.yaml",
        "kitchen.enc.json",
        "kitchen.enc.env",
    ] {
        let format = expected(name)["store"].as_str().unwrap().parse().unwrap();
        let file = EncryptedFile::parse(&read(name), format).unwrap();
        let key = data_key(name);
        let plain = file.decrypt(&key, MacCheck::Verify).unwrap();
        let again = plain
            .encrypt_at(
                &key,
                file.metadata().clone(),
                &file.metadata().last_modified,
            )
            .unwrap();
        assert_eq!(
            mask(&again.to_bytes(format).unwrap()),
            mask(&read(name)),
            "{name}"
        );
    }
}

#[test]
fn tampering_is_detected() {
    let name = "kitchen.enc.yaml";
    let key = data_key(name);
    let text = String::from_utf8(read(name)).unwrap();
    // A clear value changed: the MAC no longer matches.
    let edited = replace_in_fixture(
        &text,
        "public_unencrypted: visible",
        "public_unencrypted: changed",
    );
    let file = EncryptedFile::parse(edited.as_bytes(), Format::Yaml).unwrap();
    assert!(matches!(
        file.decrypt(&key, MacCheck::Verify),
        Err(Error::MacMismatch)
    ));
    assert!(file.decrypt(&key, MacCheck::Ignore).is_ok());
    // A ciphertext moved to another key: its path no longer authenticates.
    let int_line = text.lines().find(|l| l.starts_with("int: ")).unwrap();
    let moved = replace_in_fixture(
        &text,
        text.lines()
            .find(|l| l.starts_with("negative_int: "))
            .unwrap(),
        &int_line.replacen("int: ", "negative_int: ", 1),
    );
    let file = EncryptedFile::parse(moved.as_bytes(), Format::Yaml).unwrap();
    assert!(matches!(
        file.decrypt(&key, MacCheck::Ignore),
        Err(Error::TamperedValue { key_path }) if key_path == "negative_int:"
    ));
    // The wrong data key fails on the first value, naming it.
    let wrong = DataKey::from_slice(&[0u8; 32]).unwrap();
    let file = EncryptedFile::parse(text.as_bytes(), Format::Yaml).unwrap();
    assert!(matches!(
        file.decrypt(&wrong, MacCheck::Verify),
        Err(Error::TamperedValue { key_path }) if key_path == "string:"
    ));
}

#[test]
fn mac_only_encrypted_ignores_edits_of_clear_values() {
    let name = "mac-only-encrypted.enc.yaml";
    let key = data_key(name);
    let text = String::from_utf8(read(name)).unwrap();
    let file = EncryptedFile::parse(
        replace_in_fixture(&text, "kind: Secret", "kind: Other").as_bytes(),
        Format::Yaml,
    )
    .unwrap();
    file.decrypt(&key, MacCheck::Verify).unwrap();
}

#[test]
fn files_without_a_mac_are_refused_unless_told_to_ignore_it() {
    let mut file = EncryptedFile::parse(&read("kitchen.enc.yaml"), Format::Yaml).unwrap();
    file.metadata_mut().mac = String::new();
    let key = data_key("kitchen.enc.yaml");
    assert!(matches!(
        file.decrypt(&key, MacCheck::Verify),
        Err(Error::MacMismatch)
    ));
    assert!(file.decrypt(&key, MacCheck::Ignore).is_ok());
}

fn age_shares(name: &str, identities: &str) -> Vec<Vec<u8>> {
    let ids = age::IdentityFile::from_file(
        generated()
            .join("keys")
            .join(identities)
            .to_string_lossy()
            .into_owned(),
    )
    .unwrap()
    .into_identities()
    .unwrap();
    let file = EncryptedFile::parse(&read(name), Format::Yaml).unwrap();
    let mut shares = Vec::new();
    for group in file.metadata().key_groups() {
        for stanza in group {
            let d = age::Decryptor::new(age::armor::ArmoredReader::new(stanza.enc().as_bytes()))
                .unwrap();
            if let Ok(mut r) = d.decrypt(ids.iter().map(|i| i.as_ref() as &dyn age::Identity)) {
                let mut share = Vec::new();
                std::io::Read::read_to_end(&mut r, &mut share).unwrap();
                shares.push(share);
                break;
            }
        }
    }
    shares
}

#[test]
fn shamir_shares_written_by_sops_combine_to_the_data_key() {
    for (name, ids) in [
        ("shamir-2of3.enc.yaml", "keys-ab.txt"),
        ("shamir-2of3.enc.yaml", "keys-bc.txt"),
        ("groups-all.enc.yaml", "keys-ab.txt"),
        ("groups-mixed.enc.yaml", "keys-bc.txt"),
    ] {
        let shares = age_shares(name, ids);
        assert!(shares.len() >= 2, "{name}");
        assert_eq!(
            shares[0].len(),
            33,
            "a share is the 32 key bytes and its x coordinate"
        );
        let key = shamir::combine(&shares).unwrap();
        assert_eq!(
            hex::encode(key),
            expected(name)["data_key_hex"].as_str().unwrap(),
            "{name} with {ids}"
        );
    }
}

#[test]
fn shares_we_split_combine_like_sops_shares() {
    let secret = [42u8; 32];
    let shares = shamir::split(&secret, 3, 2).unwrap();
    assert_eq!(shares.iter().map(|s| s[32]).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(shamir::combine(&shares[1..]).unwrap(), secret);
    assert!(shamir::combine(&shares[..1]).is_err());
}

#[test]
fn set_and_unset_follow_the_sops_edit_chain() {
    let start = EncryptedFile::parse(&read("edit-chain.enc.yaml"), Format::Yaml).unwrap();
    let key = data_key("edit-chain.enc.yaml");
    let mut plain = start.decrypt(&key, MacCheck::Verify).unwrap();
    let steps: [(&str, Option<&str>, &str); 3] = [
        (
            r#"["change"]"#,
            Some(r#""new value""#),
            "edit-chain.after-set.enc.yaml",
        ),
        (
            r#"["added"]"#,
            Some(r#"{"n": 5, "f": 1.5, "b": true}"#),
            "edit-chain.after-set2.enc.yaml",
        ),
        (r#"["remove_me"]"#, None, "edit-chain.after-unset.enc.yaml"),
    ];
    for (path, value, after) in steps {
        let p: TreePath = path.parse().unwrap();
        match value {
            Some(v) => assert!(plain.set(&p, Value::from_json(v).unwrap()).unwrap()),
            None => plain.unset(&p).unwrap(),
        }
        let theirs = EncryptedFile::parse(&read(after), Format::Yaml).unwrap();
        let ours = plain
            .encrypt_at(
                &key,
                theirs.metadata().clone(),
                &theirs.metadata().last_modified,
            )
            .unwrap();
        assert_eq!(
            mask(&ours.to_bytes(Format::Yaml).unwrap()),
            mask(&read(after)),
            "{after}"
        );
        assert_eq!(
            plain.to_bytes(Format::Yaml).unwrap(),
            theirs
                .decrypt(&key, MacCheck::Verify)
                .unwrap()
                .to_bytes(Format::Yaml)
                .unwrap()
        );
    }
    assert!(plain.unset(&r#"["remove_me"]"#.parse().unwrap()).is_err());
}

#[test]
fn every_scalar_type_round_trips_through_each_structured_store() {
    let yaml = "s: text\ni: -12\nf: 0.5\nb: false\nt: 2024-05-06T07:08:09Z\nn: null\ne: \"\"\nu: \"grüße ✓ 🙂\"\nlist:\n  - [1, two]\n  - {k: v}\n";
    let plain = PlainFile::parse(yaml.as_bytes(), Format::Yaml).unwrap();
    let key = DataKey::generate();
    let enc = plain.encrypt(&key, metadata()).unwrap();
    for format in [Format::Yaml, Format::Json] {
        let bytes = enc.to_bytes(format).unwrap();
        let back = EncryptedFile::parse(&bytes, format)
            .unwrap()
            .decrypt(&key, MacCheck::Verify)
            .unwrap();
        assert_eq!(back.documents(), plain.documents(), "{format}");
    }
    let doc = &plain.documents()[0];
    assert_eq!(
        doc.get("t"),
        Some(&Value::Scalar(Scalar::Time("2024-05-06T07:08:09Z".into())))
    );
    assert_eq!(doc.get("i"), Some(&Value::Scalar(Scalar::Int(-12))));
}

#[test]
fn comments_survive_encryption_in_place_and_unicode_stays_intact() {
    let yaml = "# top\na: 1 # trailing\nb:\n    # inner\n    c: \"ü\"\n    d:\n        - x # item\n        # after item\n# end\n";
    let plain = PlainFile::parse(yaml.as_bytes(), Format::Yaml).unwrap();
    let key = DataKey::generate();
    let bytes = plain
        .encrypt(&key, metadata())
        .unwrap()
        .to_bytes(Format::Yaml)
        .unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(!text.contains("inner") && text.contains("#ENC[AES256_GCM"));
    let back = EncryptedFile::parse(&bytes, Format::Yaml)
        .unwrap()
        .decrypt(&key, MacCheck::Verify)
        .unwrap();
    assert_eq!(
        String::from_utf8(back.to_bytes(Format::Yaml).unwrap()).unwrap(),
        "# top\n# trailing\na: 1\nb:\n    # inner\n    c: ü\n    d:\n        # item\n        - x\n        # after item\n# end\n"
    );
}

#[test]
fn already_encrypted_and_unknown_formats_are_reported() {
    let plain = PlainFile::parse(&read("kitchen.enc.yaml"), Format::Yaml).unwrap();
    assert!(matches!(
        plain.encrypt(&DataKey::generate(), metadata()),
        Err(Error::AlreadyEncrypted)
    ));
    assert!(matches!(
        "toml".parse::<Format>(),
        Err(Error::UnknownFormat(_))
    ));
    assert_eq!(Format::from_path(Path::new("a/b.yml")), Format::Yaml);
    assert_eq!(Format::from_path(Path::new("x.env")), Format::Dotenv);
    assert_eq!(Format::from_path(Path::new("x.txt")), Format::Binary);
}

#[test]
fn malformed_yaml_names_its_line() {
    let err = PlainFile::parse(b"a: 1\nb: [unclosed\nc: 3\n", Format::Yaml).unwrap_err();
    assert!(
        matches!(err, Error::Malformed { line: Some(_), .. }),
        "{err}"
    );
}
