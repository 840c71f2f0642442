//! What every handler can reach.

use std::sync::Arc;

use actix::Addr;
use secrecy::SecretString;

use crate::actors::producer::KafkaProducerActor;
use crate::caches::sold_out::SoldOutCache;
use crate::http::rate_limits::RateLimits;
use crate::postgres::Orders;
use crate::services::admission::tokens::TokenKey;
use crate::services::checkout::Checkout;
use crate::services::goflash::SeedSales;
use crate::services::purchases::Strategies;
use crate::services::sales::SaleService;
use crate::services::stock_watch::{QueueWatch, StockWatch};
use crate::store::Store;

pub struct AppState {
    pub store: Store,
    pub orders: Orders,
    /// Routes each purchase by its sale's strategy.
    pub strategies: Strategies,
    /// Creates, replaces, resets and reads sales.
    pub sales: Arc<SaleService>,
    /// Pays and cancels holds, changes a live round's stock.
    pub checkout: Arc<Checkout>,
    pub stock_watch: Arc<StockWatch>,
    /// Follows the waiting rooms for the ticket streams (`queue.rs`).
    pub queue_watch: Arc<QueueWatch>,
    /// Signs and checks purchase tokens; `None`: no sale may have a waiting room.
    pub token_key: Option<TokenKey>,
    pub producer: Addr<KafkaProducerActor>,
    pub admin_token: Option<SecretString>,
    /// The payment webhook's HMAC key (`holds.rs`).
    pub payment_secret: Option<SecretString>,
    /// The sales the seed's routes sell from.
    pub seed: SeedSales,
    /// The rate limits of the purchase routes (`rate_limits.rs`).
    pub rate_limits: RateLimits,
    /// Which sales this process knows to be sold out: a purchase answered from it is not
    /// rate-limited (`purchases.rs`).
    pub sold_out: SoldOutCache,
}
