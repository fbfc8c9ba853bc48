//! The binary store (getsops/sops `stores/json` `BinaryStore`): the whole file is one string
//! under `data`; the encrypted form is a JSON file.

use crate::sops::error::{Error, Result};
use crate::sops::tree::{Branch, Item, Scalar, Value};

/// `LoadPlainFile`: `{data: <the bytes as a string>}`.
pub(crate) fn load(src: &[u8]) -> Branch {
    let scalar = match std::str::from_utf8(src) {
        Ok(s) => Scalar::Str(s.to_owned()),
        Err(_) => Scalar::RawStr(src.to_vec()),
    };
    Branch {
        items: vec![Item::new("data", Value::Scalar(scalar))],
    }
}

/// `EmitPlainFile`: the `data` string.
pub(crate) fn emit(docs: &[Branch]) -> Result<Vec<u8>> {
    let err = |m: &str| Error::Unsupported(format!("error emitting binary store: {m}"));
    if docs.len() != 1 {
        return Err(err("there must be exactly one tree branch"));
    }
    match docs[0].get("data") {
        Some(Value::Scalar(Scalar::Str(s))) => Ok(s.as_bytes().to_vec()),
        Some(Value::Scalar(Scalar::RawStr(b))) => Ok(b.clone()),
        Some(_) => Err(err("'data' key in tree does not have a string value")),
        None => Err(err("no binary data found in tree")),
    }
}
