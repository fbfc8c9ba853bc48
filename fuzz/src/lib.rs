//! The bodies of sealkit's fuzz targets, one function per target.
//!
//! Each `fuzz_targets/NAME.rs` calls [`run`] with its name; the stable test
//! `tests/fuzz_corpus.rs` includes this file (`#[path]`) and runs every committed corpus and
//! regression file through the same functions, so CI replays them without nightly.
//!
//! A body returns quietly on anything the library refuses (an `Err` is the right answer to
//! hostile bytes) and panics only when the library breaks a promise: a panic of its own, a
//! round trip that does not give back what went in, an output over its budget. Keys are fixed
//! (`fuzz/keys/`, the age keys of `tests/conformance/`) so that seeds made for them decrypt.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr as _;
use std::sync::LazyLock;

use sealer::krm::ResourceList;
use sealer::sealed::{
    self, Certificate, PrivateKey, Scope, SealOptions, SealedSecretManifest, SecretManifest,
};
use sealer::secret::SecretBytes;
use sealer::sops::master_keys::DataKey;
use sealer::sops::master_keys::age::{AgeIdentities, AgeRecipient, parse_identities};
use sealer::sops::master_keys::age_pq::{AgePqIdentity, AgePqRecipient};
use sealer::sops::rules::SopsConfig;
use sealer::sops::value::{Cipher, EncValue, Plain};
use sealer::sops::{
    Branch, EncryptedFile, Format, Item, Key, MacCheck, MasterKeyStanza, Metadata, PlainFile,
    Scalar, Selectors, StoreOptions, TreePath, Value,
};
use sealer::template::{Limits, Template};

/// The body of a fuzz target.
pub type Body = fn(&[u8]);

/// Every target: its name (as in `fuzz_targets/` and `corpus/`) and its body.
pub const TARGETS: &[(&str, Body)] = &[
    ("sealed_blob", sealed_blob),
    ("sealed_manifest", sealed_manifest),
    ("secret_stream", secret_stream),
    ("verify_body", verify_body),
    ("enc_value", enc_value),
    ("sops_yaml", sops_yaml),
    ("sops_json", sops_json),
    ("sops_dotenv", sops_dotenv),
    ("sops_ini", sops_ini),
    ("sops_binary", sops_binary),
    ("sops_rules", sops_rules),
    ("template", template),
    ("certificate", certificate),
    ("private_key", private_key),
    ("age_identity", age_identity),
    ("age_stanza", age_stanza),
    ("krm_resource_list", krm_resource_list),
];

/// Runs the target called `name` on `data`; panics for an unknown name.
pub fn run(name: &str, data: &[u8]) {
    let Some((_, body)) = TARGETS.iter().find(|(n, _)| *n == name) else {
        panic!("no fuzz target called {name}");
    };
    body(data);
}

/// The fixed sealing key (RSA-2048, made for fuzzing only).
static SEALING_KEY: LazyLock<PrivateKey> = LazyLock::new(|| {
    PrivateKey::from_pem(include_bytes!("../keys/sealing.key")).expect("the fuzz key reads")
});

/// The certificate of [`SEALING_KEY`].
static SEALING_CERT: LazyLock<Certificate> = LazyLock::new(|| {
    Certificate::from_pem(include_bytes!("../keys/sealing.crt")).expect("the fuzz cert reads")
});

/// The fixed SOPS data key.
static DATA_KEY: LazyLock<DataKey> =
    LazyLock::new(|| DataKey::from_slice(&[7u8; 32]).expect("32 bytes make a data key"));

/// The age identities (X25519 and post-quantum) of the flux conformance files.
static AGE_IDENTITIES: LazyLock<AgeIdentities> = LazyLock::new(|| {
    let text = [
        include_str!("../../tests/conformance/sops/flux-kustomize-controller/keys/age.txt"),
        include_str!("../../tests/conformance/sops/flux-kustomize-controller/keys/age-pq.txt"),
    ]
    .join("\n");
    AgeIdentities::from_text(&text, "fuzz").expect("the conformance age keys read")
});

/// Namespace and name the SealedSecret blob seeds were sealed for (strict scope).
pub const BLOB_NAMESPACE: &str = "fuzz";
/// See [`BLOB_NAMESPACE`].
pub const BLOB_NAME: &str = "blob";

/// A SealedSecret value: `u16 len ‖ RSA-OAEP ‖ AES-GCM`, opened with the fixed key.
pub fn sealed_blob(data: &[u8]) {
    if let Ok(blob) = sealed::SealedBlob::parse(data) {
        assert_eq!(
            2 + blob.rsa_ciphertext().len() + blob.aes_ciphertext().len(),
            data.len()
        );
    }
    let label = Scope::Strict.label(BLOB_NAMESPACE, BLOB_NAME);
    let _ = sealed::cipher::open(&[&*SEALING_KEY], &label, data);
}

/// A SealedSecret manifest stream (what `seal --recovery-unseal`, `reencrypt` and `merge` read):
/// every document that is a SealedSecret is written back and read again (the same object), then
/// unsealed with the fixed key (which renders `spec.template.data`).
pub fn sealed_manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok((format, docs)) = sealer::yaml::parse_stream(text) else {
        return;
    };
    for doc in docs {
        let Ok(ss) = doc.parse::<SealedSecretManifest>("SealedSecret") else {
            continue;
        };
        let written = sealer::yaml::write_stream(&[&ss], format).expect("a SealedSecret writes");
        let (_, again) = sealer::yaml::parse_stream(&written).expect("what we write reads");
        let [again] = again.as_slice() else {
            panic!("one SealedSecret written, {} read", again.len());
        };
        let again: SealedSecretManifest = again.parse("SealedSecret").expect("it is one");
        assert_eq!(
            json(&again),
            json(&ss),
            "the SealedSecret changed on a round trip"
        );
        let _ = sealed::unseal(&ss.metadata, &ss.spec, &[&*SEALING_KEY]);
    }
}

/// The Secret stream `seal` reads: every Secret is sealed to the fixed certificate, and
/// unsealing the result gives back exactly its items.
pub fn secret_stream(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok((_, docs)) = sealer::yaml::parse_stream(text) else {
        return;
    };
    let options = SealOptions {
        default_namespace: "default".to_owned(),
        allow_empty_data: true,
        ..SealOptions::default()
    };
    for doc in docs {
        if doc.kind().is_some_and(|k| k != "Secret") {
            continue;
        }
        let Ok(secret) = doc.parse::<SecretManifest>("Secret") else {
            continue;
        };
        let Ok(ss) = sealed::seal_secret(&secret, SEALING_CERT.public_key(), &options) else {
            continue;
        };
        let items = sealed::convert::secret_items(&secret).expect("sealed items read");
        let back = sealed::unseal(&ss.metadata, &ss.spec, &[&*SEALING_KEY])
            .expect("a Secret just sealed unseals");
        let back_items = sealed::convert::secret_items(&back).expect("unsealed items read");
        assert_eq!(
            exposed(&back_items),
            exposed(&items),
            "unseal(seal(secret)) changed the items"
        );
    }
}

/// The body of `POST /v1/verify` as the controller reads it (one SealedSecret, template data
/// dropped), then unsealed with the fixed key.
pub fn verify_body(data: &[u8]) {
    let Ok(mut ss) = sealer::yaml::parse_single::<SealedSecretManifest>(data, "SealedSecret")
    else {
        return;
    };
    if let Some(template) = ss.spec.template.as_mut() {
        template.data = None;
    }
    let _ = sealed::unseal(&ss.metadata, &ss.spec, &[&*SEALING_KEY]);
}

/// A SOPS `ENC[AES256_GCM,…]` value: parsed and written back unchanged, decrypted with the
/// fixed data key; the text itself, encrypted as a string, decrypts back to itself.
pub fn enc_value(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(value) = EncValue::parse(text) {
        let again = EncValue::parse(&value.to_text()).expect("a written ENC value parses");
        assert_eq!(again, value);
    }
    let cipher = Cipher::new(&DATA_KEY);
    let _ = cipher.decrypt(text, b"fuzz:");
    let plain = Plain::Scalar(Scalar::Str(text.to_owned()));
    let encrypted = cipher.encrypt(&plain, b"fuzz:").expect("a string encrypts");
    let decrypted = cipher.decrypt(&encrypted, b"fuzz:").expect("and decrypts");
    assert_eq!(decrypted, plain);
}

/// The SOPS YAML store (see [`sops_store`]).
pub fn sops_yaml(data: &[u8]) {
    sops_store(data, Format::Yaml);
    yaml_stream(data);
    yaml_stream_decrypt(data);
}

/// The YAML decryption without a tree against the tree: what it decrypts, the tree decrypts
/// to the same text (it may leave a file to the tree, never give another answer).
pub fn yaml_stream_decrypt(data: &[u8]) -> bool {
    let Some(stream) = EncryptedFile::streamable_yaml(data) else {
        return false;
    };
    let Some(text) = stream.decrypt(&DATA_KEY, MacCheck::Verify, &StoreOptions::default()) else {
        return false;
    };
    let by_tree = EncryptedFile::parse(data, Format::Yaml)
        .and_then(|f| f.decrypt(&DATA_KEY, MacCheck::Verify))
        .and_then(|p| p.to_bytes(Format::Yaml))
        .expect("what decrypts without a tree decrypts with one");
    assert_eq!(*text, by_tree, "decrypted without a tree to another text");
    true
}

/// The YAML encryptor without a tree against the tree: a text it takes is one the tree reads,
/// the file it writes is the tree's (ciphertext and `lastmodified` aside) and decrypts, MAC
/// checked, to the same tree; then an edit of it ([`yaml_edit`]). The selectors depend on the
/// input's length.
pub fn yaml_stream(data: &[u8]) -> Streamed {
    let Some(stream) = PlainFile::streamable_yaml(data) else {
        return Streamed::No;
    };
    let plain = PlainFile::parse(data, Format::Yaml).expect("a streamed text is one a tree reads");
    assert!(!plain.has_sops_metadata(Format::Yaml));
    let mut selectors = Selectors::default();
    let mut mac_only_encrypted = false;
    match data.len() % 6 {
        1 => selectors.encrypted_regex = "^(a|data|b)".into(),
        2 => selectors.unencrypted_regex = "a".into(),
        3 => selectors.encrypted_suffix = "_enc".into(),
        4 => {
            selectors.unencrypted_suffix = "y".into();
            mac_only_encrypted = true;
        }
        5 => selectors.encrypted_comment_regex = "x".into(),
        _ => {}
    }
    let stanza = MasterKeyStanza::age(
        "age1fuzz",
        "-----BEGIN AGE ENCRYPTED FILE-----\nx\n-----END AGE ENCRYPTED FILE-----\n",
    );
    let mut metadata = Metadata::new(vec![vec![stanza]], selectors);
    metadata.mac_only_encrypted = mac_only_encrypted;
    let mut streamed = Vec::new();
    let written = stream.encrypt_to(
        &DATA_KEY,
        metadata.clone(),
        &StoreOptions::default(),
        &mut streamed,
    );
    let by_tree = PlainFile::parse(data, Format::Yaml)
        .and_then(|p| p.into_encrypted(&DATA_KEY, metadata.clone()))
        .and_then(|e| e.to_bytes(Format::Yaml));
    let by_tree = match by_tree {
        Ok(bytes) => bytes,
        Err(_) => {
            assert!(
                written.is_err(),
                "streamed a file the tree does not encrypt"
            );
            return Streamed::No;
        }
    };
    if !written.expect("a file the tree encrypts streams") {
        assert!(streamed.is_empty(), "wrote before declining");
        return Streamed::No;
    }
    assert_eq!(
        blank_ciphertext(&streamed),
        blank_ciphertext(&by_tree),
        "the streamed file is not the tree's"
    );
    // The same in one read into memory (`seal encrypt` of a file up to 16 MiB).
    let in_memory = PlainFile::encrypt_yaml(data, &DATA_KEY, metadata, &StoreOptions::default())
        .expect("a text streamed in two reads is encrypted in one");
    assert_eq!(
        blank_ciphertext(&in_memory),
        blank_ciphertext(&by_tree),
        "the file encrypted in one read is not the tree's"
    );
    let decrypt = |bytes: &[u8]| {
        EncryptedFile::parse(bytes, Format::Yaml)
            .and_then(|f| f.decrypt(&DATA_KEY, MacCheck::Verify))
            .and_then(|p| p.to_bytes(Format::Yaml))
    };
    let cleartext = decrypt(&by_tree).expect("the tree's file decrypts");
    assert_eq!(
        decrypt(&streamed).expect("a streamed file decrypts, its MAC checked"),
        cleartext,
        "the streamed file decrypts to another text than the tree's"
    );
    assert!(
        yaml_stream_decrypt(&streamed),
        "a streamed file does not decrypt without a tree"
    );
    // A raw edit tries the checks; a plain one (bytes of the input as letters) splices.
    let letters: Vec<u8> = data.iter().map(|b| b'a' + b % 26).collect();
    let raw = yaml_edit(&streamed, data);
    if yaml_edit(&streamed, &letters) || raw {
        Streamed::AndSpliced
    } else {
        Streamed::Yes
    }
}

/// What [`yaml_stream`] did with an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Streamed {
    /// Left to the tree.
    No,
    /// Encrypted without a tree.
    Yes,
    /// …and an edit of it spliced ([`yaml_edit`]).
    AndSpliced,
}

/// `seal edit` of a file decrypted without a tree against the tree: an edit of its cleartext
/// (a line's value replaced by bytes of `data`) that is spliced, or read whole without a tree,
/// is one the tree reads, and the file written is the tree's (ciphertext and `lastmodified`
/// aside) and decrypts, MAC checked, to the edited text. Returns whether it was spliced.
pub fn yaml_edit(encrypted: &[u8], data: &[u8]) -> bool {
    let opts = StoreOptions::default();
    let Some(stream) = EncryptedFile::streamable_yaml(encrypted) else {
        return false;
    };
    let (cleartext, edit) = stream
        .decrypt_for_edit(&DATA_KEY, MacCheck::Verify, &opts)
        .expect("a file written without a tree decrypts for an edit");
    // The line edited and what replaces its value, both chosen by the input.
    let text = String::from_utf8_lossy(&cleartext).into_owned();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    if lines.is_empty() {
        return false;
    }
    let line = data.len().wrapping_mul(31) % lines.len();
    let cut = data.len() % 7;
    let replacement = String::from_utf8_lossy(&data[..data.len().min(cut * 3)]).into_owned();
    let mut edited = String::with_capacity(text.len() + replacement.len());
    for (i, l) in lines.iter().enumerate() {
        match l.find(": ").filter(|_| i == line) {
            Some(at) if cut.is_multiple_of(2) => {
                edited.push_str(&l[..at + 2]);
                edited.push_str(&replacement);
                edited.push('\n');
            }
            Some(at) => {
                edited.push_str(&l[..at + 2]);
                edited.push_str(&replacement);
                edited.push_str(&l[at + 2..]);
            }
            None => edited.push_str(l),
        }
    }
    let (spliced, was_spliced) =
        match edit.encrypt(encrypted, &cleartext, edited.as_bytes(), &DATA_KEY, &opts) {
            Some(sealer::sops::Reencrypted::Spliced(s)) => {
                let mut out = Vec::new();
                s.write_to(&mut out).expect("a splice is written to memory");
                (out, true)
            }
            // Read whole without a tree: the same checks.
            Some(sealer::sops::Reencrypted::Text(out)) => (out, false),
            None => return false,
        };
    let by_tree = PlainFile::parse(edited.as_bytes(), Format::Yaml)
        .expect("an edit encrypted without a tree is one the tree reads");
    let tree_file = by_tree
        .clone()
        .into_encrypted_reusing_ivs(&DATA_KEY, edit.metadata().clone(), edit.stash(encrypted))
        .and_then(|e| e.to_bytes(Format::Yaml))
        .expect("the tree encrypts what was spliced");
    assert_eq!(
        blank_ciphertext(&spliced),
        blank_ciphertext(&tree_file),
        "the spliced file is not the tree's"
    );
    let decrypted = EncryptedFile::parse(&spliced, Format::Yaml)
        .and_then(|f| f.decrypt(&DATA_KEY, MacCheck::Verify))
        .and_then(|p| p.to_bytes(Format::Yaml))
        .expect("a spliced file decrypts, its MAC checked");
    assert_eq!(
        decrypted,
        by_tree.to_bytes(Format::Yaml).expect("the edit is written"),
        "the spliced file decrypts to another text than the edit"
    );
    was_spliced
}

/// The text with every `ENC[…]` and the `lastmodified` value blanked.
fn blank_ciphertext(text: &[u8]) -> String {
    let text = String::from_utf8_lossy(text);
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if line.trim_start().starts_with("lastmodified:") {
            out.push_str("lastmodified: …\n");
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("ENC[AES256_GCM,") {
            out.push_str(&rest[..at]);
            out.push_str("ENC[…]");
            rest = rest[at..].find(']').map_or("", |end| &rest[at + end + 1..]);
        }
        out.push_str(rest);
        out.push('\n');
    }
    out
}

/// The SOPS JSON store (see [`sops_store`]); the same text as a `sops set` value and as a
/// `--extract`/`set` tree path.
pub fn sops_json(data: &[u8]) {
    sops_store(data, Format::Json);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Value::from_json(text);
        let _ = text.parse::<TreePath>();
    }
}

/// The SOPS dotenv store (see [`sops_store`]).
pub fn sops_dotenv(data: &[u8]) {
    sops_store(data, Format::Dotenv);
}

/// The SOPS INI store (see [`sops_store`]).
pub fn sops_ini(data: &[u8]) {
    sops_store(data, Format::Ini);
}

/// The SOPS binary store (see [`sops_store`]).
pub fn sops_binary(data: &[u8]) {
    sops_store(data, Format::Binary);
}

/// One store: a cleartext file is loaded, written and loaded again (the trees must match); an
/// encrypted file likewise, and its metadata, once written and read, reads the same every time
/// after (the first write fills in what sops fills in); then it is decrypted with the fixed
/// data key.
fn sops_store(data: &[u8], format: Format) {
    if let Ok(plain) = PlainFile::parse(data, format)
        && let Ok(bytes) = plain.to_bytes(format)
    {
        let again = PlainFile::parse(&bytes, format).expect("what a store writes, it reads");
        assert!(
            same_documents(plain.documents(), again.documents()),
            "the tree changed on a round trip through the {format} store:\n{:?}\n{:?}",
            plain.documents(),
            again.documents()
        );
    }
    if let Ok(file) = EncryptedFile::parse(data, format) {
        if let Ok(bytes) = file.to_bytes(format) {
            let again =
                EncryptedFile::parse(&bytes, format).expect("what a store writes, it reads");
            assert!(
                same_documents(file.documents(), again.documents()),
                "the documents changed on a round trip through the {format} store:\n{:?}\n{:?}",
                file.documents(),
                again.documents()
            );
            let rewritten = again.to_bytes(format).expect("a file read back writes");
            let third =
                EncryptedFile::parse(&rewritten, format).expect("what a store writes, it reads");
            assert_eq!(
                format!("{:?}", third.metadata()),
                format!("{:?}", again.metadata()),
                "the metadata changed on a round trip through the {format} store"
            );
        }
        let _ = file.decrypt(&DATA_KEY, MacCheck::Verify);
    }
}

/// Whether a tree read back (`after`) is the one written (`before`) as sops sees it: a float
/// that Go prints as an integer (`1.0` is written `1`) reads back as that integer, as with
/// sops itself, NaN is NaN, and comments are left out: they are no data, and the writers place
/// and space them as Go's go-yaml and ini.v1 do (a comment may move to the next item, lose its
/// `;`/`#` or vanish when empty), so only the data must come back.
fn same_documents(before: &[Branch], after: &[Branch]) -> bool {
    before.len() == after.len() && before.iter().zip(after).all(|(a, b)| same_branch(a, b))
}

fn same_branch(before: &Branch, after: &Branch) -> bool {
    let (before, after) = (kept_items(before), kept_items(after));
    before.len() == after.len()
        && before.iter().zip(&after).all(|(a, b)| {
            let same_key = match (&a.key, &b.key) {
                (Key::Other(x), Key::Other(y)) => same_scalar(x, y),
                (x, y) => x == y,
            };
            same_key && same_value(&a.value, &b.value)
        })
}

fn kept_items(branch: &Branch) -> Vec<&Item> {
    branch
        .items
        .iter()
        .filter(|i| !matches!(i.key, Key::Comment(_)))
        .collect()
}

fn kept_values(list: &[Value]) -> Vec<&Value> {
    list.iter()
        .filter(|v| !matches!(v, Value::Comment(_)))
        .collect()
}

fn same_value(before: &Value, after: &Value) -> bool {
    match (before, after) {
        (Value::Branch(a), Value::Branch(b)) => same_branch(a, b),
        (Value::List(a), Value::List(b)) => {
            let (a, b) = (kept_values(a), kept_values(b));
            a.len() == b.len() && a.iter().zip(&b).all(|(a, b)| same_value(a, b))
        }
        (Value::Scalar(a), Value::Scalar(b)) => same_scalar(a, b),
        (a, b) => a == b,
    }
}

fn same_scalar(before: &Scalar, after: &Scalar) -> bool {
    match (before, after) {
        (Scalar::Float(a), Scalar::Float(b)) => a == b || (a.is_nan() && b.is_nan()),
        (Scalar::Float(a), Scalar::Int(b)) => *a == *b as f64,
        (a, b) => a == b,
    }
}

/// A `.sops.yaml`: parsed, then asked for the rule of a few paths.
pub fn sops_rules(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = SopsConfig::parse(text, Path::new("/fuzz/.sops.yaml")) else {
        return;
    };
    for file in [
        "/fuzz/secrets.yaml",
        "/fuzz/app/prod/values.enc.json",
        "/fuzz/.env",
        "/elsewhere/x.ini",
    ] {
        let _ = config.rule_for(Path::new(file));
        let _ = config.match_path(Path::new(file));
    }
}

/// Budgets of the template target: smaller than the controller's so that each run is quick;
/// every budget is still reachable.
pub const TEMPLATE_LIMITS: Limits = Limits {
    output: 64 << 10,
    work: 1 << 20,
    steps: 20_000,
    depth: 100,
};

/// A template and its data: the bytes up to the first NUL are the source, the rest are the
/// values of the items `a`, `b`, `c`, … (NUL-separated). Parsed and executed within
/// [`TEMPLATE_LIMITS`]; the output never exceeds the output budget.
pub fn template(data: &[u8]) {
    let mut parts = data.split(|b| *b == 0);
    let Some(source) = parts.next().and_then(|s| std::str::from_utf8(s).ok()) else {
        return;
    };
    let values: BTreeMap<String, SecretBytes> = parts
        .enumerate()
        .map(|(i, v)| (item_name(i), SecretBytes::new(v.to_vec())))
        .collect();
    let Ok(template) = Template::parse_with(source, TEMPLATE_LIMITS) else {
        return;
    };
    if let Ok(out) = template.render(&values) {
        assert!(out.expose().len() <= TEMPLATE_LIMITS.output);
    }
}

fn item_name(index: usize) -> String {
    let letter = char::from(b'a' + u8::try_from(index % 26).unwrap_or(0));
    if index < 26 {
        letter.to_string()
    } else {
        format!("{letter}{index}")
    }
}

/// A certificate as `seal --cert` and the controller's key Secrets (`tls.crt`) read it: PEM,
/// and the same bytes as DER. One that reads is written back and reads the same.
pub fn certificate(data: &[u8]) {
    if let Ok(cert) = Certificate::from_pem(data) {
        let again = Certificate::from_pem(cert.to_pem().as_bytes()).expect("a written cert reads");
        assert_eq!(again.der(), cert.der());
        assert_eq!(again.public_key(), cert.public_key());
        let _ = cert.public_key().fingerprint();
    }
    let _ = Certificate::from_der(data);
}

/// Private keys as `seal --recovery-private-key` and the controller's key Secrets (`tls.key`)
/// read them: PEM (every block), and the same bytes as PKCS#8 and PKCS#1 DER. A key that reads
/// is written back in both forms and reads as the same key.
pub fn private_key(data: &[u8]) {
    if let Ok(keys) = PrivateKey::all_from_pem(data) {
        for key in keys {
            round_trip_key(&key);
        }
    }
    if let Ok(key) = PrivateKey::from_pkcs8_der(data) {
        round_trip_key(&key);
    }
    if let Ok(key) = PrivateKey::from_pkcs1_der(data) {
        round_trip_key(&key);
    }
}

fn round_trip_key(key: &PrivateKey) {
    use sealer::secrecy::ExposeSecret as _;
    for pem in [key.to_pkcs1_pem(), key.to_pkcs8_pem()] {
        let again =
            PrivateKey::from_pem(pem.expose_secret().as_bytes()).expect("a written key reads");
        assert_eq!(again.public_key(), key.public_key());
    }
}

/// age identity files (`SOPS_AGE_KEY`, `keys.txt`, X25519 and post-quantum) and recipient lists
/// (`--age`, `.sops.yaml`); a post-quantum key that reads is written back and reads the same.
pub fn age_identity(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_identities(text, "fuzz");
    let _ = AgeIdentities::from_text(text, "fuzz");
    let _ = AgeRecipient::parse_list(text);
    for line in text.lines() {
        let _ = AgeRecipient::parse(line);
        if let Ok(recipient) = AgePqRecipient::from_str(line) {
            let again = AgePqRecipient::from_str(&recipient.to_string()).expect("it reads back");
            assert_eq!(again.to_string(), recipient.to_string());
        }
        if let Ok(identity) = AgePqIdentity::from_str(line) {
            use sealer::secrecy::ExposeSecret as _;
            let written = identity.to_string();
            let again = AgePqIdentity::from_str(written.expose_secret()).expect("it reads back");
            assert_eq!(
                again.to_public().to_string(),
                identity.to_public().to_string()
            );
        }
    }
}

/// An age file (armored or binary: the `enc` of a SOPS age stanza) opened with the fixed X25519
/// and post-quantum identities.
pub fn age_stanza(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = AGE_IDENTITIES.unwrap(text, "fuzz");
}

/// The KRM `ResourceList` `seal render` reads on stdin.
pub fn krm_resource_list(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(list) = ResourceList::parse(text) {
        let _ = serde_json::to_string(&list.items);
    }
}

fn json(value: &SealedSecretManifest) -> serde_json::Value {
    serde_json::to_value(value).expect("a model serializes")
}

fn exposed(items: &BTreeMap<String, SecretBytes>) -> BTreeMap<&str, &[u8]> {
    items
        .iter()
        .map(|(k, v)| (k.as_str(), v.expose()))
        .collect()
}
