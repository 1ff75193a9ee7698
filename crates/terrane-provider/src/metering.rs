//! Which provider operation an API call belongs to. The engine runs each provider call
//! inside [`metered`]; whatever makes the call (the AWS crates' call counter) reports it
//! with [`count_call`], and the engine journals the count with the operation's outcome,
//! so `terrane plan` can say how many calls an apply will make from what earlier applies
//! measured. A task-local, because a provider's calls run in the task that awaits it.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

tokio::task_local! {
    static METER: Arc<AtomicU64>;
}

/// Runs `operation`, adding every call made while it runs (see [`count_call`]) to `meter`.
pub async fn metered<F: Future>(meter: Arc<AtomicU64>, operation: F) -> F::Output {
    METER.scope(meter, operation).await
}

/// Counts one API call against the operation running now, if it is metered.
pub fn count_call() {
    let _ = METER.try_with(|m| m.fetch_add(1, Ordering::Relaxed));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_count_against_the_operation_they_run_in() {
        let (a, b) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        count_call(); // outside any operation: counted nowhere
        let first = metered(a.clone(), async {
            count_call();
            tokio::task::yield_now().await;
            count_call();
        });
        let second = metered(b.clone(), async { count_call() });
        // Both polled by one task, as the engine's apply loop polls its operations.
        tokio::join!(first, second);
        assert_eq!(
            (a.load(Ordering::Relaxed), b.load(Ordering::Relaxed)),
            (2, 1)
        );
    }
}
