//! Sales: how one is asked for (`SaleSpec`), how it is stored (`Sale`) and how its purchases
//! are decided (`Strategy`).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::admission::Admission;
use super::ids::{invalid, Invalid, SaleId, MAX_STOCK};

/// The longest sale name accepted.
const MAX_NAME_CHARS: usize = 200;

/// How a sale's purchases are decided: the seed's phases, each kept runnable so they can be
/// measured side by side (README, "Phases"). Only `Async` is the production path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default, utoipa::ToSchema)]
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
        parse_named(raw, Self::ALL, Self::as_str, "strategy")
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

/// When a purchase of the sale is answered 202 (docs/DELIVERY.md, "Failure windows").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// Once Redis holds the reservation and its outbox entry.
    #[default]
    Fast,
    /// Once the broker has acknowledged the purchase's event too, so a Redis machine that
    /// loses its last writes can no longer lose a purchase answered 202.
    Broker,
}

impl Durability {
    pub const ALL: [Durability; 2] = [Self::Fast, Self::Broker];

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        parse_named(raw, Self::ALL, Self::as_str, "durability")
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fast => "fast",
            Self::Broker => "broker",
        }
    }
}

/// The value of `all` whose name is `raw`, or a refusal that lists every name.
fn parse_named<T: Copy, const N: usize>(
    raw: &str,
    all: [T; N],
    name: fn(T) -> &'static str,
    field: &str,
) -> Result<T, Invalid> {
    all.into_iter()
        .find(|value| name(*value) == raw)
        .ok_or_else(|| {
            let names: Vec<&str> = all.into_iter().map(name).collect();
            invalid(format!("{field} must be one of {}", names.join(", ")))
        })
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
    pub durability: Durability,
    /// 0: a purchase is final; otherwise each is a hold paid within this time (`hold.rs`).
    pub hold_seconds: u32,
    /// `open` (the default), or a waiting room and purchase tokens (`admission.rs`).
    pub admission: Admission,
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
            durability: Durability::default(),
            hold_seconds: 0,
            admission: Admission::default(),
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

/// A change of a live round's stock (`POST /api/v1/admin/sales/{id}/stock`): units added go to
/// the waitlist first, then on sale; units removed come out of what is left on sale only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockChange {
    Add(u64),
    Remove(u64),
}

impl StockChange {
    /// Exactly one of `add` and `remove`, 1 to [`MAX_STOCK`] units.
    pub fn parse(add: Option<u64>, remove: Option<u64>) -> Result<Self, Invalid> {
        let change = match (add, remove) {
            (Some(units), None) => Self::Add(units),
            (None, Some(units)) => Self::Remove(units),
            _ => return Err(invalid("send exactly one of `add` and `remove`")),
        };
        let (Self::Add(units) | Self::Remove(units)) = change;
        if units == 0 || units > MAX_STOCK {
            return Err(invalid(format!(
                "the units to add or remove must be between 1 and {MAX_STOCK}"
            )));
        }
        Ok(change)
    }
}

/// Where a sale stands at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SaleStatus {
    Scheduled,
    Active,
    SoldOut,
    Ended,
}

/// A sale as stored, with its current round and remaining stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Sale {
    #[schema(value_type = String, pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")]
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
    pub durability: Durability,
    /// 0: purchases are final; otherwise each is a hold to be paid within this time.
    pub hold_seconds: u32,
    /// Units of this round held and not yet paid (in `sold`); released ones are back in
    /// `remaining`.
    pub held: u64,
    /// Units of this round whose holds were paid (in `sold`).
    pub paid: u64,
    /// Buyers on the waitlist of this round still waiting for a unit.
    pub waiting: u64,
    /// Units of this round offered to waitlisted buyers (each offer is a hold, in `held` until
    /// it ends).
    pub offered: u64,
    /// Who may buy: anyone (`open`) or buyers admitted by the waiting room.
    pub admission: Admission,
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_stock_change_adds_or_removes_some_units() {
        assert_eq!(StockChange::parse(Some(3), None), Ok(StockChange::Add(3)));
        assert_eq!(
            StockChange::parse(None, Some(MAX_STOCK)),
            Ok(StockChange::Remove(MAX_STOCK))
        );
        for (add, remove) in [
            (None, None),
            (Some(1), Some(1)),
            (Some(0), None),
            (None, Some(MAX_STOCK + 1)),
        ] {
            assert!(
                StockChange::parse(add, remove).is_err(),
                "{add:?} {remove:?}"
            );
        }
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
    fn durabilities_parse_from_their_names_only_and_a_refusal_names_each() {
        for durability in Durability::ALL {
            assert_eq!(Durability::parse(durability.as_str()), Ok(durability));
        }
        for bad in ["", "Broker", "always", "fast "] {
            let refusal = Durability::parse(bad).expect_err("refused");
            assert_eq!(
                refusal.0, "durability must be one of fast, broker",
                "{bad:?}"
            );
        }
        assert_eq!(Durability::default(), Durability::Fast);
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
