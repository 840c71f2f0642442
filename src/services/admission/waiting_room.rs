//! A sale's waiting room as its buyers use it: take a ticket, read where it stands. Redis
//! decides both in one script call (`queue_ticket.lua`); the [`admitter`](super::admitter)
//! lets the tickets in.

use uuid::Uuid;

use crate::domain::{SaleId, UserId};
use crate::store::{self, StoreError, TicketLookup};

/// The sales' waiting rooms.
pub struct WaitingRoom {
    store: store::WaitingRoom,
}

impl WaitingRoom {
    pub fn new(store: store::WaitingRoom) -> Self {
        Self { store }
    }

    /// Takes `user_id`'s ticket with the id `new_ticket`, or finds the one it took this round
    /// (whose id differs).
    pub async fn join(
        &self,
        sale_id: &SaleId,
        user_id: &UserId,
        new_ticket: Uuid,
    ) -> Result<TicketLookup, StoreError> {
        self.store.join(sale_id, user_id, new_ticket).await
    }

    /// A ticket of the sale's current round.
    pub async fn ticket(
        &self,
        sale_id: &SaleId,
        ticket_id: Uuid,
    ) -> Result<TicketLookup, StoreError> {
        self.store.ticket(sale_id, ticket_id).await
    }
}
