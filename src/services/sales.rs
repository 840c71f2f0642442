//! The sale lifecycle: create, replace, reset (each starts a new round and announces it), and
//! the sale as buyers see it. The admin handlers and start-up call this; it knows nothing of
//! HTTP.

use chrono::Utc;

use crate::caches::rounds::FollowsRounds;
use crate::caches::sold_out::SoldOutCache;
use crate::caches::strategies::StrategyCache;
use crate::domain::{Sale, SaleId, SaleSpec, Strategy};
use crate::postgres::Orders;
use crate::services::purchases::SaleStock;
use crate::services::ServiceError;
use crate::store::{RoundChange, RoundOutcome, Sales, StoreError};

/// Changes and reads sales, keeping this process's caches and the Postgres stock row of the
/// `naive` and `locking` strategies in step with every new round.
pub struct SaleService {
    store: Sales,
    orders: Orders,
    sale_stock: SaleStock,
    sold_out: SoldOutCache,
    strategies: StrategyCache,
}

impl SaleService {
    pub fn new(
        store: Sales,
        orders: Orders,
        sold_out: SoldOutCache,
        strategies: StrategyCache,
    ) -> Self {
        Self {
            sale_stock: SaleStock::new(&orders),
            store,
            orders,
            sold_out,
            strategies,
        }
    }

    /// Creates the sale ([`RoundOutcome::Created`]) or replaces it, starting a new round with
    /// the full new stock.
    pub async fn put(
        &self,
        sale_id: &SaleId,
        spec: SaleSpec,
    ) -> Result<(RoundOutcome, Sale), ServiceError> {
        // Before anything changes, so a Postgres that cannot take the sale leaves it as it was.
        if spec.strategy.writes_orders() {
            self.orders.ensure_migrated().await?;
        }
        let previous = self.store.strategy(sale_id).await?;
        let floor = self.round_floor(sale_id, previous.is_some()).await?;
        let outcome = self
            .store
            .start_round(sale_id, &RoundChange::Put(spec), floor)
            .await?;
        let moved_from = previous.map(|(_, strategy)| strategy);
        let sale = self
            .complete_round(sale_id, moved_from)
            .await?
            .ok_or_else(|| {
                StoreError::Corrupt(format!("sale {sale_id} vanished right after it was put"))
            })?;
        Ok((outcome, sale))
    }

    /// Puts the stock back (a new stock figure when given) and starts a new round; `None`
    /// when no sale has this id.
    pub async fn reset(
        &self,
        sale_id: &SaleId,
        stock: Option<u64>,
    ) -> Result<Option<Sale>, ServiceError> {
        match self
            .store
            // A reset needs the sale in Redis, and so its round: no floor to look up.
            .start_round(sale_id, &RoundChange::Reset { stock }, 0)
            .await?
        {
            RoundOutcome::NotFound => Ok(None),
            _ => self.complete_round(sale_id, None).await,
        }
    }

    /// Creates the sale unless it exists (then it is left as it is, whatever its settings).
    /// For a sale whose stock lives in Postgres the stock row is written too, also when the
    /// sale existed: a start-up that created the sale but failed before the row is completed
    /// by the next attempt (the row never goes back a round, so this changes nothing else).
    pub async fn ensure(
        &self,
        sale_id: &SaleId,
        spec: SaleSpec,
    ) -> Result<RoundOutcome, ServiceError> {
        if spec.strategy.writes_orders() {
            self.orders.ensure_migrated().await?;
        }
        let exists = self.store.strategy(sale_id).await?.is_some();
        let floor = self.round_floor(sale_id, exists).await?;
        let outcome = self
            .store
            .start_round(sale_id, &RoundChange::CreateIfAbsent(spec), floor)
            .await?;
        self.complete_round(sale_id, None).await?;
        Ok(outcome)
    }

    /// The sale as buyers see it (`GET /api/v1/sales/{id}`, its stream): as Redis holds it,
    /// with the units left of the Postgres stock row for a sale whose stock lives there
    /// (`naive`, `locking`). `None`: no sale has this id.
    pub async fn current(&self, sale_id: &SaleId) -> Result<Option<Sale>, ServiceError> {
        let Some(mut sale) = self.store.sale(sale_id).await? else {
            return Ok(None);
        };
        if sale.strategy.stock_in_postgres() {
            if let Some(remaining) = self.sale_stock.remaining(sale_id, sale.round).await? {
                sale.remaining = u64::try_from(remaining).unwrap_or(0);
                sale.sold = sale.stock.saturating_sub(sale.remaining);
                sale.status =
                    Sale::status_at(Utc::now(), sale.starts_at, sale.ends_at, sale.remaining);
            }
        }
        Ok(Some(sale))
    }

    /// What a new round of the sale must be above besides Redis's own round: for a sale Redis
    /// does not hold (new, or lost with Redis's data), the last round PostgreSQL remembers, so
    /// its orders of earlier rounds are never mixed with the new round's. With PostgreSQL
    /// unreachable this fails (503 `unavailable`) and nothing changes: going on could start
    /// again at round 1 over rounds already sold, and an admin call can be retried.
    async fn round_floor(&self, sale_id: &SaleId, in_redis: bool) -> Result<u64, ServiceError> {
        if in_redis {
            return Ok(0);
        }
        Ok(self.orders.last_round(sale_id.as_str()).await?)
    }

    /// Completes a new round and returns the sale as it now stands: the Postgres stock row
    /// gets the round when the sale's stock lives there, or lived there before (`moved_from`),
    /// so stale routes to it learn the sale moved. Clears this process's sold-out flag and
    /// strategy at once (other processes when the round announcement reaches them).
    async fn complete_round(
        &self,
        sale_id: &SaleId,
        moved_from: Option<Strategy>,
    ) -> Result<Option<Sale>, ServiceError> {
        let Some(sale) = self.store.sale(sale_id).await? else {
            return Ok(None);
        };
        if sale.strategy.stock_in_postgres() || moved_from.is_some_and(Strategy::stock_in_postgres)
        {
            self.sale_stock.put(&sale).await?;
        }
        self.sold_out.rounds().round_started(sale_id, sale.round);
        self.strategies.learn(sale_id, sale.round, sale.strategy);
        Ok(Some(sale))
    }
}
