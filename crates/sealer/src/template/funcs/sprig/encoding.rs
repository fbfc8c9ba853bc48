//! Sprig's encodings and digests: `b64enc b64dec sha256sum toJson toRawJson toPrettyJson
//! fromJson toYaml fromYaml`.
//!
//! Encoders check the result's size before they allocate it (base64) or write into a bounded
//! buffer after checking the value's weight (JSON, YAML: a value that shares itself at every
//! level is small in memory but exponential in text). Decoders pay for every node they make
//! ([`crate::template`]'s `decode`). Errors never carry the parser's position in the input.

use sha2::Digest as _;
use zeroize::Zeroizing;

use super::super::super::budget::Budget;
use super::super::super::decode::{self, DecodeError};
use super::super::super::sink::Sink;
use super::super::super::value::Value;
use super::super::{Failure, Func, Outcome, exact, finish, invalid, string_arg};
use crate::encoding;

/// The encoding function called `name`, if there is one.
pub(super) fn lookup(name: &str) -> Option<Func> {
    Some(match name {
        "b64enc" => b64enc,
        "b64dec" => b64dec,
        "sha256sum" => sha256sum,
        "toJson" | "toRawJson" | "toPrettyJson" => to_json,
        "toYaml" => to_yaml,
        "fromJson" | "fromYaml" => from_text,
        _ => return None,
    })
}

fn b64enc(name: &str, args: Vec<Value>, budget: &mut Budget) -> Outcome {
    let [v] = exact::<1>(name, args)?;
    let s = string_arg(name, &v)?;
    budget.charge(s.len())?;
    budget.charge_string(s.len().div_ceil(3).saturating_mul(4))?;
    Ok(Value::str(encoding::encode_std(&s).into_bytes()))
}

fn b64dec(name: &str, args: Vec<Value>, budget: &mut Budget) -> Outcome {
    let [v] = exact::<1>(name, args)?;
    let s = string_arg(name, &v)?;
    budget.charge(s.len())?;
    let not_base64 = || invalid("b64dec: input is not valid base64");
    let text = std::str::from_utf8(&s).map_err(|_| not_base64())?;
    let decoded = Zeroizing::new(encoding::decode_std(text).map_err(|_| not_base64())?);
    budget.charge_string(decoded.len())?;
    Ok(Value::bytes(decoded))
}

fn sha256sum(name: &str, args: Vec<Value>, budget: &mut Budget) -> Outcome {
    let [v] = exact::<1>(name, args)?;
    let s = string_arg(name, &v)?;
    budget.charge(s.len())?;
    Ok(Value::str(hex::encode(sha2::Sha256::digest(s.as_slice()))))
}

/// `toJson` and `toPrettyJson` escape `<`, `>`, `&`, U+2028 and U+2029 as Go's
/// `encoding/json` does; `toRawJson` does not.
fn to_json(name: &str, args: Vec<Value>, budget: &mut Budget) -> Outcome {
    let [v] = exact::<1>(name, args)?;
    let mut out = Sink::for_string(budget);
    out.check_room(v.weight().saturating_sub(1))?;
    let written = if name == "toPrettyJson" {
        serde_json::to_writer_pretty(&mut out, &v)
    } else {
        serde_json::to_writer(&mut out, &v)
    };
    if written.is_err() {
        return Err(serializer_failure(name, &out));
    }
    if name == "toRawJson" {
        return finish(out, budget);
    }
    budget.charge(out.len())?;
    let mut escaped = Sink::for_string(budget);
    html_escape_json(out.as_slice(), &mut escaped)?;
    finish(escaped, budget)
}

/// Go's `encoding/json` escapes `<`, `>`, `&`, U+2028 and U+2029 (Sprig's `toJson` inherits
/// it). Those characters only occur inside strings of JSON text, so replacing them everywhere
/// is exact.
fn html_escape_json(json: &[u8], out: &mut Sink) -> Result<(), Failure> {
    let mut i = 0;
    while i < json.len() {
        match json[i] {
            b'<' => out.extend(b"\\u003c")?,
            b'>' => out.extend(b"\\u003e")?,
            b'&' => out.extend(b"\\u0026")?,
            0xE2 if json.get(i + 1) == Some(&0x80)
                && matches!(json.get(i + 2), Some(0xA8 | 0xA9)) =>
            {
                out.extend(if json[i + 2] == 0xA8 {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                })?;
                i += 2;
            }
            b => out.push(b)?,
        }
        i += 1;
    }
    Ok(())
}

/// Sprig's `toYaml`: the YAML text without its final newline.
fn to_yaml(name: &str, args: Vec<Value>, budget: &mut Budget) -> Outcome {
    let [v] = exact::<1>(name, args)?;
    let mut out = Sink::for_string(budget);
    out.check_room(v.weight().saturating_sub(1))?;
    if serde_yaml_ng::to_writer(&mut out, &v).is_err() {
        return Err(serializer_failure(name, &out));
    }
    budget.charge(out.len())?;
    let mut text = out.into_bytes();
    if text.last() == Some(&b'\n') {
        text.pop();
    }
    Ok(Value::bytes(text))
}

fn serializer_failure(name: &str, out: &Sink) -> Failure {
    if out.overflowed() {
        Failure::Limit(out.over())
    } else {
        invalid(format!("{name}: value cannot be encoded"))
    }
}

/// `fromJson` and `fromYaml`.
fn from_text(name: &str, args: Vec<Value>, budget: &mut Budget) -> Outcome {
    let [v] = exact::<1>(name, args)?;
    let s = string_arg(name, &v)?;
    budget.charge(s.len())?;
    let decoded = if name == "fromJson" {
        decode::from_json(&s, budget)
    } else {
        decode::from_yaml(&s, budget)
    };
    decoded.map_err(|e| match e {
        DecodeError::Limit(limit) => Failure::Limit(limit),
        DecodeError::Invalid if name == "fromJson" => invalid("fromJson: input is not valid JSON"),
        DecodeError::Invalid => invalid("fromYaml: input is not valid YAML"),
    })
}

#[cfg(test)]
mod tests {
    use super::super::super::tests::{failure, reason, run, s, text};
    use super::*;
    use crate::template::Limit;

    #[test]
    fn encodings_round_trip_and_reject_garbage() {
        assert_eq!(text(run("b64enc", vec![s("hunter2")])), "aHVudGVyMg==");
        assert_eq!(text(run("b64dec", vec![s("aHVudGVyMg==")])), "hunter2");
        assert_eq!(
            reason(run("b64dec", vec![s("not base64!")])),
            "b64dec: input is not valid base64"
        );
        assert_eq!(
            text(run("sha256sum", vec![s("abc")])),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn json_and_yaml_follow_go() {
        let parsed = run("fromJson", vec![s(r#"{"b":[1,2.5],"a":"<x>"}"#)]).unwrap();
        assert_eq!(
            text(run("toJson", vec![parsed.clone()])),
            r#"{"a":"\u003cx\u003e","b":[1,2.5]}"#
        );
        assert_eq!(
            text(run("toRawJson", vec![parsed.clone()])),
            r#"{"a":"<x>","b":[1,2.5]}"#
        );
        assert_eq!(
            text(run("toPrettyJson", vec![parsed.clone()])),
            "{\n  \"a\": \"\\u003cx\\u003e\",\n  \"b\": [\n    1,\n    2.5\n  ]\n}"
        );
        assert_eq!(text(run("toYaml", vec![parsed])), "a: <x>\nb:\n- 1\n- 2.5");
        assert_eq!(
            text(run("toJson", vec![s("\u{2028}&")])),
            r#""\u2028\u0026""#
        );
        let yaml = run("fromYaml", vec![s("k: v\nn: 3")]).unwrap();
        assert_eq!(
            text(super::super::super::call(
                "index",
                vec![yaml, s("n")],
                &mut Budget::default()
            )),
            "3"
        );
    }

    // issue 13: parser messages carried the line and column of the error inside the value.
    #[test]
    fn decode_errors_say_nothing_about_the_input() {
        assert_eq!(
            reason(run("fromJson", vec![s("{\"a\": hunter2}")])),
            "fromJson: input is not valid JSON"
        );
        assert_eq!(
            reason(run("fromYaml", vec![s("a: [hunter2")])),
            "fromYaml: input is not valid YAML"
        );
    }

    #[test]
    fn encoding_a_self_sharing_value_is_refused_before_writing() {
        let mut v = s("x");
        for _ in 0..40 {
            v = Value::list(vec![v.clone(), v]);
        }
        for name in ["toJson", "toPrettyJson", "toYaml", "toRawJson"] {
            assert_eq!(
                failure(run(name, vec![v.clone()])),
                Failure::Limit(Limit::Output(1 << 20)),
                "{name}"
            );
        }
        assert_eq!(
            failure(run("b64enc", vec![s(&"x".repeat(800_000))])),
            Failure::Limit(Limit::Output(1 << 20))
        );
    }
}
