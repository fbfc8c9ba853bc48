//! The vendored YAML scanner (`vendor/saphyr-parser`, see its `PATCHED.md`) takes runs of safe
//! plain-scalar characters at once when it reads a `&str` (`StrInput`). `Unpatched` below is
//! `StrInput` with every method but the new one delegated: the crates.io scanner's
//! one-character-at-a-time path over the same input. These tests check that both give the same
//! events, spans and errors, on every YAML and JSON file of the conformance corpus, on the
//! fuzzing corpora and on generated text rich in YAML indicators.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use saphyr_parser::input::SkipTabs;
use saphyr_parser::{Event, Input, Parser, ScanError, Span, StrInput};

/// `StrInput` without the patch: `fetch_plain_scalar_safe_run` keeps the trait's default
/// (consumes nothing); every other method is `StrInput`'s own.
struct Unpatched<'a>(StrInput<'a>);

impl Input for Unpatched<'_> {
    fn lookahead(&mut self, count: usize) {
        self.0.lookahead(count);
    }
    fn buflen(&self) -> usize {
        self.0.buflen()
    }
    fn bufmaxlen(&self) -> usize {
        self.0.bufmaxlen()
    }
    fn buf_is_empty(&self) -> bool {
        self.0.buf_is_empty()
    }
    fn raw_read_ch(&mut self) -> char {
        self.0.raw_read_ch()
    }
    fn raw_read_non_breakz_ch(&mut self) -> Option<char> {
        self.0.raw_read_non_breakz_ch()
    }
    fn skip(&mut self) {
        self.0.skip();
    }
    fn skip_n(&mut self, count: usize) {
        self.0.skip_n(count);
    }
    fn peek(&self) -> char {
        self.0.peek()
    }
    fn peek_nth(&self, n: usize) -> char {
        self.0.peek_nth(n)
    }
    fn peek_opt(&self) -> Option<char> {
        self.0.peek_opt()
    }
    fn look_ch(&mut self) -> char {
        self.0.look_ch()
    }
    fn next_char_is(&self, c: char) -> bool {
        self.0.next_char_is(c)
    }
    fn nth_char_is(&self, n: usize, c: char) -> bool {
        self.0.nth_char_is(n, c)
    }
    fn next_2_are(&self, c1: char, c2: char) -> bool {
        self.0.next_2_are(c1, c2)
    }
    fn next_3_are(&self, c1: char, c2: char, c3: char) -> bool {
        self.0.next_3_are(c1, c2, c3)
    }
    fn next_is_document_indicator(&self) -> bool {
        self.0.next_is_document_indicator()
    }
    fn next_is_document_start(&self) -> bool {
        self.0.next_is_document_start()
    }
    fn next_is_document_end(&self) -> bool {
        self.0.next_is_document_end()
    }
    fn skip_ws_to_eol(&mut self, skip_tabs: SkipTabs) -> (usize, Result<SkipTabs, &'static str>) {
        self.0.skip_ws_to_eol(skip_tabs)
    }
    fn next_can_be_plain_scalar(&self, in_flow: bool) -> bool {
        self.0.next_can_be_plain_scalar(in_flow)
    }
    fn next_is_blank_or_break(&self) -> bool {
        self.0.next_is_blank_or_break()
    }
    fn next_is_blank_or_breakz(&self) -> bool {
        self.0.next_is_blank_or_breakz()
    }
    fn next_is_blank(&self) -> bool {
        self.0.next_is_blank()
    }
    fn next_is_break(&self) -> bool {
        self.0.next_is_break()
    }
    fn next_is_breakz(&self) -> bool {
        self.0.next_is_breakz()
    }
    fn next_is_z(&self) -> bool {
        self.0.next_is_z()
    }
    fn next_is_flow(&self) -> bool {
        self.0.next_is_flow()
    }
    fn next_is_digit(&self) -> bool {
        self.0.next_is_digit()
    }
    fn next_is_alpha(&self) -> bool {
        self.0.next_is_alpha()
    }
    fn skip_while_non_breakz(&mut self) -> usize {
        self.0.skip_while_non_breakz()
    }
    fn skip_while_blank(&mut self) -> usize {
        self.0.skip_while_blank()
    }
    fn fetch_while_is_alpha(&mut self, out: &mut String) -> usize {
        self.0.fetch_while_is_alpha(out)
    }
    fn fetch_while_is_yaml_non_space(&mut self, out: &mut String) -> usize {
        self.0.fetch_while_is_yaml_non_space(out)
    }
}

/// Every event with its span, then the error that ended the stream (if any).
fn events<'a, I: saphyr_parser::Input>(
    mut parser: Parser<'a, I>,
) -> (Vec<(Event<'a>, Span)>, Option<ScanError>) {
    let mut out = Vec::new();
    // A bound no test input reaches: a scanner that loops would fail here, not hang.
    for _ in 0..1_000_000 {
        match parser.next_event() {
            None => return (out, None),
            Some(Ok((event, span))) => {
                let end = event == Event::StreamEnd;
                out.push((event, span));
                if end {
                    return (out, None);
                }
            }
            Some(Err(e)) => return (out, Some(e)),
        }
    }
    panic!("more than a million events");
}

fn assert_same(text: &str, what: &str) {
    let fast = events(Parser::new_from_str(text));
    let slow = events(Parser::new(Unpatched(StrInput::new(text))));
    assert_eq!(fast.0, slow.0, "events differ for {what}");
    assert_eq!(
        fast.1.as_ref().map(ToString::to_string),
        slow.1.as_ref().map(ToString::to_string),
        "errors differ for {what}"
    );
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn the_patched_scanner_reads_every_conformance_file_as_the_original_does() {
    let mut files = Vec::new();
    files_under(&sealkit_tests::conformance(), &mut files);
    let mut read = 0;
    for path in files {
        let yaml_like = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        );
        if !yaml_like {
            continue;
        }
        let Ok(text) = fs_err::read_to_string(&path) else {
            continue;
        };
        assert_same(&text, &path.display().to_string());
        read += 1;
    }
    assert!(read > 50, "only {read} conformance files found");
}

#[test]
fn the_patched_scanner_reads_every_yaml_fuzzing_input_as_the_original_does() {
    let mut files = Vec::new();
    for target in [
        "sops_yaml",
        "sops_rules",
        "secret_stream",
        "sealed_manifest",
        "verify_body",
    ] {
        files_under(&repo_root().join("fuzz/corpus").join(target), &mut files);
        files_under(
            &repo_root().join("fuzz/regressions").join(target),
            &mut files,
        );
    }
    let mut read = 0;
    for path in files {
        let bytes = fs_err::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert_same(&text, &path.display().to_string());
        read += 1;
    }
    assert!(read > 1000, "only {read} fuzzing inputs found");
}

#[test]
fn the_unpatched_input_takes_no_run_and_the_patched_one_does() {
    let mut out = String::new();
    let mut unpatched = Unpatched(StrInput::new("abc:d"));
    assert_eq!(unpatched.fetch_plain_scalar_safe_run(false, &mut out), 0);
    let mut patched = StrInput::new("abc:d");
    assert_eq!(patched.fetch_plain_scalar_safe_run(false, &mut out), 3);
    assert_eq!(out, "abc");
    assert_eq!(patched.peek(), ':');
    let mut flow = StrInput::new("a,b");
    assert_eq!(flow.fetch_plain_scalar_safe_run(true, &mut out), 1);
    let mut block = StrInput::new("a,b c");
    assert_eq!(block.fetch_plain_scalar_safe_run(false, &mut out), 3);
}

#[test]
fn plain_scalars_next_to_indicators_read_as_the_original_does() {
    for text in [
        "key: ENC[AES256_GCM,data:abc=,iv:def=,tag:ghi==,type:str]\n",
        "{a: ENC[AES256_GCM,data:x,iv:y],b: c}\n",
        "[a:b, c:d, e: f, {g: h}]\n",
        "key: a:b:c: d\n",
        "key: a#b #c\n",
        "key: a\tb\n",
        "k: \u{7f}x\u{7f}\n",
        "k: caf\u{e9}\u{feff}x\n",
        "k: a\n  b\n\n  c\n",
        "- a,b[c]{d}\n- [a,b[c]]\n",
        "? complex:key\n: value\n",
        "k: x\n---\nk: y\n...\n",
        "a: b: c\n",
        "k: -x-\n",
        "k: !tag x:y\n",
        "&anchor k: *alias\n",
        "k: x\0y\n",
    ] {
        assert_same(text, &format!("{text:?}"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn generated_text_reads_as_the_original_does(
        text in proptest::string::string_regex(
            "([a-zA-Z0-9=+/_\\-.]{0,12}|[:,\\[\\]{}#&*!|>'\"%@` \\t\\n?\\-]|\u{e9}|\u{feff}|\u{7f}){0,40}"
        ).unwrap()
    ) {
        assert_same(&text, &format!("{text:?}"));
    }
}
