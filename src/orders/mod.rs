//! PostgreSQL: the orders the worker persists, and the lookups the API makes.
//!
//! The schema is in `migrations/` (applied by the worker at start); the statements are in
//! `orders/sql/`.

use std::future::Future;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use uuid::Uuid;

use crate::events::PurchaseEvent;

/// The longest a batch insert may take before the worker gives up on it (and, through its
/// supervisor, retries the batch with a fresh connection). Well under the consumer's
/// `max.poll.interval.ms` (twice the session timeout), so a slow insert fails here rather than
/// by the group dropping the consumer mid-batch.
const INSERT_TIMEOUT: Duration = Duration::from_secs(10);

/// A pool of Postgres connections; cheap to clone.
#[derive(Debug, Clone)]
pub struct Orders {
    pool: PgPool,
    /// For lookups: getting a connection and running the query.
    timeout: Duration,
}

/// Runs a query, turning a hang past `limit` into an error.
async fn bounded<T>(
    limit: Duration,
    query: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    tokio::time::timeout(limit, query)
        .await
        .unwrap_or(Err(sqlx::Error::PoolTimedOut))
}

/// Whether `error` says the `orders` table does not exist: nobody has applied the migrations
/// to this database yet (the worker does at start, in the background).
pub fn is_not_migrated(error: &sqlx::Error) -> bool {
    // 42P01: undefined_table.
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "42P01")
}

impl Orders {
    /// Builds the pool without connecting, so a process starts (and reports not ready) while
    /// Postgres is down.
    pub fn connect_lazy(
        url: &str,
        max_connections: u32,
        timeout: Duration,
    ) -> Result<Self, sqlx::Error> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(timeout)
            .connect_lazy(url)?;
        Ok(Self { pool, timeout })
    }

    /// Applies the migrations in `migrations/` that are not applied yet.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        sqlx::migrate!("./migrations").run(&self.pool).await
    }

    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    /// Persists a batch in one statement; returns how many events were new (the rest were
    /// already there). Durable when this returns: the statement commits on its own.
    pub async fn insert_batch(&self, events: &[PurchaseEvent]) -> Result<u64, sqlx::Error> {
        let ids: Vec<Uuid> = events.iter().map(|e| e.purchase_id).collect();
        let sales: Vec<&str> = events.iter().map(|e| e.sale_id.as_str()).collect();
        // Rounds and quantities were range-checked when the event was decoded.
        let rounds: Vec<i64> = events
            .iter()
            .map(|e| i64::try_from(e.round).unwrap_or(i64::MAX))
            .collect();
        let users: Vec<&str> = events.iter().map(|e| e.user_id.as_str()).collect();
        let quantities: Vec<i32> = events
            .iter()
            .map(|e| i32::try_from(e.quantity).unwrap_or(i32::MAX))
            .collect();
        let reserved_at: Vec<_> = events.iter().map(|e| e.reserved_at).collect();
        let insert = sqlx::query_scalar(include_str!("sql/orders_insert_batch.sql"))
            .bind(&ids)
            .bind(&sales)
            .bind(&rounds)
            .bind(&users)
            .bind(&quantities)
            .bind(&reserved_at)
            .fetch_one(&self.pool);
        let inserted: i64 = bounded(INSERT_TIMEOUT, insert).await?;
        Ok(u64::try_from(inserted).unwrap_or(0))
    }

    /// Every order of a sale's round, as (purchase_id, user_id, quantity).
    pub async fn orders_of_round(
        &self,
        sale_id: &str,
        round: u64,
    ) -> Result<Vec<(Uuid, String, i32)>, sqlx::Error> {
        let round = i64::try_from(round).unwrap_or(i64::MAX);
        let query = sqlx::query_as(
            "SELECT purchase_id, user_id, quantity FROM orders WHERE sale_id = $1 AND round = $2",
        )
        .bind(sale_id)
        .bind(round)
        .fetch_all(&self.pool);
        bounded(self.timeout, query).await
    }

    /// Whether the purchase is persisted as an order.
    pub async fn is_confirmed(&self, purchase_id: Uuid) -> Result<bool, sqlx::Error> {
        let query =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM orders WHERE purchase_id = $1)")
                .bind(purchase_id)
                .fetch_one(&self.pool);
        bounded(self.timeout, query).await
    }
}
