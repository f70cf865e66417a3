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

/// Attempts of one kind running at once on a node.
const CAPACITY: usize = 8;
/// How long a stopping worker lets its attempts finish before it drops
/// them (their leases end and another node, or the next start, resumes).
const DRAIN: Duration = Duration::from_secs(10);

impl Service {
    /// Run jobs of `kind` with `attempt` until `stop`: up to [`CAPACITY`]
    /// at once, each slot refilled as soon as it frees (one long transfer
    /// does not hold up the others). `wake` makes the worker look at once.
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
        let mut running = tokio::task::JoinSet::new();
        loop {
            let free = CAPACITY - running.len();
            if free > 0 {
                match self
                    .archive()
                    .index()
                    .take_jobs(kind, free as i64, lease_ms)
                    .await
                {
                    Ok(jobs) => {
                        for job in jobs {
                            running.spawn(attempt(self.clone(), job));
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, kind, "cannot read the job table"),
                }
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                Some(_) = running.join_next(), if !running.is_empty() => {}
                _ = wake.notified() => {}
                _ = tokio::time::sleep(TICK) => {}
            }
        }
        let drained = tokio::time::timeout(DRAIN, async {
            while running.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::info!(
                kind,
                jobs = running.len(),
                "stopping: attempts left to resume"
            );
            running.abort_all();
        }
    }
}

impl Service {
    /// How a job's association to `peer` of `tenant` is requested: from
    /// the tenant's AE title, waiting up to `timeout` for each answer.
    pub(super) fn job_association(
        &self,
        tenant: &storage::TenantId,
        peer: &str,
        addr: std::net::SocketAddr,
        timeout: Duration,
    ) -> dicom_net::scu::ScuOptions {
        dicom_net::scu::ScuOptions {
            calling_ae: self.peers().our_ae_title(tenant).to_owned(),
            called_ae: peer.to_owned(),
            addr,
            max_pdu_length: 131_072,
            timeout,
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

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_doubles_with_jitter_up_to_five_minutes() {
        for (attempts, base) in [(0, 1000), (1, 2000), (3, 8000), (8, 256_000), (9, 300_000)] {
            let mut seen = std::collections::HashSet::new();
            for _ in 0..200 {
                let d = backoff(attempts);
                assert!((base..=base + base / 4).contains(&d), "{attempts}: {d}");
                seen.insert(d);
            }
            // Jitter: jobs to one peer do not all come back at once.
            assert!(seen.len() > 10, "{attempts}: {seen:?}");
        }
        // Bounded whatever the count says.
        assert!((300_000..=375_000).contains(&backoff(40)));
        assert!((1000..=1250).contains(&backoff(-3)));
    }
}
