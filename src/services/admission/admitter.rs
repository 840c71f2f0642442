//! The admitter: every API process runs one. Every [`ADMIT_INTERVAL`] it takes one admission
//! step for each sale with a waiting room (`queue_admit.lua`), which admits what the sale's
//! rate allows since the last step of any process; the budget lives in Redis, so the rate holds
//! for all processes together however many run, and a process that dies takes nothing with it.
//! A `random` sale's lobby is drawn by whichever admitter finds it started first
//! (`queue_draw.lua` keeps the first draw).
//!
//! A sale where nothing can happen for a while (not started, sold out, nobody waiting) is
//! looked at again only after that while (at most [`MAX_IDLE`]), and a sale whose waiting room
//! is over (ended, replaced by an `open` one, deleted) leaves the set the admitters read, so
//! idle and old sales cost next to nothing.

use std::collections::HashMap;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::domain::SaleId;
use crate::runtime::outage_log::OutageLog;
use crate::runtime::telemetry::names;
use crate::store::{AdmissionStep, StoreError, WaitingRoom};

/// Time between admission steps: short, so admission is smooth and a step admits few at once.
pub const ADMIT_INTERVAL: Duration = Duration::from_millis(50);
/// The longest an idle sale goes unexamined: a ticket taken then, or units back in stock, wait
/// at most this long for admission to resume.
const MAX_IDLE: Duration = Duration::from_secs(1);

static ADMIT: OutageLog = OutageLog::new("admitter: admit buyers in Redis");

/// Admits until `stop` is cancelled.
pub async fn admit_buyers(store: WaitingRoom, stop: CancellationToken) {
    metrics::counter!(names::QUEUE_ADMITTED).increment(0);
    // Seeded from the operating system once: every draw of this process is unpredictable.
    let mut rng = StdRng::from_os_rng();
    // When each idle sale is next worth a step.
    let mut due: HashMap<SaleId, Instant> = HashMap::new();
    let mut ticks = tokio::time::interval(ADMIT_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let sales = match store.sale_ids().await {
            Ok(sales) => sales,
            Err(error) => {
                ADMIT.failed(&error);
                continue;
            }
        };
        let now = Instant::now();
        due.retain(|sale_id, _| sales.contains(sale_id));
        for sale_id in sales {
            if due.get(&sale_id).is_some_and(|at| *at > now) {
                continue;
            }
            match admit_sale(&store, &sale_id, &mut rng).await {
                Ok(idle) => {
                    ADMIT.succeeded();
                    due.insert(sale_id, now + idle.min(MAX_IDLE));
                }
                Err(error) => ADMIT.failed(&error),
            }
        }
    }
}

/// One admission step for one sale, after the draw when its lobby awaits one; how long the
/// sale may rest before the next.
async fn admit_sale(
    store: &WaitingRoom,
    sale_id: &SaleId,
    rng: &mut StdRng,
) -> Result<Duration, StoreError> {
    let mut step = store.admit(sale_id).await?;
    if step == AdmissionStep::Draw {
        store.draw_lobby(sale_id, rng).await?;
        step = store.admit(sale_id).await?;
    }
    match step {
        AdmissionStep::Stepped {
            admitted,
            waiting,
            idle,
        } => {
            metrics::counter!(names::QUEUE_ADMITTED).increment(admitted);
            metrics::gauge!(names::QUEUE_WAITING, "sale_id" => sale_id.as_str().to_owned())
                .set(waiting as f64);
            Ok(idle)
        }
        AdmissionStep::Gone => {
            metrics::gauge!(names::QUEUE_WAITING, "sale_id" => sale_id.as_str().to_owned())
                .set(0.0);
            store.forget_sale(sale_id).await?;
            // A PUT that gave the sale a waiting room after the step above but before the
            // forgetting added it to the set before this removal: look once more, and keep the
            // sale if it has a waiting room now (a PUT after the removal adds it back itself).
            if store.admit(sale_id).await? != AdmissionStep::Gone {
                store.remember_sale(sale_id).await?;
            }
            Ok(Duration::ZERO)
        }
        // Drawn by another process in between: the next step admits.
        AdmissionStep::Draw => Ok(Duration::ZERO),
    }
}
