//! The sealing keys over their lifetime (issue 17), against the API-server harness:
//! `seal reseal` through the controller, which keys the SealedSecrets need (recorded in their
//! status, counted on `/v1/keys` and `/metrics`, kept through restarts, following deletions),
//! `seal keys retire` refused while a key is needed, and sealing keys wrapped by a real
//! OpenBao transit engine and moto's KMS (the real `seal-controller` binary, which reads its
//! credentials from its environment), restarted, and locked by a wrong master key.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt as _;
use kube::api::{DeleteParams, ListParams, PostParams};
use sealer::sealed::{Certificate, PrivateKey};
use sealkit_tests::binaries;
use sealkit_tests::servers::{Moto, OpenBao};

use crate::controller::{
    CONTROLLER_NS, Cluster, Controller, KEY_LABEL, SERVICE, create_sealed, eventually, run_binary,
    seal_in_process, secret_value, store_key, wait_ready,
};

/// `GET /v1/keys` as JSON.
async fn key_list(http: &reqwest::Client, api: SocketAddr) -> serde_json::Value {
    http.get(format!("http://{api}/v1/keys"))
        .send()
        .await
        .expect("GET /v1/keys")
        .json()
        .await
        .expect("JSON key list")
}

/// The row of `fingerprint` in a key list.
fn row<'a>(list: &'a serde_json::Value, fingerprint: &str) -> &'a serde_json::Value {
    list["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["fingerprint"] == fingerprint)
        .unwrap_or_else(|| panic!("{fingerprint} in {list}"))
}

/// Waits until `/v1/keys` says `fingerprint` is needed by `n` SealedSecrets.
async fn wait_count(http: &reqwest::Client, api: SocketAddr, fingerprint: &str, n: u64) {
    eventually(
        &format!("{n} SealedSecrets counted for {fingerprint}"),
        || async {
            let list = key_list(http, api).await;
            (row(&list, fingerprint)["sealedSecrets"] == n).then_some(())
        },
    )
    .await;
}

fn fingerprint_of(pem: &str) -> String {
    Certificate::from_pem(pem.as_bytes())
        .expect("certificate")
        .public_key()
        .fingerprint()
}

/// `text` with every long base64 run (a sealed blob) replaced by `<blob>`.
fn masked(text: &str) -> String {
    let is_b64 = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=');
    let (mut out, mut run) = (String::new(), String::new());
    for c in text.chars().chain(std::iter::once('\n')) {
        if is_b64(c) {
            run.push(c);
            continue;
        }
        out.push_str(if run.len() > 200 { "<blob>" } else { &run });
        run.clear();
        out.push(c);
    }
    out
}

/// The status.sealingKeys of `ns/name`, once it is `want`.
async fn wait_sealing_keys(c: &Cluster, ns: &str, name: &str, want: &[&str]) {
    let api = c.sealed(ns);
    eventually(&format!("{ns}/{name} sealingKeys {want:?}"), || {
        let api = api.clone();
        async move {
            let ss = api.get_opt(name).await.ok().flatten()?;
            let keys = ss.status?.sealing_keys?;
            (keys == want).then_some(())
        }
    })
    .await;
}

/// A second key, certainly newer than the first (certificate times have whole seconds).
async fn newer_key(c: &Cluster, ctl: &Controller) -> String {
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_, cert) = store_key(c, "sealed-secrets-key").await;
    let pem = cert.to_pem();
    eventually("the newer key seals", || async {
        (ctl.cert_pem().await == pem).then_some(())
    })
    .await;
    fingerprint_of(&pem)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reseal_through_the_controller_changes_only_old_values_and_leaves_current_files_alone() {
    let c = Cluster::start(&["team-a"]).await;
    let ctl = Controller::start(&c, &[]).await;
    ctl.expose(&c);
    let old = Certificate::from_pem(ctl.cert_pem().await.as_bytes()).expect("cert");
    let password = secret_value("pw");
    let stale = serde_yaml_ng::to_string(&seal_in_process(
        &old,
        "team-a",
        "db",
        &[("password", &password)],
    ))
    .expect("yaml");
    let stale_file = format!(
        "# database credentials\n---\n{}# end\n",
        stale.replace("password:", "password: # sealed\n     ")
    );
    let new_fingerprint = newer_key(&c, &ctl).await;
    let new = Certificate::from_pem(ctl.cert_pem().await.as_bytes()).expect("cert");
    let current =
        serde_json::to_string_pretty(&seal_in_process(&new, "team-a", "cur", &[("k", "v")]))
            .expect("json");
    let tree = c.path("tree");
    fs_err::create_dir_all(tree.join("apps")).expect("mkdir");
    fs_err::write(tree.join("apps/db.yaml"), &stale_file).expect("write");
    fs_err::write(tree.join("current.json"), &current).expect("write");

    let out = c
        .seal_ok(
            &["reseal", "--output", "json", tree.to_str().expect("path")],
            "",
        )
        .await;
    let report: serde_json::Value = serde_json::from_str(&out).expect("report");
    assert_eq!(report["summary"]["resealed"], 1, "{report}");
    assert_eq!(report["summary"]["unchanged"], 1, "{report}");
    let resealed = fs_err::read_to_string(tree.join("apps/db.yaml")).expect("read");
    assert_ne!(resealed, stale_file);
    assert_eq!(masked(&resealed), masked(&stale_file));
    assert!(resealed.contains("# database credentials") && resealed.contains("# sealed"));
    assert_eq!(
        fs_err::read_to_string(tree.join("current.json")).expect("read"),
        current,
        "already sealed for the newest key: byte-identical"
    );

    // Applied, it opens with the new key, as its status records.
    c.apply(&resealed).await;
    let secret = c.secret("team-a", "db").await;
    assert_eq!(crate::controller::data_of(&secret)["password"], password);
    wait_sealing_keys(&c, "team-a", "db", &[&new_fingerprint]).await;

    // The same through --controller-url, straight to the controller.
    let again = c.path("again.yaml");
    fs_err::write(&again, &stale).expect("write");
    let url = format!("http://{}", ctl.api);
    c.seal_ok(
        &[
            "reseal",
            "--controller-url",
            &url,
            again.to_str().expect("path"),
        ],
        "",
    )
    .await;
    assert_ne!(fs_err::read_to_string(&again).expect("read"), stale);
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_usage_is_counted_through_restarts_and_deletions_and_a_needed_key_is_not_retired() {
    let c = Cluster::start(&["team-a"]).await;
    let ctl = Controller::start(&c, &[]).await;
    ctl.expose(&c);
    let first_pem = ctl.cert_pem().await;
    let first = fingerprint_of(&first_pem);
    let cert = Certificate::from_pem(first_pem.as_bytes()).expect("cert");
    for name in ["a", "b", "c"] {
        create_sealed(&c, &seal_in_process(&cert, "team-a", name, &[("k", name)])).await;
    }
    for name in ["a", "b", "c"] {
        wait_sealing_keys(&c, "team-a", name, &[&first]).await;
    }
    wait_count(&ctl.http, ctl.api, &first, 3).await;
    let metric = format!("sealkit_sealed_secrets_per_key{{fingerprint=\"{first}\"}}");
    ctl.wait_metric(&metric, |v| v == 3.0).await;

    // A restart finds every Secret in sync (no RSA operation) and keeps the record.
    ctl.stop().await;
    let ctl = Controller::start(&c, &[]).await;
    ctl.expose(&c);
    wait_count(&ctl.http, ctl.api, &first, 3).await;
    for name in ["a", "b", "c"] {
        wait_sealing_keys(&c, "team-a", name, &[&first]).await;
    }
    assert_eq!(
        ctl.metric("sealkit_rsa_private_operations_total").await,
        0.0
    );

    // A newer key seals; the first is still needed: retiring it is refused, and so is
    // retiring the key that seals.
    let second = newer_key(&c, &ctl).await;
    let refused = c.seal(&["keys", "retire", &first], "").await;
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("3 SealedSecrets still need"), "{stderr}");
    let refused = c.seal(&["keys", "retire", &second], "").await;
    assert!(String::from_utf8_lossy(&refused.stderr).contains("seals now"));
    let list = c.seal_ok(&["keys", "list"], "").await;
    assert!(list.contains(&first) && list.contains(&second), "{list}");

    // Deletions count down; at zero the key retires, and the controller lists it retired.
    for name in ["a", "b", "c"] {
        c.sealed("team-a")
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete");
    }
    wait_count(&ctl.http, ctl.api, &first, 0).await;
    c.seal_ok(&["keys", "retire", &first], "").await;
    let keys = c
        .secrets(CONTROLLER_NS)
        .list(&ListParams::default().labels(KEY_LABEL))
        .await
        .expect("keys");
    let retired: Vec<&Secret> = keys
        .items
        .iter()
        .filter(|s| s.labels().get(KEY_LABEL).map(String::as_str) == Some("retired"))
        .collect();
    assert_eq!(retired.len(), 1);
    eventually("the first key listed retired", || async {
        let list = key_list(&ctl.http, ctl.api).await;
        (row(&list, &first)["state"] == "retired").then_some(())
    })
    .await;
    ctl.stop().await;
}

/// The real controller binary, with extra flags and environment; killed on drop.
struct ControllerProcess {
    child: tokio::process::Child,
    api: SocketAddr,
}

impl ControllerProcess {
    async fn start(c: &Cluster, flags: &[String], env: &[(&str, String)]) -> Self {
        let free = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .expect("bind")
                .local_addr()
                .expect("addr")
                .port()
        };
        let (api_port, metrics_port) = (free(), free());
        let path = tokio::task::spawn_blocking(|| binaries::path("seal-controller"))
            .await
            .expect("binary");
        let mut cmd = tokio::process::Command::new(path);
        cmd.args([
            "--key-size=2048",
            "--key-namespace=kube-system",
            &format!("--listen-addr=127.0.0.1:{api_port}"),
            &format!("--listen-metrics-addr=127.0.0.1:{metrics_port}"),
            "--rate-limit=100",
        ])
        .args(flags)
        .env("KUBECONFIG", &c.kubeconfig)
        .env_remove("POD_NAMESPACE")
        .env_remove("VAULT_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn seal-controller");
        Self {
            child,
            api: format!("127.0.0.1:{api_port}").parse().expect("addr"),
        }
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

async fn key_secrets(c: &Cluster) -> Vec<Secret> {
    c.secrets(CONTROLLER_NS)
        .list(&ListParams::default().labels(KEY_LABEL))
        .await
        .expect("keys")
        .items
}

fn tls(secret: &Secret, item: &str) -> Vec<u8> {
    secret.data.as_ref().expect("data")[item].0.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_wrapped_by_openbao_transit_survive_restarts_and_a_wrong_master_key_serves_no_certificate()
 {
    let bao = tokio::task::spawn_blocking(|| {
        let bao = OpenBao::start();
        bao.mount("transit", "transit", serde_json::json!({}));
        bao.api(reqwest::Method::POST, "transit/keys/sealkit", None);
        bao.api(reqwest::Method::POST, "transit/keys/other", None);
        bao
    })
    .await
    .expect("OpenBao");
    let c = Cluster::start(&["team-a"]).await;
    let uri = format!("{}/v1/transit/keys/sealkit", bao.url());
    let env = [("VAULT_TOKEN", bao.token().to_owned())];
    let wrap_flag = format!("--key-wrap-hc-vault-transit={uri}");
    let http = reqwest::Client::new();

    // First start: a new key, stored wrapped.
    let ctl = ControllerProcess::start(&c, std::slice::from_ref(&wrap_flag), &env).await;
    wait_ready(&http, ctl.api).await;
    let keys = key_secrets(&c).await;
    assert_eq!(keys.len(), 1);
    let tls_key = String::from_utf8(tls(&keys[0], "tls.key")).expect("utf-8");
    assert!(
        tls_key.starts_with('{') && tls_key.contains("\"hc_vault\""),
        "{tls_key}"
    );
    assert!(!tls_key.contains("PRIVATE KEY"));
    let list = key_list(&http, ctl.api).await;
    assert_eq!(list["keys"][0]["wrapped"], true, "{list}");
    let cert_pem = String::from_utf8(tls(&keys[0], "tls.crt")).expect("utf-8");

    // It unseals.
    c.h.register_service_proxy(CONTROLLER_NS, SERVICE, "http", ctl.api);
    let password = secret_value("pw");
    let sealed = c
        .seal_ok(
            &[],
            &crate::controller::secret_yaml("team-a", "db", &[("password", &password)]),
        )
        .await;
    c.apply(&sealed).await;
    let secret = c.secret("team-a", "db").await;
    assert_eq!(crate::controller::data_of(&secret)["password"], password);

    // The wrapped key is a SOPS file: the real sops opens it with the transit key, and
    // `seal keys unwrap` gives the same PEM, which certifies tls.crt.
    let wrapped_path = c.path("tls.key.json");
    fs_err::write(&wrapped_path, &tls_key).expect("write");
    let sops = std::process::Command::new("sops")
        .args(["decrypt", "--input-type", "json", "--output-type", "binary"])
        .arg(&wrapped_path)
        .env("VAULT_TOKEN", bao.token())
        .output()
        .expect("sops");
    assert!(
        sops.status.success(),
        "{}",
        String::from_utf8_lossy(&sops.stderr)
    );
    let pem = PrivateKey::from_pem(&sops.stdout).expect("sops gives the PEM key");
    assert_eq!(
        pem.public_key(),
        Certificate::from_pem(cert_pem.as_bytes())
            .expect("cert")
            .public_key()
    );
    let mut exported = keys[0].clone();
    exported.metadata.managed_fields = None;
    let exported_path = c.path("key-secret.yaml");
    fs_err::write(
        &exported_path,
        serde_yaml_ng::to_string(&exported).expect("yaml"),
    )
    .expect("write");
    let unwrapped_path = c.path("plain.yaml");
    let out = run_binary(
        "seal",
        &[
            "keys",
            "unwrap",
            exported_path.to_str().expect("path"),
            "-w",
            unwrapped_path.to_str().expect("path"),
        ],
        "",
        &[("VAULT_TOKEN", bao.token().as_ref())],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plain: Secret =
        serde_yaml_ng::from_str(&fs_err::read_to_string(&unwrapped_path).expect("read"))
            .expect("secret");
    assert_eq!(tls(&plain, "tls.key"), sops.stdout);

    // Backup (the key stays wrapped), the key Secret lost, restored from the backup.
    ctl.stop().await;
    let backup = c.path("backup.yaml");
    let out = c
        .seal(
            &["keys", "backup", "-w", backup.to_str().expect("path")],
            "",
        )
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 wrapped, 0 plain"));
    let backup_text = fs_err::read_to_string(&backup).expect("read");
    assert!(!backup_text.contains("uid:") && !backup_text.contains("resourceVersion"));
    c.secrets(CONTROLLER_NS)
        .delete(&keys[0].name_any(), &DeleteParams::default())
        .await
        .expect("delete the key Secret");
    c.seal_ok(&["keys", "restore", backup.to_str().expect("path")], "")
        .await;
    assert_eq!(
        tls(&key_secrets(&c).await[0], "tls.key"),
        tls_key.as_bytes()
    );

    // Restart: the wrapped key is unwrapped again, no new key.
    let ctl = ControllerProcess::start(&c, std::slice::from_ref(&wrap_flag), &env).await;
    wait_ready(&http, ctl.api).await;
    let served = http
        .get(format!("http://{}/v1/cert.pem", ctl.api))
        .send()
        .await
        .expect("cert")
        .text()
        .await
        .expect("body");
    assert_eq!(served, cert_pem);
    assert_eq!(key_secrets(&c).await.len(), 1);
    ctl.stop().await;

    // A wrong master key: the key stays locked, no certificate, no new key.
    let other = format!(
        "--key-wrap-hc-vault-transit={}/v1/transit/keys/other",
        bao.url()
    );
    let ctl = ControllerProcess::start(&c, &[other], &env).await;
    let list = eventually("the key listed locked", || async {
        let response = http
            .get(format!("http://{}/v1/keys", ctl.api))
            .send()
            .await
            .ok()?;
        let list: serde_json::Value = response.json().await.ok()?;
        (list["keys"][0]["state"] == "locked").then_some(list)
    })
    .await;
    let reason = list["keys"][0]["reason"].as_str().expect("reason");
    assert!(
        reason.contains("not by a configured master key"),
        "{reason}"
    );
    assert!(
        reason.contains("transit/keys/sealkit") && reason.contains("transit/keys/other"),
        "{reason}"
    );
    let cert = http
        .get(format!("http://{}/v1/cert.pem", ctl.api))
        .send()
        .await
        .expect("cert");
    assert_eq!(cert.status(), reqwest::StatusCode::INTERNAL_SERVER_ERROR);
    let ready = http
        .get(format!("http://{}/readyz", ctl.api))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(key_secrets(&c).await.len(), 1, "no key was generated");
    ctl.stop().await;
    drop(bao);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_bitnami_key_wrapped_offline_with_moto_kms_is_read_by_the_controller() {
    let (moto, arn) = tokio::task::spawn_blocking(|| {
        let moto = Moto::start();
        let key = moto.json_call("TrentService.CreateKey", &serde_json::json!({}));
        let arn = key["KeyMetadata"]["Arn"].as_str().expect("arn").to_owned();
        (moto, arn)
    })
    .await
    .expect("moto");
    let aws_env = [
        ("AWS_ACCESS_KEY_ID", Moto::ACCESS_KEY_ID.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", Moto::SECRET_ACCESS_KEY.to_owned()),
        ("AWS_REGION", Moto::REGION.to_owned()),
        ("AWS_ENDPOINT_URL", moto.endpoint()),
    ];
    let c = Cluster::start(&["team-a"]).await;
    // A plain key Secret as Bitnami stores it, exported, wrapped by `seal keys wrap`.
    let (key, cert) = store_key(&c, "sealed-secrets-key").await;
    let plain = key_secrets(&c).await.remove(0);
    let name = plain.name_any();
    let exported = c.path("plain.yaml");
    fs_err::write(&exported, serde_yaml_ng::to_string(&plain).expect("yaml")).expect("write");
    let wrapped_path = c.path("wrapped.yaml");
    let env: Vec<(&str, &std::ffi::OsStr)> =
        aws_env.iter().map(|(k, v)| (*k, v.as_ref())).collect();
    let out = run_binary(
        "seal",
        &[
            "keys",
            "wrap",
            "--kms",
            &arn,
            exported.to_str().expect("path"),
            "-w",
            wrapped_path.to_str().expect("path"),
        ],
        "",
        &env,
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wrapped: Secret =
        serde_yaml_ng::from_str(&fs_err::read_to_string(&wrapped_path).expect("read"))
            .expect("secret");
    let tls_key = String::from_utf8(tls(&wrapped, "tls.key")).expect("utf-8");
    assert!(
        tls_key.contains("\"kms\"") && !tls_key.contains("PRIVATE KEY"),
        "{tls_key}"
    );
    assert_eq!(tls(&wrapped, "tls.crt"), tls(&plain, "tls.crt"));
    // Replace the plain key Secret by the wrapped one.
    c.secrets(CONTROLLER_NS)
        .delete(&name, &DeleteParams::default())
        .await
        .expect("delete");
    c.secrets(CONTROLLER_NS)
        .create(&PostParams::default(), &wrapped)
        .await
        .expect("create wrapped");

    let flags = [format!("--key-wrap-kms={arn}")];
    let ctl = ControllerProcess::start(&c, &flags, &aws_env).await;
    let http = reqwest::Client::new();
    wait_ready(&http, ctl.api).await;
    let served = http
        .get(format!("http://{}/v1/cert.pem", ctl.api))
        .send()
        .await
        .expect("cert")
        .text()
        .await
        .expect("body");
    assert_eq!(served, cert.to_pem());
    assert_eq!(
        key_secrets(&c).await.len(),
        1,
        "the wrapped key is used, none made"
    );
    let password = secret_value("pw");
    create_sealed(
        &c,
        &seal_in_process(&cert, "team-a", "db", &[("password", &password)]),
    )
    .await;
    let secret = c.secret("team-a", "db").await;
    assert_eq!(crate::controller::data_of(&secret)["password"], password);
    assert!(key.public_key() == cert.public_key());
    ctl.stop().await;
    drop(moto);
}
