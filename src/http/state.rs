//! What every handler can reach.

use std::sync::Arc;

use secrecy::SecretString;

use crate::caches::sold_out::SoldOutCache;
use crate::http::pipeline::PipelineCache;
use crate::http::rate_limits::RateLimits;
use crate::services::admission::tokens::TokenKey;
use crate::services::admission::waiting_room::WaitingRoom;
use crate::services::checkout::Checkout;
use crate::services::goflash::GoflashSales;
use crate::services::operations::Operations;
use crate::services::purchases::{PurchaseLookup, Strategies};
use crate::services::sales::SaleService;
use crate::services::stock_watch::{QueueWatch, StockWatch};

/// The services (and this process's settings and caches) the handlers use: a handler calls a
/// service, never Redis, PostgreSQL or the broker itself.
pub struct AppState {
    /// Routes each purchase by its sale's strategy.
    pub strategies: Strategies,
    /// Reads a purchase back (`GET /api/v1/purchases/{id}`).
    pub purchases: PurchaseLookup,
    /// Creates, replaces, resets and reads sales.
    pub sales: Arc<SaleService>,
    /// Pays and cancels holds, changes a live round's stock, keeps the waitlists.
    pub checkout: Arc<Checkout>,
    /// Tickets of the sales' waiting rooms (`queue.rs`).
    pub waiting_room: WaitingRoom,
    /// The control room's figures and the readiness checks.
    pub operations: Operations,
    /// The figures `GET /api/v1/stats` last read (`dashboard.rs`).
    pub pipeline: PipelineCache,
    pub stock_watch: Arc<StockWatch>,
    /// Follows the waiting rooms for the ticket streams (`queue.rs`).
    pub queue_watch: Arc<QueueWatch>,
    /// Signs and checks purchase tokens; `None`: no sale may have a waiting room.
    pub token_key: Option<TokenKey>,
    pub admin_token: Option<SecretString>,
    /// The payment webhook's HMAC key (`holds.rs`).
    pub payment_secret: Option<SecretString>,
    /// The sales the seed's routes sell from.
    pub goflash_sales: GoflashSales,
    /// The rate limits of the purchase routes (`rate_limits.rs`).
    pub rate_limits: RateLimits,
    /// Which sales this process knows to be sold out: a purchase answered from it is not
    /// rate-limited (`purchases.rs`).
    pub sold_out: SoldOutCache,
}
