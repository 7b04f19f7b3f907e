//! The simulated world: a scenario becomes turmoil hosts (`chat`, `resource`, one `user<uid>` per
//! user) running the real parties over simulated TCP and a simulated disk. The world steps the
//! simulation until every transfer has settled or the time limit passes, then records the final
//! state of the stores and hands the trace to the oracles.

pub mod oracles;
mod panics;
mod settle;

use crate::chat::{ChatConfig, ChatServer};
use crate::client::{Client, ClientConfig, SourceFile};
use crate::clock::{SimClock, SIM_EPOCH_SECS};
use crate::hash::stable_hash;
use crate::net::{Network, TurmoilNetwork};
use crate::protocol::codes::status;
use crate::resource::{ResourceConfig, ResourceServer};
use crate::scenario::{Scenario, Step};
use crate::store::{FileStore, MemoryMessages, MemoryUploads, MessageStore, SimFiles, UploadStore};
use crate::trace::{Event, Record, SimTrace, Tracer};
use crate::users::{User, Users};
use bytes::Bytes;
use md5::{Digest, Md5};
use oracles::Verdict;
use rand::{RngCore, SeedableRng};
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

/// What a run produced.
pub struct Outcome {
    pub seed: u64,
    pub records: Vec<Record>,
    pub sim_time: Duration,
    pub wall_time: Duration,
    /// Everything settled before the time limit.
    pub settled: bool,
    pub verdicts: Vec<Verdict>,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.verdicts.iter().all(|v| v.violation.is_none())
    }
}

/// Runs `scenario` with `seed` and judges the trace.
pub fn run(scenario: &Scenario, seed: u64) -> Outcome {
    let wall_start = Instant::now();
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
                },
            );
        }
    }

    let messages = Arc::new(MemoryMessages::default());
    let uploads = Arc::new(MemoryUploads::default());
    let (finish_tx, finish_rx) = tokio::sync::watch::channel(false);

    {
        let (trace, users, messages) = (trace.clone(), users.clone(), messages.clone());
        sim.host(CHAT_HOST, move || {
            let server = ChatServer::new(
                ChatConfig {
                    listen: format!("0.0.0.0:{CHAT_PORT}"),
                    grpc_listen: format!("0.0.0.0:{GRPC_PORT}"),
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
        let (trace, users, uploads) = (trace.clone(), users.clone(), uploads.clone());
        sim.host(RESOURCE_HOST, move || {
            let files: Arc<dyn FileStore> = Arc::new(SimFiles::new("/data"));
            let server = ResourceServer::new(
                ResourceConfig {
                    listen: format!("0.0.0.0:{RESOURCE_PORT}"),
                    chat_grpc: format!("{CHAT_HOST}:{GRPC_PORT}"),
                    ..ResourceConfig::default()
                },
                users.clone(),
                files.clone(),
                uploads.clone(),
                Arc::new(SimClock::default()),
                Tracer::new(RESOURCE_HOST, trace.clone()),
            );
            let auditor = audit_files(
                files,
                uploads.clone(),
                Tracer::new(RESOURCE_HOST, trace.clone()),
                finish_rx.clone(),
            );
            async move {
                tokio::spawn(auditor);
                server.run(Arc::new(TurmoilNetwork)).await?;
                Ok(())
            }
        });
    }
    for spec in &scenario.users {
        let uid = spec.uid;
        let host = user_host(uid);
        let config = ClientConfig::new(
            uid,
            &spec.token(),
            &format!("{CHAT_HOST}:{CHAT_PORT}"),
            &format!("{RESOURCE_HOST}:{RESOURCE_PORT}"),
        );
        let script: Vec<(u64, Step)> = steps
            .iter()
            .filter(|(_, user, _)| *user == uid)
            .map(|(t, _, step)| (*t, step.clone()))
            .collect();
        let trace = trace.clone();
        sim.host(host.as_str(), move || {
            let tracer = Tracer::new(&user_host(uid), trace.clone());
            play(config.clone(), script.clone(), tracer, seed)
        });
    }

    let _panics = panics::capture(trace.clone());
    let last_action = steps.iter().map(|(t, _, _)| *t).max().unwrap_or(0);
    let mut settled = false;
    let mut next_check = SETTLE_CHECK_EVERY;
    let mut host_error = None;
    while sim.elapsed() < limit {
        if let Err(err) = sim.step() {
            host_error = Some(err.to_string());
            break;
        }
        if sim.elapsed() >= next_check {
            next_check += SETTLE_CHECK_EVERY;
            if sim.elapsed() > Duration::from_millis(last_action)
                && settle::settled(&trace.records())
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
    Outcome {
        seed,
        records,
        sim_time: end,
        wall_time: wall_start.elapsed(),
        settled,
        verdicts,
    }
}

/// A user's host: log in (retrying while the chat server is unreachable), then perform the
/// scenario's actions at their times, then keep serving pushes and downloads.
async fn play(
    config: ClientConfig,
    script: Vec<(u64, Step)>,
    tracer: Tracer,
    seed: u64,
) -> turmoil::Result {
    let network: Arc<dyn Network> = Arc::new(TurmoilNetwork);
    let client = loop {
        match Client::start(config.clone(), network.clone(), tracer.clone()).await {
            Ok(client) => break client,
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    };
    for (at_ms, step) in script {
        let now = turmoil::sim_elapsed().unwrap_or_default();
        let at = Duration::from_millis(at_ms);
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
/// md5 of the bytes actually on its (simulated) disk.
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
        let (size, md5) = match files.read(&path) {
            Ok(bytes) => (bytes.len() as u64, hex::encode(Md5::digest(&bytes))),
            Err(_) => (0, String::new()),
        };
        tracer.emit(Event::FinalFile {
            file: record.name.clone(),
            owner: record.owner_uid,
            size,
            md5,
            complete: record.complete,
        });
    }
}

/// Status of a finished upload's message, for readers of final states.
pub const UPLOADED_STATUS: i32 = status::READED;
