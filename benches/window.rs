//! Figures, not pass/fail: what the upload window costs on each link, for the seed's fixed window
//! and the adaptive one side by side (issue 14). One image over a grid of links (one-way latency
//! × bandwidth × 1 % chunk frame loss or none), then two files of very different sizes sharing a
//! link. Prints upload time, file goodput and wire utilisation per cell, the targets as
//! met/unmet, and writes an SVG plot of utilisation against round-trip time.
//!
//! The image is 10 MiB, or 25 bandwidth-delay products where that is more (15, 30 and 60 MiB at
//! 25, 50 and 100 ms one-way on 100 Mbit/s; the simulation takes images up to 64 MiB): a
//! transfer only a few round trips long is bounded below 90 % by its first and last round trips
//! whatever the window ("bound"), and any window that starts small needs a few more to find the
//! pipe. So the targets are judged on the **steady** utilisation, between the acks of a quarter
//! and of three quarters of the chunks, which neither the start nor the end weighs on; the whole
//! transfer's utilisation is printed beside it and beside its bound.
//!
//! The fairness part also prints, from each run's trace, what loss recovery cost the file that
//! completed first: how long after its last chunk answered at the first try it completed, and
//! the judged ratio had it completed then ("had recovery cost nothing") and had each of its
//! resends been answered one base round trip (the least in the trace) after the first reply to
//! a chunk sent after it, which is when the loss first shows to any sender ("fastest").
//!
//! Run with `cargo bench --bench window` (the whole grid) or `cargo bench --bench window --
//! --quick` (1, 25 and 100 ms on 100 Mbit/s; fairness at 25 ms with and without loss); `--svg
//! PATH` says where the plot goes (default `$CARGO_TARGET_DIR/window-bench.svg`, else
//! `target/window-bench.svg`).
//!
//! Upload time runs from the file's first chunk on the wire to its last ack (the chat server's
//! announce before it is the same for both policies). Wire utilisation counts each chunk
//! request's bytes on the wire (header, JSON, base64) once, retransmits excluded, over bandwidth
//! × upload time. "Bound" is what an unlimited window could reach: chunk 1 goes alone (it
//! creates the upload upstream), so the best time is wire bytes / bandwidth + two round trips.
//! Loss is every 100th chunk request and every 100th chunk reply dropped by the proxy.

use chatsim::client::WindowPolicy;
use chatsim::protocol::{ids, Framing};
use chatsim::sim::{run_with, RunOptions};
use chatsim::trace::{Dir, Event, Record};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

const MIB: u64 = 1 << 20;
/// The image is at least this big...
const IMAGE_MIN: u64 = 10 * MIB;
/// ...and at least this many bandwidth-delay products (within the simulation's 64 MiB).
const IMAGE_BDPS: u64 = 25;
const CHUNK: u64 = 32 * 1024;
const POLICIES: [WindowPolicy; 2] = [WindowPolicy::Fixed5, WindowPolicy::Adaptive];
/// A drop rule every this many chunk frames, each way: 1 % loss.
const LOSS_EVERY: u32 = 100;

#[derive(Clone, Copy)]
struct Link {
    latency_ms: u64,
    kbps: u64,
    loss: bool,
}

impl Link {
    fn rtt_ms(self) -> u64 {
        2 * self.latency_ms
    }

    /// The image for this link: `IMAGE_BDPS` bandwidth-delay products in whole MiB, at least
    /// `IMAGE_MIN`, at most the simulation's limit.
    fn image(self) -> u64 {
        let bdp = self.kbps * 1000 / 8 * self.rtt_ms() / 1000;
        let mib = (IMAGE_BDPS * bdp).div_ceil(MIB).max(IMAGE_MIN / MIB);
        (mib * MIB).min(chatsim::scenario::MAX_IMAGE_SIZE)
    }
}

struct Cell {
    link: Link,
    policy: WindowPolicy,
    upload_s: f64,
    goodput_mbps: f64,
    utilisation: f64,
    steady: f64,
    bound: f64,
    retransmits: usize,
    drops: usize,
    passed: bool,
}

fn scenario_text(link: Link, images: &[(&str, u64)]) -> String {
    let mut text = format!(
        "time_limit_s = 900\nliveness_s = 120\n[link]\nlatency_ms = [{l}, {l}]\nbandwidth_kbps = {}\n\
         [[users]]\nuid = 1\n[[users]]\nuid = 2\n[[actions]]\nat_ms = 100\nuser = 1\nimages = [",
        link.kbps,
        l = link.latency_ms
    );
    let list: Vec<String> = images
        .iter()
        .map(|(name, size)| format!("{{ to = 2, size = {size}, name = \"{name}\" }}"))
        .collect();
    text.push_str(&list.join(", "));
    text.push_str("]\n");
    if link.loss {
        // Every 100th chunk request and every 100th chunk reply; optional, as a short run may
        // not reach the later ones.
        let chunks: u64 = images.iter().map(|(_, size)| size.div_ceil(CHUNK)).sum();
        for k in 1..=(chunks / u64::from(LOSS_EVERY) + 1) as u32 {
            for (direction, id, offset) in [
                ("up", ids::IMG_CHAT_UPLOAD_REQ, 0),
                ("down", ids::IMG_CHAT_UPLOAD_RSP, LOSS_EVERY / 2),
            ] {
                let _ = write!(
                    text,
                    "[[frame_faults]]\naction = \"drop\"\ndirection = \"{direction}\"\nid = {id}\n\
                     nth = {}\noptional = true\n",
                    k * LOSS_EVERY - offset
                );
            }
        }
    }
    text
}

/// Runs one scenario with `policy`; the trace and whether it met its expectation.
fn run(text: &str, policy: WindowPolicy) -> (Vec<Record>, bool) {
    let scenario = chatsim::scenario::parse(Path::new("window-bench.toml"), text).expect("valid");
    let options = RunOptions {
        window: policy,
        ..RunOptions::of(&scenario)
    };
    let outcome = run_with(&scenario, &options);
    let passed = outcome.passed();
    (outcome.records, passed)
}

fn is_chunk_request(id: u16) -> bool {
    matches!(
        id,
        ids::FILE_INFO_SYNC_REQ | ids::IMG_CHAT_UPLOAD_REQ | ids::IMG_CHAT_CONTINUE_UPLOAD_REQ
    )
}

/// The sender's upload of one file.
struct Upload {
    /// Seconds from the first chunk on the wire to the last ack.
    secs: f64,
    /// Wire bytes of its chunk requests, each seq counted once.
    wire: u64,
    /// Requests sent again.
    retransmits: usize,
    /// When each chunk was first acked (ms), in order.
    acks_ms: Vec<u64>,
}

impl Upload {
    /// Utilisation while the acks of the second and third quarters of the chunks came in.
    fn steady(&self, bps: f64) -> f64 {
        let n = self.acks_ms.len();
        let (from, to) = (n / 4, 3 * n / 4);
        if to <= from + 1 {
            return f64::NAN;
        }
        let secs = (self.acks_ms[to] - self.acks_ms[from]) as f64 / 1000.0;
        let bytes = self.wire as f64 * (to - from) as f64 / n as f64;
        bytes * 8.0 / (bps * secs)
    }
}

fn upload_figures(records: &[Record], file: &str) -> Option<Upload> {
    let mut first = None;
    let mut done = None;
    let mut seen = BTreeSet::new();
    let mut acked = BTreeSet::new();
    let mut acks_ms = Vec::new();
    let (mut wire, mut again) = (0u64, 0usize);
    for r in records.iter().filter(|r| r.host == "user1") {
        match &r.event {
            Event::ChunkSent { file: f, .. } if f == file => {
                first.get_or_insert(r.t_ms);
            }
            Event::ChunkAcked {
                file: f,
                seq,
                error: 0,
                ..
            } if f == file && acked.insert(*seq) => acks_ms.push(r.t_ms),
            Event::UploadAcked { file: f } if f == file => done = Some(r.t_ms),
            Event::Frame {
                dir: Dir::Tx,
                id,
                len,
                file: Some(f),
                seq: Some(seq),
                ..
            } if f == file && is_chunk_request(*id) => {
                if seen.insert(*seq) {
                    wire += (len + Framing::Resource.header_len()) as u64;
                } else {
                    again += 1;
                }
            }
            _ => {}
        }
    }
    let ms = done?.checked_sub(first?)?;
    Some(Upload {
        secs: ms as f64 / 1000.0,
        wire,
        retransmits: again,
        acks_ms,
    })
}

fn drops(records: &[Record]) -> usize {
    records
        .iter()
        .filter(|r| matches!(&r.event, Event::Fault { kind, .. } if kind == "frame_drop"))
        .count()
}

fn measure(link: Link, policy: WindowPolicy) -> Cell {
    let text = scenario_text(link, &[("big.png", link.image())]);
    let (records, passed) = run(&text, policy);
    let upload = upload_figures(&records, "big.png").unwrap_or(Upload {
        secs: f64::NAN,
        wire: 0,
        retransmits: 0,
        acks_ms: Vec::new(),
    });
    let bps = link.kbps as f64 * 1000.0;
    let wire = upload.wire as f64 * 8.0;
    let best = wire / bps + 2.0 * link.rtt_ms() as f64 / 1000.0;
    Cell {
        link,
        policy,
        upload_s: upload.secs,
        goodput_mbps: link.image() as f64 * 8.0 / upload.secs / 1e6,
        utilisation: wire / (bps * upload.secs),
        steady: upload.steady(bps),
        bound: wire / (bps * best),
        retransmits: upload.retransmits,
        drops: drops(&records),
        passed,
    }
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "UNMET"
    }
}

fn print_grid(cells: &[Cell]) {
    println!(
        "{:>7} {:>9} {:>5} {:>6} | {:>41} | {:>48} | {:>5} | adaptive target (steady)",
        "latency",
        "bandwidth",
        "loss",
        "image",
        "fixed5: time goodput whole (steady)",
        "adaptive: time goodput whole (steady) rtx",
        "bound"
    );
    let mut met = 0;
    for pair in cells.chunks(2) {
        let (fixed, adaptive) = (&pair[0], &pair[1]);
        let link = fixed.link;
        let target = if link.loss { 0.70 } else { 0.90 };
        let show = |c: &Cell| {
            format!(
                "{:>7.2} s {:>5.1} Mbit/s {:>4.0} % ({:>3.0} %){}",
                c.upload_s,
                c.goodput_mbps,
                c.utilisation * 100.0,
                c.steady * 100.0,
                if c.passed { "" } else { " FAIL" }
            )
        };
        let ok = adaptive.steady >= target && adaptive.passed;
        met += usize::from(ok);
        println!(
            "{:>5} ms {:>4} Mbit {:>5} {:>2} MiB | {:>41} | {:>41} {:>6} | {:>3.0} % | >= {:.0} %: {}",
            link.latency_ms,
            link.kbps / 1000,
            if link.loss { "1 %" } else { "0" },
            link.image() / MIB,
            show(fixed),
            show(adaptive),
            adaptive.retransmits,
            fixed.bound * 100.0,
            target * 100.0,
            verdict(ok),
        );
    }
    println!(
        "adaptive targets met in {met} of {} cells (steady >= 90 % without loss, >= 70 % with 1 % \
         loss); \"whole\" is the whole transfer, \"bound\" the most any window gets of it",
        cells.len() / 2
    );
    let drops: usize = cells.iter().map(|c| c.drops).sum();
    println!("(frames dropped by the loss rules over the whole grid: {drops})");
}

/// Two files of very different sizes sent together: each one's goodput while both are under way,
/// from the first chunk to the first completion (smaller over larger), and each one's share of
/// the chunk requests put on the wire (retransmits included) until one of them has no new chunk
/// left to send: the per-file sharing itself, without the wait for a lost chunk's recovery; and
/// what loss recovery cost the file that completed first ([`Recovery`]).
fn fairness(link: Link, policy: WindowPolicy) -> (f64, f64, f64, f64, Recovery) {
    let (big, small) = ("big.png", "small.png");
    let text = scenario_text(link, &[(big, IMAGE_MIN), (small, MIB)]);
    let (records, _) = run(&text, policy);
    let user = |r: &&Record| r.host == "user1";
    let start = records
        .iter()
        .filter(user)
        .find(|r| matches!(r.event, Event::ChunkSent { .. }))
        .map_or(0, |r| r.t_ms);
    let first_done = records.iter().filter(user).find_map(|r| match &r.event {
        Event::UploadAcked { file } => Some((file.as_str(), r.t_ms)),
        _ => None,
    });
    let end = first_done.map_or(u64::MAX, |(_, t)| t);
    let mut acked: BTreeMap<&str, u64> = BTreeMap::new();
    for r in records.iter().filter(user).filter(|r| r.t_ms <= end) {
        if let Event::ChunkAcked { file, error: 0, .. } = &r.event {
            *acked.entry(file.as_str()).or_default() += 1;
        }
    }
    let secs = (end - start) as f64 / 1000.0;
    let rate =
        |f: &str| acked.get(f).copied().unwrap_or(0) as f64 * 32.0 * 1024.0 * 8.0 / secs / 1e6;
    let (a, b) = (rate(big), rate(small));
    let (first, done) = first_done.unwrap_or((small, end));
    let other = if first == big { small } else { big };
    let cost = recovery(&records, first, other, done);
    (a, b, a.min(b) / a.max(b), wire_share(&records), cost)
}

/// One upload's chunks in the trace: when each was first sent, which went again, and each
/// successful reply (ms, file, seq) in order.
#[derive(Default)]
struct Chunks<'a> {
    first_sent: BTreeMap<(&'a str, u32), u64>,
    resent: BTreeSet<(&'a str, u32)>,
    acks: Vec<(u64, &'a str, u32)>,
}

impl<'a> Chunks<'a> {
    fn of(records: &'a [Record]) -> Self {
        let mut chunks = Chunks::default();
        for r in records.iter().filter(|r| r.host == "user1") {
            match &r.event {
                Event::ChunkSent {
                    file,
                    seq,
                    retransmit,
                    ..
                } => {
                    if *retransmit {
                        chunks.resent.insert((file.as_str(), *seq));
                    } else {
                        chunks.first_sent.insert((file.as_str(), *seq), r.t_ms);
                    }
                }
                Event::ChunkAcked {
                    file,
                    seq,
                    error: 0,
                    ..
                } => chunks.acks.push((r.t_ms, file.as_str(), *seq)),
                _ => {}
            }
        }
        chunks
    }

    /// Successful replies to `file` by `t`.
    fn acked_by(&self, file: &str, t: u64) -> usize {
        self.acks
            .iter()
            .filter(|&&(at, f, _)| f == file && at <= t)
            .count()
    }

    /// The least round trip of a chunk answered at its first try.
    fn base_rtt(&self) -> u64 {
        self.acks
            .iter()
            .filter(|(_, f, seq)| !self.resent.contains(&(*f, *seq)))
            .filter_map(|(at, f, seq)| Some(at - self.first_sent.get(&(*f, *seq))?))
            .min()
            .unwrap_or(0)
    }

    /// The earliest a resend of `key` could be answered: one base round trip after the first
    /// reply to a chunk sent after it, which is when its loss first shows.
    fn fastest_recovery(&self, key: (&str, u32), base: u64) -> u64 {
        let sent = self.first_sent.get(&key).copied().unwrap_or(0);
        let shown = self
            .acks
            .iter()
            .filter(|(_, f, seq)| self.first_sent.get(&(*f, *seq)).is_some_and(|&t| t > sent))
            .map(|&(at, _, _)| at)
            .min()
            .unwrap_or(sent);
        shown + base
    }
}

/// What loss recovery cost the file that completed first, from the trace.
struct Recovery {
    file: String,
    resent: usize,
    /// From its last chunk answered at the first try to its completion (ms).
    delay_ms: u64,
    /// The judged ratio had it completed with that last chunk...
    free: f64,
    /// ...and had each of its resends been answered as early as any window could have it.
    fastest: f64,
}

/// The judged ratio had `first` (of `total` chunks) completed at `t`.
fn ratio_at(chunks: &Chunks, other: &str, total: usize, t: u64) -> f64 {
    let (a, b) = (total as f64, chunks.acked_by(other, t) as f64);
    a.min(b) / a.max(b)
}

fn recovery(records: &[Record], first: &str, other: &str, done: u64) -> Recovery {
    let chunks = Chunks::of(records);
    let total = chunks.acked_by(first, done);
    let resent: Vec<(&str, u32)> = chunks
        .resent
        .iter()
        .filter(|(f, _)| *f == first)
        .copied()
        .collect();
    let fresh = chunks
        .acks
        .iter()
        .filter(|(at, f, seq)| *f == first && *at <= done && !resent.contains(&(*f, *seq)))
        .map(|&(at, _, _)| at)
        .max()
        .unwrap_or(done);
    let base = chunks.base_rtt();
    let fastest = resent
        .iter()
        .map(|&key| chunks.fastest_recovery(key, base))
        .fold(fresh, u64::max)
        .min(done);
    Recovery {
        file: first.to_owned(),
        resent: resent.len(),
        delay_ms: done.saturating_sub(fresh),
        free: ratio_at(&chunks, other, total, fresh),
        fastest: ratio_at(&chunks, other, total, fastest),
    }
}

/// Chunk requests each file sent until the first of them sent its last new chunk: smaller count
/// over larger.
fn wire_share(records: &[Record]) -> f64 {
    let mut last_new: BTreeMap<&str, u64> = BTreeMap::new();
    for r in records.iter().filter(|r| r.host == "user1") {
        if let Event::ChunkSent {
            file,
            retransmit: false,
            ..
        } = &r.event
        {
            last_new.insert(file.as_str(), r.t_ms);
        }
    }
    let until = last_new.values().copied().min().unwrap_or(0);
    let mut sent: BTreeMap<&str, u64> = BTreeMap::new();
    for r in records
        .iter()
        .filter(|r| r.host == "user1" && r.t_ms <= until)
    {
        if let Event::ChunkSent { file, .. } = &r.event {
            *sent.entry(file.as_str()).or_default() += 1;
        }
    }
    let counts: Vec<f64> = sent.values().map(|&n| n as f64).collect();
    match counts[..] {
        [a, b] => a.min(b) / a.max(b),
        _ => f64::NAN,
    }
}

fn print_fairness(quick: bool) {
    let links: &[Link] = if quick {
        &[
            Link {
                latency_ms: 25,
                kbps: 100_000,
                loss: false,
            },
            Link {
                latency_ms: 25,
                kbps: 100_000,
                loss: true,
            },
        ]
    } else {
        &[
            Link {
                latency_ms: 5,
                kbps: 10_000,
                loss: false,
            },
            Link {
                latency_ms: 25,
                kbps: 100_000,
                loss: false,
            },
            Link {
                latency_ms: 25,
                kbps: 100_000,
                loss: true,
            },
        ]
    };
    println!(
        "\nfairness: 10 MiB and 1 MiB sent together, goodput of each until the first completes \
         (the target is judged on this)"
    );
    for &link in links {
        for policy in POLICIES {
            let (big, small, ratio, share, cost) = fairness(link, policy);
            println!(
                "{:>5} ms {:>4} Mbit {:>3} {:>8}: 10 MiB {big:>6.1} Mbit/s, 1 MiB {small:>6.1} Mbit/s, \
                 smaller/larger {:.2}: within 20 % {} (chunk requests while both had new ones: \
                 {share:.2})",
                link.latency_ms,
                link.kbps / 1000,
                if link.loss { "1 %" } else { "0" },
                policy.name(),
                ratio,
                verdict(ratio >= 0.8)
            );
            print_recovery(&cost);
        }
    }
}

fn print_recovery(cost: &Recovery) {
    if cost.resent == 0 {
        println!("{:>28}recovery: {} had no chunk sent again", "", cost.file);
        return;
    }
    println!(
        "{:>28}recovery: {} sent {} chunk(s) again, completed {} ms after its last first-try \
         answer; smaller/larger had recovery cost nothing {:.2}, with the fastest recovery {:.2}",
        "", cost.file, cost.resent, cost.delay_ms, cost.free, cost.fastest
    );
}

/// Utilisation against round-trip time: one line per policy and bandwidth, solid without loss,
/// dashed with 1 % loss.
fn svg(cells: &[Cell]) -> String {
    let (w, h, left, right, top, bottom) = (760.0, 420.0, 60.0, 200.0, 30.0, 50.0);
    let rtts: BTreeSet<u64> = cells.iter().map(|c| c.link.rtt_ms()).collect();
    let max_rtt = *rtts.iter().max().unwrap_or(&200) as f64;
    // Round trips span two decades: a log axis keeps 2 ms and 200 ms apart.
    let x = |rtt: f64| left + (rtt.max(1.0).ln() / max_rtt.ln()) * (w - left - right);
    let y = |u: f64| top + (1.0 - u.clamp(0.0, 1.0)) * (h - top - bottom);
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">"#
    );
    let _ = write!(out, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = write!(
        out,
        r#"<text x="{left}" y="18" font-size="13">Whole-transfer wire utilisation against round-trip time (image: 10 MiB or 25 bandwidth-delay products)</text>"#
    );
    for u in [0.0, 0.25, 0.5, 0.75, 0.9, 1.0] {
        let _ = write!(
            out,
            r##"<line x1="{left}" x2="{}" y1="{y}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{:.0} %</text>"##,
            w - right,
            left - 6.0,
            y(u) + 4.0,
            u * 100.0,
            y = y(u)
        );
    }
    for rtt in &rtts {
        let xv = x(*rtt as f64);
        let _ = write!(
            out,
            r##"<line x1="{xv}" x2="{xv}" y1="{top}" y2="{}" stroke="#eee"/><text x="{xv}" y="{}" text-anchor="middle">{rtt} ms</text>"##,
            h - bottom,
            h - bottom + 16.0
        );
    }
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">round-trip time (log scale)</text>"#,
        (left + w - right) / 2.0,
        h - 12.0
    );
    let colours = ["#1f77b4", "#9ecae1", "#d62728", "#ff9896"];
    let mut legend_y = top + 10.0;
    for (pi, policy) in POLICIES.iter().enumerate() {
        let kbps_set: BTreeSet<u64> = cells.iter().map(|c| c.link.kbps).collect();
        for (bi, kbps) in kbps_set.iter().rev().enumerate() {
            let colour = colours[(pi * 2 + bi) % colours.len()];
            for loss in [false, true] {
                let points: Vec<String> = cells
                    .iter()
                    .filter(|c| c.policy == *policy && c.link.kbps == *kbps && c.link.loss == loss)
                    .filter(|c| c.utilisation.is_finite())
                    .map(|c| format!("{:.1},{:.1}", x(c.link.rtt_ms() as f64), y(c.utilisation)))
                    .collect();
                if points.is_empty() {
                    continue;
                }
                let dash = if loss {
                    r#" stroke-dasharray="6 4""#
                } else {
                    ""
                };
                let _ = write!(
                    out,
                    r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>"#,
                    points.join(" ")
                );
                let lx = w - right + 12.0;
                let _ = write!(
                    out,
                    r#"<line x1="{lx}" x2="{}" y1="{legend_y}" y2="{legend_y}" stroke="{colour}" stroke-width="2"{dash}/><text x="{}" y="{}">{} {} Mbit{}</text>"#,
                    lx + 24.0,
                    lx + 30.0,
                    legend_y + 4.0,
                    policy.name(),
                    kbps / 1000,
                    if loss { ", 1 % loss" } else { "" }
                );
                legend_y += 18.0;
            }
        }
    }
    out.push_str("</svg>\n");
    out
}

fn svg_path(args: &[String]) -> PathBuf {
    if let Some(i) = args.iter().position(|a| a == "--svg") {
        if let Some(path) = args.get(i + 1) {
            return PathBuf::from(path);
        }
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    target.join("window-bench.svg")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let (latencies, bandwidths): (&[u64], &[u64]) = if quick {
        (&[1, 25, 100], &[100_000])
    } else {
        (&[1, 5, 25, 50, 100], &[10_000, 100_000])
    };
    let wall = Instant::now();
    println!(
        "window bench: one image of {} MiB or {IMAGE_BDPS} bandwidth-delay products, whichever is \
         more, reference profile{}",
        IMAGE_MIN / MIB,
        if quick { ", --quick subset" } else { "" }
    );
    let mut cells = Vec::new();
    for &loss in &[false, true] {
        for &kbps in bandwidths {
            for &latency_ms in latencies {
                let link = Link {
                    latency_ms,
                    kbps,
                    loss,
                };
                for policy in POLICIES {
                    cells.push(measure(link, policy));
                }
            }
        }
    }
    print_grid(&cells);
    print_fairness(quick);
    let path = svg_path(&args);
    match std::fs::write(&path, svg(&cells)) {
        Ok(()) => println!("\nplot: {}", path.display()),
        Err(err) => println!("\nplot not written to {}: {err}", path.display()),
    }
    println!("wall time: {:.1} s", wall.elapsed().as_secs_f64());
}
