//! The purchase event: what the API publishes to Kafka for every reservation and what the
//! worker persists. JSON, with a schema version so consumers can refuse what they do not know.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::common::domain::{Purchase, Quantity, SaleId, UserId};

/// The version this build writes and the only one it reads.
pub const SCHEMA_VERSION: u32 = 1;

/// One reserved purchase, as it travels through Kafka.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseEvent {
    pub schema_version: u32,
    pub purchase_id: Uuid,
    pub sale_id: String,
    pub round: u64,
    pub user_id: String,
    pub quantity: u32,
    pub reserved_at: DateTime<Utc>,
}

/// Why a message cannot be persisted; the text goes to the dead-letter topic as the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEvent {
    #[error("not a purchase event: {0}")]
    Undecodable(String),
    #[error("unsupported schema_version {0} (this worker reads {SCHEMA_VERSION})")]
    UnsupportedVersion(u32),
    #[error("invalid field: {0}")]
    InvalidField(String),
}

impl PurchaseEvent {
    pub fn from_purchase(purchase: &Purchase) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            purchase_id: purchase.purchase_id,
            sale_id: purchase.sale_id.as_str().to_owned(),
            round: purchase.round,
            user_id: purchase.user_id.as_str().to_owned(),
            quantity: purchase.quantity,
            reserved_at: purchase.reserved_at,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        // Serializing plain owned fields cannot fail; an empty payload would be dead-lettered.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Decodes and checks a message payload the way the API would have validated the purchase.
    pub fn decode(payload: &[u8]) -> Result<Self, InvalidEvent> {
        let event: Self = serde_json::from_slice(payload)
            .map_err(|e| InvalidEvent::Undecodable(e.to_string()))?;
        if event.schema_version != SCHEMA_VERSION {
            return Err(InvalidEvent::UnsupportedVersion(event.schema_version));
        }
        SaleId::parse(&event.sale_id).map_err(|e| InvalidEvent::InvalidField(e.0))?;
        UserId::parse(&event.user_id).map_err(|e| InvalidEvent::InvalidField(e.0))?;
        Quantity::parse(event.quantity.into()).map_err(|e| InvalidEvent::InvalidField(e.0))?;
        if event.round == 0 {
            return Err(InvalidEvent::InvalidField(
                "round must be at least 1".into(),
            ));
        }
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> PurchaseEvent {
        PurchaseEvent {
            schema_version: SCHEMA_VERSION,
            purchase_id: Uuid::new_v4(),
            sale_id: "phones".into(),
            round: 2,
            user_id: "alice".into(),
            quantity: 1,
            reserved_at: Utc::now(),
        }
    }

    #[test]
    fn an_event_survives_encoding() {
        let event = event();
        assert_eq!(PurchaseEvent::decode(&event.encode()), Ok(event));
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
    }
}
