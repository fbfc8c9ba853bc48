//! The API-server harness, exercised through kube-rs's real client, watcher, reflector and
//! Controller, and through kubectl.

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::controller::Action;
use kube::runtime::{Controller, WatchStreamExt, reflector, watcher};
use kube::{Client, CustomResource, CustomResourceExt, Resource, ResourceExt};
use schemars::JsonSchema;
use sealkit_tests::harness::{self, Fault, Harness, Verb};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

#[path = "harness_access.rs"]
mod access;

/// A custom resource for the tests.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "harness.sealkit.dev",
    version = "v1",
    kind = "Widget",
    namespaced,
    status = "WidgetStatus"
)]
pub struct WidgetSpec {
    size: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

/// Its status.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct WidgetStatus {
    ready: bool,
}

fn api_error(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn secret(name: &str, data: &[(&str, &str)]) -> Secret {
    let mut s = Secret::default();
    s.metadata.name = Some(name.into());
    s.string_data = Some(
        data.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    s
}

fn rv(obj: &impl Resource) -> u64 {
    obj.meta()
        .resource_version
        .as_deref()
        .unwrap_or_default()
        .parse()
        .expect("numeric resourceVersion")
}

async fn install_widget_crd(client: &Client) -> Api<Widget> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &Widget::crd())
        .await
        .expect("create CRD");
    Api::namespaced(client.clone(), "default")
}

/// Polls `f` until it returns `Some`, for effects that happen asynchronously (GC, controllers).
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..200 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn secret_crud_tracks_resource_versions_and_rejects_stale_replaces() {
    let h = harness::start().await;
    let api: Api<Secret> = Api::default_namespaced(h.client());
    let created = api
        .create(&PostParams::default(), &secret("s1", &[("a", "1")]))
        .await
        .unwrap();
    assert_eq!(created.data.as_ref().unwrap()["a"].0, b"1");
    assert!(created.string_data.is_none());
    assert_eq!(created.type_.as_deref(), Some("Opaque"));
    assert!(created.metadata.uid.is_some() && created.metadata.creation_timestamp.is_some());
    assert_eq!(created.metadata.generation, None);

    let err = api_error(
        api.create(&PostParams::default(), &secret("s1", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "AlreadyExists"));

    let mut newer = created.clone();
    newer.string_data = Some(BTreeMap::from([("b".into(), "2".into())]));
    let replaced = api
        .replace("s1", &PostParams::default(), &newer)
        .await
        .unwrap();
    assert!(rv(&replaced) > rv(&created));
    assert_eq!(replaced.data.as_ref().unwrap().len(), 2);

    // `created` carries the old resourceVersion: optimistic concurrency says no.
    let err = api_error(
        api.replace("s1", &PostParams::default(), &created)
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    assert!(
        err.message.contains("the object has been modified"),
        "{}",
        err.message
    );

    // A write that changes nothing keeps the resourceVersion.
    let same = api
        .replace("s1", &PostParams::default(), &replaced)
        .await
        .unwrap();
    assert_eq!(rv(&same), rv(&replaced));

    let deleted = api.delete("s1", &DeleteParams::default()).await.unwrap();
    let status = deleted.right().expect("deleted at once: a Status");
    assert_eq!(status.details.unwrap().name, "s1");
    let err = api_error(api.get("s1").await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (404, "NotFound"));
    assert_eq!(err.message, "secrets \"s1\" not found");
}

#[tokio::test]
async fn creating_in_a_missing_namespace_is_not_found_and_generate_name_works() {
    let h = harness::start().await;
    let api: Api<Secret> = Api::namespaced(h.client(), "nowhere");
    let err = api_error(
        api.create(&PostParams::default(), &secret("s", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (err.code, err.message.as_str()),
        (404, "namespaces \"nowhere\" not found")
    );

    let api: Api<Secret> = Api::default_namespaced(h.client());
    let mut s = secret("", &[]);
    s.metadata.name = None;
    s.metadata.generate_name = Some("gen-".into());
    let made = api.create(&PostParams::default(), &s).await.unwrap();
    assert!(
        made.name_any().starts_with("gen-") && made.name_any().len() == 9,
        "{}",
        made.name_any()
    );

    let mut bad = secret("Not_Valid", &[]);
    bad.metadata.name = Some("Not_Valid".into());
    let err = api_error(api.create(&PostParams::default(), &bad).await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
}

#[tokio::test]
async fn lists_filter_by_labels_and_fields_and_page_consistently() {
    let h = harness::start().await;
    let api: Api<Secret> = Api::default_namespaced(h.client());
    for (name, tier) in [
        ("a", "web"),
        ("b", "db"),
        ("c", "web"),
        ("d", "cache"),
        ("e", "web"),
    ] {
        let mut s = secret(name, &[]);
        s.metadata.labels = Some(BTreeMap::from([("tier".into(), tier.into())]));
        api.create(&PostParams::default(), &s).await.unwrap();
    }
    let names = |l: kube::core::ObjectList<Secret>| {
        l.items.iter().map(|s| s.name_any()).collect::<Vec<_>>()
    };
    assert_eq!(
        names(
            api.list(&ListParams::default().labels("tier=web"))
                .await
                .unwrap()
        ),
        ["a", "c", "e"]
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().labels("tier in (db,cache)"))
                .await
                .unwrap()
        ),
        ["b", "d"]
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().labels("tier notin (web),tier"))
                .await
                .unwrap()
        ),
        ["b", "d"]
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().fields("metadata.name=c"))
                .await
                .unwrap()
        ),
        ["c"]
    );
    let err = api_error(
        api.list(&ListParams::default().fields("spec.nope=1"))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 400);

    let first = api.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(names(first.clone()), ["a", "b"]);
    let token = first.metadata.continue_.clone().expect("more pages");
    assert_eq!(first.metadata.remaining_item_count, Some(3));
    // A change between pages does not show up: the continuation reads the first page's snapshot.
    api.create(&PostParams::default(), &secret("bb", &[]))
        .await
        .unwrap();
    let second = api
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(
        second.metadata.resource_version,
        first.metadata.resource_version
    );
    assert_eq!(names(second.clone()), ["c", "d"]);
    let third = api
        .list(
            &ListParams::default()
                .limit(2)
                .continue_token(second.metadata.continue_.as_deref().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(names(third.clone()), ["e"]);
    assert!(third.metadata.continue_.is_none());

    h.compact();
    let err = api_error(
        api.list(&ListParams::default().limit(2).continue_token(&token))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (410, "Expired"));
}

#[tokio::test]
async fn every_patch_type_updates_a_secret() {
    let h = harness::start().await;
    let client = h.client();
    let api: Api<Secret> = Api::default_namespaced(client.clone());
    let base = api
        .create(&PostParams::default(), &secret("p", &[("a", "1")]))
        .await
        .unwrap();

    let merged = api
        .patch(
            "p",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "1"}}, "stringData": {"b": "2"}})),
        )
        .await
        .unwrap();
    assert!(rv(&merged) > rv(&base));
    assert_eq!(merged.labels()["x"], "1");
    assert_eq!(merged.data.as_ref().unwrap().len(), 2);

    let strategic = api
        .patch(
            "p",
            &PatchParams::default(),
            &Patch::Strategic(json!({"metadata": {"finalizers": ["f/one"]}, "data": {"a": null}})),
        )
        .await
        .unwrap();
    assert_eq!(strategic.finalizers(), ["f/one"]);
    assert!(!strategic.data.as_ref().unwrap().contains_key("a"));

    // JSON patch, sent raw (kube's `Patch::Json` needs its `jsonpatch` feature).
    let req = axum::http::Request::patch("/api/v1/namespaces/default/secrets/p")
        .header("content-type", "application/json-patch+json")
        .body(
            serde_json::to_vec(&json!([
                {"op": "remove", "path": "/metadata/finalizers"},
                {"op": "add", "path": "/data/c", "value": "Mw=="}
            ]))
            .unwrap(),
        )
        .unwrap();
    let patched: Secret = client.request(req).await.unwrap();
    assert!(patched.finalizers().is_empty());
    assert_eq!(patched.data.as_ref().unwrap()["c"].0, b"3");

    // Server-side apply: a second manager conflicts, then forces.
    let applied = api
        .patch(
            "p",
            &PatchParams::apply("alice"),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "p"}, "data": {"c": "NA=="}})),
        )
        .await;
    let err = api_error(applied.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    assert!(err.message.contains(".data.c"), "{}", err.message);
    let forced = api
        .patch(
            "p",
            &PatchParams::apply("alice").force(),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "p", "labels": {"owner": "alice"}}, "data": {"c": "NA=="}})),
        )
        .await
        .unwrap();
    assert_eq!(forced.data.as_ref().unwrap()["c"].0, b"4");
    let managers: Vec<_> = forced
        .metadata
        .managed_fields
        .unwrap()
        .iter()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert!(managers.contains(&"alice".to_string()), "{managers:?}");
    // Leaving a field out of the next apply removes it.
    let again = api
        .patch(
            "p",
            &PatchParams::apply("alice"),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "p"}, "data": {"c": "NA=="}})),
        )
        .await
        .unwrap();
    assert!(!again.labels().contains_key("owner"));
    // Apply creates.
    let new = api
        .patch(
            "fresh",
            &PatchParams::apply("alice"),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "fresh"}, "stringData": {"k": "v"}})),
        )
        .await
        .unwrap();
    assert_eq!(new.data.unwrap()["k"].0, b"v");
}

#[tokio::test]
async fn custom_resource_generation_moves_on_spec_changes_and_status_is_a_subresource() {
    let h = harness::start().await;
    let widgets = install_widget_crd(&h.client()).await;
    let mut w = Widget::new(
        "w1",
        WidgetSpec {
            size: 1,
            note: None,
        },
    );
    w.status = Some(WidgetStatus { ready: true });
    let created = widgets.create(&PostParams::default(), &w).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    assert_eq!(created.status, None, "create cannot set status");

    let labelled = widgets
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        labelled.metadata.generation,
        Some(1),
        "metadata changes keep the generation"
    );

    let mut st = labelled.clone();
    st.status = Some(WidgetStatus { ready: true });
    st.spec.size = 99;
    let after_status = widgets
        .replace_status("w1", &PostParams::default(), &st)
        .await
        .unwrap();
    assert_eq!(after_status.status, Some(WidgetStatus { ready: true }));
    assert_eq!(
        after_status.spec.size, 1,
        "status updates do not change spec"
    );
    assert_eq!(after_status.metadata.generation, Some(1));
    assert!(rv(&after_status) > rv(&labelled));

    let mut sp = after_status.clone();
    sp.spec.size = 2;
    sp.status = Some(WidgetStatus { ready: false });
    let after_spec = widgets
        .replace("w1", &PostParams::default(), &sp)
        .await
        .unwrap();
    assert_eq!(after_spec.metadata.generation, Some(2));
    assert_eq!(
        after_spec.status,
        Some(WidgetStatus { ready: true }),
        "spec updates do not change status"
    );

    let err = api_error(
        widgets
            .replace("w1", &PostParams::default(), &sp)
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 409);

    // The schema prunes unknown fields and checks types.
    let bad = json!({"apiVersion": "harness.sealkit.dev/v1", "kind": "Widget", "metadata": {"name": "bad"}, "spec": {"size": "big"}});
    let req = axum::http::Request::post("/apis/harness.sealkit.dev/v1/namespaces/default/widgets")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&bad).unwrap())
        .unwrap();
    let err = api_error(h.client().request::<Widget>(req).await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    let patched = widgets
        .patch_status("w1", &PatchParams::apply("ctl").force(), &Patch::Apply(json!({"apiVersion": "harness.sealkit.dev/v1",
            "kind": "Widget", "metadata": {"name": "w1"}, "status": {"ready": false, "unknown": 1}})))
        .await
        .unwrap();
    assert_eq!(patched.status, Some(WidgetStatus { ready: false }));
    assert_eq!(patched.metadata.generation, Some(2));
}

#[tokio::test]
async fn finalizers_hold_deletion_until_they_are_removed() {
    let h = harness::start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(h.client());
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("held".into());
    cm.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    api.create(&PostParams::default(), &cm).await.unwrap();
    let pending = api
        .delete("held", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .expect("still there");
    assert!(pending.metadata.deletion_timestamp.is_some());
    let err = api_error(
        api.patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["example.com/hold", "new"]}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert_eq!(api_error(api.get("held").await.unwrap_err()).code, 404);
}

fn owned_cm(name: &str, owner: &ConfigMap, block: bool) -> ConfigMap {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(name.into());
    cm.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: owner.name_any(),
        uid: owner.uid().unwrap(),
        block_owner_deletion: Some(block),
        controller: Some(true),
    }]);
    cm
}

#[tokio::test]
async fn garbage_collection_follows_the_propagation_policy() {
    let h = harness::start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(h.client());
    let mk = |n: &str| {
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some(n.into());
        cm
    };
    let pp = PostParams::default();

    // Background: the owner goes at once, the dependent after.
    let owner = api.create(&pp, &mk("bg-owner")).await.unwrap();
    api.create(&pp, &owned_cm("bg-dep", &owner, false))
        .await
        .unwrap();
    api.delete("bg-owner", &DeleteParams::background())
        .await
        .unwrap();
    eventually("background GC", || async {
        api.get_opt("bg-dep").await.unwrap().is_none().then_some(())
    })
    .await;

    // Foreground: the owner waits (with its finalizer) until the blocking dependent is gone.
    let owner = api.create(&pp, &mk("fg-owner")).await.unwrap();
    let mut dep = owned_cm("fg-dep", &owner, true);
    dep.metadata.finalizers = Some(vec!["example.com/slow".into()]);
    api.create(&pp, &dep).await.unwrap();
    api.delete("fg-owner", &DeleteParams::foreground())
        .await
        .unwrap();
    eventually("dependent marked for deletion", || async {
        api.get("fg-dep")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .map(|_| ())
    })
    .await;
    let owner_now = api.get("fg-owner").await.unwrap();
    assert!(
        owner_now
            .finalizers()
            .contains(&"foregroundDeletion".to_string())
    );
    api.patch(
        "fg-dep",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    eventually("foreground owner removal", || async {
        api.get_opt("fg-owner")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;

    // Orphan: the dependent stays, without the reference.
    let owner = api.create(&pp, &mk("or-owner")).await.unwrap();
    api.create(&pp, &owned_cm("or-dep", &owner, false))
        .await
        .unwrap();
    api.delete("or-owner", &DeleteParams::orphan())
        .await
        .unwrap();
    eventually("orphaning", || async {
        let dep = api.get("or-dep").await.unwrap();
        (api.get_opt("or-owner").await.unwrap().is_none() && dep.owner_references().is_empty())
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn deleting_a_namespace_deletes_its_content_first() {
    let h = harness::start().await;
    let nss: Api<Namespace> = Api::all(h.client());
    let mut ns = Namespace::default();
    ns.metadata.name = Some("doomed".into());
    nss.create(&PostParams::default(), &ns).await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(h.client(), "doomed");
    secrets
        .create(&PostParams::default(), &secret("inside", &[]))
        .await
        .unwrap();
    nss.delete("doomed", &DeleteParams::default())
        .await
        .unwrap();
    eventually("namespace removal", || async {
        nss.get_opt("doomed").await.unwrap().is_none().then_some(())
    })
    .await;
    assert!(secrets.get_opt("inside").await.unwrap().is_none());
}

async fn next_event<K>(
    events: &mut (impl futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Unpin),
) -> watcher::Event<K> {
    tokio::time::timeout(Duration::from_secs(10), events.try_next())
        .await
        .expect("an event in time")
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn watcher_and_reflector_see_every_change_in_order_and_survive_cuts_and_expiry() {
    let h = harness::start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(h.client());
    let (reader, writer) = reflector::store::<ConfigMap>();
    let mut events = watcher(api.clone(), watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .boxed();
    assert!(matches!(
        next_event(&mut events).await,
        watcher::Event::Init
    ));
    assert!(matches!(
        next_event(&mut events).await,
        watcher::Event::InitDone
    ));

    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("one".into());
    api.create(&PostParams::default(), &cm).await.unwrap();
    for i in 0..3 {
        api.patch(
            "one",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"i": i.to_string()}})),
        )
        .await
        .unwrap();
    }
    let mut seen = vec![];
    for _ in 0..4 {
        match next_event(&mut events).await {
            watcher::Event::Apply(o) => {
                seen.push(o.data.and_then(|d| d.get("i").cloned()).unwrap_or_default())
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, ["", "0", "1", "2"]);

    // A cut watch resumes from the last resourceVersion, without a relist.
    let before = h.watches_started();
    h.cut_watches();
    api.patch(
        "one",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"i": "3"}})),
    )
    .await
    .unwrap();
    match next_event(&mut events).await {
        watcher::Event::Apply(o) => assert_eq!(o.data.unwrap()["i"], "3"),
        other => panic!("unexpected {other:?}"),
    }
    assert!(h.watches_started() > before);

    // Expired history: the next watch gets 410 and the watcher relists.
    h.cut_watches();
    let mut two = ConfigMap::default();
    two.metadata.name = Some("two".into());
    api.create(&PostParams::default(), &two).await.unwrap();
    h.compact();
    let mut saw_expired = false;
    let mut relisted = vec![];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("event")
            .unwrap()
        {
            Err(watcher::Error::WatchError(e)) if e.code == 410 => saw_expired = true,
            Err(e) => panic!("unexpected error {e:?}"),
            Ok(watcher::Event::InitApply(o)) => relisted.push(o.name_any()),
            Ok(watcher::Event::InitDone) => break,
            Ok(_) => {}
        }
    }
    assert!(saw_expired);
    assert_eq!(relisted, ["one", "two"]);
    let mut names: Vec<_> = reader.state().iter().map(|o| o.name_any()).collect();
    names.sort();
    assert_eq!(names, ["one", "two"]);

    api.delete("one", &DeleteParams::default()).await.unwrap();
    assert!(
        matches!(next_event(&mut events).await, watcher::Event::Delete(o) if o.name_any() == "one")
    );
    assert_eq!(reader.state().len(), 1);
}

#[tokio::test]
async fn raw_watches_get_bookmarks_and_selector_transitions() {
    let h = harness::start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(h.client());
    let start = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = api
        .watch(&WatchParams::default().labels("app=x"), &start)
        .await
        .unwrap()
        .boxed();
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("sel".into());
    api.create(&PostParams::default(), &cm).await.unwrap();
    api.patch(
        "sel",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "x"}}})),
    )
    .await
    .unwrap();
    api.patch(
        "sel",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "y"}}})),
    )
    .await
    .unwrap();
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(10), stream.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
    };
    assert!(
        matches!(next().await, WatchEvent::Added(o) if o.name_any() == "sel"),
        "starts matching: ADDED"
    );
    assert!(
        matches!(next().await, WatchEvent::Deleted(o) if o.name_any() == "sel"),
        "stops matching: DELETED"
    );
    h.send_bookmarks();
    let WatchEvent::Bookmark(b) = next().await else {
        panic!("expected a bookmark")
    };
    assert_eq!(
        b.metadata.resource_version,
        h.resource_version().to_string()
    );

    let old = api.watch(&WatchParams::default(), &start).await;
    h.compact();
    drop(old);
    let mut expired = api
        .watch(&WatchParams::default(), &start)
        .await
        .unwrap()
        .boxed();
    match expired.try_next().await.unwrap().unwrap() {
        WatchEvent::Error(e) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        other => panic!("expected 410, got {other:?}"),
    }
}

#[tokio::test]
async fn streaming_list_watchers_get_the_initial_events_end_bookmark() {
    let h = harness::start().await;
    let api: Api<Secret> = Api::default_namespaced(h.client());
    api.create(&PostParams::default(), &secret("pre", &[]))
        .await
        .unwrap();
    let mut events = watcher(api.clone(), watcher::Config::default().streaming_lists()).boxed();
    let mut init = vec![];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), events.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            watcher::Event::Init => {}
            watcher::Event::InitApply(o) => init.push(o.name_any()),
            watcher::Event::InitDone => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(init, ["pre"]);
    api.create(&PostParams::default(), &secret("post", &[]))
        .await
        .unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(10), events.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(ev, watcher::Event::Apply(o) if o.name_any() == "post"));
}

struct Ctx {
    client: Client,
}

#[derive(Debug, thiserror::Error)]
enum ToyError {
    #[error("kube")]
    Kube(#[from] kube::Error),
    #[error("widget has no namespace")]
    MissingNamespace,
}

async fn reconcile(w: Arc<Widget>, ctx: Arc<Ctx>) -> Result<Action, ToyError> {
    let ns = w.namespace().ok_or(ToyError::MissingNamespace)?;
    let cms: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
    let owner = w.controller_owner_ref(&()).expect("widgets have a uid");
    for i in 0..w.spec.size {
        let cm = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("{}-{i}", w.name_any()), "ownerReferences": [owner]},
            "data": {"size": w.spec.size.to_string()},
        });
        cms.patch(
            &format!("{}-{i}", w.name_any()),
            &PatchParams::apply("toy").force(),
            &Patch::Apply(cm),
        )
        .await?;
    }
    let widgets: Api<Widget> = Api::namespaced(ctx.client.clone(), &ns);
    widgets
        .patch_status(
            &w.name_any(),
            &PatchParams::apply("toy").force(),
            &Patch::Apply(json!({
            "apiVersion": "harness.sealkit.dev/v1", "kind": "Widget", "status": {"ready": true}})),
        )
        .await?;
    Ok(Action::await_change())
}

fn error_policy(_: Arc<Widget>, _: &ToyError, _: Arc<Ctx>) -> Action {
    Action::requeue(Duration::from_millis(100))
}

#[tokio::test]
async fn a_controller_reconciles_widgets_to_owned_config_maps_that_gc_removes() {
    let h = harness::start().await;
    let client = h.client();
    let widgets = install_widget_crd(&client).await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let ctl = Controller::new(widgets.clone(), watcher::Config::default())
        .owns(cms.clone(), watcher::Config::default())
        .run(
            reconcile,
            error_policy,
            Arc::new(Ctx {
                client: client.clone(),
            }),
        )
        .for_each(|_| async {});
    let ctl = tokio::spawn(ctl);

    // One transient failure on the first apply: the error policy requeues.
    h.inject(Fault::status(503).verb(Verb::Patch).resource("configmaps"));
    widgets
        .create(
            &PostParams::default(),
            &Widget::new(
                "w",
                WidgetSpec {
                    size: 3,
                    note: None,
                },
            ),
        )
        .await
        .unwrap();
    let ready = eventually("reconciled widget", || async {
        let w = widgets.get("w").await.unwrap();
        (w.status == Some(WidgetStatus { ready: true })).then_some(w)
    })
    .await;
    let owned = cms.list(&ListParams::default()).await.unwrap();
    let names: Vec<_> = owned
        .items
        .iter()
        .map(|c| c.name_any())
        .filter(|n| n.starts_with("w-"))
        .collect();
    assert_eq!(names, ["w-0", "w-1", "w-2"]);
    assert!(
        owned
            .items
            .iter()
            .filter(|c| c.name_any().starts_with("w-"))
            .all(|c| c.owner_references()[0].uid == ready.uid().unwrap())
    );

    widgets.delete("w", &DeleteParams::default()).await.unwrap();
    eventually("garbage collection", || async {
        let left = cms.list(&ListParams::default()).await.unwrap();
        left.items
            .iter()
            .all(|c| !c.name_any().starts_with("w-"))
            .then_some(())
    })
    .await;
    ctl.abort();
}

#[tokio::test]
async fn injected_faults_reach_the_client() {
    let h = harness::start().await;
    let api: Api<Secret> = Api::default_namespaced(h.client());
    api.create(&PostParams::default(), &secret("f", &[]))
        .await
        .unwrap();

    // 500 and 409 reach the caller.
    for code in [500u16, 409] {
        h.inject(Fault::status(code).verb(Verb::Get).resource("secrets"));
        assert_eq!(api_error(api.get("f").await.unwrap_err()).code, code);
        api.get("f").await.expect("one failure only");
    }
    // kube 5's client retries 429, 503 and 504 itself (`Config::default_retry`): one 503 costs a
    // second request, not an error.
    h.clear_requests();
    h.inject(Fault::status(503).verb(Verb::Get).resource("secrets"));
    api.get("f").await.expect("retried past the 503");
    assert_eq!(
        h.requests().iter().filter(|r| r.verb == Verb::Get).count(),
        2
    );

    // Without retries the 429 and its Retry-After are visible.
    let mut config = kube::Config::new(h.url().parse().unwrap());
    config.default_retry = false;
    let plain: Api<Secret> = Api::default_namespaced(Client::try_from(config).unwrap());
    h.inject(Fault::too_many_requests(7).verb(Verb::List).times(2));
    for _ in 0..2 {
        let err = api_error(plain.list(&ListParams::default()).await.unwrap_err());
        assert_eq!((err.code, err.reason.as_str()), (429, "TooManyRequests"));
        assert_eq!(err.details.unwrap().retry_after_seconds, 7);
    }
    plain.list(&ListParams::default()).await.unwrap();
    h.inject(Fault::too_many_requests(3));
    let raw = reqwest::get(format!("{}/api/v1/namespaces/default/secrets", h.url()))
        .await
        .unwrap();
    assert_eq!(raw.status(), 429);
    assert_eq!(raw.headers()["retry-after"], "3");

    // Latency: a client with a short read timeout gives up.
    let mut config = kube::Config::new(h.url().parse().unwrap());
    config.read_timeout = Some(Duration::from_millis(200));
    let impatient: Api<Secret> = Api::default_namespaced(Client::try_from(config).unwrap());
    h.inject(
        Fault::latency(Duration::from_secs(2))
            .verb(Verb::Get)
            .times(1),
    );
    assert!(!matches!(
        impatient.get("f").await,
        Ok(_) | Err(kube::Error::Api(_))
    ));
    impatient.get("f").await.unwrap();
    assert!(
        h.requests()
            .iter()
            .any(|r| r.verb == Verb::Get && r.name.as_deref() == Some("f"))
    );
}

#[tokio::test]
async fn the_service_proxy_forwards_to_the_registered_address() {
    use axum::routing::{get, post};
    let app = axum::Router::new()
        .route(
            "/v1/cert.pem",
            get(|| async { "-----BEGIN CERTIFICATE-----\n" }),
        )
        .route(
            "/v1/verify",
            post(|body: String| async move { format!("verified {body}") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let h = harness::start().await;
    let client = h.client();
    let nss: Api<Namespace> = Api::all(client.clone());
    let mut ns = Namespace::default();
    ns.metadata.name = Some("kube-system-2".into());
    nss.create(&PostParams::default(), &ns).await.unwrap();
    h.register_service_proxy("kube-system-2", "sealed-secrets-controller", "8080", addr);

    for svc in [
        "http:sealed-secrets-controller:8080",
        "sealed-secrets-controller:8080",
        "sealed-secrets-controller",
    ] {
        let req = axum::http::Request::get(format!(
            "/api/v1/namespaces/kube-system-2/services/{svc}/proxy/v1/cert.pem"
        ))
        .body(vec![])
        .unwrap();
        assert_eq!(
            client.request_text(req).await.unwrap(),
            "-----BEGIN CERTIFICATE-----\n"
        );
    }
    let req = axum::http::Request::post(
        "/api/v1/namespaces/kube-system-2/services/http:sealed-secrets-controller:/proxy/v1/verify",
    )
    .body(b"blob".to_vec())
    .unwrap();
    assert_eq!(client.request_text(req).await.unwrap(), "verified blob");
    let req = axum::http::Request::get("/api/v1/namespaces/kube-system-2/services/other:80/proxy/")
        .body(vec![])
        .unwrap();
    assert_eq!(
        api_error(client.request_text(req).await.unwrap_err()).code,
        404
    );
}

fn kubectl(h: &Harness, args: &[&str]) -> std::process::Output {
    std::process::Command::new("kubectl")
        .arg("--server")
        .arg(h.url())
        .args(args)
        .output()
        .expect("kubectl is installed (scripts/deps/harness.sh)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_and_gets_built_in_kinds_and_custom_resources() {
    let h = harness::start().await;
    let dir = tempfile::tempdir().unwrap();
    let crd = dir.path().join("crd.yaml");
    fs_err::write(&crd, serde_yaml_ng::to_string(&Widget::crd()).unwrap()).unwrap();
    let manifests = dir.path().join("objs.yaml");
    fs_err::write(
        &manifests,
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: from-kubectl\n  labels: {app: demo}\nstringData:\n  k: v\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: b\n",
    )
    .unwrap();
    let widget = dir.path().join("widget.yaml");
    fs_err::write(&widget, "apiVersion: harness.sealkit.dev/v1\nkind: Widget\nmetadata:\n  name: wk\nspec:\n  size: 2\n").unwrap();

    let h2 = &h;
    let run = |args: Vec<String>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = tokio::task::block_in_place(|| kubectl(h2, &refs));
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let path = |p: &std::path::Path| p.display().to_string();
    run(vec!["apply".into(), "-f".into(), path(&crd)]);
    run(vec!["apply".into(), "-f".into(), path(&manifests)]);
    run(vec!["apply".into(), "-f".into(), path(&widget)]);
    // Applying again after a change patches.
    fs_err::write(&widget, "apiVersion: harness.sealkit.dev/v1\nkind: Widget\nmetadata:\n  name: wk\nspec:\n  size: 5\n").unwrap();
    run(vec!["apply".into(), "-f".into(), path(&widget)]);
    run(vec![
        "apply".into(),
        "--server-side".into(),
        "-f".into(),
        path(&manifests),
    ]);

    let got: serde_json::Value = serde_json::from_str(&run(vec![
        "get".into(),
        "secret".into(),
        "from-kubectl".into(),
        "-o".into(),
        "json".into(),
    ]))
    .unwrap();
    assert_eq!(got["data"]["k"], "dg==");
    let table = run(vec!["get".into(), "widgets".into()]);
    assert!(table.contains("wk"), "{table}");
    let w: serde_json::Value = serde_json::from_str(&run(vec![
        "get".into(),
        "widget".into(),
        "wk".into(),
        "-o".into(),
        "json".into(),
    ]))
    .unwrap();
    assert_eq!(w["spec"]["size"], 5);
    assert_eq!(w["metadata"]["generation"], 2);
    let labelled = run(vec![
        "get".into(),
        "secrets".into(),
        "-l".into(),
        "app=demo".into(),
        "-o".into(),
        "name".into(),
    ]);
    assert_eq!(labelled.trim(), "secret/from-kubectl");
    run(vec!["delete".into(), "-f".into(), path(&widget)]);
    let widgets: Api<Widget> = Api::default_namespaced(h.client());
    assert!(widgets.get_opt("wk").await.unwrap().is_none());
}
