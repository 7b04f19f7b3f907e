//! Wall-clock time for timestamps such as `chat_time`. Injected, because code in the simulation
//! must never read the real clock (the trace would stop being reproducible).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub trait Clock: Send + Sync + 'static {
    /// Time since the Unix epoch.
    fn now(&self) -> Duration;

    /// `chat_time` as upstream writes it: seconds since the epoch, as text.
    fn chat_time(&self) -> String {
        self.now().as_secs().to_string()
    }
}

/// The machine's clock, for real servers.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
    }
}

/// Time since a run started, for whatever acts in windows of run time (the fault proxy's
/// `from_ms`/`until_ms`). Not a [`Clock`]: that one reads the calendar, and the calendar may jump,
/// while this must only move forward and start near zero.
pub trait Elapsed: Send + Sync + 'static {
    fn elapsed(&self) -> Duration;
}

/// Time on tokio's clock since this was made, for real TCP.
#[derive(Debug, Clone, Copy)]
pub struct SinceStart(tokio::time::Instant);

impl SinceStart {
    pub fn now() -> Self {
        SinceStart(tokio::time::Instant::now())
    }
}

impl Elapsed for SinceStart {
    fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}
