//! Which values sops encrypts (getsops/sops `sops.go` `shouldBeEncrypted`).
//!
//! At most one selector is set in a file; when none is, `unencrypted_suffix` defaults to
//! `_unencrypted`. Suffixes and key regexes test every key of the path; comment regexes test
//! the comments above the value at every level.

use regex::Regex;

use super::error::{Error, Result};

/// Default `unencrypted_suffix`.
pub const DEFAULT_UNENCRYPTED_SUFFIX: &str = "_unencrypted";

/// The selector fields of the `sops` metadata (empty string = unset, as in sops).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selectors {
    /// Keys ending with this suffix (anywhere in the path) stay in clear.
    pub unencrypted_suffix: String,
    /// Only keys ending with this suffix (anywhere in the path) are encrypted.
    pub encrypted_suffix: String,
    /// Keys matching this regex (anywhere in the path) stay in clear.
    pub unencrypted_regex: String,
    /// Only keys matching this regex (anywhere in the path) are encrypted.
    pub encrypted_regex: String,
    /// Values under a comment matching this regex stay in clear.
    pub unencrypted_comment_regex: String,
    /// Only values under a comment matching this regex are encrypted.
    pub encrypted_comment_regex: String,
}

impl Selectors {
    /// How many selectors are set (sops refuses more than one).
    pub fn count(&self) -> usize {
        [
            &self.unencrypted_suffix,
            &self.encrypted_suffix,
            &self.unencrypted_regex,
            &self.encrypted_regex,
            &self.unencrypted_comment_regex,
            &self.encrypted_comment_regex,
        ]
        .iter()
        .filter(|s| !s.is_empty())
        .count()
    }

    /// Applies sops's default: no selector means `unencrypted_suffix: _unencrypted`.
    pub fn with_default(mut self) -> Self {
        if self.count() == 0 {
            self.unencrypted_suffix = DEFAULT_UNENCRYPTED_SUFFIX.to_owned();
        }
        self
    }

    pub(crate) fn compile(&self) -> Result<Compiled> {
        let re = |s: &str| -> Result<Option<Regex>> {
            if s.is_empty() {
                return Ok(None);
            }
            Regex::new(s)
                .map(Some)
                .map_err(|source| Error::InvalidRegex {
                    regex: s.to_owned(),
                    source,
                })
        };
        Ok(Compiled {
            unencrypted_suffix: self.unencrypted_suffix.clone(),
            encrypted_suffix: self.encrypted_suffix.clone(),
            unencrypted_regex: re(&self.unencrypted_regex)?,
            encrypted_regex: re(&self.encrypted_regex)?,
            unencrypted_comment_regex: re(&self.unencrypted_comment_regex)?,
            encrypted_comment_regex: re(&self.encrypted_comment_regex)?,
        })
    }
}

/// [`Selectors`] with compiled regexes.
pub(crate) struct Compiled {
    unencrypted_suffix: String,
    encrypted_suffix: String,
    unencrypted_regex: Option<Regex>,
    encrypted_regex: Option<Regex>,
    pub(crate) unencrypted_comment_regex: Option<Regex>,
    encrypted_comment_regex: Option<Regex>,
}

/// Which key selectors some key of the path so far matched (kept while walking down).
#[derive(Clone, Copy, Default)]
pub(crate) struct Hits {
    unencrypted_suffix: bool,
    encrypted_suffix: bool,
    unencrypted_regex: bool,
    encrypted_regex: bool,
}

impl Compiled {
    /// The hits after descending into key `k`.
    pub(crate) fn descend(&self, hits: Hits, k: &str) -> Hits {
        Hits {
            unencrypted_suffix: hits.unencrypted_suffix
                || (!self.unencrypted_suffix.is_empty() && k.ends_with(&self.unencrypted_suffix)),
            encrypted_suffix: hits.encrypted_suffix
                || (!self.encrypted_suffix.is_empty() && k.ends_with(&self.encrypted_suffix)),
            unencrypted_regex: hits.unencrypted_regex
                || self
                    .unencrypted_regex
                    .as_ref()
                    .is_some_and(|r| r.is_match(k)),
            encrypted_regex: hits.encrypted_regex
                || self.encrypted_regex.as_ref().is_some_and(|r| r.is_match(k)),
        }
    }

    /// The key-selector verdict for a path with these hits.
    pub(crate) fn hits_encrypted(&self, h: Hits) -> bool {
        let mut encrypted = true;
        if h.unencrypted_suffix {
            encrypted = false;
        }
        if !self.encrypted_suffix.is_empty() {
            encrypted = h.encrypted_suffix;
        }
        if h.unencrypted_regex {
            encrypted = false;
        }
        if self.encrypted_regex.is_some() {
            encrypted = h.encrypted_regex;
        }
        encrypted
    }

    /// Whether the key-based selectors alone leave the value at `path` encrypted. This part
    /// depends only on the path, so the walk computes it once per branch.
    #[cfg(test)]
    pub(crate) fn path_encrypted(&self, path: &[&str]) -> bool {
        let mut encrypted = true;
        if !self.unencrypted_suffix.is_empty()
            && path.iter().any(|k| k.ends_with(&self.unencrypted_suffix))
        {
            encrypted = false;
        }
        if !self.encrypted_suffix.is_empty() {
            encrypted = path.iter().any(|k| k.ends_with(&self.encrypted_suffix));
        }
        if let Some(re) = &self.unencrypted_regex
            && path.iter().any(|k| re.is_match(k))
        {
            encrypted = false;
        }
        if let Some(re) = &self.encrypted_regex {
            encrypted = path.iter().any(|k| re.is_match(k));
        }
        encrypted
    }

    /// Whether the comment selectors are in play.
    pub(crate) fn uses_comments(&self) -> bool {
        self.unencrypted_comment_regex.is_some() || self.encrypted_comment_regex.is_some()
    }

    /// The full `shouldBeEncrypted`, given the path result and the comment stack.
    pub(crate) fn should_encrypt(
        &self,
        path_encrypted: bool,
        comments: &[Vec<String>],
        is_comment: bool,
    ) -> bool {
        let mut encrypted = path_encrypted;
        if let Some(re) = &self.unencrypted_comment_regex
            && comments.iter().flatten().any(|c| re.is_match(c))
        {
            encrypted = false;
        }
        if let Some(re) = &self.encrypted_comment_regex {
            encrypted = false;
            let last_level = comments.len().saturating_sub(1);
            let last_len = comments.last().map_or(0, Vec::len);
            'outer: for (i, level) in comments.iter().enumerate() {
                for (j, c) in level.iter().enumerate() {
                    // The matching comment line itself stays in clear.
                    if is_comment && i == last_level && j + 1 == last_len {
                        continue;
                    }
                    if re.is_match(c) {
                        encrypted = true;
                        break 'outer;
                    }
                }
            }
        }
        encrypted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(f: impl FnOnce(&mut Selectors)) -> Compiled {
        let mut s = Selectors::default();
        f(&mut s);
        s.with_default().compile().unwrap()
    }

    #[test]
    fn default_suffix_leaves_unencrypted_keys_in_clear_at_any_depth() {
        let c = sel(|_| {});
        assert!(c.path_encrypted(&["a", "b"]));
        assert!(!c.path_encrypted(&["a_unencrypted", "b"]));
        assert!(!c.path_encrypted(&["a", "b_unencrypted"]));
    }

    #[test]
    fn encrypted_regex_encrypts_only_matching_paths() {
        let c = sel(|s| s.encrypted_regex = "^(data|stringData)$".into());
        assert!(c.path_encrypted(&["data", "x"]));
        assert!(!c.path_encrypted(&["metadata", "name"]));
    }

    #[test]
    fn encrypted_suffix_and_unencrypted_regex() {
        let c = sel(|s| s.encrypted_suffix = "_secret".into());
        assert!(c.path_encrypted(&["db_secret"]));
        assert!(!c.path_encrypted(&["db"]));
        let c = sel(|s| s.unencrypted_regex = "^kind$".into());
        assert!(!c.path_encrypted(&["kind"]));
        assert!(c.path_encrypted(&["data"]));
    }

    #[test]
    fn encrypted_comment_regex_skips_the_matching_comment_itself() {
        let c = sel(|s| s.encrypted_comment_regex = "sops:enc".into());
        let stack = vec![vec![" sops:enc".to_owned()]];
        assert!(!c.should_encrypt(true, &stack, true));
        assert!(c.should_encrypt(true, &stack, false));
        assert!(!c.should_encrypt(true, &[vec![]], false));
    }

    #[test]
    fn unencrypted_comment_regex_keeps_values_under_it_in_clear() {
        let c = sel(|s| s.unencrypted_comment_regex = "sops:plain".into());
        assert!(!c.should_encrypt(true, &[vec![" sops:plain".to_owned()]], false));
        assert!(c.should_encrypt(true, &[vec![" other".to_owned()]], false));
    }
}
