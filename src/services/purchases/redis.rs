//! `redis`: the seed's third phase. The Lua reservation (through the same actor pool as
//! `async`), then the order written to Postgres before the 202, so the buyer's order exists
//! when they are answered.
//!
//! The reservation still appends the purchase to the sale's outbox, so its event also reaches
//! the worker, whose insert then finds the row and adds nothing (`purchase_id` is the key).
//! That is deliberate rather than skipping the outbox for this strategy: the reservation path
//! stays one path with no special case, and when the synchronous write fails (Postgres slow or
//! down) the stock is already taken and the outbox still delivers the order, so the seed's
//! "Redis risks losing sales" does not come back. The buyer then gets the 202 anyway (the
//! purchase is reserved, as every 202 says) and the order arrives later.

use std::sync::Arc;
use std::time::Duration;

use crate::actors::reservation::ReservationPool;
use crate::domain::decision::{ReserveError, ReserveOutcome};
use crate::domain::events::PurchaseEvent;
use crate::domain::Reservation;
use crate::postgres::{bounded, Orders};
use crate::runtime::outage_log::OutageLog;

pub(crate) struct RedisStrategy {
    pub(crate) reservations: Arc<ReservationPool>,
    pub(crate) orders: Orders,
    pub(crate) timeout: Duration,
}

impl RedisStrategy {
    pub(crate) async fn purchase(
        &self,
        reservation: Reservation,
    ) -> Result<ReserveOutcome, ReserveError> {
        let outcome = self.reservations.reserve(reservation).await?;
        if let ReserveOutcome::Reserved { purchase, .. } = &outcome {
            let event = [PurchaseEvent::from_purchase(purchase)];
            // Logged once per outage, not per purchase; the outbox delivers the order anyway.
            static WRITE: OutageLog =
                OutageLog::new("write orders in the request (the outbox delivers them)");
            match bounded(self.timeout, self.orders.insert_batch(&event)).await {
                Ok(_) => WRITE.succeeded(),
                Err(error) => WRITE.failed(&error),
            }
        }
        Ok(outcome)
    }
}
