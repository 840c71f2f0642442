//! Sales and rounds: `sale_start_round.lua` creates, replaces or resets a sale (each starts a
//! new round and announces it), the reads of a sale and the set of every sale id; stock changes
//! within a round (`stock.rs`) and the round announcements (`announcements.rs`).

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use redis::{AsyncCommands, Script};

// Their own `impl Sales` blocks; the types they declare are re-exported by `store/mod.rs`.
pub(super) mod announcements;
pub(super) mod record;
pub(super) mod stock;

use self::record::{parse_sale, parse_strategy};
use super::client::{Store, StoreError};
use super::keys::{SaleKeys, ADMISSION_SALES_SET, HOLD_SALES_SET, ROUNDS_CHANNEL, SALES_SET};
use crate::domain::{Sale, SaleId, SaleSpec, Strategy};

static START_ROUND: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("sale_start_round.lua")));

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

/// The sales of this deployment and their rounds. Cheap to clone.
#[derive(Clone)]
pub struct Sales {
    pub(super) redis: Store,
}

impl Sales {
    /// Creates, replaces or resets a sale, starting a new round above both the sale's last
    /// round in Redis and `floor` (the last round PostgreSQL remembers, for a sale Redis lost;
    /// 0 when there is nothing to remember).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn start_round(
        &self,
        sale_id: &SaleId,
        change: &RoundChange,
        floor: u64,
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
        let has_holds = matches!(
            change,
            RoundChange::Put(spec) | RoundChange::CreateIfAbsent(spec) if spec.hold_seconds > 0
        );
        // A reset keeps the sale's admission, which is not known here: the admitters look, and
        // forget the sale again if it has no waiting room.
        let has_waiting_room = match change {
            RoundChange::Put(spec) | RoundChange::CreateIfAbsent(spec) => {
                spec.admission.mode.is_gated()
            }
            RoundChange::Reset { .. } => true,
        };
        let mut invocation = START_ROUND.prepare_invoke();
        invocation
            .key(&keys.sale)
            .key(&keys.users)
            .key(&keys.idempotency)
            .key(&keys.rounds)
            .key(&keys.waitlist)
            .key(&keys.waitlisted)
            .key(&keys.tokens_used)
            .key(&keys.queue_tickets)
            .key(&keys.queue_users)
            .key(&keys.queue_lobby)
            .key(&keys.queue_state)
            .key(&keys.queue_admissions)
            .arg(mode)
            .arg(ROUNDS_CHANNEL)
            .arg(sale_id.as_str())
            .arg(floor);
        for (field, value) in &fields {
            invocation.arg(*field).arg(value);
        }
        let (outcome, _round): (String, u64) = self
            .redis
            .with_conn(|mut conn| async move {
                // Outside the script because the set lives in another slot. Before it, so a sale
                // whose outbox can hold entries is always in the set the relay scans; an id
                // added for a script that then fails is harmless.
                conn.sadd::<_, _, ()>(SALES_SET, sale_id.as_str()).await?;
                // Likewise for the reapers, which look only at sales that may have holds.
                if has_holds {
                    conn.sadd::<_, _, ()>(HOLD_SALES_SET, sale_id.as_str())
                        .await?;
                }
                // And for the admitters, which look only at sales that may have a waiting room.
                if has_waiting_room {
                    conn.sadd::<_, _, ()>(ADMISSION_SALES_SET, sale_id.as_str())
                        .await?;
                }
                let answer = invocation.invoke_async(&mut *conn).await?;
                // Again after it: an admitter that stepped the sale between the first add and
                // the script found no waiting room yet and forgot the sale (api/admitter.rs
                // checks again after forgetting, which covers a step that began before this).
                if has_waiting_room {
                    conn.sadd::<_, _, ()>(ADMISSION_SALES_SET, sale_id.as_str())
                        .await?;
                }
                Ok(answer)
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
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn strategy(&self, sale_id: &SaleId) -> Result<Option<(u64, Strategy)>, StoreError> {
        let key = SaleKeys::new(sale_id).sale;
        let (round, strategy): (Option<u64>, Option<String>) = self
            .redis
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
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn sale(&self, sale_id: &SaleId) -> Result<Option<Sale>, StoreError> {
        let key = SaleKeys::new(sale_id).sale;
        let fields: HashMap<String, String> = self
            .redis
            .with_conn(|mut conn| async move { Ok(conn.hgetall(key).await?) })
            .await?;
        if fields.is_empty() {
            return Ok(None);
        }
        parse_sale(sale_id, &fields).map(Some)
    }

    /// Every sale id ever created (the sales whose outboxes the relay watches).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn sale_ids(&self) -> Result<Vec<SaleId>, StoreError> {
        self.redis.sale_ids_in(SALES_SET).await
    }
}

/// The sale's fields as sale_start_round.lua takes them.
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
        ("durability", spec.durability.as_str().to_owned()),
        ("hold_seconds", spec.hold_seconds.to_string()),
        ("admission_mode", spec.admission.mode.as_str().to_owned()),
        ("admission_rate", spec.admission.rate_per_second.to_string()),
        (
            "admission_token_seconds",
            spec.admission.token_seconds.to_string(),
        ),
    ]
}
