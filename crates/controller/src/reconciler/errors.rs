//! A failed Kubernetes API call that names what was being done, how to classify it, and an
//! error with its sources as one line (for conditions, Events and logs).

/// A Kubernetes API call failed.
#[derive(Debug, thiserror::Error)]
#[error("kubernetes api call failed: {action}")]
pub struct KubeError {
    /// What was being done (`get secret ns/name`, `create lease`…).
    pub action: String,
    /// The client error.
    #[source]
    pub source: kube::Error,
}

impl KubeError {
    /// A `map_err` adapter naming `action`, into any error that wraps a [`KubeError`].
    pub fn with_action<E: From<Self>>(action: impl Into<String>) -> impl FnOnce(kube::Error) -> E {
        let action = action.into();
        move |source| Self { action, source }.into()
    }

    /// Whether the API server answered 409 Conflict.
    pub fn is_conflict(&self) -> bool {
        is_conflict(&self.source)
    }

    /// Whether the API server answered 404 Not Found.
    pub fn is_not_found(&self) -> bool {
        is_not_found(&self.source)
    }
}

/// An error and its sources as one line (`a: b: c`).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Whether a kube error is an API 404.
pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Whether a kube error is an API 409.
pub fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16) -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure("boom", "Test")
                .with_code(code)
                .boxed(),
        )
    }

    #[test]
    fn a_failed_call_reads_as_one_line_naming_the_action_then_the_cause() {
        let e: KubeError = KubeError::with_action("get secret a/b")(api_error(409));
        assert!(e.is_conflict());
        assert!(!e.is_not_found());
        let line = chain(&e);
        assert!(
            line.starts_with("kubernetes api call failed: get secret a/b: "),
            "{line}"
        );
        assert!(line.contains("boom"), "{line}");
    }
}
