//! Sealing private keys kept wrapped by a master key (Vault/OpenBao transit, AWS KMS, GCP
//! KMS, Azure Key Vault): the PEM private key as a SOPS file.
//!
//! The `tls.key` item of a wrapped key Secret holds the encrypted form of sops's binary store
//! (a JSON document: `data` = `ENC[AES256_GCM,…]`, then the `sops` metadata) of the PKCS#1
//! PEM. A fresh 32-byte data key encrypts the PEM with AES-256-GCM, and each master key wraps
//! that data key into a metadata entry (`hc_vault`, `kms`, `gcp_kms`, `azure_kv`) exactly as
//! sops does for a file (getsops/sops `stores/json` `BinaryStore`, `sops.go`). So `sops decrypt
//! --input-type json --output-type binary` opens a wrapped key with access to one master key,
//! and a copy of the Secret (etcd, a backup) is useless without it.
//!
//! This module is bytes in, bytes out: the master keys themselves (network calls) are the
//! caller's, who gives the data key and the entries it wrapped.

use zeroize::Zeroizing;

use super::{Error, Result};
use crate::sops::master_keys::DataKey;
use crate::sops::{EncryptedFile, Format, KeyGroup, MacCheck, Metadata, PlainFile, Selectors};

/// Whether a `tls.key` item holds a wrapped key (a SOPS document) rather than PEM.
pub fn is_wrapped(tls_key: &[u8]) -> bool {
    // PEM never starts with `{`; a SOPS binary-store file always does.
    tls_key.trim_ascii_start().starts_with(b"{")
}

/// A wrapped private key, parsed.
#[derive(Debug, Clone)]
pub struct WrappedKey {
    file: EncryptedFile,
}

impl WrappedKey {
    /// Parses the `tls.key` item of a wrapped key Secret.
    pub fn parse(tls_key: &[u8]) -> Result<Self> {
        let file = EncryptedFile::parse(tls_key, Format::Binary).map_err(Error::WrappedKey)?;
        if file.metadata().key_groups().iter().all(Vec::is_empty) {
            return Err(Error::WrappedKeyNoMasterKey);
        }
        Ok(Self { file })
    }

    /// The sops metadata: which master keys wrapped the data key (`enc` in each entry).
    pub fn metadata(&self) -> &Metadata {
        self.file.metadata()
    }

    /// The PEM private key, with the data key the caller unwrapped. Fails with the opaque
    /// [`Error::DecryptionFailed`] when the data key is not this file's or the file was
    /// changed (the value and the MAC are authenticated).
    pub fn open(&self, data_key: &DataKey) -> Result<Zeroizing<Vec<u8>>> {
        let plain = self
            .file
            .decrypt(data_key, MacCheck::Verify)
            .map_err(|_| Error::DecryptionFailed)?;
        let pem = plain
            .to_bytes(Format::Binary)
            .map_err(|_| Error::DecryptionFailed)?;
        Ok(Zeroizing::new(pem))
    }
}

/// Wraps a PEM private key: encrypts it under `data_key` and records `key_groups` (the master
/// key entries, each holding `data_key` wrapped) as its sops metadata. Returns the `tls.key`
/// bytes (JSON).
pub fn wrap(pem: &[u8], data_key: &DataKey, key_groups: Vec<KeyGroup>) -> Result<Vec<u8>> {
    if key_groups.iter().all(Vec::is_empty) {
        return Err(Error::WrappedKeyNoMasterKey);
    }
    let plain = PlainFile::parse(pem, Format::Binary).map_err(Error::WrappedKey)?;
    let file = plain
        .encrypt(data_key, Metadata::new(key_groups, Selectors::default()))
        .map_err(Error::WrappedKey)?;
    let mut bytes = file.to_bytes(Format::Binary).map_err(Error::WrappedKey)?;
    if !bytes.ends_with(b"\n") {
        bytes.push(b'\n');
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sops::{KeyKind, MasterKeyStanza};

    const PEM: &[u8] = b"-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n";

    fn groups() -> Vec<KeyGroup> {
        vec![vec![MasterKeyStanza::new(
            KeyKind::HcVault,
            &[
                ("vault_address", "http://127.0.0.1:8200"),
                ("engine_path", "transit"),
                ("key_name", "sealkit"),
                ("created_at", "2026-01-01T00:00:00Z"),
                ("enc", "vault:v1:opaque"),
            ],
        )]]
    }

    #[test]
    fn a_wrapped_key_opens_with_its_data_key_only_and_names_its_master_key() {
        let key = DataKey::generate();
        let bytes = wrap(PEM, &key, groups()).unwrap();
        assert!(is_wrapped(&bytes));
        assert!(!is_wrapped(PEM));
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(!text.contains("MIIB"), "{text}");
        assert!(text.contains("\"hc_vault\""), "{text}");
        let wrapped = WrappedKey::parse(&bytes).unwrap();
        assert_eq!(
            wrapped.metadata().key_groups()[0][0].enc(),
            "vault:v1:opaque"
        );
        assert_eq!(wrapped.open(&key).unwrap().as_slice(), PEM);
        assert!(matches!(
            wrapped.open(&DataKey::generate()),
            Err(Error::DecryptionFailed)
        ));
    }

    #[test]
    fn a_changed_wrapped_key_does_not_open() {
        let key = DataKey::generate();
        let text = String::from_utf8(wrap(PEM, &key, groups()).unwrap()).unwrap();
        let changed = text.replace("\"key_name\": \"sealkit\"", "\"key_name\": \"other\"");
        assert_ne!(changed, text);
        // The metadata is not under the MAC (as in sops) but the value is: change it instead.
        let data_at = text.find("data:").unwrap() + 5;
        let mut bytes = text.into_bytes();
        bytes[data_at] = if bytes[data_at] == b'A' { b'B' } else { b'A' };
        let wrapped = WrappedKey::parse(&bytes).unwrap();
        assert!(wrapped.open(&key).is_err());
    }

    #[test]
    fn no_master_key_is_refused() {
        assert!(matches!(
            wrap(PEM, &DataKey::generate(), vec![vec![]]),
            Err(Error::WrappedKeyNoMasterKey)
        ));
        assert!(WrappedKey::parse(b"{\"data\": \"x\"}").is_err());
    }
}
