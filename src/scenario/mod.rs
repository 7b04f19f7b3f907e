//! Scenario files: who the users are and what they do when, in TOML. Loading checks everything it
//! can before a world is built, and every error names the file, the line, the field and the
//! problem. Every table is strict: an unknown key is an error (`schema`), never ignored.
//! The format is documented in `scenarios/README.md`.

pub mod events;
pub mod faults;
pub mod probes;
mod schema;

pub use faults::{store_writes, Direction, FaultKind, FaultSpec, FrameAction, FrameFault, Trigger};
pub use probes::{Expected, Probe, ProbeAction, ProbeExpect, ProbeRequest, RawAction};

use crate::client::WindowPolicy;
use crate::profile::{Profile, Quirk};
use crate::protocol::names::check_file_name;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

/// Every oracle a scenario may name in `expect.violated`, in report order (`sim::oracles` runs
/// exactly these; a test there keeps the two equal).
pub const ORACLES: &[&str] = &[
    "window",
    "purge",
    "integrity",
    "notify",
    "messages",
    "liveness",
    "progress",
    "no_panic",
    "durable_ack",
    "confinement",
    "binding",
    "replies",
];

/// Largest image a scenario may send: the simulation keeps files in memory.
pub const MAX_IMAGE_SIZE: u64 = 64 << 20;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A one-line description for reports.
    #[serde(default)]
    pub description: String,
    /// Seed of every random choice in the run; `--seed` overrides it.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Simulated seconds after which an unfinished run stops and fails its liveness check.
    #[serde(default = "default_time_limit")]
    pub time_limit_s: u64,
    /// Once the last fault has ended, no action may go this many simulated seconds without
    /// progress (the `liveness` oracle).
    #[serde(default = "default_liveness")]
    pub liveness_s: u64,
    /// An unfinished upload with no chunk for this many simulated seconds expires (`serve
    /// --upload-ttl`; upstream's Redis keys live 3600 s).
    #[serde(default = "default_upload_ttl")]
    pub upload_ttl_s: u64,
    #[serde(default)]
    pub link: Link,
    pub users: Vec<UserSpec>,
    #[serde(default)]
    pub actions: Vec<Action>,
    /// `reference` (default), `seed` or `upstream`; `chatsim run --profile` overrides it.
    #[serde(default)]
    pub profile: Option<String>,
    /// Quirks added to the profile (names from `chatsim::profile::Quirk`).
    #[serde(default)]
    pub quirks: Vec<String>,
    /// The clients' upload window: `fixed5` (default, the seed's) or `adaptive`;
    /// `chatsim run --window` overrides it.
    #[serde(default)]
    pub window: WindowPolicy,
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    #[serde(default)]
    pub frame_faults: Vec<FrameFault>,
    #[serde(default)]
    pub expect: Expect,
    /// 1 (default: one host `chat`) or 2 (hosts `chat1` and `chat2`, with presence and routing).
    #[serde(default = "default_chat_servers")]
    pub chat_servers: u8,
}

fn default_chat_servers() -> u8 {
    1
}

impl Scenario {
    /// The chat hosts of the world: `chat`, or `chat1` and `chat2`.
    pub fn chat_hosts(&self) -> Vec<String> {
        match self.chat_servers {
            1 => vec!["chat".to_owned()],
            n => (1..=n).map(|i| format!("chat{i}")).collect(),
        }
    }

    /// The chat host `user` logs in to first.
    pub fn home_server(&self, user: &UserSpec) -> String {
        user.server
            .clone()
            .unwrap_or_else(|| self.chat_hosts()[0].clone())
    }
}

/// What the run must show. By default every oracle holds and nothing else is required.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(from = "RawExpect")]
pub struct Expect {
    pub base: Expectation,
    /// Replaces the expectation when the run uses the seed profile.
    pub seed: Option<Expectation>,
    /// Replaces the expectation when the run uses the upstream profile (issue 15).
    pub upstream: Option<Expectation>,
}

/// `[expect]` as written: the base expectation's keys beside `seed`. Spelt out rather than
/// flattened, because serde ignores `deny_unknown_fields` under `flatten`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    #[serde(default)]
    violated: Vec<String>,
    #[serde(default)]
    downloaded: Vec<String>,
    #[serde(default)]
    failed: Vec<String>,
    #[serde(default)]
    seed: Option<Expectation>,
    #[serde(default)]
    upstream: Option<Expectation>,
}

impl From<RawExpect> for Expect {
    fn from(raw: RawExpect) -> Self {
        Expect {
            base: Expectation {
                violated: raw.violated,
                downloaded: raw.downloaded,
                failed: raw.failed,
            },
            seed: raw.seed,
            upstream: raw.upstream,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// Oracles that must be violated; every other oracle must hold.
    #[serde(default)]
    pub violated: Vec<String>,
    /// Files that must end stored, with both parties told, and downloaded intact.
    #[serde(default)]
    pub downloaded: Vec<String>,
    /// Files whose upload the sender must report failed (or cancelled).
    #[serde(default)]
    pub failed: Vec<String>,
}

impl Expect {
    /// `[expect]` for the reference; for the upstream profile, or some quirks among which one of
    /// the deployed server's own, `[expect.upstream]` (else `[expect.seed]`); for any other
    /// profile `[expect.seed]` (else `[expect.upstream]`); the base when neither is written.
    pub fn for_profile(&self, profile: &Profile) -> &Expectation {
        if profile.is_reference() {
            return &self.base;
        }
        let (first, second) = if profile.leans_upstream() || *profile == Profile::upstream() {
            (&self.upstream, &self.seed)
        } else {
            (&self.seed, &self.upstream)
        };
        first.as_ref().or(second.as_ref()).unwrap_or(&self.base)
    }
}

fn default_seed() -> u64 {
    1
}

fn default_time_limit() -> u64 {
    300
}

fn default_liveness() -> u64 {
    60
}

fn default_upload_ttl() -> u64 {
    3600
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    /// One-way latency of every link, drawn per message from `[min, max]` milliseconds.
    #[serde(default = "default_latency")]
    pub latency_ms: [u64; 2],
    /// Bandwidth of every client's connections, each direction, in kbit/s; unlimited when absent.
    #[serde(default)]
    pub bandwidth_kbps: Option<u64>,
}

fn default_latency() -> [u64; 2] {
    [1, 10]
}

impl Default for Link {
    fn default() -> Self {
        Link {
            latency_ms: default_latency(),
            bandwidth_kbps: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    pub uid: i32,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub token: Option<String>,
    /// The chat server the user logs in to (`chat1` or `chat2`); needs `chat_servers = 2`.
    #[serde(default)]
    pub server: Option<String>,
}

impl UserSpec {
    pub fn name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("user{}", self.uid))
    }
    pub fn token(&self) -> String {
        self.token
            .clone()
            .unwrap_or_else(|| format!("token-{}", self.uid))
    }
}

/// One timed action of one user: exactly one of the action tables is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// Simulated milliseconds from the start.
    pub at_ms: u64,
    pub user: i32,
    #[serde(default)]
    pub text: Option<TextAction>,
    #[serde(default)]
    pub image: Option<ImageAction>,
    /// Several images at once; they share the window.
    #[serde(default)]
    pub images: Option<Vec<ImageAction>>,
    #[serde(default)]
    pub pause: Option<FileRef>,
    #[serde(default)]
    pub resume: Option<FileRef>,
    #[serde(default)]
    pub cancel: Option<FileRef>,
    /// Close the chat session (uploads go on); `logout = {}`.
    #[serde(default)]
    pub logout: Option<Empty>,
    /// Log in again after a logout, `login = {}`; or log in on another chat server,
    /// `login = { server = "chat2" }` (the old session is the servers' to end: a kick).
    #[serde(default)]
    pub login: Option<LoginAction>,
    /// Send a request of the author's own making on the user's own socket
    /// (`scenario::probes`).
    #[serde(default)]
    pub probe: Option<ProbeAction>,
    /// Write bytes the codec cannot produce on the user's own socket.
    #[serde(default)]
    pub raw: Option<RawAction>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginAction {
    #[serde(default)]
    pub server: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRef {
    pub file: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// One press of the send button: these texts, batched as the client does.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextAction {
    pub to: i32,
    pub contents: Vec<String>,
}

/// An image of `size` deterministic pseudo-random bytes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageAction {
    pub to: i32,
    pub size: u64,
    /// The file's unique name; defaults to `img-<user>-<index>.png`.
    #[serde(default)]
    pub name: Option<String>,
}

/// What an action does, once validated.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Texts {
        to: i32,
        contents: Vec<String>,
    },
    Image {
        to: i32,
        size: u64,
        name: String,
    },
    Pause {
        file: String,
    },
    Resume {
        file: String,
    },
    Cancel {
        file: String,
    },
    Logout,
    /// Log in; on the named chat host when given.
    Login {
        server: Option<String>,
    },
    /// Send a probe and wait for its answer, its close or its deadline.
    Probe(Probe),
}

impl Scenario {
    /// The validated steps of every action, in file order: (time, user, step).
    pub fn steps(&self) -> Vec<(u64, i32, Step)> {
        self.located_steps()
            .into_iter()
            .map(|(_, at, user, step)| (at, user, step))
            .collect()
    }

    /// The steps with the field each comes from, for error messages. A probe that does not
    /// resolve is left out (validation reports it).
    fn located_steps(&self) -> Vec<(String, u64, i32, Step)> {
        let mut steps = Vec::new();
        let chat_hosts = self.chat_hosts();
        let mut probes = 0;
        for (index, action) in self.actions.iter().enumerate() {
            let here = format!("actions[{index}]");
            let image = |i: usize, image: &ImageAction| Step::Image {
                to: image.to,
                size: image.size,
                name: image.name.clone().unwrap_or_else(|| match i {
                    0 => format!("img-{}-{index}.png", action.user),
                    i => format!("img-{}-{index}-{i}.png", action.user),
                }),
            };
            let mut push =
                |field: String, step| steps.push((field, action.at_ms, action.user, step));
            if let Some(text) = &action.text {
                push(
                    format!("{here}.text"),
                    Step::Texts {
                        to: text.to,
                        contents: text.contents.clone(),
                    },
                );
            }
            if let Some(one) = &action.image {
                push(format!("{here}.image"), image(0, one));
            }
            for (i, one) in action.images.iter().flatten().enumerate() {
                push(format!("{here}.images[{i}]"), image(i + 1, one));
            }
            if let Some(r) = &action.pause {
                push(
                    format!("{here}.pause"),
                    Step::Pause {
                        file: r.file.clone(),
                    },
                );
            }
            if let Some(r) = &action.resume {
                push(
                    format!("{here}.resume"),
                    Step::Resume {
                        file: r.file.clone(),
                    },
                );
            }
            if let Some(r) = &action.cancel {
                push(
                    format!("{here}.cancel"),
                    Step::Cancel {
                        file: r.file.clone(),
                    },
                );
            }
            if action.logout.is_some() {
                push(format!("{here}.logout"), Step::Logout);
            }
            if let Some(login) = &action.login {
                push(
                    format!("{here}.login"),
                    Step::Login {
                        server: login.server.clone(),
                    },
                );
            }
            if action.probe.is_some() || action.raw.is_some() {
                probes += 1;
                if let Ok((field, probe)) = self.probe_of(index, probes, &chat_hosts) {
                    push(field, Step::Probe(probe));
                }
            }
        }
        steps
    }

    /// Action `index`'s probe (`probe` or `raw`), numbered `number`, checked and resolved.
    fn probe_of(
        &self,
        index: usize,
        number: usize,
        chat_hosts: &[String],
    ) -> Result<(String, Probe), String> {
        let action = &self.actions[index];
        let here = format!("actions[{index}]");
        match (&action.probe, &action.raw) {
            (Some(p), _) => {
                let field = format!("{here}.probe");
                probes::probe(number, p, chat_hosts, &field).map(|p| (field, p))
            }
            (None, Some(r)) => {
                let field = format!("{here}.raw");
                probes::raw(number, r, chat_hosts, &field).map(|p| (field, p))
            }
            (None, None) => Err(format!("{here}: not a probe")),
        }
    }

    /// The profile the scenario asks for, with its extra quirks.
    pub fn profile(&self) -> Profile {
        let base = match self.profile.as_deref() {
            Some(name) => name.parse().unwrap_or_default(),
            None => Profile::reference(),
        };
        self.quirks
            .iter()
            .filter_map(|q| q.parse::<Quirk>().ok())
            .fold(base, Profile::with)
    }
}

/// A scenario that cannot be used, with where and why: `f.toml:12: expect.downlaoded: unknown
/// key; did you mean "downloaded"?`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    pub path: PathBuf,
    /// 1-based; `None` when the problem has no single place (a missing table).
    pub line: Option<usize>,
    /// The field's path, then the problem.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for ScenarioError {}

/// Reads and validates a scenario file.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        path: path.to_owned(),
        line: None,
        message: format!("cannot read: {e}"),
    })?;
    parse(path, &text)
}

/// Parses and validates scenario text; `path` only names it in errors. Three passes, each
/// stopping at its first problem: TOML syntax; the shape (every key known, triggers naming real
/// events and fields); then serde's types and the values' own rules.
pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    let error = |at: Option<usize>, message: String| ScenarioError {
        path: path.to_owned(),
        line: at.map(|at| line_of(text, at)),
        message,
    };
    let doc = toml::de::DeTable::parse(text).map_err(|e| {
        error(
            e.span().map(|s| s.start),
            format!("not TOML: {}", e.message()),
        )
    })?;
    let doc = doc.get_ref();
    if let Some(problem) = schema::check(doc).into_iter().next() {
        let message = located(&problem.field, &problem.message);
        return Err(error(Some(problem.at), message));
    }
    let scenario: Scenario = toml::from_str(text).map_err(|e| {
        let field = e.span().map(|s| schema::field_at(doc, s.start));
        // A problem of the whole document (a missing top-level key) has no line of its own.
        let at = e
            .span()
            .filter(|_| field.as_ref().is_some_and(|f| !f.is_empty()));
        let field = field.unwrap_or_default();
        error(at.map(|s| s.start), located(&field, e.message().trim_end()))
    })?;
    validate(&scenario).map_err(|message| {
        // Messages start with the field's path, sometimes followed by a note: `faults[0] (crash)`.
        let field = message.split([':', ' ']).next().unwrap_or_default();
        error(schema::place_of(doc, field), message)
    })?;
    Ok(scenario)
}

fn located(field: &str, message: &str) -> String {
    if field.is_empty() {
        message.to_owned()
    } else {
        format!("{field}: {message}")
    }
}

/// The 1-based line of byte `at`.
fn line_of(text: &str, at: usize) -> usize {
    let at = at.min(text.len());
    text.as_bytes()[..at]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

fn validate(s: &Scenario) -> Result<(), String> {
    if s.time_limit_s == 0 {
        return Err("time_limit_s: must be at least 1".into());
    }
    if s.liveness_s == 0 {
        return Err("liveness_s: must be at least 1".into());
    }
    if s.upload_ttl_s == 0 {
        return Err("upload_ttl_s: must be at least 1".into());
    }
    if s.link.bandwidth_kbps == Some(0) {
        return Err("link.bandwidth_kbps: must be at least 1; leave it out for no limit".into());
    }
    let [min, max] = s.link.latency_ms;
    if min > max {
        return Err(format!("link.latency_ms: min {min} is above max {max}"));
    }
    if s.users.is_empty() {
        return Err("users: at least one [[users]] entry is needed".into());
    }
    let mut uids = BTreeSet::new();
    for (i, user) in s.users.iter().enumerate() {
        if user.uid <= 0 {
            return Err(format!(
                "users[{i}].uid: {} is not a positive number",
                user.uid
            ));
        }
        if !uids.insert(user.uid) {
            return Err(format!("users[{i}].uid: {} is declared twice", user.uid));
        }
    }
    let known = |field: &str, uid: i32| {
        if uids.contains(&uid) {
            Ok(())
        } else {
            Err(format!("{field}: user {uid} is not declared in [[users]]"))
        }
    };
    let mut names = BTreeSet::new();
    for (i, action) in s.actions.iter().enumerate() {
        let here = format!("actions[{i}]");
        known(&format!("{here}.user"), action.user)?;
        if action.at_ms >= s.time_limit_s * 1000 {
            return Err(format!(
                "{here}.at_ms: {} is not before the time limit of {} s",
                action.at_ms, s.time_limit_s
            ));
        }
        let kinds = [
            action.text.is_some(),
            action.image.is_some(),
            action.images.is_some(),
            action.pause.is_some(),
            action.resume.is_some(),
            action.cancel.is_some(),
            action.logout.is_some(),
            action.login.is_some(),
            action.probe.is_some(),
            action.raw.is_some(),
        ];
        match kinds.iter().filter(|k| **k).count() {
            1 => {}
            0 => {
                return Err(format!(
                    "{here}: no action given; set one of {ACTION_KINDS}"
                ))
            }
            _ => return Err(format!("{here}: set exactly one of {ACTION_KINDS}")),
        }
        if let Some(text) = &action.text {
            known(&format!("{here}.text.to"), text.to)?;
        }
        let single = action.image.iter().map(|i| (format!("{here}.image"), i));
        let many = action.images.iter().flatten().enumerate();
        for (field, image) in single.chain(many.map(|(j, i)| (format!("{here}.images[{j}]"), i))) {
            known(&format!("{field}.to"), image.to)?;
            if image.size > MAX_IMAGE_SIZE {
                return Err(format!(
                    "{field}.size: {} is over the simulation's limit of {MAX_IMAGE_SIZE} bytes",
                    image.size
                ));
            }
        }
    }
    validate_probes(s)?;
    validate_chat_servers(s)?;
    validate_profile(s)?;
    validate_faults(s, &uids)?;
    validate_can_fire(s)?;
    validate_expect(&s.expect.base, "expect")?;
    if let Some(seed) = &s.expect.seed {
        validate_expect(seed, "expect.seed")?;
    }
    if let Some(upstream) = &s.expect.upstream {
        validate_expect(upstream, "expect.upstream")?;
    }
    for (here, _, _, step) in s.located_steps() {
        match step {
            Step::Image { name, .. } => {
                let here = format!("{here}.name");
                check_file_name(&name).map_err(|e| format!("{here}: {e}"))?;
                if !names.insert(name.clone()) {
                    return Err(format!(
                        "{here}: name {name:?} is used twice; names are unique"
                    ));
                }
            }
            Step::Pause { file } | Step::Resume { file } | Step::Cancel { file }
                if !names.contains(&file) =>
            {
                return Err(format!(
                    "{here}.file: {file:?} is not sent by any earlier action"
                ));
            }
            _ => {}
        }
    }
    validate_expected_files(s, &names)?;
    validate_matched_files(s, &names)
}

/// `field: no action sends a file named "x"; did you mean "y"?`
fn no_such_file(names: &BTreeSet<String>, field: String, file: &str) -> String {
    let near = schema::suggest(file, names.iter().map(String::as_str));
    let hint = near
        .map(|n| format!("; did you mean {n:?}?"))
        .unwrap_or_default();
    format!("{field}: no action sends a file named {file:?}{hint}")
}

/// Every file `[expect]` or `[expect.seed]` names is one the run sends, and none is both
/// downloaded and failed: either would be a requirement no run can meet.
fn validate_expected_files(s: &Scenario, names: &BTreeSet<String>) -> Result<(), String> {
    let expectations = [
        ("expect", Some(&s.expect.base)),
        ("expect.seed", s.expect.seed.as_ref()),
        ("expect.upstream", s.expect.upstream.as_ref()),
    ];
    for (field, expectation) in expectations {
        let Some(e) = expectation else { continue };
        for (key, files) in [("downloaded", &e.downloaded), ("failed", &e.failed)] {
            if let Some((i, file)) = files.iter().enumerate().find(|(_, f)| !names.contains(*f)) {
                return Err(no_such_file(names, format!("{field}.{key}[{i}]"), file));
            }
        }
        let mut failed = e.failed.iter().enumerate();
        if let Some((i, file)) = failed.find(|(_, f)| e.downloaded.contains(f)) {
            return Err(format!(
                "{field}.failed[{i}]: {file:?} is also in downloaded; a file cannot end both ways"
            ));
        }
    }
    Ok(())
}

/// Every file a frame fault or a trigger matches is one the run sends, or one a frame fault
/// forges on the wire: any other would be a fault that never fires.
fn validate_matched_files(s: &Scenario, names: &BTreeSet<String>) -> Result<(), String> {
    let forged: Vec<&str> = s
        .frame_faults
        .iter()
        .filter_map(|f| f.set.get("name")?.as_str())
        .collect();
    let sent = |file: &str| names.contains(file) || forged.contains(&file);
    for (i, fault) in s.frame_faults.iter().enumerate() {
        if let Some(file) = fault.file.as_deref().filter(|f| !sent(f)) {
            return Err(no_such_file(names, format!("frame_faults[{i}].file"), file));
        }
    }
    for (i, fault) in s.faults.iter().enumerate() {
        let file = fault.after.as_ref().and_then(|t| t.fields.get("file"));
        if let Some(file) = file.and_then(|f| f.as_str()).filter(|f| !sent(f)) {
            return Err(no_such_file(names, format!("faults[{i}].after.file"), file));
        }
    }
    Ok(())
}

const ACTION_KINDS: &str =
    "`text`, `image`, `images`, `pause`, `resume`, `cancel`, `logout`, `login`, `probe`, `raw`";

/// Every `probe` and `raw` action resolves: a known server, hex that is hex, an expectation
/// that makes sense.
fn validate_probes(s: &Scenario) -> Result<(), String> {
    let chat_hosts = s.chat_hosts();
    let probes = s
        .actions
        .iter()
        .enumerate()
        .filter(|(_, a)| a.probe.is_some() || a.raw.is_some());
    for (number, (index, _)) in probes.enumerate() {
        s.probe_of(index, number + 1, &chat_hosts)?;
    }
    Ok(())
}

/// One or two chat servers, and every server a user or a login names is one of them.
fn validate_chat_servers(s: &Scenario) -> Result<(), String> {
    if !(1..=2).contains(&s.chat_servers) {
        return Err(format!(
            "chat_servers: {} is not supported; 1 (host `chat`) or 2 (hosts `chat1`, `chat2`)",
            s.chat_servers
        ));
    }
    let hosts = s.chat_hosts();
    let check = |field: String, server: &str| {
        if s.chat_servers == 1 {
            return Err(format!(
                "{field}: {server:?} needs `chat_servers = 2`; with one chat server there is no choice"
            ));
        }
        if hosts.iter().any(|h| h == server) {
            Ok(())
        } else {
            Err(format!(
                "{field}: unknown chat server {server:?}; the chat servers are {}",
                hosts.join(", ")
            ))
        }
    };
    for (i, user) in s.users.iter().enumerate() {
        if let Some(server) = &user.server {
            check(format!("users[{i}].server"), server)?;
        }
    }
    for (i, action) in s.actions.iter().enumerate() {
        if let Some(server) = action.login.as_ref().and_then(|l| l.server.as_ref()) {
            check(format!("actions[{i}].login.server"), server)?;
        }
    }
    Ok(())
}

fn validate_profile(s: &Scenario) -> Result<(), String> {
    if let Some(profile) = &s.profile {
        profile
            .parse::<Profile>()
            .map_err(|e| format!("profile: {e}"))?;
    }
    for (i, quirk) in s.quirks.iter().enumerate() {
        quirk
            .parse::<Quirk>()
            .map_err(|e| format!("quirks[{i}]: {e}"))?;
    }
    Ok(())
}

fn validate_faults(s: &Scenario, uids: &BTreeSet<i32>) -> Result<(), String> {
    let hosts: BTreeSet<String> = s
        .chat_hosts()
        .into_iter()
        .chain(["resource".to_owned()])
        .chain(uids.iter().map(|uid| format!("user{uid}")))
        .collect();
    let unknown_host = |field: String, host: &str| {
        let known: Vec<&str> = hosts.iter().map(String::as_str).collect();
        format!(
            "{field}: unknown host {host:?}; hosts are {}",
            known.join(", ")
        )
    };
    for (i, fault) in s.faults.iter().enumerate() {
        let here = format!("faults[{i}]");
        match (fault.at_ms, &fault.after) {
            (Some(_), Some(_)) => return Err(format!("{here}: give `at_ms` or `after`, not both")),
            (None, None) => {
                return Err(format!(
                    "{here}: give `at_ms` (a time) or `after` (a trigger)"
                ))
            }
            _ => {}
        }
        let named = fault.kind.hosts().into_iter();
        if let Some((key, host)) = named.into_iter().find(|(_, h)| !hosts.contains(*h)) {
            return Err(unknown_host(format!("{here}.{key}"), host));
        }
        if let FaultKind::Reset { host, to: Some(to) } = &fault.kind {
            if !host.starts_with("user") || !["chat", "resource"].contains(&to.as_str()) {
                return Err(format!(
                    "{here}: a reset with `to` closes one user's connection to one server: \
                     `host` is a user and `to` is \"chat\" or \"resource\", not {host:?} -> {to:?}"
                ));
            }
        }
        if let Some(trigger) = &fault.after {
            // A trigger on a host or a user that does not exist would never fire.
            if let Some(host) = trigger.host.as_deref().filter(|h| !hosts.contains(*h)) {
                return Err(unknown_host(format!("{here}.after.host"), host));
            }
            for field in events::UID_FIELDS {
                let uid = trigger.fields.get(field).and_then(|v| v.as_integer());
                if let Some(uid) =
                    uid.filter(|u| !i32::try_from(*u).is_ok_and(|u| uids.contains(&u)))
                {
                    return Err(format!(
                        "{here}.after.{field}: user {uid} is not declared in [[users]]"
                    ));
                }
            }
            if trigger.nth == 0 {
                return Err(format!("{here}.after.nth: counts from 1"));
            }
        }
    }
    for (i, fault) in s.frame_faults.iter().enumerate() {
        let here = format!("frame_faults[{i}]");
        if let Some(user) = fault.user.filter(|u| !uids.contains(u)) {
            return Err(format!(
                "{here}.user: user {user} is not declared in [[users]]"
            ));
        }
        if fault.nth == 0 {
            return Err(format!("{here}.nth: counts from 1"));
        }
        if fault.action == FrameAction::Delay && fault.delay_ms == 0 {
            return Err(format!("{here}: action \"delay\" needs delay_ms > 0"));
        }
        let paced = matches!(
            fault.action,
            FrameAction::Delay | FrameAction::Slice | FrameAction::Duplicate
        );
        if !paced && fault.delay_ms > 0 {
            return Err(format!(
                "{here}.delay_ms: only actions \"delay\", \"slice\" and \"duplicate\" use delay_ms, not {:?}",
                format!("{:?}", fault.action).to_lowercase()
            ));
        }
        match (fault.action, fault.set.is_empty()) {
            (FrameAction::Rewrite, true) => {
                return Err(format!(
                    "{here}: action \"rewrite\" needs `set`, a table of the body fields to \
                     overwrite, e.g. set = {{ name = \"../escape.png\" }}"
                ))
            }
            (FrameAction::Rewrite, false) | (_, true) => {}
            (other, false) => {
                return Err(format!(
                    "{here}.set: only action \"rewrite\" uses `set`, not {:?}",
                    format!("{other:?}").to_lowercase()
                ))
            }
        }
    }
    Ok(())
}

/// Faults that could never fire, whatever the run does: they would change nothing and let a
/// recovery scenario pass as if it had recovered.
fn validate_can_fire(s: &Scenario) -> Result<(), String> {
    let limit = s.time_limit_s * 1000;
    let late = |field: String, at: u64| {
        format!(
            "{field}: {at} is not before the time limit of {} s, so it could never fire",
            s.time_limit_s
        )
    };
    for (i, fault) in s.faults.iter().enumerate() {
        if let Some(at) = fault.at_ms.filter(|at| *at >= limit) {
            return Err(late(format!("faults[{i}].at_ms"), at));
        }
    }
    for (i, fault) in s.frame_faults.iter().enumerate() {
        let here = format!("frame_faults[{i}]");
        if let Some(id) = fault
            .id
            .filter(|id| crate::protocol::ids::name(*id) == "unknown")
        {
            return Err(format!(
                "{here}.id: {id} is not a message id of the protocol"
            ));
        }
        if fault.seq == Some(0) {
            return Err(format!("{here}.seq: chunks count from 1"));
        }
        if let Some(from) = fault.from_ms.filter(|from| *from >= limit) {
            return Err(late(format!("{here}.from_ms"), from));
        }
        if let (Some(from), Some(until)) = (fault.from_ms, fault.until_ms) {
            if until <= from {
                return Err(format!(
                    "{here}.until_ms: {until} is not after from_ms {from}, so the window is empty"
                ));
            }
        }
    }
    Ok(())
}

fn validate_expect(expect: &Expectation, field: &str) -> Result<(), String> {
    for (i, oracle) in expect.violated.iter().enumerate() {
        if !ORACLES.contains(&oracle.as_str()) {
            return Err(format!(
                "{field}.violated[{i}]: unknown oracle {oracle:?}; oracles are {}",
                ORACLES.join(", ")
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse(Path::new("s.toml"), text).unwrap_err().to_string()
    }

    const USERS: &str = "[[users]]\nuid = 1\n[[users]]\nuid = 2\n";

    #[test]
    fn a_minimal_scenario_loads_with_defaults() {
        let s = parse(Path::new("s.toml"), USERS).unwrap();
        assert_eq!(s.seed, 1);
        assert_eq!(s.users[1].token(), "token-2");
    }

    #[test]
    fn errors_name_the_file_the_field_and_the_problem() {
        let unknown_user = format!(
            "{USERS}[[actions]]\nat_ms = 1\nuser = 3\ntext = {{ to = 1, contents = [\"x\"] }}\n"
        );
        assert_eq!(
            err(&unknown_user),
            "s.toml:7: actions[0].user: user 3 is not declared in [[users]]"
        );
        let both = format!(
            "{USERS}[[actions]]\nat_ms = 1\nuser = 1\ntext = {{ to = 2, contents = [] }}\nimage = {{ to = 2, size = 1 }}\n"
        );
        assert!(err(&both).contains("actions[0]: set exactly one"));
        let wrong_type = format!("seed = \"seven\"\n{USERS}");
        assert_eq!(
            err(&wrong_type),
            "s.toml:1: seed: invalid type: string \"seven\", expected u64"
        );
        let typo = format!("{USERS}[[actions]]\nat_ms = 1\nuser = 1\ntxt = 3\n");
        assert_eq!(
            err(&typo),
            "s.toml:8: actions[0].txt: unknown key; did you mean \"text\"?"
        );
        assert_eq!(
            err("seed = \n"),
            "s.toml:1: not TOML: string values must be quoted, expected literal string"
        );
        let hostile = format!("{USERS}[[actions]]\nat_ms = 1\nuser = 1\nimage = {{ to = 2, size = 1, name = \"../x\" }}\n");
        assert!(err(&hostile).contains("actions[0].image.name"));
    }

    #[test]
    fn chat_servers_and_the_servers_users_name_are_checked() {
        assert_eq!(
            err(&format!("chat_servers = 3\n{USERS}")),
            "s.toml:1: chat_servers: 3 is not supported; 1 (host `chat`) or 2 (hosts `chat1`, `chat2`)"
        );
        let on = |server: &str, count: u8| {
            format!("chat_servers = {count}\n[[users]]\nuid = 1\nserver = \"{server}\"\n")
        };
        assert!(
            err(&on("chat2", 1)).contains("users[0].server: \"chat2\" needs `chat_servers = 2`")
        );
        assert!(err(&on("chat3", 2))
            .contains("unknown chat server \"chat3\"; the chat servers are chat1, chat2"));
        let moved = format!(
            "chat_servers = 2\n{USERS}[[actions]]\nat_ms = 1\nuser = 2\nlogin = {{ server = \"chat9\" }}\n"
        );
        assert!(err(&moved).contains("actions[0].login.server: unknown chat server"));
        let typo =
            format!("{USERS}[[actions]]\nat_ms = 1\nuser = 2\nlogin = {{ sever = \"chat2\" }}\n");
        assert!(err(&typo).contains("did you mean \"server\""));
        let crash = format!(
            "chat_servers = 2\n{USERS}[[faults]]\nat_ms = 1\nkind = \"crash\"\nhost = \"chat\"\n"
        );
        assert!(err(&crash).contains("unknown host \"chat\"; hosts are chat1, chat2"));
        let two = parse(Path::new("s.toml"), &on("chat2", 2)).unwrap();
        assert_eq!(two.home_server(&two.users[0]), "chat2");
        assert_eq!(two.chat_hosts(), ["chat1", "chat2"]);
    }

    #[test]
    fn a_rewrite_needs_a_set_and_only_a_rewrite_takes_one() {
        let rewrite = |extra: &str| {
            format!("{USERS}[[frame_faults]]\naction = \"rewrite\"\nid = 1041\n{extra}")
        };
        assert!(err(&rewrite("")).contains("frame_faults[0]: action \"rewrite\" needs `set`"));
        assert!(err(&rewrite("set = {}\n")).contains("needs `set`"));
        let ok = parse(
            Path::new("s.toml"),
            &rewrite("set = { name = \"../escape.png\", uid = 2 }\n"),
        )
        .unwrap();
        assert_eq!(ok.frame_faults[0].set["uid"], serde_json::json!(2));
        assert_eq!(ok.frame_faults[0].set["name"], "../escape.png");
        let stray = format!("{USERS}[[frame_faults]]\naction = \"drop\"\nset = {{ uid = 2 }}\n");
        assert!(err(&stray).contains("frame_faults[0].set: only action \"rewrite\""));
    }
}
