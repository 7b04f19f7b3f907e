//! The scenario's images: generated from the seed once per run and hashed once, then shared by
//! the world's `SourceFile` records, the users who send them and the auditor, who recognises them
//! on the resource server's disk by their bytes instead of hashing them again.

use super::trace::SimTrace;
use super::user_host;
use crate::client::SourceFile;
use crate::hash::stable_hash;
use crate::protocol::ChunkPlan;
use crate::scenario::Step;
use crate::trace::Event;
use bytes::Bytes;
use md5::{Digest, Md5};
use rand::{RngCore, SeedableRng};
use std::collections::BTreeMap;
use std::time::Duration;

/// The bytes of a scenario image: pseudo-random, from the seed and the name alone.
pub fn image_bytes(seed: u64, name: &str, size: u64) -> Bytes {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed ^ stable_hash(name.as_bytes()));
    let mut data = vec![0u8; size as usize];
    rng.fill_bytes(&mut data);
    Bytes::from(data)
}

/// A short hash of one chunk: it only tells chunks apart (which chunk of a stored or served file
/// is not the source's), so it is a CRC32 rather than a slice of an MD5.
pub fn chunk_hash(bytes: &[u8]) -> String {
    format!("{:08x}", crc32fast::hash(bytes))
}

/// [`chunk_hash`] of each chunk of `data`, seq 1 first.
pub fn chunk_hashes(data: &[u8]) -> Vec<String> {
    let plan = ChunkPlan::new(data.len() as u64);
    (1..=plan.max_seq())
        .filter_map(|seq| plan.range(seq))
        .map(|r| chunk_hash(&data[r.start as usize..r.end as usize]))
        .collect()
}

/// One image of the scenario, hashed.
#[derive(Debug)]
pub struct Source {
    pub data: Bytes,
    pub md5: String,
    pub chunk_hashes: Vec<String>,
}

impl Source {
    fn new(data: Bytes) -> Self {
        let (md5, chunk_hashes) = hashes(&data);
        Source {
            data,
            md5,
            chunk_hashes,
        }
    }
}

/// The MD5 of `data` and its [`chunk_hashes`].
fn hashes(data: &[u8]) -> (String, Vec<String>) {
    (hex::encode(Md5::digest(data)), chunk_hashes(data))
}

/// Every image of a scenario, by name and size (two steps may send the same name).
#[derive(Debug, Default)]
pub struct Sources {
    by_name: BTreeMap<(String, u64), Source>,
}

impl Sources {
    pub fn generate(steps: &[(u64, i32, Step)], seed: u64) -> Self {
        let mut by_name = BTreeMap::new();
        for (_, _, step) in steps {
            if let Step::Image { name, size, .. } = step {
                by_name
                    .entry((name.clone(), *size))
                    .or_insert_with(|| Source::new(image_bytes(seed, name, *size)));
            }
        }
        Sources { by_name }
    }

    /// One `SourceFile` record per image step, at its time: what the integrity oracles compare
    /// against.
    pub fn record(&self, trace: &SimTrace, steps: &[(u64, i32, Step)]) {
        for (t, user, step) in steps {
            let Step::Image { name, size, .. } = step else {
                continue;
            };
            let source = &self.by_name[&(name.clone(), *size)];
            trace.record_at(
                Duration::from_millis(*t),
                &user_host(*user),
                Event::SourceFile {
                    file: name.clone(),
                    size: *size,
                    md5: source.md5.clone(),
                    chunk_hashes: source.chunk_hashes.clone(),
                },
            );
        }
    }

    /// The file a user sends for an image step; its MD5 was taken here.
    pub fn file(&self, name: &str, size: u64) -> Option<SourceFile> {
        let source = self.by_name.get(&(name.to_owned(), size))?;
        Some(SourceFile::with_md5(
            name.to_owned(),
            source.data.clone(),
            source.md5.clone(),
        ))
    }

    /// The MD5 and chunk hashes of `bytes` (a file on the resource server's disk): a source's,
    /// when they are that source byte for byte, which costs a comparison instead of hashing.
    pub fn hashes_of(&self, bytes: &[u8]) -> (String, Vec<String>) {
        match self.by_name.values().find(|source| source.data == bytes) {
            Some(source) => (source.md5.clone(), source.chunk_hashes.clone()),
            None => hashes(bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps() -> Vec<(u64, i32, Step)> {
        let image = |name: &str, size| Step::Image {
            to: 2,
            size,
            name: name.into(),
        };
        vec![
            (0, 1, image("a.png", 70_000)),
            (5, 1, image("b.png", 10)),
            (9, 2, image("a.png", 70_000)),
        ]
    }

    #[test]
    fn each_image_is_generated_once_per_name_and_size_with_its_own_md5() {
        let sources = Sources::generate(&steps(), 7);
        assert_eq!(sources.by_name.len(), 2);
        let file = sources.file("a.png", 70_000).expect("generated");
        assert_eq!(file.data, image_bytes(7, "a.png", 70_000));
        assert_eq!(
            file.md5(),
            SourceFile::new("a.png".into(), file.data.clone()).md5()
        );
        assert!(sources.file("a.png", 69_999).is_none());
    }

    #[test]
    fn hashes_of_a_file_are_its_own_whether_or_not_it_is_a_source() {
        let sources = Sources::generate(&steps(), 7);
        let data = image_bytes(7, "a.png", 70_000);
        let mut damaged = data.to_vec();
        damaged[40_000] ^= 1;
        for bytes in [&data[..], &damaged[..], &data[..69_999], &[][..]] {
            assert_eq!(
                sources.hashes_of(bytes),
                hashes(bytes),
                "{} bytes",
                bytes.len()
            );
        }
        assert_ne!(
            sources.hashes_of(&damaged).1[1],
            sources.hashes_of(&data).1[1]
        );
    }

    #[test]
    fn chunk_hashes_tell_a_damaged_chunk_apart() {
        let data = image_bytes(1, "c.png", 100_000);
        let mut damaged = data.to_vec();
        damaged[70_000] ^= 0x80;
        let (good, bad) = (chunk_hashes(&data), chunk_hashes(&damaged));
        assert_eq!(good.len(), 4);
        let differ: Vec<usize> = (0..4).filter(|&i| good[i] != bad[i]).collect();
        assert_eq!(differ, vec![2]);
    }
}
