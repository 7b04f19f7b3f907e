//! The JSON report of an exploration, and merging the reports of several shards.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One failing seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub seed: u64,
    /// Every oracle the original schedule violated, in report order.
    pub oracles: Vec<String>,
    /// The oracle the shrinker kept violated: the first of `oracles`.
    pub target: String,
    /// The first violation of the original schedule.
    pub detail: String,
    /// The shrunk scenario file, when one was written.
    pub file: Option<PathBuf>,
    /// The first violation of the shrunk schedule.
    pub shrunk_detail: Option<String>,
    /// Simulations run while shrinking.
    pub shrink_runs: usize,
}

/// What one `chatsim explore` process (or a merge of several) did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// `reference`, `seed`, or `reference + quirk, quirk`.
    pub profile: String,
    /// The seed ranges explored, `[start, end)`, one per shard or process.
    pub ranges: Vec<Range>,
    /// Seeds run (all of the ranges' seeds unless stopped early).
    pub seeds_run: u64,
    pub failures: Vec<Failure>,
    /// Wall seconds: for a merge, the longest of the parts (they ran side by side).
    pub wall_s: f64,
    /// Worker threads: for a merge, the sum.
    pub jobs: usize,
    /// Schedules per wall second: for a merge, the sum of the parts' rates.
    pub rate: f64,
}

/// A seed range and, when sharded, which shard of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Range {
    pub start: u64,
    pub end: u64,
    /// `K/N`: this process ran the seeds `start + K-1 + i*N`.
    pub shard: Option<String>,
}

impl Report {
    pub fn failed(&self) -> bool {
        !self.failures.is_empty()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("plain data") + "\n"
    }

    pub fn load(path: &Path) -> Result<Report, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        serde_json::from_str(&text)
            .map_err(|e| format!("{}: not an explore report: {e}", path.display()))
    }

    /// Combines shard reports: ranges and failures concatenated (failures by seed), seeds and
    /// rates summed, the longest wall time.
    pub fn merge(parts: &[Report]) -> Result<Report, String> {
        let first = parts.first().ok_or("nothing to merge")?;
        if let Some(other) = parts.iter().find(|p| p.profile != first.profile) {
            return Err(format!(
                "the reports explored different profiles: {:?} and {:?}",
                first.profile, other.profile
            ));
        }
        let mut failures: Vec<Failure> = parts.iter().flat_map(|p| p.failures.clone()).collect();
        failures.sort_by_key(|f| f.seed);
        failures.dedup_by_key(|f| f.seed);
        Ok(Report {
            profile: first.profile.clone(),
            ranges: parts.iter().flat_map(|p| p.ranges.clone()).collect(),
            seeds_run: parts.iter().map(|p| p.seeds_run).sum(),
            failures,
            wall_s: parts.iter().map(|p| p.wall_s).fold(0.0, f64::max),
            jobs: parts.iter().map(|p| p.jobs).sum(),
            rate: parts.iter().map(|p| p.rate).sum(),
        })
    }

    /// The closing lines a person reads.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "explored  {} seeds ({}), {} failed\nrate      {:.1} schedules/s with {} job(s), {:.1} per job, {:.1} s wall\n",
            self.seeds_run,
            self.profile,
            self.failures.len(),
            self.rate,
            self.jobs,
            self.rate / self.jobs.max(1) as f64,
            self.wall_s
        );
        for f in &self.failures {
            out.push_str(&format!("FAILED    seed {}: {}\n", f.seed, f.detail));
            match &f.file {
                Some(file) => out.push_str(&format!("reproduce chatsim run {}\n", file.display())),
                None => out.push_str(&format!("print     chatsim explore --print {}\n", f.seed)),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(start: u64, seeds_run: u64, failed: &[u64]) -> Report {
        Report {
            profile: "reference".into(),
            ranges: vec![Range {
                start,
                end: start + seeds_run,
                shard: None,
            }],
            seeds_run,
            failures: failed
                .iter()
                .map(|&seed| Failure {
                    seed,
                    oracles: vec!["liveness".into()],
                    target: "liveness".into(),
                    detail: String::new(),
                    file: None,
                    shrunk_detail: None,
                    shrink_runs: 0,
                })
                .collect(),
            wall_s: start as f64 + 1.0,
            jobs: 1,
            rate: 10.0,
        }
    }

    #[test]
    fn merging_sums_seeds_and_rates_and_sorts_failures() {
        let merged = Report::merge(&[part(100, 50, &[120]), part(0, 100, &[7, 9])]).unwrap();
        assert_eq!(merged.seeds_run, 150);
        assert_eq!(merged.rate, 20.0);
        assert_eq!(merged.jobs, 2);
        assert_eq!(merged.wall_s, 101.0);
        let seeds: Vec<u64> = merged.failures.iter().map(|f| f.seed).collect();
        assert_eq!(seeds, [7, 9, 120]);
        let back: Report = serde_json::from_str(&merged.to_json()).unwrap();
        assert_eq!(back, merged);
        let mut other = part(0, 1, &[]);
        other.profile = "seed".into();
        assert!(Report::merge(&[part(0, 1, &[]), other]).is_err());
        assert!(Report::merge(&[]).is_err());
    }
}
