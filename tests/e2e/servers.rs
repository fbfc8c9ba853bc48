//! The real servers other tests use as peers start, answer and stop.

use sealkit_tests::servers::{Moto, OpenBao};

#[test]
fn openbao_dev_server_stores_and_returns_a_kv_v2_secret() {
    let mut bao = OpenBao::start();
    bao.kv_put(
        "secret",
        "app/db",
        &serde_json::json!({"password": "hunter2"}),
    );
    let got = bao.api(reqwest::Method::GET, "secret/data/app/db", None);
    assert_eq!(got["data"]["data"]["password"], "hunter2");
    bao.kill();
    assert!(
        reqwest::blocking::get(format!("{}/v1/sys/health", bao.url())).is_err(),
        "a killed server must not answer"
    );
}

#[test]
fn moto_server_creates_and_returns_a_secrets_manager_secret() {
    let moto = Moto::start();
    moto.json_call(
        "secretsmanager.CreateSecret",
        &serde_json::json!({"Name": "app/db", "SecretString": "{\"password\":\"hunter2\"}"}),
    );
    let got = moto.json_call(
        "secretsmanager.GetSecretValue",
        &serde_json::json!({"SecretId": "app/db"}),
    );
    assert_eq!(got["SecretString"], "{\"password\":\"hunter2\"}");
}
