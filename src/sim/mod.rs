//! The simulated world: a scenario becomes turmoil hosts (`chat`, `resource`, one `user<uid>` per
//! user) running the real parties over simulated TCP and a simulated disk. Each user's
//! connections pass a fault proxy. The world steps the simulation, fires the scenario's faults,
//! stops when every transfer has settled or the time limit passes, records the final state of
//! the stores, and hands the trace to the oracles.

mod expect;
mod faults;
pub mod oracles;
mod panics;
mod settle;

pub use expect::{check_expectation, ExpectationResult, Strictness};

use crate::chat::{ChatConfig, ChatServer};
use crate::client::{Client, ClientConfig, SourceFile};
use crate::clock::{SimClock, SIM_EPOCH_SECS};
use crate::hash::stable_hash;
use crate::net::{Network, TurmoilNetwork};
use crate::profile::Profile;
use crate::protocol::{ChunkPlan, Framing};
use crate::proxy::{FaultProxy, RuleSet};
use crate::resource::{ResourceConfig, ResourceServer};
use crate::scenario::{Scenario, Step};
use crate::store::{
    DiskFaults, FaultyFiles, FileStore, MemoryMessages, MemoryUploads, MessageStore, SimFiles,
    UploadStore,
};
use crate::trace::{Event, Record, SimTrace, Tracer};
use crate::users::{User, Users};
use bytes::Bytes;
use md5::{Digest, Md5};
use oracles::Verdict;
use rand::{RngCore, SeedableRng};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

pub const CHAT_HOST: &str = "chat";
pub const RESOURCE_HOST: &str = "resource";
const CHAT_PORT: u16 = 8090;
const GRPC_PORT: u16 = 50051;
const RESOURCE_PORT: u16 = 8091;
/// How often the world looks at the trace to see whether the run has settled.
const SETTLE_CHECK_EVERY: Duration = Duration::from_millis(100);

pub fn user_host(uid: i32) -> String {
    format!("user{uid}")
}

/// The bytes of a scenario image: pseudo-random, from the seed and the name alone.
pub fn image_bytes(seed: u64, name: &str, size: u64) -> Bytes {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed ^ stable_hash(name.as_bytes()));
    let mut data = vec![0u8; size as usize];
    rng.fill_bytes(&mut data);
    Bytes::from(data)
}

/// A short hash of each chunk of `data`, seq 1 first.
pub fn chunk_hashes(data: &[u8]) -> Vec<String> {
    let plan = ChunkPlan::new(data.len() as u64);
    (1..=plan.max_seq())
        .filter_map(|seq| plan.range(seq))
        .map(|r| hex::encode(&Md5::digest(&data[r.start as usize..r.end as usize])[..4]))
        .collect()
}

/// How to run a scenario.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub seed: u64,
    pub profile: Profile,
}

impl RunOptions {
    /// The scenario's own seed and profile.
    pub fn of(scenario: &Scenario) -> Self {
        RunOptions {
            seed: scenario.seed,
            profile: scenario.profile(),
        }
    }
}

/// What a run produced.
pub struct Outcome {
    pub seed: u64,
    pub profile: Profile,
    pub records: Vec<Record>,
    pub sim_time: Duration,
    pub wall_time: Duration,
    /// Everything settled before the time limit.
    pub settled: bool,
    pub verdicts: Vec<Verdict>,
    /// The scenario's expectation for this profile, checked against the verdicts and the trace.
    pub expectation: ExpectationResult,
}

impl Outcome {
    /// The run met its scenario's expectation.
    pub fn passed(&self) -> bool {
        self.expectation.met()
    }
}

/// Runs `scenario` with its own seed and profile.
pub fn run(scenario: &Scenario, seed: u64) -> Outcome {
    run_with(
        scenario,
        &RunOptions {
            seed,
            profile: scenario.profile(),
        },
    )
}

/// Runs `scenario` and judges the trace.
pub fn run_with(scenario: &Scenario, options: &RunOptions) -> Outcome {
    let wall_start = Instant::now();
    let seed = options.seed;
    let trace = Arc::new(SimTrace::default());
    let limit = Duration::from_secs(scenario.time_limit_s);
    let users = Users::new(scenario.users.iter().map(|u| User {
        uid: u.uid,
        token: u.token(),
        name: u.name(),
    }));

    let [min_latency, max_latency] = scenario.link.latency_ms;
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .epoch(UNIX_EPOCH + Duration::from_secs(SIM_EPOCH_SECS))
        // The world stops stepping at the limit itself; turmoil's own limit is only a backstop.
        .simulation_duration(limit + Duration::from_secs(60))
        .tick_duration(Duration::from_millis(1))
        .min_message_latency(Duration::from_millis(min_latency))
        .max_message_latency(Duration::from_millis(max_latency))
        // Counts segments, not bytes; generous so that no party deadlocks on a full pipe.
        .tcp_capacity(4096)
        .build();

    let steps = scenario.steps();
    for (t, user, step) in &steps {
        if let Step::Image { name, size, .. } = step {
            let data = image_bytes(seed, name, *size);
            trace.record_at(
                Duration::from_millis(*t),
                &user_host(*user),
                Event::SourceFile {
                    file: name.clone(),
                    size: *size,
                    md5: hex::encode(Md5::digest(&data)),
                    chunk_hashes: chunk_hashes(&data),
                },
            );
        }
    }

    // The message table and the upload state live outside the server hosts, as upstream keeps
    // them in MySQL and Redis: a crash of a server does not lose them.
    let messages = Arc::new(MemoryMessages::default());
    let uploads = Arc::new(MemoryUploads::default());
    let disk = Arc::new(DiskFaults::default());
    let (finish_tx, finish_rx) = tokio::sync::watch::channel(false);
    let profile = options.profile.clone();

    {
        let (trace, users, messages, profile) = (
            trace.clone(),
            users.clone(),
            messages.clone(),
            profile.clone(),
        );
        sim.host(CHAT_HOST, move || {
            let server = ChatServer::new(
                ChatConfig {
                    listen: format!("0.0.0.0:{CHAT_PORT}"),
                    grpc_listen: format!("0.0.0.0:{GRPC_PORT}"),
                    profile: profile.clone(),
                    ..ChatConfig::default()
                },
                users.clone(),
                messages.clone(),
                Arc::new(SimClock::default()),
                Tracer::new(CHAT_HOST, trace.clone()),
            );
            async move {
                server.run(Arc::new(TurmoilNetwork)).await?;
                Ok(())
            }
        });
    }
    {
        let (trace, users, uploads, disk) =
            (trace.clone(), users.clone(), uploads.clone(), disk.clone());
        sim.host(RESOURCE_HOST, move || {
            let tracer = Tracer::new(RESOURCE_HOST, trace.clone());
            let disk_files: Arc<dyn FileStore> = Arc::new(SimFiles::new("/data"));
            let files: Arc<dyn FileStore> = Arc::new(FaultyFiles::new(
                disk_files.clone(),
                disk.clone(),
                tracer.clone(),
            ));
            let server = ResourceServer::new(
                ResourceConfig {
                    listen: format!("0.0.0.0:{RESOURCE_PORT}"),
                    chat_grpc: format!("{CHAT_HOST}:{GRPC_PORT}"),
                    profile: profile.clone(),
                    ..ResourceConfig::default()
                },
                users.clone(),
                files,
                uploads.clone(),
                tracer.clone(),
            );
            let auditor = audit_files(disk_files, uploads.clone(), tracer, finish_rx.clone());
            async move {
                tokio::spawn(auditor);
                server.run(Arc::new(TurmoilNetwork)).await?;
                Ok(())
            }
        });
    }

    let chat_addr = format!("{CHAT_HOST}:{CHAT_PORT}");
    let resource_addr = format!("{RESOURCE_HOST}:{RESOURCE_PORT}");
    let framings: BTreeMap<String, Framing> = [
        (chat_addr.clone(), Framing::Chat),
        (resource_addr.clone(), Framing::Resource),
    ]
    .into_iter()
    .collect();
    let bandwidth_bps = scenario.link.bandwidth_kbps.map(|k| k * 1000);
    let mut proxies = BTreeMap::new();
    for spec in &scenario.users {
        let uid = spec.uid;
        let host = user_host(uid);
        let rules = RuleSet::new(
            scenario
                .frame_faults
                .iter()
                .filter(|f| f.user.is_none_or(|u| u == uid))
                .cloned(),
        );
        let proxy = FaultProxy::new(
            framings.clone(),
            rules,
            bandwidth_bps,
            Tracer::new(&host, trace.clone()),
        );
        proxies.insert(host.clone(), proxy.clone());
        let mut config = ClientConfig::new(uid, &spec.token(), &chat_addr, &resource_addr);
        config.profile = options.profile.clone();
        let script: Vec<(u64, Step)> = steps
            .iter()
            .filter(|(_, user, _)| *user == uid)
            .map(|(t, _, step)| (*t, step.clone()))
            .collect();
        let trace = trace.clone();
        sim.host(host.as_str(), move || {
            let tracer = Tracer::new(&user_host(uid), trace.clone());
            let network = proxy.network(Arc::new(TurmoilNetwork));
            play(config.clone(), network, script.clone(), tracer, seed)
        });
    }

    let _panics = panics::capture(trace.clone());
    let mut schedule = faults::Schedule::new(&scenario.faults);
    let last_action = steps.iter().map(|(t, _, _)| *t).max().unwrap_or(0);
    let mut settled = false;
    let mut next_check = SETTLE_CHECK_EVERY;
    let mut host_error = None;
    while sim.elapsed() < limit {
        if let Err(err) = sim.step() {
            host_error = Some(err.to_string());
            break;
        }
        let now = sim.elapsed();
        let records = trace.records();
        let targets = faults::Targets {
            proxies: &proxies,
            disk: &disk,
            trace: &trace,
        };
        schedule.advance(&mut sim, now, &records, &targets);
        if now >= next_check {
            next_check += SETTLE_CHECK_EVERY;
            if now > Duration::from_millis(last_action)
                && !schedule.has_due()
                && settle::settled(&records)
            {
                settled = true;
                break;
            }
        }
    }
    if let Some(error) = host_error {
        trace.record_at(sim.elapsed(), "world", Event::HostFailed { error });
    }

    // Final state: the resource host's auditor reads the simulated disk; the chat store is plain.
    // A crashed resource host is started again first so its disk can be read.
    if !sim.is_host_running(RESOURCE_HOST) {
        sim.bounce(RESOURCE_HOST);
    }
    let _ = finish_tx.send(true);
    for _ in 0..10 {
        if sim.step().is_err() {
            break;
        }
    }
    let end = sim.elapsed();
    for stored in messages.all().unwrap_or_default() {
        let m = &stored.message;
        trace.record_at(
            end,
            CHAT_HOST,
            Event::FinalMessage {
                message_id: stored.message_id,
                from: m.sender_id,
                to: m.recv_id,
                msg_type: m.msg_type,
                status: m.status,
                content: m.content.clone(),
            },
        );
    }
    drop(_panics);
    let records = trace.records();
    let verdicts = oracles::judge(&records, settled);
    let strictness = if options.profile.is_reference() || options.profile == Profile::seed() {
        Strictness::Exact
    } else {
        Strictness::AtMost
    };
    let expectation = check_expectation(
        scenario.expect.for_profile(&options.profile),
        strictness,
        &verdicts,
        &records,
    );
    Outcome {
        seed,
        profile: options.profile.clone(),
        records,
        sim_time: end,
        wall_time: wall_start.elapsed(),
        settled,
        verdicts,
        expectation,
    }
}

/// A user's host: log in (retrying while the chat server is unreachable), then perform the
/// scenario's actions at their times, then keep serving pushes and downloads. After a crash and
/// restart, actions whose time has passed are not repeated.
async fn play(
    config: ClientConfig,
    network: Arc<dyn Network>,
    script: Vec<(u64, Step)>,
    tracer: Tracer,
    seed: u64,
) -> turmoil::Result {
    let started = turmoil::sim_elapsed().unwrap_or_default();
    let mut config = config;
    config.instance = started.as_millis() as u64;
    let client = loop {
        match Client::start(config.clone(), network.clone(), tracer.clone()).await {
            Ok(client) => break client,
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    };
    for (at_ms, step) in script {
        let at = Duration::from_millis(at_ms);
        if at < started {
            continue;
        }
        let now = turmoil::sim_elapsed().unwrap_or_default();
        if at > now {
            tokio::time::sleep(at - now).await;
        }
        match step {
            Step::Texts { to, contents } => client.send_texts(to, contents),
            Step::Image { to, size, name } => {
                let data = image_bytes(seed, &name, size);
                client.send_image(to, SourceFile { name, data });
            }
            Step::Pause { file } => client.pause(&file),
            Step::Resume { file } => client.resume(&file),
            Step::Cancel { file } => client.cancel(&file),
            Step::Logout => client.logout(),
            Step::Login => client.login(),
        }
    }
    std::future::pending::<()>().await;
    Ok(())
}

/// Waits for the end of the run, then records every upload the resource server holds, with the
/// hashes of the bytes actually on its (simulated) disk.
async fn audit_files(
    files: Arc<dyn FileStore>,
    uploads: Arc<dyn UploadStore>,
    tracer: Tracer,
    mut finish: tokio::sync::watch::Receiver<bool>,
) {
    while !*finish.borrow_and_update() {
        if finish.changed().await.is_err() {
            return;
        }
    }
    for record in uploads.all().unwrap_or_default() {
        let path = std::path::PathBuf::from(record.owner_uid.to_string()).join(&record.name);
        let bytes = files.read(&path).unwrap_or_default();
        tracer.emit(Event::FinalFile {
            file: record.name.clone(),
            owner: record.owner_uid,
            size: bytes.len() as u64,
            md5: hex::encode(Md5::digest(&bytes)),
            complete: record.complete,
            received: record.received.iter().copied().collect(),
            chunk_hashes: chunk_hashes(&bytes),
        });
    }
}
