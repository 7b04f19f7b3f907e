//! Figures, not pass/fail: how fast the frame codec and the simulated world run on this machine.
//! Run with `cargo bench --bench throughput`. Compare figures from one run with each other (the
//! ratios), not with another machine's.

use bytes::BytesMut;
use chatsim::protocol::{Frame, FrameCodec, Framing};
use std::path::Path;
use std::time::Instant;
use tokio_util::codec::{Decoder, Encoder};

fn codec() {
    // A chunk frame as the client sends it: 32 KiB of data is 43,692 base64 characters.
    let body = vec![b'A'; 43_900];
    let frames = 2_000;
    let mut codec = FrameCodec::upstream(Framing::Resource);
    let start = Instant::now();
    let mut buf = BytesMut::new();
    for _ in 0..frames {
        codec
            .encode(Frame::new(1037, body.clone()), &mut buf)
            .expect("fits the limit");
    }
    let mut decoded = 0;
    while let Some(frame) = codec.decode(&mut buf).expect("valid stream") {
        decoded += frame.body.len();
    }
    let secs = start.elapsed().as_secs_f64();
    let mib = decoded as f64 / (1 << 20) as f64;
    println!(
        "codec     {frames} resource frames of {} B encoded and decoded: {:.0} MiB/s",
        body.len(),
        mib / secs
    );
}

fn scenario(path: &str, runs: u32) {
    let scenario = chatsim::scenario::load(Path::new(path)).expect("scenario loads");
    let mut wall = 0.0;
    let mut simulated = 0.0;
    let mut events = 0;
    for _ in 0..runs {
        let outcome = chatsim::sim::run(&scenario, scenario.seed);
        assert!(outcome.passed(), "{path} must meet its expectation");
        wall += outcome.wall_time.as_secs_f64();
        simulated += outcome.sim_time.as_secs_f64();
        events += outcome.records.len();
    }
    let runs_f = f64::from(runs);
    println!(
        "scenario  {path}: {:.3} s wall per run, {:.1} s simulated per wall second, {} events per run",
        wall / runs_f,
        simulated / wall,
        events / runs as usize
    );
}

fn main() {
    codec();
    scenario("scenarios/two-images-and-texts.toml", 5);
    scenario("scenarios/faults/slow-link.toml", 3);
    scenario("scenarios/faults/resource-restart-mid-upload.toml", 3);
}
