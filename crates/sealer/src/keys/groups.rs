//! Wrapping the data key for key groups and getting it back (getsops/sops `sops.go`
//! `Metadata.UpdateMasterKeysWithKeyServices` / `GetDataKeyWithKeyServices`).
//!
//! One key group: every key wraps the data key itself; any one key opens the file.
//! Several groups: the data key is split with Shamir's scheme (sops `shamir/`) into one share
//! per group (`shamir_threshold` of them needed, all when unset); every key of a group wraps
//! that group's share.

use zeroize::Zeroizing;

use super::DataKey;
use super::age::AgeRecipient;
use super::error::{Error, Result};
use super::master::{MasterKey, UnsupportedKey, Unwrappers, block_on};
use crate::sops::{KeyGroup, KeyKind, MasterKeyStanza, Metadata, shamir};

/// The master keys of one key group.
pub type MasterKeyGroup = Vec<Box<dyn MasterKey>>;

/// The master key a metadata stanza names (metadata in). Kinds this build cannot use become
/// [`UnsupportedKey`]s that fail with a clear error when used.
pub fn master_key_for(stanza: &MasterKeyStanza) -> Result<Box<dyn MasterKey>> {
    match stanza.kind() {
        KeyKind::Age => Ok(Box::new(AgeRecipient::parse(
            stanza.recipient().unwrap_or_default(),
        )?)),
        kind => Ok(Box::new(UnsupportedKey::new(kind, stanza.identifier()))),
    }
}

/// The master-key groups a file's metadata names.
pub fn master_keys_of(metadata: &Metadata) -> Result<Vec<MasterKeyGroup>> {
    metadata
        .key_groups()
        .iter()
        .map(|group| group.iter().map(master_key_for).collect())
        .collect()
}

/// Wraps `data_key` for every key of every group (metadata out): the key groups to store,
/// each stanza with its fresh `enc`.
pub fn wrap_data_key(
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
    groups
        .iter()
        .zip(&secrets)
        .map(|(group, secret)| {
            group
                .iter()
                .map(|key| {
                    let enc = block_on(key.wrap(secret))?;
                    Ok(key.to_stanza(&enc))
                })
                .collect()
        })
        .collect()
}

/// Recovers the data key from the file's key groups with the identities in `with`.
///
/// Errors name the file's recipients when no identity fits.
pub fn unwrap_data_key(metadata: &Metadata, with: &Unwrappers) -> Result<DataKey> {
    let groups = metadata.key_groups();
    if groups.is_empty() || groups.iter().all(Vec::is_empty) {
        return Err(Error::NoMasterKeys);
    }
    if groups.len() == 1 {
        let secret = open_group(&groups[0], with)?;
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
        match open_group(group, with) {
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

/// Opens one group: the first key whose stanza decrypts wins.
fn open_group(group: &KeyGroup, with: &Unwrappers) -> Result<Zeroizing<Vec<u8>>> {
    let mut first_other_error = None;
    let mut any_age = false;
    for stanza in group {
        let key = match master_key_for(stanza) {
            Ok(key) => key,
            Err(e) => {
                first_other_error.get_or_insert(e);
                continue;
            }
        };
        match block_on(key.unwrap(stanza.enc(), with)) {
            Ok(secret) => return Ok(secret),
            Err(Error::NoMatchingIdentity { .. } | Error::NoIdentities { .. }) => any_age = true,
            Err(e) => {
                first_other_error.get_or_insert(e);
            }
        }
    }
    let recipients = recipients_of(group);
    if any_age {
        let ids = with.age();
        if ids.is_empty() {
            return Err(Error::NoIdentityForRecipients {
                recipients,
                reason: ids.no_identity_error().to_string(),
            });
        }
        return Err(Error::NoMatchingIdentity { recipients });
    }
    Err(first_other_error.unwrap_or(Error::NoMasterKeys))
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
    use crate::keys::age::AgeIdentities;

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
