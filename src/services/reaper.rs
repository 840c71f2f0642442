//! The hold reaper: every API process runs one. Each interval it asks Redis to expire, sale by
//! sale and in batches, the holds whose deadline passed (`hold_settle.lua`), so released units
//! are back on sale within about one interval of their deadline. Any number of processes may
//! reap at once: the script decides each hold alone, and a hold that is no longer `held` is
//! skipped, so none is released twice; a process killed mid-reap leaves nothing half done,
//! since each batch is one script.
//!
//! Each batch that expired holds nudges this process's producer, so their events (and those of
//! the offers the released units became) are published at once rather than at its next sweep.
//! The reaper's last call on a sale also reads the sale's units held and buyers waiting, which
//! it shows as gauges: every process shows the same figures, those Redis holds.

use actix::Recipient;
use tokio_util::sync::CancellationToken;

use crate::actors::producer::Nudge;
use crate::domain::{HoldState, SaleId};
use crate::runtime::outage_log::OutageLog;
use crate::runtime::settings::ReaperConfig;
use crate::runtime::telemetry::names;
use crate::store::Holds;

static REAP: OutageLog = OutageLog::new("reaper: expire holds in Redis");

/// Reaps until `stop` is cancelled.
pub async fn reap_holds(
    store: Holds,
    config: ReaperConfig,
    producer: Recipient<Nudge>,
    stop: CancellationToken,
) {
    // Listed from the first scrape (the handlers in `http/holds.rs` count the others).
    for state in [HoldState::Paid, HoldState::Cancelled, HoldState::Expired] {
        metrics::counter!(names::HOLDS_ENDED, "state" => state.as_str()).increment(0);
    }
    metrics::counter!(names::WAITLIST_OFFERS).increment(0);
    metrics::counter!(names::LATE_PAYMENTS_REFUSED).increment(0);
    let mut ticks = tokio::time::interval(config.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        match store.sale_ids().await {
            Ok(sales) => {
                for sale_id in sales {
                    reap_sale(&store, &sale_id, config.batch, &producer).await;
                }
            }
            Err(error) => REAP.failed(&error),
        }
    }
}

/// Expires every due hold of one sale, a batch per call, while batches come back full.
async fn reap_sale(store: &Holds, sale_id: &SaleId, batch: usize, producer: &Recipient<Nudge>) {
    loop {
        match store.reap(sale_id, batch).await {
            Ok(reaped) => {
                REAP.succeeded();
                if !reaped.lags_ms.is_empty() {
                    tracing::debug!(%sale_id, expired = reaped.lags_ms.len(), "holds expired");
                    Nudge::send(producer, sale_id);
                    let lag = metrics::histogram!(names::REAPER_LAG_SECONDS);
                    for lag_ms in &reaped.lags_ms {
                        lag.record(*lag_ms as f64 / 1000.0);
                    }
                    metrics::counter!(names::HOLDS_ENDED, "state" => HoldState::Expired.as_str())
                        .increment(reaped.lags_ms.len() as u64);
                    metrics::counter!(names::WAITLIST_OFFERS).increment(reaped.offered as u64);
                }
                if !reaped.more {
                    let sale = sale_id.as_str().to_owned();
                    metrics::gauge!(names::HOLDS_ACTIVE, "sale_id" => sale.clone())
                        .set(reaped.held as f64);
                    metrics::gauge!(names::WAITLIST_LENGTH, "sale_id" => sale)
                        .set(reaped.waiting as f64);
                    return;
                }
            }
            Err(error) => {
                REAP.failed(&error);
                return;
            }
        }
    }
}
