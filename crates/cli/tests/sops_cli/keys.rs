//! Master keys beyond age through `seal`, with the real sops 3.11 as the peer: Vault transit
//! (OpenBao), AWS KMS (moto), PGP (GnuPG), key groups, updatekeys and rotate. sops reads the
//! same variables (`VAULT_TOKEN`, `AWS_ENDPOINT_URL`, `AWS_*`, `GNUPGHOME`).

use std::path::Path;
use std::process::Command;

use sealkit_tests::gnupg::GnupgHome;
use sealkit_tests::servers::{Moto, OpenBao};

use super::{Sandbox, SopsSandbox, conformance, fails, key_file, recipient, stdout_of};

const PLAIN: &str =
    "db:\n    user: admin\n    password: hunter2\nport: 5432\nlist:\n    - a\n    - 1.5\n";

fn openbao() -> (OpenBao, String) {
    let bao = OpenBao::start();
    bao.mount("transit", "transit", serde_json::json!({}));
    bao.api(reqwest::Method::POST, "transit/keys/sops", None);
    let uri = format!("{}/v1/transit/keys/sops", bao.url());
    (bao, uri)
}

fn vault_env<'c>(cmd: &'c mut Command, bao: &OpenBao) -> &'c mut Command {
    cmd.env("VAULT_ADDR", bao.url())
        .env("VAULT_TOKEN", OpenBao::ROOT_TOKEN)
}

fn moto_env<'c>(cmd: &'c mut Command, moto: &Moto) -> &'c mut Command {
    cmd.env("AWS_ACCESS_KEY_ID", Moto::ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", Moto::SECRET_ACCESS_KEY)
        .env("AWS_REGION", Moto::REGION)
        .env("AWS_ENDPOINT_URL", moto.endpoint())
}

/// Everything but the `sops:` block.
fn values_of(file: &Path) -> String {
    let text = fs_err::read_to_string(file).unwrap();
    text[..text.find("\nsops:").unwrap()].to_owned()
}

/// The `sops:` block without `lastmodified` and `mac` (which every write changes).
fn keys_block(text: &str) -> String {
    text[text.find("sops:").unwrap()..]
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            !t.starts_with("lastmodified:") && !t.starts_with("mac:")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Encrypts PLAIN with `keys` by us and by sops; each opens the other's file. Then our `set`
/// on sops's file keeps its key entries byte for byte and sops still reads it. Returns our
/// encrypted text.
fn files_move_both_ways(sb: &Sandbox, keys: &[&str], env: &dyn Fn(Command) -> Command) -> String {
    let plain = sb.write("plain.yaml", PLAIN);
    let encrypt = |program: Command, name: &str| {
        let mut cmd = env(program);
        cmd.arg("encrypt").args(keys).arg(&plain);
        sb.write(name, stdout_of(&mut cmd))
    };
    let decrypt = |program: Command, file: &Path| {
        let mut cmd = env(program);
        String::from_utf8(stdout_of(cmd.arg("decrypt").arg(file))).unwrap()
    };
    let ours = encrypt(sb.seal(), "ours.enc.yaml");
    assert_eq!(decrypt(sb.sops(), &ours), PLAIN);
    let theirs = encrypt(sb.sops(), "theirs.enc.yaml");
    assert_eq!(decrypt(sb.seal(), &theirs), PLAIN);

    let before = fs_err::read_to_string(&theirs).unwrap();
    let mut set = env(sb.seal());
    stdout_of(set.arg("set").arg(&theirs).args([r#"["port"]"#, "6543"]));
    let after = fs_err::read_to_string(&theirs).unwrap();
    assert_eq!(keys_block(&after), keys_block(&before));
    assert!(decrypt(sb.sops(), &theirs).contains("port: 6543"));
    fs_err::read_to_string(&ours).unwrap()
}

#[test]
fn vault_transit_files_move_both_ways_between_seal_and_real_sops() {
    let (bao, uri) = openbao();
    let sb = Sandbox::new();
    let text = files_move_both_ways(&sb, &["--hc-vault-transit", &uri], &|mut cmd| {
        vault_env(&mut cmd, &bao);
        cmd
    });
    assert!(
        text.contains("hc_vault:") && text.contains("vault:v1:"),
        "{text}"
    );
    assert!(
        text.contains(&format!("vault_address: {}", bao.url())),
        "{text}"
    );

    // SOPS_VAULT_URIS stands in for the flag, as in sops.
    let plain = sb.path("plain.yaml");
    let mut cmd = sb.seal();
    vault_env(&mut cmd, &bao)
        .env("SOPS_VAULT_URIS", &uri)
        .arg("encrypt")
        .arg(&plain);
    let enc = sb.write("from-env.enc.yaml", stdout_of(&mut cmd));
    let mut cmd = sb.sops();
    vault_env(&mut cmd, &bao).arg("decrypt").arg(&enc);
    assert_eq!(String::from_utf8_lossy(&stdout_of(&mut cmd)), PLAIN);

    // A refused token: one line naming the key and the URL, never the token.
    let line = fails(
        sb.seal()
            .env("VAULT_TOKEN", "s.wrong-token")
            .arg("decrypt")
            .arg(&enc),
    );
    assert!(
        line.contains(&format!(
            "hc_vault key {uri}: access denied by {}/v1/transit/decrypt/sops (HTTP 403): permission denied",
            bao.url()
        )),
        "{line}"
    );
    assert!(!line.contains("s.wrong-token"), "{line}");
}

#[test]
fn aws_kms_files_move_both_ways_between_seal_and_real_sops_through_moto() {
    let moto = Moto::start();
    let arn =
        moto.json_call("TrentService.CreateKey", &serde_json::json!({}))["KeyMetadata"]["Arn"]
            .as_str()
            .unwrap()
            .to_owned();
    let sb = Sandbox::new();
    let keys = [
        "--kms",
        &arn,
        "--encryption-context",
        "app:sealkit,env:test",
    ];
    let text = files_move_both_ways(&sb, &keys, &|mut cmd| {
        moto_env(&mut cmd, &moto);
        cmd
    });
    assert!(text.contains(&format!("- arn: {arn}")), "{text}");
    assert!(
        text.contains("context:\n            app: sealkit\n            env: test\n"),
        "{text}"
    );

    // `ARN+ROLE` (STS AssumeRole through moto) and `--aws-profile` from ~/.aws/credentials:
    // the real sops reads both from the metadata we write.
    sb.write(
        "../home/.aws/credentials",
        format!(
            "[team]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            Moto::ACCESS_KEY_ID,
            Moto::SECRET_ACCESS_KEY
        ),
    );
    let role = "arn:aws:iam::123456789012:role/sops";
    let plain = sb.path("plain.yaml");
    let profile_only = |mut cmd: Command| {
        cmd.env("AWS_ENDPOINT_URL", moto.endpoint())
            .env("AWS_REGION", Moto::REGION);
        cmd
    };
    let mut cmd = profile_only(sb.seal());
    cmd.args([
        "encrypt",
        "--kms",
        &format!("{arn}+{role}"),
        "--aws-profile",
        "team",
    ])
    .arg(&plain);
    let text = String::from_utf8(stdout_of(&mut cmd)).unwrap();
    assert!(
        text.contains(&format!("role: {role}")) && text.contains("aws_profile: team"),
        "{text}"
    );
    let enc = sb.write("role.enc.yaml", &text);
    let mut cmd = profile_only(sb.sops());
    assert_eq!(
        String::from_utf8_lossy(&stdout_of(cmd.arg("decrypt").arg(&enc))),
        PLAIN
    );
    let mut cmd = profile_only(sb.seal());
    assert_eq!(
        String::from_utf8_lossy(&stdout_of(cmd.arg("decrypt").arg(&enc))),
        PLAIN
    );
}

#[test]
fn pgp_files_move_both_ways_between_seal_and_real_sops_through_gnupg() {
    let home = GnupgHome::new();
    let fp = home.generate("sealkit cli");
    let sb = Sandbox::new();
    let text = files_move_both_ways(&sb, &["--pgp", &fp], &|mut cmd| {
        cmd.env("GNUPGHOME", home.path());
        cmd
    });
    assert!(text.contains(&format!("fp: {fp}")), "{text}");

    // SOPS_PGP_FP stands in for the flag; without the secret key, one line naming it.
    let mut cmd = sb.seal();
    cmd.env("GNUPGHOME", home.path())
        .env("SOPS_PGP_FP", &fp)
        .arg("encrypt")
        .arg(sb.path("plain.yaml"));
    let enc = sb.write("from-env.enc.yaml", stdout_of(&mut cmd));
    home.delete_secret_key(&fp);
    let line = fails(
        sb.seal()
            .env("GNUPGHOME", home.path())
            .arg("decrypt")
            .arg(&enc),
    );
    assert!(
        line.contains(&format!("pgp key {fp}: cannot decrypt the data key: ")),
        "{line}"
    );
}

/// The PGP-keyed conformance files (sops's own functional-test key, sops-nix's key) open
/// through PGP with the real gpg, print what sops prints, and after a `set` keep their key
/// entries exactly as sops's own `set` writes them.
#[test]
fn pgp_conformance_files_decrypt_through_pgp_and_keep_their_metadata_after_set() {
    let cases = [
        (
            "getsops-functional",
            "sops_functional_tests_key.asc",
            "format.enc.yaml",
        ),
        (
            "getsops-functional",
            "sops_functional_tests_key.asc",
            "format.enc.json",
        ),
        (
            "getsops-functional",
            "sops_functional_tests_key.asc",
            "format.enc.env",
        ),
        (
            "getsops-functional",
            "sops_functional_tests_key.asc",
            "format.enc.ini",
        ),
        (
            "getsops-functional",
            "sops_functional_tests_key.asc",
            "comments.enc.yaml",
        ),
        (
            "getsops-functional",
            "sops_functional_tests_key.asc",
            "multiple_keys.yaml",
        ),
        ("sops-nix", "key.asc", "secrets.yaml"),
        ("sops-nix", "key.asc", "secrets.json"),
        ("sops-nix", "key.asc", "secrets.env"),
        ("sops-nix", "key.asc", "secrets.ini"),
        ("sops-nix", "key.asc", "secrets.bin"),
    ];
    let mut homes: Vec<(&str, GnupgHome)> = Vec::new();
    let sb = Sandbox::new();
    for (folder, key, name) in cases {
        if !homes.iter().any(|(f, _)| *f == folder) {
            let home = GnupgHome::new();
            home.import(&conformance().join(folder).join(key));
            homes.push((folder, home));
        }
        let home = &homes.iter().find(|(f, _)| *f == folder).unwrap().1;
        let gpg = |mut cmd: Command| {
            cmd.env("GNUPGHOME", home.path());
            cmd
        };
        let file = conformance().join(folder).join(name);
        let ours = stdout_of(gpg(sb.seal()).arg("decrypt").arg(&file));
        let theirs = stdout_of(gpg(sb.sops()).arg("decrypt").arg(&file));
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs),
            "{folder}/{name}"
        );
        if name.ends_with(".yaml") {
            // Same edit by both tools: the key entries must come out identical.
            let mine = sb.copy_in(&file, &format!("mine-{folder}-{name}"));
            let real = sb.copy_in(&file, &format!("real-{folder}-{name}"));
            stdout_of(
                gpg(sb.seal())
                    .arg("set")
                    .arg(&mine)
                    .args([r#"["added"]"#, r#""x""#]),
            );
            stdout_of(
                gpg(sb.sops())
                    .arg("set")
                    .arg(&real)
                    .args([r#"["added"]"#, r#""x""#]),
            );
            assert_eq!(
                keys_block(&fs_err::read_to_string(&mine).unwrap()),
                keys_block(&fs_err::read_to_string(&real).unwrap()),
                "{folder}/{name}"
            );
        }
    }
}

#[test]
fn a_file_for_age_and_vault_opens_with_either_and_updatekeys_and_rotate_change_keys_only() {
    let (mut bao, uri) = openbao();
    let sb = Sandbox::new();
    let a = recipient("key-a.txt");
    let b = recipient("key-b.txt");
    let plain = sb.write("secrets.yaml", PLAIN);
    let with_age = |mut cmd: Command, key: &str| {
        cmd.env("SOPS_AGE_KEY_FILE", key_file(key));
        cmd
    };

    // age A only at first; updatekeys adds the Vault key to the group (values untouched).
    sb.write(".sops.yaml", format!("creation_rules:\n  - age: {a}\n"));
    stdout_of(with_age(sb.seal(), "key-a.txt").args(["encrypt", "-i", "secrets.yaml"]));
    let values = values_of(&plain);
    sb.write(
        ".sops.yaml",
        format!("creation_rules:\n  - age: {a}\n    hc_vault_transit_uri: {uri}\n"),
    );
    let mut cmd = sb.seal();
    vault_env(&mut cmd, &bao)
        .env("SOPS_AGE_KEY_FILE", key_file("key-a.txt"))
        .args(["updatekeys", "-y", "secrets.yaml"]);
    stdout_of(&mut cmd);
    assert_eq!(values_of(&plain), values);
    assert_eq!(
        String::from_utf8_lossy(&stdout_of(
            with_age(sb.seal(), "key-a.txt").args(["decrypt", "secrets.yaml"])
        )),
        PLAIN
    );
    assert_eq!(
        String::from_utf8_lossy(&stdout_of(
            vault_env(&mut sb.seal(), &bao).args(["decrypt", "secrets.yaml"])
        )),
        PLAIN
    );
    assert_eq!(
        String::from_utf8_lossy(&stdout_of(
            vault_env(&mut sb.sops(), &bao).args(["decrypt", "secrets.yaml"])
        )),
        PLAIN
    );

    // updatekeys: the rule swaps age A for age B; values stay byte for byte.
    assert_eq!(values_of(&plain), values);
    sb.write(
        ".sops.yaml",
        format!("creation_rules:\n  - age: {b}\n    hc_vault_transit_uri: {uri}\n"),
    );
    stdout_of(vault_env(&mut sb.seal(), &bao).args(["updatekeys", "-y", "secrets.yaml"]));
    assert_eq!(values_of(&plain), values);
    let text = fs_err::read_to_string(&plain).unwrap();
    assert!(
        text.contains(&b) && !text.contains(&a) && text.contains("vault:v1:"),
        "{text}"
    );
    let out = with_age(sb.sops(), "key-b.txt")
        .args(["decrypt", "secrets.yaml"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), PLAIN);

    // rotate: drop the Vault key, add age A; new data key, and Vault no longer opens it.
    stdout_of(with_age(sb.seal(), "key-b.txt").args([
        "rotate",
        "-i",
        "--rm-hc-vault-transit",
        &uri,
        "--add-age",
        &a,
        "secrets.yaml",
    ]));
    let text = fs_err::read_to_string(&plain).unwrap();
    assert!(!text.contains("vault:v1:") && text.contains(&a), "{text}");
    assert_ne!(values_of(&plain), values);
    assert_eq!(
        String::from_utf8_lossy(&stdout_of(
            with_age(sb.sops(), "key-a.txt").args(["decrypt", "secrets.yaml"])
        )),
        PLAIN
    );

    // rotate --add-hc-vault-transit brings it back; then a stopped server is one clear line.
    stdout_of(
        vault_env(&mut sb.seal(), &bao)
            .env("SOPS_AGE_KEY_FILE", key_file("key-a.txt"))
            .args([
                "rotate",
                "-i",
                "--add-hc-vault-transit",
                &uri,
                "secrets.yaml",
            ]),
    );
    assert_eq!(
        String::from_utf8_lossy(&stdout_of(
            vault_env(&mut sb.sops(), &bao).args(["decrypt", "secrets.yaml"])
        )),
        PLAIN
    );
    bao.kill();
    let before = fs_err::read(&plain).unwrap();
    let line = fails(vault_env(&mut sb.seal(), &bao).args(["decrypt", "secrets.yaml"]));
    assert!(
        line.contains(&format!(
            "hc_vault key {uri}: cannot reach {}/v1/transit/decrypt/sops",
            bao.url()
        )),
        "{line}"
    );
    assert!(!line.contains(OpenBao::ROOT_TOKEN), "{line}");
    let line = fails(vault_env(&mut sb.seal(), &bao).args([
        "rotate",
        "-i",
        "--add-age",
        &b,
        "secrets.yaml",
    ]));
    assert!(line.contains("cannot reach"), "{line}");
    assert_eq!(fs_err::read(&plain).unwrap(), before);
}

#[test]
fn shamir_groups_of_vault_kms_and_age_open_with_any_two_and_say_how_many_opened() {
    let (bao, uri) = openbao();
    let moto = Moto::start();
    let arn =
        moto.json_call("TrentService.CreateKey", &serde_json::json!({}))["KeyMetadata"]["Arn"]
            .as_str()
            .unwrap()
            .to_owned();
    let a = recipient("key-a.txt");
    let sb = Sandbox::new();
    sb.write("secrets.yaml", PLAIN);
    sb.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - hc_vault: [{uri}]\n      - kms:\n          - arn: {arn}\n            context: {{team: ops}}\n      - age: [{a}]\n"
        ),
    );
    let mut all = sb.seal();
    vault_env(moto_env(&mut all, &moto), &bao).args(["encrypt", "-i", "secrets.yaml"]);
    stdout_of(&mut all);
    let text = fs_err::read_to_string(sb.path("secrets.yaml")).unwrap();
    assert!(
        text.contains("shamir_threshold: 2") && text.contains("key_groups:"),
        "{text}"
    );

    // Any two groups, with us and with the real sops.
    let mut vault_kms = sb.sops();
    vault_env(moto_env(&mut vault_kms, &moto), &bao).args(["decrypt", "secrets.yaml"]);
    assert_eq!(String::from_utf8_lossy(&stdout_of(&mut vault_kms)), PLAIN);
    let mut vault_age = sb.seal();
    vault_env(&mut vault_age, &bao)
        .env("SOPS_AGE_KEY_FILE", key_file("key-a.txt"))
        .args(["decrypt", "secrets.yaml"]);
    assert_eq!(String::from_utf8_lossy(&stdout_of(&mut vault_age)), PLAIN);
    let mut kms_age = sb.seal();
    moto_env(&mut kms_age, &moto)
        .env("SOPS_AGE_KEY_FILE", key_file("key-a.txt"))
        .args(["decrypt", "secrets.yaml"]);
    assert_eq!(String::from_utf8_lossy(&stdout_of(&mut kms_age)), PLAIN);

    // Only age: one group of three, two needed.
    let line = fails(
        sb.seal()
            .env("SOPS_AGE_KEY_FILE", key_file("key-a.txt"))
            .args(["decrypt", "secrets.yaml"]),
    );
    assert!(
        line.contains("could not decrypt the data key: 1 of 3 key groups opened, 2 needed"),
        "{line}"
    );
}
