//! Integration tests: the real HTTP app on port 0 against a real Redis.
//!
//! Redis is the one at `FLASHSALE_REDIS_URL` (`ops/test` brings it up); each test uses sales
//! of its own, so tests run in parallel without seeing each other. Tests that stop Redis start
//! a private `redis-server` of their own.

mod admin;
mod admission;
mod edge;
mod fuzz;
#[path = "../common/mod.rs"]
mod helpers;
mod holds;
mod idempotency;
mod inputs;
mod outage;
mod outbox;
mod purchases;
mod rate_limits;
mod reads;
mod reap_cost;
mod stock;
mod stream;
mod waitlist;
