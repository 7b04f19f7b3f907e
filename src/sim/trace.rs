//! The simulation's trace sink. It reads turmoil's simulated time, so it lives with the simulation;
//! parties only see the `TraceSink` seam.

use crate::trace::{Event, Record, TraceSink};
use parking_lot::Mutex;
use std::time::Duration;

/// The simulation's trace: events stamped with turmoil's simulated time, kept in order.
#[derive(Default)]
pub struct SimTrace {
    records: Mutex<Vec<Record>>,
}

impl SimTrace {
    pub fn records(&self) -> Vec<Record> {
        self.records.lock().clone()
    }

    /// The records from index `cursor` on: a reader that keeps its cursor reads each record once,
    /// so following the trace costs time linear in its length.
    pub fn since(&self, cursor: usize) -> Vec<Record> {
        let records = self.records.lock();
        records.get(cursor..).unwrap_or_default().to_vec()
    }

    /// How many records there are.
    pub fn len(&self) -> usize {
        self.records.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes the records out, leaving the trace empty (the world's end of a run).
    pub fn take(&self) -> Vec<Record> {
        std::mem::take(&mut *self.records.lock())
    }

    /// Records an event at an explicit time (the world's own end-of-run events).
    pub fn record_at(&self, at: Duration, host: &str, event: Event) {
        self.records.lock().push(Record {
            t_ms: at.as_millis() as u64,
            host: host.to_owned(),
            event,
        });
    }
}

impl TraceSink for SimTrace {
    fn record(&self, host: &str, event: Event) {
        let now = turmoil::sim_elapsed().unwrap_or_default();
        self.record_at(now, host, event);
    }
}
