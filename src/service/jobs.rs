//! The durable job workers' loop: take the due jobs of one kind, run each
//! (concurrently), then sleep until woken or a tick passes. Each job kind
//! (storage commitment reports, MPPS forwarding) brings what one attempt
//! does; finishing, retrying or failing a job goes through the lease the
//! attempt holds (see `storage::index::Index::finish_job`).

use std::future::Future;
use std::time::Duration;

use storage::index::Job;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::Service;

/// How often a worker looks for due jobs without being woken.
const TICK: Duration = Duration::from_secs(2);

impl Service {
    /// Run jobs of `kind` with `attempt` until `stop`; `wake` makes the
    /// worker look at once.
    pub(super) async fn job_loop<F, Fut>(
        &self,
        kind: &'static str,
        lease_ms: i64,
        wake: &Notify,
        stop: CancellationToken,
        attempt: F,
    ) where
        F: Fn(Service, Job) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        loop {
            match self.archive().index().take_jobs(kind, 8, lease_ms).await {
                Ok(jobs) => {
                    let mut set = tokio::task::JoinSet::new();
                    for job in jobs {
                        set.spawn(attempt(self.clone(), job));
                    }
                    while set.join_next().await.is_some() {}
                }
                Err(e) => tracing::warn!(error = %e, kind, "cannot read the job table"),
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = wake.notified() => {}
                _ = tokio::time::sleep(TICK) => {}
            }
        }
    }
}

/// Milliseconds before attempt `attempts + 1`: doubling from 1 s to 5
/// minutes, with up to 25% jitter so jobs to one peer spread out.
pub(super) fn backoff(attempts: i64) -> i64 {
    let base = 1000i64 << attempts.clamp(0, 9);
    let base = base.min(300_000);
    base + rand::random_range(0..=base / 4)
}
