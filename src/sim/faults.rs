//! The world's fault schedule: host and link faults fired at a simulated time or when a trace
//! event matches a trigger, applied through turmoil, the fault proxies and the disk.

use super::crash_point::CrashSwitch;
use super::SimTrace;
use crate::net::HostSockets;
use crate::proxy::FaultProxy;
use crate::scenario::{FaultKind, FaultSpec, Trigger};
use crate::store::DiskFaults;
use crate::trace::{Event, Record};
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
    /// Its place in the scenario's `[[faults]]`; `None` for the bounce that completes a restart.
    spec: Option<usize>,
}

/// What became of one scenario fault, for the report and the expectation.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FaultRecord {
    /// `fault 2 (crash resource)` or `frame fault 1 (drop)`.
    pub name: String,
    pub optional: bool,
    pub fired_ms: Vec<u64>,
}

/// How many of a fault's firing times its trace record lists.
const TIMES_LISTED: usize = 8;

impl FaultRecord {
    pub fn event(&self) -> Event {
        Event::FaultOutcome {
            fault: self.name.clone(),
            optional: self.optional,
            fired: self.fired_ms.len(),
            times_ms: self.fired_ms.iter().take(TIMES_LISTED).copied().collect(),
        }
    }

    /// `fired at 1200 ms`, `fired 3 times: 100, 200, 300 ms`, `never fired (optional)`.
    pub fn summary(&self) -> String {
        let times: Vec<String> = self
            .fired_ms
            .iter()
            .take(TIMES_LISTED)
            .map(u64::to_string)
            .collect();
        let more = if self.fired_ms.len() > TIMES_LISTED {
            ", ..."
        } else {
            ""
        };
        match self.fired_ms.len() {
            0 if self.optional => "never fired (optional)".to_owned(),
            0 => "NEVER FIRED".to_owned(),
            1 => format!("fired at {} ms", times[0]),
            n => format!("fired {n} times: {}{more} ms", times.join(", ")),
        }
    }
}

/// What faults act on.
pub(super) struct Targets<'a> {
    pub proxies: &'a BTreeMap<String, Arc<FaultProxy>>,
    pub disk: &'a DiskFaults,
    pub trace: &'a SimTrace,
    /// The crash points of the stores beside the hosts, by host.
    pub store_crashes: &'a BTreeMap<String, Arc<CrashSwitch>>,
    pub sockets: &'a BTreeMap<String, Arc<HostSockets>>,
}

/// Crashes (or, with `restart`, restarts) `host`, its connections closed in a fixed order.
fn crash(sim: &mut turmoil::Sim<'_>, targets: &Targets<'_>, host: &str, restart: bool) {
    let act = |sim: &mut turmoil::Sim<'_>| match restart {
        true => sim.bounce(host),
        false => sim.crash(host),
    };
    match targets.sockets.get(host) {
        Some(sockets) => sockets.crash_with(|| act(sim)),
        None => act(sim),
    }
}

/// A server that died on an input (`server_died`) is crashed, as its process would be gone: it
/// stays down until a scenario fault restarts it (`bounce` or `restart`). Returns whether it
/// crashed any.
pub(super) fn crash_the_dead(
    sim: &mut turmoil::Sim<'_>,
    new_records: &[Record],
    targets: &Targets<'_>,
) -> bool {
    let mut crashed = false;
    for record in new_records {
        if matches!(record.event, Event::ServerDied { .. }) && sim.is_host_running(&*record.host) {
            crash(sim, targets, &record.host, false);
            crashed = true;
        }
    }
    crashed
}

pub(super) struct Schedule {
    pending: Vec<Pending>,
    /// For each scenario fault, the times it fired.
    fired: Vec<Vec<u64>>,
    /// When a fault last healed or ended (see `Event::LivenessBound`).
    last_heal: Duration,
}

impl Schedule {
    pub fn new(specs: &[FaultSpec]) -> Self {
        let pending = specs
            .iter()
            .enumerate()
            .map(|(index, spec)| Pending {
                kind: spec.kind.clone(),
                due: spec.at_ms.map(|t| Duration::from_millis(t + spec.delay_ms)),
                trigger: spec.after.clone().map(|t| (t, 0)),
                delay: Duration::from_millis(spec.delay_ms),
                fired: false,
                spec: Some(index),
            })
            .collect();
        Schedule {
            pending,
            fired: vec![Vec::new(); specs.len()],
            last_heal: Duration::ZERO,
        }
    }

    /// True while a fault with a known time has not fired: the run must not end before it.
    pub fn has_due(&self) -> bool {
        self.next_due().is_some()
    }

    /// When the next fault with a known time is due.
    pub fn next_due(&self) -> Option<Duration> {
        self.pending
            .iter()
            .filter(|p| !p.fired)
            .filter_map(|p| p.due)
            .min()
    }

    /// The last moment a fault fired or healed.
    pub fn last_heal(&self) -> Duration {
        self.last_heal
    }

    /// What became of each scenario fault.
    pub fn records(&self, specs: &[FaultSpec]) -> Vec<FaultRecord> {
        specs
            .iter()
            .zip(&self.fired)
            .enumerate()
            .map(|(index, (spec, fired))| FaultRecord {
                name: format!("fault {} ({})", index + 1, describe(&spec.kind)),
                optional: spec.optional,
                fired_ms: fired.clone(),
            })
            .collect()
    }

    /// Arms triggers that `new_records` (the records since the last call) match, then fires
    /// every fault that is due. True if any fired.
    pub fn advance(
        &mut self,
        sim: &mut turmoil::Sim<'_>,
        now: Duration,
        new_records: &[Record],
        targets: &Targets<'_>,
    ) -> bool {
        if self.pending.iter().any(|p| p.due.is_none() && !p.fired) {
            self.arm_triggers(new_records);
        }
        let mut follow_ups = Vec::new();
        let mut fired_any = false;
        for pending in self.pending.iter_mut() {
            let Some(due) = pending.due.filter(|due| *due <= now && !pending.fired) else {
                continue;
            };
            pending.fired = true;
            fired_any = true;
            // Exactly at its time: a fault triggered by an event of the step just run, without
            // a delay, is due in that event's millisecond. It acts after that step, before any
            // host runs again, so it is recorded at its due time, not at the step's end (which
            // made it 1 ms late and set a `restart`'s clock 1 ms late too).
            let at = due;
            // A store crash point fires when it strikes, not when it is armed.
            let arms_only = matches!(pending.kind, FaultKind::StoreCrash { .. });
            if let Some(index) = pending.spec.filter(|_| !arms_only) {
                self.fired[index].push(at.as_millis() as u64);
            }
            self.last_heal = self.last_heal.max(at);
            if let Some(next) = apply(sim, &pending.kind, targets, at) {
                follow_ups.push(next);
            }
        }
        self.pending.extend(follow_ups);
        fired_any
    }

    /// A store crash point of `struck` struck: crash the host now and start it again as the
    /// fault says. The restart is a follow-up like a `restart` fault's, and it ends the fault for
    /// liveness.
    pub fn store_crash_struck(
        &mut self,
        sim: &mut turmoil::Sim<'_>,
        now: Duration,
        struck: &str,
        targets: &Targets<'_>,
    ) {
        let trace = targets.trace;
        let Some(switch) = targets.store_crashes.get(struck) else {
            return;
        };
        let Some((kind, spec)) = self
            .pending
            .iter()
            .rev()
            .find(|p| {
                p.fired && matches!(&p.kind, FaultKind::StoreCrash { host, .. } if host == struck)
            })
            .map(|p| (p.kind.clone(), p.spec))
        else {
            return;
        };
        if let Some(index) = spec {
            self.fired[index].push(now.as_millis() as u64);
        }
        let FaultKind::StoreCrash { host, after_ms, .. } = kind else {
            return;
        };
        crash(sim, targets, &host, false);
        // The switch cut the host off at the crash point; a crashed host needs no cutting off.
        for (a, b) in switch.links() {
            sim.repair(a, b);
        }
        trace.record_at(
            now,
            "world",
            Event::Fault {
                kind: "store_crash".to_owned(),
                detail: format!(
                    "{host} crashed between two store writes, restarts in {after_ms} ms"
                ),
            },
        );
        self.last_heal = self.last_heal.max(now);
        self.pending.push(Pending {
            kind: FaultKind::Bounce { host },
            due: Some(now + Duration::from_millis(after_ms)),
            trigger: None,
            delay: Duration::ZERO,
            fired: false,
            spec: None,
        });
    }

    /// Gives each record to every trigger still waiting; each record is serialised once.
    fn arm_triggers(&mut self, new_records: &[Record]) {
        for record in new_records {
            let mut value = None;
            for pending in self
                .pending
                .iter_mut()
                .filter(|p| p.due.is_none() && !p.fired)
            {
                let Some((trigger, seen)) = pending.trigger.as_mut() else {
                    continue;
                };
                let value = value.get_or_insert_with(|| serde_json::to_value(record).ok());
                if value.as_ref().is_some_and(|v| matches(trigger, record, v)) {
                    *seen += 1;
                    if *seen == trigger.nth {
                        pending.due = Some(Duration::from_millis(record.t_ms) + pending.delay);
                    }
                }
            }
        }
    }
}

/// Does `record` (serialised as `value`) match the trigger's event tag, host and fields?
fn matches(trigger: &Trigger, record: &Record, value: &serde_json::Value) -> bool {
    if trigger.host.as_ref().is_some_and(|h| *h != record.host) {
        return false;
    }
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
        FaultKind::Reset {
            host,
            to: Some(server),
        } => match targets.proxies.get(host) {
            // One user's connection to one server.
            Some(proxy) => {
                proxy.reset_to(server);
                format!("{host}'s connection to {server} reset")
            }
            None => format!("{host} is not a user: nothing reset"),
        },
        FaultKind::Reset { host, to: None } => match targets.proxies.get(host) {
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
            crash(sim, targets, host, false);
            format!("{host} crashed")
        }
        FaultKind::Bounce { host } => {
            crash(sim, targets, host, true);
            format!("{host} restarted")
        }
        FaultKind::Restart { host, after_ms } => {
            crash(sim, targets, host, false);
            follow_up = Some(Pending {
                kind: FaultKind::Bounce { host: host.clone() },
                due: Some(now + Duration::from_millis(*after_ms)),
                trigger: None,
                delay: Duration::ZERO,
                fired: false,
                spec: None,
            });
            format!("{host} crashed, restarts in {after_ms} ms")
        }
        FaultKind::DiskError { count, file: None } => {
            targets.disk.fail_writes(*count);
            format!("the next {count} disk writes fail")
        }
        FaultKind::DiskError {
            count,
            file: Some(file),
        } => {
            targets.disk.fail_writes_of(file, *count);
            format!("the next {count} disk writes of {file} fail")
        }
        FaultKind::DiskFull => {
            targets.disk.set_full(true);
            "the disk is full".to_owned()
        }
        FaultKind::DiskOk => {
            targets.disk.clear();
            "the disk is healthy again".to_owned()
        }
        FaultKind::Bandwidth { kbps } => {
            for proxy in targets.proxies.values() {
                proxy.set_bandwidth(Some(kbps * 1000));
            }
            format!("every client's link now carries {kbps} kbit/s each way")
        }
        FaultKind::StoreCrash { host, op, nth, .. } => {
            let store = match host.as_str() {
                "resource" => "upload state",
                _ => "message store",
            };
            if let Some(switch) = targets.store_crashes.get(host) {
                switch.arm(op, *nth);
            }
            format!("{host} will crash right after its {store}'s next {op} (x{nth})")
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

/// A fault in a few words, for the report: `crash resource`, `partition user1 -> chat`.
pub fn describe(kind: &FaultKind) -> String {
    let name = kind.name();
    match kind {
        FaultKind::Partition { a, b, oneway } | FaultKind::Heal { a, b, oneway } => {
            let arrow = if *oneway { "->" } else { "<->" };
            format!("{name} {a} {arrow} {b}")
        }
        FaultKind::Hold { a, b } | FaultKind::Release { a, b } => format!("{name} {a} <-> {b}"),
        FaultKind::Reset { host, to: Some(to) } => format!("{name} {host} -> {to}"),
        FaultKind::Reset { host, to: None }
        | FaultKind::Crash { host }
        | FaultKind::Bounce { host } => format!("{name} {host}"),
        FaultKind::Restart { host, after_ms } => format!("{name} {host} after {after_ms} ms"),
        FaultKind::DiskError { count, file: None } => format!("{name} x{count}"),
        FaultKind::DiskError {
            count,
            file: Some(file),
        } => format!("{name} {file} x{count}"),
        FaultKind::Bandwidth { kbps } => format!("{name} {kbps} kbit/s"),
        FaultKind::StoreCrash { host, op, nth, .. } => format!("{name} {host} after {op} x{nth}"),
        FaultKind::DiskFull | FaultKind::DiskOk => name.to_owned(),
    }
}
