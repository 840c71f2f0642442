//! A measurement, not a check: `ops/bench holds` runs it (`--ignored`, release build) and
//! prints its row. 100,000 holds of one sale are all due at once (no reaper runs while they
//! are made, on a Redis of the measurement's own); then an API process starts, and its reaper
//! releases them. The figure is the time from the API's start to the stock being whole again
//! (`remaining == stock`, nothing held), which includes the API's start-up.

use std::time::{Duration, Instant};

use flashsale::domain::{SaleId, SaleSpec};
use flashsale::store::{RoundChange, Store};

use crate::helpers::{
    reserve_directly, spawn_app_with, test_settings, unique_sale_id, PrivateRedis,
};

const HOLDS: usize = 100_000;
/// Long enough to make every hold before the first one is due.
const HOLD_SECONDS: u32 = 20;

#[actix_web::test]
#[ignore = "a measurement for ops/bench, not a check"]
async fn holds_due_at_once_are_released_and_the_stock_restored() {
    let private = PrivateRedis::start();
    let store = Store::new(&private.url, 4, Duration::from_secs(10)).expect("valid url");
    let sale = SaleId::parse(&unique_sale_id()).expect("valid id");
    let spec = SaleSpec::parse("reap".into(), HOLDS as u64, 1, None, None).expect("valid");
    let spec = SaleSpec {
        hold_seconds: HOLD_SECONDS,
        ..spec
    };
    store
        .sales()
        .start_round(&sale, &RoundChange::Put(spec), 0)
        .await
        .expect("created");
    let made = Instant::now();
    reserve_directly(&store, &sale, HOLDS).await;
    let spread = made.elapsed();
    assert!(
        spread < Duration::from_secs(u64::from(HOLD_SECONDS)),
        "made too slowly"
    );
    let figures = || async {
        let sale = store
            .sales()
            .sale(&sale)
            .await
            .expect("redis answers")
            .expect("the sale");
        (sale.remaining, sale.held)
    };
    assert_eq!(figures().await, (0, HOLDS as u64));
    // Every deadline passed: all due at once.
    tokio::time::sleep(
        Duration::from_secs(u64::from(HOLD_SECONDS)) - spread + Duration::from_millis(100),
    )
    .await;

    let mut settings = test_settings();
    settings.redis_url = private.url.clone().into();
    let started = Instant::now();
    let _app = spawn_app_with(settings).await;
    loop {
        if figures().await == (HOLDS as u64, 0) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "not released");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let released = started.elapsed();
    println!(
        "{{\"holds\": {HOLDS}, \"released_ms\": {}, \"holds_per_second\": {:.0}, \"made_in_ms\": {}}}",
        released.as_millis(),
        HOLDS as f64 / released.as_secs_f64(),
        spread.as_millis()
    );
}
