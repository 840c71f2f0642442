//! What one API process remembers per sale so the purchase path does not ask Redis what it
//! already knows. Every value belongs to a round of a sale and follows the round announcements
//! ([`rounds`]): a new round drops the old round's values.

pub mod rounds;
pub mod sold_out;
pub mod strategies;
