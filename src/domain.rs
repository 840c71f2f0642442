//! Domain types. Each one is validated once, where it enters the system (`parse`), so the rest
//! of the code never re-checks an id's shape or a quantity's range.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// The largest stock a sale may hold, and so the largest quantity one purchase may ask for.
pub const MAX_STOCK: u64 = 10_000_000;
/// The longest sale name accepted.
const MAX_NAME_CHARS: usize = 200;

/// Why a value was refused; the text is shown to the client as is, so it names the field and
/// the rule and never echoes more than the client sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn invalid(message: impl Into<String>) -> Invalid {
    Invalid(message.into())
}

/// A sale's id: `[a-z0-9][a-z0-9_-]{0,63}`. It becomes part of Redis keys, so it never holds
/// braces (hash tags), colons or spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct SaleId(String);

impl SaleId {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let mut chars = raw.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let rest_ok =
            chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if first_ok && rest_ok && raw.len() <= 64 {
            Ok(Self(raw.to_owned()))
        } else {
            Err(invalid("sale_id must match [a-z0-9][a-z0-9_-]{0,63}"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SaleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A buyer's id: 1 to 64 characters of `[A-Za-z0-9_.:-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-');
        if (1..=64).contains(&raw.len()) && raw.chars().all(ok_char) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(invalid(
                "user_id must be 1 to 64 characters of [A-Za-z0-9_.:-]",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How many units one purchase asks for: 1 to [`MAX_STOCK`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Quantity(u32);

impl Quantity {
    pub fn parse(raw: u64) -> Result<Self, Invalid> {
        match u32::try_from(raw) {
            Ok(q) if q >= 1 && u64::from(q) <= MAX_STOCK => Ok(Self(q)),
            _ => Err(invalid(format!(
                "quantity must be between 1 and {MAX_STOCK}"
            ))),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// A client-chosen key that makes a purchase safe to retry: 1 to 128 printable ASCII characters.
/// It is scoped to one sale and one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Takes bytes, as a header value arrives.
    pub fn parse(raw: &[u8]) -> Result<Self, Invalid> {
        if (1..=128).contains(&raw.len()) && raw.iter().all(|b| (0x20..=0x7e).contains(b)) {
            Ok(Self(String::from_utf8_lossy(raw).into_owned()))
        } else {
            Err(invalid(
                "Idempotency-Key must be 1 to 128 printable ASCII characters",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How a sale's purchases are decided: the seed's phases, each kept runnable so they can be
/// measured side by side (README, "Phases"). Only `Async` is the production path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Postgres: read the stock, then update it and insert the order in separate statements,
    /// without a lock. Oversells under concurrency, on purpose.
    Naive,
    /// Postgres: one transaction holding `SELECT ... FOR UPDATE` on the sale's stock row.
    Locking,
    /// The Redis Lua reservation, then the order written to Postgres within the request.
    Redis,
    /// The Redis Lua reservation; the order reaches Postgres through the outbox, Kafka and
    /// the worker.
    #[default]
    Async,
}

impl Strategy {
    pub const ALL: [Strategy; 4] = [Self::Naive, Self::Locking, Self::Redis, Self::Async];

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|strategy| strategy.as_str() == raw)
            .ok_or_else(|| invalid("strategy must be one of naive, locking, redis, async"))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Naive => "naive",
            Self::Locking => "locking",
            Self::Redis => "redis",
            Self::Async => "async",
        }
    }

    /// Whether the sale's stock, per-user counts and idempotency records live in Postgres
    /// (rather than in Redis).
    pub fn stock_in_postgres(self) -> bool {
        matches!(self, Self::Naive | Self::Locking)
    }

    /// Whether a purchase writes to Postgres within the request (so the API needs the schema).
    pub fn writes_orders(self) -> bool {
        !matches!(self, Self::Async)
    }
}

/// What an admin asks for when creating or replacing a sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleSpec {
    pub name: String,
    pub stock: u64,
    pub per_user_limit: u32,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub strategy: Strategy,
}

impl SaleSpec {
    pub fn parse(
        name: String,
        stock: u64,
        per_user_limit: u64,
        starts_at: Option<DateTime<Utc>>,
        ends_at: Option<DateTime<Utc>>,
    ) -> Result<Self, Invalid> {
        let name_chars = name.chars().count();
        if name.trim().is_empty()
            || name_chars > MAX_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(invalid(format!(
                "name must be 1 to {MAX_NAME_CHARS} characters, not blank, without control characters"
            )));
        }
        let stock = parse_stock(stock)?;
        let per_user_limit = match u32::try_from(per_user_limit) {
            Ok(limit) if limit >= 1 => limit,
            _ => return Err(invalid("per_user_limit must be between 1 and 4294967295")),
        };
        if let (Some(start), Some(end)) = (starts_at, ends_at) {
            if end <= start {
                return Err(invalid("ends_at must be later than starts_at"));
            }
        }
        Ok(Self {
            name,
            stock,
            per_user_limit,
            starts_at,
            ends_at,
            strategy: Strategy::default(),
        })
    }
}

/// A stock figure: 0 to [`MAX_STOCK`].
pub fn parse_stock(stock: u64) -> Result<u64, Invalid> {
    if stock <= MAX_STOCK {
        Ok(stock)
    } else {
        Err(invalid(format!("stock must be between 0 and {MAX_STOCK}")))
    }
}

/// Where a sale stands at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SaleStatus {
    Scheduled,
    Active,
    SoldOut,
    Ended,
}

/// A sale as stored, with its current round and remaining stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sale {
    pub sale_id: SaleId,
    pub name: String,
    /// Starts at 1 and grows by one on every reset or replacement; it travels with every
    /// purchase so purchases of different rounds are never mixed downstream.
    pub round: u64,
    pub stock: u64,
    pub remaining: u64,
    pub sold: u64,
    pub per_user_limit: u32,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub status: SaleStatus,
    pub strategy: Strategy,
}

impl Sale {
    /// The status at `now`: the window decides first, then the stock.
    pub fn status_at(
        now: DateTime<Utc>,
        starts_at: Option<DateTime<Utc>>,
        ends_at: Option<DateTime<Utc>>,
        remaining: u64,
    ) -> SaleStatus {
        if starts_at.is_some_and(|start| now < start) {
            SaleStatus::Scheduled
        } else if ends_at.is_some_and(|end| now >= end) {
            SaleStatus::Ended
        } else if remaining == 0 {
            SaleStatus::SoldOut
        } else {
            SaleStatus::Active
        }
    }
}

/// A validated purchase request, with the id it will have if it takes stock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub purchase_id: Uuid,
    pub sale_id: SaleId,
    pub user_id: UserId,
    pub quantity: Quantity,
    pub idempotency_key: Option<IdempotencyKey>,
}

/// Where a purchase stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PurchaseStatus {
    /// Stock is taken in Redis; the purchase is on its way to the orders table.
    Reserved,
    /// Persisted as an order in PostgreSQL.
    Confirmed,
}

/// A purchase that took stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Purchase {
    pub purchase_id: Uuid,
    pub sale_id: SaleId,
    pub round: u64,
    pub user_id: UserId,
    pub quantity: u32,
    pub status: PurchaseStatus,
    /// Units left in the sale right after this purchase.
    pub remaining: u64,
    pub reserved_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sale_ids_follow_the_documented_pattern() {
        for ok in ["a", "0", "summer-2026_phones", &"a".repeat(64)] {
            assert!(SaleId::parse(ok).is_ok(), "{ok} should be accepted");
        }
        for bad in [
            "",
            "-a",
            "_a",
            "A",
            "a b",
            "a{b}",
            "a:b",
            "ü",
            &"a".repeat(65),
        ] {
            assert!(SaleId::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn user_ids_allow_only_the_documented_characters() {
        assert!(UserId::parse("user:42.a_b-c").is_ok());
        assert!(UserId::parse(&"u".repeat(64)).is_ok());
        for bad in ["", "a b", "a|b", "a\nb", "é", &"u".repeat(65)] {
            assert!(UserId::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn quantity_is_between_one_and_max_stock() {
        assert!(Quantity::parse(0).is_err());
        assert_eq!(Quantity::parse(1).map(Quantity::get), Ok(1));
        assert!(Quantity::parse(MAX_STOCK).is_ok());
        assert!(Quantity::parse(MAX_STOCK + 1).is_err());
        assert!(Quantity::parse(u64::MAX).is_err());
    }

    #[test]
    fn idempotency_keys_are_printable_ascii() {
        assert!(IdempotencyKey::parse(b"retry 1: ~!").is_ok());
        assert!(IdempotencyKey::parse("k".repeat(128).as_bytes()).is_ok());
        for bad in ["", "tab\there", "é", &"k".repeat(129)] {
            assert!(
                IdempotencyKey::parse(bad.as_bytes()).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn a_sale_window_must_end_after_it_starts() {
        let start = Utc::now();
        assert!(SaleSpec::parse("x".into(), 1, 1, Some(start), Some(start)).is_err());
        assert!(SaleSpec::parse("x".into(), 1, 1, Some(start), None).is_ok());
        assert!(SaleSpec::parse(" ".into(), 1, 1, None, None).is_err());
        assert!(SaleSpec::parse("x".into(), MAX_STOCK + 1, 1, None, None).is_err());
        assert!(SaleSpec::parse("x".into(), 1, 0, None, None).is_err());
    }

    #[test]
    fn strategies_parse_from_their_names_only() {
        for strategy in Strategy::ALL {
            assert_eq!(Strategy::parse(strategy.as_str()), Ok(strategy));
        }
        for bad in ["", "Naive", "sync", "async "] {
            assert!(Strategy::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(Strategy::default(), Strategy::Async);
    }

    #[test]
    fn status_checks_the_window_before_the_stock() {
        let now = Utc::now();
        let hour = chrono::Duration::hours(1);
        assert_eq!(
            Sale::status_at(now, Some(now + hour), None, 0),
            SaleStatus::Scheduled
        );
        assert_eq!(
            Sale::status_at(now, None, Some(now - hour), 5),
            SaleStatus::Ended
        );
        assert_eq!(Sale::status_at(now, None, None, 0), SaleStatus::SoldOut);
        assert_eq!(
            Sale::status_at(now, Some(now - hour), Some(now + hour), 1),
            SaleStatus::Active
        );
    }
}
