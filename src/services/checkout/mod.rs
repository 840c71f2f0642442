//! Checkout: the holds, and the waitlist the units they release go to. A payment or a cancel
//! settles one hold ([`Checkout::settle`]), the reaper expires the due ones
//! ([`Checkout::expire_due`], run by [`reaper`]), and the admin changes a live round's stock
//! ([`Checkout::change_stock`]). Each asks Redis in one script call, and whatever it ended or
//! offered to waitlisted buyers is published and counted the same way ([`Checkout::publish`]).
//! Buyers join a sold-out sale's waitlist, read their entry (its offer, once made: a hold of
//! its own) and leave it here too.

pub mod reaper;

use actix::Recipient;
use uuid::Uuid;

use crate::actors::producer::Nudge;
use crate::caches::sold_out::SoldOutCache;
use crate::domain::{
    HoldState, Purchase, SaleId, Settlement, StockChange, UserId, WaitlistEntry, WaitlistJoin,
    WaitlistLeave,
};
use crate::runtime::telemetry::names;
use crate::store::{
    HoldAction, Holds, Reservations, Sales, Settled, StockOutcome, StoreError, Waitlist,
};

/// Settles, expires and restocks holds, publishes what that changed, and keeps the waitlists.
pub struct Checkout {
    /// Where a hold's purchase is found by its id.
    reservations: Reservations,
    holds: Holds,
    /// Where buyers wait for the units holds release.
    waitlist: Waitlist,
    /// Where a live round's stock changes.
    sales: Sales,
    sold_out: SoldOutCache,
    /// Nudged after every change, so its events go out at once rather than at its next sweep.
    producer: Recipient<Nudge>,
}

impl Checkout {
    pub fn new(
        reservations: Reservations,
        holds: Holds,
        waitlist: Waitlist,
        sales: Sales,
        sold_out: SoldOutCache,
        producer: Recipient<Nudge>,
    ) -> Self {
        // Listed from the first scrape, before anything ends.
        for state in [HoldState::Paid, HoldState::Cancelled, HoldState::Expired] {
            metrics::counter!(names::HOLDS_ENDED, "state" => state.as_str()).increment(0);
        }
        metrics::counter!(names::WAITLIST_OFFERS).increment(0);
        metrics::counter!(names::LATE_PAYMENTS_REFUSED).increment(0);
        Self {
            reservations,
            holds,
            waitlist,
            sales,
            sold_out,
            producer,
        }
    }

    /// Has Redis end the hold as asked: the purchase and what became of its hold; `None` when
    /// no purchase has this id. A payment refused because the hold expired is counted as late.
    pub async fn settle(
        &self,
        purchase_id: Uuid,
        action: HoldAction<'_>,
    ) -> Result<Option<(Purchase, Settlement)>, StoreError> {
        let Some(purchase) = self.reservations.purchase(purchase_id).await? else {
            return Ok(None);
        };
        let sale_id = purchase.sale_id.clone();
        let Settled {
            settlement,
            ended,
            offered,
        } = self.holds.settle(&sale_id, purchase_id, action).await?;
        let end = match &settlement {
            Settlement::Settled(hold) | Settlement::Refused(hold) if ended => Some(hold.state),
            _ => None,
        };
        self.publish(&sale_id, end.map(|state| (state, 1)), offered);
        if let (HoldAction::Pay(_), Settlement::Refused(hold)) = (action, &settlement) {
            if hold.state == HoldState::Expired {
                metrics::counter!(names::LATE_PAYMENTS_REFUSED).increment(1);
            }
        }
        Ok(Some((purchase, settlement)))
    }

    /// Adds units to or removes units from the sale's current round. Units added go to the
    /// waitlist first, and clear this process's sold-out flag at once; other processes trust
    /// theirs for at most `FLASHSALE_SOLD_OUT_TTL_MS`, then ask Redis again.
    pub async fn change_stock(
        &self,
        sale_id: &SaleId,
        change: StockChange,
    ) -> Result<StockOutcome, StoreError> {
        let outcome = self.sales.change_stock(sale_id, change).await?;
        if let StockOutcome::Changed { offered, .. } = outcome {
            self.sold_out.rounds().forget(sale_id);
            self.publish(sale_id, None, offered);
        }
        Ok(outcome)
    }

    /// The sales whose rounds ever had holds: the ones [`Self::expire_due`] has work in.
    pub async fn sales_with_holds(&self) -> Result<Vec<SaleId>, StoreError> {
        self.holds.sale_ids().await
    }

    /// Expires up to `batch` holds of the sale whose deadline passed; `true` when the batch
    /// was full, so more may be due. The last call on a sale (`false`) sets its gauges of
    /// units held and buyers waiting, as Redis holds them.
    pub async fn expire_due(&self, sale_id: &SaleId, batch: usize) -> Result<bool, StoreError> {
        let reaped = self.holds.reap(sale_id, batch).await?;
        let expired = reaped.lags_ms.len();
        if expired > 0 {
            tracing::debug!(%sale_id, expired, "holds expired");
            let lag = metrics::histogram!(names::REAPER_LAG_SECONDS);
            for lag_ms in &reaped.lags_ms {
                lag.record(*lag_ms as f64 / 1000.0);
            }
        }
        self.publish(sale_id, Some((HoldState::Expired, expired)), reaped.offered);
        if !reaped.more {
            let sale = sale_id.as_str().to_owned();
            metrics::gauge!(names::HOLDS_ACTIVE, "sale_id" => sale.clone()).set(reaped.held as f64);
            metrics::gauge!(names::WAITLIST_LENGTH, "sale_id" => sale).set(reaped.waiting as f64);
        }
        Ok(reaped.more)
    }

    /// Puts `user_id` on the sale's waitlist, or says why not.
    pub async fn join_waitlist(
        &self,
        sale_id: &SaleId,
        user_id: &UserId,
    ) -> Result<WaitlistJoin, StoreError> {
        self.waitlist.join(sale_id, user_id).await
    }

    /// The entry as it stands, with its offer once it has one; `None`: no such entry.
    pub async fn waitlist_entry(
        &self,
        sale_id: &SaleId,
        entry_id: Uuid,
    ) -> Result<Option<WaitlistEntry>, StoreError> {
        self.waitlist.entry(sale_id, entry_id).await
    }

    /// Takes the entry off the waitlist while it waits.
    pub async fn leave_waitlist(
        &self,
        sale_id: &SaleId,
        entry_id: Uuid,
    ) -> Result<WaitlistLeave, StoreError> {
        self.waitlist.leave(sale_id, entry_id).await
    }

    /// After a call that ended holds (`ended`: their state and number) or offered units to
    /// waitlisted buyers: nudges the producer, so their events (those of the offers included)
    /// are published at once, and counts them. A call that changed neither does nothing.
    fn publish(&self, sale_id: &SaleId, ended: Option<(HoldState, usize)>, offered: usize) {
        let ended = ended.filter(|(_, holds)| *holds > 0);
        if ended.is_none() && offered == 0 {
            return;
        }
        Nudge::send(&self.producer, sale_id);
        if let Some((state, holds)) = ended {
            metrics::counter!(names::HOLDS_ENDED, "state" => state.as_str())
                .increment(holds as u64);
        }
        metrics::counter!(names::WAITLIST_OFFERS).increment(offered as u64);
    }
}
