//! Section 12: uploads across the frame-aware fault proxy, the same code that stands between
//! client and servers in the simulation, here wrapping tokio's TCP. The proxy duplicates,
//! reorders, delays, drops, slices frames, paces the link or resets the connection; each case
//! checks that the server still ends with the right file, and writes to its transcript every
//! fault the proxy applied (`!! proxy ...` lines).
//!
//! A case whose proxy did not apply its fault proves nothing about the server: it is reported
//! as could-not-run, not as a pass.

use super::flows::{expect_identical, match_ack};
use crate::conform::ctx::{ChunkKind, ChunkSend, Ctx, Upload};
use crate::conform::verdict::{could_not_run, ensure, fail, Finding, Outcome};
use crate::conform::wire::{describe, Conn, FaultLog, Incoming};
use crate::protocol::{ids, CHUNK_SIZE, MAX_CWND};
use crate::proxy::{Direction, FrameAction, FrameFault};
use std::time::Duration;
use tokio::time::Instant;

const CHUNK: usize = CHUNK_SIZE as usize;
/// A request is sent at most this many times before its missing ack fails the case.
const MAX_SENDS: u32 = 3;
/// The slow link of 12.6, in bits per second each way.
const SLOW_LINK_BPS: u64 = 2_000_000;

/// A fault on every frame with message id `id` of `file` going `direction`.
fn fault(action: FrameAction, direction: Direction, id: u16, file: &str) -> FrameFault {
    FrameFault {
        action,
        user: None,
        direction: Some(direction),
        id: Some(id),
        file: Some(file.to_owned()),
        seq: None,
        nth: 1,
        count: 0,
        from_ms: None,
        until_ms: None,
        delay_ms: 0,
        set: Default::default(),
        optional: false,
    }
}

/// How [`send_windowed`] sends.
#[derive(Debug, Clone, Copy)]
struct Plan {
    /// At most this many requests sent and not answered at any time.
    window: usize,
    /// Acks expected for each request the case puts on the wire (2 when the proxy doubles it).
    copies: u32,
    /// Send a request again when it has no ack this long after it was sent; `None`: never, a
    /// missing ack fails the case after the connection's timeout.
    retransmit_after: Option<Duration>,
}

impl Plan {
    fn window(window: usize) -> Self {
        Plan {
            window,
            copies: 1,
            retransmit_after: None,
        }
    }
}

/// What happened during [`send_windowed`].
#[derive(Debug, Default)]
struct Flight {
    /// The most requests that were sent and had no ack yet, at one time.
    max_unanswered: usize,
    /// The seqs sent again after their timeout, in order.
    resent: Vec<u32>,
}

/// Per request: when it was last sent, how often, and how many acks came for it.
#[derive(Debug, Clone, Copy, Default)]
struct Sent {
    at: Option<Instant>,
    sends: u32,
    acks: u32,
}

/// Sends `sends` with at most `plan.window` unanswered, like a client: every ack must be a
/// success reply with the right id that names a chunk the case sent, and no chunk may be
/// answered more often than it was sent (times `plan.copies`). Acks may come in any order.
async fn send_windowed(
    conn: &mut Conn,
    sends: &[ChunkSend],
    plan: Plan,
) -> Result<Flight, Finding> {
    let mut state = vec![Sent::default(); sends.len()];
    let mut flight = Flight::default();
    let mut next = 0;
    let unanswered = |state: &[Sent]| state.iter().filter(|s| s.sends > 0 && s.acks == 0).count();
    loop {
        while next < sends.len() && unanswered(&state) < plan.window.max(1) {
            conn.send(&sends[next].frame).await?;
            state[next] = Sent {
                at: Some(Instant::now()),
                sends: 1,
                acks: 0,
            };
            next += 1;
        }
        flight.max_unanswered = flight.max_unanswered.max(unanswered(&state));
        if next == sends.len() && state.iter().all(|s| s.acks >= plan.copies) {
            break;
        }
        let wait = match plan.retransmit_after {
            None => conn.timeout(),
            Some(rto) => state
                .iter()
                .filter(|s| s.sends > 0 && s.acks == 0)
                .filter_map(|s| s.at)
                .map(|at| (at + rto).saturating_duration_since(Instant::now()))
                .min()
                .unwrap_or(conn.timeout())
                .max(Duration::from_millis(1)),
        };
        match conn.next_within(wait).await {
            Incoming::Frame(frame) => {
                let index = check_ack(&frame, sends, &state)?;
                state[index].acks += 1;
                let s = state[index];
                ensure!(
                    s.acks <= s.sends * plan.copies,
                    "seq {} of {} was answered {} times for {} requests",
                    sends[index].seq,
                    sends[index].name,
                    s.acks,
                    s.sends * plan.copies
                );
            }
            Incoming::TimedOut(_) if plan.retransmit_after.is_some() => {
                let rto = plan.retransmit_after.unwrap_or_default();
                let now = Instant::now();
                for (i, s) in state.iter_mut().enumerate() {
                    let due = s.sends > 0 && s.acks == 0 && s.at.is_some_and(|at| at + rto <= now);
                    if !due {
                        continue;
                    }
                    ensure!(
                        s.sends < MAX_SENDS,
                        "no ack for seq {} of {} after sending it {} times, {} ms apart",
                        sends[i].seq,
                        sends[i].name,
                        s.sends,
                        rto.as_millis()
                    );
                    conn.send(&sends[i].frame).await?;
                    s.sends += 1;
                    s.at = Some(now);
                    flight.resent.push(sends[i].seq);
                }
            }
            other => {
                return Err(fail(format!(
                    "waiting for a chunk ack: {}",
                    describe(&other)
                )))
            }
        }
    }
    // A request sent again may have had its first copy answered late: such acks may still come.
    if !flight.resent.is_empty() {
        let quiet = plan.retransmit_after.unwrap_or(conn.timeout());
        loop {
            let expected: u32 = state.iter().map(|s| s.sends * plan.copies).sum();
            let acked: u32 = state.iter().map(|s| s.acks).sum();
            if acked >= expected {
                break;
            }
            match conn.next_within(quiet).await {
                Incoming::Frame(frame) => {
                    let index = check_ack(&frame, sends, &state)?;
                    state[index].acks += 1;
                }
                Incoming::TimedOut(_) => break,
                other => return Err(fail(format!("waiting for late acks: {}", describe(&other)))),
            }
        }
    }
    Ok(flight)
}

/// Which sent request `frame` answers; it must be a success reply with the request's reply id.
fn check_ack(
    frame: &crate::protocol::Frame,
    sends: &[ChunkSend],
    state: &[Sent],
) -> Result<usize, Finding> {
    let sent = (0..sends.len()).filter(|&i| state[i].sends > 0);
    match_ack(frame, sends, sent, "sent").map(|(index, _)| index)
}

/// The case's fault did not happen: whatever the server did, the case tested nothing.
fn expect_faults(log: &FaultLog, kind: &str, at_least: usize) -> Result<usize, Finding> {
    let applied = log.count(kind);
    if applied < at_least {
        return Err(could_not_run(format!(
            "the fault proxy applied {applied} {kind} faults where the case needs {at_least}; it \
             tested nothing"
        )));
    }
    Ok(applied)
}

/// One line in the transcript summing up what the proxy did.
fn summary(ctx: &Ctx, log: &FaultLog) {
    let mut kinds: Vec<String> = log.faults().into_iter().map(|(kind, _)| kind).collect();
    kinds.sort();
    kinds.dedup();
    let counts: Vec<String> = kinds
        .iter()
        .map(|kind| format!("{} {kind}", log.count(kind)))
        .collect();
    ctx.transcript.push(format!(
        "-- the fault proxy applied: {}",
        if counts.is_empty() {
            "nothing".to_owned()
        } else {
            counts.join(", ")
        }
    ));
}

/// Chunk 1 alone (its ack opens the window, as a client waits for it), then the others.
async fn upload_windowed(conn: &mut Conn, upload: &Upload, plan: Plan) -> Result<Flight, Finding> {
    let first = Plan {
        window: 1,
        retransmit_after: None,
        ..plan
    };
    send_windowed(conn, &[upload.send(1, ChunkKind::Normal)], first).await?;
    send_windowed(conn, &upload.rest(), plan).await
}

/// 12.1: the proxy doubles every chunk request: each copy is acked, the file is stored once.
pub async fn duplicated_chunks(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("proxy-duplicated", 4 * CHUNK - 300).await?;
    let faults = [ids::FILE_INFO_SYNC_REQ, ids::IMG_CHAT_UPLOAD_REQ]
        .map(|id| fault(FrameAction::Duplicate, Direction::Up, id, &upload.name))
        .to_vec();
    let (proxy, log) = ctx.resource_proxy(faults, None);
    let mut conn = ctx.resource_via(&proxy).await?;
    let plan = Plan {
        copies: 2,
        ..Plan::window(MAX_CWND)
    };
    upload_windowed(&mut conn, &upload, plan).await?;
    summary(ctx, &log);
    expect_faults(&log, "frame_duplicate", upload.max_seq() as usize)?;
    expect_identical(ctx, &mut conn, &upload).await
}

/// 12.2: every second 1037 is held back until its successor passed, so chunk 3 arrives before
/// 2, 5 before 4, and so on: each is written at its own offset.
pub async fn reordered_chunks(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("proxy-reordered", 9 * CHUNK - 1234).await?;
    let pairs: Vec<u32> = (2..upload.max_seq()).step_by(2).collect();
    let faults = pairs
        .iter()
        .map(|&seq| FrameFault {
            seq: Some(seq),
            count: 1,
            ..fault(
                FrameAction::Reorder,
                Direction::Up,
                ids::IMG_CHAT_UPLOAD_REQ,
                &upload.name,
            )
        })
        .collect();
    let (proxy, log) = ctx.resource_proxy(faults, None);
    let mut conn = ctx.resource_via(&proxy).await?;
    upload_windowed(&mut conn, &upload, Plan::window(MAX_CWND)).await?;
    summary(ctx, &log);
    expect_faults(&log, "frame_reorder", pairs.len())?;
    expect_identical(ctx, &mut conn, &upload).await
}

/// 12.3: every ack is held back by the proxy, so the window of 5 fills and the case waits,
/// never sending a sixth unanswered chunk; the upload still completes.
pub async fn delayed_acks(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("proxy-delayed-acks", 10 * CHUNK - 1000).await?;
    let delay = (ctx.timeout() / 5).clamp(Duration::from_millis(20), Duration::from_millis(300));
    let faults = [ids::FILE_INFO_SYNC_RSP, ids::IMG_CHAT_UPLOAD_RSP]
        .map(|id| FrameFault {
            delay_ms: delay.as_millis() as u64,
            ..fault(FrameAction::Delay, Direction::Down, id, &upload.name)
        })
        .to_vec();
    let (proxy, log) = ctx.resource_proxy(faults, None);
    let mut conn = ctx.resource_via(&proxy).await?;
    let started = Instant::now();
    let flight = upload_windowed(&mut conn, &upload, Plan::window(MAX_CWND)).await?;
    let took = started.elapsed();
    summary(ctx, &log);
    ctx.transcript.push(format!(
        "-- at most {} chunks were unanswered at once; the upload took {} ms",
        flight.max_unanswered,
        took.as_millis()
    ));
    expect_faults(&log, "frame_delay", upload.max_seq() as usize)?;
    ensure!(
        flight.max_unanswered <= MAX_CWND,
        "the case sent {} unanswered chunks, more than the window of {MAX_CWND}",
        flight.max_unanswered
    );
    expect_identical(ctx, &mut conn, &upload).await
}

/// 12.4: the proxy loses chunk 3 on its way to the server; the case sends it again after its
/// timeout, and the server completes the file with it, whatever came in between.
pub async fn dropped_chunk_resent(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("proxy-dropped", 6 * CHUNK - 500).await?;
    let lost = 3;
    let faults = vec![FrameFault {
        seq: Some(lost),
        count: 1,
        ..fault(
            FrameAction::Drop,
            Direction::Up,
            ids::IMG_CHAT_UPLOAD_REQ,
            &upload.name,
        )
    }];
    let (proxy, log) = ctx.resource_proxy(faults, None);
    let mut conn = ctx.resource_via(&proxy).await?;
    let plan = Plan {
        retransmit_after: Some(ctx.quiet_period()),
        ..Plan::window(MAX_CWND)
    };
    let flight = upload_windowed(&mut conn, &upload, plan).await?;
    summary(ctx, &log);
    ctx.transcript.push(format!(
        "-- sent again after a timeout: seqs {:?}",
        flight.resent
    ));
    expect_faults(&log, "frame_drop", 1)?;
    ensure!(
        flight.resent.contains(&lost),
        "chunk {lost} was lost on the way, yet an ack for it came (the resent seqs are {:?})",
        flight.resent
    );
    expect_identical(ctx, &mut conn, &upload).await
}

/// 12.5: the proxy resets the connection after four acked chunks; the case reconnects and
/// continues with 1043 from chunk 5, and the server completes the file.
pub async fn reset_and_resume(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("proxy-reset", 8 * CHUNK - 4321).await?;
    let (proxy, log) = ctx.resource_proxy(Vec::new(), None);
    let mut first = ctx.resource_via(&proxy).await?;
    send_windowed(
        &mut first,
        &[upload.send(1, ChunkKind::Normal)],
        Plan::window(1),
    )
    .await?;
    let before = upload.sends(2..=4, ChunkKind::Normal);
    send_windowed(&mut first, &before, Plan::window(MAX_CWND)).await?;
    proxy.reset();
    match first.next().await {
        Incoming::Closed(_) => {}
        other => {
            return Err(could_not_run(format!(
                "the fault proxy reset the connection, yet it did not end: {}",
                describe(&other)
            )))
        }
    }
    drop(first);
    let mut second = ctx.resource_via_again(&proxy).await?;
    let rest = upload.sends(5..=upload.max_seq(), ChunkKind::Resume);
    send_windowed(&mut second, &rest, Plan::window(MAX_CWND)).await?;
    summary(ctx, &log);
    expect_faults(&log, "reset", 1)?;
    expect_identical(ctx, &mut second, &upload).await
}

/// 12.6: a 2 Mbit/s link: the upload takes at least as long as its bytes need on it, and
/// completes (the download is made without the proxy).
pub async fn slow_link(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("proxy-slow-link", 6 * CHUNK - 1000).await?;
    let (proxy, log) = ctx.resource_proxy(Vec::new(), Some(SLOW_LINK_BPS));
    let mut conn = ctx.resource_via(&proxy).await?;
    let started = Instant::now();
    upload_windowed(&mut conn, &upload, Plan::window(MAX_CWND)).await?;
    let took = started.elapsed();
    let needed = Duration::from_nanos(
        (upload.data.len() as u64 * 8).saturating_mul(1_000_000_000) / SLOW_LINK_BPS,
    );
    summary(ctx, &log);
    ctx.transcript.push(format!(
        "-- {} bytes over {} bit/s took {} ms; the raw bytes alone need {} ms",
        upload.data.len(),
        SLOW_LINK_BPS,
        took.as_millis(),
        needed.as_millis()
    ));
    if took < needed {
        return Err(could_not_run(format!(
            "the upload took {} ms, less than the {} ms its bytes need at {SLOW_LINK_BPS} bit/s: \
             the proxy did not slow the link",
            took.as_millis(),
            needed.as_millis()
        )));
    }
    drop(conn);
    let mut direct = ctx.resource().await?;
    expect_identical(ctx, &mut direct, &upload).await
}

/// 12.7: the proxy delivers every chunk request in pieces (cuts inside the header and the
/// body, a few milliseconds apart): the server puts each frame together again.
pub async fn sliced_frames(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("proxy-sliced", 3 * CHUNK - 100).await?;
    let faults = [ids::FILE_INFO_SYNC_REQ, ids::IMG_CHAT_UPLOAD_REQ]
        .map(|id| FrameFault {
            delay_ms: 3,
            ..fault(FrameAction::Slice, Direction::Up, id, &upload.name)
        })
        .to_vec();
    let (proxy, log) = ctx.resource_proxy(faults, None);
    let mut conn = ctx.resource_via(&proxy).await?;
    upload_windowed(&mut conn, &upload, Plan::window(MAX_CWND)).await?;
    summary(ctx, &log);
    expect_faults(&log, "frame_slice", upload.max_seq() as usize)?;
    expect_identical(ctx, &mut conn, &upload).await
}
