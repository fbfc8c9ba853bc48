//! What one tenant's templates may cost the process that renders them.
//!
//! Templates are written by whoever may create a SealedSecret or an ExternalSecret in a
//! namespace, and run inside the controller that holds the cluster's sealing keys. Each cost is
//! checked before it is paid: a function asks its [`Budget`] before it allocates, a loop before
//! each iteration, the parser and the executor before they nest deeper. Running out is an error
//! of that one object, never a crash of the process.

use std::fmt;

/// The budgets of template rendering. [`Limits::default`] fits any real Secret: Kubernetes
/// caps a whole Secret at 1 MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest value one template renders (one Secret value), and largest string any
    /// function may build.
    pub output: usize,
    /// Bytes that all functions and outputs drawing on one [`Budget`] may read and write
    /// together: bounds memory and time when one object holds many templates.
    pub work: usize,
    /// Steps one [`Budget`] may take: one per node of the template tree evaluated (text,
    /// action, branch, loop iteration, command, argument, field link).
    pub steps: u64,
    /// Deepest nesting of control structures (`if`, `with`, `range`) and parentheses in a
    /// template, and of lists and maps in a value.
    pub depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            output: 1 << 20,
            work: 32 << 20,
            steps: 1_000_000,
            depth: 100,
        }
    }
}

/// A budget a template ran out of, with its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// [`Limits::output`], in bytes.
    Output(usize),
    /// [`Limits::work`], in bytes.
    Work(usize),
    /// [`Limits::steps`].
    Steps(u64),
    /// [`Limits::depth`], in levels.
    Depth(usize),
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Output(n) => write!(f, "output budget of {n} bytes"),
            Self::Work(n) => write!(f, "work budget of {n} bytes"),
            Self::Steps(n) => write!(f, "step budget of {n} steps"),
            Self::Depth(n) => write!(f, "depth budget of {n} levels"),
        }
    }
}

/// Bytes charged for each element of a list or map and each decoded node, beside the bytes
/// of its strings: roughly what one heap value costs.
pub(crate) const SLOT: usize = 64;

/// What is left of [`Limits`] for one object. Share one across the templates of one Secret
/// (its data, labels and annotations) so that the object as a whole is bounded, not each
/// template alone.
#[derive(Debug, Clone)]
pub struct Budget {
    limits: Limits,
    steps: u64,
    work: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl Budget {
    /// A full budget.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            steps: 0,
            work: 0,
        }
    }

    /// The limits this budget started from.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Takes `n` steps.
    pub(crate) fn tick(&mut self, n: u64) -> Result<(), Limit> {
        match self.steps.checked_add(n) {
            Some(steps) if steps <= self.limits.steps => {
                self.steps = steps;
                Ok(())
            }
            _ => Err(Limit::Steps(self.limits.steps)),
        }
    }

    /// Work bytes not yet spent.
    pub(crate) fn work_left(&self) -> usize {
        self.limits.work - self.work
    }

    /// Spends `bytes` of work (read or written).
    pub(crate) fn charge(&mut self, bytes: usize) -> Result<(), Limit> {
        if bytes > self.work_left() {
            return Err(Limit::Work(self.limits.work));
        }
        self.work += bytes;
        Ok(())
    }

    /// Spends `count` slots of work: elements of a list or map about to be made.
    pub(crate) fn charge_slots(&mut self, count: usize) -> Result<(), Limit> {
        self.charge(count.saturating_mul(SLOT))
    }

    /// Checks that a string of `bytes` may be built, then spends them.
    pub(crate) fn charge_string(&mut self, bytes: usize) -> Result<(), Limit> {
        if bytes > self.limits.output {
            return Err(Limit::Output(self.limits.output));
        }
        self.charge(bytes)
    }

    /// Checks that a value nested `depth` levels deep may exist.
    pub(crate) fn check_depth(&self, depth: usize) -> Result<(), Limit> {
        if depth > self.limits.depth {
            return Err(Limit::Depth(self.limits.depth));
        }
        Ok(())
    }

    /// The largest string a function may build now, and the budget that sets it.
    pub(crate) fn room(&self) -> (usize, Limit) {
        let left = self.work_left();
        if self.limits.output <= left {
            (self.limits.output, Limit::Output(self.limits.output))
        } else {
            (left, Limit::Work(self.limits.work))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_work_run_out_at_their_limits() {
        let mut budget = Budget::new(Limits {
            steps: 3,
            work: 100,
            output: 60,
            depth: 2,
        });
        budget.tick(3).unwrap();
        assert_eq!(budget.tick(1), Err(Limit::Steps(3)));
        assert_eq!(budget.tick(u64::MAX), Err(Limit::Steps(3)));
        assert_eq!(budget.charge_string(61), Err(Limit::Output(60)));
        budget.charge_string(60).unwrap();
        assert_eq!(budget.room(), (40, Limit::Work(100)));
        assert_eq!(budget.charge(41), Err(Limit::Work(100)));
        assert_eq!(budget.charge_slots(usize::MAX), Err(Limit::Work(100)));
        assert_eq!(budget.check_depth(3), Err(Limit::Depth(2)));
        budget.check_depth(2).unwrap();
    }

    #[test]
    fn limits_print_with_their_unit() {
        assert_eq!(
            Limit::Output(1 << 20).to_string(),
            "output budget of 1048576 bytes"
        );
        assert_eq!(
            Limit::Steps(1_000_000).to_string(),
            "step budget of 1000000 steps"
        );
        assert_eq!(Limit::Depth(100).to_string(), "depth budget of 100 levels");
    }
}
