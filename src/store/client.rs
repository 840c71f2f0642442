//! The Redis client every store call goes through: a connection pool, a timeout on every call,
//! the one error type and the shared clock. The concerns' handles (`Reservations`, `Holds`, ...)
//! each wrap a [`Store`] and make their calls through it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bb8_redis::bb8::{self, Pool};
use chrono::{DateTime, TimeZone, Utc};
use redis::AsyncCommands;

use super::connection::Connections;
use crate::domain::SaleId;

/// Everything that can go wrong talking to Redis. None of it is the client's fault, and none
/// of its text is shown to a client.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis pool: {0}")]
    Pool(#[from] bb8::RunError<redis::RedisError>),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("unexpected data in redis: {0}")]
    Corrupt(String),
}

/// The Redis connection pool, with a timeout on every call. Cheap to clone (every handle of a
/// concern holds one). Its accessors (`store.holds()`, ...) hand out the concerns' handles.
#[derive(Clone)]
pub struct Store {
    pool: Pool<Connections>,
    /// For the connections the pool cannot lend (pub/sub). Shared, so a clone allocates nothing.
    client: Arc<redis::Client>,
    timeout: Duration,
}

/// A connection borrowed from the pool for one call.
pub(super) type PooledConnection = bb8::PooledConnection<'static, Connections>;

impl Store {
    /// Builds the pool without connecting: the API starts (and reports not ready) while Redis
    /// is down, and connects once Redis answers.
    pub fn new(redis_url: &str, pool_size: u32, timeout: Duration) -> Result<Self, StoreError> {
        let client = redis::Client::open(redis_url)?;
        let pool = Pool::builder()
            .max_size(pool_size)
            // Bounds the wait for a connection; each call on it is bounded by the connection.
            .connection_timeout(timeout)
            // Connections are judged by their calls instead (see `connection.rs`).
            .test_on_check_out(false)
            .build_unchecked(Connections::new(client.clone(), timeout));
        Ok(Self {
            pool,
            client: Arc::new(client),
            timeout,
        })
    }

    /// Runs `call` with a pooled connection. Getting it and each call made on it give up
    /// after the configured timeout.
    pub(super) async fn with_conn<T, F, Fut>(&self, call: F) -> Result<T, StoreError>
    where
        F: FnOnce(PooledConnection) -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let conn = self.pool.get_owned().await?;
        call(conn).await
    }

    /// Gives up on `work` after the configured timeout (for calls made outside the pool).
    pub(super) async fn timed<T>(
        &self,
        work: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| StoreError::Timeout(self.timeout))?
    }

    /// The client, for a dedicated connection (pub/sub).
    pub(super) fn client(&self) -> &redis::Client {
        &self.client
    }

    /// Answers whether Redis takes commands right now.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.with_conn(|mut conn| async move {
            redis::cmd("PING").query_async::<()>(&mut *conn).await?;
            Ok(())
        })
        .await
    }

    /// The Redis server's clock in milliseconds: the one clock every API process shares.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn now_ms(&self) -> Result<i64, StoreError> {
        let (secs, micros): (i64, i64) = self
            .with_conn(
                |mut conn| async move { Ok(redis::cmd("TIME").query_async(&mut *conn).await?) },
            )
            .await?;
        Ok(secs * 1000 + micros / 1000)
    }

    /// The sale ids in the set `set` (ids that no longer parse are skipped): the sets that tell
    /// the relay, the reapers and the admitters which sales to look at (see `keys.rs`).
    pub(super) async fn sale_ids_in(&self, set: &'static str) -> Result<Vec<SaleId>, StoreError> {
        let ids: Vec<String> = self
            .with_conn(|mut conn| async move { Ok(conn.smembers(set).await?) })
            .await?;
        Ok(ids.iter().filter_map(|id| SaleId::parse(id).ok()).collect())
    }
}

/// A reply that does not have the shape its script or command promises.
pub(super) fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

/// A millisecond timestamp as scripts store them.
pub(super) fn from_millis(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| corrupt("timestamp out of range"))
}
