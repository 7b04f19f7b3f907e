//! Pictures of a run: a timeline of a trace, as an SVG image or as a self-contained HTML page, for a
//! person who wants to see where a transfer stalled.
//!
//! From top to bottom, against simulated time:
//! - one lane per host with a tick per frame (up for tx, down for rx, coloured by message kind) and a
//!   dot per other event;
//! - per user host, the upload window (`in_flight` of `chunk_sent`/`chunk_acked`) against `MAX_CWND`;
//! - per file, reported progress, with its milestones (committed, notified, downloaded, failed);
//! - vertical markers across everything for faults, panics, failures and closed connections.
//!
//! Pure: records in, a string out; no I/O, no clocks. Each record is read through its JSON form (the
//! trace's stable vocabulary) and its `event` tag rather than through the `Event` enum, so event kinds
//! added later still show up, as dots on their host's lane and, when their tag names a fault, as
//! markers. The output is deterministic: ordered maps and fixed-precision numbers, so the same records
//! give the same bytes.

use crate::html::escape as esc;
use crate::protocol::MAX_CWND;
use crate::trace::Record;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Over this many marks of one kind on one lane, the lane is drawn as a density strip instead.
const DENSITY_LIMIT: usize = 4000;
/// Event tags drawn as vertical markers across all lanes.
const MARKER_TAGS: &[&str] = &[
    "fault",
    "panicked",
    "host_failed",
    "conn_closed",
    "upload_failed",
    "chunk_refused",
    "upload_rejected",
];
/// Event tags that are problems whatever their fields say (besides the markers).
const PROBLEM_TAGS: &[&str] = &["bad_input", "login_failed", "download_failed"];
/// Events that have their own panel, so they are not repeated as dots on the lanes.
const PANEL_TAGS: &[&str] = &["frame", "chunk_sent", "chunk_acked", "progress"];
/// Milestones drawn on a file's progress line.
const MILESTONE_TAGS: &[&str] = &[
    "upload_committed",
    "upload_notified",
    "download_done",
    "upload_failed",
];
/// At most this many marker labels (every marker still gets its line and tooltip).
const MAX_MARKER_LABELS: usize = 200;
/// At most this many rows in the HTML table of problems.
const MAX_TABLE_ROWS: usize = 1000;

// Layout, in SVG user units (pixels at 100%).
const WIDTH: f64 = 1400.0;
const PLOT_LEFT: f64 = 150.0;
const PLOT_RIGHT: f64 = 30.0;
const LANE_H: f64 = 56.0;
const WINDOW_H: f64 = 70.0;
const PROGRESS_H: f64 = 200.0;
const SECTION_GAP: f64 = 16.0;
const MARKER_ROWS: usize = 3;
const MARKER_ROW_H: f64 = 13.0;

const RED: &str = "#d62728";
const ORANGE: &str = "#e08a00";
const GREY: &str = "#8a8a8a";
const FILE_COLOURS: &[&str] = &[
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    "#bcbd22", "#7f7f7f",
];

/// What kind of message a frame carries; decides its colour.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    ChunkRequest,
    ChunkReply,
    Chat,
    Download,
    Other,
}

const KINDS: &[(Kind, &str, &str, &str)] = &[
    (
        Kind::ChunkRequest,
        "#1f77b4",
        "chunk request",
        "1041 / 1037 / 1043",
    ),
    (
        Kind::ChunkReply,
        "#2ca02c",
        "chunk reply",
        "1042 / 1038 / 1044",
    ),
    (
        Kind::Chat,
        "#ff7f0e",
        "chat message",
        "login, text, heartbeat, image message, pushes (1005-1039, 1049)",
    ),
    (Kind::Download, "#9467bd", "download", "1045-1048"),
    (Kind::Other, "#8c564b", "other", "any other id, e.g. 1032"),
];

fn kind_of(id: u64) -> Kind {
    match id {
        1037 | 1041 | 1043 => Kind::ChunkRequest,
        1038 | 1042 | 1044 => Kind::ChunkReply,
        1045..=1048 => Kind::Download,
        1005 | 1006 | 1017 | 1018 | 1019 | 1023 | 1024 | 1035 | 1036 | 1039 | 1049 => Kind::Chat,
        _ => Kind::Other,
    }
}

fn kind_colour(kind: Kind) -> &'static str {
    KINDS
        .iter()
        .find(|(k, ..)| *k == kind)
        .map(|(_, c, ..)| *c)
        .unwrap_or(GREY)
}

/// One record, read through its JSON form.
struct Item {
    t: u64,
    host: String,
    tag: String,
    /// The record as compact JSON, fields in declaration order: the tooltip.
    json: String,
    value: Value,
}

impl Item {
    fn str_field(&self, name: &str) -> Option<&str> {
        self.value.get(name).and_then(Value::as_str)
    }

    fn num_field(&self, name: &str) -> Option<f64> {
        self.value.get(name).and_then(Value::as_f64)
    }

    fn is_marker(&self) -> bool {
        MARKER_TAGS.contains(&self.tag.as_str())
    }

    /// A fault, an error or a failure: listed in the HTML table and drawn in red.
    fn is_problem(&self) -> bool {
        if self.tag == "frame" {
            return false;
        }
        let error = match self.value.get("error") {
            Some(Value::Number(n)) => n.as_f64() != Some(0.0),
            Some(Value::String(s)) => !s.is_empty(),
            _ => false,
        };
        self.is_marker()
            || PROBLEM_TAGS.contains(&self.tag.as_str())
            || error
            || self.value.get("ok") == Some(&Value::Bool(false))
    }

    fn tooltip(&self) -> String {
        format!("<title>{}</title>", esc(&self.json))
    }
}

impl Item {
    /// Reads a record's JSON form; `json` is its compact text, fields in declaration order.
    fn from_value(value: Value, json: String) -> Item {
        let tag = value.get("event").and_then(Value::as_str).unwrap_or("?");
        Item {
            t: value.get("t_ms").and_then(Value::as_u64).unwrap_or(0),
            host: value
                .get("host")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned(),
            tag: tag.to_owned(),
            json,
            value,
        }
    }
}

/// Reads the records, ordered by time (stable, so records at the same time keep trace order).
fn items(records: &[Record]) -> Vec<Item> {
    let mut items: Vec<Item> = records
        .iter()
        .map(|r| {
            Item::from_value(
                serde_json::to_value(r).unwrap_or(Value::Null),
                serde_json::to_string(r).unwrap_or_default(),
            )
        })
        .collect();
    items.sort_by_key(|i| i.t);
    items
}

/// Lane order: chat (or chat1, chat2), resource, the users by uid, then anything else by name.
fn host_key(host: &str) -> (u8, u64, String) {
    match host {
        "chat" => (0, 0, String::new()),
        "chat1" | "chat2" => (0, 0, host.to_owned()),
        "resource" => (1, 0, String::new()),
        _ => match host
            .strip_prefix("user")
            .and_then(|n| n.parse::<u64>().ok())
        {
            Some(uid) => (2, uid, host.to_owned()),
            None => (3, 0, host.to_owned()),
        },
    }
}

/// A number with one decimal: fixed precision keeps the output byte-stable.
fn n(v: f64) -> String {
    let v = if v == 0.0 { 0.0 } else { v };
    format!("{v:.1}")
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// A rough text width for layout decisions (no font metrics in a pure function).
fn text_width(s: &str, font_size: f64) -> f64 {
    s.chars().count() as f64 * font_size * 0.55
}

/// Maps simulated time to x.
struct TimeScale {
    end: u64,
    step: u64,
}

impl TimeScale {
    /// A round tick step giving at most about twelve ticks, and an end on a tick.
    fn new(t_max: u64) -> Self {
        let t_max = t_max.max(10);
        let mut step = 1u64;
        'outer: loop {
            for m in [1, 2, 5] {
                if step * m * 12 >= t_max {
                    step *= m;
                    break 'outer;
                }
            }
            step *= 10;
        }
        TimeScale {
            end: t_max.div_ceil(step) * step,
            step,
        }
    }

    fn plot_width(&self) -> f64 {
        WIDTH - PLOT_LEFT - PLOT_RIGHT
    }

    fn x(&self, t: u64) -> f64 {
        PLOT_LEFT + self.plot_width() * t as f64 / self.end as f64
    }

    fn ticks(&self) -> impl Iterator<Item = u64> + '_ {
        (0..=self.end / self.step).map(move |k| k * self.step)
    }
}

/// Keeps a polyline small: within each pixel column it keeps the first, lowest, highest and last
/// point in their original order, which draws the same picture as all of them.
fn thin(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < points.len() {
        let col = points[i].0.floor();
        let mut j = i;
        while j < points.len() && points[j].0.floor() == col {
            j += 1;
        }
        let group = &points[i..j];
        let (mut lo, mut hi) = (0, 0);
        for (k, p) in group.iter().enumerate() {
            if p.1 < group[lo].1 {
                lo = k;
            }
            if p.1 > group[hi].1 {
                hi = k;
            }
        }
        let mut keep = [0, lo, hi, group.len() - 1];
        keep.sort_unstable();
        let mut last = usize::MAX;
        for k in keep {
            if k != last {
                out.push(group[k]);
                last = k;
            }
        }
        i = j;
    }
    out
}

/// Vertices of a step line through `(t, value)` samples, ending at `t_end`.
fn step_points(
    samples: &[(u64, f64)],
    start: f64,
    t_end: Option<u64>,
    x: impl Fn(u64) -> f64,
    y: impl Fn(f64) -> f64,
) -> Vec<(f64, f64)> {
    let mut pts = Vec::with_capacity(samples.len() * 2 + 2);
    let mut prev = start;
    for (i, &(t, v)) in samples.iter().enumerate() {
        if i == 0 || v != prev {
            pts.push((x(t), y(prev)));
        }
        pts.push((x(t), y(v)));
        prev = v;
    }
    if let (Some(end), Some(&(last_t, _))) = (t_end, samples.last()) {
        if end > last_t {
            pts.push((x(end), y(prev)));
        }
    }
    thin(&pts)
}

fn points_attr(points: &[(f64, f64)]) -> String {
    let mut s = String::with_capacity(points.len() * 12);
    for (i, (x, y)) in points.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        let _ = write!(s, "{},{}", n(*x), n(*y));
    }
    s
}

/// Where a density strip goes: the tops of its upper and lower halves, their height, and what the
/// marks are called in its tooltips.
struct Strip {
    y_top: [f64; 2],
    height: f64,
    what: &'static str,
}

/// Marks bucketed into 2-pixel columns, for lanes with too many marks to draw one by one.
/// `classify` returns the mark's half of the strip (0 upper, 1 lower) and its colour key.
fn density_strip<K: Ord + Copy>(
    out: &mut String,
    marks: &[&Item],
    scale: &TimeScale,
    strip: &Strip,
    classify: impl Fn(&Item) -> (usize, K),
    colour: impl Fn(K) -> &'static str,
) {
    let Strip {
        y_top,
        height,
        what,
    } = strip;
    const BIN_PX: f64 = 2.0;
    let bins = (scale.plot_width() / BIN_PX).ceil() as usize;
    // (half, bin) -> counts per colour key.
    let mut counts: BTreeMap<(usize, usize), BTreeMap<K, usize>> = BTreeMap::new();
    for item in marks {
        let (half, key) = classify(item);
        let bin = (((scale.x(item.t) - PLOT_LEFT) / BIN_PX) as usize).min(bins.saturating_sub(1));
        *counts
            .entry((half.min(1), bin))
            .or_default()
            .entry(key)
            .or_default() += 1;
    }
    let max = counts
        .values()
        .map(|m| m.values().sum::<usize>())
        .max()
        .unwrap_or(1)
        .max(1);
    let ms_per_bin = scale.end as f64 * BIN_PX / scale.plot_width();
    for ((half, bin), by_key) in &counts {
        let total: usize = by_key.values().sum();
        // The most frequent key colours the bin; ties go to the smallest key.
        let mut best: Option<(K, usize)> = None;
        for (k, c) in by_key {
            if best.is_none_or(|(_, bc)| *c > bc) {
                best = Some((*k, *c));
            }
        }
        let fill = best.map(|(k, _)| colour(k)).unwrap_or(GREY);
        let opacity = 0.15 + 0.85 * total as f64 / max as f64;
        let from = *bin as f64 * ms_per_bin;
        let _ = writeln!(
            out,
            r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{fill}" fill-opacity="{:.2}"><title>{total} {what}, {}-{} ms</title></rect>"#,
            n(PLOT_LEFT + *bin as f64 * BIN_PX),
            n(y_top[*half]),
            n(BIN_PX),
            n(*height),
            opacity,
            n(from),
            n(from + ms_per_bin),
        );
    }
}

struct FileLine<'a> {
    samples: Vec<(u64, f64)>,
    milestones: Vec<&'a Item>,
}

/// The timeline of `records` as a standalone SVG document.
pub fn render_svg(records: &[Record], title: &str) -> String {
    svg_of(&items(records), title)
}

fn svg_of(items: &[Item], title: &str) -> String {
    let t_max = items.iter().map(|i| i.t).max().unwrap_or(0);
    let scale = TimeScale::new(t_max);
    let x_right = WIDTH - PLOT_RIGHT;

    // Hosts, in lane order.
    let mut hosts: BTreeMap<(u8, u64, String), &str> = BTreeMap::new();
    for item in items {
        hosts.insert(host_key(&item.host), &item.host);
    }
    let hosts: Vec<&str> = hosts.into_values().collect();

    // Window samples per user host.
    let mut windows: Vec<(&str, Vec<(u64, f64)>)> = Vec::new();
    for host in &hosts {
        let samples: Vec<(u64, f64)> = items
            .iter()
            .filter(|i| i.host == *host && (i.tag == "chunk_sent" || i.tag == "chunk_acked"))
            .filter_map(|i| i.num_field("in_flight").map(|v| (i.t, v)))
            .collect();
        if !samples.is_empty() {
            windows.push((host, samples));
        }
    }

    // Progress samples and milestones per file.
    let mut files: BTreeMap<&str, FileLine> = BTreeMap::new();
    for item in items {
        let Some(file) = item.str_field("file") else {
            continue;
        };
        if item.tag == "progress" {
            if let Some(p) = item.num_field("percent") {
                files
                    .entry(file)
                    .or_insert_with(|| FileLine {
                        samples: Vec::new(),
                        milestones: Vec::new(),
                    })
                    .samples
                    .push((item.t, p));
            }
        } else if MILESTONE_TAGS.contains(&item.tag.as_str()) {
            files
                .entry(file)
                .or_insert_with(|| FileLine {
                    samples: Vec::new(),
                    milestones: Vec::new(),
                })
                .milestones
                .push(item);
        }
    }

    let markers: Vec<&Item> = items.iter().filter(|i| i.is_marker()).collect();

    // Vertical layout.
    let legend_y = 46.0;
    let band_top = 74.0;
    let band_h = if markers.is_empty() {
        0.0
    } else {
        MARKER_ROWS as f64 * MARKER_ROW_H + 4.0
    };
    let lanes_top = band_top + band_h + 6.0;
    let lanes_bottom = lanes_top + hosts.len() as f64 * LANE_H;
    let windows_top = lanes_bottom + if windows.is_empty() { 0.0 } else { SECTION_GAP };
    let windows_bottom = windows_top + windows.len() as f64 * (WINDOW_H + 6.0);
    let progress_top = windows_bottom + SECTION_GAP;
    let progress_bottom = progress_top + PROGRESS_H;
    let height = progress_bottom + 50.0;

    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#,
        w = n(WIDTH),
        h = n(height),
    );
    let _ = writeln!(
        out,
        r##"<rect x="0" y="0" width="{}" height="{}" fill="#ffffff"/>"##,
        n(WIDTH),
        n(height)
    );

    // Title and summary.
    let _ = writeln!(
        out,
        r#"<text x="10" y="24" font-size="16" font-weight="bold">{}</text>"#,
        esc(&truncate(title, 120))
    );
    let _ = writeln!(
        out,
        r##"<text x="{}" y="24" text-anchor="end" fill="#555">{} events, {} hosts, {} ms simulated</text>"##,
        n(WIDTH - 10.0),
        items.len(),
        hosts.len(),
        t_max
    );

    // Legend.
    let mut lx = 10.0;
    for (_, colour, label, _) in KINDS {
        let _ = writeln!(
            out,
            r#"<rect x="{}" y="{}" width="10" height="10" fill="{colour}"/><text x="{}" y="{}" font-size="11">{label}</text>"#,
            n(lx),
            n(legend_y - 9.0),
            n(lx + 14.0),
            n(legend_y)
        );
        lx += 14.0 + text_width(label, 11.0) + 18.0;
    }
    let _ = writeln!(
        out,
        r##"<text x="{}" y="{}" font-size="11" fill="#444">frame ticks: up = tx, down = rx</text>"##,
        n(lx),
        n(legend_y)
    );
    let _ = writeln!(
        out,
        r##"<text x="10" y="{}" font-size="11" fill="#444">dots: other events (red: error)  ·  red line: fault or failure  ·  orange line: connection closed  ·  progress: ■ committed  ○ notified  ▲ downloaded  ✕ failed  ·  dashed: no further progress</text>"##,
        n(legend_y + 15.0)
    );

    // Grid and axis.
    let _ = writeln!(out, r##"<g stroke="#e4e4e4" stroke-width="1">"##);
    for t in scale.ticks() {
        let x = scale.x(t);
        let _ = writeln!(
            out,
            r#"<line x1="{x}" y1="{}" x2="{x}" y2="{}"/>"#,
            n(lanes_top),
            n(progress_bottom),
            x = n(x)
        );
    }
    let _ = writeln!(out, "</g>");
    let _ = writeln!(
        out,
        r##"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="#444"/>"##,
        n(PLOT_LEFT),
        n(x_right),
        y = n(progress_bottom)
    );
    let _ = writeln!(
        out,
        r##"<g class="axis" font-size="11" fill="#333" text-anchor="middle">"##
    );
    for t in scale.ticks() {
        let x = scale.x(t);
        let _ = writeln!(
            out,
            r##"<line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="#444"/><text x="{x}" y="{}">{t}</text>"##,
            n(progress_bottom),
            n(progress_bottom + 5.0),
            n(progress_bottom + 18.0),
            x = n(x)
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" font-size="12">simulated time (ms)</text>"#,
        n(PLOT_LEFT + scale.plot_width() / 2.0),
        n(progress_bottom + 38.0)
    );
    let _ = writeln!(out, "</g>");

    // Lanes.
    for (idx, host) in hosts.iter().enumerate() {
        let y0 = lanes_top + idx as f64 * LANE_H;
        let cy = y0 + 22.0;
        let dot_y = y0 + 45.0;
        let _ = writeln!(out, r#"<g class="lane" data-host="{}">"#, esc(host));
        let fill = if idx % 2 == 0 { "#f3f5f8" } else { "#fbfbfc" };
        let _ = writeln!(
            out,
            r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{fill}" fill-opacity="0.8"/>"#,
            n(PLOT_LEFT),
            n(y0),
            n(scale.plot_width()),
            n(LANE_H)
        );
        let _ = writeln!(
            out,
            r#"<text class="lane-label" x="10" y="{}" font-weight="bold">{}</text>"#,
            n(cy + 4.0),
            esc(&truncate(host, 20))
        );
        let _ = writeln!(
            out,
            r##"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="#b8b8b8"/>"##,
            n(PLOT_LEFT),
            n(x_right),
            y = n(cy)
        );

        let frames: Vec<&Item> = items
            .iter()
            .filter(|i| i.host == *host && i.tag == "frame")
            .collect();
        if frames.len() > DENSITY_LIMIT {
            density_strip(
                &mut out,
                &frames,
                &scale,
                &Strip {
                    y_top: [cy - 14.0, cy],
                    height: 14.0,
                    what: "frames",
                },
                |i| {
                    let half = usize::from(i.str_field("dir") != Some("tx"));
                    (half, kind_of(i.num_field("id").unwrap_or(0.0) as u64))
                },
                kind_colour,
            );
        } else {
            let _ = writeln!(out, r#"<g stroke-width="1.5">"#);
            for f in &frames {
                let x = n(scale.x(f.t));
                let (y1, y2) = match f.str_field("dir") {
                    Some("tx") => (cy - 14.0, cy),
                    Some("rx") => (cy, cy + 14.0),
                    _ => (cy - 7.0, cy + 7.0),
                };
                let colour = kind_colour(kind_of(f.num_field("id").unwrap_or(0.0) as u64));
                let _ = writeln!(
                    out,
                    r#"<line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="{colour}">{}</line>"#,
                    n(y1),
                    n(y2),
                    f.tooltip()
                );
            }
            let _ = writeln!(out, "</g>");
        }

        let others: Vec<&Item> = items
            .iter()
            .filter(|i| {
                i.host == *host && (!PANEL_TAGS.contains(&i.tag.as_str()) || i.is_problem())
            })
            .collect();
        let dot_colour = |i: &Item| {
            if i.tag == "conn_closed" {
                ORANGE
            } else if i.is_problem() {
                RED
            } else {
                GREY
            }
        };
        if others.len() > DENSITY_LIMIT {
            density_strip(
                &mut out,
                &others,
                &scale,
                &Strip {
                    y_top: [dot_y - 4.0, dot_y - 4.0],
                    height: 8.0,
                    what: "events",
                },
                |i| (0, dot_colour(i)),
                |c| c,
            );
        } else {
            for o in &others {
                let _ = writeln!(
                    out,
                    r#"<circle cx="{}" cy="{}" r="2.5" fill="{}">{}</circle>"#,
                    n(scale.x(o.t)),
                    n(dot_y),
                    dot_colour(o),
                    o.tooltip()
                );
            }
        }
        let _ = writeln!(out, "</g>");
    }

    // Window occupancy.
    for (idx, (host, samples)) in windows.iter().enumerate() {
        let y0 = windows_top + idx as f64 * (WINDOW_H + 6.0);
        let top = y0 + 14.0;
        let inner = WINDOW_H - 20.0;
        let peak = samples.iter().map(|s| s.1).fold(0.0, f64::max);
        let y_max = peak.max(MAX_CWND as f64).ceil();
        let y = |v: f64| top + inner * (1.0 - v / y_max);
        let _ = writeln!(out, r#"<g class="window" data-host="{}">"#, esc(host));
        let _ = writeln!(
            out,
            r##"<rect x="{}" y="{}" width="{}" height="{}" fill="#fcfcfc" stroke="#dddddd"/>"##,
            n(PLOT_LEFT),
            n(y0),
            n(scale.plot_width()),
            n(WINDOW_H)
        );
        let _ = writeln!(
            out,
            r##"<text x="10" y="{}" font-weight="bold">{}</text><text x="10" y="{}" font-size="11" fill="#555">chunks in flight</text>"##,
            n(y0 + 28.0),
            esc(&truncate(host, 20)),
            n(y0 + 43.0)
        );
        for v in [0.0, y_max] {
            let _ = writeln!(
                out,
                r##"<text x="{}" y="{}" font-size="10" fill="#555" text-anchor="end">{}</text>"##,
                n(PLOT_LEFT - 4.0),
                n(y(v) + 3.0),
                v as u64
            );
        }
        let cwnd_y = y(MAX_CWND as f64);
        let _ = writeln!(
            out,
            r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{RED}" stroke-dasharray="5 4"/><text x="{}" y="{}" font-size="10" fill="{RED}" text-anchor="end">MAX_CWND {MAX_CWND}</text>"#,
            n(PLOT_LEFT),
            n(x_right),
            n(x_right - 4.0),
            n(cwnd_y - 3.0),
            y = n(cwnd_y)
        );
        let pts = step_points(samples, 0.0, Some(t_max), |t| scale.x(t), y);
        let _ = writeln!(
            out,
            r##"<polyline class="in-flight" fill="none" stroke="#1f3a93" stroke-width="1.5" points="{}"/>"##,
            points_attr(&pts)
        );
        let _ = writeln!(out, "</g>");
    }

    // Progress.
    let p_top = progress_top + 10.0;
    let p_inner = PROGRESS_H - 20.0;
    let peak = files
        .values()
        .flat_map(|f| f.samples.iter().map(|s| s.1))
        .fold(100.0, f64::max);
    let py = |v: f64| p_top + p_inner * (1.0 - v / peak);
    let _ = writeln!(out, r#"<g class="progress-panel">"#);
    let _ = writeln!(
        out,
        r##"<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#dddddd"/>"##,
        n(PLOT_LEFT),
        n(progress_top),
        n(scale.plot_width()),
        n(PROGRESS_H)
    );
    let _ = writeln!(
        out,
        r##"<text x="10" y="{}" font-weight="bold">progress</text><text x="10" y="{}" font-size="11" fill="#555">per file, %</text>"##,
        n(progress_top + 28.0),
        n(progress_top + 43.0)
    );
    for v in [0.0, 25.0, 50.0, 75.0, 100.0] {
        let _ = writeln!(
            out,
            r##"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="#eeeeee"/><text x="{}" y="{}" font-size="10" fill="#555" text-anchor="end">{}%</text>"##,
            n(PLOT_LEFT),
            n(x_right),
            n(PLOT_LEFT - 4.0),
            n(py(v) + 3.0),
            v as u64,
            y = n(py(v))
        );
    }
    if files.is_empty() {
        let _ = writeln!(
            out,
            r##"<text x="{}" y="{}" fill="#888">no progress events</text>"##,
            n(PLOT_LEFT + 10.0),
            n(progress_top + PROGRESS_H / 2.0)
        );
    }
    let mut labels: Vec<(f64, &str, &str)> = Vec::new();
    for (idx, (file, line)) in files.iter().enumerate() {
        let colour = FILE_COLOURS[idx % FILE_COLOURS.len()];
        let value_at = |t: u64| {
            line.samples
                .iter()
                .take_while(|s| s.0 <= t)
                .last()
                .map(|s| s.1)
                .unwrap_or(0.0)
        };
        if let (Some(first), Some(last)) = (line.samples.first(), line.samples.last()) {
            let pts = step_points(&line.samples, 0.0, None, |t| scale.x(t), py);
            let _ = writeln!(
                out,
                r#"<polyline class="progress" data-file="{}" fill="none" stroke="{colour}" stroke-width="2" points="{}"><title>{}: {} to {}% between {} and {} ms</title></polyline>"#,
                esc(file),
                points_attr(&pts),
                esc(file),
                first.1,
                last.1,
                first.0,
                last.0
            );
            if t_max > last.0 {
                // No more progress until the end of the trace: where it stalled, if below 100%.
                let _ = writeln!(
                    out,
                    r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{colour}" stroke-width="1" stroke-dasharray="3 3"/>"#,
                    n(scale.x(last.0)),
                    n(scale.x(t_max)),
                    y = n(py(last.1))
                );
            }
            labels.push((py(last.1), file, colour));
        } else if !line.milestones.is_empty() {
            labels.push((py(0.0), file, colour));
        }
        for m in &line.milestones {
            let (x, y) = (scale.x(m.t), py(value_at(m.t)));
            let shape = match m.tag.as_str() {
                "upload_committed" => format!(
                    r##"<rect x="{}" y="{}" width="8" height="8" fill="{colour}" stroke="#000">"##,
                    n(x - 4.0),
                    n(y - 4.0)
                ),
                "upload_notified" => format!(
                    r##"<circle cx="{}" cy="{}" r="4.5" fill="#ffffff" stroke="{colour}" stroke-width="2">"##,
                    n(x),
                    n(y)
                ),
                "download_done" => format!(
                    r##"<polygon points="{},{} {},{} {},{}" fill="{colour}" stroke="#000">"##,
                    n(x),
                    n(y - 6.0),
                    n(x - 5.0),
                    n(y + 3.0),
                    n(x + 5.0),
                    n(y + 3.0)
                ),
                _ => format!(
                    r#"<path d="M{} {} l10 10 m0 -10 l-10 10" stroke="{RED}" stroke-width="2.5" fill="none">"#,
                    n(x - 5.0),
                    n(y - 5.0)
                ),
            };
            let close = match m.tag.as_str() {
                "upload_committed" => "</rect>",
                "upload_notified" => "</circle>",
                "download_done" => "</polygon>",
                _ => "</path>",
            };
            let _ = writeln!(
                out,
                r#"<g class="milestone">{shape}{}{close}</g>"#,
                m.tooltip()
            );
        }
    }
    // File labels at the right-hand end of their lines (the level where each file stopped),
    // nudged apart so that they never overlap.
    labels.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
    let mut prev_y = f64::NEG_INFINITY;
    for (y, file, colour) in labels {
        let label = truncate(file, 40);
        let ly = (y - 6.0).max(prev_y + 14.0).max(progress_top + 12.0);
        prev_y = ly;
        let (lx, anchor) = (scale.x(t_max) - 4.0, "end");
        let _ = writeln!(
            out,
            r##"<text class="file-label" x="{}" y="{}" text-anchor="{anchor}" fill="{colour}" font-weight="bold" stroke="#ffffff" stroke-width="3" paint-order="stroke">{}</text>"##,
            n(lx),
            n(ly),
            esc(&label)
        );
    }
    let _ = writeln!(out, "</g>");

    // Markers, on top of everything, with labels staggered over a few rows above the lanes.
    for (idx, m) in markers.iter().enumerate() {
        let x = scale.x(m.t);
        let colour = if m.tag == "conn_closed" { ORANGE } else { RED };
        let row = idx % MARKER_ROWS;
        let label_y = band_top + MARKER_ROW_H * (row as f64 + 1.0);
        let labelled = idx < MAX_MARKER_LABELS;
        let y1 = if labelled { label_y - 9.0 } else { lanes_top };
        let _ = writeln!(
            out,
            r#"<g class="marker" data-event="{}"><line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="{colour}" stroke-width="1.2" stroke-opacity="0.75">{}</line>"#,
            esc(&m.tag),
            n(y1),
            n(progress_bottom),
            m.tooltip(),
            x = n(x)
        );
        if labelled {
            let mut label = format!("{} {}", m.tag, m.host);
            for field in ["kind", "file", "reason", "detail"] {
                if let Some(v) = m.str_field(field) {
                    let _ = write!(label, " {v}");
                    break;
                }
            }
            let label = truncate(&label, 40);
            let (lx, anchor) = if x + 3.0 + text_width(&label, 10.0) > WIDTH - 4.0 {
                (x - 3.0, "end")
            } else {
                (x + 3.0, "start")
            };
            let _ = writeln!(
                out,
                r#"<text x="{}" y="{}" font-size="10" fill="{colour}" text-anchor="{anchor}">{}{}</text>"#,
                n(lx),
                n(label_y),
                esc(&label),
                m.tooltip()
            );
        }
        let _ = writeln!(out, "</g>");
    }

    out.push_str("</svg>\n");
    out
}

/// A self-contained HTML page: the timeline, a legend, and a table of faults and errors. No
/// scripts, stylesheets or fonts from elsewhere.
pub fn render_html(records: &[Record], title: &str) -> String {
    html_of(&items(records), title)
}

fn html_of(items: &[Item], title: &str) -> String {
    let svg = svg_of(items, title);
    let problems: Vec<&Item> = items.iter().filter(|i| i.is_problem()).collect();
    let t_max = items.iter().map(|i| i.t).max().unwrap_or(0);

    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    let _ = writeln!(out, "<title>{}</title>", esc(title));
    out.push_str(
        "<style>\n\
         body { font-family: sans-serif; margin: 16px; color: #222; }\n\
         h1 { font-size: 20px; margin: 0 0 8px; }\n\
         h2 { font-size: 16px; margin: 20px 0 6px; }\n\
         .chart { overflow-x: auto; border: 1px solid #ddd; }\n\
         .chart svg { display: block; max-width: 100%; height: auto; }\n\
         ul.legend { list-style: none; padding: 0; margin: 0; columns: 2; font-size: 13px; }\n\
         ul.legend li { margin: 3px 0; }\n\
         .sw { display: inline-block; width: 12px; height: 12px; margin-right: 6px; vertical-align: -1px; }\n\
         table { border-collapse: collapse; font-size: 13px; }\n\
         th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }\n\
         th { background: #f0f0f0; }\n\
         td.num { text-align: right; font-variant-numeric: tabular-nums; }\n\
         td.detail { font-family: monospace; word-break: break-all; }\n\
         </style>\n</head>\n<body>\n",
    );
    let _ = writeln!(out, "<h1>{}</h1>", esc(title));
    let _ = writeln!(
        out,
        "<p>{} trace events over {} ms of simulated time; {} faults or errors. Hover over any mark to see its record.</p>",
        items.len(),
        t_max,
        problems.len()
    );
    out.push_str("<div class=\"chart\">\n");
    out.push_str(&svg);
    out.push_str("</div>\n");

    out.push_str("<h2>Legend</h2>\n<ul class=\"legend\">\n");
    for (_, colour, label, ids) in KINDS {
        let _ = writeln!(
            out,
            "<li><span class=\"sw\" style=\"background:{colour}\"></span>frame: {} ({})</li>",
            esc(label),
            esc(ids)
        );
    }
    for line in [
        "On a host's lane, a tick above the line is a frame sent (tx), below it a frame received (rx).",
        "Dots below a lane are the host's other events: grey as usual, red for an error, orange for a closed connection.",
        "A lane with more than 4000 frames is drawn as a density strip: darker means more frames.",
        &format!(
            "Window: chunks a client has in flight after each send or ack; the dashed red line is MAX_CWND = {MAX_CWND}."
        ),
        "Progress: one line per file, as the sender reports it; a dashed continuation means no further progress until the end of the trace.",
        "On a progress line: ■ upload committed (resource), ○ upload notified (sender), ▲ download done (receiver), ✕ upload failed.",
        "Vertical lines: red for a fault, panic, host failure, refused chunk, rejected or failed upload; orange for a closed connection.",
    ] {
        let _ = writeln!(out, "<li>{}</li>", esc(line));
    }
    out.push_str("</ul>\n");

    out.push_str("<h2>Faults and errors</h2>\n");
    if problems.is_empty() {
        out.push_str("<p>None.</p>\n");
    } else {
        out.push_str(
            "<table>\n<thead><tr><th>t (ms)</th><th>host</th><th>event</th><th>details</th></tr></thead>\n<tbody>\n",
        );
        for p in problems.iter().take(MAX_TABLE_ROWS) {
            let mut details = Vec::new();
            if let Value::Object(map) = &p.value {
                for (k, v) in map {
                    if k == "t_ms" || k == "host" || k == "event" {
                        continue;
                    }
                    let v = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    details.push(format!("{k}={v}"));
                }
            }
            let _ = writeln!(
                out,
                "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td><td class=\"detail\">{}</td></tr>",
                p.t,
                esc(&p.host),
                esc(&p.tag),
                esc(&truncate(&details.join(", "), 300))
            );
        }
        out.push_str("</tbody>\n</table>\n");
        if problems.len() > MAX_TABLE_ROWS {
            let _ = writeln!(
                out,
                "<p>… and {} more.</p>",
                problems.len() - MAX_TABLE_ROWS
            );
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::Event;

    fn rec(t_ms: u64, host: &str, event: Event) -> Record {
        Record {
            t_ms,
            host: host.to_owned(),
            event,
        }
    }

    fn frame(dir: &'static str, id: u16, name: &'static str, file: Option<&str>) -> Event {
        Event::Frame {
            dir,
            peer: "resource:8091".into(),
            id,
            name,
            len: 100,
            file: file.map(str::to_owned),
            seq: file.map(|_| 1),
        }
    }

    fn sample(file: &str) -> Vec<Record> {
        let mut r = vec![
            rec(5, "user1", frame("tx", 1005, "login", None)),
            rec(9, "chat", frame("rx", 1005, "login", None)),
            rec(12, "chat", frame("tx", 1006, "login_rsp", None)),
            rec(100, "user1", frame("tx", 1041, "first_chunk", Some(file))),
            rec(
                100,
                "user1",
                Event::ChunkSent {
                    file: file.into(),
                    seq: 1,
                    id: 1041,
                    in_flight: 1,
                    retransmit: false,
                },
            ),
            rec(
                104,
                "resource",
                frame("rx", 1041, "first_chunk", Some(file)),
            ),
            rec(
                105,
                "resource",
                frame("tx", 1042, "first_chunk_rsp", Some(file)),
            ),
            rec(
                110,
                "user1",
                frame("rx", 1042, "first_chunk_rsp", Some(file)),
            ),
            rec(
                110,
                "user1",
                Event::ChunkAcked {
                    file: file.into(),
                    seq: 1,
                    error: 0,
                    in_flight: 0,
                },
            ),
        ];
        for (i, p) in [0u32, 25, 50, 75, 100].into_iter().enumerate() {
            r.push(rec(
                110 + 10 * i as u64,
                "user1",
                Event::Progress {
                    file: file.into(),
                    percent: p,
                },
            ));
        }
        r.push(rec(
            160,
            "resource",
            Event::UploadCommitted {
                file: file.into(),
                owner: 1,
                size: 1000,
                md5: "0".into(),
            },
        ));
        r.push(rec(
            170,
            "resource",
            Event::ConnClosed {
                peer: "user1".into(),
                reason: "eof".into(),
            },
        ));
        r.push(rec(
            180,
            "user2",
            Event::DownloadDone {
                file: file.into(),
                message_id: 1,
                size: 1000,
                md5: "0".into(),
            },
        ));
        r
    }

    #[test]
    fn svg_has_lanes_window_progress_and_markers() {
        let svg = render_svg(&sample("a.png"), "t");
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        for host in ["chat", "resource", "user1", "user2"] {
            assert!(
                svg.contains(&format!(r#"<g class="lane" data-host="{host}">"#)),
                "{host}"
            );
        }
        // Lane order: chat, resource, then users.
        let pos = |h: &str| svg.find(&format!(r#"data-host="{h}""#)).unwrap();
        assert!(pos("chat") < pos("resource") && pos("resource") < pos("user1"));
        assert!(pos("user1") < pos("user2"));
        assert!(svg.contains(r#"<polyline class="progress" data-file="a.png""#));
        assert!(svg.contains(r#"<g class="window" data-host="user1">"#));
        assert!(svg.contains(&format!("MAX_CWND {MAX_CWND}")));
        assert!(svg.contains(r#"<g class="marker" data-event="conn_closed">"#));
        assert!(svg.contains("<title>{&quot;t_ms&quot;:5,"));
    }

    #[test]
    fn hostile_file_names_are_escaped() {
        let hostile = r#"<img&"x">"#;
        let svg = render_svg(&sample(hostile), hostile);
        let html = render_html(&sample(hostile), hostile);
        for out in [&svg, &html] {
            assert!(!out.contains(hostile));
            assert!(out.contains("&lt;img&amp;&quot;x&quot;&gt;"));
        }
        assert!(svg.contains(r#"data-file="&lt;img&amp;&quot;x&quot;&gt;""#));
    }

    #[test]
    fn two_runs_of_one_scenario_draw_the_same_bytes() {
        // Two independent simulations, each rendered: a difference in either the trace or the
        // renderer's iteration order (a map with a random hasher) shows as different bytes.
        let path = std::path::Path::new("scenarios/faults/reordered-chunks.toml");
        let s = crate::scenario::load(path).unwrap();
        let first = crate::sim::run(&s, s.seed);
        let second = crate::sim::run(&s, s.seed);
        assert!(first.records.len() > 50, "the run did something to draw");
        assert_eq!(
            render_html(&first.records, "t"),
            render_html(&second.records, "t")
        );
    }

    #[test]
    fn html_embeds_the_svg_and_nothing_external() {
        let records = sample("a.png");
        let svg = render_svg(&records, "t");
        let html = render_html(&records, "t");
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains(&svg));
        let without_xmlns = html.replace(r#"xmlns="http://www.w3.org/2000/svg""#, "");
        assert!(!without_xmlns.contains("http://"));
        assert!(!without_xmlns.contains("https://"));
        assert!(!html.contains("<script"));
        assert!(!html.contains("<link"));
        assert!(html.contains("<h2>Faults and errors</h2>"));
        assert!(html.contains("<td>conn_closed</td>"));
    }

    #[test]
    fn empty_traces_render() {
        let svg = render_svg(&[], "empty");
        assert!(svg.starts_with("<svg") && svg.contains("no progress events"));
        assert!(render_html(&[], "empty").contains("<p>None.</p>"));
    }

    #[test]
    fn event_kinds_added_later_still_show() {
        // Kinds the `Event` enum does not have (yet): read through their JSON form only.
        let lines = [
            r#"{"t_ms":50,"host":"world","event":"fault","kind":"partition","detail":"user1<->resource"}"#,
            r#"{"t_ms":60,"host":"resource","event":"some_new_thing","x":1}"#,
            r#"{"t_ms":70,"host":"user1","event":"upload_failed","file":"a.png","error":1017,"reason":"seq"}"#,
        ];
        let items: Vec<Item> = lines
            .iter()
            .map(|l| Item::from_value(serde_json::from_str(l).unwrap(), l.to_string()))
            .collect();
        let svg = svg_of(&items, "t");
        assert!(svg.contains(r#"<g class="lane" data-host="world">"#));
        assert!(svg.contains(r#"<g class="marker" data-event="fault">"#));
        assert!(svg.contains(">fault world partition<"));
        assert!(svg.contains(r#"<g class="marker" data-event="upload_failed">"#));
        assert!(svg.contains("some_new_thing"));
        assert!(!svg.contains("user1<->resource"));
        let html = html_of(&items, "t");
        assert!(html.contains("<td>fault</td>"));
        assert!(html.contains("detail=user1&lt;-&gt;resource"));
        assert!(!html.contains("<td>some_new_thing</td>"));
    }

    #[test]
    fn many_frames_become_a_density_strip() {
        let records: Vec<Record> = (0..DENSITY_LIMIT as u64 + 10)
            .map(|i| rec(i, "user1", frame("tx", 1037, "chunk", None)))
            .collect();
        let svg = render_svg(&records, "t");
        assert_eq!(svg.matches("<title>{").count(), 0, "no mark per frame");
        assert!(svg.contains(" frames, "));
        assert!(svg.len() < 400_000, "{} bytes", svg.len());
    }

    #[test]
    fn thin_keeps_extremes_per_column() {
        let pts = [
            (1.1, 5.0),
            (1.2, 1.0),
            (1.3, 9.0),
            (1.4, 4.0),
            (1.5, 3.0),
            (2.0, 0.0),
        ];
        assert_eq!(
            thin(&pts),
            vec![(1.1, 5.0), (1.2, 1.0), (1.3, 9.0), (1.5, 3.0), (2.0, 0.0)]
        );
    }

    #[test]
    fn renders_a_real_simulation() {
        let s = crate::scenario::load(std::path::Path::new("scenarios/two-images-and-texts.toml"))
            .unwrap();
        let o = crate::sim::run(&s, s.seed);
        let title = format!("two-images-and-texts (seed {})", s.seed);
        let svg = render_svg(&o.records, &title);
        for host in ["user1", "user2", "chat", "resource"] {
            assert!(
                svg.contains(&format!(r#"<g class="lane" data-host="{host}">"#)),
                "{host}"
            );
        }
        assert_eq!(svg.matches(r#"<polyline class="progress""#).count(), 2);
        for file in ["holiday.png", "cat.png"] {
            assert!(svg.contains(&format!(r#"<polyline class="progress" data-file="{file}""#)));
        }
        let html = render_html(&o.records, &title);
        assert!(html.contains(&svg));
        // For a person to look at: TIMELINE_HTML=/tmp/timeline.html cargo test --lib timeline
        if let Some(path) = std::env::var_os("TIMELINE_HTML") {
            std::fs::write(path, &html).unwrap();
        }
    }
}
