//! Profiles: `reference` is the correct behaviour; `seed` is the original C++ system's behaviour,
//! bug for bug (docs/protocol.md section 9); `upstream` is the ResourceServer that was actually deployed
//! (llfcchat, branch Season_2; docs/protocol.md section 11), which shares some of the seed's server bugs and has eight
//! of its own. Every bug is a named quirk that can also be switched on one at a time. Each quirk
//! is consulted at one explicit seam in a party, with a comment naming the upstream function.

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
    // The deployed ResourceServer's own bugs (docs/upstream-bugs.md, one per row of docs/protocol.md section 11).
    /// U1: malformed JSON or a wrong type in a chunk request kills the whole server.
    DiesOnBadChunk,
    /// U2: a length header of 0xFFFFFFFF is read as -1, passes the size check and kills the server.
    DiesOnNegativeLength,
    /// U3: 1045 for a message id it does not know sends no reply at all.
    SilentDownloadInfo,
    /// U4: 1045 offers a file whose upload never finished; for a message never uploaded it dies.
    DownloadInfoUnfinished,
    /// U5: 1047 for a seq that is not the next one, or past the end, answers Success and no data.
    BadSeqSucceeds,
    /// U6: chunk error replies carry only `error` (no `name`, no `seq`), under 1042/1038/1044.
    BareChunkError,
    /// U7: the notify is tried once, its result ignored; a duplicate last chunk of a finished
    /// upload is appended and notified again.
    NotifyOnce,
    /// U8: a completed upload whose message id has no row kills the server.
    DiesOnMissingMessage,
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

    /// The deployed ResourceServer's own quirks, in the order of docs/protocol.md section 11.
    pub const UPSTREAM_ONLY: [Quirk; 8] = [
        Quirk::DiesOnBadChunk,
        Quirk::DiesOnNegativeLength,
        Quirk::SilentDownloadInfo,
        Quirk::DownloadInfoUnfinished,
        Quirk::BadSeqSucceeds,
        Quirk::BareChunkError,
        Quirk::NotifyOnce,
        Quirk::DiesOnMissingMessage,
    ];

    /// The seed's server bugs the deployed ResourceServer shares (section 11, row 9, and the 22
    /// defects that also fail on the seed): the appending writer, the `last` flag, the unchecked
    /// name and the state keyed by it, the uploads' missing token check, the acked write error.
    pub const SHARED_WITH_SEED: [Quirk; 5] = [
        Quirk::AppendChunks,
        Quirk::LastFlagCompletes,
        Quirk::UncheckedPath,
        Quirk::NoTokenCheck,
        Quirk::WriteErrorAcked,
    ];

    /// Every quirk, the seed's then the deployed server's own.
    pub fn every() -> impl Iterator<Item = Quirk> {
        Quirk::ALL.into_iter().chain(Quirk::UPSTREAM_ONLY)
    }

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
            Quirk::DiesOnBadChunk => "dies_on_bad_chunk",
            Quirk::DiesOnNegativeLength => "dies_on_negative_length",
            Quirk::SilentDownloadInfo => "silent_download_info",
            Quirk::DownloadInfoUnfinished => "download_info_unfinished",
            Quirk::BadSeqSucceeds => "bad_seq_succeeds",
            Quirk::BareChunkError => "bare_chunk_error",
            Quirk::NotifyOnce => "notify_once",
            Quirk::DiesOnMissingMessage => "dies_on_missing_message",
        }
    }

    /// The bug's number in docs/protocol.md section 9, or for the deployed server's own quirks its
    /// row in docs/protocol.md section 11 plus 100 (101..=108).
    pub fn bug(self) -> usize {
        match Quirk::ALL.iter().position(|q| *q == self) {
            Some(i) => i + 1,
            None => {
                let row = Quirk::UPSTREAM_ONLY.iter().position(|q| *q == self);
                101 + row.expect("every quirk is listed")
            }
        }
    }

    /// Whether the quirk is one of the deployed server's own (not the seed's).
    pub fn upstream_only(self) -> bool {
        Quirk::UPSTREAM_ONLY.contains(&self)
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
        Quirk::every().find(|q| q.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Quirk::every().map(|q| q.name()).collect();
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

    /// The deployed ResourceServer (docs/protocol.md section 11): its own quirks and the seed's it shares.
    pub fn upstream() -> Self {
        Profile {
            quirks: Quirk::UPSTREAM_ONLY
                .into_iter()
                .chain(Quirk::SHARED_WITH_SEED)
                .collect(),
        }
    }

    /// `reference`, `seed` or `upstream` when the profile is exactly one of them.
    pub fn named(&self) -> Option<&'static str> {
        if self.is_reference() {
            Some("reference")
        } else if *self == Profile::seed() {
            Some("seed")
        } else if *self == Profile::upstream() {
            Some("upstream")
        } else {
            None
        }
    }

    /// Whether any of the deployed server's own quirks is on: such a run is judged against a
    /// scenario's `[expect.upstream]`, others against `[expect.seed]`.
    pub fn leans_upstream(&self) -> bool {
        self.quirks().any(Quirk::upstream_only)
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

    /// The profile's name in reports: `reference`, `seed`, `upstream`, or
    /// `reference + quirk + ...`.
    pub fn label(&self) -> String {
        if let Some(name) = self.named() {
            name.to_owned()
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
    /// `reference`, `seed` or `upstream`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "reference" => Ok(Profile::reference()),
            "seed" => Ok(Profile::seed()),
            "upstream" => Ok(Profile::upstream()),
            other => Err(format!(
                "unknown profile {other:?}; use \"reference\", \"seed\" or \"upstream\""
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bugs_are_numbered_in_order() {
        for quirk in Quirk::every() {
            assert_eq!(quirk.name().parse::<Quirk>(), Ok(quirk));
        }
        assert_eq!(Quirk::DiesOnBadChunk.bug(), 101);
        assert_eq!(Quirk::DiesOnMissingMessage.bug(), 108);
        assert_eq!("upstream".parse::<Profile>(), Ok(Profile::upstream()));
        assert_eq!(Profile::upstream().label(), "upstream");
        assert!(!Profile::upstream().has(Quirk::NoCompletionChain));
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
