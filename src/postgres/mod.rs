//! PostgreSQL: the orders the worker persists, and the lookups the API makes.
//!
//! The schema is in `migrations/` (applied by the worker at start, and by the API before it
//! first needs it: see [`Orders::ensure_migrated`]); every statement is a file in `sql/`.

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::PgConnection;
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::domain::events::PurchaseEvent;
use crate::domain::{Purchase, Reservation, SaleId, UserId};
use crate::runtime::settings::DatabaseSettings;

/// The longest a batch insert may take before the worker gives up on it (and, through its
/// supervisor, retries the batch with a fresh connection), so a hung Postgres cannot hold a
/// batch for ever.
pub(crate) const INSERT_TIMEOUT: Duration = Duration::from_secs(10);
/// PostgreSQL ends a session of ours whose transaction sits idle longer than this, and with it
/// the transaction and its row locks. Our transactions send their statements back to back, so
/// only a process frozen mid-transaction (SIGSTOP, a paused VM, a stalled network) gets there:
/// without it, a worker frozen inside a batch keeps its partition leases locked for as long
/// as it stays frozen (other workers skip locked leases), and an API frozen inside a `locking`
/// purchase keeps the sale's stock row locked. Below the default lease TTL (6 s), so a frozen
/// worker's partitions are free when its leases expire.
const IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest the API waits for the migrations (an admin call waits for them once).
const MIGRATE_TIMEOUT: Duration = Duration::from_secs(30);

/// A pool of Postgres connections; cheap to clone.
#[derive(Debug, Clone)]
pub struct Orders {
    pool: PgPool,
    /// For lookups: getting a connection and running the query.
    timeout: Duration,
    /// Set once this process has applied the migrations.
    migrated: Arc<OnceCell<()>>,
}

/// Runs a query, turning a hang past `limit` into an error.
pub(crate) async fn bounded<T>(
    limit: Duration,
    query: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    tokio::time::timeout(limit, query)
        .await
        .unwrap_or(Err(sqlx::Error::PoolTimedOut))
}

/// Whether `error` says a table or column does not exist: nobody has applied the (latest)
/// migrations to this database yet (the worker does at start, in the background).
pub fn is_not_migrated(error: &sqlx::Error) -> bool {
    // 42P01: undefined_table; 42703: undefined_column (a schema older than this build).
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "42P01" || code == "42703")
}

/// An order of a round as the audit reads it (`sql/orders_select_round.sql`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RoundOrder {
    pub purchase_id: Uuid,
    pub user_id: String,
    pub quantity: i32,
    /// `reserved`, `held`, `paid`, `cancelled` or `expired` (the event kinds).
    pub state: String,
}

/// An order as the `naive` and `locking` strategies write it: the purchase its 202 described.
/// Read with `sql/orders_select_written.sql`.
#[derive(sqlx::FromRow)]
struct WrittenOrder {
    purchase_id: Uuid,
    sale_id: String,
    round: i64,
    user_id: String,
    quantity: i32,
    remaining: i64,
    reserved_at: DateTime<Utc>,
}

impl WrittenOrder {
    /// The purchase as its 202 showed it (`reserved`).
    fn into_purchase(self) -> Result<Purchase, sqlx::Error> {
        let id = self.purchase_id;
        let corrupt = |what: &str| sqlx::Error::Decode(format!("order {id}: bad {what}").into());
        Ok(Purchase::reserved(
            self.purchase_id,
            SaleId::parse(&self.sale_id).map_err(|_| corrupt("sale_id"))?,
            UserId::parse(&self.user_id).map_err(|_| corrupt("user_id"))?,
            u64::try_from(self.round).map_err(|_| corrupt("round"))?,
            u32::try_from(self.quantity).map_err(|_| corrupt("quantity"))?,
            u64::try_from(self.remaining).map_err(|_| corrupt("remaining"))?,
            self.reserved_at,
        ))
    }
}

/// The order an earlier purchase with the same Idempotency-Key wrote in this round, if any
/// (for the `naive` and `locking` strategies, on their own connection or transaction).
pub(crate) async fn order_with_key(
    conn: &mut PgConnection,
    reservation: &Reservation,
    round: i64,
) -> Result<Option<Purchase>, sqlx::Error> {
    let Some(key) = &reservation.idempotency_key else {
        return Ok(None);
    };
    let original: Option<WrittenOrder> =
        sqlx::query_as(include_str!("sql/orders_select_written_by_key.sql"))
            .bind(reservation.sale_id.as_str())
            .bind(round)
            .bind(reservation.user_id.as_str())
            .bind(key.as_str())
            .fetch_optional(&mut *conn)
            .await?;
    original.map(WrittenOrder::into_purchase).transpose()
}

/// What one batch changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Applied {
    /// Orders inserted: purchases not persisted before.
    pub inserted: u64,
    /// Events recorded in the history: the batch's events not persisted before.
    pub recorded: u64,
    /// Of those, events whose state contradicts one already recorded at their purchase's
    /// version (a hold ended twice): kept for the audit, not dropped as duplicates.
    pub contradicting: u64,
}

/// Persists a batch of events in one statement on `executor` (the pool, or a transaction the
/// worker also commits its offsets in): each purchase's order, its state (moved only to a
/// higher version) and its history. Events must be distinct by (purchase, version, state).
pub(crate) async fn insert_batch_on<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    events: &[PurchaseEvent],
) -> Result<Applied, sqlx::Error> {
    let ids: Vec<Uuid> = events.iter().map(|e| e.purchase_id).collect();
    let sales: Vec<&str> = events.iter().map(|e| e.sale_id.as_str()).collect();
    // Rounds, quantities and versions were range-checked when the event was decoded.
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
    let states: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    let versions: Vec<i32> = events
        .iter()
        .map(|e| i32::try_from(e.version).unwrap_or(i32::MAX))
        .collect();
    let occurred_at: Vec<_> = events.iter().map(|e| e.occurred_at).collect();
    let (inserted, recorded, contradicting): (i64, i64, i64) =
        sqlx::query_as(include_str!("sql/orders_insert_batch.sql"))
            .bind(&ids)
            .bind(&sales)
            .bind(&rounds)
            .bind(&users)
            .bind(&quantities)
            .bind(&reserved_at)
            .bind(&states)
            .bind(&versions)
            .bind(&occurred_at)
            .fetch_one(executor)
            .await?;
    Ok(Applied {
        inserted: u64::try_from(inserted).unwrap_or(0),
        recorded: u64::try_from(recorded).unwrap_or(0),
        contradicting: u64::try_from(contradicting).unwrap_or(0),
    })
}

impl Orders {
    /// Builds the pool without connecting, so a process starts (and reports not ready) while
    /// Postgres is down.
    pub fn connect_lazy(settings: &DatabaseSettings) -> Result<Self, sqlx::Error> {
        let options = PgConnectOptions::from_str(settings.url.expose())?.options([(
            "idle_in_transaction_session_timeout",
            IDLE_IN_TRANSACTION_TIMEOUT.as_millis().to_string(),
        )]);
        let pool = PgPoolOptions::new()
            .max_connections(settings.pool_size)
            .acquire_timeout(settings.timeout)
            .connect_lazy_with(options);
        Ok(Self {
            pool,
            timeout: settings.timeout,
            migrated: Arc::default(),
        })
    }

    /// Applies the migrations in `migrations/` that are not applied yet.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        sqlx::migrate!("./migrations").run(&self.pool).await
    }

    /// Applies the migrations unless this process already did. The API calls it before it
    /// first needs a table (an admin call for a strategy that writes to Postgres), rather than
    /// at start: a process that only sells `async` sales never touches the schema.
    pub async fn ensure_migrated(&self) -> Result<(), sqlx::Error> {
        self.migrated
            .get_or_try_init(|| async {
                let migrate = async {
                    self.migrate()
                        .await
                        .map_err(|e| sqlx::Error::Migrate(Box::new(e)))
                };
                bounded(MIGRATE_TIMEOUT, migrate).await
            })
            .await
            .map(|_| ())
    }

    /// The pool, for the strategies that sell from Postgres.
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The limit of one lookup.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query(include_str!("sql/ping.sql"))
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    /// Persists a batch in one statement; returns how many events were new (the rest were
    /// already there). Durable when this returns: the statement commits on its own.
    #[tracing::instrument(level = "debug", skip_all, fields(batch = events.len()))]
    pub async fn insert_batch(&self, events: &[PurchaseEvent]) -> Result<u64, sqlx::Error> {
        let applied = bounded(INSERT_TIMEOUT, insert_batch_on(&self.pool, events)).await?;
        Ok(applied.inserted)
    }

    /// Every order of a sale's round.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn orders_of_round(
        &self,
        sale_id: &str,
        round: u64,
    ) -> Result<Vec<RoundOrder>, sqlx::Error> {
        self.rows_of_round(include_str!("sql/orders_select_round.sql"), sale_id, round)
            .await
    }

    /// The history of every order of a sale's round, as (purchase_id, state), one per event.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn history_of_round(
        &self,
        sale_id: &str,
        round: u64,
    ) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
        self.rows_of_round(
            include_str!("sql/order_history_select_round.sql"),
            sale_id,
            round,
        )
        .await
    }

    /// The rows a query of one sale's round (`$1` the sale, `$2` the round) returns.
    async fn rows_of_round<T>(
        &self,
        sql: &'static str,
        sale_id: &str,
        round: u64,
    ) -> Result<Vec<T>, sqlx::Error>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
    {
        let round = i64::try_from(round).unwrap_or(i64::MAX);
        let query = sqlx::query_as(sql)
            .bind(sale_id)
            .bind(round)
            .fetch_all(&self.pool);
        bounded(self.timeout, query).await
    }

    /// Units persisted as orders for a sale's round.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn units_of_round(&self, sale_id: &str, round: u64) -> Result<u64, sqlx::Error> {
        let round = i64::try_from(round).unwrap_or(i64::MAX);
        let query = sqlx::query_scalar::<_, i64>(include_str!("sql/orders_sum_round_units.sql"))
            .bind(sale_id)
            .bind(round)
            .fetch_one(&self.pool);
        Ok(u64::try_from(bounded(self.timeout, query).await?).unwrap_or(0))
    }

    /// The last round of a sale PostgreSQL remembers (0: none), so a sale that Redis lost
    /// starts again above the rounds already sold. A database nobody has migrated yet holds no
    /// rounds: 0, without applying the migrations (a process selling only `async` sales never
    /// touches the schema).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn last_round(&self, sale_id: &str) -> Result<u64, sqlx::Error> {
        let query = sqlx::query_scalar::<_, i64>(include_str!("sql/sales_select_last_round.sql"))
            .bind(sale_id)
            .fetch_one(&self.pool);
        match bounded(self.timeout, query).await {
            Ok(round) => Ok(u64::try_from(round).unwrap_or(0)),
            Err(e) if is_not_migrated(&e) => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// A purchase the `naive` or `locking` strategy wrote (only those orders carry `remaining`:
    /// Redis holds every other purchase).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn written_purchase(
        &self,
        purchase_id: Uuid,
    ) -> Result<Option<Purchase>, sqlx::Error> {
        let query =
            sqlx::query_as::<_, WrittenOrder>(include_str!("sql/orders_select_written.sql"))
                .bind(purchase_id)
                .fetch_optional(&self.pool);
        let order = bounded(self.timeout, query).await?;
        Ok(order
            .map(WrittenOrder::into_purchase)
            .transpose()?
            .map(Purchase::confirmed))
    }

    /// Whether the purchase is persisted as an order.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn is_confirmed(&self, purchase_id: Uuid) -> Result<bool, sqlx::Error> {
        let query = sqlx::query_scalar(include_str!("sql/orders_exists.sql"))
            .bind(purchase_id)
            .fetch_one(&self.pool);
        bounded(self.timeout, query).await
    }
}
