//! `locking`: the seed's second phase. The same statements as `naive`, inside one transaction
//! that first locks the sale's stock row (`SELECT ... FOR UPDATE`): buyers of one sale take
//! turns, so the stock, the per-user limit and the Idempotency-Key all hold. Safe, and as
//! fast as one sale's purchases can run one after another through Postgres.

use std::time::Duration;

use super::postgres::{sell, RowLock, SaleStock};
use crate::domain::decision::{ReserveError, ReserveOutcome};
use crate::domain::{Reservation, Strategy};

pub(crate) struct LockingStrategy {
    pub(crate) stock: SaleStock,
    pub(crate) timeout: Duration,
}

impl LockingStrategy {
    pub(crate) async fn purchase(
        &self,
        reservation: Reservation,
    ) -> Result<ReserveOutcome, ReserveError> {
        let purchase = async {
            let mut tx = self.stock.pool().begin().await?;
            let outcome =
                sell(&mut tx, Strategy::Locking, &reservation, RowLock::ForUpdate).await?;
            // Refusals wrote nothing; committing them too just ends the transaction.
            tx.commit().await?;
            Ok(outcome)
        };
        // A timeout drops the transaction, which rolls it back: nothing half-done stays.
        self.stock.decide(self.timeout, purchase).await
    }
}
