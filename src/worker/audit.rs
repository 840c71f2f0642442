//! The audit: compares what was sold in a sale's round with what PostgreSQL holds, according to
//! the strategy the round was sold with (recorded with the round's stock).
//!
//! `async` and `redis` reserve in Redis, so Redis is compared with Postgres:
//!
//! | figure | meaning |
//! |---|---|
//! | sold | units reserved in Redis for the round (its purchase records) |
//! | persisted | units in `orders` for the round |
//! | pending | purchases still in the sale's outbox (not yet acknowledged by the broker) |
//! | oversold | units sold or persisted beyond the round's stock |
//! | missing | reserved purchases neither persisted nor pending |
//! | duplicated | orders that match no reserved purchase of the round: a sale written twice, or written without being reserved |
//!
//! A sale with holds (`hold_seconds` > 0) adds these; all are 0 for a sale without holds:
//!
//! | figure | meaning |
//! |---|---|
//! | held, paid, released | units of the round's holds in Redis now held, paid, and released (cancelled or expired); offers are holds, so they are in these too |
//! | offered | units of the round offered to waitlisted buyers (each offer a hold of one unit) |
//! | offers_orphaned | offers a waitlist entry names that are not a purchase of the round, or that more than one entry names: a unit offered and lost, or offered twice |
//! | unaccounted | the current round only: how far `stock` (the round's, with its stock changes) is from `remaining + held + paid` (and the units of purchases that are not holds) in Redis, either way; held counts the offers outstanding; a unit released twice, offered and given back both, or taken and never counted, shows here |
//! | state_mismatched | purchases whose state in Postgres (`orders.state`) is not the one Redis decided, counted once none of their events is still in the outbox |
//! | released_and_paid | purchases whose history in Postgres has both `paid` and a release |
//! | released_twice | purchases whose history has more than one release |
//! | counters_apart | the current round only: Redis's own counters in the sale's hash (`held`, `paid`, `remaining`, `waiting`, `offered`) that differ from what the round's records give: `held`, `paid` and `offered` as above, `remaining` the stock less the units reserved, held and paid, `waiting` the round's waitlist entries still waiting; each named with both figures |
//!
//! The worker keeps every ending a hold is given, a second one that contradicts the first
//! included (a row of its own in `order_history`), so `released_and_paid` and `released_twice`
//! see a hold Redis ended twice.
//!
//! Released units are back on sale, so `oversold` counts the units of a round that were sold
//! and not released.
//!
//! While a sale is being sold, `missing` may count purchases that are between the broker and
//! the worker; it is final once nothing is pending and the worker has caught up, which is why
//! [`Audit::settled`] retries for a while.
//!
//! `naive` and `locking` keep no record outside Postgres: a purchase is its order, written
//! before the 202. So `sold` and `persisted` are both the units in `orders` for the round,
//! `oversold` is the units ordered beyond the stock (what `naive` does under concurrency),
//! and `pending`, `missing` and `duplicated` are 0: there is nothing in flight and no second
//! record to compare with (the `purchase_id` key and the Idempotency-Key index keep each order
//! once).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde::Serialize;
use uuid::Uuid;

use crate::domain::events::EventKind;
use crate::domain::{Sale, SaleId, Strategy};
use crate::postgres::{is_not_migrated, Orders, RoundOrder};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("redis: {0}")]
    Store(#[from] StoreError),
    #[error("postgres: {0}")]
    Database(sqlx::Error),
    #[error("postgres has no orders table yet: the worker applies the migrations when it starts")]
    NotMigrated,
    #[error("sale {0} has no round {1}")]
    NoSuchRound(SaleId, u64),
    #[error("no sale has id {0}")]
    NoSuchSale(SaleId),
}

impl From<sqlx::Error> for AuditError {
    fn from(error: sqlx::Error) -> Self {
        if is_not_migrated(&error) {
            Self::NotMigrated
        } else {
            Self::Database(error)
        }
    }
}

/// The figures of one audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Audit {
    pub sale_id: String,
    pub round: u64,
    pub strategy: Strategy,
    pub stock: u64,
    pub sold: u64,
    pub persisted: u64,
    pub pending: u64,
    pub oversold: u64,
    pub missing: u64,
    pub duplicated: u64,
    pub held: u64,
    pub paid: u64,
    pub released: u64,
    pub offered: u64,
    pub offers_orphaned: u64,
    pub unaccounted: u64,
    pub state_mismatched: u64,
    pub released_and_paid: u64,
    pub released_twice: u64,
    pub counters_apart: Vec<CounterApart>,
}

/// One of Redis's counters of the round that differs from what the round's records give.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CounterApart {
    /// The field of the sale's hash: `held`, `paid`, `remaining`, `waiting` or `offered`.
    pub counter: &'static str,
    /// What Redis's counter says.
    pub redis: u64,
    /// What the round's records give.
    pub records: u64,
}

impl Audit {
    /// Audits `round` of a sale (its current round when `None`).
    pub async fn run(
        store: &Store,
        orders: &Orders,
        sale_id: &SaleId,
        round: Option<u64>,
    ) -> Result<Self, AuditError> {
        let (sales, records) = (store.sales(), store.audit());
        let round = match round {
            Some(round) => round,
            None => {
                sales
                    .sale(sale_id)
                    .await?
                    .ok_or_else(|| AuditError::NoSuchSale(sale_id.clone()))?
                    .round
            }
        };
        let stock = records
            .round_stock(sale_id, round)
            .await?
            .ok_or_else(|| AuditError::NoSuchRound(sale_id.clone(), round))?;
        let strategy = records.round_strategy(sale_id, round).await?;
        if strategy.stock_in_postgres() {
            let persisted = orders.orders_of_round(sale_id.as_str(), round).await?;
            let units = units_of(persisted.iter());
            return Ok(Self {
                oversold: units.saturating_sub(stock),
                ..Self::empty(sale_id, round, strategy, stock, units, units)
            });
        }
        let reserved = records.purchases_of_round(sale_id, round).await?;
        let holds = records.holds_of_sale(sale_id).await?;
        let waitlist = records.waitlist_of_round(sale_id, round).await?;
        let offers = &waitlist.offers;
        let outbox = records.outbox_of_round(sale_id, round).await?;
        let pending: HashSet<Uuid> = outbox.iter().map(|e| e.event.purchase_id).collect();
        let persisted = orders.orders_of_round(sale_id.as_str(), round).await?;
        let history = orders.history_of_round(sale_id.as_str(), round).await?;
        // The sale as it stands, for the current round's arithmetic.
        let current = sales
            .sale(sale_id)
            .await?
            .filter(|sale| sale.round == round);

        let offer_ids: HashSet<Uuid> = offers.iter().copied().collect();
        // What Redis decided for each purchase of the round: its hold's state (`offered` for an
        // offer still held), or `reserved`.
        let decided: HashMap<Uuid, (u64, EventKind)> = reserved
            .iter()
            .map(|p| {
                let kind = holds
                    .get(&p.purchase_id)
                    .map_or(EventKind::Reserved, |hold| match hold.state.into() {
                        EventKind::Held if offer_ids.contains(&p.purchase_id) => EventKind::Offered,
                        kind => kind,
                    });
                (p.purchase_id, (u64::from(p.quantity), kind))
            })
            .collect();
        let offers_orphaned = offers.len() - offer_ids.len()
            + offer_ids
                .iter()
                .filter(|id| !decided.contains_key(id))
                .count();
        let units_in = |kinds: &[EventKind]| -> u64 {
            decided
                .values()
                .filter(|(_, kind)| kinds.contains(kind))
                .map(|(units, _)| units)
                .sum()
        };
        let sold: u64 = decided.values().map(|(units, _)| units).sum();
        let released = units_in(&[EventKind::Cancelled, EventKind::Expired]);
        let held = units_in(&[EventKind::Held, EventKind::Offered]);
        let paid = units_in(&[EventKind::Paid]);
        let taken = units_in(&[EventKind::Reserved]) + held + paid;
        let unaccounted = current
            .as_ref()
            .map_or(0, |sale| (sale.remaining + taken).abs_diff(stock));
        let counters_apart = current.as_ref().map_or_else(Vec::new, |sale| {
            let recomputed = Counters {
                held,
                paid,
                remaining: stock.saturating_sub(taken),
                waiting: waitlist.waiting,
                offered: offers.len() as u64,
            };
            recomputed.apart_from(sale)
        });

        let persisted_units = units_of(persisted.iter());
        let persisted_released = units_of(persisted.iter().filter(|o| is_release(&o.state)));
        let persisted_ids: HashSet<Uuid> = persisted.iter().map(|o| o.purchase_id).collect();
        let missing = decided
            .keys()
            .filter(|id| !persisted_ids.contains(id) && !pending.contains(id))
            .count();
        let duplicated = persisted
            .iter()
            .filter(|o| !decided.contains_key(&o.purchase_id))
            .count();
        let state_mismatched = persisted
            .iter()
            .filter(|o| !pending.contains(&o.purchase_id))
            .filter(|o| {
                decided
                    .get(&o.purchase_id)
                    .is_some_and(|(_, kind)| kind.as_str() != o.state)
            })
            .count();
        let mut events: HashMap<Uuid, (bool, u64)> = HashMap::new();
        for (id, state) in &history {
            let entry = events.entry(*id).or_default();
            entry.0 |= state == EventKind::Paid.as_str();
            entry.1 += u64::from(is_release(state));
        }
        let released_and_paid = events.values().filter(|(p, r)| *p && *r > 0).count();
        let released_twice = events.values().filter(|(_, r)| *r > 1).count();

        let net_sold = sold.saturating_sub(released);
        let net_persisted = persisted_units.saturating_sub(persisted_released);
        Ok(Self {
            pending: pending.len() as u64,
            oversold: net_sold.max(net_persisted).saturating_sub(stock),
            missing: missing as u64,
            duplicated: duplicated as u64,
            held,
            paid,
            released,
            offered: offers.len() as u64,
            offers_orphaned: offers_orphaned as u64,
            unaccounted,
            state_mismatched: state_mismatched as u64,
            released_and_paid: released_and_paid as u64,
            released_twice: released_twice as u64,
            counters_apart,
            ..Self::empty(sale_id, round, strategy, stock, sold, persisted_units)
        })
    }

    /// An audit with nothing found beyond these figures.
    fn empty(
        sale_id: &SaleId,
        round: u64,
        strategy: Strategy,
        stock: u64,
        sold: u64,
        persisted: u64,
    ) -> Self {
        Self {
            sale_id: sale_id.as_str().to_owned(),
            round,
            strategy,
            stock,
            sold,
            persisted,
            pending: 0,
            oversold: 0,
            missing: 0,
            duplicated: 0,
            held: 0,
            paid: 0,
            released: 0,
            offered: 0,
            offers_orphaned: 0,
            unaccounted: 0,
            state_mismatched: 0,
            released_and_paid: 0,
            released_twice: 0,
            counters_apart: Vec::new(),
        }
    }

    /// Audits until nothing is pending or missing, or `wait` has passed, and returns the last
    /// audit: a sale still in the pipeline gets the time to arrive before it counts as missing,
    /// and a worker that is still applying its migrations the time to finish.
    pub async fn settled(
        store: &Store,
        orders: &Orders,
        sale_id: &SaleId,
        round: Option<u64>,
        wait: Duration,
    ) -> Result<Self, AuditError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let waited_enough = tokio::time::Instant::now() >= deadline;
            match Self::run(store, orders, sale_id, round).await {
                Ok(audit) if audit.is_settled() || waited_enough => return Ok(audit),
                Err(AuditError::NotMigrated) if !waited_enough => {}
                // A store that timed out (busy with a backlog) may answer the next time.
                Err(AuditError::Store(StoreError::Timeout(_) | StoreError::Redis(_)))
                    if !waited_enough => {}
                Ok(_) => {}
                Err(error) => return Err(error),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Nothing in flight: every purchase and transition is in Postgres or nowhere.
    fn is_settled(&self) -> bool {
        self.pending == 0 && self.missing == 0 && self.state_mismatched == 0
    }

    /// Nothing oversold, duplicated, unaccounted, orphaned, released and paid or released twice,
    /// no counter of Redis apart from the records, and nothing missing or in another state with
    /// the outbox drained.
    pub fn passed(&self) -> bool {
        self.oversold == 0
            && self.duplicated == 0
            && self.unaccounted == 0
            && self.offers_orphaned == 0
            && self.released_and_paid == 0
            && self.released_twice == 0
            && self.counters_apart.is_empty()
            && !(self.pending == 0 && (self.missing > 0 || self.state_mismatched > 0))
    }
}

/// Redis's counters of a round, as the sale's hash holds them or as the records give them.
struct Counters {
    held: u64,
    paid: u64,
    remaining: u64,
    waiting: u64,
    offered: u64,
}

impl Counters {
    /// The counters of `sale` (Redis's own) that differ from these (the records').
    fn apart_from(&self, sale: &Sale) -> Vec<CounterApart> {
        [
            ("held", sale.held, self.held),
            ("paid", sale.paid, self.paid),
            ("remaining", sale.remaining, self.remaining),
            ("waiting", sale.waiting, self.waiting),
            ("offered", sale.offered, self.offered),
        ]
        .into_iter()
        .filter(|(_, redis, records)| redis != records)
        .map(|(counter, redis, records)| CounterApart {
            counter,
            redis,
            records,
        })
        .collect()
    }
}

/// Whether a state gives the units back (a cancelled or expired hold).
fn is_release(state: &str) -> bool {
    state == EventKind::Cancelled.as_str() || state == EventKind::Expired.as_str()
}

/// The units of some orders.
fn units_of<'a>(orders: impl Iterator<Item = &'a RoundOrder>) -> u64 {
    orders
        .map(|order| u64::try_from(order.quantity).unwrap_or(0))
        .sum()
}

impl std::fmt::Display for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sale {} round {} ({}): stock {}, sold {}, persisted {}, pending {}, oversold {}, missing {}, duplicated {}",
            self.sale_id,
            self.round,
            self.strategy.as_str(),
            self.stock,
            self.sold,
            self.persisted,
            self.pending,
            self.oversold,
            self.missing,
            self.duplicated
        )?;
        if self.held + self.paid + self.released > 0 {
            write!(
                f,
                "; holds: held {}, paid {}, released {}, offered {}, offers_orphaned {}, unaccounted {}, state_mismatched {}, released_and_paid {}, released_twice {}",
                self.held,
                self.paid,
                self.released,
                self.offered,
                self.offers_orphaned,
                self.unaccounted,
                self.state_mismatched,
                self.released_and_paid,
                self.released_twice
            )?;
        }
        for apart in &self.counters_apart {
            write!(
                f,
                "; counter {} apart: redis {}, records {}",
                apart.counter, apart.redis, apart.records
            )?;
        }
        Ok(())
    }
}
