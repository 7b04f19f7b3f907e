//! Per file, the reported progress as a step line, with its milestones (committed, notified,
//! downloaded, failed) and the file's name where its line ends.

use super::item::{Item, Tag};
use super::lines::step_points;
use super::scale::TimeScale;
use super::svg::{Anchor, Colour, El, Writer, LIGHT, MUTED, RED, WHITE};
use super::{truncate, PROGRESS_H};
use std::collections::BTreeMap;

const FILE_COLOURS: &[&str] = &[
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    "#bcbd22", "#7f7f7f",
];

/// One file's progress samples and milestones.
#[derive(Default)]
pub struct FileLine<'a> {
    samples: Vec<(u64, f64)>,
    milestones: Vec<&'a Item>,
}

impl FileLine<'_> {
    /// The progress reported at `t` (the last sample at or before it).
    fn value_at(&self, t: u64) -> f64 {
        let before = self.samples.iter().take_while(|s| s.0 <= t).last();
        before.map_or(0.0, |s| s.1)
    }
}

/// Progress samples and milestones per file, by file name.
pub fn file_lines(items: &[Item]) -> BTreeMap<&str, FileLine<'_>> {
    let mut files: BTreeMap<&str, FileLine> = BTreeMap::new();
    for item in items {
        let Some(file) = item.str_field("file") else {
            continue;
        };
        if item.tag == Tag::Progress {
            if let Some(p) = item.num_field("percent") {
                files.entry(file).or_default().samples.push((item.t, p));
            }
        } else if item.tag.is_milestone() {
            files.entry(file).or_default().milestones.push(item);
        }
    }
    files
}

/// The vertical scale of the panel whose top is at `top`: percent to y.
struct Level {
    top: f64,
    peak: f64,
}

impl Level {
    fn y(&self, v: f64) -> f64 {
        self.top + 10.0 + (PROGRESS_H - 20.0) * (1.0 - v / self.peak)
    }
}

/// The progress panel, its top at `top`, drawn until `t_max`.
pub fn draw_progress(
    w: &mut Writer,
    files: &BTreeMap<&str, FileLine>,
    scale: &TimeScale,
    top: f64,
    t_max: u64,
) {
    let peak = files
        .values()
        .flat_map(|f| f.samples.iter().map(|s| s.1))
        .fold(100.0, f64::max);
    let level = Level { top, peak };
    w.open(El::group().class("progress-panel"));
    draw_frame(w, scale, &level, files.is_empty());
    let mut labels: Vec<(f64, &str, Colour)> = Vec::new();
    for (idx, (file, line)) in files.iter().enumerate() {
        let colour = Colour(FILE_COLOURS[idx % FILE_COLOURS.len()]);
        let end = draw_line(w, file, line, colour, scale, &level, t_max);
        labels.push((end, file, colour));
        for m in &line.milestones {
            let at = (scale.x(m.t), level.y(line.value_at(m.t)));
            w.open(El::group().class("milestone"));
            w.put(milestone(m.tag, at, colour).title(&m.json));
            w.close();
        }
    }
    draw_file_labels(w, labels, scale.x(t_max), top);
    w.close();
}

fn draw_frame(w: &mut Writer, scale: &TimeScale, level: &Level, empty: bool) {
    let top = level.top;
    let frame = El::rect(scale.left(), top, scale.width(), PROGRESS_H);
    w.put(frame.no_fill().stroke(LIGHT));
    w.put(El::text(10.0, top + 28.0, "progress").bold());
    w.put(
        El::text(10.0, top + 43.0, "per file, %")
            .font_size(11.0)
            .fill(MUTED),
    );
    for v in [0.0, 25.0, 50.0, 75.0, 100.0] {
        let y = level.y(v);
        w.put(El::line(scale.left(), y, scale.right(), y).stroke(Colour("#eeeeee")));
        let label = El::text(scale.left() - 4.0, y + 3.0, &format!("{}%", v as u64));
        w.put(label.font_size(10.0).fill(MUTED).anchor(Anchor::End));
    }
    if empty {
        let note = El::text(
            scale.left() + 10.0,
            top + PROGRESS_H / 2.0,
            "no progress events",
        );
        w.put(note.fill(Colour("#888888")));
    }
}

/// A file's step line, and a dashed continuation where no further progress came until `t_max`;
/// returns the y where the line ends (for its label).
fn draw_line(
    w: &mut Writer,
    file: &str,
    line: &FileLine,
    colour: Colour,
    scale: &TimeScale,
    level: &Level,
    t_max: u64,
) -> f64 {
    let (Some(first), Some(last)) = (line.samples.first(), line.samples.last()) else {
        return level.y(0.0);
    };
    let pts = step_points(&line.samples, 0.0, None, |t| scale.x(t), |v| level.y(v));
    let tip = format!(
        "{file}: {} to {}% between {} and {} ms",
        first.1, last.1, first.0, last.0
    );
    let el = El::polyline(&pts).class("progress").data("file", file);
    w.put(el.stroke(colour).stroke_width(2.0).title(&tip));
    if t_max > last.0 {
        // No more progress until the end of the trace: where it stalled, if below 100%.
        let y = level.y(last.1);
        let rest = El::line(scale.x(last.0), y, scale.x(t_max), y).stroke(colour);
        w.put(rest.stroke_width(1.0).dashed(3.0, 3.0));
    }
    level.y(last.1)
}

/// A milestone's mark at `(x, y)`: ■ committed, ○ notified, ▲ downloaded, ✕ failed.
fn milestone(tag: Tag, (x, y): (f64, f64), colour: Colour) -> El {
    let black = Colour("#000000");
    match tag {
        Tag::UploadCommitted => El::rect(x - 4.0, y - 4.0, 8.0, 8.0)
            .fill(colour)
            .stroke(black),
        Tag::UploadNotified => El::circle(x, y, 4.5)
            .fill(WHITE)
            .stroke(colour)
            .stroke_width(2.0),
        Tag::DownloadDone => El::polygon(&[(x, y - 6.0), (x - 5.0, y + 3.0), (x + 5.0, y + 3.0)])
            .fill(colour)
            .stroke(black),
        _ => {
            let (a, b) = (
                [(x - 5.0, y - 5.0), (x + 5.0, y + 5.0)],
                [(x + 5.0, y - 5.0), (x - 5.0, y + 5.0)],
            );
            El::path(&[&a, &b]).stroke(RED).stroke_width(2.5)
        }
    }
}

/// File labels at the right-hand end of their lines (the level where each file stopped), nudged
/// apart so that they never overlap.
fn draw_file_labels(w: &mut Writer, mut labels: Vec<(f64, &str, Colour)>, x: f64, top: f64) {
    labels.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
    let mut prev_y = f64::NEG_INFINITY;
    for (y, file, colour) in labels {
        let ly = (y - 6.0).max(prev_y + 14.0).max(top + 12.0);
        prev_y = ly;
        let text = El::text(x - 4.0, ly, &truncate(file, 40)).class("file-label");
        w.put(text.anchor(Anchor::End).fill(colour).bold().halo());
    }
}
