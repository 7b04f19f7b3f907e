//! One lane per host: a tick per frame (up for tx, down for rx, coloured by the message's kind)
//! and a dot per other event; a lane with too many marks becomes a density strip.

use super::item::{Item, Tag};
use super::scale::TimeScale;
use super::svg::{Colour, El, Writer, GREY, ORANGE, RED};
use super::{truncate, LANE_H};
use crate::protocol::ids::{self, Area};
use crate::trace::Dir;
use std::collections::BTreeMap;

/// Over this many marks of one kind on one lane, the lane is drawn as a density strip instead.
pub const DENSITY_LIMIT: usize = 4000;

/// What kind of message a frame carries; decides its colour.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Kind {
    UploadRequest,
    UploadReply,
    Chat,
    Download,
    Unknown,
}

/// Each kind's colour, legend label and the ids it covers, for the legends.
pub const KINDS: &[(Kind, Colour, &str, &str)] = &[
    (
        Kind::UploadRequest,
        Colour("#1f77b4"),
        "upload request",
        "1041 / 1037 / 1043, head icon 1031, status 1051",
    ),
    (
        Kind::UploadReply,
        Colour("#2ca02c"),
        "upload reply",
        "1042 / 1038 / 1044, 1032, 1052",
    ),
    (
        Kind::Chat,
        Colour("#ff7f0e"),
        "chat message",
        "login, text, heartbeat, image message, pushes and their acks (1005-1039, 1049, 1053)",
    ),
    (Kind::Download, Colour("#9467bd"), "download", "1045-1048"),
    (
        Kind::Unknown,
        Colour("#8c564b"),
        "unknown id",
        "an id the protocol does not know",
    ),
];

/// The kind of a message id, from the protocol's own tables.
pub fn kind_of(id: u64) -> Kind {
    let Some(id) = u16::try_from(id).ok() else {
        return Kind::Unknown;
    };
    match ids::area(id) {
        Some(Area::Upload) if ids::is_reply(id) => Kind::UploadReply,
        Some(Area::Upload) => Kind::UploadRequest,
        Some(Area::Download) => Kind::Download,
        Some(Area::Chat) => Kind::Chat,
        None => Kind::Unknown,
    }
}

pub fn kind_colour(kind: Kind) -> Colour {
    KINDS
        .iter()
        .find(|(k, ..)| *k == kind)
        .map_or(GREY, |(_, c, ..)| *c)
}

fn frame_kind(f: &Item) -> Kind {
    kind_of(f.num_field("id").unwrap_or(0.0) as u64)
}

/// A dot's colour: orange for a closed connection, red for a problem, grey otherwise.
fn dot_colour(i: &Item) -> Colour {
    if i.tag == Tag::ConnClosed {
        ORANGE
    } else if i.is_problem() {
        RED
    } else {
        GREY
    }
}

/// The lane of `host`, its top at `y0`; `shade` alternates the lanes' backgrounds.
pub fn draw_lane(
    w: &mut Writer,
    items: &[Item],
    host: &str,
    scale: &TimeScale,
    y0: f64,
    shade: bool,
) {
    let cy = y0 + 22.0;
    w.open(El::group().class("lane").data("host", host));
    let fill = Colour(if shade { "#f3f5f8" } else { "#fbfbfc" });
    w.put(
        El::rect(scale.left(), y0, scale.width(), LANE_H)
            .fill(fill)
            .fill_opacity(0.8),
    );
    w.put(
        El::text(10.0, cy + 4.0, &truncate(host, 20))
            .class("lane-label")
            .bold(),
    );
    w.put(El::line(scale.left(), cy, scale.right(), cy).stroke(Colour("#b8b8b8")));
    let mine = || items.iter().filter(move |i| i.host == host);
    let frames: Vec<&Item> = mine().filter(|i| i.tag == Tag::Frame).collect();
    draw_frames(w, &frames, scale, cy);
    let others: Vec<&Item> = mine()
        .filter(|i| !i.tag.has_panel() || i.is_problem())
        .collect();
    draw_dots(w, &others, scale, y0 + 45.0);
    w.close();
}

fn draw_frames(w: &mut Writer, frames: &[&Item], scale: &TimeScale, cy: f64) {
    if frames.len() > DENSITY_LIMIT {
        let strip = Strip {
            y_top: [cy - 14.0, cy],
            height: 14.0,
            what: "frames",
        };
        let half = |i: &Item| usize::from(i.dir() != Some(Dir::Tx));
        density_strip(
            w,
            frames,
            scale,
            &strip,
            |i| (half(i), frame_kind(i)),
            kind_colour,
        );
        return;
    }
    w.open(El::group().stroke_width(1.5));
    for f in frames {
        let x = scale.x(f.t);
        let (y1, y2) = match f.dir() {
            Some(Dir::Tx) => (cy - 14.0, cy),
            Some(Dir::Rx) => (cy, cy + 14.0),
            _ => (cy - 7.0, cy + 7.0),
        };
        w.put(
            El::line(x, y1, x, y2)
                .stroke(kind_colour(frame_kind(f)))
                .title(&f.json),
        );
    }
    w.close();
}

fn draw_dots(w: &mut Writer, others: &[&Item], scale: &TimeScale, dot_y: f64) {
    if others.len() > DENSITY_LIMIT {
        let strip = Strip {
            y_top: [dot_y - 4.0, dot_y - 4.0],
            height: 8.0,
            what: "events",
        };
        density_strip(w, others, scale, &strip, |i| (0, dot_colour(i)), |c| c);
        return;
    }
    for o in others {
        w.put(
            El::circle(scale.x(o.t), dot_y, 2.5)
                .fill(dot_colour(o))
                .title(&o.json),
        );
    }
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
    w: &mut Writer,
    marks: &[&Item],
    scale: &TimeScale,
    strip: &Strip,
    classify: impl Fn(&Item) -> (usize, K),
    colour: impl Fn(K) -> Colour,
) {
    const BIN_PX: f64 = 2.0;
    let bins = (scale.width() / BIN_PX).ceil() as usize;
    // (half, bin) -> counts per colour key.
    let mut counts: BTreeMap<(usize, usize), BTreeMap<K, usize>> = BTreeMap::new();
    for item in marks {
        let (half, key) = classify(item);
        let bin =
            (((scale.x(item.t) - scale.left()) / BIN_PX) as usize).min(bins.saturating_sub(1));
        *counts
            .entry((half.min(1), bin))
            .or_default()
            .entry(key)
            .or_default() += 1;
    }
    let total = |m: &BTreeMap<K, usize>| m.values().sum::<usize>();
    let max = counts.values().map(total).max().unwrap_or(1).max(1);
    for ((half, bin), by_key) in &counts {
        // The most frequent key colours the bin; ties go to the smallest key.
        let mut best: Option<(K, usize)> = None;
        for (k, c) in by_key {
            if best.is_none_or(|(_, bc)| *c > bc) {
                best = Some((*k, *c));
            }
        }
        let x = scale.left() + *bin as f64 * BIN_PX;
        let (from, to) = (scale.t_at(x), scale.t_at(x + BIN_PX));
        let tip = format!(
            "{} {}, {}-{} ms",
            total(by_key),
            strip.what,
            super::svg::num(from),
            super::svg::num(to)
        );
        w.put(
            El::rect(x, strip.y_top[*half], BIN_PX, strip.height)
                .fill(best.map_or(GREY, |(k, _)| colour(k)))
                .fill_opacity(0.15 + 0.85 * total(by_key) as f64 / max as f64)
                .title(&tip),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_the_protocol_knows_has_its_kind() {
        for &(id, _) in ids::ALL {
            assert_ne!(kind_of(id.into()), Kind::Unknown, "id {id}");
        }
        // The extensions that used to be drawn as "other".
        assert_eq!(kind_of(ids::UPLOAD_STATUS_REQ.into()), Kind::UploadRequest);
        assert_eq!(kind_of(ids::UPLOAD_STATUS_RSP.into()), Kind::UploadReply);
        assert_eq!(kind_of(ids::PUSH_ACK.into()), Kind::Chat);
        assert_eq!(kind_of(ids::FILE_INFO_SYNC_REQ.into()), Kind::UploadRequest);
        assert_eq!(kind_of(ids::IMG_CHAT_DOWN_RSP.into()), Kind::Download);
        assert_eq!(kind_of(1050), Kind::Unknown);
        assert_eq!(kind_of(70_000), Kind::Unknown);
    }
}
