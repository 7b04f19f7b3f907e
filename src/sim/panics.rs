//! Turns a panic in any party into a `panicked` trace event. turmoil runs every host on the
//! calling thread, so a thread-local names the trace of the run in progress; panics on other
//! threads (parallel tests) go to the previous hook untouched.

use super::SimTrace;
use crate::trace::{Event, TraceSink};
use std::cell::RefCell;
use std::sync::{Arc, Once};

thread_local! {
    static CURRENT: RefCell<Option<Arc<SimTrace>>> = const { RefCell::new(None) };
}

static INSTALL: Once = Once::new();

/// Records panics on this thread into `trace` until the guard is dropped.
pub struct Capture(());

pub fn capture(trace: Arc<SimTrace>) -> Capture {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let recorded = CURRENT.with(|current| match current.try_borrow().ok().as_deref() {
                Some(Some(trace)) => {
                    let message = match info.payload().downcast_ref::<&str>() {
                        Some(s) => (*s).to_owned(),
                        None => info
                            .payload()
                            .downcast_ref::<String>()
                            .cloned()
                            .unwrap_or_else(|| "non-text panic".into()),
                    };
                    let at = info
                        .location()
                        .map(|l| format!(" at {}:{}", l.file(), l.line()))
                        .unwrap_or_default();
                    trace.record(
                        "sim",
                        Event::Panicked {
                            message: format!("{message}{at}"),
                        },
                    );
                    true
                }
                _ => false,
            });
            if !recorded {
                previous(info);
            }
        }));
    });
    CURRENT.with(|current| *current.borrow_mut() = Some(trace));
    Capture(())
}

impl Drop for Capture {
    fn drop(&mut self) {
        CURRENT.with(|current| *current.borrow_mut() = None);
    }
}
