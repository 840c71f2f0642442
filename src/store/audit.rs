//! Full reads of one round, for the audit (not for the purchase path: they scan).

use std::collections::HashMap;

use redis::AsyncCommands;
use uuid::Uuid;

use super::client::{corrupt, Store, StoreError};
use super::holds::record::parse_hold;
use super::keys::SaleKeys;
use super::outbox::{Outbox, OutboxEntry};
use super::reservations::record::parse_purchase_record;
use super::sales::record::parse_strategy;
use super::waitlist::{offer_of, parse_entry};
use crate::domain::{Hold, Purchase, SaleId, Strategy, WaitlistState};

/// A round's waitlist as its entries record it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoundWaitlist {
    /// The purchase ids of the offers the round's entries were made, one per offer.
    pub offers: Vec<Uuid>,
    /// The round's entries still waiting.
    pub waiting: u64,
}

/// The audit's reads of every concern's records. Cheap to clone.
#[derive(Clone)]
pub struct Audit {
    pub(super) redis: Store,
}

impl Audit {
    /// The stock a round started with; `None` for a round that never was.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn round_stock(
        &self,
        sale_id: &SaleId,
        round: u64,
    ) -> Result<Option<u64>, StoreError> {
        let key = SaleKeys::new(sale_id).rounds;
        let stock: Option<String> = self
            .redis
            .with_conn(|mut conn| async move { Ok(conn.hget(key, round).await?) })
            .await?;
        stock
            .map(|s| s.parse().map_err(|_| corrupt("round stock")))
            .transpose()
    }

    /// The strategy a round was sold with (sale_start_round.lua records it with the stock).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn round_strategy(
        &self,
        sale_id: &SaleId,
        round: u64,
    ) -> Result<Strategy, StoreError> {
        let key = SaleKeys::new(sale_id).rounds;
        let strategy: Option<String> = self
            .redis
            .with_conn(
                |mut conn| async move { Ok(conn.hget(key, format!("{round}:strategy")).await?) },
            )
            .await?;
        parse_strategy(strategy.as_deref())
    }

    /// Every purchase a round reserved, read from the sale's purchase records.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn purchases_of_round(
        &self,
        sale_id: &SaleId,
        round: u64,
    ) -> Result<Vec<Purchase>, StoreError> {
        let records = self.hash_all(SaleKeys::new(sale_id).purchases).await?;
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

    /// Every hold of a sale, of every round, by purchase id.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn holds_of_sale(&self, sale_id: &SaleId) -> Result<HashMap<Uuid, Hold>, StoreError> {
        let records = self.hash_all(SaleKeys::new(sale_id).holds).await?;
        records
            .into_iter()
            .map(|(id, record)| {
                let id = Uuid::parse_str(&id).map_err(|_| corrupt("hold id is not a uuid"))?;
                Ok((id, parse_hold(&record)?))
            })
            .collect()
    }

    /// The offers a round's waitlist entries were made and the entries still waiting.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn waitlist_of_round(
        &self,
        sale_id: &SaleId,
        round: u64,
    ) -> Result<RoundWaitlist, StoreError> {
        let records = self
            .hash_all(SaleKeys::new(sale_id).waitlist_entries)
            .await?;
        let mut waitlist = RoundWaitlist::default();
        for (id, record) in records {
            let entry_id = Uuid::parse_str(&id).map_err(|_| corrupt("entry id is not a uuid"))?;
            let entry = parse_entry(entry_id, sale_id, &record, round, 0)?;
            if entry.round == round {
                waitlist.offers.extend(offer_of(&record)?);
                waitlist.waiting += u64::from(entry.state == WaitlistState::Waiting);
            }
        }
        Ok(waitlist)
    }

    /// Every entry of a sale's outbox that belongs to `round`.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn outbox_of_round(
        &self,
        sale_id: &SaleId,
        round: u64,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let outbox = Outbox {
            redis: self.redis.clone(),
        };
        let mut entries = outbox.all(sale_id).await?;
        entries.retain(|entry| entry.event.round == round);
        Ok(entries)
    }

    /// Every field and value of a hash, read in pages (HSCAN) so Redis is never blocked long.
    async fn hash_all(&self, key: String) -> Result<Vec<(String, String)>, StoreError> {
        self.redis
            .with_conn(|mut conn| async move {
                let mut iter = conn.hscan::<_, (String, String)>(key).await?;
                let mut records = Vec::new();
                while let Some(record) = iter.next_item().await {
                    records.push(record?);
                }
                Ok(records)
            })
            .await
    }
}
