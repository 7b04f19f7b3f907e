//! The `progress` oracle: reported progress never goes back and ends at 100%.

use super::*;
use crate::trace::{Event, Record, RetryScope};
use std::collections::BTreeMap;

/// Reported upload progress never goes down within one attempt, and a fully acked upload ends at
/// 100%.
pub fn progress(records: &[Record]) -> Option<Violation> {
    let mut last: BTreeMap<(&str, &str), u32> = BTreeMap::new();
    for record in records {
        match &record.event {
            Event::Progress { file, percent } => {
                let key = (record.host.as_str(), file.as_str());
                if let Some(previous) = last.get(&key) {
                    if percent < previous {
                        return Some(violation(
                            record,
                            format!("{file} went from {previous}% to {percent}%"),
                        ));
                    }
                }
                last.insert(key, *percent);
            }
            // A file that starts over after an md5 mismatch is a new attempt with its own progress.
            Event::UploadRetry {
                file,
                scope: RetryScope::File,
                ..
            } => {
                last.remove(&(record.host.as_str(), file.as_str()));
            }
            Event::UploadAcked { file } => {
                let reached = last.get(&(record.host.as_str(), file.as_str())).copied();
                if reached != Some(100) {
                    return Some(violation(
                        record,
                        format!("{file} fully acked but progress ended at {reached:?}"),
                    ));
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::oracles::testing::*;

    #[test]
    fn progress_catches_a_step_back_and_an_end_short_of_100() {
        let p = |percent| {
            at(
                1,
                "user1",
                Event::Progress {
                    file: "a".into(),
                    percent,
                },
            )
        };
        assert!(progress(&[p(50), p(40)]).is_some());
        let short = [
            p(80),
            at(2, "user1", Event::UploadAcked { file: "a".into() }),
        ];
        assert!(progress(&short).unwrap().detail.contains("Some(80)"));
        assert_eq!(
            progress(&[
                p(80),
                p(100),
                at(2, "user1", Event::UploadAcked { file: "a".into() })
            ]),
            None
        );
    }
}
