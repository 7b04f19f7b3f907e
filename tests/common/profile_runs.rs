//! Running one scenario file under a chosen profile and reading its verdicts, for the test files
//! that check quirks one at a time (`seed_bugs.rs`, `upstream_bugs.rs`).

use chatsim::profile::{Profile, Quirk};
use chatsim::sim::oracles::Violation;
use chatsim::sim::{self, Outcome, RunOptions};
use std::path::Path;

pub fn run(path: &Path, profile: Profile) -> Outcome {
    let scenario = chatsim::scenario::load(path).unwrap_or_else(|e| panic!("{e}"));
    let options = RunOptions {
        profile,
        ..RunOptions::of(&scenario)
    };
    sim::run_with(&scenario, &options)
}

pub fn violation<'a>(outcome: &'a Outcome, oracle: &str) -> Option<&'a Violation> {
    outcome
        .verdicts
        .iter()
        .find(|v| v.oracle == oracle)
        .unwrap_or_else(|| panic!("no oracle named {oracle}"))
        .violation
        .as_ref()
}

pub fn violated(outcome: &Outcome) -> Vec<&'static str> {
    outcome
        .verdicts
        .iter()
        .filter(|v| v.violation.is_some())
        .map(|v| v.oracle)
        .collect()
}

/// The reference plus `quirk` and its `helper`, if it has one. With a helper, first checks that
/// neither the helper alone nor the quirk alone already breaks `oracle` (`who` names the bug in
/// the failure): it is the pair that does.
pub fn quirk_alone(
    path: &Path,
    (quirk, helper): (Quirk, Option<Quirk>),
    oracle: &str,
    who: &str,
) -> Profile {
    let mut alone = Profile::reference().with(quirk);
    if let Some(helper) = helper {
        alone = alone.with(helper);
        let helper_only = run(path, Profile::reference().with(helper));
        assert!(
            violation(&helper_only, oracle).is_none(),
            "{who}: the helper quirk {helper} alone already violates {oracle}"
        );
        let quirk_only = run(path, Profile::reference().with(quirk));
        assert!(
            violation(&quirk_only, oracle).is_none(),
            "{who}: {quirk} alone already violates {oracle}; it needs no helper"
        );
    }
    alone
}
