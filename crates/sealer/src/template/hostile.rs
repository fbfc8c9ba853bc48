//! Templates written to hurt the process that renders them (issue 13): each one is an error of
//! its own render, with a message that names the function and the budget, and the process
//! goes on.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::{Budget, Data, Error, Limit, Limits, Template};
use crate::secret::SecretBytes;

fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, SecretBytes> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), SecretBytes::new(v.as_bytes().to_vec())))
        .collect()
}

fn render(src: &str, pairs: &[(&str, &str)]) -> Result<String, Error> {
    let out = Template::parse(src)?.render(&values(pairs))?;
    Ok(String::from_utf8_lossy(out.expose()).into_owned())
}

/// The limit an error reports, if it is a budget error.
fn limit(e: &Error) -> Option<Limit> {
    match e {
        Error::Limit { limit, .. } => Some(*limit),
        _ => None,
    }
}

/// Runs `f` on a thread with the default 2 MiB stack of spawned threads (and of Tokio's
/// blocking pool, where the controller renders SealedSecret templates).
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

// issue 13: `{{ printf "%999999999999d" 1 }}` aborted the controller on every restart
// (allocation failure). Go's fmt stops reading a width past 10^6 and loses the verb.
#[test]
fn an_overlong_printf_width_prints_what_go_prints() {
    assert_eq!(
        render(r#"{{ printf "%999999999999d" 1 }}"#, &[]).unwrap(),
        "%!(NOVERB)%!(EXTRA int=1)"
    );
    assert_eq!(
        render(r#"{{ printf "%*d" 999999999999 1 }}"#, &[]).unwrap(),
        "%!(BADWIDTH)1"
    );
}

// issue 13: widths Go still accepts (up to 10^7) are refused by the output budget before the
// padding is allocated.
#[test]
fn a_printf_width_past_the_output_budget_is_an_error_naming_printf() {
    let err = render(r#"{{ printf "%10000000d" 1 }}"#, &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "template: line 1, column 4: printf exceeds the output budget of 1048576 bytes"
    );
}

// issue 13: `{{ range 100000000000 }}` in an ExternalSecret template built a list of 10^11
// integers first.
#[test]
fn range_over_a_huge_integer_stops_at_the_step_budget() {
    let err = render("{{ range 100000000000 }}{{ end }}", &[]).unwrap_err();
    assert_eq!(limit(&err), Some(Limit::Steps(1_000_000)));
    assert_eq!(
        err.to_string(),
        "template: line 1, column 1: range exceeds the step budget of 1000000 steps"
    );
    assert_eq!(render("{{ range 3 }}{{ . }}{{ end }}", &[]).unwrap(), "012");
}

// issue 13: 5,000 nested `{{if 1}}` overflowed the stack. Every nesting construct stops at
// the depth budget, on the 2 MiB stack of an ordinary thread, even 100,000 levels deep.
#[test]
fn nesting_100000_levels_deep_is_an_error_not_a_stack_overflow() {
    let errors = on_small_stack(|| {
        let n = 100_000;
        let deep = [
            "{{ if 1 }}".repeat(n) + &"{{ end }}".repeat(n),
            "{{ with 1 }}".repeat(n) + &"{{ end }}".repeat(n),
            "{{ range 1 }}".repeat(n) + &"{{ end }}".repeat(n),
            "{{ if 1 }}{{ else }}".repeat(n) + &"{{ end }}".repeat(n),
            format!("{{{{ {}1{} }}}}", "(".repeat(n), ")".repeat(n)),
            format!("{{{{ {}1{} }}}}", "(list ".repeat(n), ")".repeat(n)),
            "{{ if 1 }}".repeat(5_000),
        ];
        // A work budget large enough for all the tokens, so that depth is what stops them.
        let limits = Limits {
            work: 1 << 30,
            ..Limits::default()
        };
        deep.iter()
            .map(|src| {
                Template::parse_with(src, limits)
                    .map(|_| ())
                    .map_err(|e| limit(&e))
            })
            .collect::<Vec<_>>()
    });
    for result in errors {
        assert_eq!(result, Err(Some(Limit::Depth(100))));
    }
}

#[test]
fn nesting_up_to_the_depth_budget_renders() {
    let out = on_small_stack(|| {
        let n = 100;
        let src = "{{ if 1 }}".repeat(n) + "x" + &"{{ end }}".repeat(n);
        let parens = format!("{{{{ {}1{} }}}}", "(".repeat(n), ")".repeat(n));
        (render(&src, &[]), render(&parens, &[]))
    });
    assert_eq!(out.0.unwrap(), "x");
    assert_eq!(out.1.unwrap(), "1");
}

// A loop can nest a value without nesting the template: the depth budget stops it, so no
// print, encode or drop of the value recurses without bound.
#[test]
fn a_loop_that_nests_a_list_in_itself_stops_at_the_depth_budget() {
    let err = on_small_stack(|| {
        render(
            "{{ $x := list }}{{ range 100000 }}{{ $x = list $x }}{{ end }}{{ $x }}",
            &[],
        )
        .unwrap_err()
    });
    assert_eq!(limit(&err), Some(Limit::Depth(100)));
    assert!(
        err.to_string().contains(": list exceeds the depth budget"),
        "{err}"
    );
}

#[test]
fn deeply_nested_json_and_yaml_values_stop_at_the_depth_budget() {
    let deep_json = "[".repeat(100_000) + &"]".repeat(100_000);
    let deep_yaml = "- ".repeat(100_000) + "x";
    let errors = on_small_stack(move || {
        [
            render("{{ fromJson .v }}", &[("v", &deep_json)]).unwrap_err(),
            render("{{ fromYaml .v }}", &[("v", &deep_yaml)]).unwrap_err(),
        ]
    });
    for err in errors {
        let text = err.to_string();
        assert!(
            limit(&err) == Some(Limit::Depth(100)) || text.ends_with("is not valid YAML"),
            "{text}"
        );
    }
}

// A value that holds itself twice per level is small in memory and 2^40 elements long in
// print: it is refused before anything is written.
#[test]
fn printing_a_self_sharing_value_is_refused_before_writing() {
    let src = r#"{{ $x := list "x" }}{{ range 40 }}{{ $x = list $x $x }}{{ end }}"#;
    for tail in [
        "{{ $x }}",
        "{{ toJson $x }}",
        "{{ toYaml $x }}",
        "{{ printf \"%v\" $x }}",
    ] {
        let err = render(&format!("{src}{tail}"), &[]).unwrap_err();
        assert_eq!(limit(&err), Some(Limit::Output(1 << 20)), "{tail}: {err}");
    }
}

#[test]
fn output_is_bounded_before_it_grows() {
    let err = render("{{ range 100 }}{{ repeat 1048576 \"x\" }}{{ end }}", &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "template: line 1, column 16: output exceeds the output budget of 1048576 bytes"
    );
    let err = render("{{ repeat 2000000 \"x\" }}", &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "template: line 1, column 4: repeat exceeds the output budget of 1048576 bytes"
    );
}

// One object holds many templates: one budget bounds them together.
#[test]
fn a_budget_shared_by_many_templates_bounds_the_object() {
    let template = Template::parse("{{ repeat 1000000 \"x\" }}").unwrap();
    let data = Data::new(&BTreeMap::new());
    let mut budget = Budget::new(Limits::default());
    let mut rendered = 0;
    let err = loop {
        match template.execute(&data, &mut budget) {
            Ok(_) => rendered += 1,
            Err(e) => break e,
        }
    };
    // Each render pays for the string `repeat` builds and for the output it writes.
    assert_eq!(rendered, 16);
    assert_eq!(limit(&err), Some(Limit::Work(32 << 20)));
}

#[test]
fn growing_strings_in_a_loop_runs_out_of_work_budget() {
    let err = render(
        r#"{{ $s := repeat 500000 "x" }}{{ range 1000 }}{{ $t := print $s $s }}{{ end }}"#,
        &[],
    )
    .unwrap_err();
    assert_eq!(limit(&err), Some(Limit::Work(32 << 20)), "{err}");
    assert!(
        err.to_string().contains(": print exceeds the work budget"),
        "{err}"
    );
}

// issue 13: `index .password 99` said "length 14", an oracle for someone who may edit the
// template but not read the value. No message carries a value's length, content or a
// position inside it; positions in the template are fine (the template is not secret).
#[test]
fn errors_carry_no_length_position_or_content_of_a_value() {
    let secret = [
        ("password", "hunter2-secret"),
        ("json", "{\"a\": hunter2}"),
        ("n", "-14"),
    ];
    for (src, want) in [
        (
            "{{ index .password 99 }}",
            "line 1, column 4: index out of range",
        ),
        (
            "{{ index (splitList \"-\" .password) 99 }}",
            "line 1, column 4: index out of range",
        ),
        (
            "{{ fromJson .json }}",
            "line 1, column 4: fromJson: input is not valid JSON",
        ),
        (
            "{{ fromYaml \"a: [\" }}",
            "line 1, column 4: fromYaml: input is not valid YAML",
        ),
        (
            "{{ repeat (atoi .n) \"x\" }}",
            "line 1, column 4: repeat: negative count",
        ),
        (
            "{{ .password | b64dec }}",
            "line 1, column 16: b64dec: input is not valid base64",
        ),
        (
            "{{ .password | atoi }}",
            "line 1, column 16: atoi: input is not an integer",
        ),
    ] {
        let err = render(src, &secret).unwrap_err().to_string();
        assert_eq!(err, format!("template: {want}"), "{src}");
    }
}

fn pipeline() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just(".a".to_owned()),
        Just(".b".to_owned()),
        Just(".".to_owned()),
        Just("$".to_owned()),
        Just("$x".to_owned()),
        (-3i64..3000).prop_map(|n| n.to_string()),
        "[a-z%*.0-9, \\-]{0,8}".prop_map(|s| format!("{s:?}")),
        Just("nil".to_owned()),
        Just("true".to_owned()),
    ];
    let funcs = [
        "and",
        "or",
        "not",
        "eq",
        "lt",
        "len",
        "index",
        "print",
        "println",
        "printf",
        "default",
        "empty",
        "coalesce",
        "ternary",
        "toString",
        "upper",
        "lower",
        "title",
        "trim",
        "trimAll",
        "trimPrefix",
        "contains",
        "hasPrefix",
        "replace",
        "repeat",
        "substr",
        "trunc",
        "quote",
        "squote",
        "cat",
        "indent",
        "nindent",
        "split",
        "splitList",
        "join",
        "list",
        "dict",
        "get",
        "hasKey",
        "keys",
        "sortAlpha",
        "b64enc",
        "b64dec",
        "sha256sum",
        "toJson",
        "toPrettyJson",
        "fromJson",
        "toYaml",
        "fromYaml",
        "atoi",
        "int",
        "float64",
    ];
    leaf.prop_recursive(4, 24, 4, move |inner| {
        (
            proptest::sample::select(funcs.to_vec()),
            proptest::collection::vec(inner, 0..4),
        )
            .prop_map(|(f, args)| format!("({f} {})", args.join(" ")))
    })
}

fn template() -> impl Strategy<Value = String> {
    let statement = prop_oneof![
        "[a-z \n]{0,4}",
        pipeline().prop_map(|p| format!("{{{{ {p} }}}}")),
        pipeline().prop_map(|p| format!("{{{{ $x = {p} }}}}")),
    ];
    statement.prop_recursive(3, 16, 4, |inner| {
        (
            proptest::sample::select(vec!["if", "with", "range"]),
            pipeline(),
            proptest::collection::vec(inner, 0..4),
        )
            .prop_map(|(keyword, p, body)| {
                format!("{{{{ {keyword} {p} }}}}{}{{{{ end }}}}", body.concat())
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_templates_over_random_data_never_panic_and_respect_the_budget(
        body in proptest::collection::vec(template(), 1..6),
        a in "[a-z0-9,\\[\\]{}\":]{0,24}",
        b in proptest::collection::vec(proptest::num::u8::ANY, 0..16),
    ) {
        let limits = Limits { output: 4096, work: 1 << 20, steps: 20_000, depth: 12 };
        let src = format!("{{{{ $x := 0 }}}}{}", body.concat());
        let data = BTreeMap::from([
            ("a".to_owned(), SecretBytes::new(a.into_bytes())),
            ("b".to_owned(), SecretBytes::new(b)),
        ]);
        if let Ok(template) = Template::parse_with(&src, limits)
            && let Ok(out) = template.render(&data)
        {
            prop_assert!(out.len() <= limits.output);
        }
    }
}
