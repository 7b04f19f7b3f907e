//! The simulation's clock: it reads turmoil's simulated time, so it lives with the simulation;
//! parties only see the `Clock` seam.

use crate::clock::Clock;
use std::time::Duration;

/// A fixed epoch plus turmoil's simulated elapsed time.
#[derive(Debug, Clone, Copy)]
pub struct SimClock {
    pub epoch: Duration,
}

/// 2025-01-01T00:00:00Z: every simulation starts here.
pub const SIM_EPOCH_SECS: u64 = 1_735_689_600;

impl Default for SimClock {
    fn default() -> Self {
        SimClock {
            epoch: Duration::from_secs(SIM_EPOCH_SECS),
        }
    }
}

impl Clock for SimClock {
    fn now(&self) -> Duration {
        self.epoch + turmoil::sim_elapsed().unwrap_or_default()
    }
}

/// Turmoil's simulated time since the simulation started (zero outside a simulation): the fault
/// proxy's run time in the simulation.
#[derive(Debug, Default, Clone, Copy)]
pub struct SimElapsed;

impl crate::clock::Elapsed for SimElapsed {
    fn elapsed(&self) -> Duration {
        turmoil::sim_elapsed().unwrap_or_default()
    }
}
