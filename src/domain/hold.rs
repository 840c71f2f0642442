//! Checkout holds: a purchase of a sale with `hold_seconds > 0` takes its units as a hold that
//! ends exactly one way (paid, cancelled or expired), decided in Redis (`store/holds/`).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::ids::{invalid, Invalid};

/// The longest hold a sale may ask for: one day.
pub const MAX_HOLD_SECONDS: u64 = 86_400;
/// The longest `payment_ref` accepted.
const MAX_PAYMENT_REF_CHARS: usize = 128;

/// `hold_seconds` of a sale: 0 (a purchase is final) to [`MAX_HOLD_SECONDS`].
pub fn parse_hold_seconds(raw: u64) -> Result<u32, Invalid> {
    match u32::try_from(raw) {
        Ok(seconds) if raw <= MAX_HOLD_SECONDS => Ok(seconds),
        _ => Err(invalid(format!(
            "hold_seconds must be between 0 and {MAX_HOLD_SECONDS}"
        ))),
    }
}

/// Where a hold stands. `held` ends exactly once, in one of the three others, which are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HoldState {
    Held,
    Paid,
    Cancelled,
    Expired,
}

impl HoldState {
    pub const ALL: [HoldState; 4] = [Self::Held, Self::Paid, Self::Cancelled, Self::Expired];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Held => "held",
            Self::Paid => "paid",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == raw)
    }
}

/// A hold as stored: its state, deadline, the buyer's secret and, once paid, the shop's
/// reference of the payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub state: HoldState,
    pub expires_at: DateTime<Utc>,
    /// When it left `held`.
    pub settled_at: Option<DateTime<Utc>>,
    pub token: String,
    pub payment_ref: Option<String>,
}

/// The shop's reference of a payment: 1 to 128 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRef(String);

impl PaymentRef {
    pub fn parse(raw: String) -> Result<Self, Invalid> {
        if raw.is_empty()
            || raw.len() > MAX_PAYMENT_REF_CHARS
            || !raw.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        {
            return Err(invalid(format!(
                "payment_ref must be 1 to {MAX_PAYMENT_REF_CHARS} printable ASCII characters"
            )));
        }
        Ok(Self(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a payment, a cancel or the reaper found and did (`hold_settle.lua`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// The hold is (now, or was already, with the same arguments) in the state asked for.
    Settled(Hold),
    /// The hold had already ended another way (or its deadline passed, and it expired now):
    /// nothing asked for was done.
    Refused(Hold),
    /// Paid already, with another `payment_ref`.
    PaidElsewhere(Hold),
    /// The cancel's `hold_token` is not this hold's.
    WrongToken,
    /// The purchase was final when made: its sale had no holds.
    NotAHold,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hold_seconds_range_from_zero_to_a_day() {
        assert_eq!(parse_hold_seconds(0), Ok(0));
        assert_eq!(parse_hold_seconds(86_400), Ok(86_400));
        assert!(parse_hold_seconds(86_401).is_err());
        assert!(parse_hold_seconds(u64::MAX).is_err());
    }

    #[test]
    fn payment_refs_are_short_printable_ascii() {
        assert!(PaymentRef::parse("pay_123 ok|x".into()).is_ok());
        for bad in [String::new(), "a\nb".into(), "é".into(), "p".repeat(129)] {
            assert!(PaymentRef::parse(bad.clone()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn states_parse_from_their_names() {
        for state in HoldState::ALL {
            assert_eq!(HoldState::parse(state.as_str()), Some(state));
        }
        assert_eq!(HoldState::parse("Held"), None);
    }
}
