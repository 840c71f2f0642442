//! The commit of one batch: its orders inserted (purchase, version and state as the history's
//! dedup key: a contradicting ending is kept, the same event again is not) and
//! its partitions' next offsets stored, in one transaction that first locks the batch's
//! leases and checks they are still this worker's. A worker that lost a lease (a SIGSTOPped
//! zombie, one cut off from Postgres) writes nothing.

use std::collections::BTreeMap;

use super::Leases;
use crate::domain::events::PurchaseEvent;
use crate::postgres::{bounded, insert_batch_on, Applied, INSERT_TIMEOUT};

/// Why a batch was not committed.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("postgres: {0}")]
    Database(#[from] sqlx::Error),
    /// The worker no longer holds (or let expire) the lease of one of the batch's partitions:
    /// nothing was written; it must drop what it fetched and reassign.
    #[error("the lease of partition {0} is no longer held")]
    LeaseLost(i32),
}

/// What persisting one batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Persisted {
    /// Rows inserted.
    pub new: u64,
    /// Events that were already persisted (redelivered or republished): their purchase,
    /// version and state were already in the history.
    pub duplicates: u64,
    /// Events kept that contradict a state already recorded at their purchase's version (a
    /// hold ended twice): counted, and left for the audit to name.
    pub contradicting: u64,
}

impl Leases {
    /// Persists `events` and moves each partition of `next_offsets` to its offset, in one
    /// transaction that first locks those partitions' leases and checks this worker still
    /// holds them. Durable when this returns `Ok`; nothing is written when it returns an error.
    pub async fn commit_batch(
        &self,
        events: &[PurchaseEvent],
        next_offsets: &BTreeMap<i32, i64>,
    ) -> Result<Persisted, CommitError> {
        let commit = async {
            let partitions: Vec<i32> = next_offsets.keys().copied().collect();
            let offsets: Vec<i64> = next_offsets.values().copied().collect();
            let mut tx = self.pool.begin().await?;
            let locked: Vec<i32> =
                sqlx::query_scalar(include_str!("sql/partition_leases_lock_held.sql"))
                    .bind(&self.group)
                    .bind(&self.topic)
                    .bind(self.worker)
                    .bind(&partitions)
                    .fetch_all(&mut *tx)
                    .await?;
            if let Some(lost) = partitions.iter().find(|p| !locked.contains(p)) {
                return Ok(Err(CommitError::LeaseLost(*lost)));
            }
            let applied = if events.is_empty() {
                Applied::default()
            } else {
                insert_batch_on(&mut *tx, events).await?
            };
            sqlx::query(include_str!("sql/partition_leases_advance.sql"))
                .bind(&self.group)
                .bind(&self.topic)
                .bind(&partitions)
                .bind(&offsets)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Ok(Persisted {
                new: applied.inserted,
                duplicates: (events.len() as u64).saturating_sub(applied.recorded),
                contradicting: applied.contradicting,
            }))
        };
        bounded(INSERT_TIMEOUT, commit).await?
    }
}
