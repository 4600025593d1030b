//! Waiting for a condition instead of sleeping or timing: a test polls until what it
//! expects holds, and fails naming it if it never does within a generous bound.

use std::fmt::Debug;
use std::time::Duration;

/// How long a test waits for something that normally takes milliseconds: far beyond any
/// healthy run, so that a slow machine never fails a test that is right.
pub const WAIT_LIMIT: Duration = Duration::from_secs(30);

/// How often [`eventually`] checks.
const POLL_EVERY: Duration = Duration::from_millis(25);

/// What a check may answer: `true`, `Some(value)` or `Ok(value)` when the condition holds;
/// `false`, `None` or `Err(what was seen)` when not yet.
pub trait Check<T> {
    /// The value once the condition holds; otherwise what was seen, if anything.
    fn outcome(self) -> Result<T, Option<String>>;
}

impl Check<()> for bool {
    fn outcome(self) -> Result<(), Option<String>> {
        if self { Ok(()) } else { Err(None) }
    }
}

impl<T> Check<T> for Option<T> {
    fn outcome(self) -> Result<T, Option<String>> {
        self.ok_or(None)
    }
}

impl<T, E: Debug> Check<T> for Result<T, E> {
    fn outcome(self) -> Result<T, Option<String>> {
        self.map_err(|e| Some(format!("{e:?}")))
    }
}

/// Runs `check` every 25 ms until it holds and returns its value; panics naming `what`,
/// `limit` and the last thing seen if it still does not hold after `limit`.
pub async fn eventually<T, R: Check<T>>(
    what: &str,
    limit: Duration,
    mut check: impl AsyncFnMut() -> R,
) -> T {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let last = match check().await.outcome() {
            Ok(value) => return value,
            Err(last) => last,
        };
        if tokio::time::Instant::now() >= deadline {
            match last {
                Some(last) => panic!("{what}: did not happen within {limit:?}; last seen: {last}"),
                None => panic!("{what}: did not happen within {limit:?}"),
            }
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}
