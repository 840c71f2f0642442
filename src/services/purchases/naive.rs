//! `naive`: the seed's first phase. Read the remaining stock, then write the new figure and the
//! order in separate statements, each committing on its own, with no lock.
//!
//! Between the read and the write, other buyers read the same figure: they all pass the check
//! and all write an order, so the sale oversells under concurrency, and a user can exceed the
//! per-user limit the same way. The Idempotency-Key holds (a unique index on the orders keeps
//! one order per key), but a concurrent retry may still have counted against the stock. This is
//! on purpose: it is the race the other strategies exist to close.

use std::time::Duration;

use super::postgres::{sell, RowLock, SaleStock};
use crate::domain::decision::{ReserveError, ReserveOutcome};
use crate::domain::{Reservation, Strategy};

pub(crate) struct NaiveStrategy {
    pub(crate) stock: SaleStock,
    pub(crate) timeout: Duration,
}

impl NaiveStrategy {
    pub(crate) async fn purchase(
        &self,
        reservation: Reservation,
    ) -> Result<ReserveOutcome, ReserveError> {
        let purchase = async {
            // One connection, no transaction: every statement commits by itself.
            let mut conn = self.stock.pool().acquire().await?;
            sell(&mut conn, Strategy::Naive, &reservation, RowLock::None).await
        };
        self.stock.decide(self.timeout, purchase).await
    }
}
