//! Scenario files: who the users are and what they do when, in TOML. Loading checks everything it
//! can before a world is built, and every error names the file, the field and the problem.
//! The format is documented in `scenarios/README.md`.

use crate::resource::check_file_name;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

/// Largest image a scenario may send: the simulation keeps files in memory.
pub const MAX_IMAGE_SIZE: u64 = 64 << 20;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A one-line description for reports.
    #[serde(default)]
    pub description: String,
    /// Seed of every random choice in the run; `--seed` overrides it.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Simulated seconds after which an unfinished run stops and fails its liveness check.
    #[serde(default = "default_time_limit")]
    pub time_limit_s: u64,
    #[serde(default)]
    pub link: Link,
    pub users: Vec<UserSpec>,
    #[serde(default)]
    pub actions: Vec<Action>,
}

fn default_seed() -> u64 {
    1
}

fn default_time_limit() -> u64 {
    300
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    /// One-way latency of every link, drawn per message from `[min, max]` milliseconds.
    #[serde(default = "default_latency")]
    pub latency_ms: [u64; 2],
}

fn default_latency() -> [u64; 2] {
    [1, 10]
}

impl Default for Link {
    fn default() -> Self {
        Link {
            latency_ms: default_latency(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    pub uid: i32,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub token: Option<String>,
}

impl UserSpec {
    pub fn name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("user{}", self.uid))
    }
    pub fn token(&self) -> String {
        self.token
            .clone()
            .unwrap_or_else(|| format!("token-{}", self.uid))
    }
}

/// One timed action of one user: exactly one of the action tables is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// Simulated milliseconds from the start.
    pub at_ms: u64,
    pub user: i32,
    #[serde(default)]
    pub text: Option<TextAction>,
    #[serde(default)]
    pub image: Option<ImageAction>,
}

/// One press of the send button: these texts, batched as the client does.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextAction {
    pub to: i32,
    pub contents: Vec<String>,
}

/// An image of `size` deterministic pseudo-random bytes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageAction {
    pub to: i32,
    pub size: u64,
    /// The file's unique name; defaults to `img-<user>-<index>.png`.
    #[serde(default)]
    pub name: Option<String>,
}

/// What an action does, once validated.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Texts { to: i32, contents: Vec<String> },
    Image { to: i32, size: u64, name: String },
}

impl Scenario {
    /// The validated steps of every action, in file order: (time, user, step).
    pub fn steps(&self) -> Vec<(u64, i32, Step)> {
        self.actions
            .iter()
            .enumerate()
            .map(|(index, action)| {
                let step = match (&action.text, &action.image) {
                    (Some(text), _) => Step::Texts {
                        to: text.to,
                        contents: text.contents.clone(),
                    },
                    (None, Some(image)) => Step::Image {
                        to: image.to,
                        size: image.size,
                        name: image
                            .name
                            .clone()
                            .unwrap_or_else(|| format!("img-{}-{index}.png", action.user)),
                    },
                    (None, None) => unreachable!("validated: every action has a kind"),
                };
                (action.at_ms, action.user, step)
            })
            .collect()
    }
}

/// A scenario that cannot be used, with where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    pub path: PathBuf,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// Reads and validates a scenario file.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        path: path.to_owned(),
        message: format!("cannot read: {e}"),
    })?;
    parse(path, &text)
}

/// Parses and validates scenario text; `path` only names it in errors.
pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    let error = |message: String| ScenarioError {
        path: path.to_owned(),
        message,
    };
    let scenario: Scenario =
        toml::from_str(text).map_err(|e| error(e.to_string().trim_end().to_owned()))?;
    validate(&scenario).map_err(error)?;
    Ok(scenario)
}

fn validate(s: &Scenario) -> Result<(), String> {
    if s.time_limit_s == 0 {
        return Err("time_limit_s: must be at least 1".into());
    }
    let [min, max] = s.link.latency_ms;
    if min > max {
        return Err(format!("link.latency_ms: min {min} is above max {max}"));
    }
    if s.users.is_empty() {
        return Err("users: at least one [[users]] entry is needed".into());
    }
    let mut uids = BTreeSet::new();
    for (i, user) in s.users.iter().enumerate() {
        if user.uid <= 0 {
            return Err(format!(
                "users[{i}].uid: {} is not a positive number",
                user.uid
            ));
        }
        if !uids.insert(user.uid) {
            return Err(format!("users[{i}].uid: {} is declared twice", user.uid));
        }
    }
    let known = |field: &str, uid: i32| {
        if uids.contains(&uid) {
            Ok(())
        } else {
            Err(format!("{field}: user {uid} is not declared in [[users]]"))
        }
    };
    let mut names = BTreeSet::new();
    for (i, action) in s.actions.iter().enumerate() {
        let here = format!("actions[{i}]");
        known(&format!("{here}.user"), action.user)?;
        if action.at_ms >= s.time_limit_s * 1000 {
            return Err(format!(
                "{here}.at_ms: {} is not before the time limit of {} s",
                action.at_ms, s.time_limit_s
            ));
        }
        match (&action.text, &action.image) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "{here}: set exactly one of `text` and `image`, not both"
                ))
            }
            (None, None) => return Err(format!("{here}: no action given; set `text` or `image`")),
            (Some(text), None) => known(&format!("{here}.text.to"), text.to)?,
            (None, Some(image)) => {
                known(&format!("{here}.image.to"), image.to)?;
                if image.size > MAX_IMAGE_SIZE {
                    return Err(format!(
                        "{here}.image.size: {} is over the simulation's limit of {MAX_IMAGE_SIZE} bytes",
                        image.size
                    ));
                }
            }
        }
    }
    for (i, (_, _, step)) in s.steps().iter().enumerate() {
        if let Step::Image { name, .. } = step {
            check_file_name(name).map_err(|e| format!("actions[{i}].image.name: {e}"))?;
            if !names.insert(name.clone()) {
                return Err(format!(
                    "actions[{i}].image.name: {name:?} is used twice; names are unique"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse(Path::new("s.toml"), text).unwrap_err().to_string()
    }

    const USERS: &str = "[[users]]\nuid = 1\n[[users]]\nuid = 2\n";

    #[test]
    fn a_minimal_scenario_loads_with_defaults() {
        let s = parse(Path::new("s.toml"), USERS).unwrap();
        assert_eq!(s.seed, 1);
        assert_eq!(s.users[1].token(), "token-2");
    }

    #[test]
    fn errors_name_the_file_the_field_and_the_problem() {
        let unknown_user = format!(
            "{USERS}[[actions]]\nat_ms = 1\nuser = 3\ntext = {{ to = 1, contents = [\"x\"] }}\n"
        );
        assert_eq!(
            err(&unknown_user),
            "s.toml: actions[0].user: user 3 is not declared in [[users]]"
        );
        let both = format!(
            "{USERS}[[actions]]\nat_ms = 1\nuser = 1\ntext = {{ to = 2, contents = [] }}\nimage = {{ to = 2, size = 1 }}\n"
        );
        assert!(err(&both).contains("actions[0]: set exactly one"));
        let wrong_type = format!("{USERS}seed = \"seven\"\n");
        let message = err(&wrong_type);
        assert!(message.starts_with("s.toml: "), "{message}");
        assert!(message.contains("line 5"), "{message}");
        let typo = format!("{USERS}[[actions]]\nat_ms = 1\nuser = 1\ntxt = 3\n");
        assert!(err(&typo).contains("unknown field `txt`"));
        let hostile = format!("{USERS}[[actions]]\nat_ms = 1\nuser = 1\nimage = {{ to = 2, size = 1, name = \"../x\" }}\n");
        assert!(err(&hostile).contains("actions[0].image.name"));
    }
}
