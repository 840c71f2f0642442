//! A sold-out sale's waitlist: buyers join it, read where their entry stands (and, once a unit
//! is offered to them, the offer), or leave it. Redis decides each change in one script call
//! (`store/waitlist/`); the units released or added later reach the entries through
//! [`checkout`](super::checkout).

use uuid::Uuid;

use crate::domain::{SaleId, UserId, WaitlistEntry, WaitlistJoin, WaitlistLeave};
use crate::store::{self, StoreError};

/// The sales' waitlists.
pub struct Waitlist {
    store: store::Waitlist,
}

impl Waitlist {
    pub fn new(store: store::Waitlist) -> Self {
        Self { store }
    }

    /// Puts `user_id` on the sale's waitlist, or says why not.
    pub async fn join(
        &self,
        sale_id: &SaleId,
        user_id: &UserId,
    ) -> Result<WaitlistJoin, StoreError> {
        self.store.join(sale_id, user_id).await
    }

    /// The entry as it stands, with its offer once it has one; `None`: no such entry.
    pub async fn entry(
        &self,
        sale_id: &SaleId,
        entry_id: Uuid,
    ) -> Result<Option<WaitlistEntry>, StoreError> {
        self.store.entry(sale_id, entry_id).await
    }

    /// Takes the entry off the waitlist while it waits.
    pub async fn leave(
        &self,
        sale_id: &SaleId,
        entry_id: Uuid,
    ) -> Result<WaitlistLeave, StoreError> {
        self.store.leave(sale_id, entry_id).await
    }
}
