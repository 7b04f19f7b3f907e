//! Every file under `scenarios/` is its own test: it must meet its own expectation (under its own
//! profile), and its summary must match the snapshot kept in `snapshots/`.
//! Update snapshots after an intended change with `INSTA_UPDATE=always cargo test --test scenarios`.

use chatsim::sim::{self, RunOptions};
use libtest_mimic::{Arguments, Failed, Trial};
mod common;

use common::scenario_files;
use std::path::Path;

fn run_scenario(path: &Path) -> Result<(), Failed> {
    let scenario = chatsim::scenario::load(path).map_err(|e| e.to_string())?;
    let options = RunOptions::of(&scenario);
    let outcome = sim::run_with(&scenario, &options);
    let shown = path.display().to_string();
    let snapshot = chatsim::report::snapshot(&shown, &outcome);
    let name = shown
        .trim_start_matches("scenarios/")
        .trim_end_matches(".toml")
        .replace('/', "__");
    let snapshot_check = std::panic::catch_unwind(|| {
        insta::with_settings!({
            snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"),
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(name, snapshot);
        });
    });
    if !outcome.passed() {
        return Err(format!(
            "{shown} did not meet its expectation:\n{}\nreproduce: {}",
            outcome.expectation.unmet.join("\n"),
            chatsim::report::reproduce_command(path, &options)
        )
        .into());
    }
    snapshot_check
        .map_err(|_| Failed::from(format!("{shown}: the summary differs from its snapshot")))
}

fn main() {
    let args = Arguments::from_args();
    let mut files = Vec::new();
    scenario_files(Path::new("scenarios"), &mut files);
    let trials = files
        .into_iter()
        .map(|path| {
            let name = path.display().to_string();
            Trial::test(name, move || run_scenario(&path))
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
