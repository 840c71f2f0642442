//! Admission to a sale with a waiting room: buyers take and read tickets ([`waiting_room`]),
//! the [`admitter`] lets tickets in at the sale's rate, and a ticket once admitted carries a
//! signed, single-use purchase token ([`tokens`]).

pub mod admitter;
pub mod tokens;
pub mod waiting_room;
