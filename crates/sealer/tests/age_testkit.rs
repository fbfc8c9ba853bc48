//! The post-quantum vectors of the age test kit (C2SP/CCTV `age/testdata/*hybrid*`, copied in
//! `tests/data/age-testkit`) through the `age` crate with our identities: each file decrypts to
//! its payload, or fails the way the kit expects (`no match` vs `header failure`).

use std::io::Read as _;
use std::path::Path;

use sealer::sops::master_keys::age::parse_identities;
use sha2::{Digest as _, Sha256};

struct Vector {
    name: String,
    expect: String,
    payload: Option<String>,
    identities: String,
    armored: bool,
    body: Vec<u8>,
}

fn vectors() -> Vec<Vector> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/age-testkit");
    let mut out = Vec::new();
    for entry in fs_err::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".md") {
            continue;
        }
        let bytes = fs_err::read(&path).unwrap();
        let split = bytes
            .windows(2)
            .position(|w| w == b"\n\n")
            .expect("header ends with a blank line");
        let header = std::str::from_utf8(&bytes[..split]).unwrap();
        let mut body = bytes[split + 2..].to_vec();
        let mut v = Vector {
            name,
            expect: String::new(),
            payload: None,
            identities: String::new(),
            armored: false,
            body: Vec::new(),
        };
        for line in header.lines() {
            let (key, value) = line.split_once(": ").unwrap();
            match key {
                "expect" => v.expect = value.to_owned(),
                "payload" => v.payload = Some(value.to_owned()),
                "identity" => {
                    v.identities.push_str(value);
                    v.identities.push('\n');
                }
                "armored" => v.armored = value == "yes",
                "compressed" => {
                    assert_eq!(value, "zlib");
                    let mut plain = Vec::new();
                    flate2::read::ZlibDecoder::new(&body[..])
                        .read_to_end(&mut plain)
                        .unwrap();
                    body = plain;
                }
                "file key" | "comment" => {}
                other => panic!("{}: unknown header {other}", v.name),
            }
        }
        v.body = body;
        out.push(v);
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// What happened, in the kit's words.
fn outcome(v: &Vector) -> (String, Option<Vec<u8>>) {
    let identities = parse_identities(&v.identities, &v.name).unwrap();
    let reader = age::armor::ArmoredReader::new(&v.body[..]);
    let decryptor = match age::Decryptor::new(reader) {
        Ok(d) => d,
        Err(_) => return ("header failure".into(), None),
    };
    match decryptor.decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity)) {
        Ok(mut stream) => {
            let mut plain = Vec::new();
            match stream.read_to_end(&mut plain) {
                Ok(_) => ("success".into(), Some(plain)),
                Err(_) => ("payload failure".into(), None),
            }
        }
        Err(age::DecryptError::NoMatchingKeys) => ("no match".into(), None),
        Err(age::DecryptError::InvalidMac) => ("HMAC failure".into(), None),
        Err(_) => ("header failure".into(), None),
    }
}

#[test]
fn every_post_quantum_vector_of_the_age_test_kit_behaves_as_expected() {
    let vectors = vectors();
    assert!(vectors.len() >= 19, "{} vectors", vectors.len());
    let mut failures = Vec::new();
    for v in &vectors {
        assert!(
            !v.armored || v.body.starts_with(b"-----BEGIN AGE"),
            "{}",
            v.name
        );
        let (got, plain) = outcome(v);
        if got != v.expect {
            failures.push(format!("{}: expected {}, got {got}", v.name, v.expect));
            continue;
        }
        if let (Some(plain), Some(want)) = (plain, &v.payload) {
            let digest = hex::encode(Sha256::digest(&plain));
            if &digest != want {
                failures.push(format!("{}: payload digest {digest}", v.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
