//! Sizes of the slow, ignored tests, read from the environment.

/// The number in the environment variable `name`, or `default` when it is unset. A value that is
/// not a number stops the test with that said, rather than running the default size unnoticed.
pub fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Err(std::env::VarError::NotPresent) => default,
        Ok(value) => value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
        Err(err) => panic!("{name}: {err}"),
    }
}
