//! Where a party makes its blocking storage calls (SQLite, fsync). `chatsim serve` runs them on
//! tokio's blocking pool, so a slow commit never holds an async worker thread that other
//! connections need (issue 11, item 7); the simulation runs them inline, where its in-memory
//! stores cost nothing and a thread outside turmoil's control would break determinism.

/// How a party runs its blocking storage calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Offload {
    /// On the calling task (the simulation).
    #[default]
    Inline,
    /// On tokio's blocking pool ([`tokio::task::spawn_blocking`]).
    Blocking,
}

impl Offload {
    /// Runs `work` where this says. A panic in `work` is a panic of the caller, as inline.
    pub async fn run<T, F>(self, work: F) -> T
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        match self {
            Offload::Inline => work(),
            Offload::Blocking => match tokio::task::spawn_blocking(work).await {
                Ok(value) => value,
                Err(err) => match err.try_into_panic() {
                    Ok(panic) => std::panic::resume_unwind(panic),
                    // Only a runtime shutting down cancels a blocking task: so is the caller.
                    Err(err) => panic!("storage call cancelled: {err}"),
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Offload;

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn blocking_work_runs_off_the_async_thread_and_inline_work_on_it() {
        let here = std::thread::current().id();
        let inline = Offload::Inline.run(|| std::thread::current().id()).await;
        let blocking = Offload::Blocking.run(|| std::thread::current().id()).await;
        assert_eq!(inline, here);
        assert_ne!(blocking, here);
    }
}
