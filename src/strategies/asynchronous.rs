//! `async`: the production path. The Lua reservation through the actor pool; the order reaches
//! Postgres through the outbox, Kafka and the worker (docs/DELIVERY.md).

use std::sync::Arc;

use super::PurchaseStrategy;
use crate::actors::reservation::{ReservationPool, ReserveError};
use crate::domain::Reservation;
use crate::store::ReserveOutcome;

pub(crate) struct AsyncStrategy {
    pub(crate) reservations: Arc<ReservationPool>,
}

impl PurchaseStrategy for AsyncStrategy {
    async fn purchase(&self, reservation: Reservation) -> Result<ReserveOutcome, ReserveError> {
        self.reservations.reserve(reservation).await
    }
}
