//! The timeline as a whole: panels, escaping, determinism, labels, compression.

use super::*;
use crate::protocol::MAX_CWND;
use crate::trace::{Dir, Event};
use lanes::DENSITY_LIMIT;

fn rec(t_ms: u64, host: &str, event: Event) -> Record {
    Record {
        t_ms,
        host: host.to_owned(),
        event,
    }
}

fn frame(dir: Dir, id: u16, name: &'static str, file: Option<&str>) -> Event {
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
        rec(5, "user1", frame(Dir::Tx, 1005, "login", None)),
        rec(9, "chat", frame(Dir::Rx, 1005, "login", None)),
        rec(12, "chat", frame(Dir::Tx, 1006, "login_rsp", None)),
        rec(
            100,
            "user1",
            frame(Dir::Tx, 1041, "first_chunk", Some(file)),
        ),
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
            frame(Dir::Rx, 1041, "first_chunk", Some(file)),
        ),
        rec(
            105,
            "resource",
            frame(Dir::Tx, 1042, "first_chunk_rsp", Some(file)),
        ),
        rec(
            110,
            "user1",
            frame(Dir::Rx, 1042, "first_chunk_rsp", Some(file)),
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
    assert!(svg.contains(r#"class="progress" data-file="a.png""#));
    assert!(svg.contains(r#"<g class="window" data-host="user1">"#));
    assert!(svg.contains(&format!("MAX_CWND {MAX_CWND}")));
    assert!(svg.contains(r#"<g class="marker" data-event="conn_closed">"#));
    assert!(svg.contains("<title>{&quot;t_ms&quot;:5,"));
}

/// The adaptive window's limit is drawn beside what is in flight; the fixed window has none.
#[test]
fn the_window_panel_draws_the_adaptive_limit_only_where_there_is_one() {
    let fixed = render_svg(&sample("a.png"), "t");
    assert!(!fixed.contains("window-limit"));
    let mut adaptive = sample("a.png");
    for (t, window) in [(100, 5), (108, 9), (111, 14)] {
        let changed = Event::WindowChanged {
            window,
            reason: "slow_start",
        };
        adaptive.push(rec(t, "user1", changed));
    }
    adaptive.sort_by_key(|r| r.t_ms);
    let svg = render_svg(&adaptive, "t");
    assert!(svg.contains(r#"class="window-limit""#), "{svg}");
    assert!(svg.contains("adaptive window"));
    // The scale reaches the limit's peak, and no window_changed dot lands on the lane.
    assert!(svg.contains(">14</text>"), "the axis does not reach 14");
    assert!(!svg.contains(r#"data-event="window_changed""#));
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
    let html = page::page(&items, &svg, "t");
    assert!(html.contains("<td>fault</td>"));
    assert!(html.contains("detail=user1&lt;-&gt;resource"));
    assert!(!html.contains("<td>some_new_thing</td>"));
}

#[test]
fn many_frames_become_a_density_strip() {
    let records: Vec<Record> = (0..DENSITY_LIMIT as u64 + 10)
        .map(|i| rec(i, "user1", frame(Dir::Tx, 1037, "chunk", None)))
        .collect();
    let svg = render_svg(&records, "t");
    assert_eq!(svg.matches("<title>{").count(), 0, "no mark per frame");
    assert!(svg.contains(" frames, "));
    assert!(svg.len() < 400_000, "{} bytes", svg.len());
}

#[test]
fn renders_a_real_simulation() {
    let s =
        crate::scenario::load(std::path::Path::new("scenarios/two-images-and-texts.toml")).unwrap();
    let o = crate::sim::run(&s, s.seed);
    let title = format!("two-images-and-texts (seed {})", s.seed);
    let svg = render_svg(&o.records, &title);
    for host in ["user1", "user2", "chat", "resource"] {
        assert!(
            svg.contains(&format!(r#"<g class="lane" data-host="{host}">"#)),
            "{host}"
        );
    }
    assert_eq!(svg.matches(r#"class="progress" data-file="#).count(), 2);
    for file in ["holiday.png", "cat.png"] {
        assert!(svg.contains(&format!(r#"class="progress" data-file="{file}""#)));
    }
    let html = render_html(&o.records, &title);
    assert!(html.contains(&svg));
    // For a person to look at: TIMELINE_HTML=/tmp/timeline.html cargo test --lib timeline
    if let Some(path) = std::env::var_os("TIMELINE_HTML") {
        std::fs::write(path, &html).unwrap();
    }
}

fn fault(t_ms: u64, host: &str, kind: &str) -> Record {
    rec(
        t_ms,
        host,
        Event::Fault {
            kind: kind.into(),
            detail: "x".into(),
        },
    )
}

/// An attribute of an element written on one line.
fn attr<'a>(line: &'a str, name: &str) -> &'a str {
    let key = format!(" {name}=\"");
    let start = line
        .find(&key)
        .map(|i| i + key.len())
        .unwrap_or_else(|| panic!("{name} in {line}"));
    let len = line[start..].find('"').unwrap();
    &line[start..start + len]
}

/// The boxes of the marker labels: (row's y, left, right, text).
fn label_boxes(svg: &str) -> Vec<(f64, f64, f64, String)> {
    svg.lines()
        .filter(|l| l.contains(r#"class="marker-label""#))
        .map(|l| {
            let x: f64 = attr(l, "x").parse().unwrap();
            let y: f64 = attr(l, "y").parse().unwrap();
            let start = l.find('>').unwrap() + 1;
            let text = &l[start..l.find("<title>").unwrap()];
            let width = text_width(text, 10.0);
            let left = match attr(l, "text-anchor") {
                "end" => x - width,
                "middle" => x - width / 2.0,
                _ => x,
            };
            (y, left, left + width, text.to_owned())
        })
        .collect()
}

#[test]
fn marker_labels_close_together_never_overlap() {
    // Forty faults a millisecond apart, in a run of 100 ms: far more labels than room.
    let mut records = sample("a.png");
    let kinds = ["partition", "frame_corrupt", "disk_full", "reset"];
    for i in 0..40u64 {
        let host = format!("user{}", i % 3 + 1);
        records.push(fault(100 + i, &host, kinds[i as usize % kinds.len()]));
    }
    let svg = render_svg(&records, "t");
    let boxes = label_boxes(&svg);
    assert!(boxes.len() >= 8, "some labels are drawn: {}", boxes.len());
    let rows: std::collections::BTreeSet<u64> = boxes.iter().map(|b| b.0 as u64).collect();
    assert!(
        rows.len() > 1 && rows.len() <= markers::MAX_ROWS,
        "{rows:?}"
    );
    for (i, a) in boxes.iter().enumerate() {
        for b in &boxes[i + 1..] {
            let apart = a.0 != b.0 || a.2 <= b.1 || b.2 <= a.1;
            assert!(apart, "{a:?} overlaps {b:?}");
        }
        assert!(a.1 >= 0.0 && a.2 <= WIDTH, "{a:?} leaves the picture");
    }
    // The rest are counted, not silently dropped.
    assert!(svg.contains("marker labels left out (hover the lines)"));
    assert_eq!(
        svg.matches(r#"<g class="marker" data-event="fault">"#)
            .count(),
        40
    );
}

#[test]
fn the_purge_scenarios_labels_do_not_overlap() {
    // The scenario whose labels printed over each other: fifteen markers within 130 ms.
    let path = std::path::Path::new("scenarios/faults/purge-one-of-two-files.toml");
    let s = crate::scenario::load(path).unwrap();
    let boxes = label_boxes(&render_svg(&crate::sim::run(&s, s.seed).records, "t"));
    assert!(boxes.len() >= 10, "{}", boxes.len());
    for (i, a) in boxes.iter().enumerate() {
        for b in &boxes[i + 1..] {
            assert!(
                a.0 != b.0 || a.2 <= b.1 || b.2 <= a.1,
                "{a:?} overlaps {b:?}"
            );
        }
    }
}

#[test]
fn repeated_labels_side_by_side_are_drawn_once_with_a_count() {
    let mut records = sample("a.png");
    for i in 0..3 {
        records.push(fault(100 + i, "user1", "frame_corrupt"));
    }
    let boxes = label_boxes(&render_svg(&records, "t"));
    let corrupt: Vec<_> = boxes
        .iter()
        .filter(|b| b.3.contains("frame_corrupt"))
        .collect();
    assert_eq!(corrupt.len(), 1, "{boxes:?}");
    assert!(corrupt[0].3.ends_with("×3"), "{:?}", corrupt[0]);
}

#[test]
fn an_idle_stretch_is_compressed_and_marked() {
    // The sample's activity (5-180 ms), then forty seconds of nothing, then one fault.
    let mut records = sample("a.png");
    records.push(fault(40_180, "world", "partition"));
    let svg = render_svg(&records, "t");
    assert!(
        svg.contains("40000 ms without events (180-40180 ms), compressed"),
        "the break's tooltip"
    );
    assert!(
        svg.contains(">+40.0 s<"),
        "the skipped duration under the break"
    );
    // The activity takes most of the width instead of the first half percent.
    let login_rsp = svg.lines().find(|l| l.contains("login_rsp")).unwrap();
    let last_frame = svg
        .lines()
        .rfind(|l| l.contains("first_chunk_rsp"))
        .unwrap();
    let span = attr(last_frame, "x1").parse::<f64>().unwrap()
        - attr(login_rsp, "x1").parse::<f64>().unwrap();
    assert!(span > 600.0, "{span}");
}
