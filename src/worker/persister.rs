//! The persister: writes batches of purchase events to PostgreSQL, one statement per batch,
//! with `purchase_id` as the dedup key. A tokio task with a bounded mailbox,
//! supervised by [`supervisor`](super::supervisor).

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::common::events::PurchaseEvent;
use crate::common::orders::Orders;
use crate::common::telemetry::ActorMetrics;

/// The consumer awaits each batch before fetching more, so one waiting batch is plenty.
const MAILBOX: usize = 2;

/// What persisting one batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Persisted {
    /// Rows inserted.
    pub new: u64,
    /// Events that were already orders (redelivered or republished).
    pub duplicates: u64,
}

/// Persist these events; the reply comes once they are durable.
struct PersistBatch {
    events: Vec<PurchaseEvent>,
    reply: oneshot::Sender<Result<Persisted, sqlx::Error>>,
}

/// Why a batch was not persisted.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("postgres: {0}")]
    Database(#[from] sqlx::Error),
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
    pub fn spawn(orders: Orders) -> (Self, JoinHandle<()>) {
        let (mailbox, mut inbox) = mpsc::channel::<PersistBatch>(MAILBOX);
        let metrics = ActorMetrics::new("persister", None);
        let task = tokio::spawn(async move {
            while let Some(PersistBatch { events, reply }) = inbox.recv().await {
                metrics.queue_depth.set((inbox.len() + 1) as f64);
                let started = Instant::now();
                let result = orders.insert_batch(&events).await.map(|new| Persisted {
                    new,
                    duplicates: (events.len() as u64).saturating_sub(new),
                });
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

    /// Persists `events` (already free of duplicate ids) and returns once they are durable.
    pub async fn persist(&self, events: Vec<PurchaseEvent>) -> Result<Persisted, PersistError> {
        let (reply, answer) = oneshot::channel();
        self.mailbox
            .send(PersistBatch { events, reply })
            .await
            .map_err(|_| PersistError::Stopped)?;
        Ok(answer.await.map_err(|_| PersistError::Stopped)??)
    }
}
