//! Simulated time to x, with idle stretches compressed: a gap between two consecutive events that
//! would be drawn wider than [`MAX_GAP_PX`] (and lasts at least [`MIN_IDLE_MS`]) is drawn as a
//! break of [`BREAK_PX`] with the skipped duration, so a run that waits forty seconds after twenty
//! busy milliseconds still shows the busy part across the page.

use super::svg::{Anchor, Colour, El, Writer, DARK, GREY, MUTED};

/// A gap drawn wider than this, at the scale of the time kept, is compressed.
pub const MAX_GAP_PX: f64 = 40.0;
/// Gaps shorter than this are never compressed: a busy stretch keeps its proportions.
pub const MIN_IDLE_MS: u64 = 100;
/// Compression stops before it would leave less time than this to draw.
const MIN_KEPT_MS: u64 = 10;
/// The width of a compressed gap (less when there are many, but never under `MIN_BREAK_PX`).
pub const BREAK_PX: f64 = 24.0;
const MIN_BREAK_PX: f64 = 8.0;
/// At most this many ticks across the plot.
const MAX_TICKS: u64 = 12;
/// Tick labels closer than this to the previous one are left out.
const TICK_LABEL_PX: f64 = 40.0;

/// A stretch of time and where it is drawn; `idle` stretches are the compressed gaps.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct Piece {
    pub from: u64,
    pub to: u64,
    pub x0: f64,
    pub x1: f64,
    pub idle: bool,
}

/// Maps simulated time to x, piece by piece.
pub struct TimeScale {
    pieces: Vec<Piece>,
    step: u64,
    left: f64,
    right: f64,
}

impl TimeScale {
    /// A scale over `[left, right]` for events at `times` (any order, repeats allowed).
    pub fn new(times: &[u64], left: f64, right: f64) -> TimeScale {
        let mut times: Vec<u64> = times.to_vec();
        times.push(0);
        times.sort_unstable();
        times.dedup();
        let t_max = times.last().copied().unwrap_or(0).max(10);
        let idle = idle_gaps(&times, t_max, right - left);
        let kept = t_max - idle.iter().map(|(a, b)| b - a).sum::<u64>();
        let step = tick_step(kept);
        let end = t_max.div_ceil(step) * step;
        let pieces = lay_out(&idle, end, left, right);
        TimeScale {
            pieces,
            step,
            left,
            right,
        }
    }

    pub fn left(&self) -> f64 {
        self.left
    }

    pub fn right(&self) -> f64 {
        self.right
    }

    pub fn width(&self) -> f64 {
        self.right - self.left
    }

    /// The last time on the scale (a tick at or after the last event).
    pub fn end(&self) -> u64 {
        self.pieces.last().map_or(0, |p| p.to)
    }

    pub fn x(&self, t: u64) -> f64 {
        let i = self.pieces.partition_point(|p| p.to < t);
        let Some(p) = self.pieces.get(i) else {
            return self.right;
        };
        if p.to == p.from {
            return p.x0;
        }
        p.x0 + (p.x1 - p.x0) * (t.saturating_sub(p.from)) as f64 / (p.to - p.from) as f64
    }

    /// The time drawn at `x` (the inverse of [`TimeScale::x`]).
    pub fn t_at(&self, x: f64) -> f64 {
        let i = self.pieces.partition_point(|p| p.x1 < x);
        let Some(p) = self.pieces.get(i) else {
            return self.end() as f64;
        };
        if p.x1 <= p.x0 {
            return p.from as f64;
        }
        p.from as f64 + (p.to - p.from) as f64 * ((x - p.x0) / (p.x1 - p.x0)).clamp(0.0, 1.0)
    }

    pub fn breaks(&self) -> impl Iterator<Item = &Piece> {
        self.pieces.iter().filter(|p| p.idle)
    }

    /// Round ticks inside the shown pieces, and the first time after each break.
    pub fn ticks(&self) -> Vec<u64> {
        let mut ticks = Vec::new();
        for p in self.pieces.iter().filter(|p| !p.idle) {
            if p.from != 0 {
                ticks.push(p.from);
            }
            let first = p.from.div_ceil(self.step) * self.step;
            ticks.extend((first..=p.to).step_by(self.step as usize));
        }
        ticks.dedup();
        ticks
    }
}

/// The gaps to compress: iterated until no kept gap is drawn wider than `MAX_GAP_PX` (compressing
/// one gap widens the rest, so the set only grows).
fn idle_gaps(times: &[u64], t_max: u64, width: f64) -> Vec<(u64, u64)> {
    let gaps: Vec<(u64, u64)> = times
        .windows(2)
        .map(|w| (w[0], w[1]))
        .filter(|(a, b)| b - a >= MIN_IDLE_MS)
        .collect();
    let mut idle: Vec<(u64, u64)> = Vec::new();
    loop {
        let kept = t_max - idle.iter().map(|(a, b)| b - a).sum::<u64>();
        let breaks = break_px(idle.len(), width) * idle.len() as f64;
        let px_per_ms = (width - breaks).max(1.0) / kept.max(1) as f64;
        let wider: Vec<(u64, u64)> = gaps
            .iter()
            .copied()
            .filter(|(a, b)| (b - a) as f64 * px_per_ms > MAX_GAP_PX)
            .collect();
        let kept_after = t_max - wider.iter().map(|(a, b)| b - a).sum::<u64>();
        // Stop before breaks get too thin to see, or almost no time is left to draw.
        let too_many = break_px(wider.len(), width) < MIN_BREAK_PX;
        if wider.len() <= idle.len() || too_many || kept_after < MIN_KEPT_MS {
            return idle;
        }
        idle = wider;
    }
}

/// The width of each of `n` breaks: `BREAK_PX`, narrower when `n` of them would take more than
/// half the plot.
fn break_px(n: usize, width: f64) -> f64 {
    BREAK_PX.min(width / 2.0 / n.max(1) as f64)
}

/// A round tick step (1, 2 or 5 times a power of ten) giving at most `MAX_TICKS` over `span`.
fn tick_step(span: u64) -> u64 {
    let span = span.max(10);
    let mut step = 1u64;
    loop {
        for m in [1, 2, 5] {
            if step * m * MAX_TICKS >= span {
                return step * m;
            }
        }
        step *= 10;
    }
}

/// Pieces covering `[0, end]`: the idle gaps at `BREAK_PX` each, the rest sharing the width in
/// proportion to their duration.
fn lay_out(idle: &[(u64, u64)], end: u64, left: f64, right: f64) -> Vec<Piece> {
    let kept = end - idle.iter().map(|(a, b)| b - a).sum::<u64>();
    let break_width = break_px(idle.len(), right - left);
    let px_per_ms = (right - left - break_width * idle.len() as f64) / kept.max(1) as f64;
    let mut pieces: Vec<Piece> = Vec::with_capacity(idle.len() * 2 + 1);
    let mut stretches: Vec<(u64, u64, bool)> = Vec::with_capacity(idle.len() * 2 + 1);
    let mut t = 0;
    for &(a, b) in idle {
        stretches.push((t, a, false));
        stretches.push((a, b, true));
        t = b;
    }
    stretches.push((t, end, false));
    let mut x = left;
    for (from, to, idle) in stretches {
        let width = if idle {
            break_width
        } else {
            (to - from) as f64 * px_per_ms
        };
        pieces.push(Piece {
            from,
            to,
            x0: x,
            x1: x + width,
            idle,
        });
        x += width;
    }
    pieces
}

/// "+5.7 s", "+493 ms": a skipped duration, short enough for a break.
fn skipped(ms: u64) -> String {
    if ms >= 1000 {
        format!("+{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("+{ms} ms")
    }
}

/// The grid behind the panels, from `top` to `bottom`.
pub fn draw_grid(w: &mut Writer, scale: &TimeScale, top: f64, bottom: f64) {
    w.open(El::group().stroke(Colour("#e4e4e4")).stroke_width(1.0));
    for t in scale.ticks() {
        let x = scale.x(t);
        w.put(El::line(x, top, x, bottom));
    }
    w.close();
}

/// The time axis at `y`, its tick labels (thinned so they never touch) and its title.
pub fn draw_axis(w: &mut Writer, scale: &TimeScale, y: f64) {
    w.put(El::line(scale.left(), y, scale.right(), y).stroke(DARK));
    w.open(
        El::group()
            .class("axis")
            .font_size(11.0)
            .anchor(Anchor::Middle),
    );
    let mut last_label = f64::NEG_INFINITY;
    for t in scale.ticks() {
        let x = scale.x(t);
        w.put(El::line(x, y, x, y + 5.0).stroke(DARK));
        if x - last_label >= TICK_LABEL_PX {
            w.put(El::text(x, y + 18.0, &t.to_string()));
            last_label = x;
        }
    }
    let mid = scale.left() + scale.width() / 2.0;
    w.put(El::text(mid, y + 46.0, "simulated time (ms)").font_size(12.0));
    w.close();
}

/// Each break from `top` to the axis at `bottom`: a pale band over whatever crosses it, a pair of
/// slanted strokes on the axis, and the skipped duration under it (left out where the previous
/// one would touch it; the band's tooltip always has it).
pub fn draw_breaks(w: &mut Writer, scale: &TimeScale, top: f64, bottom: f64) {
    w.open(El::group().class("breaks"));
    let mut last_label = f64::NEG_INFINITY;
    for p in scale.breaks() {
        let mid = (p.x0 + p.x1) / 2.0;
        let tip = format!(
            "{} ms without events ({}-{} ms), compressed",
            p.to - p.from,
            p.from,
            p.to
        );
        let band = El::rect(p.x0 + 2.0, top, p.x1 - p.x0 - 4.0, bottom - top);
        w.put(band.fill(Colour("#ffffff")).fill_opacity(0.85).title(&tip));
        let stroke = |dx: f64| {
            [
                (mid + dx - 3.0, bottom + 6.0),
                (mid + dx + 3.0, bottom - 6.0),
            ]
        };
        let (a, b) = (stroke(-3.0), stroke(3.0));
        w.put(El::path(&[&a, &b]).stroke(MUTED).stroke_width(1.5));
        let label = skipped(p.to - p.from);
        let half = super::text_width(&label, 9.0) / 2.0;
        if mid - half >= last_label + 2.0 {
            w.put(
                El::text(mid, bottom + 31.0, &label)
                    .font_size(9.0)
                    .fill(GREY)
                    .anchor(Anchor::Middle)
                    .title(&tip),
            );
            last_label = mid + half;
        }
    }
    w.close();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_wait_is_compressed_and_the_busy_parts_get_the_width() {
        // Busy 0-20 ms, nothing until 40 s, busy again for 10 ms.
        let mut times: Vec<u64> = (0..=20).collect();
        times.extend(40_000..=40_010);
        let s = TimeScale::new(&times, 100.0, 1100.0);
        let breaks: Vec<&Piece> = s.breaks().collect();
        assert_eq!(breaks.len(), 1);
        assert_eq!((breaks[0].from, breaks[0].to), (20, 40_000));
        assert!((breaks[0].x1 - breaks[0].x0 - BREAK_PX).abs() < 1e-9);
        // The busy 30 ms share the rest of the width (linear, they would get under 1 px).
        assert!(s.x(20) - s.x(0) > 500.0, "{}", s.x(20) - s.x(0));
        assert!(s.x(40_010) > s.x(40_000) + 100.0);
        assert!(s.x(s.end()) <= 1100.0 + 1e-9);
        // Monotone, and t_at inverts x on the kept pieces.
        for w in times.windows(2) {
            assert!(s.x(w[0]) <= s.x(w[1]));
        }
        assert!((s.t_at(s.x(10)) - 10.0).abs() < 1e-6);
        assert!((s.t_at(s.x(40_005)) - 40_005.0).abs() < 1e-6);
    }

    #[test]
    fn steady_activity_and_short_gaps_stay_linear() {
        // An event every 50 ms for 10 s: no gap stands out, and none is long enough to break.
        let times: Vec<u64> = (0..200).map(|i| i * 50).collect();
        let s = TimeScale::new(&times, 0.0, 1000.0);
        assert_eq!(s.breaks().count(), 0);
        assert!((s.x(5_000) - 500.0).abs() < 1e-9);
        // A 60 ms pause in 200 ms of work: wide, but below MIN_IDLE_MS.
        let mut times: Vec<u64> = (0..=70).collect();
        times.extend(130..=200);
        assert_eq!(TimeScale::new(&times, 0.0, 1000.0).breaks().count(), 0);
        // Two lone events: compressing their gap would leave nothing to draw.
        assert_eq!(TimeScale::new(&[0, 5000], 0.0, 1000.0).breaks().count(), 0);
    }

    #[test]
    fn ticks_are_round_inside_pieces_and_mark_the_time_after_each_break() {
        let mut times: Vec<u64> = (0..=20).collect();
        times.extend(40_000..=40_010);
        let s = TimeScale::new(&times, 0.0, 1000.0);
        let ticks = s.ticks();
        assert!(ticks.contains(&0) && ticks.contains(&40_000));
        assert!(!ticks.iter().any(|t| (21..40_000).contains(t)), "{ticks:?}");
    }
}
