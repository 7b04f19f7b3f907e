//! The proxy's rules as plain data (a scenario's `[[frame_faults]]` deserialise straight into
//! [`FrameFault`]), and matching frames against them.

use crate::protocol::body::ChunkHint;
use crate::protocol::Frame;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Which way a frame travels through the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Client to server.
    Up,
    /// Server to client.
    Down,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameAction {
    Drop,
    Delay,
    Duplicate,
    /// Hold the frame back until the next frame in the same direction has passed.
    Reorder,
    /// Flip bits in the decoded chunk data (frames with a `data` field), keeping the frame valid.
    Corrupt,
    /// Overwrite fields of the JSON body with the values in `set`, e.g. to forge a hostile name or
    /// another user's uid on the wire.
    Rewrite,
    /// Deliver the frame in small pieces (cuts inside the header and the body), `delay_ms` apart,
    /// so the reader must put it together again.
    Slice,
}

/// A frame fault: what to do to which frames. Every matcher given must match.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FrameFault {
    pub action: FrameAction,
    /// Only this user's connections; all users when absent.
    #[serde(default)]
    pub user: Option<i32>,
    #[serde(default)]
    pub direction: Option<Direction>,
    /// Message id.
    #[serde(default)]
    pub id: Option<u16>,
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub seq: Option<u32>,
    /// Start with the nth matching frame (1-based).
    #[serde(default = "one")]
    pub nth: u32,
    /// Apply to this many matching frames from the nth on; 0 means every one.
    #[serde(default = "one")]
    pub count: u32,
    /// Only frames seen in this window of simulated time.
    #[serde(default)]
    pub from_ms: Option<u64>,
    #[serde(default)]
    pub until_ms: Option<u64>,
    /// For `delay`.
    #[serde(default)]
    pub delay_ms: u64,
    /// For `rewrite`: JSON fields of the body and their new values, e.g.
    /// `set = { name = "../escape.png" }` or `set = { uid = 1 }`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, serde_json::Value>,
    /// The fault may legitimately match no frame; without it a frame fault that matched nothing
    /// makes the run's expectation unmet.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

fn one() -> u32 {
    1
}

/// One frame fault and how many frames it has matched so far.
#[derive(Debug, Clone)]
pub struct FrameRule {
    pub fault: FrameFault,
    seen: u32,
    /// When the rule applied to a frame, in the proxy's milliseconds.
    fired_ms: Vec<u64>,
}

/// The rules of one proxy, checked in order; the first that applies decides.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<FrameRule>,
}

impl RuleSet {
    pub fn new(faults: impl IntoIterator<Item = FrameFault>) -> Self {
        RuleSet {
            rules: faults
                .into_iter()
                .map(|fault| FrameRule {
                    fault,
                    seen: 0,
                    fired_ms: Vec::new(),
                })
                .collect(),
        }
    }

    /// For each rule, in order, the times it applied to a frame.
    pub fn fired(&self) -> Vec<Vec<u64>> {
        self.rules.iter().map(|r| r.fired_ms.clone()).collect()
    }

    /// What to do with `frame`, seen `now` after the run started, if any rule applies: the
    /// action and, for a delay, how long.
    pub fn decide(
        &mut self,
        now: Duration,
        direction: Direction,
        frame: &Frame,
        hint: &ChunkHint,
    ) -> Option<(FrameAction, Duration)> {
        self.matching(now, direction, frame, hint)
            .map(|f| (f.action, Duration::from_millis(f.delay_ms)))
    }

    /// The fault that applies to `frame`, seen `now` after the run started, if any (with
    /// everything it says, e.g. a rewrite's `set`). The caller reads the clock, so the rules stay
    /// plain data that run the same over turmoil and over real TCP.
    pub fn matching(
        &mut self,
        now: Duration,
        direction: Direction,
        frame: &Frame,
        hint: &ChunkHint,
    ) -> Option<&FrameFault> {
        let now = now.as_millis() as u64;
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
                rule.fired_ms.push(now);
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
                    .decide(Duration::ZERO, Direction::Down, &ack, &hint("a.png"))
                    .is_some()
            })
            .collect();
        assert_eq!(hits, [false, true, true, false, false]);
        // Other direction, id or file never match.
        assert!(rules
            .decide(Duration::ZERO, Direction::Up, &ack, &hint("a.png"))
            .is_none());
        assert!(rules
            .decide(
                Duration::ZERO,
                Direction::Down,
                &Frame::new(1042, "{}"),
                &hint("a.png")
            )
            .is_none());
        assert!(rules
            .decide(Duration::ZERO, Direction::Down, &ack, &hint("b.png"))
            .is_none());
    }

    #[test]
    fn count_zero_means_every_match() {
        let mut rules = RuleSet::new([fault(FrameAction::Duplicate, 1, 0)]);
        let ack = Frame::new(1038, "{}");
        assert!((0..10).all(|_| rules
            .decide(Duration::ZERO, Direction::Down, &ack, &hint("a.png"))
            .is_some()));
    }

    /// The window is judged by the time the caller passes, not by a clock the rules pick.
    #[test]
    fn from_and_until_judge_the_time_they_are_given() {
        let windowed = FrameFault {
            from_ms: Some(100),
            until_ms: Some(200),
            ..fault(FrameAction::Drop, 1, 0)
        };
        let mut rules = RuleSet::new([windowed]);
        let ack = Frame::new(1038, "{}");
        let hits: Vec<bool> = [0, 99, 100, 199, 200]
            .map(|ms| {
                rules
                    .decide(
                        Duration::from_millis(ms),
                        Direction::Down,
                        &ack,
                        &hint("a.png"),
                    )
                    .is_some()
            })
            .into();
        assert_eq!(hits, [false, false, true, true, false]);
        assert_eq!(rules.fired(), [vec![100, 199]]);
    }
}
