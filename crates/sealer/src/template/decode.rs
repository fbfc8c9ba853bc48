//! `fromJson` and `fromYaml`: text into template values as Go decodes into `interface{}`
//! (numbers become float64), each node paid for from the [`Budget`] before it is made and no
//! deeper than [`super::Limits::depth`] (a YAML alias bomb or a 100-level JSON array runs out
//! of budget instead of memory or stack).

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::budget::{Budget, Limit, SLOT};
use super::value::Value;

/// Why text did not decode.
#[derive(Debug)]
pub(crate) enum DecodeError {
    /// Not valid JSON or YAML (the parser's message and position stay out: the text is secret).
    Invalid,
    /// A budget ran out.
    Limit(Limit),
}

/// Decodes one JSON value.
pub(crate) fn from_json(text: &[u8], budget: &mut Budget) -> Result<Value, DecodeError> {
    let mut over = None;
    let mut de = serde_json::Deserializer::from_slice(text);
    let decoded = Seed {
        budget,
        depth: 0,
        over: &mut over,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    finish(decoded, over)
}

/// Decodes one YAML document.
pub(crate) fn from_yaml(text: &[u8], budget: &mut Budget) -> Result<Value, DecodeError> {
    let mut over = None;
    let decoded = Seed {
        budget,
        depth: 0,
        over: &mut over,
    }
    .deserialize(serde_yaml_ng::Deserializer::from_slice(text));
    finish(decoded, over)
}

fn finish<E>(decoded: Result<Value, E>, over: Option<Limit>) -> Result<Value, DecodeError> {
    match (decoded, over) {
        (_, Some(limit)) => Err(DecodeError::Limit(limit)),
        (Ok(value), None) => Ok(value),
        (Err(_), None) => Err(DecodeError::Invalid),
    }
}

/// Builds one value `depth` containers down, paying for it first.
struct Seed<'b> {
    budget: &'b mut Budget,
    depth: usize,
    over: &'b mut Option<Limit>,
}

impl Seed<'_> {
    fn pay<E: de::Error>(&mut self, result: Result<(), Limit>) -> Result<(), E> {
        result.map_err(|limit| {
            *self.over = Some(limit);
            E::custom("template budget exhausted")
        })
    }

    fn child(&mut self) -> Seed<'_> {
        Seed {
            budget: self.budget,
            depth: self.depth + 1,
            over: self.over,
        }
    }

    fn enter<E: de::Error>(&mut self) -> Result<(), E> {
        let result = self.budget.check_depth(self.depth + 1);
        self.pay(result)
    }

    fn string<E: de::Error>(mut self, bytes: Vec<u8>) -> Result<Value, E> {
        let result = self.budget.charge(SLOT.saturating_add(bytes.len()));
        self.pay(result)?;
        Ok(Value::str(bytes))
    }

    fn scalar<E: de::Error>(mut self, value: Value) -> Result<Value, E> {
        let result = self.budget.charge(SLOT);
        self.pay(result)?;
        Ok(value)
    }
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON or YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.scalar(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.scalar(Value::Float(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.scalar(Value::Float(v as f64))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.scalar(Value::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.string(v.as_bytes().to_vec())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.string(v.into_bytes())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.scalar(Value::Nil)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.scalar(Value::Nil)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Value, A::Error> {
        self.enter()?;
        let mut items = Vec::new();
        loop {
            let result = self.budget.charge(SLOT);
            self.pay(result)?;
            match seq.next_element_seed(self.child())? {
                Some(item) => items.push(item),
                None => break,
            }
        }
        Ok(Value::list(items))
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Value, A::Error> {
        self.enter()?;
        let mut entries = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            let result = self.budget.charge(SLOT.saturating_add(key.len()));
            self.pay(result)?;
            let value = map.next_value_seed(self.child())?;
            entries.insert(key, value);
        }
        Ok(Value::map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::super::Limits;
    use super::*;

    fn budget(work: usize, depth: usize) -> Budget {
        Budget::new(Limits {
            work,
            depth,
            ..Limits::default()
        })
    }

    #[test]
    fn json_and_yaml_decode_as_go_does_into_interface() {
        let v = from_json(br#"{"a":[1,"x",null,true]}"#, &mut Budget::default()).unwrap();
        assert_eq!(v.depth(), 2);
        let Value::Map(m) = v else {
            panic!("not a map")
        };
        let Value::List(l) = &m.entries["a"] else {
            panic!("not a list")
        };
        assert!(matches!(l.items[0], Value::Float(f) if f == 1.0));
        let v = from_yaml(b"k: v\nn: 3", &mut Budget::default()).unwrap();
        assert!(matches!(v, Value::Map(_)));
        assert!(matches!(
            from_json(b"{", &mut Budget::default()),
            Err(DecodeError::Invalid)
        ));
    }

    #[test]
    fn nesting_past_the_depth_budget_is_refused() {
        let deep = "[".repeat(5) + &"]".repeat(5);
        assert!(from_json(deep.as_bytes(), &mut budget(1 << 20, 5)).is_ok());
        assert!(matches!(
            from_json(deep.as_bytes(), &mut budget(1 << 20, 4)),
            Err(DecodeError::Limit(Limit::Depth(4)))
        ));
    }

    #[test]
    fn a_yaml_alias_bomb_runs_out_of_work_budget() {
        // 100 aliases of a 1,000-item list: 100,000 nodes from 1,200 events, within
        // serde_yaml_ng's own repetition limit, so the work budget is what stops it.
        let items = vec!["x"; 1000].join(", ");
        let aliases = vec!["*a"; 100].join(", ");
        let bomb = format!("a: &a [{items}]\nb: [{aliases}]\n");
        assert!(from_yaml(bomb.as_bytes(), &mut budget(32 << 20, 100)).is_ok());
        assert!(matches!(
            from_yaml(bomb.as_bytes(), &mut budget(1 << 20, 100)),
            Err(DecodeError::Limit(Limit::Work(_)))
        ));
    }
}
