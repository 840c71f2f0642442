//! Redis: the key layout, the Lua scripts and the typed calls the rest of the crate makes.
//!
//! Every key of one sale carries the sale's Redis Cluster hash tag (`fs:{<sale_id>}:...`), so
//! each script touches a single slot and the design moves to Redis Cluster unchanged. The only
//! keys outside a sale's slot are the purchase index (one key per purchase, written after the
//! script) and the set of sale ids.

mod connection;

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use bb8_redis::bb8::{self, Pool};
use chrono::{DateTime, TimeZone, Utc};
use redis::streams::{StreamId, StreamRangeReply};
use redis::{AsyncCommands, Script};
use uuid::Uuid;

use connection::Connections;

use crate::domain::{
    Purchase, PurchaseStatus, Reservation, Sale, SaleId, SaleSpec, Strategy, UserId,
};
use crate::events::{PurchaseEvent, SCHEMA_VERSION};

/// The pub/sub channel on which every new round is announced as `"<round> <sale_id>"`.
pub const ROUNDS_CHANNEL: &str = "fs:sale-rounds";
/// A set of every sale id ever created, so the pipeline can find every outbox.
const SALES_SET: &str = "fs:sales";

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

/// The keys of one sale.
struct SaleKeys {
    sale: String,
    users: String,
    idempotency: String,
    purchases: String,
    outbox: String,
    rounds: String,
}

impl SaleKeys {
    fn new(sale_id: &SaleId) -> Self {
        let tag = format!("fs:{{{sale_id}}}");
        Self {
            sale: format!("{tag}:sale"),
            users: format!("{tag}:users"),
            idempotency: format!("{tag}:idempotency"),
            purchases: format!("{tag}:purchases"),
            outbox: format!("{tag}:outbox"),
            rounds: format!("{tag}:rounds"),
        }
    }
}

/// Where `GET /api/v1/purchases/{id}` finds which sale a purchase belongs to.
fn purchase_index_key(purchase_id: &Uuid) -> String {
    format!("fs:purchase:{purchase_id}")
}

/// How a sale's round changes.
#[derive(Debug, Clone)]
pub enum RoundChange {
    /// Create the sale, or replace it (new settings, full stock, new round).
    Put(SaleSpec),
    /// Create the sale only if no sale has this id yet.
    CreateIfAbsent(SaleSpec),
    /// Put the stock back (optionally a new stock figure) and start a new round.
    Reset { stock: Option<u64> },
}

/// What a [`RoundChange`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundOutcome {
    Created,
    Replaced,
    Reset,
    /// `CreateIfAbsent` found a sale already there and left it alone.
    AlreadyExists,
    /// `Reset` found no sale.
    NotFound,
}

/// What was decided for one purchase (by the reservation script, or by a Postgres strategy:
/// see `crate::strategies`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReserveOutcome {
    /// Stock taken; the purchase waits in the sale's outbox under `outbox_id`.
    Reserved {
        purchase: Purchase,
        outbox_id: String,
    },
    /// Stock taken in Postgres and the order written there, within the request (the `naive`
    /// and `locking` strategies): there is no outbox entry.
    Ordered(Purchase),
    /// The sale is no longer sold by the strategy that was asked (it was replaced with another
    /// one); nothing was taken. The caller looks the strategy up again.
    StrategyChanged,
    /// The idempotency key was seen before with the same body: the original purchase.
    Replayed(Purchase),
    /// The idempotency key was seen before with a different quantity.
    KeyReused,
    SaleNotFound,
    SaleNotActive,
    LimitReached,
    SoldOut {
        round: u64,
        remaining: u64,
    },
}

/// The Redis connection pool and the scripts, with a timeout on every call.
#[derive(Clone)]
pub struct Store {
    pool: Pool<Connections>,
    /// For the connections the pool cannot lend (pub/sub).
    client: redis::Client,
    timeout: Duration,
    reserve_script: Script,
    start_round_script: Script,
}

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
            client,
            timeout,
            reserve_script: Script::new(include_str!("lua/purchase_reserve.lua")),
            start_round_script: Script::new(include_str!("lua/sale_start_round.lua")),
        })
    }

    /// Runs `call` with a pooled connection. Getting it and each call made on it give up
    /// after the configured timeout.
    async fn with_conn<T, F, Fut>(&self, call: F) -> Result<T, StoreError>
    where
        F: FnOnce(bb8::PooledConnection<'static, Connections>) -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let conn = self.pool.get_owned().await?;
        call(conn).await
    }

    /// Gives up on `work` after the configured timeout.
    async fn timed<T>(
        &self,
        work: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| StoreError::Timeout(self.timeout))?
    }

    /// Answers whether Redis takes commands right now.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.with_conn(|mut conn| async move {
            redis::cmd("PING").query_async::<()>(&mut *conn).await?;
            Ok(())
        })
        .await
    }

    /// Creates, replaces or resets a sale, starting a new round.
    #[tracing::instrument(skip(self))]
    pub async fn start_round(
        &self,
        sale_id: &SaleId,
        change: &RoundChange,
    ) -> Result<RoundOutcome, StoreError> {
        let keys = SaleKeys::new(sale_id);
        let (mode, fields) = match change {
            RoundChange::Put(spec) => ("put", spec_fields(spec)),
            RoundChange::CreateIfAbsent(spec) => ("create", spec_fields(spec)),
            RoundChange::Reset { stock } => (
                "reset",
                stock.iter().map(|s| ("stock", s.to_string())).collect(),
            ),
        };
        let mut invocation = self.start_round_script.prepare_invoke();
        invocation
            .key(&keys.sale)
            .key(&keys.users)
            .key(&keys.idempotency)
            .key(&keys.rounds)
            .arg(mode)
            .arg(ROUNDS_CHANNEL)
            .arg(sale_id.as_str());
        for (field, value) in &fields {
            invocation.arg(*field).arg(value);
        }
        let (outcome, _round): (String, u64) = self
            .with_conn(|mut conn| async move {
                // Outside the script because the set lives in another slot. Before it, so a sale
                // whose outbox can hold entries is always in the set the relay scans; an id
                // added for a script that then fails is harmless.
                conn.sadd::<_, _, ()>(SALES_SET, sale_id.as_str()).await?;
                Ok(invocation.invoke_async(&mut *conn).await?)
            })
            .await?;
        match outcome.as_str() {
            "created" => Ok(RoundOutcome::Created),
            "replaced" => Ok(RoundOutcome::Replaced),
            "reset" => Ok(RoundOutcome::Reset),
            "exists" => Ok(RoundOutcome::AlreadyExists),
            "not_found" => Ok(RoundOutcome::NotFound),
            other => Err(StoreError::Corrupt(format!(
                "sale_start_round answered {other:?}"
            ))),
        }
    }

    /// A sale's current round and strategy (one small read, for the strategy cache); `None`
    /// when no sale has this id.
    pub async fn sale_strategy(
        &self,
        sale_id: &SaleId,
    ) -> Result<Option<(u64, Strategy)>, StoreError> {
        let key = SaleKeys::new(sale_id).sale;
        let (round, strategy): (Option<u64>, Option<String>) = self
            .with_conn(|mut conn| async move {
                Ok(redis::cmd("HMGET")
                    .arg(key)
                    .arg("round")
                    .arg("strategy")
                    .query_async(&mut *conn)
                    .await?)
            })
            .await?;
        round
            .map(|round| Ok((round, parse_strategy(strategy.as_deref())?)))
            .transpose()
    }

    /// Reads a sale; `None` when no sale has this id.
    pub async fn sale(&self, sale_id: &SaleId) -> Result<Option<Sale>, StoreError> {
        let key = SaleKeys::new(sale_id).sale;
        let fields: HashMap<String, String> = self
            .with_conn(|mut conn| async move { Ok(conn.hgetall(key).await?) })
            .await?;
        if fields.is_empty() {
            return Ok(None);
        }
        parse_sale(sale_id, &fields).map(Some)
    }

    /// Runs one reservation script for a batch of purchases of one sale and records, for every
    /// purchase that took stock, which sale it belongs to (for lookups by purchase id).
    ///
    /// Returns one outcome per reservation, in order.
    #[tracing::instrument(skip_all, fields(sale_id = %sale_id, batch = batch.len()))]
    pub async fn reserve(
        &self,
        sale_id: &SaleId,
        batch: &[Reservation],
    ) -> Result<Vec<ReserveOutcome>, StoreError> {
        let keys = SaleKeys::new(sale_id);
        let mut invocation = self.reserve_script.prepare_invoke();
        invocation
            .key(&keys.sale)
            .key(&keys.users)
            .key(&keys.idempotency)
            .key(&keys.purchases)
            .key(&keys.outbox);
        for r in batch {
            invocation
                .arg(r.purchase_id.to_string())
                .arg(r.user_id.as_str())
                .arg(r.quantity.get())
                .arg(r.idempotency_key.as_ref().map_or("", |k| k.as_str()));
        }
        self.with_conn(|mut conn| async move {
            let replies: Vec<ReserveReply> = invocation.invoke_async(&mut *conn).await?;
            if replies.len() != batch.len() {
                return Err(StoreError::Corrupt(format!(
                    "purchase_reserve answered {} results for {} purchases",
                    replies.len(),
                    batch.len()
                )));
            }
            let outcomes = batch
                .iter()
                .zip(replies)
                .map(|(r, reply)| reserve_outcome(sale_id, &r.user_id, reply))
                .collect::<Result<Vec<_>, _>>()?;
            // The index lives outside the sale's slot, so it cannot be part of the script. If the
            // process dies before this line, the buyer got no answer and the purchase is still
            // in the sale's records and outbox; a retry with the same Idempotency-Key writes it.
            let mut index = redis::pipe();
            for outcome in &outcomes {
                if let ReserveOutcome::Reserved { purchase: p, .. } | ReserveOutcome::Replayed(p) =
                    outcome
                {
                    index
                        .set(purchase_index_key(&p.purchase_id), p.sale_id.as_str())
                        .ignore();
                }
            }
            if !index.is_empty() {
                index.query_async::<()>(&mut *conn).await?;
            }
            Ok(outcomes)
        })
        .await
    }

    /// Reads a purchase by id; `None` when no purchase has this id.
    pub async fn purchase(&self, purchase_id: Uuid) -> Result<Option<Purchase>, StoreError> {
        self.with_conn(|mut conn| async move {
            let Some(sale): Option<String> = conn.get(purchase_index_key(&purchase_id)).await?
            else {
                return Ok(None);
            };
            let sale_id = SaleId::parse(&sale).map_err(|e| StoreError::Corrupt(e.0))?;
            let record: Option<String> = conn
                .hget(SaleKeys::new(&sale_id).purchases, purchase_id.to_string())
                .await?;
            record
                .map(|r| parse_purchase_record(purchase_id, sale_id, &r))
                .transpose()
        })
        .await
    }

    /// Every sale id ever created (the sales whose outboxes the relay watches).
    pub async fn sale_ids(&self) -> Result<Vec<SaleId>, StoreError> {
        let ids: Vec<String> = self
            .with_conn(|mut conn| async move { Ok(conn.smembers(SALES_SET).await?) })
            .await?;
        Ok(ids.iter().filter_map(|id| SaleId::parse(id).ok()).collect())
    }

    /// The Redis server's clock in milliseconds: the one clock every API process shares.
    pub async fn now_ms(&self) -> Result<i64, StoreError> {
        let (secs, micros): (i64, i64) = self
            .with_conn(
                |mut conn| async move { Ok(redis::cmd("TIME").query_async(&mut *conn).await?) },
            )
            .await?;
        Ok(secs * 1000 + micros / 1000)
    }

    /// Up to `count` outbox entries of a sale appended before `before_ms` (Redis time), oldest
    /// first, starting after the entry id `after` (from the oldest when `None`).
    pub async fn outbox_due(
        &self,
        sale_id: &SaleId,
        after: Option<&str>,
        before_ms: i64,
        count: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let key = SaleKeys::new(sale_id).outbox;
        // Stream ids are "<ms>-<seq>"; "(" makes a bound exclusive.
        let start = after.map_or_else(|| "-".to_owned(), |id| format!("({id}"));
        let end = format!("({before_ms}-0");
        let reply: StreamRangeReply = self
            .with_conn(
                |mut conn| async move { Ok(conn.xrange_count(key, start, end, count).await?) },
            )
            .await?;
        reply
            .ids
            .iter()
            .map(|entry| parse_outbox_entry(sale_id, entry))
            .collect()
    }

    /// Removes outbox entries whose events the broker acknowledged.
    pub async fn outbox_ack(
        &self,
        sale_id: &SaleId,
        entry_ids: &[String],
    ) -> Result<(), StoreError> {
        if entry_ids.is_empty() {
            return Ok(());
        }
        let key = SaleKeys::new(sale_id).outbox;
        self.with_conn(|mut conn| async move { Ok(conn.xdel(key, entry_ids).await?) })
            .await
    }

    /// The stock a round started with; `None` for a round that never was.
    pub async fn round_stock(
        &self,
        sale_id: &SaleId,
        round: u64,
    ) -> Result<Option<u64>, StoreError> {
        let key = SaleKeys::new(sale_id).rounds;
        let stock: Option<String> = self
            .with_conn(|mut conn| async move { Ok(conn.hget(key, round).await?) })
            .await?;
        stock
            .map(|s| s.parse().map_err(|_| corrupt("round stock")))
            .transpose()
    }

    /// The strategy a round was sold with (sale_start_round.lua records it with the stock).
    pub async fn round_strategy(
        &self,
        sale_id: &SaleId,
        round: u64,
    ) -> Result<Strategy, StoreError> {
        let key = SaleKeys::new(sale_id).rounds;
        let strategy: Option<String> = self
            .with_conn(
                |mut conn| async move { Ok(conn.hget(key, format!("{round}:strategy")).await?) },
            )
            .await?;
        parse_strategy(strategy.as_deref())
    }

    /// Every purchase a round reserved, read from the sale's purchase records (a full scan:
    /// for audits, not for the purchase path).
    pub async fn purchases_of_round(
        &self,
        sale_id: &SaleId,
        round: u64,
    ) -> Result<Vec<Purchase>, StoreError> {
        let key = SaleKeys::new(sale_id).purchases;
        let records: Vec<(String, String)> = self
            .with_conn(|mut conn| async move {
                let mut iter = conn.hscan::<_, (String, String)>(key).await?;
                let mut records = Vec::new();
                while let Some(record) = iter.next_item().await {
                    records.push(record?);
                }
                Ok(records)
            })
            .await?;
        let mut purchases = Vec::new();
        for (id, record) in records {
            let purchase_id =
                Uuid::parse_str(&id).map_err(|_| corrupt("purchase id is not a uuid"))?;
            let purchase = parse_purchase_record(purchase_id, sale_id.clone(), &record)?;
            if purchase.round == round {
                purchases.push(purchase);
            }
        }
        Ok(purchases)
    }

    /// Every entry of a sale's outbox that belongs to `round`.
    pub async fn outbox_of_round(
        &self,
        sale_id: &SaleId,
        round: u64,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        // Redis takes a COUNT up to i64::MAX: in effect, no limit.
        let mut entries = self
            .outbox_due(sale_id, None, i64::MAX, i64::MAX as usize)
            .await?;
        entries.retain(|entry| entry.event.round == round);
        Ok(entries)
    }

    /// How many reserved purchases of a sale wait in its outbox.
    pub async fn outbox_len(&self, sale_id: &SaleId) -> Result<u64, StoreError> {
        let key = SaleKeys::new(sale_id).outbox;
        self.with_conn(|mut conn| async move { Ok(conn.xlen(key).await?) })
            .await
    }

    /// A dedicated connection for pub/sub (not pooled: it stays subscribed).
    pub async fn subscribe(&self, channel: &str) -> Result<redis::aio::PubSub, StoreError> {
        self.timed(async {
            let mut pubsub = self.client.get_async_pubsub().await?;
            pubsub.subscribe(channel).await?;
            Ok(pubsub)
        })
        .await
    }
}

/// A reserved purchase waiting in a sale's outbox for the broker to acknowledge it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub sale_id: SaleId,
    /// The stream entry id, to acknowledge (delete) the entry once published.
    pub id: String,
    pub event: PurchaseEvent,
}

impl OutboxEntry {
    /// The entry a reservation just appended.
    pub fn reserved(purchase: &Purchase, outbox_id: String) -> Self {
        Self {
            sale_id: purchase.sale_id.clone(),
            id: outbox_id,
            event: PurchaseEvent::from_purchase(purchase),
        }
    }
}

/// Reads the fields purchase_reserve.lua writes with XADD.
fn parse_outbox_entry(sale_id: &SaleId, entry: &StreamId) -> Result<OutboxEntry, StoreError> {
    let field = |name: &str| -> Result<String, StoreError> {
        entry
            .get(name)
            .ok_or_else(|| StoreError::Corrupt(format!("outbox entry {} lacks {name}", entry.id)))
    };
    let number = |name: &str| -> Result<i64, StoreError> {
        field(name)?
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("outbox field {name} is not a number")))
    };
    Ok(OutboxEntry {
        sale_id: sale_id.clone(),
        id: entry.id.clone(),
        event: PurchaseEvent {
            schema_version: SCHEMA_VERSION,
            purchase_id: Uuid::parse_str(&field("purchase_id")?)
                .map_err(|_| corrupt("outbox purchase id"))?,
            sale_id: sale_id.as_str().to_owned(),
            round: u64::try_from(number("round")?).map_err(|_| corrupt("outbox round"))?,
            user_id: field("user_id")?,
            quantity: u32::try_from(number("quantity")?).map_err(|_| corrupt("outbox quantity"))?,
            reserved_at: from_millis(number("reserved_at_ms")?)?,
        },
    })
}

fn spec_fields(spec: &SaleSpec) -> Vec<(&'static str, String)> {
    let millis =
        |t: Option<DateTime<Utc>>| t.map_or(String::new(), |t| t.timestamp_millis().to_string());
    vec![
        ("name", spec.name.clone()),
        ("stock", spec.stock.to_string()),
        ("per_user_limit", spec.per_user_limit.to_string()),
        ("starts_at_ms", millis(spec.starts_at)),
        ("ends_at_ms", millis(spec.ends_at)),
        ("strategy", spec.strategy.as_str().to_owned()),
    ]
}

/// Sales created before strategies existed have no `strategy` field: they are `async`.
fn parse_strategy(raw: Option<&str>) -> Result<Strategy, StoreError> {
    raw.map_or(Ok(Strategy::default()), |s| {
        Strategy::parse(s).map_err(|_| corrupt("unknown sale strategy"))
    })
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

fn from_millis(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| corrupt("timestamp out of range"))
}

fn parse_sale(sale_id: &SaleId, fields: &HashMap<String, String>) -> Result<Sale, StoreError> {
    let field = |name: &str| {
        fields
            .get(name)
            .ok_or_else(|| StoreError::Corrupt(format!("sale field {name} missing")))
    };
    let number = |name: &str| -> Result<u64, StoreError> {
        field(name)?
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("sale field {name} is not a number")))
    };
    let instant = |name: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
        match field(name)?.as_str() {
            "" => Ok(None),
            ms => from_millis(ms.parse().map_err(|_| corrupt("bad sale timestamp"))?).map(Some),
        }
    };
    let stock = number("stock")?;
    let remaining = number("remaining")?;
    let starts_at = instant("starts_at_ms")?;
    let ends_at = instant("ends_at_ms")?;
    Ok(Sale {
        sale_id: sale_id.clone(),
        name: field("name")?.clone(),
        round: number("round")?,
        stock,
        remaining,
        sold: stock.saturating_sub(remaining),
        per_user_limit: u32::try_from(number("per_user_limit")?)
            .map_err(|_| corrupt("per_user_limit too large"))?,
        starts_at,
        ends_at,
        status: Sale::status_at(Utc::now(), starts_at, ends_at, remaining),
        strategy: parse_strategy(fields.get("strategy").map(String::as_str))?,
    })
}

/// One row of purchase_reserve.lua's reply.
type ReserveReply = (String, String, u64, u32, u64, i64, String);

fn reserve_outcome(
    sale_id: &SaleId,
    user_id: &UserId,
    (outcome, purchase_id, round, quantity, remaining, reserved_at_ms, outbox_id): ReserveReply,
) -> Result<ReserveOutcome, StoreError> {
    let purchase = || -> Result<Purchase, StoreError> {
        Ok(Purchase {
            purchase_id: Uuid::parse_str(&purchase_id)
                .map_err(|_| corrupt("purchase id is not a uuid"))?,
            sale_id: sale_id.clone(),
            round,
            user_id: user_id.clone(),
            quantity,
            status: PurchaseStatus::Reserved,
            remaining,
            reserved_at: from_millis(reserved_at_ms)?,
        })
    };
    Ok(match outcome.as_str() {
        "reserved" => ReserveOutcome::Reserved {
            purchase: purchase()?,
            outbox_id,
        },
        "replayed" => ReserveOutcome::Replayed(purchase()?),
        "key_reused" => ReserveOutcome::KeyReused,
        "not_found" => ReserveOutcome::SaleNotFound,
        "not_active" => ReserveOutcome::SaleNotActive,
        "limit_reached" => ReserveOutcome::LimitReached,
        "sold_out" => ReserveOutcome::SoldOut { round, remaining },
        "moved" => ReserveOutcome::StrategyChanged,
        other => {
            return Err(StoreError::Corrupt(format!(
                "purchase_reserve answered {other:?}"
            )))
        }
    })
}

/// Parses `"round|quantity|reserved_at_ms|remaining|user_id"` (see purchase_reserve.lua).
fn parse_purchase_record(
    purchase_id: Uuid,
    sale_id: SaleId,
    record: &str,
) -> Result<Purchase, StoreError> {
    let bad = || corrupt("malformed purchase record");
    let mut parts = record.splitn(5, '|');
    let mut next_number =
        || -> Result<u64, StoreError> { parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad) };
    let round = next_number()?;
    let quantity = u32::try_from(next_number()?).map_err(|_| bad())?;
    let reserved_at = from_millis(i64::try_from(next_number()?).map_err(|_| bad())?)?;
    let remaining = next_number()?;
    let user_id = parts
        .next()
        .and_then(|u| UserId::parse(u).ok())
        .ok_or_else(bad)?;
    Ok(Purchase {
        purchase_id,
        sale_id,
        round,
        user_id,
        quantity,
        status: PurchaseStatus::Reserved,
        remaining,
        reserved_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_of_a_sale_shares_its_hash_tag() {
        let keys = SaleKeys::new(&SaleId::parse("phones").expect("valid id"));
        for key in [
            keys.sale,
            keys.users,
            keys.idempotency,
            keys.purchases,
            keys.outbox,
        ] {
            assert!(key.starts_with("fs:{phones}:"), "{key}");
        }
    }

    #[test]
    fn purchase_records_round_trip_user_ids_with_separators() {
        let id = Uuid::new_v4();
        let sale = SaleId::parse("s").expect("valid id");
        let p = parse_purchase_record(id, sale, "3|2|1764000000000|98|user:1.a-b").expect("parses");
        assert_eq!(
            (p.round, p.quantity, p.remaining, p.user_id.as_str()),
            (3, 2, 98, "user:1.a-b")
        );
        assert_eq!(p.reserved_at.timestamp_millis(), 1_764_000_000_000);
        let sale = SaleId::parse("s").expect("valid id");
        assert!(parse_purchase_record(id, sale, "3|2|x|98|u").is_err());
    }
}
