//! Sales and rounds: `sale_start_round.lua` creates, replaces or resets a sale (each starts a
//! new round and announces it), and the reads of a sale.

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use redis::{AsyncCommands, Script};

use super::client::{corrupt, from_millis, Store, StoreError};
use super::keys::{SaleKeys, ADMISSION_SALES_SET, HOLD_SALES_SET, ROUNDS_CHANNEL, SALES_SET};
use crate::domain::{Admission, AdmissionMode, Durability, Sale, SaleId, SaleSpec, Strategy};

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

impl Store {
    /// Creates, replaces or resets a sale, starting a new round.
    #[tracing::instrument(level = "debug", skip(self))]
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
    #[tracing::instrument(level = "debug", skip(self))]
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

    /// Every sale id whose round ever had holds (the sales the hold reapers look at).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn hold_sale_ids(&self) -> Result<Vec<SaleId>, StoreError> {
        self.sale_ids_in(HOLD_SALES_SET).await
    }

    /// Every sale id whose round ever had a waiting room (the sales the admitters look at).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn admission_sale_ids(&self) -> Result<Vec<SaleId>, StoreError> {
        self.sale_ids_in(ADMISSION_SALES_SET).await
    }

    /// Every sale id ever created (the sales whose outboxes the relay watches).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn sale_ids(&self) -> Result<Vec<SaleId>, StoreError> {
        self.sale_ids_in(SALES_SET).await
    }

    /// The sale ids in the set `set` (ids that no longer parse are skipped).
    async fn sale_ids_in(&self, set: &'static str) -> Result<Vec<SaleId>, StoreError> {
        let ids: Vec<String> = self
            .with_conn(|mut conn| async move { Ok(conn.smembers(set).await?) })
            .await?;
        Ok(ids.iter().filter_map(|id| SaleId::parse(id).ok()).collect())
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

/// Sales created before strategies existed have no `strategy` field: they are `async`.
pub(super) fn parse_strategy(raw: Option<&str>) -> Result<Strategy, StoreError> {
    raw.map_or(Ok(Strategy::default()), |s| {
        Strategy::parse(s).map_err(|_| corrupt("unknown sale strategy"))
    })
}

/// Sales created before durabilities existed have no `durability` field: they are `fast`.
pub(super) fn parse_durability(raw: Option<&str>) -> Result<Durability, StoreError> {
    raw.map_or(Ok(Durability::default()), |d| {
        Durability::parse(d).map_err(|_| corrupt("unknown sale durability"))
    })
}

/// Reads the sale hash sale_start_round.lua writes (and purchase_reserve.lua updates).
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
    let optional_number = |name: &str| -> Result<u64, StoreError> {
        fields.get(name).map_or(Ok(0), |_| number(name))
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
        durability: parse_durability(fields.get("durability").map(String::as_str))?,
        // Absent on sales made before holds, and until a round's first hold.
        hold_seconds: optional_number("hold_seconds")?
            .try_into()
            .map_err(|_| corrupt("hold_seconds too large"))?,
        held: optional_number("held")?,
        paid: optional_number("paid")?,
        // Absent until the round's first waitlist entry and offer.
        waiting: optional_number("waiting")?,
        offered: optional_number("offered")?,
        // Absent on sales made before admission: they are `open`.
        admission: Admission {
            mode: fields
                .get("admission_mode")
                .map_or(Ok(AdmissionMode::Open), |mode| {
                    AdmissionMode::parse(mode).map_err(|_| corrupt("unknown admission mode"))
                })?,
            rate_per_second: optional_number("admission_rate")?
                .try_into()
                .map_err(|_| corrupt("admission_rate too large"))?,
            token_seconds: optional_number("admission_token_seconds")?
                .try_into()
                .map_err(|_| corrupt("admission_token_seconds too large"))?,
        },
    })
}
