//! The waiting room of a sale with `fifo` or `random` admission: tickets taken and read
//! (`queue_ticket.lua`), buyers admitted at the sale's rate (`queue_admit.lua`), and a `random`
//! room's lobby drawn once at the start (`queue_draw.lua`). All of it lives in the sale's hash
//! tag and belongs to the round: a new round forgets it (`sale_start_round.lua`). The purchase
//! token a ticket earns is checked, and its nonce spent, by `purchase_reserve.lua`
//! (`reservations/`). The admitters find the sales to look at in the set of sales with a
//! waiting room, kept here.

use std::sync::LazyLock;
use std::time::Duration;

use rand::seq::SliceRandom;
use rand::Rng;
use redis::Script;
use uuid::Uuid;

use super::client::{corrupt, Store, StoreError};
use super::keys::{SaleKeys, ADMISSION_SALES_SET};
use crate::domain::{SaleId, UserId};

static TICKET: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("queue_ticket.lua")));
static ADMIT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("queue_admit.lua")));
static DRAW: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("queue_draw.lua")));

/// Where a ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketState {
    /// `position` buyers are admitted before it (itself included); before a `random` room's
    /// draw, the lobby's size.
    Waiting { position: u64 },
    /// Admitted: its purchase token is valid until `expires_at_ms`; `used` once it bought.
    Admitted {
        admitted_at_ms: i64,
        expires_at_ms: i64,
        used: bool,
    },
    /// No stock is left for it (a token that bought reads `Admitted`).
    SoldOut,
    /// The sale ended.
    Ended,
}

/// A ticket of a sale's waiting room, as it stands now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub ticket_id: Uuid,
    pub user_id: UserId,
    pub round: u64,
    /// Its place in the admission order; `None` in a `random` room's lobby before the draw.
    pub place: Option<u64>,
    /// The sale's admission rate, for a wait estimate.
    pub rate_per_second: u32,
    pub state: TicketState,
}

/// What asking for a ticket (or reading one) found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketLookup {
    Found(Ticket),
    SaleNotFound,
    /// The sale is `open`: it has no waiting room.
    NoWaitingRoom,
    /// Read: no ticket of the sale's current round has this id.
    NoTicket,
    /// Join: the sale ended; no ticket was made.
    Ended,
    /// Join: the sale is sold out; no ticket was made.
    SoldOut,
}

/// What one admission step found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdmissionStep {
    /// The sale is gone, has no waiting room or ended: nothing is admitted again this round.
    Gone,
    /// A `random` room's lobby must be drawn first ([`WaitingRoom::draw_lobby`]).
    Draw,
    Stepped {
        /// Tickets this call admitted.
        admitted: u64,
        /// Tickets still waiting.
        waiting: u64,
        /// How long nothing can be admitted unless something else changes (a ticket taken,
        /// units back in stock): the time to the start, or a second while sold out or while
        /// nobody waits; zero while admitting.
        idle: Duration,
    },
}

/// The waiting room's progress, for the ticket streams: one read per sale per poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueProgress {
    pub round: u64,
    /// Tickets admitted so far: a ticket is admitted once its place is at most this.
    pub admitted: u64,
    /// Whether a `random` room's lobby has its places.
    pub drawn: bool,
    /// Tickets in a `random` room's lobby (a lobby ticket's position until the draw).
    pub lobby: u64,
    pub remaining: u64,
    pub ends_at_ms: Option<i64>,
}

/// `queue_ticket.lua`'s reply: `{outcome, ticket_id, user_id, round, place, position,
/// admitted_at_ms, expires_at_ms, used, rate}`.
type TicketReply = (String, String, String, u64, i64, u64, i64, i64, u8, u32);

/// The waiting rooms of every sale. Cheap to clone.
#[derive(Clone)]
pub struct WaitingRoom {
    pub(super) redis: Store,
}

impl WaitingRoom {
    /// Takes `user_id`'s ticket in the sale's waiting room, with the id `new_ticket`, or finds
    /// the one it took this round (whose id differs).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn join(
        &self,
        sale_id: &SaleId,
        user_id: &UserId,
        new_ticket: Uuid,
    ) -> Result<TicketLookup, StoreError> {
        self.ticket_script(sale_id, "join", user_id.as_str(), &new_ticket.to_string())
            .await
    }

    /// Reads a ticket of the sale's current round.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn ticket(
        &self,
        sale_id: &SaleId,
        ticket_id: Uuid,
    ) -> Result<TicketLookup, StoreError> {
        self.ticket_script(sale_id, "read", &ticket_id.to_string(), "")
            .await
    }

    async fn ticket_script(
        &self,
        sale_id: &SaleId,
        action: &str,
        subject: &str,
        new_ticket: &str,
    ) -> Result<TicketLookup, StoreError> {
        let keys = SaleKeys::new(sale_id);
        let mut invocation = TICKET.prepare_invoke();
        invocation
            .key(&keys.sale)
            .key(&keys.queue_tickets)
            .key(&keys.queue_users)
            .key(&keys.queue_lobby)
            .key(&keys.queue_state)
            .key(&keys.queue_admissions)
            .key(&keys.tokens_used)
            .arg(action)
            .arg(subject)
            .arg(new_ticket);
        let reply: TicketReply = self
            .redis
            .with_conn(|mut conn| async move { Ok(invocation.invoke_async(&mut *conn).await?) })
            .await?;
        ticket_lookup(reply)
    }

    /// Admits the sale's next buyers within its rate (see `queue_admit.lua`).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn admit(&self, sale_id: &SaleId) -> Result<AdmissionStep, StoreError> {
        let keys = SaleKeys::new(sale_id);
        let mut invocation = ADMIT.prepare_invoke();
        invocation
            .key(&keys.sale)
            .key(&keys.queue_lobby)
            .key(&keys.queue_state)
            .key(&keys.queue_admissions);
        let (outcome, admitted, waiting, idle_ms): (String, u64, i64, u64) = self
            .redis
            .with_conn(|mut conn| async move { Ok(invocation.invoke_async(&mut *conn).await?) })
            .await?;
        match outcome.as_str() {
            "gone" => Ok(AdmissionStep::Gone),
            "draw" => Ok(AdmissionStep::Draw),
            "closed" | "admitting" => Ok(AdmissionStep::Stepped {
                admitted,
                waiting: u64::try_from(waiting).unwrap_or(0),
                idle: Duration::from_millis(idle_ms),
            }),
            other => Err(StoreError::Corrupt(format!(
                "queue_admit answered {other:?}"
            ))),
        }
    }

    /// Draws the places of a `random` room's lobby with `rng` and stores them, unless another
    /// process drew first. A lottery needs `rng` to be unpredictable: the admitters pass a
    /// generator seeded from the operating system.
    #[tracing::instrument(level = "debug", skip(self, rng))]
    pub async fn draw_lobby(
        &self,
        sale_id: &SaleId,
        rng: &mut (impl Rng + Send),
    ) -> Result<(), StoreError> {
        let keys = SaleKeys::new(sale_id);
        let mut entrants: Vec<String> = self
            .redis
            .with_conn(|mut conn| {
                let lobby = keys.queue_lobby.clone();
                async move {
                    Ok(redis::cmd("LRANGE")
                        .arg(lobby)
                        .arg(0)
                        .arg(-1)
                        .query_async(&mut *conn)
                        .await?)
                }
            })
            .await?;
        entrants.shuffle(rng);
        let mut invocation = DRAW.prepare_invoke();
        invocation
            .key(&keys.queue_lobby)
            .key(&keys.queue_state)
            .key(&keys.queue_tickets)
            .arg(entrants);
        let outcome: String = self
            .redis
            .with_conn(|mut conn| async move { Ok(invocation.invoke_async(&mut *conn).await?) })
            .await?;
        match outcome.as_str() {
            // 'stale' cannot follow the start (the lobby is closed then); the next step reads
            // the lobby again should it happen.
            "drawn" | "done" | "stale" => Ok(()),
            other => Err(StoreError::Corrupt(format!(
                "queue_draw answered {other:?}"
            ))),
        }
    }

    /// Stops the admitters looking at a sale whose waiting room is over
    /// ([`AdmissionStep::Gone`]); a `PUT` or reset that gives it one again adds it back.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn forget_sale(&self, sale_id: &SaleId) -> Result<(), StoreError> {
        self.admission_set("SREM", sale_id).await
    }

    /// Undoes [`WaitingRoom::forget_sale`] for a sale found with a waiting room again.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn remember_sale(&self, sale_id: &SaleId) -> Result<(), StoreError> {
        self.admission_set("SADD", sale_id).await
    }

    /// Every sale id whose round ever had a waiting room (the sales the admitters look at).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn sale_ids(&self) -> Result<Vec<SaleId>, StoreError> {
        self.redis.sale_ids_in(ADMISSION_SALES_SET).await
    }

    async fn admission_set(&self, command: &str, sale_id: &SaleId) -> Result<(), StoreError> {
        self.redis
            .with_conn(|mut conn| async move {
                Ok(redis::cmd(command)
                    .arg(ADMISSION_SALES_SET)
                    .arg(sale_id.as_str())
                    .query_async(&mut *conn)
                    .await?)
            })
            .await
    }

    /// The waiting room's progress and the sale's stock; `None` when no sale has this id.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn progress(&self, sale_id: &SaleId) -> Result<Option<QueueProgress>, StoreError> {
        let keys = SaleKeys::new(sale_id);
        type Reply = (
            (Option<u64>, Option<u64>, Option<String>),
            (Option<u64>, Option<String>),
            u64,
        );
        let ((round, remaining, ends_at), (admitted, drawn), lobby): Reply = self
            .redis
            .with_conn(|mut conn| async move {
                Ok(redis::pipe()
                    .cmd("HMGET")
                    .arg(&keys.sale)
                    .arg("round")
                    .arg("remaining")
                    .arg("ends_at_ms")
                    .cmd("HMGET")
                    .arg(&keys.queue_state)
                    .arg("admitted")
                    .arg("drawn")
                    .llen(&keys.queue_lobby)
                    .query_async(&mut *conn)
                    .await?)
            })
            .await?;
        let Some(round) = round else {
            return Ok(None);
        };
        Ok(Some(QueueProgress {
            round,
            admitted: admitted.unwrap_or(0),
            drawn: drawn.as_deref() == Some("1"),
            lobby,
            remaining: remaining.unwrap_or(0),
            ends_at_ms: ends_at.and_then(|ms| ms.parse().ok()),
        }))
    }
}

fn ticket_lookup(
    (
        outcome,
        ticket_id,
        user_id,
        round,
        place,
        position,
        admitted_at_ms,
        expires_at_ms,
        used,
        rate,
    ): TicketReply,
) -> Result<TicketLookup, StoreError> {
    let state = match outcome.as_str() {
        "sale_not_found" => return Ok(TicketLookup::SaleNotFound),
        "not_queued" => return Ok(TicketLookup::NoWaitingRoom),
        "no_ticket" => return Ok(TicketLookup::NoTicket),
        "ended" if ticket_id.is_empty() => return Ok(TicketLookup::Ended),
        "sold_out" if ticket_id.is_empty() => return Ok(TicketLookup::SoldOut),
        "ended" => TicketState::Ended,
        "sold_out" => TicketState::SoldOut,
        "waiting" => TicketState::Waiting { position },
        "admitted" => TicketState::Admitted {
            admitted_at_ms,
            expires_at_ms,
            used: used == 1,
        },
        other => {
            return Err(StoreError::Corrupt(format!(
                "queue_ticket answered {other:?}"
            )))
        }
    };
    Ok(TicketLookup::Found(Ticket {
        ticket_id: Uuid::parse_str(&ticket_id).map_err(|_| corrupt("ticket id is not a uuid"))?,
        user_id: UserId::parse(&user_id).map_err(|_| corrupt("malformed ticket record"))?,
        round,
        place: u64::try_from(place).ok(),
        rate_per_second: rate,
        state,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    /// The draw's shuffle, with a fixed seed: over 200 draws of 1,000 entrants, the rank
    /// correlation between arrival and drawn order stays within 4 standard errors of 0 in
    /// every draw (standard error 1/sqrt(999) ≈ 0.032; tolerance 0.13), and each arrival
    /// place lands in the first half about half the time (within 4 standard errors of 0.5).
    #[test]
    fn the_draw_does_not_follow_arrival_order() {
        const ENTRANTS: usize = 1_000;
        const DRAWS: usize = 200;
        let mut rng = StdRng::seed_from_u64(14);
        let mut first_half = vec![0u32; ENTRANTS];
        for _ in 0..DRAWS {
            let mut order: Vec<usize> = (0..ENTRANTS).collect();
            order.shuffle(&mut rng);
            let rho = spearman(&order);
            assert!(rho.abs() < 0.13, "rank correlation {rho}");
            for (place, arrival) in order.iter().enumerate() {
                if place < ENTRANTS / 2 {
                    first_half[*arrival] += 1;
                }
            }
        }
        // Binomial(200, 0.5): standard error 0.035; 4 of them.
        let early = f64::from(first_half[0]) / DRAWS as f64;
        let late = f64::from(first_half[ENTRANTS - 1]) / DRAWS as f64;
        assert!((early - 0.5).abs() < 0.14, "the first arrival: {early}");
        assert!((late - 0.5).abs() < 0.14, "the last arrival: {late}");
    }

    /// Spearman's rank correlation between arrival (the index) and the drawn place.
    fn spearman(drawn: &[usize]) -> f64 {
        let n = drawn.len() as f64;
        let squares: f64 = drawn
            .iter()
            .enumerate()
            .map(|(place, arrival)| (place as f64 - *arrival as f64).powi(2))
            .sum();
        1.0 - 6.0 * squares / (n * (n * n - 1.0))
    }
}
