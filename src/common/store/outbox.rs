//! The outbox: `purchase_reserve.lua` appends every reserved purchase to its sale's stream
//! (`XADD`); the producer removes an entry once the broker acknowledged its event, and the
//! relay reads what stayed too long.

use redis::streams::{StreamId, StreamRangeReply};
use redis::AsyncCommands;
use uuid::Uuid;

use super::client::{corrupt, from_millis, Store, StoreError};
use super::keys::SaleKeys;
use crate::common::domain::{Purchase, SaleId};
use crate::common::events::{PurchaseEvent, SCHEMA_VERSION};

/// A reserved purchase waiting in a sale's outbox for the broker to acknowledge it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub sale_id: SaleId,
    /// The stream entry id, to acknowledge (delete) the entry once published.
    pub id: String,
    pub event: PurchaseEvent,
}

impl OutboxEntry {
    /// The entry a reservation just appended.
    pub fn reserved(purchase: &Purchase, outbox_id: String) -> Self {
        Self {
            sale_id: purchase.sale_id.clone(),
            id: outbox_id,
            event: PurchaseEvent::from_purchase(purchase),
        }
    }
}

impl Store {
    /// Up to `count` outbox entries of a sale appended before `before_ms` (Redis time), oldest
    /// first, starting after the entry id `after` (from the oldest when `None`).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn outbox_due(
        &self,
        sale_id: &SaleId,
        after: Option<&str>,
        before_ms: i64,
        count: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let key = SaleKeys::new(sale_id).outbox;
        // Stream ids are "<ms>-<seq>"; "(" makes a bound exclusive.
        let start = after.map_or_else(|| "-".to_owned(), |id| format!("({id}"));
        let end = format!("({before_ms}-0");
        let reply: StreamRangeReply = self
            .with_conn(
                |mut conn| async move { Ok(conn.xrange_count(key, start, end, count).await?) },
            )
            .await?;
        reply
            .ids
            .iter()
            .map(|entry| parse_outbox_entry(sale_id, entry))
            .collect()
    }

    /// Removes outbox entries whose events the broker acknowledged.
    #[tracing::instrument(level = "debug", skip(self, entry_ids), fields(count = entry_ids.len()))]
    pub async fn outbox_ack(
        &self,
        sale_id: &SaleId,
        entry_ids: &[String],
    ) -> Result<(), StoreError> {
        if entry_ids.is_empty() {
            return Ok(());
        }
        let key = SaleKeys::new(sale_id).outbox;
        self.with_conn(|mut conn| async move { Ok(conn.xdel(key, entry_ids).await?) })
            .await
    }

    /// How many reserved purchases of a sale wait in its outbox.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn outbox_len(&self, sale_id: &SaleId) -> Result<u64, StoreError> {
        let key = SaleKeys::new(sale_id).outbox;
        self.with_conn(|mut conn| async move { Ok(conn.xlen(key).await?) })
            .await
    }
}

/// Reads the fields purchase_reserve.lua writes with XADD.
fn parse_outbox_entry(sale_id: &SaleId, entry: &StreamId) -> Result<OutboxEntry, StoreError> {
    let field = |name: &str| -> Result<String, StoreError> {
        entry
            .get(name)
            .ok_or_else(|| StoreError::Corrupt(format!("outbox entry {} lacks {name}", entry.id)))
    };
    let number = |name: &str| -> Result<i64, StoreError> {
        field(name)?
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("outbox field {name} is not a number")))
    };
    Ok(OutboxEntry {
        sale_id: sale_id.clone(),
        id: entry.id.clone(),
        event: PurchaseEvent {
            schema_version: SCHEMA_VERSION,
            purchase_id: Uuid::parse_str(&field("purchase_id")?)
                .map_err(|_| corrupt("outbox purchase id"))?,
            sale_id: sale_id.as_str().to_owned(),
            round: u64::try_from(number("round")?).map_err(|_| corrupt("outbox round"))?,
            user_id: field("user_id")?,
            quantity: u32::try_from(number("quantity")?).map_err(|_| corrupt("outbox quantity"))?,
            reserved_at: from_millis(number("reserved_at_ms")?)?,
        },
    })
}
