//! The hold reaper: every API process runs one. Each interval it asks Redis to expire, sale by
//! sale and in batches, the holds whose deadline passed (`hold_settle.lua`), so released units
//! are back on sale within about one interval of their deadline. Any number of processes may
//! reap at once: the script decides each hold alone, and a hold that is no longer `held` is
//! skipped, so none is released twice; a process killed mid-reap leaves nothing half done,
//! since each batch is one script.

use tokio_util::sync::CancellationToken;

use crate::common::domain::SaleId;
use crate::common::log_limit::OutageLog;
use crate::common::settings::ReaperConfig;
use crate::common::store::Store;

static REAP: OutageLog = OutageLog::new("reaper: expire holds in Redis");

/// Reaps until `stop` is cancelled.
pub async fn reap_holds(store: Store, config: ReaperConfig, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(config.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        match store.hold_sale_ids().await {
            Ok(sales) => {
                for sale_id in sales {
                    reap_sale(&store, &sale_id, config.batch).await;
                }
            }
            Err(error) => REAP.failed(&error),
        }
    }
}

/// Expires every due hold of one sale, a batch per call, while batches come back full.
async fn reap_sale(store: &Store, sale_id: &SaleId, batch: usize) {
    loop {
        match store.reap_holds(sale_id, batch).await {
            Ok(reaped) => {
                REAP.succeeded();
                if !reaped.lags_ms.is_empty() {
                    tracing::debug!(%sale_id, expired = reaped.lags_ms.len(), "holds expired");
                }
                if !reaped.more {
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
