//! What the API process decides, between its HTTP handlers and the actors and stores: each
//! handler calls one of these and never a raw client.
//!
//! - [`purchases`]: a purchase by its sale's strategy (the seed's four phases).
//! - [`sales`]: create, replace, reset and read sales.
//! - [`admission`]: the waiting rooms' admitter and the purchase tokens.
//! - [`checkout`]: pays, cancels and expires holds (its reaper), changes a live round's stock.
//! - [`goflash`]: the sales that the GoFlash-compatible routes sell from.
//! - [`stock_watch`]: one poll per watched sale for the stock and ticket streams.

pub mod admission;
pub mod checkout;
pub mod goflash;
pub mod purchases;
pub mod sales;
pub mod stock_watch;
