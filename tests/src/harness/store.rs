//! The object store: one map per resource, a single resourceVersion counter shared by all of them
//! (as etcd's revision is), and the event history watches and consistent lists are served from.
//!
//! Every write bumps the counter by one and appends one event; a write that changes nothing is not
//! written (no new resourceVersion, no event), as etcd3's `GuaranteedUpdate` skips identical bytes.

use super::fields::{self, Part};
use super::patch::{self, PatchKind};
use super::rbac;
use super::schema;
use super::selectors::{FieldSelector, LabelSelector};
use super::status::{ApiError, ApiResult};
use super::types::{self, Generation, GroupResource, ResourceType};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::broadcast;

/// `(namespace or "", name)`: the storage key, in etcd order.
pub(crate) type ObjKey = (String, String);

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventKind {
    Added,
    Modified,
    Deleted,
}

/// One entry of the history.
#[derive(Debug)]
pub(crate) struct LogEvent {
    pub rv: u64,
    pub gr: GroupResource,
    pub kind: EventKind,
    /// The object after the event (for DELETED: its last state, with the deletion's resourceVersion).
    pub obj: Value,
    /// The object before the event.
    pub prev: Option<Value>,
}

/// Per-request write settings.
#[derive(Debug, Clone)]
pub(crate) struct WriteCtx {
    pub manager: String,
    pub dry_run: bool,
    /// The version the request addressed (for managedFields and CRD schemas).
    pub version: String,
    pub force: bool,
    /// Whether `fieldManager` was given (server-side apply requires it).
    pub explicit_manager: bool,
}

/// DELETE options.
#[derive(Debug, Clone, Default)]
pub(crate) struct DeleteOpts {
    pub propagation: Option<String>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub dry_run: bool,
}

/// List parameters.
#[derive(Debug, Clone, Default)]
pub(crate) struct ListOpts {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
    pub exact: bool,
}

/// The whole cluster state.
pub(crate) struct State {
    pub rv: u64,
    pub types: Vec<ResourceType>,
    pub objects: HashMap<GroupResource, BTreeMap<ObjKey, Value>>,
    pub log: VecDeque<Arc<LogEvent>>,
    /// Events at or below this resourceVersion are gone: a watch or consistent list from before it
    /// answers 410 Expired.
    pub compacted: u64,
    pub history_limit: usize,
    pub tx: broadcast::Sender<Arc<LogEvent>>,
    next_ip: u32,
    /// The resourceVersion of the last write to an RBAC object or a ServiceAccount.
    pub access_rv: u64,
    /// The parsed RBAC objects; `None` after they changed, rebuilt on the next authorization.
    rbac: Option<Arc<rbac::Index>>,
}

pub(crate) fn now() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

pub(crate) fn new_uid() -> String {
    let b: [u8; 16] = rand::random();
    let h = hex::encode(b);
    format!(
        "{}-{}-4{}-{:x}{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        (b[8] & 0x3) | 0x8,
        &h[17..20],
        &h[20..32]
    )
}

fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| ALPHABET[rand::random::<usize>() % ALPHABET.len()] as char)
        .collect()
}

pub(crate) fn meta(obj: &Value) -> &Value {
    &obj["metadata"]
}

pub(crate) fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    obj["metadata"]
        .as_object_mut()
        .expect("just made an object")
}

pub(crate) fn name_of(obj: &Value) -> &str {
    meta(obj)["name"].as_str().unwrap_or_default()
}

pub(crate) fn finalizers(obj: &Value) -> Vec<String> {
    meta(obj)["finalizers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn set_finalizers(obj: &mut Value, fins: &[String]) {
    let m = meta_mut(obj);
    if fins.is_empty() {
        m.remove("finalizers");
    } else {
        m.insert("finalizers".into(), json!(fins));
    }
}

pub(crate) fn is_deleting(obj: &Value) -> bool {
    meta(obj)["deletionTimestamp"].is_string()
}

fn dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(dns_label)
}

fn dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn name_error(rt: &ResourceType, name: &str) -> Option<String> {
    if rt.group == types::RBAC_GROUP {
        // RBAC names are path segments (`system:basic-user`): `path.IsValidPathSegmentName`.
        if name == "." || name == ".." {
            return Some(format!("Invalid value: \"{name}\": may not be '{name}'"));
        }
        return name
            .contains(['/', '%'])
            .then(|| format!("Invalid value: \"{name}\": may not contain '/' or '%'"));
    }
    let label = rt.group.is_empty() && (rt.plural == "namespaces" || rt.plural == "services");
    if label {
        if dns_label(name)
            && !(rt.plural == "services" && name.starts_with(|c: char| c.is_ascii_digit()))
        {
            return None;
        }
        return Some(format!(
            "Invalid value: \"{name}\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
        ));
    }
    if dns_subdomain(name) {
        return None;
    }
    Some(format!(
        "Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    ))
}

fn label_errors(obj: &Value) -> Vec<(String, String)> {
    let mut errs = vec![];
    if let Some(labels) = meta(obj)["labels"].as_object() {
        for (k, v) in labels {
            if LabelSelector::parse(k).is_err() || k.contains(['=', '!', ' ', '(']) {
                errs.push(("metadata.labels".into(), format!("Invalid value: \"{k}\": name part must consist of alphanumeric characters, '-', '_' or '.'")));
            }
            match v.as_str() {
                Some(s) if LabelSelector::parse(&format!("k={s}")).is_ok() => {}
                _ => errs.push(("metadata.labels".into(), format!("Invalid value: {v}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.'"))),
            }
        }
    }
    errs
}

/// Everything that differs between two versions of an object outside `metadata` (and `status`).
fn non_meta_changed(old: &Value, new: &Value, skip_status: bool) -> bool {
    let strip = |v: &Value| {
        let mut m = v.as_object().cloned().unwrap_or_default();
        m.remove("metadata");
        m.remove("apiVersion");
        m.remove("kind");
        if skip_status {
            m.remove("status");
        }
        m
    };
    strip(old) != strip(new)
}

/// The two objects are the same write (ignoring resourceVersion and managedFields timestamps).
fn same_object(a: &Value, b: &Value) -> bool {
    let norm = |v: &Value| {
        let mut v = v.clone();
        let m = meta_mut(&mut v);
        m.remove("resourceVersion");
        if let Some(Value::Array(mf)) = m.get_mut("managedFields") {
            for e in mf {
                if let Some(o) = e.as_object_mut() {
                    o.remove("time");
                }
            }
        }
        v
    };
    norm(a) == norm(b)
}

impl State {
    pub fn new(history_limit: usize) -> Self {
        let (tx, _) = broadcast::channel(16384);
        let mut s = Self {
            rv: 0,
            types: types::builtins(),
            objects: HashMap::new(),
            log: VecDeque::new(),
            compacted: 0,
            history_limit,
            tx,
            next_ip: 10,
            access_rv: 0,
            rbac: None,
        };
        let ctx = WriteCtx {
            manager: "kube-apiserver".into(),
            dry_run: false,
            version: "v1".into(),
            force: false,
            explicit_manager: false,
        };
        let ns_type = s.types[0].clone();
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            s.create(
                &ns_type,
                None,
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
                &ctx,
            )
            .expect("built-in namespaces are valid");
        }
        for (plural, obj) in rbac::bootstrap_policy() {
            let rt = s
                .find_type(types::RBAC_GROUP, "v1", plural)
                .expect("RBAC kinds are built in");
            s.create(&rt, None, obj, &ctx)
                .expect("the bootstrap policy is valid");
        }
        s
    }

    /// The RBAC index, parsed again if an RBAC object changed since it was last built.
    pub fn rbac_index(&mut self) -> Arc<rbac::Index> {
        if let Some(index) = &self.rbac {
            return index.clone();
        }
        let index = Arc::new(rbac::Index::build(self));
        self.rbac = Some(index.clone());
        index
    }

    fn access_changed(&mut self, gr: &GroupResource) {
        if rbac::affects_access(gr) {
            self.access_rv = self.rv;
            self.rbac = None;
        }
    }

    /// The resource served at `group/version` under `plural`.
    pub fn find_type(&self, group: &str, version: &str, plural: &str) -> Option<ResourceType> {
        self.types
            .iter()
            .find(|t| t.group == group && t.plural == plural && t.serves(version))
            .cloned()
    }

    /// The resource of `kind` in `group` (any version).
    pub fn type_by_kind(&self, group: &str, kind: &str) -> Option<&ResourceType> {
        self.types
            .iter()
            .find(|t| t.group == group && t.kind == kind)
    }

    pub fn store(&self, gr: &GroupResource) -> Option<&BTreeMap<ObjKey, Value>> {
        self.objects.get(gr)
    }

    /// `obj` as served at `version`: only `apiVersion` changes between versions (conversion `None`).
    pub fn render(rt: &ResourceType, version: &str, obj: &Value) -> Value {
        let mut out = obj.clone();
        out["apiVersion"] = json!(rt.api_version(version));
        out["kind"] = json!(rt.kind);
        out
    }

    fn record(&mut self, gr: &GroupResource, kind: EventKind, obj: Value, prev: Option<Value>) {
        let ev = Arc::new(LogEvent {
            rv: self.rv,
            gr: gr.clone(),
            kind,
            obj,
            prev,
        });
        self.log.push_back(ev.clone());
        while self.log.len() > self.history_limit {
            if let Some(old) = self.log.pop_front() {
                self.compacted = old.rv;
            }
        }
        // No receiver is fine: nobody watches.
        let _ = self.tx.send(ev);
    }

    fn commit(
        &mut self,
        rt: &ResourceType,
        key: ObjKey,
        mut obj: Value,
        prev: Option<Value>,
    ) -> Value {
        self.rv += 1;
        meta_mut(&mut obj).insert("resourceVersion".into(), json!(self.rv.to_string()));
        let gr = rt.gr();
        self.objects
            .entry(gr.clone())
            .or_default()
            .insert(key, obj.clone());
        let kind = if prev.is_some() {
            EventKind::Modified
        } else {
            EventKind::Added
        };
        self.record(&gr, kind, obj.clone(), prev);
        self.access_changed(&gr);
        if rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions" {
            self.register_crd(&obj);
        }
        obj
    }

    fn commit_remove(&mut self, rt: &ResourceType, key: &ObjKey) -> Option<Value> {
        let gr = rt.gr();
        let prev = self.objects.get_mut(&gr)?.remove(key)?;
        self.rv += 1;
        let mut last = prev.clone();
        meta_mut(&mut last).insert("resourceVersion".into(), json!(self.rv.to_string()));
        self.record(&gr, EventKind::Deleted, last.clone(), Some(prev));
        self.access_changed(&gr);
        if rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions" {
            let name = name_of(&last).to_string();
            self.types
                .retain(|t| t.crd.as_deref() != Some(name.as_str()));
        }
        Some(last)
    }

    fn register_crd(&mut self, crd: &Value) {
        if let Ok(rt) = types::from_crd(crd) {
            let name = rt.crd.clone();
            self.types.retain(|t| t.crd != name);
            self.types.push(rt);
        }
    }

    fn key(rt: &ResourceType, ns: Option<&str>, name: &str) -> ObjKey {
        (
            if rt.namespaced {
                ns.unwrap_or_default().to_string()
            } else {
                String::new()
            },
            name.to_string(),
        )
    }

    pub fn get(&self, rt: &ResourceType, ns: Option<&str>, name: &str) -> ApiResult<Value> {
        self.objects
            .get(&rt.gr())
            .and_then(|m| m.get(&Self::key(rt, ns, name)))
            .cloned()
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))
    }

    /// The objects of `gr` as they were at resourceVersion `rv`, rebuilt from the history.
    pub fn snapshot(&self, gr: &GroupResource, rv: u64) -> ApiResult<BTreeMap<ObjKey, Value>> {
        if rv < self.compacted {
            return Err(ApiError::expired(format!(
                "too old resource version: {rv} ({})",
                self.compacted + 1
            )));
        }
        let mut map = self.objects.get(gr).cloned().unwrap_or_default();
        for ev in self.log.iter().rev().take_while(|e| e.rv > rv) {
            if &ev.gr != gr {
                continue;
            }
            let key = obj_key(&ev.obj);
            match (ev.kind, &ev.prev) {
                (EventKind::Added, _) => {
                    map.remove(&key);
                }
                (_, Some(prev)) => {
                    map.insert(key, prev.clone());
                }
                (_, None) => {}
            }
        }
        Ok(map)
    }

    pub fn list(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        version: &str,
        opts: &ListOpts,
    ) -> ApiResult<Value> {
        let gr = rt.gr();
        let (list_rv, start) = match &opts.continue_token {
            Some(tok) => {
                let (rv, start) = decode_continue(tok)?;
                if rv < self.compacted {
                    return Err(ApiError::expired(
                        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
                    ));
                }
                (rv, Some(start))
            }
            None => match (&opts.resource_version, opts.exact) {
                (Some(rv), true) => {
                    let rv: u64 = rv.parse().map_err(|_| {
                        ApiError::bad_request(format!("invalid resource version: {rv}"))
                    })?;
                    (rv, None)
                }
                _ => (self.rv, None),
            },
        };
        let snapshot;
        let items_map = if list_rv == self.rv {
            self.objects.get(&gr)
        } else {
            snapshot = self.snapshot(&gr, list_rv)?;
            Some(&snapshot)
        };
        let matching: Vec<(&ObjKey, &Value)> = items_map
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(|(k, _)| start.as_ref().is_none_or(|s| *k > s))
            .filter(|(k, _)| !rt.namespaced || ns.is_none_or(|ns| k.0 == ns))
            .filter(|(_, v)| {
                opts.labels.matches(meta(v)["labels"].as_object()) && opts.fields.matches(v)
            })
            .collect();
        let take = opts
            .limit
            .filter(|l| *l > 0)
            .unwrap_or(usize::MAX)
            .min(matching.len());
        let items: Vec<Value> = matching[..take]
            .iter()
            .map(|(_, v)| list_item(rt, version, v))
            .collect();
        let mut metadata = json!({"resourceVersion": list_rv.to_string()});
        if take < matching.len() {
            metadata["continue"] = json!(encode_continue(list_rv, matching[take - 1].0));
            if opts.labels == LabelSelector::default() && opts.fields == FieldSelector::default() {
                metadata["remainingItemCount"] = json!(matching.len() - take);
            }
        }
        Ok(json!({
            "kind": format!("{}List", rt.kind),
            "apiVersion": rt.api_version(version),
            "metadata": metadata,
            "items": items,
        }))
    }

    fn check_namespace(&self, rt: &ResourceType, ns: Option<&str>, name: &str) -> ApiResult<()> {
        if !rt.namespaced {
            return Ok(());
        }
        let ns = ns.ok_or_else(|| {
            ApiError::bad_request(
                "the server could not find the requested resource (namespace required)",
            )
        })?;
        let ns_type = GroupResource {
            group: String::new(),
            resource: "namespaces".into(),
        };
        match self
            .objects
            .get(&ns_type)
            .and_then(|m| m.get(&(String::new(), ns.to_string())))
        {
            None => Err(ApiError::not_found("", "namespaces", ns)),
            Some(n) if is_deleting(n) => Err(ApiError::forbidden(
                &rt.group,
                &rt.plural,
                name,
                &format!(
                    "unable to create new content in namespace {ns} because it is being terminated"
                ),
            )),
            Some(_) => Ok(()),
        }
    }

    /// POST.
    pub fn create(
        &mut self,
        rt: &ResourceType,
        ns: Option<&str>,
        body: Value,
        ctx: &WriteCtx,
    ) -> ApiResult<Value> {
        self.create_with(rt, ns, body, ctx, None)
    }

    /// POST, or the create of an apply (`managed` is then the apply's managedFields).
    fn create_with(
        &mut self,
        rt: &ResourceType,
        ns: Option<&str>,
        body: Value,
        ctx: &WriteCtx,
        managed: Option<Value>,
    ) -> ApiResult<Value> {
        let mut obj = body;
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be a JSON object",
            ));
        }
        if let Some(body_ns) = meta(&obj)["namespace"].as_str()
            && rt.namespaced
            && Some(body_ns) != ns
            && !body_ns.is_empty()
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        let mut name = meta(&obj)["name"].as_str().unwrap_or_default().to_string();
        if name.is_empty() {
            match meta(&obj)["generateName"].as_str() {
                Some(prefix) if !prefix.is_empty() => name = format!("{prefix}{}", random_suffix()),
                _ => {
                    return Err(ApiError::invalid(
                        &rt.group,
                        &rt.kind,
                        "",
                        &[(
                            "metadata.name".into(),
                            "Required value: name or generateName is required".into(),
                        )],
                    ));
                }
            }
        }
        if let Some(why) = name_error(rt, &name) {
            return Err(ApiError::invalid(
                &rt.group,
                &rt.kind,
                &name,
                &[("metadata.name".into(), why)],
            ));
        }
        if let Some(crd) = &rt.crd
            && self.objects_of_crd(crd).is_some_and(is_deleting)
        {
            return Err(ApiError::new(
                405,
                "MethodNotAllowed",
                "create not allowed while custom resource definition is terminating",
            ));
        }
        self.check_namespace(rt, ns, &name)?;
        let key = Self::key(rt, ns, &name);
        if self
            .objects
            .get(&rt.gr())
            .is_some_and(|m| m.contains_key(&key))
        {
            return Err(ApiError::already_exists(&rt.group, &rt.plural, &name));
        }
        {
            let m = meta_mut(&mut obj);
            m.insert("name".into(), json!(name));
            if rt.namespaced {
                m.insert("namespace".into(), json!(ns.unwrap_or_default()));
            } else {
                m.remove("namespace");
            }
            for k in [
                "resourceVersion",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "selfLink",
                "managedFields",
            ] {
                m.remove(k);
            }
            m.insert("uid".into(), json!(new_uid()));
            m.insert("creationTimestamp".into(), json!(now()));
            if rt.generation == Generation::NonMetadata {
                m.insert("generation".into(), json!(1));
            } else {
                m.remove("generation");
            }
        }
        obj["apiVersion"] = json!(rt.api_version(&ctx.version));
        obj["kind"] = json!(rt.kind);
        if rt.status_subresource && rt.is_custom() {
            // Create cannot set status (customResourceStrategy.PrepareForCreate).
            obj.as_object_mut().expect("object").remove("status");
        }
        self.prepare(rt, None, &mut obj, ctx)?;
        if let Some(mf) = managed.filter(|m| !m.is_null()) {
            meta_mut(&mut obj).insert("managedFields".into(), mf);
        } else if ctx.manager != "kube-apiserver" {
            fields::record_update(
                None,
                &mut obj,
                &ctx.manager,
                Part::Main {
                    status_subresource: rt.status_subresource,
                },
                &rt.api_version(&ctx.version),
                &now(),
            );
        }
        if ctx.dry_run {
            return Ok(obj);
        }
        Ok(self.commit(rt, key, obj, None))
    }

    fn objects_of_crd(&self, crd: &str) -> Option<&Value> {
        let gr = GroupResource {
            group: "apiextensions.k8s.io".into(),
            resource: "customresourcedefinitions".into(),
        };
        self.objects
            .get(&gr)?
            .get(&(String::new(), crd.to_string()))
    }

    /// Kind-specific defaulting and validation of a new version of an object.
    fn prepare(
        &mut self,
        rt: &ResourceType,
        old: Option<&Value>,
        obj: &mut Value,
        ctx: &WriteCtx,
    ) -> ApiResult<()> {
        let name = name_of(obj).to_string();
        let invalid =
            |errs: Vec<(String, String)>| ApiError::invalid(&rt.group, &rt.kind, &name, &errs);
        let errs = label_errors(obj);
        if !errs.is_empty() {
            return Err(invalid(errs));
        }
        if let (Some(old), false) = (old, finalizers(obj).is_empty())
            && is_deleting(old)
        {
            let before = finalizers(old);
            if finalizers(obj).iter().any(|f| !before.contains(f)) {
                return Err(ApiError::invalid(
                    &rt.group,
                    &rt.kind,
                    &name,
                    &[(
                        "metadata.finalizers".into(),
                        "Forbidden: no new finalizers can be added if the object is being deleted"
                            .into(),
                    )],
                ));
            }
        }
        match (rt.group.as_str(), rt.plural.as_str()) {
            ("", "secrets") => prepare_secret(old, obj).map_err(invalid)?,
            ("", "configmaps") => prepare_configmap(obj).map_err(invalid)?,
            ("", "namespaces") if old.is_none() => {
                obj["spec"] = json!({"finalizers": ["kubernetes"]});
                obj["status"] = json!({"phase": "Active"});
                let labels = meta_mut(obj).entry("labels").or_insert_with(|| json!({}));
                labels["kubernetes.io/metadata.name"] = json!(name);
            }
            ("", "services") => self.prepare_service(old, obj),
            (types::RBAC_GROUP, "rolebindings" | "clusterrolebindings") => {
                prepare_binding(rt, old, obj).map_err(invalid)?
            }
            ("apiextensions.k8s.io", "customresourcedefinitions") => {
                let rt_new = types::from_crd(obj).map_err(invalid)?;
                if old.is_none() {
                    let mut fins = finalizers(obj);
                    if !fins
                        .iter()
                        .any(|f| f == "customresourcecleanup.apiextensions.k8s.io")
                    {
                        fins.push("customresourcecleanup.apiextensions.k8s.io".into());
                    }
                    set_finalizers(obj, &fins);
                }
                let mut stored: Vec<String> = old
                    .map(|o| o["status"]["storedVersions"].clone())
                    .and_then(|v| serde_json::from_value(v).ok())
                    .unwrap_or_default();
                if !stored.contains(&rt_new.versions[0]) {
                    stored.push(rt_new.versions[0].clone());
                }
                let ts = now();
                obj["status"] = json!({
                    "conditions": [
                        {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": ts},
                        {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": ts},
                    ],
                    "acceptedNames": obj["spec"]["names"],
                    "storedVersions": stored,
                });
            }
            _ => {}
        }
        if rt.is_custom() {
            let schema = rt
                .schemas
                .get(&ctx.version)
                .or_else(|| rt.schemas.get(rt.storage_version()));
            if let Some(schema) = schema {
                let errs = schema::apply_schema(obj, schema);
                if !errs.is_empty() {
                    return Err(invalid(errs));
                }
            }
        }
        Ok(())
    }

    fn prepare_service(&mut self, old: Option<&Value>, obj: &mut Value) {
        if !obj["spec"].is_object() {
            obj["spec"] = json!({});
        }
        let spec = obj["spec"].as_object_mut().expect("object");
        spec.entry("type").or_insert(json!("ClusterIP"));
        spec.entry("sessionAffinity").or_insert(json!("None"));
        let old_ip = old
            .and_then(|o| o["spec"]["clusterIP"].as_str())
            .map(str::to_string);
        if spec
            .get("clusterIP")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            let ip = old_ip.unwrap_or_else(|| {
                self.next_ip += 1;
                format!("10.96.{}.{}", self.next_ip / 250, self.next_ip % 250)
            });
            spec.insert("clusterIP".into(), json!(ip));
        }
        let ip = spec["clusterIP"].clone();
        spec.insert("clusterIPs".into(), json!([ip]));
        if let Some(Value::Array(ports)) = spec.get_mut("ports") {
            for p in ports {
                if p.get("protocol").is_none() {
                    p["protocol"] = json!("TCP");
                }
                if p.get("targetPort").is_none() {
                    p["targetPort"] = p["port"].clone();
                }
            }
        }
        if !obj["status"].is_object() {
            obj["status"] = json!({"loadBalancer": {}});
        }
    }

    /// PUT (main resource or `/status`).
    pub fn update(
        &mut self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        body: Value,
        part: Part,
        ctx: &WriteCtx,
    ) -> ApiResult<Value> {
        if !body.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be a JSON object",
            ));
        }
        let old = self.get(rt, ns, name)?;
        let body_name = meta(&body)["name"].as_str().unwrap_or_default();
        if body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        if rt.namespaced
            && let Some(body_ns) = meta(&body)["namespace"].as_str()
            && !body_ns.is_empty()
            && Some(body_ns) != ns
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        if let Some(rv) = meta(&body)["resourceVersion"].as_str()
            && !rv.is_empty()
            && rv != meta(&old)["resourceVersion"].as_str().unwrap_or_default()
        {
            return Err(ApiError::stale(&rt.group, &rt.plural, name));
        }
        let mut new = match part {
            Part::Status => {
                // Only status changes through /status (statusStrategy.PrepareForUpdate).
                let mut n = old.clone();
                match body.get("status") {
                    Some(s) => n["status"] = s.clone(),
                    None => {
                        n.as_object_mut().expect("object").remove("status");
                    }
                }
                if let Some(mf) = meta(&body).get("managedFields") {
                    meta_mut(&mut n).insert("managedFields".into(), mf.clone());
                }
                n
            }
            Part::Main { .. } => {
                let mut n = body;
                if rt.status_subresource {
                    match old.get("status") {
                        Some(s) => n["status"] = s.clone(),
                        None => {
                            n.as_object_mut().expect("object").remove("status");
                        }
                    }
                }
                let m = meta_mut(&mut n);
                for k in [
                    "uid",
                    "creationTimestamp",
                    "deletionTimestamp",
                    "deletionGracePeriodSeconds",
                    "generation",
                    "namespace",
                    "name",
                ] {
                    match meta(&old).get(k) {
                        Some(v) => {
                            m.insert(k.into(), v.clone());
                        }
                        None => {
                            m.remove(k);
                        }
                    }
                }
                n
            }
        };
        new["apiVersion"] = old["apiVersion"].clone();
        new["kind"] = json!(rt.kind);
        meta_mut(&mut new).insert(
            "resourceVersion".into(),
            meta(&old)["resourceVersion"].clone(),
        );
        self.prepare(rt, Some(&old), &mut new, ctx)?;
        if rt.generation == Generation::NonMetadata
            && non_meta_changed(&old, &new, rt.status_subresource)
        {
            let g = meta(&old)["generation"].as_i64().unwrap_or(1) + 1;
            meta_mut(&mut new).insert("generation".into(), json!(g));
        }
        self.finish_update(rt, ns, name, old, new, part, ctx, true)
    }

    #[allow(clippy::too_many_arguments)]
    fn finish_update(
        &mut self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        old: Value,
        mut new: Value,
        part: Part,
        ctx: &WriteCtx,
        record: bool,
    ) -> ApiResult<Value> {
        if record {
            fields::record_update(
                Some(&old),
                &mut new,
                &ctx.manager,
                part,
                &rt.api_version(&ctx.version),
                &now(),
            );
        }
        if same_object(&old, &new) {
            return Ok(old);
        }
        if ctx.dry_run {
            return Ok(new);
        }
        let key = Self::key(rt, ns, name);
        if is_deleting(&new)
            && finalizers(&new).is_empty()
            && !(rt.group.is_empty() && rt.plural == "namespaces")
        {
            self.commit(rt, key.clone(), new, Some(old));
            return Ok(self.commit_remove(rt, &key).expect("just written"));
        }
        Ok(self.commit(rt, key, new, Some(old)))
    }

    /// PATCH (main resource or `/status`).
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &mut self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        kind: PatchKind,
        body: &[u8],
        part: Part,
        ctx: &WriteCtx,
    ) -> ApiResult<(Value, bool)> {
        let existing = self.get(rt, ns, name);
        if kind == PatchKind::Apply {
            return self.apply(rt, ns, name, existing.ok(), body, part, ctx);
        }
        let old = existing?;
        let served = Self::render(rt, &ctx.version, &old);
        let patched = match kind {
            PatchKind::Json => patch::json_patch(&served, body)?,
            PatchKind::Merge => patch::merge_patch(&served, body)?,
            PatchKind::Strategic => {
                if rt.is_custom() {
                    return Err(ApiError::unsupported_media_type(
                        "application/strategic-merge-patch+json",
                    ));
                }
                patch::strategic_patch(&served, body, &rt.kind)?
            }
            PatchKind::Apply => unreachable!("handled above"),
        };
        // A patch that does not name a resourceVersion is unconditional.
        let mut patched = patched;
        if meta(&patched)["name"].as_str() != Some(name) {
            meta_mut(&mut patched).insert("name".into(), json!(name));
        }
        Ok((self.update(rt, ns, name, patched, part, ctx)?, false))
    }

    #[allow(clippy::too_many_arguments)]
    fn apply(
        &mut self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        live: Option<Value>,
        body: &[u8],
        part: Part,
        ctx: &WriteCtx,
    ) -> ApiResult<(Value, bool)> {
        let applied: Value = serde_yaml_ng::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
        if !applied.is_object() {
            return Err(ApiError::bad_request("apply patch must be an object"));
        }
        if !ctx.explicit_manager {
            return Err(ApiError::bad_request(
                "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
            ));
        }
        let want_kind = applied["kind"].as_str().unwrap_or_default();
        if want_kind != rt.kind {
            return Err(ApiError::bad_request(format!(
                "the kind in the patch ({want_kind}) does not match the kind of the resource ({})",
                rt.kind
            )));
        }
        // The name may be left out (the URL names the object), as controller-rs's status applies do.
        let body_name = meta(&applied)["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if !body_name.is_empty() && body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let api_version = rt.api_version(&ctx.version);
        let ts = now();
        match live {
            None => {
                if part == Part::Status {
                    return Err(ApiError::not_found(&rt.group, &rt.plural, name));
                }
                let obj = fields::apply(
                    None,
                    &applied,
                    &ctx.manager,
                    ctx.force,
                    part,
                    &api_version,
                    &ts,
                )
                .map_err(|c| fields::conflict_error(&rt.group, &rt.plural, name, &c))?;
                let mut obj = obj;
                meta_mut(&mut obj).insert("name".into(), json!(name));
                let mf = meta(&obj)["managedFields"].clone();
                let created = self.create_with(rt, ns, obj, ctx, Some(mf))?;
                Ok((created, true))
            }
            Some(old) => {
                let served = Self::render(rt, &ctx.version, &old);
                let mut new = fields::apply(
                    Some(&served),
                    &applied,
                    &ctx.manager,
                    ctx.force,
                    part,
                    &api_version,
                    &ts,
                )
                .map_err(|c| fields::conflict_error(&rt.group, &rt.plural, name, &c))?;
                if let Some(rv) = meta(&applied)["resourceVersion"].as_str()
                    && rv != meta(&old)["resourceVersion"].as_str().unwrap_or_default()
                {
                    return Err(ApiError::stale(&rt.group, &rt.plural, name));
                }
                new["apiVersion"] = old["apiVersion"].clone();
                if rt.status_subresource && part != Part::Status {
                    match old.get("status") {
                        Some(s) => new["status"] = s.clone(),
                        None => {
                            new.as_object_mut().expect("object").remove("status");
                        }
                    }
                }
                self.prepare(rt, Some(&old), &mut new, ctx)?;
                if rt.generation == Generation::NonMetadata
                    && non_meta_changed(&old, &new, rt.status_subresource)
                {
                    let g = meta(&old)["generation"].as_i64().unwrap_or(1) + 1;
                    meta_mut(&mut new).insert("generation".into(), json!(g));
                }
                Ok((
                    self.finish_update(rt, ns, name, old, new, part, ctx, false)?,
                    false,
                ))
            }
        }
    }

    /// DELETE of one object: the response body.
    pub fn delete(
        &mut self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOpts,
    ) -> ApiResult<Value> {
        let obj = self.get(rt, ns, name)?;
        let uid = meta(&obj)["uid"].as_str().unwrap_or_default().to_string();
        if let Some(want) = &opts.precondition_uid
            && want != &uid
        {
            return Err(ApiError::conflict(
                &rt.group,
                &rt.plural,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {want}, UID in object meta: {uid}"
                ),
            ));
        }
        let rv = meta(&obj)["resourceVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if let Some(want) = &opts.precondition_rv
            && want != &rv
        {
            return Err(ApiError::conflict(
                &rt.group,
                &rt.plural,
                name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {want}, ResourceVersion in object meta: {rv}"
                ),
            ));
        }
        let policy = opts.propagation.as_deref().unwrap_or("Background");
        if !matches!(policy, "Background" | "Foreground" | "Orphan") {
            return Err(ApiError::invalid(
                "meta.k8s.io",
                "DeleteOptions",
                "",
                &[(
                    "propagationPolicy".into(),
                    format!(
                        "Unsupported value: \"{policy}\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
                    ),
                )],
            ));
        }
        let mut new = obj.clone();
        let mut fins = finalizers(&obj);
        let gc_fin = match policy {
            "Foreground" => Some("foregroundDeletion"),
            "Orphan" => Some("orphan"),
            _ => None,
        };
        if let Some(f) = gc_fin
            && !fins.iter().any(|x| x == f)
            && !is_deleting(&obj)
        {
            fins.push(f.into());
        }
        set_finalizers(&mut new, &fins);
        let is_ns = rt.group.is_empty() && rt.plural == "namespaces";
        if is_deleting(&obj) {
            if opts.dry_run {
                return Ok(obj);
            }
            return self.finish_update(
                rt,
                ns,
                name,
                obj.clone(),
                new,
                Part::Main {
                    status_subresource: rt.status_subresource,
                },
                &self.system_ctx(),
                false,
            );
        }
        if !fins.is_empty() || is_ns {
            let m = meta_mut(&mut new);
            m.insert("deletionTimestamp".into(), json!(now()));
            m.insert("deletionGracePeriodSeconds".into(), json!(0));
            if is_ns {
                new["status"] = json!({"phase": "Terminating"});
            }
            if opts.dry_run {
                return Ok(new);
            }
            let key = Self::key(rt, ns, name);
            return Ok(self.commit(rt, key, new, Some(obj)));
        }
        if opts.dry_run {
            return Ok(deleted_status(rt, &obj));
        }
        let last = self
            .commit_remove(rt, &Self::key(rt, ns, name))
            .expect("exists");
        Ok(if rt.return_deleted_object {
            last
        } else {
            deleted_status(rt, &last)
        })
    }

    fn system_ctx(&self) -> WriteCtx {
        WriteCtx {
            manager: "kube-apiserver".into(),
            dry_run: false,
            version: "v1".into(),
            force: false,
            explicit_manager: false,
        }
    }

    /// Removes finalizer `fin` from an object (what a controller does), deleting it if it was the last.
    pub fn remove_finalizer(&mut self, rt: &ResourceType, key: &ObjKey, fin: &str) {
        let Some(obj) = self.objects.get(&rt.gr()).and_then(|m| m.get(key)).cloned() else {
            return;
        };
        let mut fins = finalizers(&obj);
        fins.retain(|f| f != fin);
        let mut new = obj.clone();
        set_finalizers(&mut new, &fins);
        let ctx = WriteCtx {
            version: rt.storage_version().to_string(),
            ..self.system_ctx()
        };
        let ns = if key.0.is_empty() {
            None
        } else {
            Some(key.0.clone())
        };
        let _ = self.finish_update(
            rt,
            ns.as_deref(),
            &key.1,
            obj,
            new,
            Part::Main {
                status_subresource: rt.status_subresource,
            },
            &ctx,
            false,
        );
    }

    /// Replaces a stored object (system writes: GC, namespace controller).
    pub fn system_write(&mut self, rt: &ResourceType, key: &ObjKey, new: Value) {
        let Some(old) = self.objects.get(&rt.gr()).and_then(|m| m.get(key)).cloned() else {
            return;
        };
        let ctx = WriteCtx {
            version: rt.storage_version().to_string(),
            ..self.system_ctx()
        };
        let ns = if key.0.is_empty() {
            None
        } else {
            Some(key.0.clone())
        };
        let _ = self.finish_update(
            rt,
            ns.as_deref(),
            &key.1,
            old,
            new,
            Part::Main {
                status_subresource: rt.status_subresource,
            },
            &ctx,
            false,
        );
    }

    /// Removes a namespace whose content is gone.
    pub fn finalize_namespace(&mut self, name: &str) -> bool {
        let rt = self.types[0].clone();
        let key = (String::new(), name.to_string());
        if let Some(obj) = self.objects.get(&rt.gr()).and_then(|m| m.get(&key))
            && finalizers(obj).is_empty()
        {
            return self.commit_remove(&rt, &key).is_some();
        }
        false
    }

    /// Drops all history: any watch or consistent list from an older resourceVersion gets 410.
    pub fn compact(&mut self) {
        self.log.clear();
        self.compacted = self.rv;
    }
}

fn deleted_status(rt: &ResourceType, obj: &Value) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {"name": name_of(obj), "group": rt.group, "kind": rt.plural, "uid": meta(obj)["uid"]},
    })
}

/// The key of a stored object.
pub(crate) fn obj_key(obj: &Value) -> ObjKey {
    (
        meta(obj)["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        name_of(obj).to_string(),
    )
}

/// A list item: built-in kinds come without `apiVersion`/`kind`, custom resources with them (as the
/// real server's typed and unstructured encoders do).
fn list_item(rt: &ResourceType, version: &str, obj: &Value) -> Value {
    let mut v = State::render(rt, version, obj);
    if !rt.is_custom()
        && let Some(m) = v.as_object_mut()
    {
        m.remove("apiVersion");
        m.remove("kind");
    }
    v
}

fn encode_continue(rv: u64, key: &ObjKey) -> String {
    let raw = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": format!("{}/{}", key.0, key.1)})
        .to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_continue(tok: &str) -> ApiResult<(u64, ObjKey)> {
    let bad = || {
        ApiError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(tok)
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let rv = v["rv"].as_u64().ok_or_else(bad)?;
    let (ns, name) = v["start"]
        .as_str()
        .and_then(|s| s.split_once('/'))
        .ok_or_else(bad)?;
    Ok((rv, (ns.to_string(), name.to_string())))
}

fn valid_config_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 253
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
        && k != "."
        && k != ".."
}

fn check_b64_map(obj: &Value, field: &str, errs: &mut Vec<(String, String)>) {
    if let Some(data) = obj[field].as_object() {
        for (k, v) in data {
            if !valid_config_key(k) {
                errs.push((format!("{field}[{k}]"), format!("Invalid value: \"{k}\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")));
            }
            let ok = v
                .as_str()
                .is_some_and(|s| base64::engine::general_purpose::STANDARD.decode(s).is_ok());
            if !ok {
                errs.push((
                    format!("{field}[{k}]"),
                    "Invalid value: illegal base64 data".into(),
                ));
            }
        }
    }
}

fn prepare_secret(old: Option<&Value>, obj: &mut Value) -> Result<(), Vec<(String, String)>> {
    let mut errs = vec![];
    if let Some(Value::Object(string_data)) =
        obj.as_object_mut().and_then(|o| o.remove("stringData"))
    {
        if !obj["data"].is_object() {
            obj["data"] = json!({});
        }
        for (k, v) in string_data {
            let s = v.as_str().unwrap_or_default();
            obj["data"][k.as_str()] = json!(base64::engine::general_purpose::STANDARD.encode(s));
        }
    }
    if obj["type"].as_str().is_none_or(str::is_empty) {
        obj["type"] = json!("Opaque");
    }
    check_b64_map(obj, "data", &mut errs);
    let ty = obj["type"].as_str().unwrap_or_default().to_string();
    if ty == "kubernetes.io/tls" {
        for k in ["tls.crt", "tls.key"] {
            if obj["data"][k].is_null() {
                errs.push((format!("data[{k}]"), "Required value".into()));
            }
        }
    }
    if let Some(old) = old {
        if old["type"] != obj["type"] {
            errs.push((
                "type".into(),
                format!("Invalid value: \"{ty}\": field is immutable"),
            ));
        }
        if old["immutable"] == json!(true) {
            if old["data"] != obj["data"] {
                errs.push((
                    "data".into(),
                    "Forbidden: field is immutable when `immutable` is set".into(),
                ));
            }
            if obj["immutable"] != json!(true) {
                errs.push((
                    "immutable".into(),
                    "Forbidden: field is immutable when `immutable` is set".into(),
                ));
            }
        }
    }
    if errs.is_empty() { Ok(()) } else { Err(errs) }
}

/// `roleRef` is required, names a Role (RoleBinding only) or ClusterRole, and never changes
/// (`rbac/validation.ValidateRoleBinding*`).
fn prepare_binding(
    rt: &ResourceType,
    old: Option<&Value>,
    obj: &Value,
) -> Result<(), Vec<(String, String)>> {
    let mut errs = vec![];
    let role_ref = &obj["roleRef"];
    let kind = role_ref["kind"].as_str().unwrap_or_default();
    let allowed: &[&str] = if rt.namespaced {
        &["Role", "ClusterRole"]
    } else {
        &["ClusterRole"]
    };
    if !allowed.contains(&kind) {
        errs.push((
            "roleRef.kind".into(),
            format!(
                "Unsupported value: \"{kind}\": supported values: {}",
                allowed
                    .iter()
                    .map(|k| format!("\"{k}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    if role_ref["name"].as_str().is_none_or(str::is_empty) {
        errs.push(("roleRef.name".into(), "Required value".into()));
    }
    if role_ref["apiGroup"].as_str() != Some(types::RBAC_GROUP) {
        errs.push((
            "roleRef.apiGroup".into(),
            format!(
                "Unsupported value: {}: supported values: \"{}\"",
                role_ref["apiGroup"],
                types::RBAC_GROUP
            ),
        ));
    }
    if let Some(old) = old
        && old["roleRef"] != obj["roleRef"]
    {
        errs.push((
            "roleRef".into(),
            "Invalid value: cannot change roleRef".into(),
        ));
    }
    if errs.is_empty() { Ok(()) } else { Err(errs) }
}

fn prepare_configmap(obj: &mut Value) -> Result<(), Vec<(String, String)>> {
    let mut errs = vec![];
    if let Some(data) = obj["data"].as_object() {
        for (k, v) in data {
            if !valid_config_key(k) {
                errs.push((format!("data[{k}]"), format!("Invalid value: \"{k}\": a valid config key must consist of alphanumeric characters, '-', '_' or '.'")));
            }
            if !v.is_string() {
                errs.push((
                    format!("data[{k}]"),
                    "Invalid value: must be a string".into(),
                ));
            }
        }
    }
    check_b64_map(obj, "binaryData", &mut errs);
    if errs.is_empty() { Ok(()) } else { Err(errs) }
}
