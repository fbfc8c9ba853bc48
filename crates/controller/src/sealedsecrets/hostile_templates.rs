//! issue 13: a SealedSecret whose `template.data` attacks the renderer (a huge printf width, a
//! range over 10^11, 5,000 nested ifs, a list nested in itself) fails alone, on the blocking
//! thread where the controller unseals, and the decryptor goes on unsealing the next one.

use std::collections::BTreeMap;

use prometheus_client::metrics::counter::Counter;
use sealer::sealed::{SealOptions, SecretManifest, seal_secret};
use secrecy::ExposeSecret as _;

use crate::args::KeyOrderPriority;
use crate::error::Error;
use crate::keyring::Keyring;
use crate::keyring::decrypt::Decryptor;
use crate::keyring::tests::entry;

#[tokio::test]
async fn a_hostile_template_fails_its_sealed_secret_and_the_next_one_unseals() {
    let ring = Keyring::new(KeyOrderPriority::CertNotBefore);
    ring.replace(vec![entry(0, "a", false)]);
    let key = ring.snapshot()[0].clone();
    let decryptor = Decryptor::new(ring, 1, Counter::default());
    let secret: SecretManifest = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "db", "namespace": "team-a"},
        "stringData": {"password": "hunter2"}
    }))
    .unwrap();
    let sealed = seal_secret(
        &secret,
        key.certificate.public_key(),
        &SealOptions::default(),
    )
    .unwrap();
    let mut good = sealed.clone();
    good.spec.template.get_or_insert_default().data = Some(BTreeMap::from([(
        "dsn".to_owned(),
        "db:{{ .password }}".to_owned(),
    )]));
    let attacks = [
        r#"{{ printf "%10000000d" 1 }}"#.to_owned(),
        "{{ range 100000000000 }}{{ end }}".to_owned(),
        "{{ if 1 }}".repeat(5_000) + &"{{ end }}".repeat(5_000),
        "{{ $x := list }}{{ range 100000 }}{{ $x = list $x }}{{ end }}".to_owned(),
    ];
    for attack in attacks {
        let mut bad = sealed.clone();
        bad.spec.template.get_or_insert_default().data =
            Some(BTreeMap::from([("dsn".to_owned(), attack.clone())]));
        let err = decryptor
            .unseal(bad.metadata.clone(), bad.spec.clone())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Unseal(_)), "{attack}: {err:?}");
        let chain = err.chain();
        assert!(chain.contains(" exceeds the "), "{chain}");
        assert!(!chain.contains("hunter2"), "{chain}");

        let unsealed = decryptor
            .unseal(good.metadata.clone(), good.spec.clone())
            .await
            .unwrap();
        let dsn = sealer::encoding::decode_std(unsealed.data["dsn"].expose_secret()).unwrap();
        assert_eq!(dsn, b"db:hunter2");
    }
    // Go's own limit on printf widths: the verb is lost, the object renders.
    let mut go_limit = sealed.clone();
    go_limit.spec.template.get_or_insert_default().data = Some(BTreeMap::from([(
        "x".to_owned(),
        r#"{{ printf "%999999999999d" 1 }}"#.to_owned(),
    )]));
    let unsealed = decryptor
        .unseal(go_limit.metadata.clone(), go_limit.spec.clone())
        .await
        .unwrap();
    let x = sealer::encoding::decode_std(unsealed.data["x"].expose_secret()).unwrap();
    assert_eq!(x, b"%!(NOVERB)%!(EXTRA int=1)");
}
