//! The outbox relay: takes over outbox entries that a producer read but never got
//! acknowledged, and hands them to this process's producer to publish again.
//!
//! That covers an API process killed between reading entries and their acknowledgement, a
//! broker that was down longer than the producer's message timeout, and an acknowledgement
//! that could not be written back. One relay runs in every API process; an entry is taken
//! over once it has waited `FLASHSALE_OUTBOX_RELAY_AGE_MS` in the `publishers` group's pending
//! list (Redis keeps that time, so every process judges it the same), and taking it over
//! resets that time, so two relays do not take the same entry at once. Should an entry still
//! be published twice, the worker drops the duplicate (`purchase_id` is its dedup key).
//!
//! Entries that no producer ever read are not the relay's: every producer's sweep reads them
//! (`producer.rs`).

use actix::prelude::*;

use super::producer::Publish;
use crate::domain::SaleId;
use crate::runtime::outage_log::OutageLog;
use crate::runtime::settings::RelayConfig;
use crate::runtime::telemetry::names;
use crate::store::{Outbox, Sales};

/// Most pages of pending entries one scan takes over from one sale: with the default batch,
/// 10,000 entries, the producer's default in-flight limit (it could not take more at once).
pub const PAGES_PER_SCAN: usize = 10;
/// Redis failures of the relay's scans, logged once per outage rather than per sale and scan.
static SCAN: OutageLog = OutageLog::new("relay: scan the outboxes in Redis");

/// Every this many scans, the groups forget consumers gone for [`GONE_AFTER`].
const FORGET_EVERY_SCANS: u64 = 60;
/// How long a consumer with nothing pending must have been silent to count as gone.
const GONE_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

pub struct OutboxRelay {
    outbox: Outbox,
    /// Where the ids of the sales (and so of their outboxes) are found.
    sales: Sales,
    producer: Recipient<Publish>,
    /// This process's name in the `publishers` group (the producer's).
    consumer: String,
    config: RelayConfig,
    scanning: bool,
    scans: u64,
}

impl OutboxRelay {
    pub fn new(
        outbox: Outbox,
        sales: Sales,
        producer: Recipient<Publish>,
        consumer: String,
        config: RelayConfig,
    ) -> Self {
        Self {
            outbox,
            sales,
            producer,
            consumer,
            config,
            scanning: false,
            scans: 0,
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
            relay.scans += 1;
            let scan = scan(
                relay.outbox.clone(),
                relay.sales.clone(),
                relay.producer.clone(),
                relay.consumer.clone(),
                relay.config,
                relay.scans % FORGET_EVERY_SCANS == 0,
            );
            ctx.spawn(scan.into_actor(relay).map(|(), relay, _| {
                relay.scanning = false;
            }));
        });
    }
}

/// One scan of every sale's outbox; `forget` also drops consumers that are gone.
async fn scan(
    outbox: Outbox,
    sales: Sales,
    producer: Recipient<Publish>,
    consumer: String,
    config: RelayConfig,
    forget: bool,
) {
    let sale_ids = match sales.sale_ids().await {
        Ok(sale_ids) => {
            SCAN.succeeded();
            sale_ids
        }
        Err(error) => {
            SCAN.failed(&error);
            return;
        }
    };
    let min_idle_ms = u64::try_from(config.min_age.as_millis()).unwrap_or(u64::MAX);
    let mut taken_over = 0;
    let mut outbox_length = 0;
    for sale_id in sale_ids {
        // One sale's unreadable outbox must not hold up the others.
        match outbox.len(&sale_id).await {
            Ok(length) => outbox_length += length,
            Err(error) => SCAN.failed(&error),
        }
        taken_over += take_over(&outbox, &producer, &consumer, &sale_id, min_idle_ms, config).await;
        if forget {
            let gone_ms = u64::try_from(GONE_AFTER.as_millis()).unwrap_or(u64::MAX);
            if let Err(error) = outbox.forget_consumers(&sale_id, gone_ms).await {
                SCAN.failed(&error);
            }
        }
    }
    metrics::gauge!(names::OUTBOX_LENGTH).set(outbox_length as f64);
    if taken_over > 0 {
        tracing::info!(
            count = taken_over,
            "publishing again outbox entries left unacknowledged"
        );
    }
}

/// Takes over one sale's stale pending entries, page by page, and hands them to the producer;
/// returns how many it handed over.
async fn take_over(
    outbox: &Outbox,
    producer: &Recipient<Publish>,
    consumer: &str,
    sale_id: &SaleId,
    min_idle_ms: u64,
    config: RelayConfig,
) -> usize {
    let mut start = "0".to_owned();
    let mut handed = 0;
    for _ in 0..PAGES_PER_SCAN {
        let claimed = match outbox
            .claim(sale_id, consumer, min_idle_ms, &start, config.batch)
            .await
        {
            Ok(claimed) => claimed,
            Err(error) => {
                SCAN.failed(&error);
                break;
            }
        };
        let count = claimed.entries.len();
        // A full producer mailbox is fine: what was taken over and not published is taken
        // over again once it has waited the relay age once more.
        if count > 0 && producer.try_send(Publish(claimed.entries)).is_err() {
            break;
        }
        handed += count;
        match claimed.next {
            Some(next) => start = next,
            None => break,
        }
    }
    handed
}
