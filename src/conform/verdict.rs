//! What a case can conclude.

use serde::Serialize;

/// A case's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    /// The server broke a rule of the protocol.
    Fail,
    /// It works, but deviates from the reference in a way the protocol tolerates (for example
    /// sizes answered as numbers where strings were sent).
    NonStrict,
    /// An optional extension the server does not know (for example the 1049 sender notice).
    Unsupported,
    /// The case could not be run: a flag it needs was not given, or the server could not be
    /// reached when the case started.
    CouldNotRun,
}

impl Verdict {
    pub const ALL: [Verdict; 5] = [
        Verdict::Pass,
        Verdict::Fail,
        Verdict::NonStrict,
        Verdict::Unsupported,
        Verdict::CouldNotRun,
    ];

    /// The label on the terminal.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::NonStrict => "NON-STRICT",
            Verdict::Unsupported => "UNSUPPORTED",
            Verdict::CouldNotRun => "NOT RUN",
        }
    }

    /// The name in JSON and in the summary line.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "passed",
            Verdict::Fail => "failed",
            Verdict::NonStrict => "non-strict",
            Verdict::Unsupported => "unsupported",
            Verdict::CouldNotRun => "could not run",
        }
    }
}

/// Why a case did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub verdict: Verdict,
    pub reason: String,
}

/// A case's result: `Ok` passes (or is non-strict when the case noted deviations).
pub type Outcome = Result<(), Finding>;

pub fn fail(reason: impl Into<String>) -> Finding {
    Finding {
        verdict: Verdict::Fail,
        reason: reason.into(),
    }
}

pub fn unsupported(reason: impl Into<String>) -> Finding {
    Finding {
        verdict: Verdict::Unsupported,
        reason: reason.into(),
    }
}

pub fn could_not_run(reason: impl Into<String>) -> Finding {
    Finding {
        verdict: Verdict::CouldNotRun,
        reason: reason.into(),
    }
}

/// Fails the case with a formatted reason unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $($reason:tt)+) => {
        if !$cond {
            return Err($crate::conform::verdict::fail(format!($($reason)+)));
        }
    };
}
pub(crate) use ensure;
