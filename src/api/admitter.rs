//! The admitter: every API process runs one. Every [`ADMIT_INTERVAL`] it takes one admission
//! step for each sale with a waiting room (`queue_admit.lua`), which admits what the sale's
//! rate allows since the last step of any process; the budget lives in Redis, so the rate holds
//! for all processes together however many run, and a process that dies takes nothing with it.
//! A `random` sale's lobby is drawn by whichever admitter finds it started first
//! (`queue_draw.lua` keeps the first draw).

use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio_util::sync::CancellationToken;

use crate::common::domain::SaleId;
use crate::common::log_limit::OutageLog;
use crate::common::store::Store;
use crate::common::telemetry::names;

/// Time between admission steps: short, so admission is smooth and a step admits few at once.
pub const ADMIT_INTERVAL: Duration = Duration::from_millis(50);

static ADMIT: OutageLog = OutageLog::new("admitter: admit buyers in Redis");

/// Admits until `stop` is cancelled.
pub async fn admit_buyers(store: Store, stop: CancellationToken) {
    metrics::counter!(names::QUEUE_ADMITTED).increment(0);
    // Seeded from the operating system once: every draw of this process is unpredictable.
    let mut rng = StdRng::from_os_rng();
    let mut ticks = tokio::time::interval(ADMIT_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        match store.admission_sale_ids().await {
            Ok(sales) => {
                for sale_id in sales {
                    admit_sale(&store, &sale_id, &mut rng).await;
                }
            }
            Err(error) => ADMIT.failed(&error),
        }
    }
}

/// One admission step for one sale, after the draw when its lobby awaits one.
async fn admit_sale(store: &Store, sale_id: &SaleId, rng: &mut StdRng) {
    let step = match store.admit(sale_id).await {
        Ok(None) => match store.draw_lobby(sale_id, rng).await {
            Ok(()) => store.admit(sale_id).await,
            Err(error) => Err(error),
        },
        other => other,
    };
    match step {
        Ok(Some(step)) => {
            ADMIT.succeeded();
            metrics::counter!(names::QUEUE_ADMITTED).increment(step.admitted);
            metrics::gauge!(names::QUEUE_WAITING, "sale_id" => sale_id.as_str().to_owned())
                .set(step.waiting as f64);
        }
        // Drawn by another process in between: the next step admits.
        Ok(None) => ADMIT.succeeded(),
        Err(error) => ADMIT.failed(&error),
    }
}
