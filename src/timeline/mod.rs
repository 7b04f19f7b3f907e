//! Pictures of a run: a timeline of a trace, as an SVG image or as a self-contained HTML page, for a
//! person who wants to see where a transfer stalled.
//!
//! From top to bottom, against simulated time (idle stretches compressed, see [`scale`]):
//! - labels of the markers, stacked so that none overlaps another ([`markers`]);
//! - one lane per host with a tick per frame and a dot per other event ([`lanes`]);
//! - per user host, the upload window against `MAX_CWND` ([`window`]);
//! - per file, reported progress with its milestones ([`progress`]);
//! - vertical markers across everything for faults, panics, failures and closed connections.
//!
//! Pure: records in, a string out; no I/O, no clocks. Records are read through their JSON form
//! ([`item`]), so event kinds added later still show up. The output is deterministic: ordered maps
//! and numbers formatted in one place ([`svg::num`]), so the same records give the same bytes.

mod item;
mod lanes;
mod lines;
mod markers;
mod page;
mod progress;
mod scale;
mod svg;
mod window;

use crate::trace::Record;
use item::{host_key, items, Item};
use lanes::KINDS;
use markers::Markers;
use scale::TimeScale;
use std::collections::BTreeMap;
use svg::{Anchor, El, Writer, MUTED};

// Layout, in SVG user units (pixels at 100%).
const WIDTH: f64 = 1400.0;
const PLOT_LEFT: f64 = 150.0;
const PLOT_RIGHT: f64 = 30.0;
const LANE_H: f64 = 56.0;
const WINDOW_H: f64 = 70.0;
const PROGRESS_H: f64 = 200.0;
const SECTION_GAP: f64 = 16.0;

/// The timeline of `records` as a standalone SVG document.
pub fn render_svg(records: &[Record], title: &str) -> String {
    svg_of(&items(records), title)
}

/// A self-contained HTML page: the timeline, a legend, and a table of faults and errors. No
/// scripts, stylesheets or fonts from elsewhere.
pub fn render_html(records: &[Record], title: &str) -> String {
    let items = items(records);
    page::page(&items, &svg_of(&items, title), title)
}

/// Where each panel starts, top to bottom.
struct Layout {
    band_top: f64,
    lanes_top: f64,
    windows_top: f64,
    progress_top: f64,
    axis_y: f64,
    height: f64,
}

impl Layout {
    fn new(marker_rows: usize, hosts: usize, windows: usize) -> Layout {
        let band_top = 74.0;
        let band_h = if marker_rows == 0 {
            0.0
        } else {
            marker_rows as f64 * markers::ROW_H + 4.0
        };
        let lanes_top = band_top + band_h + 6.0;
        let lanes_bottom = lanes_top + hosts as f64 * LANE_H;
        let windows_top = lanes_bottom + if windows == 0 { 0.0 } else { SECTION_GAP };
        let progress_top = windows_top + windows as f64 * (WINDOW_H + 6.0) + SECTION_GAP;
        let axis_y = progress_top + PROGRESS_H;
        Layout {
            band_top,
            lanes_top,
            windows_top,
            progress_top,
            axis_y,
            height: axis_y + 58.0,
        }
    }
}

fn svg_of(items: &[Item], title: &str) -> String {
    let t_max = items.iter().map(|i| i.t).max().unwrap_or(0);
    let times: Vec<u64> = items.iter().map(|i| i.t).collect();
    let scale = TimeScale::new(&times, PLOT_LEFT, WIDTH - PLOT_RIGHT);
    let hosts: BTreeMap<_, &str> = items
        .iter()
        .map(|i| (host_key(&i.host), i.host.as_str()))
        .collect();
    let hosts: Vec<&str> = hosts.into_values().collect();
    let windows = window::samples(items, &hosts);
    let files = progress::file_lines(items);
    let markers = Markers::new(items, &scale);
    let layout = Layout::new(markers.rows(), hosts.len(), windows.len());

    let mut w = Writer::document(WIDTH, layout.height);
    let summary = Summary {
        events: items.len(),
        hosts: hosts.len(),
        t_max,
        unlabelled: markers.unlabelled,
    };
    draw_header(&mut w, title, &summary);
    scale::draw_grid(&mut w, &scale, layout.lanes_top, layout.axis_y);
    scale::draw_axis(&mut w, &scale, layout.axis_y);
    for (idx, host) in hosts.iter().enumerate() {
        let y0 = layout.lanes_top + idx as f64 * LANE_H;
        lanes::draw_lane(&mut w, items, host, &scale, y0, idx % 2 == 0);
    }
    for (idx, panel) in windows.iter().enumerate() {
        let y0 = layout.windows_top + idx as f64 * (WINDOW_H + 6.0);
        window::draw_window(&mut w, panel, &scale, y0, t_max);
    }
    progress::draw_progress(&mut w, &files, &scale, layout.progress_top, t_max);
    scale::draw_breaks(&mut w, &scale, layout.lanes_top, layout.axis_y);
    markers::draw_markers(
        &mut w,
        &markers,
        &scale,
        layout.band_top,
        layout.lanes_top,
        layout.axis_y,
    );
    w.finish()
}

/// The figures in the header's right-hand corner.
struct Summary {
    events: usize,
    hosts: usize,
    t_max: u64,
    unlabelled: usize,
}

/// The title, the summary and the legend of colours and marks.
fn draw_header(w: &mut Writer, title: &str, s: &Summary) {
    w.put(
        El::text(10.0, 24.0, &truncate(title, 120))
            .font_size(16.0)
            .bold(),
    );
    let mut summary = format!(
        "{} events, {} hosts, {} ms simulated",
        s.events, s.hosts, s.t_max
    );
    if s.unlabelled > 0 {
        summary.push_str(&format!(
            "; {} marker labels left out (hover the lines)",
            s.unlabelled
        ));
    }
    w.put(
        El::text(WIDTH - 10.0, 24.0, &summary)
            .anchor(Anchor::End)
            .fill(MUTED),
    );
    let legend_y = 46.0;
    let mut lx = 10.0;
    for (_, colour, label, _) in KINDS {
        w.put(El::rect(lx, legend_y - 9.0, 10.0, 10.0).fill(*colour));
        w.put(El::text(lx + 14.0, legend_y, label).font_size(11.0));
        lx += 14.0 + text_width(label, 11.0) + 18.0;
    }
    let dark = svg::Colour("#444444");
    w.put(
        El::text(lx, legend_y, "frame ticks: up = tx, down = rx")
            .font_size(11.0)
            .fill(dark),
    );
    let marks = "dots: other events (red: error)  ·  red line: fault or failure  ·  orange line: connection closed  ·  progress: ■ committed  ○ notified  ▲ downloaded  ✕ failed  ·  dashed: no further progress  ·  // on the axis: idle time compressed";
    w.put(
        El::text(10.0, legend_y + 15.0, marks)
            .font_size(11.0)
            .fill(dark),
    );
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

/// A rough text width for layout decisions (no font metrics in a pure function); on the wide
/// side of sans-serif's average, so that boxes laid out with it do not touch on screen.
fn text_width(s: &str, font_size: f64) -> f64 {
    s.chars().count() as f64 * font_size * 0.6
}

#[cfg(test)]
mod tests;
