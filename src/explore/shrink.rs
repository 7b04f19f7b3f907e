//! Shrinking: make a failing schedule smaller while it still violates the same oracle the same
//! way (the same kind of violation, [`super::runner::violation_kind`]: a shrink that keeps the
//! oracle but drifts to another of its violations, such as a receiver that logs out for good in
//! place of a text shown out of order, reproduces something else). Greedy:
//! try candidates biggest cut first (all faults, each fault, each user, each action, each text
//! item, smaller files, earlier and shorter times); keep the first that still fails, start over;
//! stop when nothing helps or the budget is spent.

use super::runner::{judge, Judged};
use super::schedule::{Fault, FaultWhat, Schedule, What, When};
use crate::protocol::CHUNK_SIZE;
use std::time::{Duration, Instant};

/// How much shrinking one failure may cost.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub runs: usize,
    pub wall: Duration,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            runs: 300,
            wall: Duration::from_secs(120),
        }
    }
}

pub struct Shrunk {
    pub schedule: Schedule,
    pub judged: Judged,
    /// Simulations run while shrinking.
    pub runs: usize,
}

/// Shrinks `schedule`, which failed as `judged`, keeping `target` violated with the same kind of
/// violation.
pub fn shrink(schedule: &Schedule, judged: &Judged, target: &str, budget: Budget) -> Shrunk {
    let deadline = Instant::now() + budget.wall;
    let kind = judged.kinds.get(target);
    let mut best = Shrunk {
        schedule: schedule.clone(),
        judged: judged.clone(),
        runs: 0,
    };
    'pass: loop {
        let current = best.schedule.to_toml();
        for candidate in candidates(&best.schedule, &best.judged, target) {
            if best.runs >= budget.runs || Instant::now() >= deadline {
                break 'pass;
            }
            if candidate.to_toml() == current {
                continue;
            }
            best.runs += 1;
            let result = judge(&candidate);
            if result.violated.iter().any(|o| o == target) && result.kinds.get(target) == kind {
                best.schedule = candidate;
                best.judged = result;
                continue 'pass;
            }
        }
        break;
    }
    best
}

/// Every smaller variant of `s`, biggest cuts first.
fn candidates(s: &Schedule, judged: &Judged, target: &str) -> Vec<Schedule> {
    let mut out = Vec::new();
    let with = |f: &dyn Fn(&mut Schedule)| {
        let mut c = s.clone();
        f(&mut c);
        c
    };
    if !s.faults.is_empty() || !s.frame_faults.is_empty() {
        out.push(with(&|c| c.faults.clear()));
        out.push(with(&|c| c.frame_faults.clear()));
    }
    for i in 0..s.faults.len() {
        out.push(with(&|c| drop(c.faults.remove(i))));
    }
    for i in 0..s.frame_faults.len() {
        out.push(with(&|c| drop(c.frame_faults.remove(i))));
    }
    for i in 0..s.users.len() {
        if s.users.len() > 1 {
            out.push(with(&|c| {
                c.users.remove(i);
            }));
        }
    }
    for i in 0..s.actions.len() {
        out.push(with(&|c| drop(c.actions.remove(i))));
    }
    out.extend(smaller_contents(s));
    out.extend(earlier_times(s));
    out.push(with(&|c| c.bandwidth_kbps = None));
    out.push(with(&|c| c.latency_ms = [1, 10]));
    // A shorter limit would make any run fail liveness; only for other oracles.
    let needed = judged.sim_time.as_secs() + 5;
    if target != "liveness" && needed < s.time_limit_s {
        out.push(with(&|c| c.time_limit_s = needed));
    }
    out
}

/// Fewer files per action, fewer and shorter text items, smaller files.
fn smaller_contents(s: &Schedule) -> Vec<Schedule> {
    let mut out = Vec::new();
    for (i, act) in s.actions.iter().enumerate() {
        let mut variants: Vec<What> = Vec::new();
        match &act.what {
            What::Images(files) => {
                for j in 0..files.len() {
                    if files.len() > 1 {
                        let mut fewer = files.clone();
                        fewer.remove(j);
                        variants.push(What::Images(fewer));
                    }
                }
                for j in 0..files.len() {
                    let size = files[j].size;
                    for smaller in [
                        0,
                        size / 2,
                        size.saturating_sub(CHUNK_SIZE),
                        size - size.min(1),
                    ] {
                        if smaller < size {
                            let mut resized = files.clone();
                            resized[j].size = smaller;
                            variants.push(What::Images(resized));
                        }
                    }
                }
            }
            What::Text { to, contents } => {
                for j in 0..contents.len() {
                    if contents.len() > 1 {
                        let mut fewer = contents.clone();
                        fewer.remove(j);
                        variants.push(What::Text {
                            to: *to,
                            contents: fewer,
                        });
                    }
                    if contents[j].chars().count() > 8 {
                        let mut shorter = contents.clone();
                        let half = contents[j].chars().count() / 2;
                        shorter[j] = contents[j].chars().take(half).collect();
                        variants.push(What::Text {
                            to: *to,
                            contents: shorter,
                        });
                    }
                }
            }
            _ => {}
        }
        for what in variants {
            let mut c = s.clone();
            c.actions[i].what = what;
            out.push(c);
        }
    }
    out
}

/// Actions and faults earlier, faults shorter, frame faults on earlier and fewer frames.
fn earlier_times(s: &Schedule) -> Vec<Schedule> {
    let mut out = Vec::new();
    for (i, act) in s.actions.iter().enumerate() {
        for at in [0, act.at_ms / 2] {
            if at < act.at_ms {
                let mut c = s.clone();
                c.actions[i].at_ms = at;
                out.push(c);
            }
        }
    }
    for (i, fault) in s.faults.iter().enumerate() {
        for shorter in shorter_faults(fault) {
            let mut c = s.clone();
            c.faults[i] = shorter;
            out.push(c);
        }
    }
    for (i, rule) in s.frame_faults.iter().enumerate() {
        let mut variants = Vec::new();
        if rule.nth > 1 {
            variants.push((1, rule.count, rule.delay_ms));
            variants.push((rule.nth / 2, rule.count, rule.delay_ms));
        }
        if rule.count != 1 {
            variants.push((rule.nth, 1, rule.delay_ms));
        }
        if rule.delay_ms > 1 {
            variants.push((rule.nth, rule.count, rule.delay_ms / 2));
        }
        for (nth, count, delay_ms) in variants {
            let mut c = s.clone();
            let r = &mut c.frame_faults[i];
            (r.nth, r.count, r.delay_ms) = (nth.max(1), count, delay_ms);
            out.push(c);
        }
    }
    out
}

fn shorter_faults(fault: &Fault) -> Vec<Fault> {
    let mut out = Vec::new();
    if let When::At(at) = fault.when {
        if at > 0 {
            out.push(Fault {
                when: When::At(at / 2),
                what: fault.what.clone(),
            });
        }
    }
    let mut halve = |f: &dyn Fn(&mut FaultWhat) -> Option<&mut u64>| {
        let mut what = fault.what.clone();
        if let Some(ms) = f(&mut what).filter(|ms| **ms > 100) {
            *ms /= 2;
            out.push(Fault {
                when: fault.when,
                what,
            });
        }
    };
    halve(&|w| match w {
        FaultWhat::Partition { heal_after_ms, .. } => Some(heal_after_ms),
        FaultWhat::Hold {
            release_after_ms, ..
        } => Some(release_after_ms),
        FaultWhat::Restart { after_ms, .. } | FaultWhat::StoreCrash { after_ms, .. } => {
            Some(after_ms)
        }
        FaultWhat::Crash {
            bounce_after_ms, ..
        } => Some(bounce_after_ms),
        FaultWhat::DiskFull { ok_after_ms } => Some(ok_after_ms),
        FaultWhat::Reset { .. } | FaultWhat::DiskError { .. } => None,
    });
    out
}
