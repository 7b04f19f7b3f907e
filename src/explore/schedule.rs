//! A generated schedule as plain data, and its scenario-file text. The text is what runs: the
//! explorer parses it with the ordinary scenario parser, so `--print SEED`, the shrunk file and
//! `chatsim run` all see exactly the same scenario.
//!
//! Emission normalises the schedule so that any subset the shrinker makes is still a valid
//! scenario: actions of or to missing users, faults naming missing hosts and pause/resume/cancel
//! of files no earlier action sends are left out.

use crate::client::WindowPolicy;
use crate::profile::Profile;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// One seed's schedule: who, what, when, and which faults.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// The explore seed; also the scenario's seed (latencies and image bytes).
    pub seed: u64,
    pub time_limit_s: u64,
    pub latency_ms: [u64; 2],
    pub bandwidth_kbps: Option<u64>,
    pub profile: Profile,
    /// The uids, each a host `user<uid>`.
    pub users: Vec<i32>,
    /// The user whose own frames are rewritten, if any (named in a comment only).
    pub hostile: Option<i32>,
    pub actions: Vec<Act>,
    pub faults: Vec<Fault>,
    pub frame_faults: Vec<FrameRule>,
    /// 1, or 2 for a world of `chat1` and `chat2` (`explore --chat-servers 2`).
    pub chat_servers: u8,
    /// Each user's first chat server, in a two-server world.
    pub servers: BTreeMap<i32, String>,
    /// The clients' upload window (`explore --window`); the default is left out of the file.
    pub window: WindowPolicy,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Act {
    pub at_ms: u64,
    pub user: i32,
    pub what: What,
}

#[derive(Debug, Clone, PartialEq)]
pub enum What {
    Text {
        to: i32,
        contents: Vec<String>,
    },
    /// One file is an `image` action, several an `images` action (they share the window).
    Images(Vec<FileSpec>),
    Pause(String),
    Resume(String),
    Cancel(String),
    Logout,
    Login,
    /// Log in on this chat server (two-server worlds only).
    Move(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct FileSpec {
    pub to: i32,
    pub size: u64,
    pub name: String,
}

/// When a host fault fires: at a time, or after the resource server stored the n-th chunk with
/// this seq (of any file).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum When {
    At(u64),
    AfterStored { seq: u32 },
}

/// A host, link or disk fault together with whatever undoes it, so every fault heals.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    pub when: When,
    pub what: FaultWhat,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FaultWhat {
    Partition {
        a: String,
        b: String,
        oneway: bool,
        heal_after_ms: u64,
    },
    Hold {
        a: String,
        b: String,
        release_after_ms: u64,
    },
    Reset {
        host: String,
    },
    Restart {
        host: String,
        after_ms: u64,
    },
    /// `crash`, then `bounce` this much later.
    Crash {
        host: String,
        bounce_after_ms: u64,
    },
    DiskError {
        count: u32,
    },
    /// `disk_full`, then `disk_ok` this much later.
    DiskFull {
        ok_after_ms: u64,
    },
    /// `store_crash`: `host` dies right after its store's `nth` `op` write from the fault's time,
    /// and starts again `after_ms` later.
    StoreCrash {
        host: String,
        op: &'static str,
        nth: u32,
        after_ms: u64,
    },
}

/// A frame fault of the proxy; `set` (for `rewrite`) holds TOML values as text.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameRule {
    pub action: &'static str,
    pub user: Option<i32>,
    pub direction: Option<&'static str>,
    pub id: Option<u16>,
    pub file: Option<String>,
    pub seq: Option<u32>,
    pub nth: u32,
    pub count: u32,
    pub delay_ms: u64,
    pub set: Vec<(String, String)>,
}

impl FaultWhat {
    /// The hosts the fault names, to rename them. A store crash's host names its store, not a
    /// host to move, so it is not among them.
    pub fn hosts_mut(&mut self) -> Vec<&mut String> {
        match self {
            FaultWhat::Partition { a, b, .. } | FaultWhat::Hold { a, b, .. } => vec![a, b],
            FaultWhat::Reset { host }
            | FaultWhat::Restart { host, .. }
            | FaultWhat::Crash { host, .. } => vec![host],
            FaultWhat::DiskError { .. }
            | FaultWhat::DiskFull { .. }
            | FaultWhat::StoreCrash { .. } => vec![],
        }
    }

    fn hosts(&self) -> Vec<&str> {
        match self {
            FaultWhat::Partition { a, b, .. } | FaultWhat::Hold { a, b, .. } => vec![a, b],
            FaultWhat::Reset { host }
            | FaultWhat::Restart { host, .. }
            | FaultWhat::Crash { host, .. }
            | FaultWhat::StoreCrash { host, .. } => vec![host],
            FaultWhat::DiskError { .. } | FaultWhat::DiskFull { .. } => vec![],
        }
    }
}

/// A TOML string literal.
pub fn quote(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

impl Schedule {
    /// The action list as emitted: only actions whose users exist and whose files are sent.
    pub fn effective_actions(&self) -> Vec<Act> {
        let users: BTreeSet<i32> = self.users.iter().copied().collect();
        let limit = self.time_limit_s * 1000;
        let mut sent: BTreeSet<&str> = BTreeSet::new();
        let mut out = Vec::new();
        for act in &self.actions {
            if !users.contains(&act.user) || act.at_ms >= limit {
                continue;
            }
            let what = match &act.what {
                What::Text { to, .. } if !users.contains(to) => continue,
                What::Images(files) => {
                    let files: Vec<FileSpec> = files
                        .iter()
                        .filter(|f| users.contains(&f.to))
                        .cloned()
                        .collect();
                    if files.is_empty() {
                        continue;
                    }
                    What::Images(files)
                }
                What::Pause(f) | What::Resume(f) | What::Cancel(f)
                    if !sent.contains(f.as_str()) =>
                {
                    continue
                }
                What::Move(_) if self.chat_servers < 2 => continue,
                other => other.clone(),
            };
            if let What::Images(files) = &act.what {
                sent.extend(
                    files
                        .iter()
                        .filter(|f| users.contains(&f.to))
                        .map(|f| f.name.as_str()),
                );
            }
            out.push(Act {
                at_ms: act.at_ms,
                user: act.user,
                what,
            });
        }
        out
    }

    fn host_exists(&self, host: &str) -> bool {
        match host.strip_prefix("user") {
            Some(uid) => uid.parse().is_ok_and(|uid: i32| self.users.contains(&uid)),
            None => match host {
                "chat" => self.chat_servers < 2,
                "chat1" | "chat2" => self.chat_servers == 2,
                _ => true,
            },
        }
    }

    /// The scenario file of this schedule.
    pub fn to_toml(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "description = \"chatsim explore seed {}\"\nseed = {}\ntime_limit_s = {}",
            self.seed, self.seed, self.time_limit_s
        );
        self.write_profile(&mut s);
        if self.chat_servers == 2 {
            s.push_str("chat_servers = 2\n");
        }
        if self.window != WindowPolicy::default() {
            let _ = writeln!(s, "window = \"{}\"", self.window.name());
        }
        // The default link ([1, 10] ms, unlimited) is left out, so shrunk files stay short.
        if self.latency_ms != [1, 10] || self.bandwidth_kbps.is_some() {
            let [min, max] = self.latency_ms;
            let _ = write!(s, "\n[link]\nlatency_ms = [{min}, {max}]\n");
        }
        if let Some(kbps) = self.bandwidth_kbps {
            let _ = writeln!(s, "bandwidth_kbps = {kbps}");
        }
        for uid in &self.users {
            let _ = write!(s, "\n[[users]]\nuid = {uid}\n");
            if let Some(server) = self.servers.get(uid).filter(|_| self.chat_servers == 2) {
                let _ = writeln!(s, "server = {}", quote(server));
            }
        }
        if let Some(uid) = self.hostile.filter(|u| self.users.contains(u)) {
            let _ = writeln!(
                s,
                "\n# user{uid} is hostile: the proxy rewrites fields of its own frames."
            );
        }
        for act in self.effective_actions() {
            write_act(&mut s, &act);
        }
        for fault in &self.faults {
            if fault.what.hosts().iter().all(|h| self.host_exists(h)) {
                write_fault(&mut s, fault);
            }
        }
        for rule in &self.frame_faults {
            if rule.user.is_none_or(|u| self.users.contains(&u)) {
                write_rule(&mut s, rule);
            }
        }
        s
    }

    fn write_profile(&self, s: &mut String) {
        if let Some(name) = self
            .profile
            .named()
            .filter(|_| !self.profile.is_reference())
        {
            let _ = writeln!(s, "profile = {}", quote(name));
        } else if !self.profile.is_reference() {
            let names: Vec<String> = self.profile.quirks().map(|q| quote(q.name())).collect();
            let _ = writeln!(s, "quirks = [{}]", names.join(", "));
        }
    }
}

fn write_act(s: &mut String, act: &Act) {
    let _ = write!(
        s,
        "\n[[actions]]\nat_ms = {}\nuser = {}\n",
        act.at_ms, act.user
    );
    let file = |f: &FileSpec| {
        format!(
            "{{ to = {}, size = {}, name = {} }}",
            f.to,
            f.size,
            quote(&f.name)
        )
    };
    let _ = match &act.what {
        What::Text { to, contents } => {
            let items: Vec<String> = contents.iter().map(|c| quote(c)).collect();
            writeln!(
                s,
                "text = {{ to = {to}, contents = [{}] }}",
                items.join(", ")
            )
        }
        What::Images(files) if files.len() == 1 => writeln!(s, "image = {}", file(&files[0])),
        What::Images(files) => {
            let all: Vec<String> = files.iter().map(file).collect();
            writeln!(s, "images = [{}]", all.join(", "))
        }
        What::Pause(f) => writeln!(s, "pause = {{ file = {} }}", quote(f)),
        What::Resume(f) => writeln!(s, "resume = {{ file = {} }}", quote(f)),
        What::Cancel(f) => writeln!(s, "cancel = {{ file = {} }}", quote(f)),
        What::Logout => writeln!(s, "logout = {{}}"),
        What::Login => writeln!(s, "login = {{}}"),
        What::Move(server) => writeln!(s, "login = {{ server = {} }}", quote(server)),
    };
}

/// One `[[faults]]` entry: `body` holds the kind and its keys; `later` is added to the time.
/// Every generated fault is `optional`: a random fault may find nothing to act on (a frame rule
/// whose file was never sent, a reset of a host already down), and the explorer judges a seed by
/// its oracles alone. Without it `chatsim run` would fail a printed seed the explorer passed.
const OPTIONAL: &str = "optional = true\n";

fn write_one(s: &mut String, when: When, later: u64, body: &str) {
    s.push_str("\n[[faults]]\n");
    s.push_str(OPTIONAL);
    let _ = match when {
        When::At(at) => writeln!(s, "at_ms = {}", at + later),
        When::AfterStored { seq } => {
            let _ = writeln!(
                s,
                "after = {{ event = \"chunk_stored\", host = \"resource\", seq = {seq} }}"
            );
            if later > 0 {
                writeln!(s, "delay_ms = {later}")
            } else {
                Ok(())
            }
        }
    };
    s.push_str(body);
}

fn write_fault(s: &mut String, fault: &Fault) {
    let when = fault.when;
    let pair = |a: &str, b: &str| format!("a = {}\nb = {}\n", quote(a), quote(b));
    match &fault.what {
        FaultWhat::Partition {
            a,
            b,
            oneway,
            heal_after_ms,
        } => {
            let keys = format!("{}oneway = {oneway}\n", pair(a, b));
            write_one(s, when, 0, &format!("kind = \"partition\"\n{keys}"));
            write_one(s, when, *heal_after_ms, &format!("kind = \"heal\"\n{keys}"));
        }
        FaultWhat::Hold {
            a,
            b,
            release_after_ms,
        } => {
            write_one(s, when, 0, &format!("kind = \"hold\"\n{}", pair(a, b)));
            let release = format!("kind = \"release\"\n{}", pair(a, b));
            write_one(s, when, *release_after_ms, &release);
        }
        FaultWhat::Reset { host } => write_one(
            s,
            when,
            0,
            &format!("kind = \"reset\"\nhost = {}\n", quote(host)),
        ),
        FaultWhat::Restart { host, after_ms } => write_one(
            s,
            when,
            0,
            &format!(
                "kind = \"restart\"\nhost = {}\nafter_ms = {after_ms}\n",
                quote(host)
            ),
        ),
        FaultWhat::Crash {
            host,
            bounce_after_ms,
        } => {
            write_one(
                s,
                when,
                0,
                &format!("kind = \"crash\"\nhost = {}\n", quote(host)),
            );
            let bounce = format!("kind = \"bounce\"\nhost = {}\n", quote(host));
            write_one(s, when, *bounce_after_ms, &bounce);
        }
        FaultWhat::DiskError { count } => write_one(
            s,
            when,
            0,
            &format!("kind = \"disk_error\"\ncount = {count}\n"),
        ),
        FaultWhat::DiskFull { ok_after_ms } => {
            write_one(s, when, 0, "kind = \"disk_full\"\n");
            write_one(s, when, *ok_after_ms, "kind = \"disk_ok\"\n");
        }
        FaultWhat::StoreCrash {
            host,
            op,
            nth,
            after_ms,
        } => write_one(
            s,
            when,
            0,
            &format!(
                "kind = \"store_crash\"\nhost = {}\nop = {}\nnth = {nth}\nafter_ms = {after_ms}\n",
                quote(host),
                quote(op)
            ),
        ),
    }
}

fn write_rule(s: &mut String, rule: &FrameRule) {
    let _ = write!(s, "\n[[frame_faults]]\naction = \"{}\"\n", rule.action);
    s.push_str(OPTIONAL);
    if let Some(user) = rule.user {
        let _ = writeln!(s, "user = {user}");
    }
    if let Some(direction) = rule.direction {
        let _ = writeln!(s, "direction = \"{direction}\"");
    }
    if let Some(id) = rule.id {
        let _ = writeln!(s, "id = {id}");
    }
    if let Some(file) = &rule.file {
        let _ = writeln!(s, "file = {}", quote(file));
    }
    if let Some(seq) = rule.seq {
        let _ = writeln!(s, "seq = {seq}");
    }
    if rule.nth != 1 {
        let _ = writeln!(s, "nth = {}", rule.nth);
    }
    if rule.count != 1 {
        let _ = writeln!(s, "count = {}", rule.count);
    }
    if rule.delay_ms > 0 {
        let _ = writeln!(s, "delay_ms = {}", rule.delay_ms);
    }
    if !rule.set.is_empty() {
        let fields: Vec<String> = rule.set.iter().map(|(k, v)| format!("{k} = {v}")).collect();
        let _ = writeln!(s, "set = {{ {} }}", fields.join(", "));
    }
}
