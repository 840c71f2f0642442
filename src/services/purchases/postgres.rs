//! The Postgres side shared by `naive` and `locking`: the sale's stock row (`sale_stock`) and
//! the one sequence of statements both run to sell from it. They differ only in what wraps
//! the sequence (see naive.rs and locking.rs), which is the lesson: the statements are the same,
//! the transaction and the lock make them safe.

use std::time::Duration;

use sqlx::postgres::PgPool;
use sqlx::PgConnection;

use crate::domain::decision::{ReserveError, ReserveOutcome};
use crate::domain::{Purchase, Reservation, Sale, SaleId, Strategy};
use crate::postgres::{bounded, order_with_key, Orders};
use crate::runtime::outage_log::OutageLog;

/// The `sale_stock` table: one row per sale, for its current round.
#[derive(Debug, Clone)]
pub struct SaleStock {
    pool: PgPool,
    timeout: Duration,
}

/// Whether the sale's row is read with `FOR UPDATE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowLock {
    None,
    ForUpdate,
}

/// The stock row as a purchase reads it; `active` is judged by the Postgres clock.
#[derive(sqlx::FromRow)]
struct StockRow {
    strategy: String,
    round: i64,
    remaining: i64,
    per_user_limit: i64,
    active: bool,
}

impl SaleStock {
    pub fn new(orders: &Orders) -> Self {
        Self {
            pool: orders.pool().clone(),
            timeout: orders.timeout(),
        }
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Records the sale's new round (admin calls): full stock, its settings and strategy. A
    /// sale moving to a Redis strategy keeps its row, marked with that strategy, so a process
    /// still routing to Postgres learns that the stock moved. Never goes back to an older round.
    pub async fn put(&self, sale: &Sale) -> Result<(), sqlx::Error> {
        let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let query = sqlx::query(include_str!("sql/sale_stock_put.sql"))
            .bind(sale.sale_id.as_str())
            .bind(sale.strategy.as_str())
            .bind(as_i64(sale.round))
            .bind(as_i64(sale.stock))
            .bind(i64::from(sale.per_user_limit))
            .bind(sale.starts_at)
            .bind(sale.ends_at)
            .execute(&self.pool);
        bounded(self.timeout, query).await.map(|_| ())
    }

    /// The units left in `round` by the stock counter; `None` when the row is of another round
    /// (or there is none).
    pub async fn remaining(
        &self,
        sale_id: &SaleId,
        round: u64,
    ) -> Result<Option<i64>, sqlx::Error> {
        let query = sqlx::query_scalar(include_str!("sql/sale_stock_select_remaining.sql"))
            .bind(sale_id.as_str())
            .bind(i64::try_from(round).unwrap_or(i64::MAX))
            .fetch_optional(&self.pool);
        bounded(self.timeout, query).await
    }

    /// Bounds a whole purchase by the reservation timeout, and turns a failure into "no
    /// decision" (logged here; the client only learns to retry with its Idempotency-Key).
    pub(crate) async fn decide(
        &self,
        limit: Duration,
        purchase: impl std::future::Future<Output = Result<ReserveOutcome, sqlx::Error>>,
    ) -> Result<ReserveOutcome, ReserveError> {
        // Logged once per outage, not per purchase: the cause ends here, the buyer only learns
        // to retry.
        static SELL: OutageLog = OutageLog::new("sell from the Postgres stock");
        match bounded(limit, purchase).await {
            Ok(outcome) => {
                SELL.succeeded();
                Ok(outcome)
            }
            Err(error) => {
                SELL.failed(&error);
                Err(ReserveError::Unavailable)
            }
        }
    }
}

/// Sells `reservation` from the sale's stock row on `conn`: read the row (locked or not), the
/// idempotency record, the user's units, then write the new remaining figure and the order.
///
/// The remaining figure written is the one this purchase read minus its quantity. Under a
/// lock (inside one transaction) nobody else can have changed it in between; without one, two
/// buyers who read the same figure both write it: a lost update, and an order the stock did not
/// cover. The per-user limit is the same check-then-act.
#[tracing::instrument(level = "debug", skip_all, fields(strategy = strategy.as_str(), sale_id = %reservation.sale_id))]
pub(crate) async fn sell(
    conn: &mut PgConnection,
    strategy: Strategy,
    reservation: &Reservation,
    lock: RowLock,
) -> Result<ReserveOutcome, sqlx::Error> {
    let select = match lock {
        RowLock::None => include_str!("sql/sale_stock_select.sql"),
        RowLock::ForUpdate => include_str!("sql/sale_stock_select_for_update.sql"),
    };
    let row: Option<StockRow> = sqlx::query_as(select)
        .bind(reservation.sale_id.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    // No row, or a row of another strategy: the admin call that made this sale ours has not
    // reached Postgres, or the sale moved. Either way the caller asks for the strategy again.
    let Some(row) = row.filter(|row| row.strategy == strategy.as_str()) else {
        return Ok(ReserveOutcome::StrategyChanged);
    };
    let round = u64::try_from(row.round).unwrap_or(0);
    let quantity = i64::from(reservation.quantity.get());
    if let Some(outcome) = replay(conn, reservation, row.round).await? {
        return Ok(outcome);
    }
    if !row.active {
        return Ok(ReserveOutcome::SaleNotActive);
    }
    let bought: i64 = sqlx::query_scalar(include_str!("sql/orders_sum_user_units.sql"))
        .bind(reservation.sale_id.as_str())
        .bind(row.round)
        .bind(reservation.user_id.as_str())
        .fetch_one(&mut *conn)
        .await?;
    if bought + quantity > row.per_user_limit {
        return Ok(ReserveOutcome::LimitReached);
    }
    if quantity > row.remaining {
        return Ok(ReserveOutcome::SoldOut {
            round,
            remaining: u64::try_from(row.remaining).unwrap_or(0),
        });
    }
    let remaining = row.remaining - quantity;
    sqlx::query(include_str!("sql/sale_stock_update_remaining.sql"))
        .bind(reservation.sale_id.as_str())
        .bind(remaining)
        .execute(&mut *conn)
        .await?;
    let reserved_at: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar(include_str!("sql/orders_insert_written.sql"))
            .bind(reservation.purchase_id)
            .bind(reservation.sale_id.as_str())
            .bind(row.round)
            .bind(reservation.user_id.as_str())
            .bind(i32::try_from(quantity).unwrap_or(i32::MAX))
            .bind(reservation.idempotency_key.as_ref().map(|k| k.as_str()))
            .bind(remaining)
            .fetch_optional(&mut *conn)
            .await?;
    match reserved_at {
        Some(reserved_at) => Ok(ReserveOutcome::Ordered(Purchase::reserved(
            reservation.purchase_id,
            reservation.sale_id.clone(),
            reservation.user_id.clone(),
            round,
            reservation.quantity.get(),
            u64::try_from(remaining).unwrap_or(0),
            reserved_at,
        ))),
        // The key's order was written by a concurrent request after our check (only possible
        // without the lock): its answer is ours.
        None => Ok(replay(conn, reservation, row.round)
            .await?
            .unwrap_or(ReserveOutcome::StrategyChanged)),
    }
}

/// The answer of an earlier purchase with the same Idempotency-Key in this round, if any.
async fn replay(
    conn: &mut PgConnection,
    reservation: &Reservation,
    round: i64,
) -> Result<Option<ReserveOutcome>, sqlx::Error> {
    let original = order_with_key(conn, reservation, round).await?;
    Ok(original.map(|original| {
        if original.quantity == reservation.quantity.get() {
            ReserveOutcome::Replayed(original)
        } else {
            ReserveOutcome::KeyReused
        }
    }))
}
