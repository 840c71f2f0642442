//! The connections of the store's bb8 pool, judged by their calls instead of a `PING` before
//! every use.
//!
//! bb8-redis checks a connection with `PING` each time it is checked out: one more round trip
//! for every purchase batch, on the path that is bound by round trips (see README,
//! "Benchmark"). Here every call carries the timeout, and a connection whose call failed in a
//! way only a new connection cures (the socket dropped, or no answer in time, which may leave
//! a late reply on the socket) is marked; bb8 drops it when it comes back to the pool
//! (`has_broken`) and connects anew for the next caller.

use std::io;
use std::time::Duration;

use bb8_redis::bb8::ManageConnection;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::AsyncConnectionConfig;
use redis::{Cmd, Pipeline, RedisError, RedisFuture, RedisResult, Value};

/// Makes the pool's connections.
pub struct Connections {
    client: redis::Client,
    timeout: Duration,
}

impl Connections {
    /// `timeout` bounds each call made on a connection.
    pub fn new(client: redis::Client, timeout: Duration) -> Self {
        Self { client, timeout }
    }
}

/// One multiplexed connection and whether a call on it showed it unusable.
pub struct Connection {
    redis: MultiplexedConnection,
    timeout: Duration,
    broken: bool,
}

impl ManageConnection for Connections {
    type Connection = Connection;
    type Error = RedisError;

    async fn connect(&self) -> Result<Connection, RedisError> {
        // redis-rs bounds each answer by 500 ms and each connect by 1 s unless told otherwise,
        // which would override `FLASHSALE_REDIS_TIMEOUT_MS` whenever it is longer: the
        // timeout here (and in `req_packed_command`) is the one that applies.
        let config = AsyncConnectionConfig::new()
            .set_response_timeout(None)
            .set_connection_timeout(None);
        let connect = self
            .client
            .get_multiplexed_async_connection_with_config(&config);
        let redis = tokio::time::timeout(self.timeout, connect)
            .await
            .unwrap_or_else(|_| Err(timed_out()))?;
        Ok(Connection {
            redis,
            timeout: self.timeout,
            broken: false,
        })
    }

    /// Only called if the pool is built with `test_on_check_out`, which the store is not.
    async fn is_valid(&self, conn: &mut Connection) -> Result<(), RedisError> {
        redis::cmd("PING").query_async(conn).await
    }

    fn has_broken(&self, conn: &mut Connection) -> bool {
        conn.broken
    }
}

impl Connection {
    /// Turns a call that took longer than the timeout into an error, and marks the connection
    /// broken when the call's failure means it cannot be trusted any more.
    fn judge<T>(
        &mut self,
        outcome: Result<RedisResult<T>, tokio::time::error::Elapsed>,
    ) -> RedisResult<T> {
        let result = outcome.unwrap_or_else(|_| Err(timed_out()));
        if let Err(error) = &result {
            if error.is_timeout() || error.is_connection_dropped() || error.is_unrecoverable_error()
            {
                self.broken = true;
            }
        }
        result
    }
}

fn timed_out() -> RedisError {
    io::Error::new(io::ErrorKind::TimedOut, "redis did not answer in time").into()
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let outcome =
                tokio::time::timeout(self.timeout, self.redis.req_packed_command(cmd)).await;
            self.judge(outcome)
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let call = self.redis.req_packed_commands(pipeline, offset, count);
            let outcome = tokio::time::timeout(self.timeout, call).await;
            self.judge(outcome)
        })
    }

    fn get_db(&self) -> i64 {
        self.redis.get_db()
    }
}
