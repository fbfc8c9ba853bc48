//! Go `text/template` templates over secret values, for SealedSecret `spec.template.data` and
//! ExternalSecret `target.template`.
//!
//! Both Go tools render these with `text/template` plus Sprig (Bitnami:
//! `pkg/apis/sealedsecrets/v1alpha1/sealedsecret_expansion.go`; ESO: `pkg/template/v2`), with `.`
//! bound to a map of item name → string value. This is the subset their users write:
//!
//! - actions `{{ .key }}`, `{{ index . "my-key" }}`, pipelines `{{ .a | b64dec | upper }}`,
//!   parenthesised calls, variables (`$x := …`, `$x = …`, `$`), trim markers `{{-`/`-}}`,
//!   comments, string/raw/char/number/bool/nil constants;
//! - `if`/`else if`/`else`, `with`/`else with`, `range` over lists, maps and integers (with
//!   `$i, $v :=`, `break`, `continue`, `else`);
//! - Go's builtins (`and or not eq ne lt le gt ge len index print printf println`) and the Sprig
//!   functions listed in `funcs.rs` (`b64enc b64dec toJson fromJson toYaml fromYaml upper lower
//!   trim default quote indent nindent replace split join dict list sha256sum …`).
//!
//! `define`/`template`/`block` are refused. No function reads the environment, files, the
//! clock or the network. Output and work are bounded ([`MAX_OUTPUT`], [`MAX_STEPS`]). Errors
//! name the line, column and function, never a value.
//!
//! ```
//! use std::collections::BTreeMap;
//! use sealer::secret::SecretBytes;
//! use sealer::template::Template;
//!
//! let template = Template::parse(r#"postgres://{{ .user }}:{{ index . "pass-word" }}@db"#).unwrap();
//! let values = BTreeMap::from([
//!     ("user".to_owned(), SecretBytes::new(b"app".to_vec())),
//!     ("pass-word".to_owned(), SecretBytes::new(b"hunter2".to_vec())),
//! ]);
//! assert_eq!(template.render(&values).unwrap().expose(), b"postgres://app:hunter2@db");
//! ```

mod error;
mod exec;
mod funcs;
mod lex;
mod parse;
mod value;

use std::collections::BTreeMap;

pub use error::{Error, Result};

use crate::secret::SecretBytes;
use value::Value;

/// Largest output one template may produce (a whole Secret is at most 1 MiB).
pub const MAX_OUTPUT: usize = 4 << 20;

/// Most actions, loop iterations and branches one execution may run.
pub const MAX_STEPS: u64 = 1_000_000;

/// What `{{ .missing }}` does when the map has no such key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MissingKey {
    /// Fail (Go's `missingkey=error`; ESO's choice, and the default here).
    #[default]
    Error,
    /// Print `<no value>` (Go's default; what Bitnami's controller does).
    NoValue,
}

/// A parsed template, ready to render many times.
#[derive(Debug)]
pub struct Template {
    source: String,
    nodes: Vec<parse::Node>,
    missing: MissingKey,
}

impl Template {
    /// Parses `source`. A template that does not parse is an error with its line and column.
    pub fn parse(source: &str) -> Result<Self> {
        let items = lex::lex(source)?;
        let nodes = parse::parse(source, items)?;
        Ok(Self {
            source: source.to_owned(),
            nodes,
            missing: MissingKey::default(),
        })
    }

    /// Sets what a missing map key does.
    #[must_use]
    pub fn missing_key(mut self, missing: MissingKey) -> Self {
        self.missing = missing;
        self
    }

    /// Renders with `.` bound to `values` (item name → value, each a Go string).
    pub fn render(&self, values: &BTreeMap<String, SecretBytes>) -> Result<SecretBytes> {
        let root = Value::Map(
            values
                .iter()
                .map(|(k, v)| (k.clone(), Value::str(v.expose())))
                .collect(),
        );
        let mut out = exec::Exec::run(&self.source, &self.nodes, root, self.missing)?;
        Ok(SecretBytes::new(std::mem::take(&mut *out)))
    }

    /// Renders with `.` bound to a map of maps, so `{{ .remoteRef.key }}` and
    /// `{{ .creds.token }}` work: what ESO's webhook provider gives its URL, header and body
    /// templates (`providers/v1/webhook`).
    pub fn render_nested(
        &self,
        values: &BTreeMap<String, BTreeMap<String, SecretBytes>>,
    ) -> Result<SecretBytes> {
        let root = Value::Map(
            values
                .iter()
                .map(|(name, inner)| {
                    let inner = inner
                        .iter()
                        .map(|(k, v)| (k.clone(), Value::str(v.expose())))
                        .collect();
                    (name.clone(), Value::Map(inner))
                })
                .collect(),
        );
        let mut out = exec::Exec::run(&self.source, &self.nodes, root, self.missing)?;
        Ok(SecretBytes::new(std::mem::take(&mut *out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(src: &str, pairs: &[(&str, &str)]) -> Result<String> {
        let values = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), SecretBytes::new(v.as_bytes().to_vec())))
            .collect();
        let out = Template::parse(src)?.render(&values)?;
        Ok(String::from_utf8(out.expose().to_vec()).unwrap())
    }

    #[test]
    fn nested_maps_render_field_chains() {
        let inner = |pairs: &[(&str, &str)]| -> BTreeMap<String, SecretBytes> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), SecretBytes::new(v.as_bytes().to_vec())))
                .collect()
        };
        let values = BTreeMap::from([
            ("remoteRef".to_owned(), inner(&[("key", "app/db")])),
            ("creds".to_owned(), inner(&[("token", "t0k")])),
        ]);
        let t = Template::parse("/v1/{{ .remoteRef.key }}?t={{ .creds.token | upper }}").unwrap();
        assert_eq!(
            t.render_nested(&values).unwrap().expose(),
            b"/v1/app/db?t=T0K"
        );
        let missing = Template::parse("{{ .remoteRef.version }}").unwrap();
        assert!(missing.render_nested(&values).is_err());
    }

    #[test]
    fn fields_index_and_pipelines_render_values() {
        let data = [("user", "app"), ("pass-word", "hunter2")];
        assert_eq!(render("{{ .user }}", &data).unwrap(), "app");
        assert_eq!(
            render(r#"{{ index . "pass-word" }}"#, &data).unwrap(),
            "hunter2"
        );
        assert_eq!(
            render("{{ .user | upper | b64enc }}", &data).unwrap(),
            "QVBQ"
        );
        assert_eq!(
            render(r#"{{ printf "%s:%s" .user (index . "pass-word") }}"#, &data).unwrap(),
            "app:hunter2"
        );
        assert_eq!(
            render("{{ .user | printf \"<%s>\" }}", &data).unwrap(),
            "<app>"
        );
    }

    #[test]
    fn a_config_file_template_renders_like_go() {
        let src = "[db]\n{{- range $k, $v := . }}\n{{ $k }} = {{ $v | quote }}\n{{- end }}\n";
        assert_eq!(
            render(src, &[("user", "app"), ("host", "db.local")]).unwrap(),
            "[db]\nhost = \"db.local\"\nuser = \"app\"\n"
        );
    }

    #[test]
    fn conditionals_with_and_variables_follow_go() {
        let data = [("mode", "prod"), ("empty", "")];
        let src = r#"{{ if eq .mode "dev" }}d{{ else if eq .mode "prod" }}p{{ else }}x{{ end }}"#;
        assert_eq!(render(src, &data).unwrap(), "p");
        assert_eq!(
            render("{{ with .empty }}yes{{ else }}no{{ end }}", &data).unwrap(),
            "no"
        );
        assert_eq!(
            render("{{ with .mode }}{{ . }}{{ end }}", &data).unwrap(),
            "prod"
        );
        assert_eq!(
            render("{{ $x := .mode }}{{ $x = upper $x }}{{ $x }}", &data).unwrap(),
            "PROD"
        );
        assert_eq!(render("{{ $.mode }}", &data).unwrap(), "prod");
    }

    #[test]
    fn json_values_are_reachable_through_fromjson() {
        let data = [("config", r#"{"db":{"port":5432,"hosts":["a","b"]}}"#)];
        assert_eq!(
            render("{{ (.config | fromJson).db.port }}", &data).unwrap(),
            "5432"
        );
        assert_eq!(
            render(
                r#"{{ range (fromJson .config).db.hosts }}{{ . }};{{ end }}"#,
                &data
            )
            .unwrap(),
            "a;b;"
        );
    }

    #[test]
    fn range_supports_break_continue_and_else() {
        let src = r#"{{ range $i, $v := splitList "," .list }}{{ if eq $v "skip" }}{{ continue }}{{ end }}{{ if eq $v "stop" }}{{ break }}{{ end }}{{ $i }}{{ $v }} {{ end }}"#;
        assert_eq!(
            render(src, &[("list", "a,skip,b,stop,c")]).unwrap(),
            "0a 2b "
        );
        assert_eq!(
            render("{{ range list }}x{{ else }}empty{{ end }}", &[]).unwrap(),
            "empty"
        );
        assert_eq!(
            render("{{ range .s }}x{{ end }}", &[("s", "abc")])
                .unwrap_err()
                .to_string(),
            "template: line 1, column 1: range can't iterate over string"
        );
        assert_eq!(render("{{ range 3 }}{{ . }}{{ end }}", &[]).unwrap(), "012");
    }

    #[test]
    fn a_missing_key_is_an_error_by_default_and_no_value_for_bitnami() {
        let err = render("line one\n  {{ .nope }}", &[("a", "secret-value")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "template: line 2, column 6: map has no entry for key \"nope\""
        );
        let t = Template::parse("{{ .nope }}")
            .unwrap()
            .missing_key(MissingKey::NoValue);
        assert_eq!(t.render(&BTreeMap::new()).unwrap().expose(), b"<no value>");
    }

    #[test]
    fn errors_never_carry_a_value() {
        let data = [("k", "hunter2-not-base64!")];
        for src in [
            "{{ .k | b64dec }}",
            "{{ .k | fromJson }}",
            "{{ .k | atoi }}",
            "{{ fail .k }}",
            "{{ .k.field }}",
            "{{ env .k }}",
        ] {
            let err = render(src, &data).unwrap_err().to_string();
            assert!(!err.contains("hunter2"), "{src}: {err}");
            assert!(err.starts_with("template: line 1, column "), "{err}");
        }
    }

    #[test]
    fn environment_files_and_network_are_out_of_reach() {
        let err = render(r#"{{ env "HOME" }}"#, &[]).unwrap_err().to_string();
        assert_eq!(
            err,
            "template: line 1, column 4: function \"env\" not defined"
        );
        assert!(render(r#"{{ define "x" }}{{ end }}"#, &[]).is_err());
        assert!(render(r#"{{ template "x" }}"#, &[]).is_err());
    }

    #[test]
    fn runaway_templates_are_stopped() {
        let err = render("{{ range 2000000 }}{{ end }}", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("more than 1000000 steps"), "{err}");
        let err = render("{{ range 100 }}{{ repeat 1048576 \"x\" }}{{ end }}", &[]).unwrap_err();
        assert!(matches!(err, Error::OutputTooLarge { .. }));
    }

    #[test]
    fn parse_errors_point_at_the_action() {
        for (src, want) in [
            (
                "{{ if .a }}x",
                "template: line 1, column 1: unexpected EOF: {{if}} without {{end}}",
            ),
            (
                "a\n{{ end }}",
                "template: line 2, column 1: unexpected {{end}}",
            ),
            (
                "{{ .a | }}",
                "template: line 1, column 1: missing value for command",
            ),
            (
                "{{ .a ) }}",
                "template: line 1, column 7: unexpected token in pipeline",
            ),
        ] {
            assert_eq!(Template::parse(src).unwrap_err().to_string(), want, "{src}");
        }
    }

    proptest::proptest! {
        #[test]
        fn a_field_action_renders_the_value_byte_for_byte(value in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let values = BTreeMap::from([("k".to_owned(), SecretBytes::new(value.clone()))]);
            let out = Template::parse("<{{ .k }}>").unwrap().render(&values).unwrap();
            let want = [b"<".as_slice(), &value, b">"].concat();
            proptest::prop_assert_eq!(out.expose(), want.as_slice());
        }

        #[test]
        fn text_without_delimiters_renders_unchanged(text in "[^{}]{0,64}") {
            let out = Template::parse(&text).unwrap().render(&BTreeMap::new()).unwrap();
            proptest::prop_assert_eq!(out.expose(), text.as_bytes());
        }

        #[test]
        fn b64enc_then_b64dec_is_the_identity(value in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let values = BTreeMap::from([("k".to_owned(), SecretBytes::new(value.clone()))]);
            let out = Template::parse("{{ .k | b64enc | b64dec }}").unwrap().render(&values).unwrap();
            proptest::prop_assert_eq!(out.expose(), value.as_slice());
        }

        #[test]
        fn arbitrary_input_never_panics_the_parser(src in ".{0,80}") {
            let _ = Template::parse(&src).map(|t| t.render(&BTreeMap::new()));
        }
    }

    #[test]
    fn non_utf8_values_pass_through_unchanged() {
        let values = BTreeMap::from([("bin".to_owned(), SecretBytes::new(vec![0xff, 0x00, 0xfe]))]);
        let out = Template::parse("{{ .bin }}")
            .unwrap()
            .render(&values)
            .unwrap();
        assert_eq!(out.expose(), &[0xff, 0x00, 0xfe]);
        let out = Template::parse("{{ .bin | b64enc }}")
            .unwrap()
            .render(&values)
            .unwrap();
        assert_eq!(out.expose(), b"/wD+");
    }
}
