//! The KRM function input (kustomize `cmd/config/docs/api-conventions/functions-spec.md`): a
//! `ResourceList` whose `items` are the objects and whose `functionConfig` configures the
//! function. `seal render` reads one on stdin; what it does with the items lives in the CLI.

use serde_json::Value;

use crate::yaml::StreamFormat;

/// The `apiVersion` a `ResourceList` without one is taken to have.
pub const DEFAULT_API_VERSION: &str = "config.kubernetes.io/v1";

/// Error reading a `ResourceList`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input looked like JSON and is not valid JSON.
    #[error("not valid JSON")]
    Json(#[source] serde_json::Error),
    /// The input is not valid YAML.
    #[error("not valid YAML")]
    Yaml(#[source] serde_yaml_ng::Error),
    /// The object's `kind` is not `ResourceList`.
    #[error("not a KRM ResourceList (kind: {kind})")]
    NotResourceList {
        /// The `kind` found, or `none`.
        kind: String,
    },
    /// `items` is present and not a list.
    #[error("ResourceList `items` is not a list")]
    ItemsNotList,
}

/// A parsed `ResourceList`.
#[derive(Debug, Clone)]
pub struct ResourceList {
    /// Whether it came as JSON or YAML (the answer is written the same way).
    pub format: StreamFormat,
    /// Its `apiVersion` ([`DEFAULT_API_VERSION`] when absent).
    pub api_version: String,
    /// Its `items` (empty when absent or null).
    pub items: Vec<Value>,
    /// Its `functionConfig`, unless absent or null.
    pub function_config: Option<Value>,
}

impl ResourceList {
    /// Reads a `ResourceList` from JSON or YAML text.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let format = StreamFormat::detect(input);
        let list: Value = match format {
            StreamFormat::Json => serde_json::from_str(input).map_err(Error::Json)?,
            StreamFormat::Yaml => serde_yaml_ng::from_str(input).map_err(Error::Yaml)?,
        };
        let kind = list.get("kind").and_then(Value::as_str);
        if kind != Some("ResourceList") {
            return Err(Error::NotResourceList {
                kind: kind.unwrap_or("none").to_owned(),
            });
        }
        let Value::Object(mut list) = list else {
            return Err(Error::NotResourceList {
                kind: "none".to_owned(),
            });
        };
        let api_version = list
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or(DEFAULT_API_VERSION)
            .to_owned();
        let items = match list.remove("items") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(Error::ItemsNotList),
        };
        let function_config = list.remove("functionConfig").filter(|v| !v.is_null());
        Ok(Self {
            format,
            api_version,
            items,
            function_config,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_yaml_resource_list_gives_its_items_and_function_config() {
        let list = ResourceList::parse(
            "kind: ResourceList\nitems:\n- kind: A\nfunctionConfig:\n  kind: B\n",
        )
        .unwrap();
        assert_eq!(list.format, StreamFormat::Yaml);
        assert_eq!(list.api_version, DEFAULT_API_VERSION);
        assert_eq!(list.items.len(), 1);
        assert_eq!(list.function_config.unwrap()["kind"], "B");
    }

    #[test]
    fn a_json_resource_list_without_items_has_none() {
        let list = ResourceList::parse(r#"{"apiVersion":"v2","kind":"ResourceList","items":null}"#)
            .unwrap();
        assert_eq!(list.format, StreamFormat::Json);
        assert_eq!(list.api_version, "v2");
        assert!(list.items.is_empty());
        assert!(list.function_config.is_none());
    }

    #[test]
    fn another_kind_or_items_that_are_not_a_list_are_refused() {
        let other = ResourceList::parse("kind: Secret\n").unwrap_err();
        assert_eq!(other.to_string(), "not a KRM ResourceList (kind: Secret)");
        let none = ResourceList::parse("[1, 2]").unwrap_err();
        assert_eq!(none.to_string(), "not a KRM ResourceList (kind: none)");
        let items = ResourceList::parse("kind: ResourceList\nitems: 3\n").unwrap_err();
        assert!(matches!(items, Error::ItemsNotList));
    }
}
