//! A purchase as its buyer reads it (`GET /api/v1/purchases/{id}`): from Redis, which holds
//! every purchase of the `redis` and `async` strategies, else from its order in PostgreSQL
//! (`naive`, `locking`); `confirmed` once the worker persisted it.

use uuid::Uuid;

use crate::domain::Purchase;
use crate::postgres::{is_not_migrated, Orders};
use crate::runtime::outage_log::OutageLog;
use crate::services::ServiceError;
use crate::store::Reservations;

/// Finds purchases wherever their strategy keeps them.
pub struct PurchaseLookup {
    store: Reservations,
    orders: Orders,
}

impl PurchaseLookup {
    pub fn new(store: Reservations, orders: Orders) -> Self {
        Self { store, orders }
    }

    /// The purchase and its status; `None` when no purchase has this id.
    pub async fn find(&self, purchase_id: Uuid) -> Result<Option<Purchase>, ServiceError> {
        let Some(purchase) = self.store.purchase(purchase_id).await? else {
            return match self.orders.written_purchase(purchase_id).await {
                Ok(written) => Ok(written),
                // No table (or no column) yet: no Postgres strategy ever wrote an order here.
                Err(error) if is_not_migrated(&error) => Ok(None),
                Err(error) => Err(error.into()),
            };
        };
        // Logged once per outage, not per lookup.
        static CONFIRMED: OutageLog =
            OutageLog::new("check in Postgres whether purchases are persisted");
        match self.orders.is_confirmed(purchase_id).await {
            Ok(confirmed) => {
                CONFIRMED.succeeded();
                if confirmed {
                    return Ok(Some(purchase.confirmed()));
                }
            }
            // "reserved" stays true: the purchase holds its stock whatever Postgres says.
            Err(error) => CONFIRMED.failed(&error),
        }
        Ok(Some(purchase))
    }
}
