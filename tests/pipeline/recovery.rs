//! Recovery with default settings: a worker killed with -9 (again and again), two workers
//! sharing the partitions, one taking over from a dead one or a frozen one (SIGSTOP) that wakes
//! up later, and persisting resuming at once
//! when Redis or PostgreSQL answers again after an outage. The partitions are leased in
//! PostgreSQL (`partition_leases`), so none of this depends on the broker's consumer groups.
//! (The broker's outage: `faults.rs`.)

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use uuid::Uuid;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{spawn_app_with, TestApp};
use crate::support::{
    address_of, buy, sell_during, spawn_worker, start, union, wait_for, FaultProxy, Pipeline,
    WORKER_BIN,
};

/// The promise: after a worker restart, persisting resumes within this, with default settings.
const RESUMES_WITHIN: Duration = Duration::from_secs(15);
/// The promise: once Redis, PostgreSQL or the broker answers again after an outage, persisting
/// resumes within this, however long the outage lasted.
const RESUMES_AFTER_OUTAGE_WITHIN: Duration = Duration::from_secs(3);
/// Long enough for every backoff on the way (the worker's restarts double up to 10 s).
const OUTAGE: Duration = Duration::from_secs(12);

/// Each partition's holder and next offset.
async fn leases(pipeline: &Pipeline) -> BTreeMap<i32, (Option<Uuid>, Option<i64>)> {
    let rows: Vec<(i32, Option<Uuid>, Option<i64>)> = sqlx::query_as(
        "SELECT partition, holder, next_offset FROM partition_leases WHERE topic = $1",
    )
    .bind(&pipeline.topic)
    .fetch_all(&pipeline.db)
    .await
    .unwrap_or_default();
    rows.into_iter()
        .map(|(partition, holder, next)| (partition, (holder, next)))
        .collect()
}

#[actix_web::test]
async fn a_worker_killed_with_sigkill_three_times_in_a_row_resumes_within_15_s_each_time() {
    let pipeline = Pipeline::new().await;
    let env = pipeline.process_env();
    assert!(
        env.iter().all(|(name, _)| !name.contains("INSTANCE")),
        "default settings: no instance identity"
    );
    let app = spawn_app_with(pipeline.api_settings()).await;
    let sale = app.new_sale(1_000_000, 1).await;
    let mut worker = start(WORKER_BIN, &env);
    let mut accepted = HashSet::new();

    for crash in 1..=3 {
        // Under load: buyers are still arriving when the worker dies.
        let persisted_before = pipeline.orders(&sale, 1).await.1;
        let prefix = format!("crash{crash}-before");
        let selling = buy(&app, &sale, &prefix, 300, 30);
        let killing = async {
            wait_for("orders of this round", Duration::from_secs(30), || async {
                (pipeline.orders(&sale, 1).await.1 > persisted_before).then_some(())
            })
            .await;
            worker.kill9();
        };
        let (sold, ()) = tokio::join!(selling, killing);
        accepted.extend(sold);
        accepted.extend(buy(&app, &sale, &format!("crash{crash}-down"), 100, 20).await);

        worker = start(WORKER_BIN, &env);
        let restarted = Instant::now();
        pipeline
            .wait_for_orders(&sale, 1, &accepted, RESUMES_WITHIN)
            .await;
        eprintln!(
            "crash {crash}: all {} purchases persisted {:?} after the restart",
            accepted.len(),
            restarted.elapsed()
        );
    }
    let after = buy(&app, &sale, "after", 100, 20).await;
    pipeline
        .wait_for_orders(&sale, 1, &union(&[&accepted, &after]), RESUMES_WITHIN)
        .await;
}

#[actix_web::test]
async fn two_workers_share_the_partitions_and_one_takes_over_from_a_dead_one() {
    let pipeline = Pipeline::new().await;
    let app = spawn_app_with(pipeline.api_settings()).await;
    let mut dying = start(WORKER_BIN, &pipeline.process_env());
    let staying = spawn_worker(pipeline.worker_settings()).await;
    // Whoever came first took both partitions; the second gets its share within two renewals.
    wait_for(
        "a partition for each worker",
        Duration::from_secs(15),
        || async {
            let holders: HashSet<Option<Uuid>> = leases(&pipeline)
                .await
                .values()
                .map(|(holder, _)| *holder)
                .collect();
            (holders.len() == 2 && !holders.contains(&None)).then_some(())
        },
    )
    .await;

    // Purchases are keyed by sale: new sales until both partitions have carried some.
    let mut sales: Vec<(String, HashSet<Uuid>)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let sale = app.new_sale(1_000, 1).await;
        let accepted = buy(&app, &sale, "shared", 20, 10).await;
        pipeline
            .wait_for_orders(&sale, 1, &accepted, Duration::from_secs(30))
            .await;
        sales.push((sale, accepted));
        let leases = leases(&pipeline).await;
        if leases.len() == 2 && leases.values().all(|(_, next)| next.is_some()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "both partitions carry orders: {leases:?}"
        );
    }

    // Each partition has one holder, and they are two: each worker persisted its share.
    let holders: HashSet<Uuid> = leases(&pipeline)
        .await
        .values()
        .map(|(holder, _)| holder.expect("every partition held"))
        .collect();
    assert_eq!(holders.len(), 2, "the two workers hold a partition each");
    let total: usize = sales.iter().map(|(_, accepted)| accepted.len()).sum();
    let by_staying = staying.stats.persisted();
    assert!(
        by_staying > 0 && by_staying < total as u64,
        "the in-process worker persisted {by_staying} of {total}: both must have persisted"
    );

    // The other one dies; the survivor takes its partition once the lease expires.
    dying.kill9();
    let died = Instant::now();
    for (sale, accepted) in &mut sales {
        accepted.extend(buy(&app, sale, "after-death", 20, 10).await);
    }
    for (sale, accepted) in &sales {
        pipeline
            .wait_for_orders(sale, 1, accepted, RESUMES_WITHIN)
            .await;
    }
    eprintln!(
        "the survivor persisted everything {:?} after the death",
        died.elapsed()
    );
    let holders: HashSet<Option<Uuid>> = leases(&pipeline)
        .await
        .values()
        .map(|(holder, _)| *holder)
        .collect();
    assert_eq!(holders.len(), 1, "one worker holds both partitions now");

    // A clean stop hands over at once: its leases are free as soon as it has exited.
    staying.stop().await.expect("the worker stops cleanly");
    let leases = leases(&pipeline).await;
    assert!(
        leases.values().all(|(holder, _)| holder.is_none()),
        "leases released on stop: {leases:?}"
    );
}

/// Buys one unit as `user`: the purchase id if accepted, the status otherwise.
async fn try_buy(app: &TestApp, sale: &str, user: &str) -> Result<Uuid, StatusCode> {
    let response = app.purchase(sale, user, 1, None).await;
    let status = response.status();
    if status != StatusCode::ACCEPTED {
        return Err(status);
    }
    let body: Value = response.json().await.map_err(|_| status)?;
    body["purchase_id"]
        .as_str()
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or(status)
}

#[actix_web::test]
async fn persisting_resumes_within_3_s_of_postgres_answering_again() {
    let pipeline = Pipeline::new().await;
    // The worker (a process with default settings) reaches PostgreSQL through the proxy; the
    // test reads the orders directly.
    let postgres = FaultProxy::start(address_of(&pipeline.database_url)).await;
    let mut env = pipeline.process_env();
    for (name, value) in &mut env {
        if *name == "FLASHSALE_DATABASE_URL" {
            *value = postgres.url_for(value);
        }
    }
    let app = spawn_app_with(pipeline.api_settings()).await;
    let sale = app.new_sale(1_000_000, 1).await;
    let _worker = start(WORKER_BIN, &env);
    let before = buy(&app, &sale, "before", 50, 10).await;
    pipeline
        .wait_for_orders(&sale, 1, &before, Duration::from_secs(30))
        .await;

    postgres.cut();
    let cut = Instant::now();
    // Purchases do not need PostgreSQL: they are accepted and wait in the pipeline.
    let during = buy(&app, &sale, "during", 200, 20).await;
    assert_eq!(during.len(), 200, "every purchase is accepted");
    tokio::time::sleep(OUTAGE.saturating_sub(cut.elapsed())).await;
    let (persisted_during_outage, _) = pipeline.orders(&sale, 1).await;
    assert!(
        persisted_during_outage.is_disjoint(&during),
        "nothing is persisted while the worker cannot reach PostgreSQL"
    );

    postgres.restore();
    let restored = Instant::now();
    pipeline
        .wait_for_orders(
            &sale,
            1,
            &union(&[&before, &during]),
            RESUMES_AFTER_OUTAGE_WITHIN,
        )
        .await;
    eprintln!(
        "all {} purchases persisted {:?} after PostgreSQL answered again",
        before.len() + during.len(),
        restored.elapsed()
    );
}

#[actix_web::test]
async fn persisting_resumes_within_3_s_of_redis_answering_again() {
    let pipeline = Pipeline::new().await;
    // The API reaches Redis through the proxy; Redis keeps its data through the outage.
    let redis = FaultProxy::start(address_of(&pipeline.redis.url)).await;
    let mut settings = pipeline.api_settings();
    settings.redis_url = redis.url_for(&pipeline.redis.url).as_str().into();
    let app = spawn_app_with(settings).await;
    let sale = app.new_sale(1_000_000, 1).await;
    let _worker = start(WORKER_BIN, &pipeline.process_env());
    let before = buy(&app, &sale, "before", 50, 10).await;
    pipeline
        .wait_for_orders(&sale, 1, &before, Duration::from_secs(30))
        .await;

    redis.cut();
    let cut = Instant::now();
    for i in 0..20 {
        assert_eq!(
            try_buy(&app, &sale, &format!("during-{i}")).await,
            Err(StatusCode::SERVICE_UNAVAILABLE),
            "a purchase while Redis is unreachable is refused, not accepted"
        );
    }
    tokio::time::sleep(OUTAGE.saturating_sub(cut.elapsed())).await;

    redis.restore();
    let restored = Instant::now();
    let mut attempt = 0;
    let after = wait_for("a purchase accepted", RESUMES_AFTER_OUTAGE_WITHIN, || {
        attempt += 1;
        let user = format!("after-{attempt}");
        let (app, sale) = (&app, &sale);
        async move { try_buy(app, sale, &user).await.ok() }
    })
    .await;
    pipeline
        .wait_for_orders(
            &sale,
            1,
            &union(&[&before, &HashSet::from([after])]),
            RESUMES_AFTER_OUTAGE_WITHIN.saturating_sub(restored.elapsed()),
        )
        .await;
    eprintln!(
        "a purchase made once Redis answered again was persisted {:?} after it did",
        restored.elapsed()
    );
}

#[actix_web::test]
async fn a_worker_frozen_with_sigstop_loses_its_leases_and_writes_nothing_stale_when_it_wakes() {
    let pipeline = Pipeline::new().await;
    let env = pipeline.process_env();
    let app = spawn_app_with(pipeline.api_settings()).await;
    let sale = app.new_sale(1_000_000, 1).await;
    let zombie = start(WORKER_BIN, &env);
    let zombie_id = wait_for(
        "one worker holding both partitions",
        RESUMES_WITHIN,
        || async {
            let holders: HashSet<Option<Uuid>> =
                leases(&pipeline).await.values().map(|(h, _)| *h).collect();
            let only = holders.iter().next().copied().flatten();
            (holders.len() == 1 && leases(&pipeline).await.len() == 2).then_some(only?)
        },
    )
    .await;

    // Frozen under load inside a batch's transaction, its leases' rows locked: thawed and
    // frozen again until PostgreSQL shows its session idle in a transaction that holds them.
    // (Unless PostgreSQL ends such a session, the other workers could never take them.)
    let frozen_in_transaction = AtomicBool::new(false);
    let before = sell_during(&app, &sale, async {
        wait_for("orders of this sale", Duration::from_secs(30), || async {
            (pipeline.orders(&sale, 1).await.1 > 0).then_some(())
        })
        .await;
        for attempt in 0..200_u64 {
            zombie.signal("STOP");
            tokio::time::sleep(Duration::from_millis(50)).await;
            if pipeline.sessions_frozen_on_leases().await > 0 {
                frozen_in_transaction.store(true, Ordering::Relaxed);
                return;
            }
            zombie.signal("CONT");
            tokio::time::sleep(Duration::from_millis(attempt % 7)).await;
        }
    })
    .await;
    assert!(
        frozen_in_transaction.load(Ordering::Relaxed),
        "the worker was frozen inside a transaction"
    );

    // Another worker takes the frozen one's leases once they expire, and persists everything.
    let _taker = start(WORKER_BIN, &env);
    let during = buy(&app, &sale, "during", 200, 20).await;
    pipeline
        .wait_for_orders(&sale, 1, &union(&[&before, &during]), RESUMES_WITHIN)
        .await;
    let held: Vec<Option<Uuid>> = leases(&pipeline).await.values().map(|(h, _)| *h).collect();
    assert!(
        held.iter()
            .all(|holder| holder.is_some() && *holder != Some(zombie_id)),
        "the taker holds every partition: {held:?}"
    );

    // The zombie wakes up with whatever it had fetched: its commit finds the leases gone and
    // writes nothing, so no stored offset ever moves back, and it rejoins for its share.
    zombie.signal("CONT");
    let mut last = leases(&pipeline).await;
    let watching = async {
        let until = Instant::now() + Duration::from_secs(8);
        while Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = leases(&pipeline).await;
            for (partition, (_, next)) in &now {
                let previous = last.get(partition).and_then(|(_, next)| *next);
                assert!(
                    *next >= previous,
                    "partition {partition}'s stored offset moved back: {previous:?} -> {next:?}"
                );
            }
            last = now;
        }
    };
    let (after, ()) = tokio::join!(buy(&app, &sale, "after", 300, 10), watching);
    let all = union(&[&before, &during, &after]);
    pipeline
        .wait_for_orders(&sale, 1, &all, RESUMES_WITHIN)
        .await;
    wait_for(
        "the woken worker to hold its share",
        RESUMES_WITHIN,
        || async {
            let holders: HashSet<Option<Uuid>> =
                leases(&pipeline).await.values().map(|(h, _)| *h).collect();
            let zombie_holds = holders.contains(&Some(zombie_id));
            (holders.len() == 2 && !holders.contains(&None) && zombie_holds).then_some(())
        },
    )
    .await;
    let versions: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT purchase_id, version FROM order_history \
         GROUP BY purchase_id, version HAVING count(*) > 1) twice",
    )
    .fetch_one(&pipeline.db)
    .await
    .expect("the history reads");
    assert_eq!(versions, 0, "no event applied twice");
}
