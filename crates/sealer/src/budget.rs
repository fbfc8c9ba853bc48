//! Budgets of the parsers that read repository files: nesting depth and alias expansion.
//!
//! A file in Git is input from whoever can open a pull request, and the kustomize plugin or the
//! Argo CD sidecar that reads it serves every application: one hostile file must fail with an
//! error, never exhaust the stack or the memory of the process.
//!
//! - **Depth**: every tree reader refuses more than [`MAX_DEPTH`] nested mappings and
//!   sequences, checked before it recurses; every later pass over a tree (encryption walk, MAC,
//!   emitters, drop) then recurses at most that deep.
//! - **Aliases**: a YAML alias repeats its anchored node. [`AliasBudget`] applies go-yaml v3's
//!   rule (`decode.go` `allowedAliasRatio`, the error sops reports as "document contains
//!   excessive aliasing"), and also bounds the scalar bytes aliases may copy, which go-yaml
//!   does not (a few aliases of one large anchored string are cheap to write and expensive to
//!   expand).

/// Deepest nesting of mappings and sequences any reader accepts.
///
/// Far beyond real files (Helm values and Kubernetes objects nest a few dozen levels at
/// most), and small enough that every recursive pass over a tree stays within a 2 MiB thread
/// stack in an unoptimized build.
pub const MAX_DEPTH: usize = 128;

/// Scalar bytes aliases may copy in one file, beyond the file's own size.
const ALIAS_BYTES_ALLOWANCE: usize = 16 << 20;

/// go-yaml v3: below this many decoded nodes, 99% of them may come from aliases.
const ALIAS_RATIO_RANGE_LOW: f64 = 400_000.0;
/// go-yaml v3: above this many decoded nodes, 10% of them may come from aliases.
const ALIAS_RATIO_RANGE_HIGH: f64 = 4_000_000.0;

/// Why a budget refused a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Exceeded {
    /// Mappings and sequences nest deeper than [`MAX_DEPTH`].
    #[error("nesting deeper than {MAX_DEPTH} levels")]
    Depth,
    /// Aliases expand to too many nodes or bytes (a "billion laughs" file).
    #[error("document contains excessive aliasing")]
    Aliasing,
}

/// Whether a node at `depth` (the root mapping is at 1) may be entered.
pub fn check_depth(depth: usize) -> Result<(), Exceeded> {
    if depth > MAX_DEPTH {
        Err(Exceeded::Depth)
    } else {
        Ok(())
    }
}

/// Counts the nodes a YAML reader builds and how many of them come from aliases.
#[derive(Debug, Clone)]
pub struct AliasBudget {
    nodes: u64,
    alias_nodes: u64,
    alias_bytes: usize,
    max_alias_bytes: usize,
}

impl AliasBudget {
    /// A budget for a file of `input_len` bytes.
    pub fn new(input_len: usize) -> Self {
        Self {
            nodes: 0,
            alias_nodes: 0,
            alias_bytes: 0,
            max_alias_bytes: input_len.saturating_add(ALIAS_BYTES_ALLOWANCE),
        }
    }

    /// Records one node read from the text itself.
    pub fn node(&mut self) -> Result<(), Exceeded> {
        self.nodes += 1;
        self.check()
    }

    /// Records an alias that repeats `nodes` nodes holding `bytes` bytes of scalar text,
    /// before they are copied.
    pub fn alias(&mut self, nodes: u64, bytes: usize) -> Result<(), Exceeded> {
        self.nodes = self.nodes.saturating_add(nodes);
        self.alias_nodes = self.alias_nodes.saturating_add(nodes);
        self.alias_bytes = self.alias_bytes.saturating_add(bytes);
        if self.alias_bytes > self.max_alias_bytes {
            return Err(Exceeded::Aliasing);
        }
        self.check()
    }

    /// go-yaml v3's test. go-yaml makes it at every decoded node; here it is made once per
    /// alias, with the alias's whole expansion counted first: the alias share only grows while
    /// an alias expands, so this refuses whatever go-yaml refuses, before anything is copied.
    fn check(&self) -> Result<(), Exceeded> {
        if self.alias_nodes > 100
            && self.nodes > 1000
            && self.alias_nodes as f64 / self.nodes as f64 > allowed_alias_ratio(self.nodes)
        {
            Err(Exceeded::Aliasing)
        } else {
            Ok(())
        }
    }
}

/// go-yaml v3 `allowedAliasRatio`: 99% up to 400,000 nodes, 10% from 4,000,000, linear between.
fn allowed_alias_ratio(nodes: u64) -> f64 {
    let n = nodes as f64;
    if n <= ALIAS_RATIO_RANGE_LOW {
        0.99
    } else if n >= ALIAS_RATIO_RANGE_HIGH {
        0.10
    } else {
        0.99 - 0.89
            * ((n - ALIAS_RATIO_RANGE_LOW) / (ALIAS_RATIO_RANGE_HIGH - ALIAS_RATIO_RANGE_LOW))
    }
}

/// Ten anchors, each a list of ten aliases of the previous one: 10^10 nodes in 400 bytes.
#[cfg(test)]
pub(crate) fn billion_laughs() -> String {
    let mut text = String::from("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    let mut prev = 'a';
    for name in 'b'..='j' {
        let aliases = vec![format!("*{prev}"); 10].join(", ");
        text.push_str(&format!("{name}: &{name} [{aliases}]\n"));
        prev = name;
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_is_refused_only_beyond_the_limit() {
        assert!(check_depth(MAX_DEPTH).is_ok());
        assert_eq!(check_depth(MAX_DEPTH + 1), Err(Exceeded::Depth));
    }

    #[test]
    fn a_few_aliases_in_a_small_file_are_fine() {
        let mut b = AliasBudget::new(100);
        for _ in 0..50 {
            b.node().unwrap();
        }
        // 100 aliases of 10 nodes each: 1,050 nodes, 95% from aliases, like go-yaml accepts.
        for _ in 0..100 {
            b.alias(10, 10).unwrap();
        }
    }

    #[test]
    fn exponential_alias_expansion_is_refused_like_go_yaml() {
        // Ten levels of ten aliases each: go-yaml gives up long before the 10^10 nodes.
        let mut b = AliasBudget::new(500);
        for _ in 0..20 {
            b.node().unwrap();
        }
        let mut size = 10u64;
        let refused = (0..10).any(|_| {
            let r = (0..10).try_for_each(|_| b.alias(size, 0));
            size *= 10;
            r.is_err()
        });
        assert!(refused);
    }

    #[test]
    fn aliases_may_not_copy_much_more_than_the_file_holds() {
        let mut b = AliasBudget::new(1 << 20);
        b.node().unwrap();
        b.alias(1, 1 << 20).unwrap();
        assert_eq!(
            b.alias(1, ALIAS_BYTES_ALLOWANCE + 1),
            Err(Exceeded::Aliasing)
        );
    }
}
