//! The purchase strategies: the seed's phases, each one small unit with one `purchase`, chosen
//! per sale (the sale's `strategy` field).
//!
//! | strategy | file | stock lives in | the order is written |
//! |---|---|---|---|
//! | `naive` | `naive.rs` | Postgres `sale_stock` | in the request, no lock (oversells) |
//! | `locking` | `locking.rs` | Postgres `sale_stock` | in the request, one locked transaction |
//! | `redis` | `redis.rs` | Redis (Lua) | in the request, and again by the worker (deduplicated) |
//! | `async` | `asynchronous.rs` | Redis (Lua) | by the worker, from the outbox through Kafka |
//!
//! Every unit has the same `purchase(reservation) -> Result<ReserveOutcome, ReserveError>`,
//! and means its failures the same way: no decision was obtained, and a retry with the same
//! Idempotency-Key is safe.
//!
//! [`Strategies::purchase`] picks the unit from the sale's strategy, cached per process
//! ([`StrategyCache`]), so the `async` path costs no extra round trip. The reservation actors
//! know nothing of strategies: `redis` and `async` both use the pool as it is.
//!
//! [`PurchaseLookup`] reads a purchase back, wherever its strategy keeps it.

mod asynchronous;
mod locking;
mod lookup;
mod naive;
mod postgres;
mod redis;

use std::sync::Arc;
use std::time::Duration;

pub use lookup::PurchaseLookup;
pub use postgres::SaleStock;

use crate::actors::reservation::ReservationPool;
use crate::caches::strategies::StrategyCache;
use crate::domain::decision::{ReserveError, ReserveOutcome};
use crate::domain::{Reservation, SaleId, Strategy};
use crate::postgres::Orders;
use crate::runtime::outage_log::OutageLog;
use crate::store::Sales;
use asynchronous::AsyncStrategy;
use locking::LockingStrategy;
use naive::NaiveStrategy;
use redis::RedisStrategy;

/// The four strategies and the cache that routes each sale to one of them.
pub struct Strategies {
    known: StrategyCache,
    store: Sales,
    naive: NaiveStrategy,
    locking: LockingStrategy,
    redis: RedisStrategy,
    asynchronous: AsyncStrategy,
}

impl Strategies {
    /// `timeout` bounds one purchase of a Postgres strategy (and the synchronous order write
    /// of `redis`), as the pool's timeout bounds a reservation.
    pub fn new(
        store: Sales,
        orders: &Orders,
        reservations: Arc<ReservationPool>,
        known: StrategyCache,
        timeout: Duration,
    ) -> Self {
        let stock = SaleStock::new(orders);
        Self {
            known,
            store,
            naive: NaiveStrategy {
                stock: stock.clone(),
                timeout,
            },
            locking: LockingStrategy { stock, timeout },
            redis: RedisStrategy {
                reservations: Arc::clone(&reservations),
                orders: orders.clone(),
                timeout,
            },
            asynchronous: AsyncStrategy { reservations },
        }
    }

    /// Decides one purchase with its sale's strategy. A strategy that finds the sale moved to
    /// another one took nothing; the strategy is looked up again and the purchase tried once
    /// more.
    pub async fn purchase(&self, reservation: Reservation) -> Result<ReserveOutcome, ReserveError> {
        for _ in 0..2 {
            let Some(strategy) = self.strategy_of(&reservation.sale_id).await? else {
                return Ok(ReserveOutcome::SaleNotFound);
            };
            let attempt = reservation.clone();
            let outcome = match strategy {
                Strategy::Naive => self.naive.purchase(attempt).await,
                Strategy::Locking => self.locking.purchase(attempt).await,
                Strategy::Redis => self.redis.purchase(attempt).await,
                Strategy::Async => self.asynchronous.purchase(attempt).await,
            }?;
            if outcome != ReserveOutcome::StrategyChanged {
                return Ok(outcome);
            }
            self.known.forget(&reservation.sale_id);
        }
        // Changed twice within one purchase, or the admin call that set it has not reached
        // Postgres yet: no decision.
        Err(ReserveError::Unavailable)
    }

    /// The sale's strategy from the cache, or from Redis on first use; `None` when no sale
    /// has this id (not cached: the sale may be created any time).
    async fn strategy_of(&self, sale_id: &SaleId) -> Result<Option<Strategy>, ReserveError> {
        if let Some(strategy) = self.known.get(sale_id) {
            return Ok(Some(strategy));
        }
        // Logged once per outage, not per purchase: the cause ends here, the buyer only learns
        // to retry.
        static LOOKUP: OutageLog = OutageLog::new("read the sales' strategies in Redis");
        let found = match self.store.strategy(sale_id).await {
            Ok(found) => {
                LOOKUP.succeeded();
                found
            }
            Err(error) => {
                LOOKUP.failed(&error);
                return Err(ReserveError::Unavailable);
            }
        };
        Ok(found.map(|(round, strategy)| {
            self.known.learn(sale_id, round, strategy);
            strategy
        }))
    }
}
