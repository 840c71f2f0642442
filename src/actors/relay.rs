//! The outbox relay: publishes outbox entries that stayed unacknowledged longer than a set age.
//!
//! That covers an API process killed between reservation and publish, a broker that was down
//! longer than the producer's message timeout, and an acknowledgement that could not be
//! written back. One relay runs in every API process; several relays may publish the same entry
//! at once, which only makes a duplicate the worker drops (`purchase_id` is its dedup key). The
//! age is judged by Redis's clock, the one all processes share, against the entry's stream id
//! (its append time).

use std::time::Duration;

use actix::prelude::*;

use crate::actors::producer::Publish;
use crate::store::Store;
use crate::telemetry::names;

/// How the relay paces itself.
#[derive(Debug, Clone, Copy)]
pub struct RelayConfig {
    /// `FLASHSALE_OUTBOX_RELAY_AGE_MS`, default 5000: entries younger than this are left to the
    /// producer that is publishing them now.
    pub min_age: Duration,
    /// `FLASHSALE_OUTBOX_RELAY_INTERVAL_MS`, default 1000: time between scans.
    pub interval: Duration,
    /// `FLASHSALE_OUTBOX_RELAY_BATCH`, default 1000: most entries taken from one sale's outbox
    /// per scan.
    pub batch: usize,
}

pub struct OutboxRelay {
    store: Store,
    producer: Recipient<Publish>,
    config: RelayConfig,
    scanning: bool,
}

impl OutboxRelay {
    pub fn new(store: Store, producer: Recipient<Publish>, config: RelayConfig) -> Self {
        Self {
            store,
            producer,
            config,
            scanning: false,
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
            let scan = scan(relay.store.clone(), relay.producer.clone(), relay.config);
            ctx.spawn(
                scan.into_actor(relay)
                    .map(|(), relay, _| relay.scanning = false),
            );
        });
    }
}

async fn scan(store: Store, producer: Recipient<Publish>, config: RelayConfig) {
    let sales = async {
        let cutoff =
            store.now_ms().await? - i64::try_from(config.min_age.as_millis()).unwrap_or(i64::MAX);
        Ok::<_, crate::store::StoreError>((cutoff, store.sale_ids().await?))
    };
    let (cutoff, sale_ids) = match sales.await {
        Ok(found) => found,
        Err(error) => {
            tracing::warn!(%error, "outbox relay scan failed");
            return;
        }
    };
    let mut republished = 0;
    let mut outbox_length = 0;
    for sale_id in sale_ids {
        // One sale's unreadable outbox must not hold up the others.
        match store.outbox_len(&sale_id).await {
            Ok(length) => outbox_length += length,
            Err(error) => tracing::warn!(%error, %sale_id, "cannot measure this sale's outbox"),
        }
        match store.outbox_due(&sale_id, cutoff, config.batch).await {
            Ok(entries) if !entries.is_empty() => {
                republished += entries.len();
                // A full producer mailbox is fine: the entries are still due at the next scan.
                let _ = producer.try_send(Publish(entries));
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, %sale_id, "cannot read this sale's outbox"),
        }
    }
    metrics::gauge!(names::OUTBOX_LENGTH).set(outbox_length as f64);
    metrics::counter!(names::RELAY_REPUBLISHED).increment(republished as u64);
    if republished > 0 {
        tracing::info!(
            count = republished,
            "relaying outbox entries older than the relay age"
        );
    }
}
