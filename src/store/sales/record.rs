//! The sale hash as `sale_start_round.lua` writes it (and `purchase_reserve.lua` updates it),
//! read back; its fields older sales lack have their defaults here.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::domain::{Admission, AdmissionMode, Durability, Sale, SaleId, Strategy};
use crate::store::client::{corrupt, from_millis, StoreError};

/// Sales created before strategies existed have no `strategy` field: they are `async`.
pub(crate) fn parse_strategy(raw: Option<&str>) -> Result<Strategy, StoreError> {
    raw.map_or(Ok(Strategy::default()), |s| {
        Strategy::parse(s).map_err(|_| corrupt("unknown sale strategy"))
    })
}

/// Sales created before durabilities existed have no `durability` field: they are `fast`.
pub(crate) fn parse_durability(raw: Option<&str>) -> Result<Durability, StoreError> {
    raw.map_or(Ok(Durability::default()), |d| {
        Durability::parse(d).map_err(|_| corrupt("unknown sale durability"))
    })
}

/// Reads the sale hash sale_start_round.lua writes (and purchase_reserve.lua updates).
pub(super) fn parse_sale(
    sale_id: &SaleId,
    fields: &HashMap<String, String>,
) -> Result<Sale, StoreError> {
    let field = |name: &str| {
        fields
            .get(name)
            .ok_or_else(|| StoreError::Corrupt(format!("sale field {name} missing")))
    };
    let number = |name: &str| -> Result<u64, StoreError> {
        field(name)?
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("sale field {name} is not a number")))
    };
    let optional_number = |name: &str| -> Result<u64, StoreError> {
        fields.get(name).map_or(Ok(0), |_| number(name))
    };
    let instant = |name: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
        match field(name)?.as_str() {
            "" => Ok(None),
            ms => from_millis(ms.parse().map_err(|_| corrupt("bad sale timestamp"))?).map(Some),
        }
    };
    let stock = number("stock")?;
    let remaining = number("remaining")?;
    let starts_at = instant("starts_at_ms")?;
    let ends_at = instant("ends_at_ms")?;
    Ok(Sale {
        sale_id: sale_id.clone(),
        name: field("name")?.clone(),
        round: number("round")?,
        stock,
        remaining,
        sold: stock.saturating_sub(remaining),
        per_user_limit: u32::try_from(number("per_user_limit")?)
            .map_err(|_| corrupt("per_user_limit too large"))?,
        starts_at,
        ends_at,
        status: Sale::status_at(Utc::now(), starts_at, ends_at, remaining),
        strategy: parse_strategy(fields.get("strategy").map(String::as_str))?,
        durability: parse_durability(fields.get("durability").map(String::as_str))?,
        // Absent on sales made before holds, and until a round's first hold.
        hold_seconds: optional_number("hold_seconds")?
            .try_into()
            .map_err(|_| corrupt("hold_seconds too large"))?,
        held: optional_number("held")?,
        paid: optional_number("paid")?,
        // Absent until the round's first waitlist entry and offer.
        waiting: optional_number("waiting")?,
        offered: optional_number("offered")?,
        // Absent on sales made before admission: they are `open`.
        admission: Admission {
            mode: fields
                .get("admission_mode")
                .map_or(Ok(AdmissionMode::Open), |mode| {
                    AdmissionMode::parse(mode).map_err(|_| corrupt("unknown admission mode"))
                })?,
            rate_per_second: optional_number("admission_rate")?
                .try_into()
                .map_err(|_| corrupt("admission_rate too large"))?,
            token_seconds: optional_number("admission_token_seconds")?
                .try_into()
                .map_err(|_| corrupt("admission_token_seconds too large"))?,
        },
    })
}
