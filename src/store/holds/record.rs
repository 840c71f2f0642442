//! A hold's record in the sale's holds hash, as `purchase_reserve.lua` makes it and
//! `hold_settle.lua` ends it, and the secret that lets its buyer settle it.

use uuid::Uuid;

use crate::domain::{Hold, HoldState};
use crate::store::client::{corrupt, from_millis, StoreError};

/// A new hold's secret: 122 random bits, as hex.
pub(crate) fn new_hold_token() -> String {
    Uuid::new_v4().simple().to_string()
}

/// Parses a record of the holds hash: `state|expires_at_ms|settled_at_ms|token|payment_ref`.
pub(crate) fn parse_hold(record: &str) -> Result<Hold, StoreError> {
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
