//! Figures, not pass/fail: how fast the frame codec and the simulated world run on this machine.
//! Run with `cargo bench --bench throughput`. Compare figures from one run with each other (the
//! ratios), not with another machine's.

use bytes::BytesMut;
use chatsim::profile::Profile;
use chatsim::protocol::{Frame, FrameCodec, Framing};
use chatsim::sim::{RunOptions, Stepping};
use md5::Digest;
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

/// Bare turmoil moving what a 10 MiB upload and download move: `frames` frames of 43,900 bytes
/// from a client to a server, five in flight, each answered by a small ack, over 5 ms links. The
/// substrate's own cost, against which the full stack is compared.
fn bare_turmoil(frames: usize) -> f64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const FRAME: usize = 43_900;
    let start = Instant::now();
    let mut sim = turmoil::Builder::new()
        .min_message_latency(std::time::Duration::from_millis(5))
        .max_message_latency(std::time::Duration::from_millis(5))
        .tcp_capacity(4096)
        .simulation_duration(std::time::Duration::from_secs(600))
        .build();
    sim.host("server", move || async move {
        let listener = turmoil::net::TcpListener::bind("0.0.0.0:9000").await?;
        let (mut socket, _) = listener.accept().await?;
        let mut frame = vec![0u8; FRAME];
        for _ in 0..frames {
            socket.read_exact(&mut frame).await?;
            socket.write_all(&[1u8; 16]).await?;
        }
        Ok(())
    });
    sim.client("client", async move {
        let mut socket = turmoil::net::TcpStream::connect("server:9000").await?;
        let frame = vec![7u8; FRAME];
        let mut ack = [0u8; 16];
        let (mut sent, mut acked) = (0, 0);
        while acked < frames {
            while sent < frames && sent - acked < 5 {
                socket.write_all(&frame).await?;
                sent += 1;
            }
            socket.read_exact(&mut ack).await?;
            acked += 1;
        }
        Ok(())
    });
    sim.run().expect("the bare transfer completes");
    start.elapsed().as_secs_f64()
}

/// One image of `size` bytes uploaded and downloaded over 5 ms links by the full stack.
fn full_stack(size: u64) -> f64 {
    let text = format!(
        "time_limit_s = 600\n[link]\nlatency_ms = [5, 5]\n[[users]]\nuid = 1\n[[users]]\nuid = 2\n\
         [[actions]]\nat_ms = 100\nuser = 1\nimage = {{ to = 2, size = {size}, name = \"big.png\" }}\n"
    );
    let scenario = chatsim::scenario::parse(Path::new("bench.toml"), &text).expect("valid");
    let outcome = chatsim::sim::run(&scenario, 1);
    assert!(outcome.passed(), "{:?}", outcome.expectation.unmet);
    outcome.wall_time.as_secs_f64()
}

/// The full stack against bare turmoil, and how cost grows with size.
fn world_ratios() {
    const MIB: u64 = 1 << 20;
    let bare = bare_turmoil(640);
    let ten = full_stack(10 * MIB);
    let twenty = full_stack(20 * MIB);
    println!("world     bare turmoil, 640 frames of 43,900 B, window 5, 5 ms links: {bare:.3} s");
    println!(
        "world     full stack, 10 MiB up and down: {ten:.3} s = {:.1}x bare (target <= 3x)",
        ten / bare
    );
    println!(
        "world     full stack, 20 MiB up and down: {twenty:.3} s = {:.2}x the 10 MiB run (target <= 2.2x)",
        twenty / ten
    );
    // What the protocol itself costs: the sender, the resource server at completion and the
    // receiver each hash the whole file, which bare turmoil never does.
    let data = vec![7u8; 10 * MIB as usize];
    let start = Instant::now();
    std::hint::black_box(md5::Md5::digest(&data));
    let md5 = start.elapsed().as_secs_f64();
    println!(
        "world     MD5 of 10 MiB: {md5:.3} s; the three the protocol needs alone are {:.1}x bare",
        3.0 * md5 / bare
    );
}

/// Runs `scenario` stepped as `stepping`; returns the wall seconds it took.
fn run_stepped(scenario: &chatsim::scenario::Scenario, stepping: Stepping) -> f64 {
    let options = RunOptions {
        stepping,
        ..RunOptions::of(scenario)
    };
    chatsim::sim::run_with(scenario, &options)
        .wall_time
        .as_secs_f64()
}

/// A long partition: 300 simulated seconds in which almost nothing happens.
fn long_partition() {
    let text = "time_limit_s = 300\nliveness_s = 300\n[[users]]\nuid = 1\n[[users]]\nuid = 2\n\
        [[actions]]\nat_ms = 100\nuser = 1\nimage = { to = 2, size = 100000, name = \"p.png\" }\n\
        [[faults]]\nat_ms = 50\nkind = \"partition\"\na = \"user1\"\nb = \"resource\"\n";
    let scenario = chatsim::scenario::parse(Path::new("partition.toml"), text).expect("valid");
    let quiet = run_stepped(&scenario, Stepping::Quiet);
    let every_tick = run_stepped(&scenario, Stepping::EveryTick);
    println!(
        "world     300 s partition: {quiet:.3} s wall (target < 0.3 s); one tick at a time \
         {every_tick:.3} s, {:.0}x slower",
        every_tick / quiet
    );
}

/// The explorer's default mix, seeds 0..`count`, run one way and then the other: the rate of
/// each and their ratio, on one thread.
fn explorer_mix(count: u64) {
    let scenarios: Vec<_> = (0..count)
        .map(|seed| {
            let schedule = chatsim::explore::generate(seed, &Profile::reference());
            chatsim::scenario::parse(Path::new("explore.toml"), &schedule.to_toml())
                .expect("a generated schedule parses")
        })
        .collect();
    let rate = |stepping| {
        let wall: f64 = scenarios.iter().map(|s| run_stepped(s, stepping)).sum();
        count as f64 / wall
    };
    let (quiet, every_tick) = (rate(Stepping::Quiet), rate(Stepping::EveryTick));
    println!(
        "explore   default mix, seeds 0..{count}, one thread: {quiet:.1} schedules/s across quiet \
         stretches, {every_tick:.1} one tick at a time ({:.1}x; target 200)",
        quiet / every_tick
    );
}

fn main() {
    codec();
    world_ratios();
    long_partition();
    explorer_mix(100);
    scenario("scenarios/two-images-and-texts.toml", 5);
    scenario("scenarios/faults/slow-link.toml", 3);
    scenario("scenarios/faults/resource-restart-mid-upload.toml", 3);
}
