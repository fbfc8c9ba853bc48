//! A byte buffer that refuses to grow past its limit, checked before it allocates, and wipes
//! every buffer it leaves behind (template strings hold secret bytes).

use zeroize::{Zeroize as _, Zeroizing};

use super::budget::{Budget, Limit};

/// Bytes being built under a limit.
pub(crate) struct Sink {
    bytes: Zeroizing<Vec<u8>>,
    limit: usize,
    over: Limit,
    /// Set when a write through [`std::io::Write`] was refused.
    overflowed: bool,
}

impl Sink {
    /// An empty buffer that may hold at most `limit` bytes; growing past it is `over`.
    pub(crate) fn new(limit: usize, over: Limit) -> Self {
        Self {
            bytes: Zeroizing::new(Vec::new()),
            limit,
            over,
            overflowed: false,
        }
    }

    /// An empty buffer for a string a function builds: at most what `budget` has room for.
    pub(crate) fn for_string(budget: &Budget) -> Self {
        let (limit, over) = budget.room();
        Self::new(limit, over)
    }

    /// Bytes so far.
    pub(crate) fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Bytes that still fit.
    pub(crate) fn room(&self) -> usize {
        self.limit - self.bytes.len()
    }

    /// The budget this buffer runs out of.
    pub(crate) fn over(&self) -> Limit {
        self.over
    }

    /// Whether a write through [`std::io::Write`] was refused for lack of room.
    pub(crate) fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// Fails unless `more` bytes still fit.
    pub(crate) fn check_room(&self, more: usize) -> Result<(), Limit> {
        if more > self.room() {
            return Err(self.over);
        }
        Ok(())
    }

    /// Makes room for `more` bytes: checks the limit, then grows into a new buffer and wipes
    /// the old one (a `Vec` reallocating by itself would leave a copy behind).
    fn reserve(&mut self, more: usize) -> Result<(), Limit> {
        self.check_room(more)?;
        let needed = self.bytes.len() + more;
        if needed > self.bytes.capacity() {
            let capacity = needed
                .max(self.bytes.capacity().saturating_mul(2))
                .max(64)
                .min(self.limit);
            let mut grown = Vec::with_capacity(capacity);
            grown.extend_from_slice(&self.bytes);
            let mut old = std::mem::replace(&mut *self.bytes, grown);
            old.zeroize();
        }
        Ok(())
    }

    /// Appends one byte.
    pub(crate) fn push(&mut self, byte: u8) -> Result<(), Limit> {
        self.reserve(1)?;
        self.bytes.push(byte);
        Ok(())
    }

    /// Appends `bytes`.
    pub(crate) fn extend(&mut self, bytes: &[u8]) -> Result<(), Limit> {
        self.reserve(bytes.len())?;
        self.bytes.extend_from_slice(bytes);
        Ok(())
    }

    /// Appends `count` copies of `byte`.
    pub(crate) fn fill(&mut self, byte: u8, count: usize) -> Result<(), Limit> {
        self.reserve(count)?;
        let len = self.bytes.len();
        self.bytes.resize(len + count, byte);
        Ok(())
    }

    /// Appends a character.
    pub(crate) fn push_char(&mut self, c: char) -> Result<(), Limit> {
        self.extend(c.encode_utf8(&mut [0; 4]).as_bytes())
    }

    /// The bytes built.
    pub(crate) fn into_bytes(self) -> Zeroizing<Vec<u8>> {
        self.bytes
    }

    /// The bytes so far.
    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.bytes
    }
}

/// For serializers (`serde_json`, `serde_yaml_ng`): a refused write is an I/O error, and
/// [`Sink::overflowed`] tells it apart from a serializer's own error.
impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.extend(buf).is_err() {
            self.overflowed = true;
            return Err(std::io::Error::other("template budget exhausted"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    #[test]
    fn growth_past_the_limit_is_refused_before_allocating() {
        let mut sink = Sink::new(8, Limit::Output(8));
        sink.extend(b"12345").unwrap();
        assert_eq!(sink.fill(b' ', usize::MAX), Err(Limit::Output(8)));
        assert_eq!(sink.extend(b"6789"), Err(Limit::Output(8)));
        sink.extend(b"678").unwrap();
        assert_eq!(sink.push(b'9'), Err(Limit::Output(8)));
        assert!(sink.write_all(b"x").is_err());
        assert!(sink.overflowed());
        assert_eq!(&*sink.into_bytes(), b"12345678");
    }
}
