//! Reservations: the rules of a purchase. `purchase_reserve.lua` decides a batch of purchases
//! of one sale in one atomic call (idempotency, the per-user limit, the sale's window, the
//! waiting room's purchase token, stock, the purchase record, the hold, the outbox entry); the
//! lookups of a purchase it recorded; and the purchase index (`index.rs`) that finds a
//! purchase's sale by its id.

use std::sync::LazyLock;

use redis::{AsyncCommands, Script};
use uuid::Uuid;

pub(super) mod index;
pub(super) mod record;

use self::index::index_purchases;
use self::record::parse_purchase_record;
use super::client::{corrupt, from_millis, Store, StoreError};
use super::holds::record::{new_hold_token, parse_hold};
use super::keys::{purchase_index_key, SaleKeys};
use super::sales::record::parse_durability;
use crate::domain::decision::ReserveOutcome;
use crate::domain::{Durability, Purchase, Reservation, SaleId, TokenRefusal, UserId};

static RESERVE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("purchase_reserve.lua")));

/// The purchases of every sale: reserving them and reading them back. Cheap to clone.
#[derive(Clone)]
pub struct Reservations {
    pub(super) redis: Store,
}

impl Reservations {
    /// Runs one reservation script for a batch of purchases of one sale and records, for every
    /// purchase that took stock, which sale it belongs to (for lookups by purchase id).
    ///
    /// Returns the sale's durability as the script read it, and one outcome per reservation,
    /// in order.
    #[tracing::instrument(level = "debug", skip_all, fields(sale_id = %sale_id, batch = batch.len()))]
    pub async fn reserve(
        &self,
        sale_id: &SaleId,
        batch: &[Reservation],
    ) -> Result<(Durability, Vec<ReserveOutcome>), StoreError> {
        let keys = SaleKeys::new(sale_id);
        let mut invocation = RESERVE.prepare_invoke();
        invocation
            .key(&keys.sale)
            .key(&keys.users)
            .key(&keys.idempotency)
            .key(&keys.purchases)
            .key(&keys.outbox)
            .key(&keys.holds)
            .key(&keys.deadlines)
            .key(&keys.tokens_used);
        for r in batch {
            invocation
                .arg(r.purchase_id.to_string())
                .arg(r.user_id.as_str())
                .arg(r.quantity.get())
                .arg(r.idempotency_key.as_ref().map_or("", |k| k.as_str()))
                // Kept only if the sale has holds.
                .arg(new_hold_token())
                // Looked at only if the sale has a waiting room.
                .arg(r.token.as_ref().map_or(String::new(), |t| {
                    format!("{}|{}|{}", t.nonce, t.round, t.expires_at_ms)
                }));
        }
        self.redis
            .with_conn(|mut conn| async move {
                let (durability, replies): (String, Vec<ReserveReply>) =
                    invocation.invoke_async(&mut *conn).await?;
                let durability = parse_durability(Some(&durability))?;
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
                let reserved = outcomes.iter().filter_map(ReserveOutcome::purchase);
                index_purchases(&mut conn, sale_id, reserved.map(|p| p.purchase_id)).await?;
                Ok((durability, outcomes))
            })
            .await
    }

    /// Reads a purchase by id; `None` when no purchase has this id.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn purchase(&self, purchase_id: Uuid) -> Result<Option<Purchase>, StoreError> {
        self.redis
            .with_conn(|mut conn| async move {
                let Some(sale): Option<String> = conn.get(purchase_index_key(&purchase_id)).await?
                else {
                    return Ok(None);
                };
                let sale_id = SaleId::parse(&sale).map_err(|e| StoreError::Corrupt(e.0))?;
                let keys = SaleKeys::new(&sale_id);
                let (record, hold): (Option<String>, Option<String>) = redis::pipe()
                    .hget(&keys.purchases, purchase_id.to_string())
                    .hget(&keys.holds, purchase_id.to_string())
                    .query_async(&mut *conn)
                    .await?;
                let Some(record) = record else {
                    return Ok(None);
                };
                let purchase = parse_purchase_record(purchase_id, sale_id, &record)?;
                Ok(Some(match hold {
                    // The token is the buyer's: never shown on a read.
                    Some(hold) => purchase.with_hold(parse_hold(&hold)?, false),
                    None => purchase,
                }))
            })
            .await
    }
}

/// One row of purchase_reserve.lua's reply:
/// `{outcome, purchase_id, round, quantity, remaining, reserved_at_ms, outbox_id, hold}`.
type ReserveReply = (String, String, u64, u32, u64, i64, String, String);

fn reserve_outcome(
    sale_id: &SaleId,
    user_id: &UserId,
    (outcome, purchase_id, round, quantity, remaining, reserved_at_ms, outbox_id, hold): ReserveReply,
) -> Result<ReserveOutcome, StoreError> {
    let purchase = || -> Result<Purchase, StoreError> {
        let purchase = Purchase::reserved(
            Uuid::parse_str(&purchase_id).map_err(|_| corrupt("purchase id is not a uuid"))?,
            sale_id.clone(),
            user_id.clone(),
            round,
            quantity,
            remaining,
            from_millis(reserved_at_ms)?,
        );
        Ok(match hold.as_str() {
            "" => purchase,
            // The buyer's answer (and its replays) carries the token.
            record => purchase.with_hold(parse_hold(record)?, true),
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
        "token_missing" => ReserveOutcome::TokenRefused(TokenRefusal::Missing),
        "token_expired" => ReserveOutcome::TokenRefused(TokenRefusal::Expired),
        "token_used" => ReserveOutcome::TokenRefused(TokenRefusal::Used),
        other => {
            return Err(StoreError::Corrupt(format!(
                "purchase_reserve answered {other:?}"
            )))
        }
    })
}
