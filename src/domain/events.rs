//! The purchase event: what the API publishes to Kafka for every reservation and for every
//! transition of a hold, and what the worker persists. JSON, with a schema version so
//! consumers can refuse what they do not know.
//!
//! Version 2 (written by this build) carries the event's `kind` (what happened to the
//! purchase), its per-purchase `version` (1 when it was made, 2 when a hold ended) and when it
//! happened (`occurred_at`, by the Redis clock). Version 1, written by earlier builds, is a
//! plain reservation: it reads as `reserved`, version 1, at its `reserved_at`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{HoldState, Purchase, Quantity, SaleId, UserId};

/// The version this build writes.
pub const SCHEMA_VERSION: u32 = 2;
/// The version earlier builds wrote (a plain reservation), still read.
pub const SCHEMA_VERSION_RESERVATION: u32 = 1;
/// The per-purchase version of the event that made it (`reserved`, `held` or `offered`).
pub const FIRST_VERSION: u32 = 1;
/// The per-purchase version of the event that ended a hold (`paid`, `cancelled`, `expired`).
pub const SETTLED_VERSION: u32 = 2;

/// What happened to the purchase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A purchase of a sale without holds: final when made.
    Reserved,
    /// A hold was made.
    Held,
    /// A hold was made for a waitlisted buyer, from a unit released or added (an offer).
    Offered,
    /// A hold was paid.
    Paid,
    /// A hold was cancelled (its units went back to the stock).
    Cancelled,
    /// A hold passed its deadline (its units went back to the stock).
    Expired,
}

impl EventKind {
    pub const ALL: [EventKind; 6] = [
        Self::Reserved,
        Self::Held,
        Self::Offered,
        Self::Paid,
        Self::Cancelled,
        Self::Expired,
    ];

    /// The name on the wire, in the outbox and in PostgreSQL (`orders.state`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reserved => "reserved",
            Self::Held => "held",
            Self::Offered => "offered",
            Self::Paid => "paid",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == raw)
    }

    /// The per-purchase version an event of this kind carries.
    pub fn version(self) -> u32 {
        match self {
            Self::Reserved | Self::Held | Self::Offered => FIRST_VERSION,
            Self::Paid | Self::Cancelled | Self::Expired => SETTLED_VERSION,
        }
    }
}

impl From<HoldState> for EventKind {
    fn from(state: HoldState) -> Self {
        match state {
            HoldState::Held => Self::Held,
            HoldState::Paid => Self::Paid,
            HoldState::Cancelled => Self::Cancelled,
            HoldState::Expired => Self::Expired,
        }
    }
}

/// One event of a purchase, as it travels through Kafka.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PurchaseEvent {
    pub schema_version: u32,
    pub kind: EventKind,
    /// Orders the events of one purchase: a state is never replaced by an older one.
    pub version: u32,
    pub purchase_id: Uuid,
    pub sale_id: String,
    pub round: u64,
    pub user_id: String,
    pub quantity: u32,
    pub reserved_at: DateTime<Utc>,
    pub occurred_at: DateTime<Utc>,
}

/// The wire form both schema versions decode from (version 1 lacks the last three fields).
#[derive(Deserialize)]
struct WireEvent {
    schema_version: u32,
    purchase_id: Uuid,
    sale_id: String,
    round: u64,
    user_id: String,
    quantity: u32,
    reserved_at: DateTime<Utc>,
    kind: Option<EventKind>,
    version: Option<u32>,
    occurred_at: Option<DateTime<Utc>>,
}

/// Why a message cannot be persisted; the text goes to the dead-letter topic as the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEvent {
    #[error("not a purchase event: {0}")]
    Undecodable(String),
    #[error("unsupported schema_version {0} (this worker reads 1 and {SCHEMA_VERSION})")]
    UnsupportedVersion(u32),
    #[error("invalid field: {0}")]
    InvalidField(String),
}

impl PurchaseEvent {
    /// The event that made `purchase`: `held` when it is a hold, else `reserved`.
    pub fn from_purchase(purchase: &Purchase) -> Self {
        let kind = match purchase.hold_state {
            Some(_) => EventKind::Held,
            None => EventKind::Reserved,
        };
        Self {
            schema_version: SCHEMA_VERSION,
            kind,
            version: kind.version(),
            purchase_id: purchase.purchase_id,
            sale_id: purchase.sale_id.as_str().to_owned(),
            round: purchase.round,
            user_id: purchase.user_id.as_str().to_owned(),
            quantity: purchase.quantity,
            reserved_at: purchase.reserved_at,
            occurred_at: purchase.reserved_at,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        // Serializing plain owned fields cannot fail; an empty payload would be dead-lettered.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Decodes and checks a message payload the way the API would have validated the purchase.
    pub fn decode(payload: &[u8]) -> Result<Self, InvalidEvent> {
        let wire: WireEvent = serde_json::from_slice(payload)
            .map_err(|e| InvalidEvent::Undecodable(e.to_string()))?;
        let missing = |field: &str| InvalidEvent::InvalidField(format!("{field} is missing"));
        let (kind, version, occurred_at) = match wire.schema_version {
            SCHEMA_VERSION_RESERVATION => (EventKind::Reserved, FIRST_VERSION, wire.reserved_at),
            SCHEMA_VERSION => (
                wire.kind.ok_or_else(|| missing("kind"))?,
                wire.version.ok_or_else(|| missing("version"))?,
                wire.occurred_at.ok_or_else(|| missing("occurred_at"))?,
            ),
            other => return Err(InvalidEvent::UnsupportedVersion(other)),
        };
        if version != kind.version() {
            return Err(InvalidEvent::InvalidField(format!(
                "version {version} for a {} event (expected {})",
                kind.as_str(),
                kind.version()
            )));
        }
        SaleId::parse(&wire.sale_id).map_err(|e| InvalidEvent::InvalidField(e.0))?;
        UserId::parse(&wire.user_id).map_err(|e| InvalidEvent::InvalidField(e.0))?;
        Quantity::parse(wire.quantity.into()).map_err(|e| InvalidEvent::InvalidField(e.0))?;
        if wire.round == 0 {
            return Err(InvalidEvent::InvalidField(
                "round must be at least 1".into(),
            ));
        }
        Ok(Self {
            schema_version: wire.schema_version,
            kind,
            version,
            purchase_id: wire.purchase_id,
            sale_id: wire.sale_id,
            round: wire.round,
            user_id: wire.user_id,
            quantity: wire.quantity,
            reserved_at: wire.reserved_at,
            occurred_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> PurchaseEvent {
        let now = Utc::now();
        PurchaseEvent {
            schema_version: SCHEMA_VERSION,
            kind: EventKind::Paid,
            version: SETTLED_VERSION,
            purchase_id: Uuid::new_v4(),
            sale_id: "phones".into(),
            round: 2,
            user_id: "alice".into(),
            quantity: 1,
            reserved_at: now,
            occurred_at: now,
        }
    }

    #[test]
    fn an_event_survives_encoding() {
        let event = event();
        assert_eq!(PurchaseEvent::decode(&event.encode()), Ok(event));
    }

    #[test]
    fn a_version_1_event_reads_as_a_plain_reservation() {
        let id = Uuid::new_v4();
        let v1 = format!(
            r#"{{"schema_version":1,"purchase_id":"{id}","sale_id":"phones","round":1,
            "user_id":"user-42","quantity":1,"reserved_at":"2026-06-01T09:00:00.125Z"}}"#
        );
        let event = PurchaseEvent::decode(v1.as_bytes()).expect("version 1 is read");
        assert_eq!(
            (event.kind, event.version, event.occurred_at),
            (EventKind::Reserved, 1, event.reserved_at)
        );
        assert_eq!(event.purchase_id, id);
    }

    #[test]
    fn poison_is_refused_with_a_reason() {
        assert!(matches!(
            PurchaseEvent::decode(b"not json"),
            Err(InvalidEvent::Undecodable(_))
        ));
        let future = PurchaseEvent {
            schema_version: 9,
            ..event()
        };
        assert_eq!(
            PurchaseEvent::decode(&future.encode()),
            Err(InvalidEvent::UnsupportedVersion(9))
        );
        let bad_sale = PurchaseEvent {
            sale_id: "Bad Sale".into(),
            ..event()
        };
        assert!(matches!(
            PurchaseEvent::decode(&bad_sale.encode()),
            Err(InvalidEvent::InvalidField(_))
        ));
        let no_round = PurchaseEvent {
            round: 0,
            ..event()
        };
        assert!(matches!(
            PurchaseEvent::decode(&no_round.encode()),
            Err(InvalidEvent::InvalidField(_))
        ));
        let paid_as_first = PurchaseEvent {
            version: FIRST_VERSION,
            ..event()
        };
        assert!(matches!(
            PurchaseEvent::decode(&paid_as_first.encode()),
            Err(InvalidEvent::InvalidField(_))
        ));
        let mut no_kind: serde_json::Value =
            serde_json::from_slice(&event().encode()).expect("json");
        no_kind.as_object_mut().map(|o| o.remove("kind"));
        assert_eq!(
            PurchaseEvent::decode(no_kind.to_string().as_bytes()),
            Err(InvalidEvent::InvalidField("kind is missing".into()))
        );
    }
}
