//! How many chunks the upload window may hold: the seed's fixed five, or an adaptive window.
//!
//! The adaptive window is delay-based (TCP Vegas style) on the chunk round trip, with slow start:
//! the resource connection is TCP, which already reacts to congestion below us, so what the
//! window must do is keep the pipe full (bandwidth × base round trip) plus a few chunks of queue,
//! and not let a queue grow. The round trip tells both: `queued = in_flight_at_send × (rtt −
//! base) / rtt` chunks wait in some buffer. A lost chunk is no congestion signal over TCP (a
//! middlebox or the server lost it), so a loss only trims the window to the pipe's estimate and
//! does not end slow start; a transient error reply (the server cannot store) halves it. Replies
//! come back in the order the chunks went (one TCP connection, a server that answers in turn),
//! so a chunk is deemed lost as soon as one sent after it is answered and a round trip plus a
//! reorder allowance has passed (RACK's rule), instead of waiting for the retransmit timeout.

use crate::protocol::MAX_CWND;
use serde::Deserialize;
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;
use tokio::time::Instant;

/// Which window the upload engine keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum WindowPolicy {
    /// The seed's `MAX_CWND_SIZE = 5`, whatever the link.
    #[default]
    #[serde(rename = "fixed5")]
    Fixed5,
    /// Grows to fill the link, see [`AdaptiveWindow`].
    #[serde(rename = "adaptive")]
    Adaptive,
}

impl WindowPolicy {
    pub const NAMES: &'static [&'static str] = &["fixed5", "adaptive"];

    pub fn name(self) -> &'static str {
        match self {
            WindowPolicy::Fixed5 => "fixed5",
            WindowPolicy::Adaptive => "adaptive",
        }
    }
}

impl fmt::Display for WindowPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for WindowPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "fixed5" => Ok(WindowPolicy::Fixed5),
            "adaptive" => Ok(WindowPolicy::Adaptive),
            other => Err(format!(
                "unknown window policy {other:?}; one of {}",
                WindowPolicy::NAMES.join(", ")
            )),
        }
    }
}

/// The adaptive window starts where the seed's stays.
pub const ADAPTIVE_INITIAL: usize = MAX_CWND;
/// Upper bound: 4 MiB of file data in flight. Upstream was measured with 32; the server reads
/// one frame at a time, so a larger window only lengthens the queue in front of it.
pub const ADAPTIVE_MAX: usize = 128;
const ADAPTIVE_MIN: usize = 2;
/// Chunks of queue the window aims to keep: below `ALPHA` it grows, above `BETA` it shrinks.
const ALPHA: f64 = 2.0;
const BETA: f64 = 4.0;
/// Floor of the retransmit timeout.
const MIN_RTO: Duration = Duration::from_millis(50);
/// Least time a chunk answered out of turn waits before it is deemed lost. Until replies are
/// seen to cross (the server stores two files on different threads) that is all it waits: one
/// connection answers in turn, so a later chunk's answer already shows the earlier one lost, and
/// every millisecond more is a millisecond the file with the loss waits behind the others (RACK
/// likewise waits no reordering window until it has seen reordering).
const MIN_REORDER_WINDOW: Duration = Duration::from_millis(5);
/// Replies whose spacing gives one bottleneck rate sample: the mean gap over this many
/// consecutive gaps (the proxy releases frames on a 1 ms step, so one gap alone is ±1 ms).
const RATE_GAPS: u32 = 4;

/// What the window knows about one chunk in flight.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stamp {
    sent: Instant,
    in_flight: usize,
    /// Sent more than once: its reply gives no round-trip sample (Karn).
    resent: bool,
}

/// One round-trip sample: when its ack came, the chunks estimated queued when it was sent, and
/// the chunks the link held without queueing (`in_flight × base / rtt`, Vegas's "expected").
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    at: Instant,
    queue: f64,
    pipe: f64,
}

/// At most 2^16 times the round-trip timeout: the ceiling caps it long before.
const MAX_RTO_BACKOFF: u32 = 16;

/// The adaptive window's books. Keys are (file, seq).
///
/// Decisions look at the samples of the last base round trip: while the window is below the
/// pipe, the link idles once per round and some chunk of that span met no queue, whatever the
/// bursts of slow start queue behind it; only a standing queue keeps the span's least estimate up.
#[derive(Debug, Clone, PartialEq)]
pub struct AdaptiveWindow {
    window: usize,
    slow_start: bool,
    base_rtt: Option<Duration>,
    srtt: Option<Duration>,
    rttvar: Duration,
    /// The samples of the last base round trip, oldest first.
    recent: VecDeque<Sample>,
    /// When the first sample came: decisions wait for a full base round trip of them.
    first_sample: Option<Instant>,
    /// Start of the current round of congestion avoidance (one smoothed round trip).
    round_start: Option<Instant>,
    /// The latest pipe estimate (the largest of the recent samples).
    pipe: Option<f64>,
    /// Chunks sent before this time were sent before the last back-off; their loss does not
    /// back off again.
    backed_off_at: Option<Instant>,
    /// The latest-sent chunk answered (first transmissions only): when it went and its round
    /// trip. A chunk sent before it and still unanswered a round trip later is lost.
    latest_answered: Option<(Instant, Duration)>,
    /// A reply came out of turn: from then on a quarter base round trip is allowed for it.
    reordered: bool,
    /// The last reply: when it came and when its chunk was sent.
    last_reply: Option<(Instant, Instant)>,
    /// The current run of gaps the path made: when its first reply came, and how many gaps.
    run: Option<(Instant, u32)>,
    /// The least mean gap between consecutive replies seen: the bottleneck's time per chunk.
    min_gap: Option<Duration>,
    /// Two replies came at the same instant: bunched, their spacing tells nothing.
    bunched: bool,
    /// How many times the retransmit timeout has doubled since the last round-trip sample
    /// (RFC 6298, 5.5). Without it a timeout shorter than a chunk's real round trip never
    /// grows: every chunk is resent before its reply comes, Karn's rule discards every such
    /// reply, and the link fills with copies (explore --window adaptive, seed 921: a 1 KiB
    /// file's 9 ms round trip set a 50 ms timeout on a link that takes 103 ms per chunk).
    rto_backoff: u32,
    stamps: BTreeMap<(String, u32), Stamp>,
}

impl Default for AdaptiveWindow {
    fn default() -> Self {
        AdaptiveWindow {
            window: ADAPTIVE_INITIAL,
            slow_start: true,
            base_rtt: None,
            srtt: None,
            rttvar: Duration::ZERO,
            recent: VecDeque::new(),
            first_sample: None,
            round_start: None,
            pipe: None,
            backed_off_at: None,
            latest_answered: None,
            reordered: false,
            last_reply: None,
            run: None,
            min_gap: None,
            bunched: false,
            rto_backoff: 0,
            stamps: BTreeMap::new(),
        }
    }
}

impl AdaptiveWindow {
    pub fn window(&self) -> usize {
        self.window
    }

    /// How long a chunk may go unanswered before it is sent again: `srtt + 4 rttvar`, at least
    /// twice the smoothed round trip and `MIN_RTO`, doubled for each timeout since the last
    /// round-trip sample, at most `ceiling`.
    pub fn rto(&self, ceiling: Duration) -> Duration {
        match self.srtt {
            Some(srtt) => (srtt + 4 * self.rttvar)
                .max(2 * srtt)
                .max(MIN_RTO)
                .saturating_mul(1 << self.rto_backoff)
                .min(ceiling),
            None => ceiling,
        }
    }

    /// Chunks went unanswered past the retransmit timeout: back the timer off (RFC 6298, 5.5),
    /// until a chunk sent once is answered and gives a round trip again.
    pub fn timed_out(&mut self) {
        self.rto_backoff = (self.rto_backoff + 1).min(MAX_RTO_BACKOFF);
    }

    /// A chunk went on the wire; `in_flight` counts it.
    pub fn sent(&mut self, key: (String, u32), now: Instant, in_flight: usize) {
        let resent = self.stamps.contains_key(&key);
        self.stamps.insert(
            key,
            Stamp {
                sent: now,
                in_flight,
                resent,
            },
        );
    }

    /// The chunk left the window without an answer (its file was dropped or restarted).
    pub fn forget(&mut self, key: &(String, u32)) {
        self.stamps.remove(key);
    }

    /// A successful reply to a chunk in flight. Returns why the window changed, if it did.
    pub fn acked(&mut self, key: &(String, u32), now: Instant) -> Option<&'static str> {
        let stamp = self.stamps.remove(key)?;
        self.reply_spacing(now, stamp.sent);
        if !stamp.resent {
            let rtt = now.duration_since(stamp.sent);
            self.rto_backoff = 0;
            self.sample(now, rtt, stamp.in_flight);
            match self.latest_answered {
                Some((sent, _)) if stamp.sent < sent => self.reordered = true,
                _ => self.latest_answered = Some((stamp.sent, rtt)),
            }
        }
        let before = self.window;
        let reason = if self.slow_start {
            self.slow_start_step(now)
        } else {
            self.round_step(now)
        };
        (self.window != before).then_some(reason).flatten()
    }

    /// Takes a round-trip sample into the books and the recent span.
    fn sample(&mut self, now: Instant, rtt: Duration, in_flight: usize) {
        let base = self.base_rtt.map_or(rtt, |b| b.min(rtt));
        self.base_rtt = Some(base);
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                let err = srtt.abs_diff(rtt);
                self.rttvar = (3 * self.rttvar + err) / 4;
                self.srtt = Some((7 * srtt + rtt) / 8);
            }
        }
        let (rtt_s, base_s) = (rtt.as_secs_f64(), base.as_secs_f64());
        if rtt_s <= 0.0 {
            return;
        }
        let n = in_flight as f64;
        self.recent.push_back(Sample {
            at: now,
            queue: n * (rtt_s - base_s) / rtt_s,
            pipe: n * base_s / rtt_s,
        });
        self.first_sample.get_or_insert(now);
        while self
            .recent
            .front()
            .is_some_and(|s| now.duration_since(s.at) > base)
        {
            self.recent.pop_front();
        }
        self.pipe = self.recent.iter().map(|s| s.pipe).reduce(f64::max);
    }

    /// Takes the spacing of the replies into the bottleneck's time per chunk (packet pair).
    /// Chunks queued back to back at the bottleneck come back one service time apart. A gap
    /// counts only if the two chunks went at most half as far apart as their replies came: then
    /// the path spread them, not the sender. The minimum over runs of `RATE_GAPS` such gaps
    /// ignores an idle link (wider gaps). Replies bunched on the way back (two at one instant)
    /// would mislead it either way, so they turn it off for the connection and leave the exit
    /// to the queue rule.
    fn reply_spacing(&mut self, now: Instant, sent: Instant) {
        let previous = self.last_reply.replace((now, sent));
        self.bunched |= previous.is_some_and(|(at, _)| at == now);
        let spread = previous.filter(|&(at, was_sent)| {
            sent.saturating_duration_since(was_sent) * 2 <= now.duration_since(at)
        });
        let Some((at, _)) = spread else {
            self.run = None;
            return;
        };
        let (first, gaps) = self.run.map_or((at, 1), |(first, n)| (first, n + 1));
        self.run = Some((first, gaps));
        if gaps >= RATE_GAPS {
            let gap = now.duration_since(first) / gaps;
            self.min_gap = Some(self.min_gap.map_or(gap, |g| g.min(gap)));
            self.run = None;
        }
    }

    /// Chunks the link holds without queueing by the replies' spacing: base round trip over the
    /// bottleneck's time per chunk.
    fn spacing_pipe(&self) -> Option<f64> {
        let gap = self.min_gap.filter(|g| !g.is_zero() && !self.bunched)?;
        Some(self.base_rtt?.as_secs_f64() / gap.as_secs_f64())
    }

    /// The least queue of the last base round trip, once samples span one.
    fn standing_queue(&self, now: Instant) -> Option<f64> {
        let base = self.base_rtt?;
        let spanned = self
            .first_sample
            .is_some_and(|first| now.duration_since(first) >= base);
        spanned
            .then(|| self.recent.iter().map(|s| s.queue).reduce(f64::min))
            .flatten()
    }

    /// The window that fills the pipe and keeps `ALPHA` chunks of queue.
    fn pipe_target(&self) -> Option<usize> {
        Some((self.pipe?.max(1.0) + ALPHA).ceil() as usize)
    }

    /// Slow start: one more chunk per ack (doubling per round) until the window holds the pipe
    /// by the replies' spacing plus `ALPHA`, or a queue stands for a whole base round trip; then
    /// the window becomes that pipe's estimate plus `ALPHA`.
    ///
    /// Why the spacing: the queue's delay shows a round late. A chunk sent when the window
    /// outgrew the pipe is answered a round trip later, by when per-ack growth has doubled the
    /// window again; the standing-queue rule let it peak near three pipes, and a resend then
    /// waited behind that queue (the fairness bench's 1 MiB file under loss). The spacing of
    /// slow start's first bursts gives the bottleneck's rate at once.
    fn slow_start_step(&mut self, now: Instant) -> Option<&'static str> {
        if let Some(pipe) = self.spacing_pipe() {
            let target = (pipe.max(1.0) + ALPHA).ceil() as usize;
            if self.window + 1 >= target {
                self.leave_slow_start(now);
                self.set(target);
                return Some("slow_start_end");
            }
        }
        if self.standing_queue(now).is_some_and(|q| q > ALPHA) {
            if let Some(target) = self.pipe_target() {
                self.leave_slow_start(now);
                self.set(target.min(self.window));
                return Some("slow_start_end");
            }
        }
        self.set(self.window + 1);
        if self.window == ADAPTIVE_MAX {
            self.leave_slow_start(now);
        }
        Some("slow_start")
    }

    /// Ending slow start sets the window afresh, as a back-off does: a chunk sent before it
    /// and found lost after it does not trim the new window again (to a pipe estimate that
    /// slow start's bursts left low).
    fn leave_slow_start(&mut self, now: Instant) {
        self.slow_start = false;
        self.round_start = Some(now);
        self.backed_off_at = Some(now);
    }

    /// Once per smoothed round trip: one more chunk when the standing queue is under `ALPHA`,
    /// down to the pipe's estimate plus `ALPHA` when it is over `BETA` (at most halving).
    fn round_step(&mut self, now: Instant) -> Option<&'static str> {
        let round = self.srtt.unwrap_or(MIN_RTO);
        if self
            .round_start
            .is_some_and(|start| now.duration_since(start) < round)
        {
            return None;
        }
        self.round_start = Some(now);
        match (self.standing_queue(now), self.pipe_target()) {
            (Some(q), _) if q < ALPHA => {
                self.set(self.window + 1);
                Some("grow")
            }
            (Some(q), Some(target)) if q > BETA => {
                let floor = self.window / 2;
                self.set(target.clamp(floor, self.window.saturating_sub(1)));
                Some("queue")
            }
            _ => None,
        }
    }

    fn set(&mut self, window: usize) {
        self.window = window.clamp(ADAPTIVE_MIN, ADAPTIVE_MAX);
    }

    /// Whether a chunk (last) sent at `sent` and still unanswered is lost: a chunk sent after it
    /// was answered, and it has had that chunk's round trip plus `MIN_REORDER_WINDOW` to be
    /// answered too, or once replies have crossed a quarter of the base round trip.
    pub fn deemed_lost(&self, sent: Instant, now: Instant) -> bool {
        let Some((later_sent, rtt)) = self.latest_answered else {
            return false;
        };
        let reorder = match self.base_rtt {
            Some(base) if self.reordered => (base / 4).max(MIN_REORDER_WINDOW),
            _ => MIN_REORDER_WINDOW,
        };
        sent < later_sent && now.duration_since(sent) >= rtt + reorder
    }

    /// A chunk sent at `sent` was lost (deemed so, or unanswered past the timeout): trim the
    /// window to the pipe's estimate, once per round of chunks. In slow start nothing changes:
    /// the loss says nothing about a queue, the pipe's estimate lags a round behind the doubling
    /// window, and ending slow start or trimming to that estimate would leave the link half idle
    /// for many round trips.
    pub fn lost(&mut self, sent: Instant, now: Instant) -> Option<&'static str> {
        if self.slow_start || self.backed_off_at.is_some_and(|at| sent < at) {
            return None;
        }
        self.backed_off_at = Some(now);
        let before = self.window;
        if let Some(target) = self.pipe_target() {
            self.set(self.window.min(target));
        }
        (self.window != before).then_some("loss")
    }

    /// A transient error reply: the server is struggling; halve, once per round of chunks.
    pub fn refused(&mut self, key: &(String, u32), now: Instant) -> Option<&'static str> {
        let stamp = self.stamps.remove(key)?;
        if self.backed_off_at.is_some_and(|at| stamp.sent < at) {
            return None;
        }
        self.backed_off_at = Some(now);
        self.leave_slow_start(now);
        let before = self.window;
        self.set(self.window / 2);
        (self.window != before).then_some("error_reply")
    }

    /// A new connection: the path may differ, so everything is learnt again.
    pub fn reset(&mut self) -> Option<&'static str> {
        let before = self.window;
        *self = AdaptiveWindow::default();
        (self.window != before).then_some("reconnect")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seq: u32) -> (String, u32) {
        ("a.png".into(), seq)
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// One chunk sent at `sent` with `in_flight`, acked at `acked`.
    fn round_trip(
        w: &mut AdaptiveWindow,
        seq: u32,
        sent: Instant,
        in_flight: usize,
        acked: Instant,
    ) -> Option<&'static str> {
        w.sent(key(seq), sent, in_flight);
        w.acked(&key(seq), acked)
    }

    #[test]
    fn slow_start_grows_per_ack_while_some_chunk_of_each_round_meets_no_queue() {
        let t0 = Instant::now();
        let mut w = AdaptiveWindow::default();
        // Bursts of five: the first of each meets the base round trip, the rest queue behind it
        // (replies 1 ms apart: a pipe of 100 by their spacing, so only the queue could end it).
        for seq in 0..40u32 {
            let sent = t0 + ms(100 * u64::from(seq / 5));
            let rtt = 100 + u64::from(seq % 5);
            round_trip(&mut w, seq, sent, 200, sent + ms(rtt));
        }
        assert!(w.slow_start);
        assert_eq!(w.window(), ADAPTIVE_INITIAL + 40);
    }

    #[test]
    fn a_queue_standing_a_whole_round_trip_ends_slow_start_at_the_pipe_estimate() {
        let t0 = Instant::now();
        let mut w = AdaptiveWindow::default();
        round_trip(&mut w, 1, t0, 1, t0 + ms(100));
        // From then on 20 in flight meet twice the base round trip: 10 queued, a pipe of 10.
        // (The chunks went as far apart as their replies came: the spacing is the sender's and
        // says nothing of the bottleneck, so only the queue ends it here.)
        let mut why = None;
        for seq in 2..40u32 {
            let acked = t0 + ms(100 + 10 * u64::from(seq));
            why = round_trip(&mut w, seq, acked - ms(200), 20, acked);
            if why == Some("slow_start_end") {
                break;
            }
        }
        assert_eq!(why, Some("slow_start_end"));
        assert_eq!(w.window(), 12);
        assert!(!w.slow_start);
    }

    #[test]
    fn the_replies_spacing_ends_slow_start_at_the_pipe_before_a_queue_shows() {
        let t0 = Instant::now();
        let mut w = AdaptiveWindow::default();
        // Each round's burst comes back one bottleneck time (10 ms) apart over a base round trip
        // of 100 ms: a pipe of 10. The first of each round meets no queue, so no queue stands.
        let mut why = None;
        for seq in 0..40u32 {
            let sent = t0 + ms(200 * u64::from(seq / 8));
            let acked = sent + ms(100 + 10 * u64::from(seq % 8));
            why = round_trip(&mut w, seq, sent, 8, acked);
            if why == Some("slow_start_end") {
                break;
            }
        }
        assert_eq!(why, Some("slow_start_end"));
        assert_eq!(w.window(), 12, "the pipe of 10 plus ALPHA");
        assert!(!w.slow_start);
        // A chunk sent in slow start and found lost now leaves the new window alone.
        assert_eq!(w.lost(t0, t0 + ms(2000)), None);
        assert_eq!(w.window(), 12);
    }

    #[test]
    fn congestion_avoidance_grows_without_queue_and_shrinks_over_beta_once_per_round() {
        let t0 = Instant::now();
        let mut w = AdaptiveWindow::default();
        w.leave_slow_start(t0);
        w.window = 10;
        // A round trip of 100 ms at its base: one more chunk per round trip, not per ack.
        for seq in 0..30u32 {
            let acked = t0 + ms(100 + 10 * u64::from(seq));
            round_trip(&mut w, seq, acked - ms(100), 10, acked);
        }
        assert!((12..=13).contains(&w.window()), "window {}", w.window());
        // Every chunk meets twice the base: half of the 20 in flight is queue.
        let before = w.window();
        let t1 = t0 + ms(1000);
        for seq in 30..60u32 {
            let acked = t1 + ms(10 * u64::from(seq));
            round_trip(&mut w, seq, acked - ms(200), 20, acked);
        }
        assert!(w.window() < before, "window {}", w.window());
    }

    #[test]
    fn a_loss_in_slow_start_neither_ends_it_nor_trims_to_the_lagging_pipe_estimate() {
        let t0 = Instant::now();
        let mut w = AdaptiveWindow::default();
        // Ten chunks sent with 5 in flight meet the base round trip of 100 ms: one more chunk
        // per ack, and a pipe estimate of 5 that the window has outgrown (sent as far apart as
        // the replies come: their spacing says nothing of the bottleneck).
        for seq in 0..10u32 {
            let sent = t0 + ms(10 * u64::from(seq));
            round_trip(&mut w, seq, sent, 5, sent + ms(100));
        }
        let before = w.window();
        assert_eq!(before, ADAPTIVE_INITIAL + 10);
        w.sent(key(100), t0 + ms(200), before);
        assert_eq!(w.lost(t0 + ms(200), t0 + ms(500)), None);
        assert_eq!(w.window(), before, "not trimmed to the pipe estimate");
        assert!(w.slow_start, "a lost chunk is no sign of a queue");
        round_trip(&mut w, 101, t0 + ms(500), before, t0 + ms(600));
        assert_eq!(w.window(), before + 1);
    }

    #[test]
    fn a_chunk_is_deemed_lost_once_a_later_one_is_answered_and_a_round_trip_has_passed() {
        let t0 = Instant::now();
        let mut w = AdaptiveWindow::default();
        for seq in 1..=3 {
            w.sent(key(seq), t0 + ms(u64::from(seq)), seq as usize);
        }
        assert!(
            !w.deemed_lost(t0 + ms(1), t0 + ms(500)),
            "nothing answered yet"
        );
        w.acked(&key(3), t0 + ms(103));
        // Replies in turn: 5 ms past the later chunk's round trip of 100 ms.
        assert!(!w.deemed_lost(t0 + ms(1), t0 + ms(105)));
        assert!(w.deemed_lost(t0 + ms(1), t0 + ms(106)));
        // A reply out of turn: from then on a quarter of the base round trip, 25 ms.
        w.acked(&key(1), t0 + ms(107));
        assert!(!w.deemed_lost(t0 + ms(2), t0 + ms(126)));
        assert!(w.deemed_lost(t0 + ms(2), t0 + ms(127)));
        // A chunk sent with or after the answered one is not.
        assert!(!w.deemed_lost(t0 + ms(3), t0 + ms(500)));
        // Answers to resent chunks say nothing about order.
        w.sent(key(4), t0 + ms(200), 1);
        w.sent(key(4), t0 + ms(300), 1);
        w.acked(&key(4), t0 + ms(400));
        assert!(!w.deemed_lost(t0 + ms(150), t0 + ms(600)));
    }

    #[test]
    fn a_loss_backs_off_once_per_round_and_an_error_halves() {
        let t0 = Instant::now();
        let mut w = AdaptiveWindow {
            window: 40,
            slow_start: false,
            pipe: Some(30.0),
            ..AdaptiveWindow::default()
        };
        for seq in 1..41 {
            w.sent(key(seq), t0, seq as usize);
        }
        let later = t0 + Duration::from_secs(1);
        assert_eq!(w.lost(t0, later), Some("loss"));
        assert_eq!(w.window(), 32);
        // A second loss of the same round does not back off again.
        assert_eq!(w.lost(t0, later), None);
        w.sent(key(41), later, 33);
        assert_eq!(w.refused(&key(41), later), Some("error_reply"));
        assert_eq!(w.window(), 16);
    }

    #[test]
    fn the_window_stays_within_its_bounds_and_the_policy_names_parse() {
        let t0 = Instant::now();
        let mut w = AdaptiveWindow::default();
        for seq in 1..1000 {
            round_trip(&mut w, seq, t0, 1, t0 + ms(10));
        }
        assert_eq!(w.window(), ADAPTIVE_MAX);
        for _ in 0..20 {
            w.sent(key(5000), t0, 1);
            w.backed_off_at = None;
            w.refused(&key(5000), t0);
        }
        assert_eq!(w.window(), ADAPTIVE_MIN);
        assert_eq!("adaptive".parse(), Ok(WindowPolicy::Adaptive));
        assert!("fixed6"
            .parse::<WindowPolicy>()
            .unwrap_err()
            .contains("fixed5"));
    }

    #[test]
    fn the_timeout_doubles_on_each_timeout_until_a_chunk_sent_once_is_answered() {
        let t0 = Instant::now();
        let mut w = AdaptiveWindow::default();
        let ceiling = Duration::from_secs(5);
        // A tiny file's 9 ms round trip: the timeout starts at its floor.
        round_trip(&mut w, 1, t0, 1, t0 + ms(9));
        assert_eq!(w.rto(ceiling), MIN_RTO);
        // A 32 KiB chunk takes 103 ms: sent again at 50 ms, 100 ms, ... the timer backs off.
        w.sent(key(2), t0 + ms(10), 1);
        w.timed_out();
        assert_eq!(w.rto(ceiling), 2 * MIN_RTO);
        w.sent(key(2), t0 + ms(60), 1);
        w.timed_out();
        assert_eq!(w.rto(ceiling), 4 * MIN_RTO);
        // The reply to a chunk sent twice gives no round trip (Karn) and keeps the backed-off
        // timer; the reply to one sent once resets it.
        w.acked(&key(2), t0 + ms(113));
        assert_eq!(w.rto(ceiling), 4 * MIN_RTO);
        round_trip(&mut w, 3, t0 + ms(113), 1, t0 + ms(216));
        assert!(w.rto(ceiling) >= ms(103), "{:?}", w.rto(ceiling));
        assert!(w.rto(ceiling) < 4 * MIN_RTO + ms(100));
        for _ in 0..40 {
            w.timed_out();
        }
        assert_eq!(w.rto(ceiling), ceiling);
    }
}
