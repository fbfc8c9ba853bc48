//! Wrapping the data key for key groups and getting it back (getsops/sops `sops.go`
//! `Metadata.UpdateMasterKeysWithKeyServices` / `GetDataKeyWithKeyServices`).
//!
//! One key group: every key wraps the data key itself; any one key opens the file.
//! Several groups: the data key is split with Shamir's scheme (sops `shamir/`) into one share
//! per group (`shamir_threshold` of them needed, all when unset); every key of a group wraps
//! that group's share.

use zeroize::Zeroizing;

use super::DataKey;
use super::builder::KeyBuilder;
use super::error::{Error, Result};
use super::master::{MasterKey, Unwrappers, block_on};
use crate::sops::{KeyGroup, KeyKind, MasterKeyStanza, Metadata, shamir};

/// The master keys of one key group.
pub type MasterKeyGroup = Vec<Box<dyn MasterKey>>;

/// The master key a metadata stanza names (metadata in), with the process environment for
/// credentials and the process's [`super::RemoteKeys`]. Kinds this program cannot use fail
/// with a clear error when used. See [`KeyBuilder::key_for_stanza`].
pub fn master_key_for(stanza: &MasterKeyStanza) -> Result<Box<dyn MasterKey>> {
    KeyBuilder::from_process_env().key_for_stanza(stanza)
}

/// The master-key groups a file's metadata names (process environment for credentials).
pub fn master_keys_of(metadata: &Metadata) -> Result<Vec<MasterKeyGroup>> {
    KeyBuilder::from_process_env().groups_of(metadata)
}

/// Wraps `data_key` for every key of every group (metadata out): the key groups to store,
/// each stanza with its fresh `enc`. Blocks on network keys; async code uses
/// [`wrap_data_key_async`].
pub fn wrap_data_key(
    groups: &[MasterKeyGroup],
    threshold: usize,
    data_key: &DataKey,
) -> Result<Vec<KeyGroup>> {
    block_on(wrap_data_key_async(groups, threshold, data_key))
}

/// [`wrap_data_key`] for async callers.
pub async fn wrap_data_key_async(
    groups: &[MasterKeyGroup],
    threshold: usize,
    data_key: &DataKey,
) -> Result<Vec<KeyGroup>> {
    if groups.is_empty() || groups.iter().any(Vec::is_empty) {
        return Err(Error::NoMasterKeys);
    }
    let secrets: Vec<Zeroizing<Vec<u8>>> = if groups.len() == 1 {
        vec![Zeroizing::new(data_key.expose().to_vec())]
    } else {
        let threshold = if threshold == 0 {
            groups.len()
        } else {
            threshold
        };
        shamir::split(data_key.expose(), groups.len(), threshold)
            .map_err(|_| Error::BadShares)?
            .into_iter()
            .map(Zeroizing::new)
            .collect()
    };
    let mut out = Vec::with_capacity(groups.len());
    for (group, secret) in groups.iter().zip(&secrets) {
        let mut stanzas = Vec::with_capacity(group.len());
        for key in group {
            let enc = key.wrap(secret).await?;
            stanzas.push(key.to_stanza(&enc));
        }
        out.push(stanzas);
    }
    Ok(out)
}

/// Recovers the data key from the file's key groups with the identities and credentials in
/// `with`. Blocks on network keys; async code uses [`unwrap_data_key_async`].
///
/// Errors name the file's recipients when no identity fits, and say how many groups opened
/// when a Shamir threshold is not met.
pub fn unwrap_data_key(metadata: &Metadata, with: &Unwrappers) -> Result<DataKey> {
    block_on(unwrap_data_key_async(metadata, with))
}

/// [`unwrap_data_key`] for async callers.
pub async fn unwrap_data_key_async(metadata: &Metadata, with: &Unwrappers) -> Result<DataKey> {
    let groups = metadata.key_groups();
    if groups.is_empty() || groups.iter().all(Vec::is_empty) {
        return Err(Error::NoMasterKeys);
    }
    if groups.len() == 1 {
        let secret = open_group(&groups[0], with).await?;
        return DataKey::from_slice(&secret).ok_or(Error::WrongKeyLength {
            recipient: recipients_of(&groups[0]),
            len: secret.len(),
        });
    }
    let needed = metadata.effective_threshold();
    let mut shares = Vec::new();
    let mut failures = Vec::new();
    for (index, group) in groups.iter().enumerate() {
        if shares.len() == needed {
            break;
        }
        match open_group(group, with).await {
            Ok(share) => shares.push(share),
            Err(e) => failures.push(format!("group {}: {e}", index + 1)),
        }
    }
    if shares.len() < needed {
        return Err(Error::NotEnoughGroups {
            opened: shares.len(),
            groups: groups.len(),
            needed,
            failures: failures.join("; "),
        });
    }
    let parts: Zeroizing<Vec<Vec<u8>>> =
        Zeroizing::new(shares.iter().map(|s| s.to_vec()).collect());
    let secret = Zeroizing::new(shamir::combine(&parts).map_err(|_| Error::BadShares)?);
    DataKey::from_slice(&secret).ok_or(Error::BadShares)
}

/// The group's stanzas in the order they are tried: kinds in `SOPS_DECRYPTION_ORDER`
/// (default age, then pgp) first, the rest in file order (sops `sortKeyGroupIndices`).
fn in_decryption_order<'g>(group: &'g KeyGroup, order: &[String]) -> Vec<&'g MasterKeyStanza> {
    let mut stanzas: Vec<&MasterKeyStanza> = group.iter().collect();
    stanzas.sort_by_key(|s| {
        order
            .iter()
            .position(|k| k == s.kind().field())
            .unwrap_or(order.len())
    });
    stanzas
}

/// Opens one group: the first key whose stanza decrypts wins.
async fn open_group(group: &KeyGroup, with: &Unwrappers) -> Result<Zeroizing<Vec<u8>>> {
    let mut builder = KeyBuilder::new(with.key_env().clone()).without_remote_keys();
    if let Some(remote) = with.remote_keys() {
        builder = builder.with_remote_keys(remote.clone());
    }
    let mut other_errors: Vec<Error> = Vec::new();
    let mut any_age = false;
    for stanza in in_decryption_order(group, &with.key_env().decryption_order()) {
        let key = match builder.key_for_stanza(stanza) {
            Ok(key) => key,
            Err(e) => {
                other_errors.push(e);
                continue;
            }
        };
        match key.unwrap(stanza.enc(), with).await {
            Ok(secret) => return Ok(secret),
            Err(Error::NoMatchingIdentity { .. } | Error::NoIdentities { .. }) => any_age = true,
            Err(e) => other_errors.push(e),
        }
    }
    let recipients = recipients_of(group);
    let age_error = any_age.then(|| {
        let ids = with.age();
        if ids.is_empty() {
            Error::NoIdentityForRecipients {
                recipients: recipients.clone(),
                reason: ids.no_identity_error().to_string(),
            }
        } else {
            Error::NoMatchingIdentity {
                recipients: recipients.clone(),
            }
        }
    });
    match (age_error, other_errors.len()) {
        (Some(age), 0) => Err(age),
        (None, 1) => Err(other_errors.remove(0)),
        (None, 0) => Err(Error::NoMasterKeys),
        (age, _) => {
            let mut failures: Vec<String> = age.iter().map(ToString::to_string).collect();
            failures.extend(other_errors.iter().map(ToString::to_string));
            Err(Error::NoKeyOpened {
                failures: failures.join("; "),
            })
        }
    }
}

fn recipients_of(group: &KeyGroup) -> String {
    group
        .iter()
        .map(|s| match s.kind() {
            KeyKind::Age => s.recipient().unwrap_or_default().to_owned(),
            _ => s.identifier(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sops::master_keys::age::{AgeIdentities, AgeRecipient};

    const KEY_A: &str =
        "AGE-SECRET-KEY-1L587LPYXVNQK8NT5UURPVCQN052QKY4ZJTHXSEVKX2KWFZAJMVQQY2TFLN";
    const RECIPIENT_A: &str = "age17fj0nnh797lccasvdkcx2tmx2fyyf7qxvd4gjcwp7waup2h8nusqlav45n";

    fn group_of(recipients: &[&str]) -> MasterKeyGroup {
        recipients
            .iter()
            .map(|r| Box::new(AgeRecipient::parse(r).unwrap()) as Box<dyn MasterKey>)
            .collect()
    }

    fn fresh_recipient() -> (String, String) {
        use secrecy::ExposeSecret as _;
        let id = age::x25519::Identity::generate();
        (
            id.to_string().expose_secret().to_owned(),
            id.to_public().to_string(),
        )
    }

    #[test]
    fn one_group_opens_with_any_of_its_keys() {
        let (key_b, recipient_b) = fresh_recipient();
        let data_key = DataKey::generate();
        let groups =
            wrap_data_key(&[group_of(&[RECIPIENT_A, &recipient_b])], 0, &data_key).unwrap();
        let metadata = Metadata::new(groups, Default::default());
        for key in [KEY_A, key_b.as_str()] {
            let with = Unwrappers::with_age(AgeIdentities::from_text(key, "t").unwrap());
            let got = unwrap_data_key(&metadata, &with).unwrap();
            assert_eq!(got.expose(), data_key.expose());
        }
        let (other, _) = fresh_recipient();
        let with = Unwrappers::with_age(AgeIdentities::from_text(&other, "t").unwrap());
        let err = unwrap_data_key(&metadata, &with).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("no age identity matches the file's recipients: {RECIPIENT_A}, {recipient_b}")
        );
    }

    #[test]
    fn two_of_three_groups_rebuild_the_data_key_and_one_does_not() {
        let keys: Vec<(String, String)> = (0..3).map(|_| fresh_recipient()).collect();
        let data_key = DataKey::generate();
        let groups: Vec<MasterKeyGroup> = keys.iter().map(|(_, r)| group_of(&[r])).collect();
        let mut metadata = Metadata::new(
            wrap_data_key(&groups, 2, &data_key).unwrap(),
            Default::default(),
        );
        metadata.shamir_threshold = 2;
        let both = format!("{}\n{}", keys[0].0, keys[2].0);
        let with = Unwrappers::with_age(AgeIdentities::from_text(&both, "t").unwrap());
        assert_eq!(
            unwrap_data_key(&metadata, &with).unwrap().expose(),
            data_key.expose()
        );
        let with = Unwrappers::with_age(AgeIdentities::from_text(&keys[1].0, "t").unwrap());
        let err = unwrap_data_key(&metadata, &with).unwrap_err().to_string();
        assert!(
            err.starts_with("could not decrypt the data key: 1 of 3 key groups opened, 2 needed"),
            "{err}"
        );
    }
}
