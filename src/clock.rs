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
