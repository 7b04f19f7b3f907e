//! The `no_panic` oracle: no party panicked and no host failed, other than by an injected crash.

use super::*;
use crate::trace::{Event, Record};

/// No party panicked and no host failed.
pub fn no_panic(records: &[Record]) -> Option<Violation> {
    records.iter().find_map(|record| match &record.event {
        Event::Panicked { message } => Some(violation(record, format!("panic: {message}"))),
        Event::HostFailed { error } => Some(violation(record, format!("host failed: {error}"))),
        Event::ServerDied { input, reason } => Some(violation(
            record,
            format!("the server died on {input}: {reason}"),
        )),
        _ => None,
    })
}
