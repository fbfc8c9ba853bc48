//! A parsed template, the data it renders over, and rendering within a [`Budget`].

use std::collections::BTreeMap;
use std::fmt;

use super::budget::{Budget, Limits};
use super::error::Result;
use super::exec::Exec;
use super::value::Value;
use super::{lex, parse};
use crate::secret::SecretBytes;

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

/// The data a template renders over (`.`), built once and shared by every template of an
/// object. Prints `[REDACTED]`; its bytes are wiped when dropped.
pub struct Data {
    root: Value,
}

impl fmt::Debug for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Data([REDACTED])")
    }
}

impl Data {
    /// `.` bound to `values`: item name → value, each a Go string.
    pub fn new(values: &BTreeMap<String, SecretBytes>) -> Self {
        Self {
            root: strings(values),
        }
    }

    /// `.` bound to a map of maps, so `{{ .remoteRef.key }}` and `{{ .creds.token }}` work:
    /// what ESO's webhook provider gives its URL, header and body templates
    /// (`providers/v1/webhook`).
    pub fn nested(values: &BTreeMap<String, BTreeMap<String, SecretBytes>>) -> Self {
        Self {
            root: Value::map(
                values
                    .iter()
                    .map(|(name, inner)| (name.clone(), strings(inner)))
                    .collect(),
            ),
        }
    }
}

fn strings(values: &BTreeMap<String, SecretBytes>) -> Value {
    Value::map(
        values
            .iter()
            .map(|(k, v)| (k.clone(), Value::str(v.expose())))
            .collect(),
    )
}

/// A parsed template, ready to render many times.
#[derive(Debug)]
pub struct Template {
    source: String,
    nodes: Vec<parse::Node>,
    missing: MissingKey,
    limits: Limits,
}

impl Template {
    /// Parses `source` within [`Limits::default`]. A template that does not parse is an
    /// error with its line and column.
    pub fn parse(source: &str) -> Result<Self> {
        Self::parse_with(source, Limits::default())
    }

    /// Parses `source`, nesting at most `limits.depth` levels and holding at most
    /// `limits.work / 64` tokens; [`Template::render`] and [`Template::render_nested`] render
    /// within `limits` too.
    pub fn parse_with(source: &str, limits: Limits) -> Result<Self> {
        let items = lex::lex(source, &limits)?;
        let nodes = parse::parse(source, items, &limits)?;
        Ok(Self {
            source: source.to_owned(),
            nodes,
            missing: MissingKey::default(),
            limits,
        })
    }

    /// Sets what a missing map key does.
    #[must_use]
    pub fn missing_key(mut self, missing: MissingKey) -> Self {
        self.missing = missing;
        self
    }

    /// Renders with `.` bound to `values` (item name → value, each a Go string), within a
    /// fresh budget of the limits the template was parsed with.
    pub fn render(&self, values: &BTreeMap<String, SecretBytes>) -> Result<SecretBytes> {
        self.execute(&Data::new(values), &mut Budget::new(self.limits))
    }

    /// Renders with `.` bound to a map of maps (see [`Data::nested`]), within a fresh budget.
    pub fn render_nested(
        &self,
        values: &BTreeMap<String, BTreeMap<String, SecretBytes>>,
    ) -> Result<SecretBytes> {
        self.execute(&Data::nested(values), &mut Budget::new(self.limits))
    }

    /// Renders over `data`, paying from `budget`: pass one budget to every template of one
    /// object so that the object as a whole stays within it.
    pub fn execute(&self, data: &Data, budget: &mut Budget) -> Result<SecretBytes> {
        let mut out = Exec::run(&self.source, &self.nodes, &data.root, self.missing, budget)?;
        // `SecretBytes` keeps a boxed slice: a buffer with spare capacity would be reallocated
        // on the way, leaving a copy behind. Copy into an exact one and wipe the old instead.
        if out.capacity() == out.len() {
            Ok(SecretBytes::new(std::mem::take(&mut *out)))
        } else {
            Ok(SecretBytes::new(out.to_vec()))
        }
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
