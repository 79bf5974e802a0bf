//! Running a query again when the cluster stopped it because an executor
//! was lost while it ran (see `cluster::lost_executor`): the executors left
//! answer it whole.

use std::future::Future;

/// Words in the error of a job stopped because an executor was lost.
pub const MARKER: &str = "an executor was lost while the job ran";

/// How many times a query stopped by a lost executor is run in all.
pub const ATTEMPTS: usize = 3;

/// Runs `attempt` again, up to [`ATTEMPTS`] times in all, while it fails
/// with an error that [`is_lost`] recognises; any other result is returned.
pub async fn rerun_if_lost<T, E, F, Fut>(mut attempt: F) -> std::result::Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, E>>,
    E: std::fmt::Display,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(e) if tries < ATTEMPTS && is_lost(&e.to_string()) => tries += 1,
            done => return done,
        }
    }
}

/// Whether `error` is that of a job stopped because an executor was lost.
pub fn is_lost(error: &str) -> bool {
    error.contains(MARKER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stopped_job_runs_again_and_other_errors_do_not() {
        let mut calls = 0;
        let answer: std::result::Result<u32, String> = rerun_if_lost(|| {
            calls += 1;
            let n = calls;
            async move {
                if n < 3 {
                    Err(format!("Job 1 failed: {MARKER} (executor e)"))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(answer, Ok(3));

        let mut calls = 0;
        let answer: std::result::Result<u32, String> = rerun_if_lost(|| {
            calls += 1;
            async { Err(format!("Job 1 failed: {MARKER}")) }
        })
        .await;
        assert!(answer.unwrap_err().contains(MARKER));
        assert_eq!(calls, ATTEMPTS);

        let mut calls = 0;
        let answer: std::result::Result<u32, String> = rerun_if_lost(|| {
            calls += 1;
            async { Err("no such table: x".to_string()) }
        })
        .await;
        assert_eq!(answer, Err("no such table: x".to_string()));
        assert_eq!(calls, 1);
    }
}
