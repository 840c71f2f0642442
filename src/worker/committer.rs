//! The committer: the task that takes the consumer's batches, one at a time, and commits each
//! ([`Leases::commit_batch`], in [`batch_commit`](super::leases::batch_commit): the orders and
//! the offsets in one transaction under the partitions' leases). A tokio task with a bounded
//! mailbox, supervised by [`supervisor`](super::supervisor).

use std::collections::BTreeMap;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::leases::batch_commit::{CommitError, Persisted};
use super::leases::Leases;
use crate::domain::events::PurchaseEvent;
use crate::runtime::telemetry::ActorMetrics;

/// The consumer awaits each batch before fetching more, so one waiting batch is plenty.
const MAILBOX: usize = 2;

/// Persist these events and move the partitions to these next offsets; the reply comes once
/// both are durable.
struct CommitBatch {
    events: Vec<PurchaseEvent>,
    next_offsets: BTreeMap<i32, i64>,
    reply: oneshot::Sender<Result<Persisted, CommitError>>,
}

/// Why a batch was not committed, or no answer came.
#[derive(Debug, thiserror::Error)]
pub enum CommitterError {
    #[error(transparent)]
    Commit(#[from] CommitError),
    #[error("the committer stopped before answering")]
    Stopped,
}

/// The committer's address.
#[derive(Clone)]
pub struct Committer {
    mailbox: mpsc::Sender<CommitBatch>,
}

impl Committer {
    /// Starts a committer; it stops when every handle to it is dropped.
    pub fn spawn(leases: Leases) -> (Self, JoinHandle<()>) {
        let (mailbox, mut inbox) = mpsc::channel::<CommitBatch>(MAILBOX);
        // Still labelled `persister`: the metric's label values are part of what operators
        // read (docs/OPERATIONS.md, section 4; the Grafana dashboard).
        let metrics = ActorMetrics::new("persister", None);
        let task = tokio::spawn(async move {
            while let Some(CommitBatch {
                events,
                next_offsets,
                reply,
            }) = inbox.recv().await
            {
                metrics.queue_depth.set((inbox.len() + 1) as f64);
                let started = Instant::now();
                let result = leases.commit_batch(&events, &next_offsets).await;
                metrics.handling.record(started.elapsed().as_secs_f64());
                metrics.messages.increment(1);
                if result.is_err() {
                    metrics.errors.increment(1);
                }
                metrics.queue_depth.set(inbox.len() as f64);
                // The consumer may have stopped waiting; nothing to do then.
                let _ = reply.send(result);
            }
        });
        (Self { mailbox }, task)
    }

    /// Commits `events` (already distinct by purchase, version and state) with the partitions' next
    /// offsets, and returns once they are durable.
    pub async fn commit(
        &self,
        events: Vec<PurchaseEvent>,
        next_offsets: BTreeMap<i32, i64>,
    ) -> Result<Persisted, CommitterError> {
        let (reply, answer) = oneshot::channel();
        self.mailbox
            .send(CommitBatch {
                events,
                next_offsets,
                reply,
            })
            .await
            .map_err(|_| CommitterError::Stopped)?;
        Ok(answer.await.map_err(|_| CommitterError::Stopped)??)
    }
}
