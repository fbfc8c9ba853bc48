//! Kinds answered at once and never stored: TokenRequest (`serviceaccounts/<name>/token`),
//! TokenReview and SelfSubjectReview (`authentication.k8s.io/v1`), SelfSubjectAccessReview,
//! SubjectAccessReview, LocalSubjectAccessReview and SelfSubjectRulesReview
//! (`authorization.k8s.io/v1`).

use super::auth::{Authenticator, Identity};
use super::rbac::{Attributes, Decision};
use super::status::{ApiError, ApiResult};
use super::store::State;
use super::types::ResourceType;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// kube-apiserver's default and bounds of `spec.expirationSeconds`.
const DEFAULT_TOKEN_SECONDS: i64 = 3600;
const MIN_TOKEN_SECONDS: i64 = 600;
const MAX_TOKEN_SECONDS: i64 = 1 << 32;

/// Answers a review of kind `rt` made by `user` (`None`: a request without a token).
pub(crate) fn serve(
    state: &Mutex<State>,
    auth: &Authenticator,
    rt: &ResourceType,
    namespace: Option<&str>,
    user: Option<&Identity>,
    body: Value,
) -> ApiResult<Value> {
    let mut out = body;
    if !out.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    let status = match rt.plural.as_str() {
        "tokenreviews" => token_review(state, auth, &out["spec"]),
        "selfsubjectreviews" => {
            json!({"userInfo": user.map(Identity::to_json).unwrap_or_else(anonymous_full_access)})
        }
        "selfsubjectaccessreviews" => {
            let spec = &out["spec"];
            access_review(state, user, spec)
        }
        "subjectaccessreviews" | "localsubjectaccessreviews" => {
            let spec = &out["spec"];
            let who = subject_of(rt, spec)?;
            if rt.plural == "localsubjectaccessreviews" {
                let want = namespace.unwrap_or_default();
                let got = spec["resourceAttributes"]["namespace"]
                    .as_str()
                    .unwrap_or_default();
                if got != want {
                    return Err(ApiError::invalid(
                        &rt.group,
                        &rt.kind,
                        "",
                        &[(
                            "spec.resourceAttributes.namespace".into(),
                            format!("Invalid value: \"{got}\": must match metadata.namespace"),
                        )],
                    ));
                }
            }
            access_review(state, Some(&who), spec)
        }
        "selfsubjectrulesreviews" => rules_review(state, user, &out["spec"]),
        _ => return Err(ApiError::method_not_allowed("not a review kind")),
    };
    out["apiVersion"] = json!(rt.api_version("v1"));
    out["kind"] = json!(rt.kind);
    if !out["metadata"].is_object() {
        out["metadata"] = json!({});
    }
    out["metadata"]["creationTimestamp"] = Value::Null;
    out["status"] = status;
    Ok(out)
}

/// The user a request without a token acts as (it has full access, as before authentication).
fn anonymous_full_access() -> Value {
    json!({"username": "system:unsecured", "groups": ["system:masters", "system:authenticated"]})
}

fn token_review(state: &Mutex<State>, auth: &Authenticator, spec: &Value) -> Value {
    let token = spec["token"].as_str().unwrap_or_default();
    let wanted: Vec<String> = match spec["audiences"].as_array() {
        Some(a) if !a.is_empty() => a
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect(),
        _ => auth.api_audiences(),
    };
    let state = state.lock().expect("state lock");
    match auth.review(&state, token, &wanted) {
        Ok((user, audiences)) => json!({
            "authenticated": true,
            "user": user.to_json(),
            "audiences": audiences,
        }),
        Err(rejected) => json!({"user": {}, "error": rejected.0}),
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The user a SubjectAccessReview asks about.
fn subject_of(rt: &ResourceType, spec: &Value) -> ApiResult<Identity> {
    let user = spec["user"].as_str().unwrap_or_default().to_string();
    let groups = strings(&spec["groups"]);
    if user.is_empty() && groups.is_empty() {
        return Err(ApiError::invalid(
            &rt.group,
            &rt.kind,
            "",
            &[(
                "spec.user".into(),
                "Invalid value: \"\": at least one of user or group must be specified".into(),
            )],
        ));
    }
    let extra: BTreeMap<String, Vec<String>> = spec["extra"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), strings(v))).collect())
        .unwrap_or_default();
    Ok(Identity::new(
        user,
        spec["uid"].as_str().unwrap_or_default().to_string(),
        groups,
        extra,
    ))
}

/// `status` of an access review of `spec` for `user`.
fn access_review(state: &Mutex<State>, user: Option<&Identity>, spec: &Value) -> Value {
    let ra = &spec["resourceAttributes"];
    if !ra.is_object() {
        // nonResourceURLs are not modelled: every authenticated user may read them.
        return json!({"allowed": true, "reason": "the harness allows every non-resource URL"});
    }
    let Some(user) = user else {
        return json!({"allowed": true, "reason": "a request without a token has full access"});
    };
    let s = |k: &str| ra[k].as_str().unwrap_or_default().to_string();
    let attrs = Attributes {
        verb: s("verb"),
        group: s("group"),
        resource: s("resource"),
        subresource: s("subresource"),
        namespace: s("namespace"),
        name: s("name"),
    };
    let index = state.lock().expect("state lock").rbac_index();
    match index.rules_for(user).decide(&attrs) {
        Decision::Allow(reason) => json!({"allowed": true, "reason": reason}),
        Decision::Deny => json!({"allowed": false}),
    }
}

fn rules_review(state: &Mutex<State>, user: Option<&Identity>, spec: &Value) -> Value {
    let namespace = spec["namespace"].as_str().unwrap_or_default();
    let non_resource = json!([{"verbs": ["get"], "nonResourceURLs": ["*"]}]);
    let Some(user) = user else {
        return json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": non_resource,
            "incomplete": false,
        });
    };
    let index = state.lock().expect("state lock").rbac_index();
    json!({
        "resourceRules": index.rules_for(user).rules_in(namespace),
        "nonResourceRules": non_resource,
        "incomplete": false,
    })
}

/// Answers `POST .../namespaces/{ns}/serviceaccounts/{name}/token` (a TokenRequest).
pub(crate) fn token_request(
    state: &Mutex<State>,
    auth: &Authenticator,
    sa_type: &ResourceType,
    namespace: &str,
    name: &str,
    body: Value,
) -> ApiResult<Value> {
    let spec = &body["spec"];
    let seconds = match &spec["expirationSeconds"] {
        Value::Null => DEFAULT_TOKEN_SECONDS,
        v => v
            .as_i64()
            .ok_or_else(|| ApiError::bad_request("spec.expirationSeconds must be an integer"))?,
    };
    let invalid = |msg: String| {
        ApiError::invalid(
            "authentication.k8s.io",
            "TokenRequest",
            name,
            &[("spec.expirationSeconds".into(), msg)],
        )
    };
    if seconds < MIN_TOKEN_SECONDS {
        return Err(invalid(format!(
            "Invalid value: {seconds}: may not specify a duration less than 10 minutes"
        )));
    }
    if seconds > MAX_TOKEN_SECONDS {
        return Err(invalid(format!(
            "Invalid value: {seconds}: may not specify a duration larger than 2^32 seconds"
        )));
    }
    let audiences = match strings(&spec["audiences"]) {
        a if a.is_empty() => auth.api_audiences(),
        a => a,
    };
    let sa = state
        .lock()
        .expect("state lock")
        .get(sa_type, Some(namespace), name)?;
    let (token, exp) = auth.issue(namespace, &sa, &audiences, seconds);
    let expires = k8s_openapi::jiff::Timestamp::from_second(exp)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default();
    Ok(json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": null},
        "spec": {"audiences": audiences, "expirationSeconds": seconds, "boundObjectRef": spec["boundObjectRef"]},
        "status": {"token": token, "expirationTimestamp": expires},
    }))
}
