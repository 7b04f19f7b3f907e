//! The progress bar of `chatsim explore` (seeds done, schedules/s, failures), on stderr and only
//! when stderr is a terminal; failure lines go to stdout either way.

use super::{explore, Config, Report, Tick};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

/// Runs [`explore`] with a progress bar, printing each failure as it is found.
pub fn explore_with_bar(config: &Config) -> Report {
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(config.seeds.len())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} seeds  {per_sec}  {msg}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    let mut failed = 0;
    bar.set_message("0 failed");
    let report = explore(config, |tick| match tick {
        Tick::Shrinking { seed, detail } => {
            bar.suspend(|| println!("FAILED    seed {seed}: {detail}"));
            if config.out.is_some() {
                bar.set_message(format!("{failed} failed, shrinking seed {seed}"));
            }
        }
        Tick::Done { failure, .. } => {
            bar.inc(1);
            if let Some(failure) = failure {
                failed += 1;
                if let Some(file) = &failure.file {
                    bar.suspend(|| {
                        println!(
                            "shrunk    seed {} in {} runs\nreproduce chatsim run {}",
                            failure.seed,
                            failure.shrink_runs,
                            file.display()
                        )
                    });
                }
            }
            bar.set_message(format!("{failed} failed"));
        }
    });
    bar.finish_and_clear();
    report
}
