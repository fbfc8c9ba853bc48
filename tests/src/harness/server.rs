//! HTTP routing: the real paths of the Kubernetes REST API, parsed from the request path (as the
//! API server's `RequestInfoFactory` does) and served from the [`State`].

use super::auth::{Authenticator, Identity};
use super::discovery;
use super::faults::{Faults, RequestRecord, Verb};
use super::fields::Part;
use super::patch::PatchKind;
use super::protobuf;
use super::proxy::{self, Endpoints};
use super::rbac::{self, Attributes, Decision};
use super::reviews;
use super::selectors::{FieldSelector, LabelSelector};
use super::status::{ApiError, ApiResult, created_json, ok_json};
use super::store::{DeleteOpts, ListOpts, State, WriteCtx, meta};
use super::types::{RBAC_GROUP, ResourceType};
use super::watch::{self, WatchRequest};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State as AxState};
use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// Everything the handlers share.
pub(crate) struct Shared {
    pub state: Mutex<State>,
    pub faults: Mutex<Faults>,
    pub endpoints: Mutex<Endpoints>,
    pub requests: Mutex<Vec<RequestRecord>>,
    pub cut: tokio::sync::watch::Sender<u64>,
    pub bookmark_now: tokio::sync::watch::Sender<u64>,
    pub gc: Notify,
    pub bookmark_interval: Duration,
    pub http: reqwest::Client,
    pub addr: String,
    pub watches_started: AtomicU64,
    pub auth: Authenticator,
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

async fn handle(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match dispatch(&shared, method, &uri, &query, &headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn not_found() -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
}

/// A request for a resource, parsed from its path.
struct Target {
    group: String,
    version: String,
    namespace: Option<String>,
    plural: String,
    name: Option<String>,
    subresource: Option<String>,
    /// After `/proxy/`.
    rest: String,
    watch_path: bool,
}

fn parse_resource_path(
    group: &str,
    version: &str,
    segs: &[&str],
    raw_path: &str,
) -> Option<Target> {
    let (watch_path, segs) = match segs.first() {
        Some(&"watch") => (true, &segs[1..]),
        _ => (false, segs),
    };
    let namespaced = segs.first() == Some(&"namespaces")
        && segs.len() >= 3
        && !(segs.len() == 3 && matches!(segs[2], "status" | "finalize"));
    let (namespace, rest) = if namespaced {
        (Some(segs[1].to_string()), &segs[2..])
    } else {
        (None, segs)
    };
    let plural = rest.first()?.to_string();
    let name = rest.get(1).map(|s| s.to_string());
    let subresource = rest.get(2).map(|s| s.to_string());
    let rest_path = if subresource.as_deref() == Some("proxy") {
        match raw_path.split_once("/proxy") {
            Some((_, after)) => after.to_string(),
            None => String::new(),
        }
    } else {
        if rest.len() > 3 {
            return None;
        }
        String::new()
    };
    Some(Target {
        group: group.into(),
        version: version.into(),
        namespace,
        plural,
        name,
        subresource,
        rest: rest_path,
        watch_path,
    })
}

fn truthy(q: &HashMap<String, String>, k: &str) -> bool {
    q.get(k).is_some_and(|v| v == "true" || v == "1")
}

async fn dispatch(
    shared: &Arc<Shared>,
    method: Method,
    uri: &Uri,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    // No Authorization header: no identity and full access, at the cost of this lookup only.
    let identity = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(h) => {
            let state = shared.state.lock().expect("state lock");
            Some(shared.auth.authenticate(&state, h.as_bytes())?)
        }
    };
    let path = uri.path();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let target = match segs.as_slice() {
        [".well-known", "openid-configuration"] => return Ok(ok_json(&shared.auth.openid_configuration())),
        ["openid", "v1", "jwks"] => return Ok(ok_json(&shared.auth.jwks())),
        [] => return Ok(ok_json(&json!({"paths": ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version"]}))),
        ["version"] => return Ok(ok_json(&discovery::version())),
        ["healthz" | "livez" | "readyz"] => return Ok(([(header::CONTENT_TYPE, "text/plain")], "ok").into_response()),
        ["api"] => return Ok(ok_json(&discovery::api_versions(&shared.addr))),
        ["apis"] => return Ok(ok_json(&discovery::api_groups(&shared.state.lock().expect("state lock")))),
        ["apis", g] => {
            return discovery::api_group(&shared.state.lock().expect("state lock"), g).map(|d| ok_json(&d)).ok_or_else(not_found);
        }
        ["api", v] => {
            return discovery::resource_list(&shared.state.lock().expect("state lock"), "", v).map(|d| ok_json(&d)).ok_or_else(not_found);
        }
        ["apis", g, v] => {
            return discovery::resource_list(&shared.state.lock().expect("state lock"), g, v).map(|d| ok_json(&d)).ok_or_else(not_found);
        }
        ["openapi", "v3"] => return Ok(ok_json(&discovery::openapi_v3_root(&shared.state.lock().expect("state lock")))),
        ["openapi", "v3", "api", v] => {
            return discovery::openapi_v3_doc(&shared.state.lock().expect("state lock"), "", v).map(|d| ok_json(&d)).ok_or_else(not_found);
        }
        ["openapi", "v3", "apis", g, v] => {
            return discovery::openapi_v3_doc(&shared.state.lock().expect("state lock"), g, v).map(|d| ok_json(&d)).ok_or_else(not_found);
        }
        ["api", v, rest @ ..] => parse_resource_path("", v, rest, path),
        ["apis", g, v, rest @ ..] => parse_resource_path(g, v, rest, path),
        _ => None,
    }
    .ok_or_else(not_found)?;

    let rt = shared
        .state
        .lock()
        .expect("state lock")
        .find_type(&target.group, &target.version, &target.plural)
        .ok_or_else(not_found)?;
    if (rt.namespaced && target.namespace.is_none() && target.name.is_some())
        || (!rt.namespaced && target.namespace.is_some())
    {
        return Err(not_found());
    }
    let is_token = target.subresource.as_deref() == Some("token");
    let part = match target.subresource.as_deref() {
        None => Part::Main {
            status_subresource: rt.status_subresource,
        },
        Some("status") if rt.status_subresource => Part::Status,
        Some("token") if rt.is_core("serviceaccounts") => Part::Main {
            status_subresource: false,
        },
        Some("proxy") if rt.group.is_empty() && rt.plural == "services" => Part::Main {
            status_subresource: true,
        },
        Some(_) => return Err(not_found()),
    };
    let is_proxy = target.subresource.as_deref() == Some("proxy");
    let watching = target.watch_path || truthy(q, "watch");
    let verb = match (&method, target.name.is_some()) {
        _ if is_proxy => Verb::Proxy,
        (&Method::POST, true) if is_token => Verb::Create,
        (&Method::POST, false) if rt.create_only => Verb::Create,
        _ if rt.create_only || is_token => {
            return Err(ApiError::method_not_allowed(
                "the server does not allow this method on the requested resource",
            ));
        }
        (&Method::GET, true) => Verb::Get,
        (&Method::GET, false) if watching => Verb::Watch,
        (&Method::GET, false) => Verb::List,
        (&Method::POST, false) => Verb::Create,
        (&Method::PUT, true) => Verb::Update,
        (&Method::PATCH, true) => Verb::Patch,
        (&Method::DELETE, true) => Verb::Delete,
        (&Method::DELETE, false) => Verb::DeleteCollection,
        _ => {
            return Err(ApiError::method_not_allowed(
                "the server does not allow this method on the requested resource",
            ));
        }
    };
    let manager = q.get("fieldManager").cloned().or_else(|| {
        headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.split('/').next().unwrap_or("unknown").to_string())
    });
    let record = RequestRecord {
        verb,
        group: rt.group.clone(),
        resource: rt.plural.clone(),
        subresource: target.subresource.clone(),
        namespace: target.namespace.clone(),
        name: target.name.clone(),
        field_manager: matches!(verb, Verb::Create | Verb::Update | Verb::Patch)
            .then(|| manager.clone().unwrap_or_default()),
        user: identity.as_ref().map(|i| i.username.clone()),
    };
    shared
        .requests
        .lock()
        .expect("requests lock")
        .push(record.clone());
    if let Some(user) = &identity {
        authorize(shared, user, &record, &method, q)?;
    }
    let outcome = shared.faults.lock().expect("faults lock").check(&record);
    if !outcome.delay.is_zero() {
        tokio::time::sleep(outcome.delay).await;
    }
    if let Some((code, retry_after)) = outcome.fail {
        return Err(ApiError::injected(code, retry_after));
    }

    let ns = target.namespace.as_deref();
    let name = target.name.clone().unwrap_or_default();
    let dry_run = q.get("dryRun").is_some_and(|v| v == "All");
    let ctx = WriteCtx {
        manager: manager.clone().unwrap_or_else(|| "unknown".into()),
        dry_run,
        version: target.version.clone(),
        force: truthy(q, "force"),
        explicit_manager: q.contains_key("fieldManager"),
    };
    let wants_table = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=Table"));

    if rt.create_only {
        let obj = parse_body(headers, &body)?;
        check_kind(&rt, &target.version, &obj)?;
        let answer = reviews::serve(
            &shared.state,
            &shared.auth,
            &rt,
            ns,
            identity.as_deref(),
            obj,
        )?;
        return Ok(created_json(&answer));
    }
    if is_token {
        let obj = parse_body(headers, &body)?;
        if let Some(kind) = obj["kind"].as_str()
            && !kind.is_empty()
            && kind != "TokenRequest"
        {
            return Err(ApiError::bad_request(format!(
                "TokenRequest in version \"v1\" cannot be handled as a {kind}"
            )));
        }
        let answer = reviews::token_request(
            &shared.state,
            &shared.auth,
            &rt,
            ns.unwrap_or_default(),
            &name,
            obj,
        )?;
        return Ok(created_json(&answer));
    }

    if let Some(user) = &identity
        && rt.group == RBAC_GROUP
        && matches!(verb, Verb::Create | Verb::Update | Verb::Patch)
    {
        check_escalation(
            shared, user, &rt, verb, ns, &name, part, headers, &body, &ctx,
        )?;
    }

    let response = match verb {
        Verb::Proxy => return serve_proxy(shared, &target, method, uri, headers, body).await,
        Verb::Watch => {
            let req = watch_request(rt, &target, q)?;
            return watch::serve(shared.clone(), req);
        }
        Verb::Get => {
            let state = shared.state.lock().expect("state lock");
            let obj = State::render(&rt, &target.version, &state.get(&rt, ns, &name)?);
            if wants_table {
                ok_json(&discovery::table(&[&obj], None))
            } else {
                ok_json(&obj)
            }
        }
        Verb::List => {
            let opts = list_opts(&rt, q)?;
            let state = shared.state.lock().expect("state lock");
            let list = state.list(&rt, ns, &target.version, &opts)?;
            if wants_table {
                let items: Vec<&Value> = list["items"]
                    .as_array()
                    .map(|a| a.iter().collect())
                    .unwrap_or_default();
                ok_json(&discovery::table(&items, Some(&list["metadata"])))
            } else {
                ok_json(&list)
            }
        }
        Verb::Create => {
            let obj = parse_body(headers, &body)?;
            check_kind(&rt, &target.version, &obj)?;
            let created = shared
                .state
                .lock()
                .expect("state lock")
                .create(&rt, ns, obj, &ctx)?;
            created_json(&State::render(&rt, &target.version, &created))
        }
        Verb::Update => {
            let obj = parse_body(headers, &body)?;
            check_kind(&rt, &target.version, &obj)?;
            let updated = shared
                .state
                .lock()
                .expect("state lock")
                .update(&rt, ns, &name, obj, part, &ctx)?;
            ok_json(&State::render(&rt, &target.version, &updated))
        }
        Verb::Patch => {
            let ct = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let kind = PatchKind::from_content_type(ct)
                .ok_or_else(|| ApiError::unsupported_media_type(ct))?;
            let (obj, created) = shared
                .state
                .lock()
                .expect("state lock")
                .patch(&rt, ns, &name, kind, &body, part, &ctx)?;
            let rendered = State::render(&rt, &target.version, &obj);
            if created {
                created_json(&rendered)
            } else {
                ok_json(&rendered)
            }
        }
        Verb::Delete => {
            let opts = delete_opts(q, &body)?;
            let out = shared
                .state
                .lock()
                .expect("state lock")
                .delete(&rt, ns, &name, &opts)?;
            let out = if out["kind"] == "Status" {
                out
            } else {
                State::render(&rt, &target.version, &out)
            };
            ok_json(&out)
        }
        Verb::DeleteCollection => {
            let opts = delete_opts(q, &body)?;
            let lopts = list_opts(&rt, q)?;
            let mut state = shared.state.lock().expect("state lock");
            let list = state.list(
                &rt,
                ns,
                &target.version,
                &ListOpts {
                    limit: None,
                    continue_token: None,
                    ..lopts
                },
            )?;
            let mut items = vec![];
            for item in list["items"].as_array().cloned().unwrap_or_default() {
                let (ins, iname) = (
                    meta(&item)["namespace"].as_str().map(str::to_string),
                    meta(&item)["name"].as_str().unwrap_or_default().to_string(),
                );
                match state.delete(&rt, ins.as_deref(), &iname, &opts) {
                    Ok(out) if out["kind"] == "Status" => items.push(item),
                    Ok(out) => items.push(State::render(&rt, &target.version, &out)),
                    Err(e) if e.code == 404 => {}
                    Err(e) => return Err(e),
                }
            }
            ok_json(&json!({
                "kind": format!("{}List", rt.kind),
                "apiVersion": rt.api_version(&target.version),
                "metadata": {"resourceVersion": state.rv.to_string()},
                "items": items,
            }))
        }
    };
    // A status write cannot change owners, finalizers or deletion: no collection pass for it
    // (controllers write status far more often than anything else).
    if matches!(
        verb,
        Verb::Create | Verb::Update | Verb::Patch | Verb::Delete | Verb::DeleteCollection
    ) && target.subresource.as_deref() != Some("status")
    {
        shared.gc.notify_one();
    }
    Ok(response)
}

/// The verb RBAC sees (kube-apiserver's `RequestInfo.Verb`): a proxied request's verb comes from
/// its method.
fn rbac_verb(verb: Verb, method: &Method) -> &'static str {
    match verb {
        Verb::Get => "get",
        Verb::List => "list",
        Verb::Watch => "watch",
        Verb::Create => "create",
        Verb::Update => "update",
        Verb::Patch => "patch",
        Verb::Delete => "delete",
        Verb::DeleteCollection => "deletecollection",
        Verb::Proxy => match *method {
            Method::POST => "create",
            Method::PUT => "update",
            Method::PATCH => "patch",
            Method::DELETE => "delete",
            _ => "get",
        },
    }
}

/// 403 unless RBAC allows `user` the request.
fn authorize(
    shared: &Shared,
    user: &Identity,
    record: &RequestRecord,
    method: &Method,
    q: &HashMap<String, String>,
) -> ApiResult<()> {
    let mut name = record.name.clone().unwrap_or_default();
    // A list or watch of one object by field selector is authorized for that name
    // (RequestInfoFactory), so `resourceNames` rules cover single-object informers.
    if name.is_empty()
        && matches!(record.verb, Verb::List | Verb::Watch)
        && let Some(selected) = q.get("fieldSelector").and_then(|f| {
            f.split(',').find_map(|t| {
                t.strip_prefix("metadata.name=")
                    .map(|n| n.trim_start_matches('='))
            })
        })
    {
        name = selected.to_string();
    }
    let attrs = Attributes {
        verb: rbac_verb(record.verb, method).into(),
        group: record.group.clone(),
        resource: record.resource.clone(),
        subresource: record.subresource.clone().unwrap_or_default(),
        namespace: record.namespace.clone().unwrap_or_default(),
        name,
    };
    let index = shared.state.lock().expect("state lock").rbac_index();
    match index.rules_for(user).decide(&attrs) {
        Decision::Allow(_) => Ok(()),
        Decision::Deny => Err(ApiError::forbidden_request(
            &attrs.group,
            &attrs.resource,
            &attrs.name,
            &attrs.forbidden_message(&user.username),
        )),
    }
}

/// 403 if a token user's write of a Role, ClusterRole or binding would grant rights they do not
/// hold: the write is tried as a dry run first, and its result checked.
#[allow(clippy::too_many_arguments)]
fn check_escalation(
    shared: &Shared,
    user: &Identity,
    rt: &ResourceType,
    verb: Verb,
    ns: Option<&str>,
    name: &str,
    part: Part,
    headers: &HeaderMap,
    body: &[u8],
    ctx: &WriteCtx,
) -> ApiResult<()> {
    let dry = WriteCtx {
        dry_run: true,
        ..ctx.clone()
    };
    let mut state = shared.state.lock().expect("state lock");
    let result = match verb {
        Verb::Create => state.create(rt, ns, parse_body(headers, body)?, &dry)?,
        Verb::Update => state.update(rt, ns, name, parse_body(headers, body)?, part, &dry)?,
        _ => {
            let ct = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let kind = PatchKind::from_content_type(ct)
                .ok_or_else(|| ApiError::unsupported_media_type(ct))?;
            state.patch(rt, ns, name, kind, body, part, &dry)?.0
        }
    };
    let index = state.rbac_index();
    drop(state);
    match rbac::escalation(&index, user, &rt.plural, &result) {
        None => Ok(()),
        Some(why) => Err(ApiError::forbidden_request(
            &rt.group,
            &rt.plural,
            meta(&result)["name"].as_str().unwrap_or_default(),
            &why,
        )),
    }
}

fn parse_body(headers: &HeaderMap, body: &[u8]) -> ApiResult<Value> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let base = ct.split(';').next().unwrap_or_default().trim();
    match base {
        "application/json" | "" => serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding body: {e}"))),
        "application/yaml" => serde_yaml_ng::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}"))),
        protobuf::CONTENT_TYPE => protobuf::to_json(body),
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

fn check_kind(rt: &ResourceType, version: &str, obj: &Value) -> ApiResult<()> {
    if let Some(kind) = obj["kind"].as_str()
        && !kind.is_empty()
        && kind != rt.kind
    {
        return Err(ApiError::bad_request(format!(
            "{} in version \"{version}\" cannot be handled as a {}: no kind \"{kind}\" is registered for version \"{}\"",
            rt.kind,
            rt.kind,
            rt.api_version(version)
        )));
    }
    Ok(())
}

fn extra_fields(rt: &ResourceType) -> &'static [&'static str] {
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "secrets") => &["type"],
        ("", "namespaces") => &["status.phase"],
        ("", "events") => &[
            "involvedObject.kind",
            "involvedObject.name",
            "involvedObject.namespace",
            "involvedObject.uid",
            "reason",
            "type",
            "reportingComponent",
        ],
        ("events.k8s.io", "events") => &[
            "regarding.kind",
            "regarding.name",
            "regarding.namespace",
            "regarding.uid",
            "reason",
            "type",
            "reportingController",
        ],
        _ => &[],
    }
}

fn selectors(
    rt: &ResourceType,
    q: &HashMap<String, String>,
) -> ApiResult<(LabelSelector, FieldSelector)> {
    let labels = LabelSelector::parse(
        q.get("labelSelector")
            .map(String::as_str)
            .unwrap_or_default(),
    )
    .map_err(ApiError::bad_request)?;
    let fields = FieldSelector::parse(
        q.get("fieldSelector")
            .map(String::as_str)
            .unwrap_or_default(),
        extra_fields(rt),
    )
    .map_err(ApiError::bad_request)?;
    Ok((labels, fields))
}

fn list_opts(rt: &ResourceType, q: &HashMap<String, String>) -> ApiResult<ListOpts> {
    let (labels, fields) = selectors(rt, q)?;
    let rv = q.get("resourceVersion").filter(|s| !s.is_empty()).cloned();
    let rv_match = q.get("resourceVersionMatch").filter(|s| !s.is_empty());
    let invalid = |field: &str, msg: &str| {
        ApiError::invalid(
            "meta.k8s.io",
            "ListOptions",
            "",
            &[(field.into(), msg.into())],
        )
    };
    if rv_match.is_some() && rv.is_none() {
        return Err(invalid(
            "resourceVersionMatch",
            "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
        ));
    }
    let exact = match rv_match.map(String::as_str) {
        None | Some("NotOlderThan") => false,
        Some("Exact") => {
            if rv.as_deref() == Some("0") {
                return Err(invalid(
                    "resourceVersionMatch",
                    "Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
                ));
            }
            true
        }
        Some(other) => {
            return Err(invalid(
                "resourceVersionMatch",
                &format!(
                    "Unsupported value: \"{other}\": supported values: \"Exact\", \"NotOlderThan\", \"\""
                ),
            ));
        }
    };
    let limit = match q.get("limit") {
        Some(l) => Some(
            l.parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("invalid limit: {l}")))?,
        ),
        None => None,
    };
    Ok(ListOpts {
        labels,
        fields,
        limit,
        continue_token: q.get("continue").filter(|c| !c.is_empty()).cloned(),
        resource_version: rv,
        exact,
    })
}

fn watch_request(
    rt: ResourceType,
    target: &Target,
    q: &HashMap<String, String>,
) -> ApiResult<WatchRequest> {
    let (labels, fields) = selectors(&rt, q)?;
    let send_initial_events = truthy(q, "sendInitialEvents");
    let bookmarks = truthy(q, "allowWatchBookmarks");
    let invalid = |field: &str, msg: &str| {
        ApiError::invalid(
            "meta.k8s.io",
            "ListOptions",
            "",
            &[(field.into(), msg.into())],
        )
    };
    if send_initial_events {
        if q.get("resourceVersionMatch").map(String::as_str) != Some("NotOlderThan") {
            return Err(invalid(
                "resourceVersionMatch",
                "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            ));
        }
        if !bookmarks {
            return Err(invalid(
                "allowWatchBookmarks",
                "Forbidden: sendInitialEvents requires setting allowWatchBookmarks to true",
            ));
        }
    }
    let timeout = match q.get("timeoutSeconds") {
        Some(t) => Some(Duration::from_secs(t.parse().map_err(|_| {
            ApiError::bad_request(format!("invalid timeoutSeconds: {t}"))
        })?)),
        None => None,
    };
    Ok(WatchRequest {
        rt,
        version: target.version.clone(),
        namespace: target.namespace.clone(),
        labels,
        fields,
        resource_version: q.get("resourceVersion").cloned(),
        bookmarks,
        send_initial_events,
        timeout,
    })
}

fn delete_opts(q: &HashMap<String, String>, body: &[u8]) -> ApiResult<DeleteOpts> {
    let b: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding DeleteOptions: {e}")))?
    };
    let mut propagation = b["propagationPolicy"]
        .as_str()
        .map(str::to_string)
        .or_else(|| q.get("propagationPolicy").cloned());
    if propagation.is_none() {
        match b["orphanDependents"]
            .as_bool()
            .or_else(|| q.get("orphanDependents").map(|v| v == "true"))
        {
            Some(true) => propagation = Some("Orphan".into()),
            Some(false) => propagation = Some("Background".into()),
            None => {}
        }
    }
    let dry_run = b["dryRun"]
        .as_array()
        .is_some_and(|a| a.iter().any(|v| v == "All"))
        || q.get("dryRun").is_some_and(|v| v == "All");
    Ok(DeleteOpts {
        propagation,
        precondition_uid: b["preconditions"]["uid"].as_str().map(str::to_string),
        precondition_rv: b["preconditions"]["resourceVersion"]
            .as_str()
            .map(str::to_string),
        dry_run,
    })
}

async fn serve_proxy(
    shared: &Arc<Shared>,
    target: &Target,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let ns = target.namespace.clone().unwrap_or_default();
    let (scheme, name, port) = proxy::parse_service_ref(target.name.as_deref().unwrap_or_default());
    {
        let state = shared.state.lock().expect("state lock");
        let rt = state
            .find_type("", "v1", "services")
            .ok_or_else(not_found)?;
        state.get(&rt, Some(&ns), &name)?;
    }
    let endpoint =
        shared
            .endpoints
            .lock()
            .expect("endpoints lock")
            .find(&ns, &name, port.as_deref());
    let endpoint = endpoint.ok_or_else(|| {
        ApiError::new(
            503,
            "ServiceUnavailable",
            format!("no endpoints available for service \"{name}\""),
        )
    })?;
    proxy::forward(
        &shared.http,
        endpoint,
        scheme.as_deref(),
        method,
        &target.rest,
        uri.query(),
        headers,
        body,
    )
    .await
}
