//! SOPS files in Git (issue 15): minimal diffs compared line by line with what the real sops
//! 3.11 does to the same file, `git merge` through `seal merge-driver`, `seal diff`, and
//! `updatekeys -r` / `rotate -r` on trees.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use sealkit_tests::Sandbox;

use super::{SopsSandbox, editor_script, gen311, key_file, recipient, sops_decrypt, stdout_of};

/// A line with its ciphertext, IV, timestamp and MAC blanked: what two tools writing the
/// same change must agree on.
fn shape(line: &str) -> String {
    let mut out = line.to_owned();
    if let Some(start) = out.find("ENC[")
        && let Some(len) = out[start..].find(']')
    {
        out.replace_range(start..=start + len, "ENC[…]");
    }
    for stamp in ["lastmodified", "sops_lastmodified"] {
        if out.trim_start().trim_start_matches('"').starts_with(stamp) {
            return format!("{stamp} …");
        }
    }
    out
}

/// The lines of `new` not in `old` and of `old` not in `new` (as multisets), by shape.
fn changed(old: &str, new: &str) -> (Vec<String>, Vec<String>) {
    fn count(text: &str) -> BTreeMap<&str, i64> {
        let mut m: BTreeMap<&str, i64> = BTreeMap::new();
        for line in text.lines() {
            *m.entry(line).or_default() += 1;
        }
        m
    }
    let (o, n) = (count(old), count(new));
    let mut added = Vec::new();
    let mut removed = Vec::new();
    for (line, k) in &n {
        for _ in 0..(k - o.get(line).copied().unwrap_or(0)).max(0) {
            added.push(shape(line));
        }
    }
    for (line, k) in &o {
        for _ in 0..(k - n.get(line).copied().unwrap_or(0)).max(0) {
            removed.push(shape(line));
        }
    }
    added.sort();
    removed.sort();
    (added, removed)
}

/// Runs the same change with the real sops and with seal on two copies of `fixture`, and
/// asserts both changed the same lines (by shape), and as few as sops.
fn same_lines_change(fixture: &str, name: &str, args: &[&str], editor: Option<&str>) {
    same_lines_change_of(&gen311().join(fixture), name, args, editor);
}

/// [`same_lines_change`] of any encrypted file.
fn same_lines_change_of(source: &Path, name: &str, args: &[&str], editor: Option<&str>) {
    let fixture = source.display().to_string();
    let sb = Sandbox::new();
    let original = fs_err::read_to_string(source).unwrap();
    let ours = sb.copy_in(source, &format!("seal/{name}"));
    let theirs = sb.copy_in(source, &format!("sops/{name}"));
    let editor = editor.map(|body| editor_script(&sb, "ed.sh", body));
    let run = |mut cmd: Command, file: &Path| {
        cmd.env("SOPS_AGE_KEY_FILE", key_file("key-a.txt"));
        if let Some(editor) = &editor {
            cmd.env("EDITOR", editor);
        }
        let (sub, rest) = args.split_first().unwrap();
        stdout_of(cmd.arg(sub).arg(file).args(rest));
    };
    run(sb.sops(), &theirs);
    run(sb.seal(), &ours);
    let mut by_sops = changed(&original, &fs_err::read_to_string(&theirs).unwrap());
    if fixture.ends_with(".txt") {
        // sops's edit of a binary file adds the default `unencrypted_suffix` to metadata that
        // had none (the binary store ignores selectors); seal leaves the metadata as it was.
        by_sops.0.retain(|l| !l.contains("\"unencrypted_suffix\""));
    }
    let by_seal = changed(&original, &fs_err::read_to_string(&ours).unwrap());
    assert_eq!(
        by_seal, by_sops,
        "{fixture} {args:?}: seal changed other lines than sops"
    );
    // Still a file sops opens, with the same cleartext.
    assert_eq!(
        sops_decrypt(&sb, &ours, "key-a.txt"),
        sops_decrypt(&sb, &theirs, "key-a.txt")
    );
}

#[test]
fn set_changes_the_lines_real_sops_changes_in_every_store() {
    for (fixture, name, path) in [
        ("kitchen.enc.yaml", "k.yaml", r#"["int"]"#),
        (
            "kitchen.enc.yaml",
            "k.yaml",
            r#"["nested"]["list_of_maps"][1]["port"]"#,
        ),
        ("kitchen.enc.json", "k.json", r#"["int"]"#),
        ("kitchen.enc.env", "k.env", r#"["NUMBER"]"#),
        ("kitchen.enc.ini", "k.ini", r#"["server"]["port"]"#),
    ] {
        same_lines_change(fixture, name, &["set", path, "\"5433\""], None);
    }
    // A new key.
    same_lines_change(
        "kitchen.enc.yaml",
        "k.yaml",
        &["set", r#"["added"]"#, "1"],
        None,
    );
    same_lines_change(
        "kitchen.enc.env",
        "k.env",
        &["set", r#"["ADDED"]"#, "\"x\""],
        None,
    );
    // Files whose selectors leave values or comments in clear, a MAC over encrypted values
    // only, a stream of two documents (set changes the first).
    for (fixture, path, value) in [
        (
            "encrypted-comment-regex.enc.yaml",
            r#"["nested"]["token"]"#,
            "\"t\"",
        ),
        (
            "encrypted-comment-regex.enc.yaml",
            r#"["username"]"#,
            "\"root\"",
        ),
        (
            "encrypted-regex.enc.yaml",
            r#"["stringData"]["password"]"#,
            "\"p\"",
        ),
        (
            "encrypted-regex.enc.yaml",
            r#"["metadata"]["name"]"#,
            "\"other\"",
        ),
        (
            "mac-only-encrypted.enc.yaml",
            r#"["metadata"]["name"]"#,
            "\"other\"",
        ),
        (
            "mac-only-encrypted.enc.yaml",
            r#"["data"]["token"]"#,
            "\"dA==\"",
        ),
        ("multidoc.enc.yaml", r#"["b"]"#, "\"secret-three\""),
        // Without comments: the value spliced into the file, whatever its type.
        ("edit-chain.enc.yaml", r#"["change"]"#, "\"new\""),
        ("edit-chain.enc.yaml", r#"["change"]"#, "5"),
        ("edit-chain.enc.yaml", r#"["keep"]"#, "\"unchanged value\""),
        ("edit-chain.enc.yaml", r#"["list"][1]"#, "\"deux\""),
        // The value it already has: only `lastmodified` and `mac` change.
        ("kitchen.enc.yaml", r#"["int"]"#, "42"),
        // A map replacing a scalar, and a path through a scalar.
        (
            "kitchen.enc.yaml",
            r#"["int"]"#,
            r#"{"a": 1, "b": [true, null]}"#,
        ),
        ("kitchen.enc.yaml", r#"["int"]["deeper"][0]"#, "\"x\""),
    ] {
        same_lines_change(fixture, "f.yaml", &["set", path, value], None);
    }
}

/// A list holding a comment, encrypted by the real sops: the comment becomes an item
/// `- ENC[…,type:comment]`. seal's list indexes skip comments (sops's count them, and `set`
/// there replaces the comment); changing such a list, or the file around it, rewrites only
/// the value, `lastmodified` and `mac`, and the result is a file sops opens.
#[test]
fn set_and_unset_in_a_list_holding_an_encrypted_comment_keep_every_other_line() {
    let sb = Sandbox::new();
    let plain = sb.write(
        "list.yaml",
        "list:\n    - a\n    # between a and b\n    - b\n    - c\nother: x\n",
    );
    let encrypted = sb.path("list.enc.yaml");
    stdout_of(
        sb.sops()
            .args(["encrypt", "--age", &recipient("key-a.txt"), "--output"])
            .arg(&encrypted)
            .arg(&plain),
    );
    let original = fs_err::read_to_string(&encrypted).unwrap();
    assert!(original.contains("type:comment]\n"), "{original}");
    // `lastmodified` changes unless seal runs in the second sops encrypted.
    let meta = || ["    mac: ENC[…]".to_owned()];
    let item = "    - ENC[…]".to_owned();
    for (args, cleartext, added, removed) in [
        (
            &["set", r#"["list"][1]"#, "\"B\""][..],
            "list:\n    - a\n    # between a and b\n    - B\n    - c\nother: x\n",
            vec![item.clone()],
            vec![item.clone()],
        ),
        (
            &["set", r#"["list"][3]"#, "\"d\""][..],
            "list:\n    - a\n    # between a and b\n    - b\n    - c\n    - d\nother: x\n",
            vec![item.clone()],
            vec![],
        ),
        (
            &["unset", r#"["list"][2]"#][..],
            "list:\n    - a\n    # between a and b\n    - b\nother: x\n",
            vec![],
            vec![item.clone()],
        ),
        (
            &["set", r#"["other"]"#, "\"z\""][..],
            "list:\n    - a\n    # between a and b\n    - b\n    - c\nother: z\n",
            vec!["other: ENC[…]".to_owned()],
            vec!["other: ENC[…]".to_owned()],
        ),
    ] {
        let file = sb.copy_in(&encrypted, "changed.enc.yaml");
        let (sub, rest) = args.split_first().unwrap();
        stdout_of(
            sb.seal()
                .env("SOPS_AGE_KEY_FILE", key_file("key-a.txt"))
                .arg(sub)
                .arg(&file)
                .args(rest),
        );
        let (mut want_added, mut want_removed) = (added, removed);
        want_added.extend(meta());
        want_removed.extend(meta());
        want_added.sort();
        want_removed.sort();
        let after = fs_err::read_to_string(&file).unwrap();
        let (mut added, mut removed) = changed(&original, &after);
        added.retain(|l| l != "lastmodified …");
        removed.retain(|l| l != "lastmodified …");
        assert_eq!((added, removed), (want_added, want_removed), "{args:?}");
        assert_eq!(
            String::from_utf8(sops_decrypt(&sb, &file, "key-a.txt")).unwrap(),
            cleartext,
            "{args:?}"
        );
    }
}

#[test]
fn unset_changes_the_lines_real_sops_changes_in_every_store() {
    for (fixture, name, path) in [
        ("kitchen.enc.yaml", "k.yaml", r#"["float"]"#),
        ("kitchen.enc.json", "k.json", r#"["string"]"#),
        ("kitchen.enc.env", "k.env", r#"["NUMBER"]"#),
        ("kitchen.enc.ini", "k.ini", r#"["database"]["user"]"#),
    ] {
        same_lines_change(fixture, name, &["unset", path], None);
    }
}

#[test]
fn edit_changes_the_lines_real_sops_changes_in_every_store() {
    let cases = [
        // One value.
        (
            "kitchen.enc.yaml",
            "k.yaml",
            r#"sed -i 's/^int: 42/int: 43/' "$1""#,
        ),
        (
            "kitchen.enc.json",
            "k.json",
            r#"sed -i 's/"hello"/"bye"/' "$1""#,
        ),
        (
            "kitchen.enc.env",
            "k.env",
            r#"sed -i 's/^NUMBER=42/NUMBER=43/' "$1""#,
        ),
        (
            "kitchen.enc.ini",
            "k.ini",
            r#"sed -i 's/^port *= 8080/port = 8081/' "$1""#,
        ),
        (
            "note.enc.txt",
            "n.txt",
            r#"sed -i 's/not really/still not/' "$1""#,
        ),
        // A key added.
        (
            "kitchen.enc.yaml",
            "k.yaml",
            r#"printf 'added: new\n' >> "$1""#,
        ),
        (
            "kitchen.enc.env",
            "k.env",
            r#"printf 'ADDED=new\n' >> "$1""#,
        ),
        (
            "kitchen.enc.ini",
            "k.ini",
            r#"printf 'added = new\n' >> "$1""#,
        ),
        // A comment.
        (
            "kitchen.enc.yaml",
            "k.yaml",
            r#"sed -i 's/# foot comment/# foot note/' "$1""#,
        ),
        // A list item.
        ("kitchen.enc.yaml", "k.yaml", r#"sed -i 's/- b$/- c/' "$1""#),
        // Files without comments: one value spliced into the file (top level, nested, a MAC
        // of encrypted values only), or the whole edit read without a tree.
        (
            "edit-chain.enc.yaml",
            "c.yaml",
            r#"sed -i 's/^change: .*/change: a new value/' "$1""#,
        ),
        (
            "encrypted-regex.enc.yaml",
            "r.yaml",
            r#"sed -i 's/^    password: .*/    password: other/' "$1""#,
        ),
        (
            "mac-only-encrypted.enc.yaml",
            "m.yaml",
            r#"sed -i 's/^    username: .*/    username: root/' "$1""#,
        ),
        (
            "encrypted-regex.enc.yaml",
            "r.yaml",
            r#"sed -i 's/^    name: demo/    name: other/' "$1""#,
        ),
        (
            "edit-chain.enc.yaml",
            "c.yaml",
            r#"printf 'added: new\n' >> "$1""#,
        ),
        (
            "edit-chain.enc.yaml",
            "c.yaml",
            r#"sed -i 's/- two$/- three/' "$1""#,
        ),
    ];
    for (fixture, name, script) in cases {
        same_lines_change(fixture, name, &["edit"], Some(script));
    }
}

/// The lines of a SOPS file that hold values (the metadata left out).
fn data_lines(text: &str) -> Vec<&str> {
    text.lines()
        .take_while(|l| !l.starts_with("sops:") && *l != "\t\"sops\": {" && *l != "[sops]")
        .filter(|l| !l.starts_with("sops_"))
        .collect()
}

#[test]
fn updatekeys_leaves_every_value_line_as_real_sops_does_in_every_store() {
    let b = recipient("key-b.txt");
    for (fixture, name) in [
        ("kitchen.enc.yaml", "k.yaml"),
        ("kitchen.enc.json", "k.json"),
        ("kitchen.enc.env", "k.env"),
        ("kitchen.enc.ini", "k.ini"),
    ] {
        let sb = Sandbox::new();
        let a = recipient("key-a.txt");
        sb.write(".sops.yaml", format!("creation_rules:\n  - age: {a},{b}\n"));
        let original = fs_err::read_to_string(gen311().join(fixture)).unwrap();
        let ours = sb.copy_in(&gen311().join(fixture), &format!("seal/{name}"));
        let theirs = sb.copy_in(&gen311().join(fixture), &format!("sops/{name}"));
        for (mut cmd, file) in [(sb.sops(), &theirs), (sb.seal(), &ours)] {
            stdout_of(
                cmd.env("SOPS_AGE_KEY_FILE", key_file("key-a.txt"))
                    .args(["updatekeys", "-y"])
                    .arg(file),
            );
        }
        let (ours, theirs) = (
            fs_err::read_to_string(&ours).unwrap(),
            fs_err::read_to_string(&theirs).unwrap(),
        );
        assert_eq!(
            data_lines(&theirs),
            data_lines(&original),
            "{fixture}: sops"
        );
        assert_eq!(data_lines(&ours), data_lines(&original), "{fixture}: seal");
        assert!(ours.contains(&b), "{fixture}");
    }
}

// ---- git merge ------------------------------------------------------------------------------

fn git(sb: &Sandbox, dir: &Path, args: &[&str]) -> std::process::Output {
    sb.command("git")
        .current_dir(dir)
        .env("SOPS_AGE_KEY_FILE", key_file("key-a.txt"))
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .args(args)
        .output()
        .unwrap()
}

fn git_ok(sb: &Sandbox, dir: &Path, args: &[&str]) -> String {
    let out = git(sb, dir, args);
    assert!(
        out.status.success(),
        "git {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn seal_set(sb: &Sandbox, file: &Path, path: &str, value: &str) {
    stdout_of(
        sb.seal()
            .env("SOPS_AGE_KEY_FILE", key_file("key-a.txt"))
            .arg("set")
            .arg(file)
            .args([path, value]),
    );
}

/// A repository with `secrets.yaml` (the kitchen file) on main and `seal git setup` done.
fn repo(sb: &Sandbox) -> (PathBuf, PathBuf) {
    let dir = sb.path("repo");
    fs_err::create_dir_all(&dir).unwrap();
    git_ok(sb, &dir, &["init", "-q", "-b", "main"]);
    let file = sb.copy_in(&gen311().join("kitchen.enc.yaml"), "repo/secrets.yaml");
    let setup = sb
        .seal()
        .current_dir(&dir)
        .args(["git", "setup"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&setup.stderr);
    assert!(setup.status.success(), "{said}");
    assert!(
        said.contains("/secrets.yaml merge=sops diff=sops"),
        "{said}"
    );
    assert!(said.contains("merge.sops.driver = "), "{said}");
    assert_eq!(
        fs_err::read_to_string(dir.join(".gitattributes")).unwrap(),
        "/secrets.yaml merge=sops diff=sops\n"
    );
    git_ok(sb, &dir, &["add", "."]);
    git_ok(sb, &dir, &["commit", "-qm", "base"]);
    (dir, file)
}

#[test]
fn git_merge_of_different_values_of_one_file_has_no_conflict_and_keeps_both_changes() {
    let sb = Sandbox::new();
    let (dir, file) = repo(&sb);
    git_ok(&sb, &dir, &["checkout", "-qb", "theirs"]);
    seal_set(&sb, &file, r#"["int"]"#, "43");
    git_ok(&sb, &dir, &["commit", "-qam", "theirs"]);
    let their_version = fs_err::read_to_string(&file).unwrap();
    git_ok(&sb, &dir, &["checkout", "-q", "main"]);
    seal_set(&sb, &file, r#"["string"]"#, "\"changed\"");
    git_ok(&sb, &dir, &["commit", "-qam", "ours"]);
    let our_version = fs_err::read_to_string(&file).unwrap();

    git_ok(&sb, &dir, &["merge", "-q", "--no-edit", "theirs"]);
    let merged = fs_err::read_to_string(&file).unwrap();
    let clear = String::from_utf8(sops_decrypt(&sb, &file, "key-a.txt")).unwrap();
    assert!(clear.contains("int: 43\n"), "{clear}");
    assert!(clear.contains("string: changed"), "{clear}");
    // Only the changed values, lastmodified and mac differ from each side.
    // Only the changed value, the mac and lastmodified (unless in the same second) differ
    // from each side.
    for (side, value) in [
        (&our_version, "int: ENC[…]"),
        (&their_version, "string: ENC[…]"),
    ] {
        let (mut added, _) = changed(side, &merged);
        added.retain(|l| l != "lastmodified …");
        assert_eq!(added, ["    mac: ENC[…]", value]);
    }
    // Nothing in clear in the working tree or the index, no temporary file left.
    assert!(!merged.contains("changed"));
    let status = git_ok(&sb, &dir, &["status", "--porcelain"]);
    assert_eq!(status, "");
    assert!(sb.tmp_is_empty());
}

#[test]
fn git_merge_of_one_value_changed_on_both_sides_conflicts_names_it_and_stays_encrypted() {
    let sb = Sandbox::new();
    let (dir, file) = repo(&sb);
    git_ok(&sb, &dir, &["checkout", "-qb", "theirs"]);
    seal_set(&sb, &file, r#"["int"]"#, "43");
    seal_set(&sb, &file, r#"["float"]"#, "2.5");
    git_ok(&sb, &dir, &["commit", "-qam", "theirs"]);
    git_ok(&sb, &dir, &["checkout", "-q", "main"]);
    seal_set(&sb, &file, r#"["int"]"#, "44");
    git_ok(&sb, &dir, &["commit", "-qam", "ours"]);

    let out = git(&sb, &dir, &["merge", "--no-edit", "theirs"]);
    assert!(!out.status.success());
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains(r#"["int"]"#), "{said}");
    assert!(said.contains("CONFLICT"), "{said}");
    // The merge, encrypted, in the working tree: our side of the conflict, their other
    // change; nothing in clear in the index.
    let text = fs_err::read_to_string(&file).unwrap();
    assert!(!text.contains("int: 4") && !text.contains("2.5"), "{text}");
    let clear = String::from_utf8(sops_decrypt(&sb, &file, "key-a.txt")).unwrap();
    assert!(
        clear.contains("int: 44\n") && clear.contains("float: 2.5\n"),
        "{clear}"
    );
    for stage in [":1:secrets.yaml", ":2:secrets.yaml", ":3:secrets.yaml"] {
        let blob = git_ok(&sb, &dir, &["show", stage]);
        assert!(
            blob.contains("ENC[AES256_GCM") && !blob.contains("int: 4"),
            "{stage}"
        );
    }
    assert!(sb.tmp_is_empty());
}

// ---- seal diff ------------------------------------------------------------------------------

#[test]
fn diff_shows_which_values_changed_masked_unless_asked() {
    let sb = Sandbox::new();
    let a = sb.copy_in(&gen311().join("kitchen.enc.yaml"), "a.yaml");
    let b = sb.copy_in(&gen311().join("kitchen.enc.yaml"), "b.yaml");
    seal_set(&sb, &b, r#"["int"]"#, "43");
    let diff = |extra: &[&str]| {
        String::from_utf8(stdout_of(
            sb.seal()
                .env("SOPS_AGE_KEY_FILE", key_file("key-a.txt"))
                .arg("diff")
                .args(extra)
                .arg(&a)
                .arg(&b),
        ))
        .unwrap()
    };
    let masked = diff(&[]);
    let changes: Vec<&str> = masked
        .lines()
        .filter(|l| {
            (l.starts_with('-') || l.starts_with('+'))
                && !l.starts_with("---")
                && !l.starts_with("+++")
        })
        .collect();
    assert_eq!(changes.len(), 2, "{masked}");
    assert!(
        changes[0].starts_with("-int: <secret ") && changes[1].starts_with("+int: <secret "),
        "{masked}"
    );
    assert!(
        !masked.contains(": 42") && !masked.contains("hello world"),
        "{masked}"
    );
    let shown = diff(&["--show-values"]);
    assert!(
        shown.contains("-int: 42\n") && shown.contains("+int: 43\n"),
        "{shown}"
    );
    // git's diff.<driver>.command form: PATH OLD OLD-HEX OLD-MODE NEW NEW-HEX NEW-MODE.
    let as_git = String::from_utf8(stdout_of(
        sb.seal()
            .env("SOPS_AGE_KEY_FILE", key_file("key-a.txt"))
            .args(["diff", "--show-values", "s.yaml"])
            .arg(&a)
            .args(["0000000", "100644"])
            .arg(&b)
            .args(["0000000", "100644"]),
    ))
    .unwrap();
    assert_eq!(as_git, shown);
}

#[test]
fn git_diff_shows_masked_changes_through_textconv() {
    let sb = Sandbox::new();
    let (dir, file) = repo(&sb);
    seal_set(&sb, &file, r#"["int"]"#, "43");
    let diff = git_ok(&sb, &dir, &["diff"]);
    let changes: Vec<&str> = diff
        .lines()
        .filter(|l| {
            (l.starts_with('-') || l.starts_with('+'))
                && !l.starts_with("---")
                && !l.starts_with("+++")
        })
        .collect();
    assert_eq!(changes.len(), 2, "{diff}");
    assert!(changes[0].starts_with("-int: <secret "), "{diff}");
    assert!(!diff.contains("ENC["), "{diff}");
}

#[test]
fn diff_of_sealed_secrets_names_items_added_removed_resealed_and_scope() {
    let sb = Sandbox::new();
    let head = "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: db\n  namespace: prod\n";
    let a = sb.write(
        "a.yaml",
        format!("{head}spec:\n  encryptedData:\n    user: AgAAAA==\n    old: AgBBBB==\n    pass: AgCCCC==\n"),
    );
    let b = sb.write(
        "b.yaml",
        format!(
            "{}  annotations:\n    sealedsecrets.bitnami.com/cluster-wide: \"true\"\nspec:\n  encryptedData:\n    user: AgAAAA==\n    pass: AgDDDD==\n    new: AgEEEE==\n",
            head
        ),
    );
    let out = String::from_utf8(stdout_of(sb.seal().arg("diff").arg(&a).arg(&b))).unwrap();
    assert_eq!(
        out,
        "~ SealedSecret prod/db\n  scope: strict -> cluster-wide\n  - old (removed)\n  ~ pass (re-sealed)\n  + new (added)\n"
    );
}

// ---- whole trees ----------------------------------------------------------------------------

#[test]
fn updatekeys_r_updates_every_sops_file_under_a_tree_and_reports_the_ones_it_cannot_open() {
    let sb = Sandbox::new();
    let b = recipient("key-b.txt");
    let one = sb.copy_in(&gen311().join("kitchen.enc.yaml"), "tree/a/one.yaml");
    let two = sb.copy_in(&gen311().join("kitchen.enc.env"), "tree/b/two.env");
    // Not a SOPS file, whatever its name says.
    sb.write("tree/plain.enc.yaml", "a: 1\n");
    // A SOPS file key A cannot open.
    let other = sb.copy_in(
        &gen311().join("ssh-recipient.enc.yaml"),
        "tree/c/other.yaml",
    );
    let before = fs_err::read(&other).unwrap();
    sb.write(".sops.yaml", format!("creation_rules:\n  - age: {b}\n"));
    // The rule that governs tree/b is its own.
    let c = recipient("key-c.txt");
    sb.write(
        "tree/b/.sops.yaml",
        format!("creation_rules:\n  - age: {c}\n"),
    );

    let dry = sb
        .seal()
        .env("SOPS_AGE_KEY_FILE", key_file("key-a.txt"))
        .args(["updatekeys", "-r", "--dry-run", "tree"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&dry.stderr);
    assert!(said.contains(&format!("+++ {b}")), "{said}");
    assert!(
        said.contains("one.yaml") && said.contains("two.env"),
        "{said}"
    );
    assert!(!said.contains("plain.enc.yaml"), "{said}");
    assert_eq!(fs_err::read(&other).unwrap(), before);

    let out = sb
        .seal()
        .env("SOPS_AGE_KEY_FILE", key_file("key-a.txt"))
        .args(["updatekeys", "-r", "-y", "tree"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("1 of 3 files failed"), "{said}");
    assert!(said.contains("other.yaml"), "{said}");
    assert_eq!(
        fs_err::read(&other).unwrap(),
        before,
        "a failed file is left byte-identical"
    );
    assert!(!sops_decrypt(&sb, &one, "key-b.txt").is_empty());
    assert!(!sops_decrypt(&sb, &two, "key-c.txt").is_empty());
    let two_text = fs_err::read_to_string(&two).unwrap();
    assert!(
        two_text.contains(&c) && !two_text.contains(&b),
        "{two_text}"
    );
}

#[test]
fn rotate_r_rotates_every_sops_file_under_a_tree() {
    let sb = Sandbox::new();
    let b = recipient("key-b.txt");
    let one = sb.copy_in(&gen311().join("kitchen.enc.json"), "tree/one.json");
    let two = sb.copy_in(&gen311().join("kitchen.enc.ini"), "tree/sub/two.ini");
    let before = [fs_err::read(&one).unwrap(), fs_err::read(&two).unwrap()];
    let out = sb
        .seal()
        .env("SOPS_AGE_KEY_FILE", key_file("key-a.txt"))
        .args(["rotate", "-r", "--add-age", &b, "tree"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (file, before) in [&one, &two].into_iter().zip(before) {
        assert_ne!(fs_err::read(file).unwrap(), before);
        assert!(!sops_decrypt(&sb, file, "key-b.txt").is_empty());
    }
}
