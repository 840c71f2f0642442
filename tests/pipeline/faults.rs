use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{free_port, sample, scrape};
use crate::helpers::{spawn_app_with, TestApp};
use crate::support::{
    buy, sell_during, spawn_worker, start, union, wait_for, wait_until_in_flight, Pipeline,
    PrivateBroker, API_BIN, WORKER_BIN,
};

#[actix_web::test]
async fn a_worker_killed_mid_stream_and_restarted_persists_every_purchase_once() {
    let pipeline = Pipeline::new().await;
    let app = spawn_app_with(pipeline.api_settings()).await;
    let sale = app.new_sale(1_000_000, 1).await;
    let mut worker = start(WORKER_BIN, &pipeline.process_env());

    let accepted = sell_during(&app, &sale, async {
        // Kill it once it is persisting, mid-stream.
        wait_for("the first orders", Duration::from_secs(30), || async {
            (pipeline.orders(&sale, 1).await.1 > 0).then_some(())
        })
        .await;
        worker.kill9();
    })
    .await;
    let more = buy(&app, &sale, "while-down", 100, 20).await;
    let _restarted = start(WORKER_BIN, &pipeline.process_env());
    let after = buy(&app, &sale, "after-restart", 100, 20).await;

    let all = union(&[&accepted, &more, &after]);
    // The dead member keeps its partitions until its session times out (10 s).
    pipeline
        .wait_for_orders(&sale, 1, &all, Duration::from_secs(60))
        .await;
}

#[actix_web::test]
async fn a_worker_stopped_with_sigterm_under_load_exits_0_in_time_and_loses_nothing() {
    let pipeline = Pipeline::new().await;
    let app = spawn_app_with(pipeline.api_settings()).await;
    let sale = app.new_sale(1_000_000, 1).await;
    let mut env = pipeline.process_env();
    env.push(("FLASHSALE_WORKER_SHUTDOWN_MS", "5000".into()));
    let mut worker = start(WORKER_BIN, &env);

    let mut exit = None;
    let accepted = sell_during(&app, &sale, async {
        wait_for("the first orders", Duration::from_secs(30), || async {
            (pipeline.orders(&sale, 1).await.1 > 0).then_some(())
        })
        .await;
        worker.signal("TERM");
        let asked = Instant::now();
        let status = worker.wait(Duration::from_secs(10)).await;
        exit = Some((status, asked.elapsed()));
    })
    .await;
    let (status, took) = exit.expect("the worker exited");
    assert!(status.success(), "exit status {status}");
    assert!(
        took < Duration::from_secs(5),
        "took {took:?}, past its 5 s deadline"
    );

    let _restarted = start(WORKER_BIN, &env);
    pipeline
        .wait_for_orders(&sale, 1, &accepted, Duration::from_secs(30))
        .await;
}

#[actix_web::test]
async fn purchases_made_while_the_broker_is_down_are_persisted_once_it_returns() {
    let mut broker = PrivateBroker::start();
    let pipeline = Pipeline::with_brokers(broker.brokers()).await;
    let worker = spawn_worker(pipeline.worker_settings()).await;
    let app = spawn_app_with(pipeline.api_settings()).await;
    let sale = app.new_sale(1_000_000, 1).await;

    let before = buy(&app, &sale, "before", 50, 10).await;
    pipeline
        .wait_for_orders(&sale, 1, &before, Duration::from_secs(30))
        .await;

    broker.halt();
    let halted = Instant::now();
    let during = buy(&app, &sale, "during", 200, 20).await;
    assert_eq!(
        during.len(),
        200,
        "every purchase is accepted while the broker is down"
    );
    let ready = app.get_json("/readyz").await;
    assert_eq!(ready["broker"], "unreachable");
    tokio::time::sleep(Duration::from_secs(10).saturating_sub(halted.elapsed())).await;
    broker.resume();
    let resumed = Instant::now();

    // Persisting resumes within 3 s of the broker answering again: librdkafka reconnects at
    // most 1 s apart, and neither the producer nor the consumer waits out a grown backoff.
    let back = union(&[&before, &during]);
    pipeline
        .wait_for_orders(&sale, 1, &back, Duration::from_secs(3))
        .await;
    eprintln!(
        "persisting resumed {:?} after the broker",
        resumed.elapsed()
    );
    let after = buy(&app, &sale, "after", 50, 10).await;
    let all = union(&[&back, &after]);
    pipeline
        .wait_for_orders(&sale, 1, &all, Duration::from_secs(30))
        .await;
    worker.stop().await.expect("the worker stops cleanly");
}

#[actix_web::test]
async fn one_relay_scan_takes_over_every_stale_entry_page_by_page_and_counts_each_published_again()
{
    let pipeline = Pipeline::new().await;
    let mut env = pipeline.process_env();
    env.push(("FLASHSALE_ADMIN_TOKEN", crate::helpers::TOKEN.into()));
    // The first process has no broker: its producer reads what it reserves and can never get
    // it acknowledged.
    let first_port = free_port();
    let mut first_env = env.clone();
    first_env.push(("FLASHSALE_HTTP_ADDR", format!("127.0.0.1:{first_port}")));
    first_env.push(("FLASHSALE_KAFKA_BROKERS", "127.0.0.1:1".into()));
    let mut first = start(API_BIN, &first_env);
    let first_app = TestApp::at(format!("http://127.0.0.1:{first_port}")).await;
    let sale = first_app.new_sale(100, 1).await;
    assert_eq!(buy(&first_app, &sale, "buyer", 60, 20).await.len(), 60);
    wait_until_in_flight(&first_app, 60).await;
    first.kill9();

    // A second process with the broker, a relay with pages of 10 and scans 3 s apart: its
    // first scan must take over all 60 (6 pages), and each counts once the broker has it.
    let port = free_port();
    env.push(("FLASHSALE_HTTP_ADDR", format!("127.0.0.1:{port}")));
    env.push(("FLASHSALE_OUTBOX_RELAY_BATCH", "10".into()));
    env.push(("FLASHSALE_OUTBOX_RELAY_AGE_MS", "100".into()));
    env.push(("FLASHSALE_OUTBOX_RELAY_INTERVAL_MS", "3000".into()));
    let _relay = start(API_BIN, &env);
    let app = TestApp::at(format!("http://127.0.0.1:{port}")).await;
    let republished = || async {
        let metrics = scrape(&app.client, &app.url("/metrics")).await;
        sample(&metrics, "flashsale_relay_republished_total", &[]).unwrap_or(0.0)
    };
    wait_for(
        "the relay's first scan",
        Duration::from_secs(10),
        || async { (republished().await > 0.0).then_some(()) },
    )
    .await;
    // Well within one scan interval: what the first scan handed over is acknowledged by now.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(republished().await, 60.0);
    wait_for("the outbox to empty", Duration::from_secs(10), || async {
        (app.outbox_len(&sale).await == 0).then_some(())
    })
    .await;
}

#[actix_web::test]
async fn purchases_of_an_api_killed_before_publishing_are_relayed_by_another() {
    let pipeline = Pipeline::new().await;
    let worker = spawn_worker(pipeline.worker_settings()).await;

    // This API cannot reach the broker, so everything it reserves stays unpublished.
    let port = free_port();
    let mut env = pipeline.process_env();
    env.push(("FLASHSALE_HTTP_ADDR", format!("127.0.0.1:{port}")));
    env.push(("FLASHSALE_KAFKA_BROKERS", "127.0.0.1:1".into()));
    env.push(("FLASHSALE_ADMIN_TOKEN", crate::helpers::TOKEN.into()));
    let mut doomed = start(API_BIN, &env);
    let doomed_app = TestApp::at(format!("http://127.0.0.1:{port}")).await;
    let sale = doomed_app.new_sale(100, 1).await;
    let accepted = buy(&doomed_app, &sale, "buyer", 60, 20).await;
    assert_eq!(accepted.len(), 60);
    // Read by its producer and never acknowledged: only a relay can publish them now.
    wait_until_in_flight(&doomed_app, 60).await;
    doomed.kill9();
    assert_eq!(
        pipeline.orders(&sale, 1).await.1,
        0,
        "nothing was published before the kill"
    );

    // Another API process, with the broker, relays what the dead one left in the outbox.
    let rescuer = spawn_app_with(pipeline.api_settings()).await;
    // The metrics registry is the test process's, shared with earlier tests: count from here.
    let republished = || async {
        let metrics = scrape(&rescuer.client, &rescuer.url("/metrics")).await;
        sample(&metrics, "flashsale_relay_republished_total", &[]).unwrap_or(0.0)
    };
    let before = republished().await;
    pipeline
        .wait_for_orders(&sale, 1, &accepted, Duration::from_secs(30))
        .await;
    // Each entry counts once, when the broker acknowledges it: the relay's rescans (every
    // 200 ms) that offered it again while in flight add nothing.
    wait_for("the acknowledgements", Duration::from_secs(10), || async {
        (republished().await - before >= 60.0).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        republished().await - before,
        60.0,
        "published again: each entry once"
    );
    assert_eq!(
        doomed_app
            .client
            .get(doomed_app.url("/healthz"))
            .send()
            .await
            .map(|r| r.status())
            .ok(),
        None::<StatusCode>
    );
    worker.stop().await.expect("the worker stops cleanly");
}

#[actix_web::test]
async fn an_api_stopped_with_sigterm_exits_0_and_everything_it_accepted_is_persisted() {
    let pipeline = Pipeline::new().await;
    let worker = spawn_worker(pipeline.worker_settings()).await;
    let port = free_port();
    let mut env = pipeline.process_env();
    env.push(("FLASHSALE_HTTP_ADDR", format!("127.0.0.1:{port}")));
    env.push(("FLASHSALE_ADMIN_TOKEN", crate::helpers::TOKEN.into()));
    let mut api = start(API_BIN, &env);
    let app = TestApp::at(format!("http://127.0.0.1:{port}")).await;
    let sale = app.new_sale(1000, 1).await;

    let accepted = buy(&app, &sale, "buyer", 200, 50).await;
    api.signal("TERM");
    let status = api.wait(Duration::from_secs(15)).await;
    assert!(status.success(), "exit status {status}");

    pipeline
        .wait_for_orders(&sale, 1, &accepted, Duration::from_secs(30))
        .await;
    worker.stop().await.expect("the worker stops cleanly");
}
