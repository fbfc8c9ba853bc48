//! Generators (`generators.external-secrets.io/v1alpha1`): objects an ExternalSecret names in
//! `dataFrom[].sourceRef.generatorRef` whose output becomes its values. sealkit implements the
//! `Password` generator (external-secrets `generators/v1/password/password.go` over
//! sethvargo/go-password `password/generate.go`).
//!
//! As in ESO, a generator runs on every fetch: a `Periodic` ExternalSecret gets a new password at
//! every refresh, and `refreshPolicy: CreatedOnce` (or `refreshInterval: 0`) keeps the first one
//! (ESO `docs/guides/generator.md`: "Every invocation produces a new set of values").
//!
//! Randomness comes from the operating system (`OsRng`), and every choice is uniform (rejection
//! sampling in `rand`, no modulo bias). go-password inserts each character at a random position
//! of the password so far; that builds a uniformly random permutation, so sealkit picks the
//! characters and shuffles them (Fisher-Yates), which has the same distribution in linear time.
//! Without `allowRepeat`, each character is drawn from those not used yet; go-password retries
//! until it finds one, which never ends when `symbolCharacters` overlaps the letters or digits and
//! too few are left: sealkit fails with an error instead.

use std::collections::BTreeSet;

use kube::CustomResource;
use rand::Rng as _;
use rand::seq::SliceRandom as _;
use schemars::JsonSchema;
use sealer::secret::SecretBytes;
use serde::{Deserialize, Serialize};
use zeroize::Zeroize as _;

use super::fields::{UnsupportedFields, track_unsupported_fields};
use super::providers::SecretMap;

/// The generators' API group and version.
pub const API_VERSION: &str = "generators.external-secrets.io/v1alpha1";

/// Longest password sealkit generates (ESO has no limit; a Secret holds at most 1 MiB).
pub const MAX_LENGTH: i64 = 10_000;
/// Most `secretKeys` one Password may list.
pub const MAX_KEYS: usize = 100;

/// ESO's default `symbolCharacters` (and go-password's `Symbols`).
pub const DEFAULT_SYMBOLS: &str = "~!@#$%^&*()_+`-={}|[]\\:\"<>?,./";
const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &str = "0123456789";

/// `Password.spec` (external-secrets `apis/generators/v1alpha1/types_password.go`). Unset
/// fields take ESO's defaults in code, not in the CRD.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(remote = "Self")]
#[kube(
    group = "generators.external-secrets.io",
    version = "v1alpha1",
    kind = "Password",
    namespaced,
    category = "external-secrets",
    category = "external-secrets-generators",
    label("external-secrets.io/component", "controller")
)]
#[serde(rename_all = "camelCase")]
pub struct PasswordSpec {
    /// Length of each password (24 when unset or not positive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<i64>,
    /// Number of digits (25% of the length when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digits: Option<i64>,
    /// Number of symbols (25% of the length when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbols: Option<i64>,
    /// The symbols to draw from (ESO's default set when unset or empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol_characters: Option<String>,
    /// Only lower-case letters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_upper: Option<bool>,
    /// Let a character appear more than once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_repeat: Option<bool>,
    /// The keys to fill, each with its own password (`password` when unset).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_keys: Vec<String>,
    /// How each password is encoded (`raw` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<PasswordEncoding>,
    /// Fields present that sealkit does not model (the ExternalSecret's `Ready` names them).
    #[serde(skip)]
    #[schemars(skip)]
    pub unsupported: UnsupportedFields,
}
track_unsupported_fields!(PasswordSpec, "spec");

/// `Password.spec.encoding`.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PasswordEncoding {
    /// The password as it is.
    #[default]
    Raw,
    /// Standard base64, padded.
    Base64,
    /// URL-safe base64, padded (Go's `base64.URLEncoding`).
    Base64url,
    /// Standard base32, padded.
    Base32,
    /// Lower-case hexadecimal.
    Hex,
}

/// Why a generator could not produce values. Never carries a generated value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The ExternalSecret names a generator kind sealkit does not implement.
    #[error(
        "generator {api_version}/{kind} is not supported by sealkit (only {API_VERSION}/Password)"
    )]
    UnsupportedKind {
        /// `apiVersion` of the reference.
        api_version: String,
        /// `kind` of the reference.
        kind: String,
    },
    /// The spec asks for something impossible (ESO's and go-password's messages).
    #[error("{0}")]
    Invalid(&'static str),
    /// A length or count is beyond what sealkit generates.
    #[error("{what} exceeds the limit of {limit}")]
    TooLarge {
        /// The field.
        what: &'static str,
        /// Its limit.
        limit: i64,
    },
    /// The spec holds fields sealkit does not model.
    #[error("fields not supported by sealkit: {0}")]
    UnsupportedFields(String),
}

/// Checks the kind a `generatorRef` names (`apiVersion` defaults to [`API_VERSION`]).
pub fn check_kind(api_version: Option<&str>, kind: &str) -> Result<(), Error> {
    let api_version = api_version.filter(|v| !v.is_empty()).unwrap_or(API_VERSION);
    if api_version == API_VERSION && kind == "Password" {
        Ok(())
    } else {
        Err(Error::UnsupportedKind {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
        })
    }
}

/// A password per key of `spec.secretKeys`, encoded as `spec.encoding` says.
pub fn generate_passwords(spec: &PasswordSpec) -> Result<SecretMap, Error> {
    if !spec.unsupported.is_empty() {
        return Err(Error::UnsupportedFields(spec.unsupported.list()));
    }
    let keys: Vec<String> = if spec.secret_keys.is_empty() {
        vec!["password".into()]
    } else {
        spec.secret_keys.clone()
    };
    if keys.len() > MAX_KEYS {
        return Err(Error::TooLarge {
            what: "secretKeys",
            limit: MAX_KEYS as i64,
        });
    }
    let unique: BTreeSet<&String> = keys.iter().collect();
    if keys.iter().any(String::is_empty) || unique.len() != keys.len() {
        return Err(Error::Invalid("secretKeys must be non-empty and unique"));
    }
    let settings = Settings::from_spec(spec)?;
    let mut out = SecretMap::new();
    for key in keys {
        let mut password = settings.generate()?;
        let encoded = encode(&password, spec.encoding.unwrap_or_default());
        password.zeroize();
        out.insert(key, SecretBytes::new(encoded));
    }
    Ok(out)
}

/// What one password is made of.
struct Settings {
    letters: Vec<char>,
    digits: Vec<char>,
    symbols: Vec<char>,
    /// Letters, digits and symbols to draw.
    counts: [usize; 3],
    allow_repeat: bool,
}

impl Settings {
    fn from_spec(spec: &PasswordSpec) -> Result<Self, Error> {
        let length = spec.length.filter(|l| *l > 0).unwrap_or(24);
        if length > MAX_LENGTH {
            return Err(Error::TooLarge {
                what: "length",
                limit: MAX_LENGTH,
            });
        }
        // ESO: `int(float32(length) * 0.25)`, truncated.
        let quarter = length / 4;
        let digits = spec.digits.unwrap_or(quarter);
        let symbols = spec.symbols.unwrap_or(quarter);
        if digits < 0 || symbols < 0 {
            return Err(Error::Invalid(
                "number of digits and symbols must not be negative",
            ));
        }
        let letters = length - digits - symbols;
        if letters < 0 {
            return Err(Error::Invalid(
                "number of digits and symbols must be less than total length",
            ));
        }
        let mut letter_set: Vec<char> = LOWER.chars().collect();
        if spec.no_upper != Some(true) {
            letter_set.extend(UPPER.chars());
        }
        let symbol_set: Vec<char> = spec
            .symbol_characters
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or(DEFAULT_SYMBOLS)
            .chars()
            .collect();
        let allow_repeat = spec.allow_repeat == Some(true);
        let settings = Self {
            letters: letter_set,
            digits: DIGITS.chars().collect(),
            symbols: symbol_set,
            // Each count is at most `length` (checked above), so it fits a usize.
            counts: [letters, digits, symbols].map(|n| usize::try_from(n).unwrap_or(0)),
            allow_repeat,
        };
        if !allow_repeat {
            let checks = [
                (
                    &settings.letters,
                    "number of letters exceeds available letters and repeats are not allowed",
                ),
                (
                    &settings.digits,
                    "number of digits exceeds available digits and repeats are not allowed",
                ),
                (
                    &settings.symbols,
                    "number of symbols exceeds available symbols and repeats are not allowed",
                ),
            ];
            for ((set, message), count) in checks.into_iter().zip(settings.counts) {
                let distinct: BTreeSet<char> = set.iter().copied().collect();
                if count > distinct.len() {
                    return Err(Error::Invalid(message));
                }
            }
        }
        Ok(settings)
    }

    fn generate(&self) -> Result<Vec<u8>, Error> {
        let mut rng = rand::rngs::OsRng;
        let total: usize = self.counts.iter().sum();
        let mut chars: Vec<char> = Vec::with_capacity(total);
        let mut used = BTreeSet::new();
        for (set, count) in [&self.letters, &self.digits, &self.symbols]
            .into_iter()
            .zip(self.counts)
        {
            if self.allow_repeat {
                for _ in 0..count {
                    chars.push(set[rng.gen_range(0..set.len())]);
                }
                continue;
            }
            let mut left: Vec<char> = set
                .iter()
                .copied()
                .collect::<BTreeSet<char>>()
                .into_iter()
                .filter(|c| !used.contains(c))
                .collect();
            if left.len() < count {
                return Err(Error::Invalid(
                    "symbolCharacters overlap letters or digits: too few distinct characters are left and repeats are not allowed",
                ));
            }
            left.shuffle(&mut rng);
            for c in left.into_iter().take(count) {
                used.insert(c);
                chars.push(c);
            }
        }
        chars.shuffle(&mut rng);
        let text: String = chars.iter().collect();
        chars.zeroize();
        Ok(text.into_bytes())
    }
}

fn encode(password: &[u8], encoding: PasswordEncoding) -> Vec<u8> {
    use data_encoding::{BASE32, BASE64, BASE64URL, HEXLOWER};
    match encoding {
        PasswordEncoding::Raw => password.to_vec(),
        PasswordEncoding::Base64 => BASE64.encode(password).into_bytes(),
        PasswordEncoding::Base64url => BASE64URL.encode(password).into_bytes(),
        PasswordEncoding::Base32 => BASE32.encode(password).into_bytes(),
        PasswordEncoding::Hex => HEXLOWER.encode(password).into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> PasswordSpec {
        serde_json::from_value(json).unwrap()
    }

    fn one(s: &PasswordSpec) -> String {
        let map = generate_passwords(s).unwrap();
        String::from_utf8(map["password"].expose().to_vec()).unwrap()
    }

    fn class_counts(p: &str) -> (usize, usize, usize) {
        let letters = p.chars().filter(char::is_ascii_alphabetic).count();
        let digits = p.chars().filter(char::is_ascii_digit).count();
        (letters, digits, p.chars().count() - letters - digits)
    }

    #[test]
    fn defaults_are_24_characters_a_quarter_digits_a_quarter_symbols_none_repeated() {
        for _ in 0..50 {
            let p = one(&PasswordSpec::default());
            assert_eq!(class_counts(&p), (12, 6, 6), "{p}");
            let distinct: BTreeSet<char> = p.chars().collect();
            assert_eq!(distinct.len(), 24, "a character repeats in {p}");
            assert!(
                p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || DEFAULT_SYMBOLS.contains(c))
            );
        }
    }

    #[test]
    fn every_field_shapes_the_password() {
        let s = spec(serde_json::json!({
            "length": 40, "digits": 10, "symbols": 3, "symbolCharacters": "-_",
            "noUpper": true, "allowRepeat": true,
            "secretKeys": ["a", "b"],
        }));
        let map = generate_passwords(&s).unwrap();
        assert_eq!(map.len(), 2);
        for v in map.values() {
            let p = std::str::from_utf8(v.expose()).unwrap();
            assert_eq!(class_counts(p), (27, 10, 3), "{p}");
            assert!(!p.chars().any(|c| c.is_ascii_uppercase()), "{p}");
            assert!(
                p.chars()
                    .filter(|c| !c.is_ascii_alphanumeric())
                    .all(|c| c == '-' || c == '_')
            );
        }
        assert_ne!(map["a"], map["b"], "each key gets its own password");
        // An empty symbol set falls back to ESO's default set.
        let p = one(&spec(
            serde_json::json!({"symbolCharacters": "", "symbols": 2, "digits": 0}),
        ));
        assert_eq!(
            p.chars().filter(|c| DEFAULT_SYMBOLS.contains(*c)).count(),
            2
        );
    }

    #[test]
    fn passwords_differ_and_use_every_letter_position() {
        let a = one(&PasswordSpec::default());
        let b = one(&PasswordSpec::default());
        assert_ne!(a, b);
        // Over many passwords each of the 24 positions holds a digit at least once: the shuffle
        // does not leave the classes in order.
        let mut digit_at = [false; 24];
        for _ in 0..400 {
            for (i, c) in one(&PasswordSpec::default()).chars().enumerate() {
                digit_at[i] |= c.is_ascii_digit();
            }
        }
        assert!(digit_at.iter().all(|d| *d), "{digit_at:?}");
    }

    #[test]
    fn encodings_are_esos() {
        let s = |e: &str| spec(serde_json::json!({"length": 12, "encoding": e}));
        let raw = one(&s("raw"));
        assert_eq!(raw.len(), 12);
        let b64 = one(&s("base64"));
        assert_eq!(b64.len(), 16);
        assert!(data_encoding::BASE64.decode(b64.as_bytes()).is_ok());
        let url = one(&s("base64url"));
        assert!(data_encoding::BASE64URL.decode(url.as_bytes()).is_ok());
        let b32 = one(&s("base32"));
        assert_eq!(b32.len(), 24);
        assert!(data_encoding::BASE32.decode(b32.as_bytes()).is_ok());
        let hex = one(&s("hex"));
        assert_eq!(hex.len(), 24);
        assert!(
            hex.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
    }

    #[test]
    fn impossible_specs_fail_with_esos_messages_and_never_loop() {
        let err = |j: serde_json::Value| generate_passwords(&spec(j)).unwrap_err().to_string();
        assert_eq!(
            err(serde_json::json!({"length": 4, "digits": 3, "symbols": 3})),
            "number of digits and symbols must be less than total length"
        );
        assert_eq!(
            err(serde_json::json!({"length": 30, "digits": 11, "symbols": 0})),
            "number of digits exceeds available digits and repeats are not allowed"
        );
        assert_eq!(
            err(serde_json::json!({"length": 60, "digits": 0, "symbols": 0})),
            "number of letters exceeds available letters and repeats are not allowed"
        );
        assert_eq!(
            err(
                serde_json::json!({"length": 10, "symbols": 3, "digits": 0, "symbolCharacters": "ab"})
            ),
            "number of symbols exceeds available symbols and repeats are not allowed"
        );
        // Symbols that are all letters already used: go-password would spin forever.
        let overlap = serde_json::json!({
            "length": 54, "digits": 0, "symbols": 2, "symbolCharacters": "aZ",
        });
        assert!(err(overlap).starts_with("symbolCharacters overlap letters or digits"));
        assert_eq!(
            err(serde_json::json!({"secretKeys": ["a", "a"]})),
            "secretKeys must be non-empty and unique"
        );
        assert_eq!(
            err(serde_json::json!({"length": 1_000_000, "allowRepeat": true})),
            "length exceeds the limit of 10000"
        );
        assert_eq!(
            err(serde_json::json!({"digits": -1})),
            "number of digits and symbols must not be negative"
        );
        assert_eq!(
            err(serde_json::json!({"lenght": 12})),
            "fields not supported by sealkit: spec.lenght"
        );
    }

    #[test]
    fn only_the_password_kind_of_the_generators_group_is_implemented() {
        assert!(check_kind(None, "Password").is_ok());
        assert!(check_kind(Some(API_VERSION), "Password").is_ok());
        assert_eq!(
            check_kind(None, "UUID").unwrap_err().to_string(),
            "generator generators.external-secrets.io/v1alpha1/UUID is not supported by sealkit (only generators.external-secrets.io/v1alpha1/Password)"
        );
    }
}
