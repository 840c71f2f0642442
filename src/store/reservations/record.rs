//! A purchase record of the sale's purchases hash, as `purchase_reserve.lua` and the offers of
//! `waitlist_offer.lua` write it.

use uuid::Uuid;

use crate::domain::{Purchase, SaleId, UserId};
use crate::store::client::{corrupt, from_millis, StoreError};

/// Parses `"round|quantity|reserved_at_ms|remaining|user_id"` (see purchase_reserve.lua).
pub(crate) fn parse_purchase_record(
    purchase_id: Uuid,
    sale_id: SaleId,
    record: &str,
) -> Result<Purchase, StoreError> {
    let bad = || corrupt("malformed purchase record");
    let mut parts = record.splitn(5, '|');
    let mut next_number =
        || -> Result<u64, StoreError> { parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad) };
    let round = next_number()?;
    let quantity = u32::try_from(next_number()?).map_err(|_| bad())?;
    let reserved_at = from_millis(i64::try_from(next_number()?).map_err(|_| bad())?)?;
    let remaining = next_number()?;
    let user_id = parts
        .next()
        .and_then(|u| UserId::parse(u).ok())
        .ok_or_else(bad)?;
    Ok(Purchase::reserved(
        purchase_id,
        sale_id,
        user_id,
        round,
        quantity,
        remaining,
        reserved_at,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purchase_records_round_trip_user_ids_with_separators() {
        let id = Uuid::new_v4();
        let sale = SaleId::parse("s").expect("valid id");
        let p = parse_purchase_record(id, sale, "3|2|1764000000000|98|user:1.a-b").expect("parses");
        assert_eq!(
            (p.round, p.quantity, p.remaining, p.user_id.as_str()),
            (3, 2, 98, "user:1.a-b")
        );
        assert_eq!(p.reserved_at.timestamp_millis(), 1_764_000_000_000);
        let sale = SaleId::parse("s").expect("valid id");
        assert!(parse_purchase_record(id, sale, "3|2|x|98|u").is_err());
    }
}
