//! A stable hash (64-bit FNV-1a) for sharding and seeding. `std`'s default hasher is randomly
//! keyed per process, which would make worker choice and derived seeds differ between runs.

pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    #[test]
    fn matches_the_published_fnv1a_vectors() {
        assert_eq!(super::stable_hash(b""), 0xcbf29ce484222325);
        assert_eq!(super::stable_hash(b"a"), 0xaf63dc4c8601ec8c);
    }
}
