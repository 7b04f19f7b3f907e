//! The simulated world: a scenario becomes turmoil hosts (`chat`, `resource`, one `user<uid>` per
//! user) running the real parties over simulated TCP and a simulated disk. Each user's
//! connections pass a fault proxy. The world steps the simulation, fires the scenario's faults,
//! stops when every transfer has settled or the time limit passes, records the final state of
//! the stores, and hands the trace to the oracles.

mod books;
mod clock;
mod crash_point;
mod expect;
mod faults;
mod files;
pub mod oracles;
mod panics;
mod sources;
mod trace;

pub use clock::{SimClock, SimElapsed, SIM_EPOCH_SECS};
pub use expect::{check_expectation, ExpectationResult, Strictness};
pub use faults::FaultRecord;
pub use files::SimFiles;
pub use trace::SimTrace;

use crate::chat::{ChatConfig, ChatServer};
use crate::client::{Client, ClientConfig, WindowPolicy};
use crate::net::{HostSockets, Network, TurmoilNetwork};
use crate::probe::{ConnCounts, Prober};
use crate::profile::Profile;
use crate::protocol::Framing;
use crate::proxy::{FaultProxy, RuleSet};
use crate::resource::{ResourceConfig, ResourceServer};
use crate::scenario::{Scenario, Step};
use crate::store::{
    ChatRoutes, DiskFaults, FaultyFiles, FileStore, MemoryMessages, MemoryPresence, MemoryUploads,
    MessageStore, UploadStore,
};
use crate::trace::{Event, Record, Tracer};
use crate::users::{User, Users};
use books::{ActionLog, Books};
use crash_point::{CrashSwitch, Crashable};
use oracles::Verdict;
use sources::Sources;
pub use sources::{chunk_hash, image_bytes};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

pub const CHAT_HOST: &str = "chat";
pub const RESOURCE_HOST: &str = "resource";
const CHAT_PORT: u16 = 8090;
const GRPC_PORT: u16 = 50051;
const RESOURCE_PORT: u16 = 8091;
/// How often the world looks at its books to see whether the run has settled.
const SETTLE_CHECK_EVERY: Duration = Duration::from_millis(100);

/// turmoil's tick: the simulation's unit of time.
const TICK: Duration = Duration::from_millis(1);

/// Where clients reach the chat server on `host`.
fn chat_addr(host: &str) -> String {
    format!("{host}:{CHAT_PORT}")
}

pub fn user_host(uid: i32) -> String {
    format!("user{uid}")
}

/// How to run a scenario.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub seed: u64,
    pub profile: Profile,
    /// A mutant for testing the verdicts: the users never carry out their actions. A run like
    /// this did none of its work and must never pass (`tests/verdicts.rs`).
    pub skip_actions: bool,
    /// The clients' upload window.
    pub window: WindowPolicy,
    /// A mutant for testing the two-server scenarios: the chat servers never call each other
    /// (`tests/two_chat.rs`).
    pub no_forwards: bool,
    /// How the world steps turmoil: straight across quiet stretches (the default) or one tick at
    /// a time, the slow reference. Both give the same verdicts (`tests/stepping.rs`); traces may
    /// differ where two tasks were ready at the same moment (README "Stepping").
    pub stepping: Stepping,
    /// A mutant for testing the quiet-step check: the parties' timers are not announced, so they
    /// fire inside quiet steps and the run must be voided (`tests/stepping.rs`).
    pub silent_timers: bool,
    /// How many waiting chunks the resource server stores as one group (1, as every scenario
    /// runs; more puts the group-commit paths that `serve` takes under the scenarios' faults,
    /// `tests/group_commit.rs`).
    pub chunk_group: usize,
}

impl RunOptions {
    /// The scenario's own seed and profile.
    pub fn of(scenario: &Scenario) -> Self {
        RunOptions {
            seed: scenario.seed,
            profile: scenario.profile(),
            skip_actions: false,
            window: scenario.window,
            no_forwards: false,
            chunk_group: 1,
            stepping: Stepping::default(),
            silent_timers: false,
        }
    }
}

/// How the world steps the simulation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Stepping {
    /// Across a quiet stretch (no message in flight, no timer due, nothing for the world to do)
    /// in one step, to the tick before the next thing that can happen.
    #[default]
    Quiet,
    /// One 1 ms tick at a time, as turmoil steps by default.
    EveryTick,
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
    /// Every scenario fault and when it fired.
    pub faults: Vec<FaultRecord>,
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
            ..RunOptions::of(scenario)
        },
    )
}

/// Runs `scenario` and judges the trace.
pub fn run_with(scenario: &Scenario, options: &RunOptions) -> Outcome {
    let wall_start = Instant::now();
    let mut world = World::build(scenario, options);
    world.step_until_settled();
    world.finish(wall_start)
}

/// A scenario made into turmoil hosts, with the books the world keeps on them.
struct World<'a> {
    scenario: &'a Scenario,
    options: RunOptions,
    sim: turmoil::Sim<'static>,
    trace: Arc<SimTrace>,
    /// How far the world has read the trace.
    cursor: usize,
    messages: Arc<MemoryMessages>,
    disk: Arc<DiskFaults>,
    /// The crash points of the stores beside the hosts, by host (`chat`, `resource`).
    store_crashes: BTreeMap<String, Arc<CrashSwitch>>,
    /// Each host's open connections, closed in a fixed order when the host crashes.
    sockets: BTreeMap<String, Arc<HostSockets>>,
    finish_tx: tokio::sync::watch::Sender<bool>,
    /// Each user host's fault proxy, and the scenario's indices of the frame faults it applies.
    proxies: BTreeMap<String, Arc<FaultProxy>>,
    frame_fault_indices: BTreeMap<String, Vec<usize>>,
    schedule: faults::Schedule,
    log: Arc<ActionLog>,
    books: Books,
    settled: bool,
}

impl<'a> World<'a> {
    fn build(scenario: &'a Scenario, options: &RunOptions) -> Self {
        let trace = Arc::new(SimTrace::default());
        let steps = scenario.steps();
        let sources = Arc::new(Sources::generate(&steps, options.seed));
        sources.record(&trace, &steps);
        let mut sim = turmoil_builder(scenario, options.seed).build();
        // The parties' timers tell turmoil when they are due, so quiet stretches take one step.
        // One tick at a time needs no announcements (they would only pile up unread).
        let announce = options.stepping == Stepping::Quiet && !options.silent_timers;
        crate::timer::announce_with(match announce {
            true => turmoil::wake_at,
            false => |_| {},
        });
        // The message table and the upload state live outside the server hosts, as upstream
        // keeps them in MySQL and Redis: a crash of a server does not lose them.
        let messages = Arc::new(MemoryMessages::default());
        let uploads = Arc::new(MemoryUploads::default());
        let disk = Arc::new(DiskFaults::default());
        let (finish_tx, finish_rx) = tokio::sync::watch::channel(false);
        let users = scenario_users(scenario);
        let store_crashes = store_crash_switches(scenario);
        let chat_messages = Arc::new(Crashable::new(
            messages.clone(),
            store_crashes[CHAT_HOST].clone(),
        ));
        let resource_uploads: Arc<dyn UploadStore> = Arc::new(Crashable::new(
            uploads,
            store_crashes[RESOURCE_HOST].clone(),
        ));
        // The chat server of the moment, so that the resource server can ask who is online.
        let chat_now: Arc<parking_lot::Mutex<Option<ChatServer>>> = Arc::default();
        let routes = chat_routes(scenario);
        let chat_hosts: Vec<String> = match &routes {
            None => vec![CHAT_HOST.to_owned()],
            Some(routes) => routes.servers.keys().cloned().collect(),
        };
        let sockets: BTreeMap<String, Arc<HostSockets>> = chat_hosts
            .iter()
            .cloned()
            .chain(std::iter::once(RESOURCE_HOST.to_owned()))
            .chain(scenario.users.iter().map(|u| user_host(u.uid)))
            .map(|host| (host, Arc::default()))
            .collect();
        match &routes {
            None => add_chat_host(
                &mut sim,
                (CHAT_HOST, None, false),
                (&trace, &sockets[CHAT_HOST]),
                &users,
                (&chat_messages, &chat_now),
                &options.profile,
            ),
            // Two servers share the message table, as upstream's share MySQL; a store crash is a
            // fault of the one-server world.
            Some(routes) => {
                for host in routes.servers.keys() {
                    add_chat_host(
                        &mut sim,
                        (host.as_str(), Some(routes), options.no_forwards),
                        (&trace, &sockets[host]),
                        &users,
                        (&messages, &chat_now),
                        &options.profile,
                    );
                }
            }
        }
        add_resource_host(
            &mut sim,
            (&trace, &sockets[RESOURCE_HOST]),
            &users,
            (&resource_uploads, &disk, &messages),
            (&options.profile, &chat_now, routes.as_ref()),
            (
                Duration::from_secs(scenario.upload_ttl_s),
                options.chunk_group,
            ),
            (finish_rx, sources.clone()),
        );
        let log = Arc::new(ActionLog::default());
        let mut world = World {
            scenario,
            options: options.clone(),
            sim,
            trace,
            cursor: 0,
            messages,
            disk,
            store_crashes,
            sockets,
            finish_tx,
            proxies: BTreeMap::new(),
            frame_fault_indices: BTreeMap::new(),
            schedule: faults::Schedule::new(&scenario.faults),
            books: Books::new(&steps).with_in_flight_grace(in_flight_grace_ms(scenario)),
            log,
            settled: false,
        };
        world.add_user_hosts(&steps, &sources);
        world
    }

    /// One host per user: the client behind its own fault proxy, playing its script.
    fn add_user_hosts(&mut self, steps: &[(u64, i32, Step)], sources: &Arc<Sources>) {
        let resource_addr = format!("{RESOURCE_HOST}:{RESOURCE_PORT}");
        let framings: BTreeMap<String, Framing> = self
            .scenario
            .chat_hosts()
            .iter()
            .map(|host| (chat_addr(host), Framing::Chat))
            .chain([(resource_addr.clone(), Framing::Resource)])
            .collect();
        // Where a user's probes go: by server host, on the user's own socket.
        let probe_addrs: BTreeMap<String, (String, Framing)> = self
            .scenario
            .chat_hosts()
            .iter()
            .map(|host| (host.clone(), (chat_addr(host), Framing::Chat)))
            .chain([(
                RESOURCE_HOST.to_owned(),
                (resource_addr.clone(), Framing::Resource),
            )])
            .collect();
        let bandwidth_bps = self.scenario.link.bandwidth_kbps.map(|k| k * 1000);
        for spec in &self.scenario.users {
            let uid = spec.uid;
            let host = user_host(uid);
            let (indices, faults): (Vec<usize>, Vec<_>) = self
                .scenario
                .frame_faults
                .iter()
                .enumerate()
                .filter(|(_, f)| f.user.is_none_or(|u| u == uid))
                .map(|(i, f)| (i, f.clone()))
                .unzip();
            let proxy = FaultProxy::new(
                framings.clone(),
                RuleSet::new(faults),
                Arc::new(SimElapsed),
                bandwidth_bps,
                Tracer::new(&host, self.trace.clone()),
            );
            self.proxies.insert(host.clone(), proxy.clone());
            self.frame_fault_indices.insert(host.clone(), indices);
            let chat_addr = chat_addr(&self.scenario.home_server(spec));
            let mut config = ClientConfig::new(uid, &spec.token(), &chat_addr, &resource_addr);
            config.profile = self.options.profile.clone();
            config.window = self.options.window;
            let skip_actions = self.options.skip_actions;
            let script: Vec<(usize, u64, Step)> = steps
                .iter()
                .enumerate()
                .filter(|(_, (_, user, _))| *user == uid && !skip_actions)
                .map(|(index, (t, _, step))| (index, *t, step.clone()))
                .collect();
            let (trace, log) = (self.trace.clone(), self.log.clone());
            let sockets = self.sockets[&host].clone();
            let probe_addrs = probe_addrs.clone();
            let probe_conns = ConnCounts::default();
            let sources = sources.clone();
            self.sim.host(host.as_str(), move || {
                let tracer = Tracer::new(&user_host(uid), trace.clone());
                let turmoil: Arc<dyn Network> =
                    Arc::new(TurmoilNetwork::crash_ordered(sockets.clone()));
                let network = proxy.network(turmoil.clone());
                // Probes bypass the client and the fault proxy: the user's own socket.
                let prober = Prober::new(
                    turmoil,
                    tracer.clone(),
                    probe_addrs.clone(),
                    probe_conns.clone(),
                );
                play(
                    config.clone(),
                    (network, prober),
                    script.clone(),
                    tracer,
                    sources.clone(),
                    log.clone(),
                )
            });
        }
    }

    /// Steps the simulation, firing faults and keeping the books, until every action has a final
    /// outcome and no timed fault is still to come, or the time limit.
    fn step_until_settled(&mut self) {
        let limit = Duration::from_secs(self.scenario.time_limit_s);
        let _panics = panics::capture(self.trace.clone());
        let mut next_check = SETTLE_CHECK_EVERY;
        let mut world_acted = true;
        while self.sim.elapsed() < limit {
            let step = match self.options.stepping {
                Stepping::Quiet if !world_acted => self.quiet_step(limit.min(next_check)),
                _ => TICK,
            };
            if let Err(error) = self.step(step) {
                self.trace
                    .record_at(self.sim.elapsed(), "world", Event::HostFailed { error });
                return;
            }
            let now = self.sim.elapsed();
            let new_records = self.trace.since(self.cursor);
            self.cursor += new_records.len();
            let targets = faults::Targets {
                proxies: &self.proxies,
                disk: &self.disk,
                trace: &self.trace,
                store_crashes: &self.store_crashes,
                sockets: &self.sockets,
            };
            let mut crashed = faults::crash_the_dead(&mut self.sim, &new_records, &targets);
            for (host, switch) in &self.store_crashes {
                if switch.take_tripped() {
                    crashed = true;
                    self.schedule
                        .store_crash_struck(&mut self.sim, now, host, &targets);
                }
            }
            let fired = self
                .schedule
                .advance(&mut self.sim, now, &new_records, &targets);
            // What the world did may have woken software in ways turmoil cannot see (a proxy's
            // rules, a disk fault, a crash): the next step is a plain tick. What the software
            // wrote needs none: a task it left ready was woken by a message or an announced
            // timer, which `quiet_for` counts.
            world_acted = fired || crashed || self.trace.len() > self.cursor;
            self.books.update(&new_records, &self.log);
            if now >= next_check {
                next_check += SETTLE_CHECK_EVERY;
                let now_ms = now.as_millis() as u64;
                if !self.schedule.has_due() && self.books.settled(now_ms) {
                    self.settled = true;
                    return;
                }
            }
        }
    }

    /// Steps turmoil by `step`. A step of more than a tick must have been quiet: software that
    /// wrote to the trace or sent a message inside it ran on a timer nobody announced, which
    /// would have acted a tick at a time, so the run is void and says so.
    fn step(&mut self, step: Duration) -> Result<(), String> {
        let (start, sent) = (self.sim.elapsed(), self.sim.messages_sent());
        self.sim.step_by(step).map_err(|err| err.to_string())?;
        let (records, messages) = (
            self.trace.len() - self.cursor,
            self.sim.messages_sent() - sent,
        );
        if step > TICK && records + messages as usize > 0 {
            return Err(format!(
                "software ran inside the quiet step from {} to {} ms ({records} trace records, \
                 {messages} messages) on a timer the simulation was not told of; every timer \
                 must go through chatsim::timer",
                start.as_millis(),
                self.sim.elapsed().as_millis()
            ));
        }
        Ok(())
    }

    /// The next step across a quiet stretch: up to what turmoil knows is next (a delivery, an
    /// announced timer; see [`crate::timer`]), the world's next timed fault and `until`, and at
    /// least one tick.
    fn quiet_step(&mut self, until: Duration) -> Duration {
        let now = self.sim.elapsed();
        let mut quiet = until.saturating_sub(now);
        if let Some(next) = self.sim.quiet_for() {
            quiet = quiet.min(next);
        }
        if let Some(due) = self.schedule.next_due() {
            quiet = quiet.min(due.saturating_sub(now));
        }
        quiet.max(TICK)
    }

    /// Reads the final state of the stores into the trace, writes the world's own account of the
    /// actions and faults, and judges the run.
    fn finish(mut self, wall_start: Instant) -> Outcome {
        let _panics = panics::capture(self.trace.clone());
        // The resource host's auditor reads the simulated disk; a crashed resource host is
        // started again first so its disk can be read.
        if !self.sim.is_host_running(RESOURCE_HOST) {
            self.sim.bounce(RESOURCE_HOST);
        }
        let _ = self.finish_tx.send(true);
        for _ in 0..10 {
            if self.sim.step().is_err() {
                break;
            }
        }
        let end = self.sim.elapsed();
        self.record_final_messages(end);
        let faults = self.fault_records();
        self.record_accounts(end, &faults);
        drop(_panics);
        let records = self.trace.take();
        let verdicts = oracles::judge(&records, self.settled);
        let profile = &self.options.profile;
        let strictness = if profile.named().is_some() {
            Strictness::Exact
        } else {
            Strictness::AtMost
        };
        let expectation = check_expectation(
            self.scenario.expect.for_profile(profile),
            strictness,
            &verdicts,
            &records,
        );
        Outcome {
            seed: self.options.seed,
            profile: profile.clone(),
            records,
            sim_time: end,
            wall_time: wall_start.elapsed(),
            settled: self.settled,
            verdicts,
            faults,
            expectation,
        }
    }

    fn record_final_messages(&self, end: Duration) {
        for stored in self.messages.all().unwrap_or_default() {
            let m = &stored.message;
            self.trace.record_at(
                end,
                &self.scenario.chat_hosts()[0],
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
    }

    /// Every scenario fault, host and frame faults alike, with the times it fired.
    fn fault_records(&self) -> Vec<FaultRecord> {
        let mut frame_fired: Vec<Vec<u64>> = vec![Vec::new(); self.scenario.frame_faults.len()];
        for (host, proxy) in &self.proxies {
            for (index, fired) in self.frame_fault_indices[host].iter().zip(proxy.fired()) {
                frame_fired[*index].extend(fired);
            }
        }
        let frames = self
            .scenario
            .frame_faults
            .iter()
            .zip(frame_fired)
            .enumerate()
            .map(|(index, (fault, mut fired_ms))| {
                fired_ms.sort_unstable();
                FaultRecord {
                    name: format!("frame fault {} ({:?})", index + 1, fault.action).to_lowercase(),
                    optional: fault.optional,
                    fired_ms,
                }
            });
        self.schedule
            .records(&self.scenario.faults)
            .into_iter()
            .chain(frames)
            .collect()
    }

    /// The world's account of the run: one record per action, the liveness bound, one record
    /// per fault. The oracles and the expectation judge these like any other trace record.
    fn record_accounts(&self, end: Duration, faults: &[FaultRecord]) {
        let frames_ended = faults.iter().filter_map(|f| f.fired_ms.last()).max();
        let last_heal_ms =
            (self.schedule.last_heal().as_millis() as u64).max(frames_ended.copied().unwrap_or(0));
        let end_ms = end.as_millis() as u64;
        for (host, event) in self.books.outcomes(&self.log, last_heal_ms, end_ms) {
            self.trace.record_at(end, &host, event);
        }
        let liveness = Event::LivenessBound {
            last_heal_ms,
            liveness_ms: self.scenario.liveness_s * 1000,
        };
        self.trace.record_at(end, "world", liveness);
        for fault in faults {
            self.trace.record_at(end, "world", fault.event());
        }
    }
}

/// How long a chunk already sent may take to reach the server: the link's longest delay both
/// ways with some slack, and on a slow link the time for a large window of chunks to drain.
fn in_flight_grace_ms(scenario: &Scenario) -> u64 {
    const DRAINED_CHUNKS: u64 = 64;
    let drain = scenario.link.bandwidth_kbps.map_or(0, |kbps| {
        DRAINED_CHUNKS * crate::protocol::CHUNK_SIZE * 8 * 4 / 3 / kbps.max(1)
    });
    2 * scenario.link.latency_ms[1] + 100 + drain
}

/// A crash switch for each store that lives beside a host: the chat server's messages and the
/// resource server's uploads. A switch cuts its host off from every other host when it trips.
fn store_crash_switches(scenario: &Scenario) -> BTreeMap<String, Arc<CrashSwitch>> {
    let users = scenario.users.iter().map(|u| user_host(u.uid));
    let chat_peers = std::iter::once(RESOURCE_HOST.to_owned())
        .chain(users.clone())
        .collect();
    let resource_peers = scenario.chat_hosts().into_iter().chain(users).collect();
    [
        (CHAT_HOST, CrashSwitch::new(CHAT_HOST, chat_peers)),
        (
            RESOURCE_HOST,
            CrashSwitch::new(RESOURCE_HOST, resource_peers),
        ),
    ]
    .into_iter()
    .map(|(host, switch)| (host.to_owned(), Arc::new(switch)))
    .collect()
}

/// turmoil, set up for this scenario and seed.
fn turmoil_builder(scenario: &Scenario, seed: u64) -> turmoil::Builder {
    let limit = Duration::from_secs(scenario.time_limit_s);
    let [min_latency, max_latency] = scenario.link.latency_ms;
    let mut builder = turmoil::Builder::new();
    builder
        .rng_seed(seed)
        .epoch(UNIX_EPOCH + Duration::from_secs(SIM_EPOCH_SECS))
        // The world stops stepping at the limit itself; turmoil's own limit is only a backstop.
        .simulation_duration(limit + Duration::from_secs(60))
        .tick_duration(TICK)
        .min_message_latency(Duration::from_millis(min_latency))
        .max_message_latency(Duration::from_millis(max_latency))
        // Counts segments, not bytes; generous so that no party deadlocks on a full pipe.
        .tcp_capacity(4096);
    builder
}

fn scenario_users(scenario: &Scenario) -> Users {
    Users::new(scenario.users.iter().map(|u| User {
        uid: u.uid,
        token: u.token(),
        name: u.name(),
    }))
}

/// The two-server world's routes (`chat1`, `chat2` and their shared presence table), or `None`
/// for the one-server world.
fn chat_routes(scenario: &Scenario) -> Option<ChatRoutes> {
    if scenario.chat_servers < 2 {
        return None;
    }
    let servers = scenario
        .chat_hosts()
        .into_iter()
        .map(|host| {
            let grpc = format!("{host}:{GRPC_PORT}");
            (host, grpc)
        })
        .collect();
    Some(ChatRoutes {
        table: Arc::new(MemoryPresence::default()),
        servers,
    })
}

/// A chat host: `(name, routes, mutant)`, the routes only in the two-server world, the mutant
/// ([`RunOptions::no_forwards`]) only in tests.
fn add_chat_host(
    sim: &mut turmoil::Sim<'static>,
    (host, routes, no_forwards): (&str, Option<&ChatRoutes>, bool),
    (trace, sockets): (&Arc<SimTrace>, &Arc<HostSockets>),
    users: &Users,
    (messages, chat_now): (
        &Arc<impl MessageStore>,
        &Arc<parking_lot::Mutex<Option<ChatServer>>>,
    ),
    profile: &Profile,
) {
    let network = TurmoilNetwork::crash_ordered(sockets.clone());
    let (trace, users, messages, profile, chat_now) = (
        trace.clone(),
        users.clone(),
        messages.clone(),
        profile.clone(),
        chat_now.clone(),
    );
    let (name, routes) = (host.to_owned(), routes.cloned());
    sim.host(host, move || {
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
            Tracer::new(&name, trace.clone()),
        );
        let network = Arc::new(network.clone());
        let server = match &routes {
            Some(routes) => server.with_routes(&name, routes.clone(), network.clone()),
            None => server,
        };
        let server = if no_forwards {
            server.without_forwards()
        } else {
            server
        };
        *chat_now.lock() = Some(server.clone());
        async move {
            server.run(network).await?;
            Ok(())
        }
    });
}

fn add_resource_host(
    sim: &mut turmoil::Sim<'static>,
    (trace, sockets): (&Arc<SimTrace>, &Arc<HostSockets>),
    users: &Users,
    (uploads, disk, messages): (
        &Arc<dyn UploadStore>,
        &Arc<DiskFaults>,
        &Arc<MemoryMessages>,
    ),
    (profile, chat_now, routes): (
        &Profile,
        &Arc<parking_lot::Mutex<Option<ChatServer>>>,
        Option<&ChatRoutes>,
    ),
    (upload_ttl, chunk_group): (Duration, usize),
    (finish_rx, sources): (tokio::sync::watch::Receiver<bool>, Arc<Sources>),
) {
    let chat_now = chat_now.clone();
    let network = TurmoilNetwork::crash_ordered(sockets.clone());
    let routes = routes.cloned();
    let default_chat = routes
        .as_ref()
        .and_then(|r| r.servers.keys().next().cloned())
        .unwrap_or_else(|| CHAT_HOST.to_owned());
    let (trace, users, uploads, disk, profile) = (
        trace.clone(),
        users.clone(),
        uploads.clone(),
        disk.clone(),
        profile.clone(),
    );
    // The resource server reads the chat server's message table, as upstream's reads MySQL, to
    // bind each upload to its message.
    let messages: Arc<dyn MessageStore> = messages.clone();
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
                chat_grpc: format!("{default_chat}:{GRPC_PORT}"),
                profile: profile.clone(),
                upload_ttl: Some(upload_ttl),
                chunk_group,
                ..ResourceConfig::default()
            },
            users.clone(),
            files,
            uploads.clone(),
            tracer.clone(),
        )
        .with_messages(messages.clone())
        .with_clock(Arc::new(SimClock::default()))
        .with_presence(presence(&chat_now, routes.as_ref()));
        let server = match &routes {
            Some(routes) => server.with_routes(routes.clone()),
            None => server,
        };
        let auditor = audit_files(
            disk_files,
            uploads.clone(),
            (tracer, sources.clone()),
            finish_rx.clone(),
        );
        let dying = server.clone();
        let network = Arc::new(network.clone());
        async move {
            tokio::spawn(auditor);
            match server.run(network).await {
                // Died on an input: the world sees `server_died` and crashes the host.
                Err(_) if dying.died_on().is_some() => std::future::pending().await,
                other => other?,
            }
            Ok(())
        }
    });
}

/// Who is online, for the resource server: the presence table with two chat servers, else the
/// one chat server's sessions.
fn presence(
    chat_now: &Arc<parking_lot::Mutex<Option<ChatServer>>>,
    routes: Option<&ChatRoutes>,
) -> crate::resource::Presence {
    match routes {
        Some(routes) => {
            let routes = routes.clone();
            Arc::new(move |uid| routes.is_online(uid))
        }
        None => {
            let chat_now = chat_now.clone();
            Arc::new(move |uid| {
                let chat = chat_now.lock();
                chat.as_ref().is_some_and(|chat| chat.is_online(uid))
            })
        }
    }
}

/// A user's host: log in (retrying while the chat server is unreachable), then perform the
/// scenario's actions at their times, then keep serving pushes and downloads. After a crash and
/// restart, actions whose time has passed are not repeated.
async fn play(
    config: ClientConfig,
    (network, prober): (Arc<dyn Network>, Prober),
    script: Vec<(usize, u64, Step)>,
    tracer: Tracer,
    sources: Arc<Sources>,
    log: Arc<ActionLog>,
) -> turmoil::Result {
    let started = turmoil::sim_elapsed().unwrap_or_default();
    let mut config = config;
    config.instance = started.as_millis() as u64;
    let probes = prober.spawn();
    let client = loop {
        match Client::start(config.clone(), network.clone(), tracer.clone()).await {
            Ok(client) => break client,
            Err(_) => crate::timer::sleep(Duration::from_secs(1)).await,
        }
    };
    for (index, at_ms, step) in script {
        let at = Duration::from_millis(at_ms);
        if at < started {
            continue;
        }
        let now = turmoil::sim_elapsed().unwrap_or_default();
        if at > now {
            crate::timer::sleep(at - now).await;
        }
        let now = turmoil::sim_elapsed().unwrap_or_default();
        log.mark(index, now.as_millis() as u64);
        match step {
            Step::Texts { to, contents } => client.send_texts(to, contents),
            Step::Image { to, size, name } => {
                let file = sources
                    .file(&name, size)
                    .expect("every image step was generated");
                client.send_image(to, file);
            }
            Step::Pause { file } => client.pause(&file),
            Step::Resume { file } => client.resume(&file),
            Step::Cancel { file } => client.cancel(&file),
            Step::Logout => client.logout(),
            Step::Login { server: None } => client.login(),
            Step::Login {
                server: Some(server),
            } => client.login_at(&chat_addr(&server)),
            Step::Probe(probe) => {
                let _ = probes.send(probe);
            }
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
    (tracer, sources): (Tracer, Arc<Sources>),
    mut finish: tokio::sync::watch::Receiver<bool>,
) {
    while !*finish.borrow_and_update() {
        if finish.changed().await.is_err() {
            return;
        }
    }
    for record in uploads.all().unwrap_or_default() {
        let path = if record.path.is_empty() {
            std::path::PathBuf::from(record.owner_uid.to_string()).join(&record.name)
        } else {
            std::path::PathBuf::from(&record.path)
        };
        let bytes = files.read(&path).unwrap_or_default();
        let (md5, chunk_hashes) = sources.hashes_of(&bytes);
        tracer.emit(Event::FinalFile {
            file: record.name.clone(),
            owner: record.owner_uid,
            size: bytes.len() as u64,
            md5,
            complete: record.complete,
            received: record.received.iter().copied().collect(),
            chunk_hashes,
        });
    }
}
