//! Partition leases in PostgreSQL: which worker persists which partition, and from which
//! offset. This replaces Kafka's consumer group (docs/DELIVERY.md says why: a dead member
//! must never be able to wedge the pipeline, whatever the broker).
//!
//! - Each worker process has a random id, registers itself as live in `lease_workers` and
//!   renews that row and its leases every third of the TTL ([`keeper::LeaseKeeper`]).
//! - Its fair share is the partition count divided by the live workers (ranked by id, the
//!   first ones take the remainder): it takes free or expired leases up to its share and
//!   releases those above it, so a second worker gets half at its first renewals.
//! - A lease expires when its holder stops renewing; the next renewal of any worker takes it.
//! - The consumer `assign()`s exactly the partitions held and seeks to the offsets stored here.
//! - Each batch commits its orders and its offsets in one transaction that first locks the
//!   batch's leases and checks they are still this worker's ([`batch_commit`]): a worker
//!   that lost a lease (a SIGSTOPped zombie, one cut off from Postgres) writes nothing.

pub mod batch_commit;
pub mod keeper;

use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;

use crate::postgres::bounded;

/// The partitions this worker holds, each with the offset to resume from (`None`: nothing
/// persisted yet, start at the earliest).
pub type Held = BTreeMap<i32, Option<i64>>;

/// The shortest lease allowed, whatever the setting says: renewals must have time to run.
const MIN_TTL: Duration = Duration::from_millis(600);

/// This worker's view of one group's leases on one topic; cheap to clone.
#[derive(Debug, Clone)]
pub struct Leases {
    pool: PgPool,
    group: String,
    topic: String,
    worker: Uuid,
    ttl: Duration,
}

impl Leases {
    /// A new worker identity in `group` for `topic`; it holds nothing until [`Self::renew`].
    pub fn new(pool: PgPool, group: &str, topic: &str, ttl: Duration) -> Self {
        Self {
            pool,
            group: group.to_owned(),
            topic: topic.to_owned(),
            worker: Uuid::new_v4(),
            ttl: ttl.max(MIN_TTL),
        }
    }

    pub fn worker_id(&self) -> Uuid {
        self.worker
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn ttl_ms(&self) -> f64 {
        self.ttl.as_secs_f64() * 1000.0
    }

    /// One renewal, in one transaction: this worker is live; the topic's `partitions` have a
    /// lease row each; the leases it holds are renewed; it releases those above its fair share
    /// and takes free or expired ones up to it. Returns what it holds now.
    pub async fn renew(&self, partitions: i32) -> Result<Held, sqlx::Error> {
        bounded(self.ttl, self.renew_unbounded(partitions)).await
    }

    async fn renew_unbounded(&self, partitions: i32) -> Result<Held, sqlx::Error> {
        let (group, topic, ttl) = (self.group.as_str(), self.topic.as_str(), self.ttl_ms());
        let mut tx = self.pool.begin().await?;
        sqlx::query(include_str!("sql/lease_workers_prune.sql"))
            .bind(group)
            .bind(topic)
            .bind(Uuid::nil())
            .execute(&mut *tx)
            .await?;
        sqlx::query(include_str!("sql/lease_workers_renew.sql"))
            .bind(group)
            .bind(topic)
            .bind(self.worker)
            .bind(ttl)
            .execute(&mut *tx)
            .await?;
        sqlx::query(include_str!("sql/partition_leases_insert.sql"))
            .bind(group)
            .bind(topic)
            .bind(partitions)
            .execute(&mut *tx)
            .await?;
        let live: Vec<Uuid> = sqlx::query_scalar(include_str!("sql/lease_workers_select_live.sql"))
            .bind(group)
            .bind(topic)
            .fetch_all(&mut *tx)
            .await?;
        let share = fair_share(partitions, &live, self.worker);
        let mut held: Held = sqlx::query_as(include_str!("sql/partition_leases_renew.sql"))
            .bind(group)
            .bind(topic)
            .bind(self.worker)
            .bind(ttl)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();
        if held.len() > share {
            // The highest partitions go back, so two workers' shares end up disjoint ranges.
            let extra: Vec<i32> = held
                .keys()
                .rev()
                .take(held.len() - share)
                .copied()
                .collect();
            self.release_on(&mut tx, Some(&extra)).await?;
            for partition in &extra {
                held.remove(partition);
            }
        } else if held.len() < share {
            let taken: Vec<(i32, Option<i64>)> =
                sqlx::query_as(include_str!("sql/partition_leases_take.sql"))
                    .bind(group)
                    .bind(topic)
                    .bind(self.worker)
                    .bind(ttl)
                    .bind(i64::try_from(share - held.len()).unwrap_or(0))
                    .fetch_all(&mut *tx)
                    .await?;
            held.extend(taken);
        }
        tx.commit().await?;
        Ok(held)
    }

    /// Releases every lease of this worker and forgets it, so the others take its partitions
    /// at their next renewal instead of waiting for the leases to expire.
    pub async fn release_all(&self) -> Result<(), sqlx::Error> {
        bounded(self.ttl, async {
            let mut tx = self.pool.begin().await?;
            self.release_on(&mut tx, None).await?;
            sqlx::query(include_str!("sql/lease_workers_prune.sql"))
                .bind(&self.group)
                .bind(&self.topic)
                .bind(self.worker)
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        })
        .await
    }

    async fn release_on(
        &self,
        conn: &mut sqlx::PgConnection,
        partitions: Option<&[i32]>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(include_str!("sql/partition_leases_release.sql"))
            .bind(&self.group)
            .bind(&self.topic)
            .bind(self.worker)
            .bind(partitions)
            .execute(conn)
            .await
            .map(|_| ())
    }
}

/// How many partitions this worker should hold: the partitions divided by the live workers,
/// the first `partitions % live` of them (by id) taking one more. A worker not (yet) among the
/// live ones counts itself in.
fn fair_share(partitions: i32, live: &[Uuid], me: Uuid) -> usize {
    let partitions = usize::try_from(partitions).unwrap_or(0);
    let mut workers = live.to_vec();
    if !workers.contains(&me) {
        workers.push(me);
        workers.sort();
    }
    let rank = workers.iter().position(|w| *w == me).unwrap_or(0);
    partitions / workers.len() + usize::from(rank < partitions % workers.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_the_partitions_and_differ_by_at_most_one() {
        let live: Vec<Uuid> = {
            let mut ids: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
            ids.sort();
            ids
        };
        let shares: Vec<usize> = live.iter().map(|w| fair_share(8, &live, *w)).collect();
        assert_eq!(shares, vec![3, 3, 2]);
        assert_eq!(fair_share(2, &live[..1], live[0]), 2);
        // A worker not registered yet counts itself in.
        assert_eq!(fair_share(2, &live[..1], Uuid::new_v4()), 1);
    }
}
