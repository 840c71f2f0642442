//! A purchase as its buyer reads it (`GET /api/v1/purchases/{id}`): from Redis, which holds
//! every purchase of the `redis` and `async` strategies, else from its order in PostgreSQL
//! (`naive`, `locking`); `confirmed` once the worker persisted it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
            if !could_be_issued(purchase_id, SystemTime::now()) {
                return Ok(None);
            }
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

/// How far a UUIDv7's clock may run ahead of this process's and the id still be looked up:
/// the processes that mint ids run on other hosts whose clocks drift.
const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// Whether flashsale could have issued `purchase_id` by `now`. Every purchase it issues (every
/// strategy's, and every waitlist offer's) is a UUIDv7 stamped when it was made, so any other
/// version, or a stamp in the future, names no purchase: such an id answers "not found" without
/// a PostgreSQL query, so random ids cost an anonymous client nothing but a Redis miss.
fn could_be_issued(purchase_id: Uuid, now: SystemTime) -> bool {
    if purchase_id.get_version_num() != 7 {
        return false;
    }
    let Some((seconds, nanos)) = purchase_id.get_timestamp().map(|stamp| stamp.to_unix()) else {
        return false;
    };
    let stamped = UNIX_EPOCH + Duration::new(seconds, nanos);
    stamped <= now + CLOCK_SKEW
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_v7_ids_stamped_up_to_now_and_the_skew_can_name_a_purchase() {
        let now = SystemTime::now();
        assert!(could_be_issued(Uuid::now_v7(), now));
        assert!(!could_be_issued(Uuid::new_v4(), now));
        assert!(!could_be_issued(Uuid::nil(), now));
        let stamp = |at: SystemTime| {
            let since = at.duration_since(UNIX_EPOCH).expect("after the epoch");
            let ts =
                uuid::Timestamp::from_unix(uuid::NoContext, since.as_secs(), since.subsec_nanos());
            Uuid::new_v7(ts)
        };
        assert!(could_be_issued(stamp(now + CLOCK_SKEW / 2), now));
        assert!(!could_be_issued(stamp(now + CLOCK_SKEW * 2), now));
        assert!(could_be_issued(
            stamp(UNIX_EPOCH + Duration::from_secs(1)),
            now
        ));
    }
}
