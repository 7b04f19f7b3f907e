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
}

/// A long partition: 300 simulated seconds in which almost nothing happens.
fn long_partition() {
    let text = "time_limit_s = 300\nliveness_s = 300\n[[users]]\nuid = 1\n[[users]]\nuid = 2\n\
        [[actions]]\nat_ms = 100\nuser = 1\nimage = { to = 2, size = 100000, name = \"p.png\" }\n\
        [[faults]]\nat_ms = 50\nkind = \"partition\"\na = \"user1\"\nb = \"resource\"\n";
    let scenario = chatsim::scenario::parse(Path::new("partition.toml"), text).expect("valid");
    let outcome = chatsim::sim::run(&scenario, 1);
    println!(
        "world     300 s partition: {:.3} s wall for {:.0} s simulated (target < 0.3 s)",
        outcome.wall_time.as_secs_f64(),
        outcome.sim_time.as_secs_f64()
    );
}

fn main() {
    codec();
    world_ratios();
    long_partition();
    scenario("scenarios/two-images-and-texts.toml", 5);
    scenario("scenarios/faults/slow-link.toml", 3);
    scenario("scenarios/faults/resource-restart-mid-upload.toml", 3);
}
