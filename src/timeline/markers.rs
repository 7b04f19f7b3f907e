//! Vertical markers across every panel for faults, panics, failures, refusals and closed
//! connections, with labels in a band above the lanes: stacked into rows so that no two labels
//! overlap, repeats of one label next to each other drawn once with a count, and labels that find
//! no room left out (their lines and tooltips stay; the header counts them).

use super::item::{Item, Tag};
use super::scale::TimeScale;
use super::svg::{Anchor, Colour, El, Writer, ORANGE, RED, WHITE};
use super::{text_width, truncate};

/// At most this many rows of labels.
pub const MAX_ROWS: usize = 6;
pub const ROW_H: f64 = 13.0;
const FONT: f64 = 10.0;
/// Room kept between two labels on a row.
const PAD: f64 = 6.0;
const MAX_CHARS: usize = 34;

/// A marker label: its text, where it is anchored, its row.
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    pub text: String,
    pub x: f64,
    pub anchor: Anchor,
    pub row: usize,
    /// Where the first marker it stands for is, in `markers`.
    pub first: usize,
}

/// The markers and their placed labels.
pub struct Markers<'a> {
    pub markers: Vec<&'a Item>,
    pub labels: Vec<Label>,
    /// Markers whose label found no room.
    pub unlabelled: usize,
}

impl<'a> Markers<'a> {
    pub fn new(items: &'a [Item], scale: &TimeScale) -> Markers<'a> {
        let markers: Vec<&Item> = items.iter().filter(|i| i.tag.is_marker()).collect();
        let (labels, unlabelled) = place(&markers, scale);
        Markers {
            markers,
            labels,
            unlabelled,
        }
    }

    /// Rows of labels in use.
    pub fn rows(&self) -> usize {
        self.labels.iter().map(|l| l.row + 1).max().unwrap_or(0)
    }
}

/// "fault user1 frame_corrupt": what happened, where, and its first telling field.
fn label_text(m: &Item) -> String {
    let mut label = format!("{} {}", m.name, m.host);
    // A probe's result says how it ended (`reply`, `silent`, ...); a probe's sending, its body.
    let telling = ["kind", "file", "reason", "outcome", "body", "detail"];
    if let Some(v) = telling.iter().find_map(|f| m.str_field(f)) {
        label.push(' ');
        label.push_str(v);
    }
    truncate(&label, MAX_CHARS)
}

/// Labels in time order, each on the first row where it clears the previous label by `PAD`.
fn place(markers: &[&Item], scale: &TimeScale) -> (Vec<Label>, usize) {
    let mut row_ends = [f64::NEG_INFINITY; MAX_ROWS];
    let mut labels: Vec<Label> = Vec::new();
    let mut unlabelled = 0;
    let mut i = 0;
    while i < markers.len() {
        let text = label_text(markers[i]);
        let x = scale.x(markers[i].t);
        let width = text_width(&text, FONT);
        // Repeats of the same label under this one's width: one label, with a count.
        let same = markers[i..]
            .iter()
            .take_while(|m| label_text(m) == text && scale.x(m.t) - x < width)
            .count();
        let text = if same > 1 {
            format!("{text} ×{same}")
        } else {
            text
        };
        let width = text_width(&text, FONT);
        let (lx, anchor) = if x + 3.0 + width > scale.right() + 25.0 {
            (x - 3.0, Anchor::End)
        } else {
            (x + 3.0, Anchor::Start)
        };
        let left = if anchor == Anchor::End {
            lx - width
        } else {
            lx
        };
        match row_ends.iter().position(|end| left >= end + PAD) {
            Some(row) => {
                row_ends[row] = left + width;
                labels.push(Label {
                    text,
                    x: lx,
                    anchor,
                    row,
                    first: i,
                });
            }
            None => unlabelled += same,
        }
        i += same;
    }
    (labels, unlabelled)
}

fn colour(m: &Item) -> Colour {
    if m.tag == Tag::ConnClosed {
        ORANGE
    } else {
        RED
    }
}

/// The markers' lines from their label (or from `lanes_top`) down to `bottom`, then the labels
/// over them, in a band whose top is `band_top`.
pub fn draw_markers(
    w: &mut Writer,
    m: &Markers,
    scale: &TimeScale,
    band_top: f64,
    lanes_top: f64,
    bottom: f64,
) {
    let label_y = |row: usize| band_top + ROW_H * (row as f64 + 1.0);
    let mut line_top = vec![lanes_top; m.markers.len()];
    for l in &m.labels {
        line_top[l.first] = label_y(l.row) - 9.0;
    }
    for (marker, top) in m.markers.iter().zip(line_top) {
        let x = scale.x(marker.t);
        w.open(El::group().class("marker").data("event", &marker.name));
        let line = El::line(x, top, x, bottom).stroke(colour(marker));
        w.put(
            line.stroke_width(1.2)
                .stroke_opacity(0.75)
                .title(&marker.json),
        );
        w.close();
    }
    w.open(El::group().class("marker-labels").font_size(FONT));
    for l in &m.labels {
        let marker = m.markers[l.first];
        let (y, width) = (label_y(l.row), text_width(&l.text, FONT));
        let left = if l.anchor == Anchor::End {
            l.x - width
        } else {
            l.x
        };
        // A pale box under the text hides the marker lines that run through its row.
        let backing = El::rect(left - 1.0, y - FONT + 1.0, width + 2.0, FONT + 2.0);
        w.put(backing.fill(WHITE).fill_opacity(0.85));
        let text = El::text(l.x, y, &l.text).class("marker-label");
        w.put(
            text.fill(colour(marker))
                .anchor(l.anchor)
                .title(&marker.json),
        );
    }
    w.close();
}
