//! The `integrity` oracle: stored and downloaded files are byte-identical to their sources.

use super::*;
use crate::trace::{Event, Record};
use std::collections::BTreeMap;

/// Every stored (complete) and every downloaded file is byte-identical to its source.
pub fn integrity(records: &[Record]) -> Option<Violation> {
    let sources: BTreeMap<&str, (u64, &str)> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::SourceFile {
                file, size, md5, ..
            } => Some((file.as_str(), (*size, md5.as_str()))),
            _ => None,
        })
        .collect();
    let source_chunks = source_chunk_hashes(records);
    for record in records {
        let (what, file, size, md5, chunks) = match &record.event {
            Event::DownloadDone {
                file, size, md5, ..
            } => ("downloaded", file, size, md5, None),
            Event::FinalFile {
                file,
                size,
                md5,
                complete: true,
                chunk_hashes,
                ..
            } => ("stored", file, size, md5, Some(chunk_hashes)),
            _ => continue,
        };
        match sources.get(file.as_str()) {
            None => {
                return Some(violation(
                    record,
                    format!("{what} file {file} has no source"),
                ))
            }
            Some((source_size, source_md5))
                if (source_size, *source_md5) != (size, md5.as_str()) =>
            {
                let which = match (chunks, source_chunks.get(file.as_str())) {
                    (Some(stored), Some(source)) => format!(" ({})", chunk_diff(source, stored)),
                    _ => String::new(),
                };
                return Some(violation(
                    record,
                    format!(
                        "{what} {file}: {size} bytes md5 {md5}, source has {source_size} bytes md5 {source_md5}{which}"
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    None
}

/// Which stored chunks differ from the source, and whose bytes they hold when they are another
/// chunk's (chunks written in the wrong place).
fn chunk_diff(source: &[String], stored: &[String]) -> String {
    let mut notes: Vec<String> = Vec::new();
    for (index, hash) in stored.iter().enumerate() {
        if source.get(index) == Some(hash) {
            continue;
        }
        let seq = index + 1;
        notes.push(match source.iter().position(|s| s == hash) {
            Some(other) => format!("seq {seq} holds the bytes of source seq {}", other + 1),
            None => format!("seq {seq} differs from the source"),
        });
    }
    if stored.len() < source.len() {
        notes.push(format!(
            "seqs {}..={} are missing",
            stored.len() + 1,
            source.len()
        ));
    }
    const SHOWN: usize = 4;
    let more = notes.len().saturating_sub(SHOWN);
    notes.truncate(SHOWN);
    if more > 0 {
        notes.push(format!("{more} more"));
    }
    notes.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::oracles::testing::*;

    #[test]
    fn integrity_catches_a_download_that_differs_from_its_source() {
        let trace = [
            at(
                0,
                "user1",
                Event::SourceFile {
                    file: "a".into(),
                    size: 3,
                    md5: "m1".into(),
                    chunk_hashes: vec![],
                },
            ),
            at(
                9,
                "user2",
                Event::DownloadDone {
                    file: "a".into(),
                    message_id: 1,
                    size: 3,
                    md5: "m2".into(),
                },
            ),
        ];
        let v = integrity(&trace).unwrap();
        assert_eq!((v.t_ms, v.host.as_str()), (9, "user2"));
    }

    #[test]
    fn integrity_names_the_chunks_of_a_stored_file_that_differ() {
        let hashes = |h: &[&str]| h.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let trace = [
            at(
                0,
                "user1",
                Event::SourceFile {
                    file: "a".into(),
                    size: 4,
                    md5: "m1".into(),
                    chunk_hashes: hashes(&["h1", "h2", "h3", "h4"]),
                },
            ),
            at(
                9,
                "resource",
                Event::FinalFile {
                    file: "a".into(),
                    owner: 1,
                    size: 3,
                    md5: "m2".into(),
                    complete: true,
                    received: vec![1, 2, 3, 4],
                    chunk_hashes: hashes(&["h1", "h3", "x"]),
                },
            ),
        ];
        let v = integrity(&trace).unwrap();
        assert!(
            v.detail.ends_with(
                "(seq 2 holds the bytes of source seq 3, seq 3 differs from the source, seqs 4..=4 are missing)"
            ),
            "{}",
            v.detail
        );
    }
}
