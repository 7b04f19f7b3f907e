//! The HTML page: the timeline, a legend, and a table of faults and errors. No scripts,
//! stylesheets or fonts from elsewhere.

use super::item::Item;
use super::lanes::{DENSITY_LIMIT, KINDS};
use super::truncate;
use crate::html::escape as esc;
use crate::protocol::MAX_CWND;
use serde_json::Value;
use std::fmt::Write;

/// At most this many rows in the HTML table of problems.
const MAX_TABLE_ROWS: usize = 1000;

const STYLE: &str = "<style>\n\
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
     </style>\n";

/// The page around `svg`, the timeline of `items`.
pub fn page(items: &[Item], svg: &str, title: &str) -> String {
    let problems: Vec<&Item> = items.iter().filter(|i| i.is_problem()).collect();
    let t_max = items.iter().map(|i| i.t).max().unwrap_or(0);
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    let _ = writeln!(out, "<title>{}</title>", esc(title));
    out.push_str(STYLE);
    out.push_str("</head>\n<body>\n");
    let _ = writeln!(out, "<h1>{}</h1>", esc(title));
    let _ = writeln!(
        out,
        "<p>{} trace events over {} ms of simulated time; {} faults or errors. Hover over any mark to see its record.</p>",
        items.len(),
        t_max,
        problems.len()
    );
    let _ = writeln!(out, "<div class=\"chart\">\n{svg}</div>");
    legend(&mut out);
    problem_table(&mut out, &problems);
    out.push_str("</body>\n</html>\n");
    out
}

fn legend(out: &mut String) {
    out.push_str("<h2>Legend</h2>\n<ul class=\"legend\">\n");
    for (_, colour, label, ids) in KINDS {
        let _ = writeln!(
            out,
            "<li><span class=\"sw\" style=\"background:{}\"></span>frame: {} ({})</li>",
            colour.0,
            esc(label),
            esc(ids)
        );
    }
    for line in [
        "On a host's lane, a tick above the line is a frame sent (tx), below it a frame received (rx).".to_owned(),
        "Dots below a lane are the host's other events: grey as usual, red for an error, orange for a closed connection.".to_owned(),
        format!("A lane with more than {DENSITY_LIMIT} frames is drawn as a density strip: darker means more frames."),
        format!("Window: chunks a client has in flight after each send or ack; the dashed red line is MAX_CWND = {MAX_CWND}; the dashed orange line is the adaptive window's limit, where the client has one."),
        "Progress: one line per file, as the sender reports it; a dashed continuation means no further progress until the end of the trace.".to_owned(),
        "On a progress line: ■ upload committed (resource), ○ upload notified (sender), ▲ download done (receiver), ✕ upload failed.".to_owned(),
        "Vertical lines: red for a fault, panic, host failure, refused chunk, rejected or failed upload; orange for a closed connection. Labels that repeat side by side are drawn once with a count (×3); labels with no room are left out, their lines keep their tooltips.".to_owned(),
        "A pale band with // on the axis is a stretch without events, compressed; the duration under it is the time skipped.".to_owned(),
    ] {
        let _ = writeln!(out, "<li>{}</li>", esc(&line));
    }
    out.push_str("</ul>\n");
}

fn problem_table(out: &mut String, problems: &[&Item]) {
    out.push_str("<h2>Faults and errors</h2>\n");
    if problems.is_empty() {
        out.push_str("<p>None.</p>\n");
        return;
    }
    out.push_str(
        "<table>\n<thead><tr><th>t (ms)</th><th>host</th><th>event</th><th>details</th></tr></thead>\n<tbody>\n",
    );
    for p in problems.iter().take(MAX_TABLE_ROWS) {
        let _ = writeln!(
            out,
            "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td><td class=\"detail\">{}</td></tr>",
            p.t,
            esc(&p.host),
            esc(&p.name),
            esc(&truncate(&details(p), 300))
        );
    }
    out.push_str("</tbody>\n</table>\n");
    if problems.len() > MAX_TABLE_ROWS {
        let more = problems.len() - MAX_TABLE_ROWS;
        let _ = writeln!(out, "<p>… and {more} more.</p>");
    }
}

/// `key=value, ...` of a record's fields besides time, host and tag.
fn details(p: &Item) -> String {
    let Value::Object(map) = &p.value else {
        return String::new();
    };
    let fields = map
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "t_ms" | "host" | "event"));
    let shown: Vec<String> = fields
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect();
    shown.join(", ")
}
