//! The waitlist's offer library: `waitlist_offer.lua` turns units freed by the call that frees
//! them into offers to the buyers waiting, in arrival order. The scripts that free units
//! (`holds/hold_settle.lua`, `sales/sale_stock_change.lua`) and `waitlist_change.lua` (for its
//! record format) are run with it in front, and pass its keys first.

use redis::Script;
use uuid::Uuid;

use crate::store::keys::SaleKeys;

/// `waitlist_offer.lua`: Lua functions only, run in front of the script that calls them.
const OFFER_LIBRARY: &str = include_str!("waitlist_offer.lua");

/// `script` with the offer library in front of it.
pub(crate) fn offering(script: &str) -> Script {
    Script::new(&format!("{OFFER_LIBRARY}{script}"))
}

/// Adds the keys `waitlist_offer.lua` works on, in its order: they come first in every script
/// that may offer released or added units to the waitlist (hold_settle, sale_stock_change).
pub(crate) fn with_offer_keys<'a>(
    invocation: &'a mut redis::ScriptInvocation<'static>,
    keys: &SaleKeys,
) -> &'a mut redis::ScriptInvocation<'static> {
    invocation
        .key(&keys.sale)
        .key(&keys.users)
        .key(&keys.purchases)
        .key(&keys.holds)
        .key(&keys.deadlines)
        .key(&keys.outbox)
        .key(&keys.waitlist)
        .key(&keys.waitlist_entries)
}

/// A random secret for a script call that may make offers: the new purchase ids and hold
/// tokens are derived from it in Lua (see waitlist_offer.lua).
pub(crate) fn offer_seed() -> String {
    Uuid::new_v4().simple().to_string()
}
