//! The world's fault schedule: host and link faults fired at a simulated time or when a trace
//! event matches a trigger, applied through turmoil, the fault proxies and the disk.

use crate::proxy::FaultProxy;
use crate::scenario::{FaultKind, FaultSpec, Trigger};
use crate::store::DiskFaults;
use crate::trace::{Event, Record, SimTrace};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// One fault and where it stands.
struct Pending {
    kind: FaultKind,
    /// When it fires, once known.
    due: Option<Duration>,
    trigger: Option<(Trigger, u32)>,
    delay: Duration,
    fired: bool,
}

/// What faults act on.
pub(super) struct Targets<'a> {
    pub proxies: &'a BTreeMap<String, Arc<FaultProxy>>,
    pub disk: &'a DiskFaults,
    pub trace: &'a SimTrace,
}

pub(super) struct Schedule {
    pending: Vec<Pending>,
    /// How many trace records the triggers have looked at.
    cursor: usize,
}

impl Schedule {
    pub fn new(specs: &[FaultSpec]) -> Self {
        let pending = specs
            .iter()
            .map(|spec| Pending {
                kind: spec.kind.clone(),
                due: spec.at_ms.map(|t| Duration::from_millis(t + spec.delay_ms)),
                trigger: spec.after.clone().map(|t| (t, 0)),
                delay: Duration::from_millis(spec.delay_ms),
                fired: false,
            })
            .collect();
        Schedule { pending, cursor: 0 }
    }

    /// True while a fault with a known time has not fired: the run must not end before it.
    pub fn has_due(&self) -> bool {
        self.pending.iter().any(|p| !p.fired && p.due.is_some())
    }

    /// Arms triggers that new records match, then fires every fault that is due.
    pub fn advance(
        &mut self,
        sim: &mut turmoil::Sim<'_>,
        now: Duration,
        records: &[Record],
        targets: &Targets<'_>,
    ) {
        for record in &records[self.cursor.min(records.len())..] {
            for pending in self
                .pending
                .iter_mut()
                .filter(|p| p.due.is_none() && !p.fired)
            {
                if let Some((trigger, seen)) = pending.trigger.as_mut() {
                    if matches(trigger, record) {
                        *seen += 1;
                        if *seen == trigger.nth {
                            pending.due = Some(Duration::from_millis(record.t_ms) + pending.delay);
                        }
                    }
                }
            }
        }
        self.cursor = records.len();
        let mut follow_ups = Vec::new();
        for pending in self.pending.iter_mut() {
            if pending.fired || pending.due.is_none_or(|due| due > now) {
                continue;
            }
            pending.fired = true;
            if let Some(next) = apply(sim, &pending.kind, targets, now) {
                follow_ups.push(next);
            }
        }
        self.pending.extend(follow_ups);
    }
}

/// Does `record` match the trigger's event tag, host and fields?
fn matches(trigger: &Trigger, record: &Record) -> bool {
    if trigger.host.as_ref().is_some_and(|h| *h != record.host) {
        return false;
    }
    let Ok(value) = serde_json::to_value(record) else {
        return false;
    };
    if value.get("event").and_then(|e| e.as_str()) != Some(trigger.event.as_str()) {
        return false;
    }
    trigger.fields.iter().all(|(key, expected)| {
        let expected = serde_json::to_value(expected).unwrap_or_default();
        value.get(key) == Some(&expected)
    })
}

/// Applies one fault; a restart returns the bounce that completes it.
fn apply(
    sim: &mut turmoil::Sim<'_>,
    kind: &FaultKind,
    targets: &Targets<'_>,
    now: Duration,
) -> Option<Pending> {
    let mut follow_up = None;
    let detail = match kind {
        FaultKind::Partition { a, b, oneway } => {
            if *oneway {
                sim.partition_oneway(a.as_str(), b.as_str());
                format!("{a} -> {b} partitioned")
            } else {
                sim.partition(a.as_str(), b.as_str());
                format!("{a} <-> {b} partitioned")
            }
        }
        FaultKind::Heal { a, b, oneway } => {
            if *oneway {
                sim.repair_oneway(a.as_str(), b.as_str());
                format!("{a} -> {b} healed")
            } else {
                sim.repair(a.as_str(), b.as_str());
                format!("{a} <-> {b} healed")
            }
        }
        FaultKind::Hold { a, b } => {
            sim.hold(a.as_str(), b.as_str());
            format!("{a} <-> {b} held")
        }
        FaultKind::Release { a, b } => {
            sim.release(a.as_str(), b.as_str());
            format!("{a} <-> {b} released")
        }
        FaultKind::Reset { host } => match targets.proxies.get(host) {
            // A client: every connection it has.
            Some(proxy) => {
                proxy.reset();
                format!("{host}'s connections reset")
            }
            // A server: every client's connections to it.
            None => {
                for proxy in targets.proxies.values() {
                    proxy.reset_to(host);
                }
                format!("every connection to {host} reset")
            }
        },
        FaultKind::Crash { host } => {
            sim.crash(host.as_str());
            format!("{host} crashed")
        }
        FaultKind::Bounce { host } => {
            sim.bounce(host.as_str());
            format!("{host} restarted")
        }
        FaultKind::Restart { host, after_ms } => {
            sim.crash(host.as_str());
            follow_up = Some(Pending {
                kind: FaultKind::Bounce { host: host.clone() },
                due: Some(now + Duration::from_millis(*after_ms)),
                trigger: None,
                delay: Duration::ZERO,
                fired: false,
            });
            format!("{host} crashed, restarts in {after_ms} ms")
        }
        FaultKind::DiskError { count } => {
            targets.disk.fail_writes(*count);
            format!("the next {count} disk writes fail")
        }
        FaultKind::DiskFull => {
            targets.disk.set_full(true);
            "the disk is full".to_owned()
        }
        FaultKind::DiskOk => {
            targets.disk.clear();
            "the disk is healthy again".to_owned()
        }
    };
    targets.trace.record_at(
        now,
        "world",
        Event::Fault {
            kind: kind.name().to_owned(),
            detail,
        },
    );
    follow_up
}
