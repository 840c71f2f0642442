//! The persister: writes batches of purchase events to PostgreSQL, one statement per batch,
//! with `purchase_id` as the dedup key, and the batch's offsets in the same transaction, under
//! the partitions' leases ([`Leases::commit_batch`]). A tokio task with a bounded mailbox,
//! supervised by [`supervisor`](super::supervisor).

use std::collections::BTreeMap;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use super::leases::Persisted;
use super::leases::{CommitError, Leases};
use crate::domain::events::PurchaseEvent;
use crate::runtime::telemetry::ActorMetrics;

/// The consumer awaits each batch before fetching more, so one waiting batch is plenty.
const MAILBOX: usize = 2;

/// Persist these events and move the partitions to these next offsets; the reply comes once
/// both are durable.
struct PersistBatch {
    events: Vec<PurchaseEvent>,
    next_offsets: BTreeMap<i32, i64>,
    reply: oneshot::Sender<Result<Persisted, CommitError>>,
}

/// Why a batch was not persisted.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error(transparent)]
    Commit(#[from] CommitError),
    #[error("the persister stopped before answering")]
    Stopped,
}

/// The persister's address.
#[derive(Clone)]
pub struct Persister {
    mailbox: mpsc::Sender<PersistBatch>,
}

impl Persister {
    /// Starts a persister; it stops when every handle to it is dropped.
    pub fn spawn(leases: Leases) -> (Self, JoinHandle<()>) {
        let (mailbox, mut inbox) = mpsc::channel::<PersistBatch>(MAILBOX);
        let metrics = ActorMetrics::new("persister", None);
        let task = tokio::spawn(async move {
            while let Some(PersistBatch {
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

    /// Persists `events` (already distinct by purchase and version) with the partitions' next offsets, and
    /// returns once they are durable.
    pub async fn persist(
        &self,
        events: Vec<PurchaseEvent>,
        next_offsets: BTreeMap<i32, i64>,
    ) -> Result<Persisted, PersistError> {
        let (reply, answer) = oneshot::channel();
        self.mailbox
            .send(PersistBatch {
                events,
                next_offsets,
                reply,
            })
            .await
            .map_err(|_| PersistError::Stopped)?;
        Ok(answer.await.map_err(|_| PersistError::Stopped)??)
    }
}
