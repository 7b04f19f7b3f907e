//! Profiles: `reference` is the correct behaviour; `seed` is the original C++ system's behaviour,
//! bug for bug (docs/protocol.md section 9), as named quirks that can also be switched on one at a time.
//! Each quirk is consulted at one explicit seam in a party, with a comment naming the seed function.

use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// One bug of the seed, by its number in docs/protocol.md section 9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Quirk {
    /// 1: chunks after the first are appended (`ios::app`), not written at their offset.
    AppendChunks,
    /// 2: completion is the client's `last` flag; md5 is never checked.
    LastFlagCompletes,
    /// 3: error replies to chunk requests go out as 1032 without `name`/`seq`.
    ErrorReplyAs1032,
    /// 4: no timeout and no retransmission.
    NoRetransmit,
    /// 5: one window counter for all files, decremented on every reply.
    SharedWindowCounter,
    /// 6: on completion `BatchSend` is called on the next file even when there is none.
    NullBatchSend,
    /// 7: the completion chain is a todo: no status update, no notify, no push.
    NoCompletionChain,
    /// 8: the path is `dir / uid / name` with `name` unchecked.
    UncheckedPath,
    /// 9: the token is never checked and `uid` comes from the request body.
    NoTokenCheck,
    /// 10: a write error is overwritten with Success before the reply.
    WriteErrorAcked,
    /// 11: the image chat message is stored with type TEXT.
    ImageAsText,
    /// 12: the send button always sends a trailing (maybe empty) text request and drops items
    /// over 1024 characters.
    TrailingEmptyText,
}

impl Quirk {
    pub const ALL: [Quirk; 12] = [
        Quirk::AppendChunks,
        Quirk::LastFlagCompletes,
        Quirk::ErrorReplyAs1032,
        Quirk::NoRetransmit,
        Quirk::SharedWindowCounter,
        Quirk::NullBatchSend,
        Quirk::NoCompletionChain,
        Quirk::UncheckedPath,
        Quirk::NoTokenCheck,
        Quirk::WriteErrorAcked,
        Quirk::ImageAsText,
        Quirk::TrailingEmptyText,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Quirk::AppendChunks => "append_chunks",
            Quirk::LastFlagCompletes => "last_flag_completes",
            Quirk::ErrorReplyAs1032 => "error_reply_as_1032",
            Quirk::NoRetransmit => "no_retransmit",
            Quirk::SharedWindowCounter => "shared_window_counter",
            Quirk::NullBatchSend => "null_batch_send",
            Quirk::NoCompletionChain => "no_completion_chain",
            Quirk::UncheckedPath => "unchecked_path",
            Quirk::NoTokenCheck => "no_token_check",
            Quirk::WriteErrorAcked => "write_error_acked",
            Quirk::ImageAsText => "image_as_text",
            Quirk::TrailingEmptyText => "trailing_empty_text",
        }
    }

    /// The bug's number in docs/protocol.md section 9.
    pub fn bug(self) -> usize {
        Quirk::ALL.iter().position(|q| *q == self).expect("listed") + 1
    }
}

impl fmt::Display for Quirk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Quirk {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Quirk::ALL
            .into_iter()
            .find(|q| q.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Quirk::ALL.iter().map(|q| q.name()).collect();
                format!("unknown quirk {s:?}; known quirks: {}", names.join(", "))
            })
    }
}

/// The set of quirks a party runs with. Empty is the reference behaviour.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Profile {
    quirks: BTreeSet<Quirk>,
}

impl Profile {
    pub fn reference() -> Self {
        Profile::default()
    }

    pub fn seed() -> Self {
        Profile {
            quirks: Quirk::ALL.into_iter().collect(),
        }
    }

    pub fn with(mut self, quirk: Quirk) -> Self {
        self.quirks.insert(quirk);
        self
    }

    pub fn has(&self, quirk: Quirk) -> bool {
        self.quirks.contains(&quirk)
    }

    pub fn quirks(&self) -> impl Iterator<Item = Quirk> + '_ {
        self.quirks.iter().copied()
    }

    /// The profile's name in reports: `reference`, `seed`, or `reference + quirk + ...`.
    pub fn label(&self) -> String {
        if self.is_reference() {
            "reference".to_owned()
        } else if *self == Profile::seed() {
            "seed".to_owned()
        } else {
            let quirks: Vec<&str> = self.quirks().map(|q| q.name()).collect();
            format!("reference + {}", quirks.join(" + "))
        }
    }

    pub fn is_reference(&self) -> bool {
        self.quirks.is_empty()
    }
}

impl FromStr for Profile {
    type Err = String;
    /// `reference` or `seed`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "reference" => Ok(Profile::reference()),
            "seed" => Ok(Profile::seed()),
            other => Err(format!(
                "unknown profile {other:?}; use \"reference\" or \"seed\""
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bugs_are_numbered_in_order() {
        for quirk in Quirk::ALL {
            assert_eq!(quirk.name().parse::<Quirk>(), Ok(quirk));
        }
        assert_eq!(Quirk::AppendChunks.bug(), 1);
        assert_eq!(Quirk::TrailingEmptyText.bug(), 12);
        assert!("nope"
            .parse::<Quirk>()
            .unwrap_err()
            .contains("known quirks"));
        assert!(Profile::seed().has(Quirk::NoTokenCheck));
        assert!(Profile::reference().is_reference());
    }
}
