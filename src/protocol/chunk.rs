//! Chunk arithmetic: seq k (1-based) covers bytes `[(k-1)*CHUNK_SIZE, min(k*CHUNK_SIZE, total))`.

/// `MAX_FILE_LEN`: raw bytes per chunk, before base64.
pub const CHUNK_SIZE: u64 = 32768;
/// `MAX_CWND_SIZE`: chunks a client may have in flight.
pub const MAX_CWND: usize = 5;

/// The chunk layout of one file of `total` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkPlan {
    pub total: u64,
}

impl ChunkPlan {
    pub fn new(total: u64) -> Self {
        ChunkPlan { total }
    }

    /// Number of chunks; an empty file still travels as one empty chunk.
    pub fn max_seq(&self) -> u32 {
        let n = self.total.div_ceil(CHUNK_SIZE).max(1);
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    pub fn contains(&self, seq: u32) -> bool {
        seq >= 1 && seq <= self.max_seq()
    }

    /// Byte offset where `seq` starts.
    pub fn offset(&self, seq: u32) -> u64 {
        (u64::from(seq.max(1)) - 1) * CHUNK_SIZE
    }

    /// Byte range `[start, end)` of `seq`; `None` when `seq` is outside the file.
    pub fn range(&self, seq: u32) -> Option<std::ops::Range<u64>> {
        if !self.contains(seq) {
            return None;
        }
        let start = self.offset(seq);
        Some(start..(start + CHUNK_SIZE).min(self.total))
    }

    /// `trans_size` of a chunk: the end offset of that chunk.
    pub fn trans_size(&self, seq: u32) -> u64 {
        self.range(seq).map_or(0, |r| r.end)
    }

    pub fn is_last(&self, seq: u32) -> bool {
        seq == self.max_seq()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_of_a_file_that_is_not_a_multiple() {
        let plan = ChunkPlan::new(100_000);
        assert_eq!(plan.max_seq(), 4);
        assert_eq!(plan.range(1), Some(0..32768));
        assert_eq!(plan.range(4), Some(98304..100_000));
        assert_eq!(plan.range(5), None);
        assert_eq!(plan.range(0), None);
        assert_eq!(plan.trans_size(4), 100_000);
        assert!(plan.is_last(4));
    }

    #[test]
    fn exact_multiple_and_empty_file() {
        assert_eq!(ChunkPlan::new(2 * CHUNK_SIZE).max_seq(), 2);
        assert_eq!(ChunkPlan::new(2 * CHUNK_SIZE).range(2), Some(32768..65536));
        let empty = ChunkPlan::new(0);
        assert_eq!(empty.max_seq(), 1);
        assert_eq!(empty.range(1), Some(0..0));
    }
}
