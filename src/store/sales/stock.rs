//! Stock changes within a live round: `sale_stock_change.lua` adds units (the waitlist first,
//! then `remaining`) or removes some (from `remaining` only), atomically with purchases.

use std::sync::LazyLock;

use redis::Script;

use super::Sales;
use crate::domain::{SaleId, StockChange, MAX_STOCK};
use crate::store::client::StoreError;
use crate::store::keys::SaleKeys;
use crate::store::reservations::index::index_offers;
use crate::store::waitlist::offers::{offer_seed, offering, with_offer_keys};

static CHANGE: LazyLock<Script> = LazyLock::new(|| offering(include_str!("sale_stock_change.lua")));

/// A sale's stock figures, as a stock change left (or found) them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockFigures {
    pub stock: u64,
    pub remaining: u64,
    pub held: u64,
    pub paid: u64,
}

/// What a stock change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockOutcome {
    /// Done; `offered` of the units added went to waitlisted buyers.
    Changed {
        figures: StockFigures,
        offered: usize,
    },
    NotFound,
    /// The sale's stock lives in Postgres (`naive`, `locking`).
    StockInPostgres,
    /// The stock would pass [`MAX_STOCK`].
    TooMuch(StockFigures),
    /// Fewer units are left in `remaining` than asked to remove: nothing changed.
    BelowTaken(StockFigures),
}

/// `{outcome, stock, remaining, held, paid, offered}` (see sale_stock_change.lua).
type ChangeReply = (String, u64, u64, u64, u64, Vec<String>);

impl Sales {
    /// Adds units to or removes units from the current round of `sale_id`.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn change_stock(
        &self,
        sale_id: &SaleId,
        change: StockChange,
    ) -> Result<StockOutcome, StoreError> {
        let keys = SaleKeys::new(sale_id);
        let (action, units) = match change {
            StockChange::Add(units) => ("add", units),
            StockChange::Remove(units) => ("remove", units),
        };
        let mut invocation = CHANGE.prepare_invoke();
        with_offer_keys(&mut invocation, &keys)
            .key(&keys.rounds)
            .arg(action)
            .arg(units)
            .arg(offer_seed())
            .arg(MAX_STOCK);
        let (outcome, stock, remaining, held, paid, offered) = self
            .redis
            .with_conn(|mut conn| async move {
                let reply: ChangeReply = invocation.invoke_async(&mut *conn).await?;
                index_offers(&mut conn, sale_id, &reply.5).await?;
                Ok(reply)
            })
            .await?;
        let figures = StockFigures {
            stock,
            remaining,
            held,
            paid,
        };
        Ok(match outcome.as_str() {
            "changed" => StockOutcome::Changed {
                figures,
                offered: offered.len(),
            },
            "not_found" => StockOutcome::NotFound,
            "moved" => StockOutcome::StockInPostgres,
            "too_much" => StockOutcome::TooMuch(figures),
            "below_taken" => StockOutcome::BelowTaken(figures),
            other => {
                return Err(StoreError::Corrupt(format!(
                    "sale_stock_change answered {other:?}"
                )))
            }
        })
    }
}
