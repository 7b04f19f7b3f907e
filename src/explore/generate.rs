//! One u64 seed becomes one schedule: 2–4 users, 1–4 files (mostly under 256 KiB, often at and
//! around chunk boundaries, one in ten up to 4 MiB), texts, pause/resume/cancel, logout/login,
//! host, link and disk faults that all heal, frame faults, and sometimes a hostile user whose own
//! chunk requests are rewritten. Everything is chosen so that a correct system can finish.

use super::schedule::{Act, Fault, FaultWhat, FileSpec, FrameRule, Schedule, What, When};
use crate::profile::Profile;
use crate::protocol::{ids, CHUNK_SIZE};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// The default time limit: generous, since every fault heals within about 20 s.
pub const DEFAULT_TIME_LIMIT_S: u64 = 120;

/// The schedule of `seed`, run with `profile`.
pub fn generate(seed: u64, profile: &Profile) -> Schedule {
    // Mixed so that neighbouring seeds do not start from similar generator states.
    let mut rng = SmallRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5eed);
    let users: Vec<i32> = (1..=rng.random_range(2..=4)).collect();
    let hostile = rng
        .random_bool(0.3)
        .then(|| *users.last().expect("two or more"));
    let mut g = Gen {
        rng,
        users: users.clone(),
        hostile,
        actions: Vec::new(),
        files: Vec::new(),
    };
    g.files_and_controls();
    g.texts();
    g.sessions();
    g.actions.sort_by_key(|a| a.at_ms);
    let mut faults = Vec::new();
    for _ in 0..g.rng.random_range(0..=4) {
        faults.push(g.fault());
    }
    faults.extend(store_crash(seed));
    let mut frame_faults = Vec::new();
    for _ in 0..g.rng.random_range(0..=3) {
        frame_faults.push(g.frame_rule());
    }
    if let Some(uid) = hostile {
        for _ in 0..g.rng.random_range(1..=2) {
            frame_faults.push(g.hostile_rule(uid));
        }
    }
    let total: u64 = g.files.iter().map(|f| f.size).sum();
    let bandwidth_kbps = g.rng.random_bool(0.15).then(|| {
        // Slow, but never so slow that the bytes cannot move within about 30 s.
        let floor = total * 8 / 1000 / 30 + 1;
        g.rng.random_range(500..8000u64).max(floor)
    });
    let min = g.rng.random_range(1..=5);
    Schedule {
        seed,
        time_limit_s: DEFAULT_TIME_LIMIT_S
            + bandwidth_kbps.map_or(0, |kbps| transfer_s(total, kbps))
            + lost_frames_s(&frame_faults),
        latency_ms: [min, min + g.rng.random_range(0..=20)],
        bandwidth_kbps,
        profile: profile.clone(),
        users,
        hostile,
        actions: g.actions,
        faults,
        frame_faults,
        chat_servers: 1,
        servers: Default::default(),
        window: Default::default(),
    }
}

/// The schedule of `seed` in a world of two chat servers: the one-server schedule of the same
/// seed, then, from a generator of its own (so the one-server draws stay as they were), a home
/// server per user, each fault on `chat` moved to `chat1` or `chat2`, perhaps a partition between
/// the two that heals, and up to two moves of a user to a server.
pub fn generate_two_chat(seed: u64, profile: &Profile) -> Schedule {
    let mut s = generate(seed, profile);
    let mut rng = SmallRng::seed_from_u64(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0x2c4a7);
    let server = |rng: &mut SmallRng| ["chat1", "chat2"][rng.random_range(0..2)].to_owned();
    s.chat_servers = 2;
    // The message store's crash points belong to the one-server world (`store_crash` on `chat`).
    s.faults
        .retain(|f| !matches!(&f.what, FaultWhat::StoreCrash { host, .. } if host == "chat"));
    for uid in &s.users {
        s.servers.insert(*uid, server(&mut rng));
    }
    for fault in &mut s.faults {
        for host in fault.what.hosts_mut() {
            if host == "chat" {
                *host = server(&mut rng);
            }
        }
    }
    if rng.random_bool(0.5) {
        s.faults.push(Fault {
            when: When::At(rng.random_range(0..8000)),
            what: FaultWhat::Partition {
                a: "chat1".into(),
                b: "chat2".into(),
                oneway: rng.random_bool(0.3),
                heal_after_ms: rng.random_range(300..15_000),
            },
        });
    }
    for _ in 0..rng.random_range(0..=2) {
        let user = s.users[rng.random_range(0..s.users.len())];
        s.actions.push(Act {
            at_ms: rng.random_range(0..8000),
            user,
            what: What::Move(server(&mut rng)),
        });
    }
    s.actions.sort_by_key(|a| a.at_ms);
    s
}

/// Seconds to move `total` bytes of files four times over a `kbps` link as base64 (4/3 of the
/// bytes): an upload and a download, each perhaps done twice, since a corrupted chunk fails the
/// whole file's md5. A correct system on a slow link needs this much on top of the faults'
/// time (seed 3005: 2.5 MB at 711 kbps, upload 40 s, a corrupted download done twice, 80 s:
/// the time limit of 120 s passed with the last chunk on its way).
fn transfer_s(total: u64, kbps: u64) -> u64 {
    let wire_bits = total.div_ceil(3) * 4 * 8;
    4 * wire_bits / (kbps * 1000) + 1
}

/// Sometimes (one schedule in four) a crash point inside a store beside a host: the chat
/// server dies right after a write of its message store, or the resource server right after a
/// write of its upload state (a group commit among them), where a crash of the host alone cannot
/// strike. Drawn from a generator of its own, so that every other draw of the seed stays as it
/// was. Its `nth` write may never come; like every generated fault it is optional.
fn store_crash(seed: u64) -> Option<Fault> {
    // The writes a `store_crash` may name on each host (`scenario::store_writes`), the commits
    // that carry the most weight drawn more often.
    const CHAT_WRITES: &[&str] = &[
        "store_once",
        "store_once",
        "change_status",
        "change_status",
        "drop_push",
    ];
    const RESOURCE_WRITES: &[&str] = &[
        "put",
        "add_chunks",
        "add_chunks",
        "add_chunks",
        "save_fields",
        "remove",
    ];
    let mut rng = SmallRng::seed_from_u64(seed.wrapping_mul(0xD1B5_4A32_D192_ED03) ^ 0x5c_7a5);
    if !rng.random_bool(0.25) {
        return None;
    }
    let (host, ops) = match rng.random_bool(0.5) {
        true => ("chat", CHAT_WRITES),
        false => ("resource", RESOURCE_WRITES),
    };
    Some(Fault {
        when: When::At(rng.random_range(0..4000)),
        what: FaultWhat::StoreCrash {
            host: host.to_owned(),
            op: ops[rng.random_range(0..ops.len())],
            nth: rng.random_range(1..=3),
            after_ms: rng.random_range(100..6000),
        },
    })
}

/// What the frames a schedule's rules lose can cost its clients. A lost or corrupted request
/// fires its rule only when the client sends it, and each costs that client up to its longest
/// recovery (a download's reply timeout, then its longest backoff), so the losses of rules
/// matched by occurrence can spread over minutes (explore seeds 7038 and 41128: six dropped 1047s
/// took 108 s). The time limit must leave the liveness bound room after the last of them, or
/// `liveness` reports an unfinished action the limit merely cut short.
fn lost_frames_s(rules: &[FrameRule]) -> u64 {
    let defaults = crate::client::ClientConfig::new(0, "", "", "");
    let recovery = defaults.download_timeout + crate::client::download::MAX_BACKOFF;
    let lost: u64 = rules
        .iter()
        .filter(|r| matches!(r.action, "drop" | "corrupt"))
        .map(|r| u64::from(r.count))
        .sum();
    lost * recovery.as_secs()
}

struct Gen {
    rng: SmallRng,
    users: Vec<i32>,
    hostile: Option<i32>,
    actions: Vec<Act>,
    /// Every file sent, with its sender.
    files: Vec<FileSpec>,
}

impl Gen {
    fn pick<T: Clone>(&mut self, from: &[T]) -> T {
        from[self.rng.random_range(0..from.len())].clone()
    }

    fn other_than(&mut self, uid: i32) -> i32 {
        let others: Vec<i32> = self.users.iter().copied().filter(|u| *u != uid).collect();
        self.pick(&others)
    }

    /// Most under 256 KiB; sizes at and around chunk boundaries likely; one in ten up to 4 MiB.
    fn size(&mut self) -> u64 {
        let roll = self.rng.random_range(0..10);
        match roll {
            0 => self.rng.random_range(256 << 10..=4 << 20),
            1..=4 => {
                let chunks = self.rng.random_range(0..=8u64);
                let nudge = self.rng.random_range(-1..=1i64);
                (chunks * CHUNK_SIZE).saturating_add_signed(nudge)
            }
            _ => self.rng.random_range(0..256 << 10),
        }
    }

    /// The files, grouped into `image`/`images` actions, with pause/resume/cancel on some.
    fn files_and_controls(&mut self) {
        let senders: Vec<i32> = self
            .users
            .iter()
            .copied()
            .filter(|u| Some(*u) != self.hostile)
            .collect();
        let count = self.rng.random_range(1..=4);
        let mut pending: Vec<(i32, FileSpec)> = Vec::new();
        for k in 0..count {
            let from = self.pick(&senders);
            let to = self.other_than(from);
            let size = self.size();
            pending.push((
                from,
                FileSpec {
                    to,
                    size,
                    name: format!("f{from}-{k}.png"),
                },
            ));
        }
        // The hostile user sends one file of its own, which carries its rewritten frames.
        if let Some(uid) = self.hostile {
            let to = self.other_than(uid);
            let size = self.rng.random_range(1..200_000);
            pending.push((
                uid,
                FileSpec {
                    to,
                    size,
                    name: format!("f{uid}-h.png"),
                },
            ));
        }
        while let Some((from, first)) = pending.pop() {
            let mut group = vec![first];
            // Sometimes several files of one sender go in one action and share the window.
            if self.rng.random_bool(0.5) {
                while let Some(i) = pending.iter().position(|(f, _)| *f == from) {
                    group.push(pending.remove(i).1);
                }
            }
            let at = self.rng.random_range(0..3000);
            for file in &group {
                self.controls(from, at, &file.name);
            }
            self.files.extend(group.iter().cloned());
            self.actions.push(Act {
                at_ms: at,
                user: from,
                what: What::Images(group),
            });
        }
    }

    fn controls(&mut self, user: i32, sent_at: u64, file: &str) {
        let roll = self.rng.random_range(0..100);
        let pause_at = sent_at + self.rng.random_range(0..1500);
        if roll < 15 {
            let resume_at = pause_at + self.rng.random_range(100..4000);
            self.actions.push(Act {
                at_ms: pause_at,
                user,
                what: What::Pause(file.into()),
            });
            self.actions.push(Act {
                at_ms: resume_at,
                user,
                what: What::Resume(file.into()),
            });
        } else if roll < 22 {
            self.actions.push(Act {
                at_ms: pause_at,
                user,
                what: What::Cancel(file.into()),
            });
        }
    }

    fn texts(&mut self) {
        for _ in 0..self.rng.random_range(0..=3) {
            let from = self.pick(&self.users.clone());
            let to = self.other_than(from);
            let contents = (0..self.rng.random_range(1..=4))
                .map(|_| self.text_item())
                .collect();
            let at_ms = self.rng.random_range(0..4000);
            self.actions.push(Act {
                at_ms,
                user: from,
                what: What::Text { to, contents },
            });
        }
    }

    fn text_item(&mut self) -> String {
        match self.rng.random_range(0..12) {
            0 => String::new(),
            1 => "图片马上到，请稍等".into(),
            2 => {
                // Over the 1024 characters of one request: the client splits it.
                let n = self.rng.random_range(1000..1400);
                "abcdefghij".chars().cycle().take(n).collect()
            }
            3 => "quote \" backslash \\ tab \t done".into(),
            n => format!("hello {n}"),
        }
    }

    /// Sometimes a user logs out and back in: pushes wait on the server meanwhile.
    fn sessions(&mut self) {
        if self.rng.random_bool(0.1) {
            let user = self.pick(&self.users.clone());
            let out = self.rng.random_range(0..4000);
            let back = out + self.rng.random_range(200..5000);
            self.actions.push(Act {
                at_ms: out,
                user,
                what: What::Logout,
            });
            self.actions.push(Act {
                at_ms: back,
                user,
                what: What::Login,
            });
        }
    }

    fn user_host(&mut self) -> String {
        let uid = self.pick(&self.users.clone());
        format!("user{uid}")
    }

    fn server(&mut self) -> String {
        self.pick(&["chat", "resource"]).to_owned()
    }

    fn fault(&mut self) -> Fault {
        let at = self.rng.random_range(0..8000);
        let when = if self.rng.random_bool(0.2) {
            When::AfterStored {
                seq: self.rng.random_range(1..=6),
            }
        } else {
            When::At(at)
        };
        let what = match self.rng.random_range(0..8) {
            0 | 1 => {
                let (a, b) = match self.rng.random_range(0..3) {
                    0 => (self.user_host(), "chat".to_owned()),
                    1 => (self.user_host(), "resource".to_owned()),
                    _ => ("resource".to_owned(), "chat".to_owned()),
                };
                let (a, b) = if self.rng.random_bool(0.5) {
                    (a, b)
                } else {
                    (b, a)
                };
                FaultWhat::Partition {
                    a,
                    b,
                    oneway: self.rng.random_bool(0.4),
                    heal_after_ms: self.rng.random_range(300..15_000),
                }
            }
            2 => {
                let a = self.user_host();
                let b = self.server();
                FaultWhat::Hold {
                    a,
                    b,
                    release_after_ms: self.rng.random_range(100..5000),
                }
            }
            3 => {
                let host = if self.rng.random_bool(0.5) {
                    self.user_host()
                } else {
                    self.server()
                };
                FaultWhat::Reset { host }
            }
            4 => FaultWhat::Restart {
                host: self.server(),
                after_ms: self.rng.random_range(100..6000),
            },
            5 => FaultWhat::Crash {
                host: self.server(),
                bounce_after_ms: self.rng.random_range(100..6000),
            },
            6 => FaultWhat::DiskError {
                count: self.rng.random_range(1..=3),
            },
            _ => FaultWhat::DiskFull {
                ok_after_ms: self.rng.random_range(100..5000),
            },
        };
        Fault { when, what }
    }

    /// A frame fault on everyone's or one user's frames.
    fn frame_rule(&mut self) -> FrameRule {
        let action = self.pick(&["drop", "delay", "duplicate", "reorder", "corrupt", "slice"]);
        let up = self.rng.random_bool(0.5);
        let id = if self.rng.random_bool(0.8) {
            let ids: &[u16] = if up {
                &[
                    ids::FILE_INFO_SYNC_REQ,
                    ids::IMG_CHAT_UPLOAD_REQ,
                    ids::IMG_CHAT_UPLOAD_REQ,
                    ids::IMG_CHAT_CONTINUE_UPLOAD_REQ,
                    ids::TEXT_CHAT_MSG_REQ,
                    ids::IMG_CHAT_MSG_REQ,
                    ids::IMG_CHAT_DOWN_REQ,
                ]
            } else {
                &[
                    ids::FILE_INFO_SYNC_RSP,
                    ids::IMG_CHAT_UPLOAD_RSP,
                    ids::IMG_CHAT_UPLOAD_RSP,
                    ids::TEXT_CHAT_MSG_RSP,
                    ids::NOTIFY_IMG_CHAT_MSG_REQ,
                    ids::IMG_CHAT_DOWN_RSP,
                ]
            };
            Some(self.pick(ids))
        } else {
            None
        };
        // Every matching frame only where that cannot stop a transfer for good: not `reorder`,
        // which holds a lone reply (a download's) until another frame passes, for ever.
        let every =
            matches!(action, "duplicate" | "reorder" | "slice") && self.rng.random_bool(0.3);
        let count = if every && action != "reorder" {
            0
        } else {
            self.rng.random_range(1..=3)
        };
        let user = self
            .rng
            .random_bool(0.3)
            .then(|| self.pick(&self.users.clone()));
        let seq = (self.rng.random_bool(0.3)).then(|| self.rng.random_range(1..=5));
        FrameRule {
            action,
            user,
            direction: Some(if up { "up" } else { "down" }),
            id,
            file: None,
            seq,
            nth: self.rng.random_range(1..=8),
            count,
            delay_ms: match action {
                "delay" => self.rng.random_range(100..8000),
                "slice" => self.rng.random_range(0..30),
                _ => 0,
            },
            set: Vec::new(),
        }
    }

    /// The hostile user rewrites a field of its own chunk requests: another user's identity,
    /// message or file, a name that climbs out of its folder, a seq out of range.
    fn hostile_rule(&mut self, uid: i32) -> FrameRule {
        let victim = self.other_than(uid);
        let victim_file = self
            .files
            .iter()
            .find(|f| !f.name.starts_with(&format!("f{uid}-")))
            .map(|f| f.name.clone());
        let q = super::schedule::quote;
        let set: Vec<(String, String)> = match self.rng.random_range(0..8) {
            0 => match &victim_file {
                // Another user's message, under that message's own file name.
                Some(name) if self.rng.random_bool(0.5) => vec![
                    (
                        "message_id".into(),
                        self.rng.random_range(1..=6).to_string(),
                    ),
                    ("name".into(), q(name)),
                ],
                _ => vec![("uid".into(), victim.to_string())],
            },
            1 => match victim_file {
                Some(name) => vec![
                    ("uid".into(), victim.to_string()),
                    ("name".into(), q(&name)),
                ],
                None => vec![("uid".into(), victim.to_string())],
            },
            2 => vec![(
                "message_id".into(),
                self.rng.random_range(1..=6).to_string(),
            )],
            3 => vec![("receiver".into(), victim.to_string())],
            4 => vec![(
                "name".into(),
                q(self.pick(&["../escape.png", "../../etc/passwd", "../1/x.png"])),
            )],
            5 => vec![("seq".into(), "0".into())],
            6 => vec![(
                "seq".into(),
                self.rng.random_range(100..100_000).to_string(),
            )],
            _ => vec![("sender".into(), victim.to_string())],
        };
        let id = self.pick(&[
            ids::FILE_INFO_SYNC_REQ,
            ids::FILE_INFO_SYNC_REQ,
            ids::IMG_CHAT_UPLOAD_REQ,
            ids::IMG_CHAT_CONTINUE_UPLOAD_REQ,
        ]);
        FrameRule {
            action: "rewrite",
            user: Some(uid),
            direction: Some("up"),
            id: Some(id),
            file: None,
            seq: None,
            nth: 1,
            count: self.rng.random_range(1..=3),
            delay_ms: 0,
            set,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_link_gets_the_time_to_move_every_file_up_and_down_twice() {
        // Seed 3005: 2.5 MB and 160 KB at 711 kbps; each pass of their base64 takes 40 s.
        let s = generate(3005, &Profile::reference());
        let kbps = s.bandwidth_kbps.unwrap();
        assert_eq!(kbps, 711);
        let total: u64 = s
            .actions
            .iter()
            .flat_map(|a| match &a.what {
                What::Images(files) => files.iter().map(|f| f.size).collect(),
                _ => Vec::new(),
            })
            .sum();
        assert_eq!(total, 2_499_810 + 163_818);
        let pass_s = total as f64 * 4.0 / 3.0 * 8.0 / (kbps as f64 * 1000.0);
        assert!(s.time_limit_s as f64 >= DEFAULT_TIME_LIMIT_S as f64 + 4.0 * pass_s);
        // Without a bandwidth the limit stays the default.
        let fast = (0..50)
            .map(|seed| generate(seed, &Profile::reference()))
            .find(|s| s.bandwidth_kbps.is_none())
            .unwrap();
        assert_eq!(fast.time_limit_s, DEFAULT_TIME_LIMIT_S);
    }

    #[test]
    fn lost_frames_leave_the_liveness_bound_room_after_the_last_of_them() {
        // Seed 7038 drops six 1047s (two rules of three); the downloader's timeouts and backoff
        // spread them over 108 s, past what the 120 s default leaves for the liveness bound.
        let s = generate(7038, &Profile::reference());
        let dropped: u32 = s
            .frame_faults
            .iter()
            .filter(|r| r.action == "drop")
            .map(|r| r.count)
            .sum();
        assert!(dropped >= 6, "seed 7038 drops {dropped} frames");
        assert!(s.time_limit_s >= DEFAULT_TIME_LIMIT_S + 30 * u64::from(dropped));
    }

    #[test]
    fn every_store_crash_drawn_names_a_write_its_host_makes() {
        let crashes: Vec<_> = (0..400).filter_map(store_crash).collect();
        assert!(
            crashes.len() > 50,
            "{} store crashes in 400 seeds",
            crashes.len()
        );
        for crash in crashes {
            let FaultWhat::StoreCrash { host, op, .. } = crash.what else {
                panic!("not a store crash: {crash:?}");
            };
            let writes = crate::scenario::store_writes(&host).expect("a store host");
            assert!(writes.contains(&op), "{op} on {host}");
        }
    }
}
