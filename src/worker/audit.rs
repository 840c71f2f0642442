//! The audit: compares what was sold in a sale's round with what PostgreSQL holds, according to
//! the strategy the round was sold with (recorded with the round's stock).
//!
//! `async` and `redis` reserve in Redis, so Redis is compared with Postgres:
//!
//! | figure | meaning |
//! |---|---|
//! | sold | units reserved in Redis for the round (its purchase records) |
//! | persisted | units in `orders` for the round |
//! | pending | purchases still in the sale's outbox (not yet acknowledged by the broker) |
//! | oversold | units sold or persisted beyond the round's stock |
//! | missing | reserved purchases neither persisted nor pending |
//! | duplicated | orders that match no reserved purchase of the round: a sale written twice, or written without being reserved |
//!
//! While a sale is being sold, `missing` may count purchases that are between the broker and
//! the worker; it is final once nothing is pending and the worker has caught up, which is why
//! [`Audit::settled`] retries for a while.
//!
//! `naive` and `locking` keep no record outside Postgres: a purchase is its order, written
//! before the 202. So `sold` and `persisted` are both the units in `orders` for the round,
//! `oversold` is the units ordered beyond the stock (what `naive` does under concurrency),
//! and `pending`, `missing` and `duplicated` are 0: there is nothing in flight and no second
//! record to compare with (the `purchase_id` key and the Idempotency-Key index keep each order
//! once).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde::Serialize;
use uuid::Uuid;

use crate::common::domain::{SaleId, Strategy};
use crate::common::orders::{is_not_migrated, Orders};
use crate::common::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("redis: {0}")]
    Store(#[from] StoreError),
    #[error("postgres: {0}")]
    Database(sqlx::Error),
    #[error("postgres has no orders table yet: the worker applies the migrations when it starts")]
    NotMigrated,
    #[error("sale {0} has no round {1}")]
    NoSuchRound(SaleId, u64),
    #[error("no sale has id {0}")]
    NoSuchSale(SaleId),
}

impl From<sqlx::Error> for AuditError {
    fn from(error: sqlx::Error) -> Self {
        if is_not_migrated(&error) {
            Self::NotMigrated
        } else {
            Self::Database(error)
        }
    }
}

/// The figures of one audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Audit {
    pub sale_id: String,
    pub round: u64,
    pub strategy: Strategy,
    pub stock: u64,
    pub sold: u64,
    pub persisted: u64,
    pub pending: u64,
    pub oversold: u64,
    pub missing: u64,
    pub duplicated: u64,
}

impl Audit {
    /// Audits `round` of a sale (its current round when `None`).
    pub async fn run(
        store: &Store,
        orders: &Orders,
        sale_id: &SaleId,
        round: Option<u64>,
    ) -> Result<Self, AuditError> {
        let round = match round {
            Some(round) => round,
            None => {
                store
                    .sale(sale_id)
                    .await?
                    .ok_or_else(|| AuditError::NoSuchSale(sale_id.clone()))?
                    .round
            }
        };
        let stock = store
            .round_stock(sale_id, round)
            .await?
            .ok_or_else(|| AuditError::NoSuchRound(sale_id.clone(), round))?;
        let strategy = store.round_strategy(sale_id, round).await?;
        if strategy.stock_in_postgres() {
            let persisted = orders.orders_of_round(sale_id.as_str(), round).await?;
            let units = units_of(&persisted);
            return Ok(Self {
                sale_id: sale_id.as_str().to_owned(),
                round,
                strategy,
                stock,
                sold: units,
                persisted: units,
                pending: 0,
                oversold: units.saturating_sub(stock),
                missing: 0,
                duplicated: 0,
            });
        }
        let reserved = store.purchases_of_round(sale_id, round).await?;
        let pending: HashSet<Uuid> = store
            .outbox_of_round(sale_id, round)
            .await?
            .into_iter()
            .map(|entry| entry.event.purchase_id)
            .collect();
        let persisted = orders.orders_of_round(sale_id.as_str(), round).await?;

        let reserved_units: HashMap<Uuid, u64> = reserved
            .iter()
            .map(|p| (p.purchase_id, u64::from(p.quantity)))
            .collect();
        let sold: u64 = reserved_units.values().sum();
        let persisted_units = units_of(&persisted);
        let persisted_ids: HashSet<Uuid> = persisted.iter().map(|(id, _, _)| *id).collect();
        let missing = reserved_units
            .keys()
            .filter(|id| !persisted_ids.contains(id) && !pending.contains(id))
            .count();
        let duplicated = persisted
            .iter()
            .filter(|(id, _, _)| !reserved_units.contains_key(id))
            .count();
        Ok(Self {
            sale_id: sale_id.as_str().to_owned(),
            round,
            strategy,
            stock,
            sold,
            persisted: persisted_units,
            pending: pending.len() as u64,
            oversold: sold.max(persisted_units).saturating_sub(stock),
            missing: missing as u64,
            duplicated: duplicated as u64,
        })
    }

    /// Audits until nothing is pending or missing, or `wait` has passed, and returns the last
    /// audit: a sale still in the pipeline gets the time to arrive before it counts as missing,
    /// and a worker that is still applying its migrations the time to finish.
    pub async fn settled(
        store: &Store,
        orders: &Orders,
        sale_id: &SaleId,
        round: Option<u64>,
        wait: Duration,
    ) -> Result<Self, AuditError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let waited_enough = tokio::time::Instant::now() >= deadline;
            match Self::run(store, orders, sale_id, round).await {
                Ok(audit) if (audit.pending == 0 && audit.missing == 0) || waited_enough => {
                    return Ok(audit)
                }
                Err(AuditError::NotMigrated) if !waited_enough => {}
                Ok(_) => {}
                Err(error) => return Err(error),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Nothing oversold, duplicated, or missing with the outbox drained.
    pub fn passed(&self) -> bool {
        self.oversold == 0 && self.duplicated == 0 && !(self.pending == 0 && self.missing > 0)
    }
}

/// The units of a round's orders.
fn units_of(orders: &[(Uuid, String, i32)]) -> u64 {
    orders
        .iter()
        .map(|(_, _, q)| u64::try_from(*q).unwrap_or(0))
        .sum()
}

impl std::fmt::Display for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sale {} round {} ({}): stock {}, sold {}, persisted {}, pending {}, oversold {}, missing {}, duplicated {}",
            self.sale_id,
            self.round,
            self.strategy.as_str(),
            self.stock,
            self.sold,
            self.persisted,
            self.pending,
            self.oversold,
            self.missing,
            self.duplicated
        )
    }
}
