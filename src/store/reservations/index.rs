//! The purchase index (`fs:purchase:{id}` -> sale id), for lookups by purchase id. It lives
//! outside every sale's slot, so the scripts cannot write it: the calls that ran them do, right
//! after (`reservations/` for purchases; `holds/` and `sales/stock.rs` for offers).

use uuid::Uuid;

use crate::domain::SaleId;
use crate::store::client::{corrupt, PooledConnection, StoreError};
use crate::store::keys::purchase_index_key;

/// Records which sale each of `purchase_ids` belongs to (for lookups by purchase id).
pub(crate) async fn index_purchases(
    conn: &mut PooledConnection,
    sale_id: &SaleId,
    purchase_ids: impl Iterator<Item = Uuid>,
) -> Result<(), StoreError> {
    let mut index = redis::pipe();
    for purchase_id in purchase_ids {
        index
            .set(purchase_index_key(&purchase_id), sale_id.as_str())
            .ignore();
    }
    if !index.is_empty() {
        index.query_async::<()>(&mut **conn).await?;
    }
    Ok(())
}

/// Records, for each offer a script made, which sale it belongs to (for lookups by purchase
/// id). Outside the script because the index lives in another slot; should the process die
/// first, reading the waitlist entry writes it (see [`crate::store::Waitlist::entry`]).
pub(crate) async fn index_offers(
    conn: &mut PooledConnection,
    sale_id: &SaleId,
    offered: &[String],
) -> Result<(), StoreError> {
    let ids = offered
        .iter()
        .map(|id| Uuid::parse_str(id).map_err(|_| corrupt("offer id is not a uuid")))
        .collect::<Result<Vec<_>, _>>()?;
    index_purchases(conn, sale_id, ids.into_iter()).await
}
