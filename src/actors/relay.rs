//! The outbox relay: publishes outbox entries that stayed unacknowledged longer than a set age.
//!
//! That covers an API process killed between reservation and publish, a broker that was down
//! longer than the producer's message timeout, and an acknowledgement that could not be
//! written back. One relay runs in every API process; several relays may publish the same entry
//! at once, which only makes a duplicate the worker drops (`purchase_id` is its dedup key). The
//! age is judged by Redis's clock, the one all processes share, against the entry's stream id
//! (its append time).
//!
//! A scan pages through each sale's due entries from where the previous scan stopped, up to
//! [`PAGES_PER_SCAN`] pages of `FLASHSALE_OUTBOX_RELAY_BATCH`, and starts again from the
//! oldest once it reached the end. Without the cursor every scan would re-read the oldest page,
//! whose entries are usually the ones the producer is still publishing, and a backlog (a broker
//! that was down, a producer at its in-flight limit) would drain at one page per interval.

use std::collections::HashMap;

use actix::prelude::*;

use super::producer::{Origin, Publish};
use crate::common::domain::SaleId;
use crate::common::log_limit::OutageLog;
use crate::common::settings::RelayConfig;
use crate::common::store::{Store, StoreError};
use crate::common::telemetry::names;

/// Most pages of due entries one scan takes from one sale: with the default batch, 10,000
/// entries, the producer's default in-flight limit (it could not take more at once).
pub const PAGES_PER_SCAN: usize = 10;

pub struct OutboxRelay {
    store: Store,
    producer: Recipient<Publish>,
    config: RelayConfig,
    scanning: bool,
    /// Per sale, the last entry id handed to the producer: the next scan continues after it.
    cursors: HashMap<SaleId, String>,
}

impl OutboxRelay {
    pub fn new(store: Store, producer: Recipient<Publish>, config: RelayConfig) -> Self {
        Self {
            store,
            producer,
            config,
            scanning: false,
            cursors: HashMap::new(),
        }
    }
}

impl Actor for OutboxRelay {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.config.interval, |relay, ctx| {
            // A scan slower than the interval is not overlapped by the next one.
            if relay.scanning {
                return;
            }
            relay.scanning = true;
            let cursors = std::mem::take(&mut relay.cursors);
            let scan = scan(
                relay.store.clone(),
                relay.producer.clone(),
                relay.config,
                cursors,
            );
            ctx.spawn(scan.into_actor(relay).map(|cursors, relay, _| {
                relay.cursors = cursors;
                relay.scanning = false;
            }));
        });
    }
}

/// One scan of every sale's outbox; returns the cursors for the next one.
async fn scan(
    store: Store,
    producer: Recipient<Publish>,
    config: RelayConfig,
    mut cursors: HashMap<SaleId, String>,
) -> HashMap<SaleId, String> {
    let sales = async {
        let cutoff =
            store.now_ms().await? - i64::try_from(config.min_age.as_millis()).unwrap_or(i64::MAX);
        Ok::<_, StoreError>((cutoff, store.sale_ids().await?))
    };
    static SCAN: OutageLog = OutageLog::new("relay: scan the outboxes in Redis");
    let (cutoff, sale_ids) = match sales.await {
        Ok(found) => {
            SCAN.succeeded();
            found
        }
        Err(error) => {
            SCAN.failed(&error);
            return cursors;
        }
    };
    // Entries offered to the producer; it counts those it publishes again (the metric).
    let mut offered = 0;
    let mut outbox_length = 0;
    for sale_id in sale_ids {
        // One sale's unreadable outbox must not hold up the others.
        match store.outbox_len(&sale_id).await {
            Ok(length) => outbox_length += length,
            Err(error) => SCAN.failed(&error),
        }
        for _ in 0..PAGES_PER_SCAN {
            let after = cursors.get(&sale_id).map(String::as_str);
            let entries = match store
                .outbox_due(&sale_id, after, cutoff, config.batch)
                .await
            {
                Ok(entries) => entries,
                Err(error) => {
                    SCAN.failed(&error);
                    break;
                }
            };
            let last_page = entries.len() < config.batch;
            let last_id = entries.last().map(|entry| entry.id.clone());
            if !entries.is_empty() {
                let count = entries.len();
                // A full producer mailbox is fine: the next scan offers the same page again.
                if producer.try_send(Publish(entries, Origin::Relay)).is_err() {
                    break;
                }
                offered += count;
            }
            if last_page {
                // Reached the end: the next scan starts from the oldest again.
                cursors.remove(&sale_id);
                break;
            }
            if let Some(last_id) = last_id {
                cursors.insert(sale_id.clone(), last_id);
            }
        }
    }
    metrics::gauge!(names::OUTBOX_LENGTH).set(outbox_length as f64);
    if offered > 0 {
        tracing::debug!(
            count = offered,
            "offering outbox entries older than the relay age to the producer"
        );
    }
    cursors
}
