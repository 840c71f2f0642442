//! The waitlist: `waitlist_change.lua` lets a buyer join a sold-out sale's waitlist or leave
//! it, and an entry is read with its offer; the offers themselves are made by the offer library
//! (`offers.rs` + `waitlist_offer.lua`), which the scripts that free units (`holds/`,
//! `sales/stock.rs`) run in front of theirs.

use std::sync::LazyLock;

use redis::Script;
use uuid::Uuid;

pub(super) mod offers;

use self::offers::offering;
use super::client::{corrupt, from_millis, Store, StoreError};
use super::holds::record::parse_hold;
use super::keys::{purchase_index_key, SaleKeys};
use super::reservations::record::parse_purchase_record;
use crate::domain::{SaleId, UserId, WaitlistEntry, WaitlistJoin, WaitlistLeave, WaitlistState};

static CHANGE: LazyLock<Script> = LazyLock::new(|| offering(include_str!("waitlist_change.lua")));

/// `{outcome, entry record, position, round of the sale}` (see waitlist_change.lua).
type ChangeReply = (String, String, u64, u64);

/// The waitlists of every sale. Cheap to clone.
#[derive(Clone)]
pub struct Waitlist {
    pub(super) redis: Store,
}

impl Waitlist {
    /// Puts `user_id` on the waitlist of `sale_id`, or says why not.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn join(
        &self,
        sale_id: &SaleId,
        user_id: &UserId,
    ) -> Result<WaitlistJoin, StoreError> {
        let entry_id = Uuid::new_v4();
        let (outcome, record, position, round) = self
            .change(sale_id, &["join", &entry_id.to_string(), user_id.as_str()])
            .await?;
        let entry = || parse_entry(entry_id, sale_id, &record, round, position);
        Ok(match outcome.as_str() {
            "joined" => WaitlistJoin::Joined(Box::new(entry()?)),
            "not_found" => WaitlistJoin::SaleNotFound,
            "no_holds" => WaitlistJoin::NoHolds,
            "not_active" => WaitlistJoin::NotActive,
            "not_sold_out" => WaitlistJoin::NotSoldOut,
            "limit_reached" => WaitlistJoin::LimitReached,
            "already_waitlisted" => WaitlistJoin::AlreadyWaitlisted,
            other => return Err(unexpected(other)),
        })
    }

    /// Takes an entry off the waitlist while it waits.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn leave(
        &self,
        sale_id: &SaleId,
        entry_id: Uuid,
    ) -> Result<WaitlistLeave, StoreError> {
        let (outcome, record, position, round) = self
            .change(sale_id, &["leave", &entry_id.to_string()])
            .await?;
        let entry = || parse_entry(entry_id, sale_id, &record, round, position);
        Ok(match outcome.as_str() {
            "left" => WaitlistLeave::Left(Box::new(entry()?)),
            "not_found" => WaitlistLeave::NotFound,
            "not_waiting" => WaitlistLeave::NotWaiting(Box::new(entry()?)),
            other => return Err(unexpected(other)),
        })
    }

    /// An entry as it stands, with its offer (and the offer's `hold_token`) once it has one;
    /// `None` when the sale has no such entry.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn entry(
        &self,
        sale_id: &SaleId,
        entry_id: Uuid,
    ) -> Result<Option<WaitlistEntry>, StoreError> {
        let keys = SaleKeys::new(sale_id);
        let id = entry_id.to_string();
        self.redis
            .with_conn(|mut conn| async move {
                let (record, round, rank): (Option<String>, Option<u64>, Option<u64>) =
                    redis::pipe()
                        .hget(&keys.waitlist_entries, &id)
                        .hget(&keys.sale, "round")
                        .zrank(&keys.waitlist, &id)
                        .query_async(&mut *conn)
                        .await?;
                let Some(record) = record else {
                    return Ok(None);
                };
                let position = rank.map_or(0, |rank| rank + 1);
                let mut entry =
                    parse_entry(entry_id, sale_id, &record, round.unwrap_or(0), position)?;
                let Some(purchase_id) = offer_of(&record)? else {
                    return Ok(Some(entry));
                };
                let (purchase, hold): (Option<String>, Option<String>) = redis::pipe()
                    .hget(&keys.purchases, purchase_id.to_string())
                    .hget(&keys.holds, purchase_id.to_string())
                    // Repairs the index should the process that made the offer have died before
                    // writing it, so the offer can be paid and cancelled by its id.
                    .set_nx(purchase_index_key(&purchase_id), sale_id.as_str())
                    .ignore()
                    .query_async(&mut *conn)
                    .await?;
                let (Some(purchase), Some(hold)) = (purchase, hold) else {
                    return Err(corrupt("an offer without its purchase or hold"));
                };
                let purchase = parse_purchase_record(purchase_id, sale_id.clone(), &purchase)?;
                // The entry id is the buyer's secret, so its reader sees the token.
                entry.offer = Some(purchase.with_hold(parse_hold(&hold)?, true));
                Ok(Some(entry))
            })
            .await
    }

    async fn change(&self, sale_id: &SaleId, args: &[&str]) -> Result<ChangeReply, StoreError> {
        let keys = SaleKeys::new(sale_id);
        let mut invocation = CHANGE.prepare_invoke();
        invocation
            .key(keys.sale)
            .key(keys.users)
            .key(keys.waitlist)
            .key(keys.waitlist_entries)
            .key(keys.waitlisted);
        for arg in args {
            invocation.arg(*arg);
        }
        self.redis
            .with_conn(|mut conn| async move { Ok(invocation.invoke_async(&mut *conn).await?) })
            .await
    }
}

fn unexpected(outcome: &str) -> StoreError {
    StoreError::Corrupt(format!("waitlist_change answered {outcome:?}"))
}

/// The purchase id of the offer an entry record names, if any.
pub(crate) fn offer_of(record: &str) -> Result<Option<Uuid>, StoreError> {
    match record.split('|').nth(4) {
        Some("") => Ok(None),
        Some(id) => Uuid::parse_str(id)
            .map(Some)
            .map_err(|_| corrupt("malformed waitlist entry")),
        None => Err(corrupt("malformed waitlist entry")),
    }
}

/// Parses `round|arrival|joined_at_ms|state|purchase_id|user_id`; a waiting entry of an
/// earlier round than `current_round` has ended. `position` is 1-based, 0 when not waiting.
pub(crate) fn parse_entry(
    entry_id: Uuid,
    sale_id: &SaleId,
    record: &str,
    current_round: u64,
    position: u64,
) -> Result<WaitlistEntry, StoreError> {
    let bad = || corrupt("malformed waitlist entry");
    let parts: Vec<&str> = record.splitn(6, '|').collect();
    let [round, _arrival, joined_at, state, _purchase_id, user] = parts[..] else {
        return Err(bad());
    };
    let round: u64 = round.parse().map_err(|_| bad())?;
    let mut state = WaitlistState::parse_stored(state).ok_or_else(bad)?;
    if state == WaitlistState::Waiting && round < current_round {
        state = WaitlistState::Ended;
    }
    Ok(WaitlistEntry {
        entry_id,
        sale_id: sale_id.clone(),
        round,
        user_id: UserId::parse(user).map_err(|_| bad())?,
        state,
        position: (state == WaitlistState::Waiting && position > 0).then_some(position),
        joined_at: from_millis(joined_at.parse().map_err(|_| bad())?)?,
        offer: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse_and_a_waiting_entry_of_an_earlier_round_has_ended() {
        let sale = SaleId::parse("s").expect("valid id");
        let id = Uuid::new_v4();
        let waiting =
            parse_entry(id, &sale, "2|7|1764000000000|waiting||u:1", 2, 3).expect("parses");
        assert_eq!(
            (waiting.state, waiting.position, waiting.user_id.as_str()),
            (WaitlistState::Waiting, Some(3), "u:1")
        );
        let ended = parse_entry(id, &sale, "1|7|1764000000000|waiting||u", 2, 0).expect("parses");
        assert_eq!((ended.state, ended.position), (WaitlistState::Ended, None));
        let offer = Uuid::new_v4();
        let record = format!("2|7|1764000000000|offered|{offer}|u");
        assert_eq!(offer_of(&record).expect("parses"), Some(offer));
        assert!(parse_entry(id, &sale, "2|7|x|waiting||u", 2, 0).is_err());
        assert!(parse_entry(id, &sale, "2|7|1|sold||u", 2, 0).is_err());
    }
}
