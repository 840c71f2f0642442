//! Checkout holds: `hold_settle.lua` ends a hold exactly once (paid, cancelled or expired),
//! whoever asks first: the shop's payment, the buyer's (or the admin's) cancel, or the reaper
//! of any API process. `purchase_reserve.lua` makes the holds; the units a cancel or an expiry
//! releases go to the sale's waitlist first (the offer library of `waitlist/`, put in front of
//! the script). The reapers find the sales to look at in the set of sales with holds.

use std::sync::LazyLock;

use redis::Script;
use uuid::Uuid;

pub(super) mod record;

use self::record::parse_hold;
use super::client::{Store, StoreError};
use super::keys::{SaleKeys, HOLD_SALES_SET};
use super::reservations::index::index_offers;
use super::waitlist::offers::{offer_seed, offering, with_offer_keys};
use crate::domain::{PaymentRef, SaleId, Settlement};

static SETTLE: LazyLock<Script> = LazyLock::new(|| offering(include_str!("hold_settle.lua")));

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

/// The holds of every sale: ending them, one by one or by the reaper's batch. Cheap to clone.
#[derive(Clone)]
pub struct Holds {
    pub(super) redis: Store,
}

impl Holds {
    /// Pays or cancels a hold of `sale_id`, or finds why not.
    #[tracing::instrument(level = "debug", skip(self, action))]
    pub async fn settle(
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
            .redis
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
    pub async fn reap(&self, sale_id: &SaleId, max: usize) -> Result<Reaped, StoreError> {
        let mut invocation = settle_invocation(sale_id, "reap");
        invocation.arg(max.max(1));
        let (more, lags, offered, held, waiting) = self
            .redis
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

    /// Every sale id whose round ever had holds (the sales the hold reapers look at).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn sale_ids(&self) -> Result<Vec<SaleId>, StoreError> {
        self.redis.sale_ids_in(HOLD_SALES_SET).await
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
