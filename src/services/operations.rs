//! What the API's operators read: the sales to list, where each one's purchases are on their
//! way to PostgreSQL (the control room, `http/dashboard.rs`), and whether the services the
//! process depends on answer (`GET /readyz`).

use actix::Recipient;

use crate::actors::producer::BrokerReachable;
use crate::domain::{Sale, SaleId};
use crate::postgres::{is_not_migrated, Orders};
use crate::runtime::broker::BROKER_CHECK_TIMEOUT;
use crate::runtime::probes::Dependency;
use crate::store::{Store, StoreError};

/// Reads the figures and checks the dependencies operators look at.
pub struct Operations {
    store: Store,
    orders: Orders,
    /// The producer, which asks the broker on this process's connection.
    broker: Recipient<BrokerReachable>,
}

impl Operations {
    pub fn new(store: Store, orders: Orders, broker: Recipient<BrokerReachable>) -> Self {
        Self {
            store,
            orders,
            broker,
        }
    }

    /// Every sale id ever created, in no order.
    pub async fn sale_ids(&self) -> Result<Vec<SaleId>, StoreError> {
        self.store.sales().sale_ids().await
    }

    /// Purchases in the sale's outbox: reserved, not yet acknowledged by the broker.
    pub async fn outbox_len(&self, sale_id: &SaleId) -> Result<u64, StoreError> {
        self.store.outbox().len(sale_id).await
    }

    /// Units of the sale's current round persisted as orders; `None` when PostgreSQL cannot
    /// be asked.
    pub async fn persisted_units(&self, sale: &Sale) -> Option<u64> {
        // A `naive` or `locking` purchase is its order: what is sold is persisted.
        if sale.strategy.stock_in_postgres() {
            return Some(sale.sold);
        }
        match self
            .orders
            .units_of_round(sale.sale_id.as_str(), sale.round)
            .await
        {
            Ok(units) => Some(units),
            // No orders table yet: nothing was persisted.
            Err(error) if is_not_migrated(&error) => Some(0),
            Err(error) => {
                tracing::debug!(%error, "cannot count the persisted units");
                None
            }
        }
    }

    /// Redis, which every purchase needs, and the broker, without which purchases only wait
    /// in the outbox: each as it answers now.
    pub async fn dependencies(&self) -> [Dependency; 2] {
        let (redis, broker) = tokio::join!(
            self.store.ping(),
            self.broker.send(BrokerReachable(BROKER_CHECK_TIMEOUT))
        );
        [
            Dependency {
                name: "redis",
                up: redis.is_ok(),
                required: true,
            },
            Dependency {
                name: "broker",
                up: broker.unwrap_or(false),
                required: false,
            },
        ]
    }
}
