//! Admission: who may buy from a sale, and when. `open` sales sell to any purchase, as before;
//! `fifo` and `random` sales put buyers in a waiting room (`store/waiting_room/`), admit them at
//! `rate_per_second` and sell only to purchases carrying a purchase token (`api/tokens.rs`).

use serde::Serialize;

use super::ids::{invalid, Invalid};

/// The most buyers a waiting room may admit per second.
pub const MAX_RATE_PER_SECOND: u64 = 100_000;
/// The longest a purchase token may stay valid: one day.
pub const MAX_TOKEN_SECONDS: u64 = 86_400;
/// How long a purchase token stays valid when the sale does not say.
pub const DEFAULT_TOKEN_SECONDS: u32 = 300;

/// How a sale admits buyers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AdmissionMode {
    /// Any purchase competes for the stock directly (no waiting room, no token).
    #[default]
    Open,
    /// A waiting room admitting in ticket order.
    Fifo,
    /// A waiting room whose tickets taken before `starts_at` are shuffled once at the start
    /// (a lottery); later tickets join behind them in order.
    Random,
}

impl AdmissionMode {
    pub const ALL: [AdmissionMode; 3] = [Self::Open, Self::Fifo, Self::Random];

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|mode| mode.as_str() == raw)
            .ok_or_else(|| invalid("admission.mode must be one of open, fifo, random"))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Fifo => "fifo",
            Self::Random => "random",
        }
    }

    /// Whether purchases need a token from the waiting room.
    pub fn is_gated(self) -> bool {
        self != Self::Open
    }
}

/// A sale's admission settings, as `PUT` sale takes them and `GET` sale shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default, utoipa::ToSchema)]
pub struct Admission {
    pub mode: AdmissionMode,
    /// Buyers admitted per second, all API processes together (0 for `open`).
    pub rate_per_second: u32,
    /// How long an admitted buyer's purchase token stays valid (0 for `open`).
    pub token_seconds: u32,
}

impl Admission {
    /// Checks the settings of a sale: `open` takes no figures; `fifo` and `random` need
    /// `rate_per_second` (1 to [`MAX_RATE_PER_SECOND`]) and take `token_seconds` (1 to
    /// [`MAX_TOKEN_SECONDS`], [`DEFAULT_TOKEN_SECONDS`] when left out).
    pub fn parse(
        mode: AdmissionMode,
        rate_per_second: Option<u64>,
        token_seconds: Option<u64>,
    ) -> Result<Self, Invalid> {
        if !mode.is_gated() {
            if rate_per_second.is_some() || token_seconds.is_some() {
                return Err(invalid(
                    "admission.rate_per_second and admission.token_seconds apply to fifo and random only",
                ));
            }
            return Ok(Self::default());
        }
        let rate_per_second = match rate_per_second {
            Some(rate) if (1..=MAX_RATE_PER_SECOND).contains(&rate) => rate,
            _ => {
                return Err(invalid(format!(
                    "admission.rate_per_second is required for {}: a whole number between 1 and {MAX_RATE_PER_SECOND}",
                    mode.as_str()
                )))
            }
        };
        let token_seconds = match token_seconds {
            None => u64::from(DEFAULT_TOKEN_SECONDS),
            Some(seconds) if (1..=MAX_TOKEN_SECONDS).contains(&seconds) => seconds,
            Some(_) => {
                return Err(invalid(format!(
                    "admission.token_seconds must be between 1 and {MAX_TOKEN_SECONDS}"
                )))
            }
        };
        Ok(Self {
            mode,
            // Both bounded above, far below u32::MAX.
            rate_per_second: u32::try_from(rate_per_second).unwrap_or(u32::MAX),
            token_seconds: u32::try_from(token_seconds).unwrap_or(u32::MAX),
        })
    }
}

/// Why a purchase's token was refused (403, one error code each; nothing was taken).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenRefusal {
    /// The sale admits through a waiting room and the purchase carried no token.
    Missing,
    /// Malformed, not signed by this service, or for another sale.
    Invalid,
    /// Past its expiry, or of an earlier round of the sale.
    Expired,
    /// It bought once already.
    Used,
    /// Issued to another user.
    WrongUser,
}

impl TokenRefusal {
    pub const ALL: [TokenRefusal; 5] = [
        Self::Missing,
        Self::Invalid,
        Self::Expired,
        Self::Used,
        Self::WrongUser,
    ];

    /// The `reason` label of `flashsale_tokens_refused_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Invalid => "invalid",
            Self::Expired => "expired",
            Self::Used => "used",
            Self::WrongUser => "wrong_user",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_takes_no_figures_and_gated_modes_need_a_rate() {
        assert_eq!(
            Admission::parse(AdmissionMode::Open, None, None),
            Ok(Admission::default())
        );
        assert!(Admission::parse(AdmissionMode::Open, Some(5), None).is_err());
        assert!(Admission::parse(AdmissionMode::Fifo, None, None).is_err());
        assert!(Admission::parse(AdmissionMode::Fifo, Some(0), None).is_err());
        assert!(
            Admission::parse(AdmissionMode::Fifo, Some(MAX_RATE_PER_SECOND + 1), None).is_err()
        );
        assert!(Admission::parse(AdmissionMode::Random, Some(5), Some(0)).is_err());
        assert!(
            Admission::parse(AdmissionMode::Random, Some(5), Some(MAX_TOKEN_SECONDS + 1)).is_err()
        );
        assert_eq!(
            Admission::parse(AdmissionMode::Fifo, Some(50), None),
            Ok(Admission {
                mode: AdmissionMode::Fifo,
                rate_per_second: 50,
                token_seconds: DEFAULT_TOKEN_SECONDS
            })
        );
    }

    #[test]
    fn modes_parse_from_their_names_only() {
        for mode in AdmissionMode::ALL {
            assert_eq!(AdmissionMode::parse(mode.as_str()), Ok(mode));
        }
        for bad in ["", "FIFO", "lottery"] {
            assert!(AdmissionMode::parse(bad).is_err());
        }
    }
}
