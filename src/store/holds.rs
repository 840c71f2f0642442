//! Checkout holds: `hold_settle.lua` ends a hold exactly once (paid, cancelled or expired),
//! whoever asks first: the shop's payment, the buyer's (or the admin's) cancel, or the reaper
//! of any API process. `purchase_reserve.lua` makes the holds; the units a cancel or an expiry
//! releases go to the sale's waitlist first (`waitlist_offer.lua`, put in front of the script).

use std::sync::LazyLock;

use redis::Script;
use uuid::Uuid;

use super::client::{corrupt, from_millis, Store, StoreError};
use super::index::index_offers;
use super::keys::SaleKeys;
use crate::domain::{Hold, HoldState, PaymentRef, SaleId, Settlement};

static SETTLE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("waitlist_offer.lua"),
        include_str!("hold_settle.lua")
    ))
});

/// What is asked of a hold.
#[derive(Debug, Clone, Copy)]
pub enum HoldAction<'a> {
    Pay(&'a PaymentRef),
    /// The buyer's `hold_token`, or `None`: the admin, who needs none.
    Cancel(Option<&'a str>),
}

/// What a payment or a cancel found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub settlement: Settlement,
    /// This call ended the hold (as asked, or as expired): a transition, not a repeat.
    pub ended: bool,
    /// Units the release went to as offers to waitlisted buyers.
    pub offered: usize,
}

/// What one reaper call did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reaped {
    /// For each hold it expired, how long after its deadline (ms, by the Redis clock).
    pub lags_ms: Vec<u64>,
    /// The batch was full: more holds may be due.
    pub more: bool,
    /// Units the expiries went to as offers to waitlisted buyers (the rest went back on sale).
    pub offered: usize,
    /// The sale's units held (offers included) after the call.
    pub held: u64,
    /// Buyers on the sale's waitlist after the call.
    pub waiting: u64,
}

impl Store {
    /// Pays or cancels a hold of `sale_id`, or finds why not.
    #[tracing::instrument(level = "debug", skip(self, action))]
    pub async fn settle_hold(
        &self,
        sale_id: &SaleId,
        purchase_id: Uuid,
        action: HoldAction<'_>,
    ) -> Result<Settled, StoreError> {
        let (name, argument, admin) = match action {
            HoldAction::Pay(payment_ref) => ("pay", payment_ref.as_str(), ""),
            HoldAction::Cancel(Some(token)) => ("cancel", token, ""),
            HoldAction::Cancel(None) => ("cancel", "", "admin"),
        };
        let mut invocation = settle_invocation(sale_id, name);
        invocation
            .arg(purchase_id.to_string())
            .arg(argument)
            .arg(admin);
        let (result, record, offered, ended) = self
            .with_conn(|mut conn| async move {
                let (result, record, offered, ended): (String, String, Vec<String>, u8) =
                    invocation.invoke_async(&mut *conn).await?;
                index_offers(&mut conn, sale_id, &offered).await?;
                Ok((result, record, offered.len(), ended == 1))
            })
            .await?;
        let hold = || parse_hold(&record);
        let settlement = match result.as_str() {
            "settled" => Settlement::Settled(hold()?),
            "refused" => Settlement::Refused(hold()?),
            "paid_elsewhere" => Settlement::PaidElsewhere(hold()?),
            "wrong_token" => Settlement::WrongToken,
            "not_a_hold" => Settlement::NotAHold,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "hold_settle answered {other:?}"
                )))
            }
        };
        Ok(Settled {
            settlement,
            ended,
            offered,
        })
    }

    /// Expires up to `max` holds of `sale_id` whose deadline passed.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn reap_holds(&self, sale_id: &SaleId, max: usize) -> Result<Reaped, StoreError> {
        let mut invocation = settle_invocation(sale_id, "reap");
        invocation.arg(max.max(1));
        let (more, lags, offered, held, waiting) = self
            .with_conn(|mut conn| async move {
                let (more, lags, offered, held, waiting): (i64, Vec<i64>, Vec<String>, u64, u64) =
                    invocation.invoke_async(&mut *conn).await?;
                index_offers(&mut conn, sale_id, &offered).await?;
                Ok((more, lags, offered.len(), held, waiting))
            })
            .await?;
        Ok(Reaped {
            more: more == 1,
            // A negative lag would be a deadline in the future: the clock went back.
            lags_ms: lags
                .iter()
                .map(|lag| u64::try_from(*lag).unwrap_or(0))
                .collect(),
            offered,
            held,
            waiting,
        })
    }
}

/// The script's keys, its action and a seed for the offers it may make; the action's own
/// arguments follow.
fn settle_invocation(sale_id: &SaleId, action: &str) -> redis::ScriptInvocation<'static> {
    let mut invocation = SETTLE.prepare_invoke();
    with_offer_keys(&mut invocation, &SaleKeys::new(sale_id))
        .arg(action)
        .arg(offer_seed());
    invocation
}

/// Adds the keys `waitlist_offer.lua` works on, in its order: they come first in every script
/// that may offer released or added units to the waitlist (hold_settle, sale_stock_change).
pub(super) fn with_offer_keys<'a>(
    invocation: &'a mut redis::ScriptInvocation<'static>,
    keys: &SaleKeys,
) -> &'a mut redis::ScriptInvocation<'static> {
    invocation
        .key(&keys.sale)
        .key(&keys.users)
        .key(&keys.purchases)
        .key(&keys.holds)
        .key(&keys.deadlines)
        .key(&keys.outbox)
        .key(&keys.waitlist)
        .key(&keys.waitlist_entries)
}

/// A random secret for a script call that may make offers: the new purchase ids and hold
/// tokens are derived from it in Lua (see waitlist_offer.lua).
pub(super) fn offer_seed() -> String {
    Uuid::new_v4().simple().to_string()
}

/// A new hold's secret: 122 random bits, as hex.
pub(super) fn new_hold_token() -> String {
    Uuid::new_v4().simple().to_string()
}

/// Parses a record of the holds hash: `state|expires_at_ms|settled_at_ms|token|payment_ref`.
pub(super) fn parse_hold(record: &str) -> Result<Hold, StoreError> {
    let bad = || corrupt("malformed hold record");
    let mut parts = record.splitn(5, '|');
    let mut next = || parts.next().ok_or_else(bad);
    let state = HoldState::parse(next()?).ok_or_else(bad)?;
    let expires_at = from_millis(next()?.parse().map_err(|_| bad())?)?;
    let settled_at = match next()? {
        "" => None,
        ms => Some(from_millis(ms.parse().map_err(|_| bad())?)?),
    };
    let token = next()?.to_owned();
    let payment_ref = Some(next()?.to_owned()).filter(|r| !r.is_empty());
    Ok(Hold {
        state,
        expires_at,
        settled_at,
        token,
        payment_ref,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hold_records_parse_payment_refs_with_separators() {
        let hold =
            parse_hold("paid|1764000000000|1764000000500|ab12|ref|with|bars").expect("parses");
        assert_eq!(hold.state, HoldState::Paid);
        assert_eq!(hold.payment_ref.as_deref(), Some("ref|with|bars"));
        assert_eq!(
            hold.settled_at.map(|t| t.timestamp_millis()),
            Some(1_764_000_000_500)
        );
        let held = parse_hold("held|1764000000000||ab12|").expect("parses");
        assert_eq!((held.settled_at, held.payment_ref), (None, None));
        assert!(parse_hold("sold|1|2|ab|").is_err());
        assert!(parse_hold("held|x||ab|").is_err());
    }
}
