//! `chatsim conform`: runs conformance cases against somebody's chat and resource servers over
//! real TCP, the way h2spec does for HTTP/2, and reports a verdict per case.
//!
//! Cases speak raw frames built with [`crate::protocol`], so they test exactly the wire format of
//! docs/protocol.md and nothing of our own client. Every wait has a timeout; whatever the server
//! sends, a case ends with a verdict and never panics.
//!
//! The cases only know addresses ([`Options::resource`], [`Options::chat`]). The proxy cases
//! (section 12) put the simulation's frame-aware fault proxy, over tokio's TCP, between
//! themselves and the resource server, and record in their transcript each fault it applied.

mod cases;
mod ctx;
mod html;
mod lifeline;
mod notify;
mod report;
pub mod types;
mod verdict;
mod wire;

pub use ctx::{file_bytes, md5_hex, ChunkKind, Upload};
pub use notify::NotifyListener;
pub use report::{case_lines, CaseReport, Counts, Report, Target};
pub use verdict::Verdict;
pub use wire::{Conn, Incoming, Transcript};

use crate::users::{User, Users};
use ctx::Ctx;
use globset::{Glob, GlobMatcher};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What `chatsim conform` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// The resource server (`host:port`).
    pub resource: String,
    /// The chat server, for the chat cases.
    pub chat: Option<String>,
    /// A second chat server of the same system (sharing users and presence), for the two-server
    /// cases (section 14).
    pub chat2: Option<String>,
    /// Where to serve `message.ChatService` for the notify cases; the resource server under test
    /// must be configured to notify this address.
    pub notify_listen: Option<String>,
    pub users: Users,
    /// Globs selecting cases (any matches); empty selects all.
    pub cases: Vec<String>,
    /// Globs of cases to leave out.
    pub skip: Vec<String>,
    /// The limit of every single wait.
    pub timeout: Duration,
    /// A shell command that starts the servers under test again after they stopped accepting
    /// connections (`--restart`); conform waits until they accept, then goes on.
    pub restart: Option<String>,
}

impl Options {
    pub fn new(resource: impl Into<String>) -> Self {
        Options {
            resource: resource.into(),
            chat: None,
            chat2: None,
            notify_listen: None,
            users: crate::users::demo_users(),
            cases: Vec::new(),
            skip: Vec::new(),
            timeout: Duration::from_millis(3000),
            restart: None,
        }
    }
}

/// Why a run could not start (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("nothing listens at {addr} (the {what} given with {flag}): {reason}")]
    NothingListens {
        what: &'static str,
        flag: &'static str,
        addr: String,
        reason: String,
    },
    #[error("cannot serve the notify listener at {addr} (--notify-listen): {reason}")]
    NotifyListen { addr: String, reason: String },
    #[error("bad pattern {pattern:?}: {reason}")]
    BadGlob { pattern: String, reason: String },
    #[error("no case matches the --case/--skip patterns; `chatsim conform --list` shows the ids")]
    NoCases,
    #[error("no users: the cases need at least one uid and token")]
    NoUsers,
}

/// Every case id, in order.
pub fn case_ids() -> Vec<&'static str> {
    cases::all().iter().map(|c| c.id).collect()
}

/// The selected case ids, in order.
pub fn selected_ids(options: &Options) -> Result<Vec<&'static str>, StartError> {
    let select = Selection::new(&options.cases, &options.skip)?;
    Ok(cases::all()
        .into_iter()
        .filter(|c| select.takes(c))
        .map(|c| c.id)
        .collect())
}

/// Case selection by globs. A pattern matches a case when it matches the whole id
/// (`3.4 upload/window-of-5`), its name (`upload/window-of-5`) or its number (`3.4`), so
/// `upload/*`, `3.*` and `*window*` all do what one expects.
struct Selection {
    cases: Vec<GlobMatcher>,
    skip: Vec<GlobMatcher>,
}

impl Selection {
    fn new(cases: &[String], skip: &[String]) -> Result<Self, StartError> {
        let compile = |patterns: &[String]| {
            patterns
                .iter()
                .map(|p| {
                    Glob::new(p)
                        .map(|g| g.compile_matcher())
                        .map_err(|e| StartError::BadGlob {
                            pattern: p.clone(),
                            reason: e.kind().to_string(),
                        })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Selection {
            cases: compile(cases)?,
            skip: compile(skip)?,
        })
    }

    fn takes(&self, case: &cases::CaseDef) -> bool {
        let hit = |m: &GlobMatcher| {
            m.is_match(case.id) || m.is_match(case.name()) || m.is_match(case.number())
        };
        (self.cases.is_empty() || self.cases.iter().any(hit)) && !self.skip.iter().any(hit)
    }
}

/// Runs the selected cases in order, calling `on_case` after each. Fails to start when nothing
/// listens at the given addresses, the notify listener cannot be bound, or no case is selected.
pub async fn run(
    options: &Options,
    on_case: impl FnMut(&CaseReport),
) -> Result<Report, StartError> {
    run_inner(options, None, on_case).await
}

/// [`run`] with a notify listener the caller already started (for example on port 0, so that the
/// resource server under test can be told its address before the run); `options.notify_listen`
/// is then only what the report shows, and [`NotifyListener::addr`] is used when it is `None`.
pub async fn run_with_notify(
    options: &Options,
    notify: Arc<NotifyListener>,
    on_case: impl FnMut(&CaseReport),
) -> Result<Report, StartError> {
    run_inner(options, Some(notify), on_case).await
}

async fn run_inner(
    options: &Options,
    started_notify: Option<Arc<NotifyListener>>,
    mut on_case: impl FnMut(&CaseReport),
) -> Result<Report, StartError> {
    let selection = Selection::new(&options.cases, &options.skip)?;
    let chosen: Vec<cases::CaseDef> = cases::all()
        .into_iter()
        .filter(|c| selection.takes(c))
        .collect();
    if chosen.is_empty() {
        return Err(StartError::NoCases);
    }
    let users: Vec<User> = options.users.iter().cloned().collect();
    if users.is_empty() {
        return Err(StartError::NoUsers);
    }
    preflight(
        &options.resource,
        "resource server",
        "--resource",
        options.timeout,
    )
    .await?;
    if let Some(chat) = &options.chat {
        preflight(chat, "chat server", "--chat", options.timeout).await?;
    }
    if let Some(chat2) = &options.chat2 {
        preflight(chat2, "second chat server", "--chat2", options.timeout).await?;
    }
    let notify = match (started_notify, &options.notify_listen) {
        (Some(listener), _) => Some(listener),
        (None, None) => None,
        (None, Some(addr)) => Some(Arc::new(NotifyListener::start(addr).await.map_err(
            |e| StartError::NotifyListen {
                addr: addr.clone(),
                reason: e.to_string(),
            },
        )?)),
    };

    let started_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let started = Instant::now();
    let mut ctx = Ctx::new(
        options.resource.clone(),
        options.chat.clone(),
        users,
        options.timeout,
        notify,
    )
    .with_chat2(options.chat2.clone());
    let mut watch = Watch::new(options);
    let mut reports = Vec::with_capacity(chosen.len());
    for case in &chosen {
        let mut report = match &watch.down_since {
            Some(since) => not_run_after_crash(case, since),
            None => run_case(&mut ctx, case).await,
        };
        watch.after(&mut report, options.timeout).await;
        if report.verdict == Verdict::Pass {
            report.frames.clear();
        }
        on_case(&report);
        reports.push(report);
    }
    drop(watch);
    let notify_listen = options
        .notify_listen
        .clone()
        .or_else(|| ctx.notify().ok().map(|n| n.addr().to_owned()));
    let target = Target {
        resource: options.resource.clone(),
        chat: options.chat.clone(),
        notify_listen,
    };
    Ok(Report::new(
        target,
        started_unix,
        started.elapsed().as_millis() as u64,
        reports,
    ))
}

/// Watches that the servers under test still accept connections after each case.
struct Watch {
    addrs: Vec<String>,
    restarter: lifeline::Restarter,
    /// The case after which the servers stopped accepting and could not be brought back, and why.
    down_since: Option<String>,
}

impl Watch {
    fn new(options: &Options) -> Self {
        Watch {
            addrs: std::iter::once(options.resource.clone())
                .chain(options.chat.clone())
                .collect(),
            restarter: lifeline::Restarter::new(options.restart.clone()),
            down_since: None,
        }
    }

    /// After `report`'s case: if a server no longer accepts connections, the case that left it so
    /// fails with that reason; then the servers are restarted (`--restart`) or the rest of the run
    /// cannot run.
    async fn after(&mut self, report: &mut CaseReport, timeout: Duration) {
        if self.down_since.is_some() {
            return;
        }
        let Some((addr, why)) = lifeline::first_down(&self.addrs, timeout).await else {
            return;
        };
        let killed =
            format!("the server stopped accepting connections after this case ({addr}: {why})");
        report.reason = Some(match report.reason.take() {
            Some(reason) => format!("{killed}; {reason}"),
            None => killed,
        });
        report.verdict = Verdict::Fail;
        let number = report.id.split_once(' ').map_or(report.id, |(n, _)| n);
        if !self.restarter.can_restart() {
            self.down_since = Some(format!("server down since {number}"));
            return;
        }
        match self.restarter.restart(&self.addrs).await {
            Ok(took) => {
                if let Some(reason) = &mut report.reason {
                    reason.push_str(&format!(
                        "; restarted with --restart, accepting again after {} ms",
                        took.as_millis()
                    ));
                }
            }
            Err(err) => {
                self.down_since = Some(format!(
                    "server down since {number} (--restart failed: {err})"
                ))
            }
        }
    }
}

/// The report of a case not run because the servers went down earlier (`since` says when).
fn not_run_after_crash(case: &cases::CaseDef, since: &str) -> CaseReport {
    CaseReport {
        id: case.id,
        verdict: Verdict::CouldNotRun,
        duration_ms: 0,
        reason: Some(since.to_owned()),
        notes: Vec::new(),
        observed: Vec::new(),
        invented_message_ids: false,
        frames: Vec::new(),
    }
}

/// A case may make many waits, each bounded by the timeout; this bounds the case as a whole.
fn case_budget(timeout: Duration) -> Duration {
    timeout * 10 + Duration::from_secs(2)
}

async fn run_case(ctx: &mut Ctx, case: &cases::CaseDef) -> CaseReport {
    let start = Instant::now();
    let budget = case_budget(ctx.timeout());
    let outcome = match crate::timer::timeout(budget, (case.run)(ctx)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(verdict::fail(format!(
            "the case did not finish within {} ms",
            budget.as_millis()
        ))),
    };
    let notes = ctx.take_notes();
    let observed = ctx.take_observations();
    let invented_message_ids = ctx.take_invented();
    let frames = ctx.transcript.take();
    let (verdict, reason) = match outcome {
        Ok(()) if notes.is_empty() => (Verdict::Pass, None),
        Ok(()) => (Verdict::NonStrict, Some(notes.join("; "))),
        Err(finding) => (finding.verdict, Some(finding.reason)),
    };
    CaseReport {
        id: case.id,
        verdict,
        duration_ms: start.elapsed().as_millis() as u64,
        reason,
        notes,
        observed,
        invented_message_ids,
        // Kept until the watch has looked at the servers: a case that passed may still have
        // been the one that brought a server down.
        frames,
    }
}

/// Connects once before running anything, so that a wrong address is one clear error instead
/// of a page of failed cases.
async fn preflight(
    addr: &str,
    what: &'static str,
    flag: &'static str,
    timeout: Duration,
) -> Result<(), StartError> {
    let refused = |reason: String| StartError::NothingListens {
        what,
        flag,
        addr: addr.to_owned(),
        reason,
    };
    match crate::timer::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(refused(err.to_string())),
        Err(_) => Err(refused(format!(
            "no connection within {} ms",
            timeout.as_millis()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(cases: &[&str], skip: &[&str]) -> Vec<&'static str> {
        let mut options = Options::new("127.0.0.1:1");
        options.cases = cases.iter().map(|s| s.to_string()).collect();
        options.skip = skip.iter().map(|s| s.to_string()).collect();
        selected_ids(&options).unwrap()
    }

    #[test]
    fn globs_match_ids_names_and_numbers() {
        assert_eq!(ids(&["3.4"], &[]), ["3.4 upload/window-of-5"]);
        assert_eq!(
            ids(&["upload/window-of-5"], &[]),
            ["3.4 upload/window-of-5"]
        );
        assert!(ids(&["chat/*"], &[]).iter().all(|id| id.starts_with("11.")));
        assert!(ids(&["11.*"], &[]).len() >= 10);
        assert!(!ids(&[], &["11.*", "9.*"])
            .iter()
            .any(|id| id.starts_with("11.") || id.starts_with("9.")));
        assert_eq!(ids(&["*window*"], &[]), ["3.4 upload/window-of-5"]);
        let mut options = Options::new("x");
        options.cases = vec!["[".into()];
        assert!(matches!(
            selected_ids(&options),
            Err(StartError::BadGlob { .. })
        ));
    }
}
