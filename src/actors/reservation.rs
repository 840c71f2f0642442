//! The pool of `ReservationActor`s: where a validated purchase request becomes a reservation.
//!
//! Each actor keeps the requests that arrive while its previous Redis call is in flight and
//! sends them all in the next call, one Lua script per sale. When traffic is light a batch holds
//! one request and costs one round trip; under a stampede, batches grow by themselves and the
//! round trips per purchase fall below one, with no timer adding latency.
//!
//! Backpressure is counted, not hoped for: the pool tracks how many requests each actor holds
//! (in its mailbox or waiting for a batch) and refuses a request with
//! [`ReserveError::Overloaded`] when every actor is at its limit, so nothing queues without
//! bound and nothing waits on a full mailbox.
//!
//! A purchase of a `broker` sale is answered once the broker has acknowledged its event: the
//! actor hands the reserved entries to the producer's [`Publisher`] right after the script, and
//! the caller waits for the acknowledgement within the same purchase timeout, without its
//! slot (the actor is done with it), so a slow broker cannot crowd `fast` sales out of the pool.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix::prelude::*;
use futures_util::future::join_all;
use tokio::sync::oneshot;

use super::producer::publisher::Publisher;
use super::producer::Nudge;
use crate::caches::sold_out::SoldOutCache;
use crate::domain::decision::{ReserveError, ReserveOutcome};
use crate::domain::{Durability, Reservation, SaleId};
use crate::runtime::outage_log::OutageLog;
use crate::runtime::settings::ReservationPoolConfig;
use crate::runtime::telemetry::{names, ActorMetrics};
use crate::store::Reservations;

/// Failed reservation batches, all actors together: one line when Redis stops answering, one
/// every so often while it stays down, one when it answers again.
static RESERVE: OutageLog = OutageLog::new("reserve purchases in Redis");

/// Reserve stock for one purchase. The answer goes straight to `reply`, whose receiver the
/// caller holds: when the caller gives up, the actor sees it (`is_closed`) and skips the work.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Reserve {
    reservation: Reservation,
    reply: oneshot::Sender<Result<Decided, ReserveError>>,
}

/// What the script decided, and for a purchase of a `broker` sale the broker's acknowledgement
/// its answer waits for (closed: the broker refused the event, or it could not be handed over).
struct Decided {
    outcome: ReserveOutcome,
    acknowledged: Option<oneshot::Receiver<()>>,
}

/// Runs reservation scripts for the requests queued at it, one batch in flight at a time.
pub struct ReservationActor {
    store: Reservations,
    sold_out: SoldOutCache,
    /// Told when a sale's outbox has new entries (the `KafkaProducerActor`).
    producer: Recipient<Nudge>,
    /// Publishes the entries of `broker` sales at once.
    publisher: Publisher,
    mailbox_capacity: usize,
    max_batch: usize,
    queued: Vec<Reserve>,
    batch_in_flight: bool,
    metrics: ActorMetrics,
}

impl Actor for ReservationActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // The pool never lets more than this many requests reach one actor, so `try_send`
        // failing on a full mailbox is only a safety net.
        ctx.set_mailbox_capacity(self.mailbox_capacity);
    }
}

impl Handler<Reserve> for ReservationActor {
    type Result = ();

    /// Queues the request and starts a batch unless one is in flight; the batch's completion
    /// starts the next one.
    fn handle(&mut self, request: Reserve, ctx: &mut Self::Context) {
        self.queued.push(request);
        if !self.batch_in_flight {
            self.send_batch(ctx);
        }
    }
}

impl ReservationActor {
    fn send_batch(&mut self, ctx: &mut Context<Self>) {
        // A caller that gave up (timed out, disconnected) was already answered 503 and its
        // slot given back: reserving for it now would sell a unit nobody is told about.
        self.queued.retain(|queued| !queued.reply.is_closed());
        if self.queued.is_empty() {
            return;
        }
        let size = self.queued.len().min(self.max_batch);
        let batch: Vec<Reserve> = self.queued.drain(..size).collect();
        self.batch_in_flight = true;
        let store = self.store.clone();
        let sold_out = self.sold_out.clone();
        let producer = self.producer.clone();
        let publisher = self.publisher.clone();
        let metrics = self.metrics.clone();
        let work = async move {
            let next = NextSteps {
                sold_out: &sold_out,
                producer: &producer,
                publisher: &publisher,
            };
            reserve_batch(&store, next, &metrics, batch).await;
        };
        ctx.spawn(work.into_actor(self).map(|(), actor, ctx| {
            actor.batch_in_flight = false;
            if !actor.queued.is_empty() {
                actor.send_batch(ctx);
            }
        }));
    }
}

/// Who hears of what a batch reserved.
#[derive(Clone, Copy)]
struct NextSteps<'a> {
    sold_out: &'a SoldOutCache,
    /// Nudged when a `fast` sale reserved: its producer reads the outbox.
    producer: &'a Recipient<Nudge>,
    /// Given a `broker` sale's purchases at once.
    publisher: &'a Publisher,
}

/// One script call per sale in the batch, all at once; every caller gets its own answer, and
/// what was reserved goes on to be published.
async fn reserve_batch(
    store: &Reservations,
    next: NextSteps<'_>,
    metrics: &ActorMetrics,
    batch: Vec<Reserve>,
) {
    let mut by_sale: Vec<(SaleId, Vec<Reservation>, Vec<oneshot::Sender<_>>)> = Vec::new();
    for Reserve { reservation, reply } in batch {
        match by_sale
            .iter_mut()
            .find(|(sale, ..)| *sale == reservation.sale_id)
        {
            Some((_, reservations, replies)) => {
                reservations.push(reservation);
                replies.push(reply);
            }
            None => by_sale.push((reservation.sale_id.clone(), vec![reservation], vec![reply])),
        }
    }
    join_all(
        by_sale
            .into_iter()
            .map(|(sale_id, reservations, replies)| async move {
                let started = tokio::time::Instant::now();
                let decided = store.reserve(&sale_id, &reservations).await;
                metrics.handling.record(started.elapsed().as_secs_f64());
                metrics.messages.increment(reservations.len() as u64);
                metrics::histogram!(names::RESERVATION_BATCH_SIZE)
                    .record(reservations.len() as f64);
                match decided {
                    Ok((Durability::Fast, outcomes)) => {
                        RESERVE.succeeded();
                        let reserved = outcomes
                            .iter()
                            .any(|outcome| matches!(outcome, ReserveOutcome::Reserved { .. }));
                        if reserved {
                            Nudge::send(next.producer, &sale_id);
                        }
                        for (reply, outcome) in replies.into_iter().zip(outcomes) {
                            next.sold_out.observe(&sale_id, &outcome);
                            let decided = Decided {
                                outcome,
                                acknowledged: None,
                            };
                            // The caller may have timed out and left; its answer has nowhere to go.
                            let _ = reply.send(Ok(decided));
                        }
                    }
                    Ok((Durability::Broker, outcomes)) => {
                        RESERVE.succeeded();
                        for (reply, outcome) in replies.into_iter().zip(outcomes) {
                            next.sold_out.observe(&sale_id, &outcome);
                            let acknowledged = match &outcome {
                                ReserveOutcome::Reserved {
                                    purchase,
                                    outbox_id,
                                } => {
                                    Some(next.publisher.publish_awaited(purchase, Some(outbox_id)))
                                }
                                // Its 202 promises what the original's did: a copy of the event is
                                // published (the worker drops it) and acknowledged first.
                                ReserveOutcome::Replayed(purchase) => {
                                    Some(next.publisher.publish_awaited(purchase, None))
                                }
                                _ => None,
                            };
                            let _ = reply.send(Ok(Decided {
                                outcome,
                                acknowledged,
                            }));
                        }
                    }
                    Err(error) => {
                        metrics.errors.increment(1);
                        // The cause ends here: each buyer only learns to retry. Logged once per
                        // outage (Redis down or loading its AOF fails every batch alike).
                        RESERVE.failed(&error);
                        for reply in replies {
                            let _ = reply.send(Err(ReserveError::Unavailable));
                        }
                    }
                }
            }),
    )
    .await;
}

/// One actor and the number of requests it currently holds.
struct Member {
    actor: Addr<ReservationActor>,
    held: AtomicUsize,
    /// `held`, as the actor's queue depth metric.
    depth: metrics::Gauge,
}

/// A slot taken at a member, given back when the request it counted is answered or abandoned.
struct Held<'a>(&'a Member);

impl<'a> Held<'a> {
    /// Takes a slot and returns it with how many the member held before.
    fn take(member: &'a Member) -> (Self, usize) {
        let before = member.held.fetch_add(1, Ordering::AcqRel);
        member.depth.increment(1.0);
        (Self(member), before)
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.held.fetch_sub(1, Ordering::AcqRel);
        self.0.depth.decrement(1.0);
    }
}

/// The front door to the actors: the sold-out shortcut, load spreading and backpressure.
pub struct ReservationPool {
    members: Vec<Member>,
    next: AtomicUsize,
    config: ReservationPoolConfig,
    sold_out: SoldOutCache,
}

impl ReservationPool {
    /// Starts `config.actors` actors on the current actix arbiter.
    pub fn start(
        store: Reservations,
        sold_out: SoldOutCache,
        producer: Recipient<Nudge>,
        publisher: Publisher,
        config: ReservationPoolConfig,
    ) -> Arc<Self> {
        let members = (0..config.actors.max(1))
            .map(|member| {
                let metrics = ActorMetrics::new("reservation", Some(member));
                Member {
                    depth: metrics.queue_depth.clone(),
                    actor: ReservationActor {
                        store: store.clone(),
                        sold_out: sold_out.clone(),
                        producer: producer.clone(),
                        publisher: publisher.clone(),
                        mailbox_capacity: config.queue_per_actor,
                        max_batch: config.max_batch.max(1),
                        queued: Vec::new(),
                        batch_in_flight: false,
                        metrics,
                    }
                    .start(),
                    held: AtomicUsize::new(0),
                }
            })
            .collect();
        Arc::new(Self {
            members,
            next: AtomicUsize::new(0),
            config,
            sold_out,
        })
    }

    /// Decides one reservation. A sale this process saw sell out is answered here
    /// ([`SoldOutCache::shortcut`]).
    pub async fn reserve(&self, reservation: Reservation) -> Result<ReserveOutcome, ReserveError> {
        if let Some(sold_out) = self.sold_out.shortcut(&reservation) {
            return Ok(sold_out);
        }
        let deadline = tokio::time::Instant::now() + self.config.timeout;
        let (member, held) = self.claim()?;
        let (reply, answer) = oneshot::channel();
        member
            .actor
            .try_send(Reserve { reservation, reply })
            .map_err(|error| match error {
                SendError::Full(_) => ReserveError::Overloaded,
                SendError::Closed(_) => ReserveError::Unavailable,
            })?;
        let decided = match tokio::time::timeout_at(deadline, answer).await {
            Ok(Ok(decided)) => decided?,
            // Timed out, or the actor stopped before answering.
            Ok(Err(_)) | Err(_) => return Err(ReserveError::Unavailable),
        };
        // The actor is done with it: waiting for the broker takes no room from other sales.
        drop(held);
        if let Some(acknowledged) = decided.acknowledged {
            // Not acknowledged in time: the purchase is reserved and its entry stays in the
            // outbox until published; the buyer only learns to retry, and the retry returns it.
            if !matches!(
                tokio::time::timeout_at(deadline, acknowledged).await,
                Ok(Ok(()))
            ) {
                return Err(ReserveError::Unavailable);
            }
        }
        Ok(decided.outcome)
    }

    /// Takes a slot at the next member with room, going round the pool once.
    fn claim(&self) -> Result<(&Member, Held<'_>), ReserveError> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let count = self.members.len();
        (0..count)
            .map(|offset| &self.members[(start + offset) % count])
            .find_map(|member| {
                // Counted before checking, so two callers never both take the last slot; the
                // guard gives the slot back at once when the member is full.
                let (held, before) = Held::take(member);
                (before < self.config.queue_per_actor).then_some((member, held))
            })
            .ok_or(ReserveError::Overloaded)
    }
}
