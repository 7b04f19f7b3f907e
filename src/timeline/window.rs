//! Per user host, the upload window: `in_flight` after each `chunk_sent`/`chunk_acked`, against
//! `MAX_CWND`, and the adaptive window's own limit (`window_changed`) where the client has one.

use super::item::{Item, Tag};
use super::lines::step_points;
use super::scale::TimeScale;
use super::svg::{Anchor, Colour, El, Writer, LIGHT, MUTED, RED};
use super::{truncate, WINDOW_H};
use crate::protocol::MAX_CWND;

/// One host's window panel: chunks in flight, and the adaptive window's limit (empty for the
/// fixed window, which writes no `window_changed`).
pub struct WindowSamples<'a> {
    pub host: &'a str,
    pub in_flight: Vec<(u64, f64)>,
    pub limit: Vec<(u64, f64)>,
}

/// The window samples of each host that sent chunks, in `hosts` order.
pub fn samples<'a>(items: &[Item], hosts: &[&'a str]) -> Vec<WindowSamples<'a>> {
    let series = |host: &str, tags: &[Tag], field: &str| -> Vec<(u64, f64)> {
        items
            .iter()
            .filter(|i| i.host == host && tags.contains(&i.tag))
            .filter_map(|i| i.num_field(field).map(|v| (i.t, v)))
            .collect()
    };
    hosts
        .iter()
        .map(|&host| WindowSamples {
            host,
            in_flight: series(host, &[Tag::ChunkSent, Tag::ChunkAcked], "in_flight"),
            limit: series(host, &[Tag::WindowChanged], "window"),
        })
        .filter(|w| !w.in_flight.is_empty())
        .collect()
}

/// The window panel of `host`, its top at `y0`, drawn until `t_max`.
pub fn draw_window(w: &mut Writer, panel: &WindowSamples, scale: &TimeScale, y0: f64, t_max: u64) {
    let (host, samples) = (panel.host, &panel.in_flight);
    let top = y0 + 14.0;
    let inner = WINDOW_H - 20.0;
    let peak = samples
        .iter()
        .chain(&panel.limit)
        .map(|s| s.1)
        .fold(0.0, f64::max);
    let y_max = peak.max(MAX_CWND as f64).ceil();
    let y = |v: f64| top + inner * (1.0 - v / y_max);
    w.open(El::group().class("window").data("host", host));
    let frame = El::rect(scale.left(), y0, scale.width(), WINDOW_H);
    w.put(frame.fill(Colour("#fcfcfc")).stroke(LIGHT));
    w.put(El::text(10.0, y0 + 28.0, &truncate(host, 20)).bold());
    w.put(
        El::text(10.0, y0 + 43.0, "chunks in flight")
            .font_size(11.0)
            .fill(MUTED),
    );
    for v in [0.0, y_max] {
        let label = El::text(scale.left() - 4.0, y(v) + 3.0, &(v as u64).to_string());
        w.put(label.font_size(10.0).fill(MUTED).anchor(Anchor::End));
    }
    let cwnd_y = y(MAX_CWND as f64);
    w.put(
        El::line(scale.left(), cwnd_y, scale.right(), cwnd_y)
            .stroke(RED)
            .dashed(5.0, 4.0),
    );
    let cwnd = El::text(
        scale.right() - 4.0,
        cwnd_y - 3.0,
        &format!("MAX_CWND {MAX_CWND}"),
    );
    w.put(cwnd.font_size(10.0).fill(RED).anchor(Anchor::End));
    let pts = step_points(samples, 0.0, Some(t_max), |t| scale.x(t), y);
    let line = El::polyline(&pts).class("in-flight");
    w.put(line.stroke(Colour("#1f3a93")).stroke_width(1.5));
    // On top: where the window is full, the limit and what is in flight are one line.
    if let Some(&(_, first)) = panel.limit.first() {
        let pts = step_points(&panel.limit, first, Some(t_max), |t| scale.x(t), y);
        let line = El::polyline(&pts).class("window-limit");
        w.put(line.stroke(ORANGE).stroke_width(1.5).dashed(3.0, 2.0));
        let label = El::text(
            scale.right() - 4.0,
            top + 8.0,
            "adaptive window (its limit)",
        );
        w.put(label.font_size(10.0).fill(ORANGE).anchor(Anchor::End));
    }
    w.close();
}

/// The adaptive window's limit.
const ORANGE: Colour = Colour("#d35400");
