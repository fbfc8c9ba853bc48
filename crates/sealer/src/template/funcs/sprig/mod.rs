//! The Sprig functions (`github.com/Masterminds/sprig/v3`) that SealedSecret and ExternalSecret
//! templates use: defaults and logic and numbers here, [`strings`], [`lists`] (lists, dicts,
//! splitting and joining) and [`encoding`] (base64, digests, JSON, YAML).

mod encoding;
mod lists;
mod strings;

use super::super::budget::Budget;
use super::super::value::Value;
use super::{Func, Outcome, exact, int_arg, invalid, string_arg};

/// The Sprig function called `name`, if sealkit has it.
pub(super) fn lookup(name: &str) -> Option<Func> {
    Some(match name {
        "default" => default,
        "empty" => empty,
        "coalesce" => coalesce,
        "ternary" => ternary,
        "fail" => fail,
        "atoi" => atoi,
        "int" | "int64" => int,
        "float64" => float64,
        _ => {
            return strings::lookup(name)
                .or_else(|| lists::lookup(name))
                .or_else(|| encoding::lookup(name));
        }
    })
}

/// `default d given`: `given` unless it is empty.
fn default(name: &str, args: Vec<Value>, _: &mut Budget) -> Outcome {
    match args.len() {
        1 => Ok(args.into_iter().next().unwrap_or(Value::Nil)),
        2 => {
            let [default, given] = exact::<2>(name, args)?;
            Ok(if given.truthy() { given } else { default })
        }
        n => Err(invalid(format!(
            "wrong number of args for default: want 1 or 2 got {n}"
        ))),
    }
}

fn empty(name: &str, args: Vec<Value>, _: &mut Budget) -> Outcome {
    let [v] = exact::<1>(name, args)?;
    Ok(Value::Bool(!v.truthy()))
}

fn coalesce(_: &str, args: Vec<Value>, _: &mut Budget) -> Outcome {
    Ok(args.into_iter().find(Value::truthy).unwrap_or(Value::Nil))
}

fn ternary(name: &str, args: Vec<Value>, _: &mut Budget) -> Outcome {
    let [yes, no, cond] = exact::<3>(name, args)?;
    Ok(if cond.truthy() { yes } else { no })
}

fn fail(_: &str, _: Vec<Value>, _: &mut Budget) -> Outcome {
    // The message could carry a secret value: report that the template failed, not why.
    Err(invalid("the template called fail"))
}

fn atoi(name: &str, args: Vec<Value>, budget: &mut Budget) -> Outcome {
    let [v] = exact::<1>(name, args)?;
    let s = string_arg(name, &v)?;
    budget.charge(s.len())?;
    std::str::from_utf8(&s)
        .ok()
        .and_then(|t| t.trim().parse::<i64>().ok())
        .map(Value::Int)
        .ok_or_else(|| invalid("atoi: input is not an integer"))
}

fn int(name: &str, args: Vec<Value>, budget: &mut Budget) -> Outcome {
    let [v] = exact::<1>(name, args)?;
    Ok(Value::Int(int_arg(name, &v, budget)?))
}

fn float64(name: &str, args: Vec<Value>, budget: &mut Budget) -> Outcome {
    let [v] = exact::<1>(name, args)?;
    Ok(Value::Float(match v {
        Value::Int(n) => n as f64,
        Value::Float(f) => f,
        Value::Str(s) => {
            budget.charge(s.len())?;
            std::str::from_utf8(&s)
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .ok_or_else(|| invalid("float64: input is not a number"))?
        }
        other => {
            return Err(invalid(format!(
                "float64: cannot convert a {}",
                other.kind()
            )));
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{run, s, text};
    use super::*;

    #[test]
    fn defaults_and_numbers_follow_sprig() {
        assert_eq!(text(run("default", vec![s("x"), s("")])), "x");
        assert_eq!(text(run("default", vec![s("x"), s("y")])), "y");
        assert_eq!(text(run("coalesce", vec![s(""), Value::Nil, s("z")])), "z");
        assert_eq!(
            text(run("ternary", vec![s("a"), s("b"), Value::Bool(false)])),
            "b"
        );
        assert_eq!(text(run("atoi", vec![s(" 42 ")])), "42");
        assert_eq!(text(run("int", vec![Value::Float(3.9)])), "3");
        assert_eq!(text(run("float64", vec![s("2.5")])), "2.5");
    }
}
