//! The outbox: `purchase_reserve.lua` appends every reserved purchase to its sale's stream
//! (`XADD`), `hold_settle.lua` every end of a hold, and the stream is the queue the producers
//! drain.
//!
//! Every API process's producer is a consumer of the stream's group [`PUBLISHERS`]: it reads
//! entries no consumer has had yet ([`Outbox::read`]), as many as it has room for, so a
//! backlog waits here rather than in memory and is read as fast as the broker takes it. Once
//! the broker acknowledged an entry's event, `outbox_ack.lua` removes it from the stream and
//! the group at once ([`Outbox::ack`]). An entry read but never acknowledged (its
//! process died, or the broker was down past the message timeout) stays pending in the group;
//! the relay takes it over once it has waited long enough ([`Outbox::claim`]).

use std::sync::LazyLock;

use redis::streams::{
    StreamAutoClaimOptions, StreamAutoClaimReply, StreamId, StreamInfoConsumersReply,
    StreamRangeReply, StreamReadOptions, StreamReadReply,
};
use redis::{AsyncCommands, Script};
use uuid::Uuid;

use super::client::{corrupt, from_millis, Store, StoreError};
use super::keys::{SaleKeys, PUBLISHERS};
use crate::domain::events::{EventKind, PurchaseEvent, FIRST_VERSION, SCHEMA_VERSION};
use crate::domain::SaleId;

static ACK: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("outbox_ack.lua")));

/// A reserved purchase waiting in a sale's outbox for the broker to acknowledge it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub sale_id: SaleId,
    /// The stream entry id, to acknowledge (delete) the entry once published.
    pub id: String,
    pub event: PurchaseEvent,
}

/// A page of entries the relay took over, and where the next page starts (`None`: the
/// pending list was read to its end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub entries: Vec<OutboxEntry>,
    pub next: Option<String>,
}

/// The outboxes of every sale. Cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    pub(super) redis: Store,
}

impl Outbox {
    /// Up to `count` entries of a sale's outbox that no producer has read yet, now pending on
    /// `consumer`. Makes the publishers group on first use (from the oldest entry, so entries
    /// written before it existed are read too).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn read(
        &self,
        sale_id: &SaleId,
        consumer: &str,
        count: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let reply = match self.read_new(sale_id, consumer, count).await {
            Err(StoreError::Redis(error)) if error.code() == Some("NOGROUP") => {
                self.make_publishers_group(sale_id).await?;
                self.read_new(sale_id, consumer, count).await?
            }
            other => other?,
        };
        reply
            .into_iter()
            .flat_map(|reply| reply.keys)
            .flat_map(|stream| stream.ids)
            .map(|entry| parse_outbox_entry(sale_id, &entry))
            .collect()
    }

    async fn read_new(
        &self,
        sale_id: &SaleId,
        consumer: &str,
        count: usize,
    ) -> Result<Option<StreamReadReply>, StoreError> {
        let key = SaleKeys::new(sale_id).outbox;
        let options = StreamReadOptions::default()
            .group(PUBLISHERS, consumer)
            .count(count);
        self.redis
            .with_conn(|mut conn| async move {
                Ok(conn.xread_options(&[&key], &[">"], &options).await?)
            })
            .await
    }

    async fn make_publishers_group(&self, sale_id: &SaleId) -> Result<(), StoreError> {
        let key = SaleKeys::new(sale_id).outbox;
        self.redis
            .with_conn(|mut conn| async move {
                let made: Result<(), redis::RedisError> =
                    conn.xgroup_create_mkstream(&key, PUBLISHERS, "0").await;
                match made {
                    // Another process made it first.
                    Err(error) if error.code() == Some("BUSYGROUP") => Ok(()),
                    other => Ok(other?),
                }
            })
            .await
    }

    /// Takes over, for `consumer`, up to `count` entries that have waited in the publishers
    /// group's pending list for at least `min_idle_ms` (read by a producer that never got
    /// them acknowledged), starting at the pending entry `start` (`"0"` for the oldest).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn claim(
        &self,
        sale_id: &SaleId,
        consumer: &str,
        min_idle_ms: u64,
        start: &str,
        count: usize,
    ) -> Result<Claimed, StoreError> {
        let key = SaleKeys::new(sale_id).outbox;
        let options = StreamAutoClaimOptions::default().count(count);
        let reply = self
            .redis
            .with_conn(|mut conn| async move {
                let reply: Result<StreamAutoClaimReply, _> = conn
                    .xautoclaim_options(&key, PUBLISHERS, consumer, min_idle_ms, start, options)
                    .await;
                match reply {
                    // No group yet: nothing was ever read, so nothing is pending.
                    Err(error) if error.code() == Some("NOGROUP") => Ok(None),
                    other => Ok(Some(other?)),
                }
            })
            .await?;
        let Some(reply) = reply else {
            return Ok(Claimed {
                entries: Vec::new(),
                next: None,
            });
        };
        Ok(Claimed {
            // Entries deleted from the stream while pending are not among them: Redis drops
            // them from the pending list itself.
            entries: reply
                .claimed
                .iter()
                .map(|entry| parse_outbox_entry(sale_id, entry))
                .collect::<Result<_, _>>()?,
            next: (reply.next_stream_id != "0-0").then_some(reply.next_stream_id),
        })
    }

    /// Removes outbox entries whose events the broker acknowledged (see `outbox_ack.lua`).
    #[tracing::instrument(level = "debug", skip(self, entry_ids), fields(count = entry_ids.len()))]
    pub async fn ack(&self, sale_id: &SaleId, entry_ids: &[String]) -> Result<(), StoreError> {
        if entry_ids.is_empty() {
            return Ok(());
        }
        let mut invocation = ACK.prepare_invoke();
        invocation
            .key(SaleKeys::new(sale_id).outbox)
            .arg(PUBLISHERS);
        for id in entry_ids {
            invocation.arg(id);
        }
        self.redis
            .with_conn(|mut conn| async move {
                invocation.invoke_async::<u64>(&mut *conn).await?;
                Ok(())
            })
            .await
    }

    /// Removes from a sale's publishers group the consumers (API processes that are gone)
    /// with nothing pending and idle for at least `idle_ms`, so restarts do not pile names up;
    /// returns how many. A live producer reads every sale each sweep, so it is never that idle,
    /// and one with entries pending is kept, since removing it would strand them.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn forget_consumers(
        &self,
        sale_id: &SaleId,
        idle_ms: u64,
    ) -> Result<usize, StoreError> {
        let key = SaleKeys::new(sale_id).outbox;
        self.redis
            .with_conn(|mut conn| async move {
                let info: Result<StreamInfoConsumersReply, _> =
                    conn.xinfo_consumers(&key, PUBLISHERS).await;
                let consumers = match info {
                    Err(error) if error.code() == Some("NOGROUP") => return Ok(0),
                    other => other?.consumers,
                };
                let mut forgotten = 0;
                for consumer in consumers {
                    let idle = u64::try_from(consumer.idle).unwrap_or(u64::MAX);
                    if consumer.pending == 0 && idle >= idle_ms {
                        conn.xgroup_delconsumer::<_, _, _, ()>(&key, PUBLISHERS, &consumer.name)
                            .await?;
                        forgotten += 1;
                    }
                }
                Ok(forgotten)
            })
            .await
    }

    /// How many reserved purchases of a sale wait in its outbox.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn len(&self, sale_id: &SaleId) -> Result<u64, StoreError> {
        let key = SaleKeys::new(sale_id).outbox;
        self.redis
            .with_conn(|mut conn| async move { Ok(conn.xlen(key).await?) })
            .await
    }

    /// Every entry of a sale's outbox, oldest first (a full read: for the audit).
    pub(crate) async fn all(&self, sale_id: &SaleId) -> Result<Vec<OutboxEntry>, StoreError> {
        // Page by page: a backlog can hold hundreds of thousands of entries, too many for one
        // reply within a call's timeout.
        const PAGE: usize = 10_000;
        let key = SaleKeys::new(sale_id).outbox;
        let mut entries = Vec::new();
        let mut start = "-".to_owned();
        loop {
            let (key, from) = (key.clone(), start.clone());
            let page: StreamRangeReply = self
                .redis
                .with_conn(
                    |mut conn| async move { Ok(conn.xrange_count(key, from, "+", PAGE).await?) },
                )
                .await?;
            let full = page.ids.len() == PAGE;
            for entry in &page.ids {
                entries.push(parse_outbox_entry(sale_id, entry)?);
            }
            match page.ids.last() {
                // "(" makes the bound exclusive: the next page starts after this one.
                Some(last) if full => start = format!("({}", last.id),
                _ => return Ok(entries),
            }
        }
    }
}

/// Reads the fields purchase_reserve.lua and hold_settle.lua write with XADD. An entry without
/// `kind` was written by an earlier build: a plain reservation, version 1, at its reservation.
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
    let reserved_at = from_millis(number("reserved_at_ms")?)?;
    let (kind, occurred_at) = match entry.get::<String>("kind") {
        None => (EventKind::Reserved, reserved_at),
        Some(kind) => (
            EventKind::parse(&kind).ok_or_else(|| corrupt("outbox kind"))?,
            from_millis(number("occurred_at_ms")?)?,
        ),
    };
    let version = match entry.get::<String>("version") {
        None => FIRST_VERSION,
        Some(_) => u32::try_from(number("version")?).map_err(|_| corrupt("outbox version"))?,
    };
    Ok(OutboxEntry {
        sale_id: sale_id.clone(),
        id: entry.id.clone(),
        event: PurchaseEvent {
            schema_version: SCHEMA_VERSION,
            kind,
            version,
            purchase_id: Uuid::parse_str(&field("purchase_id")?)
                .map_err(|_| corrupt("outbox purchase id"))?,
            sale_id: sale_id.as_str().to_owned(),
            round: u64::try_from(number("round")?).map_err(|_| corrupt("outbox round"))?,
            user_id: field("user_id")?,
            quantity: u32::try_from(number("quantity")?).map_err(|_| corrupt("outbox quantity"))?,
            reserved_at,
            occurred_at,
        },
    })
}
