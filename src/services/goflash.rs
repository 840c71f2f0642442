//! The GoFlash-compatible sales (GoFlash is the seed flashsale grew from): one sale per
//! strategy, so the seed's four purchase routes (`POST /purchase`, `/purchase-lock`,
//! `/purchase-redis`, `/purchase-async`) sell side by side without one phase eating another's
//! stock, as the seed's phases did on its single product.
//!
//! They are ordinary sales (`<prefix>-naive`, ...): the admin API, the stream and the control
//! room see them like any other. Only their ids and their creation at start are special.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::sales::SaleService;
use crate::domain::{Invalid, SaleId, SaleSpec, Strategy};
use crate::runtime::lifecycle::retry_until_done;
use crate::runtime::settings::SeedSettings;

/// The GoFlash-compatible sales of this process.
#[derive(Debug, Clone)]
pub struct GoflashSales {
    /// In the order of [`Strategy::ALL`].
    ids: [SaleId; 4],
    stock: u64,
}

impl GoflashSales {
    /// Refuses a prefix that makes an invalid sale id, or a stock out of range.
    pub fn new(settings: &SeedSettings) -> Result<Self, Invalid> {
        let id = |strategy: Strategy| {
            SaleId::parse(&format!("{}-{}", settings.prefix, strategy.as_str()))
                .map_err(|e| Invalid(format!("FLASHSALE_SEED_SALE_PREFIX: {}", e.0)))
        };
        let [naive, locking, redis, asynchronous] = Strategy::ALL;
        let ids = [id(naive)?, id(locking)?, id(redis)?, id(asynchronous)?];
        // Checked here so a bad figure stops the start rather than every creation attempt.
        SaleSpec::parse("seed".into(), settings.stock, 1, None, None)
            .map_err(|e| Invalid(format!("FLASHSALE_SEED_STOCK: {}", e.0)))?;
        Ok(Self {
            ids,
            stock: settings.stock,
        })
    }

    /// The seed sale that sells with `strategy`.
    pub fn sale_id(&self, strategy: Strategy) -> &SaleId {
        let index = Strategy::ALL
            .iter()
            .position(|s| *s == strategy)
            .unwrap_or(Strategy::ALL.len() - 1);
        &self.ids[index]
    }

    /// Every seed sale, with its strategy.
    pub fn all(&self) -> impl Iterator<Item = (Strategy, &SaleId)> {
        Strategy::ALL.into_iter().zip(self.ids.iter())
    }

    /// Creates each seed sale that does not exist, in the background: one task per sale, so
    /// the `async` one sells as soon as Redis answers, whether PostgreSQL (which the others
    /// need) is up or not.
    pub fn ensure_in_background(&self, sales: &Arc<SaleService>, stop: &CancellationToken) {
        for (strategy, sale_id) in self.all() {
            let sales = Arc::clone(sales);
            let sale_id = sale_id.clone();
            let stock = self.stock;
            let what = format!("create the seed sale {sale_id}");
            let stop = stop.child_token();
            actix_web::rt::spawn(async move {
                retry_until_done(&what, stop, move || {
                    let sales = Arc::clone(&sales);
                    let sale_id = sale_id.clone();
                    async move {
                        let spec = SaleSpec {
                            strategy,
                            ..SaleSpec::parse(
                                format!("Seed sale ({})", strategy.as_str()),
                                stock,
                                1,
                                None,
                                None,
                            )
                            .map_err(|e| e.0)?
                        };
                        let outcome = sales
                            .ensure(&sale_id, spec)
                            .await
                            .map_err(|e| e.to_string())?;
                        tracing::info!(%sale_id, ?outcome, "seed sale ensured");
                        Ok::<_, String>(())
                    }
                })
                .await;
            });
        }
    }
}
