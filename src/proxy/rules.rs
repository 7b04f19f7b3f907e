//! Matching frames against a scenario's frame faults.

use crate::protocol::body::ChunkHint;
use crate::protocol::Frame;
use crate::scenario::{Direction, FrameAction, FrameFault};
use std::time::Duration;

/// One frame fault and how many frames it has matched so far.
#[derive(Debug, Clone)]
pub struct FrameRule {
    pub fault: FrameFault,
    seen: u32,
}

/// The rules of one proxy, checked in order; the first that applies decides.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<FrameRule>,
    start: Option<tokio::time::Instant>,
}

impl RuleSet {
    pub fn new(faults: impl IntoIterator<Item = FrameFault>) -> Self {
        RuleSet {
            rules: faults
                .into_iter()
                .map(|fault| FrameRule { fault, seen: 0 })
                .collect(),
            start: None,
        }
    }

    /// Milliseconds since the run started: simulated time in a simulation, else since the
    /// first frame this proxy saw.
    fn now_ms(&mut self) -> u64 {
        if let Some(elapsed) = turmoil::sim_elapsed() {
            return elapsed.as_millis() as u64;
        }
        let start = *self.start.get_or_insert_with(tokio::time::Instant::now);
        start.elapsed().as_millis() as u64
    }

    /// What to do with `frame`, if any rule applies: the action and, for a delay, how long.
    pub fn decide(
        &mut self,
        direction: Direction,
        frame: &Frame,
        hint: &ChunkHint,
    ) -> Option<(FrameAction, Duration)> {
        self.matching(direction, frame, hint)
            .map(|f| (f.action, Duration::from_millis(f.delay_ms)))
    }

    /// The fault that applies to `frame`, if any (with everything it says, e.g. a rewrite's `set`).
    pub fn matching(
        &mut self,
        direction: Direction,
        frame: &Frame,
        hint: &ChunkHint,
    ) -> Option<&FrameFault> {
        let now = self.now_ms();
        for rule in &mut self.rules {
            let f = &rule.fault;
            let matches = f.direction.is_none_or(|d| d == direction)
                && f.id.is_none_or(|id| id == frame.id)
                && f.file.as_ref().is_none_or(|file| *file == hint.name)
                && f.seq.is_none_or(|seq| seq == hint.seq)
                && f.from_ms.is_none_or(|t| now >= t)
                && f.until_ms.is_none_or(|t| now < t);
            if !matches {
                continue;
            }
            rule.seen += 1;
            let applies = rule.seen >= f.nth && (f.count == 0 || rule.seen < f.nth + f.count);
            if applies {
                return Some(&rule.fault);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(action: FrameAction, nth: u32, count: u32) -> FrameFault {
        FrameFault {
            action,
            user: None,
            direction: Some(Direction::Down),
            id: Some(1038),
            file: Some("a.png".into()),
            seq: None,
            nth,
            count,
            from_ms: None,
            until_ms: None,
            delay_ms: 0,
            set: Default::default(),
            optional: false,
        }
    }

    fn hint(name: &str) -> ChunkHint {
        ChunkHint {
            name: name.into(),
            seq: 2,
        }
    }

    #[test]
    fn nth_and_count_pick_which_matching_frames_are_hit() {
        let mut rules = RuleSet::new([fault(FrameAction::Drop, 2, 2)]);
        let ack = Frame::new(1038, "{}");
        let hits: Vec<bool> = (0..5)
            .map(|_| {
                rules
                    .decide(Direction::Down, &ack, &hint("a.png"))
                    .is_some()
            })
            .collect();
        assert_eq!(hits, [false, true, true, false, false]);
        // Other direction, id or file never match.
        assert!(rules.decide(Direction::Up, &ack, &hint("a.png")).is_none());
        assert!(rules
            .decide(Direction::Down, &Frame::new(1042, "{}"), &hint("a.png"))
            .is_none());
        assert!(rules
            .decide(Direction::Down, &ack, &hint("b.png"))
            .is_none());
    }

    #[test]
    fn count_zero_means_every_match() {
        let mut rules = RuleSet::new([fault(FrameAction::Duplicate, 1, 0)]);
        let ack = Frame::new(1038, "{}");
        assert!((0..10).all(|_| rules
            .decide(Direction::Down, &ack, &hint("a.png"))
            .is_some()));
    }
}
