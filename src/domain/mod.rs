//! Domain types. Each one is validated once, where it enters the system (`parse`), so the rest
//! of the code never re-checks an id's shape or a quantity's range.

mod admission;
pub mod decision;
pub mod events;
mod hold;
mod ids;
mod purchase;
mod sale;
mod waitlist;

pub use admission::{Admission, AdmissionMode, TokenRefusal};
pub use hold::{parse_hold_seconds, Hold, HoldState, PaymentRef, Settlement, MAX_HOLD_SECONDS};
pub use ids::{IdempotencyKey, Invalid, Quantity, SaleId, UserId, MAX_STOCK};
pub use purchase::{Purchase, PurchaseStatus, Reservation, TokenClaims};
pub use sale::{parse_stock, Durability, Sale, SaleSpec, SaleStatus, StockChange, Strategy};
pub use waitlist::{WaitlistEntry, WaitlistJoin, WaitlistLeave, WaitlistState};
