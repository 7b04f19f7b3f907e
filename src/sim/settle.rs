//! When a run has nothing left to do: every text acknowledged and delivered, every image either
//! failed for its sender or both notified and downloaded (or failed to download) by its receiver.
//! The world reads this from the trace to stop stepping early; it judges nothing.

use crate::trace::{Event, Record};
use std::collections::BTreeSet;

pub fn settled(records: &[Record]) -> bool {
    let mut texts_sent = BTreeSet::new();
    let mut texts_acked = BTreeSet::new();
    let mut texts_received = BTreeSet::new();
    let mut images = BTreeSet::new();
    let mut images_failed = BTreeSet::new();
    let mut images_notified = BTreeSet::new();
    let mut images_fetched = BTreeSet::new();
    for record in records {
        match &record.event {
            Event::TextSent { unique_id, .. } => {
                texts_sent.insert(unique_id);
            }
            Event::TextAcked { unique_id, .. } => {
                texts_acked.insert(unique_id);
            }
            Event::TextReceived { unique_id, .. } => {
                texts_received.insert(unique_id);
            }
            Event::ImageQueued { file, .. } => {
                images.insert(file);
            }
            Event::UploadFailed { file, .. } | Event::UploadCancelled { file } => {
                images_failed.insert(file);
            }
            Event::UploadNotified { file, .. } => {
                images_notified.insert(file);
            }
            Event::DownloadDone { file, .. } | Event::DownloadFailed { file, .. } => {
                images_fetched.insert(file);
            }
            _ => {}
        }
    }
    let texts_done = texts_sent
        .iter()
        .all(|u| texts_acked.contains(u) && texts_received.contains(u));
    let images_done = images.iter().all(|f| {
        images_failed.contains(f) || (images_notified.contains(f) && images_fetched.contains(f))
    });
    texts_done && images_done
}
