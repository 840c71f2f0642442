//! The round announcements: `sale_start_round.lua` publishes `"<round> <sale_id>"` on
//! [`ROUNDS_CHANNEL`] whenever a sale starts a new round, and every API process follows them
//! to keep its per-process caches (sold-out flags, strategies) to the current round.

use futures_util::{Stream, StreamExt};

use super::Sales;
use crate::domain::SaleId;
use crate::store::client::StoreError;
use crate::store::keys::ROUNDS_CHANNEL;

/// One announcement: a sale started `round`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundStarted {
    pub sale_id: SaleId,
    pub round: u64,
}

impl Sales {
    /// Subscribes on a dedicated connection (not pooled: it stays subscribed). The stream ends
    /// when the connection drops; an item is `None` for a message that is not an announcement.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn round_announcements(
        &self,
    ) -> Result<impl Stream<Item = Option<RoundStarted>>, StoreError> {
        let pubsub = self
            .redis
            .timed(async {
                let mut pubsub = self.redis.client().get_async_pubsub().await?;
                pubsub.subscribe(ROUNDS_CHANNEL).await?;
                Ok(pubsub)
            })
            .await?;
        Ok(pubsub
            .into_on_message()
            .map(|message| parse_announcement(message.get_payload_bytes())))
    }
}

/// Parses `"<round> <sale_id>"` (see sale_start_round.lua).
fn parse_announcement(payload: &[u8]) -> Option<RoundStarted> {
    let text = std::str::from_utf8(payload).ok()?;
    let (round, sale_id) = text.split_once(' ')?;
    Some(RoundStarted {
        round: round.parse().ok()?,
        sale_id: SaleId::parse(sale_id).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_parse_round_then_sale() {
        let phones = SaleId::parse("phones").expect("valid id");
        assert_eq!(
            parse_announcement(b"7 phones"),
            Some(RoundStarted {
                sale_id: phones,
                round: 7
            })
        );
        assert_eq!(parse_announcement(b"phones 7"), None);
        assert_eq!(parse_announcement(b"7 Bad Id"), None);
    }
}
