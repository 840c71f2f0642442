//! The hold reaper: every API process runs one. Each interval it asks Redis to expire, sale by
//! sale and in batches, the holds whose deadline passed ([`Checkout::expire_due`]), so released
//! units are back on sale within about one interval of their deadline. Any number of processes
//! may reap at once: the script decides each hold alone, and a hold that is no longer `held` is
//! skipped, so none is released twice; a process killed mid-reap leaves nothing half done,
//! since each batch is one script.
//!
//! Each batch that expired holds nudges this process's producer (see [`Checkout`]), so their
//! events are published at once rather than at its next sweep. The reaper's last call on a sale
//! also sets the sale's gauges of units held and buyers waiting: every process shows the same
//! figures, those Redis holds.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::Checkout;
use crate::domain::SaleId;
use crate::runtime::outage_log::OutageLog;
use crate::runtime::settings::ReaperConfig;

static REAP: OutageLog = OutageLog::new("reaper: expire holds in Redis");

/// Reaps until `stop` is cancelled.
pub async fn reap_holds(checkout: Arc<Checkout>, config: ReaperConfig, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(config.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        match checkout.sales_with_holds().await {
            Ok(sales) => {
                for sale_id in sales {
                    reap_sale(&checkout, &sale_id, config.batch).await;
                }
            }
            Err(error) => REAP.failed(&error),
        }
    }
}

/// Expires every due hold of one sale, a batch per call, while batches come back full.
async fn reap_sale(checkout: &Checkout, sale_id: &SaleId, batch: usize) {
    loop {
        match checkout.expire_due(sale_id, batch).await {
            Ok(more) => {
                REAP.succeeded();
                if !more {
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
