//! The figures `GET /api/v1/stats` shows per sale (`dashboard.rs`), and this process's copy of
//! them, reused for `PIPELINE_TTL`.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Mutex;
use utoipa::ToSchema;

use super::errors::ApiError;

/// How long this process answers `GET /api/v1/stats` with the same pipeline figures. The
/// route is anonymous and reads every listed sale in Redis and PostgreSQL (a round's orders
/// summed, or a `naive`/`locking` sale's stock row): reusing the figures for a second bounds
/// what a flood of it costs to one read per listed sale per second per process, whatever the
/// request rate, and the control room polls about once a second anyway.
pub const PIPELINE_TTL: Duration = Duration::from_secs(1);

/// Where a sale's current round stands between Redis and PostgreSQL.
#[derive(Serialize, ToSchema)]
pub struct SalePipeline {
    pub sale_id: String,
    pub round: u64,
    /// Units reserved in this round.
    pub sold: u64,
    /// Purchases in the sale's outbox: reserved, not yet acknowledged by the broker.
    pub outbox: u64,
    /// Units of this round persisted as orders; null when PostgreSQL cannot be asked.
    pub persisted: Option<u64>,
    /// `sold - persisted`: units reserved but not yet persisted (in the outbox, on Kafka or
    /// in the worker); null with `persisted`.
    pub not_persisted: Option<u64>,
}

/// This process's last pipeline figures and when they were read.
#[derive(Default)]
pub struct PipelineCache {
    /// Held while the figures are read again, so concurrent requests wait for that one read
    /// instead of each making their own.
    last: Mutex<Option<(Instant, Arc<Vec<SalePipeline>>)>>,
}

impl PipelineCache {
    /// The figures, as read at most `PIPELINE_TTL` ago; else as `read` reads them now.
    pub async fn read(
        &self,
        read: impl Future<Output = Result<Vec<SalePipeline>, ApiError>>,
    ) -> Result<Arc<Vec<SalePipeline>>, ApiError> {
        let mut last = self.last.lock().await;
        if let Some((at, pipeline)) = last.as_ref() {
            if at.elapsed() < PIPELINE_TTL {
                return Ok(Arc::clone(pipeline));
            }
        }
        let pipeline = Arc::new(read.await?);
        *last = Some((Instant::now(), Arc::clone(&pipeline)));
        Ok(pipeline)
    }
}
