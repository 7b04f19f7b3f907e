//! Whether the servers under test still accept connections between cases, and bringing them back
//! with `--restart CMD` after one died, so that a crash costs the case that caused it and not the
//! rest of the run.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a restarted server has to accept connections on every address.
pub const RESTART_WITHIN: Duration = Duration::from_secs(20);
/// Connection attempts before a server is taken for down, and the pause between them: a server
/// busy with a backlog is not declared dead on one refused connection.
const ATTEMPTS: u32 = 3;
const PAUSE: Duration = Duration::from_millis(100);

/// The first of `addrs` that accepts no connection, with why; `None` when all accept.
pub async fn first_down(addrs: &[String], timeout: Duration) -> Option<(String, String)> {
    for addr in addrs {
        if let Err(reason) = accepts(addr, timeout).await {
            return Some((addr.clone(), reason));
        }
    }
    None
}

async fn accepts(addr: &str, timeout: Duration) -> Result<(), String> {
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            crate::timer::sleep(PAUSE).await;
        }
        match crate::timer::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(err)) => last = err.to_string(),
            Err(_) => last = format!("no connection within {} ms", timeout.as_millis()),
        }
    }
    Err(last)
}

/// The servers conform started with `--restart`; stopped (their whole process group) when the
/// run ends, so a run leaves nothing of its own behind.
#[derive(Default)]
pub struct Restarter {
    command: Option<String>,
    started: Vec<Child>,
}

impl Restarter {
    pub fn new(command: Option<String>) -> Self {
        Restarter {
            command,
            started: Vec::new(),
        }
    }

    pub fn can_restart(&self) -> bool {
        self.command.is_some()
    }

    /// Runs the command (`sh -c`, in a process group of its own, output discarded) and waits
    /// until every address accepts connections. Returns how long it took, or why it failed.
    pub async fn restart(&mut self, addrs: &[String]) -> Result<Duration, String> {
        let Some(command) = self.command.clone() else {
            return Err("no --restart command".into());
        };
        let started = Instant::now();
        let child = spawn(&command).map_err(|e| format!("cannot run {command:?}: {e}"))?;
        self.started.push(child);
        loop {
            if first_down(addrs, Duration::from_millis(500))
                .await
                .is_none()
            {
                return Ok(started.elapsed());
            }
            if let Some(status) = self.started.last_mut().and_then(|c| c.try_wait().ok()?) {
                // A command that starts a daemon and exits is fine; one that failed is not.
                if !status.success() {
                    return Err(format!("{command:?} exited with {status}"));
                }
            }
            if started.elapsed() > RESTART_WITHIN {
                return Err(format!(
                    "after {command:?} nothing accepted connections within {} s",
                    RESTART_WITHIN.as_secs()
                ));
            }
            crate::timer::sleep(PAUSE).await;
        }
    }
}

fn spawn(command: &str) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt as _;
    Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
}

impl Drop for Restarter {
    fn drop(&mut self) {
        for child in &mut self.started {
            // The group id is the child's pid (process_group(0)): the shell and what it started.
            let group = format!("-{}", child.id());
            let _ = Command::new("kill")
                .args(["-TERM", "--", &group])
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = Command::new("kill")
                .args(["-KILL", "--", &group])
                .stderr(Stdio::null())
                .status();
            let _ = child.wait();
        }
    }
}
