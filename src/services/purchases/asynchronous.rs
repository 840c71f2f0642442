//! `async`: the production path. The Lua reservation through the actor pool; the order reaches
//! Postgres through the outbox, Kafka and the worker (docs/DELIVERY.md).

use std::sync::Arc;

use crate::actors::reservation::ReservationPool;
use crate::domain::decision::{ReserveError, ReserveOutcome};
use crate::domain::Reservation;

pub(crate) struct AsyncStrategy {
    pub(crate) reservations: Arc<ReservationPool>,
}

impl AsyncStrategy {
    pub(crate) async fn purchase(
        &self,
        reservation: Reservation,
    ) -> Result<ReserveOutcome, ReserveError> {
        self.reservations.reserve(reservation).await
    }
}
