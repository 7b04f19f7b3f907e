//! How the parties wait between tries: the notify, a download starting over, the upload engine
//! dialling the resource server. One type, so every retry loop grows its wait the same way.

use std::time::Duration;

/// A wait that starts at `first` and doubles after each try, up to `max`. `first == max` gives a
/// fixed pause. Sleeps on tokio's clock, which is simulated time inside the simulation.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Self {
        Backoff {
            next: first.min(max),
            max,
        }
    }

    /// The same pause every time.
    pub fn fixed(pause: Duration) -> Self {
        Backoff::new(pause, pause)
    }

    /// The wait the next call to [`Backoff::wait`] sleeps.
    pub fn peek(&self) -> Duration {
        self.next
    }

    /// Sleeps the current wait, then doubles it (up to the maximum).
    pub async fn wait(&mut self) {
        let now = self.next;
        self.next = (now * 2).min(self.max);
        crate::timer::sleep(now).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn doubles_up_to_the_maximum_and_sleeps_each_wait() {
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(1));
        let start = tokio::time::Instant::now();
        let mut waits = Vec::new();
        for _ in 0..5 {
            waits.push(backoff.peek().as_millis());
            backoff.wait().await;
        }
        assert_eq!(waits, [200, 400, 800, 1000, 1000]);
        assert_eq!(start.elapsed(), Duration::from_millis(3400));
    }

    #[test]
    fn a_fixed_backoff_never_grows() {
        let backoff = Backoff::fixed(Duration::from_secs(1));
        assert_eq!(backoff.peek(), Duration::from_secs(1));
        assert_eq!(
            Backoff::new(Duration::from_secs(9), Duration::from_secs(2)).peek(),
            Duration::from_secs(2)
        );
    }
}
